//! The record store: a sled index of well under one key per record, and a compressed value
//! log of the rendered records beside it.
//!
//! # Layout (layout version 2)
//!
//! Every version of a record gets a **record number** (`seq`, u64, never reused). Records live
//! in **header pages** ([`page`]) of 32 slots, one sled key per page: identifier, datestamp,
//! flags, sets, formats, origin, content hash and where each rendered form is in the value log.
//! Writing a new version appends a slot and marks the old one dead.
//!
//! **The ordered run.** Slots that are not flagged out-of-order are, in record-number order,
//! in (datestamp, identifier) order — dead ones included, since a slot never moves. Most writes
//! keep it so for free: the store stamps a write run "now" (one datestamp for the batch,
//! `Store::begin_write`) and sorts the batch by identifier. A write that would break the order
//! (a given past datestamp, or a smaller identifier in the same second as the run's end) gets a
//! slot flagged `OOO` and one key in the **out-of-order tree** (`datestamp identifier → seq`).
//! A list is the merge of the run and that tree ([`index::Cursor`]). When the tree holds more
//! records than the run (and at least [`OOO_MIN`]), or on `moisson compact`, a **rebuild**
//! (`rebuild.rs`) streams the merged order into a fresh generation of trees: everything is in
//! the run again, dead slots are gone. Doubling thresholds keep the rebuilds of a bulk load of
//! given datestamps at about twice the load itself.
//!
//! The other trees of a generation ([`index::Index`]), all named `NAME.GEN`:
//! - `ids`: identifier → seq and where its `oai_dc` form is, in 65,536 hash buckets (one key
//!   per bucket), so that GetRecord reads no page;
//! - `lists`: per set (ancestors included), the record numbers of its run slots, delta-encoded
//!   in chunks of 512 (one key per chunk); entries of dead slots stay until the next rebuild and
//!   are skipped, so an update appends and never rewrites a chunk in the middle;
//! - `ooo`: above; `counts`: exact list sizes in time buckets ([`counts`]).
//!
//! Outside generations: `sets` (setSpec → name, description), `meta` (layout version, the
//! `State` of the store — generation, next seq, end of the run, counters, live and dead bytes
//! per segment —, token secret, formats, stripped characters), `intents`, `harvest_state`.
//!
//! **Keys per record**: 1/32 (pages) + at most 1/15 (buckets) + sets/512 + counters per batch,
//! plus one for each out-of-order record until the next rebuild. sled's memory grows with its
//! number of keys, so this is what keeps a 1M-record server small.
//!
//! **Reads.** GetRecord: bucket → value log (one sled read and one `pread`; other formats read
//! the page too). A list
//! page: a seek, then consecutive slots of consecutive pages (or of one set's chunks), each
//! record one `pread` from the log; a token carries (datestamp, identifier), and its record's
//! slot, dead or alive, still marks the place, so page 9,000 costs what page 1 costs (after a
//! rebuild, a binary search over pages finds it). Slots are read in place (fixed offsets, no
//! decoding for `oai_dc`), from sled's own bounded page cache; no other cache is needed.
//! Newest-first pages, "the n-th record" and sitemap ranges map onto record numbers: pages
//! read backwards, and `seq / 32` is a page.
//!
//! # Value log ([`vlog`])
//! Rendered `<record>`s, LZ4-compressed, in segments of 64 MiB under `values/`, each referenced
//! with its CRC. Live and dead bytes are counted per segment in `State`; **compaction**
//! (`compact.rs`) copies the live blobs of the emptiest segments to the end of the log, switches
//! their references with one intent, flushes, then deletes the old segments. It runs on
//! `moisson compact` and, while serving, when dead bytes pass a configured share.
//!
//! # Files
//! The store directory holds sled's files (`conf`, `db`, `blobs/`, `snap.*`), the value log
//! (`values/`), the `reserve` file (below), and `lock`, the store's own lock, held by the
//! process that has the store open (`lock.rs`). sled never shrinks its files, however much of
//! them old pages and dropped generations fill, so `moisson compact`, offline, finally copies
//! the trees in use into a fresh database in `.index-new/` and swaps it in (`swap.rs`); the
//! lock keeps every other process out meanwhile, and open finishes a swap a crash interrupted.
//!
//! # Writes and crashes
//! A batch: render and compress, append to the value log and **fsync** (no reference ever
//! points at bytes that are not durable), write the batch's **intent** under one key, apply it
//! tree by tree with idempotent writes (set lists and out-of-order entries first, then every
//! page of the batch in one atomic sled batch — the moment readers see it —, then the
//! identifier map), and finish with one small transaction: counters, `State`, the harvest
//! checkpoint, the sets used, and removing the intent. At open an intent left behind is applied
//! again and committed; the value log is cut back to the last committed end (a torn tail is
//! dropped, never appended after). sled flushes itself twice a second.
//!
//! **Acknowledged** means that `put_batch` (or `put_harvest_page`) returned: the batch's value
//! bytes are fsynced and its sled writes are in the operating system. A kill -9 then loses
//! nothing acknowledged; a power loss can lose the batches of the last half second, whole and
//! in order (sled comes back as of its last flush, and the value log is cut back to that
//! state's end), never leaving a reference to bytes the disk has not got. Importers write
//! through [`pipeline::BatchWriter`]: a batch is rendered and hashed ([`Store::prepare_batch`],
//! without the write lock) beside the commit of the one before, then committed
//! ([`Store::put_prepared`], which prepares it again if what it read has changed since: see
//! `ahead.rs`) while the caller parses the next. One fsync per batch of 2,000 records costs
//! little next to the rest.
//!
//! # Degrade, don't die
//! When the disk is full (or read-only), open still succeeds in **read-only** mode: reads and
//! `serve` work, every write fails with [`StoreError::ReadOnly`], which says how many records
//! this process committed before. A write that hits a full disk turns the store read-only.
//!
//! # Upgrade
//! A store of layout 1 (one sled key per record and index entry, blobs in `rendered/`) is
//! detected at open ([`StoreError::NeedsUpgrade`]); `moisson upgrade` converts it in place
//! (`upgrade.rs`), keeping it intact until the new layout is committed.

mod ahead;
pub mod browse;
pub mod codec;
mod compact;
pub mod counts;
pub mod error;
pub mod harvest_state;
pub mod index;
pub mod keys;
pub mod legacy;
mod lock;
pub mod origin;
pub mod page;
pub mod pipeline;
mod rebuild;
mod repository;
mod sink;
mod swap;
mod upgrade;
pub mod vlog;
mod write;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use ahead::{Ahead, PreparedBatch};
pub use codec::StoredRecord;
pub use compact::{CompactOutcome, SledFiles};
pub use error::StoreError;
pub use harvest_state::PreparedHarvestPage;
pub use origin::{Origin, Refusal};
#[cfg(test)]
pub(crate) use sink::VecSink;
pub use sink::{HarvestSink, RecordSink};
pub use upgrade::UpgradeOutcome;

use crate::dc::DcRecord;
use crate::protocol::xml::write::{render_record, Payload};
use crate::protocol::{Datestamp, Header, MetadataFormat, OaiIdentifier, SetInfo, SetSpec};
use index::{Cursor, Index, Selection};

const OAI_DC: &str = "oai_dc";
/// Directory of the value log inside the store directory.
const VALUE_DIR: &str = "values";
const SECRET_KEY: &[u8] = b"token_secret";
const STRIPPED_KEY: &[u8] = b"stripped_characters";
const FORMAT_KEY_PREFIX: &[u8] = b"format:";
const LAYOUT_KEY: &[u8] = b"layout";
const STATE_KEY: &[u8] = b"state";
/// The layout this version writes.
pub const LAYOUT: u8 = 2;
/// Out-of-order records below which no automatic rebuild happens.
pub const OOO_MIN: u64 = 50_000;

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
    pub other_formats: Vec<(crate::protocol::MetadataPrefix, Vec<u8>)>,
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
    /// Bytes of the value log that current records use.
    pub live_bytes: u64,
    /// Bytes of the value log that only old versions use (reclaimed by compaction).
    pub dead_bytes: u64,
    /// Segment files of the value log.
    pub segments: u64,
    /// Records kept out of the ordered run until the next rebuild.
    pub out_of_order: u64,
    /// Slots of old versions in the index (dropped by the next rebuild).
    pub dead_slots: u64,
    /// Bytes sled uses on disk (the index).
    pub index_bytes: u64,
    /// Why the store is read-only, when it is.
    pub read_only: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSet {
    name: String,
    /// The description as `moisson import dc` JSON, since it is rarely read.
    description: Option<String>,
}

/// What the store keeps about itself, in one `meta` key written by every commit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct State {
    /// The generation of the index trees in use.
    gen: u64,
    /// The next record number.
    next_seq: u64,
    /// The key of the last slot of the ordered run, dead or alive.
    run_tail: Option<(i64, String)>,
    /// Live records out of the ordered run.
    ooo: u64,
    /// Records, tombstones included.
    records: u64,
    /// Tombstones.
    deleted: u64,
    /// Dead slots in the index.
    dead_slots: u64,
    /// End of the last committed append to the value log.
    vlog_end: (u32, u64),
    /// Per segment: (live bytes, dead bytes).
    segments: BTreeMap<u32, (u64, u64)>,
    /// Segments emptied by a committed compaction, to delete.
    doomed: Vec<u32>,
    /// Number of the next intent.
    next_intent: u64,
}

/// How a store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// sled's page cache, in bytes (sled's default would be 1 GiB).
    pub cache_capacity_bytes: u64,
    /// Compact the value log while open when dead bytes pass this percentage (0: never).
    pub compact_dead_percent: u8,
    /// How often that is checked.
    pub compact_check: Duration,
    /// Size past which the value log starts a new segment.
    pub segment_bytes: u64,
    /// Compress rendered records with LZ4 (about half the disk; costs a few µs a record read).
    pub compress: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            cache_capacity_bytes: 16 << 20,
            compact_dead_percent: 50,
            compact_check: Duration::from_secs(60),
            segment_bytes: 64 << 20,
            compress: true,
        }
    }
}

/// The store (cheap to clone: every clone shares the same database and value log).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: sled::Db,
    index: RwLock<Arc<Index>>,
    sets: sled::Tree,
    meta: sled::Tree,
    intents: sled::Tree,
    harvest_state: sled::Tree,
    vlog: vlog::ValueLog,
    /// The writer's state; held for the whole of a write.
    write: Mutex<State>,
    /// `State::next_seq` as last committed, for readers.
    next_seq: AtomicU64,
    /// The datestamp of `State::run_tail` (`i64::MIN` when the run is empty), for readers.
    run_tail_ds: AtomicI64,
    /// Tombstones, as of the last commit (published with `next_seq`).
    deleted: AtomicU64,
    /// When the batches being written were stamped: see [`Store::begin_write`].
    marks: Arc<ahead::Marks>,
    /// Writes applied, for batches prepared ahead of their commit.
    writes: ahead::Writes,
    read_only: RwLock<Option<String>>,
    /// Records this process committed.
    committed: AtomicU64,
    /// Out-of-order records past which a write triggers a rebuild (a knob for tests).
    ooo_min: AtomicU64,
    path: Option<PathBuf>,
    background: Mutex<Option<Background>>,
    /// Fault injection for tests: the apply step after which a write stops as if killed.
    #[cfg(test)]
    stop_after: AtomicU64,
    _temporary: Option<tempfile::TempDir>,
    /// How the store was opened (to open it again after an index swap).
    options: StoreOptions,
    /// The store's own lock; last, so that it is let go after everything else.
    lock: Option<lock::StoreLock>,
}

/// Where a store lives: its directory and lock, or a temporary directory.
pub(crate) struct Home {
    path: Option<PathBuf>,
    temporary: Option<tempfile::TempDir>,
    lock: Option<lock::StoreLock>,
}

/// The thread that compacts while the store is open.
struct Background {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let bg = self
            .background
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Background::stop(bg);
        let _ = self.db.flush();
    }
}

impl Background {
    /// Stops the thread, if there is one, and waits for it.
    fn stop(bg: Option<Background>) {
        if let Some(bg) = bg {
            drop(bg.stop);
            // The thread itself may drop the last clone; it cannot wait for itself.
            if bg.thread.thread().id() != std::thread::current().id() {
                let _ = bg.thread.join();
            }
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// A record prepared for writing against what is stored.
#[derive(Debug)]
pub(crate) struct Prepared {
    identifier: String,
    /// The record as stored before this write: (seq, flags, record).
    old: Option<(u64, u8, StoredRecord)>,
    new: StoredRecord,
    /// (format, rendered `<record>` as the value log stores it).
    rendered: Vec<(String, vlog::Stored)>,
    outcome: PutOutcome,
    /// Who wrote it: names the writer when the outcome is [`PutOutcome::Rejected`].
    writer: Origin,
}

/// A set and its ancestors, for every set given.
pub(crate) fn expand_sets(sets: &[String]) -> BTreeSet<String> {
    sets.iter()
        .filter_map(|s| SetSpec::parse(s))
        .flat_map(|s| s.with_ancestors().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

pub(crate) fn content_hash(input: &RecordInput, sets: &[String]) -> [u8; 16] {
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

/// True when an I/O error means the disk cannot take writes (full, over quota, read-only).
pub(crate) fn cannot_write(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(28 | 30 | 122)) || e.kind() == std::io::ErrorKind::StorageFull
}

fn store_cannot_write(e: &StoreError) -> Option<String> {
    match e {
        StoreError::Io { source, .. } if cannot_write(source) => Some(source.to_string()),
        StoreError::Sled(sled::Error::Io(source)) if cannot_write(source) => {
            Some(source.to_string())
        }
        _ => None,
    }
}

impl Store {
    /// Opens (or creates) the store in `path`, with a page cache of `cache_capacity_bytes`.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another process has it open, [`StoreError::NeedsUpgrade`]
    /// when an earlier version wrote it.
    pub fn open(path: &Path, cache_capacity_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(
            path,
            &StoreOptions {
                cache_capacity_bytes,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens (or creates) the store in `path` with `options`.
    ///
    /// The store's own lock (`lock.rs`) is taken first, then an index swap that an interrupted
    /// `moisson compact` began is finished (`swap.rs`), and only then is sled opened.
    ///
    /// sled writes at open (it zero-fills the end of its last segment), so a full disk would
    /// keep it closed: the store keeps a reserve file of [`RESERVE_BYTES`], given back to let
    /// sled open, and the store then stays read-only.
    pub fn open_with(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        let lock = lock::StoreLock::acquire(path)?;
        Store::open_locked(path, options, lock)
    }

    /// Opens the store in `path` whose lock is held (or could not be made, see `lock.rs`).
    fn open_locked(
        path: &Path,
        options: &StoreOptions,
        lock: Option<lock::StoreLock>,
    ) -> Result<Store, StoreError> {
        swap::recover(path)?;
        let reserve = path.join(RESERVE_FILE);
        let (db, full) = match open_sled_waiting(path, options.cache_capacity_bytes) {
            Ok(db) => (db, false),
            Err(e) if store_cannot_write(&e).is_some() && reserve.exists() => {
                std::fs::remove_file(&reserve).map_err(|source| StoreError::Io {
                    path: reserve.clone(),
                    source,
                })?;
                (open_sled_waiting(path, options.cache_capacity_bytes)?, true)
            }
            Err(e) => return Err(e),
        };
        let dir = path.join(VALUE_DIR);
        let files: Arc<dyn vlog::FileLayer> = match vlog::DiskFiles::new(&dir) {
            Ok(f) => Arc::new(f),
            Err(source) => return Err(StoreError::Io { path: dir, source }),
        };
        let home = Home {
            path: Some(path.to_path_buf()),
            temporary: None,
            lock,
        };
        let store = Store::assemble(db, files, home, options)?;
        if full {
            store.become_read_only("no space left on device".into());
        } else if store.read_only_reason().is_none() {
            if let Err(e) = make_reserve(&reserve) {
                store.become_read_only(format!(
                    "cannot keep the reserve file {}: {e}",
                    reserve.display()
                ));
            }
        }
        Ok(store)
    }

    /// A store that lives in a temporary directory and vanishes when dropped (for tests).
    pub fn temporary() -> Result<Store, StoreError> {
        Store::temporary_with(&StoreOptions {
            compact_dead_percent: 0,
            ..StoreOptions::default()
        })
    }

    /// A temporary store with `options`.
    pub fn temporary_with(options: &StoreOptions) -> Result<Store, StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Io {
            path: std::env::temp_dir(),
            source: e,
        })?;
        let db = open_sled(&dir.path().join("db"), options.cache_capacity_bytes)?;
        let values = dir.path().join(VALUE_DIR);
        let files = vlog::DiskFiles::new(&values).map_err(|source| StoreError::Io {
            path: values,
            source,
        })?;
        let home = Home {
            path: None,
            temporary: Some(dir),
            lock: None,
        };
        Store::assemble(db, Arc::new(files), home, options)
    }

    /// Opens a store over `db` and the value log in `files`.
    pub(crate) fn assemble(
        db: sled::Db,
        files: Arc<dyn vlog::FileLayer>,
        home: Home,
        options: &StoreOptions,
    ) -> Result<Store, StoreError> {
        let meta = db.open_tree("meta")?;
        let mut read_only = None;
        let state = match Store::layout_state(&db, &meta, home.path.as_deref()) {
            Ok(state) => state,
            Err(e) => match store_cannot_write(&e) {
                // A new store that cannot even be initialised has nothing to serve.
                Some(_) if meta.get(LAYOUT_KEY)?.is_none() => return Err(e),
                Some(reason) => {
                    read_only = Some(reason);
                    codec::decode(STATE_KEY, &meta.get(STATE_KEY)?.unwrap_or_default())?
                }
                None => return Err(e),
            },
        };
        let intents = db.open_tree("intents")?;
        let end = write::pending_end(&intents)?.map_or(state.vlog_end, |e| e.max(state.vlog_end));
        let vlog_dir = files.path();
        let vlog = vlog::ValueLog::open(files, Some(end), options.segment_bytes, options.compress)
            .map_err(|source| StoreError::Io {
                path: vlog_dir,
                source,
            })?;
        let index = Index::open(&db, state.gen)?;
        let store = Store {
            inner: Arc::new(Inner {
                sets: db.open_tree("sets")?,
                harvest_state: db.open_tree("harvest_state")?,
                intents,
                meta,
                index: RwLock::new(Arc::new(index)),
                vlog,
                next_seq: AtomicU64::new(state.next_seq),
                run_tail_ds: AtomicI64::new(state.run_tail.as_ref().map_or(i64::MIN, |t| t.0)),
                deleted: AtomicU64::new(state.deleted),
                write: Mutex::new(state),
                marks: ahead::Marks::new(),
                writes: ahead::Writes::default(),
                read_only: RwLock::new(read_only),
                committed: AtomicU64::new(0),
                ooo_min: AtomicU64::new(OOO_MIN),
                path: home.path,
                background: Mutex::new(None),
                #[cfg(test)]
                stop_after: AtomicU64::new(u64::MAX),
                _temporary: home.temporary,
                options: options.clone(),
                db,
                lock: home.lock,
            }),
        };
        if let Err(e) = store.recover() {
            let Some(reason) = store_cannot_write(&e) else {
                return Err(e);
            };
            store.become_read_only(reason);
        }
        if store.read_only_reason().is_some() {
            tracing::warn!(
                reason = store.read_only_reason().as_deref(),
                "The store is open read-only: it serves what it has and refuses writes."
            );
        } else if options.compact_dead_percent > 0 {
            store.start_background(options);
        }
        Ok(store)
    }

    /// Reads the layout and state, initialising a new store; refuses layouts it cannot read.
    fn layout_state(
        db: &sled::Db,
        meta: &sled::Tree,
        path: Option<&Path>,
    ) -> Result<State, StoreError> {
        let path = path.map(Path::to_path_buf).unwrap_or_default();
        match meta.get(LAYOUT_KEY)?.as_deref() {
            Some([LAYOUT]) => codec::decode(STATE_KEY, &meta.get(STATE_KEY)?.unwrap_or_default()),
            Some([layout]) => Err(StoreError::TooNew {
                path,
                layout: *layout,
            }),
            Some(_) => Err(StoreError::Corrupt {
                key: "layout".into(),
                message: "malformed layout version".into(),
            }),
            None if upgrade::is_legacy(db)? => Err(StoreError::NeedsUpgrade { path }),
            None => {
                let state = State {
                    gen: 1,
                    ..State::default()
                };
                meta.insert(STATE_KEY, codec::encode(&state))?;
                meta.insert(LAYOUT_KEY, &[LAYOUT])?;
                Ok(state)
            }
        }
    }

    /// At open: finishes an interrupted write, drops trees of other generations and segments a
    /// compaction emptied, and makes the token secret.
    fn recover(&self) -> Result<(), StoreError> {
        let mut state = self.lock_write();
        write::replay(self, &mut state)?;
        self.drop_other_generations(state.gen)?;
        if !state.doomed.is_empty() {
            compact::delete_doomed(self, &mut state)?;
        }
        drop(state);
        let meta = &self.inner.meta;
        if meta.get(SECRET_KEY)?.is_none() {
            let secret: [u8; 32] = rand::random();
            meta.compare_and_swap(SECRET_KEY, None as Option<&[u8]>, Some(&secret[..]))?
                .ok();
        }
        Ok(())
    }

    fn drop_other_generations(&self, gen: u64) -> Result<(), StoreError> {
        for name in self.inner.db.tree_names() {
            if of_other_generation(&name, gen) {
                self.inner.db.drop_tree(name)?;
            }
        }
        Ok(())
    }

    /// Stops the compaction thread (which may hold a clone of the store for a moment).
    pub(crate) fn stop_background(&self) {
        let bg = self
            .inner
            .background
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Background::stop(bg);
    }

    fn start_background(&self, options: &StoreOptions) {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let weak = Arc::downgrade(&self.inner);
        let every = options.compact_check;
        let percent = options.compact_dead_percent;
        let thread = std::thread::Builder::new()
            .name("moisson-compact".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let Some(inner) = weak.upgrade() else { return };
                    let store = Store { inner };
                    if let Err(error) = store.compact_if_over(percent) {
                        tracing::error!(error.cause_chain = ?error, error.message = %error, "Online compaction failed.");
                    }
                }
            });
        match thread {
            Ok(thread) => {
                *self
                    .inner
                    .background
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Background { stop, thread });
            }
            Err(error) => {
                tracing::warn!(%error, "Could not start the compaction thread; compact with `moisson compact`.");
            }
        }
    }

    pub(crate) fn lock_write(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The index generation in use.
    pub(crate) fn index(&self) -> Arc<Index> {
        self.inner
            .index
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn next_seq(&self) -> u64 {
        self.inner.next_seq.load(Ordering::SeqCst)
    }

    /// Makes a committed state's bounds visible to readers.
    pub(crate) fn publish(&self, state: &State) {
        self.inner.next_seq.store(state.next_seq, Ordering::SeqCst);
        let tail = state.run_tail.as_ref().map_or(i64::MIN, |t| t.0);
        self.inner.run_tail_ds.store(tail, Ordering::SeqCst);
        self.inner.deleted.store(state.deleted, Ordering::SeqCst);
    }

    /// Tombstones, as of the last commit, without waiting for a write in progress.
    pub(crate) fn deleted_count(&self) -> u64 {
        self.inner.deleted.load(Ordering::SeqCst)
    }

    /// A datestamp no record is after (cheap: the end of the ordered run and of the
    /// out-of-order tree).
    pub(crate) fn latest_bound(&self) -> Result<Option<i64>, StoreError> {
        let run = self.inner.run_tail_ds.load(Ordering::SeqCst);
        let ooo = match self.index().ooo.last()? {
            Some((k, _)) => keys::decode_ordered_i64(&k),
            None => None,
        };
        Ok(match (run, ooo) {
            (i64::MIN, o) => o,
            (r, o) => Some(o.map_or(r, |o| o.max(r))),
        })
    }

    /// Why the store refuses writes, when it does.
    pub fn read_only_reason(&self) -> Option<String> {
        self.inner
            .read_only
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn become_read_only(&self, reason: String) {
        tracing::error!(
            reason,
            committed = self.inner.committed.load(Ordering::SeqCst),
            "The store cannot write any more; it stays open read-only."
        );
        *self
            .inner
            .read_only
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(reason);
    }

    /// Refuses a write to a read-only store, saying how many records were committed.
    pub(crate) fn writable(&self) -> Result<(), StoreError> {
        match self.read_only_reason() {
            None => Ok(()),
            Some(reason) => Err(self.read_only_error(reason)),
        }
    }

    fn read_only_error(&self, reason: String) -> StoreError {
        StoreError::ReadOnly {
            path: self.inner.path.clone().unwrap_or_default(),
            reason,
            committed: self.inner.committed.load(Ordering::SeqCst),
        }
    }

    /// Turns a write failure on a full disk into read-only mode and [`StoreError::ReadOnly`].
    pub(crate) fn on_write_error(&self, e: StoreError) -> StoreError {
        match store_cannot_write(&e) {
            Some(reason) => {
                self.become_read_only(reason.clone());
                self.read_only_error(reason)
            }
            None => e,
        }
    }

    pub(crate) fn vlog_error(&self, source: std::io::Error) -> StoreError {
        StoreError::Io {
            path: self.inner.vlog.path(),
            source,
        }
    }

    /// The directory of the store, unless temporary.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The secret resumption tokens are signed with, made when the store was created.
    pub fn token_secret(&self) -> Result<Vec<u8>, StoreError> {
        self.inner
            .meta
            .get(SECRET_KEY)?
            .map(|v| v.to_vec())
            .ok_or_else(|| StoreError::Invalid("the store has no token secret".into()))
    }

    /// True when no record has ever been written.
    pub fn is_empty(&self) -> bool {
        self.next_seq() == 0
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.vlog.sync().map_err(|e| self.vlog_error(e))?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// Defines or renames a set, with an optional Dublin Core description.
    pub fn define_set(
        &self,
        spec: &SetSpec,
        name: &str,
        description: Option<&DcRecord>,
    ) -> Result<(), StoreError> {
        self.writable()?;
        let value = StoredSet {
            name: name.to_owned(),
            description: description
                .map(|d| serde_json::to_string(d).expect("A DcRecord always serializes.")),
        };
        self.inner
            .sets
            .insert(spec.as_ref().as_bytes(), codec::encode(&value))
            .map_err(|e| self.on_write_error(e.into()))?;
        Ok(())
    }

    /// The name of a set, if it is defined.
    pub fn set_name(&self, spec: &SetSpec) -> Result<Option<String>, StoreError> {
        self.inner
            .sets
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
        if self.inner.meta.get(&key)?.as_deref() == Some(codec::encode(format).as_slice()) {
            return Ok(());
        }
        self.writable()?;
        self.inner
            .meta
            .insert(key, codec::encode(format))
            .map_err(|e| self.on_write_error(e.into()))?;
        Ok(())
    }

    /// The current version of one record: (record number, flags, record).
    pub(crate) fn current(
        index: &Index,
        identifier: &str,
    ) -> Result<Option<(u64, u8, StoredRecord)>, StoreError> {
        let Some(seq) = index.lookup(identifier)? else {
            return Ok(None);
        };
        Ok(index
            .slot_record(seq)?
            .map(|(flags, record)| (seq, flags, record)))
    }

    /// The stored metadata of one record.
    pub fn get(&self, identifier: &str) -> Result<Option<StoredRecord>, StoreError> {
        Ok(Store::current(&self.index(), identifier)?.map(|(_, _, record)| record))
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

    /// Appends the blob a reference points at (or only its `<header>`) to `out`.
    pub(crate) fn read_blob(
        &self,
        reference: &[u8],
        header_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let r = vlog::BlobRef::decode(reference).ok_or_else(|| StoreError::Corrupt {
            key: "blob reference".into(),
            message: "malformed".into(),
        })?;
        self.inner
            .vlog
            .read_into(&r, header_only, out)
            .map_err(|e| self.vlog_error(e))
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

    /// A cursor over every record in (datestamp, identifier) order.
    pub(crate) fn all(&self) -> Result<Cursor<'static>, StoreError> {
        Cursor::new(
            self.index(),
            Selection {
                format: None,
                set: None,
                from: None,
                until: i64::MAX,
                after: None,
            },
            self.next_seq(),
        )
    }

    /// Every record's identifier and metadata, in (datestamp, identifier) order (lazily).
    pub fn iter_records(
        &self,
    ) -> impl Iterator<Item = Result<(String, StoredRecord), StoreError>> + '_ {
        let mut cursor = Some(self.all());
        std::iter::from_fn(move || {
            let Ok(c) = cursor.as_mut()? else {
                return cursor.take().and_then(Result::err).map(Err);
            };
            match c.next_item() {
                Ok(Some(item)) => {
                    let slot = item.slot();
                    Some(slot.record().map(|r| (slot.identifier.to_owned(), r)))
                }
                Ok(None) => None,
                Err(e) => {
                    cursor = None;
                    Some(Err(e))
                }
            }
        })
    }

    /// Every set, in setSpec order.
    pub fn iter_sets(&self) -> impl Iterator<Item = Result<SetInfo, StoreError>> + '_ {
        self.inner.sets.iter().map(|item| {
            let (k, v) = item?;
            set_info(&k, &v)
        })
    }

    /// The datestamp of the last record in list order.
    pub(crate) fn latest(&self) -> Result<Option<i64>, StoreError> {
        let index = self.index();
        let mut latest = None;
        'pages: for item in index.pages.iter().rev() {
            let (_, p) = item?;
            for i in (0..page::len(&p)).rev() {
                if let Some(s) = page::slot(&p, i).filter(page::Slot::is_live_main) {
                    latest = Some(s.datestamp);
                    break 'pages;
                }
            }
        }
        for item in index.ooo.iter().rev() {
            let (k, _) = item?;
            if let Some(d) = keys::decode_ordered_i64(&k) {
                latest = Some(latest.map_or(d, |l: i64| l.max(d)));
                break;
            }
        }
        Ok(latest)
    }

    /// Counts for `moisson stats` (from the store's counters, without reading every record).
    pub fn stats(&self) -> Result<Stats, StoreError> {
        let state = self.lock_write().clone();
        let earliest = self.all()?.next_item()?.map(|i| i.slot().datestamp);
        let (live, dead) = state
            .segments
            .values()
            .fold((0, 0), |(l, d), (sl, sd)| (l + sl, d + sd));
        Ok(Stats {
            records: state.records,
            deleted: state.deleted,
            sets: self.inner.sets.len() as u64,
            earliest: earliest.map(|d| Datestamp::from_unix(d).to_string()),
            latest: self.latest()?.map(|d| Datestamp::from_unix(d).to_string()),
            stripped_characters: self.stripped_characters()?,
            live_bytes: live,
            dead_bytes: dead,
            segments: self
                .inner
                .vlog
                .segment_sizes()
                .map_err(|e| self.vlog_error(e))?
                .len() as u64,
            out_of_order: state.ooo,
            dead_slots: state.dead_slots,
            index_bytes: self.inner.db.size_on_disk()?,
            read_only: self.read_only_reason(),
        })
    }

    /// Characters illegal in XML removed from records since the store was created.
    pub fn stripped_characters(&self) -> Result<u64, StoreError> {
        Ok(self
            .inner
            .meta
            .get(STRIPPED_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_le_bytes))
            .unwrap_or(0))
    }

    /// Renders a record and decides what writing it would do, against the `old` one stored.
    fn prepare(
        input: &mut RecordInput,
        old: Option<&(u64, u8, StoredRecord)>,
        now: Datestamp,
        compress: bool,
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
        let old_record = old.map(|(_, _, r)| r);
        // A tombstone keeps the setSpecs and formats the record had, so that a selective
        // harvest of any of its sets learns of the deletion (deleted headers often carry no
        // setSpec, or only some).
        if input.deleted {
            if let Some(old) = old_record {
                let mut kept = old.sets.clone();
                kept.extend(sets.into_iter().filter(|s| !old.sets.contains(s)));
                sets = kept;
            }
        }
        let hash = content_hash(input, &sets);
        let identifier = input.identifier.as_ref().to_owned();
        if let Some(old_record) = old_record {
            let outcome = if old_record.origin != input.origin {
                Some(PutOutcome::Rejected)
            } else if old_record.content_hash == hash {
                Some(PutOutcome::Unchanged)
            } else {
                None
            };
            if let Some(outcome) = outcome {
                return (
                    Prepared {
                        identifier,
                        old: old.cloned(),
                        new: old_record.clone(),
                        rendered: Vec::new(),
                        outcome,
                        writer: input.origin.clone(),
                    },
                    stripped,
                );
            }
        }
        let formats: Vec<String> = if input.deleted {
            old_record
                .map(|o| o.formats.clone())
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
                (f.clone(), vlog::pack(r.bytes, header_end, compress))
            })
            .collect();
        let outcome = match (old_record, input.deleted) {
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
            local_fields: input.local_fields.clone(),
            rendered: Vec::new(),
            origin: input.origin.clone(),
        };
        (
            Prepared {
                identifier,
                old: old.cloned(),
                new,
                rendered,
                outcome,
                writer: input.origin.clone(),
            },
            stripped,
        )
    }

    /// Prepares each record against the stored one, or against the one an earlier record of
    /// the batch wrote.
    pub(crate) fn prepare_all(
        &self,
        records: &mut [RecordInput],
        now: Datestamp,
    ) -> Result<(Vec<Prepared>, usize), StoreError> {
        let compress = self.inner.vlog.compresses();
        prepare_each(
            &self.index(),
            records.iter_mut().collect(),
            |r| r.identifier.as_ref(),
            |input, old| Store::prepare(input, old, now, compress),
        )
    }

    /// Writes records; each one, with all its index entries and counters, lands atomically (an
    /// intent makes the batch whole again after a crash). Unchanged records keep their datestamp.
    ///
    /// # Errors
    /// A storage failure, after which nothing of the batch is visible; [`StoreError::ReadOnly`]
    /// when the disk is full.
    pub fn put_batch(&self, mut records: Vec<RecordInput>) -> Result<BatchOutcome, StoreError> {
        let mut state = self.lock_write();
        let (now, _in_flight) = self.begin_write();
        let (prepared, stripped) = self.prepare_all(&mut records, now)?;
        self.commit(&mut state, prepared, stripped, None)
    }

    /// Marks a batch as being written and returns its datestamp; the mark lasts as long as
    /// the guard.
    ///
    /// Records are stamped before their batch commits. While a mark is set, lists are
    /// answered as of the earliest marked second ([`Store::visible_until`]), so that a record
    /// that becomes visible after a response's responseDate is never dated before it.
    pub(crate) fn begin_write(&self) -> (Datestamp, ahead::InFlight) {
        // Marked first, stamped after: any stamp is at or after the mark.
        let mark = self.inner.marks.mark(Datestamp::now().unix());
        (Datestamp::now(), mark)
    }

    /// The latest moment a list may be answered as of: `now`, or the earliest second of the
    /// batches being written if any is.
    pub fn visible_until(&self, now: Datestamp) -> Datestamp {
        now.min(Datestamp::from_unix(self.inner.marks.earliest()))
    }

    /// What writing `record` would do, without writing anything (for dry runs).
    pub fn classify(&self, record: &RecordInput) -> Result<PutOutcome, StoreError> {
        let old = Store::current(&self.index(), record.identifier.as_ref())?;
        Ok(
            // Only the outcome is wanted: nothing is compressed.
            Store::prepare(&mut record.clone(), old.as_ref(), Datestamp::now(), false)
                .0
                .outcome,
        )
    }

    /// Writes one record (see [`Store::put_batch`]).
    pub fn put(&self, record: RecordInput) -> Result<PutOutcome, StoreError> {
        Ok(self.put_batch(vec![record])?.outcomes[0])
    }

    /// Checks every record against the indexes and its bytes in the value log, and every index
    /// entry and counter against the records; returns a description of each problem found.
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        let _state = self.lock_write();
        rebuild::check(self)
    }

    /// Like [`Store::check`], and rebuilds every index from the records, which are the source of
    /// truth (and defines missing sets). Records whose bytes are gone are named; they cannot
    /// be rebuilt. Returns the problems found.
    pub fn repair(&self) -> Result<Vec<String>, StoreError> {
        let mut state = self.lock_write();
        self.writable()?;
        let problems = rebuild::check(self)?;
        if !problems.is_empty() {
            rebuild::repair(self, &mut state).map_err(|e| self.on_write_error(e))?;
        }
        drop(state);
        self.flush()?;
        Ok(problems)
    }

    #[cfg(test)]
    pub(crate) fn set_ooo_min(&self, n: u64) {
        self.inner.ooo_min.store(n, Ordering::SeqCst);
    }
}

/// The file the store keeps in reserve for a full disk (see [`Store::open_with`]).
const RESERVE_FILE: &str = "reserve";
/// Its size: more than sled writes when it opens.
pub const RESERVE_BYTES: u64 = 4 << 20;

/// Creates the reserve file unless it is there.
fn make_reserve(path: &Path) -> std::io::Result<()> {
    if path.metadata().is_ok_and(|m| m.len() == RESERVE_BYTES) {
        return Ok(());
    }
    let file = std::fs::File::create(path)?;
    if let Err(e) = fs4::FileExt::allocate(&file, RESERVE_BYTES).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Batches from this size are rendered on every core.
const PARALLEL_FROM: usize = 16;

/// The stored version of a record: (seq, flags, record).
type Current = (u64, u8, StoredRecord);

/// Prepares each item with `one`, against the stored version of its record (`id` names it),
/// or against the version an earlier item of the batch wrote; returns them in order, with
/// the characters stripped.
pub(crate) fn prepare_each<T: Send>(
    index: &Index,
    items: Vec<T>,
    id: impl Fn(&T) -> &str,
    one: impl Fn(T, Option<&Current>) -> (Prepared, usize) + Sync,
) -> Result<(Vec<Prepared>, usize), StoreError> {
    let ids: BTreeSet<&str> = items.iter().map(&id).collect();
    let distinct = ids.len() == items.len();
    drop(ids);
    if distinct && items.len() >= PARALLEL_FROM {
        // Every identifier once: each record is rendered against the stored version alone,
        // so rendering (most of a write's work) can use every core.
        let olds = items
            .iter()
            .map(|item| Store::current(index, id(item)))
            .collect::<Result<Vec<_>, _>>()?;
        let jobs: Vec<_> = items.into_iter().zip(olds).collect();
        let done = par_map(jobs, |(item, old)| one(item, old.as_ref()));
        let stripped = done.iter().map(|(_, s)| s).sum();
        return Ok((done.into_iter().map(|(p, _)| p).collect(), stripped));
    }
    let mut prepared: Vec<Prepared> = Vec::with_capacity(items.len());
    let mut overlay: BTreeMap<String, usize> = BTreeMap::new();
    let mut stripped_total = 0;
    for item in items {
        let key = id(&item).to_owned();
        let old = match overlay.get(&key) {
            // Against the version this batch already wrote (the stored one is the first
            // write's `old`, which is what the commit replaces).
            Some(&i) => Some((write::PENDING, 0, prepared[i].new.clone())),
            None => Store::current(index, &key)?,
        };
        let (p, stripped) = one(item, old.as_ref());
        stripped_total += stripped;
        overlay.insert(key, prepared.len());
        prepared.push(p);
    }
    Ok((prepared, stripped_total))
}

/// `f` over `items` on every core, results in input order.
pub(crate) fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < 2 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(per).collect());
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("Rendering a record does not panic."))
            .collect()
    })
}

/// True when `path` holds a store (sled's `conf` and `db` files, or `db` and the marker of an
/// index swap that open finishes), so that commands that only read or convert a store never
/// create one in a directory that is something else.
pub fn is_store(path: &Path) -> bool {
    path.join("db").is_file() && (path.join("conf").is_file() || path.join(swap::MARKER).is_file())
}

/// True when the tree `name` belongs to a generation of the index other than `gen`.
pub(crate) fn of_other_generation(name: &[u8], gen: u64) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    let generational = name.rsplit_once('.').is_some_and(|(base, n)| {
        ["pages", "ids", "lists", "ooo", "counts"].contains(&base) && n.parse::<u64>().is_ok()
    });
    generational && !index::tree_names(gen).iter().any(|k| k == name)
}

/// How long a sled that another handle of this store just closed may take to let its lock go.
const SLED_RELEASE_WAIT: Duration = Duration::from_secs(2);

/// Opens sled for a store whose own lock is held: a sled lock still held then belongs to a
/// handle closing at this moment (its last thread ends a little after the drop), or to a
/// process of a version without the store's lock, which is [`StoreError::Locked`].
fn open_sled_waiting(path: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    drop_unfinished_snapshots(path);
    if path.join("db").is_file() {
        wait_released(path, SLED_RELEASE_WAIT)?;
    }
    open_sled(path, cache_capacity_bytes)
}

/// Waits, for at most `within`, until no sled holds the database in `dir`: a dropped sled
/// lets its lock go when its last thread ends, which may be a moment later, and only then are
/// its files final.
///
/// # Errors
/// [`StoreError::Locked`] when it is still held after `within`.
pub(crate) fn wait_released(dir: &Path, within: Duration) -> Result<(), StoreError> {
    let path = dir.join("db");
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    let started = std::time::Instant::now();
    loop {
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => return fs4::FileExt::unlock(&file).map_err(io),
            Err(fs4::TryLockError::WouldBlock) if started.elapsed() < within => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: dir.to_path_buf(),
                })
            }
            Err(fs4::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
}

fn open_sled(path: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(path)
        .cache_capacity(cache_capacity_bytes)
        .flush_every_ms(Some(500))
        .open()
        .map_err(|e| match e {
            sled::Error::Io(ref io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked {
                    path: path.to_path_buf(),
                }
            }
            other => StoreError::Sled(other),
        })
}

/// Removes the snapshot files sled was still writing when its process died.
///
/// sled 0.34 writes a snapshot to `snap.LSN.generating`, then renames it `snap.LSN`; but at
/// open it takes the last `snap.*` name, `.generating` included, and refuses to open at all
/// when that file is cut short (a kill -9 during a snapshot leaves the store closed for good;
/// sled issue #1527). An unfinished snapshot was never in use: without it sled takes the one
/// before, or none, and replays its log from there, as it would have.
fn drop_unfinished_snapshots(path: &Path) {
    let Ok(entries) = std::fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::warn!(file = %name, "Removed an unfinished sled snapshot."),
                // sled then says why it cannot open.
                Err(error) => {
                    tracing::warn!(file = %name, %error, "Cannot remove an unfinished sled snapshot.");
                }
            }
        }
    }
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

#[cfg(test)]
mod tests;
