//! The sample records a fresh `moisson serve` starts with, so the first harvest returns real
//! records at once.

use crate::importer::jsonl::{parse_line, Item};
use crate::store::{RecordInput, Store, StoreError};

const RECORDS: &str = include_str!("records.jsonl");

/// Loads the bundled sample records and sets into `store`.
///
/// # Errors
/// A storage failure.
pub fn load(store: &Store) -> Result<usize, StoreError> {
    let mut records: Vec<RecordInput> = Vec::new();
    for (n, line) in RECORDS.lines().enumerate() {
        match parse_line(line) {
            Ok(Item::Record(r)) => records.push(r),
            Ok(Item::Set(s)) => store.define_set(&s.spec, &s.name, s.description.as_ref())?,
            Err(e) => return Err(StoreError::Invalid(format!("bundled sample line {}: {e}", n + 1))),
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
        assert!(super::load(&store).unwrap() >= 10);
        assert!(store.check().unwrap().is_empty());
    }
}
