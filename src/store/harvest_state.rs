//! Harvesting state in the `harvest_state` tree, and the one transaction that writes a
//! harvested page together with its checkpoint.
//!
//! Keys (`\0`-separated; no source name, metadataPrefix or setSpec contains `\0`):
//! - `list \0 source \0 prefix \0 set` → [`ListState`]: the next incremental `from`, and the
//!   list in flight (its resumption token) while a harvest runs;
//! - `run \0 source` → [`SourceRun`]: when the last run of a source ended, how, and its counts;
//! - `history \0 source \0 n` → [`SourceRun`]: the last [`MAX_HISTORY`] runs of a source, `n` a
//!   big-endian number that grows with each run, so key order is the order the runs ended in.
//!
//! [`SourceRun`] gained `error_url` after runs were first stored; a run stored without it is
//! still read (see `decode_run`).
//!
//! [`Store::put_harvest_page`] writes a page's records and the list's new state as one write
//! (one intent, committed with the checkpoint): after `kill -9` the store holds either the
//! page and the token that follows it, or neither.
//!
//! The provenance of a harvested record names the date it was harvested. Harvesting the same
//! record again must not change it (else every harvest would change every record and its
//! datestamp), so the date is the record's local datestamp — the moment its content last
//! changed, which is when it was harvested in this form — unless the content changes now.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{codec, content_hash, BatchOutcome, Prepared, RecordInput, Store, StoreError};
use crate::protocol::Datestamp;

const LIST_PREFIX: &[u8] = b"list\0";
const RUN_PREFIX: &[u8] = b"run\0";
const HISTORY_PREFIX: &[u8] = b"history\0";
/// Runs kept per source in the history.
pub const MAX_HISTORY: usize = 50;
const INSTANCE_KEY: &[u8] = b"instance";

/// Identifies one harvested list: (source, metadataPrefix, set).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ListKey {
    /// The source name.
    pub source: String,
    /// The metadataPrefix.
    pub prefix: String,
    /// The set, or `None` for the whole repository.
    pub set: Option<String>,
}

impl ListKey {
    fn encode(&self) -> Vec<u8> {
        let mut k = LIST_PREFIX.to_vec();
        k.extend_from_slice(self.source.as_bytes());
        k.push(0);
        k.extend_from_slice(self.prefix.as_bytes());
        k.push(0);
        k.extend_from_slice(self.set.as_deref().unwrap_or_default().as_bytes());
        k
    }

    fn decode(key: &[u8]) -> Option<ListKey> {
        let rest = key.strip_prefix(LIST_PREFIX)?;
        let mut parts = rest.splitn(3, |b| *b == 0);
        let source = String::from_utf8(parts.next()?.to_vec()).ok()?;
        let prefix = String::from_utf8(parts.next()?.to_vec()).ok()?;
        let set = String::from_utf8(parts.next()?.to_vec()).ok()?;
        Some(ListKey {
            source,
            prefix,
            set: (!set.is_empty()).then_some(set),
        })
    }
}

/// What is known about one list between runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListState {
    /// The baseURL the state belongs to (state for another URL is ignored).
    pub base_url: String,
    /// `from` for the next incremental run, as sent to the provider: the responseDate of the
    /// first request of the last completed run, at the provider's granularity, minus overlap.
    pub next_from: Option<String>,
    /// When the last complete run of this list finished (seconds since the epoch).
    pub last_completed: Option<i64>,
    /// The list being harvested, if a run did not finish it.
    pub in_flight: Option<InFlight>,
}

/// A list in progress, checkpointed with each page.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InFlight {
    /// The resumption token that continues the list.
    pub token: String,
    /// `from` of the list's first request, as sent.
    pub from: Option<String>,
    /// `until` of the list's first request, as sent.
    pub until: Option<String>,
    /// responseDate of the list's first response (seconds since the epoch).
    pub first_response_date: Option<i64>,
    /// True while every datestamp received came in non-decreasing order: only then may an
    /// expired list restart from the last datestamp instead of from the start.
    pub sorted: bool,
    /// The largest datestamp committed so far (seconds since the epoch).
    pub last_datestamp: Option<i64>,
    /// Pages committed in this list.
    pub pages: u64,
    /// Records committed in this list.
    pub records: u64,
    /// Restarts after badResumptionToken so far.
    pub restarts: u32,
}

/// The outcome and counts of the last run of a source, for reports and metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SourceRun {
    /// When the run started (seconds since the epoch).
    pub started: i64,
    /// When it ended.
    pub finished: i64,
    /// `ok`, `rejected` (finished, some records refused), `failed` or `already_running`.
    pub outcome: String,
    /// The error that ended it, if any.
    pub error: Option<String>,
    /// New records.
    pub new: u64,
    /// Changed records.
    pub updated: u64,
    /// Records that became tombstones.
    pub deleted: u64,
    /// Records harvested again without change.
    pub unchanged: u64,
    /// Records refused.
    pub rejected: u64,
    /// Pages committed.
    pub pages: u64,
    /// HTTP requests made.
    pub requests: u64,
    /// Of which retries.
    pub retries: u64,
    /// Duration in seconds.
    pub seconds: f64,
    /// The request URL that failed, when `error` came from a request. Last, so that a run
    /// stored before it existed fails to decode as this layout and is read in the old layout.
    #[serde(default)]
    pub error_url: Option<String>,
}

/// A [`SourceRun`] as stored before `error_url` was kept.
#[derive(Deserialize)]
struct SourceRunV1 {
    started: i64,
    finished: i64,
    outcome: String,
    error: Option<String>,
    new: u64,
    updated: u64,
    deleted: u64,
    unchanged: u64,
    rejected: u64,
    pages: u64,
    requests: u64,
    retries: u64,
    seconds: f64,
}

impl From<SourceRunV1> for SourceRun {
    fn from(v1: SourceRunV1) -> SourceRun {
        SourceRun {
            started: v1.started,
            finished: v1.finished,
            outcome: v1.outcome,
            error: v1.error,
            new: v1.new,
            updated: v1.updated,
            deleted: v1.deleted,
            unchanged: v1.unchanged,
            rejected: v1.rejected,
            pages: v1.pages,
            requests: v1.requests,
            retries: v1.retries,
            seconds: v1.seconds,
            error_url: None,
        }
    }
}

/// Decodes a stored run of either layout. postcard is not self-describing: a value of the old
/// layout ends where `error_url` would start, so it fails to decode as the new one (postcard
/// needs at least the `Option` tag) and is then read as the old one.
fn decode_run(key: &[u8], bytes: &[u8]) -> Result<SourceRun, StoreError> {
    codec::decode::<SourceRun>(key, bytes).or_else(|e| {
        codec::decode::<SourceRunV1>(key, bytes)
            .map(SourceRun::from)
            .map_err(|_| e)
    })
}

/// An `<about>` container whose text holds a harvest date: `before ‖ date ‖ after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatedAbout {
    /// The bytes before the date.
    pub before: Vec<u8>,
    /// The bytes after the date.
    pub after: Vec<u8>,
}

impl DatedAbout {
    /// The container with `date` written in.
    pub fn render(&self, date: Datestamp) -> Vec<u8> {
        let date = date.to_string();
        let mut out = Vec::with_capacity(self.before.len() + date.len() + self.after.len());
        out.extend_from_slice(&self.before);
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(&self.after);
        out
    }
}

/// A harvested record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarvestedRecord {
    /// The record.
    pub input: RecordInput,
    /// Its provenance, put first among its `<about>` containers with the harvest date.
    pub provenance: Option<DatedAbout>,
}

fn run_key(source: &str) -> Vec<u8> {
    let mut k = RUN_PREFIX.to_vec();
    k.extend_from_slice(source.as_bytes());
    k
}

fn history_scope(source: &str) -> Vec<u8> {
    let mut k = HISTORY_PREFIX.to_vec();
    k.extend_from_slice(source.as_bytes());
    k.push(0);
    k
}

impl Store {
    /// A random identifier made the first time it is asked for, that tells stores apart (also
    /// temporary ones, which have no path).
    pub fn instance_id(&self) -> Result<String, StoreError> {
        if self.inner.harvest_state.get(INSTANCE_KEY)?.is_none() {
            let id: [u8; 16] = rand::random();
            // Whoever comes first wins; the loser reads the winner's identifier below.
            let _ = self.inner.harvest_state.compare_and_swap(
                INSTANCE_KEY,
                None as Option<&[u8]>,
                Some(&id[..]),
            )?;
        }
        let id = self
            .inner
            .harvest_state
            .get(INSTANCE_KEY)?
            .unwrap_or_default();
        Ok(id.iter().fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
    }

    /// The state of one list, if it was ever harvested.
    pub fn list_state(&self, key: &ListKey) -> Result<Option<ListState>, StoreError> {
        let k = key.encode();
        self.inner
            .harvest_state
            .get(&k)?
            .map(|v| codec::decode(&k, &v))
            .transpose()
    }

    /// Replaces the state of one list.
    pub fn set_list_state(&self, key: &ListKey, state: &ListState) -> Result<(), StoreError> {
        self.inner
            .harvest_state
            .insert(key.encode(), codec::encode(state))?;
        Ok(())
    }

    /// Every list state, in key order.
    pub fn list_states(&self) -> Result<Vec<(ListKey, ListState)>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.harvest_state.scan_prefix(LIST_PREFIX) {
            let (k, v) = item?;
            if let Some(key) = ListKey::decode(&k) {
                out.push((key, codec::decode(&k, &v)?));
            }
        }
        Ok(out)
    }

    /// Records the last run of a source, and appends it to the source's history, of which
    /// only the last [`MAX_HISTORY`] runs are kept.
    pub fn put_source_run(&self, source: &str, run: &SourceRun) -> Result<(), StoreError> {
        let value = codec::encode(run);
        self.inner
            .harvest_state
            .insert(run_key(source), value.clone())?;
        let scope = history_scope(source);
        // sled's ids grow across restarts, so key order is the order runs were recorded in.
        let mut key = scope.clone();
        key.extend_from_slice(&self.inner.db.generate_id()?.to_be_bytes());
        self.inner.harvest_state.insert(key, value)?;
        // Not in one transaction with the insert: a crash in between leaves one run too many,
        // trimmed by the next run.
        for item in self
            .inner
            .harvest_state
            .scan_prefix(&scope)
            .rev()
            .skip(MAX_HISTORY)
        {
            let (k, _) = item?;
            self.inner.harvest_state.remove(k)?;
        }
        Ok(())
    }

    /// The last runs of a source, newest first: at most `limit` (and [`MAX_HISTORY`]) values
    /// read from one short range of keys.
    pub fn source_history(&self, source: &str, limit: usize) -> Result<Vec<SourceRun>, StoreError> {
        let mut out = Vec::new();
        for item in self
            .inner
            .harvest_state
            .scan_prefix(history_scope(source))
            .rev()
            .take(limit.min(MAX_HISTORY))
        {
            let (k, v) = item?;
            out.push(decode_run(&k, &v)?);
        }
        Ok(out)
    }

    /// The last run of every source ever harvested, by source name (for reports and metrics).
    pub fn source_runs(&self) -> Result<Vec<(String, SourceRun)>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.harvest_state.scan_prefix(RUN_PREFIX) {
            let (k, v) = item?;
            let name = String::from_utf8_lossy(&k[RUN_PREFIX.len()..]).into_owned();
            out.push((name, decode_run(&k, &v)?));
        }
        Ok(out)
    }

    /// Writes a harvested page: its records (each with its index entries and counters) and the
    /// list's new state, all in one transaction (see [`Store::put_batch`]).
    ///
    /// # Errors
    /// A storage failure, after which nothing of the page nor the state is written.
    #[tracing::instrument(skip_all, fields(source = %key.source, records = page.len()), err)]
    pub fn put_harvest_page(
        &self,
        mut page: Vec<HarvestedRecord>,
        key: &ListKey,
        state_value: &ListState,
    ) -> Result<BatchOutcome, StoreError> {
        let mut state = self.lock_write();
        let (now, _in_flight) = self.begin_write();
        let (prepared, stripped_total) = prepare_page(self, &mut page, now)?;
        let harvest = Some((key.encode(), codec::encode(state_value)));
        self.commit(&mut state, prepared, stripped_total, harvest)
    }

    /// Renders and hashes a harvested page without the write lock, so that it is prepared
    /// while the page before is committed; [`Store::put_prepared_harvest_page`] writes it.
    ///
    /// # Errors
    /// A storage failure while reading the stored records.
    pub fn prepare_harvest_page(
        &self,
        page: Vec<HarvestedRecord>,
    ) -> Result<PreparedHarvestPage, StoreError> {
        self.prepare_ahead(page, |r| r.input.identifier.as_ref(), prepare_page)
    }

    /// Writes a page of [`Store::prepare_harvest_page`] as [`Store::put_harvest_page`] writes
    /// one, preparing it again first if it may be stale (see [`Store::put_prepared`]).
    ///
    /// # Errors
    /// As [`Store::put_harvest_page`].
    #[tracing::instrument(skip_all, fields(source = %key.source), err)]
    pub fn put_prepared_harvest_page(
        &self,
        page: PreparedHarvestPage,
        key: &ListKey,
        state_value: &ListState,
    ) -> Result<BatchOutcome, StoreError> {
        let harvest = Some((key.encode(), codec::encode(state_value)));
        self.put_ahead(page, harvest, prepare_page)
    }
}

/// A harvested page rendered ahead of its commit by [`Store::prepare_harvest_page`].
pub type PreparedHarvestPage = super::Ahead<HarvestedRecord>;

/// Prepares a page's records against what is stored, each dated by its provenance. The
/// records are left as they came, but for the characters XML forbids, stripped: they can be
/// prepared again.
fn prepare_page(
    store: &Store,
    page: &mut [HarvestedRecord],
    now: Datestamp,
) -> Result<(Vec<Prepared>, usize), StoreError> {
    let compress = store.inner.vlog.compresses();
    super::prepare_each(
        &store.index(),
        page.iter_mut().collect(),
        |r| r.input.identifier.as_ref(),
        |record, old| {
            let dated = date(record, old, now);
            let out = Store::prepare(&mut record.input, old, now, compress);
            if dated {
                record.input.about.remove(0);
            }
            out
        },
    )
}

/// The identifier sweep's keys: `mark \0 source \0 identifier` for each identifier the source
/// listed in the sweep in progress, `swept \0 source` → when its last sweep ended.
mod sweep_keys {
    pub(super) const MARK_PREFIX: &[u8] = b"mark\0";
    pub(super) const SWEPT_PREFIX: &[u8] = b"swept\0";

    pub(super) fn marks(source: &str) -> Vec<u8> {
        let mut k = MARK_PREFIX.to_vec();
        k.extend_from_slice(source.as_bytes());
        k.push(0);
        k
    }

    pub(super) fn swept(source: &str) -> Vec<u8> {
        let mut k = SWEPT_PREFIX.to_vec();
        k.extend_from_slice(source.as_bytes());
        k
    }
}

/// Marks removed per sled batch.
const CLEAR_BATCH: usize = 1000;

/// The state of the identifier sweep (`harvester::sweep`): marks on disk, so that memory stays
/// flat however many identifiers a source lists.
impl Store {
    /// When the last identifier sweep of `source` ended (seconds since the epoch), if one did.
    ///
    /// # Errors
    /// A storage failure.
    pub fn last_sweep(&self, source: &str) -> Result<Option<i64>, StoreError> {
        Ok(self
            .inner
            .harvest_state
            .get(sweep_keys::swept(source))?
            .and_then(|v| v.as_ref().try_into().ok().map(i64::from_le_bytes)))
    }

    /// Records that `source` was swept (or that its sweeps start counting) at `at`.
    ///
    /// # Errors
    /// A storage failure.
    pub fn set_last_sweep(&self, source: &str, at: i64) -> Result<(), StoreError> {
        self.inner
            .harvest_state
            .insert(sweep_keys::swept(source), &at.to_le_bytes())?;
        Ok(())
    }

    /// Marks `identifiers` as listed by `source` in the sweep in progress.
    ///
    /// # Errors
    /// A storage failure.
    pub fn mark_listed(&self, source: &str, identifiers: &[String]) -> Result<(), StoreError> {
        let prefix = sweep_keys::marks(source);
        let mut batch = sled::Batch::default();
        for id in identifiers {
            let mut k = prefix.clone();
            k.extend_from_slice(id.as_bytes());
            batch.insert(k, &[] as &[u8]);
        }
        self.inner.harvest_state.apply_batch(batch)?;
        Ok(())
    }

    /// Removes every mark of `source` (left by an interrupted sweep, or by a finished one).
    ///
    /// # Errors
    /// A storage failure.
    pub fn clear_listed(&self, source: &str) -> Result<(), StoreError> {
        let tree = &self.inner.harvest_state;
        loop {
            let keys: Vec<sled::IVec> = tree
                .scan_prefix(sweep_keys::marks(source))
                .keys()
                .take(CLEAR_BATCH)
                .collect::<Result<_, _>>()?;
            if keys.is_empty() {
                return Ok(());
            }
            let mut batch = sled::Batch::default();
            for k in keys {
                batch.remove(k);
            }
            tree.apply_batch(batch)?;
        }
    }

    /// Calls `f` with the identifier of each live record of `source` that is not marked, in
    /// store order, and returns how many live records the source has.
    ///
    /// # Errors
    /// A storage failure, or the first error of `f`.
    pub fn for_each_unlisted(
        &self,
        source: &str,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let origin = super::Origin::Source(source.to_owned());
        let prefix = sweep_keys::marks(source);
        let mut held = 0;
        for item in self.iter_records() {
            let (id, record) = item?;
            if record.deleted || record.origin != origin {
                continue;
            }
            held += 1;
            let mut k = prefix.clone();
            k.extend_from_slice(id.as_bytes());
            if !self.inner.harvest_state.contains_key(k)? {
                f(&id)?;
            }
        }
        Ok(held)
    }

    /// Marks of `source` left in the store (none once a sweep has finished).
    ///
    /// # Errors
    /// A storage failure.
    pub fn listed_marks(&self, source: &str) -> Result<u64, StoreError> {
        let mut n = 0;
        for key in self
            .inner
            .harvest_state
            .scan_prefix(sweep_keys::marks(source))
            .keys()
        {
            key?;
            n += 1;
        }
        Ok(n)
    }
}

/// Puts the record's provenance first among its `about` containers: dated now, or dated as
/// before when that leaves the record unchanged (then it keeps its date and datestamp). True
/// when it has one, to be taken out again once the record is prepared.
fn date(
    record: &mut HarvestedRecord,
    old: Option<&(u64, u8, super::StoredRecord)>,
    now: Datestamp,
) -> bool {
    let HarvestedRecord { input, provenance } = record;
    let Some(provenance) = provenance else {
        return false;
    };
    input.about.insert(0, provenance.render(now));
    if let Some((_, _, old)) = old.filter(|o| !o.2.deleted && !input.deleted) {
        let candidate = provenance.render(Datestamp::from_unix(old.datestamp));
        let mut sets: Vec<String> = Vec::with_capacity(input.sets.len());
        for s in &input.sets {
            if !sets.iter().any(|x| x == s.as_ref()) {
                sets.push(s.as_ref().to_owned());
            }
        }
        let dated_now = std::mem::replace(&mut input.about[0], candidate);
        if content_hash(input, &sets) != old.content_hash {
            input.about[0] = dated_now;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::DcRecord;
    use crate::protocol::OaiIdentifier;
    use crate::store::PutOutcome;

    fn key() -> ListKey {
        ListKey {
            source: "up".into(),
            prefix: "oai_dc".into(),
            set: Some("a:b".into()),
        }
    }

    fn record(id: &str, title: &str) -> HarvestedRecord {
        let mut dc = DcRecord::new();
        dc.push_str(crate::dc::DcElement::Title, title);
        HarvestedRecord {
            input: RecordInput::dc(OaiIdentifier::parse(id).unwrap(), dc),
            provenance: Some(DatedAbout {
                before: b"<provenance xmlns=\"urn:p\" date=\"".to_vec(),
                after: b"\"/>".to_vec(),
            }),
        }
    }

    #[test]
    fn a_page_and_its_checkpoint_are_written_together() {
        let store = Store::temporary().unwrap();
        let state = ListState {
            base_url: "http://x/oai".into(),
            in_flight: Some(InFlight {
                token: "t1".into(),
                pages: 1,
                ..InFlight::default()
            }),
            ..ListState::default()
        };
        let out = store
            .put_harvest_page(
                vec![record("oai:x:1", "a"), record("oai:x:2", "b")],
                &key(),
                &state,
            )
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Added, PutOutcome::Added]);
        assert_eq!(store.list_state(&key()).unwrap(), Some(state.clone()));
        assert_eq!(store.list_states().unwrap(), vec![(key(), state)]);
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn an_unchanged_page_still_moves_the_checkpoint() {
        let store = Store::temporary().unwrap();
        let s1 = ListState::default();
        store
            .put_harvest_page(vec![record("oai:x:1", "a")], &key(), &s1)
            .unwrap();
        let s2 = ListState {
            next_from: Some("2020-01-01".into()),
            ..ListState::default()
        };
        let out = store
            .put_harvest_page(vec![record("oai:x:1", "a")], &key(), &s2)
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Unchanged]);
        assert_eq!(store.list_state(&key()).unwrap(), Some(s2));
    }

    #[test]
    fn a_record_harvested_again_unchanged_keeps_its_harvest_date_and_a_changed_one_gets_a_new_one()
    {
        let store = Store::temporary().unwrap();
        let state = ListState::default();
        store
            .put_harvest_page(vec![record("oai:x:1", "a")], &key(), &state)
            .unwrap();
        let first = store.get("oai:x:1").unwrap().unwrap();
        let rendered =
            String::from_utf8(store.rendered("oai:x:1", "oai_dc").unwrap().unwrap()).unwrap();
        let date = Datestamp::from_unix(first.datestamp).to_string();
        assert!(rendered.contains(&format!("date=\"{date}\"")), "{rendered}");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let out = store
            .put_harvest_page(vec![record("oai:x:1", "a")], &key(), &state)
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Unchanged]);
        assert_eq!(store.get("oai:x:1").unwrap().unwrap(), first);
        let out = store
            .put_harvest_page(vec![record("oai:x:1", "b")], &key(), &state)
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Updated]);
        let second = store.get("oai:x:1").unwrap().unwrap();
        assert!(second.datestamp > first.datestamp);
        let rendered =
            String::from_utf8(store.rendered("oai:x:1", "oai_dc").unwrap().unwrap()).unwrap();
        let date = Datestamp::from_unix(second.datestamp).to_string();
        assert!(rendered.contains(&format!("date=\"{date}\"")), "{rendered}");
    }

    #[test]
    fn a_page_prepared_while_the_page_before_rewrote_one_of_its_records_is_prepared_again() {
        let store = Store::temporary().unwrap();
        let ahead = store
            .prepare_harvest_page(vec![record("oai:x:1", "mine"), record("oai:x:2", "b")])
            .unwrap();
        let before = ListState::default();
        store
            .put_harvest_page(vec![record("oai:x:1", "theirs")], &key(), &before)
            .unwrap();
        let after = ListState {
            next_from: Some("2020-01-01".into()),
            ..ListState::default()
        };
        let out = store
            .put_prepared_harvest_page(ahead, &key(), &after)
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Updated, PutOutcome::Added]);
        assert_eq!(store.list_state(&key()).unwrap(), Some(after));
        let rendered =
            String::from_utf8(store.rendered("oai:x:1", "oai_dc").unwrap().unwrap()).unwrap();
        assert!(rendered.contains("mine"), "{rendered}");
        assert_eq!(rendered.matches("<provenance").count(), 1, "{rendered}");
        let date = Datestamp::from_unix(store.get("oai:x:1").unwrap().unwrap().datestamp);
        assert!(rendered.contains(&format!("date=\"{date}\"")), "{rendered}");
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn a_page_prepared_ahead_of_a_commit_of_other_records_is_written_as_prepared() {
        let store = Store::temporary().unwrap();
        let state = ListState::default();
        store
            .put_harvest_page(vec![record("oai:x:1", "a")], &key(), &state)
            .unwrap();
        let first = store.get("oai:x:1").unwrap().unwrap();
        let ahead = store
            .prepare_harvest_page(vec![record("oai:x:1", "a"), record("oai:x:3", "c")])
            .unwrap();
        store
            .put_harvest_page(vec![record("oai:x:2", "b")], &key(), &state)
            .unwrap();
        let out = store
            .put_prepared_harvest_page(ahead, &key(), &state)
            .unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Unchanged, PutOutcome::Added]);
        assert_eq!(store.get("oai:x:1").unwrap().unwrap(), first);
        assert_eq!(store.stats().unwrap().records, 3);
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn source_runs_are_listed_by_name() {
        let store = Store::temporary().unwrap();
        let run = SourceRun {
            outcome: "ok".into(),
            new: 3,
            ..SourceRun::default()
        };
        store.put_source_run("b", &run).unwrap();
        store.put_source_run("a", &run).unwrap();
        let names: Vec<String> = store
            .source_runs()
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn the_history_keeps_the_last_fifty_runs_newest_first_and_sources_apart() {
        let store = Store::temporary().unwrap();
        for started in 0..60 {
            let run = SourceRun {
                started,
                outcome: "ok".into(),
                ..SourceRun::default()
            };
            store.put_source_run("a", &run).unwrap();
        }
        store.put_source_run("a:b", &SourceRun::default()).unwrap();
        let history = store.source_history("a", 100).unwrap();
        assert_eq!(history.len(), MAX_HISTORY);
        let started: Vec<i64> = history.iter().map(|r| r.started).collect();
        assert_eq!(started, (10..60).rev().collect::<Vec<_>>());
        assert_eq!(store.source_history("a", 3).unwrap().len(), 3);
        assert_eq!(store.source_history("a:b", 100).unwrap().len(), 1);
        assert!(store.source_history("none", 100).unwrap().is_empty());
        assert_eq!(store.source_runs().unwrap()[0].1.started, 59);
    }

    /// What `put_source_run` stored before runs had an `error_url`.
    #[derive(Serialize)]
    struct StoredBeforeErrorUrl {
        started: i64,
        finished: i64,
        outcome: String,
        error: Option<String>,
        new: u64,
        updated: u64,
        deleted: u64,
        unchanged: u64,
        rejected: u64,
        pages: u64,
        requests: u64,
        retries: u64,
        seconds: f64,
    }

    #[test]
    fn a_run_stored_before_error_urls_were_kept_still_reads() {
        let store = Store::temporary().unwrap();
        let old = StoredBeforeErrorUrl {
            started: 1,
            finished: 2,
            outcome: "failed".into(),
            error: Some("boom".into()),
            new: 3,
            updated: 4,
            deleted: 5,
            unchanged: 6,
            rejected: 7,
            pages: 8,
            requests: 9,
            retries: 10,
            seconds: 1.5,
        };
        store
            .inner
            .harvest_state
            .insert(run_key("up"), codec::encode(&old))
            .unwrap();
        let runs = store.source_runs().unwrap();
        let run = &runs[0].1;
        assert_eq!((run.started, run.finished, run.retries), (1, 2, 10));
        assert_eq!(run.error.as_deref(), Some("boom"));
        assert_eq!(run.error_url, None);
        assert!((run.seconds - 1.5).abs() < f64::EPSILON);

        let new = SourceRun {
            error_url: Some("http://up/oai?verb=ListRecords".into()),
            ..run.clone()
        };
        store.put_source_run("up", &new).unwrap();
        assert_eq!(store.source_runs().unwrap()[0].1, new);
        assert_eq!(store.source_history("up", 1).unwrap(), [new]);
    }
}
