//! [`RecordSink`]: the one surface importers write through, and [`HarvestSink`], what the
//! harvester needs besides (a page written with its checkpoint, list states, runs, the
//! identifier sweep's marks), so that another backend (such as PostgreSQL) can take their
//! records without a change to them.
//!
//! Methods take `&self`: the store is shared by the threads of one import or harvest, and a
//! backend synchronises its own writes (as sled does).

use std::path::Path;

use super::harvest_state::{HarvestedRecord, ListKey, ListState, SourceRun};
use super::{BatchOutcome, PutOutcome, RecordInput, Store, StoreError, StoredRecord};
use crate::dc::DcRecord;
use crate::protocol::{MetadataFormat, SetSpec};

/// Where importers and the harvester put records.
pub trait RecordSink {
    /// Writes records, each with its index entries, atomically.
    ///
    /// # Errors
    /// A storage failure, after which nothing of the batch is written.
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError>;

    /// A batch made ready by [`RecordSink::prepare_batch`].
    type Prepared: Send + 'static;

    /// Makes a batch ready to write without holding up other writers (a store renders and
    /// hashes it against the stored records), so that a writer can prepare one batch while the
    /// one before is written. Nothing is written.
    ///
    /// # Errors
    /// A storage failure.
    fn prepare_batch(&self, records: Vec<RecordInput>) -> Result<Self::Prepared, StoreError>;

    /// Writes a batch of [`RecordSink::prepare_batch`] as [`RecordSink::put_batch`] writes one.
    ///
    /// # Errors
    /// As [`RecordSink::put_batch`].
    fn put_prepared(&self, batch: Self::Prepared) -> Result<BatchOutcome, StoreError>;

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

/// What the harvester writes and reads through: a [`RecordSink`] that also keeps harvesting
/// state. Cheap to clone (clones share one store) and usable from blocking threads.
pub trait HarvestSink: RecordSink + Clone + Send + Sync + 'static {
    /// See [`Store::get`].
    fn get(&self, identifier: &str) -> Result<Option<StoredRecord>, StoreError>;
    /// See [`Store::rendered`].
    fn rendered(&self, identifier: &str, prefix: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// See [`Store::register_format`].
    fn register_format(&self, format: &MetadataFormat) -> Result<(), StoreError>;
    /// See [`Store::put_harvest_page`].
    fn put_harvest_page(
        &self,
        page: Vec<HarvestedRecord>,
        key: &ListKey,
        state: &ListState,
    ) -> Result<BatchOutcome, StoreError>;
    /// A page made ready by [`HarvestSink::prepare_harvest_page`].
    type PreparedPage: Send + 'static;
    /// See [`Store::prepare_harvest_page`].
    fn prepare_harvest_page(
        &self,
        page: Vec<HarvestedRecord>,
    ) -> Result<Self::PreparedPage, StoreError>;
    /// See [`Store::put_prepared_harvest_page`].
    fn put_prepared_harvest_page(
        &self,
        page: Self::PreparedPage,
        key: &ListKey,
        state: &ListState,
    ) -> Result<BatchOutcome, StoreError>;
    /// See [`Store::list_state`].
    fn list_state(&self, key: &ListKey) -> Result<Option<ListState>, StoreError>;
    /// See [`Store::put_source_run`].
    fn put_source_run(&self, source: &str, run: &SourceRun) -> Result<(), StoreError>;
    /// See [`Store::source_history`].
    fn source_history(&self, source: &str, limit: usize) -> Result<Vec<SourceRun>, StoreError>;
    /// See [`Store::flush`].
    fn flush(&self) -> Result<(), StoreError>;
    /// See [`Store::instance_id`].
    fn instance_id(&self) -> Result<String, StoreError>;
    /// The store's directory, where the harvester keeps its source locks (`None`: in memory).
    fn path(&self) -> Option<&Path>;
    /// See [`Store::last_sweep`].
    fn last_sweep(&self, source: &str) -> Result<Option<i64>, StoreError>;
    /// See [`Store::set_last_sweep`].
    fn set_last_sweep(&self, source: &str, at: i64) -> Result<(), StoreError>;
    /// See [`Store::mark_listed`].
    fn mark_listed(&self, source: &str, identifiers: &[String]) -> Result<(), StoreError>;
    /// See [`Store::clear_listed`].
    fn clear_listed(&self, source: &str) -> Result<(), StoreError>;
    /// See [`Store::for_each_unlisted`].
    fn for_each_unlisted(
        &self,
        source: &str,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError>;
}

impl HarvestSink for Store {
    fn get(&self, identifier: &str) -> Result<Option<StoredRecord>, StoreError> {
        Store::get(self, identifier)
    }
    fn rendered(&self, identifier: &str, prefix: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Store::rendered(self, identifier, prefix)
    }
    fn register_format(&self, format: &MetadataFormat) -> Result<(), StoreError> {
        Store::register_format(self, format)
    }
    fn put_harvest_page(
        &self,
        page: Vec<HarvestedRecord>,
        key: &ListKey,
        state: &ListState,
    ) -> Result<BatchOutcome, StoreError> {
        Store::put_harvest_page(self, page, key, state)
    }
    type PreparedPage = super::PreparedHarvestPage;
    fn prepare_harvest_page(
        &self,
        page: Vec<HarvestedRecord>,
    ) -> Result<Self::PreparedPage, StoreError> {
        Store::prepare_harvest_page(self, page)
    }
    fn put_prepared_harvest_page(
        &self,
        page: Self::PreparedPage,
        key: &ListKey,
        state: &ListState,
    ) -> Result<BatchOutcome, StoreError> {
        Store::put_prepared_harvest_page(self, page, key, state)
    }
    fn list_state(&self, key: &ListKey) -> Result<Option<ListState>, StoreError> {
        Store::list_state(self, key)
    }
    fn put_source_run(&self, source: &str, run: &SourceRun) -> Result<(), StoreError> {
        Store::put_source_run(self, source, run)
    }
    fn source_history(&self, source: &str, limit: usize) -> Result<Vec<SourceRun>, StoreError> {
        Store::source_history(self, source, limit)
    }
    fn flush(&self) -> Result<(), StoreError> {
        Store::flush(self)
    }
    fn instance_id(&self) -> Result<String, StoreError> {
        Store::instance_id(self)
    }
    fn path(&self) -> Option<&Path> {
        Store::path(self)
    }
    fn last_sweep(&self, source: &str) -> Result<Option<i64>, StoreError> {
        Store::last_sweep(self, source)
    }
    fn set_last_sweep(&self, source: &str, at: i64) -> Result<(), StoreError> {
        Store::set_last_sweep(self, source, at)
    }
    fn mark_listed(&self, source: &str, identifiers: &[String]) -> Result<(), StoreError> {
        Store::mark_listed(self, source, identifiers)
    }
    fn clear_listed(&self, source: &str) -> Result<(), StoreError> {
        Store::clear_listed(self, source)
    }
    fn for_each_unlisted(
        &self,
        source: &str,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        Store::for_each_unlisted(self, source, f)
    }
}

impl RecordSink for Store {
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        Store::put_batch(self, records)
    }

    type Prepared = super::PreparedBatch;

    fn prepare_batch(&self, records: Vec<RecordInput>) -> Result<Self::Prepared, StoreError> {
        Store::prepare_batch(self, records)
    }

    fn put_prepared(&self, batch: Self::Prepared) -> Result<BatchOutcome, StoreError> {
        Store::put_prepared(self, batch)
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

    type Prepared = Vec<RecordInput>;

    fn prepare_batch(&self, records: Vec<RecordInput>) -> Result<Self::Prepared, StoreError> {
        Ok(records)
    }

    fn put_prepared(&self, batch: Self::Prepared) -> Result<BatchOutcome, StoreError> {
        self.put_batch(batch)
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
