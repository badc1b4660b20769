//! Reads for the pages people browse ([`crate::web`]): counts without scanning, newest-first
//! keyset pages, the ranges of the sitemap, and whether a harvest is running.
//!
//! Every function here reads the `oai_dc` indexes only: the pages show Dublin Core, and every
//! record with a Dublin Core description (tombstones included) is in them. Lists go newest
//! first by (datestamp, identifier), positioned by key like the protocol's resumption tokens,
//! so page 1,000 costs what page 1 costs: a reverse range scan from the position.

use std::ops::Bound;

use super::error::StoreError;
use super::{keys, Store, OAI_DC};
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

/// `scope` with its last byte (the `\0` every scope ends with) raised: the first key after
/// every key that starts with `scope`.
fn scope_end(scope: &[u8]) -> Vec<u8> {
    let mut end = scope.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

fn corrupt(key: &[u8], message: &str) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.into(),
    }
}

impl Store {
    /// The counts of the home page: records, sets, earliest and latest datestamps.
    ///
    /// Cost: a few list-size counters (one per 34 years of datestamps, see
    /// [`super::counts`]), the set count, and one index key at each end of the datestamp
    /// index: microseconds, whatever the size of the store.
    pub fn overview(&self) -> Result<Overview, StoreError> {
        let scope = keys::format_scope(OAI_DC);
        let end = |item: Option<Result<(sled::IVec, sled::IVec), sled::Error>>| {
            item.transpose().map(|kv| {
                kv.and_then(|(k, _)| keys::split_entry(&k[scope.len()..]).map(|(d, _)| d))
            })
        };
        let mut index = self.by_datestamp.scan_prefix(&scope);
        let earliest = end(index.next())?;
        let latest = end(index.next_back())?;
        Ok(Overview {
            records: self.count_records(None)?,
            sets: self.count_sets()?,
            earliest,
            latest: latest.or(earliest),
        })
    }

    /// The number of records (tombstones included) in `set`, or in the whole repository.
    ///
    /// Cost: the sum of the top-level list-size counters of the scope, one per 34 years of
    /// datestamps; no index entry is read.
    pub fn count_records(&self, set: Option<&SetSpec>) -> Result<u64, StoreError> {
        // Bounds aligned on every bucket size: the count then reads whole top-level buckets only.
        self.count(&ListFilter {
            metadata_prefix: MetadataPrefix::oai_dc(),
            set: set.cloned(),
            from: Some(Datestamp::from_unix(i64::MIN / 4)),
            until: Datestamp::from_unix(i64::MAX / 4),
        })
    }

    /// The number of tombstones.
    ///
    /// Cost: reads the metadata of every record (no counter tracks deletions), about a second
    /// per million records: call it off the request path and keep the result.
    pub fn count_deleted(&self) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for item in self.iter_records() {
            let (_, record) = item?;
            deleted += u64::from(record.deleted);
        }
        Ok(deleted)
    }

    /// Up to `limit` records of `set` (or of the repository), newest first, strictly older
    /// than `before` when given, with their Dublin Core.
    ///
    /// Cost: a reverse range scan of `limit + 1` index keys from the position, and one
    /// rendered-record read and parse per record returned; deep pages cost what the first does.
    pub fn newest(
        &self,
        set: Option<&SetSpec>,
        before: Option<&ListPosition>,
        limit: usize,
    ) -> Result<NewestPage, StoreError> {
        let format_scope = keys::format_scope(OAI_DC);
        let (scope, tree) = match set {
            Some(set) => (keys::set_scope(OAI_DC, set.as_ref()), &self.by_set),
            None => (format_scope.clone(), &self.by_datestamp),
        };
        let upper = before.map_or_else(
            || Bound::Excluded(scope_end(&scope)),
            |p| Bound::Excluded(keys::entry(&scope, p.datestamp, &p.identifier)),
        );
        let mut iter = tree
            .range::<Vec<u8>, _>((Bound::Included(scope.clone()), upper))
            .rev();
        let mut page = NewestPage::default();
        while page.entries.len() < limit {
            let Some((k, v)) = iter.next().transpose()? else {
                return Ok(page);
            };
            let tail = &k[scope.len()..];
            let (datestamp, identifier) =
                keys::split_entry(tail).ok_or_else(|| corrupt(&k, "malformed index key"))?;
            let value = if set.is_some() {
                let mut key = format_scope.clone();
                key.extend_from_slice(tail);
                // A set entry seen before its record's (sled commits tree by tree): skip it.
                match self.by_datestamp.get(&key)? {
                    Some(value) => value,
                    None => continue,
                }
            } else {
                v
            };
            let mut bytes = Vec::new();
            self.read_blob(&value, false, &mut bytes)?;
            page.entries.push(Entry {
                position: ListPosition {
                    datestamp,
                    identifier: identifier.to_owned(),
                },
                dc: parse_dc(&k, &bytes)?,
            });
        }
        if iter.next().transpose()?.is_some() {
            page.next = page.entries.last().map(|e| e.position.clone());
        }
        Ok(page)
    }

    /// The first position of each sitemap file: every `per_file`-th entry of the datestamp
    /// index, oldest first (empty for an empty store). File `i` holds the entries from its
    /// start to the next file's start, so it never holds more than `per_file`.
    ///
    /// Cost: one scan of every key of the `oai_dc` datestamp index (about half a second per
    /// million records): cache the result.
    pub fn sitemap_starts(&self, per_file: usize) -> Result<Vec<ListPosition>, StoreError> {
        let scope = keys::format_scope(OAI_DC);
        let mut starts = Vec::new();
        for (i, item) in self.by_datestamp.scan_prefix(&scope).enumerate() {
            if i % per_file.max(1) == 0 {
                let (k, _) = item?;
                let (datestamp, identifier) = keys::split_entry(&k[scope.len()..])
                    .ok_or_else(|| corrupt(&k, "malformed index key"))?;
                starts.push(ListPosition {
                    datestamp,
                    identifier: identifier.to_owned(),
                });
            } else {
                item?;
            }
        }
        Ok(starts)
    }

    /// What changes when a sitemap file must be cut again: the number of records and the
    /// newest entry of the index (records that change move to its end).
    ///
    /// Cost: as [`Store::count_records`], plus one index key.
    pub fn sitemap_fingerprint(&self) -> Result<(u64, Option<ListPosition>), StoreError> {
        let scope = keys::format_scope(OAI_DC);
        let last = match self
            .by_datestamp
            .scan_prefix(&scope)
            .next_back()
            .transpose()?
        {
            Some((k, _)) => {
                keys::split_entry(&k[scope.len()..]).map(|(datestamp, id)| ListPosition {
                    datestamp,
                    identifier: id.to_owned(),
                })
            }
            None => None,
        };
        Ok((self.count_records(None)?, last))
    }

    /// Calls `each(identifier, datestamp)` for the records that are not tombstones among at
    /// most `limit` index entries from `from` (included) to `until` (excluded), oldest first,
    /// until `each` returns false.
    ///
    /// Cost: a range scan of up to `limit` index keys and one record-metadata read per entry.
    pub fn sitemap_entries(
        &self,
        from: &ListPosition,
        until: Option<&ListPosition>,
        limit: usize,
        each: &mut dyn FnMut(&str, Datestamp) -> bool,
    ) -> Result<(), StoreError> {
        let scope = keys::format_scope(OAI_DC);
        let lower = Bound::Included(keys::entry(&scope, from.datestamp, &from.identifier));
        let upper = until.map_or_else(
            || Bound::Excluded(scope_end(&scope)),
            |p| Bound::Excluded(keys::entry(&scope, p.datestamp, &p.identifier)),
        );
        for item in self
            .by_datestamp
            .range::<Vec<u8>, _>((lower, upper))
            .take(limit)
        {
            let (k, _) = item?;
            let (datestamp, identifier) = keys::split_entry(&k[scope.len()..])
                .ok_or_else(|| corrupt(&k, "malformed index key"))?;
            if self.get(identifier)?.is_some_and(|r| !r.deleted) && !each(identifier, datestamp) {
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
