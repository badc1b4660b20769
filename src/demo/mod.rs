//! The sample records a fresh `moisson serve` starts with, so the first harvest returns real
//! records at once: a real PMB bulletin (imported through the PMB crosswalk, so it is the first
//! thing a new user harvests as it will look for their own catalogue) and a few varied Dublin
//! Core records with sets, languages and a deleted record. Every identifier is made with the
//! store's repositoryIdentifier, so that two demo stores never claim the same records.

use crate::importer::jsonl::{parse_line, Item};
use crate::store::{RecordInput, Store, StoreError};

const RECORDS: &str = include_str!("records.jsonl");
const PMB_BULLETIN: &[u8] = include_bytes!("bulletin-44933.txt");
/// How the bundled records' identifiers start, replaced by the store's own.
const SAMPLE_PREFIX: &str = "\"oai:moisson.example.org:";

/// Loads the bundled sample records and sets into `store`, with PMB identifiers made from
/// `repository_identifier`.
///
/// # Errors
/// A storage failure.
pub fn load(store: &Store, repository_identifier: &str) -> Result<usize, StoreError> {
    let mut records: Vec<RecordInput> = Vec::new();
    let bulletins = crate::importer::pmb::import_bytes(PMB_BULLETIN)
        .map_err(|e| StoreError::Invalid(format!("bundled PMB sample: {e}")))?;
    for mapped in bulletins {
        let mapped = mapped.map_err(|e| StoreError::Invalid(format!("bundled PMB sample: {e}")))?;
        let (input, sets) = crate::importer::pmb::load::record_input(mapped, repository_identifier)
            .map_err(|e| StoreError::Invalid(format!("bundled PMB sample: {e}")))?;
        for set in &sets {
            crate::importer::pmb::load::define_named_set(store, set)?;
        }
        // Dated like the issue it describes, so it comes first in a harvest of the demo store.
        let mut input = input;
        input.datestamp = crate::protocol::Datestamp::parse("2017-06-01T00:00:00Z");
        records.push(input);
    }
    let ours = format!("\"oai:{repository_identifier}:");
    for (n, line) in RECORDS.lines().enumerate() {
        let line = line.replace(SAMPLE_PREFIX, &ours);
        match parse_line(&line) {
            Ok(Item::Record(r)) => records.push(r),
            Ok(Item::Set(s)) => store.define_set(&s.spec, &s.name, s.description.as_ref())?,
            Err(e) => {
                return Err(StoreError::Invalid(format!(
                    "bundled sample line {}: {e}",
                    n + 1
                )))
            }
        }
    }
    let n = records.len();
    store.put_batch(records)?;
    store.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundled_samples_load() {
        let store = crate::store::Store::temporary().unwrap();
        assert!(super::load(&store, "bib.example.net").unwrap() >= 11);
        assert!(store
            .get("oai:bib.example.net:bulletin/44933")
            .unwrap()
            .is_some());
        assert!(store
            .get("oai:bib.example.net:notice/1001")
            .unwrap()
            .is_some());
        assert!(store
            .iter_records()
            .all(|r| r.unwrap().0.starts_with("oai:bib.example.net:")));
        assert!(store.check().unwrap().is_empty());
    }
}
