//! Tests of the store as a whole: write semantics, the model test, crashes and faults.

use super::*;
use crate::dc::DcElement;
use crate::protocol::{ListFilter, MetadataPrefix, Repository};
use proptest::prelude::*;

fn input(id: &str, title: &str, sets: &[&str]) -> RecordInput {
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
        let until = from.unwrap_or(1_600_000_000) + span;
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
