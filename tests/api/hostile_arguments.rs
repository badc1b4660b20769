//! A property test: arbitrary bytes in every argument, over GET and POST, never break a
//! response. Every `/oai` answer is HTTP 200, well-formed XML 1.0 (checked in-process for
//! each case), and valid against the OAI-PMH schemas (checked with one xmllint run over all
//! the responses at the end, since a run per response is slow).

use std::cell::RefCell;
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use quick_xml::events::Event;

use crate::helpers::*;

const NAMES: [&str; 7] = [
    "verb",
    "identifier",
    "metadataPrefix",
    "from",
    "until",
    "set",
    "resumptionToken",
];

/// Requests that the server answers normally, to be spoiled argument by argument.
const TEMPLATES: [&[(&str, &str)]; 10] = [
    &[("verb", "Identify")],
    &[
        ("verb", "GetRecord"),
        ("identifier", "oai:x:1"),
        ("metadataPrefix", "oai_dc"),
    ],
    &[("verb", "ListMetadataFormats"), ("identifier", "oai:x:2")],
    &[("verb", "ListSets")],
    &[("verb", "ListSets"), ("resumptionToken", "SETS")],
    &[
        ("verb", "ListRecords"),
        ("metadataPrefix", "oai_dc"),
        ("from", "2020-01-01"),
        ("until", "2020-01-02"),
        ("set", "s"),
    ],
    &[
        ("verb", "ListIdentifiers"),
        ("metadataPrefix", "oai_dc"),
        ("from", "2020-01-01T00:00:00Z"),
        ("until", "2020-01-02T00:00:00Z"),
        ("set", "s:t"),
    ],
    &[
        ("verb", "ListRecords"),
        ("metadataPrefix", "oai_dc"),
        ("from", "2016-12-31T23:59:60Z"),
    ],
    &[("verb", "ListRecords"), ("resumptionToken", "RECORDS")],
    &[
        ("verb", "ListIdentifiers"),
        ("resumptionToken", "IDENTIFIERS"),
    ],
];

/// Byte sequences that are trouble: C0 and C1 controls, noncharacters, markup, and byte
/// forms that are not UTF-8 (encoded surrogates, an overlong slash, stray bytes).
const TROUBLE: [&[u8]; 22] = [
    b"\x00",
    b"\x01",
    b"\x0B",
    b"\x1F",
    b"\x7F",
    "\u{80}".as_bytes(),
    "\u{85}".as_bytes(),
    "\u{9F}".as_bytes(),
    "\u{FFFE}".as_bytes(),
    "\u{FFFF}".as_bytes(),
    "\u{FDD0}".as_bytes(),
    "\u{10FFFF}".as_bytes(),
    b"\xED\xA0\x80",
    b"\xED\xBF\xBF",
    b"\xED\xB0\x80",
    b"\xC0\xAF",
    b"\xFF",
    b"\x80",
    b"<&\"'>",
    b"%",
    b"]]>",
    b"\r\n\t ",
];

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        3 => proptest::sample::select(&TROUBLE[..]).prop_map(<[u8]>::to_vec),
        1 => "[a-zA-Z0-9:_.-]{1,8}".prop_map(String::into_bytes),
    ]
}

/// A valid value left alone, spoiled by a piece at its start, middle or end, or replaced.
fn spoil(valid: &'static str) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => Just(valid.as_bytes().to_vec()),
        4 => (piece(), 0..=valid.len()).prop_map(move |(p, at)| {
            let at = (0..=at).rev().find(|&i| valid.is_char_boundary(i)).unwrap_or(0);
            [&valid.as_bytes()[..at], &p, &valid.as_bytes()[at..]].concat()
        }),
        1 => proptest::collection::vec(piece(), 0..6).prop_map(|p| p.concat()),
    ]
}

fn name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::sample::select(&NAMES[..]).prop_map(|s| s.as_bytes().to_vec()),
        1 => proptest::collection::vec(piece(), 1..3).prop_map(|p| p.concat()),
    ]
}

/// A template with each value perhaps spoiled, perhaps an argument dropped or added.
fn request() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::sample::select(&TEMPLATES[..]).prop_flat_map(|template| {
        let args: Vec<_> = template
            .iter()
            .map(|&(n, v)| {
                (
                    Just(n.as_bytes().to_vec()),
                    spoil(v),
                    proptest::bool::weighted(0.9),
                )
            })
            .collect();
        let extra = proptest::collection::vec((name(), spoil("oai_dc")), 0..2);
        (args, extra).prop_map(|(args, extra)| {
            args.into_iter()
                .filter(|(_, _, keep)| *keep)
                .map(|(n, v, _)| (n, v))
                .chain(extra)
                .collect()
        })
    })
}

/// Percent-encodes every byte but unreserved ASCII, so the bytes arrive exactly as chosen.
fn encode(pairs: &[(Vec<u8>, Vec<u8>)], tokens: &[(&str, String)]) -> String {
    let enc = |bytes: &[u8]| -> String {
        let replaced = String::from_utf8_lossy(bytes).into_owned();
        let replaced = tokens.iter().fold(replaced, |s, (placeholder, token)| {
            s.replace(placeholder, token)
        });
        let bytes = if replaced.contains('\u{FFFD}') {
            bytes
        } else {
            replaced.as_bytes()
        };
        bytes
            .iter()
            .map(|&b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", enc(n), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Reads the whole document strictly; panics on the first flaw.
fn assert_well_formed(body: &str, query: &str) {
    if let Some(c) = body.chars().find(|c| !moisson::dc::is_xml_char(*c)) {
        panic!(
            "{query}: character U+{:04X} is not allowed in XML:\n{body}",
            u32::from(c)
        );
    }
    let mut reader = quick_xml::Reader::from_str(body);
    reader.config_mut().check_end_names = true;
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Err(e) => panic!("{query}: malformed XML ({e}):\n{body}"),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                for a in e.attributes() {
                    let a = a.unwrap_or_else(|e| panic!("{query}: attribute: {e}\n{body}"));
                    a.unescape_value()
                        .unwrap_or_else(|e| panic!("{query}: attribute value: {e}\n{body}"));
                }
                depth += 1;
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Text(t)) => {
                t.xml10_content()
                    .unwrap_or_else(|e| panic!("{query}: text: {e}\n{body}"));
            }
            Ok(_) => {}
        }
    }
    assert!(depth >= 0, "{query}: unbalanced");
}

#[test]
fn arbitrary_bytes_in_any_argument_never_break_a_response() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (app, tokens) = runtime.block_on(async {
        let app = spawn_app_with(moisson::store::Store::temporary().unwrap(), |s| {
            s.server.page_size = 1;
        })
        .await;
        app.seed(&[
            r#"{"setSpec":"s","setName":"S"}"#,
            r#"{"id":"oai:x:1","datestamp":"2020-01-01T00:00:00Z","sets":["s:t"],"dc":{"title":"t"}}"#,
            r#"{"id":"oai:x:2","datestamp":"2020-01-02T00:00:00Z","sets":["s"],"dc":{"title":"u"}}"#,
        ]);
        let mut tokens = Vec::new();
        for (placeholder, query) in [
            ("RECORDS", "verb=ListRecords&metadataPrefix=oai_dc"),
            ("IDENTIFIERS", "verb=ListIdentifiers&metadataPrefix=oai_dc"),
            ("SETS", "verb=ListSets"),
        ] {
            let first = app.get(query).await;
            tokens.push((placeholder, token(&first.body).expect("one item a page")));
        }
        (app, tokens)
    });
    let bodies = RefCell::new(Vec::new());
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&request(), |pairs| {
            let query = encode(&pairs, &tokens);
            runtime.block_on(async {
                for answer in [app.get(&query).await, app.post(&query).await] {
                    prop_assert_eq!(answer.status, 200, "{}: {}", query, answer.body);
                    assert_well_formed(&answer.body, &query);
                    bodies.borrow_mut().push((query.clone(), answer.body));
                }
                Ok(())
            })
        })
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let bodies = bodies.into_inner();
    let files: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, (_, body))| {
            let file = dir.path().join(format!("{i:04}.xml"));
            std::fs::write(&file, body).unwrap();
            file
        })
        .collect();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schemas_dir().join("oai-pmh-offline.xsd"))
        .args(&files)
        .output()
        .expect("xmllint is needed by the tests (Debian package libxml2-utils).");
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.ends_with(" validates"))
            .unwrap_or_default();
        let index = first
            .rsplit('/')
            .next()
            .and_then(|f| f.get(..4)?.parse::<usize>().ok());
        let (query, body) = index.map_or(("?", ""), |i| (&bodies[i].0, &bodies[i].1));
        panic!("not schema-valid: {first}\nrequest: {query}\n{body}");
    }
    drop(app);
}
