//! [`RecordSink`]: the one surface importers write through, so that another backend (such as
//! PostgreSQL) can take their records without a change to them.
//!
//! Methods take `&self`: the store is shared by the threads of one import or harvest, and a
//! backend synchronises its own writes (as sled does).

use super::{BatchOutcome, PutOutcome, RecordInput, Store, StoreError};
use crate::dc::DcRecord;
use crate::protocol::SetSpec;

/// Where importers and the harvester put records.
pub trait RecordSink {
    /// Writes records, each with its index entries, atomically.
    ///
    /// # Errors
    /// A storage failure, after which nothing of the batch is written.
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError>;

    /// What writing `record` would do, without writing anything (for dry runs).
    ///
    /// # Errors
    /// A storage failure.
    fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError>;

    /// The name of a set, if it is defined.
    ///
    /// # Errors
    /// A storage failure.
    fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError>;

    /// Defines or renames a set, with an optional Dublin Core description.
    ///
    /// # Errors
    /// A storage failure.
    fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        description: Option<&DcRecord>,
    ) -> Result<(), StoreError>;
}

impl RecordSink for Store {
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        Store::put_batch(self, records)
    }

    fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError> {
        Store::classify(self, record)
    }

    fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError> {
        Store::set_name(self, spec)
    }

    fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        description: Option<&DcRecord>,
    ) -> Result<(), StoreError> {
        Store::define_set(self, spec, name, description)
    }
}

/// A sink that keeps what it is given in memory: importers tested without a store.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct VecSink {
    /// Every record written, in order.
    pub records: std::cell::RefCell<Vec<RecordInput>>,
    /// Sets defined: spec → name.
    pub sets: std::cell::RefCell<std::collections::BTreeMap<String, String>>,
}

#[cfg(test)]
impl RecordSink for VecSink {
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        let outcomes = records
            .iter()
            .map(|r| self.classify(r))
            .collect::<Result<_, _>>()?;
        self.records.borrow_mut().extend(records);
        Ok(BatchOutcome {
            outcomes,
            ..BatchOutcome::default()
        })
    }

    fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError> {
        let known = self
            .records
            .borrow()
            .iter()
            .any(|r| r.identifier == record.identifier);
        Ok(match (known, record.deleted) {
            (_, true) => PutOutcome::Deleted,
            (true, false) => PutOutcome::Updated,
            (false, false) => PutOutcome::Added,
        })
    }

    fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError> {
        Ok(self.sets.borrow().get(spec.as_ref()).cloned())
    }

    fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        _description: Option<&DcRecord>,
    ) -> Result<(), StoreError> {
        self.sets
            .borrow_mut()
            .insert(spec.as_ref().to_owned(), name.to_owned());
        Ok(())
    }
}
