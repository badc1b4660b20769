//! Giving back sled's space: `moisson compact` copies the trees in use into a fresh sled
//! database beside the store and swaps it in.
//!
//! sled never shrinks its files: old generations of the index and old versions of pages stay
//! in its log until the database is rewritten. So, offline, with the store's lock held
//! (`lock.rs`) from the start to the end:
//! 1. **Build**: every tree still used (all but other generations of the index) is copied
//!    into a new database in `.index-new/`, compared by checksum, flushed; sled is closed
//!    (its lock released), and every file and directory of it is fsynced. The old sled is
//!    closed the same way before anything moves.
//! 2. **Marker**: `.index-swap` is written (tmp file, fsync, rename, fsync of the directory).
//!    From then on the new database is complete and durable, and the swap only goes forward.
//! 3. **Aside**: the old `conf`, `blobs/` and `snap.*` move into `.index-aside/`, which is
//!    then renamed `.index-old/` (the end of this phase, atomic).
//! 4. **In**: every file of `.index-new/` but `db` moves into the store directory.
//! 5. **Commit**: `.index-new/db` is renamed over the old `db`, atomically; the directory is
//!    fsynced.
//! 6. **Cleanup**: the marker is removed (fsynced), then the side directories.
//!
//! Why a crash at any instant is safe: every move is a `rename` within one file system, so
//! each file is whole in one place or the other; the directory is fsynced at the end of every
//! phase, so no later phase's rename is durable before an earlier one. Without a marker, the
//! store directory holds the old database untouched (a side directory is an unfinished build,
//! or leftovers of a finished swap) and open deletes the side directories. With a marker,
//! `.index-new/` is complete, and open finishes the swap ([`recover`]) before sled is
//! opened: phase 3 is redone unless `.index-old/` exists (only old files are in the directory
//! until then), phase 4 moves what is left, phase 5 happens unless `.index-new/db` is gone
//! (it is renamed only once). The marker goes only after the commit is durable. Finishing
//! writes nothing but directory entries (renames, removals, one empty directory), so a disk
//! full enough to refuse those is the only thing that can keep a store from opening.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{open_sled, wait_released, StoreError};

/// The new database, while it is built and until it is swapped in.
pub(crate) const NEW_DIR: &str = ".index-new";
/// Where the old files go during phase 3.
const ASIDE_DIR: &str = ".index-aside";
/// The old files, once phase 3 is over.
const OLD_DIR: &str = ".index-old";
/// Present from the moment the new database is complete until the swap is committed.
pub(crate) const MARKER: &str = ".index-swap";
/// The marker while it is written.
const MARKER_TMP: &str = ".index-swap.tmp";
/// Bytes of keys and values per batch of the copy.
const BATCH_BYTES: usize = 8 << 20;
/// How long a closed sled may take to release its lock.
pub(crate) const RELEASE_WAIT: Duration = Duration::from_secs(10);

fn io(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A test hook: fails as if the process had died after step `n` when `stop` is `n`.
pub(crate) fn step(stop: u64, n: u64) -> Result<(), StoreError> {
    if stop == n {
        return Err(StoreError::Invalid(format!(
            "index swap stopped after step {n}"
        )));
    }
    Ok(())
}

/// True for the files sled keeps in its directory, besides `db`.
fn is_sled_file(name: &str) -> bool {
    name == "conf" || name == "blobs" || name.starts_with("snap.")
}

/// Bytes of sled's files in the store directory `root` (`conf`, `db`, `blobs/`, `snap.*`).
pub(crate) fn sled_bytes(root: &Path) -> Result<u64, StoreError> {
    let mut total = 0;
    for entry in std::fs::read_dir(root).map_err(io(root))? {
        let entry = entry.map_err(io(root))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "db" || is_sled_file(&name) {
            total += disk_bytes(&entry.path())?;
        }
    }
    Ok(total)
}

fn disk_bytes(path: &Path) -> Result<u64, StoreError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(io(path))? {
        total += disk_bytes(&entry.map_err(io(path))?.path())?;
    }
    Ok(total)
}

/// Step 1: copies the trees of `old` that `keep` accepts into a new database in
/// `root/.index-new`, then closes it and makes it durable.
pub(crate) fn build(
    old: &sled::Db,
    root: &Path,
    keep: impl Fn(&[u8]) -> bool,
    cache_capacity_bytes: u64,
    stop: u64,
) -> Result<(), StoreError> {
    let dir = root.join(NEW_DIR);
    remove_dir(&dir)?;
    let new = open_sled(&dir, cache_capacity_bytes)?;
    let copied = copy_trees(old, &new, keep, stop).and_then(|()| Ok(new.flush().map(drop)?));
    // Even a failed build lets its sled end before going on, so that nothing writes into
    // `.index-new` once this returns.
    drop(new);
    wait_released(&dir, RELEASE_WAIT)?;
    copied?;
    sync_all(&dir)?;
    sync_dir(root)
}

/// Copies the trees of `old` that `keep` accepts into `new`.
fn copy_trees(
    old: &sled::Db,
    new: &sled::Db,
    keep: impl Fn(&[u8]) -> bool,
    stop: u64,
) -> Result<(), StoreError> {
    for name in old.tree_names() {
        if keep(&name) {
            copy_tree(&old.open_tree(&name)?, &new.open_tree(&name)?)?;
            step(stop, 0)?;
        }
    }
    Ok(())
}

/// Copies every key of `from` into the empty `to`, in batches, and checks the copy.
fn copy_tree(from: &sled::Tree, to: &sled::Tree) -> Result<(), StoreError> {
    let mut batch = sled::Batch::default();
    let mut bytes = 0;
    for item in from {
        let (k, v) = item?;
        bytes += k.len() + v.len();
        batch.insert(k, v);
        if bytes >= BATCH_BYTES {
            to.apply_batch(std::mem::take(&mut batch))?;
            bytes = 0;
        }
    }
    to.apply_batch(batch)?;
    if from.checksum()? != to.checksum()? {
        return Err(StoreError::Corrupt {
            key: String::from_utf8_lossy(&from.name()).into_owned(),
            message: "the copy of this tree differs from the tree".into(),
        });
    }
    Ok(())
}

/// Steps 2 to 6: swaps the database built in `root/.index-new` in, sled being closed.
pub(crate) fn commit(root: &Path, stop: u64) -> Result<(), StoreError> {
    write_marker(root)?;
    step(stop, 2)?;
    finish(root, stop)
}

/// At open, before sled: finishes a swap that has its marker, or deletes what an unfinished
/// build or a finished swap left.
pub(crate) fn recover(root: &Path) -> Result<(), StoreError> {
    if root.join(MARKER).exists() {
        tracing::warn!(
            store = %root.display(),
            "Finishing the index swap an interrupted `moisson compact` began."
        );
        return finish(root, u64::MAX);
    }
    for dir in [NEW_DIR, ASIDE_DIR, OLD_DIR] {
        remove_dir(&root.join(dir))?;
    }
    let tmp = root.join(MARKER_TMP);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&tmp)(e)),
        _ => Ok(()),
    }
}

/// Phases 3 to 6, each redone or skipped as what is on disk says.
fn finish(root: &Path, stop: u64) -> Result<(), StoreError> {
    let new = root.join(NEW_DIR);
    if !new.is_dir() {
        return Err(StoreError::Corrupt {
            key: root.join(MARKER).display().to_string(),
            message: format!("an index swap without its new database {}", new.display()),
        });
    }
    let old = root.join(OLD_DIR);
    if !old.is_dir() {
        let aside = root.join(ASIDE_DIR);
        std::fs::create_dir_all(&aside).map_err(io(&aside))?;
        move_entries(root, &aside, is_sled_file, stop, 3)?;
        sync_dir(&aside)?;
        sync_dir(root)?;
        std::fs::rename(&aside, &old).map_err(io(&aside))?;
        sync_dir(root)?;
    }
    step(stop, 4)?;
    move_entries(&new, root, |name| name != "db", stop, 5)?;
    sync_dir(&new)?;
    sync_dir(root)?;
    step(stop, 6)?;
    let new_db = new.join("db");
    if new_db.exists() {
        std::fs::rename(&new_db, root.join("db")).map_err(io(&new_db))?;
        sync_dir(&new)?;
        sync_dir(root)?;
    }
    step(stop, 7)?;
    let marker = root.join(MARKER);
    std::fs::remove_file(&marker).map_err(io(&marker))?;
    sync_dir(root)?;
    step(stop, 8)?;
    for dir in [NEW_DIR, OLD_DIR] {
        remove_dir(&root.join(dir))?;
    }
    Ok(())
}

/// Renames the entries of `from` that `pick` accepts into `to`; stops after the first at
/// `step` (a test hook).
fn move_entries(
    from: &Path,
    to: &Path,
    pick: impl Fn(&str) -> bool,
    stop: u64,
    n: u64,
) -> Result<(), StoreError> {
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let name = entry.map_err(io(from))?.file_name();
        if let Some(name) = name.to_str().filter(|n| pick(n)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    for name in names {
        let source = from.join(&name);
        std::fs::rename(&source, to.join(&name)).map_err(io(&source))?;
        step(stop, n)?;
    }
    Ok(())
}

/// Writes the marker durably: tmp file, fsync, rename, fsync of the directory.
fn write_marker(root: &Path) -> Result<(), StoreError> {
    let tmp = root.join(MARKER_TMP);
    let mut file = File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(b"moisson: the index in .index-new is complete; open swaps it in\n")
        .and_then(|()| file.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, root.join(MARKER)).map_err(io(&tmp))?;
    sync_dir(root)
}

fn remove_dir(dir: &PathBuf) -> Result<(), StoreError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(dir)(e)),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// fsyncs every file and directory under `dir`, and `dir`.
fn sync_all(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_dir() {
            sync_all(&path)?;
        } else {
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_marker_open_deletes_what_an_unfinished_build_left() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(NEW_DIR).join("blobs")).unwrap();
        std::fs::write(root.path().join(NEW_DIR).join("db"), b"half").unwrap();
        std::fs::write(root.path().join(MARKER_TMP), b"torn").unwrap();
        std::fs::write(root.path().join("db"), b"old").unwrap();
        recover(root.path()).unwrap();
        assert!(!root.path().join(NEW_DIR).exists());
        assert!(!root.path().join(MARKER_TMP).exists());
        assert_eq!(std::fs::read(root.path().join("db")).unwrap(), b"old");
    }

    #[test]
    fn a_marker_without_its_new_database_is_refused_rather_than_guessed_at() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join(MARKER), b"").unwrap();
        std::fs::write(root.path().join("db"), b"old").unwrap();
        let err = recover(root.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(root.path().join("db")).unwrap(), b"old");
    }

    #[test]
    fn a_marker_moves_the_old_files_aside_and_the_new_ones_in_whatever_was_done() {
        let root = tempfile::tempdir().unwrap();
        let (r, new) = (root.path(), root.path().join(NEW_DIR));
        std::fs::create_dir_all(&new).unwrap();
        for (dir, tag) in [(r, "old"), (new.as_path(), "new")] {
            for name in ["db", "conf", "snap.00000001"] {
                std::fs::write(dir.join(name), tag).unwrap();
            }
        }
        // As if the process had died after moving `conf` in (phase 4 half done).
        std::fs::write(r.join(MARKER), b"").unwrap();
        std::fs::create_dir(r.join(OLD_DIR)).unwrap();
        for name in ["conf", "snap.00000001"] {
            std::fs::rename(r.join(name), r.join(OLD_DIR).join(name)).unwrap();
        }
        std::fs::rename(new.join("conf"), r.join("conf")).unwrap();
        recover(r).unwrap();
        for name in ["db", "conf", "snap.00000001"] {
            assert_eq!(std::fs::read(r.join(name)).unwrap(), b"new", "{name}");
        }
        for side in [NEW_DIR, OLD_DIR, ASIDE_DIR, MARKER] {
            assert!(!r.join(side).exists(), "{side}");
        }
        assert_eq!(sled_bytes(r).unwrap(), 9);
    }
}
