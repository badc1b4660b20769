//! A [`UnimarcRecord`] written back as PMB's `<notice>` XML, in PMB's namespace
//! `http://www.pmbservices.fr` (what PMB itself sends with its "Validité OAI-PMH" option on),
//! described by `schemas/pmb-notice.xsd`.
//!
//! Why not re-serve the harvested bytes: PMB's default `<notice>` carries no namespace, so in
//! an OAI-PMH response it falls in the OAI-PMH namespace, which `<metadata>` forbids
//! (`##other`). Writing the notice from the model also drops whatever the sanitizer had to
//! remove, and gives every served notice one layout, whichever PMB option produced it.

use std::io;

use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::Writer;

use super::record::{FieldValue, Label, UnimarcRecord};
use crate::dc::is_xml_char;
use crate::dc::xml::write_text;

/// The namespace of PMB's `<notice>`, as PMB declares it and lists it in ListMetadataFormats.
pub const PMB_NAMESPACE: &str = "http://www.pmbservices.fr";

/// A label position or an indicator as PMB writes it: blank is `*` in the label; anything an
/// XML attribute or a one-character element cannot hold becomes blank.
fn position_char(c: char, blank: char) -> char {
    if c == ' ' || c.is_control() || !is_xml_char(c) {
        blank
    } else {
        c
    }
}

fn write_label<W: io::Write>(w: &mut Writer<W>, label: &Label) -> io::Result<()> {
    for (name, c) in [
        ("rs", label.status),
        ("dt", label.doc_type),
        ("bl", label.bib_level),
        ("hl", label.hier_level),
        ("el", label.enc_level),
        ("ru", label.cat_form),
    ] {
        let mut text = [0u8; 4];
        let text = position_char(c, '*').encode_utf8(&mut text);
        w.create_element(name)
            .write_inner_content(|w| write_text(w, text))?;
    }
    Ok(())
}

fn write_notice_to<W: io::Write>(w: &mut Writer<W>, record: &UnimarcRecord) -> io::Result<()> {
    w.create_element("notice")
        .with_attribute(("xmlns", PMB_NAMESPACE))
        .write_inner_content(|w| {
            write_label(w, &record.label)?;
            for field in &record.fields {
                let mut start = BytesStart::new("f");
                start.push_attribute(("c", field.tag.as_str()));
                match &field.value {
                    FieldValue::Control(value) => {
                        w.write_event(Event::Start(start))?;
                        write_text(w, value)?;
                    }
                    FieldValue::Data {
                        indicators,
                        subfields,
                    } => {
                        let ind: String =
                            indicators.iter().map(|&c| position_char(c, ' ')).collect();
                        start.push_attribute(("ind", ind.as_str()));
                        w.write_event(Event::Start(start))?;
                        for s in subfields {
                            let mut code = [0u8; 4];
                            let code = position_char(s.code, '_').encode_utf8(&mut code);
                            w.create_element("s")
                                .with_attribute(("c", &*code))
                                .write_inner_content(|w| write_text(w, &s.value))?;
                        }
                    }
                }
                w.write_event(Event::End(BytesEnd::new("f")))?;
            }
            Ok(())
        })?;
    Ok(())
}

/// The record as one `<notice xmlns="http://www.pmbservices.fr">` element: the six label
/// elements, then every field in the record's order (`<f c="001">` for control fields,
/// `<f c="200" ind="1 ">` with one `<s c="…">` per subfield). Characters XML 1.0 forbids are
/// dropped.
pub fn write_notice(record: &UnimarcRecord) -> Vec<u8> {
    let mut w = Writer::new(Vec::with_capacity(4096));
    // Writing to a Vec cannot fail.
    let _ = write_notice_to(&mut w, record);
    w.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::unimarc::read_payload;

    #[test]
    fn a_written_notice_reads_back_as_the_same_record_in_pmb_s_namespace() {
        let bare = "<notice><rs>n</rs><dt>a</dt><bl>m</bl><hl>0</hl><el>*</el><ru>i</ru>\
                    <f c=\"001\">7</f><f c=\"200\" ind=\"1 \"><s c=\"a\">A &amp; B &lt; C</s>\
                    <s c=\"e\">x\u{FFFE}y</s></f></notice>";
        let sanitized = bare.replace('\u{FFFE}', "");
        let record = read_payload(sanitized.as_bytes()).unwrap();
        let written = write_notice(&record);
        let text = String::from_utf8(written.clone()).unwrap();
        assert!(
            text.starts_with("<notice xmlns=\"http://www.pmbservices.fr\"><rs>n</rs>"),
            "{text}"
        );
        assert!(text.contains("<el>*</el>"), "{text}");
        assert!(text.contains("A &amp; B &lt; C"), "{text}");
        let again = read_payload(&written).unwrap();
        assert_eq!(again.fields, record.fields);
        assert_eq!(again.label, record.label);
    }

    #[test]
    fn characters_xml_forbids_never_reach_the_written_notice() {
        let mut record = read_payload(
            b"<notice><rs>n</rs><dt>a</dt><bl>m</bl><hl>0</hl><el>1</el><ru>i</ru>\
              <f c=\"001\">7</f><f c=\"200\" ind=\"1 \"><s c=\"a\">t</s></f></notice>",
        )
        .unwrap();
        if let FieldValue::Data { subfields, .. } = &mut record.fields[1].value {
            subfields[0].value = "a\u{FFFF}b\u{1}c".into();
        }
        let text = String::from_utf8(write_notice(&record)).unwrap();
        assert!(text.contains("<s c=\"a\">abc</s>"), "{text}");
    }
}
