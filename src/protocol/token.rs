//! Resumption tokens (§3.5 and the Implementation Guidelines on flow control): stateless,
//! signed, and positioned by key rather than by offset.
//!
//! A token carries everything needed to continue a list: the filter of the first request, the
//! `until` pinned at that request (so a list always terminates and nothing changed during the
//! harvest is lost: it moves past `until` and is picked up by the next incremental harvest), the
//! (datestamp, identifier) of the last item sent, the cursor, the completeListSize and an
//! expiry. It is signed with HMAC-SHA256 under a secret made when the store was created, so a
//! tampered, truncated or foreign token is refused and can never widen a result, and a token
//! keeps working across restarts. Nothing is kept on the server.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::types::{Datestamp, MetadataPrefix, SetSpec};

const FORMAT_VERSION: u8 = 1;
const MAC_LEN: usize = 16;
/// Longest token accepted; anything longer is not one of ours.
const MAX_TOKEN_LEN: usize = 4096;

/// Which list a token continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListKind {
    /// ListIdentifiers
    Identifiers,
    /// ListRecords
    Records,
    /// ListSets
    Sets,
}

/// The filter of a ListIdentifiers or ListRecords request, with `until` pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListFilter {
    /// The metadataPrefix asked for.
    pub metadata_prefix: MetadataPrefix,
    /// The set asked for, if any.
    pub set: Option<SetSpec>,
    /// First datestamp included, if any.
    pub from: Option<Datestamp>,
    /// Last datestamp included: the request's `until`, or the time of the first request.
    pub until: Datestamp,
}

/// Where a list stopped: the last item sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Position {
    /// Records and headers are ordered by (datestamp, identifier).
    Record(Datestamp, String),
    /// Sets are ordered by setSpec.
    Set(String),
}

/// The decoded content of a resumption token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumptionToken {
    /// Which verb's list this continues.
    pub kind: ListKind,
    /// The record filter (absent for ListSets).
    pub filter: Option<ListFilter>,
    /// The last item already sent.
    pub after: Position,
    /// Number of items sent before the next page.
    pub cursor: u64,
    /// Size of the whole list, counted at the first request.
    pub complete_list_size: u64,
    /// After this instant the token is refused.
    pub expires: Datestamp,
}

/// Why a token was refused (the message of a badResumptionToken error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64, too short, or too long.
    #[error("the resumptionToken is not one this repository issued")]
    Malformed,
    /// The signature does not match: tampered with, truncated, or from another repository.
    #[error("the resumptionToken is not one this repository issued (bad signature)")]
    BadSignature,
    /// The token's lifetime is over.
    #[error("the resumptionToken expired at {0}; start the list again")]
    Expired(Datestamp),
    /// The token belongs to another verb.
    #[error("the resumptionToken belongs to another verb")]
    WrongVerb,
}

/// Signs and checks tokens with the repository's secret.
#[derive(Clone)]
pub struct TokenCodec {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec { secret: [redacted] }")
    }
}

impl TokenCodec {
    /// A codec signing with `secret`.
    pub fn new(secret: &[u8]) -> Self {
        TokenCodec {
            secret: secret.to_vec(),
        }
    }

    fn mac(&self, payload: &[u8]) -> [u8; MAC_LEN] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length.");
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&full[..MAC_LEN]);
        out
    }

    /// Encodes and signs a token as URL- and XML-safe text.
    pub fn encode(&self, token: &ResumptionToken) -> String {
        let mut bytes = vec![FORMAT_VERSION];
        bytes.extend(
            postcard::to_stdvec(token).expect("Serializing a token to memory cannot fail."),
        );
        let mac = self.mac(&bytes);
        bytes.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks and decodes a token issued for `kind`, refusing it after its expiry.
    pub fn decode(
        &self,
        text: &str,
        kind: ListKind,
        now: Datestamp,
    ) -> Result<ResumptionToken, TokenError> {
        if text.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() < 1 + MAC_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, mac) = bytes.split_at(bytes.len() - MAC_LEN);
        let mut check =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length.");
        check.update(payload);
        check
            .verify_truncated_left(mac)
            .map_err(|_| TokenError::BadSignature)?;
        if payload[0] != FORMAT_VERSION {
            return Err(TokenError::Malformed);
        }
        let token: ResumptionToken =
            postcard::from_bytes(&payload[1..]).map_err(|_| TokenError::Malformed)?;
        if token.kind != kind {
            return Err(TokenError::WrongVerb);
        }
        if now > token.expires {
            return Err(TokenError::Expired(token.expires));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(id: String, cursor: u64) -> ResumptionToken {
        ResumptionToken {
            kind: ListKind::Records,
            filter: Some(ListFilter {
                metadata_prefix: MetadataPrefix::oai_dc(),
                set: SetSpec::parse("a:b"),
                from: None,
                until: Datestamp::from_unix(1_700_000_000),
            }),
            after: Position::Record(Datestamp::from_unix(1_600_000_000), id),
            cursor,
            complete_list_size: cursor + 7,
            expires: Datestamp::from_unix(1_800_000_000),
        }
    }

    #[test]
    fn tampered_truncated_foreign_and_expired_tokens_are_refused() {
        let codec = TokenCodec::new(b"secret-one");
        let now = Datestamp::from_unix(1_700_000_000);
        let text = codec.encode(&sample("oai:x:1".into(), 100));
        assert!(codec.decode(&text, ListKind::Records, now).is_ok());
        assert_eq!(
            codec.decode(&text, ListKind::Identifiers, now),
            Err(TokenError::WrongVerb)
        );
        let foreign = TokenCodec::new(b"secret-two");
        assert_eq!(
            foreign.decode(&text, ListKind::Records, now),
            Err(TokenError::BadSignature)
        );
        assert!(codec
            .decode(&text[..text.len() - 3], ListKind::Records, now)
            .is_err());
        let mut chars: Vec<char> = text.chars().collect();
        chars[5] = if chars[5] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        assert!(codec.decode(&tampered, ListKind::Records, now).is_err());
        assert!(codec.decode("garbage!!", ListKind::Records, now).is_err());
        assert!(codec.decode("", ListKind::Records, now).is_err());
        let later = Datestamp::from_unix(1_800_000_001);
        assert!(matches!(
            codec.decode(&text, ListKind::Records, later),
            Err(TokenError::Expired(_))
        ));
    }

    proptest! {
        #[test]
        fn token_round_trips_through_encode_and_decode(id in "\\PC{1,200}", cursor in 0u64..u64::MAX / 2) {
            let codec = TokenCodec::new(b"k");
            let token = sample(id, cursor);
            let text = codec.encode(&token);
            prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(codec.decode(&text, ListKind::Records, Datestamp::from_unix(0)), Ok(token));
        }

        #[test]
        fn any_garbage_is_refused_without_panicking(text in "\\PC{0,300}") {
            let codec = TokenCodec::new(b"k");
            prop_assert!(codec.decode(&text, ListKind::Records, Datestamp::from_unix(0)).is_err());
        }
    }
}
