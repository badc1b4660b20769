//! Two threads in front of a [`RecordSink`]: one prepares each batch (renders and hashes it),
//! the other commits it (compresses, syncs and indexes it), so that on two cores parsing,
//! preparing and committing overlap instead of taking turns.
//!
//! [`BatchWriter::send`] hands batch N over, then waits until batch N-1 is committed: while
//! it waits, N is prepared beside that commit, and once it returns, the caller parses N+1
//! while N is finished and committed. At most one batch is prepared and one committed while
//! the caller fills the next, so memory stays at three batches. A batch's outcome (or its
//! error) comes back when the next batch is handed over or at [`BatchWriter::wait`]; a batch
//! is acknowledged, as with [`RecordSink::put_batch`], once its outcome is returned. A batch
//! handed over after one that failed is not written.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{BatchOutcome, RecordInput, RecordSink, Store, StoreError};

type Reply = Result<BatchOutcome, StoreError>;

/// What the writer thread is asked to do.
enum Job {
    /// Prepare these records, then commit them after the batches handed over before.
    Batch(Vec<RecordInput>),
    /// Nothing more is handed over for now: the caller waits for the batch in flight.
    Flush,
}

struct Worker {
    to: SyncSender<Job>,
    from: Receiver<Reply>,
    thread: JoinHandle<()>,
}

/// Writes batches to a sink on threads of their own, one outcome outstanding.
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

    /// Hands `records` to the writer thread, then waits for the batch before; returns that
    /// batch's outcome. On its error the new batch is not written.
    ///
    /// # Errors
    /// The previous batch's storage error.
    pub fn send(&mut self, records: Vec<RecordInput>) -> Result<Option<BatchOutcome>, StoreError> {
        if self.written.is_some() {
            let previous = self.wait()?;
            self.written = Some(self.sink.put_batch(records));
            return Ok(previous);
        }
        if self.worker.is_none() {
            self.worker = self.spawn();
        }
        let records = match &self.worker {
            Some(worker) => match worker.to.send(Job::Batch(records)) {
                Ok(()) => {
                    let previous = self.reply();
                    self.in_flight = previous.is_ok();
                    return previous;
                }
                Err(mpsc::SendError(job)) => job.into_records(),
            },
            None => records,
        };
        // No thread to be had: write here, and answer for this batch when the next is handed
        // over, as for one in flight.
        let previous = self.reply()?;
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
        if self.in_flight {
            if let Some(worker) = &self.worker {
                // A closed channel is answered by `reply`.
                let _ = worker.to.send(Job::Flush);
            }
        }
        self.reply()
    }

    /// The outcome of the batch in flight, once the writer thread has committed it.
    fn reply(&mut self) -> Result<Option<BatchOutcome>, StoreError> {
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
        let (to, jobs) = mpsc::sync_channel::<Job>(0);
        let (replies, from) = mpsc::sync_channel::<Reply>(1);
        let sink = self.sink.clone();
        let thread = std::thread::Builder::new()
            .name("moisson-writer".into())
            .spawn(move || prepare_each(&sink, &jobs, replies));
        match thread {
            Ok(thread) => Some(Worker { to, from, thread }),
            Err(error) => {
                tracing::warn!(%error, "No writer thread: records are written between parsing.");
                None
            }
        }
    }
}

impl Job {
    /// The records of a batch (none for a flush).
    fn into_records(self) -> Vec<RecordInput> {
        match self {
            Job::Batch(records) => records,
            Job::Flush => Vec::new(),
        }
    }
}

/// A prepared batch (or a flush) on its way to the committing thread.
enum Ready<P> {
    Batch(Result<P, StoreError>),
    Flush,
}

/// The writer thread: prepares each batch as it comes and hands it to a committing thread, so
/// that a batch is prepared while the one before is committed (and the caller parses the next).
fn prepare_each<S: RecordSink + Clone + Send + 'static>(
    sink: &S,
    jobs: &Receiver<Job>,
    replies: SyncSender<Reply>,
) {
    let prepare = |job| match job {
        Job::Batch(records) => Ready::Batch(sink.prepare_batch(records)),
        Job::Flush => Ready::Flush,
    };
    let committer = |replies| Committer {
        sink: sink.clone(),
        replies,
        drop_next: false,
    };
    let (to_commit, prepared) = mpsc::sync_channel::<Ready<S::Prepared>>(0);
    let mut committing_one = committer(replies.clone());
    let committing = std::thread::Builder::new()
        .name("moisson-commit".into())
        .spawn(move || {
            for ready in prepared {
                if !committing_one.take(ready) {
                    return;
                }
            }
        });
    let Ok(committing) = committing else {
        // No second thread: each batch is committed here once prepared.
        let mut here = committer(replies);
        for job in jobs {
            if !here.take(prepare(job)) {
                return;
            }
        }
        return;
    };
    // The caller learns that the committing thread is gone when no sender is left.
    drop(replies);
    for job in jobs {
        if to_commit.send(prepare(job)).is_err() {
            break;
        }
    }
    drop(to_commit);
    let _ = committing.join();
}

/// Commits prepared batches in order and answers for each.
struct Committer<S: RecordSink> {
    sink: S,
    replies: SyncSender<Reply>,
    /// Set when a batch failed: the one handed over after it is not written (its sender learns
    /// of the failure instead of its outcome), unless a flush came between.
    drop_next: bool,
}

impl<S: RecordSink> Committer<S> {
    /// Commits a batch or takes a flush; false when nobody waits for replies any more.
    fn take(&mut self, ready: Ready<S::Prepared>) -> bool {
        match ready {
            Ready::Flush => {
                self.drop_next = false;
                true
            }
            Ready::Batch(_) if std::mem::take(&mut self.drop_next) => true,
            Ready::Batch(batch) => {
                let reply = batch.and_then(|b| self.sink.put_prepared(b));
                self.drop_next = reply.is_err();
                self.replies.send(reply).is_ok()
            }
        }
    }
}

impl<S: RecordSink + Clone + Send + 'static> Drop for BatchWriter<S> {
    /// Lets the batches handed over finish (each written whole or not at all) before
    /// returning.
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
    use std::time::Duration;

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
        assert_eq!(store.check().expect("checked"), Vec::<String>::new());
    }

    #[test]
    fn a_batch_whose_successor_is_slow_to_come_is_written_meanwhile() {
        let store = Store::temporary().expect("store");
        let mut writer = BatchWriter::new(store.clone());
        writer.send(vec![record(1, "a")]).expect("sent");
        let started = std::time::Instant::now();
        while store.get("oai:example.org:1").expect("read").is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "a prepared batch holds lists back until it is written"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let outcome = writer.wait().expect("no error").expect("its outcome");
        assert_eq!(outcome.outcomes, [PutOutcome::Added]);
        let later = crate::protocol::Datestamp::from_unix(i64::MAX / 2);
        assert_eq!(
            store.visible_until(later),
            later,
            "no batch in flight any more"
        );
        writer.send(vec![record(2, "a")]).expect("sent");
        assert_eq!(
            writer
                .wait()
                .expect("no error")
                .expect("its outcome")
                .outcomes
                .len(),
            1
        );
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
