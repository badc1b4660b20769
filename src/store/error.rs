//! Errors of the storage layer.

use std::path::PathBuf;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (usually a running `moisson serve`) holds the store.
    #[error(
        "the store at {path} is in use by another process (is `moisson serve` running on it?)"
    )]
    Locked {
        /// The store directory.
        path: PathBuf,
    },
    /// A file of the store could not be read or written.
    #[error("cannot access {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// sled failed.
    #[error("storage engine error: {0}")]
    Sled(#[from] sled::Error),
    /// A stored value could not be decoded: the store is damaged or from a newer version.
    #[error("stored value under {key} is unreadable: {message}")]
    Corrupt {
        /// Which key.
        key: String,
        /// What went wrong.
        message: String,
    },
    /// The store cannot write (the disk is full or read-only); it still serves reads.
    #[error(
        "the store at {path} is read-only ({reason}); this process committed {committed} records before that, and nothing of this write was stored"
    )]
    ReadOnly {
        /// The store directory.
        path: PathBuf,
        /// Why it cannot write.
        reason: String,
        /// Records committed by this process before the store became read-only.
        committed: u64,
    },
    /// The store was written by an earlier version, in a layout this one does not read.
    #[error(
        "the store at {path} was written by an earlier version of moisson (layout 1): run `moisson upgrade` to convert it in place (or export it with the earlier version and `moisson import dc` the export into a new store)"
    )]
    NeedsUpgrade {
        /// The store directory.
        path: PathBuf,
    },
    /// The store was written by a later version.
    #[error(
        "the store at {path} has layout {layout}, written by a later version of moisson; use that version"
    )]
    TooNew {
        /// The store directory.
        path: PathBuf,
        /// Its layout version.
        layout: u8,
    },
    /// The caller asked for something the store refuses.
    #[error("{0}")]
    Invalid(String),
}

impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}
