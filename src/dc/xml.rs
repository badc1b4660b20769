//! Writing and reading `<oai_dc:dc>` (the OAI-PMH 2.0 Dublin Core format, schema `oai_dc.xsd`).
//!
//! The same code serves both sides: the store renders records with [`write_oai_dc`] when they
//! are written, and the harvester and `moisson export` read them back with [`read_oai_dc`].

use std::borrow::Cow;
use std::io::{self, Write};

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::{NsReader, Writer};

use super::{DcElement, DcRecord, DcValue};

/// Namespace of the `oai_dc` container element.
pub const OAI_DC_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
/// Schema location of `oai_dc`.
pub const OAI_DC_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd";
/// Namespace of the fifteen DCMES 1.1 elements.
pub const DC_NAMESPACE: &str = "http://purl.org/dc/elements/1.1/";
/// The XML Schema instance namespace (for `xsi:schemaLocation`).
pub const XSI_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";
const XML_NAMESPACE: &[u8] = b"http://www.w3.org/XML/1998/namespace";

/// Error reading an `oai_dc` document.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The XML itself is not well-formed.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset where the reader stopped.
        position: u64,
        /// What the XML reader said.
        message: String,
    },
    /// No `oai_dc:dc` element was found.
    #[error("no <oai_dc:dc> element")]
    NoDcElement,
    /// The document ends inside `<oai_dc:dc>`.
    #[error("the document ends inside <oai_dc:dc>")]
    Truncated,
}

/// Escapes text content: `&`, `<`, `>` and CR (which XML parsers would otherwise turn into LF),
/// and drops every character XML 1.0 forbids, so that no text written can break a document.
pub fn escape_text(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !super::any_illegal_xml_or(bytes, true, MARKUP) {
        return Cow::Borrowed(s);
    }
    // Every byte that needs care is ASCII or the lead byte `EF`, so the runs copied between
    // them start and end on character boundaries.
    let mut out = String::with_capacity(s.len() + 16);
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if needs_care(b) == 0 {
            i += 1;
            continue;
        }
        out.push_str(&s[run..i]);
        let width = match b {
            b'&' => {
                out.push_str("&amp;");
                1
            }
            b'<' => {
                out.push_str("&lt;");
                1
            }
            b'>' => {
                out.push_str("&gt;");
                1
            }
            b'\r' => {
                out.push_str("&#xD;");
                1
            }
            // U+FFFE and U+FFFF are dropped; any other character of `EF` is kept.
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => 3,
            0xEF => {
                out.push_str(&s[i..i + 3]);
                3
            }
            // A C0 control other than tab and LF.
            _ => 1,
        };
        i += width;
        run = i;
    }
    out.push_str(&s[run..]);
    Cow::Owned(out)
}

/// Escapes an attribute value like quick-xml does (`&`, `<`, `>`, `"`, `'`), after dropping
/// every character XML 1.0 forbids.
pub fn escape_attribute(s: &str) -> Cow<'_, str> {
    if super::may_hold_illegal_xml(s) && !s.chars().all(super::is_xml_char) {
        let mut clean = s.to_owned();
        super::strip_illegal_xml_chars(&mut clean);
        return Cow::Owned(quick_xml::escape::escape(clean.as_str()).into_owned());
    }
    quick_xml::escape::escape(s)
}

/// The markup [`escape_text`] escapes.
const MARKUP: [u8; 3] = [b'&', b'<', b'>'];

/// 1 for a byte that starts something [`escape_text`] changes: markup, CR or another C0
/// control but tab and LF, or the lead byte of U+FFFE/U+FFFF (`EF BF BE`, `EF BF BF`).
fn needs_care(b: u8) -> u8 {
    super::illegal_xml_or(b, true, MARKUP)
}

/// Writes a text node with [`escape_text`].
pub fn write_text<W: Write>(w: &mut Writer<W>, s: &str) -> io::Result<()> {
    w.write_event(Event::Text(BytesText::from_escaped(escape_text(s))))
}

/// Writes `<oai_dc:dc>` with its namespace declarations and every value in canonical order.
///
/// Values should already be free of characters XML forbids
/// ([`DcRecord::strip_illegal_xml_chars`], which counts them); any left are dropped here.
pub fn write_oai_dc<W: Write>(w: &mut Writer<W>, dc: &DcRecord) -> io::Result<()> {
    w.create_element("oai_dc:dc")
        .with_attributes([
            ("xmlns:oai_dc", OAI_DC_NAMESPACE),
            ("xmlns:dc", DC_NAMESPACE),
            ("xmlns:xsi", XSI_NAMESPACE),
            (
                "xsi:schemaLocation",
                concat!(
                    "http://www.openarchives.org/OAI/2.0/oai_dc/ ",
                    "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
                ),
            ),
        ])
        .write_inner_content(|w| {
            for (element, value) in dc.iter() {
                write_dc_value(w, element, value)?;
            }
            Ok(())
        })?;
    Ok(())
}

fn write_dc_value<W: Write>(
    w: &mut Writer<W>,
    element: DcElement,
    value: &DcValue,
) -> io::Result<()> {
    let name = match element {
        DcElement::Title => "dc:title",
        DcElement::Creator => "dc:creator",
        DcElement::Subject => "dc:subject",
        DcElement::Description => "dc:description",
        DcElement::Publisher => "dc:publisher",
        DcElement::Contributor => "dc:contributor",
        DcElement::Date => "dc:date",
        DcElement::Type => "dc:type",
        DcElement::Format => "dc:format",
        DcElement::Identifier => "dc:identifier",
        DcElement::Source => "dc:source",
        DcElement::Language => "dc:language",
        DcElement::Relation => "dc:relation",
        DcElement::Coverage => "dc:coverage",
        DcElement::Rights => "dc:rights",
    };
    let mut el = w.create_element(name);
    if let Some(lang) = &value.lang {
        el = el.with_attribute(Attribute::from((
            "xml:lang".as_bytes(),
            escape_attribute(lang).as_bytes(),
        )));
    }
    if value.value.is_empty() {
        el.write_empty()?;
    } else {
        el.write_inner_content(|w| write_text(w, &value.value))?;
    }
    Ok(())
}

/// Renders a `DcRecord` as a standalone `<oai_dc:dc>` document fragment.
pub fn to_oai_dc_string(dc: &DcRecord) -> String {
    let mut w = Writer::new(Vec::new());
    write_oai_dc(&mut w, dc).expect("Writing to a Vec cannot fail.");
    String::from_utf8(w.into_inner()).expect("The writer only writes UTF-8.")
}

/// Appends the text of a text-like event (text, CDATA, entity or character reference) to `out`.
///
/// Returns `Ok(false)` for events that carry no text.
pub fn push_event_text(event: &Event<'_>, out: &mut String) -> Result<bool, String> {
    match event {
        Event::Text(t) => push_content(t, || t.xml10_content(), out)?,
        Event::CData(c) => push_content(c, || c.xml10_content(), out)?,
        Event::GeneralRef(r) => push_reference(r, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// Appends the raw text of an event, as XML 1.0 reads it, to `out`.
///
/// The usual text, valid UTF-8 without a CR, is checked by a vectorised validator and copied
/// as it is; anything else goes through quick-xml's decoding (`decode`), which normalises line
/// ends and words the errors. Decoding every value that way was 4% of a harvest's CPU.
fn push_content<'a>(
    raw: &[u8],
    decode: impl FnOnce() -> Result<Cow<'a, str>, quick_xml::encoding::EncodingError>,
    out: &mut String,
) -> Result<(), String> {
    match simdutf8::basic::from_utf8(raw) {
        Ok(text) if memchr::memchr(b'\r', raw).is_none() => out.push_str(text),
        _ => out.push_str(&decode().map_err(|e| e.to_string())?),
    }
    Ok(())
}

fn push_reference(r: &BytesRef<'_>, out: &mut String) -> Result<(), String> {
    if let Some(c) = r.resolve_char_ref().map_err(|e| e.to_string())? {
        out.push(c);
        return Ok(());
    }
    let name = r.decode().map_err(|e| e.to_string())?;
    match quick_xml::escape::resolve_predefined_entity(&name) {
        Some(s) => out.push_str(s),
        None => return Err(format!("undefined entity &{name};")),
    }
    Ok(())
}

/// Reads the first `<oai_dc:dc>` element of `xml` (whatever prefixes it uses) into a record.
///
/// Elements outside the DC namespace are ignored; leading and trailing whitespace of each value
/// is kept as written, since `oai_dc` values are plain strings.
pub fn read_oai_dc(xml: &str) -> Result<DcRecord, ParseError> {
    let mut reader = NsReader::from_str(xml);
    loop {
        let position = reader.buffer_position();
        let (ns, event) = reader.read_resolved_event().map_err(|e| ParseError::Xml {
            position,
            message: e.to_string(),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e)
                if e.local_name().as_ref() == b"dc"
                    && matches!(ns, ResolveResult::Bound(n) if n.as_ref() == OAI_DC_NAMESPACE.as_bytes()) =>
            {
                if matches!(event, Event::Empty(_)) {
                    return Ok(DcRecord::new());
                }
                return read_dc_children(&mut reader);
            }
            Event::Eof => return Err(ParseError::NoDcElement),
            _ => {}
        }
    }
}

/// Reads the children of an `<oai_dc:dc>` whose start tag `reader` has just read, up to and
/// including its end tag (shared with the harvester, which parses a page in one pass).
pub fn read_dc_children(reader: &mut NsReader<&[u8]>) -> Result<DcRecord, ParseError> {
    let mut dc = DcRecord::new();
    let mut depth = 1usize;
    let mut current: Option<(DcElement, Option<String>, String, usize)> = None;
    loop {
        let position = reader.buffer_position();
        let xml_err = |message: String| ParseError::Xml { position, message };
        let event = reader.read_event().map_err(|e| xml_err(e.to_string()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if !empty {
                    depth += 1;
                }
                if current.is_some() {
                    continue;
                }
                let in_dc = matches!(reader.resolve_element(e.name()).0,
                    ResolveResult::Bound(n) if n.as_ref() == DC_NAMESPACE.as_bytes());
                let element = std::str::from_utf8(e.local_name().as_ref())
                    .ok()
                    .and_then(DcElement::from_name);
                let (true, Some(element)) = (in_dc, element) else {
                    continue;
                };
                let mut lang = None;
                for attr in e.attributes().flatten() {
                    let (attr_ns, attr_local) = reader.resolve_attribute(attr.key);
                    if attr_local.as_ref() == b"lang"
                        && matches!(attr_ns, ResolveResult::Bound(n) if n.as_ref() == XML_NAMESPACE)
                    {
                        lang = Some(
                            attr.unescape_value()
                                .map_err(|e| xml_err(e.to_string()))?
                                .into_owned(),
                        );
                    }
                }
                if empty {
                    dc.push(
                        element,
                        DcValue {
                            value: String::new(),
                            lang,
                        },
                    );
                } else {
                    current = Some((element, lang, String::new(), depth));
                }
            }
            Event::End(_) => {
                if current.as_ref().is_some_and(|(_, _, _, d)| *d == depth) {
                    let (element, lang, value, _) = current.take().expect("checked above");
                    dc.push(element, DcValue { value, lang });
                }
                depth -= 1;
                if depth == 0 {
                    return Ok(dc);
                }
            }
            Event::Eof => return Err(ParseError::Truncated),
            ref other => {
                if let Some((_, _, text, _)) = current.as_mut() {
                    push_event_text(other, text).map_err(xml_err)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn markup_characters_and_carriage_returns_survive_a_round_trip() {
        let mut dc = DcRecord::new();
        dc.push(
            DcElement::Source,
            DcValue::with_lang("Revue, < 79/93 > & \"x\"\r\nfin", "fr"),
        );
        dc.push_str(DcElement::Identifier, "https://x.example/?a=1&b=2");
        let xml = to_oai_dc_string(&dc);
        assert!(xml.contains("&lt; 79/93 &gt; &amp;"));
        assert_eq!(read_oai_dc(&xml).unwrap(), dc);
    }

    #[test]
    fn reading_accepts_other_prefixes_and_ignores_foreign_elements() {
        let xml = r#"<d:dc xmlns:d="http://www.openarchives.org/OAI/2.0/oai_dc/"
            xmlns:e="http://purl.org/dc/elements/1.1/" xmlns:x="urn:x">
            <e:title xml:lang="es">Hola &amp; <![CDATA[<b>]]>&#233;</e:title>
            <x:title>not dc</x:title><e:subject/><e:nonsense>n</e:nonsense></d:dc>"#;
        let dc = read_oai_dc(xml).unwrap();
        assert_eq!(
            dc.get(DcElement::Title),
            [DcValue::with_lang("Hola & <b>é", "es")]
        );
        assert_eq!(dc.get(DcElement::Subject), [DcValue::new("")]);
        assert_eq!(dc.len(), 2);
    }

    #[test]
    fn a_document_without_oai_dc_is_an_error() {
        assert!(matches!(read_oai_dc("<a/>"), Err(ParseError::NoDcElement)));
        assert!(matches!(
            read_oai_dc(
                r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/"><x>"#
            ),
            Err(ParseError::Truncated)
        ));
    }

    fn arb_value() -> impl Strategy<Value = DcValue> {
        ("\\PC*", proptest::option::of("[a-z]{2}(-[A-Z]{2})?")).prop_map(|(mut value, lang)| {
            crate::dc::strip_illegal_xml_chars(&mut value);
            DcValue { value, lang }
        })
    }

    /// What [`escape_text`] does, one character at a time.
    fn escape_text_by_chars(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '\r' => out.push_str("&#xD;"),
                c if !crate::dc::is_xml_char(c) => {}
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn text_escaping_drops_only_what_xml_forbids_among_characters_of_ef() {
        let s = "a\u{FFFE}b\u{FFFF}c\u{FFFD}\u{FEFF}\u{F000}&\u{1}\r\t\n<>";
        assert_eq!(escape_text(s), escape_text_by_chars(s));
        assert_eq!(
            escape_text(s),
            "abc\u{FFFD}\u{FEFF}\u{F000}&amp;&#xD;\t\n&lt;&gt;"
        );
        assert!(matches!(escape_text("numérique"), Cow::Borrowed(_)));
    }

    proptest! {
        #[test]
        fn text_escaping_matches_the_character_by_character_rule(
            s in "(\\PC|[\u{0}-\u{1f}&<>\u{fff0}-\u{ffff}é])*"
        ) {
            prop_assert_eq!(escape_text(&s).into_owned(), escape_text_by_chars(&s));
        }

        #[test]
        fn oai_dc_write_then_read_is_identity(
            values in proptest::collection::vec((0usize..15, arb_value()), 0..20)
        ) {
            let mut dc = DcRecord::new();
            for (i, v) in values {
                dc.push(DcElement::ALL[i], v);
            }
            prop_assert_eq!(read_oai_dc(&to_oai_dc_string(&dc)).unwrap(), dc);
        }
    }
}
