//! Reads for the pages people browse ([`crate::web`]): counts without scanning, newest-first
//! keyset pages, the ranges of the sitemap, and whether a harvest is running.
//!
//! Every function here reads records that have an `oai_dc` form (tombstones included): the
//! pages show Dublin Core. Lists go newest first by (datestamp, identifier), positioned by key
//! like the protocol's resumption tokens. A newest-first page reads the ordered run backwards
//! (header pages, or one set's record-number chunks) merged with the out-of-order tree read
//! backwards (a reverse cursor), from the position's own slot when it is still there, else from a
//! binary search over the pages: page 1,000 costs what page 1 costs.

use std::sync::Arc;

use super::error::StoreError;
use super::index::{
    chunk_first, chunk_seqs, list_key, ooo_key, slot_index, Index, Item, Selection,
};
use super::page::{self, SLOTS};
use super::Store;
use crate::dc::DcRecord;
use crate::protocol::{Datestamp, ListFilter, MetadataPrefix, Repository, SetSpec};

/// A record's place in a list: its (datestamp, identifier), the order of the indexes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListPosition {
    /// The record's datestamp.
    pub datestamp: Datestamp,
    /// The record's identifier.
    pub identifier: String,
}

/// What the repository's home page counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overview {
    /// Records, tombstones included.
    pub records: u64,
    /// Sets defined.
    pub sets: u64,
    /// The oldest datestamp, `None` when the store is empty.
    pub earliest: Option<Datestamp>,
    /// The newest datestamp.
    pub latest: Option<Datestamp>,
}

/// One record of a list, as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it is in the list (its datestamp and identifier).
    pub position: ListPosition,
    /// Its Dublin Core, `None` for a tombstone.
    pub dc: Option<DcRecord>,
}

/// A page of a newest-first list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewestPage {
    /// The records, newest first.
    pub entries: Vec<Entry>,
    /// Where the next (older) page starts, when there is one: pass it as `before`.
    pub next: Option<ListPosition>,
}

/// Whether a harvest of a source is going on, as far as the store can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarvestActivity {
    /// No list of the source is in flight.
    Idle,
    /// A list is in flight and a harvest holds the source's lock.
    Running,
    /// A list is in flight but nothing holds the lock: the last run stopped before the end of
    /// the list, and the next run resumes it from its checkpoint.
    Interrupted,
}

fn corrupt(key: &[u8], message: &str) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.into(),
    }
}

fn position(item: &Item) -> ListPosition {
    let slot = item.slot();
    ListPosition {
        datestamp: Datestamp::from_unix(slot.datestamp),
        identifier: slot.identifier.to_owned(),
    }
}

/// Where the ordered run is read backwards from.
enum RevRun {
    /// Every slot from a record number down.
    Pages { next: Option<u64> },
    /// One set's record numbers, from `at` (exclusive) down, then the chunks before.
    List {
        prefix: Vec<u8>,
        seqs: Vec<u64>,
        at: usize,
        chunk: Option<Vec<u8>>,
    },
}

/// Reads the `oai_dc` records of a list newest first: the ordered run backwards merged with the
/// out-of-order tree backwards, strictly before a position.
struct RevCursor {
    index: Arc<Index>,
    set: Option<String>,
    before: Option<(i64, String)>,
    run: RevRun,
    run_done: bool,
    run_peek: Option<Item>,
    ooo: sled::Iter,
    ooo_peek: Option<Item>,
}

impl RevCursor {
    fn new(
        store: &Store,
        set: Option<&SetSpec>,
        before: Option<&ListPosition>,
    ) -> Result<RevCursor, StoreError> {
        let index = store.index();
        let next_seq = store.next_seq();
        let before = before.map(|p| (p.datestamp.unix(), p.identifier.clone()));
        let start = match &before {
            None => next_seq.checked_sub(1),
            Some((d, id)) => Some(Self::start_below(&index, next_seq, (*d, id))?),
        };
        let run = match set {
            None => RevRun::Pages { next: start },
            Some(set) => Self::list_from(&index, set.as_ref(), start)?,
        };
        let upper = match &before {
            Some((d, id)) => std::ops::Bound::Excluded(ooo_key(*d, id)),
            None => std::ops::Bound::Unbounded,
        };
        let ooo = index
            .ooo
            .range::<Vec<u8>, _>((std::ops::Bound::Unbounded, upper));
        Ok(RevCursor {
            index,
            set: set.map(|s| s.as_ref().to_owned()),
            before,
            run,
            run_done: false,
            run_peek: None,
            ooo,
            ooo_peek: None,
        })
    }

    /// The highest record number that may hold a run record before `target`: the slot just
    /// below the position's own slot when it still marks its place, else the end of the page a
    /// binary search finds.
    fn start_below(index: &Index, next_seq: u64, target: (i64, &str)) -> Result<u64, StoreError> {
        if let Some(seq) = index.lookup(target.1)? {
            if let Some((flags, record)) = index.slot_record(seq)? {
                if flags & page::OOO == 0 && record.datestamp == target.0 {
                    return Ok(seq.saturating_sub(1).min(seq));
                }
            }
        }
        let page_no = index.run_seek(next_seq).page_of(target, false)?;
        Ok((page_no * SLOTS + SLOTS - 1).min(next_seq.saturating_sub(1)))
    }

    /// The set's record numbers at or below `start`, read backwards.
    fn list_from(index: &Index, set: &str, start: Option<u64>) -> Result<RevRun, StoreError> {
        let mut prefix = set.as_bytes().to_vec();
        prefix.push(0);
        let Some(start) = start else {
            return Ok(RevRun::List {
                prefix,
                seqs: Vec::new(),
                at: 0,
                chunk: None,
            });
        };
        let found = index
            .lists
            .range(prefix.clone()..=list_key(set, start))
            .next_back()
            .transpose()?;
        let (seqs, chunk) = match found {
            Some((k, v)) => (chunk_seqs(chunk_first(&k), &v), Some(k.to_vec())),
            None => (Vec::new(), None),
        };
        let at = seqs.partition_point(|s| *s <= start);
        Ok(RevRun::List {
            prefix,
            seqs,
            at,
            chunk,
        })
    }

    /// The next record number of the run, going down, or `None` at its start.
    fn next_run_seq(&mut self) -> Result<Option<u64>, StoreError> {
        match &mut self.run {
            RevRun::Pages { next } => {
                let seq = *next;
                *next = seq.and_then(|s| s.checked_sub(1));
                Ok(seq)
            }
            RevRun::List {
                prefix,
                seqs,
                at,
                chunk,
            } => loop {
                if *at > 0 {
                    *at -= 1;
                    return Ok(Some(seqs[*at]));
                }
                let Some(key) = chunk.take() else {
                    return Ok(None);
                };
                let previous = self
                    .index
                    .lists
                    .range::<Vec<u8>, _>((
                        std::ops::Bound::Included(prefix.clone()),
                        std::ops::Bound::Excluded(key),
                    ))
                    .next_back()
                    .transpose()?;
                let Some((k, v)) = previous else {
                    return Ok(None);
                };
                *seqs = chunk_seqs(chunk_first(&k), &v);
                *at = seqs.len();
                *chunk = Some(k.to_vec());
            },
        }
    }

    fn is_before(&self, key: (i64, &str)) -> bool {
        self.before
            .as_ref()
            .is_none_or(|(d, id)| key < (*d, id.as_str()))
    }

    fn fill_run(&mut self) -> Result<(), StoreError> {
        while self.run_peek.is_none() && !self.run_done {
            let Some(seq) = self.next_run_seq()? else {
                self.run_done = true;
                break;
            };
            let Some(p) = self.index.page(seq / SLOTS)? else {
                continue;
            };
            let i = slot_index(seq);
            let Some(s) = page::slot(&p, i) else { continue };
            if !s.is_live_main() || s.dc_ref.is_none() || !self.is_before(s.key()) {
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
            let Some((key, value)) = self.ooo.next_back().transpose()? else {
                break;
            };
            let seq = value
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| corrupt(&key, "malformed record number"))?;
            let Some(p) = self.index.page(seq / SLOTS)? else {
                continue;
            };
            let i = slot_index(seq);
            let Some(s) = page::slot(&p, i) else { continue };
            // An entry seen before its slot is written, or after its slot died, is skipped.
            if s.flags & (page::OOO | page::DEAD) != page::OOO
                || ooo_key(s.datestamp, s.identifier) != key.as_ref()
                || s.dc_ref.is_none()
            {
                continue;
            }
            if let Some(set) = &self.set {
                if !super::expand_sets(&s.record()?.sets).contains(set.as_str()) {
                    continue;
                }
            }
            self.ooo_peek = Some(Item {
                page: p,
                slot: i,
                seq,
            });
        }
        Ok(())
    }

    fn next_item(&mut self) -> Result<Option<Item>, StoreError> {
        self.fill_run()?;
        self.fill_ooo()?;
        let take_run = match (&self.run_peek, &self.ooo_peek) {
            (None, None) => return Ok(None),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a.slot().key() >= b.slot().key(),
        };
        Ok(if take_run {
            self.run_peek.take()
        } else {
            self.ooo_peek.take()
        })
    }
}

impl Store {
    /// The counts of the home page: records, sets, earliest and latest datestamps.
    ///
    /// Cost: a few list-size counters (see [`super::counts`]), the set count, the first record
    /// of the list and the last: microseconds, whatever the size of the store.
    pub fn overview(&self) -> Result<Overview, StoreError> {
        let earliest = self.earliest_datestamp()?;
        let latest = RevCursor::new(self, None, None)?
            .next_item()?
            .map(|i| position(&i).datestamp);
        Ok(Overview {
            records: self.count_records(None)?,
            sets: self.count_sets()?,
            earliest,
            latest: latest.or(earliest),
        })
    }

    /// The number of records (tombstones included) in `set`, or in the whole repository.
    ///
    /// Cost: the sum of the top-level list-size counters of the scope; no record is read.
    pub fn count_records(&self, set: Option<&SetSpec>) -> Result<u64, StoreError> {
        self.count(&ListFilter {
            metadata_prefix: MetadataPrefix::oai_dc(),
            set: set.cloned(),
            from: Some(Datestamp::from_unix(i64::MIN / 4)),
            until: Datestamp::from_unix(i64::MAX / 4),
        })
    }

    /// The number of tombstones.
    ///
    /// Cost: one counter kept with every write.
    pub fn count_deleted(&self) -> Result<u64, StoreError> {
        Ok(self.deleted_count())
    }

    /// Up to `limit` records of `set` (or of the repository), newest first, strictly older
    /// than `before` when given, with their Dublin Core.
    ///
    /// Cost: `limit + 1` records read backwards from the position, and one rendered-record
    /// read and parse per record returned; deep pages cost what the first does.
    pub fn newest(
        &self,
        set: Option<&SetSpec>,
        before: Option<&ListPosition>,
        limit: usize,
    ) -> Result<NewestPage, StoreError> {
        let mut cursor = RevCursor::new(self, set, before)?;
        let mut page = NewestPage::default();
        while page.entries.len() < limit {
            let Some(item) = cursor.next_item()? else {
                return Ok(page);
            };
            let slot = item.slot();
            let mut bytes = Vec::new();
            if let Some(r) = slot.dc_ref {
                self.read_blob(r, false, &mut bytes)?;
            }
            page.entries.push(Entry {
                position: position(&item),
                dc: parse_dc(slot.identifier.as_bytes(), &bytes)?,
            });
        }
        if cursor.next_item()?.is_some() {
            page.next = page.entries.last().map(|e| e.position.clone());
        }
        Ok(page)
    }

    /// A forward cursor over the `oai_dc` records from `from` (included), oldest first.
    fn sitemap_cursor(
        &self,
        from: Option<&ListPosition>,
    ) -> Result<super::index::Cursor<'static>, StoreError> {
        super::index::Cursor::new(
            self.index(),
            Selection {
                format: Some(super::OAI_DC),
                set: None,
                from: from.map(|p| p.datestamp.unix()),
                until: i64::MAX,
                after: None,
            },
            self.next_seq(),
        )
    }

    /// The first position of each sitemap file: every `per_file`-th `oai_dc` record, oldest
    /// first (empty for an empty store). File `i` holds the records from its start to the next
    /// file's start, so it never holds more than `per_file`.
    ///
    /// Cost: one pass over every header page (about a second per million records): cache the
    /// result.
    pub fn sitemap_starts(&self, per_file: usize) -> Result<Vec<ListPosition>, StoreError> {
        let mut cursor = self.sitemap_cursor(None)?;
        let mut starts = Vec::new();
        let mut i = 0usize;
        while let Some(item) = cursor.next_item()? {
            if i.is_multiple_of(per_file.max(1)) {
                starts.push(position(&item));
            }
            i += 1;
        }
        Ok(starts)
    }

    /// What changes when a sitemap file must be cut again: the number of records and the
    /// newest record (records that change move to the end of the list).
    ///
    /// Cost: as [`Store::count_records`], plus the newest record.
    pub fn sitemap_fingerprint(&self) -> Result<(u64, Option<ListPosition>), StoreError> {
        let last = RevCursor::new(self, None, None)?
            .next_item()?
            .map(|i| position(&i));
        Ok((self.count_records(None)?, last))
    }

    /// Calls `each(identifier, datestamp)` for the records that are not tombstones among at
    /// most `limit` records from `from` (included) to `until` (excluded), oldest first,
    /// until `each` returns false.
    ///
    /// Cost: the records of `from`'s second before it, then up to `limit` slots read in place.
    pub fn sitemap_entries(
        &self,
        from: &ListPosition,
        until: Option<&ListPosition>,
        limit: usize,
        each: &mut dyn FnMut(&str, Datestamp) -> bool,
    ) -> Result<(), StoreError> {
        let start = (from.datestamp.unix(), from.identifier.as_str());
        let end = until.map(|p| (p.datestamp.unix(), p.identifier.as_str()));
        let mut cursor = self.sitemap_cursor(Some(from))?;
        let mut seen = 0;
        while seen < limit {
            let Some(item) = cursor.next_item()? else {
                break;
            };
            let slot = item.slot();
            let key = slot.key();
            if key < start {
                continue;
            }
            if end.is_some_and(|e| key >= e) {
                break;
            }
            seen += 1;
            if slot.flags & page::DELETED == 0
                && !each(slot.identifier, Datestamp::from_unix(slot.datestamp))
            {
                break;
            }
        }
        Ok(())
    }

    /// Whether a harvest of `source` is running, from its list states and its lock file.
    ///
    /// A list is in flight from its first committed page to its last, so a harvest is seen
    /// running while it pages through a list, not while it asks Identify or fetches a list of
    /// one page. Only then is the harvester's lock file `<store>/harvest-<source>.lock`
    /// probed, with a shared lock released at once: a harvest of the source then holds the
    /// lock, so the probe cannot make one that starts fail. Without a store directory
    /// (temporary stores) an in-flight list counts as running.
    ///
    /// Cost: the list states (one per harvested list), and at most one open and lock of a file.
    pub fn harvest_activity(&self, source: &str) -> Result<HarvestActivity, StoreError> {
        let in_flight = self
            .list_states()?
            .iter()
            .any(|(key, state)| key.source == source && state.in_flight.is_some());
        if !in_flight {
            return Ok(HarvestActivity::Idle);
        }
        let Some(dir) = self.path() else {
            return Ok(HarvestActivity::Running);
        };
        let Ok(file) = std::fs::File::open(dir.join(format!("harvest-{source}.lock"))) else {
            return Ok(HarvestActivity::Interrupted);
        };
        match fs4::FileExt::try_lock_shared(&file) {
            Ok(()) => {
                let _ = fs4::FileExt::unlock(&file);
                Ok(HarvestActivity::Interrupted)
            }
            Err(fs4::TryLockError::WouldBlock) => Ok(HarvestActivity::Running),
            Err(fs4::TryLockError::Error(source)) => Err(StoreError::Io {
                path: dir.to_path_buf(),
                source,
            }),
        }
    }
}

/// The Dublin Core of a rendered `<record>`; `None` for a tombstone (no metadata).
fn parse_dc(key: &[u8], bytes: &[u8]) -> Result<Option<DcRecord>, StoreError> {
    let text = std::str::from_utf8(bytes).map_err(|e| corrupt(key, &e.to_string()))?;
    match crate::dc::xml::read_oai_dc(text) {
        Ok(dc) => Ok(Some(dc)),
        Err(crate::dc::xml::ParseError::NoDcElement) => Ok(None),
        Err(e) => Err(corrupt(key, &e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::DcElement;
    use crate::protocol::OaiIdentifier;
    use crate::store::harvest_state::{InFlight, ListKey, ListState};
    use crate::store::RecordInput;

    fn put(store: &Store, id: &str, at: i64, sets: &[&str], deleted: bool) {
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Title, format!("Title {id}"));
        let mut r = RecordInput::dc(OaiIdentifier::parse(id).unwrap(), dc);
        r.datestamp = Some(Datestamp::from_unix(at));
        r.sets = sets.iter().map(|s| SetSpec::parse(s).unwrap()).collect();
        if deleted {
            r.deleted = true;
            r.dc = None;
        }
        store.put(r).unwrap();
    }

    fn ids(page: &NewestPage) -> Vec<&str> {
        page.entries
            .iter()
            .map(|e| e.position.identifier.as_str())
            .collect()
    }

    #[test]
    fn an_empty_store_has_nothing_to_show() {
        let store = Store::temporary().unwrap();
        let overview = store.overview().unwrap();
        assert_eq!(overview.records, 0);
        assert_eq!(overview.earliest, None);
        assert_eq!(store.newest(None, None, 10).unwrap(), NewestPage::default());
        assert!(store.sitemap_starts(2).unwrap().is_empty());
    }

    #[test]
    fn newest_pages_go_back_in_time_by_keyset_and_per_set() {
        let store = Store::temporary().unwrap();
        for i in 0..5 {
            put(
                &store,
                &format!("oai:x:{i}"),
                1_600_000_000 + i,
                &["a:b"],
                false,
            );
        }
        put(&store, "oai:x:9", 1_500_000_000, &["c"], true);
        let overview = store.overview().unwrap();
        assert_eq!(overview.records, 6);
        assert_eq!(overview.sets, 3);
        assert_eq!(overview.earliest, Some(Datestamp::from_unix(1_500_000_000)));
        assert_eq!(overview.latest, Some(Datestamp::from_unix(1_600_000_004)));
        assert_eq!(
            store.count_records(SetSpec::parse("a").as_ref()).unwrap(),
            5
        );
        assert_eq!(store.count_deleted().unwrap(), 1);

        let first = store.newest(None, None, 2).unwrap();
        assert_eq!(ids(&first), ["oai:x:4", "oai:x:3"]);
        let second = store.newest(None, first.next.as_ref(), 2).unwrap();
        assert_eq!(ids(&second), ["oai:x:2", "oai:x:1"]);
        let last = store.newest(None, second.next.as_ref(), 2).unwrap();
        assert_eq!(ids(&last), ["oai:x:0", "oai:x:9"]);
        assert_eq!(last.next, None);
        assert!(last.entries[1].dc.is_none(), "a tombstone has no metadata");
        assert_eq!(
            last.entries[0].dc.as_ref().unwrap().get(DcElement::Title)[0].value,
            "Title oai:x:0"
        );

        let set = SetSpec::parse("a").unwrap();
        let page = store.newest(Some(&set), None, 3).unwrap();
        assert_eq!(ids(&page), ["oai:x:4", "oai:x:3", "oai:x:2"]);
        let page = store.newest(Some(&set), page.next.as_ref(), 3).unwrap();
        assert_eq!(ids(&page), ["oai:x:1", "oai:x:0"]);
        assert_eq!(page.next, None);
        // "a" is not a prefix of a set "ab": scopes end with a separator.
        put(&store, "oai:x:7", 1_600_000_100, &["ab"], false);
        assert_eq!(store.count_records(Some(&set)).unwrap(), 5);
        assert_eq!(
            ids(&store.newest(Some(&set), None, 1).unwrap()),
            ["oai:x:4"]
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Newest-first pages, followed to the end, are the protocol's list read backwards,
        /// whatever the order of the writes (out-of-order datestamps, rewrites, deletions).
        #[test]
        fn newest_pages_are_the_list_backwards(
            writes in proptest::collection::vec((0u8..10, 0i64..200, 0u8..3, proptest::bool::weighted(0.2)), 1..40),
            page in 1usize..4,
            set in proptest::option::of(0usize..2),
        ) {
            const SETS: [&str; 3] = ["a", "a:b", "c"];
            let store = Store::temporary().unwrap();
            for (id, at, s, deleted) in writes {
                put(&store, &format!("oai:x:{id}"), 1_600_000_000 + at, &[SETS[s as usize]], deleted);
            }
            let set = set.map(|i| SetSpec::parse(SETS[i]).unwrap());
            let filter = ListFilter {
                metadata_prefix: MetadataPrefix::oai_dc(),
                set: set.clone(),
                from: None,
                until: Datestamp::from_unix(i64::MAX / 4),
            };
            let mut forward = Vec::new();
            let mut cursor = store.cursor(&filter, None, i64::MAX / 4, None).unwrap();
            while let Some(item) = cursor.next_item().unwrap() {
                forward.push(item.slot().identifier.to_owned());
            }
            forward.reverse();
            let mut backward = Vec::new();
            let mut before = None;
            loop {
                let p = store.newest(set.as_ref(), before.as_ref(), page).unwrap();
                backward.extend(ids(&p).into_iter().map(str::to_owned));
                match p.next {
                    Some(next) => before = Some(next),
                    None => break,
                }
            }
            proptest::prop_assert_eq!(backward, forward);
        }
    }

    #[test]
    fn sitemap_files_cover_every_live_record_once_and_no_more_than_per_file() {
        let store = Store::temporary().unwrap();
        for i in 0..7 {
            put(
                &store,
                &format!("oai:x:{i}"),
                1_600_000_000 + i,
                &[],
                i == 3,
            );
        }
        let starts = store.sitemap_starts(3).unwrap();
        assert_eq!(starts.len(), 3);
        let mut seen = Vec::new();
        for (i, start) in starts.iter().enumerate() {
            let mut file = Vec::new();
            store
                .sitemap_entries(start, starts.get(i + 1), 3, &mut |id, _| {
                    file.push(id.to_owned());
                    true
                })
                .unwrap();
            assert!(file.len() <= 3);
            seen.extend(file);
        }
        assert_eq!(
            seen,
            ["oai:x:0", "oai:x:1", "oai:x:2", "oai:x:4", "oai:x:5", "oai:x:6"]
        );
        let (count, last) = store.sitemap_fingerprint().unwrap();
        assert_eq!(count, 7);
        assert_eq!(last.unwrap().identifier, "oai:x:6");
    }

    #[test]
    fn a_harvest_is_running_only_while_its_lock_is_held_over_a_list_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), 1 << 20).unwrap();
        assert_eq!(store.harvest_activity("up").unwrap(), HarvestActivity::Idle);
        let key = ListKey {
            source: "up".into(),
            prefix: "oai_dc".into(),
            set: None,
        };
        let state = ListState {
            in_flight: Some(InFlight::default()),
            ..ListState::default()
        };
        store.set_list_state(&key, &state).unwrap();
        assert_eq!(
            store.harvest_activity("up").unwrap(),
            HarvestActivity::Interrupted
        );
        let lock = std::fs::File::create(dir.path().join("s/harvest-up.lock")).unwrap();
        fs4::FileExt::try_lock(&lock).unwrap();
        assert_eq!(
            store.harvest_activity("up").unwrap(),
            HarvestActivity::Running
        );
        assert_eq!(
            store.harvest_activity("other").unwrap(),
            HarvestActivity::Idle
        );
        fs4::FileExt::unlock(&lock).unwrap();
        assert_eq!(
            store.harvest_activity("up").unwrap(),
            HarvestActivity::Interrupted
        );
    }
}
