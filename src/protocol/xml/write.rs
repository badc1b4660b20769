//! Writing OAI-PMH responses (§3.2) with quick-xml, one function per protocol element.
//!
//! Records are rendered once, when they are stored ([`render_record`]); a list page is then the
//! envelope around stored bytes copied as they are.

use std::io::{self, Write};

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesPI, BytesStart, Event};
use quick_xml::Writer;

use crate::dc::xml::{escape_attribute, write_oai_dc, write_text, XSI_NAMESPACE};
use crate::dc::DcRecord;
use crate::protocol::error::OaiError;
use crate::protocol::model::{Header, MetadataFormat, RepositoryIdentity, SetInfo};
use crate::protocol::types::{Datestamp, OaiIdentifier, Verb};

/// The OAI-PMH 2.0 namespace.
pub const OAI_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/";
const OAI_SCHEMA_LOCATION: &str =
    "http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd";
const OAI_IDENTIFIER_NAMESPACE: &str = "http://www.openarchives.org/OAI/2.0/oai-identifier";
const OAI_IDENTIFIER_SCHEMA_LOCATION: &str = "http://www.openarchives.org/OAI/2.0/oai-identifier http://www.openarchives.org/OAI/2.0/oai-identifier.xsd";
const GRANULARITY_SECONDS: &str = "YYYY-MM-DDThh:mm:ssZ";
/// The attributes `<request>` may carry (`requestType` in OAI-PMH.xsd).
const REQUEST_ATTRIBUTES: [&str; 7] = [
    "verb",
    "identifier",
    "metadataPrefix",
    "from",
    "until",
    "set",
    "resumptionToken",
];

/// A record rendered as a `<record>` element, with where its `<header>` lies inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedRecord {
    /// The bytes of `<record>…</record>`.
    pub bytes: Vec<u8>,
    /// The byte range of `<header>…</header>` within `bytes`.
    pub header: std::ops::Range<usize>,
}

/// The payload of a record: Dublin Core to render, or XML kept as harvested.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// Render as `oai_dc`.
    Dc(&'a DcRecord),
    /// A complete XML element, written as it is.
    Xml(&'a [u8]),
}

fn text_element<W: Write>(w: &mut Writer<W>, name: &str, text: &str) -> io::Result<()> {
    w.create_element(name)
        .write_inner_content(|w| write_text(w, text))?;
    Ok(())
}

/// Writes `<header>` (§2.5), with `status="deleted"` for a tombstone.
pub fn write_header<W: Write>(w: &mut Writer<W>, header: &Header) -> io::Result<()> {
    let mut el = w.create_element("header");
    if header.deleted {
        el = el.with_attribute(("status", "deleted"));
    }
    el.write_inner_content(|w| {
        text_element(w, "identifier", header.identifier.as_ref())?;
        text_element(w, "datestamp", &header.datestamp.to_string())?;
        for spec in &header.set_specs {
            text_element(w, "setSpec", spec.as_ref())?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Renders a `<record>`: its header, then (unless deleted) its metadata and `<about>` containers.
pub fn render_record(
    header: &Header,
    payload: Option<Payload<'_>>,
    about: &[&[u8]],
) -> RenderedRecord {
    let mut w = Writer::new(Vec::with_capacity(4096));
    w.get_mut().extend_from_slice(b"<record>");
    let start = w.get_ref().len();
    write_header(&mut w, header).expect("Writing to a Vec cannot fail.");
    let end = w.get_ref().len();
    if !header.deleted {
        if let Some(payload) = payload {
            w.get_mut().extend_from_slice(b"<metadata>");
            match payload {
                Payload::Dc(dc) => write_oai_dc(&mut w, dc).expect("Writing to a Vec cannot fail."),
                Payload::Xml(xml) => w.get_mut().extend_from_slice(xml),
            }
            w.get_mut().extend_from_slice(b"</metadata>");
        }
        for container in about {
            w.get_mut().extend_from_slice(b"<about>");
            w.get_mut().extend_from_slice(container);
            w.get_mut().extend_from_slice(b"</about>");
        }
    }
    w.get_mut().extend_from_slice(b"</record>");
    RenderedRecord {
        bytes: w.into_inner(),
        header: start..end,
    }
}

/// Writes the XML declaration, the optional stylesheet PI, `<OAI-PMH>`, `<responseDate>` and
/// `<request>`; attributes are echoed only when `arguments` is given (§3.2).
pub fn write_envelope_start<W: Write>(
    w: &mut Writer<W>,
    response_date: Datestamp,
    base_url: &str,
    arguments: Option<&[(String, String)]>,
    stylesheet: Option<&str>,
) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    w.get_mut().write_all(b"\n")?;
    if let Some(href) = stylesheet {
        let href = escape_attribute(href);
        w.write_event(Event::PI(BytesPI::new(format!(
            "xml-stylesheet type=\"text/xsl\" href=\"{href}\""
        ))))?;
        w.get_mut().write_all(b"\n")?;
    }
    w.write_event(Event::Start(BytesStart::new("OAI-PMH").with_attributes([
        ("xmlns", OAI_NAMESPACE),
        ("xmlns:xsi", XSI_NAMESPACE),
        ("xsi:schemaLocation", OAI_SCHEMA_LOCATION),
    ])))?;
    text_element(w, "responseDate", &response_date.to_string())?;
    let mut request = w.create_element("request");
    // Only the schema's own attributes, each once: the handler echoes arguments only after
    // they parsed, and this keeps the echo well-formed and schema-valid even if it did not.
    let mut echoed: Vec<&str> = Vec::new();
    for (name, value) in arguments.unwrap_or_default() {
        if REQUEST_ATTRIBUTES.contains(&name.as_str()) && !echoed.contains(&name.as_str()) {
            echoed.push(name);
            let value = escape_attribute(value);
            request = request.with_attribute(Attribute::from((name.as_bytes(), value.as_bytes())));
        }
    }
    request.write_inner_content(|w| write_text(w, base_url))?;
    Ok(())
}

/// Closes `</OAI-PMH>`.
pub fn write_envelope_end<W: Write>(w: &mut Writer<W>) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new("OAI-PMH")))
}

/// Opens the element named after the verb (`<ListRecords>`).
pub fn write_verb_start<W: Write>(w: &mut Writer<W>, verb: Verb) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(verb.as_str())))
}

/// Closes the element named after the verb.
pub fn write_verb_end<W: Write>(w: &mut Writer<W>, verb: Verb) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(verb.as_str())))
}

/// Writes one `<error code="…">` (§3.6).
pub fn write_error<W: Write>(w: &mut Writer<W>, error: &OaiError) -> io::Result<()> {
    w.create_element("error")
        .with_attribute(("code", error.code()))
        .write_inner_content(|w| write_text(w, error.message()))?;
    Ok(())
}

/// The content of an Identify response.
#[derive(Debug, Clone)]
pub struct IdentifyBody<'a> {
    /// From configuration.
    pub identity: &'a RepositoryIdentity,
    /// The true earliest datestamp in the store.
    pub earliest_datestamp: Datestamp,
    /// For the `oai-identifier` description.
    pub sample_identifier: &'a str,
}

/// Writes `<Identify>` (§4.2).
pub fn write_identify<W: Write>(w: &mut Writer<W>, body: &IdentifyBody<'_>) -> io::Result<()> {
    let id = body.identity;
    w.create_element("Identify").write_inner_content(|w| {
        text_element(w, "repositoryName", &id.repository_name)?;
        text_element(w, "baseURL", &id.base_url)?;
        text_element(w, "protocolVersion", "2.0")?;
        for email in &id.admin_emails {
            text_element(w, "adminEmail", email)?;
        }
        text_element(w, "earliestDatestamp", &body.earliest_datestamp.to_string())?;
        text_element(w, "deletedRecord", "persistent")?;
        text_element(w, "granularity", GRANULARITY_SECONDS)?;
        text_element(w, "compression", "gzip")?;
        text_element(w, "compression", "deflate")?;
        w.create_element("description").write_inner_content(|w| {
            w.create_element("oai-identifier")
                .with_attributes([
                    ("xmlns", OAI_IDENTIFIER_NAMESPACE),
                    ("xmlns:xsi", XSI_NAMESPACE),
                    ("xsi:schemaLocation", OAI_IDENTIFIER_SCHEMA_LOCATION),
                ])
                .write_inner_content(|w| {
                    text_element(w, "scheme", "oai")?;
                    text_element(w, "repositoryIdentifier", &id.repository_identifier)?;
                    text_element(w, "delimiter", ":")?;
                    text_element(w, "sampleIdentifier", body.sample_identifier)
                })?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

/// Writes one `<metadataFormat>` (§4.4).
pub fn write_metadata_format<W: Write>(
    w: &mut Writer<W>,
    format: &MetadataFormat,
) -> io::Result<()> {
    w.create_element("metadataFormat")
        .write_inner_content(|w| {
            text_element(w, "metadataPrefix", format.prefix.as_ref())?;
            text_element(w, "schema", &format.schema)?;
            text_element(w, "metadataNamespace", &format.namespace)
        })?;
    Ok(())
}

/// Writes one `<set>` (§4.6), with an `oai_dc` setDescription when it has one.
pub fn write_set<W: Write>(w: &mut Writer<W>, set: &SetInfo) -> io::Result<()> {
    w.create_element("set").write_inner_content(|w| {
        text_element(w, "setSpec", set.spec.as_ref())?;
        text_element(w, "setName", &set.name)?;
        if let Some(dc) = &set.description {
            w.create_element("setDescription")
                .write_inner_content(|w| write_oai_dc(w, dc))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Writes `<resumptionToken>` (§3.5.1): with a token while the list goes on, empty at its end.
pub fn write_resumption_token<W: Write>(
    w: &mut Writer<W>,
    token: Option<(&str, Datestamp)>,
    complete_list_size: u64,
    cursor: u64,
) -> io::Result<()> {
    let size = complete_list_size.to_string();
    let cursor = cursor.to_string();
    let mut el = w.create_element("resumptionToken");
    match token {
        Some((text, expires)) => {
            el = el.with_attribute(("expirationDate", expires.to_string().as_str()));
            el.with_attributes([
                ("completeListSize", size.as_str()),
                ("cursor", cursor.as_str()),
            ])
            .write_inner_content(|w| write_text(w, text))?;
        }
        None => {
            el.with_attributes([
                ("completeListSize", size.as_str()),
                ("cursor", cursor.as_str()),
            ])
            .write_empty()?;
        }
    }
    Ok(())
}

/// An identifier that matches the `oai-identifier` sampleIdentifier pattern for `repository_identifier`.
pub fn is_oai_identifier_for(identifier: &OaiIdentifier, repository_identifier: &str) -> bool {
    identifier
        .as_ref()
        .strip_prefix("oai:")
        .and_then(|rest| rest.strip_prefix(repository_identifier))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|local| {
            !local.is_empty()
                && local
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'();/?:@&=+$,%".contains(c))
        })
}

/// True when `s` matches the `oai-identifier` repositoryIdentifier pattern (a domain name).
pub fn is_valid_repository_identifier(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::error::OaiError;

    fn forbidden(s: &str) -> Option<char> {
        s.chars().find(|c| !crate::dc::is_xml_char(*c))
    }

    #[test]
    fn the_writer_never_emits_a_character_xml_forbids() {
        let evil = "a\u{0}b\u{1}\u{B}\u{C}\u{1F}\u{FFFE}\u{FFFF}c&<>\"'\r";
        let mut w = Writer::new(Vec::new());
        let args = vec![
            ("verb".to_owned(), "ListRecords".to_owned()),
            ("resumptionToken".to_owned(), evil.to_owned()),
            ("bogus\u{FFFE}".to_owned(), evil.to_owned()),
        ];
        write_envelope_start(
            &mut w,
            Datestamp::from_unix(0),
            evil,
            Some(&args),
            Some(evil),
        )
        .unwrap();
        write_error(&mut w, &OaiError::IdDoesNotExist(evil.to_owned())).unwrap();
        write_set(
            &mut w,
            &SetInfo {
                spec: crate::protocol::SetSpec::parse("s").unwrap(),
                name: evil.to_owned(),
                description: None,
            },
        )
        .unwrap();
        write_envelope_end(&mut w).unwrap();
        let xml = String::from_utf8(w.into_inner()).unwrap();
        assert_eq!(forbidden(&xml), None, "{xml:?}");
        assert!(!xml.contains("bogus"), "{xml}");
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    for a in e.attributes() {
                        a.unwrap().unescape_value().unwrap();
                    }
                }
                _ => {}
            }
        }
    }
}
