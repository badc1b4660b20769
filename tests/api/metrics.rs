//! `/metrics`: scraped over HTTP like Prometheus does, and its numbers move with the requests.

use crate::helpers::*;
use moisson::store::harvest_state::SourceRun;
use moisson::store::Store;

/// Scrapes `/metrics`, checking the exposition's framing.
async fn scrape(app: &TestApp) -> String {
    let answer = app.path("/metrics").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(answer.body.ends_with("# EOF\n"), "{}", answer.body);
    answer.body
}

/// The value of one series, written exactly as in the exposition (name and labels).
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{exposition}"))
}

/// The value of a counter, gauge or bucket series, which is a whole number.
fn count(exposition: &str, series: &str) -> u64 {
    let value = sample(exposition, series);
    assert!(
        value.fract().abs() < f64::EPSILON && value >= 0.0,
        "{series} is {value}"
    );
    format!("{value}").parse().unwrap()
}

fn requests(exposition: &str, verb: &str) -> u64 {
    count(
        exposition,
        &format!("moisson_oai_requests_total{{verb=\"{verb}\"}}"),
    )
}

#[tokio::test]
async fn request_counts_items_tokens_errors_and_durations_move_with_requests() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| s.server.page_size = 2).await;
    let records = numbered_records(5, &[]);
    app.seed(&records.iter().map(String::as_str).collect::<Vec<_>>());
    let before = scrape(&app).await;
    for verb in ["Identify", "ListRecords", "GetRecord", "none"] {
        assert_eq!(requests(&before, verb), 0, "{before}");
    }

    app.oai("verb=Identify").await;
    // 5 records, 2 a page: three pages, two tokens issued.
    let (ids, pages) = harvest_all(
        &app,
        "verb=ListRecords&metadataPrefix=oai_dc",
        "ListRecords",
    )
    .await;
    assert_eq!((ids.len(), pages.len()), (5, 3));
    app.oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:test:0001")
        .await;
    let refused = app
        .oai("verb=ListRecords&resumptionToken=not-one-of-ours")
        .await;
    assert_eq!(error_codes(&refused), ["badResumptionToken"]);
    let bad = app.oai("verb=Harvest").await;
    assert_eq!(error_codes(&bad), ["badVerb"]);

    let after = scrape(&app).await;
    assert_eq!(requests(&after, "Identify"), 1);
    assert_eq!(requests(&after, "ListRecords"), 3);
    assert_eq!(requests(&after, "GetRecord"), 1);
    // A request that does not parse has no verb; its error code says why.
    assert_eq!(requests(&after, "none"), 2);
    let served = |verb: &str| {
        count(
            &after,
            &format!("moisson_oai_items_served_total{{verb=\"{verb}\"}}"),
        )
    };
    assert_eq!(served("ListRecords"), 5);
    assert_eq!(served("GetRecord"), 1);
    assert_eq!(
        count(
            &after,
            "moisson_oai_resumption_tokens_issued_total{verb=\"ListRecords\"}"
        ),
        2
    );
    assert_eq!(
        count(&after, "moisson_oai_resumption_tokens_rejected_total"),
        1
    );
    assert_eq!(
        count(
            &after,
            "moisson_oai_errors_total{code=\"badResumptionToken\"}"
        ),
        1
    );
    assert_eq!(
        count(&after, "moisson_oai_errors_total{code=\"badVerb\"}"),
        1
    );
    assert_eq!(
        count(&after, "moisson_oai_errors_total{code=\"idDoesNotExist\"}"),
        0
    );
    assert_eq!(
        count(
            &after,
            "moisson_oai_request_duration_seconds_count{verb=\"ListRecords\"}"
        ),
        3
    );
    assert_eq!(
        count(
            &after,
            "moisson_oai_request_duration_seconds_bucket{le=\"+Inf\",verb=\"Identify\"}"
        ),
        1
    );
    assert!(
        sample(
            &after,
            "moisson_oai_request_duration_seconds_sum{verb=\"ListRecords\"}"
        ) > 0.0
    );
    assert_eq!(count(&after, "moisson_oai_overloaded_total"), 0);

    // Scraping is not a request to the repository.
    let again = scrape(&app).await;
    assert_eq!(requests(&again, "Identify"), 1);
}

#[tokio::test]
async fn list_requests_refused_with_503_are_counted() {
    // No permit at all: every list request is refused, the others are answered.
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.max_concurrent_lists = 0;
    })
    .await;
    let refused = app.get("verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    assert_eq!(refused.status, 503);
    assert!(refused.header("retry-after").is_some());
    app.oai("verb=Identify").await;
    let text = scrape(&app).await;
    assert_eq!(count(&text, "moisson_oai_overloaded_total"), 1);
    assert_eq!(requests(&text, "ListIdentifiers"), 0);
    assert_eq!(requests(&text, "Identify"), 1);
}

#[tokio::test]
async fn the_last_harvest_run_of_each_source_is_read_from_the_store_at_scrape_time() {
    let app = spawn_app().await;
    let text = scrape(&app).await;
    assert_eq!(count(&text, "moisson_harvest_state_up"), 1);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        count(
            &text,
            &format!("moisson_build_info{{version=\"{version}\"}}")
        ),
        1
    );
    assert!(
        !text.contains("moisson_harvest_last_run{"),
        "no source has run yet:\n{text}"
    );

    // What the harvester records at the end of a run.
    let run = SourceRun {
        started: 1_764_000_000,
        finished: 1_764_000_042,
        outcome: "rejected".into(),
        new: 120,
        updated: 7,
        deleted: 2,
        rejected: 1,
        pages: 3,
        requests: 5,
        retries: 2,
        seconds: 42.0,
        ..SourceRun::default()
    };
    app.store.put_source_run("zenodo", &run).unwrap();
    let text = scrape(&app).await;
    assert_eq!(
        count(
            &text,
            "moisson_harvest_last_run_timestamp_seconds{source=\"zenodo\"}"
        ),
        1_764_000_042
    );
    assert_eq!(
        count(
            &text,
            "moisson_harvest_last_run_outcome{source=\"zenodo\",outcome=\"rejected\"}"
        ),
        1
    );
    for (what, n) in [
        ("new", 120),
        ("updated", 7),
        ("deleted", 2),
        ("rejected", 1),
        ("retries", 2),
    ] {
        let series = format!("moisson_harvest_last_run{{source=\"zenodo\",count=\"{what}\"}}");
        assert_eq!(count(&text, &series), n, "{series}");
    }
}

/// Overwrites every occurrence of `marker` in the files under `dir`.
fn corrupt(dir: &std::path::Path, marker: &[u8]) -> usize {
    let mut hits = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits += corrupt(&path, marker);
            continue;
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let mut found = false;
        let mut i = 0;
        while let Some(at) = bytes[i..].windows(marker.len()).position(|w| w == marker) {
            let at = i + at;
            bytes[at..at + marker.len()].fill(b'#');
            i = at + marker.len();
            found = true;
        }
        if found {
            std::fs::write(&path, &bytes).unwrap();
            hits += 1;
        }
    }
    hits
}

#[tokio::test]
async fn a_storage_failure_is_a_500_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 8 << 20).unwrap();
    let app = spawn_app_with(store, |_| {}).await;
    app.seed(&[
        r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","dc":{"title":"MARKER-TITLE-1234567"}}"#,
    ]);
    app.store.flush().unwrap();
    let before = scrape(&app).await;
    assert_eq!(
        count(
            &before,
            "moisson_http_server_errors_total{cause=\"storage\"}"
        ),
        0
    );
    // The record's bytes on disk no longer match their checksum.
    assert!(corrupt(dir.path(), b"MARKER-TITLE-1234567") > 0);
    let answer = app
        .get("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:1")
        .await;
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(
        !answer.body.contains("MARKER"),
        "no detail goes to the client"
    );
    let after = scrape(&app).await;
    assert_eq!(
        count(
            &after,
            "moisson_http_server_errors_total{cause=\"storage\"}"
        ),
        1
    );
}
