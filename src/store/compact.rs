//! Compaction: the value log gives back the space of old versions, and the index drops their
//! slots.
//!
//! A round takes the segments with the largest dead share (the active one too: the log first
//! moves to a new segment), and:
//! 1. copies the live blobs of those segments, as stored (compressed, checksummed), to the end
//!    of the log, and fsyncs;
//! 2. switches every reference to them in one intent (applied idempotently: a slot is changed
//!    only if it still points at the old place), committed with the new byte counts and the
//!    list of emptied segments;
//! 3. flushes sled, then deletes the emptied segments.
//!
//! A crash before 2 leaves copies past the committed end of the log, cut at open; during 2,
//! the intent is applied again at open; after it, open deletes the emptied segments. The
//! writer lock is held throughout, so no write can refer to a segment being emptied; readers
//! go on. While serving, emptied segments are deleted at the next round instead of at once,
//! so that a reader that took a reference just before the switch can still read it.
//!
//! That gives back the value log's space and the index's slots, but not sled's: sled never
//! shrinks its files. [`Store::compact_offline`] (`moisson compact`, which has the store to
//! itself) then rewrites sled into a fresh database and swaps it in (`swap.rs`).

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::page::{self, SLOTS};
use super::vlog::BlobRef;
use super::{codec, write, State, Store, StoreError, STATE_KEY};

/// What `moisson compact` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CompactOutcome {
    /// Segments emptied and deleted.
    pub segments_removed: u64,
    /// Live bytes copied.
    pub bytes_copied: u64,
    /// Bytes given back to the file system.
    pub bytes_reclaimed: u64,
    /// True when the index was rebuilt too (records out of order or dead slots).
    pub index_rebuilt: bool,
    /// sled's files before and after they were rewritten (`None` when they were not: a
    /// temporary store, a disk without room (see `no_room`), or [`Store::compact`] alone).
    pub sled_files: Option<SledFiles>,
    /// True when the disk had no room to rebuild the index or rewrite sled's files, which
    /// were then left as they were.
    pub no_room: bool,
}

/// The bytes of sled's files (`conf`, `db`, `blobs/`, `snap.*`) around their rewrite.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SledFiles {
    /// Before.
    pub bytes_before: u64,
    /// After.
    pub bytes_after: u64,
}

/// Live blobs copied per intent, at most.
const ROUND_BYTES: u64 = 256 << 20;

impl Store {
    /// Compacts everything that can be: rebuilds the index when it holds dead slots or records
    /// out of order, and empties every segment of the value log that holds dead bytes. For a
    /// store that no one else reads (`moisson compact`): old segments and the old index go at
    /// once.
    pub fn compact(&self) -> Result<CompactOutcome, StoreError> {
        let mut outcome = self.compact_segments(1, true)?;
        let mut state = self.lock_write();
        self.writable()?;
        if state.ooo > 0 || state.dead_slots > 0 {
            if self.room_for_sled("rebuild the index")? {
                super::rebuild::renumber(self, &mut state).map_err(|e| self.on_write_error(e))?;
                // `moisson compact` has the store to itself: no reader is on the old generation.
                super::rebuild::drop_generation(&self.inner.db, state.gen - 1)?;
                outcome.index_rebuilt = true;
            } else {
                outcome.no_room = true;
            }
        }
        drop(state);
        self.flush()?;
        Ok(outcome)
    }

    /// Compacts everything ([`Store::compact`]), then rewrites sled's files into a fresh
    /// database and swaps it in (`swap.rs`): sled never shrinks its files otherwise. Consumes
    /// the store, which must be the only handle of it (`moisson compact`), and returns it open
    /// again; the store's lock is held throughout, so no other process opens it meanwhile.
    ///
    /// # Errors
    /// A storage failure; an interrupted swap is finished by the next open.
    pub fn compact_offline(self) -> Result<(CompactOutcome, Store), StoreError> {
        let stop = self.swap_stop();
        let mut outcome = self.compact()?;
        let Some(root) = self.path().map(std::path::Path::to_path_buf) else {
            return Ok((outcome, self));
        };
        if self.inner.lock.is_none() {
            return Ok((outcome, self));
        }
        if !self.room_for_sled("rewrite sled's files")? {
            outcome.no_room = true;
            return Ok((outcome, self));
        }
        let bytes_before = super::swap::sled_bytes(&root)?;
        {
            let state = self.lock_write();
            let keep = |name: &[u8]| !super::of_other_generation(name, state.gen);
            let cache = self.inner.options.cache_capacity_bytes;
            super::swap::build(&self.inner.db, &root, keep, cache, stop)?;
        }
        super::swap::step(stop, 1)?;
        let (lock, options) = self.close()?;
        super::swap::commit(&root, stop)?;
        let store = Store::open_locked(&root, &options, lock)?;
        outcome.sled_files = Some(SledFiles {
            bytes_before,
            bytes_after: super::swap::sled_bytes(&root)?,
        });
        Ok((outcome, store))
    }

    /// True when the disk has room for as much again as sled's files hold (what rebuilding
    /// the index or copying sled can write at most), with the reserve's margin: sled that
    /// meets a full disk mid-write can leave files it cannot open again, so `what` is not
    /// done then, with a warning. Temporary stores always have room.
    fn room_for_sled(&self, what: &str) -> Result<bool, StoreError> {
        let Some(root) = self.path() else {
            return Ok(true);
        };
        let io = |source| StoreError::Io {
            path: root.to_path_buf(),
            source,
        };
        let needed = super::swap::sled_bytes(root)? + super::RESERVE_BYTES;
        let available = fs4::available_space(root).map_err(io)?;
        if available < needed {
            tracing::warn!(
                needed,
                available,
                "Not enough free space to {what}; it is left as it is."
            );
        }
        Ok(available >= needed)
    }

    /// Closes the store, sled completely (its lock let go), and keeps the store's lock.
    fn close(self) -> Result<(Option<super::lock::StoreLock>, super::StoreOptions), StoreError> {
        let root = self.path().map(std::path::Path::to_path_buf);
        self.stop_background();
        let mut inner = std::sync::Arc::try_unwrap(self.inner).map_err(|_| {
            StoreError::Invalid("the store is still in use elsewhere in this process".into())
        })?;
        let lock = inner.lock.take();
        let options = inner.options.clone();
        drop(inner);
        if let Some(root) = root {
            super::wait_released(&root, super::swap::RELEASE_WAIT)?;
        }
        Ok((lock, options))
    }

    /// The step of the index swap after which a test stops it (`stop_after` 200 + step).
    #[cfg(test)]
    fn swap_stop(&self) -> u64 {
        self.inner
            .stop_after
            .load(Ordering::SeqCst)
            .checked_sub(200)
            .unwrap_or(u64::MAX)
    }

    #[cfg(not(test))]
    #[allow(clippy::unused_self)]
    fn swap_stop(&self) -> u64 {
        u64::MAX
    }

    /// Compacts the value log when its dead bytes are at least `percent` of it (the online
    /// check).
    pub(crate) fn compact_if_over(&self, percent: u8) -> Result<(), StoreError> {
        {
            let mut state = self.lock_write();
            if !state.doomed.is_empty() && self.writable().is_ok() {
                delete_doomed(self, &mut state)?;
            }
            let (live, dead) = totals(&state);
            if dead == 0 || dead * 100 < u64::from(percent) * (live + dead) {
                return Ok(());
            }
        }
        let outcome = self.compact_segments(percent, false)?;
        tracing::info!(
            segments = outcome.segments_removed,
            bytes_copied = outcome.bytes_copied,
            "Value log compacted."
        );
        Ok(())
    }

    /// Empties the segments whose dead share is at least `percent`, fullest of dead first.
    fn compact_segments(
        &self,
        percent: u8,
        delete_now: bool,
    ) -> Result<CompactOutcome, StoreError> {
        let mut outcome = CompactOutcome::default();
        let mut state = self.lock_write();
        self.writable()?;
        let over =
            |(live, dead): (u64, u64)| dead > 0 && dead * 100 >= u64::from(percent) * (live + dead);
        let active = self.inner.vlog.end().0;
        if state.segments.get(&active).copied().is_some_and(over) {
            self.inner
                .vlog
                .roll()
                .map_err(|e| self.on_write_error(self.vlog_error(e)))?;
        }
        let active = self.inner.vlog.end().0;
        let mut victims: Vec<(u32, u64)> = state
            .segments
            .iter()
            .filter(|(n, s)| **n != active && over(**s))
            .map(|(n, (live, _))| (*n, *live))
            .collect();
        victims.sort_by_key(|(_, live)| *live);
        while !victims.is_empty() {
            let mut round = Vec::new();
            let mut bytes = 0;
            while let Some((n, live)) = victims.first().copied() {
                if !round.is_empty() && bytes + live > ROUND_BYTES {
                    break;
                }
                round.push(n);
                bytes += live;
                victims.remove(0);
            }
            let copied = self.relocate(&mut state, &round)?;
            outcome.bytes_copied += copied;
            outcome.segments_removed += round.len() as u64;
            if delete_now {
                outcome.bytes_reclaimed += delete_doomed(self, &mut state)?;
            }
        }
        Ok(outcome)
    }

    /// Copies the live blobs of `segments` and switches their references; returns the bytes
    /// copied. The segments are then doomed (deleted by [`delete_doomed`]).
    fn relocate(&self, state: &mut State, segments: &[u32]) -> Result<u64, StoreError> {
        let index = self.index();
        let mut found: Vec<(u64, String, BlobRef)> = Vec::new();
        for item in &index.pages {
            let (k, p) = item?;
            let page_no = k.as_ref().try_into().map_or(0, u64::from_be_bytes);
            for i in 0..page::len(&p) {
                let Some(s) = page::slot(&p, i).filter(page::Slot::is_live) else {
                    continue;
                };
                for r in s
                    .record()?
                    .rendered
                    .iter()
                    .filter_map(|r| BlobRef::decode(r))
                {
                    if segments.contains(&r.segment) {
                        found.push((page_no * SLOTS + i as u64, s.identifier.to_owned(), r));
                    }
                }
            }
        }
        self.stop_compaction_at(1)?;
        let mut moves = Vec::with_capacity(found.len());
        let mut next = state.clone();
        let mut copied = 0;
        for chunk in found.chunks(1024) {
            let stored: Vec<super::vlog::Stored> = chunk
                .iter()
                .map(|(_, _, r)| {
                    self.inner
                        .vlog
                        .read_stored(r)
                        .map(|b| (b, r.raw_len, r.header_end, r.codec))
                        .map_err(|e| self.vlog_error(e))
                })
                .collect::<Result<_, _>>()?;
            let (refs, end) = self
                .inner
                .vlog
                .append_stored(&stored)
                .map_err(|e| self.on_write_error(self.vlog_error(e)))?;
            for ((seq, id, old), new) in chunk.iter().zip(refs) {
                next.segments.entry(new.segment).or_default().0 += u64::from(new.len);
                copied += u64::from(new.len);
                moves.push((
                    *seq,
                    id.clone(),
                    old.encode().to_vec(),
                    new.encode().to_vec(),
                ));
            }
            next.vlog_end = end;
        }
        self.stop_compaction_at(2)?;
        for n in segments {
            next.segments.remove(n);
            next.doomed.push(*n);
        }
        next.next_intent += 1;
        let intent = write::relocation(moves, next);
        self.run(&intent).map_err(|e| self.on_write_error(e))?;
        *state = intent_state(&intent);
        self.stop_compaction_at(3)?;
        self.inner.db.flush()?;
        self.stop_compaction_at(4)?;
        Ok(copied)
    }

    #[cfg(test)]
    fn stop_compaction_at(&self, step: u64) -> Result<(), StoreError> {
        if self.inner.stop_after.load(Ordering::SeqCst) == 100 + step {
            return Err(StoreError::Invalid(format!(
                "compaction stopped after step {step}"
            )));
        }
        Ok(())
    }

    #[cfg(not(test))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn stop_compaction_at(&self, _step: u64) -> Result<(), StoreError> {
        let _ = Ordering::SeqCst;
        Ok(())
    }
}

fn intent_state(intent: &write::Intent) -> State {
    intent.state().clone()
}

fn totals(state: &State) -> (u64, u64) {
    state
        .segments
        .values()
        .fold((0, 0), |(l, d), (sl, sd)| (l + sl, d + sd))
}

/// Deletes the segments a committed compaction emptied; returns their size.
pub(crate) fn delete_doomed(store: &Store, state: &mut State) -> Result<u64, StoreError> {
    let sizes = store
        .inner
        .vlog
        .segment_sizes()
        .map_err(|e| store.vlog_error(e))?;
    let mut freed = 0;
    for n in &state.doomed {
        freed += sizes
            .iter()
            .find(|(s, _)| s == n)
            .map_or(0, |(_, len)| *len);
        store
            .inner
            .vlog
            .remove_segment(*n)
            .map_err(|e| store.vlog_error(e))?;
    }
    let mut next = state.clone();
    next.doomed.clear();
    store.inner.meta.insert(STATE_KEY, codec::encode(&next))?;
    *state = next;
    Ok(freed)
}
