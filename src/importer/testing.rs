//! A backend that is not a `Store`, for the importers' tests: a [`VecSink`] the writer thread
//! can share.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::dc::DcRecord;
use crate::protocol::SetSpec;
use crate::store::{BatchOutcome, PutOutcome, RecordInput, RecordSink, StoreError, VecSink};

/// What it was given, shared by its clones (and so with the writer thread).
#[derive(Clone, Default)]
pub(crate) struct SharedSink(Arc<Mutex<VecSink>>);

impl SharedSink {
    /// The records and sets written so far.
    pub(crate) fn sink(&self) -> MutexGuard<'_, VecSink> {
        self.0.lock().expect("not poisoned")
    }
}

impl RecordSink for SharedSink {
    fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        self.sink().put_batch(records)
    }

    type Prepared = <VecSink as RecordSink>::Prepared;

    fn prepare_batch(&self, records: Vec<RecordInput>) -> Result<Self::Prepared, StoreError> {
        self.sink().prepare_batch(records)
    }

    fn put_prepared(&self, batch: Self::Prepared) -> Result<BatchOutcome, StoreError> {
        self.sink().put_prepared(batch)
    }

    fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError> {
        self.sink().classify(record)
    }

    fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError> {
        self.sink().set_name(spec)
    }

    fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        description: Option<&DcRecord>,
    ) -> Result<(), StoreError> {
        self.sink().define_set(spec, name, description)
    }
}
