//! Key encodings. Big-endian with the sign bit flipped, so that sled's byte order is
//! chronological order, and `\0` separators, which no metadataPrefix or setSpec can contain.

use crate::protocol::Datestamp;

/// Encodes a signed number so that byte order equals numeric order.
pub fn ordered_i64(v: i64) -> [u8; 8] {
    (v.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`ordered_i64`].
pub fn decode_ordered_i64(b: &[u8]) -> Option<i64> {
    let arr: [u8; 8] = b.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(arr) ^ (1 << 63)).cast_signed())
}

/// `prefix \0` — the start of every datestamp-index key of one format.
pub fn format_scope(prefix: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 1);
    k.extend_from_slice(prefix.as_bytes());
    k.push(0);
    k
}

/// `prefix \0 set \0` — the start of every set-index key of one format and set.
pub fn set_scope(prefix: &str, set: &str) -> Vec<u8> {
    let mut k = format_scope(prefix);
    k.extend_from_slice(set.as_bytes());
    k.push(0);
    k
}

/// `scope ‖ datestamp ‖ identifier`.
pub fn entry(scope: &[u8], datestamp: Datestamp, identifier: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + 8 + identifier.len());
    k.extend_from_slice(scope);
    k.extend_from_slice(&ordered_i64(datestamp.unix()));
    k.extend_from_slice(identifier.as_bytes());
    k
}

/// `scope ‖ datestamp`: the first key at this datestamp.
pub fn at(scope: &[u8], datestamp: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(scope.len() + 8);
    k.extend_from_slice(scope);
    k.extend_from_slice(&ordered_i64(datestamp));
    k
}

/// Splits the tail of an index key after its scope into (datestamp, identifier).
pub fn split_entry(tail: &[u8]) -> Option<(Datestamp, &str)> {
    let d = decode_ordered_i64(tail)?;
    let id = std::str::from_utf8(tail.get(8..)?).ok()?;
    Some((Datestamp::from_unix(d), id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn store_key_order_is_chronological_order(a in any::<i64>(), b in any::<i64>(), ia in "[a-z:0-9]{1,8}", ib in "[a-z:0-9]{1,8}") {
            let ka = entry(b"oai_dc\0", Datestamp::from_unix(a), &ia);
            let kb = entry(b"oai_dc\0", Datestamp::from_unix(b), &ib);
            prop_assert_eq!(ka.cmp(&kb), (a, ia.as_str()).cmp(&(b, ib.as_str())));
            prop_assert_eq!(split_entry(&ka[7..]), Some((Datestamp::from_unix(a), ia.as_str())));
        }
    }
}
