//! PMB's UNIMARC XML (`toxml()` of admin/convert/export.class.php): `<notice>` elements with
//! the label as `<rs> <dt> <bl> <hl> <el> <ru>` (`*` = blank), control fields as
//! `<f c="001">61234</f>` and data fields as `<f c="200" ind="1 ">` holding `<s c="a">`.
//!
//! Elements are matched on their LOCAL names, because PMB's OAI connector writes `<notice>`
//! without a namespace (so inside a response it falls in the OAI-PMH namespace) unless the
//! source's "Validité OAI-PMH" option substitutes `<notice xmlns="http://www.pmbservices.fr">`.
//! The notices may sit in a file exported with a `<unimarc>` root, in a whole OAI-PMH response
//! (inside `<metadata>`), or be the root themselves (one harvested payload).
//!
//! Bytes are decoded here, per value, in the encoding the XML declaration names: PMB's
//! ISO-8859-1 installations declare `iso-8859-1` and write Windows-1252 (`’` is 0x92), which is
//! what encoding_rs gives for that label. A value that is not in the declared encoding is
//! refused for its record only (mixed encodings), and line ends are normalised as XML 1.0 says
//! (CR LF and CR become LF: PMB keeps the CR LF typed in its text areas).

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::charset::{clean_up, push_single_byte, push_utf8};
use super::record::{Field, FieldValue, Label, Position, Subfield, Tag, UnimarcRecord};
use super::UnimarcError;

/// Counts lines up to increasing byte offsets without rescanning.
#[derive(Debug, Default)]
pub(crate) struct LineCounter {
    offset: usize,
    newlines: usize,
}

impl LineCounter {
    /// The 1-based line of `offset`; offsets are expected in increasing order.
    // Counting runs once per record over the bytes since the previous one; the compiler
    // vectorises this loop, so no byte-counting crate is needed.
    #[allow(clippy::naive_bytecount)]
    pub(crate) fn line_at(&mut self, bytes: &[u8], offset: usize) -> usize {
        let end = offset.min(bytes.len());
        if end < self.offset {
            *self = LineCounter::default();
        }
        self.newlines += bytes[self.offset..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = end;
        self.newlines + 1
    }
}

/// The encoding the XML declaration names.
#[derive(Debug, Clone, Copy)]
enum TextEncoding {
    Utf8,
    SingleByte(&'static encoding_rs::Encoding),
}

impl TextEncoding {
    fn for_label(label: &[u8]) -> Result<TextEncoding, UnimarcError> {
        match encoding_rs::Encoding::for_label(label) {
            Some(e) if e == encoding_rs::UTF_8 => Ok(TextEncoding::Utf8),
            Some(e) if e.is_single_byte() => Ok(TextEncoding::SingleByte(e)),
            _ => Err(UnimarcError::UnsupportedEncoding(
                String::from_utf8_lossy(label).into_owned(),
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8 (declared by the XML)",
            TextEncoding::SingleByte(_) => "in the single-byte encoding the XML declares",
        }
    }
}

/// The element's local name (prefix and namespace ignored).
fn local<'e>(e: &'e BytesStart<'_>) -> &'e [u8] {
    e.local_name().into_inner()
}

/// Where a value sits, for error messages only (formatted only when one is reported).
#[derive(Debug, Clone, Copy)]
enum Place {
    Label(&'static str),
    Subfield(Option<Tag>, Option<char>),
    Control(Option<Tag>),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = |t: &Option<Tag>| t.map_or_else(|| "<f>".to_owned(), |t| t.to_string());
        match self {
            Place::Label(name) => write!(f, "label {name}"),
            Place::Subfield(t, code) => write!(f, "{}${}", tag(t), code.unwrap_or('?')),
            Place::Control(t) => f.write_str(&tag(t)),
        }
    }
}

/// The notices of a PMB XML input, in order.
pub(crate) struct XmlRecords<'a> {
    reader: Reader<&'a [u8]>,
    input: &'a [u8],
    /// Length of a skipped byte-order mark: reader offsets + `base` = input offsets.
    base: usize,
    encoding: TextEncoding,
    count: usize,
    lines: LineCounter,
    /// Elements open outside notices.
    depth: usize,
    /// The root element is a `<notice>` whose start tag is at this offset.
    root_notice: Option<usize>,
    done: bool,
}

/// Refusals of the prolog: the input is XML-like but not UNIMARC.
fn not_unimarc(what: impl Into<String>) -> UnimarcError {
    UnimarcError::NotUnimarc { what: what.into() }
}

impl<'a> XmlRecords<'a> {
    /// Reads the prolog and the root element.
    ///
    /// # Errors
    ///
    /// [`UnimarcError::NotUnimarc`] when there is no root element or it is not `<unimarc>`,
    /// `<notice>` or `<OAI-PMH>`; [`UnimarcError::UnsupportedEncoding`] for an encoding that is
    /// not UTF-8 nor single-byte.
    pub(crate) fn new(input: &'a [u8]) -> Result<Self, UnimarcError> {
        let base = if input.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let mut records = XmlRecords {
            reader: Reader::from_reader(&input[base..]),
            input,
            base,
            encoding: TextEncoding::Utf8,
            count: 0,
            lines: LineCounter::default(),
            depth: 0,
            root_notice: None,
            done: false,
        };
        loop {
            let before = records.offset();
            match records.reader.read_event() {
                Ok(Event::Decl(decl)) => {
                    if let Some(Ok(label)) = decl.encoding() {
                        records.encoding = TextEncoding::for_label(&label)?;
                    }
                }
                Ok(Event::PI(_) | Event::Comment(_) | Event::DocType(_)) => {}
                Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
                Ok(Event::Start(e)) => {
                    records.root(&e, before)?;
                    return Ok(records);
                }
                Ok(Event::Empty(e)) => {
                    records.root(&e, before)?;
                    records.done = true;
                    return Ok(records);
                }
                Ok(Event::Eof) => return Err(not_unimarc("XML without a root element")),
                Ok(_) => return Err(not_unimarc("text before the first XML element")),
                Err(e) => {
                    return Err(not_unimarc(format!(
                        "malformed XML at byte {}: {e}",
                        base + to_usize(records.reader.error_position())
                    )))
                }
            }
        }
    }

    fn root(&mut self, e: &BytesStart<'_>, offset: usize) -> Result<(), UnimarcError> {
        match local(e) {
            b"notice" => self.root_notice = Some(offset),
            b"unimarc" | b"OAI-PMH" => self.depth = 1,
            other => {
                let name = String::from_utf8_lossy(other);
                let hint = match other {
                    b"collection" | b"record" => " (MARCXML is not PMB's UNIMARC XML)",
                    b"html" => " (a web page)",
                    _ => "",
                };
                return Err(not_unimarc(format!(
                    "XML whose root element is <{name}>{hint}, not <unimarc>, <notice> or an \
                     OAI-PMH response"
                )));
            }
        }
        Ok(())
    }

    /// The reader's offset in the input.
    fn offset(&self) -> usize {
        self.base + to_usize(self.reader.buffer_position())
    }

    fn position(&mut self, offset: usize) -> Position {
        Position {
            record: self.count,
            line: self.lines.line_at(self.input, offset),
            offset,
        }
    }

    /// An XML syntax error: fatal, since quick-xml cannot go on after one.
    fn syntax(&mut self, at: Position, e: &quick_xml::Error) -> UnimarcError {
        self.done = true;
        UnimarcError::Xml {
            at,
            offset: self.base + to_usize(self.reader.error_position()),
            message: e.to_string(),
        }
    }

    fn truncated(&mut self, at: Position, inside: &str) -> UnimarcError {
        self.done = true;
        UnimarcError::Truncated {
            at,
            what: format!("the input ends inside <{inside}>"),
        }
    }

    /// Reads one `<notice>` whose start tag was at `offset`, up to its end tag.
    fn notice(&mut self, offset: usize) -> Result<UnimarcRecord, UnimarcError> {
        self.count += 1;
        let at = self.position(offset);
        let mut problem = None;
        let mut label = Label::default();
        // PMB's records have 15 to 50 fields.
        let mut fields = Vec::with_capacity(48);
        loop {
            match self.reader.read_event() {
                Ok(Event::Start(e)) => match local(&e) {
                    b"f" => {
                        if let Some(f) = self.field(at, &e, false, &mut problem)? {
                            fields.push(f);
                        }
                    }
                    name @ (b"rs" | b"dt" | b"bl" | b"hl" | b"el" | b"ru") => {
                        let name = label_name(name);
                        let value = self.text(at, &e, Place::Label(name), &mut problem)?;
                        set_label(&mut label, name, &value, at, &mut problem);
                    }
                    _ => self.skip(at, &e)?,
                },
                Ok(Event::Empty(e)) => {
                    if local(&e) == b"f" {
                        if let Some(f) = self.field(at, &e, true, &mut problem)? {
                            fields.push(f);
                        }
                    }
                }
                Ok(Event::End(_)) => break,
                Ok(Event::Eof) => return Err(self.truncated(at, "notice")),
                Ok(_) => {}
                Err(e) => return Err(self.syntax(at, &e)),
            }
        }
        if let Some(problem) = problem {
            return Err(problem);
        }
        let id = fields
            .iter()
            .find(|f| f.tag.as_str() == "001")
            .and_then(Field::control)
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or(UnimarcError::NoControlNumber { at })?
            .to_owned();
        Ok(UnimarcRecord {
            position: at,
            id,
            label,
            fields,
        })
    }

    /// Skips an element the model does not know, with everything in it.
    fn skip(&mut self, at: Position, e: &BytesStart<'_>) -> Result<(), UnimarcError> {
        let name = e.name().as_ref().to_vec();
        match self.reader.read_to_end(quick_xml::name::QName(&name)) {
            Ok(_) => Ok(()),
            Err(quick_xml::Error::IllFormed(_))
                if self.reader.buffer_position() >= len_u64(self.input.len() - self.base) =>
            {
                Err(self.truncated(at, &String::from_utf8_lossy(&name)))
            }
            Err(err) => Err(self.syntax(at, &err)),
        }
    }

    /// Reads one `<f>`: a control field when it holds only text, else a data field.
    fn field(
        &mut self,
        at: Position,
        start: &BytesStart<'_>,
        empty: bool,
        problem: &mut Option<UnimarcError>,
    ) -> Result<Option<Field>, UnimarcError> {
        let mut tag = None;
        let mut indicators = None;
        // PMB never repeats an attribute; skipping quick-xml's duplicate check saves a scan.
        for attr in start.attributes().with_checks(false) {
            let Ok(attr) = attr else {
                note(problem, malformed(at, "a <f> has a malformed attribute"));
                continue;
            };
            match attr.key.local_name().as_ref() {
                b"c" => tag = Tag::parse(attr.value.trim_ascii()),
                b"ind" => indicators = Some(attr.value.into_owned()),
                _ => {}
            }
        }
        let (text, subfields) = if empty {
            (String::new(), Vec::new())
        } else {
            self.field_content(at, tag, problem)?
        };
        let Some(tag) = tag else {
            note(
                problem,
                malformed(at, "a <f> has no c attribute of three letters or digits"),
            );
            return Ok(None);
        };
        if subfields.is_empty() && indicators.is_none() && tag.is_control() {
            return Ok(Some(Field {
                tag,
                value: FieldValue::Control(text),
            }));
        }
        if !text.trim().is_empty() {
            note(
                problem,
                malformed(at, &format!("field {tag} holds text outside its subfields")),
            );
        }
        let indicators = read_indicators(indicators.as_deref(), tag, at, problem);
        Ok(Some(Field {
            tag,
            value: FieldValue::Data {
                indicators,
                subfields,
            },
        }))
    }

    /// Reads the children of an `<f>` up to its end tag: its text and its `<s>` subfields.
    fn field_content(
        &mut self,
        at: Position,
        tag: Option<Tag>,
        problem: &mut Option<UnimarcError>,
    ) -> Result<(String, Vec<Subfield>), UnimarcError> {
        let mut text = String::new();
        let mut subfields = Vec::new();
        loop {
            let before = self.offset();
            match self.reader.read_event() {
                Ok(Event::Start(e)) if local(&e) == b"s" => {
                    let code = subfield_code(&e);
                    let value = self.text(at, &e, Place::Subfield(tag, code), problem)?;
                    if let Some(code) = code {
                        subfields.push(Subfield { code, value });
                    } else {
                        let message = format!(
                            "a subfield of field {} has no one-character code",
                            Place::Control(tag)
                        );
                        note(problem, malformed(at, &message));
                    }
                }
                Ok(Event::Empty(e)) if local(&e) == b"s" => {
                    if let Some(code) = subfield_code(&e) {
                        subfields.push(Subfield {
                            code,
                            value: String::new(),
                        });
                    }
                }
                Ok(Event::Start(e)) => self.skip(at, &e)?,
                Ok(Event::End(_)) => break,
                Ok(Event::Eof) => return Err(self.truncated(at, "f")),
                // Indentation between subfields is not content (and would cost an
                // allocation per field).
                Ok(Event::Text(t)) if t.iter().all(u8::is_ascii_whitespace) => {}
                Ok(event) => {
                    self.push_text(at, &event, before, Place::Control(tag), &mut text, problem);
                }
                Err(e) => return Err(self.syntax(at, &e)),
            }
        }
        clean_up(&mut text);
        Ok((text, subfields))
    }

    /// Reads the text of a simple element (a label position or a subfield) up to its end tag.
    fn text(
        &mut self,
        at: Position,
        start: &BytesStart<'_>,
        place: Place,
        problem: &mut Option<UnimarcError>,
    ) -> Result<String, UnimarcError> {
        let mut text = String::new();
        loop {
            let before = self.offset();
            match self.reader.read_event() {
                Ok(Event::End(_)) => {
                    clean_up(&mut text);
                    return Ok(text);
                }
                Ok(Event::Start(e)) => self.skip(at, &e)?,
                Ok(Event::Eof) => {
                    return Err(self.truncated(at, &String::from_utf8_lossy(start.name().as_ref())))
                }
                Ok(event) => self.push_text(at, &event, before, place, &mut text, problem),
                Err(e) => return Err(self.syntax(at, &e)),
            }
        }
    }

    /// Appends the text an event carries, decoded, its raw line ends normalised; a value in
    /// another encoding is noted. The caller cleans the whole value up once complete.
    fn push_text(
        &self,
        at: Position,
        event: &Event<'_>,
        offset: usize,
        place: Place,
        out: &mut String,
        problem: &mut Option<UnimarcError>,
    ) {
        let raw: &[u8] = match event {
            Event::Text(t) => t,
            Event::CData(c) => c,
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                    return;
                }
                let name = String::from_utf8_lossy(r);
                match quick_xml::escape::resolve_predefined_entity(&name) {
                    Some(s) => out.push_str(s),
                    None => note(
                        problem,
                        malformed(at, &format!("{place} uses the undefined entity &{name};")),
                    ),
                }
                return;
            }
            _ => return,
        };
        let start = out.len();
        let pushed = match self.encoding {
            TextEncoding::Utf8 => push_utf8(out, raw),
            TextEncoding::SingleByte(e) => push_single_byte(out, e, raw),
        };
        match pushed {
            Ok(()) if raw.contains(&b'\r') => {
                let normalised = out[start..].replace("\r\n", "\n").replace('\r', "\n");
                out.truncate(start);
                out.push_str(&normalised);
            }
            Ok(()) => {}
            Err(e) => note(
                problem,
                UnimarcError::MixedEncoding {
                    at,
                    field: place.to_string(),
                    offset: offset + e.offset,
                    expected: self.encoding.name(),
                },
            ),
        }
    }
}

impl Iterator for XmlRecords<'_> {
    type Item = Result<UnimarcRecord, UnimarcError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(offset) = self.root_notice.take() {
            self.done = true;
            return Some(self.notice(offset));
        }
        loop {
            let before = self.offset();
            match self.reader.read_event() {
                Ok(Event::Start(e)) if local(&e) == b"notice" => return Some(self.notice(before)),
                Ok(Event::Empty(e)) if local(&e) == b"notice" => {
                    self.count += 1;
                    let at = self.position(before);
                    return Some(Err(UnimarcError::NoControlNumber { at }));
                }
                Ok(Event::Start(_)) => self.depth += 1,
                Ok(Event::End(_)) => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.done = true;
                        return None;
                    }
                }
                Ok(Event::Eof) => {
                    self.done = true;
                    if self.depth == 0 {
                        return None;
                    }
                    let at = Position {
                        record: self.count + 1,
                        line: self.lines.line_at(self.input, before),
                        offset: before,
                    };
                    return Some(Err(UnimarcError::Truncated {
                        at,
                        what: "the input ends before its root element is closed".into(),
                    }));
                }
                Ok(_) => {}
                Err(e) => {
                    let at = Position {
                        record: self.count + 1,
                        line: self.lines.line_at(self.input, before),
                        offset: before,
                    };
                    return Some(Err(self.syntax(at, &e)));
                }
            }
        }
    }
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn malformed(at: Position, message: &str) -> UnimarcError {
    UnimarcError::Malformed {
        at,
        message: message.to_owned(),
    }
}

/// Keeps the first problem of a record: it is reported once the record has been read to its
/// end, so that the next record is read from the right place.
fn note(problem: &mut Option<UnimarcError>, error: UnimarcError) {
    problem.get_or_insert(error);
}

/// The two indicators of `ind` (blanks when absent); another length is noted as a problem.
fn read_indicators(
    raw: Option<&[u8]>,
    tag: Tag,
    at: Position,
    problem: &mut Option<UnimarcError>,
) -> [char; 2] {
    match raw.unwrap_or(b"  ") {
        [] => [' ', ' '],
        [a] => [ind(*a), ' '],
        [a, b] => [ind(*a), ind(*b)],
        other => {
            let message = format!(
                "field {tag} has the indicators {:?}, not two characters",
                String::from_utf8_lossy(other)
            );
            note(problem, malformed(at, &message));
            [' ', ' ']
        }
    }
}

fn ind(b: u8) -> char {
    match b {
        b'*' | b'#' | b'_' => ' ',
        b if b.is_ascii_graphic() => char::from(b),
        _ => ' ',
    }
}

fn subfield_code(e: &BytesStart<'_>) -> Option<char> {
    // PMB writes exactly ` c="a"`: read it without the attribute iterator, which costs more
    // than the rest of the subfield.
    if let [b'c', b'=', q @ (b'"' | b'\''), c, end] = e.attributes_raw().trim_ascii() {
        if end == q && c.is_ascii_alphanumeric() {
            return Some(char::from(*c));
        }
    }
    let attr = e
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"c")?;
    match attr.value.trim_ascii() {
        [c] if c.is_ascii_alphanumeric() => Some(char::from(*c)),
        _ => None,
    }
}

/// The label element's name.
fn label_name(name: &[u8]) -> &'static str {
    match name {
        b"rs" => "rs",
        b"dt" => "dt",
        b"bl" => "bl",
        b"hl" => "hl",
        b"el" => "el",
        _ => "ru",
    }
}

fn set_label(
    label: &mut Label,
    name: &'static str,
    value: &str,
    at: Position,
    problem: &mut Option<UnimarcError>,
) {
    let value = value.trim();
    let mut chars = value.chars();
    let c = match (chars.next(), chars.next()) {
        (None | Some('*'), None) => ' ',
        (Some(c), None) => c,
        _ => {
            note(
                problem,
                malformed(
                    at,
                    &format!("the label <{name}> holds {value:?}, not one character"),
                ),
            );
            return;
        }
    };
    match name {
        "rs" => label.status = c,
        "dt" => label.doc_type = c,
        "bl" => label.bib_level = c,
        "hl" => label.hier_level = c,
        "el" => label.enc_level = c,
        _ => label.cat_form = c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(xml: &[u8]) -> Vec<Result<UnimarcRecord, UnimarcError>> {
        XmlRecords::new(xml).unwrap().collect()
    }

    const NOTICE: &str = r#"<notice>
  <rs>n</rs><dt>a</dt><bl>m</bl><hl>0</hl><el>1</el><ru>*</ru>
  <f c="001">12</f>
  <f c="009" ind="  "><s c="a">2024-01-01</s></f>
  <f c="200" ind="1 "><s c="a">Quand a &lt; b &amp; c&#233;</s><s c="e">line 1&#13;
line 2</s></f>
</notice>"#;

    #[test]
    fn a_notice_reads_into_label_control_and_data_fields() {
        let xml = format!("<?xml version=\"1.0\"?>\n<unimarc>\n{NOTICE}\n</unimarc>");
        let records = read_all(xml.as_bytes());
        assert_eq!(records.len(), 1);
        let r = records[0].as_ref().unwrap();
        assert_eq!(r.id, "12");
        assert_eq!((r.label.bib_level, r.label.cat_form), ('m', ' '));
        assert_eq!(r.first("009", 'a'), Some("2024-01-01"));
        assert_eq!(r.first("200", 'a'), Some("Quand a < b & cé"));
        assert_eq!(
            r.first("200", 'e'),
            Some("line 1\r\nline 2"),
            "a CR written as a reference stays"
        );
        assert_eq!((r.position.record, r.position.line), (1, 3));
    }

    #[test]
    fn raw_crlf_in_text_becomes_lf() {
        let xml = "<notice><f c=\"001\">1</f><f c=\"300\" ind=\"  \"><s c=\"a\">a\r\nb\rc</s></f></notice>";
        let r = read_all(xml.as_bytes()).remove(0).unwrap();
        assert_eq!(r.first("300", 'a'), Some("a\nb\nc"));
    }

    #[test]
    fn namespaced_and_prefixed_notices_match_on_local_names() {
        for xml in [
            r#"<notice xmlns="http://www.pmbservices.fr"><f c="001">1</f></notice>"#,
            r#"<p:notice xmlns:p="http://www.pmbservices.fr"><p:f c="001">1</p:f></p:notice>"#,
            r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><GetRecord><record><metadata><notice><f c="001">1</f></notice></metadata></record></GetRecord></OAI-PMH>"#,
        ] {
            let records = read_all(xml.as_bytes());
            assert_eq!(records.len(), 1, "{xml}");
            assert_eq!(records[0].as_ref().unwrap().id, "1", "{xml}");
        }
    }

    #[test]
    fn a_notice_without_001_is_refused_and_the_next_one_read() {
        let xml = format!("<unimarc><notice><f c=\"200\" ind=\"1 \"><s c=\"a\">T</s></f></notice><notice/>{NOTICE}</unimarc>");
        let records = read_all(xml.as_bytes());
        assert_eq!(records.len(), 3);
        assert!(matches!(records[0], Err(UnimarcError::NoControlNumber { at }) if at.record == 1));
        assert!(matches!(records[1], Err(UnimarcError::NoControlNumber { at }) if at.record == 2));
        assert_eq!(records[2].as_ref().unwrap().id, "12");
    }

    #[test]
    fn a_bad_label_or_tag_refuses_its_record_only() {
        let xml = format!(
            "<unimarc><notice><dt>ab</dt><f c=\"001\">1</f></notice><notice><f c=\"2x\">x</f><f c=\"001\">2</f></notice>{NOTICE}</unimarc>"
        );
        let records = read_all(xml.as_bytes());
        let messages: Vec<String> = records[..2]
            .iter()
            .map(|r| r.as_ref().unwrap_err().to_string())
            .collect();
        assert!(messages[0].contains("<dt> holds \"ab\""), "{}", messages[0]);
        assert!(messages[1].contains("no c attribute"), "{}", messages[1]);
        assert!(records[2].is_ok());
    }

    #[test]
    fn a_truncated_file_is_an_error_for_the_record_it_cuts() {
        let xml = format!("<unimarc>{NOTICE}<notice><f c=\"001\">2</f><f c=\"200\"");
        let records = read_all(xml.as_bytes());
        assert!(records[0].is_ok());
        let err = records[1].as_ref().unwrap_err();
        assert!(
            matches!(err, UnimarcError::Truncated { at, .. } | UnimarcError::Xml { at, .. } if at.record == 2),
            "{err:?}"
        );
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn latin1_declared_files_are_read_as_windows_1252() {
        let xml = b"<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><unimarc><notice><f c=\"001\">1</f><f c=\"200\" ind=\"1 \"><s c=\"a\">l\x92\xE9t\xE9 \x9C</s></f></notice></unimarc>";
        let r = read_all(xml).remove(0).unwrap();
        assert_eq!(r.first("200", 'a'), Some("l’été œ"));
    }

    #[test]
    fn latin1_bytes_in_a_utf8_file_refuse_their_record_as_mixed() {
        let xml = b"<unimarc><notice><f c=\"001\">1</f><f c=\"200\" ind=\"1 \"><s c=\"a\">\xE9t\xE9</s></f></notice><notice><f c=\"001\">2</f></notice></unimarc>";
        let records = read_all(xml);
        assert!(
            matches!(&records[0], Err(UnimarcError::MixedEncoding { field, .. }) if field == "200$a"),
            "{records:?}"
        );
        assert_eq!(records[1].as_ref().unwrap().id, "2");
    }

    #[test]
    fn foreign_roots_and_encodings_are_refused_up_front() {
        for (xml, expected) in [
            (&b"<html><body/></html>"[..], "root element is <html>"),
            (
                b"<collection xmlns=\"http://www.loc.gov/MARC21/slim\"/>",
                "MARCXML",
            ),
            (b"<?xml version=\"1.0\"?>", "without a root"),
        ] {
            let err = XmlRecords::new(xml).err().unwrap();
            assert!(err.to_string().contains(expected), "{err}");
        }
        let err = XmlRecords::new(b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><unimarc/>")
            .err()
            .unwrap();
        assert!(
            matches!(err, UnimarcError::UnsupportedEncoding(_)),
            "{err:?}"
        );
    }

    #[test]
    fn line_numbers_count_from_one_and_follow_offsets() {
        let mut lines = LineCounter::default();
        let text = b"a\nb\nc";
        assert_eq!(lines.line_at(text, 0), 1);
        assert_eq!(lines.line_at(text, 2), 2);
        assert_eq!(lines.line_at(text, 5), 3);
        assert_eq!(lines.line_at(text, 1), 1, "going back rescans");
    }
}
