//! The harvester against our own server: `moisson serve` over a seeded store is harvested into
//! a second store, and the two are compared record for record, deletions included — for lists
//! of 0, 1, exactly one page, one page + 1 and many pages; for a run stopped half-way and
//! resumed; for an incremental run after upstream changes; and for the real binary killed
//! (`kill -9`) at random moments and run again.

use std::time::Duration;

use moisson::harvester::config::SourceSettings;
use moisson::harvester::{Outcome, RunOptions, SourceReport};
use moisson::protocol::Datestamp;
use moisson::store::Store;

use crate::harvest::{fast_settings, harvest_with};
use crate::helpers::*;

const PAGE: usize = 10;

/// A server over `n` numbered records in sets `a:b` and `c`, every fifth one deleted since.
async fn upstream(n: usize, page_size: usize) -> TestApp {
    let store = Store::temporary().expect("Failed to create a temporary store.");
    let records = numbered_records(n, &["a:b", "c"]);
    seed(
        &store,
        &records.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let deletions: Vec<String> = (0..n)
        .step_by(5)
        .map(|i| {
            serde_json::json!({"id": format!("oai:test:{i:04}"), "deleted": true, "datestamp": "2021-01-01T00:00:00Z"})
                .to_string()
        })
        .collect();
    seed(
        &store,
        &deletions.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    spawn_app_with(store, |s| s.server.page_size = page_size).await
}

fn source(app: &TestApp) -> SourceSettings {
    SourceSettings::new("up", app.base_url())
}

async fn harvest(app: &TestApp, into: &Store, options: RunOptions) -> SourceReport {
    harvest_with(into, &fast_settings(), &source(app), options).await
}

/// Every record of `upstream` is in `local`, as the same record: deleted or not, same Dublin
/// Core, its sets beneath `source:<name>`, a provenance naming its identifier and datestamp;
/// and `local` has nothing else.
pub fn assert_same_records(upstream: &Store, local: &Store, name: &str) {
    let mut n = 0;
    for item in upstream.iter_records() {
        let (id, theirs) = item.expect("Failed to read the upstream store.");
        n += 1;
        let ours = local
            .get(&id)
            .unwrap()
            .unwrap_or_else(|| panic!("{id} was not harvested"));
        assert_eq!(ours.deleted, theirs.deleted, "{id}: deleted");
        let mut sets = vec![format!("source:{name}")];
        sets.extend(theirs.sets.iter().map(|s| format!("source:{name}:{s}")));
        assert_eq!(ours.sets, sets, "{id}: sets");
        if !theirs.deleted {
            assert_eq!(
                local.dc(&id).unwrap(),
                upstream.dc(&id).unwrap(),
                "{id}: Dublin Core"
            );
            let rendered =
                String::from_utf8(local.rendered(&id, "oai_dc").unwrap().unwrap()).unwrap();
            let datestamp = Datestamp::from_unix(theirs.datestamp).to_string();
            assert!(
                rendered.contains(&format!(
                    "<identifier>{id}</identifier><datestamp>{datestamp}</datestamp>"
                )),
                "{id}: provenance in {rendered}"
            );
        }
    }
    assert_eq!(
        local.stats().unwrap().records,
        n,
        "no record more, none less"
    );
    assert_eq!(
        local.check().unwrap(),
        Vec::<String>::new(),
        "indexes agree with records"
    );
}

async fn round_trip(n: usize) {
    let app = upstream(n, PAGE).await;
    let local = Store::temporary().unwrap();
    let report = harvest(&app, &local, RunOptions::default()).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!(report.new + report.deleted, n as u64, "{report}");
    let pages = n.div_ceil(PAGE).max(1) as u64;
    // Identify, the pages, and ListSets once records came with sets.
    let list_sets = u64::from(n > 0);
    assert_eq!(
        (report.pages, report.requests),
        (pages, pages + 1 + list_sets),
        "{report}"
    );
    assert_same_records(&app.store, &local, "up");
    // Upstream sets keep their names.
    for set in app.store.iter_sets() {
        let set = set.unwrap();
        let local_spec =
            moisson::protocol::SetSpec::parse(&format!("source:up:{}", set.spec)).unwrap();
        if n > 0 {
            assert_eq!(
                local.set_name(&local_spec).unwrap(),
                Some(set.name),
                "{local_spec}"
            );
        }
    }
    // The harvested store serves valid responses, provenance included.
    let ours = spawn_app_with(local, |_| {}).await;
    let (ids, _) = harvest_all(
        &ours,
        "verb=ListRecords&metadataPrefix=oai_dc",
        "ListRecords",
    )
    .await;
    assert_eq!(ids.len(), if n == 0 { 0 } else { n });
}

#[tokio::test]
async fn an_empty_repository_round_trips() {
    round_trip(0).await;
}

#[tokio::test]
async fn one_record_round_trips() {
    round_trip(1).await;
}

#[tokio::test]
async fn exactly_one_page_round_trips() {
    round_trip(PAGE).await;
}

#[tokio::test]
async fn one_page_plus_one_round_trips() {
    round_trip(PAGE + 1).await;
}

#[tokio::test]
async fn many_pages_round_trip() {
    round_trip(9 * PAGE + 5).await;
}

#[tokio::test]
async fn a_run_stopped_half_way_resumes_without_losing_or_duplicating_a_record() {
    let n = 9 * PAGE + 5;
    let app = upstream(n, PAGE).await;
    let local = Store::temporary().unwrap();
    let first = harvest(
        &app,
        &local,
        RunOptions {
            max_pages: Some(3),
            ..RunOptions::default()
        },
    )
    .await;
    assert_eq!(
        (first.outcome, first.complete, first.pages),
        (Outcome::Ok, false, 3),
        "{first}"
    );
    assert_eq!(local.stats().unwrap().records, 3 * PAGE as u64);
    let second = harvest(&app, &local, RunOptions::default()).await;
    assert_eq!(
        (second.outcome, second.resumed, second.pages),
        (Outcome::Ok, true, 7),
        "{second}"
    );
    assert_eq!(
        second.requests,
        1 + 7 + 1,
        "Identify, then the remaining pages only, then ListSets"
    );
    assert_eq!(
        first.new + first.deleted + second.new + second.deleted,
        n as u64
    );
    assert_eq!(second.unchanged, 0);
    assert_same_records(&app.store, &local, "up");
}

#[tokio::test]
async fn an_incremental_run_brings_changes_and_deletions_and_leaves_the_rest_alone() {
    let app = upstream(30, PAGE).await;
    let local = Store::temporary().unwrap();
    let first = harvest(&app, &local, RunOptions::default()).await;
    assert_eq!(first.outcome, Outcome::Ok, "{first}");
    let untouched = local.get("oai:test:0001").unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.seed(&[
        r#"{"id":"oai:test:0002","sets":["a:b","c"],"dc":{"title":["Record 2, corrected"],"creator":["Tester"]}}"#,
        r#"{"id":"oai:test:0003","sets":["c"],"dc":{"title":["Record 3"],"creator":["Tester"]}}"#,
        r#"{"id":"oai:test:0004","deleted":true}"#,
        r#"{"id":"oai:test:0100","sets":["new"],"dc":{"title":["New"]}}"#,
    ]);
    let second = harvest(&app, &local, RunOptions::default()).await;
    assert_eq!(second.outcome, Outcome::Ok, "{second}");
    assert_eq!(
        (second.new, second.updated, second.deleted, second.unchanged),
        (1, 2, 1, 0),
        "{second}"
    );
    assert_same_records(&app.store, &local, "up");
    assert_eq!(local.get("oai:test:0001").unwrap().unwrap(), untouched);

    // Harvesting everything again changes nothing, datestamps included.
    let full = harvest(
        &app,
        &local,
        RunOptions {
            full: true,
            ..RunOptions::default()
        },
    )
    .await;
    assert_eq!(
        (full.new, full.updated, full.deleted, full.unchanged),
        (0, 0, 0, 31),
        "{full}"
    );
    assert_eq!(local.get("oai:test:0001").unwrap().unwrap(), untouched);
}

#[tokio::test]
async fn killing_the_harvester_at_random_moments_never_loses_or_duplicates_a_record() {
    let app = upstream(400, 7).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("moisson.toml");
    // A small delay makes a full harvest last about a second, so that kills land mid-list.
    std::fs::write(
        &cfg,
        format!(
            "[harvest]\ndelay_ms = 15\nretries = 2\nbackoff_base_ms = 10\n\n[[source]]\nname = \"up\"\nbase_url = \"{}\"\n",
            app.base_url()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let args = [
        "--config",
        cfg.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "harvest",
        "up",
    ];
    let mut kills = Vec::new();
    for _ in 0..8 {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_moisson"))
            .args(args)
            .env("MOISSON_LOG", "error")
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Failed to start the moisson binary.");
        let after = rand::random_range(30..900u64);
        tokio::time::sleep(Duration::from_millis(after)).await;
        // SIGKILL: no destructor, no flush.
        child.start_kill().expect("Failed to kill the harvester.");
        let status = child.wait().await.unwrap();
        kills.push((after, status.code()));
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_moisson"))
        .args(args)
        .arg("--json")
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "after kills at {kills:?} ms: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let local = Store::open(&data, 16 << 20).expect("The store opens after kill -9.");
    assert_same_records(&app.store, &local, "up");
}
