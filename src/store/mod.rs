//! The record store on sled: records, their rendered forms, the datestamp and set indexes, sets,
//! list-size counters and repository metadata, all changed together in one transaction.
//!
//! Trees:
//! - `records`: identifier → [`StoredRecord`] (datestamp, sets, deleted, formats, content hash);
//! - `by_datestamp`: `prefix \0 datestamp identifier` → where the rendered `<record>` in that
//!   format lies in the [`blobs`] log, so a list page is one range scan and a copy per record;
//! - `by_set`: `prefix \0 setSpec \0 datestamp identifier` → () for each set and its ancestors;
//! - `counts`: bucketed counters per scope ([`counts`]), for exact completeListSize;
//! - `sets`: setSpec → name and description; `meta`: the token secret and metadata formats;
//! - `harvest_state`: per-source harvesting state.
//!
//! A record and all its index entries and counters change in ONE multi-tree transaction, so
//! nothing is ever half-written, also after `kill -9`. A deletion leaves a tombstone forever
//! (deletedRecord = persistent) that keeps its setSpecs.

pub mod blobs;
pub mod browse;
pub mod codec;
pub mod counts;
pub mod error;
pub mod harvest_state;
pub mod keys;
pub mod origin;
mod repository;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;

pub use codec::StoredRecord;
pub use error::StoreError;
pub use origin::{Origin, Refusal};

use crate::dc::DcRecord;
use crate::protocol::xml::write::{render_record, Payload};
use crate::protocol::{
    Datestamp, Header, MetadataFormat, MetadataPrefix, OaiIdentifier, SetInfo, SetSpec,
};

const OAI_DC: &str = "oai_dc";
/// Directory of the blob log inside the store directory (sled itself uses `blobs/`).
const BLOB_DIR: &str = "rendered";
const SECRET_KEY: &[u8] = b"token_secret";
const STRIPPED_KEY: &[u8] = b"stripped_characters";
const FORMAT_KEY_PREFIX: &[u8] = b"format:";

/// A record to write: what an importer or the harvester produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordInput {
    /// The item's identifier.
    pub identifier: OaiIdentifier,
    /// The datestamp to give it if it changed; `None` means now.
    pub datestamp: Option<Datestamp>,
    /// Its sets (ancestors are implied).
    pub sets: Vec<SetSpec>,
    /// True to write a tombstone.
    pub deleted: bool,
    /// Its Dublin Core description, served as `oai_dc`.
    pub dc: Option<DcRecord>,
    /// Payloads in other formats, each a complete XML element as harvested.
    pub other_formats: Vec<(MetadataPrefix, Vec<u8>)>,
    /// `<about>` containers (each a complete XML element), such as provenance.
    pub about: Vec<Vec<u8>>,
    /// Source fields with no place in Dublin Core.
    pub local_fields: Vec<(String, String)>,
    /// Who writes it: only the origin that wrote a record first may change it.
    pub origin: Origin,
}

impl RecordInput {
    /// A local Dublin Core record with no sets, stamped now if it changed.
    pub fn dc(identifier: OaiIdentifier, dc: DcRecord) -> Self {
        RecordInput {
            identifier,
            datestamp: None,
            sets: Vec::new(),
            deleted: false,
            dc: Some(dc),
            other_formats: Vec::new(),
            about: Vec::new(),
            local_fields: Vec::new(),
            origin: Origin::Local,
        }
    }
}

/// What writing one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PutOutcome {
    /// A new record.
    Added,
    /// An existing record with new content (and a new datestamp).
    Updated,
    /// A record became a tombstone.
    Deleted,
    /// Same content as stored: nothing written, datestamp kept.
    Unchanged,
    /// The record belongs to another origin: nothing written (see [`BatchOutcome::refusals`]).
    Rejected,
}

/// Outcomes of a batch, in input order, and the characters illegal in XML that were removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// One outcome per input record.
    pub outcomes: Vec<PutOutcome>,
    /// Characters removed because XML 1.0 forbids them.
    pub stripped_characters: usize,
    /// The records refused because another origin owns them, in input order.
    pub refusals: Vec<Refusal>,
}

/// Where importers and the harvester put records (`store::RecordSink`).
pub trait RecordSink {
    /// Writes records, each with its index entries, atomically.
    fn put_batch(&mut self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError>;
}

/// Counts for `moisson stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Records, tombstones included.
    pub records: u64,
    /// Tombstones.
    pub deleted: u64,
    /// Sets.
    pub sets: u64,
    /// Earliest datestamp.
    pub earliest: Option<String>,
    /// Latest datestamp.
    pub latest: Option<String>,
    /// Characters illegal in XML removed from records since the store was created.
    pub stripped_characters: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSet {
    name: String,
    /// The description as `moisson import dc` JSON, since it is rarely read.
    description: Option<String>,
}

/// The store (cheap to clone: every clone shares the same sled database).
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    records: sled::Tree,
    by_datestamp: sled::Tree,
    by_set: sled::Tree,
    counts: sled::Tree,
    sets: sled::Tree,
    meta: sled::Tree,
    harvest_state: sled::Tree,
    blobs: Arc<blobs::BlobLog>,
    write_lock: Arc<Mutex<()>>,
    /// When the batch being written was stamped (`i64::MAX` when none is): see [`Store::begin_write`].
    in_flight: Arc<AtomicI64>,
    path: Option<PathBuf>,
    /// Declared before `_temporary`: fields drop in order, and the last flush needs the files.
    _flusher: Arc<Flusher>,
    _temporary: Option<Arc<tempfile::TempDir>>,
}

/// How often the blob log, then sled, are made durable.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Flushes the blob log, then sled, twice a second, so that sled never makes durable a
/// pointer to blob bytes the disk has not got (sled's own timed flush is off); stopped, after
/// a last flush, when the last clone of the store is dropped.
struct Flusher {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn start(db: sled::Db, blobs: Arc<blobs::BlobLog>) -> Flusher {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("moisson-flush".into())
            .spawn(move || loop {
                let last = !matches!(
                    stopped.recv_timeout(FLUSH_EVERY),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout)
                );
                // sled only after the blobs: never a durable pointer to bytes that are not.
                if let Err(error) = blobs.sync() {
                    tracing::error!(%error, "Could not sync the blob log; the store is not flushed.");
                } else if let Err(error) = db.flush() {
                    tracing::error!(%error, "Could not flush the store.");
                }
                if last {
                    return;
                }
            })
            .expect("Failed to start the store's flush thread.");
        Flusher {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Prepared {
    identifier: String,
    /// The record as stored before this write (read under the write lock, so current).
    old: Option<StoredRecord>,
    new: StoredRecord,
    /// (format, rendered `<record>`, end of its `<header>`).
    rendered: Vec<(String, Vec<u8>, u32)>,
    /// (format, `by_datestamp` value), filled by [`Store::persist_blobs`].
    index_values: Vec<(String, Vec<u8>)>,
    outcome: PutOutcome,
    /// Who wrote it: names the writer when the outcome is [`PutOutcome::Rejected`].
    writer: Origin,
}

/// Clears the in-flight mark of [`Store::begin_write`] when the batch is done, written or not.
pub(crate) struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.store(i64::MAX, Ordering::SeqCst);
    }
}

fn expand_sets(sets: &[String]) -> BTreeSet<String> {
    sets.iter()
        .filter_map(|s| SetSpec::parse(s))
        .flat_map(|s| s.with_ancestors().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

fn content_hash(input: &RecordInput, sets: &[String]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update([u8::from(input.deleted)]);
    for s in sets {
        h.update(s.as_bytes());
        h.update([0]);
    }
    h.update([1]);
    if !input.deleted {
        if let Some(dc) = &input.dc {
            for (element, value) in dc.iter() {
                h.update([element as u8]);
                h.update(value.lang.as_deref().unwrap_or("").as_bytes());
                h.update([0]);
                h.update(value.value.as_bytes());
                h.update([0]);
            }
        }
        h.update([1]);
        for (prefix, xml) in &input.other_formats {
            h.update(prefix.as_ref().as_bytes());
            h.update([0]);
            h.update(xml);
            h.update([0]);
        }
        h.update([1]);
        for about in &input.about {
            h.update(about);
            h.update([0]);
        }
        h.update([1]);
        for (k, v) in &input.local_fields {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([0]);
        }
    }
    let full = h.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl Store {
    /// Opens (or creates) the store in `path`, with a page cache of `cache_capacity_bytes`.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process has it open.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_capacity_bytes)
            .flush_every_ms(None);
        let db = config.open().map_err(|e| match e {
            sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked {
                    path: path.to_path_buf(),
                }
            }
            other => StoreError::Sled(other),
        })?;
        let blobs = blobs::BlobLog::open(&path.join(BLOB_DIR)).map_err(|e| StoreError::Io {
            path: path.join(BLOB_DIR),
            source: e,
        })?;
        Store::from_db(db, blobs, Some(path.to_path_buf()), None)
    }

    /// A store that lives in a temporary directory and vanishes when dropped (for tests).
    pub fn temporary() -> Result<Store, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        let db = sled::Config::new()
            .path(dir.path().join("db"))
            .flush_every_ms(None)
            .open()?;
        let blobs =
            blobs::BlobLog::open(&dir.path().join(BLOB_DIR)).map_err(|e| StoreError::Io {
                path: dir.path().join(BLOB_DIR),
                source: e,
            })?;
        Store::from_db(db, blobs, None, Some(Arc::new(dir)))
    }

    fn from_db(
        db: sled::Db,
        blobs: blobs::BlobLog,
        path: Option<PathBuf>,
        temporary: Option<Arc<tempfile::TempDir>>,
    ) -> Result<Store, StoreError> {
        let blobs = Arc::new(blobs);
        let flusher = Arc::new(Flusher::start(db.clone(), blobs.clone()));
        let store = Store {
            records: db.open_tree("records")?,
            by_datestamp: db.open_tree("by_datestamp")?,
            by_set: db.open_tree("by_set")?,
            counts: db.open_tree("counts")?,
            sets: db.open_tree("sets")?,
            meta: db.open_tree("meta")?,
            harvest_state: db.open_tree("harvest_state")?,
            db,
            blobs,
            write_lock: Arc::new(Mutex::new(())),
            in_flight: Arc::new(AtomicI64::new(i64::MAX)),
            path,
            _flusher: flusher,
            _temporary: temporary,
        };
        if store.meta.get(SECRET_KEY)?.is_none() {
            let secret: [u8; 32] = rand::random();
            store
                .meta
                .compare_and_swap(SECRET_KEY, None as Option<&[u8]>, Some(&secret[..]))?
                .ok();
        }
        Ok(store)
    }

    /// The directory of the store, unless temporary.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The secret resumption tokens are signed with, made when the store was created.
    pub fn token_secret(&self) -> Result<Vec<u8>, StoreError> {
        self.meta
            .get(SECRET_KEY)?
            .map(|v| v.to_vec())
            .ok_or_else(|| StoreError::Invalid("the store has no token secret".into()))
    }

    /// True when no record has ever been written.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        // Blobs first, so that no flushed pointer can point past what is on disk.
        self.blobs.sync().map_err(|e| self.blob_error(e))?;
        self.db.flush()?;
        Ok(())
    }

    fn blob_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone().unwrap_or_default().join(BLOB_DIR),
            source,
        }
    }

    /// Appends the rendered records of `prepared` to the blob log and fills their index values.
    ///
    /// Must run before the transaction that writes the index values.
    pub(crate) fn persist_blobs(&self, prepared: &mut [Prepared]) -> Result<(), StoreError> {
        let blobs: Vec<(&[u8], u32)> = prepared
            .iter()
            .flat_map(|p| {
                p.rendered
                    .iter()
                    .map(|(_, bytes, header_end)| (bytes.as_slice(), *header_end))
            })
            .collect();
        if blobs.is_empty() {
            return Ok(());
        }
        let refs = self.blobs.append(&blobs).map_err(|e| self.blob_error(e))?;
        let mut refs = refs.into_iter();
        for p in prepared.iter_mut() {
            p.index_values = p
                .rendered
                .iter()
                .map(|(f, _, _)| {
                    (
                        f.clone(),
                        refs.next().expect("one ref per blob").encode().to_vec(),
                    )
                })
                .collect();
            if !p.index_values.is_empty() {
                p.new.rendered = p.index_values.iter().map(|(_, v)| v.clone()).collect();
            }
            p.rendered = Vec::new();
        }
        Ok(())
    }

    /// Appends the blob an index value points at (or only its `<header>`) to `out`.
    pub(crate) fn read_blob(
        &self,
        index_value: &[u8],
        header_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let r = blobs::BlobRef::decode(index_value).ok_or_else(|| StoreError::Corrupt {
            key: "by_datestamp".into(),
            message: "malformed blob reference".into(),
        })?;
        self.blobs
            .read_into(&r, header_only, out)
            .map_err(|e| self.blob_error(e))
    }

    /// The harvesting-state tree (owned by the harvester).
    pub fn harvest_state_tree(&self) -> &sled::Tree {
        &self.harvest_state
    }

    /// Defines or renames a set, with an optional Dublin Core description.
    pub fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        description: Option<&DcRecord>,
    ) -> Result<(), StoreError> {
        let value = StoredSet {
            name: name.to_owned(),
            description: description
                .map(|d| serde_json::to_string(d).expect("A DcRecord always serializes.")),
        };
        self.sets
            .insert(spec.as_ref().as_bytes(), codec::encode(&value))?;
        Ok(())
    }

    /// The name of a set, if it is defined.
    pub fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError> {
        self.sets
            .get(spec.as_ref().as_bytes())?
            .map(|v| codec::decode::<StoredSet>(spec.as_ref().as_bytes(), &v).map(|s| s.name))
            .transpose()
    }

    /// Makes a metadata format (other than `oai_dc`) known, for ListMetadataFormats.
    pub fn register_format(&self, format: &MetadataFormat) -> Result<(), StoreError> {
        if format.prefix.as_ref() == OAI_DC {
            return Ok(());
        }
        let mut key = FORMAT_KEY_PREFIX.to_vec();
        key.extend_from_slice(format.prefix.as_ref().as_bytes());
        self.meta.insert(key, codec::encode(format))?;
        Ok(())
    }

    /// The stored metadata of one record.
    pub fn get(&self, identifier: &str) -> Result<Option<StoredRecord>, StoreError> {
        self.records
            .get(identifier.as_bytes())?
            .map(|v| codec::decode_record(identifier.as_bytes(), &v))
            .transpose()
    }

    /// The rendered `<record>` of one record in one format.
    pub fn rendered(&self, identifier: &str, prefix: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(record) = self.get(identifier)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        Ok(self
            .write_rendered(&record, prefix, false, &mut out)?
            .then_some(out))
    }

    /// Appends a record's rendered `<record>` (or `<header>`) in `prefix` to `out`; false when
    /// the record is not available in that format.
    pub(crate) fn write_rendered(
        &self,
        record: &StoredRecord,
        prefix: &str,
        header_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<bool, StoreError> {
        let Some(i) = record.formats.iter().position(|f| f == prefix) else {
            return Ok(false);
        };
        let blob = record.rendered.get(i).ok_or_else(|| StoreError::Corrupt {
            key: prefix.to_owned(),
            message: "a record without its rendered form".into(),
        })?;
        self.read_blob(blob, header_only, out)?;
        Ok(true)
    }

    /// The Dublin Core of a record, read back from its rendered `oai_dc`.
    pub fn dc(&self, identifier: &str) -> Result<Option<DcRecord>, StoreError> {
        let Some(bytes) = self.rendered(identifier, OAI_DC)? else {
            return Ok(None);
        };
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt {
            key: identifier.to_owned(),
            message: e.to_string(),
        })?;
        match crate::dc::xml::read_oai_dc(&text) {
            Ok(dc) => Ok(Some(dc)),
            Err(crate::dc::xml::ParseError::NoDcElement) => Ok(None),
            Err(e) => Err(StoreError::Corrupt {
                key: identifier.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    /// Every record's identifier and metadata, in identifier order (lazily).
    pub fn iter_records(
        &self,
    ) -> impl Iterator<Item = Result<(String, StoredRecord), StoreError>> + '_ {
        self.records.iter().map(|item| {
            let (k, v) = item?;
            let record = codec::decode_record(&k, &v)?;
            Ok((String::from_utf8_lossy(&k).into_owned(), record))
        })
    }

    /// Every set, in setSpec order.
    pub fn iter_sets(&self) -> impl Iterator<Item = Result<SetInfo, StoreError>> + '_ {
        self.sets.iter().map(|item| {
            let (k, v) = item?;
            set_info(&k, &v)
        })
    }

    /// Counts for `moisson stats` (reads every record's metadata once).
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        let (mut min, mut max) = (None::<i64>, None::<i64>);
        for item in self.iter_records() {
            let (_, r) = item?;
            stats.records += 1;
            stats.deleted += u64::from(r.deleted);
            min = Some(min.map_or(r.datestamp, |m| m.min(r.datestamp)));
            max = Some(max.map_or(r.datestamp, |m| m.max(r.datestamp)));
        }
        stats.sets = self.sets.len() as u64;
        stats.earliest = min.map(|d| Datestamp::from_unix(d).to_string());
        stats.latest = max.map(|d| Datestamp::from_unix(d).to_string());
        stats.stripped_characters = self.stripped_characters()?;
        Ok(stats)
    }

    /// Characters illegal in XML removed from records since the store was created.
    pub fn stripped_characters(&self) -> Result<u64, StoreError> {
        Ok(self
            .meta
            .get(STRIPPED_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Renders a record and decides what writing it would do, against the `old` one stored.
    fn prepare(
        mut input: RecordInput,
        old: Option<&StoredRecord>,
        now: Datestamp,
    ) -> (Prepared, usize) {
        let mut stripped = 0;
        if let Some(dc) = input.dc.as_mut() {
            stripped += dc.strip_illegal_xml_chars();
        }
        for (k, v) in &mut input.local_fields {
            stripped +=
                crate::dc::strip_illegal_xml_chars(k) + crate::dc::strip_illegal_xml_chars(v);
        }
        let mut sets: Vec<String> = Vec::new();
        for s in &input.sets {
            if !sets.iter().any(|x| x == s.as_ref()) {
                sets.push(s.as_ref().to_owned());
            }
        }
        // A tombstone keeps the setSpecs and formats the record had, so that a selective
        // harvest of any of its sets learns of the deletion (deleted headers often carry no
        // setSpec, or only some).
        if input.deleted {
            if let Some(old) = old {
                let mut kept = old.sets.clone();
                kept.extend(sets.into_iter().filter(|s| !old.sets.contains(s)));
                sets = kept;
            }
        }
        let hash = content_hash(&input, &sets);
        let identifier = input.identifier.as_ref().to_owned();
        if let Some(old) = old {
            let outcome = if old.origin != input.origin {
                Some(PutOutcome::Rejected)
            } else if old.content_hash == hash {
                Some(PutOutcome::Unchanged)
            } else {
                None
            };
            if let Some(outcome) = outcome {
                return (
                    Prepared {
                        identifier,
                        old: Some(old.clone()),
                        new: old.clone(),
                        rendered: Vec::new(),
                        index_values: Vec::new(),
                        outcome,
                        writer: input.origin,
                    },
                    stripped,
                );
            }
        }
        let formats: Vec<String> = if input.deleted {
            old.map(|o| o.formats.clone())
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| vec![OAI_DC.to_owned()])
        } else {
            input
                .dc
                .iter()
                .map(|_| OAI_DC.to_owned())
                .chain(
                    input
                        .other_formats
                        .iter()
                        .map(|(p, _)| p.as_ref().to_owned()),
                )
                .collect()
        };
        let datestamp = input.datestamp.unwrap_or(now);
        let header = Header {
            identifier: input.identifier.clone(),
            datestamp,
            set_specs: sets.iter().filter_map(|s| SetSpec::parse(s)).collect(),
            deleted: input.deleted,
        };
        let about: Vec<&[u8]> = input.about.iter().map(Vec::as_slice).collect();
        let rendered = formats
            .iter()
            .map(|f| {
                let payload = if f == OAI_DC {
                    input.dc.as_ref().map(Payload::Dc)
                } else {
                    input
                        .other_formats
                        .iter()
                        .find(|(p, _)| p.as_ref() == f)
                        .map(|(_, xml)| Payload::Xml(xml))
                };
                let r = render_record(&header, payload, &about);
                let header_end = u32::try_from(r.header.end).unwrap_or(u32::MAX);
                (f.clone(), r.bytes, header_end)
            })
            .collect();
        let outcome = match (old, input.deleted) {
            (_, true) => PutOutcome::Deleted,
            (None, false) => PutOutcome::Added,
            (Some(_), false) => PutOutcome::Updated,
        };
        let new = StoredRecord {
            datestamp: datestamp.unix(),
            sets,
            deleted: input.deleted,
            formats,
            content_hash: hash,
            local_fields: input.local_fields,
            rendered: Vec::new(),
            origin: input.origin.clone(),
        };
        (
            Prepared {
                identifier,
                old: old.cloned(),
                new,
                rendered,
                index_values: Vec::new(),
                outcome,
                writer: input.origin,
            },
            stripped,
        )
    }

    /// Writes records; each one, with all its index entries and counters, lands atomically (the
    /// whole batch is one transaction). Unchanged records keep their datestamp.
    ///
    /// # Errors
    /// A storage failure, after which nothing of the batch is written.
    pub fn put_batch(&self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (now, _in_flight) = self.begin_write();
        let mut prepared = Vec::with_capacity(records.len());
        let mut overlay: BTreeMap<String, Option<StoredRecord>> = BTreeMap::new();
        let mut stripped_total = 0;
        for input in records {
            let id = input.identifier.as_ref().to_owned();
            let old = match overlay.get(&id) {
                Some(o) => o.clone(),
                None => self.get(&id)?,
            };
            let (p, stripped) = Store::prepare(input, old.as_ref(), now);
            stripped_total += stripped;
            overlay.insert(id, Some(p.new.clone()));
            prepared.push(p);
        }
        self.commit(prepared, stripped_total, None)
    }

    /// Writes prepared records, each with its index entries and counters, and optionally one
    /// harvest-state entry (`key`, `value`), in ONE transaction. Callers hold the write lock.
    pub(crate) fn commit(
        &self,
        mut prepared: Vec<Prepared>,
        stripped_total: usize,
        harvest_state: Option<(&[u8], &[u8])>,
    ) -> Result<BatchOutcome, StoreError> {
        let outcomes = prepared.iter().map(|p| p.outcome).collect();
        let refusals = refusals(&prepared);
        self.persist_blobs(&mut prepared)?;
        let changed: Vec<&Prepared> = prepared
            .iter()
            .filter(|p| !matches!(p.outcome, PutOutcome::Unchanged | PutOutcome::Rejected))
            .collect();
        if changed.is_empty() && stripped_total == 0 && harvest_state.is_none() {
            return Ok(BatchOutcome {
                outcomes,
                stripped_characters: stripped_total,
                refusals,
            });
        }
        (
            &self.records,
            &self.by_datestamp,
            &self.by_set,
            &self.counts,
            &self.sets,
            &self.meta,
            &self.harvest_state,
        )
            .transaction(|(records, by_ds, by_set, counts, sets, meta, harvest)| {
                let mut deltas = BTreeMap::new();
                let mut used_sets = BTreeSet::new();
                for p in &changed {
                    used_sets.append(&mut write_one(p, records, by_ds, by_set, &mut deltas)?);
                }
                ensure_sets(sets, &used_sets)?;
                for (key, delta) in deltas {
                    if delta == 0 {
                        continue;
                    }
                    let current = counts
                        .get(&key)?
                        .and_then(|v| v.as_ref().try_into().ok().map(i64::from_le_bytes))
                        .unwrap_or(0);
                    let next = current + delta;
                    if next == 0 {
                        counts.remove(key)?;
                    } else {
                        counts.insert(key, &next.to_le_bytes())?;
                    }
                }
                if stripped_total > 0 {
                    let current = meta
                        .get(STRIPPED_KEY)?
                        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
                        .unwrap_or(0);
                    meta.insert(
                        STRIPPED_KEY,
                        &(current + stripped_total as u64).to_le_bytes(),
                    )?;
                }
                if let Some((key, value)) = harvest_state {
                    harvest.insert(key, value)?;
                }
                Ok(())
            })?;
        Ok(BatchOutcome {
            outcomes,
            stripped_characters: stripped_total,
            refusals,
        })
    }

    /// Marks a batch as being written and returns its datestamp; the mark lasts as long as
    /// the guard. Call it holding the write lock.
    ///
    /// Records are stamped before their batch commits. While the mark is set, lists are
    /// answered as of its second ([`Store::visible_until`]), so that a record that becomes
    /// visible after a response's responseDate is never dated before it.
    pub(crate) fn begin_write(&self) -> (Datestamp, InFlight<'_>) {
        // Marked first, stamped after: any stamp is at or after the mark.
        self.in_flight
            .store(Datestamp::now().unix(), Ordering::SeqCst);
        (Datestamp::now(), InFlight(&self.in_flight))
    }

    /// The latest moment a list may be answered as of: `now`, or the second of the batch
    /// being written if one is.
    pub fn visible_until(&self, now: Datestamp) -> Datestamp {
        now.min(Datestamp::from_unix(self.in_flight.load(Ordering::SeqCst)))
    }

    /// What writing `record` would do, without writing anything (for dry runs).
    pub fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError> {
        let old = self.get(record.identifier.as_ref())?;
        Ok(
            Store::prepare(record.clone(), old.as_ref(), Datestamp::now())
                .0
                .outcome,
        )
    }

    /// Writes one record (see [`Store::put_batch`]).
    pub fn put(&self, record: RecordInput) -> Result<PutOutcome, StoreError> {
        Ok(self.put_batch(vec![record])?.outcomes[0])
    }

    /// Checks every index entry against its record, every record against its index entries,
    /// rendered forms and sets, and the list-size counters against the records; returns a
    /// description of each problem found.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        self.check_or_repair(false)
    }

    /// Like [`Store::check`], and rebuilds what is off from the records, which are the source of
    /// truth: stray index entries are removed, missing ones added, counters recomputed, missing
    /// sets defined. Returns the problems found (and repaired).
    pub fn repair(&self) -> Result<Vec<String>, StoreError> {
        let _guard = self
            .write_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let problems = self.check_or_repair(true)?;
        self.flush()?;
        Ok(problems)
    }

    fn check_or_repair(&self, repair: bool) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let mut counters: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for item in self.iter_records() {
            let (id, r) = item?;
            let d = Datestamp::from_unix(r.datestamp);
            let sets = expand_sets(&r.sets);
            if r.rendered.len() != r.formats.len() {
                problems.push(format!(
                    "record {id} has {} rendered forms for {} formats",
                    r.rendered.len(),
                    r.formats.len()
                ));
            }
            for (f, blob) in r.formats.iter().zip(&r.rendered) {
                if let Err(e) = self.read_blob(blob, false, &mut Vec::new()) {
                    problems.push(format!("record {id} in {f}: {e}"));
                }
                let key = keys::entry(&keys::format_scope(f), d, &id);
                if self.by_datestamp.get(&key)?.as_deref() != Some(blob.as_slice()) {
                    problems.push(format!("record {id} has no datestamp index entry for {f}"));
                    if repair {
                        self.by_datestamp.insert(key, blob.as_slice())?;
                    }
                }
                counts::add(&mut counters, &keys::format_scope(f), r.datestamp, 1);
                for s in &sets {
                    let key = keys::entry(&keys::set_scope(f, s), d, &id);
                    if !self.by_set.contains_key(&key)? {
                        problems.push(format!("record {id} has no index entry for set {s} ({f})"));
                        if repair {
                            self.by_set.insert(key, &[] as &[u8])?;
                        }
                    }
                    counts::add(&mut counters, &keys::set_scope(f, s), r.datestamp, 1);
                }
            }
            for s in &sets {
                if !self.sets.contains_key(s.as_bytes())? {
                    problems.push(format!("set {s} of record {id} is not defined"));
                    if repair {
                        let set = StoredSet {
                            name: s.clone(),
                            description: None,
                        };
                        self.sets.insert(s.as_bytes(), codec::encode(&set))?;
                    }
                }
            }
        }
        for (tree, with_set, what) in [
            (&self.by_datestamp, false, "datestamp"),
            (&self.by_set, true, "set"),
        ] {
            for item in tree {
                let (k, _) = item?;
                if !self.index_entry_matches(&k, with_set)? {
                    let shown = String::from_utf8_lossy(&k).escape_debug().to_string();
                    problems.push(format!(
                        "{what} index entry \"{shown}\" points to no record"
                    ));
                    if repair {
                        tree.remove(&k)?;
                    }
                }
            }
        }
        counters.retain(|_, v| *v != 0);
        let mut stored: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for item in &self.counts {
            let (k, v) = item?;
            stored.insert(
                k.to_vec(),
                v.as_ref().try_into().map_or(0, i64::from_le_bytes),
            );
        }
        if stored != counters {
            let wrong = counters
                .iter()
                .filter(|(k, v)| stored.get(*k) != Some(v))
                .count()
                + stored.keys().filter(|k| !counters.contains_key(*k)).count();
            problems.push(format!("{wrong} list-size counters are wrong"));
            if repair {
                self.counts.clear()?;
                for (k, v) in &counters {
                    self.counts.insert(k.as_slice(), &v.to_le_bytes())?;
                }
            }
        }
        Ok(problems)
    }

    fn index_entry_matches(&self, key: &[u8], with_set: bool) -> Result<bool, StoreError> {
        let mut parts = key.splitn(if with_set { 3 } else { 2 }, |b| *b == 0);
        let Some(format) = parts.next() else {
            return Ok(false);
        };
        let set = if with_set { parts.next() } else { None };
        let Some((d, id)) = parts.next().and_then(keys::split_entry) else {
            return Ok(false);
        };
        let Some(r) = self.get(id)? else {
            return Ok(false);
        };
        let format = String::from_utf8_lossy(format);
        let set_ok =
            set.is_none_or(|s| expand_sets(&r.sets).contains(&*String::from_utf8_lossy(s)));
        Ok(r.datestamp == d.unix() && r.formats.iter().any(|f| *f == format) && set_ok)
    }
}

/// Writes one prepared record and its index entries; returns its sets (ancestors included) for
/// [`ensure_sets`]. `p.old` is what is stored: the writer holds the write lock, and a batch
/// that writes an identifier twice prepared the second write against the first.
fn write_one(
    p: &Prepared,
    records: &TransactionalTree,
    by_ds: &TransactionalTree,
    by_set: &TransactionalTree,
    deltas: &mut BTreeMap<Vec<u8>, i64>,
) -> TxResult<BTreeSet<String>> {
    let id = p.identifier.as_str();
    if let Some(old) = &p.old {
        let d = Datestamp::from_unix(old.datestamp);
        let old_sets = expand_sets(&old.sets);
        for f in &old.formats {
            let scope = keys::format_scope(f);
            by_ds.remove(keys::entry(&scope, d, id))?;
            counts::add(deltas, &scope, old.datestamp, -1);
            for s in &old_sets {
                let scope = keys::set_scope(f, s);
                by_set.remove(keys::entry(&scope, d, id))?;
                counts::add(deltas, &scope, old.datestamp, -1);
            }
        }
    }
    let d = Datestamp::from_unix(p.new.datestamp);
    let new_sets = expand_sets(&p.new.sets);
    for (f, value) in &p.index_values {
        let scope = keys::format_scope(f);
        by_ds.insert(keys::entry(&scope, d, id), value.as_slice())?;
        counts::add(deltas, &scope, p.new.datestamp, 1);
        for s in &new_sets {
            let scope = keys::set_scope(f, s);
            by_set.insert(keys::entry(&scope, d, id), &[] as &[u8])?;
            counts::add(deltas, &scope, p.new.datestamp, 1);
        }
    }
    records.insert(id.as_bytes(), codec::encode(&p.new))?;
    Ok(new_sets)
}

/// The refused writes of a prepared batch, naming both origins.
fn refusals(prepared: &[Prepared]) -> Vec<Refusal> {
    prepared
        .iter()
        .enumerate()
        .filter(|(_, p)| p.outcome == PutOutcome::Rejected)
        .map(|(index, p)| Refusal {
            index,
            identifier: p.identifier.clone(),
            owner: p.new.origin.clone(),
            writer: p.writer.clone(),
        })
        .collect()
}

/// Defines, named after their spec, the sets records refer to that are not defined yet.
fn ensure_sets(sets: &TransactionalTree, specs: &BTreeSet<String>) -> TxResult<()> {
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

fn set_info(key: &[u8], value: &[u8]) -> Result<SetInfo, StoreError> {
    let stored: StoredSet = codec::decode(key, value)?;
    let spec = std::str::from_utf8(key)
        .ok()
        .and_then(SetSpec::parse)
        .ok_or_else(|| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            message: "not a setSpec".into(),
        })?;
    let description = stored
        .description
        .map(|d| serde_json::from_str::<DcRecord>(&d))
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            key: spec.to_string(),
            message: e.to_string(),
        })?;
    Ok(SetInfo {
        spec,
        name: stored.name,
        description,
    })
}

impl RecordSink for Store {
    fn put_batch(&mut self, records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        Store::put_batch(self, records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::DcElement;
    use crate::protocol::{ListFilter, MetadataPrefix, Repository};
    use proptest::prelude::*;

    fn input(id: &str, title: &str, sets: &[&str]) -> RecordInput {
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Title, title);
        let mut r = RecordInput::dc(OaiIdentifier::parse(id).unwrap(), dc);
        r.sets = sets.iter().map(|s| SetSpec::parse(s).unwrap()).collect();
        r
    }

    #[test]
    fn a_batch_that_writes_one_identifier_several_times_leaves_one_consistent_record() {
        let store = Store::temporary().unwrap();
        store.put(input("oai:x:1", "first", &["a:b"])).unwrap();
        let mut deleted = input("oai:x:1", "", &[]);
        deleted.deleted = true;
        deleted.dc = None;
        let out = store
            .put_batch(vec![
                input("oai:x:1", "second", &["c"]),
                input("oai:x:1", "second", &["c"]),
                input("oai:x:1", "third", &["d:e"]),
                deleted,
            ])
            .unwrap();
        assert_eq!(
            out.outcomes,
            [
                PutOutcome::Updated,
                PutOutcome::Unchanged,
                PutOutcome::Updated,
                PutOutcome::Deleted
            ]
        );
        assert!(store.check().unwrap().is_empty(), "{:?}", store.check());
        let record = store.get("oai:x:1").unwrap().unwrap();
        assert!(record.deleted);
        assert_eq!(
            record.sets,
            ["d:e"],
            "a tombstone keeps the sets the record had"
        );
        assert_eq!(store.stats().unwrap().records, 1);
    }

    #[test]
    fn a_write_from_another_origin_is_refused_and_names_both() {
        let store = Store::temporary().unwrap();
        store.put(input("oai:x:1", "local", &["a"])).unwrap();
        let mut harvested = input("oai:x:1", "harvested", &["source:up"]);
        harvested.origin = Origin::Source("up".into());
        let mut deletion = harvested.clone();
        deletion.deleted = true;
        deletion.dc = None;
        let out = store.put_batch(vec![harvested, deletion]).unwrap();
        assert_eq!(out.outcomes, [PutOutcome::Rejected, PutOutcome::Rejected]);
        assert_eq!(out.refusals.len(), 2);
        assert_eq!(out.refusals[1].index, 1);
        assert_eq!(
            out.refusals[0].to_string(),
            "oai:x:1 belongs to local; source:up may not overwrite it"
        );
        let record = store.get("oai:x:1").unwrap().unwrap();
        assert_eq!(record.origin, Origin::Local);
        assert_eq!(record.sets, ["a"], "the local record keeps its sets");
        assert!(!record.deleted);
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn a_record_of_one_source_is_not_taken_over_by_another_nor_by_a_local_import() {
        let store = Store::temporary().unwrap();
        let mut first = input("oai:x:1", "t", &[]);
        first.origin = Origin::Source("a".into());
        assert_eq!(store.put(first.clone()).unwrap(), PutOutcome::Added);
        let mut other = first.clone();
        other.origin = Origin::Source("b".into());
        other
            .dc
            .as_mut()
            .unwrap()
            .push_str(DcElement::Title, "changed");
        assert_eq!(store.put(other).unwrap(), PutOutcome::Rejected);
        let mut local = first.clone();
        local.origin = Origin::Local;
        assert_eq!(store.classify(&local).unwrap(), PutOutcome::Rejected);
        assert_eq!(store.put(local).unwrap(), PutOutcome::Rejected);
        first
            .dc
            .as_mut()
            .unwrap()
            .push_str(DcElement::Title, "by its owner");
        assert_eq!(store.put(first).unwrap(), PutOutcome::Updated);
    }

    #[test]
    fn a_new_tombstone_is_counted_as_deleted() {
        let store = Store::temporary().unwrap();
        let mut deleted = input("oai:x:9", "", &[]);
        deleted.deleted = true;
        deleted.dc = None;
        assert_eq!(store.put(deleted).unwrap(), PutOutcome::Deleted);
    }

    #[test]
    fn a_deletion_naming_only_some_sets_keeps_the_record_in_all_of_them() {
        let store = Store::temporary().unwrap();
        store
            .put(input("oai:x:1", "t", &["source:up", "source:up:A"]))
            .unwrap();
        let mut deleted = input("oai:x:1", "", &["source:up"]);
        deleted.deleted = true;
        deleted.dc = None;
        assert_eq!(store.put(deleted).unwrap(), PutOutcome::Deleted);
        assert_eq!(
            store.get("oai:x:1").unwrap().unwrap().sets,
            ["source:up", "source:up:A"]
        );
        assert!(store.check().unwrap().is_empty());
    }

    #[test]
    fn lists_are_answered_as_of_a_batch_being_written_until_it_is_done() {
        let store = Store::temporary().unwrap();
        let later = Datestamp::from_unix(Datestamp::now().unix() + 100);
        assert_eq!(store.visible_until(later), later);
        let (stamp, guard) = store.begin_write();
        assert!(
            store.visible_until(later) <= stamp,
            "no response may claim the batch's records"
        );
        drop(guard);
        assert_eq!(store.visible_until(later), later);
    }

    /// One write of the model test: (identifier, datestamp, sets, deleted).
    fn arb_write() -> impl Strategy<Value = (u8, i64, Vec<u8>, bool)> {
        // Datestamps within a few bucket widths, so that counts cross bucket edges.
        (
            0u8..12,
            0i64..3_000_000,
            proptest::collection::vec(0u8..4, 0..3),
            proptest::bool::weighted(0.2),
        )
    }

    const SETS: [&str; 4] = ["a", "a:b", "a:b:c", "d"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn lists_and_counts_match_a_btreemap_model(
            writes in proptest::collection::vec(arb_write(), 1..40),
            from in proptest::option::of(0i64..3_000_000),
            span in 0i64..3_000_000,
            set in proptest::option::of(0usize..4),
            page in 1usize..5,
        ) {
            let store = Store::temporary().unwrap();
            // The model: identifier → (datestamp, expanded sets); tombstones stay listed.
            let mut model: BTreeMap<String, (i64, BTreeSet<String>)> = BTreeMap::new();
            for (id, ds, sets, deleted) in writes {
                let id = format!("oai:x:{id}");
                let specs: Vec<&str> = sets.iter().map(|i| SETS[*i as usize]).collect();
                let mut r = input(&id, &format!("t{ds}"), &specs);
                r.datestamp = Some(Datestamp::from_unix(1_600_000_000 + ds));
                if deleted {
                    r.deleted = true;
                    r.dc = None;
                }
                let outcome = store.put(r).unwrap();
                if outcome != PutOutcome::Unchanged {
                    let stored = store.get(&id).unwrap().unwrap();
                    model.insert(id, (stored.datestamp, expand_sets(&stored.sets)));
                }
            }
            prop_assert!(store.check().unwrap().is_empty());
            let from = from.map(|f| 1_600_000_000 + f);
            let until = from.unwrap_or(1_600_000_000) + span;
            let filter = ListFilter {
                metadata_prefix: MetadataPrefix::oai_dc(),
                set: set.map(|i| SetSpec::parse(SETS[i]).unwrap()),
                from: from.map(Datestamp::from_unix),
                until: Datestamp::from_unix(until),
            };
            let mut expected: Vec<(i64, String)> = model
                .iter()
                .filter(|(_, (d, sets))| {
                    from.is_none_or(|f| *d >= f) && *d <= until && set.is_none_or(|i| sets.contains(SETS[i]))
                })
                .map(|(id, (d, _))| (*d, id.clone()))
                .collect();
            expected.sort();
            prop_assert_eq!(store.count(&filter).unwrap(), expected.len() as u64);
            let mut listed: Vec<(i64, String)> = Vec::new();
            let mut after: Option<(Datestamp, String)> = None;
            loop {
                let mut out = Vec::new();
                let end = store
                    .list_page(&filter, after.as_ref().map(|(d, id)| (*d, id.as_str())), page, true, &mut out)
                    .unwrap();
                let text = String::from_utf8(out).unwrap();
                prop_assert_eq!(text.matches("<header").count(), end.written);
                let ids: Vec<String> = text
                    .split("<identifier>")
                    .skip(1)
                    .map(|chunk| chunk.split("</identifier>").next().unwrap().to_owned())
                    .collect();
                prop_assert_eq!(ids.last(), end.last.as_ref().map(|(_, id)| id));
                listed.extend(ids.into_iter().map(|id| (model[&id].0, id)));
                if !end.more {
                    break;
                }
                after = end.last;
            }
            prop_assert_eq!(listed, expected);
        }
    }
}
