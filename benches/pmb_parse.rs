//! Parse + map of the seed PMB bulletin (one record displayed twice, 21 kB), in bulletins/s.
//!
//! Target: at least 50,000 bulletins/s. Run with
//! `cargo bench --bench pmb_parse -- --warm-up-time 1 --measurement-time 5`.
// criterion_group! generates an undocumented pub function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use moisson::importer::pmb::{parse, parse_and_map};

const SEED: &str = include_str!("../tests/fixtures/pmb/bulletin-44933-seed.txt");

fn pmb_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("pmb");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_and_map_seed", |b| {
        b.iter(|| {
            let records = parse_and_map(black_box(SEED));
            assert!(records.len() == 1 && records[0].is_ok());
            records
        });
    });
    group.bench_function("parse_seed", |b| b.iter(|| parse(black_box(SEED))));
    group.finish();
}

criterion_group!(benches, pmb_parse);
criterion_main!(benches);
