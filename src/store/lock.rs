//! The store's own exclusive lock: the file `lock` in the store directory, locked for as long
//! as a [`Store`](super::Store) (or `moisson upgrade`) has the store open.
//!
//! sled locks its `db` file too, but only while its database is open; `moisson compact` closes
//! sled to swap its files (`swap.rs`) and must keep every other process out meanwhile. The
//! lock is taken before sled is opened and before an interrupted swap is finished.
//!
//! On a full or read-only disk the lock file may not be creatable: a store that has one (every
//! store this version opened once) is locked through a read-only handle; one that has none is
//! opened without it, guarded by sled's lock alone, and `moisson compact` then does not swap
//! sled's files (`Store::compact_offline` needs the lock).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::{cannot_write, StoreError};

/// The lock file's name in the store directory.
pub(crate) const LOCK_FILE: &str = "lock";

/// The held lock (released when dropped, or when the process ends, even by kill -9).
#[derive(Debug)]
pub(crate) struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store in `dir`, creating the directory and the file if needed;
    /// `None` when the file is missing and cannot be created because the disk takes no writes.
    ///
    /// # Errors
    /// [`StoreError::Locked`] when another handle holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<Option<StoreLock>, StoreError> {
        StoreLock::acquire_with(dir, open)
    }

    /// [`StoreLock::acquire`], creating the file with `open` (a test seam for a full disk).
    fn acquire_with(
        dir: &Path,
        open: impl Fn(&Path, &PathBuf) -> std::io::Result<File>,
    ) -> Result<Option<StoreLock>, StoreError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = match open(dir, &path) {
            Ok(file) => file,
            Err(e) if cannot_write(&e) => match File::open(&path) {
                Ok(file) => file,
                Err(_) => return Ok(None),
            },
            Err(e) => return Err(io(e)),
        };
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(fs4::TryLockError::WouldBlock) => Err(StoreError::Locked {
                path: dir.to_path_buf(),
            }),
            Err(fs4::TryLockError::Error(e)) => Err(io(e)),
        }
    }
}

fn open(dir: &Path, path: &PathBuf) -> std::io::Result<File> {
    std::fs::create_dir_all(dir)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_the_same_store_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::acquire(dir.path()).unwrap();
        assert!(first.is_some());
        assert!(matches!(
            StoreLock::acquire(dir.path()),
            Err(StoreError::Locked { .. })
        ));
        drop(first);
        assert!(StoreLock::acquire(dir.path()).unwrap().is_some());
    }

    fn full_disk(_: &Path, _: &PathBuf) -> std::io::Result<File> {
        Err(std::io::Error::from_raw_os_error(28))
    }

    #[test]
    fn on_a_full_disk_an_existing_lock_file_still_locks_and_a_missing_one_is_done_without() {
        let dir = tempfile::tempdir().unwrap();
        assert!(StoreLock::acquire_with(dir.path(), full_disk)
            .unwrap()
            .is_none());
        assert!(!dir.path().join(LOCK_FILE).exists());
        drop(StoreLock::acquire(dir.path()).unwrap());
        let held = StoreLock::acquire_with(dir.path(), full_disk).unwrap();
        assert!(held.is_some(), "locked through a read-only handle");
        assert!(matches!(
            StoreLock::acquire_with(dir.path(), full_disk),
            Err(StoreError::Locked { .. })
        ));
    }
}
