//! Store write benchmarks (criterion; `cargo bench --bench store`):
//!
//! - `put_harvest_page`: one harvested page of 100 or 1,000 records of about 3 KB of Dublin
//!   Core (new records, with provenance, and the checkpoint) into a store that already holds
//!   20,000, records/s;
//! - `put_batch`: a batch of 100 such records stamped by the store, records/s.
//!
//! Full-size figures (1M records, the real binary) come from `benches/provider.sh`.
// criterion_group! makes an undocumented pub function.
#![allow(missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use moisson::dc::{DcElement, DcRecord};
use moisson::protocol::{OaiIdentifier, SetSpec};
use moisson::store::harvest_state::{DatedAbout, HarvestedRecord, ListKey, ListState};
use moisson::store::{Origin, RecordInput, Store};

const WORDS: &[&str] = &[
    "bibliothèque",
    "archive",
    "collection",
    "périodique",
    "numérique",
    "patrimoine",
];

fn record(i: u64, origin: &Origin) -> RecordInput {
    let mut dc = DcRecord::new();
    let text: Vec<&str> = (0..400)
        .map(|k| WORDS[usize::try_from((i + k * 7) % 6).unwrap_or(0)])
        .collect();
    dc.push_str(DcElement::Title, format!("Notice {i}"));
    dc.push_str(DcElement::Description, text.join(" "));
    dc.push_str(DcElement::Creator, format!("Auteur {}", i % 5000));
    let mut r = RecordInput::dc(
        OaiIdentifier::parse(&format!("oai:bench.example.org:{i:08}"))
            .expect("A valid identifier."),
        dc,
    );
    r.sets = vec![SetSpec::parse(&format!("coll{}:sub{}", i % 10, i % 7)).expect("A valid set.")];
    r.origin = origin.clone();
    r
}

fn seeded(origin: &Origin) -> Store {
    let store = Store::temporary().expect("Failed to create a temporary store.");
    for chunk in (0..20_000u64).collect::<Vec<_>>().chunks(1000) {
        store
            .put_batch(chunk.iter().map(|i| record(*i, origin)).collect())
            .expect("Failed to seed the store.");
    }
    store
}

fn harvest_page(c: &mut Criterion) {
    let origin = Origin::Source("bench".into());
    let store = seeded(&origin);
    let next = AtomicU64::new(1_000_000);
    let key = ListKey {
        source: "bench".into(),
        prefix: "oai_dc".into(),
        set: None,
    };
    let mut group = c.benchmark_group("put_harvest_page");
    for size in [100u64, 1000] {
        group.throughput(Throughput::Elements(size));
        group.sample_size(20);
        group.bench_function(format!("new_records_{size}"), |b| {
            b.iter_batched(
                || {
                    let start = next.fetch_add(size, Ordering::SeqCst);
                    (start..start + size)
                        .map(|i| HarvestedRecord {
                            input: record(i, &origin),
                            provenance: Some(DatedAbout {
                                before: b"<provenance xmlns=\"http://www.openarchives.org/OAI/2.0/provenance\"><originDescription harvestDate=\"".to_vec(),
                                after: b"\"/></provenance>".to_vec(),
                            }),
                        })
                        .collect::<Vec<_>>()
                },
                |page| {
                    store
                        .put_harvest_page(page, &key, &ListState::default())
                        .expect("A page is written.")
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

fn batch(c: &mut Criterion) {
    let store = seeded(&Origin::Local);
    let next = AtomicU64::new(2_000_000);
    let mut group = c.benchmark_group("put_batch");
    group.throughput(Throughput::Elements(100));
    group.bench_function("new_records_100", |b| {
        b.iter_batched(
            || {
                let start = next.fetch_add(100, Ordering::SeqCst);
                (start..start + 100)
                    .map(|i| record(i, &Origin::Local))
                    .collect::<Vec<_>>()
            },
            |records| store.put_batch(records).expect("A batch is written."),
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

criterion_group!(benches, harvest_page, batch);
criterion_main!(benches);
