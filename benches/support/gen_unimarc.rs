//! Writes N PMB UNIMARC records modelled on the seven notices of the PMB XML export fixture
//! (each with its own 001, bulletin id and title) as "UNIMARC PMB XML" files of 10,000 records
//! in DIR, and the same records' Dublin Core, mapped by the crosswalk, as `import dc` JSON
//! Lines in DIR.jsonl: the two imports then write the same records, so their rates compare.
//!
//! Usage: `cargo run --release --example gen_unimarc -- 100000 target/bench-unimarc/input`

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};

use moisson::importer::pmb::load::record_input;
use moisson::importer::unimarc::{map_payload, CrosswalkOptions, Mapped, OpacUrl};

const EXPORT: &str = include_str!("../../tests/fixtures/pmb/export/unimarc-utf8.xml");
const PER_FILE: usize = 10_000;
const REPOSITORY: &str = "bench.example.org";

/// The notices of the export, each `<notice>…</notice>`.
fn templates() -> Vec<&'static str> {
    let mut out = Vec::new();
    let mut rest = EXPORT;
    while let Some(start) = rest.find("<notice>") {
        let end = rest[start..].find("</notice>").expect("closed") + start + "</notice>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// Notice `i`: template `i % 7` with its own 001, bulletin id and title.
fn notice(template: &str, i: usize) -> String {
    let old_id = template
        .split("<f c=\"001\">")
        .nth(1)
        .and_then(|r| r.split("</f>").next())
        .expect("a 001");
    let mut out = template
        .replacen(
            &format!("<f c=\"001\">{old_id}</f>"),
            &format!("<f c=\"001\">{}</f>", 1_000_000 + i),
            1,
        )
        .replace("id:44933", &format!("id:{}", 2_000_000 + i));
    if let Some(at) = out.find("<f c=\"200\"") {
        if let Some(a) = out[at..].find("</s>") {
            out.insert_str(at + a, &format!(" ({i})"));
        }
    }
    out
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let dir = std::path::PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/bench-unimarc/input".into()),
    );
    std::fs::create_dir_all(&dir).expect("Failed to create the input directory.");
    let jsonl = dir.with_extension("jsonl");
    let mut lines = BufWriter::new(std::fs::File::create(&jsonl).expect("Failed to create it."));
    let options = CrosswalkOptions {
        opac_url: OpacUrl::parse("https://catalogue.example.org/opac_css/").ok(),
        ..CrosswalkOptions::default()
    };
    let templates = templates();
    let mut sets: BTreeMap<String, String> = BTreeMap::new();
    let mut file: Option<BufWriter<std::fs::File>> = None;
    for i in 0..n {
        if i % PER_FILE == 0 {
            if let Some(mut f) = file.take() {
                f.write_all(b"</unimarc>").unwrap();
            }
            let path = dir.join(format!("unimarc-{:04}.xml", i / PER_FILE));
            let mut f = BufWriter::new(std::fs::File::create(path).unwrap());
            f.write_all(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unimarc>\n")
                .unwrap();
            file = Some(f);
        }
        let text = notice(templates[i % templates.len()], i);
        let f = file.as_mut().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f.write_all(b"\n").unwrap();
        let Ok(Mapped::Record(mapped)) = map_payload(text.as_bytes(), &options, &[]) else {
            panic!("notice {i} does not map");
        };
        for def in &mapped.sets {
            sets.entry(def.spec.clone())
                .or_insert_with(|| def.name.clone());
        }
        let (input, _) = record_input(*mapped, REPOSITORY).expect("an identifier");
        let line = serde_json::json!({
            "id": input.identifier.as_ref(),
            "sets": input.sets.iter().map(AsRef::as_ref).collect::<Vec<&str>>(),
            "dc": input.dc,
            "local": input.local_fields,
        });
        serde_json::to_writer(&mut lines, &line).unwrap();
        lines.write_all(b"\n").unwrap();
    }
    if let Some(mut f) = file.take() {
        f.write_all(b"</unimarc>").unwrap();
    }
    for (spec, name) in sets {
        let line = serde_json::json!({ "setSpec": spec, "setName": name });
        serde_json::to_writer(&mut lines, &line).unwrap();
        lines.write_all(b"\n").unwrap();
    }
}
