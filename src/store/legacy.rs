//! The blob log of layout 1 (`rendered/*.blob`: uncompressed records, 24-byte references),
//! read by `moisson upgrade` only.
//!
//! Layout 1 appended each rendered record to a segment file beside sled and kept a
//! [`BlobRef`] with its CRC-32 in the record's sled value.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

/// A new segment is started past this size.
const SEGMENT_BYTES: u64 = 1 << 30;

/// Where a blob is: segment, offset, length, checksum, and where its `<header>` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobRef {
    /// Segment number.
    pub segment: u32,
    /// Byte offset in the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
    /// CRC-32 of the bytes.
    pub crc: u32,
    /// End of the `<header>` element within the bytes (for ListIdentifiers).
    pub header_end: u32,
}

impl BlobRef {
    /// Encoded size.
    pub const SIZE: usize = 24;

    /// Encodes as 24 bytes.
    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&self.segment.to_le_bytes());
        b[4..12].copy_from_slice(&self.offset.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..20].copy_from_slice(&self.crc.to_le_bytes());
        b[20..24].copy_from_slice(&self.header_end.to_le_bytes());
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
            crc: u32_at(16),
            header_end: u32_at(20),
        })
    }
}

struct Active {
    segment: u32,
    file: File,
    len: u64,
}

/// Append-only segment files of rendered records.
pub struct BlobLog {
    dir: PathBuf,
    active: Mutex<Active>,
    segments: RwLock<Vec<Option<Arc<File>>>>,
}

fn segment_path(dir: &Path, segment: u32) -> PathBuf {
    dir.join(format!("{segment:08}.blob"))
}

impl BlobLog {
    /// Opens the segments in `dir`, creating it if needed.
    pub fn open(dir: &Path) -> io::Result<BlobLog> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<u32> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()?.strip_suffix(".blob")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        let last = numbers.last().copied().unwrap_or(0);
        let mut segments: Vec<Option<Arc<File>>> = Vec::new();
        for n in &numbers {
            let idx = *n as usize;
            if segments.len() <= idx {
                segments.resize(idx + 1, None);
            }
            segments[idx] = Some(Arc::new(File::open(segment_path(dir, *n))?));
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, last))?;
        let len = file.metadata()?.len();
        if segments.len() <= last as usize {
            segments.resize(last as usize + 1, None);
            segments[last as usize] = Some(Arc::new(File::open(segment_path(dir, last))?));
        }
        Ok(BlobLog {
            dir: dir.to_path_buf(),
            active: Mutex::new(Active {
                segment: last,
                file,
                len,
            }),
            segments: RwLock::new(segments),
        })
    }

    /// Appends blobs with one write; returns where each one is (`header_end` set from the input).
    pub fn append(&self, blobs: &[(&[u8], u32)]) -> io::Result<Vec<BlobRef>> {
        let mut active = self.active.lock().unwrap_or_else(PoisonError::into_inner);
        if active.len >= SEGMENT_BYTES {
            let segment = active.segment + 1;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, segment))?;
            file.sync_all()?;
            let reader = Arc::new(File::open(segment_path(&self.dir, segment))?);
            {
                let mut segments = self
                    .segments
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                if segments.len() <= segment as usize {
                    segments.resize(segment as usize + 1, None);
                }
                segments[segment as usize] = Some(reader);
            }
            *active = Active {
                segment,
                file,
                len: 0,
            };
        }
        let total: usize = blobs.iter().map(|(b, _)| b.len()).sum();
        let mut buf = Vec::with_capacity(total);
        let mut refs = Vec::with_capacity(blobs.len());
        for (bytes, header_end) in blobs {
            refs.push(BlobRef {
                segment: active.segment,
                offset: active.len + buf.len() as u64,
                len: u32::try_from(bytes.len())
                    .map_err(|_| io::Error::other("a rendered record over 4 GiB"))?,
                crc: crc32fast::hash(bytes),
                header_end: *header_end,
            });
            buf.extend_from_slice(bytes);
        }
        if let Err(error) = active.file.write_all(&buf) {
            // A partial write (disk full) must not shift the offsets of every later blob:
            // cut the segment back, or failing that, learn its true length.
            let len = active.len;
            if active.file.set_len(len).is_err() {
                active.len = active.file.metadata().map_or(len, |m| m.len());
            }
            return Err(error);
        }
        active.len += buf.len() as u64;
        Ok(refs)
    }

    fn file(&self, segment: u32) -> io::Result<Arc<File>> {
        let segments = self.segments.read().unwrap_or_else(PoisonError::into_inner);
        segments
            .get(segment as usize)
            .and_then(Clone::clone)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("blob segment {segment} is missing"),
                )
            })
    }

    /// Appends the blob (checked against its CRC), or only its header part, to `out`.
    pub fn read_into(&self, r: &BlobRef, header_only: bool, out: &mut Vec<u8>) -> io::Result<()> {
        let file = self.file(r.segment)?;
        let (offset, len) = if header_only {
            let start = b"<record>".len() as u64;
            (
                r.offset + start,
                u64::from(r.header_end).saturating_sub(start),
            )
        } else {
            (r.offset, u64::from(r.len))
        };
        let start = out.len();
        out.resize(start + usize::try_from(len).map_err(io::Error::other)?, 0);
        file.read_exact_at(&mut out[start..], offset)?;
        if !header_only && crc32fast::hash(&out[start..]) != r.crc {
            out.truncate(start);
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob at segment {} offset {} fails its checksum",
                    r.segment, r.offset
                ),
            ));
        }
        Ok(())
    }

    /// Flushes the active segment to disk.
    pub fn sync(&self) -> io::Result<()> {
        self.active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .file
            .sync_data()
    }

    /// Total bytes in all segments.
    pub fn size_on_disk(&self) -> io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            total += entry?.metadata()?.len();
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_read_back_whole_or_header_only_and_corruption_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let log = BlobLog::open(dir.path()).unwrap();
        let a = b"<record><header>h</header><metadata/></record>";
        let refs = log
            .append(&[(a, 26), (b"<record><header/></record>", 17)])
            .unwrap();
        let mut out = Vec::new();
        log.read_into(&refs[0], false, &mut out).unwrap();
        assert_eq!(out, a);
        out.clear();
        log.read_into(&refs[0], true, &mut out).unwrap();
        assert_eq!(out, b"<header>h</header>");
        assert_eq!(BlobRef::decode(&refs[1].encode()), Some(refs[1]));
        drop(log);
        let reopened = BlobLog::open(dir.path()).unwrap();
        let more = reopened.append(&[(b"x", 0)]).unwrap();
        assert_eq!(more[0].offset, refs[1].offset + u64::from(refs[1].len));
        let mut bad = refs[0];
        bad.crc ^= 1;
        assert!(reopened.read_into(&bad, false, &mut Vec::new()).is_err());
    }
}
