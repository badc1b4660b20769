//! Header pages: the records, [`SLOTS`] to a sled value, by record number.
//!
//! 32 slots of about 160 bytes make a page of 5 KB, so that sled's leaves (at most 16 keys)
//! stay under its 128 KB limit for inline values and are cheap to read at random.
//!
//! A page is `[version][n][n × u32 offset][slots…]`; a slot is
//! `[flags][datestamp i64][id length u16][identifier][ref length u8][oai_dc BlobRef][record]`,
//! where `record` is the versioned [`StoredRecord`]. The fixed part lets a list read a slot's
//! key, liveness and `oai_dc` reference without decoding anything, and find slot `i` without
//! reading the others.

use super::codec::{self, StoredRecord};
use super::error::StoreError;

/// Slots per page.
pub const SLOTS: u64 = 32;
/// The slot is an old version (or was removed): skipped by every read but `get` by number.
pub const DEAD: u8 = 1;
/// The slot is out of (datestamp, identifier) order: listed through the `ooo` tree.
pub const OOO: u8 = 2;
/// The record is a tombstone.
pub const DELETED: u8 = 4;

const VERSION: u8 = 1;
const FIXED: usize = 1 + 8 + 2;

/// A slot read in place.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    /// [`DEAD`], [`OOO`], [`DELETED`].
    pub flags: u8,
    /// Seconds since the epoch.
    pub datestamp: i64,
    /// The record's identifier.
    pub identifier: &'a str,
    /// Where its `oai_dc` form is, if it has one.
    pub dc_ref: Option<&'a [u8]>,
    body: &'a [u8],
}

impl Slot<'_> {
    /// Live and in the ordered run.
    pub fn is_live_main(&self) -> bool {
        self.flags & (DEAD | OOO) == 0
    }

    /// Not an old version.
    pub fn is_live(&self) -> bool {
        self.flags & DEAD == 0
    }

    /// The whole record.
    pub fn record(&self) -> Result<StoredRecord, StoreError> {
        codec::decode_record(self.identifier.as_bytes(), self.body)
    }

    /// (datestamp, identifier): the list order.
    pub fn key(&self) -> (i64, &str) {
        (self.datestamp, self.identifier)
    }
}

/// Encodes a slot.
pub fn encode_slot(flags: u8, identifier: &str, record: &StoredRecord) -> Vec<u8> {
    let body = codec::encode(record);
    let dc_ref = record
        .formats
        .iter()
        .position(|f| f == super::OAI_DC)
        .and_then(|i| record.rendered.get(i))
        .map_or(&[][..], Vec::as_slice);
    let id_len = u16::try_from(identifier.len()).expect("identifiers are short");
    let mut out = Vec::with_capacity(FIXED + identifier.len() + 1 + dc_ref.len() + body.len());
    out.push(flags);
    out.extend_from_slice(&record.datestamp.to_le_bytes());
    out.extend_from_slice(&id_len.to_le_bytes());
    out.extend_from_slice(identifier.as_bytes());
    out.push(u8::try_from(dc_ref.len()).expect("a reference is short"));
    out.extend_from_slice(dc_ref);
    out.extend_from_slice(&body);
    out
}

fn parse_slot(b: &[u8]) -> Option<Slot<'_>> {
    let flags = *b.first()?;
    let datestamp = i64::from_le_bytes(b.get(1..9)?.try_into().ok()?);
    let id_len = usize::from(u16::from_le_bytes(b.get(9..11)?.try_into().ok()?));
    let identifier = std::str::from_utf8(b.get(FIXED..FIXED + id_len)?).ok()?;
    let at = FIXED + id_len;
    let ref_len = usize::from(*b.get(at)?);
    let dc_ref = b.get(at + 1..at + 1 + ref_len)?;
    Some(Slot {
        flags,
        datestamp,
        identifier,
        dc_ref: (ref_len > 0).then_some(dc_ref),
        body: b.get(at + 1 + ref_len..)?,
    })
}

/// Number of slots in a page.
pub fn len(page: &[u8]) -> usize {
    page.get(1).map_or(0, |n| usize::from(*n))
}

fn bounds(page: &[u8], i: usize) -> Option<(usize, usize)> {
    let n = len(page);
    if i >= n {
        return None;
    }
    let data = 2 + 4 * n;
    let off = |j: usize| -> Option<usize> {
        let at = 2 + 4 * j;
        Some(u32::from_le_bytes(page.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let start = data + off(i)?;
    let end = if i + 1 < n {
        data + off(i + 1)?
    } else {
        page.len()
    };
    (start <= end && end <= page.len()).then_some((start, end))
}

/// Slot `i` of a page; `None` when absent or unreadable.
pub fn slot(page: &[u8], i: usize) -> Option<Slot<'_>> {
    if page.first() != Some(&VERSION) {
        return None;
    }
    let (start, end) = bounds(page, i)?;
    parse_slot(&page[start..end])
}

/// The raw bytes of every slot.
fn slots(page: &[u8]) -> Vec<&[u8]> {
    (0..len(page))
        .filter_map(|i| bounds(page, i).map(|(s, e)| &page[s..e]))
        .collect()
}

/// A page made of these slots.
pub fn build(slots: &[&[u8]]) -> Vec<u8> {
    let n = slots.len();
    let total: usize = slots.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(2 + 4 * n + total);
    out.push(VERSION);
    out.push(u8::try_from(n).expect("at most SLOTS slots"));
    let mut off = 0u32;
    for s in slots {
        out.extend_from_slice(&off.to_le_bytes());
        off += u32::try_from(s.len()).expect("a slot is small");
    }
    for s in slots {
        out.extend_from_slice(s);
    }
    out
}

/// The page with slot `i` set to `bytes` (appended when `i` is the next one). Setting a slot to
/// the bytes it has changes nothing, so applying a write twice is harmless.
pub fn with_slot(page: Option<&[u8]>, i: usize, bytes: &[u8]) -> Vec<u8> {
    let mut all = page.map(slots).unwrap_or_default();
    if i < all.len() {
        all[i] = bytes;
    } else {
        // Slots are written in record-number order, so `i` is the next one; a gap (never
        // expected) is filled with dead slots.
        let filler = encode_filler();
        while all.len() < i {
            all.push(&filler);
        }
        all.push(bytes);
        return build(&all);
    }
    build(&all)
}

fn encode_filler() -> Vec<u8> {
    let mut out = vec![DEAD];
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.push(0);
    out
}

/// The page with `set` flags added to and `clear` flags removed from slot `i`.
pub fn with_flags(page: &[u8], i: usize, set: u8, clear: u8) -> Vec<u8> {
    let mut out = page.to_vec();
    if let Some((start, _)) = bounds(page, i) {
        out[start] = (out[start] | set) & !clear;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Origin;

    fn record(ds: i64, with_dc: bool) -> StoredRecord {
        StoredRecord {
            datestamp: ds,
            sets: vec!["a".into()],
            deleted: false,
            formats: if with_dc {
                vec!["oai_dc".into()]
            } else {
                vec!["x".into()]
            },
            content_hash: [1; 16],
            local_fields: Vec::new(),
            rendered: vec![vec![7; 29]],
            origin: Origin::Local,
        }
    }

    #[test]
    fn slots_are_read_in_place_and_rewritten_one_at_a_time() {
        let a = encode_slot(0, "oai:x:1", &record(5, true));
        let b = encode_slot(OOO, "oai:x:2", &record(3, false));
        let page = with_slot(Some(&with_slot(None, 0, &a)), 1, &b);
        assert_eq!(len(&page), 2);
        let s0 = slot(&page, 0).unwrap();
        assert_eq!(s0.key(), (5, "oai:x:1"));
        assert_eq!(s0.dc_ref, Some(&[7u8; 29][..]));
        assert!(s0.is_live_main());
        let s1 = slot(&page, 1).unwrap();
        assert!(s1.dc_ref.is_none() && !s1.is_live_main() && s1.is_live());
        assert_eq!(s1.record().unwrap(), record(3, false));
        let killed = with_flags(&page, 0, DEAD, 0);
        assert!(!slot(&killed, 0).unwrap().is_live());
        assert_eq!(slot(&killed, 1).unwrap().key(), (3, "oai:x:2"));
        assert_eq!(with_slot(Some(&page), 1, &b), page, "idempotent");
        assert!(slot(&page, 2).is_none());
    }
}
