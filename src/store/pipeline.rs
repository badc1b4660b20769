//! A writer thread in front of a [`RecordSink`]'s `put_batch`: an importer parses its next
//! batch while the store renders, compresses, syncs and indexes the one before, so that on two
//! cores parsing and writing overlap instead of taking turns.
//!
//! At most one batch is in flight, so memory stays at two batches, and a batch's outcome (or
//! its error) comes back when the next batch is handed over or at [`BatchWriter::wait`]. A
//! batch is acknowledged, as with [`RecordSink::put_batch`], once its outcome is returned.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{BatchOutcome, RecordInput, RecordSink, Store, StoreError};

type Reply = Result<BatchOutcome, StoreError>;

struct Worker {
    to: SyncSender<Vec<RecordInput>>,
    from: Receiver<Reply>,
    thread: JoinHandle<()>,
}

/// Writes batches to a sink on a thread of its own, one batch in flight.
pub struct BatchWriter<S: RecordSink + Clone + Send + 'static = Store> {
    sink: S,
    worker: Option<Worker>,
    in_flight: bool,
    /// The reply of a batch written in the caller's thread (no writer thread to be had),
    /// returned when a batch in flight would be: at the next send or wait.
    written: Option<Reply>,
}

impl<S: RecordSink + Clone + Send + 'static> BatchWriter<S> {
    /// A writer into `sink`; its thread starts with the first batch.
    pub fn new(sink: S) -> BatchWriter<S> {
        BatchWriter {
            sink,
            worker: None,
            in_flight: false,
            written: None,
        }
    }

    /// Hands `records` to the writer thread, after waiting for the batch before; returns that
    /// batch's outcome. On its error the new batch is not written.
    ///
    /// # Errors
    /// The previous batch's storage error.
    pub fn send(&mut self, records: Vec<RecordInput>) -> Result<Option<BatchOutcome>, StoreError> {
        let previous = self.wait()?;
        if self.worker.is_none() {
            self.worker = self.spawn();
        }
        let records = match &self.worker {
            Some(worker) => match worker.to.send(records) {
                Ok(()) => {
                    self.in_flight = true;
                    return Ok(previous);
                }
                Err(mpsc::SendError(records)) => records,
            },
            None => records,
        };
        // No thread to be had: write here, and answer for this batch when the next is handed
        // over, as for one in flight.
        self.worker = None;
        self.written = Some(self.sink.put_batch(records));
        Ok(previous)
    }

    /// Waits for the batch in flight, if any, and returns its outcome.
    ///
    /// # Errors
    /// Its storage error.
    pub fn wait(&mut self) -> Result<Option<BatchOutcome>, StoreError> {
        if let Some(reply) = self.written.take() {
            return reply.map(Some);
        }
        if !std::mem::take(&mut self.in_flight) {
            return Ok(None);
        }
        if let Some(Ok(reply)) = self.worker.as_ref().map(|w| w.from.recv()) {
            return reply.map(Some);
        }
        self.worker = None;
        Err(StoreError::Invalid(
            "the thread writing the records stopped".into(),
        ))
    }

    fn spawn(&self) -> Option<Worker> {
        let (to, batches) = mpsc::sync_channel::<Vec<RecordInput>>(0);
        let (replies, from) = mpsc::sync_channel::<Reply>(1);
        let sink = self.sink.clone();
        let thread = std::thread::Builder::new()
            .name("moisson-writer".into())
            .spawn(move || {
                for batch in batches {
                    if replies.send(sink.put_batch(batch)).is_err() {
                        return;
                    }
                }
            });
        match thread {
            Ok(thread) => Some(Worker { to, from, thread }),
            Err(error) => {
                tracing::warn!(%error, "No writer thread: records are written between parsing.");
                None
            }
        }
    }
}

impl<S: RecordSink + Clone + Send + 'static> Drop for BatchWriter<S> {
    /// Lets the batch in flight finish (written whole or not at all) before returning.
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            drop(worker.to);
            let _ = worker.thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::{DcElement, DcRecord};
    use crate::protocol::OaiIdentifier;
    use crate::store::PutOutcome;

    fn record(n: usize, title: &str) -> RecordInput {
        let mut dc = DcRecord::default();
        dc.push_str(DcElement::Title, title);
        RecordInput::dc(
            OaiIdentifier::parse(&format!("oai:example.org:{n}")).expect("valid"),
            dc,
        )
    }

    #[test]
    fn each_outcome_comes_back_with_the_next_batch_and_every_batch_is_written() {
        let store = Store::temporary().expect("store");
        let mut writer = BatchWriter::new(store.clone());
        let first = writer.send((0..3).map(|n| record(n, "a")).collect());
        assert_eq!(first.expect("no error"), None);
        let second = writer
            .send(vec![record(0, "b"), record(7, "a")])
            .expect("no error")
            .expect("the first batch's outcome");
        assert_eq!(second.outcomes, vec![PutOutcome::Added; 3]);
        let last = writer.wait().expect("no error").expect("the second's");
        assert_eq!(last.outcomes, vec![PutOutcome::Updated, PutOutcome::Added]);
        assert_eq!(writer.wait().expect("nothing in flight"), None);
        assert_eq!(store.stats().expect("stats").records, 4);
    }

    #[test]
    fn a_batch_in_flight_is_written_when_the_writer_is_dropped() {
        let store = Store::temporary().expect("store");
        let mut writer = BatchWriter::new(store.clone());
        writer.send(vec![record(1, "a")]).expect("sent");
        drop(writer);
        assert!(store.get("oai:example.org:1").expect("read").is_some());
    }

    #[test]
    fn a_storage_error_comes_back_and_the_next_batch_is_not_written() {
        let store = Store::temporary().expect("store");
        let mut writer = BatchWriter::new(store.clone());
        store.become_read_only("no space left on device".into());
        writer.send(vec![record(1, "a")]).expect("sent");
        let error = writer.send(vec![record(2, "a")]).expect_err("read-only");
        assert!(matches!(error, StoreError::ReadOnly { .. }), "{error}");
        assert_eq!(writer.wait().expect("nothing in flight"), None);
        assert!(store.get("oai:example.org:2").expect("read").is_none());
    }
}
