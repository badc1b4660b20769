//! The value log: rendered records, each compressed with LZ4, appended to segment files beside
//! sled, and referenced from the index by a [`BlobRef`] that carries the CRC-32 of the stored
//! bytes.
//!
//! - **Sync before reference.** [`ValueLog::append`] writes and fsyncs the bytes before it
//!   returns the references, so no sled write (durable or not) can point at bytes the disk has
//!   not got. On rollover the previous segment is fsynced and the directory too, so that the new
//!   file survives a power loss.
//! - **CRC on every read**, whole records and headers alike: a reference to lost or foreign bytes
//!   is an error, never a wrong answer.
//! - **Torn tail.** The store records in sled the end of the last committed append; at open the
//!   log is cut back to it ([`ValueLog::open`]), so bytes whose batch never committed are dropped
//!   instead of being appended after.
//! - **Files behind a trait** ([`FileLayer`]), so that tests can put a layer under the log that
//!   loses every unsynced write at a chosen moment (`fault`, in tests).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// Where a stored blob is, how to check it and how to unpack it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// Segment number.
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Stored (compressed) length in bytes.
    pub len: u32,
    /// Length once decompressed.
    pub raw_len: u32,
    /// CRC-32 of the stored bytes.
    pub crc: u32,
    /// End of the `<header>` element within the decompressed bytes (for ListIdentifiers).
    pub header_end: u32,
    /// How the bytes are stored: [`RAW`] or [`LZ4`].
    pub codec: u8,
}

/// Stored as rendered.
pub const RAW: u8 = 0;
/// LZ4 block compression.
pub const LZ4: u8 = 1;

impl BlobRef {
    /// Encoded size.
    pub const SIZE: usize = 29;

    /// Encodes as [`BlobRef::SIZE`] bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.segment.to_le_bytes());
        b[4..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.raw_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.crc.to_le_bytes());
        b[24..28].copy_from_slice(&self.header_end.to_le_bytes());
        b[28] = self.codec;
        b
    }

    /// Decodes [`BlobRef::encode`].
    pub fn decode(b: &[u8]) -> Option<BlobRef> {
        if b.len() != Self::SIZE {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        Some(BlobRef {
            segment: u32_at(0),
            offset: u64::from_le_bytes(b[4..12].try_into().expect("8 bytes")),
            len: u32_at(12),
            raw_len: u32_at(16),
            crc: u32_at(20),
            header_end: u32_at(24),
            codec: b[28],
        })
    }
}

/// One segment file: appended to by one writer at a time, read from anywhere.
pub trait SegmentFile: Send + Sync {
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Appends `data` at the end.
    fn append(&self, data: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&self) -> io::Result<()>;
    /// Current length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Cuts the file to `len` bytes.
    fn truncate(&self, len: u64) -> io::Result<()>;
}

/// The directory of segment files.
pub trait FileLayer: Send + Sync {
    /// Opens segment `n`, creating it when `create`.
    fn open(&self, n: u32, create: bool) -> io::Result<Arc<dyn SegmentFile>>;
    /// The segment numbers present.
    fn segments(&self) -> io::Result<Vec<u32>>;
    /// Deletes segment `n`.
    fn remove(&self, n: u32) -> io::Result<()>;
    /// Makes the directory's entries durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// The directory, for messages.
    fn path(&self) -> PathBuf;
}

/// Segment files in a directory of the real file system.
pub struct DiskFiles {
    dir: PathBuf,
}

impl DiskFiles {
    /// The segments in `dir`, created if missing.
    pub fn new(dir: &Path) -> io::Result<DiskFiles> {
        std::fs::create_dir_all(dir)?;
        Ok(DiskFiles {
            dir: dir.to_path_buf(),
        })
    }

    fn file(&self, n: u32) -> PathBuf {
        self.dir.join(format!("{n:08}.seg"))
    }
}

struct DiskSegment(File);

impl SegmentFile for DiskSegment {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn append(&self, data: &[u8]) -> io::Result<()> {
        (&self.0).write_all(data)
    }
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn size(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
}

impl FileLayer for DiskFiles {
    fn open(&self, n: u32, create: bool) -> io::Result<Arc<dyn SegmentFile>> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(self.file(n))?;
        Ok(Arc::new(DiskSegment(file)))
    }
    fn segments(&self) -> io::Result<Vec<u32>> {
        let mut numbers: Vec<u32> = std::fs::read_dir(&self.dir)?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }
    fn remove(&self, n: u32) -> io::Result<()> {
        match std::fs::remove_file(self.file(n)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
    fn path(&self) -> PathBuf {
        self.dir.clone()
    }
}

struct Active {
    segment: u32,
    file: Arc<dyn SegmentFile>,
    len: u64,
}

/// Append-only, compressed, checksummed segments of rendered records.
pub struct ValueLog {
    files: Arc<dyn FileLayer>,
    /// Compress new blobs with LZ4 (else store them as rendered).
    compress: bool,
    segment_bytes: u64,
    active: Mutex<Active>,
    readers: RwLock<BTreeMap<u32, Arc<dyn SegmentFile>>>,
}

/// The end of the log: (segment, length) of the last committed append.
pub type End = (u32, u64);

/// A blob as stored: bytes, raw length, end of its header, codec.
pub type Stored = (Vec<u8>, u32, u32, u8);

/// A rendered record (`raw`, end of its `<header>`) as the log stores it: LZ4-compressed when
/// `compress`, else as rendered. Records are packed when they are prepared, so that a batch
/// prepared ahead is compressed (a tenth of a write's work) beside the previous batch's
/// commit. A record over 4 GiB is left as rendered, and [`ValueLog::append_stored`] refuses it.
pub fn pack(raw: Vec<u8>, header_end: u32, compress: bool) -> Stored {
    match u32::try_from(raw.len()) {
        Ok(raw_len) if compress => (lz4_flex::block::compress(&raw), raw_len, header_end, LZ4),
        raw_len => (raw, raw_len.unwrap_or(u32::MAX), header_end, RAW),
    }
}

fn corrupt(r: &BlobRef, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the bytes at segment {} offset {} {what}",
            r.segment, r.offset
        ),
    )
}

impl ValueLog {
    /// Opens the log, cut back to `end` (the last committed append; `None` for a new store):
    /// later segments are removed and the end segment truncated, so that nothing is ever
    /// appended after a torn tail.
    pub fn open(
        files: Arc<dyn FileLayer>,
        end: Option<End>,
        segment_bytes: u64,
        compress: bool,
    ) -> io::Result<ValueLog> {
        let (segment, len) = end.unwrap_or((0, 0));
        let mut readers = BTreeMap::new();
        for n in files.segments()? {
            if n > segment {
                files.remove(n)?;
            } else {
                readers.insert(n, files.open(n, false)?);
            }
        }
        let file = if let Some(f) = readers.get(&segment) {
            f.clone()
        } else {
            let f = files.open(segment, true)?;
            files.sync_dir()?;
            readers.insert(segment, f.clone());
            f
        };
        if file.size()? != len {
            file.truncate(len)?;
            file.sync()?;
        }
        Ok(ValueLog {
            files,
            compress,
            segment_bytes,
            active: Mutex::new(Active { segment, file, len }),
            readers: RwLock::new(readers),
        })
    }

    /// The directory, for messages.
    pub fn path(&self) -> PathBuf {
        self.files.path()
    }

    /// Where the next append goes.
    pub fn end(&self) -> End {
        let a = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        (a.segment, a.len)
    }

    /// Starts a new segment (when the active one holds anything), so that compaction can take
    /// the old one.
    pub fn roll(&self) -> io::Result<()> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.len > 0 {
            self.roll_locked(&mut active)?;
        }
        Ok(())
    }

    fn roll_locked(&self, active: &mut Active) -> io::Result<()> {
        active.file.sync()?;
        let segment = active.segment + 1;
        let file = self.files.open(segment, true)?;
        self.files.sync_dir()?;
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(segment, file.clone());
        *active = Active {
            segment,
            file,
            len: 0,
        };
        Ok(())
    }

    /// Whether records are stored compressed (see [`pack`]).
    pub fn compresses(&self) -> bool {
        self.compress
    }

    /// Compresses (unless the log stores records as rendered) and appends records (raw bytes,
    /// end of their `<header>`), then fsyncs; returns where each one is and the new end.
    pub fn append(&self, blobs: &[(&[u8], u32)]) -> io::Result<(Vec<BlobRef>, End)> {
        let compress = self.compress;
        let stored: Vec<Stored> = super::par_map(blobs.to_vec(), |(raw, header_end)| {
            pack(raw.to_vec(), header_end, compress)
        });
        self.append_stored(&stored)
    }

    /// Appends blobs as stored (bytes, raw length, header end, codec), then fsyncs.
    pub fn append_stored<S: Borrow<Stored>>(
        &self,
        stored: &[S],
    ) -> io::Result<(Vec<BlobRef>, End)> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        let total: u64 = stored.iter().map(|s| s.borrow().0.len() as u64).sum();
        if active.len > 0 && active.len + total > self.segment_bytes {
            self.roll_locked(&mut active)?;
        }
        let mut buf = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut refs = Vec::with_capacity(stored.len());
        for s in stored {
            let (bytes, raw_len, header_end, codec) = s.borrow();
            refs.push(BlobRef {
                codec: *codec,
                segment: active.segment,
                offset: active.len + buf.len() as u64,
                len: u32::try_from(bytes.len())
                    .map_err(|_| io::Error::other("a stored record over 4 GiB"))?,
                raw_len: *raw_len,
                crc: crc32fast::hash(bytes),
                header_end: *header_end,
            });
            buf.extend_from_slice(bytes);
        }
        let written = active.file.append(&buf).and_then(|()| active.file.sync());
        if let Err(error) = written {
            // A partial write (disk full) must not shift the offsets of later blobs: cut the
            // segment back; failing that, learn its true length.
            let len = active.len;
            if active.file.truncate(len).is_err() {
                active.len = active.file.size().unwrap_or(len);
            }
            return Err(error);
        }
        active.len += buf.len() as u64;
        Ok((refs, (active.segment, active.len)))
    }

    fn reader(&self, segment: u32) -> io::Result<Arc<dyn SegmentFile>> {
        self.readers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&segment)
            .cloned()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("value segment {segment} is missing"),
                )
            })
    }

    /// The stored (compressed) bytes of a blob, checked against their CRC.
    pub fn read_stored(&self, r: &BlobRef) -> io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_stored_into(r, &mut buf)?;
        Ok(buf)
    }

    /// Appends the record (or only its `<header>`) to `out`, checked and decompressed.
    pub fn read_into(&self, r: &BlobRef, header_only: bool, out: &mut Vec<u8>) -> io::Result<()> {
        thread_local! {
            // The compressed bytes of the record being read: one buffer per thread, not one
            // allocation per record.
            static STORED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        if r.codec == RAW {
            // Read in place: no scratch buffer, nothing to unpack.
            let start = out.len();
            out.resize(start + r.len as usize, 0);
            if let Err(e) = self.read_stored_into_slice(r, &mut out[start..]) {
                out.truncate(start);
                return Err(e);
            }
            if header_only {
                header_in_place(r, start, out);
            }
            return Ok(());
        }
        STORED.with_borrow_mut(|stored| {
            self.read_stored_into(r, stored)?;
            decompress(r, stored, header_only, out)
        })
    }

    /// Appends many records (or only their `<header>`s) to `out`, in order, each checked and
    /// decompressed. Blobs that lie close together in one segment (a batch's records are
    /// written end to end in record-number order) are read with one `pread` of their range, of
    /// at most [`RANGE_BYTES`]; a list page is then a few system calls, not one per record.
    pub fn read_many_into(
        &self,
        refs: &[BlobRef],
        header_only: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<()> {
        thread_local! {
            // The stored bytes of the range being read: one buffer per thread.
            static RANGE: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let mut rest = refs;
        while let Some(first) = rest.first() {
            let n = range_len(rest);
            let (group, tail) = rest.split_at(n);
            rest = tail;
            if n == 1 {
                self.read_into(first, header_only, out)?;
                continue;
            }
            let last = group[n - 1];
            let end = last.offset + u64::from(last.len);
            RANGE.with_borrow_mut(|range| {
                let len = usize::try_from(end - first.offset).unwrap_or(0);
                if range.len() < len {
                    range.resize(len, 0);
                }
                let range = &mut range[..len];
                self.reader(first.segment)?
                    .read_exact_at(range, first.offset)
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::UnexpectedEof => {
                            corrupt(first, "are gone (past the end of the file)")
                        }
                        _ => e,
                    })?;
                for r in group {
                    let at = usize::try_from(r.offset - first.offset).unwrap_or(0);
                    let stored = &range[at..at + r.len as usize];
                    if crc32fast::hash(stored) != r.crc {
                        return Err(corrupt(r, "fail their checksum"));
                    }
                    if r.codec == RAW {
                        let start = out.len();
                        out.extend_from_slice(stored);
                        if header_only {
                            header_in_place(r, start, out);
                        }
                    } else {
                        decompress(r, stored, header_only, out)?;
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn read_stored_into(&self, r: &BlobRef, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.clear();
        buf.resize(r.len as usize, 0);
        self.read_stored_into_slice(r, buf)
    }

    fn read_stored_into_slice(&self, r: &BlobRef, buf: &mut [u8]) -> io::Result<()> {
        self.reader(r.segment)?
            .read_exact_at(buf, r.offset)
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => corrupt(r, "are gone (past the end of the file)"),
                _ => e,
            })?;
        if crc32fast::hash(buf) != r.crc {
            return Err(corrupt(r, "fail their checksum"));
        }
        Ok(())
    }
}

/// The longest range [`ValueLog::read_many_into`] reads at once.
pub const RANGE_BYTES: u64 = 256 * 1024;
/// The most bytes of other blobs (old versions, other records) a range read reads through to
/// join two blobs: cheaper than a second system call.
const RANGE_GAP: u64 = 16 * 1024;

/// How many of the first blobs of `refs` one range read takes: those in the first blob's
/// segment, each after the previous one and at most [`RANGE_GAP`] past its end, within
/// [`RANGE_BYTES`] in all.
fn range_len(refs: &[BlobRef]) -> usize {
    let Some(first) = refs.first() else { return 0 };
    let mut end = first.offset + u64::from(first.len);
    let mut n = 1;
    for r in &refs[1..] {
        let r_end = r.offset + u64::from(r.len);
        if r.segment != first.segment
            || r.offset < end
            || r.offset - end > RANGE_GAP
            || r_end - first.offset > RANGE_BYTES
        {
            break;
        }
        end = r_end;
        n += 1;
    }
    n
}

/// Decompresses checked stored bytes (or only their `<header>`) onto `out`.
fn decompress(r: &BlobRef, stored: &[u8], header_only: bool, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.resize(start + r.raw_len as usize, 0);
    match lz4_flex::block::decompress_into(stored, &mut out[start..]) {
        Ok(n) if n == r.raw_len as usize => {}
        _ => {
            out.truncate(start);
            return Err(corrupt(r, "do not decompress"));
        }
    }
    if header_only {
        header_in_place(r, start, out);
    }
    Ok(())
}

/// Keeps only the `<header>` of the record that starts at `start` in `out`.
fn header_in_place(r: &BlobRef, start: usize, out: &mut Vec<u8>) {
    let from = start + b"<record>".len();
    let to = (start + r.header_end as usize).min(out.len()).max(from);
    out.copy_within(from..to, start);
    out.truncate(start + (to - from));
}

impl ValueLog {
    /// Makes the active segment durable (appends already are; this is for compaction).
    pub fn sync(&self) -> io::Result<()> {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .file
            .sync()
    }

    /// Deletes a segment that nothing refers to any more.
    pub fn remove_segment(&self, segment: u32) -> io::Result<()> {
        if segment == self.end().0 {
            return Ok(());
        }
        self.readers
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&segment);
        self.files.remove(segment)?;
        self.files.sync_dir()
    }

    /// (segment, length in bytes) of every segment.
    pub fn segment_sizes(&self) -> io::Result<Vec<(u32, u64)>> {
        let readers: Vec<(u32, Arc<dyn SegmentFile>)> = self
            .readers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(n, f)| (*n, f.clone()))
            .collect();
        readers
            .into_iter()
            .map(|(n, f)| Ok((n, f.size()?)))
            .collect()
    }
}

/// A file layer in memory that loses every unsynced write when told to, or fails from a chosen
/// operation on, as a power cut or a full disk would.
#[cfg(test)]
pub(crate) mod fault {
    use super::*;

    #[derive(Default)]
    struct FileState {
        data: Vec<u8>,
        durable: Vec<u8>,
    }

    /// Shared state of the fake directory.
    #[derive(Default)]
    pub struct FsState {
        files: BTreeMap<u32, FileState>,
        /// Files whose directory entry is durable.
        listed: std::collections::BTreeSet<u32>,
        /// Operations so far, and the one from which every operation fails.
        ops: u64,
        fail_from: Option<u64>,
        /// Appends fail with "no space left on device".
        pub full: bool,
    }

    /// The fake directory (cheap to clone; clones share it).
    #[derive(Clone, Default)]
    pub struct FaultFiles(pub Arc<Mutex<FsState>>);

    impl FaultFiles {
        fn lock(&self) -> std::sync::MutexGuard<'_, FsState> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Every operation from the `n`-th on fails (the moment of the crash).
        pub fn fail_after(&self, n: u64) {
            let mut s = self.lock();
            s.fail_from = Some(s.ops + n);
        }

        /// The power comes back: unsynced writes and unsynced new files are gone.
        pub fn crash(&self) {
            let mut s = self.lock();
            let listed = s.listed.clone();
            s.files.retain(|n, _| listed.contains(n));
            for f in s.files.values_mut() {
                f.data = f.durable.clone();
            }
            s.fail_from = None;
            s.full = false;
        }

        /// Appends fail with ENOSPC while `full`.
        pub fn set_full(&self, full: bool) {
            self.lock().full = full;
        }

        fn op(&self) -> io::Result<std::sync::MutexGuard<'_, FsState>> {
            let mut s = self.lock();
            s.ops += 1;
            if s.fail_from.is_some_and(|f| s.ops >= f) {
                return Err(io::Error::other("simulated crash"));
            }
            Ok(s)
        }
    }

    struct FaultSegment(FaultFiles, u32);

    impl SegmentFile for FaultSegment {
        fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            let s = self.0.lock();
            let data = &s.files.get(&self.1).ok_or(io::ErrorKind::NotFound)?.data;
            let start = usize::try_from(offset).map_err(io::Error::other)?;
            let slice = data
                .get(start..start + buf.len())
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(slice);
            Ok(())
        }
        fn append(&self, data: &[u8]) -> io::Result<()> {
            let mut s = self.0.op()?;
            if s.full {
                return Err(io::Error::from_raw_os_error(28));
            }
            s.files
                .get_mut(&self.1)
                .ok_or(io::ErrorKind::NotFound)?
                .data
                .extend_from_slice(data);
            Ok(())
        }
        fn sync(&self) -> io::Result<()> {
            let mut s = self.0.op()?;
            let f = s.files.get_mut(&self.1).ok_or(io::ErrorKind::NotFound)?;
            f.durable = f.data.clone();
            Ok(())
        }
        fn size(&self) -> io::Result<u64> {
            let s = self.0.lock();
            Ok(s.files.get(&self.1).map_or(0, |f| f.data.len() as u64))
        }
        fn truncate(&self, len: u64) -> io::Result<()> {
            let mut s = self.0.op()?;
            let f = s.files.get_mut(&self.1).ok_or(io::ErrorKind::NotFound)?;
            f.data
                .truncate(usize::try_from(len).map_err(io::Error::other)?);
            Ok(())
        }
    }

    impl FileLayer for FaultFiles {
        fn open(&self, n: u32, create: bool) -> io::Result<Arc<dyn SegmentFile>> {
            let mut s = self.op()?;
            if let std::collections::btree_map::Entry::Vacant(e) = s.files.entry(n) {
                if !create {
                    return Err(io::ErrorKind::NotFound.into());
                }
                e.insert(FileState::default());
            }
            Ok(Arc::new(FaultSegment(self.clone(), n)))
        }
        fn segments(&self) -> io::Result<Vec<u32>> {
            Ok(self.lock().files.keys().copied().collect())
        }
        fn remove(&self, n: u32) -> io::Result<()> {
            let mut s = self.op()?;
            s.files.remove(&n);
            s.listed.remove(&n);
            Ok(())
        }
        fn sync_dir(&self) -> io::Result<()> {
            let mut s = self.op()?;
            s.listed = s.files.keys().copied().collect();
            Ok(())
        }
        fn path(&self) -> PathBuf {
            PathBuf::from("(in memory)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fault::FaultFiles;
    use super::*;

    fn record(n: usize) -> Vec<u8> {
        format!(
            "<record><header>{n}</header><metadata>{}</metadata></record>",
            "x".repeat(n)
        )
        .into_bytes()
    }

    #[test]
    fn records_packed_ahead_read_back_as_rendered_either_way() {
        let dir = tempfile::tempdir().unwrap();
        let log = ValueLog::open(
            Arc::new(DiskFiles::new(dir.path()).unwrap()),
            None,
            1 << 20,
            true,
        )
        .unwrap();
        let a = record(400);
        let packed = [pack(a.clone(), 28, true), pack(a.clone(), 28, false)];
        assert_eq!((packed[0].3, packed[1].3), (LZ4, RAW));
        assert!(packed[0].0.len() < a.len(), "packed compressed");
        assert_eq!(packed[1].0, a);
        let (refs, _) = log.append_stored(&[&packed[0], &packed[1]]).unwrap();
        for r in &refs {
            let mut out = Vec::new();
            log.read_into(r, false, &mut out).unwrap();
            assert_eq!(out, a);
        }
    }

    #[test]
    fn blobs_read_back_whole_or_header_only_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let files = Arc::new(DiskFiles::new(dir.path()).unwrap());
        let log = ValueLog::open(files.clone(), None, 1 << 20, true).unwrap();
        let a = record(300);
        let (refs, end) = log.append(&[(&a, 28), (&record(5), 18)]).unwrap();
        assert!(
            refs[0].len < refs[0].raw_len,
            "records are stored compressed"
        );
        let mut out = Vec::new();
        log.read_into(&refs[0], false, &mut out).unwrap();
        assert_eq!(out, a);
        out.clear();
        log.read_into(&refs[0], true, &mut out).unwrap();
        assert_eq!(out, b"<header>300</header>");
        assert_eq!(BlobRef::decode(&refs[1].encode()), Some(refs[1]));
        drop(log);
        let reopened = ValueLog::open(files, Some(end), 1 << 20, true).unwrap();
        let (more, _) = reopened.append(&[(b"x", 0)]).unwrap();
        assert_eq!(more[0].offset, refs[1].offset + u64::from(refs[1].len));
        let mut bad = refs[0];
        bad.crc ^= 1;
        assert!(reopened.read_into(&bad, true, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_range_read_returns_every_record_in_order_and_checks_each_one() {
        let files = FaultFiles::default();
        let log = ValueLog::open(Arc::new(files.clone()), None, 1 << 20, true).unwrap();
        let records: Vec<Vec<u8>> = (0..6).map(|n| record(100 + n)).collect();
        let blobs: Vec<(&[u8], u32)> = records.iter().map(|r| (&r[..], 28)).collect();
        let (refs, _) = log.append(&blobs).unwrap();
        // Skipping one record leaves a gap that the range reads through; starting over at an
        // earlier blob starts a new range.
        let picked = [refs[0], refs[1], refs[3], refs[5], refs[2]];
        assert_eq!(range_len(&picked), 4);
        let mut out = b"<ListRecords>".to_vec();
        log.read_many_into(&picked, false, &mut out).unwrap();
        let want: Vec<u8> = [&b"<ListRecords>"[..], &records[0], &records[1], &records[3]]
            .into_iter()
            .chain([&records[5][..], &records[2]])
            .flatten()
            .copied()
            .collect();
        assert_eq!(out, want);
        let mut headers = Vec::new();
        log.read_many_into(&refs[..2], true, &mut headers).unwrap();
        assert_eq!(headers, b"<header>100</header><header>101</header>");
        // One bad record in the middle of a range fails the read, whatever comes around it.
        let mut bad = refs.clone();
        bad[2].crc ^= 1;
        let error = log
            .read_many_into(&bad, false, &mut Vec::new())
            .unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
    }

    #[test]
    fn a_range_read_stops_at_the_end_of_a_segment_and_past_its_limit() {
        let files = FaultFiles::default();
        let log = ValueLog::open(Arc::new(files.clone()), None, 4096, false).unwrap();
        let (a, _) = log.append(&[(&record(3000), 18)]).unwrap();
        let (b, _) = log.append(&[(&record(3000), 18)]).unwrap();
        assert_ne!(a[0].segment, b[0].segment);
        assert_eq!(range_len(&[a[0], b[0]]), 1);
        let mut out = Vec::new();
        log.read_many_into(&[a[0], b[0]], false, &mut out).unwrap();
        assert_eq!(out, [record(3000), record(3000)].concat());
        let far = BlobRef {
            offset: a[0].offset + RANGE_BYTES,
            ..a[0]
        };
        let gap = BlobRef {
            offset: a[0].offset + u64::from(a[0].len) + RANGE_GAP + 1,
            ..a[0]
        };
        assert_eq!(range_len(&[a[0], far]), 1);
        assert_eq!(range_len(&[a[0], gap]), 1);
    }

    #[test]
    fn a_torn_tail_is_cut_at_open_so_that_no_reference_points_at_foreign_bytes() {
        let files = FaultFiles::default();
        let log = ValueLog::open(Arc::new(files.clone()), None, 1 << 20, true).unwrap();
        let (committed, end) = log.append(&[(&record(10), 18)]).unwrap();
        // A batch that never committed: its bytes are on disk, nothing refers to them.
        let (lost, _) = log.append(&[(&record(20), 18)]).unwrap();
        drop(log);
        let log = ValueLog::open(Arc::new(files), Some(end), 1 << 20, true).unwrap();
        assert_eq!(log.end(), end);
        let (next, _) = log.append(&[(&record(30), 18)]).unwrap();
        assert_eq!(
            next[0].offset, lost[0].offset,
            "appended where the tail was cut"
        );
        assert!(log.read_into(&lost[0], false, &mut Vec::new()).is_err());
        assert!(log.read_into(&committed[0], false, &mut Vec::new()).is_ok());
    }

    #[test]
    fn rollover_syncs_the_directory_so_the_new_segment_survives_a_power_cut() {
        let files = FaultFiles::default();
        let log = ValueLog::open(Arc::new(files.clone()), None, 64, false).unwrap();
        let (_, _) = log.append(&[(&record(100), 18)]).unwrap();
        let (refs, end) = log.append(&[(&record(101), 18)]).unwrap();
        assert_eq!(refs[0].segment, 1);
        drop(log);
        files.crash();
        let log = ValueLog::open(Arc::new(files), Some(end), 64, false).unwrap();
        let mut out = Vec::new();
        log.read_into(&refs[0], false, &mut out).unwrap();
        assert_eq!(out, record(101));
    }

    #[test]
    fn a_failed_append_leaves_the_log_where_it_was() {
        let files = FaultFiles::default();
        let log = ValueLog::open(Arc::new(files.clone()), None, 1 << 20, true).unwrap();
        let (_, end) = log.append(&[(&record(10), 18)]).unwrap();
        files.set_full(true);
        let error = log.append(&[(&record(11), 18)]).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(28));
        assert_eq!(log.end(), end);
        files.set_full(false);
        let (refs, _) = log.append(&[(&record(12), 18)]).unwrap();
        assert_eq!(refs[0].offset, end.1);
    }
}
