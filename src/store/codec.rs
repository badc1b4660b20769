//! Versioned encoding of stored values: one format-version byte, then postcard.
//!
//! Version 2 added the record's [`Origin`]. Records of version 1 are still read: a record in a
//! set `source:<name>` was harvested from that source (the harvester put every record there),
//! any other is local.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::origin::Origin;

const VERSION: u8 = 2;
/// Records written before origins were kept.
const VERSION_WITHOUT_ORIGIN: u8 = 1;

/// What the store keeps about a record besides its rendered forms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    /// Seconds since the epoch.
    pub datestamp: i64,
    /// setSpecs as given (ancestors are implied).
    pub sets: Vec<String>,
    /// True for a tombstone.
    pub deleted: bool,
    /// The metadataPrefixes it is available in.
    pub formats: Vec<String>,
    /// Hash of everything that makes up the record's content, to detect unchanged writes.
    pub content_hash: [u8; 16],
    /// Source fields with no place in Dublin Core, kept as (label, value).
    pub local_fields: Vec<(String, String)>,
    /// Where each format's rendered `<record>` is in the blob log (encoded
    /// [`BlobRef`](super::vlog::BlobRef)s, in the order of `formats`): the record is the source
    /// of truth the indexes can be rebuilt from.
    pub rendered: Vec<Vec<u8>>,
    /// Who wrote it, and alone may change it.
    pub origin: Origin,
}

/// A [`StoredRecord`] as version 1 wrote it.
#[derive(Deserialize)]
struct StoredRecordV1 {
    datestamp: i64,
    sets: Vec<String>,
    deleted: bool,
    formats: Vec<String>,
    content_hash: [u8; 16],
    local_fields: Vec<(String, String)>,
    rendered: Vec<Vec<u8>>,
}

impl From<StoredRecordV1> for StoredRecord {
    fn from(v1: StoredRecordV1) -> StoredRecord {
        let origin = v1
            .sets
            .iter()
            .find_map(|s| s.strip_prefix("source:"))
            .map(|rest| rest.split(':').next().unwrap_or(rest))
            .filter(|name| !name.is_empty())
            .map_or(Origin::Local, |name| Origin::Source(name.to_owned()));
        StoredRecord {
            datestamp: v1.datestamp,
            sets: v1.sets,
            deleted: v1.deleted,
            formats: v1.formats,
            content_hash: v1.content_hash,
            local_fields: v1.local_fields,
            rendered: v1.rendered,
            origin,
        }
    }
}

/// Decodes a record of any version this store has written.
pub fn decode_record(key: &[u8], bytes: &[u8]) -> Result<StoredRecord, StoreError> {
    match bytes.split_first() {
        Some((&VERSION_WITHOUT_ORIGIN, rest)) => postcard::from_bytes::<StoredRecordV1>(rest)
            .map(StoredRecord::from)
            .map_err(|e| StoreError::Corrupt {
                key: String::from_utf8_lossy(key).into_owned(),
                message: e.to_string(),
            }),
        _ => decode(key, bytes),
    }
}

/// Encodes a value with the format-version byte.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = vec![VERSION];
    out.extend(postcard::to_stdvec(value).expect("Serializing to memory cannot fail."));
    out
}

/// Decodes a value written by [`encode`].
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message,
    };
    match bytes.split_first() {
        // Only records changed between the versions: every other value reads the same.
        Some((&(VERSION | VERSION_WITHOUT_ORIGIN), rest)) => {
            postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string()))
        }
        Some((v, _)) => Err(corrupt(format!("unknown format version {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct WrittenByVersion1 {
        datestamp: i64,
        sets: Vec<String>,
        deleted: bool,
        formats: Vec<String>,
        content_hash: [u8; 16],
        local_fields: Vec<(String, String)>,
        rendered: Vec<Vec<u8>>,
    }

    fn version1(sets: &[&str]) -> Vec<u8> {
        let mut bytes = vec![VERSION_WITHOUT_ORIGIN];
        bytes.extend(
            postcard::to_stdvec(&WrittenByVersion1 {
                datestamp: 7,
                sets: sets.iter().map(|s| (*s).to_owned()).collect(),
                deleted: false,
                formats: vec!["oai_dc".into()],
                content_hash: [1; 16],
                local_fields: Vec::new(),
                rendered: vec![vec![2; 24]],
            })
            .unwrap(),
        );
        bytes
    }

    #[test]
    fn a_record_of_version_1_is_read_with_the_origin_its_sets_tell() {
        let harvested = decode_record(b"k", &version1(&["source:hal:type:THESE"])).unwrap();
        assert_eq!(harvested.origin, Origin::Source("hal".into()));
        assert_eq!(harvested.datestamp, 7);
        let local = decode_record(b"k", &version1(&["doctype:x"])).unwrap();
        assert_eq!(local.origin, Origin::Local);
    }

    #[test]
    fn a_record_round_trips_through_the_current_version() {
        let record = StoredRecord {
            datestamp: 1,
            sets: vec!["a".into()],
            deleted: true,
            formats: vec!["oai_dc".into()],
            content_hash: [3; 16],
            local_fields: vec![("k".into(), "v".into())],
            rendered: vec![vec![4; 24]],
            origin: Origin::Source("up".into()),
        };
        assert_eq!(decode_record(b"k", &encode(&record)).unwrap(), record);
    }
}
