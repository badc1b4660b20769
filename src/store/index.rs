//! The index of one generation: header pages, the identifier map, the set lists, the
//! out-of-order tree and the list-size counters, and the cursor that reads lists from them.
//!
//! Trees are named `NAME.GEN`; a rebuild writes generation `GEN + 1` beside the current one and
//! switches to it in one write of `meta`, so that readers always see one whole generation.

use std::cmp::Ordering;
use std::sync::Arc;

use sled::IVec;

use super::codec::StoredRecord;
use super::error::StoreError;
use super::keys;
use super::page::{self, Slot, SLOTS};

/// Bits of the identifier hash that pick a bucket of the identifier map: 65,536 buckets, so
/// about 15 identifiers a bucket at 1M records.
pub const BUCKET_BITS: u32 = 16;
/// Record numbers a set-list chunk holds before a new chunk is started.
pub const CHUNK: usize = 512;

/// The trees of one generation.
#[derive(Clone)]
pub struct Index {
    /// Generation number.
    pub gen: u64,
    /// Page number (big-endian u64) → [`page`].
    pub pages: sled::Tree,
    /// Bucket (big-endian u32) → identifiers and their record numbers.
    pub ids: sled::Tree,
    /// `setSpec \0 first record number` → delta-encoded record numbers in the set.
    pub lists: sled::Tree,
    /// `datestamp identifier` → record number, for the records out of the ordered run.
    pub ooo: sled::Tree,
    /// List-size counters ([`super::counts`]).
    pub counts: sled::Tree,
}

/// The tree names of generation `gen`.
pub fn tree_names(gen: u64) -> [String; 5] {
    ["pages", "ids", "lists", "ooo", "counts"].map(|n| format!("{n}.{gen}"))
}

impl Index {
    /// Opens (creating) the trees of generation `gen`.
    pub fn open(db: &sled::Db, gen: u64) -> Result<Index, StoreError> {
        let [pages, ids, lists, ooo, counts] = tree_names(gen);
        Ok(Index {
            gen,
            pages: db.open_tree(pages)?,
            ids: db.open_tree(ids)?,
            lists: db.open_tree(lists)?,
            ooo: db.open_tree(ooo)?,
            counts: db.open_tree(counts)?,
        })
    }

    /// The page holding record number `seq`.
    pub fn page(&self, page_no: u64) -> Result<Option<IVec>, StoreError> {
        Ok(self.pages.get(page_no.to_be_bytes())?)
    }

    /// The flags, identifier and record in slot `seq`.
    pub fn slot_record(&self, seq: u64) -> Result<Option<(u8, StoredRecord)>, StoreError> {
        let Some(p) = self.page(seq / SLOTS)? else {
            return Ok(None);
        };
        match page::slot(&p, slot_index(seq)) {
            Some(s) => Ok(Some((s.flags, s.record()?))),
            None => Ok(None),
        }
    }

    /// The record number an identifier maps to.
    pub fn lookup(&self, identifier: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lookup_ref(identifier)?.map(|(seq, _)| seq))
    }

    /// The record number an identifier maps to, and where its `oai_dc` form is (empty if none):
    /// GetRecord in `oai_dc` needs no page.
    pub fn lookup_ref(&self, identifier: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(b) = self.ids.get(bucket_of(identifier).to_be_bytes())? else {
            return Ok(None);
        };
        Ok(bucket_find(&b, identifier).map(|(seq, r)| (seq, r.to_vec())))
    }

    /// The first record number at or after which the ordered run holds keys `>= target`
    /// (`> target` when `exclusive`); the cursor skips the smaller keys of that page.
    ///
    /// Every slot of the run keeps its place once written, dead or alive, so the run is sorted
    /// and a binary search over pages finds the place in O(log pages).
    pub fn run_seek(&self, next_seq: u64) -> RunSeek<'_> {
        RunSeek {
            index: self,
            pages: next_seq.div_ceil(SLOTS),
        }
    }
}

/// Binary search over the pages of the ordered run.
pub struct RunSeek<'a> {
    index: &'a Index,
    pages: u64,
}

impl RunSeek<'_> {
    /// The last key of the ordered run in page `p`.
    fn last_key(&self, p: u64) -> Result<Option<(i64, String)>, StoreError> {
        let Some(bytes) = self.index.page(p)? else {
            return Ok(None);
        };
        Ok((0..page::len(&bytes))
            .rev()
            .filter_map(|i| page::slot(&bytes, i))
            .find(|s| s.flags & page::OOO == 0)
            .map(|s| (s.datestamp, s.identifier.to_owned())))
    }

    /// First page whose last run key is not before `target`.
    pub fn page_of(&self, target: (i64, &str), exclusive: bool) -> Result<u64, StoreError> {
        let (mut lo, mut hi) = (0, self.pages);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut probe = mid;
            let mut key = None;
            while probe < hi {
                key = self.last_key(probe)?;
                if key.is_some() {
                    break;
                }
                probe += 1;
            }
            match key {
                Some((d, id)) if before((d, &id), target, exclusive) => lo = probe + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }
}

/// True when `key` comes before the start of a list that begins at `target`.
pub fn before(key: (i64, &str), target: (i64, &str), exclusive: bool) -> bool {
    match key.cmp(&target) {
        Ordering::Less => true,
        Ordering::Equal => exclusive,
        Ordering::Greater => false,
    }
}

/// Index of a record number within its page.
pub fn slot_index(seq: u64) -> usize {
    usize::try_from(seq % SLOTS).expect("small")
}

/// FNV-1a, 64 bits: stable across versions and platforms, which the bucket layout on disk needs.
pub fn bucket_of(identifier: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in identifier.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    u32::try_from(h >> (64 - BUCKET_BITS)).expect("BUCKET_BITS bits")
}

/// One identifier of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketEntry {
    /// The identifier.
    pub id: String,
    /// Its record number.
    pub seq: u64,
    /// Where its `oai_dc` form is (empty if it has none).
    pub dc_ref: Vec<u8>,
}

/// Decodes a bucket: `[u16 length][identifier][u64 seq][u8 length][oai_dc ref]…`, sorted by
/// identifier.
pub fn bucket_entries(b: &[u8]) -> Vec<BucketEntry> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((id, seq, dc_ref, next)) = bucket_entry(b, at) {
        out.push(BucketEntry {
            id: id.to_owned(),
            seq,
            dc_ref: dc_ref.to_vec(),
        });
        at = next;
    }
    out
}

fn bucket_entry(b: &[u8], at: usize) -> Option<(&str, u64, &[u8], usize)> {
    let len = usize::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?));
    let id = std::str::from_utf8(b.get(at + 2..at + 2 + len)?).ok()?;
    let seq = u64::from_le_bytes(b.get(at + 2 + len..at + 10 + len)?.try_into().ok()?);
    let ref_len = usize::from(*b.get(at + 10 + len)?);
    let dc_ref = b.get(at + 11 + len..at + 11 + len + ref_len)?;
    Some((id, seq, dc_ref, at + 11 + len + ref_len))
}

fn bucket_find<'a>(b: &'a [u8], identifier: &str) -> Option<(u64, &'a [u8])> {
    let mut at = 0;
    while let Some((id, seq, dc_ref, next)) = bucket_entry(b, at) {
        if id == identifier {
            return Some((seq, dc_ref));
        }
        at = next;
    }
    None
}

/// Encodes a bucket.
pub fn encode_bucket(entries: &[BucketEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&u16::try_from(e.id.len()).expect("short").to_le_bytes());
        out.extend_from_slice(e.id.as_bytes());
        out.extend_from_slice(&e.seq.to_le_bytes());
        out.push(u8::try_from(e.dc_ref.len()).expect("a reference is short"));
        out.extend_from_slice(&e.dc_ref);
    }
    out
}

/// `setSpec \0 seq`: the key of a set-list chunk starting at `seq`.
pub fn list_key(set: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(set.len() + 9);
    k.extend_from_slice(set.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Decodes a chunk: LEB128 deltas from its first record number (the key's).
pub fn chunk_seqs(first: u64, b: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let (mut v, mut shift, mut last) = (0u64, 0u32, first);
    for byte in b {
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            last = if out.is_empty() { first + v } else { last + v };
            out.push(last);
            v = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    out
}

/// Encodes the increasing record numbers of a chunk that starts at `first`.
pub fn encode_chunk(first: u64, seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(seqs.len() * 2);
    let mut last = first;
    for (i, s) in seqs.iter().enumerate() {
        let mut v = if i == 0 { s - first } else { s - last };
        last = *s;
        loop {
            let b = u8::try_from(v & 0x7f).expect("7 bits");
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
    }
    out
}

/// `datestamp identifier`: the key of an out-of-order entry.
pub fn ooo_key(datestamp: i64, identifier: &str) -> Vec<u8> {
    let mut k = keys::ordered_i64(datestamp).to_vec();
    k.extend_from_slice(identifier.as_bytes());
    k
}

/// What a list selects.
#[derive(Debug, Clone)]
pub struct Selection<'a> {
    /// Only records in this format (`None`: any).
    pub format: Option<&'a str>,
    /// Only records in this set (ancestors implied).
    pub set: Option<&'a str>,
    /// Only datestamps at or after.
    pub from: Option<i64>,
    /// Only datestamps at or before.
    pub until: i64,
    /// Only keys strictly after.
    pub after: Option<(i64, &'a str)>,
}

/// One record a cursor yields: its page, slot and record number.
pub struct Item {
    /// The page holding it.
    pub page: IVec,
    /// Its slot in the page.
    pub slot: usize,
    /// Its record number.
    pub seq: u64,
}

impl Item {
    /// The slot itself.
    pub fn slot(&self) -> Slot<'_> {
        page::slot(&self.page, self.slot).expect("Items are made from readable slots.")
    }
}

enum Run {
    /// Every slot from a record number on.
    Pages { seq: u64 },
    /// The record numbers of one set.
    List {
        set: Vec<u8>,
        seqs: Vec<u64>,
        at: usize,
        next_chunk: Option<Vec<u8>>,
    },
}

/// Reads a list in (datestamp, identifier) order: the ordered run (all pages, or one set's
/// record numbers) merged with the out-of-order tree.
pub struct Cursor<'a> {
    index: Arc<Index>,
    sel: Selection<'a>,
    run: Run,
    run_done: bool,
    run_peek: Option<Item>,
    ooo: sled::Iter,
    ooo_peek: Option<Item>,
    cached: Option<(u64, IVec)>,
}

impl<'a> Cursor<'a> {
    /// A cursor over `sel`; `next_seq` bounds the record numbers in use.
    pub fn new(index: Arc<Index>, sel: Selection<'a>, next_seq: u64) -> Result<Self, StoreError> {
        let (target, exclusive) = match sel.after {
            Some((d, id)) => ((d, id), true),
            None => ((sel.from.unwrap_or(i64::MIN), ""), false),
        };
        // Fast path: the token's record still sits where the list left it.
        let mut start = None;
        if let Some((d, id)) = sel.after {
            if let Some(seq) = index.lookup(id)? {
                if let Some(p) = index.page(seq / SLOTS)? {
                    if let Some(s) = page::slot(&p, slot_index(seq)) {
                        if s.flags & page::OOO == 0 && s.key() == (d, id) {
                            start = Some(seq + 1);
                        }
                    }
                }
            }
        }
        let start = match start {
            Some(s) => s,
            None if target.0 == i64::MIN => 0,
            None => index.run_seek(next_seq).page_of(target, exclusive)? * SLOTS,
        };
        let run = match sel.set {
            None => Run::Pages { seq: start },
            Some(set) => {
                let mut prefix = set.as_bytes().to_vec();
                prefix.push(0);
                let mut seqs = Vec::new();
                let mut next_chunk = None;
                // The chunk holding `start`, else the first after it.
                let at_or_before = index
                    .lists
                    .range(prefix.clone()..=list_key(set, start))
                    .next_back()
                    .transpose()?;
                let first = match at_or_before {
                    Some(kv) => Some(kv),
                    None => index
                        .lists
                        .range(list_key(set, start)..)
                        .next()
                        .transpose()?
                        .filter(|(k, _)| k.starts_with(&prefix)),
                };
                if let Some((k, v)) = first {
                    seqs = chunk_seqs(chunk_first(&k), &v);
                    next_chunk = Some(k.to_vec());
                }
                let at = seqs.partition_point(|s| *s < start);
                Run::List {
                    set: prefix,
                    seqs,
                    at,
                    next_chunk,
                }
            }
        };
        let from_key = match sel.after {
            Some((d, id)) => std::ops::Bound::Excluded(ooo_key(d, id)),
            None => {
                std::ops::Bound::Included(keys::ordered_i64(sel.from.unwrap_or(i64::MIN)).to_vec())
            }
        };
        let to_key =
            std::ops::Bound::Excluded(keys::ordered_i64(sel.until.saturating_add(1)).to_vec());
        let ooo = index.ooo.range::<Vec<u8>, _>((from_key, to_key));
        Ok(Cursor {
            index,
            sel,
            run,
            run_done: false,
            run_peek: None,
            ooo,
            ooo_peek: None,
            cached: None,
        })
    }

    fn page(&mut self, page_no: u64) -> Result<Option<IVec>, StoreError> {
        if let Some((n, p)) = &self.cached {
            if *n == page_no {
                return Ok(Some(p.clone()));
            }
        }
        let p = self.index.page(page_no)?;
        if let Some(p) = &p {
            self.cached = Some((page_no, p.clone()));
        }
        Ok(p)
    }

    fn wanted(&self, s: &Slot<'_>, check_set: bool) -> Result<bool, StoreError> {
        if self.sel.from.is_some_and(|f| s.datestamp < f) {
            return Ok(false);
        }
        if let Some(after) = self.sel.after {
            if !before(after, s.key(), true) {
                return Ok(false);
            }
        }
        let format_ok = match self.sel.format {
            None => true,
            Some(super::OAI_DC) => s.dc_ref.is_some(),
            Some(f) => s.record()?.formats.iter().any(|x| x == f),
        };
        if !format_ok {
            return Ok(false);
        }
        match self.sel.set {
            Some(set) if check_set => Ok(super::expand_sets(&s.record()?.sets).contains(set)),
            _ => Ok(true),
        }
    }

    /// The next record number of the run (all pages or one set), or `None` at its end.
    fn next_run_seq(&mut self) -> Result<Option<u64>, StoreError> {
        match &mut self.run {
            Run::Pages { seq } => {
                let s = *seq;
                *seq += 1;
                Ok(Some(s))
            }
            Run::List {
                set,
                seqs,
                at,
                next_chunk,
            } => loop {
                if let Some(s) = seqs.get(*at) {
                    *at += 1;
                    return Ok(Some(*s));
                }
                let Some(after) = next_chunk.take() else {
                    return Ok(None);
                };
                let next = self
                    .index
                    .lists
                    .range::<Vec<u8>, _>((
                        std::ops::Bound::Excluded(after),
                        std::ops::Bound::Unbounded,
                    ))
                    .next()
                    .transpose()?
                    .filter(|(k, _)| k.starts_with(set));
                let Some((k, v)) = next else {
                    return Ok(None);
                };
                *seqs = chunk_seqs(chunk_first(&k), &v);
                *at = 0;
                *next_chunk = Some(k.to_vec());
            },
        }
    }

    fn fill_run(&mut self) -> Result<(), StoreError> {
        while self.run_peek.is_none() && !self.run_done {
            let Some(seq) = self.next_run_seq()? else {
                self.run_done = true;
                break;
            };
            let Some(p) = self.page(seq / SLOTS)? else {
                if matches!(self.run, Run::Pages { .. }) {
                    self.run_done = true;
                }
                continue;
            };
            let i = slot_index(seq);
            if i >= page::len(&p) {
                if matches!(self.run, Run::Pages { .. }) {
                    self.run_done = true;
                }
                continue;
            }
            let Some(s) = page::slot(&p, i) else { continue };
            if s.flags & page::OOO != 0 {
                continue;
            }
            if s.datestamp > self.sel.until {
                // The run is sorted: nothing after is in range (dead slots keep their place).
                self.run_done = true;
                break;
            }
            if !s.is_live() || !self.wanted(&s, false)? {
                continue;
            }
            self.run_peek = Some(Item {
                page: p,
                slot: i,
                seq,
            });
        }
        Ok(())
    }

    fn fill_ooo(&mut self) -> Result<(), StoreError> {
        while self.ooo_peek.is_none() {
            let Some((key, value)) = self.ooo.next().transpose()? else {
                break;
            };
            let seq = value
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    key: format!("ooo.{}", self.index.gen),
                    message: "malformed record number".into(),
                })?;
            let Some(bytes) = self.page(seq / SLOTS)? else {
                continue;
            };
            let at = slot_index(seq);
            let Some(slot) = page::slot(&bytes, at) else {
                continue;
            };
            // A reader racing a writer may see an entry before its slot, or after its slot died.
            if slot.flags & (page::OOO | page::DEAD) != page::OOO
                || ooo_key(slot.datestamp, slot.identifier) != key.as_ref()
                || !self.wanted(&slot, true)?
            {
                continue;
            }
            self.ooo_peek = Some(Item {
                page: bytes,
                slot: at,
                seq,
            });
        }
        Ok(())
    }

    /// The next record of the list.
    pub fn next_item(&mut self) -> Result<Option<Item>, StoreError> {
        self.fill_run()?;
        self.fill_ooo()?;
        let take_run = match (&self.run_peek, &self.ooo_peek) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.slot().key() <= b.slot().key(),
        };
        Ok(if take_run {
            self.run_peek.take()
        } else {
            self.ooo_peek.take()
        })
    }
}

/// The first record number of a chunk, from its key.
pub fn chunk_first(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn chunks_round_trip(first in 0u64..1000, mut deltas in proptest::collection::vec(1u64..100_000, 0..50)) {
            let mut seqs = Vec::new();
            let mut at = first;
            deltas.iter_mut().enumerate().for_each(|(i, d)| { at += if i == 0 { *d - 1 } else { *d }; seqs.push(at); });
            prop_assert_eq!(chunk_seqs(first, &encode_chunk(first, &seqs)), seqs);
        }
    }

    #[test]
    fn buckets_find_their_identifiers() {
        let entry = |id: &str, seq, dc_ref: &[u8]| BucketEntry {
            id: id.to_owned(),
            seq,
            dc_ref: dc_ref.to_vec(),
        };
        let entries = vec![entry("oai:a", 3, &[1; 29]), entry("oai:b", u64::MAX, &[])];
        let b = encode_bucket(&entries);
        assert_eq!(bucket_entries(&b), entries);
        assert_eq!(bucket_find(&b, "oai:b"), Some((u64::MAX, &[][..])));
        assert_eq!(bucket_find(&b, "oai:a"), Some((3, &[1u8; 29][..])));
        assert_eq!(bucket_find(&b, "oai:c"), None);
        assert_eq!(bucket_of("oai:a"), bucket_of("oai:a"));
    }
}
