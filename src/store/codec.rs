//! Versioned encoding of stored values: one format-version byte, then postcard.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::StoreError;

const VERSION: u8 = 1;

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
    /// [`BlobRef`](super::blobs::BlobRef)s, in the order of `formats`): the record is the source
    /// of truth the indexes can be rebuilt from.
    pub rendered: Vec<Vec<u8>>,
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
        Some((&VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string())),
        Some((v, _)) => Err(corrupt(format!("unknown format version {v}"))),
        None => Err(corrupt("empty value".into())),
    }
}
