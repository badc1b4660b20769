//! Tests of the store as a whole: write semantics, the model test, crashes and faults.

use super::*;
use crate::dc::DcElement;
use crate::protocol::{ListFilter, MetadataPrefix, Repository};
use proptest::prelude::*;
use std::path::Path;

/// A local record titled `title` in `sets`.
pub(super) fn input(id: &str, title: &str, sets: &[&str]) -> RecordInput {
    let mut dc = DcRecord::new();
    dc.push_str(DcElement::Title, title);
    let mut r = RecordInput::dc(OaiIdentifier::parse(id).unwrap(), dc);
    r.sets = sets.iter().map(|s| SetSpec::parse(s).unwrap()).collect();
    r
}

#[test]
fn a_batch_that_writes_one_identifier_several_times_leaves_one_consistent_record() {
    let store = Store::temporary().unwrap();
    store.put(input("oai:x:1", "first", &["a:b"])).unwrap();
    let mut deleted = input("oai:x:1", "", &[]);
    deleted.deleted = true;
    deleted.dc = None;
    let out = store
        .put_batch(vec![
            input("oai:x:1", "second", &["c"]),
            input("oai:x:1", "second", &["c"]),
            input("oai:x:1", "third", &["d:e"]),
            deleted,
        ])
        .unwrap();
    assert_eq!(
        out.outcomes,
        [
            PutOutcome::Updated,
            PutOutcome::Unchanged,
            PutOutcome::Updated,
            PutOutcome::Deleted
        ]
    );
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    let record = store.get("oai:x:1").unwrap().unwrap();
    assert!(record.deleted);
    assert_eq!(
        record.sets,
        ["d:e"],
        "a tombstone keeps the sets the record had"
    );
    assert_eq!(store.stats().unwrap().records, 1);
}

#[test]
fn a_write_from_another_origin_is_refused_and_names_both() {
    let store = Store::temporary().unwrap();
    store.put(input("oai:x:1", "local", &["a"])).unwrap();
    let mut harvested = input("oai:x:1", "harvested", &["source:up"]);
    harvested.origin = Origin::Source("up".into());
    let mut deletion = harvested.clone();
    deletion.deleted = true;
    deletion.dc = None;
    let out = store.put_batch(vec![harvested, deletion]).unwrap();
    assert_eq!(out.outcomes, [PutOutcome::Rejected, PutOutcome::Rejected]);
    assert_eq!(out.refusals.len(), 2);
    assert_eq!(out.refusals[1].index, 1);
    assert_eq!(
        out.refusals[0].to_string(),
        "oai:x:1 belongs to local; source:up may not overwrite it"
    );
    let record = store.get("oai:x:1").unwrap().unwrap();
    assert_eq!(record.origin, Origin::Local);
    assert_eq!(record.sets, ["a"], "the local record keeps its sets");
    assert!(!record.deleted);
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn a_record_of_one_source_is_not_taken_over_by_another_nor_by_a_local_import() {
    let store = Store::temporary().unwrap();
    let mut first = input("oai:x:1", "t", &[]);
    first.origin = Origin::Source("a".into());
    assert_eq!(store.put(first.clone()).unwrap(), PutOutcome::Added);
    let mut other = first.clone();
    other.origin = Origin::Source("b".into());
    other
        .dc
        .as_mut()
        .unwrap()
        .push_str(DcElement::Title, "changed");
    assert_eq!(store.put(other).unwrap(), PutOutcome::Rejected);
    let mut local = first.clone();
    local.origin = Origin::Local;
    assert_eq!(store.classify(&local).unwrap(), PutOutcome::Rejected);
    assert_eq!(store.put(local).unwrap(), PutOutcome::Rejected);
    first
        .dc
        .as_mut()
        .unwrap()
        .push_str(DcElement::Title, "by its owner");
    assert_eq!(store.put(first).unwrap(), PutOutcome::Updated);
}

#[test]
fn a_new_tombstone_is_counted_as_deleted() {
    let store = Store::temporary().unwrap();
    let mut deleted = input("oai:x:9", "", &[]);
    deleted.deleted = true;
    deleted.dc = None;
    assert_eq!(store.put(deleted).unwrap(), PutOutcome::Deleted);
}

#[test]
fn a_deletion_naming_only_some_sets_keeps_the_record_in_all_of_them() {
    let store = Store::temporary().unwrap();
    store
        .put(input("oai:x:1", "t", &["source:up", "source:up:A"]))
        .unwrap();
    let mut deleted = input("oai:x:1", "", &["source:up"]);
    deleted.deleted = true;
    deleted.dc = None;
    assert_eq!(store.put(deleted).unwrap(), PutOutcome::Deleted);
    assert_eq!(
        store.get("oai:x:1").unwrap().unwrap().sets,
        ["source:up", "source:up:A"]
    );
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn lists_are_answered_as_of_a_batch_being_written_until_it_is_done() {
    let store = Store::temporary().unwrap();
    let later = Datestamp::from_unix(Datestamp::now().unix() + 100);
    assert_eq!(store.visible_until(later), later);
    let (stamp, guard) = store.begin_write();
    assert!(
        store.visible_until(later) <= stamp,
        "no response may claim the batch's records"
    );
    drop(guard);
    assert_eq!(store.visible_until(later), later);
}

/// One write of the model test: (identifier, datestamp, sets, deleted).
fn arb_write() -> impl Strategy<Value = (u8, i64, Vec<u8>, bool)> {
    // Datestamps within a few bucket widths, so that counts cross bucket edges.
    (
        0u8..12,
        0i64..3_000_000,
        proptest::collection::vec(0u8..4, 0..3),
        proptest::bool::weighted(0.2),
    )
}

const SETS: [&str; 4] = ["a", "a:b", "a:b:c", "d"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn lists_and_counts_match_a_btreemap_model(
        writes in proptest::collection::vec(arb_write(), 1..40),
        from in proptest::option::of(0i64..3_000_000),
        span in 0i64..3_000_000,
        set in proptest::option::of(0usize..4),
        page in 1usize..5,
    ) {
        let store = Store::temporary().unwrap();
        // The model: identifier → (datestamp, expanded sets); tombstones stay listed.
        let mut model: BTreeMap<String, (i64, BTreeSet<String>)> = BTreeMap::new();
        for (id, ds, sets, deleted) in writes {
            let id = format!("oai:x:{id}");
            let specs: Vec<&str> = sets.iter().map(|i| SETS[*i as usize]).collect();
            let mut r = input(&id, &format!("t{ds}"), &specs);
            r.datestamp = Some(Datestamp::from_unix(1_600_000_000 + ds));
            if deleted {
                r.deleted = true;
                r.dc = None;
            }
            let outcome = store.put(r).unwrap();
            if outcome != PutOutcome::Unchanged {
                let stored = store.get(&id).unwrap().unwrap();
                model.insert(id, (stored.datestamp, expand_sets(&stored.sets)));
            }
        }
        prop_assert!(store.check().unwrap().is_empty());
        let from = from.map(|f| 1_600_000_000 + f);
        let until = if span % 4 == 0 {
            Datestamp::now().unix() + 10
        } else {
            from.unwrap_or(1_600_000_000) + span
        };
        let filter = ListFilter {
            metadata_prefix: MetadataPrefix::oai_dc(),
            set: set.map(|i| SetSpec::parse(SETS[i]).unwrap()),
            from: from.map(Datestamp::from_unix),
            until: Datestamp::from_unix(until),
        };
        let mut expected: Vec<(i64, String)> = model
            .iter()
            .filter(|(_, (d, sets))| {
                from.is_none_or(|f| *d >= f) && *d <= until && set.is_none_or(|i| sets.contains(SETS[i]))
            })
            .map(|(id, (d, _))| (*d, id.clone()))
            .collect();
        expected.sort();
        prop_assert_eq!(store.count(&filter).unwrap(), expected.len() as u64);
        let mut listed: Vec<(i64, String)> = Vec::new();
        let mut after: Option<(Datestamp, String)> = None;
        loop {
            let mut out = Vec::new();
            let end = store
                .list_page(&filter, after.as_ref().map(|(d, id)| (*d, id.as_str())), page, true, &mut out)
                .unwrap();
            let text = String::from_utf8(out).unwrap();
            prop_assert_eq!(text.matches("<header").count(), end.written);
            let ids: Vec<String> = text
                .split("<identifier>")
                .skip(1)
                .map(|chunk| chunk.split("</identifier>").next().unwrap().to_owned())
                .collect();
            prop_assert_eq!(ids.last(), end.last.as_ref().map(|(_, id)| id));
            listed.extend(ids.into_iter().map(|id| (model[&id].0, id)));
            if !end.more {
                break;
            }
            after = end.last;
        }
        prop_assert_eq!(listed, expected);
    }
}

/// A model of what the store must hold: identifier → (datestamp, expanded sets, title, deleted).
type Model = BTreeMap<String, (i64, BTreeSet<String>, String, bool)>;

fn remember(store: &Store, model: &mut Model, id: &str, title: &str) {
    let r = store.get(id).unwrap().unwrap();
    model.insert(
        id.to_owned(),
        (
            r.datestamp,
            expand_sets(&r.sets),
            title.to_owned(),
            r.deleted,
        ),
    );
}

/// Asserts that the store holds exactly the model, readable from the value log.
fn assert_holds(store: &Store, model: &Model) {
    let problems = store.check().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(store.stats().unwrap().records, model.len() as u64);
    for (id, (ds, sets, title, deleted)) in model {
        let r = store.get(id).unwrap().unwrap();
        assert_eq!(
            (r.datestamp, &expand_sets(&r.sets), r.deleted),
            (*ds, sets, *deleted),
            "{id}"
        );
        let xml = String::from_utf8(store.rendered(id, "oai_dc").unwrap().unwrap()).unwrap();
        assert!(
            *deleted || xml.contains(&format!("<dc:title>{title}</dc:title>")),
            "{id}: {xml}"
        );
    }
    let listed: Vec<String> = store.iter_records().map(|r| r.unwrap().0).collect();
    let mut expected: Vec<(i64, &String)> = model.iter().map(|(id, v)| (v.0, id)).collect();
    expected.sort();
    assert_eq!(
        listed,
        expected
            .into_iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    );
}

fn fault_store(dir: &Path, files: &vlog::fault::FaultFiles, segment_bytes: u64) -> Store {
    // sled releases its file lock when the last thread of the dropped store ends, which may
    // be a moment after the drop: a reopen at once waits for it, briefly.
    let sled_dir = dir.join("db");
    if sled_dir.join("db").is_file() {
        super::wait_released(&sled_dir, std::time::Duration::from_secs(5))
            .expect("the dropped store's sled lets its lock go");
    }
    let db = super::open_sled(&sled_dir, StoreOptions::default().cache_capacity_bytes).unwrap();
    let options = StoreOptions {
        compact_dead_percent: 0,
        segment_bytes,
        ..StoreOptions::default()
    };
    let home = Home {
        path: None,
        temporary: None,
        lock: None,
    };
    Store::assemble(db, Arc::new(files.clone()), home, &options).unwrap()
}

/// One random write: (identifier, given datestamp or now, set, title, deleted).
fn arb_op() -> impl Strategy<Value = (u8, Option<i64>, u8, u16, bool)> {
    (
        0u8..30,
        proptest::option::weighted(0.5, 0i64..1_000_000),
        0u8..4,
        0u16..1000,
        proptest::bool::weighted(0.1),
    )
}

fn op_input(id: &str, given: Option<i64>, set: u8, title: &str, deleted: bool) -> RecordInput {
    let mut r = input(id, title, &[SETS[set as usize]]);
    r.datestamp = given.map(|d| Datestamp::from_unix(1_500_000_000 + d));
    if deleted {
        r.deleted = true;
        r.dc = None;
    }
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The power fails at a random moment: every write the value log had not synced is lost
    /// (sled, the worst case, keeps everything). After reopening, no reference points at
    /// missing or foreign bytes and every acknowledged record is intact.
    #[test]
    fn losing_every_unsynced_write_at_a_random_moment_loses_no_acknowledged_record(
        batches in proptest::collection::vec(proptest::collection::vec(arb_op(), 1..6), 1..12),
        crash_at in 0usize..12,
        fail_after in 0u64..6,
        compact_at in proptest::option::of(0usize..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let files = vlog::fault::FaultFiles::default();
        let mut store = fault_store(dir.path(), &files, 2048);
        store.set_ooo_min(3);
        let mut model = Model::new();
        for (n, batch) in batches.iter().enumerate() {
            if n == crash_at {
                files.fail_after(fail_after);
            }
            if compact_at == Some(n) {
                let _ = store.compact();
            }
            let inputs: Vec<RecordInput> = batch
                .iter()
                .map(|(id, given, set, title, deleted)| {
                    op_input(&format!("oai:x:{id}"), *given, *set, &format!("t{title}"), *deleted)
                })
                .collect();
            if let Ok(out) = store.put_batch(inputs) {
                for ((id, ..), outcome) in batch.iter().zip(out.outcomes) {
                    if outcome != PutOutcome::Unchanged {
                        let id = format!("oai:x:{id}");
                        let last = batch.iter().rev().find(|o| format!("oai:x:{}", o.0) == id).unwrap();
                        remember(&store, &mut model, &id, &format!("t{}", last.3));
                    }
                }
            }
            if n == crash_at {
                drop(store);
                files.crash();
                store = fault_store(dir.path(), &files, 2048);
                store.set_ooo_min(3);
                assert_holds(&store, &model);
            }
        }
        assert_holds(&store, &model);
    }
}

#[test]
fn a_write_interrupted_at_any_step_is_finished_at_the_next_open() {
    for step in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        store.put(input("oai:x:1", "first", &["a:b"])).unwrap();
        let mut given = input("oai:x:0", "given", &["d"]);
        given.datestamp = Some(Datestamp::from_unix(1_000));
        store.put(given).unwrap();
        store.inner.stop_after.store(step, Ordering::SeqCst);
        let err = store
            .put_batch(vec![
                input("oai:x:1", "second", &["c"]),
                input("oai:x:2", "new", &[]),
            ])
            .unwrap_err();
        assert!(err.to_string().contains("stopped"), "{err}");
        drop(store);
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(
            store.check().unwrap().is_empty(),
            "step {step}: {:?}",
            store.check()
        );
        assert!(store.dc("oai:x:1").unwrap().unwrap().get(DcElement::Title)[0].value == "second");
        assert_eq!(store.get("oai:x:1").unwrap().unwrap().sets, ["c"]);
        assert!(store.get("oai:x:2").unwrap().is_some(), "step {step}");
        assert_eq!(store.stats().unwrap().records, 3);
    }
}

#[test]
fn a_compaction_interrupted_at_any_step_loses_nothing_and_finishes_later() {
    for step in 101..=104 {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            segment_bytes: 1024,
            compact_dead_percent: 0,
            ..StoreOptions::default()
        };
        let store = Store::open_with(dir.path(), &options).unwrap();
        let mut model = Model::new();
        for round in 0..4 {
            let batch: Vec<RecordInput> = (0..20)
                .map(|i| input(&format!("oai:x:{i}"), &format!("r{round} {i}"), &["a"]))
                .collect();
            store.put_batch(batch).unwrap();
        }
        for i in 0..20 {
            remember(
                &store,
                &mut model,
                &format!("oai:x:{i}"),
                &format!("r3 {i}"),
            );
        }
        assert!(store.stats().unwrap().dead_bytes > 0);
        store.inner.stop_after.store(step, Ordering::SeqCst);
        assert!(store.compact().is_err(), "step {step}");
        drop(store);
        let store = Store::open_with(dir.path(), &options).unwrap();
        assert_holds(&store, &model);
        let out = store.compact().unwrap();
        assert_holds(&store, &model);
        let stats = store.stats().unwrap();
        assert_eq!(stats.dead_bytes, 0, "step {step}: {out:?} {stats:?}");
    }
}

#[test]
fn rounds_of_changed_records_then_compaction_shrink_the_value_log_back_to_its_live_data() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        segment_bytes: 64 << 10,
        compact_dead_percent: 0,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir.path(), &options).unwrap();
    let text = "des mots qui se répètent un peu ".repeat(20);
    for round in 0..10 {
        for chunk in (0..2000).collect::<Vec<_>>().chunks(100) {
            let batch = chunk
                .iter()
                .map(|i| {
                    input(
                        &format!("oai:x:{i}"),
                        &format!("{round} {i} {text}"),
                        &["a:b"],
                    )
                })
                .collect();
            store.put_batch(batch).unwrap();
        }
    }
    let before = store.stats().unwrap();
    assert!(before.dead_bytes > 8 * before.live_bytes, "{before:?}");
    store.compact().unwrap();
    let after = store.stats().unwrap();
    let on_disk: u64 = std::fs::read_dir(dir.path().join(VALUE_DIR))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(after.dead_bytes, 0, "{after:?}");
    assert!(
        on_disk * 2 <= after.live_bytes * 3,
        "{on_disk} bytes on disk for {after:?}"
    );
    assert_eq!(after.dead_slots, 0);
    assert!(store.check().unwrap().is_empty());
    assert_eq!(store.stats().unwrap().records, 2000);
}

#[test]
fn a_full_disk_makes_the_store_read_only_and_it_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let files = vlog::fault::FaultFiles::default();
    let store = fault_store(dir.path(), &files, 1 << 20);
    store
        .put_batch(vec![input("oai:x:1", "a", &[]), input("oai:x:2", "b", &[])])
        .unwrap();
    files.set_full(true);
    let err = store.put(input("oai:x:3", "c", &[])).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::ReadOnly { committed: 2, .. }),
        "{text}"
    );
    assert!(text.contains("committed 2 records"), "{text}");
    assert!(store.read_only_reason().is_some());
    assert!(store.put(input("oai:x:4", "d", &[])).is_err());
    assert!(store.get("oai:x:3").unwrap().is_none());
    assert!(
        store.rendered("oai:x:1", "oai_dc").unwrap().is_some(),
        "reads go on"
    );
    drop(store);
    let store = fault_store(dir.path(), &files, 1 << 20);
    assert!(store.check().unwrap().is_empty());
    assert_eq!(store.stats().unwrap().records, 2);
}

#[test]
fn a_store_of_layout_1_is_refused_at_open_then_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-layout1");
    copy_dir(&fixture, &dir.path().join("s"));
    let path = dir.path().join("s");
    let err = Store::open(&path, 1 << 20).unwrap_err();
    assert!(matches!(err, StoreError::NeedsUpgrade { .. }), "{err}");
    assert!(err.to_string().contains("moisson upgrade"), "{err}");
    let out = Store::upgrade(&path, &StoreOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!((out.records, out.lost.len()), (4, 0));
    assert!(Store::upgrade(&path, &StoreOptions::default())
        .unwrap()
        .is_none());
    let store = Store::open(&path, 1 << 20).unwrap();
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    let mut exported = Vec::new();
    crate::importer::jsonl::export(&store, &mut exported).unwrap();
    let mut got: Vec<&str> = std::str::from_utf8(&exported).unwrap().lines().collect();
    let before = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-layout1.export.jsonl"),
    )
    .unwrap();
    // moisson 0.1.0 kept no origin: a record in a `source:NAME` set is read as harvested from
    // that source, and exported so.
    let before = before.replace(
        "\"dc\":{\"title\":[\"In an upstream set\"]}}",
        "\"dc\":{\"title\":[\"In an upstream set\"]},\"origin\":\"source:up\"}",
    );
    let mut expected: Vec<&str> = before.lines().collect();
    got.sort_unstable();
    expected.sort_unstable();
    assert_eq!(got, expected);
    assert!(!path.join("rendered").exists());
    let tombstone = store.get("oai:fixture.example.org:3").unwrap().unwrap();
    assert!(tombstone.deleted);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn given_datestamps_in_any_order_are_listed_in_order_before_and_after_a_rebuild() {
    let store = Store::temporary().unwrap();
    store.set_ooo_min(5);
    let mut expected = Vec::new();
    for i in 0..40i64 {
        let id = format!("oai:x:{i:02}");
        let mut r = input(&id, "t", &["a:b"]);
        let ds = 1_000_000 + (i * 7919) % 97;
        r.datestamp = Some(Datestamp::from_unix(ds));
        store.put(r).unwrap();
        expected.push((ds, id));
    }
    expected.sort();
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    let listed: Vec<(i64, String)> = store
        .iter_records()
        .map(|r| r.unwrap())
        .map(|(id, r)| (r.datestamp, id))
        .collect();
    assert_eq!(listed, expected);
    store.compact().unwrap();
    assert_eq!(store.stats().unwrap().out_of_order, 0);
    let listed: Vec<(i64, String)> = store
        .iter_records()
        .map(|r| r.unwrap())
        .map(|(id, r)| (r.datestamp, id))
        .collect();
    assert_eq!(listed, expected);
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn repair_rebuilds_a_lost_identifier_map_and_names_records_whose_bytes_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    store
        .put_batch(
            (0..10)
                .map(|i| input(&format!("oai:x:{i}"), "t", &["a"]))
                .collect(),
        )
        .unwrap();
    store.index().ids.clear().unwrap();
    store.index().lists.clear().unwrap();
    let problems = store.check().unwrap();
    assert!(
        problems.iter().any(|p| p.contains("identifier map")),
        "{problems:?}"
    );
    assert!(!store.repair().unwrap().is_empty());
    assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
    assert!(store.get("oai:x:3").unwrap().is_some());
    // Bytes the disk lost are named by check (and cannot be rebuilt).
    let seg = dir.path().join(VALUE_DIR).join("00000000.seg");
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(10).unwrap();
    let problems = store.check().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("oai:x:9") && p.contains("bytes are gone")),
        "{problems:?}"
    );
}

/// Writes `n` records `rounds` times, each round with changed titles, in sets and of two
/// origins, with a tombstone every 50 in the last round; defines the sets and leaves a
/// harvest checkpoint. A fresh store of the final records is `churned(dir, n, 1)`.
fn churned(dir: &Path, n: usize, rounds: usize) -> Store {
    let options = StoreOptions {
        segment_bytes: 256 << 10,
        compact_dead_percent: 0,
        ..StoreOptions::default()
    };
    let store = Store::open_with(dir, &options).unwrap();
    let text = "une notice assez longue pour peser ".repeat(25);
    for round in (0..rounds).rev() {
        let batch: Vec<RecordInput> = (0..n)
            .map(|i| {
                let sets = [SETS[i % 4]];
                let mut r = input(
                    &format!("oai:x:{i:05}"),
                    &format!("{round} {i} {text}"),
                    &sets,
                );
                if i % 3 == 0 {
                    r.origin = Origin::Source("up".into());
                }
                if round == 0 && i % 50 == 0 {
                    r.deleted = true;
                    r.dc = None;
                }
                r
            })
            .collect();
        for chunk in batch.chunks(500) {
            store.put_batch(chunk.to_vec()).unwrap();
        }
    }
    for spec in SETS {
        store
            .define_set(&SetSpec::parse(spec).unwrap(), &format!("Set {spec}"), None)
            .unwrap();
    }
    let key = harvest_state::ListKey {
        source: "up".into(),
        prefix: "oai_dc".into(),
        set: None,
    };
    let state = harvest_state::ListState {
        base_url: "http://up.example.org/oai".into(),
        next_from: Some("2024-01-01".into()),
        last_completed: Some(1_700_000_000),
        in_flight: None,
    };
    store.set_list_state(&key, &state).unwrap();
    store
}

/// What a user can read from a store: every list in full (records and headers, whole and per
/// set) with its count, the sets, origins, the token secret, harvest checkpoints and `check`.
fn readable(store: &Store) -> Vec<String> {
    let mut seen = Vec::new();
    for set in [None, Some("a"), Some("a:b"), Some("d")] {
        let filter = ListFilter {
            metadata_prefix: MetadataPrefix::oai_dc(),
            set: set.map(|s| SetSpec::parse(s).unwrap()),
            from: None,
            until: Datestamp::from_unix(4_000_000_000),
        };
        for headers_only in [true, false] {
            let mut out = Vec::new();
            let end = store
                .list_page(&filter, None, usize::MAX, headers_only, &mut out)
                .unwrap();
            assert!(!end.more);
            seen.push(String::from_utf8(out).unwrap());
        }
        seen.push(store.count(&filter).unwrap().to_string());
    }
    let mut sets = Vec::new();
    store
        .sets_page(None, 100, &mut |s| {
            sets.push(format!("{} {}", s.spec, s.name));
        })
        .unwrap();
    seen.push(sets.join("\n"));
    for r in store.iter_records() {
        let (id, record) = r.unwrap();
        seen.push(format!("{id} {} {}", record.origin, record.deleted));
    }
    seen.push(format!("{:?}", store.token_secret().unwrap()));
    seen.push(format!("{:?}", store.list_states().unwrap()));
    seen.push(format!("{:?}", store.check().unwrap()));
    let stats = store.stats().unwrap();
    seen.push(format!(
        "{} {} {}",
        stats.records, stats.deleted, stats.sets
    ));
    seen
}

/// Bytes of a store directory, without the fixed-size reserve file.
fn store_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != RESERVE_FILE)
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                store_bytes(&path)
            } else {
                path.metadata().unwrap().len()
            }
        })
        .sum()
}

#[test]
fn churn_then_compaction_comes_back_within_one_and_a_half_times_a_fresh_store_reading_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (path, fresh_path) = (dir.path().join("s"), dir.path().join("fresh"));
    let store = churned(&path, 2000, 6);
    let before = readable(&store);
    let (outcome, store) = store.compact_offline().unwrap();
    let files = outcome.sled_files.unwrap();
    assert!(
        files.bytes_after * 3 < files.bytes_before,
        "sled gave back little: {files:?}"
    );
    assert_eq!(readable(&store), before);
    drop(store);
    let fresh = churned(&fresh_path, 2000, 1);
    drop(fresh);
    let (compacted, fresh) = (store_bytes(&path), store_bytes(&fresh_path));
    assert!(
        compacted * 2 <= fresh * 3,
        "{compacted} bytes after compaction, {fresh} in a fresh store"
    );
    let store = Store::open(&path, 1 << 20).unwrap();
    assert_eq!(readable(&store), before, "after reopening");
}

#[test]
fn an_index_swap_interrupted_at_any_step_opens_to_the_same_records_and_is_finished_later() {
    for step in 0..=8 {
        let dir = tempfile::tempdir().unwrap();
        let store = churned(dir.path(), 200, 3);
        let before = readable(&store);
        store.inner.stop_after.store(200 + step, Ordering::SeqCst);
        let err = store.compact_offline().unwrap_err();
        assert!(err.to_string().contains("stopped"), "step {step}: {err}");
        assert!(is_store(dir.path()), "step {step}");
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(readable(&store), before, "step {step}, reopened");
        for side in [".index-new", ".index-aside", ".index-old", ".index-swap"] {
            assert!(!dir.path().join(side).exists(), "step {step}: {side} left");
        }
        let (outcome, store) = store.compact_offline().unwrap();
        assert!(outcome.sled_files.is_some());
        assert_eq!(readable(&store), before, "step {step}, compacted again");
    }
}

#[test]
fn a_second_open_of_a_store_is_refused_while_the_first_is_open_even_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20).unwrap();
    store.put(input("oai:x:1", "t", &[])).unwrap();
    let second = Store::open(dir.path(), 1 << 20);
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "{second:?}"
    );
    let (_, store) = store.compact_offline().unwrap();
    let second = Store::open(dir.path(), 1 << 20);
    assert!(
        matches!(second, Err(StoreError::Locked { .. })),
        "{second:?}"
    );
    drop(store);
    assert!(Store::open(dir.path(), 1 << 20).is_ok());
}

#[test]
fn a_snapshot_cut_short_by_a_kill_does_not_keep_the_store_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    {
        let store = Store::open(&path, 1 << 20).unwrap();
        store.put(input("oai:x:1", "kept", &[])).unwrap();
        store.flush().unwrap();
    }
    // What sled leaves when killed while writing a snapshot, sorted after every finished one.
    std::fs::write(path.join("snap.FFFFFFFFFFFFFFFF.generating"), b"").unwrap();
    let store = Store::open(&path, 1 << 20).expect("opens without the unfinished snapshot");
    assert!(store.get("oai:x:1").unwrap().is_some());
    assert!(!path.join("snap.FFFFFFFFFFFFFFFF.generating").exists());
}
