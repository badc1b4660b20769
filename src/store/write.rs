//! The write path: a batch becomes an [`Intent`] under one key, is applied tree by tree with
//! idempotent writes, and is committed by one small transaction that also removes the intent.
//! [`replay`] finishes, at open, an intent that a crash left behind.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

use super::index::{self, Index};
use super::page::{self, SLOTS};
use super::vlog::{self, BlobRef};
use super::{
    ahead, codec, counts, expand_sets, keys, refusals, BatchOutcome, Prepared, PutOutcome, State,
    Store, StoreError, StoredRecord, StoredSet, STATE_KEY, STRIPPED_KEY,
};

/// The record number of a version that only exists within the batch being prepared.
pub(crate) const PENDING: u64 = u64::MAX;

/// Everything one write changes, computed before anything is written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Intent {
    /// New slots: (record number, encoded slot).
    slots: Vec<(u64, Vec<u8>)>,
    /// Record numbers of the versions they replace.
    kills: Vec<u64>,
    /// Identifier map changes: (identifier, record number, `oai_dc` reference).
    ids: Vec<(String, u64, Vec<u8>)>,
    /// Record numbers to append to set lists.
    lists: Vec<(String, u64)>,
    /// Out-of-order entries to add, and to remove.
    ooo_add: Vec<(Vec<u8>, u64)>,
    ooo_remove: Vec<Vec<u8>>,
    /// Slots whose reference to a blob moves (compaction): (seq, identifier, old, new).
    moves: Vec<(u64, String, Vec<u8>, Vec<u8>)>,
    /// Counter deltas.
    counts: Vec<(Vec<u8>, i64)>,
    /// Characters stripped.
    stripped: u64,
    /// Sets the records use, defined if they are not.
    sets: Vec<String>,
    /// The harvest checkpoint written with the page.
    harvest: Option<(Vec<u8>, Vec<u8>)>,
    /// The state once committed.
    state: State,
}

impl Intent {
    /// The state the intent commits.
    pub(crate) fn state(&self) -> &State {
        &self.state
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The end of the value log an intent left behind refers to (its blobs are synced).
pub(crate) fn pending_end(intents: &sled::Tree) -> Result<Option<(u32, u64)>, StoreError> {
    let mut end = None;
    for item in intents {
        let (k, v) = item?;
        let intent: Intent = codec::decode(&k, &v)?;
        end = end.max(Some(intent.state.vlog_end));
    }
    Ok(end)
}

/// Applies and commits every intent a crash left (normally none, at most one).
pub(crate) fn replay(store: &Store, state: &mut State) -> Result<(), StoreError> {
    let pending: Vec<(sled::IVec, sled::IVec)> =
        store.inner.intents.iter().collect::<Result<_, _>>()?;
    for (k, v) in pending {
        let intent: Intent = codec::decode(&k, &v)?;
        tracing::info!(
            records = intent.slots.len(),
            "Finishing a write that was interrupted."
        );
        apply(store, &store.index(), &intent)?;
        finish(store, &k, &intent)?;
        *state = intent.state.clone();
        store.publish(state);
    }
    Ok(())
}

/// The last write of each identifier in a batch, with the version stored before it.
struct Final {
    identifier: String,
    old: Option<(u64, u8, StoredRecord)>,
    new: StoredRecord,
    rendered: Vec<(String, vlog::Stored)>,
}

fn finals(prepared: Vec<Prepared>) -> Vec<Final> {
    let mut stored: BTreeMap<String, Option<(u64, u8, StoredRecord)>> = BTreeMap::new();
    let mut last: BTreeMap<String, Final> = BTreeMap::new();
    for p in prepared {
        let first_old = stored
            .entry(p.identifier.clone())
            .or_insert_with(|| p.old.clone().filter(|(seq, _, _)| *seq != PENDING))
            .clone();
        if matches!(p.outcome, PutOutcome::Unchanged | PutOutcome::Rejected) {
            continue;
        }
        last.insert(
            p.identifier.clone(),
            Final {
                identifier: p.identifier,
                old: first_old,
                new: p.new,
                rendered: p.rendered,
            },
        );
    }
    last.into_values().collect()
}

fn add_counts(deltas: &mut BTreeMap<Vec<u8>, i64>, record: &StoredRecord, delta: i64) {
    let sets = expand_sets(&record.sets);
    for f in &record.formats {
        counts::add(deltas, &keys::format_scope(f), record.datestamp, delta);
        for s in &sets {
            counts::add(deltas, &keys::set_scope(f, s), record.datestamp, delta);
        }
    }
}

fn add_bytes(state: &mut State, record: &StoredRecord, live: bool) {
    for r in record.rendered.iter().filter_map(|r| BlobRef::decode(r)) {
        let entry = state.segments.entry(r.segment).or_default();
        let len = u64::from(r.len);
        if live {
            entry.0 += len;
        } else {
            entry.0 = entry.0.saturating_sub(len);
            entry.1 += len;
        }
    }
}

impl Store {
    /// Writes prepared records, and optionally a harvest checkpoint (`key`, `value`), as one
    /// intent. Callers hold the write lock (`state`).
    pub(crate) fn commit(
        &self,
        state: &mut State,
        prepared: Vec<Prepared>,
        stripped: usize,
        harvest: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Result<BatchOutcome, StoreError> {
        let outcome = BatchOutcome {
            outcomes: prepared.iter().map(|p| p.outcome).collect(),
            stripped_characters: stripped,
            refusals: refusals(&prepared),
        };
        let mut finals = finals(prepared);
        if finals.is_empty() && stripped == 0 && harvest.is_none() {
            return Ok(outcome);
        }
        self.writable()?;
        let stored: Vec<&vlog::Stored> = finals
            .iter()
            .flat_map(|f| f.rendered.iter().map(|(_, s)| s))
            .collect();
        let mut next = state.clone();
        if !stored.is_empty() {
            let (refs, end) = self
                .inner
                .vlog
                .append_stored(&stored)
                .map_err(|e| self.on_write_error(self.vlog_error(e)))?;
            let mut refs = refs.into_iter();
            for f in &mut finals {
                f.new.rendered = f
                    .rendered
                    .iter()
                    .map(|_| {
                        refs.next()
                            .expect("one reference per blob")
                            .encode()
                            .to_vec()
                    })
                    .collect();
            }
            next.vlog_end = end;
        }
        finals.sort_by(|a, b| {
            (a.new.datestamp, a.identifier.as_str()).cmp(&(b.new.datestamp, b.identifier.as_str()))
        });
        let written = finals.len() as u64;
        let touched = finals
            .iter()
            .map(|f| ahead::id_hash(&f.identifier))
            .collect();
        let intent = Store::batch_intent(finals, next, stripped as u64, harvest);
        self.run(&intent).map_err(|e| self.on_write_error(e))?;
        self.inner.writes.batch_wrote(touched);
        *state = intent.state;
        self.publish(state);
        self.inner
            .committed
            .fetch_add(written, std::sync::atomic::Ordering::SeqCst);
        let ooo_min = self.inner.ooo_min.load(std::sync::atomic::Ordering::SeqCst);
        if state.ooo >= ooo_min && state.ooo >= state.records.saturating_sub(state.ooo) {
            super::rebuild::renumber(self, state).map_err(|e| self.on_write_error(e))?;
        }
        Ok(outcome)
    }

    fn batch_intent(
        finals: Vec<Final>,
        mut next: State,
        stripped: u64,
        harvest: Option<(Vec<u8>, Vec<u8>)>,
    ) -> Intent {
        let mut intent = Intent {
            stripped,
            harvest,
            ..Intent::default()
        };
        let mut deltas = BTreeMap::new();
        let mut sets = BTreeSet::new();
        for f in finals {
            let seq = next.next_seq;
            next.next_seq += 1;
            let key = (f.new.datestamp, f.identifier.as_str());
            let in_run = next
                .run_tail
                .as_ref()
                .is_none_or(|(d, id)| key > (*d, id.as_str()));
            let expanded = expand_sets(&f.new.sets);
            let mut flags = if f.new.deleted { page::DELETED } else { 0 };
            if in_run {
                next.run_tail = Some((f.new.datestamp, f.identifier.clone()));
                intent
                    .lists
                    .extend(expanded.iter().map(|s| (s.clone(), seq)));
            } else {
                flags |= page::OOO;
                next.ooo += 1;
                intent
                    .ooo_add
                    .push((index::ooo_key(f.new.datestamp, &f.identifier), seq));
            }
            sets.extend(expanded);
            add_counts(&mut deltas, &f.new, 1);
            add_bytes(&mut next, &f.new, true);
            next.deleted += u64::from(f.new.deleted);
            match &f.old {
                None => next.records += 1,
                Some((old_seq, old_flags, old)) => {
                    intent.kills.push(*old_seq);
                    next.dead_slots += 1;
                    if old_flags & page::OOO != 0 {
                        next.ooo = next.ooo.saturating_sub(1);
                        intent
                            .ooo_remove
                            .push(index::ooo_key(old.datestamp, &f.identifier));
                    }
                    next.deleted = next.deleted.saturating_sub(u64::from(old.deleted));
                    add_counts(&mut deltas, old, -1);
                    add_bytes(&mut next, old, false);
                }
            }
            intent
                .slots
                .push((seq, page::encode_slot(flags, &f.identifier, &f.new)));
            let dc_ref = f
                .new
                .formats
                .iter()
                .position(|x| x == super::OAI_DC)
                .and_then(|i| f.new.rendered.get(i).cloned())
                .unwrap_or_default();
            intent.ids.push((f.identifier, seq, dc_ref));
        }
        // A new version with the same key as the old one (same second) takes over its entry.
        let added: BTreeSet<&Vec<u8>> = intent.ooo_add.iter().map(|(k, _)| k).collect();
        let removed = std::mem::take(&mut intent.ooo_remove);
        intent.ooo_remove = removed.into_iter().filter(|k| !added.contains(k)).collect();
        next.next_intent += 1;
        intent.counts = deltas.into_iter().filter(|(_, d)| *d != 0).collect();
        intent.sets = sets.into_iter().collect();
        intent.state = next;
        intent
    }

    /// Writes the intent, applies it and commits it.
    pub(crate) fn run(&self, intent: &Intent) -> Result<(), StoreError> {
        let key = intent.state.next_intent.to_be_bytes();
        let written = self
            .inner
            .intents
            .insert(key, codec::encode(intent))
            .map_err(StoreError::from)
            .and_then(|_| apply(self, &self.index(), intent))
            .and_then(|()| finish(self, &key, intent));
        // Counted written or not: a failed write may have changed part of what was read.
        self.inner.writes.applied();
        written
    }

    #[cfg(test)]
    fn stop_at(&self, step: u64) -> Result<(), StoreError> {
        if self
            .inner
            .stop_after
            .load(std::sync::atomic::Ordering::SeqCst)
            == step
        {
            return Err(StoreError::Invalid(format!("stopped after step {step}")));
        }
        Ok(())
    }

    #[cfg(not(test))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn stop_at(&self, _step: u64) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Applies an intent's tree writes; every one is idempotent, so applying twice is harmless.
///
/// Order matters to readers, who never lock: set-list entries and out-of-order entries first
/// (they point at slots that do not exist yet, and are skipped), then all the batch's pages in
/// one atomic sled batch (old versions die and new ones appear at once), then the identifier
/// map, then the out-of-order entries of the dead versions.
pub(crate) fn apply(store: &Store, index: &Index, intent: &Intent) -> Result<(), StoreError> {
    // An empty sled batch still takes sled's global lock and marks its log: skip those.
    if !intent.lists.is_empty() {
        append_lists(index, &intent.lists)?;
    }
    if !intent.ooo_add.is_empty() {
        let mut batch = sled::Batch::default();
        for (k, seq) in &intent.ooo_add {
            batch.insert(k.as_slice(), &seq.to_be_bytes());
        }
        index.ooo.apply_batch(batch)?;
    }
    store.stop_at(1)?;
    write_pages(index, intent)?;
    store.stop_at(2)?;
    write_ids(index, &intent.ids, &intent.moves)?;
    store.stop_at(3)?;
    if !intent.ooo_remove.is_empty() {
        let mut batch = sled::Batch::default();
        for k in &intent.ooo_remove {
            batch.remove(k.as_slice());
        }
        index.ooo.apply_batch(batch)?;
    }
    store.stop_at(4)
}

fn append_lists(index: &Index, appends: &[(String, u64)]) -> Result<(), StoreError> {
    let mut by_set: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (s, seq) in appends {
        by_set.entry(s).or_default().push(*seq);
    }
    let mut batch = sled::Batch::default();
    for (set, mut seqs) in by_set {
        seqs.sort_unstable();
        let last = index
            .lists
            .range(index::list_key(set, 0)..=index::list_key(set, u64::MAX))
            .next_back()
            .transpose()?;
        let (mut first, mut chunk) = match &last {
            Some((k, v)) => (
                index::chunk_first(k),
                index::chunk_seqs(index::chunk_first(k), v),
            ),
            None => (seqs[0], Vec::new()),
        };
        let tail = chunk.last().copied();
        seqs.retain(|s| tail.is_none_or(|t| *s > t));
        for s in seqs {
            if chunk.len() >= index::CHUNK {
                batch.insert(
                    index::list_key(set, first),
                    index::encode_chunk(first, &chunk),
                );
                first = s;
                chunk.clear();
            }
            chunk.push(s);
        }
        if !chunk.is_empty() {
            batch.insert(
                index::list_key(set, first),
                index::encode_chunk(first, &chunk),
            );
        }
    }
    Ok(index.lists.apply_batch(batch)?)
}

fn write_pages(index: &Index, intent: &Intent) -> Result<(), StoreError> {
    enum Op<'a> {
        Put(usize, &'a [u8]),
        Kill(usize),
        Move(usize, &'a [u8], &'a [u8]),
    }
    let mut by_page: BTreeMap<u64, Vec<Op<'_>>> = BTreeMap::new();
    for seq in &intent.kills {
        by_page
            .entry(seq / SLOTS)
            .or_default()
            .push(Op::Kill(index::slot_index(*seq)));
    }
    for (seq, bytes) in &intent.slots {
        by_page
            .entry(seq / SLOTS)
            .or_default()
            .push(Op::Put(index::slot_index(*seq), bytes));
    }
    for (seq, _, old, new) in &intent.moves {
        by_page
            .entry(seq / SLOTS)
            .or_default()
            .push(Op::Move(index::slot_index(*seq), old, new));
    }
    let mut batch = sled::Batch::default();
    for (page_no, ops) in by_page {
        let mut bytes = index.page(page_no)?.map(|p| p.to_vec());
        for op in ops {
            bytes = Some(match op {
                Op::Put(i, slot) => page::with_slot(bytes.as_deref(), i, slot),
                Op::Kill(i) => match &bytes {
                    Some(b) => page::with_flags(b, i, page::DEAD, 0),
                    None => continue,
                },
                Op::Move(i, old, new) => match &bytes {
                    Some(b) => moved(b, i, old, new)?,
                    None => continue,
                },
            });
        }
        if let Some(bytes) = bytes {
            batch.insert(&page_no.to_be_bytes(), bytes);
        }
    }
    Ok(index.pages.apply_batch(batch)?)
}

/// The page with slot `i`'s reference `old` replaced by `new` (unchanged if it no longer has it).
fn moved(page_bytes: &[u8], i: usize, old: &[u8], new: &[u8]) -> Result<Vec<u8>, StoreError> {
    let Some(slot) = page::slot(page_bytes, i) else {
        return Ok(page_bytes.to_vec());
    };
    let mut record = slot.record()?;
    let mut changed = false;
    for r in &mut record.rendered {
        if r.as_slice() == old {
            new.clone_into(r);
            changed = true;
        }
    }
    if !changed {
        return Ok(page_bytes.to_vec());
    }
    let bytes = page::encode_slot(slot.flags, slot.identifier, &record);
    Ok(page::with_slot(Some(page_bytes), i, &bytes))
}

/// Applies identifier map changes, and moved `oai_dc` references (where the entry still has
/// the old one).
fn write_ids(
    index: &Index,
    ids: &[(String, u64, Vec<u8>)],
    moves: &[(u64, String, Vec<u8>, Vec<u8>)],
) -> Result<(), StoreError> {
    enum Change<'a> {
        Set(&'a str, u64, &'a [u8]),
        Move(&'a str, u64, &'a [u8], &'a [u8]),
    }
    let mut by_bucket: BTreeMap<u32, Vec<Change<'_>>> = BTreeMap::new();
    for (id, seq, dc_ref) in ids {
        by_bucket
            .entry(index::bucket_of(id))
            .or_default()
            .push(Change::Set(id, *seq, dc_ref));
    }
    for (seq, id, old, new) in moves {
        by_bucket
            .entry(index::bucket_of(id))
            .or_default()
            .push(Change::Move(id, *seq, old, new));
    }
    let mut batch = sled::Batch::default();
    for (bucket, changes) in by_bucket {
        let key = bucket.to_be_bytes();
        let mut entries = index
            .ids
            .get(key)?
            .map(|b| index::bucket_entries(&b))
            .unwrap_or_default();
        for change in changes {
            match change {
                Change::Set(id, seq, dc_ref) => {
                    let entry = index::BucketEntry {
                        id: id.to_owned(),
                        seq,
                        dc_ref: dc_ref.to_vec(),
                    };
                    match entries.binary_search_by(|e| e.id.as_str().cmp(id)) {
                        Ok(at) => entries[at] = entry,
                        Err(at) => entries.insert(at, entry),
                    }
                }
                Change::Move(id, seq, old, new) => {
                    if let Ok(at) = entries.binary_search_by(|e| e.id.as_str().cmp(id)) {
                        let e = &mut entries[at];
                        if e.seq == seq && e.dc_ref == old {
                            new.clone_into(&mut e.dc_ref);
                        }
                    }
                }
            }
        }
        batch.insert(&key, index::encode_bucket(&entries));
    }
    Ok(index.ids.apply_batch(batch)?)
}

/// The small transaction that ends a write: counters, state, checkpoint, sets, and the intent's
/// removal — all or nothing, so counters are never applied twice.
fn finish(store: &Store, key: &[u8], intent: &Intent) -> Result<(), StoreError> {
    let inner = &store.inner;
    let index = store.index();
    let state = codec::encode(&intent.state);
    (
        &index.counts,
        &inner.meta,
        &inner.intents,
        &inner.harvest_state,
        &inner.sets,
    )
        .transaction(|(counts, meta, intents, harvest, sets)| {
            for (k, delta) in &intent.counts {
                add_counter(counts, k, *delta)?;
            }
            meta.insert(STATE_KEY, state.as_slice())?;
            if intent.stripped > 0 {
                let current = meta
                    .get(STRIPPED_KEY)?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
                    .unwrap_or(0);
                meta.insert(STRIPPED_KEY, &(current + intent.stripped).to_le_bytes())?;
            }
            if let Some((k, v)) = &intent.harvest {
                harvest.insert(k.as_slice(), v.as_slice())?;
            }
            ensure_sets(sets, &intent.sets)?;
            intents.remove(key)?;
            Ok(())
        })?;
    Ok(())
}

fn add_counter(counts: &TransactionalTree, key: &[u8], delta: i64) -> TxResult<()> {
    let current = counts
        .get(key)?
        .and_then(|v| v.as_ref().try_into().ok().map(i64::from_le_bytes))
        .unwrap_or(0);
    let next = current + delta;
    if next == 0 {
        counts.remove(key)?;
    } else {
        counts.insert(key, &next.to_le_bytes())?;
    }
    Ok(())
}

/// Defines, named after their spec, the sets records refer to that are not defined yet.
fn ensure_sets(sets: &TransactionalTree, specs: &[String]) -> TxResult<()> {
    for s in specs {
        if sets.get(s.as_bytes())?.is_none() {
            let set = StoredSet {
                name: s.clone(),
                description: None,
            };
            sets.insert(s.as_bytes(), codec::encode(&set))?;
        }
    }
    Ok(())
}

/// An intent that moves blob references (compaction), committing `state`.
pub(crate) fn relocation(moves: Vec<(u64, String, Vec<u8>, Vec<u8>)>, state: State) -> Intent {
    Intent {
        moves,
        state,
        ..Intent::default()
    }
}
