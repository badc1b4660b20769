//! The PMB importer: catalogue displays copied from a PMB OPAC (PMB Services' library system)
//! → Dublin Core records, as a pure parse + map pipeline (no store, no I/O).
//!
//! It owns the PMB crosswalk (`schemas/pmb-crosswalk.md`, following the project's
//! `pmb-crosswalk.md` §4–§7 and §9) and these stages:
//!
//! - [`decode_input`]: bytes → text (UTF-8 or Windows-1252; binary junk and mojibake refused);
//! - [`parse()`]: text → [`PmbRecord`]s (labelled fields; repeated displays of one record merged);
//! - [`map_record`]: one record → [`MappedRecord`] (a [`crate::dc::DcRecord`], its OAI sets,
//!   its local id and the fields DC cannot hold).
//!
//! [`parse_and_map`] chains the last two. Errors are per record and name their line, so one bad
//! record never hides the others.

mod decode;
mod error;
pub mod load;
pub mod map;
pub mod parse;
pub(crate) mod values;

pub use decode::{check_start, decode_input};
pub use error::PmbError;
pub use map::{map_record, MappedRecord, RecordKind, SetDef};
pub use parse::{parse, FieldKind, Permalink, PmbField, PmbRecord, TextBlock, MAX_VALUE_BYTES};

/// Parses a display and maps each record: one result per record, in file order.
pub fn parse_and_map(text: &str) -> Vec<Result<MappedRecord, PmbError>> {
    parse(text)
        .into_iter()
        .map(|record| record.and_then(|r| map_record(&r)))
        .collect()
}

/// Decodes the bytes of a display file, then [`parse_and_map`]s it.
///
/// # Errors
///
/// The decoding errors of [`decode_input`], which concern the whole file.
/// [`PmbError::NotADisplay`] when the text holds no line `Label : |` with a PMB field label:
/// a README or a JSON file is not a catalogue display, whatever its lines look like.
pub fn import_bytes(bytes: &[u8]) -> Result<Vec<Result<MappedRecord, PmbError>>, PmbError> {
    Ok(parse_and_map(&display_text(bytes)?))
}

/// Checks, without mapping anything, that `bytes` may be displays: the whole-input errors of
/// [`import_bytes`] (binary, mixed encodings, no PMB field label).
///
/// # Errors
/// The same whole-input errors as [`import_bytes`].
pub fn check_display(bytes: &[u8]) -> Result<(), PmbError> {
    display_text(bytes).map(drop)
}

/// The decoded text of `bytes`, when it may be displays.
fn display_text(bytes: &[u8]) -> Result<String, PmbError> {
    let text = decode_input(bytes)?;
    if !parse::looks_like_display(&text) {
        return Err(PmbError::NotADisplay);
    }
    Ok(text)
}
