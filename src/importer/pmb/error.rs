//! The one error type of the PMB importer: every variant names the 1-based line it concerns.

/// Why a PMB display (or one record of it) could not be imported.
///
/// Errors are per record: [`super::parse_and_map`] returns one `Result` per record, so a bad
/// record never hides the good ones around it. Decoding errors concern the whole input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PmbError {
    /// The input is not text (NUL bytes, UTF-16, too many control bytes).
    #[error("line {line}: not a text display: {reason}")]
    Binary {
        /// Line of the first offending byte.
        line: usize,
        /// What was found.
        reason: String,
    },
    /// The text holds no PMB field label at all (`Titre : |`, `Auteurs : |`…): it is not a
    /// catalogue display, and none of it is imported.
    #[error(
        "not a PMB display: no line holds a PMB field label such as `Titre : |` \
         (export the records from the OPAC as displayed)"
    )]
    NotADisplay,
    /// Part of the input is UTF-8 and part is not, so no single decoding is right.
    #[error(
        "line {line}: the input mixes UTF-8 with another encoding (this line is not UTF-8); \
         re-export the display in one encoding"
    )]
    MixedEncoding {
        /// Line of the first byte that is not UTF-8.
        line: usize,
    },
    /// UTF-8 text that was already decoded once as Windows-1252 and re-encoded ("Ã©" for "é").
    #[error(
        "line {line}: the text is double-encoded UTF-8 (mojibake such as {sample:?}); \
         re-export the display as UTF-8"
    )]
    Mojibake {
        /// Line of the first mojibake sequence.
        line: usize,
        /// The offending characters, as found.
        sample: String,
    },
    /// The record has no usable `Titre` (missing, empty, and no ISBD title to fall back on).
    #[error(
        "line {line}: the record has no Titre (no non-empty `Titre : |` field and no ISBD title)"
    )]
    MissingTitle {
        /// Line where the record starts.
        line: usize,
    },
    /// A field was opened (`Label : |`) and the file ended before its closing ` |`.
    #[error("line {line}: the field {label:?} is not closed by ` |` before the end of the file")]
    UnterminatedField {
        /// Line where the field starts.
        line: usize,
        /// The field's label as displayed.
        label: String,
    },
    /// One value is larger than [`super::MAX_VALUE_BYTES`].
    #[error(
        "line {line}: the value of {label:?} is {size} bytes, over the limit of {limit} bytes"
    )]
    ValueTooLarge {
        /// Line where the field starts.
        line: usize,
        /// The field's label as displayed (`text` for text outside any field).
        label: String,
        /// Size of the value in bytes (at least).
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
}

impl PmbError {
    /// The 1-based line the error concerns.
    pub fn line(&self) -> usize {
        match self {
            PmbError::Binary { line, .. }
            | PmbError::MixedEncoding { line }
            | PmbError::Mojibake { line, .. }
            | PmbError::MissingTitle { line }
            | PmbError::UnterminatedField { line, .. }
            | PmbError::ValueTooLarge { line, .. } => *line,
            PmbError::NotADisplay => 1,
        }
    }
}
