//! Property test: arbitrary Unicode — non-characters, C0 and C1 controls, the UTF-8 byte forms
//! of surrogates, markup characters — in every field an importer reads (`import dc`: `id`,
//! `sets`, `setSpec`, `setName`, `setDescription`, Dublin Core values and languages, local
//! fields; `import pmb`: labels and values). Whatever is imported or refused, every `/oai`
//! response of the store is then well-formed and valid against the schemas.

use std::fmt::Write as _;
use std::path::Path;

use moisson::importer::jsonl::{DcLoader, DcOptions, LineSplitter, MAX_LINE_BYTES};
use moisson::importer::pmb::load::PmbOptions;
use moisson::importer::FileFormat;
use moisson::store::Store;
use proptest::prelude::*;

use crate::helpers::*;

fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        1 => Just('\u{FFFE}'),
        1 => Just('\u{FFFF}'),
        1 => Just('\u{FDD0}'),
        1 => Just('\u{1FFFF}'),
        1 => prop::char::range('\u{0}', '\u{1F}'),
        1 => prop::char::range('\u{7F}', '\u{9F}'),
        1 => prop::sample::select(vec!['<', '&', '>', '"', '\'', ']', ':', '|', 'é', ' ', '%', '\u{FFFD}']),
        1 => any::<char>(),
    ]
}

fn nasty() -> impl Strategy<Value = String> {
    prop::collection::vec(nasty_char(), 0..10).prop_map(|v| v.into_iter().collect())
}

/// One record and one set as `import dc` lines; some lines also get a surrogate's UTF-8 form
/// (ED A0 80) or a lone surrogate escape spliced in.
#[derive(Debug, Clone)]
struct DcCase {
    fields: Vec<String>,
    deleted: bool,
    corrupt: u8,
}

fn dc_case() -> impl Strategy<Value = DcCase> {
    (prop::collection::vec(nasty(), 10), any::<bool>(), 0u8..6).prop_map(
        |(fields, deleted, corrupt)| DcCase {
            fields,
            deleted,
            corrupt,
        },
    )
}

fn dc_lines(cases: &[DcCase]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let f = &c.fields;
        let set = format!("s:{}", f[1]);
        let set_line = serde_json::json!({
            "setSpec": set,
            "setName": format!("n{}", f[2]),
            "setDescription": {"description": [f[3].clone()]},
        });
        // Most records carry valid sets, so that most are stored and served.
        let sets = if c.corrupt == 3 {
            vec![set, format!("t{}", f[9])]
        } else {
            vec!["a:b".to_owned()]
        };
        let record = serde_json::json!({
            "id": if c.corrupt == 5 { format!("oai:x:{i}{}", f[0]) } else { format!("oai:x:{i}") },
            "sets": sets,
            "deleted": c.deleted,
            "dc": {
                "title": [f[4].clone()],
                "creator": [{"value": f[5].clone(), "lang": if c.corrupt == 4 { f[6].clone() } else { "fr".to_owned() }}],
                "description": [format!("d{}", f[7])],
            },
            "local": [[f[8].clone(), f[7].clone()]],
        });
        for line in [set_line.to_string(), record.to_string()] {
            let mut bytes = line.into_bytes();
            match c.corrupt {
                0 => {
                    let at = bytes.len() / 2;
                    bytes.splice(at..at, [0xED, 0xA0, 0x80]);
                }
                1 => {
                    let text = String::from_utf8(bytes).unwrap();
                    bytes = text.replacen("\"oai:x:", "\"oai:x:\\ud800", 1).into_bytes();
                }
                _ => {}
            }
            out.extend(bytes);
            out.push(b'\n');
        }
    }
    out
}

fn pmb_display(cases: &[DcCase]) -> Vec<u8> {
    let mut out = String::new();
    for (i, c) in cases.iter().enumerate() {
        // Line ends and bars are the display's own structure: kept out of most values.
        let f: Vec<String> = c
            .fields
            .iter()
            .map(|v| {
                if c.corrupt == 2 {
                    v.clone()
                } else {
                    v.replace(['\n', '\r', '|'], " ")
                }
            })
            .collect();
        let _ = write!(
            out,
            "[n° ou bulletin]\nTitre : | T{} |\nAuteurs : | {} , Auteur |\nLangues : | {} ({}) |\n\
             Type de document : | {} |\n{} : | {} |\nMots-clés : | {} |\n\
             Permalink : | https://pmb.example/index.php?lvl=notice_display&id={i} |\n",
            f[0],
            f[1],
            f[2],
            f[3].chars().take(3).collect::<String>(),
            f[4],
            f[5],
            f[6],
            f[7]
        );
    }
    let mut bytes = out.into_bytes();
    if cases.first().is_some_and(|c| c.corrupt == 0) {
        let at = bytes.len() / 2;
        bytes.splice(at..at, [0xED, 0xA0, 0x80]);
    }
    bytes
}

fn import(store: &Store, lines: &[u8], display: &[u8]) {
    let mut loader = DcLoader::new(
        store.clone(),
        "in.jsonl".into(),
        DcOptions::default(),
        7,
        None,
    );
    let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
    for chunk in lines.chunks(97) {
        splitter.push(chunk, &mut loader).unwrap();
    }
    splitter.finish(&mut loader).unwrap();
    loader.finish().unwrap();
    let format = FileFormat::Pmb(PmbOptions {
        repository_identifier: "pmb.example.org".into(),
        dry_run: false,
    });
    format
        .load_file(Some(store), Path::new("in.txt"), display, &mut |_| {})
        .unwrap();
}

/// Every list page, every set page and each record's GetRecord, checked against the schemas.
async fn assert_every_response_is_valid(app: &TestApp) {
    for verb in ["ListRecords", "ListIdentifiers"] {
        let first = app.get(&format!("verb={verb}&metadataPrefix=oai_dc")).await;
        assert_valid(&first.body);
        if error_codes(&first.body).is_empty() {
            harvest_all(app, &format!("verb={verb}&metadataPrefix=oai_dc"), verb).await;
        }
    }
    let sets = app.get("verb=ListSets").await;
    assert_valid(&sets.body);
    let ids: Vec<String> = app.store.iter_records().map(|r| r.unwrap().0).collect();
    for id in ids {
        app.oai(&format!(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier={}",
            urlencode(&id)
        ))
        .await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn whatever_the_importers_read_every_response_stays_well_formed_and_valid(
        cases in prop::collection::vec(dc_case(), 1..4)
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let store = Store::temporary().unwrap();
            import(&store, &dc_lines(&cases), &pmb_display(&cases));
            let app = spawn_app_with(store, |s| s.server.page_size = 2).await;
            assert_every_response_is_valid(&app).await;
        });
    }
}

#[tokio::test]
async fn the_generated_inputs_import_when_their_fields_are_plain() {
    let case = DcCase {
        fields: (0..10).map(|i| format!("v{i}")).collect(),
        deleted: false,
        corrupt: 5,
    };
    let store = Store::temporary().unwrap();
    import(
        &store,
        &dc_lines(std::slice::from_ref(&case)),
        &pmb_display(&[case]),
    );
    assert_eq!(store.stats().unwrap().records, 2, "one from each importer");
    let app = spawn_app_with(store, |s| s.server.page_size = 2).await;
    assert_every_response_is_valid(&app).await;
}
