//! The one error type of the UNIMARC readers and crosswalk: every per-record variant names the
//! record by number, line and byte offset ([`Position`]).

use super::record::Position;

/// Why a UNIMARC input (or one record of it) could not be read or mapped.
///
/// Errors are per record wherever the input allows going on: the readers yield one `Result` per
/// record, so a bad record never hides the good ones after it. [`UnimarcError::NotUnimarc`] and
/// [`UnimarcError::UnsupportedEncoding`] concern the whole input; after a malformed-XML error
/// or a truncated record nothing more can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnimarcError {
    /// The input is neither PMB XML nor ISO 2709 (a README, JSON Lines, an image…).
    #[error("not UNIMARC (neither PMB XML nor ISO 2709): {what}")]
    NotUnimarc {
        /// What the input looks like.
        what: String,
    },
    /// The XML declaration names an encoding that is neither UTF-8 nor a single-byte one.
    #[error("the XML declares the encoding {0:?}; only UTF-8 and single-byte encodings (ISO-8859-1, Windows-1252…) are read")]
    UnsupportedEncoding(String),
    /// The XML is not well-formed; nothing after this point can be read.
    #[error("{at}: malformed XML at byte {offset}: {message}")]
    Xml {
        /// The record being read (the next one when the error is between records).
        at: Position,
        /// Byte offset of the error.
        offset: usize,
        /// What the XML reader said.
        message: String,
    },
    /// The input ends inside a record.
    #[error("{at}: the record is truncated: {what}")]
    Truncated {
        /// The record.
        at: Position,
        /// What is missing.
        what: String,
    },
    /// An ISO 2709 leader that is not one.
    #[error("{at}: wrong leader {leader:?}: {reason}")]
    Leader {
        /// The record.
        at: Position,
        /// The 24 bytes found (lossily decoded).
        leader: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An ISO 2709 directory that does not match the data it describes.
    #[error("{at}: the directory does not match the data at byte {offset}: {reason}")]
    Directory {
        /// The record.
        at: Position,
        /// Byte offset (in the input) of the mismatch.
        offset: usize,
        /// What does not match.
        reason: String,
    },
    /// A value whose bytes are not in the record's character set: the input mixes encodings.
    #[error(
        "{at}: {field} at byte {offset} is not {expected}: the input mixes encodings; \
         re-export it in one character set"
    )]
    MixedEncoding {
        /// The record.
        at: Position,
        /// Where the value sits (`200$a`, `label dt`).
        field: String,
        /// Byte offset (in the input) of the value.
        offset: usize,
        /// The character set the record declares.
        expected: &'static str,
    },
    /// 100$a positions 26–29 name character sets the reader does not know.
    #[error(
        "{at}: 100$a positions 26-29 declare the character sets {code:?}; only 50 (UTF-8) and \
         01/02/03 + 03 (ISO 646 + ISO 5426) are read"
    )]
    Charset {
        /// The record.
        at: Position,
        /// The four characters found.
        code: String,
    },
    /// A record whose structure is not UNIMARC: a label element of more than one character, a
    /// tag that is not three letters or digits, a subfield without a code…
    #[error("{at}: {message}")]
    Malformed {
        /// The record.
        at: Position,
        /// What is wrong.
        message: String,
    },
    /// A record without a control number (001), which every identifier is built from.
    #[error("{at}: the record has no 001 (control number)")]
    NoControlNumber {
        /// The record.
        at: Position,
    },
    /// A record that gives no title at all.
    #[error("{at}: notice {id} has no title ({why})")]
    NoTitle {
        /// The record.
        at: Position,
        /// Its 001.
        id: String,
        /// What was looked at.
        why: String,
    },
    /// A harvested `<metadata>` payload that does not hold exactly one `<notice>`.
    #[error("the metadata holds {count} <notice> elements, not one")]
    NotOneNotice {
        /// How many were found.
        count: usize,
    },
}

impl UnimarcError {
    /// The record the error concerns, when it concerns one.
    pub fn position(&self) -> Option<Position> {
        match self {
            UnimarcError::NotUnimarc { .. }
            | UnimarcError::UnsupportedEncoding(_)
            | UnimarcError::NotOneNotice { .. } => None,
            UnimarcError::Xml { at, .. }
            | UnimarcError::Truncated { at, .. }
            | UnimarcError::Leader { at, .. }
            | UnimarcError::Directory { at, .. }
            | UnimarcError::MixedEncoding { at, .. }
            | UnimarcError::Charset { at, .. }
            | UnimarcError::Malformed { at, .. }
            | UnimarcError::NoControlNumber { at }
            | UnimarcError::NoTitle { at, .. } => Some(*at),
        }
    }
}
