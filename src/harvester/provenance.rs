//! The `<about><provenance>` container of a harvested record, as the OAI-PMH guidelines for
//! provenance describe it (schema `provenance.xsd`): where the record came from, when it was
//! harvested and whether it was altered, with the upstream provenance nested inside.

use quick_xml::Writer;

use crate::dc::xml::{write_text, XSI_NAMESPACE};
use crate::protocol::xml::read::PROVENANCE_NAMESPACE;
use crate::protocol::{DateArgument, Datestamp};
use crate::store::harvest_state::DatedAbout;

const PROVENANCE_SCHEMA_LOCATION: &str =
    "http://www.openarchives.org/OAI/2.0/provenance http://www.openarchives.org/OAI/2.0/provenance.xsd";

/// What one `<originDescription>` says.
#[derive(Debug, Clone, Copy)]
pub struct Provenance<'a> {
    /// The baseURL harvested.
    pub base_url: &'a str,
    /// The upstream identifier.
    pub identifier: &'a str,
    /// The upstream datestamp, as written (normalised when it is not a date or dateTime).
    pub datestamp: &'a str,
    /// The namespace of the harvested metadata.
    pub metadata_namespace: &'a str,
    /// True when moisson changed the metadata (illegal characters removed).
    pub altered: bool,
    /// The upstream `<originDescription>`, when the upstream record had a provenance itself.
    pub nested: Option<&'a [u8]>,
}

fn text_element(w: &mut Writer<Vec<u8>>, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_inner_content(|w| write_text(w, text))?;
    Ok(())
}

/// Where the harvest date goes: a marker no escaping changes, then split on.
const DATE_MARKER: &str = "HARVEST-DATE";

/// Renders the `<provenance>` element, with the harvest date left for the store to fill in
/// (see [`DatedAbout`]).
pub fn provenance_xml(origin: &Provenance<'_>) -> DatedAbout {
    let datestamp = if DateArgument::parse(origin.datestamp).is_some() {
        origin.datestamp.to_owned()
    } else {
        Datestamp::parse_lenient(origin.datestamp)
            .map_or_else(|| origin.datestamp.to_owned(), |d| d.to_string())
    };
    let mut w = Writer::new(Vec::with_capacity(640));
    w.create_element("provenance")
        .with_attributes([
            ("xmlns", PROVENANCE_NAMESPACE),
            ("xmlns:xsi", XSI_NAMESPACE),
            ("xsi:schemaLocation", PROVENANCE_SCHEMA_LOCATION),
        ])
        .write_inner_content(|w| {
            w.create_element("originDescription")
                .with_attributes([
                    ("harvestDate", DATE_MARKER),
                    ("altered", if origin.altered { "true" } else { "false" }),
                ])
                .write_inner_content(|w| {
                    text_element(w, "baseURL", origin.base_url)?;
                    text_element(w, "identifier", origin.identifier)?;
                    text_element(w, "datestamp", &datestamp)?;
                    text_element(w, "metadataNamespace", origin.metadata_namespace)?;
                    if let Some(nested) = origin.nested {
                        w.get_mut().extend_from_slice(nested);
                    }
                    Ok(())
                })?;
            Ok(())
        })
        .expect("Writing to a Vec cannot fail.");
    let mut before = w.into_inner();
    let at = before
        .windows(DATE_MARKER.len())
        .position(|w| w == DATE_MARKER.as_bytes())
        .expect("The marker was written.");
    let after = before.split_off(at)[DATE_MARKER.len()..].to_vec();
    DatedAbout { before, after }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_names_origin_and_harvest_date_and_nests_the_upstream_one() {
        let xml = provenance_xml(&Provenance {
            base_url: "https://zenodo.org/oai2d",
            identifier: "oai:zenodo.org:1",
            datestamp: "2023-12-11T17:26:46Z",
            metadata_namespace: "http://www.openarchives.org/OAI/2.0/oai_dc/",
            altered: false,
            nested: Some(b"<originDescription harvestDate=\"2001-01-01\" altered=\"true\"/>"),
        })
        .render(Datestamp::from_unix(0));
        let xml = String::from_utf8(xml).unwrap();
        assert!(
            xml.starts_with("<provenance xmlns=\"http://www.openarchives.org/OAI/2.0/provenance\"")
        );
        assert!(xml.contains(
            "<originDescription harvestDate=\"1970-01-01T00:00:00Z\" altered=\"false\"><baseURL>https://zenodo.org/oai2d</baseURL>\
             <identifier>oai:zenodo.org:1</identifier><datestamp>2023-12-11T17:26:46Z</datestamp>"
        ));
        assert!(xml.ends_with("<originDescription harvestDate=\"2001-01-01\" altered=\"true\"/></originDescription></provenance>"));
    }

    #[test]
    fn a_datestamp_with_an_offset_is_normalised_to_utc() {
        let xml = provenance_xml(&Provenance {
            base_url: "http://x",
            identifier: "oai:x:1",
            datestamp: "2017-06-01T02:00:00+02:00",
            metadata_namespace: "urn:x",
            altered: true,
            nested: None,
        })
        .render(Datestamp::from_unix(0));
        assert!(String::from_utf8(xml)
            .unwrap()
            .contains("<datestamp>2017-06-01T00:00:00Z</datestamp>"));
    }
}
