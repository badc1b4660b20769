//! Reading OAI-PMH responses (§3.2, §4) as a harvester receives them from other software.
//!
//! Two steps, both tolerant where tolerance loses nothing and strict where it would:
//!
//! 1. [`sanitize`] turns the body into UTF-8 text that an XML 1.0 parser accepts: characters
//!    XML 1.0 forbids (raw, or written as character references such as `&#x1;`) are removed and
//!    counted exactly, where they were; TAB, LF, CR and U+FFFD are legal and kept. A `&` that
//!    starts no valid reference is escaped, because one bad record must not sink a whole page
//!    (DSpace #10721 is the classic case). Where each removal, and each U+FFFD put in place of
//!    bytes that are not UTF-8 (such as a surrogate's encoding), happened is kept, so that a
//!    header field that held one is flagged ([`RawHeader::forbidden_in`]): stripping is right
//!    for a title, but would turn `oai:x:1\u{FFFE}` into another record's identifier.
//! 2. [`read_response`] walks the document with quick-xml's event loop. A document that is not
//!    a complete OAI-PMH response — truncated, an HTML error page served with 200, anything
//!    after `</OAI-PMH>` — is an error, never a partial result: a lenient parser that drops
//!    the resumptionToken lets a harvest "succeed" half-way (Sickle PR #55).
//!
//! Payloads other than `oai_dc` are kept as the exact bytes harvested (an [`Element`]), with
//! the namespace declarations they inherit from the envelope copied onto their root, so that
//! they stand alone when re-exposed.

use std::ops::Range;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::NsReader;

use super::write::OAI_NAMESPACE;
use crate::dc::xml::{push_event_text, OAI_DC_NAMESPACE};
use crate::dc::{is_xml_char, DcRecord};
use crate::protocol::types::Verb;

/// Namespace of the `<provenance>` about container (OAI provenance guidelines).
pub const PROVENANCE_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/provenance";

/// Why a body is not a usable OAI-PMH response. Every variant means "this page is not
/// trustworthy": the harvester retries it and never commits a part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing but whitespace.
    #[error("the response body is empty")]
    Empty,
    /// The root element is not `<OAI-PMH>` (typically an HTML error page served with 200).
    #[error("not an OAI-PMH response: the document starts with {found}")]
    NotOaiPmh {
        /// What came first, such as `<html>` or `text`.
        found: String,
    },
    /// The document ends before `</OAI-PMH>`.
    #[error("the response is truncated: it ends inside <{open}>")]
    Truncated {
        /// The innermost element still open.
        open: String,
    },
    /// Markup or text follows `</OAI-PMH>`.
    #[error("unexpected content after </OAI-PMH> at byte {position}")]
    TrailingContent {
        /// Byte offset of the content.
        position: u64,
    },
    /// The XML is not well-formed.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the parser stopped.
        position: u64,
        /// What the parser said.
        message: String,
    },
    /// The XML declaration names an encoding nobody knows.
    #[error("unknown character encoding \"{0}\"")]
    Encoding(String),
    /// An `<OAI-PMH>` element with neither a verb element nor an `<error>`.
    #[error("the response has neither a verb element nor an error")]
    NoContent,
}

/// A body made ready for the XML parser (see [`sanitize`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sanitized {
    /// The UTF-8 text.
    pub text: String,
    /// For each character removed because XML 1.0 forbids it, the byte offset in `text` where
    /// it was (sorted), so that removals can be attributed to the record that had them.
    pub removed: Vec<usize>,
    /// For each U+FFFD put in place of bytes that were not UTF-8, its byte offset in `text`
    /// (sorted).
    pub replaced: Vec<usize>,
    /// `&` characters that started no valid reference and were escaped as `&amp;`.
    pub repaired_ampersands: usize,
    /// Byte sequences that were not UTF-8, each replaced by U+FFFD.
    pub invalid_utf8: usize,
}

/// Decodes a response body and removes what XML 1.0 forbids.
///
/// The body is UTF-8 (OAI-PMH §3.1.2.1); a UTF-8 byte-order mark is dropped, an XML
/// declaration naming another encoding is honoured, and invalid UTF-8 becomes U+FFFD.
///
/// # Errors
/// [`ReadError::Encoding`] when the declared encoding is unknown.
pub fn sanitize(body: Vec<u8>) -> Result<Sanitized, ReadError> {
    let (text, invalid_at) = decode(&body)?;
    drop(body);
    let mut cleaned = clean(text, &invalid_at);
    cleaned.invalid_utf8 = invalid_at.len();
    Ok(cleaned)
}

fn declared_encoding(body: &[u8]) -> Option<&str> {
    let head = body.get(..body.len().min(256))?;
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let decl = &head[..head.windows(2).position(|w| w == b"?>")?];
    let at = decl.windows(8).position(|w| w == b"encoding")? + 8;
    let rest = decl[at..]
        .trim_ascii_start()
        .strip_prefix(b"=")?
        .trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &rest[1..];
    let end = value.iter().position(|&b| b == quote)?;
    std::str::from_utf8(&value[..end]).ok()
}

/// The text, and where a U+FFFD replaced bytes that were not in the encoding (for UTF-8;
/// other encodings only say whether it happened, at offset 0).
fn decode(body: &[u8]) -> Result<(String, Vec<usize>), ReadError> {
    let some_error = |had: bool| if had { vec![0] } else { Vec::new() };
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(body) {
        if encoding == encoding_rs::UTF_8 {
            return Ok(utf8_lossy(&body[bom..]));
        }
        let (text, had_errors) = encoding.decode_without_bom_handling(&body[bom..]);
        return Ok((text.into_owned(), some_error(had_errors)));
    }
    if let Some(label) = declared_encoding(body) {
        let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes())
            .ok_or_else(|| ReadError::Encoding(label.to_owned()))?;
        // A declaration readable as ASCII cannot begin a UTF-16 document without a BOM.
        let ascii_compatible =
            encoding != encoding_rs::UTF_16LE && encoding != encoding_rs::UTF_16BE;
        if encoding != encoding_rs::UTF_8 && ascii_compatible {
            let (text, had_errors) = encoding.decode_without_bom_handling(body);
            return Ok((text.into_owned(), some_error(had_errors)));
        }
    }
    Ok(utf8_lossy(body))
}

fn utf8_lossy(body: &[u8]) -> (String, Vec<usize>) {
    // A vectorised check and a copy cost a fraction of std's validation of the same body,
    // which ran at under 1 GB/s on text with accented letters: 7% of a harvest's CPU.
    if let Ok(text) = simdutf8::basic::from_utf8(body) {
        return (text.to_owned(), Vec::new());
    }
    let mut text = String::with_capacity(body.len());
    let mut invalid = Vec::new();
    for chunk in body.utf8_chunks() {
        text.push_str(chunk.valid());
        if !chunk.invalid().is_empty() {
            invalid.push(text.len());
            text.push('\u{FFFD}');
        }
    }
    (text, invalid)
}

/// What a `&` at some position starts.
enum Reference {
    /// A predefined entity or a character reference to a legal character: `len` bytes.
    Valid(usize),
    /// A character reference to a character XML 1.0 forbids: `len` bytes, to remove.
    IllegalChar(usize),
    /// Not a reference at all.
    Invalid,
}

fn reference_at(b: &[u8]) -> Reference {
    let Some(end) = b.iter().take(40).position(|&c| c == b';') else {
        return Reference::Invalid;
    };
    let body = &b[1..end];
    if let Some(num) = body.strip_prefix(b"#") {
        let (digits, radix) = match num.strip_prefix(b"x") {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        let ok = !digits.is_empty()
            && digits.iter().all(|c| {
                if radix == 16 {
                    c.is_ascii_hexdigit()
                } else {
                    c.is_ascii_digit()
                }
            });
        if !ok {
            return Reference::Invalid;
        }
        let legal = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .and_then(char::from_u32)
            .is_some_and(is_xml_char);
        return if legal {
            Reference::Valid(end + 1)
        } else {
            Reference::IllegalChar(end + 1)
        };
    }
    match body {
        b"lt" | b"gt" | b"amp" | b"apos" | b"quot" => Reference::Valid(end + 1),
        _ => Reference::Invalid,
    }
}

fn illegal_raw_len(b: &[u8]) -> usize {
    match b {
        [c, ..] if *c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r') => 1,
        // U+FFFE and U+FFFF
        [0xEF, 0xBF, 0xBE | 0xBF, ..] => 3,
        _ => 0,
    }
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Bytes [`clean`] steps over at once when none of them needs a look.
const PLAIN_CHUNK: usize = 64;

/// True when the chunk at `i` holds no control character, `&`, `0xEF` (U+FFFD, U+FFFE,
/// U+FFFF) or `!` (the second byte of `<![CDATA[` and `<!--`), and the byte after it is not a
/// `!` either: nothing in it can need removing or start a literal section. One vectorised test
/// instead of a branch per byte, since bodies are megabytes of such chunks.
fn skips_plain_chunk(b: &[u8], i: usize) -> bool {
    let Some(chunk) = b.get(i..i + PLAIN_CHUNK) else {
        return false;
    };
    b.get(i + PLAIN_CHUNK) != Some(&b'!')
        && !crate::dc::any_illegal_xml_or(chunk, false, [b'&', b'!'])
}

/// Removes what XML forbids; `invalid_at` (sorted offsets of replacement characters in `text`)
/// are carried over to offsets in the result.
fn clean(text: String, invalid_at: &[usize]) -> Sanitized {
    let b = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut dirty = false;
    let mut removed = Vec::new();
    let mut replaced = Vec::with_capacity(invalid_at.len());
    let mut invalid = invalid_at.iter().copied().peekable();
    let mut repaired = 0;
    let mut run = 0;
    let mut i = 0;
    // Inside CDATA sections and comments `&` is not markup: only raw characters are checked.
    let mut literal_until: usize = 0;
    while i < b.len() {
        if skips_plain_chunk(b, i) {
            i += PLAIN_CHUNK;
            continue;
        }
        let c = b[i];
        if c >= 0x20 && c != b'&' && c != b'<' && c != 0xEF {
            i += 1;
            continue;
        }
        if c == 0xEF && invalid.peek() == Some(&i) {
            invalid.next();
            // Nothing before `i` in this run has been copied yet.
            replaced.push(out.len() + (i - run));
            i += 3;
            continue;
        }
        let n = illegal_raw_len(&b[i..]);
        if n > 0 {
            dirty = true;
            out.extend_from_slice(&b[run..i]);
            removed.push(out.len());
            i += n;
            run = i;
            continue;
        }
        if i < literal_until {
            i += 1;
            continue;
        }
        match c {
            b'<' if b[i..].starts_with(b"<![CDATA[") => {
                literal_until = find(b, i, b"]]>").map_or(b.len(), |p| p + 3);
                i += 1;
            }
            b'<' if b[i..].starts_with(b"<!--") => {
                literal_until = find(b, i, b"-->").map_or(b.len(), |p| p + 3);
                i += 1;
            }
            b'&' => match reference_at(&b[i..]) {
                Reference::Valid(len) => i += len,
                Reference::IllegalChar(len) => {
                    dirty = true;
                    out.extend_from_slice(&b[run..i]);
                    removed.push(out.len());
                    i += len;
                    run = i;
                }
                Reference::Invalid => {
                    dirty = true;
                    out.extend_from_slice(&b[run..i]);
                    out.extend_from_slice(b"&amp;");
                    repaired += 1;
                    i += 1;
                    run = i;
                }
            },
            _ => i += 1,
        }
    }
    let text = if dirty {
        out.extend_from_slice(&b[run..]);
        // Only whole characters and ASCII markup were removed or inserted.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    } else {
        text
    };
    if !dirty {
        // Nothing was copied: the offsets are those of the input.
        replaced = invalid_at.to_vec();
    }
    Sanitized {
        text,
        removed,
        replaced,
        repaired_ampersands: repaired,
        invalid_utf8: 0,
    }
}

/// True for a value `xml:lang` may take in a valid response: empty, or an `xs:language` tag
/// (`[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*`, the pattern of the XML schema).
pub fn is_xml_language(tag: &str) -> bool {
    tag.is_empty()
        || tag.split('-').enumerate().all(|(i, part)| {
            (1..=8).contains(&part.len())
                && part.chars().all(|c| {
                    if i == 0 {
                        c.is_ascii_alphabetic()
                    } else {
                        c.is_ascii_alphanumeric()
                    }
                })
        })
}

/// One `<error>` of a response (§3.6), as the provider wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// The `code` attribute, such as `noRecordsMatch`.
    pub code: String,
    /// The text, possibly empty.
    pub message: String,
}

/// A `<resumptionToken>` (§3.5.1). An empty `value` means the list is complete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenInfo {
    /// The token, trimmed: empty and whitespace-only tokens both end a list.
    pub value: String,
    /// The `completeListSize` attribute, when given and numeric.
    pub complete_list_size: Option<u64>,
    /// The `cursor` attribute, when given and numeric.
    pub cursor: Option<u64>,
    /// The `expirationDate` attribute, as written.
    pub expiration_date: Option<String>,
}

/// A record `<header>` (§2.5) with its fields as written (trimmed); the harvester parses them
/// so that one bad header rejects one record, not the page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawHeader {
    /// `<identifier>`
    pub identifier: String,
    /// `<datestamp>`
    pub datestamp: String,
    /// Every `<setSpec>`.
    pub set_specs: Vec<String>,
    /// `status="deleted"`.
    pub deleted: bool,
    /// The fields (`identifier`, `datestamp`, `setSpec`) that held a character XML forbids or
    /// bytes that were not UTF-8: their text here is not what the provider meant, so the
    /// record must be refused rather than stored under a changed identifier.
    pub forbidden_in: Vec<&'static str>,
}

/// An element kept as harvested: where it lies in the response text, and the namespace
/// declarations it inherits from its ancestors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The element's namespace, if bound.
    pub namespace: Option<String>,
    /// Its local name.
    pub local_name: String,
    range: Range<usize>,
    inherited: Vec<(Option<String>, String)>,
}

/// The `<metadata>` of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The payload element.
    pub element: Element,
    /// The payload read as Dublin Core, when it is `<oai_dc:dc>`.
    pub dc: Option<DcRecord>,
}

/// One `<about>` container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// The container element.
    pub element: Element,
    /// For a `<provenance>` container, its `<originDescription>`, to nest under ours.
    pub origin: Option<Element>,
}

/// One `<record>` (§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The header.
    pub header: RawHeader,
    /// The metadata, absent for deleted records.
    pub metadata: Option<Metadata>,
    /// The about containers.
    pub about: Vec<About>,
    /// Characters XML forbids that were removed inside this record.
    pub stripped_characters: usize,
    range: Range<usize>,
}

/// What Identify says (§4.2), fields as written (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identify {
    /// repositoryName
    pub repository_name: String,
    /// baseURL
    pub base_url: String,
    /// protocolVersion
    pub protocol_version: String,
    /// adminEmail, each
    pub admin_emails: Vec<String>,
    /// earliestDatestamp
    pub earliest_datestamp: String,
    /// deletedRecord: `no`, `transient` or `persistent`
    pub deleted_record: String,
    /// granularity: `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`
    pub granularity: String,
    /// compression, each
    pub compression: Vec<String>,
}

/// One `<metadataFormat>` (§4.4), fields trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawFormat {
    /// metadataPrefix
    pub prefix: String,
    /// schema
    pub schema: String,
    /// metadataNamespace
    pub namespace: String,
}

/// One `<set>` (§4.6).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawSet {
    /// setSpec
    pub spec: String,
    /// setName
    pub name: String,
    /// True when the setSpec held a character XML forbids or bytes that were not UTF-8.
    pub spec_altered: bool,
}

/// The content of the verb element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// No verb element (the response carries errors).
    None,
    /// `<Identify>`
    Identify(Box<Identify>),
    /// `<ListRecords>` or `<GetRecord>`
    Records(Vec<Record>),
    /// `<ListIdentifiers>`
    Headers(Vec<RawHeader>),
    /// `<ListMetadataFormats>`
    Formats(Vec<RawFormat>),
    /// `<ListSets>`
    Sets(Vec<RawSet>),
}

/// A complete, well-formed OAI-PMH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// `<responseDate>`, as written.
    pub response_date: Option<String>,
    /// The verb element found, if any.
    pub verb: Option<Verb>,
    /// The `<error>`s.
    pub errors: Vec<ProviderError>,
    /// The content of the verb element.
    pub payload: Payload,
    /// The `<resumptionToken>` element, when there is one.
    pub token: Option<TokenInfo>,
    /// Characters XML forbids removed from the whole body.
    pub stripped_characters: usize,
    /// Stray `&` escaped.
    pub repaired_ampersands: usize,
    /// Invalid UTF-8 sequences replaced by U+FFFD.
    pub invalid_utf8: usize,
    text: String,
}

impl Response {
    /// The records of a ListRecords or GetRecord response (none otherwise).
    pub fn records(&self) -> &[Record] {
        match &self.payload {
            Payload::Records(r) => r,
            _ => &[],
        }
    }

    /// The element as a standalone XML fragment: its bytes as harvested, with the namespace
    /// declarations it inherited from the envelope copied onto its start tag.
    pub fn element_xml(&self, element: &Element) -> Vec<u8> {
        let raw = self
            .text
            .get(element.range.clone())
            .unwrap_or_default()
            .as_bytes();
        if element.inherited.is_empty() {
            return raw.to_vec();
        }
        let name_end = raw
            .iter()
            .skip(1)
            .position(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
            .map_or(raw.len(), |p| p + 1);
        let mut out = Vec::with_capacity(raw.len() + 64 * element.inherited.len());
        out.extend_from_slice(&raw[..name_end]);
        for (prefix, namespace) in &element.inherited {
            out.extend_from_slice(b" xmlns");
            if let Some(prefix) = prefix {
                out.push(b':');
                out.extend_from_slice(prefix.as_bytes());
            }
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(quick_xml::escape::escape(namespace.as_str()).as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(&raw[name_end..]);
        out
    }
}

/// Sanitizes (see [`sanitize`]) and reads a response body.
///
/// # Errors
/// Any [`ReadError`]: the body is not a complete OAI-PMH response.
pub fn read_response(body: Vec<u8>) -> Result<Response, ReadError> {
    parse(sanitize(body)?)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    ResponseDate,
    ErrorMessage,
    Identifier,
    Datestamp,
    SetSpec,
    Token,
    RepositoryName,
    BaseUrl,
    ProtocolVersion,
    AdminEmail,
    EarliestDatestamp,
    DeletedRecord,
    Granularity,
    Compression,
    FormatPrefix,
    FormatSchema,
    FormatNamespace,
    SetSpecOfSet,
    SetName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Verb(Verb),
    Record,
    Header,
    Metadata,
    About,
    MetadataFormat,
    Set,
    Field(Field),
    Other,
}

#[derive(Default)]
struct State {
    response_date: Option<String>,
    verb: Option<Verb>,
    errors: Vec<ProviderError>,
    identify: Identify,
    records: Vec<Record>,
    headers: Vec<RawHeader>,
    formats: Vec<RawFormat>,
    sets: Vec<RawSet>,
    token: Option<TokenInfo>,
    record: Option<Record>,
    record_start: usize,
    header: RawHeader,
    format: RawFormat,
    set: RawSet,
    text: String,
    field_start: usize,
}

fn xml_error(reader: &NsReader<&[u8]>, e: &quick_xml::Error) -> ReadError {
    ReadError::Xml {
        position: reader.error_position(),
        message: e.to_string(),
    }
}

fn position(reader: &NsReader<&[u8]>) -> usize {
    usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX)
}

fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok().map(|v| v.trim().to_owned()))
}

fn child_ctx(parent: Ctx, local: &[u8]) -> Ctx {
    use Field as F;
    match (parent, local) {
        (Ctx::Root, b"responseDate") => Ctx::Field(F::ResponseDate),
        (Ctx::Root, b"error") => Ctx::Field(F::ErrorMessage),
        (Ctx::Root, verb) => std::str::from_utf8(verb)
            .ok()
            .and_then(Verb::parse)
            .map_or(Ctx::Other, Ctx::Verb),
        (Ctx::Verb(Verb::ListRecords | Verb::GetRecord), b"record") => Ctx::Record,
        (Ctx::Verb(Verb::ListIdentifiers) | Ctx::Record, b"header") => Ctx::Header,
        (
            Ctx::Verb(Verb::ListRecords | Verb::ListIdentifiers | Verb::ListSets),
            b"resumptionToken",
        ) => Ctx::Field(F::Token),
        (Ctx::Header, b"identifier") => Ctx::Field(F::Identifier),
        (Ctx::Header, b"datestamp") => Ctx::Field(F::Datestamp),
        (Ctx::Header, b"setSpec") => Ctx::Field(F::SetSpec),
        (Ctx::Record, b"metadata") => Ctx::Metadata,
        (Ctx::Record, b"about") => Ctx::About,
        (Ctx::Verb(Verb::Identify), name) => match name {
            b"repositoryName" => Ctx::Field(F::RepositoryName),
            b"baseURL" => Ctx::Field(F::BaseUrl),
            b"protocolVersion" => Ctx::Field(F::ProtocolVersion),
            b"adminEmail" => Ctx::Field(F::AdminEmail),
            b"earliestDatestamp" => Ctx::Field(F::EarliestDatestamp),
            b"deletedRecord" => Ctx::Field(F::DeletedRecord),
            b"granularity" => Ctx::Field(F::Granularity),
            b"compression" => Ctx::Field(F::Compression),
            _ => Ctx::Other,
        },
        (Ctx::Verb(Verb::ListMetadataFormats), b"metadataFormat") => Ctx::MetadataFormat,
        (Ctx::MetadataFormat, b"metadataPrefix") => Ctx::Field(F::FormatPrefix),
        (Ctx::MetadataFormat, b"schema") => Ctx::Field(F::FormatSchema),
        (Ctx::MetadataFormat, b"metadataNamespace") => Ctx::Field(F::FormatNamespace),
        (Ctx::Verb(Verb::ListSets), b"set") => Ctx::Set,
        (Ctx::Set, b"setSpec") => Ctx::Field(F::SetSpecOfSet),
        (Ctx::Set, b"setName") => Ctx::Field(F::SetName),
        _ => Ctx::Other,
    }
}

impl State {
    fn open(&mut self, ctx: Ctx, e: &BytesStart<'_>, at: usize) {
        match ctx {
            Ctx::Record => {
                self.record = Some(Record {
                    header: RawHeader::default(),
                    metadata: None,
                    about: Vec::new(),
                    stripped_characters: 0,
                    range: at..at,
                });
                self.record_start = at;
            }
            Ctx::Header => {
                self.header = RawHeader {
                    deleted: attribute(e, b"status").is_some_and(|s| s == "deleted"),
                    ..RawHeader::default()
                };
            }
            Ctx::Field(Field::ErrorMessage) => self.errors.push(ProviderError {
                code: attribute(e, b"code").unwrap_or_default(),
                message: String::new(),
            }),
            Ctx::Field(Field::Token) => {
                self.token = Some(TokenInfo {
                    value: String::new(),
                    complete_list_size: attribute(e, b"completeListSize")
                        .and_then(|v| v.parse().ok()),
                    cursor: attribute(e, b"cursor").and_then(|v| v.parse().ok()),
                    expiration_date: attribute(e, b"expirationDate"),
                });
            }
            Ctx::MetadataFormat => self.format = RawFormat::default(),
            Ctx::Set => self.set = RawSet::default(),
            Ctx::Verb(v) => self.verb = Some(v),
            _ => {}
        }
        if let Ctx::Field(_) = ctx {
            self.field_start = at;
        }
        self.text.clear();
    }

    fn close(&mut self, ctx: Ctx, end: usize, marks: &Marks<'_>) {
        let removed = marks.removed;
        match ctx {
            Ctx::Record => {
                if let Some(mut r) = self.record.take() {
                    r.range = self.record_start..end;
                    r.stripped_characters = count_in(removed, &r.range);
                    self.records.push(r);
                }
            }
            Ctx::Header => {
                let header = std::mem::take(&mut self.header);
                match self.record.as_mut() {
                    Some(r) => r.header = header,
                    None => self.headers.push(header),
                }
            }
            Ctx::MetadataFormat => self.formats.push(std::mem::take(&mut self.format)),
            Ctx::Set => self.sets.push(std::mem::take(&mut self.set)),
            Ctx::Field(field) => {
                let text = std::mem::take(&mut self.text);
                let value = if text.trim().len() == text.len() {
                    text
                } else {
                    text.trim().to_owned()
                };
                let range = self.field_start..end;
                if count_in(marks.removed, &range) + count_in(marks.replaced, &range) > 0 {
                    match field {
                        Field::Identifier => self.header.forbidden_in.push("identifier"),
                        Field::Datestamp => self.header.forbidden_in.push("datestamp"),
                        Field::SetSpec => self.header.forbidden_in.push("setSpec"),
                        Field::SetSpecOfSet => self.set.spec_altered = true,
                        _ => {}
                    }
                }
                self.set_field(field, value);
            }
            _ => {}
        }
    }

    fn set_field(&mut self, field: Field, value: String) {
        let id = &mut self.identify;
        match field {
            Field::ResponseDate => self.response_date = Some(value),
            Field::ErrorMessage => {
                if let Some(e) = self.errors.last_mut() {
                    e.message = value;
                }
            }
            Field::Identifier => self.header.identifier = value,
            Field::Datestamp => self.header.datestamp = value,
            Field::SetSpec => self.header.set_specs.push(value),
            Field::Token => {
                if let Some(t) = self.token.as_mut() {
                    t.value = value;
                }
            }
            Field::RepositoryName => id.repository_name = value,
            Field::BaseUrl => id.base_url = value,
            Field::ProtocolVersion => id.protocol_version = value,
            Field::AdminEmail => id.admin_emails.push(value),
            Field::EarliestDatestamp => id.earliest_datestamp = value,
            Field::DeletedRecord => id.deleted_record = value,
            Field::Granularity => id.granularity = value,
            Field::Compression => id.compression.push(value),
            Field::FormatPrefix => self.format.prefix = value,
            // DSpace (CONICET) writes the schema URL followed by a newline and indentation.
            Field::FormatSchema => self.format.schema = value,
            Field::FormatNamespace => self.format.namespace = value,
            Field::SetSpecOfSet => self.set.spec = value,
            Field::SetName => self.set.name = value,
        }
    }
}

/// Where the sanitizer changed the text: characters removed, and U+FFFD put for bytes that
/// were not UTF-8.
struct Marks<'a> {
    removed: &'a [usize],
    replaced: &'a [usize],
}

fn count_in(removed: &[usize], range: &Range<usize>) -> usize {
    let lo = removed.partition_point(|&p| p < range.start);
    let hi = removed.partition_point(|&p| p < range.end);
    hi - lo
}

fn name_of(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.name().as_ref()).into_owned()
}

fn parse(s: Sanitized) -> Result<Response, ReadError> {
    let Sanitized {
        text,
        removed,
        replaced,
        repaired_ampersands,
        invalid_utf8,
    } = s;
    let walked = {
        let mut reader = NsReader::from_reader(text.as_bytes());
        let marks = Marks {
            removed: &removed,
            replaced: &replaced,
        };
        walk(&mut reader, &marks)
    };
    let state = match walked {
        // Markup that never closes before the end of the body: the body was cut off.
        Err(ReadError::Xml { position, .. })
            if !text
                .as_bytes()
                .get(usize::try_from(position).unwrap_or(usize::MAX)..)
                .unwrap_or_default()
                .contains(&b'>') =>
        {
            return Err(ReadError::Truncated {
                open: "a tag".into(),
            })
        }
        other => other?,
    };
    if state.verb.is_none() && state.errors.is_empty() {
        return Err(ReadError::NoContent);
    }
    let payload = match state.verb {
        None => Payload::None,
        Some(Verb::Identify) => Payload::Identify(Box::new(state.identify)),
        Some(Verb::ListRecords | Verb::GetRecord) => Payload::Records(state.records),
        Some(Verb::ListIdentifiers) => Payload::Headers(state.headers),
        Some(Verb::ListMetadataFormats) => Payload::Formats(state.formats),
        Some(Verb::ListSets) => Payload::Sets(state.sets),
    };
    Ok(Response {
        response_date: state.response_date,
        verb: state.verb,
        errors: state.errors,
        payload,
        token: state.token,
        stripped_characters: removed.len(),
        repaired_ampersands,
        invalid_utf8,
        text,
    })
}

fn walk(reader: &mut NsReader<&[u8]>, marks: &Marks<'_>) -> Result<State, ReadError> {
    let mut state = State::default();
    let mut stack: Vec<(Ctx, String)> = Vec::with_capacity(16);
    let mut seen_root = false;
    let mut done = false;
    loop {
        let before = position(reader);
        let event = reader.read_event().map_err(|e| xml_error(reader, &e))?;
        if done {
            match event {
                Event::Eof => return Ok(state),
                Event::Comment(_) | Event::PI(_) => continue,
                Event::Text(ref t) if t.iter().all(u8::is_ascii_whitespace) => continue,
                _ => {
                    return Err(ReadError::TrailingContent {
                        position: before as u64,
                    })
                }
            }
        }
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let local = e.local_name();
                let ctx = match stack.last() {
                    None => {
                        // Tolerant: the root is recognised by its local name, whatever its
                        // namespace (some providers forget the default namespace).
                        if local.as_ref() != b"OAI-PMH" {
                            return Err(ReadError::NotOaiPmh {
                                found: format!("<{}>", name_of(e)),
                            });
                        }
                        seen_root = true;
                        Ctx::Root
                    }
                    Some((parent, _)) => match parent {
                        Ctx::Metadata => {
                            let (element, dc) = read_payload(reader, e, empty, before, true)?;
                            if let Some(r) = state.record.as_mut() {
                                r.metadata = Some(Metadata { element, dc });
                            }
                            continue;
                        }
                        Ctx::About => {
                            let about = read_about(reader, e, empty, before)?;
                            if let Some(r) = state.record.as_mut() {
                                r.about.push(about);
                            }
                            continue;
                        }
                        Ctx::Field(_) | Ctx::Other => Ctx::Other,
                        parent => child_ctx(*parent, local.as_ref()),
                    },
                };
                state.open(ctx, e, before);
                if empty {
                    state.close(ctx, position(reader), marks);
                    if ctx == Ctx::Root {
                        done = true;
                    }
                } else {
                    stack.push((ctx, String::new()));
                }
            }
            Event::End(_) => {
                let Some((ctx, _)) = stack.pop() else {
                    return Err(ReadError::Xml {
                        position: before as u64,
                        message: "end tag without a start tag".into(),
                    });
                };
                state.close(ctx, position(reader), marks);
                if stack.is_empty() {
                    done = true;
                }
            }
            Event::Eof => {
                return match (seen_root, stack.last()) {
                    (false, _) => Err(ReadError::Empty),
                    (true, Some(_)) => Err(ReadError::Truncated {
                        open: open_name(&stack),
                    }),
                    (true, None) => Ok(state),
                };
            }
            ref other => match stack.last() {
                Some((Ctx::Field(_), _)) => {
                    push_event_text(other, &mut state.text).map_err(|message| ReadError::Xml {
                        position: before as u64,
                        message,
                    })?;
                }
                None => {
                    if let Event::Text(t) = other {
                        if !t.iter().all(u8::is_ascii_whitespace) {
                            return Err(ReadError::NotOaiPmh {
                                found: "text".into(),
                            });
                        }
                    }
                    if let Event::CData(_) = other {
                        return Err(ReadError::NotOaiPmh {
                            found: "CDATA".into(),
                        });
                    }
                }
                Some(_) => {}
            },
        }
    }
}

fn open_name(stack: &[(Ctx, String)]) -> String {
    let ctx = stack.last().map(|(c, _)| *c);
    match ctx {
        Some(Ctx::Root) => "OAI-PMH".into(),
        Some(Ctx::Verb(v)) => v.as_str().into(),
        Some(Ctx::Record) => "record".into(),
        Some(Ctx::Header) => "header".into(),
        Some(Ctx::Metadata) => "metadata".into(),
        Some(Ctx::About) => "about".into(),
        Some(Ctx::MetadataFormat) => "metadataFormat".into(),
        Some(Ctx::Set) => "set".into(),
        Some(Ctx::Field(_) | Ctx::Other) | None => "an element".into(),
    }
}

fn namespace_of(reader: &NsReader<&[u8]>, e: &BytesStart<'_>) -> Option<String> {
    match reader.resolve_element(e.name()).0 {
        ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        _ => None,
    }
}

/// The namespace bindings in scope at `e` (already pushed) that `e` does not declare itself.
fn inherited_bindings(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
) -> Vec<(Option<String>, String)> {
    let own: Vec<Option<Vec<u8>>> = e
        .attributes()
        .flatten()
        .filter_map(|a| match a.key.as_namespace_binding()? {
            PrefixDeclaration::Default => Some(None),
            PrefixDeclaration::Named(p) => Some(Some(p.to_vec())),
        })
        .collect();
    reader
        .prefixes()
        .filter_map(|(decl, ns)| {
            let ns = String::from_utf8_lossy(ns.as_ref()).into_owned();
            match decl {
                PrefixDeclaration::Default => {
                    // Our own envelope re-establishes the OAI default namespace.
                    (!own.contains(&None) && !ns.is_empty() && ns != OAI_NAMESPACE)
                        .then_some((None, ns))
                }
                PrefixDeclaration::Named(p) => (!own.iter().any(|o| o.as_deref() == Some(p)))
                    .then(|| (Some(String::from_utf8_lossy(p).into_owned()), ns)),
            }
        })
        .collect()
}

fn truncated(what: &str) -> ReadError {
    ReadError::Truncated {
        open: what.to_owned(),
    }
}

/// Reads a `<metadata>` payload from its start event to its end, as Dublin Core when it is
/// `<oai_dc:dc>` and `want_dc`.
fn read_payload(
    reader: &mut NsReader<&[u8]>,
    e: &BytesStart<'_>,
    empty: bool,
    start: usize,
    want_dc: bool,
) -> Result<(Element, Option<DcRecord>), ReadError> {
    let namespace = namespace_of(reader, e);
    let local_name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let inherited = inherited_bindings(reader, e);
    let is_dc = want_dc && local_name == "dc" && namespace.as_deref() == Some(OAI_DC_NAMESPACE);
    let dc = if empty {
        is_dc.then(DcRecord::new)
    } else if is_dc {
        Some(read_dc_body(reader)?)
    } else {
        skip_to_end(reader)?;
        None
    };
    let element = Element {
        namespace,
        local_name,
        range: start..position(reader),
        inherited,
    };
    Ok((element, dc))
}

fn read_about(
    reader: &mut NsReader<&[u8]>,
    e: &BytesStart<'_>,
    empty: bool,
    start: usize,
) -> Result<About, ReadError> {
    let namespace = namespace_of(reader, e);
    let local_name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
    let inherited = inherited_bindings(reader, e);
    let mut origin = None;
    if !empty {
        if local_name == "provenance" && namespace.as_deref() == Some(PROVENANCE_NAMESPACE) {
            let mut depth = 1usize;
            while depth > 0 {
                let before = position(reader);
                let event = reader.read_event().map_err(|err| xml_error(reader, &err))?;
                let wanted = |child: &BytesStart<'_>| {
                    depth == 1 && child.local_name().as_ref() == b"originDescription"
                };
                match event {
                    Event::Start(ref child) if origin.is_none() && wanted(child) => {
                        origin = Some(read_payload(reader, child, false, before, false)?.0);
                    }
                    Event::Empty(ref child) if origin.is_none() && wanted(child) => {
                        origin = Some(read_payload(reader, child, true, before, false)?.0);
                    }
                    Event::Start(_) => depth += 1,
                    Event::End(_) => depth -= 1,
                    Event::Eof => return Err(truncated("about")),
                    _ => {}
                }
            }
        } else {
            skip_to_end(reader)?;
        }
    }
    Ok(About {
        element: Element {
            namespace,
            local_name,
            range: start..position(reader),
            inherited,
        },
        origin,
    })
}

/// Consumes events up to the end tag matching an already read start tag. Unlike quick-xml's
/// `read_to_end`, this keeps the namespace resolver's scopes balanced.
fn skip_to_end(reader: &mut NsReader<&[u8]>) -> Result<(), ReadError> {
    let mut depth = 1usize;
    while depth > 0 {
        match reader.read_event().map_err(|e| xml_error(reader, &e))? {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth -= 1,
            Event::Eof => return Err(truncated("metadata")),
            _ => {}
        }
    }
    Ok(())
}

/// Reads the children of `<oai_dc:dc>` (already opened) up to its end tag, with the reader
/// `read_oai_dc` uses, so that a page is parsed once.
fn read_dc_body(reader: &mut NsReader<&[u8]>) -> Result<DcRecord, ReadError> {
    crate::dc::xml::read_dc_children(reader).map_err(|e| match e {
        crate::dc::xml::ParseError::Xml { position, message } => {
            ReadError::Xml { position, message }
        }
        crate::dc::xml::ParseError::Truncated | crate::dc::xml::ParseError::NoDcElement => {
            truncated("oai_dc:dc")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::DcElement;

    fn fixture(path: &str) -> Vec<u8> {
        let full = format!("{}/tests/fixtures/oai/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&full).unwrap_or_else(|e| panic!("Failed to read fixture {full}: {e}"))
    }

    fn read(path: &str) -> Response {
        read_response(fixture(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn dspace_get_record_with_a_stylesheet_reads_as_one_dc_record() {
        let r = read("dspace/conicet-dspace7-getrecord-oai_dc.xml");
        assert_eq!(r.verb, Some(Verb::GetRecord));
        assert_eq!(r.response_date.as_deref(), Some("2025-05-27T23:17:53Z"));
        let [record] = r.records() else {
            panic!("one record expected")
        };
        assert_eq!(
            record.header.identifier,
            "oai:ri.conicet.gov.ar:11336/149241"
        );
        assert_eq!(
            record.header.set_specs,
            ["com_11336_345", "com_11336_332", "col_11336_90201", "snrd"]
        );
        let dc = record
            .metadata
            .as_ref()
            .and_then(|m| m.dc.as_ref())
            .unwrap();
        assert_eq!(dc.get(DcElement::Creator).len(), 2);
        assert_eq!(dc.get(DcElement::Format).len(), 3);
        assert!(dc.get(DcElement::Title)[0]
            .value
            .starts_with("Bioinformática"));
    }

    #[test]
    fn the_payload_is_read_exactly_like_read_oai_dc_reads_it() {
        for path in [
            "arxiv/getrecord-oai_dc.xml",
            "zenodo/getrecord-oai_dc.xml",
            "dspace/eur-2003-getrecord.xml",
        ] {
            let r = read(path);
            let m = r.records()[0].metadata.as_ref().unwrap();
            let standalone = String::from_utf8(r.element_xml(&m.element)).unwrap();
            assert_eq!(
                crate::dc::xml::read_oai_dc(&standalone).unwrap(),
                *m.dc.as_ref().unwrap(),
                "{path}"
            );
        }
    }

    #[test]
    fn namespaces_declared_on_the_envelope_are_copied_onto_the_payload() {
        let body = br#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/" xmlns:m="urn:m"><ListRecords><record><header><identifier>oai:x:1</identifier><datestamp>2020-01-01</datestamp></header><metadata><m:mods><m:title>T</m:title></m:mods></metadata></record></ListRecords></OAI-PMH>"#;
        let r = read_response(body.to_vec()).unwrap();
        let m = r.records()[0].metadata.as_ref().unwrap();
        assert_eq!(m.element.namespace.as_deref(), Some("urn:m"));
        assert!(m.dc.is_none());
        assert_eq!(
            String::from_utf8(r.element_xml(&m.element)).unwrap(),
            r#"<m:mods xmlns:m="urn:m"><m:title>T</m:title></m:mods>"#
        );
    }

    #[test]
    fn tethys_declares_oai_dc_on_the_root_and_the_chain_has_tokens_then_none() {
        let p1 = read("tethys/listidentifiers-page1.xml");
        let Payload::Headers(h) = &p1.payload else {
            panic!()
        };
        assert_eq!(h.len(), 3);
        let t = p1.token.as_ref().unwrap();
        assert_eq!(t.value, "177435831000000");
        assert_eq!((t.complete_list_size, t.cursor), (Some(3), Some(0)));
        let p3 = read("tethys/listidentifiers-page3-no-token.xml");
        assert!(p3.token.is_none());
    }

    #[test]
    fn zenodo_deleted_headers_and_errors_without_declaration_are_read() {
        let r = read("zenodo/listidentifiers-with-deleted.xml");
        let Payload::Headers(h) = &r.payload else {
            panic!()
        };
        assert!(h[0].deleted);
        assert!(!h[1].deleted);
        for (path, code) in [
            (
                "zenodo/listidentifiers-badResumptionToken-http422.xml",
                "badResumptionToken",
            ),
            (
                "zenodo/listidentifiers-noRecordsMatch-http422.xml",
                "noRecordsMatch",
            ),
            ("europeana/error-idDoesNotExist.xml", "idDoesNotExist"),
        ] {
            let r = read(path);
            assert_eq!(r.errors.len(), 1, "{path}");
            assert_eq!(r.errors[0].code, code);
            assert_eq!(r.payload, Payload::None);
        }
    }

    #[test]
    fn identify_formats_and_sets_are_read() {
        let r = read("nsdl/identify.xml");
        let Payload::Identify(i) = &r.payload else {
            panic!()
        };
        assert_eq!(i.granularity, "YYYY-MM-DDThh:mm:ssZ");
        assert_eq!(i.deleted_record, "no");
        assert_eq!(i.earliest_datestamp, "1900-01-01T12:00:00Z");
        assert_eq!(i.compression, ["gzip"]);
        let r = read("dspace/conicet-dspace7-listmetadataformats.xml");
        let Payload::Formats(f) = &r.payload else {
            panic!()
        };
        assert_eq!(f.len(), 12);
        let didl = f.iter().find(|f| f.prefix == "didl").unwrap();
        assert!(
            didl.schema.ends_with("didl.xsd"),
            "trimmed: {:?}",
            didl.schema
        );
        let r = read("harvard-librarycloud/listsets.xml");
        let Payload::Sets(s) = &r.payload else {
            panic!()
        };
        assert_eq!(s[0].spec, "crimes");
        assert_eq!(
            s[1].name,
            "Studies in Scarlet: Marriage and Sexuality in the U.S. & U.K., 1815-1914"
        );
    }

    #[test]
    fn arxiv_listidentifiers_with_day_datestamps_is_read_whole() {
        let r = read("arxiv/listidentifiers-2009.xml");
        let Payload::Headers(h) = &r.payload else {
            panic!()
        };
        assert!(h.len() > 30);
        assert!(h.iter().all(|h| h.datestamp.len() == 10));
    }

    #[test]
    fn an_html_error_page_a_truncated_page_and_trailing_junk_are_refused() {
        assert!(matches!(
            read_response(fixture("arxiv/listrecords-http503-retry-after.html")),
            Err(ReadError::NotOaiPmh { .. })
        ));
        let full = fixture("dspace/conicet-dspace7-getrecord-oai_dc.xml");
        for cut in [full.len() / 3, full.len() / 2, full.len() - 12] {
            let err = read_response(full[..cut].to_vec()).unwrap_err();
            assert!(
                matches!(err, ReadError::Truncated { .. } | ReadError::Xml { .. }),
                "{cut}: {err}"
            );
        }
        let mut junk = full.clone();
        junk.extend_from_slice(b"\n<html>oops</html>");
        assert!(matches!(
            read_response(junk),
            Err(ReadError::TrailingContent { .. })
        ));
        let mut tail = full;
        tail.extend_from_slice(b"\n<!-- served in 3 ms -->\n");
        assert!(read_response(tail).is_ok());
        assert_eq!(read_response(b"  \n".to_vec()), Err(ReadError::Empty));
        assert!(matches!(
            read_response(b"Internal error".to_vec()),
            Err(ReadError::NotOaiPmh { .. })
        ));
    }

    #[test]
    fn illegal_characters_are_removed_exactly_and_attributed_to_their_record() {
        let body = "<OAI-PMH><ListRecords>\
            <record><header><identifier>oai:x:1</identifier><datestamp>2020-01-01</datestamp></header>\
            <metadata><oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
            <dc:title>a\u{1}b\u{B}c&#x1F;d&#0;e\tf\u{FFFD}g&#9;h\u{FFFF}</dc:title></oai_dc:dc></metadata></record>\
            <record><header><identifier>oai:x:2</identifier><datestamp>2020-01-01</datestamp></header>\
            <metadata><oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\
            <dc:title>AT&amp;T &nbsp; R&D <![CDATA[&#1; x]]></dc:title></oai_dc:dc></metadata></record>\
            </ListRecords></OAI-PMH>";
        let r = read_response(body.as_bytes().to_vec()).unwrap();
        assert_eq!(r.stripped_characters, 5);
        assert_eq!(r.repaired_ampersands, 2);
        let [a, b] = r.records() else { panic!() };
        assert_eq!(a.stripped_characters, 5);
        assert_eq!(b.stripped_characters, 0);
        let title = |rec: &Record| {
            rec.metadata
                .as_ref()
                .unwrap()
                .dc
                .as_ref()
                .unwrap()
                .get(DcElement::Title)[0]
                .value
                .clone()
        };
        assert_eq!(title(a), "abcde\tf\u{FFFD}g\th");
        assert_eq!(title(b), "AT&T &nbsp; R&D &#1; x");
    }

    #[test]
    fn a_header_field_that_held_a_forbidden_character_is_flagged_and_values_are_not() {
        let record = |id: &str, set: &str| {
            format!(
                "<record><header><identifier>{id}</identifier><datestamp>2020-01-01</datestamp>\
                 <setSpec>{set}</setSpec></header><metadata><oai_dc:dc \
                 xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
                 xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>t\u{1}</dc:title>\
                 </oai_dc:dc></metadata></record>"
            )
        };
        let mut body = b"<OAI-PMH><ListRecords>".to_vec();
        body.extend(record("oai:x:1", "a").into_bytes());
        body.extend(record("oai:x:1\u{FFFE}", "a").into_bytes());
        body.extend(record("oai:x:1&#xFFFF;", "a").into_bytes());
        body.extend(record("oai:x:1", "a\u{B}").into_bytes());
        // A lone surrogate's UTF-8 encoding, which is not UTF-8.
        let mut surrogate = record("oai:x:1XYZ", "a").into_bytes();
        let p = surrogate.windows(3).position(|w| w == b"XYZ").unwrap();
        surrogate.splice(p..p + 3, [0xED, 0xA0, 0x80]);
        body.extend(surrogate);
        body.extend(b"</ListRecords></OAI-PMH>");
        let r = read_response(body).unwrap();
        let flags: Vec<Vec<&str>> = r
            .records()
            .iter()
            .map(|r| r.header.forbidden_in.clone())
            .collect();
        assert_eq!(
            flags,
            [
                vec![],
                vec!["identifier"],
                vec!["identifier"],
                vec!["setSpec"],
                vec!["identifier"],
            ]
        );
        assert!(r.records().iter().all(|r| r.stripped_characters >= 1));
    }

    #[test]
    fn offsets_of_replaced_bytes_follow_the_removals_before_them() {
        let mut body = b"<a>\x01\x02".to_vec();
        body.push(0xFF);
        body.extend(b"</a>");
        let s = sanitize(body).unwrap();
        assert_eq!(s.text, "<a>\u{FFFD}</a>");
        assert_eq!(s.removed, [3, 3]);
        assert_eq!(s.replaced, [3]);
    }

    #[test]
    fn cleaning_is_the_same_wherever_the_markup_falls_against_the_chunks_stepped_over() {
        let tail = "<![CDATA[a & \u{1}b]]><!-- & --><x>&bogus; &#1; &amp; \u{2}\u{FFFE}</x>";
        let bare = sanitize(tail.as_bytes().to_vec()).unwrap();
        assert_eq!(
            bare.text,
            "<![CDATA[a & b]]><!-- & --><x>&amp;bogus;  &amp; </x>"
        );
        for pad in 0..2 * PLAIN_CHUNK + 3 {
            let body = format!("{}{tail}", "é".repeat(pad / 2) + &"x".repeat(pad % 2));
            let s = sanitize(body.clone().into_bytes()).unwrap();
            let prefix = body.len() - tail.len();
            assert_eq!(&s.text[prefix..], bare.text, "padding {pad}");
            let shifted: Vec<usize> = bare.removed.iter().map(|r| r + prefix).collect();
            assert_eq!(s.removed, shifted, "padding {pad}");
            assert_eq!(s.repaired_ampersands, bare.repaired_ampersands);
        }
    }

    #[test]
    fn every_end_of_list_form_reads_as_an_empty_or_absent_token() {
        for (token, expect) in [
            (
                "<resumptionToken completeListSize=\"3\" cursor=\"0\"/>",
                Some(""),
            ),
            ("<resumptionToken> \n </resumptionToken>", Some("")),
            ("", None),
        ] {
            let body = format!("<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><ListRecords>{token}</ListRecords></OAI-PMH>");
            let r = read_response(body.into_bytes()).unwrap();
            assert_eq!(r.token.as_ref().map(|t| t.value.as_str()), expect);
        }
    }

    #[test]
    fn latin1_declared_bodies_and_invalid_utf8_are_decoded() {
        let mut body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><OAI-PMH><ListRecords><record><header><identifier>oai:x:1</identifier><datestamp>2020-01-01</datestamp><setSpec>caf".to_vec();
        body.push(0xE9);
        body.extend_from_slice(b"</setSpec></header></record></ListRecords></OAI-PMH>");
        let r = read_response(body.clone()).unwrap();
        assert_eq!(r.records()[0].header.set_specs, ["café"]);
        let utf8 = String::from_utf8_lossy(&body).replace("ISO-8859-1", "UTF-8");
        let mut bytes = utf8.into_bytes();
        let at = bytes
            .windows(3)
            .position(|w| w == "\u{FFFD}".as_bytes())
            .unwrap();
        bytes.splice(at..at + 3, [0xE9]);
        let r = read_response(bytes).unwrap();
        assert_eq!(r.invalid_utf8, 1);
        assert_eq!(r.records()[0].header.set_specs, ["caf\u{FFFD}"]);
    }

    #[test]
    fn an_upstream_provenance_is_kept_for_nesting() {
        let body = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header><identifier>oai:x:1</identifier><datestamp>2020-01-01</datestamp></header>
            <metadata><oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"/></metadata>
            <about><provenance xmlns="http://www.openarchives.org/OAI/2.0/provenance"><originDescription harvestDate="2001-01-01" altered="false"><baseURL>http://a</baseURL><identifier>oai:a:1</identifier><datestamp>2000-01-01</datestamp><metadataNamespace>http://www.openarchives.org/OAI/2.0/oai_dc/</metadataNamespace></originDescription></provenance></about>
            </record></ListRecords></OAI-PMH>"#;
        let r = read_response(body.as_bytes().to_vec()).unwrap();
        let about = &r.records()[0].about[0];
        let origin = String::from_utf8(r.element_xml(about.origin.as_ref().unwrap())).unwrap();
        assert!(origin.starts_with("<originDescription xmlns=\"http://www.openarchives.org/OAI/2.0/provenance\" harvestDate"), "{origin}");
        assert!(origin.ends_with("</originDescription>"));
    }
}
