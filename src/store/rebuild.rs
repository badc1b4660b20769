//! Rebuilding an index generation from records, and checking one.
//!
//! A rebuild streams records in (datestamp, identifier) order into the trees of a new
//! generation: dense pages, every record in the ordered run, set lists, counters and the
//! identifier map (built in passes over the new pages, a bounded number of identifiers at a
//! time). Then one write of the store's state switches readers to it. The previous generation
//! stays until the next rebuild or open, for readers still on it.
//!
//! - [`renumber`] rebuilds from the current generation (drops dead slots and the out-of-order
//!   tree);
//! - [`repair`] first loads every live slot, in whatever order, as out-of-order records of a
//!   scratch generation, then rebuilds from it, so that nothing but the slots is trusted;
//! - [`check`] verifies a generation against its slots and their bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::index::{self, Cursor, Index, Selection};
use super::page::{self, SLOTS};
use super::vlog::BlobRef;
use super::{
    codec, counts, expand_sets, keys, State, Store, StoreError, StoredRecord, StoredSet, STATE_KEY,
};

/// Identifiers held in memory at once while the identifier map is built.
const IDS_PER_PASS: u64 = 262_144;

/// What a build wrote.
#[derive(Debug, Default)]
pub(crate) struct Built {
    pub next_seq: u64,
    pub run_tail: Option<(i64, String)>,
    pub records: u64,
    pub deleted: u64,
    /// Per segment, the live bytes of the records written.
    pub segments: BTreeMap<u32, (u64, u64)>,
}

fn clear(index: &Index) -> Result<(), StoreError> {
    for t in [
        &index.pages,
        &index.ids,
        &index.lists,
        &index.ooo,
        &index.counts,
    ] {
        t.clear()?;
    }
    Ok(())
}

/// Drops the trees of generation `gen`.
pub(crate) fn drop_generation(db: &sled::Db, gen: u64) -> Result<(), StoreError> {
    for name in index::tree_names(gen) {
        db.drop_tree(name)?;
    }
    Ok(())
}

/// A cursor over every live record of `index` in list order.
fn everything(index: Arc<Index>, next_seq: u64) -> Result<Cursor<'static>, StoreError> {
    Cursor::new(
        index,
        Selection {
            format: None,
            set: None,
            from: None,
            until: i64::MAX,
            after: None,
        },
        next_seq,
    )
}

/// Writes the records `source` yields, in order, as generation `to`.
pub(crate) fn build(
    db: &sled::Db,
    sets: &sled::Tree,
    to: &Index,
    mut source: Cursor<'_>,
) -> Result<Built, StoreError> {
    clear(to)?;
    let mut built = Built::default();
    let mut slots: Vec<Vec<u8>> = Vec::new();
    let mut pages = sled::Batch::default();
    let mut lists: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
    let mut deltas: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut used = BTreeSet::new();
    while let Some(item) = source.next_item()? {
        let slot = item.slot();
        let record = slot.record()?;
        let seq = built.next_seq;
        let flags = if record.deleted { page::DELETED } else { 0 };
        slots.push(page::encode_slot(flags, slot.identifier, &record));
        for s in expand_sets(&record.sets) {
            let (first, chunk) = lists.entry(s.clone()).or_insert((seq, Vec::new()));
            if chunk.len() >= index::CHUNK {
                to.lists.insert(
                    index::list_key(&s, *first),
                    index::encode_chunk(*first, chunk),
                )?;
                *first = seq;
                chunk.clear();
            }
            chunk.push(seq);
            used.insert(s);
        }
        add_record(&mut deltas, &mut built, &record, 1);
        built.run_tail = Some((record.datestamp, slot.identifier.to_owned()));
        built.next_seq += 1;
        if slots.len() as u64 == SLOTS {
            flush_page(&mut pages, &mut slots, seq / SLOTS);
            if (seq / SLOTS) % 64 == 63 {
                to.pages.apply_batch(std::mem::take(&mut pages))?;
            }
        }
    }
    if !slots.is_empty() {
        flush_page(&mut pages, &mut slots, (built.next_seq - 1) / SLOTS);
    }
    to.pages.apply_batch(pages)?;
    for (s, (first, chunk)) in &lists {
        to.lists.insert(
            index::list_key(s, *first),
            index::encode_chunk(*first, chunk),
        )?;
    }
    build_ids(to, &mut built, &mut deltas)?;
    let mut batch = sled::Batch::default();
    for (k, v) in deltas.iter().filter(|(_, v)| **v != 0) {
        batch.insert(k.as_slice(), &v.to_le_bytes());
    }
    to.counts.apply_batch(batch)?;
    for s in used {
        if !sets.contains_key(s.as_bytes())? {
            let set = StoredSet {
                name: s.clone(),
                description: None,
            };
            sets.insert(s.as_bytes(), codec::encode(&set))?;
        }
    }
    let _ = db;
    Ok(built)
}

fn flush_page(batch: &mut sled::Batch, slots: &mut Vec<Vec<u8>>, page_no: u64) {
    let refs: Vec<&[u8]> = slots.iter().map(Vec::as_slice).collect();
    batch.insert(&page_no.to_be_bytes(), page::build(&refs));
    slots.clear();
}

fn add_record(
    deltas: &mut BTreeMap<Vec<u8>, i64>,
    built: &mut Built,
    record: &StoredRecord,
    sign: i64,
) {
    let sets = expand_sets(&record.sets);
    for f in &record.formats {
        counts::add(deltas, &keys::format_scope(f), record.datestamp, sign);
        for s in &sets {
            counts::add(deltas, &keys::set_scope(f, s), record.datestamp, sign);
        }
    }
    for r in record.rendered.iter().filter_map(|r| BlobRef::decode(r)) {
        let e = built.segments.entry(r.segment).or_default();
        if sign > 0 {
            e.0 += u64::from(r.len);
        } else {
            e.0 = e.0.saturating_sub(u64::from(r.len));
        }
    }
    if sign > 0 {
        built.records += 1;
        built.deleted += u64::from(record.deleted);
    } else {
        built.records -= 1;
        built.deleted -= u64::from(record.deleted);
    }
}

/// Builds the identifier map of `to` in passes over its pages. An identifier found twice (only
/// in a damaged store) keeps its later version; the earlier one is marked dead.
fn build_ids(
    to: &Index,
    built: &mut Built,
    deltas: &mut BTreeMap<Vec<u8>, i64>,
) -> Result<(), StoreError> {
    let passes = built.next_seq.div_ceil(IDS_PER_PASS).max(1);
    let mut dead = Vec::new();
    for pass in 0..passes {
        let mut buckets: HashMap<u32, BTreeMap<String, (u64, Vec<u8>)>> = HashMap::new();
        for item in &to.pages {
            let (k, p) = item?;
            let page_no = k.as_ref().try_into().map_or(0, u64::from_be_bytes);
            for i in 0..page::len(&p) {
                let Some(s) = page::slot(&p, i) else { continue };
                let b = index::bucket_of(s.identifier);
                if (u64::from(b) * passes) >> index::BUCKET_BITS != pass {
                    continue;
                }
                let seq = page_no * SLOTS + i as u64;
                let dc_ref = s.dc_ref.unwrap_or_default().to_vec();
                if let Some((earlier, _)) = buckets
                    .entry(b)
                    .or_default()
                    .insert(s.identifier.to_owned(), (seq, dc_ref))
                {
                    dead.push(earlier);
                }
            }
        }
        let mut batch = sled::Batch::default();
        for (b, entries) in buckets {
            let entries: Vec<index::BucketEntry> = entries
                .into_iter()
                .map(|(id, (seq, dc_ref))| index::BucketEntry { id, seq, dc_ref })
                .collect();
            batch.insert(&b.to_be_bytes(), index::encode_bucket(&entries));
        }
        to.ids.apply_batch(batch)?;
    }
    for seq in dead {
        let Some(p) = to.page(seq / SLOTS)? else {
            continue;
        };
        let i = index::slot_index(seq);
        if let Some(s) = page::slot(&p, i) {
            tracing::warn!(
                identifier = s.identifier,
                "A record found twice keeps its later version."
            );
            add_record(deltas, built, &s.record()?, -1);
        }
        to.pages.insert(
            (seq / SLOTS).to_be_bytes(),
            page::with_flags(&p, i, page::DEAD, 0),
        )?;
    }
    Ok(())
}

/// Switches the store to generation `to`, as `built` describes it.
fn switch(store: &Store, state: &mut State, to: Index, built: Built) -> Result<(), StoreError> {
    let mut next = state.clone();
    next.gen = to.gen;
    next.next_seq = built.next_seq;
    next.run_tail = built.run_tail;
    next.ooo = 0;
    next.dead_slots = 0;
    next.records = built.records;
    next.deleted = built.deleted;
    // Live bytes are what the records refer to; the rest of each segment is dead.
    for (seg, (live, dead)) in &mut next.segments {
        let now_live = built.segments.get(seg).map_or(0, |e| e.0);
        *dead = (*live + *dead).saturating_sub(now_live);
        *live = now_live;
    }
    store.inner.meta.insert(STATE_KEY, codec::encode(&next))?;
    *store
        .inner
        .index
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(to);
    // Every record number may have changed: nothing prepared before this holds after it.
    store.inner.writes.applied();
    store.publish(&next);
    *state = next;
    Ok(())
}

/// Rebuilds the index from the current generation: every record in the ordered run, no dead
/// slot. Callers hold the write lock.
pub(crate) fn renumber(store: &Store, state: &mut State) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let db = &store.inner.db;
    for gen in generations(db).into_iter().filter(|g| *g < state.gen) {
        drop_generation(db, gen)?;
    }
    let from = store.index();
    let to = Index::open(db, state.gen + 1)?;
    let built = build(
        db,
        &store.inner.sets,
        &to,
        everything(from, state.next_seq)?,
    )?;
    let records = built.records;
    switch(store, state, to, built)?;
    tracing::info!(
        records,
        seconds = started.elapsed().as_secs_f64(),
        "Index rebuilt in (datestamp, identifier) order."
    );
    Ok(())
}

/// Rebuilds every index from the live slots alone. Callers hold the write lock.
pub(crate) fn repair(store: &Store, state: &mut State) -> Result<(), StoreError> {
    let db = &store.inner.db;
    for gen in generations(db).into_iter().filter(|g| *g != state.gen) {
        drop_generation(db, gen)?;
    }
    let from = store.index();
    let scratch = Arc::new(Index::open(db, state.gen + 1)?);
    clear(&scratch)?;
    let mut loaded = 0;
    let mut slots = Vec::new();
    for item in &from.pages {
        let (_, p) = item?;
        for i in 0..page::len(&p) {
            let Some(s) = page::slot(&p, i).filter(page::Slot::is_live) else {
                continue;
            };
            let Ok(record) = s.record() else { continue };
            slots.push((s.identifier.to_owned(), record));
            if slots.len() == 4096 {
                loaded = load_unordered(&scratch, loaded, std::mem::take(&mut slots))?;
            }
        }
    }
    loaded = load_unordered(&scratch, loaded, slots)?;
    let to = Index::open(db, state.gen + 2)?;
    let built = build(db, &store.inner.sets, &to, everything(scratch, loaded)?)?;
    switch(store, state, to, built)?;
    drop_generation(db, state.gen - 1)?;
    Ok(())
}

/// Appends records as out-of-order slots of `to` from record number `seq`; returns the next.
pub(crate) fn load_unordered(
    to: &Index,
    mut seq: u64,
    records: Vec<(String, StoredRecord)>,
) -> Result<u64, StoreError> {
    let mut pages: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
    let mut ooo = sled::Batch::default();
    for (id, record) in records {
        let page_no = seq / SLOTS;
        let current = match pages.remove(&page_no) {
            Some(p) => p,
            None => to.page(page_no)?.map(|p| p.to_vec()),
        };
        let flags = page::OOO | if record.deleted { page::DELETED } else { 0 };
        let slot = page::encode_slot(flags, &id, &record);
        pages.insert(
            page_no,
            Some(page::with_slot(
                current.as_deref(),
                index::slot_index(seq),
                &slot,
            )),
        );
        ooo.insert(index::ooo_key(record.datestamp, &id), &seq.to_be_bytes());
        seq += 1;
    }
    let mut batch = sled::Batch::default();
    for (n, p) in pages {
        if let Some(p) = p {
            batch.insert(&n.to_be_bytes(), p);
        }
    }
    to.pages.apply_batch(batch)?;
    to.ooo.apply_batch(ooo)?;
    Ok(seq)
}

/// The index generations present in the database.
pub(crate) fn generations(db: &sled::Db) -> BTreeSet<u64> {
    db.tree_names()
        .iter()
        .filter_map(|n| {
            std::str::from_utf8(n)
                .ok()?
                .strip_prefix("pages.")?
                .parse()
                .ok()
        })
        .collect()
}

/// Checks the current generation against its slots and the value log.
pub(crate) fn check(store: &Store) -> Result<Vec<String>, StoreError> {
    let index = store.index();
    let state: State = codec::decode(
        STATE_KEY,
        &store.inner.meta.get(STATE_KEY)?.unwrap_or_default(),
    )?;
    let mut problems = Vec::new();
    let mut expected: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    let mut members: BTreeMap<String, u64> = BTreeMap::new();
    let mut used: BTreeSet<String> = BTreeSet::new();
    let (mut records, mut deleted) = (0u64, 0u64);
    let mut previous: Option<(i64, String)> = None;
    for item in &index.pages {
        let (k, p) = item?;
        let page_no = k.as_ref().try_into().map_or(0, u64::from_be_bytes);
        for i in 0..page::len(&p) {
            let seq = page_no * SLOTS + i as u64;
            let Some(s) = page::slot(&p, i) else {
                problems.push(format!("slot #{seq} is unreadable"));
                continue;
            };
            if s.flags & page::OOO == 0 {
                if previous
                    .as_ref()
                    .is_some_and(|(d, id)| (s.datestamp, s.identifier) <= (*d, id.as_str()))
                {
                    problems.push(format!("record {} (#{seq}) is out of order", s.identifier));
                }
                previous = Some((s.datestamp, s.identifier.to_owned()));
            }
            if !s.is_live() {
                continue;
            }
            let record = match s.record() {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("record {} (#{seq}): {e}", s.identifier));
                    continue;
                }
            };
            check_record(store, &index, seq, &s, &record, &mut problems)?;
            if s.flags & page::OOO == 0 {
                for set in expand_sets(&record.sets) {
                    *members.entry(set).or_default() += 1;
                }
            }
            used.extend(expand_sets(&record.sets));
            let mut built = Built::default();
            add_record(&mut expected, &mut built, &record, 1);
            records += 1;
            deleted += u64::from(record.deleted);
        }
    }
    check_maps(&index, &mut problems)?;
    check_lists(&index, &members, &mut problems)?;
    expected.retain(|_, v| *v != 0);
    let mut stored = BTreeMap::new();
    for item in &index.counts {
        let (k, v) = item?;
        stored.insert(
            k.to_vec(),
            v.as_ref().try_into().map_or(0, i64::from_le_bytes),
        );
    }
    if stored != expected {
        let wrong = expected
            .iter()
            .filter(|(k, v)| stored.get(*k) != Some(v))
            .count()
            + stored.keys().filter(|k| !expected.contains_key(*k)).count();
        problems.push(format!("{wrong} list-size counters are wrong"));
    }
    if (state.records, state.deleted) != (records, deleted) {
        problems.push(format!(
            "the store counts {} records and {} deleted, its pages hold {records} and {deleted}",
            state.records, state.deleted
        ));
    }
    for s in used {
        if !store.inner.sets.contains_key(s.as_bytes())? {
            problems.push(format!("set {s} is not defined"));
        }
    }
    Ok(problems)
}

fn check_record(
    store: &Store,
    index: &Index,
    seq: u64,
    s: &page::Slot<'_>,
    record: &StoredRecord,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    let id = s.identifier;
    match index.lookup(id)? {
        Some(found) if found == seq => {}
        Some(found) => problems.push(format!(
            "record {id} (#{seq}) is live but the identifier map points at #{found}"
        )),
        None => problems.push(format!("record {id} (#{seq}) is not in the identifier map")),
    }
    if record.rendered.len() != record.formats.len() {
        problems.push(format!(
            "record {id} has {} rendered forms for {} formats",
            record.rendered.len(),
            record.formats.len()
        ));
    }
    for (f, r) in record.formats.iter().zip(&record.rendered) {
        if let Err(e) = store.read_blob(r, false, &mut Vec::new()) {
            problems.push(format!("record {id} in {f}: its bytes are gone ({e})"));
        }
    }
    if s.flags & page::OOO != 0 {
        let found = index.ooo.get(index::ooo_key(s.datestamp, id))?;
        if found.as_deref() != Some(&seq.to_be_bytes()[..]) {
            problems.push(format!(
                "record {id} (#{seq}) is missing from the out-of-order index"
            ));
        }
    }
    Ok(())
}

fn check_maps(index: &Index, problems: &mut Vec<String>) -> Result<(), StoreError> {
    for item in &index.ids {
        let (_, b) = item?;
        for e in index::bucket_entries(&b) {
            let found = index.page(e.seq / SLOTS)?.and_then(|p| {
                page::slot(&p, index::slot_index(e.seq)).map(|s| {
                    (
                        s.is_live() && s.identifier == e.id,
                        s.dc_ref == Some(&e.dc_ref[..])
                            || (s.dc_ref.is_none() && e.dc_ref.is_empty()),
                    )
                })
            });
            match found {
                Some((true, true)) => {}
                Some((true, false)) => problems.push(format!(
                    "identifier map entry {} has a stale oai_dc reference",
                    e.id
                )),
                _ => problems.push(format!("identifier map entry {} points to no record", e.id)),
            }
        }
    }
    for item in &index.ooo {
        let (k, v) = item?;
        let seq = v.as_ref().try_into().map_or(u64::MAX, u64::from_be_bytes);
        let ok = index
            .page(seq / SLOTS)?
            .and_then(|p| {
                page::slot(&p, index::slot_index(seq)).map(|s| {
                    s.flags & (page::OOO | page::DEAD) == page::OOO
                        && index::ooo_key(s.datestamp, s.identifier) == k.as_ref()
                })
            })
            .unwrap_or(false);
        if !ok {
            let shown = String::from_utf8_lossy(k.get(8..).unwrap_or_default()).into_owned();
            problems.push(format!("out-of-order entry {shown} points to no record"));
        }
    }
    Ok(())
}

fn check_lists(
    index: &Index,
    members: &BTreeMap<String, u64>,
    problems: &mut Vec<String>,
) -> Result<(), StoreError> {
    let mut listed: BTreeMap<String, u64> = BTreeMap::new();
    for item in &index.lists {
        let (k, v) = item?;
        let Some(split) = k.iter().position(|b| *b == 0) else {
            problems.push("a set-list key is malformed".into());
            continue;
        };
        let set = String::from_utf8_lossy(&k[..split]).into_owned();
        for seq in index::chunk_seqs(index::chunk_first(&k), &v) {
            let slot = index.page(seq / SLOTS)?;
            let Some(s) = slot
                .as_ref()
                .and_then(|p| page::slot(p, index::slot_index(seq)))
            else {
                problems.push(format!("set list {set} entry #{seq} points to no record"));
                continue;
            };
            if !s.is_live_main() {
                continue;
            }
            if expand_sets(&s.record()?.sets).contains(&set) {
                *listed.entry(set.clone()).or_default() += 1;
            }
        }
    }
    for (set, n) in members {
        let found = listed.get(set).copied().unwrap_or(0);
        if found != *n {
            problems.push(format!("set {set} lists {found} of its {n} records"));
        }
    }
    Ok(())
}
