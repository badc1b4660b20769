//! One harvest per source at a time: an exclusive lock, held for the whole harvest.
//!
//! Two mechanisms, because two kinds of harvest can meet: an in-process registry (two admin
//! requests to one server) and, for a store on disk, an exclusive `flock` on
//! `<store>/harvest-<source>.lock` (a `moisson harvest` process and a server, or two
//! processes). The operating system releases the file lock when the process dies, so a
//! `kill -9` never leaves a stale lock behind.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use super::error::HarvestError;
use crate::store::HarvestSink;

static HELD: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// A held source lock; dropping it releases the lock.
#[derive(Debug)]
pub struct SourceLock {
    key: String,
    _file: Option<File>,
}

/// The lock file of `source` in a store directory.
pub fn lock_path<S: HarvestSink>(store: &S, source: &str) -> Option<PathBuf> {
    store
        .path()
        .map(|dir| dir.join(format!("harvest-{source}.lock")))
}

impl SourceLock {
    /// Takes the lock of `source` in `store`, without waiting.
    ///
    /// # Errors
    /// [`HarvestError::AlreadyRunning`] when it is held, or [`HarvestError::Lock`] when the
    /// lock file cannot be made.
    pub fn acquire<S: HarvestSink>(store: &S, source: &str) -> Result<SourceLock, HarvestError> {
        let busy = || HarvestError::AlreadyRunning {
            source_name: source.to_owned(),
        };
        let key = format!("{}\0{source}", store.instance_id()?);
        {
            let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
            if !held.get_or_insert_with(HashSet::new).insert(key.clone()) {
                return Err(busy());
            }
        }
        let release = |key: &str| {
            if let Some(set) = HELD.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
                set.remove(key);
            }
        };
        let file = match lock_path(store, source) {
            None => None,
            Some(path) => {
                let lock_error = |source| HarvestError::Lock {
                    path: path.clone(),
                    source,
                };
                let file = match OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                {
                    Ok(f) => f,
                    Err(e) => {
                        release(&key);
                        return Err(lock_error(e));
                    }
                };
                match fs4::FileExt::try_lock(&file) {
                    Ok(()) => Some(file),
                    Err(fs4::TryLockError::WouldBlock) => {
                        release(&key);
                        return Err(busy());
                    }
                    Err(fs4::TryLockError::Error(e)) => {
                        release(&key);
                        return Err(lock_error(e));
                    }
                }
            }
        };
        Ok(SourceLock { key, _file: file })
    }
}

impl Drop for SourceLock {
    fn drop(&mut self) {
        if let Some(set) = HELD.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
            set.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_second_lock_of_the_same_source_is_refused_until_the_first_is_dropped() {
        let store = Store::temporary().unwrap();
        let first = SourceLock::acquire(&store, "a").unwrap();
        assert!(matches!(
            SourceLock::acquire(&store, "a"),
            Err(HarvestError::AlreadyRunning { .. })
        ));
        let other = SourceLock::acquire(&store, "b").unwrap();
        let elsewhere = Store::temporary().unwrap();
        let _ = SourceLock::acquire(&elsewhere, "a").unwrap();
        drop(first);
        drop(other);
        SourceLock::acquire(&store, "a").unwrap();
    }

    #[test]
    fn a_lock_file_held_by_another_handle_means_already_running() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), 1 << 20).unwrap();
        let path = lock_path(&store, "a").unwrap();
        let other = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap();
        fs4::FileExt::try_lock(&other).unwrap();
        assert!(matches!(
            SourceLock::acquire(&store, "a"),
            Err(HarvestError::AlreadyRunning { .. })
        ));
        fs4::FileExt::unlock(&other).unwrap();
        SourceLock::acquire(&store, "a").unwrap();
    }
}
