//! Batches prepared ahead of their commit, so that a writer renders and hashes its next batch
//! while the one before is committed ([`super::pipeline::BatchWriter`]).
//!
//! Preparing reads the stored version of each record without the write lock. A batch is then
//! committed as prepared only when nothing it read can have changed since: no write at all in
//! between, or a single batch commit that touched none of its identifiers (in a pipeline, its
//! own previous batch). Anything else (another writer, a compaction moving blobs, a rebuild
//! renumbering the index, a failed write) makes the commit prepare the batch again, under the
//! lock, from its inputs.
//!
//! A write is counted once it is applied (or has failed), never before: a preparation that
//! overlapped a write then sees the count from before it, and is checked against it.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use super::{BatchOutcome, Prepared, RecordInput, Store, StoreError};
use crate::protocol::Datestamp;

/// The seconds at which the batches being written were stamped (see [`Store::begin_write`]).
#[derive(Debug)]
pub(crate) struct Marks {
    seconds: Mutex<BTreeMap<i64, usize>>,
    /// The earliest of them, `i64::MAX` when there is none: read by every list.
    earliest: AtomicI64,
}

impl Marks {
    /// No batch in flight.
    pub(crate) fn new() -> Arc<Marks> {
        Arc::new(Marks {
            seconds: Mutex::new(BTreeMap::new()),
            earliest: AtomicI64::new(i64::MAX),
        })
    }

    /// The second of the earliest batch in flight, `i64::MAX` when none is.
    pub(crate) fn earliest(&self) -> i64 {
        self.earliest.load(Ordering::SeqCst)
    }

    /// Marks a batch stamped at `second` as in flight until the guard is dropped.
    pub(crate) fn mark(self: &Arc<Marks>, second: i64) -> InFlight {
        let mut seconds = self.seconds.lock().unwrap_or_else(PoisonError::into_inner);
        *seconds.entry(second).or_insert(0) += 1;
        self.earliest.store(first(&seconds), Ordering::SeqCst);
        InFlight {
            marks: Arc::clone(self),
            second,
        }
    }
}

fn first(seconds: &BTreeMap<i64, usize>) -> i64 {
    seconds.keys().next().copied().unwrap_or(i64::MAX)
}

/// Clears its batch's in-flight mark when the batch is done, written or not.
#[derive(Debug)]
pub(crate) struct InFlight {
    marks: Arc<Marks>,
    second: i64,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut seconds = self
            .marks
            .seconds
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = seconds.get_mut(&self.second) {
            *n -= 1;
            if *n == 0 {
                seconds.remove(&self.second);
            }
        }
        self.marks.earliest.store(first(&seconds), Ordering::SeqCst);
    }
}

/// Counts the writes applied to records and indexes, and remembers what the last batch touched.
#[derive(Debug, Default)]
pub(crate) struct Writes {
    applied: AtomicU64,
    /// The count just after the last write, with the identifiers it wrote (hashed), when that
    /// write was a batch commit.
    last_batch: Mutex<Option<(u64, HashSet<u64>)>>,
}

impl Writes {
    /// Writes applied so far.
    pub(crate) fn count(&self) -> u64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Counts a write, of any kind, once it is applied or has failed. Call it holding the
    /// write lock.
    pub(crate) fn applied(&self) {
        let mut last = self
            .last_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = None;
        self.applied.fetch_add(1, Ordering::SeqCst);
    }

    /// Names the identifiers the write just counted wrote, when it was a batch commit.
    pub(crate) fn batch_wrote(&self, identifiers: HashSet<u64>) {
        let mut last = self
            .last_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *last = Some((self.count(), identifiers));
    }

    /// True when records read at count `read_at` are still as read, for the identifiers `ids`.
    fn still_as_read(&self, read_at: u64, ids: &HashSet<u64>) -> bool {
        let now = self.count();
        if now == read_at {
            return true;
        }
        let last = self
            .last_batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        matches!(&*last, Some((at, wrote)) if *at == now && now == read_at + 1 && wrote.is_disjoint(ids))
    }
}

/// An identifier hashed for [`Writes`]: a collision only makes a batch be prepared again.
pub(crate) fn id_hash(identifier: &str) -> u64 {
    let mut h = DefaultHasher::new();
    identifier.hash(&mut h);
    h.finish()
}

/// Records rendered ahead of their commit: a batch of [`Store::prepare_batch`] or a harvested
/// page of [`Store::prepare_harvest_page`]. It keeps its inputs, to be prepared again.
#[derive(Debug)]
pub struct Ahead<T> {
    inputs: Vec<T>,
    prepared: Vec<Prepared>,
    stripped: usize,
    now: Datestamp,
    read_at: u64,
    ids: HashSet<u64>,
    _in_flight: InFlight,
}

/// A batch rendered ahead of its commit by [`Store::prepare_batch`].
pub type PreparedBatch = Ahead<RecordInput>;

/// How records of one kind are prepared, stamped `now`, against what is stored.
pub(crate) type PrepareFn<T> =
    fn(&Store, &mut [T], Datestamp) -> Result<(Vec<Prepared>, usize), StoreError>;

impl Store {
    /// Renders and hashes a batch against the stored records without taking the write lock;
    /// [`Store::put_prepared`] writes it. Its records are stamped now, and lists are answered
    /// as of that second until it is written or dropped.
    ///
    /// # Errors
    /// A storage failure while reading the stored records.
    pub fn prepare_batch(&self, records: Vec<RecordInput>) -> Result<PreparedBatch, StoreError> {
        self.prepare_ahead(records, |r| r.identifier.as_ref(), Store::prepare_all)
    }

    /// Writes a batch of [`Store::prepare_batch`] as [`Store::put_batch`] writes one; if what
    /// it was prepared against may have changed since, or a write stamped later went in first,
    /// it is stamped and prepared again first.
    ///
    /// # Errors
    /// As [`Store::put_batch`].
    pub fn put_prepared(&self, batch: PreparedBatch) -> Result<BatchOutcome, StoreError> {
        self.put_ahead(batch, None, Store::prepare_all)
    }

    /// Prepares `inputs` with `prepare` without the write lock (see [`Store::prepare_batch`]).
    pub(crate) fn prepare_ahead<T>(
        &self,
        mut inputs: Vec<T>,
        id: impl Fn(&T) -> &str,
        prepare: PrepareFn<T>,
    ) -> Result<Ahead<T>, StoreError> {
        let read_at = self.inner.writes.count();
        let (now, in_flight) = self.begin_write();
        let (prepared, stripped) = prepare(self, &mut inputs, now)?;
        let ids = inputs.iter().map(|r| id_hash(id(r))).collect();
        Ok(Ahead {
            inputs,
            prepared,
            stripped,
            now,
            read_at,
            ids,
            _in_flight: in_flight,
        })
    }

    /// Commits what [`Store::prepare_ahead`] prepared, with the harvest checkpoint if any,
    /// preparing it again under the lock first when it may be stale (see [`Store::put_prepared`]).
    pub(crate) fn put_ahead<T>(
        &self,
        batch: Ahead<T>,
        harvest: Option<(Vec<u8>, Vec<u8>)>,
        prepare: PrepareFn<T>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut state = self.lock_write();
        let Ahead {
            mut inputs,
            mut prepared,
            stripped,
            now,
            read_at,
            ids,
            _in_flight: mut mark,
        } = batch;
        // A write stamped later went in first: stamped as it is, the batch would fall behind
        // the run and be filed out of order.
        let in_order = state
            .run_tail
            .as_ref()
            .is_none_or(|(d, _)| *d <= now.unix());
        if !in_order || !self.inner.writes.still_as_read(read_at, &ids) {
            drop(prepared);
            // The new mark is taken before the old one goes: lists never pass this batch.
            let (now, fresh) = self.begin_write();
            mark = fresh;
            // Values were stripped the first time: the count stays the first one's.
            prepared = prepare(self, &mut inputs, now)?.0;
        }
        let written = self.commit(&mut state, prepared, stripped, harvest);
        drop(mark);
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::input;
    use crate::store::PutOutcome;

    fn title(store: &Store, id: &str) -> String {
        let dc = store.dc(id).expect("read").expect("stored");
        let (_, value) = dc.iter().next().expect("a title");
        value.value.clone()
    }

    #[test]
    fn a_batch_prepared_before_another_write_to_its_records_is_prepared_again() {
        let store = Store::temporary().expect("store");
        let ahead = store
            .prepare_batch(vec![
                input("oai:x:1", "mine", &[]),
                input("oai:x:2", "mine", &[]),
            ])
            .expect("prepared");
        store
            .put(input("oai:x:1", "theirs", &["s"]))
            .expect("written");
        let out = store.put_prepared(ahead).expect("written");
        assert_eq!(out.outcomes, [PutOutcome::Updated, PutOutcome::Added]);
        assert_eq!(store.stats().expect("stats").records, 2);
        assert_eq!(store.check().expect("checked"), Vec::<String>::new());
        assert_eq!(title(&store, "oai:x:1"), "mine");
    }

    #[test]
    fn a_batch_prepared_before_the_index_is_renumbered_is_prepared_again() {
        let store = Store::temporary().expect("store");
        let at = |n: u64, title: &str, secs: i64| {
            let mut r = input(&format!("oai:x:{n}"), title, &[]);
            r.datestamp = Some(Datestamp::from_unix(secs));
            r
        };
        store
            .put_batch((0..20).map(|n| at(n, "old", 1_000_000_000)).collect())
            .expect("written");
        // Records moved after it, so that renumbering moves the one prepared against.
        store
            .put_batch((0..10).map(|n| at(n, "newer", 1_000_000_100)).collect())
            .expect("written");
        let ahead = store
            .prepare_batch(vec![input("oai:x:15", "new", &[])])
            .expect("prepared");
        super::super::rebuild::renumber(&store, &mut store.lock_write()).expect("renumbered");
        let out = store.put_prepared(ahead).expect("written");
        assert_eq!(out.outcomes, [PutOutcome::Updated]);
        assert_eq!(store.stats().expect("stats").records, 20);
        assert_eq!(store.check().expect("checked"), Vec::<String>::new());
        assert_eq!(title(&store, "oai:x:15"), "new");
    }

    #[test]
    fn a_batch_prepared_before_a_later_stamped_write_is_stamped_again_and_stays_in_order() {
        let store = Store::temporary().expect("store");
        // Mine sorts after theirs within a second, so that only a stamp behind theirs would
        // put it out of order.
        let ahead = store
            .prepare_batch(vec![input("oai:x:2", "mine", &[])])
            .expect("prepared");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        store.put(input("oai:x:1", "theirs", &[])).expect("written");
        store.put_prepared(ahead).expect("written");
        assert_eq!(store.stats().expect("stats").out_of_order, 0);
        let mine = store.get("oai:x:2").expect("read").expect("stored");
        let theirs = store.get("oai:x:1").expect("read").expect("stored");
        assert!(mine.datestamp >= theirs.datestamp);
        assert_eq!(store.check().expect("checked"), Vec::<String>::new());
    }

    #[test]
    fn lists_are_answered_as_of_the_earliest_batch_in_flight() {
        let store = Store::temporary().expect("store");
        let ahead = store
            .prepare_batch(vec![input("oai:x:1", "a", &[])])
            .expect("prepared");
        let later = Datestamp::from_unix(Datestamp::now().unix() + 3600);
        assert!(store.visible_until(later) <= Datestamp::now());
        drop(ahead);
        assert_eq!(store.visible_until(later), later);
    }

    #[test]
    fn the_earliest_mark_stays_until_its_own_batch_is_done() {
        let marks = Marks::new();
        assert_eq!(marks.earliest(), i64::MAX);
        let first = marks.mark(10);
        let second = marks.mark(12);
        let again = marks.mark(10);
        assert_eq!(marks.earliest(), 10);
        drop(first);
        assert_eq!(
            marks.earliest(),
            10,
            "another batch of second 10 is in flight"
        );
        drop(again);
        assert_eq!(marks.earliest(), 12);
        drop(second);
        assert_eq!(marks.earliest(), i64::MAX);
    }

    #[test]
    fn a_read_holds_across_one_batch_of_other_identifiers_only() {
        let writes = Writes::default();
        let ids: HashSet<u64> = [id_hash("a"), id_hash("b")].into();
        assert!(writes.still_as_read(0, &ids));
        writes.applied();
        writes.batch_wrote([id_hash("c")].into());
        assert!(writes.still_as_read(0, &ids), "one batch of other records");
        writes.applied();
        writes.batch_wrote([id_hash("d")].into());
        assert!(!writes.still_as_read(0, &ids), "two writes: not known");
        assert!(writes.still_as_read(1, &ids));
        writes.applied();
        writes.batch_wrote([id_hash("b")].into());
        assert!(
            !writes.still_as_read(2, &ids),
            "the batch wrote one of them"
        );
        writes.applied();
        assert!(
            !writes.still_as_read(3, &ids),
            "not a batch (compaction, rebuild)"
        );
    }
}
