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
