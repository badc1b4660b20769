//! Upgrading a store of layout 1 in place (`moisson upgrade`).
//!
//! Layout 1 kept one sled key per record (`records`), one per index entry (`by_datestamp`,
//! `by_set`), counters in `counts`, and uncompressed blobs in `rendered/`. Its `meta`, `sets`
//! and `harvest_state` trees are read the same by layout 2 and are kept as they are.
//!
//! The upgrade writes the value log anew under `values/`, loads every record as an
//! out-of-order slot of a scratch generation, rebuilds from it in list order, and commits by
//! writing the layout version last. Until then the old trees and blobs are untouched, so an
//! interrupted upgrade is simply run again; after it, they are deleted.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::index::{Cursor, Index, Selection};
use super::rebuild::{self, drop_generation};
use super::vlog::{DiskFiles, ValueLog};
use super::{
    codec, legacy, open_sled_waiting, State, StoreError, StoreOptions, StoredRecord, LAYOUT,
    LAYOUT_KEY, STATE_KEY, VALUE_DIR,
};

const LEGACY_TREES: [&str; 4] = ["records", "by_datestamp", "by_set", "counts"];
const LEGACY_BLOBS: &str = "rendered";
/// A record to convert: identifier, record, rendered forms (bytes, end of the header).
type Converted = (String, StoredRecord, Vec<(Vec<u8>, u32)>);
/// Records converted between two appends to the value log.
const BATCH: usize = 1000;

/// What `moisson upgrade` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpgradeOutcome {
    /// Records converted.
    pub records: u64,
    /// Records left out because their rendered bytes were gone, each with the reason.
    pub lost: Vec<String>,
}

/// True when `db` holds records in layout 1.
pub(crate) fn is_legacy(db: &sled::Db) -> Result<bool, StoreError> {
    let has = db.tree_names().iter().any(|n| n.as_ref() == b"records");
    Ok(has && !db.open_tree("records")?.is_empty())
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl super::Store {
    /// Converts the store in `path` from layout 1 in place; `None` when there is nothing to do.
    ///
    /// # Errors
    /// A storage failure; the store is then still in layout 1 and the upgrade can be run again.
    pub fn upgrade(
        path: &Path,
        options: &StoreOptions,
    ) -> Result<Option<UpgradeOutcome>, StoreError> {
        let _lock = super::lock::StoreLock::acquire(path)?;
        super::swap::recover(path)?;
        let db = open_sled_waiting(path, options.cache_capacity_bytes)?;
        let meta = db.open_tree("meta")?;
        match meta.get(LAYOUT_KEY)?.as_deref() {
            Some([LAYOUT]) => return Ok(None),
            Some([layout]) => {
                return Err(StoreError::TooNew {
                    path: path.to_path_buf(),
                    layout: *layout,
                })
            }
            _ => {}
        }
        if !is_legacy(&db)? {
            return Ok(None);
        }
        // What an interrupted upgrade left.
        for gen in rebuild::generations(&db) {
            drop_generation(&db, gen)?;
        }
        let values = path.join(VALUE_DIR);
        if values.exists() {
            std::fs::remove_dir_all(&values).map_err(io(&values))?;
        }
        let files = Arc::new(DiskFiles::new(&values).map_err(io(&values))?);
        let vlog = ValueLog::open(files, None, options.segment_bytes, options.compress)
            .map_err(io(&values))?;
        let blob_dir = path.join(LEGACY_BLOBS);
        let old_blobs = legacy::BlobLog::open(&blob_dir).map_err(io(&blob_dir))?;
        let scratch = Arc::new(Index::open(&db, 1)?);
        let mut outcome = UpgradeOutcome::default();
        let mut batch: Vec<Converted> = Vec::new();
        let mut seq = 0;
        for item in &db.open_tree("records")? {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let record = codec::decode_record(&k, &v)?;
            match legacy_blobs(&old_blobs, &record) {
                Ok(raw) => batch.push((id, record, raw)),
                Err(e) => outcome.lost.push(format!("{id}: {e}")),
            }
            if batch.len() == BATCH {
                seq = convert(&vlog, &scratch, seq, std::mem::take(&mut batch), &values)?;
            }
        }
        seq = convert(&vlog, &scratch, seq, batch, &values)?;
        outcome.records = seq;
        let index = Index::open(&db, 2)?;
        let source = Cursor::new(
            scratch,
            Selection {
                format: None,
                set: None,
                from: None,
                until: i64::MAX,
                after: None,
            },
            seq,
        )?;
        let built = rebuild::build(&db, &db.open_tree("sets")?, &index, source)?;
        let state = State {
            gen: 2,
            next_seq: built.next_seq,
            run_tail: built.run_tail,
            records: built.records,
            deleted: built.deleted,
            vlog_end: vlog.end(),
            segments: built.segments,
            ..State::default()
        };
        let mut commit = sled::Batch::default();
        commit.insert(STATE_KEY, codec::encode(&state));
        commit.insert(LAYOUT_KEY, &[LAYOUT]);
        meta.apply_batch(commit)?;
        db.flush()?;
        drop_generation(&db, 1)?;
        for t in LEGACY_TREES {
            db.drop_tree(t)?;
        }
        db.flush()?;
        drop(old_blobs);
        std::fs::remove_dir_all(&blob_dir).map_err(io(&blob_dir))?;
        Ok(Some(outcome))
    }
}

/// The rendered forms of a record of layout 1, each checked against its CRC.
fn legacy_blobs(
    blobs: &legacy::BlobLog,
    record: &StoredRecord,
) -> Result<Vec<(Vec<u8>, u32)>, String> {
    record
        .rendered
        .iter()
        .map(|r| {
            let r = legacy::BlobRef::decode(r).ok_or("a malformed blob reference")?;
            let mut out = Vec::new();
            blobs
                .read_into(&r, false, &mut out)
                .map_err(|e| format!("its rendered bytes are gone ({e})"))?;
            Ok((out, r.header_end))
        })
        .collect()
}

/// Appends a batch's blobs to the new log and its records as out-of-order slots.
fn convert(
    vlog: &ValueLog,
    scratch: &Index,
    seq: u64,
    batch: Vec<Converted>,
    values: &Path,
) -> Result<u64, StoreError> {
    let raw: Vec<(&[u8], u32)> = batch
        .iter()
        .flat_map(|(_, _, blobs)| blobs.iter().map(|(b, h)| (b.as_slice(), *h)))
        .collect();
    let (refs, _) = vlog.append(&raw).map_err(io(values))?;
    let mut refs = refs.into_iter();
    let records = batch
        .into_iter()
        .map(|(id, mut record, blobs)| {
            record.rendered = blobs
                .iter()
                .map(|_| {
                    refs.next()
                        .expect("one reference per blob")
                        .encode()
                        .to_vec()
                })
                .collect();
            (id, record)
        })
        .collect();
    rebuild::load_unordered(scratch, seq, records)
}
