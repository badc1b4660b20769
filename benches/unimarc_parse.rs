//! Parse + map of PMB UNIMARC, in records/s: the 7 fixture records of each export (the seed
//! bulletin is 10 kB of notes, the others 1-2 kB), as PMB XML (UTF-8 and Windows-1252) and
//! ISO 2709 (UTF-8 and ISO 5426).
//!
//! Target: at least 50,000 records/s. Run with
//! `cargo bench --bench unimarc_parse -- --warm-up-time 1 --measurement-time 5`.
//!
//! `baseline_display_seed` is the display importer's parse + map of its seed (the
//! `pmb_parse` benchmark), measured in the same run: on a busy machine, the ratio to it says
//! more than the absolute figures.
// criterion_group! generates an undocumented pub function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use moisson::importer::pmb::parse_and_map;
use moisson::importer::unimarc::{import_bytes, read, CrosswalkOptions, Mapped, OpacUrl};

const DISPLAY_SEED: &str = include_str!("../tests/fixtures/pmb/bulletin-44933-seed.txt");

const EXPORTS: [(&str, &[u8]); 4] = [
    (
        "xml_utf8",
        include_bytes!("../tests/fixtures/pmb/export/unimarc-utf8.xml"),
    ),
    (
        "xml_latin1",
        include_bytes!("../tests/fixtures/pmb/export/unimarc-latin1.xml"),
    ),
    (
        "iso2709_utf8",
        include_bytes!("../tests/fixtures/pmb/export/notices-utf8.iso2709"),
    ),
    (
        "iso2709_iso5426",
        include_bytes!("../tests/fixtures/pmb/export/notices-iso5426.iso2709"),
    ),
];

/// Records in each export.
const RECORDS: u64 = 7;

fn unimarc_parse(c: &mut Criterion) {
    let options = CrosswalkOptions {
        opac_url: Some(
            OpacUrl::parse("https://catalogue.example.org/opac_css/")
                .expect("The benchmark's OPAC URL is valid."),
        ),
        ..CrosswalkOptions::default()
    };
    let mut group = c.benchmark_group("unimarc");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_display_seed", |b| {
        b.iter(|| parse_and_map(black_box(DISPLAY_SEED)));
    });
    group.throughput(Throughput::Elements(RECORDS));
    for (name, bytes) in EXPORTS {
        group.bench_function(format!("parse_and_map_{name}"), |b| {
            b.iter(|| {
                let mut n = 0;
                for result in import_bytes(black_box(bytes), &options).expect("A fixture.") {
                    assert!(matches!(result, Ok(Mapped::Record(_))));
                    n += 1;
                }
                assert_eq!(n, RECORDS);
            });
        });
        group.bench_function(format!("parse_{name}"), |b| {
            b.iter(|| read(black_box(bytes)).expect("A fixture.").count());
        });
    }
    group.finish();
}

criterion_group!(benches, unimarc_parse);
criterion_main!(benches);
