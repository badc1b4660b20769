//! The readers and the crosswalk against the PMB fixtures (`tests/fixtures/pmb/`): the seed
//! bulletin from every source, every live record against `expected-good-crosswalk.json`, the
//! display importer's result for the same bulletin, bad inputs, and arbitrary bytes.

use proptest::prelude::*;

use super::*;
use crate::dc::xml::read_oai_dc;
use crate::dc::{DcElement, DcRecord};
use crate::importer::pmb::MappedRecord;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pmb");

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{path}")).expect("Fixture files are readable.")
}

/// Every file that holds PMB UNIMARC, with the notices it holds.
const SOURCES: [(&str, usize); 8] = [
    ("oai/listrecords-pmb_xml_unimarc-page1.xml", 3),
    ("oai/listrecords-pmb_xml_unimarc-page2.xml", 2),
    ("oai/listrecords-pmb_xml_unimarc-page3-last.xml", 2),
    ("oai/listrecords-pmb_xml_unimarc-namespaced.xml", 3),
    ("oai/getrecord-pmb_xml_unimarc-61234.xml", 1),
    ("export/unimarc-utf8.xml", 7),
    ("export/unimarc-latin1.xml", 7),
    ("export/notices-utf8.iso2709", 7),
];
const ISO5426: &str = "export/notices-iso5426.iso2709";

fn options() -> CrosswalkOptions {
    CrosswalkOptions {
        opac_url: Some(OpacUrl::parse("https://catalogue.example.org/opac_css/").unwrap()),
        ..CrosswalkOptions::default()
    }
}

/// The mapped records of a file, by 001.
fn mapped(path: &str, options: &CrosswalkOptions) -> Vec<(String, MappedRecord)> {
    let bytes = fixture(path);
    let records: Vec<UnimarcRecord> = read(&bytes)
        .unwrap()
        .map(|r| r.unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect();
    records
        .iter()
        .map(|r| match map_record(r, options, &[]).unwrap() {
            Mapped::Record(m) => (r.id.clone(), *m),
            Mapped::Skipped(s) => panic!("{path}: {s:?}"),
        })
        .collect()
}

fn all_sources() -> impl Iterator<Item = &'static str> {
    SOURCES.iter().map(|(p, _)| *p).chain([ISO5426])
}

fn expected_seed() -> DcRecord {
    let xml =
        String::from_utf8(fixture("bulletin-44933-expected-from-unimarc-oai_dc.xml")).unwrap();
    read_oai_dc(&xml).unwrap()
}

#[test]
fn every_source_holds_the_notices_it_should() {
    for (path, count) in SOURCES.iter().copied().chain([(ISO5426, 7)]) {
        let bytes = fixture(path);
        let records = read(&bytes).unwrap();
        let format = records.format();
        let ids: Vec<String> = records.map(|r| r.unwrap().id).collect();
        assert_eq!(ids.len(), count, "{path}");
        assert_eq!(
            format,
            if path.ends_with(".iso2709") {
                Format::Iso2709
            } else {
                Format::PmbXml
            }
        );
    }
}

#[test]
fn the_seed_bulletin_gives_exactly_the_expected_oai_dc_from_every_source() {
    let expected = expected_seed();
    for path in all_sources().filter(|p| !p.contains("page2") && !p.contains("page3")) {
        let records = mapped(path, &options());
        let (_, seed) = records
            .iter()
            .find(|(id, _)| id == "61234")
            .unwrap_or_else(|| panic!("{path}: no 61234"));
        pretty_assert(&seed.dc, &expected, path);
        assert_eq!(seed.local_id, "bulletin/44933", "{path}");
        assert_eq!(seed.kind, crate::importer::pmb::RecordKind::Bulletin);
    }
}

fn pretty_assert(got: &DcRecord, expected: &DcRecord, what: &str) {
    if got != expected {
        let g: Vec<_> = got.iter().collect();
        let e: Vec<_> = expected.iter().collect();
        for (i, (a, b)) in g.iter().zip(&e).enumerate() {
            assert_eq!(a, b, "{what}: value {i}");
        }
        assert_eq!(g.len(), e.len(), "{what}: number of values");
    }
}

#[test]
fn every_source_gives_the_same_mapped_records() {
    let normalise = |mut records: Vec<(String, MappedRecord)>| {
        for (_, m) in &mut records {
            m.line = 0;
        }
        records.sort_by(|a, b| a.0.cmp(&b.0));
        records
    };
    let reference = normalise(mapped("export/unimarc-utf8.xml", &options()));
    for path in [
        "export/unimarc-latin1.xml",
        "export/notices-utf8.iso2709",
        ISO5426,
    ] {
        assert_eq!(normalise(mapped(path, &options())), reference, "{path}");
    }
    let mut pages = Vec::new();
    for page in SOURCES.iter().take(3) {
        pages.extend(mapped(page.0, &options()));
    }
    assert_eq!(normalise(pages), reference, "the three OAI pages");
}

#[test]
fn the_iso5426_and_utf8_exports_decode_to_identical_records() {
    let utf8: Vec<_> = read(&fixture("export/notices-utf8.iso2709"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let iso: Vec<_> = read(&fixture(ISO5426))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(utf8.len(), iso.len());
    for (a, b) in utf8.iter().zip(&iso) {
        assert_eq!(a.label, b.label);
        for (fa, fb) in a.fields.iter().zip(&b.fields) {
            if fa.tag.as_str() == "100" {
                continue; // positions 26-29 name the character set itself
            }
            assert_eq!(fa, fb, "notice {}", a.id);
        }
        assert_eq!(a.fields.len(), b.fields.len());
    }
    // The seed's general note holds 0x92 (’) and 0x9C (œ) bytes copied by PMB.
    let raw = fixture(ISO5426);
    let note: String = iso[0].all("300", 'a').collect();
    assert!(raw.contains(&0x92) && raw.contains(&0x9C));
    assert_eq!(note.matches('’').count(), 53);
    assert!(note.contains("manœuvre"));
}

fn json_values(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_fixture_record_matches_expected_good_crosswalk_json_from_every_source() {
    let json: serde_json::Value =
        serde_json::from_slice(&fixture("oai/expected-good-crosswalk.json")).unwrap();
    let options = CrosswalkOptions {
        opac_url: Some(OpacUrl::parse(json["opac_url_base"].as_str().unwrap()).unwrap()),
        keyword_separator: KeywordSeparator::parse(json["keyword_separator"].as_str().unwrap())
            .unwrap(),
    };
    let mut checked = 0;
    for path in all_sources() {
        let records = mapped(path, &options);
        for expected in json["records"].as_array().unwrap() {
            let oai_id = expected["oai_identifier"].as_str().unwrap();
            let Some((_, got)) = records
                .iter()
                .find(|(id, _)| format!("oai:catalogue:{id}") == oai_id)
            else {
                continue;
            };
            let dc = &expected["dc"];
            for (name, values) in dc.as_object().unwrap() {
                let what = format!("{path} {oai_id} {name}");
                if name == "description_count" {
                    let count = got.dc.get(DcElement::Description).len();
                    assert_eq!(Some(count as u64), values.as_u64(), "{what}");
                    continue;
                }
                let element = DcElement::from_name(name).unwrap();
                let got: Vec<String> = got
                    .dc
                    .get(element)
                    .iter()
                    .map(|v| v.value.clone())
                    .collect();
                assert_eq!(got, json_values(values), "{what}");
            }
            checked += 1;
        }
    }
    // 7 records in each of the four exports, 7 over the three pages, 3 + 1 more.
    assert_eq!(checked, 4 * 7 + 7 + 3 + 1);
}

#[test]
fn a_real_usage_right_is_rights_and_the_boilerplate_is_not() {
    let records = mapped("export/unimarc-utf8.xml", &options());
    for (id, m) in &records {
        let rights: Vec<&str> =
            m.dc.get(DcElement::Rights)
                .iter()
                .map(|v| v.value.as_str())
                .collect();
        let expected: &[&str] = if id == "61310" {
            &["Droits de prêt et de consultation sur place acquis"]
        } else {
            &[]
        };
        assert_eq!(rights, expected, "{id}");
        assert!(
            !m.dc.iter().any(|(_, v)| v.value.contains("thumbnail.php")),
            "896 never emitted"
        );
    }
}

#[test]
fn sets_are_per_periodical_and_document_type_with_readable_names() {
    let records = mapped("export/unimarc-utf8.xml", &options());
    let sets = |id: &str| -> Vec<(String, String)> {
        records
            .iter()
            .find(|(i, _)| i == id)
            .unwrap()
            .1
            .sets
            .iter()
            .map(|s| (s.spec.clone(), s.name.clone()))
            .collect()
    };
    let pair = |s: &str, n: &str| (s.to_owned(), n.to_owned());
    assert_eq!(
        sets("61234"),
        [
            pair("lang:fre", "Français"),
            pair("doctype:document-electronique", "document électronique"),
            pair(
                "periodical:masters-recueil-alexandries",
                "Masters Recueil Alexandries"
            ),
        ]
    );
    assert_eq!(
        sets("61250")[2],
        pair(
            "periodical:cahiers-de-l-intervention-sociale-numerique",
            "Cahiers de l'intervention sociale numérique"
        ),
        "a periodical is in its own set"
    );
    assert_eq!(
        sets("61310"),
        [
            pair("lang:fre", "Français"),
            pair(
                "doctype:document-projete-ou-video",
                "document projeté ou vidéo"
            )
        ]
    );
}

/// The `<notice>` of a record in an OAI-PMH page, as the harvester hands it over.
fn payload(page: &str, index: usize) -> Vec<u8> {
    let text = String::from_utf8(fixture(page)).unwrap();
    let start = text.match_indices("<notice").nth(index).unwrap().0;
    let end = text[start..].find("</notice>").unwrap() + start + "</notice>".len();
    text.as_bytes()[start..end].to_vec()
}

#[test]
fn a_harvested_payload_maps_with_its_oai_sets() {
    let sets = [SetDef {
        spec: "set_1".into(),
        name: "Dossiers de recherche et revues".into(),
    }];
    for page in [
        "oai/listrecords-pmb_xml_unimarc-page1.xml",
        "oai/listrecords-pmb_xml_unimarc-namespaced.xml",
    ] {
        let Mapped::Record(m) = map_payload(&payload(page, 0), &options(), &sets).unwrap() else {
            panic!("skipped");
        };
        pretty_assert(&m.dc, &expected_seed(), page);
        assert_eq!(m.sets.last(), Some(&sets[0]), "{page}");
    }
    let two = [payload(SOURCES[0].0, 0), payload(SOURCES[0].0, 1)].concat();
    let wrapped = [b"<unimarc>".as_slice(), &two, b"</unimarc>"].concat();
    assert_eq!(
        map_payload(&wrapped, &options(), &[]),
        Err(UnimarcError::NotOneNotice { count: 2 })
    );
    assert_eq!(
        map_payload(b"<unimarc/>", &options(), &[]),
        Err(UnimarcError::NotOneNotice { count: 0 })
    );
}

#[test]
fn the_display_and_unimarc_give_the_same_bulletin_except_names_and_permalink_host() {
    let display = crate::importer::pmb::import_bytes(&fixture("bulletin-44933-seed.txt"))
        .unwrap()
        .remove(0)
        .unwrap();
    let same_host = CrosswalkOptions {
        opac_url: Some(OpacUrl::parse("https://cs.iut.univ-tours.fr/").unwrap()),
        ..CrosswalkOptions::default()
    };
    for (options, permalink_differs) in [(same_host, false), (options(), true)] {
        let (_, unimarc) = mapped("export/unimarc-utf8.xml", &options).remove(0);
        assert_eq!(
            (unimarc.kind, &unimarc.local_id),
            (display.kind, &display.local_id)
        );
        assert_eq!(unimarc.sets, display.sets);
        let mut differences = Vec::new();
        for element in DcElement::ALL {
            let (u, d) = (unimarc.dc.get(element), display.dc.get(element));
            for (a, b) in u.iter().zip(d) {
                if a != b {
                    differences.push((element, a.value.clone(), b.value.clone()));
                }
            }
            assert_eq!(u.len(), d.len(), "{element}");
        }
        let mut expected = vec![
            (
                DcElement::Creator,
                "Della Torre, Laetitia".to_owned(),
                "Laetitia Della Torre".to_owned(),
            ),
            (
                DcElement::Contributor,
                "Valluy, Jérôme".to_owned(),
                "Jérôme Valluy".to_owned(),
            ),
        ];
        if permalink_differs {
            expected.push((
                DcElement::Identifier,
                "https://catalogue.example.org/opac_css/index.php?lvl=bulletin_display&id=44933"
                    .to_owned(),
                "https://cs.iut.univ-tours.fr/index.php?lvl=bulletin_display&id=44933".to_owned(),
            ));
        }
        assert_eq!(differences, expected);
    }
}

#[test]
fn without_an_opac_url_no_permalink_is_emitted() {
    let records = mapped("export/unimarc-utf8.xml", &CrosswalkOptions::default());
    let ids: Vec<&str> = records[0]
        .1
        .dc
        .get(DcElement::Identifier)
        .iter()
        .map(|v| v.value.as_str())
        .collect();
    assert_eq!(ids, ["http://www.reseau-terra.eu/article1402.html"]);
}

#[test]
fn inputs_that_are_not_unimarc_are_refused_saying_what_they_look_like() {
    let readme = fixture("oai/README.md");
    let jsonl = br#"{"identifier":"oai:x:1","dc":{"title":["T"]}}"#.to_vec();
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    for (bytes, says) in [
        (readme, "text that is neither XML nor ISO 2709"),
        (jsonl, "JSON"),
        (png, "PNG image"),
        (Vec::new(), "empty"),
        (b" \n\t".to_vec(), "empty"),
        (b"\0\x01\x02binary".to_vec(), "binary data"),
        (fixture("oai/listsets.xml"), ""),
    ] {
        match read(&bytes) {
            Err(e @ UnimarcError::NotUnimarc { .. }) => {
                assert!(e.to_string().contains(says), "{e}");
            }
            Err(e) => panic!("{says}: {e:?}"),
            // An OAI-PMH response without notices is read and holds no record.
            Ok(records) => assert_eq!((says, records.count()), ("", 0)),
        }
    }
}

#[test]
fn pmb_s_bulletin_items_placeholder_is_skipped_not_published() {
    let xml = r#"<unimarc><notice><rs>n</rs><dt>a</dt><bl>a</bl><hl>2</hl>
        <f c="001">44933-bull</f>
        <f c="200" ind="1 "><s c="a">Notice de bulletin</s><s c="d">Article_expl_bulletin</s><s c="h">Géo</s><s c="i">277</s></f>
        <f c="463" ind="  "><s c="d">2004-08-04</s><s c="v">277</s><s c="t"> </s><s c="t">Géo</s><s c="9">lnk:bull_expl</s></f>
        </notice></unimarc>"#;
    let results: Vec<_> = import_bytes(xml.as_bytes(), &options()).unwrap().collect();
    match &results[..] {
        [Ok(Mapped::Skipped(s))] => {
            assert_eq!(
                (s.id.as_str(), s.reason),
                ("44933-bull", SkipReason::BulletinItems)
            );
            assert_eq!(s.position.record, 1);
            assert!(s.reason.to_string().contains("not a document"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_bad_input_names_its_record() {
    let good = fixture("export/notices-utf8.iso2709");
    let first_len: usize = std::str::from_utf8(&good[..5]).unwrap().parse().unwrap();
    let truncated = good[..first_len + 100].to_vec();
    let results: Vec<_> = read(&truncated).unwrap().collect();
    assert!(results[0].is_ok());
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(
        e.position().map(|p| (p.record, p.offset)),
        Some((2, first_len))
    );
    assert!(e.to_string().contains("truncated"), "{e}");

    let mut wrong_leader = good.clone();
    wrong_leader[first_len + 11] = b'x';
    let results: Vec<_> = read(&wrong_leader).unwrap().collect();
    let e = results[1].as_ref().unwrap_err();
    assert!(
        matches!(e, UnimarcError::Leader { at, .. } if at.record == 2),
        "{e}"
    );
    assert_eq!(
        results.len(),
        7,
        "the reader resynchronises on the next record"
    );

    // A Latin-1 record between UTF-8 ones (100$a still says 50): mixed encodings.
    let latin1 = fixture(ISO5426);
    let latin1_len: usize = std::str::from_utf8(&latin1[..5]).unwrap().parse().unwrap();
    let mut iso_first = latin1[..latin1_len].to_vec();
    let at = iso_first.windows(4).position(|w| w == b"0103").unwrap();
    iso_first[at..at + 4].copy_from_slice(b"50  ");
    let mut mixed_file = good[..first_len].to_vec();
    mixed_file.extend_from_slice(&iso_first);
    let results: Vec<_> = read(&mixed_file).unwrap().collect();
    let e = results[1].as_ref().unwrap_err();
    assert!(
        matches!(e, UnimarcError::MixedEncoding { at, .. } if at.record == 2),
        "{e}"
    );
    assert!(e.to_string().contains("mixes encodings"), "{e}");

    let no_001 = String::from_utf8(fixture("export/unimarc-utf8.xml"))
        .unwrap()
        .replacen("<f c=\"001\">61250</f>", "", 1);
    let results: Vec<_> = read(no_001.as_bytes()).unwrap().collect();
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(
        e,
        &UnimarcError::NoControlNumber {
            at: e.position().unwrap()
        }
    );
    assert!(e.to_string().starts_with("record 2 (line "), "{e}");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 6);
}

fn run_everything(bytes: &[u8]) {
    let options = options();
    if let Ok(records) = read(bytes) {
        for record in records {
            match record {
                Ok(r) => {
                    assert!(!r.id.is_empty());
                    if let Ok(Mapped::Record(m)) = map_record(&r, &options, &[]) {
                        let xml = crate::dc::xml::to_oai_dc_string(&m.dc);
                        assert_eq!(read_oai_dc(&xml).unwrap(), m.dc, "well-formed output");
                    }
                }
                Err(e) => {
                    let _ = e.to_string();
                }
            }
        }
    }
    let _ = map_payload(bytes, &options, &[]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        run_everything(&bytes);
        let mut iso = b"00100nam0 22000251i 450 ".to_vec();
        iso.extend_from_slice(&bytes);
        run_everything(&iso);
        let mut xml = b"<unimarc><notice><f c=\"001\">1</f>".to_vec();
        xml.extend_from_slice(&bytes);
        run_everything(&xml);
    }

    #[test]
    fn mutated_fixtures_never_panic_and_every_error_names_a_record(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
        cut in any::<prop::sample::Index>(),
    ) {
        let path = ["export/unimarc-utf8.xml", "export/unimarc-latin1.xml",
                    "export/notices-utf8.iso2709", ISO5426][which];
        let mut bytes = fixture(path);
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        run_everything(&bytes);
        if let Ok(records) = read(&bytes) {
            for e in records.filter_map(Result::err) {
                prop_assert!(e.position().is_some_and(|p| p.record >= 1), "{}", e);
            }
        }
    }
}
