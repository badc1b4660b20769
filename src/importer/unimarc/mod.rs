//! The UNIMARC importer: what PMB (PMB Services' library system) really publishes — its OAI
//! connector's `pmb_xml_unimarc`, its "UNIMARC PMB XML" and "UNIMARC ISO2709" exports — read
//! into a UNIMARC model and mapped to Dublin Core, as a pure parse + map pipeline (no store,
//! no I/O).
//!
//! Stages:
//!
//! - [`read`]: bytes → [`UnimarcRecord`]s, detecting the format (`<` starts PMB XML, five
//!   digits an ISO 2709 leader; anything else is refused as not UNIMARC, naming what it looks
//!   like). One result per record, so one bad record never hides the others.
//! - [`map_record`]: one record → [`Mapped`]: a [`MappedRecord`] (the type the display
//!   importer produces, so a bulletin gets the same identifier and sets from either), or a
//!   record skipped on purpose and why.
//!
//! - [`write_notice`]: a record back to PMB's `<notice>` XML in PMB's namespace, as the
//!   harvester serves harvested notices (`pmb_xml_unimarc`).
//! - [`load`]: files into a store, for `moisson import unimarc` and the admin API.
//!
//! [`import_bytes`] chains reading and mapping for a file; [`read_payload`] reads and
//! [`map_payload`] maps the one `<notice>` of a harvested `<metadata>`.
//!
//! Why by hand: the crates that read ISO 2709 (`marc`, `marctk`) are MARC 21 readers. They
//! take every 00x tag for a control field (PMB writes 009 with indicators and $a), decode
//! UTF-8 only (no ISO 5426 diacritics before their letter, no character set read from 100$a),
//! and none reads PMB's `<notice>` XML, whose layout is PMB's own, not MARCXML. quick-xml
//! (already used for OAI-PMH) does the XML, encoding_rs the single-byte encodings and
//! unicode-normalization the NFC recomposition; what is left is the UNIMARC structure itself.
//!
//! [`MappedRecord`]: crate::importer::pmb::MappedRecord

mod charset;
pub mod crosswalk;
mod error;
mod iso2709;
pub mod load;
pub mod record;
#[cfg(test)]
mod tests;
mod write;
mod xml;

pub use crosswalk::{
    map_record, CrosswalkOptions, KeywordSeparator, Mapped, OpacUrl, OptionError, SkipReason,
    Skipped, DEFAULT_KEYWORD_SEPARATOR,
};
pub use error::UnimarcError;
pub use record::{Field, FieldValue, Label, Level, Position, Subfield, Tag, UnimarcRecord};
pub use write::{write_notice, PMB_NAMESPACE};

use crate::importer::pmb::SetDef;

/// The two serialisations PMB exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PMB's `<notice>` XML (a `<unimarc>` file, an OAI-PMH response or one `<notice>`).
    PmbXml,
    /// ISO 2709.
    Iso2709,
}

/// The records of an input, in order (see [`read`]).
pub struct Records<'a>(Inner<'a>);

enum Inner<'a> {
    Xml(xml::XmlRecords<'a>),
    Iso(iso2709::IsoRecords<'a>),
}

impl Records<'_> {
    /// The format detected.
    pub fn format(&self) -> Format {
        match self.0 {
            Inner::Xml(_) => Format::PmbXml,
            Inner::Iso(_) => Format::Iso2709,
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<UnimarcRecord, UnimarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Inner::Xml(r) => r.next(),
            Inner::Iso(r) => r.next(),
        }
    }
}

/// What an input that is not UNIMARC looks like, for the error message.
fn describe(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(1024)];
    let starts = |p: &[u8]| bytes.starts_with(p);
    if starts(b"\x89PNG") {
        "a PNG image".into()
    } else if starts(b"%PDF") {
        "a PDF document".into()
    } else if starts(b"PK\x03\x04") {
        "a ZIP archive (an office document?)".into()
    } else if starts(b"\x1F\x8B") {
        "gzip-compressed data; uncompress it first".into()
    } else if starts(b"\xFF\xFE") || starts(b"\xFE\xFF") {
        "UTF-16 text; export it as UTF-8".into()
    } else if head.contains(&0) {
        "binary data".into()
    } else if starts(b"{") || starts(b"[") {
        "JSON or JSON Lines (for Dublin Core in JSON Lines, use the dc importer)".into()
    } else {
        let line = String::from_utf8_lossy(head);
        let line = line.lines().next().unwrap_or_default();
        let sample: String = line.chars().take(40).collect();
        format!("text that is neither XML nor ISO 2709 (it starts with {sample:?})")
    }
}

/// Detects the format of an input from its first bytes.
///
/// # Errors
///
/// [`UnimarcError::NotUnimarc`] for an empty input or one that starts like neither.
pub fn detect(bytes: &[u8]) -> Result<Format, UnimarcError> {
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err(UnimarcError::NotUnimarc {
            what: "the input is empty".into(),
        });
    };
    let body = &body[start..];
    if body.starts_with(b"<") {
        Ok(Format::PmbXml)
    } else if body.len() >= 5 && body[..5].iter().all(u8::is_ascii_digit) {
        Ok(Format::Iso2709)
    } else {
        Err(UnimarcError::NotUnimarc {
            what: describe(body),
        })
    }
}

/// Reads the records of an input in either format.
///
/// # Errors
///
/// The errors that concern the whole input: [`UnimarcError::NotUnimarc`] (empty, not XML nor
/// ISO 2709, XML whose root is not `<unimarc>`, `<notice>` or `<OAI-PMH>`) and
/// [`UnimarcError::UnsupportedEncoding`]. Errors of one record come from the iterator.
pub fn read(bytes: &[u8]) -> Result<Records<'_>, UnimarcError> {
    Ok(Records(match detect(bytes)? {
        Format::PmbXml => Inner::Xml(xml::XmlRecords::new(bytes)?),
        Format::Iso2709 => Inner::Iso(iso2709::IsoRecords::new(bytes)),
    }))
}

/// Reads and maps every record of an input: one result per record, in input order.
///
/// # Errors
///
/// The whole-input errors of [`read`].
pub fn import_bytes<'a>(
    bytes: &'a [u8],
    options: &'a CrosswalkOptions,
) -> Result<impl Iterator<Item = Result<Mapped, UnimarcError>> + 'a, UnimarcError> {
    Ok(read(bytes)?.map(move |record| record.and_then(|r| map_record(&r, options, &[]))))
}

/// Reads the payload of one harvested `<metadata>` (`pmb_xml_unimarc`: one `<notice>`, with
/// or without a namespace).
///
/// # Errors
///
/// Any error of [`read`], and [`UnimarcError::NotOneNotice`] when the payload holds no
/// `<notice>` or several.
pub fn read_payload(xml: &[u8]) -> Result<UnimarcRecord, UnimarcError> {
    if detect(xml)? != Format::PmbXml {
        return Err(UnimarcError::NotUnimarc {
            what: "a harvested payload that is not XML".into(),
        });
    }
    let mut records = xml::XmlRecords::new(xml)?;
    let first = records.next();
    let count = usize::from(first.is_some()) + records.count();
    match first {
        Some(record) if count == 1 => record,
        _ => Err(UnimarcError::NotOneNotice { count }),
    }
}

/// Maps the payload of one harvested `<metadata>` (see [`read_payload`]); `sets` are the PMB
/// OAI sets of its header, with their names.
///
/// # Errors
///
/// Any error of [`read_payload`] or [`map_record`].
pub fn map_payload(
    xml: &[u8],
    options: &CrosswalkOptions,
    sets: &[SetDef],
) -> Result<Mapped, UnimarcError> {
    map_record(&read_payload(xml)?, options, sets)
}
