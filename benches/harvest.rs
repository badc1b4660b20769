//! Harvester benchmarks (criterion; `cargo bench --bench harvest`):
//!
//! - `harvest_parse`: reading one ListRecords page of 1,000 `oai_dc` records as our own server
//!   writes it (sanitize + quick-xml walk + Dublin Core), records/s;
//! - `harvest_end_to_end`: harvesting a running server (in process, on 127.0.0.1, pages of
//!   1,000) into a new temporary store, records/s end to end.
//!
//! The full-size run (1,000,000 records, the real binaries, peak RSS) is `benches/harvest.sh`.
// criterion_group! makes an undocumented pub function.
#![allow(missing_docs)]

use std::net::TcpListener;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use moisson::config::Settings;
use moisson::harvester::config::{HarvestSettings, SourceSettings};
use moisson::harvester::{harvest_source, NoProgress, Outcome, RunOptions};
use moisson::importer::jsonl::{parse_line, Item};
use moisson::protocol::xml::read::read_response;
use moisson::store::{RecordInput, Store};

/// `n` records like the ones of `moisson import dc`, four Dublin Core values each.
fn records(n: usize) -> Vec<RecordInput> {
    (0..n)
        .map(|i| {
            let minutes = i64::try_from(i).expect("A small count.");
            let d = chrono::DateTime::from_timestamp(1_262_304_000 + minutes * 37, 0)
                .expect("A valid date.");
            let line = serde_json::json!({
                "id": format!("oai:bench:{i:07}"),
                "datestamp": d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "sets": [format!("s{}", i % 10)],
                "dc": {"title": [format!("Record number {i}")], "creator": ["Tester, Ann"],
                       "date": ["2020"], "identifier": [format!("http://example.org/{i}")]},
            })
            .to_string();
            match parse_line(&line) {
                Ok(Item::Record(r)) => r,
                _ => unreachable!("The benchmark's records are valid."),
            }
        })
        .collect()
}

fn server_store(n: usize) -> Store {
    let store = Store::temporary().expect("Failed to create a temporary store.");
    for chunk in records(n).chunks(1000) {
        store
            .put_batch(chunk.to_vec())
            .expect("Failed to seed the store.");
    }
    store
}

fn settings() -> Settings {
    let mut s = Settings::default();
    s.server.bind = "127.0.0.1:0".into();
    s.server.page_size = 1000;
    s.server.stylesheet = false;
    s
}

fn parse(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("Failed to start a runtime.");
    let store = server_store(1000);
    let page = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("Failed to bind a port.");
        let port = listener.local_addr().expect("A bound port.").port();
        let mut s = settings();
        s.server.base_url = Some(format!("http://127.0.0.1:{port}/oai"));
        let app = moisson::http::Application::with_listener(&s, store, listener)
            .expect("Failed to build the app.");
        tokio::spawn(app.run_until_stopped());
        reqwest::get(format!(
            "http://127.0.0.1:{port}/oai?verb=ListRecords&metadataPrefix=oai_dc"
        ))
        .await
        .expect("The server answers.")
        .bytes()
        .await
        .expect("A body.")
        .to_vec()
    });
    let mut group = c.benchmark_group("harvest_parse");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("list_records_page_1000", |b| {
        b.iter(|| {
            let r = read_response(page.clone()).expect("A valid page.");
            assert_eq!(r.records().len(), 1000);
        });
    });
    group.finish();
}

fn end_to_end(c: &mut Criterion) {
    const N: usize = 20_000;
    let rt = tokio::runtime::Runtime::new().expect("Failed to start a runtime.");
    let base_url = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").expect("Failed to bind a port.");
        let port = listener.local_addr().expect("A bound port.").port();
        let mut s = settings();
        s.server.base_url = Some(format!("http://127.0.0.1:{port}/oai"));
        let app = moisson::http::Application::with_listener(&s, server_store(N), listener)
            .expect("Failed to build the app.");
        tokio::spawn(app.run_until_stopped());
        format!("http://127.0.0.1:{port}/oai")
    });
    let source = SourceSettings::new("bench", base_url);
    let harvest = HarvestSettings::default();
    let mut group = c.benchmark_group("harvest_end_to_end");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("records_20000_pages_1000", |b| {
        b.iter(|| {
            let local = Store::temporary().expect("Failed to create a temporary store.");
            let report = rt.block_on(harvest_source(
                &local,
                &harvest,
                &source,
                &RunOptions::default(),
                &NoProgress,
            ));
            assert_eq!((report.outcome, report.new), (Outcome::Ok, N as u64));
        });
    });
    group.finish();
}

criterion_group!(benches, parse, end_to_end);
criterion_main!(benches);
