//! `moisson import pmb`: the seed bulletin served as the expected oai_dc, re-imports, bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::*;
use moisson::dc::xml::read_oai_dc;
use moisson::store::Store;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pmb")
        .join(name)
}

fn import(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(data)
        .args(["import", "pmb"])
        .args(args)
        .env(
            "MOISSON_REPOSITORY__REPOSITORY_IDENTIFIER",
            "moisson.example.org",
        )
        .env_remove("MOISSON_ADMIN_TOKEN")
        .output()
        .expect("Failed to run moisson.")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn payload(body: &str) -> &str {
    let start = body.find("<oai_dc:dc").expect("an oai_dc payload");
    let end = body.find("</oai_dc:dc>").unwrap() + "</oai_dc:dc>".len();
    &body[start..end]
}

#[tokio::test]
async fn the_seed_bulletin_is_served_as_the_expected_oai_dc_and_reimporting_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let seed = fixture("bulletin-44933-seed.txt");
    let out = import(&data, &[seed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("added 1,"), "{}", stderr(&out));
    let again = import(&data, &[seed.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        stderr(&again).contains("added 0, updated 0, deleted 0, unchanged 1"),
        "{}",
        stderr(&again)
    );

    let app = spawn_app_with(Store::open(&data, 8 << 20).unwrap(), |_| {}).await;
    let body = app
        .oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:moisson.example.org:bulletin/44933")
        .await;
    let expected = std::fs::read_to_string(fixture("bulletin-44933-expected-oai_dc.xml")).unwrap();
    assert_eq!(
        read_oai_dc(payload(&body)).unwrap(),
        read_oai_dc(&expected).unwrap()
    );
    let sets = app.oai("verb=ListSets").await;
    assert!(
        texts(&sets, "setName").contains(&"Masters Recueil Alexandries".to_owned()),
        "{sets}"
    );
    let listed = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=periodical")
        .await;
    assert_eq!(
        header_identifiers(&listed),
        ["oai:moisson.example.org:bulletin/44933"]
    );
}

#[test]
fn rejected_records_are_named_by_file_and_line_and_strict_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let malformed = fixture("malformed.txt");
    let strict = import(&data, &["--strict", malformed.to_str().unwrap()]);
    assert_eq!(strict.status.code(), Some(2));
    let err = stderr(&strict);
    assert!(err.contains("malformed.txt:1:"), "{err}");
    assert!(err.contains("malformed.txt:12:"), "{err}");
    assert!(err.contains("strict: nothing written"), "{err}");
    let store = Store::open(&data, 8 << 20).unwrap();
    assert_eq!(store.stats().unwrap().records, 0);
    drop(store);
    let lenient = import(&data, &[malformed.to_str().unwrap()]);
    assert_eq!(lenient.status.code(), Some(2));
    assert!(
        stderr(&lenient).contains("added 1,"),
        "{}",
        stderr(&lenient)
    );
    assert!(
        stderr(&lenient).contains("rejected 2"),
        "{}",
        stderr(&lenient)
    );
}

#[test]
fn a_directory_is_read_recursively_and_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("sub")).unwrap();
    std::fs::copy(fixture("bulletin-44933-seed.txt"), input.join("a.txt")).unwrap();
    std::fs::copy(fixture("multi-record.txt"), input.join("sub/b.txt")).unwrap();
    let data = dir.path().join("store");
    let dry = import(&data, &["--dry-run", input.to_str().unwrap()]);
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stderr(&dry).contains("added 4,"), "{}", stderr(&dry));
    assert_eq!(
        Store::open(&data, 8 << 20)
            .unwrap()
            .stats()
            .unwrap()
            .records,
        0
    );
    let real = import(&data, &[input.to_str().unwrap()]);
    assert!(real.status.success(), "{}", stderr(&real));
    assert_eq!(
        Store::open(&data, 8 << 20)
            .unwrap()
            .stats()
            .unwrap()
            .records,
        4
    );
}

#[test]
fn windows_1252_input_is_converted_and_binary_junk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(fixture("bulletin-44933-seed.txt")).unwrap();
    let (latin, _, lossy) = encoding_rs::WINDOWS_1252.encode(&seed);
    assert!(!lossy);
    let latin_file = dir.path().join("latin.txt");
    std::fs::write(&latin_file, &latin).unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, [0u8, 159, 146, 150, 0, 1, 2, 3, 255, 254, 0, 0]).unwrap();
    let data = dir.path().join("store");
    let out = import(&data, &[latin_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = Store::open(&data, 8 << 20).unwrap();
    let dc = store
        .dc("oai:moisson.example.org:bulletin/44933")
        .unwrap()
        .unwrap();
    let expected = std::fs::read_to_string(fixture("bulletin-44933-expected-oai_dc.xml")).unwrap();
    assert_eq!(
        dc,
        read_oai_dc(&expected).unwrap(),
        "no mojibake after conversion"
    );
    drop(store);
    let out = import(&data, &[junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("junk.bin:"), "{}", stderr(&out));
    assert_eq!(
        Store::open(&data, 8 << 20)
            .unwrap()
            .stats()
            .unwrap()
            .records,
        1
    );
}

#[tokio::test]
async fn the_demo_store_serves_the_seed_bulletin_first() {
    let store = Store::temporary().unwrap();
    moisson::demo::load(&store, "moisson.example.org").unwrap();
    let app = spawn_app_with(store, |_| {}).await;
    let body = app
        .oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:moisson.example.org:bulletin/44933")
        .await;
    assert!(texts(&body, "title")[0].starts_with("NTIC et travail social"));
    let (ids, _) = harvest_all(
        &app,
        "verb=ListRecords&metadataPrefix=oai_dc",
        "ListRecords",
    )
    .await;
    assert_eq!(ids.len(), 11);
    assert_eq!(ids[0], "oai:moisson.example.org:bulletin/44933");
}

#[test]
fn a_file_that_is_not_a_pmb_display_is_refused_once_by_name_and_imports_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let png = dir.path().join("logo.png");
    std::fs::write(
        &png,
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06",
    )
    .unwrap();
    let jsonl = dir.path().join("records.jsonl");
    std::fs::write(
        &jsonl,
        "{\"id\":\"oai:x:1\",\"dc\":{\"title\":\"Titre : | x |\"}}\n",
    )
    .unwrap();
    let data = dir.path().join("store");
    for file in [
        root.join("README.md"),
        root.join("Cargo.toml"),
        png.clone(),
        jsonl.clone(),
    ] {
        let out = import(&data, &[file.to_str().unwrap()]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{}: {err}", file.display());
        let name = file.file_name().unwrap().to_str().unwrap();
        assert_eq!(
            err.matches(name).count(),
            2,
            "refused once, then the summary: {err}"
        );
        assert!(
            err.contains("not a PMB display") || err.contains("not a text display"),
            "{err}"
        );
        assert!(
            err.contains("added 0,") && err.contains("rejected 1"),
            "{err}"
        );
    }
    let store = Store::open(&data, 8 << 20).unwrap();
    assert_eq!(store.stats().unwrap().records, 0, "no record from a README");
    drop(store);
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    let out = import(&data, &[empty.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("nothing to import"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_dry_run_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let seed = fixture("bulletin-44933-seed.txt");
    let out = import(&data, &["--dry-run", seed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("added 1,"), "{}", stderr(&out));
    assert!(!data.exists(), "the dry run created {}", data.display());
    // A data directory made ahead (systemd's StateDirectory=) is not a store either.
    std::fs::create_dir(&data).unwrap();
    let out = import(&data, &["--dry-run", seed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(&data).unwrap().collect();
    assert!(left.is_empty(), "the dry run wrote {left:?}");
}

#[tokio::test]
async fn parent_sets_and_language_sets_have_readable_names() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let seed = fixture("bulletin-44933-seed.txt");
    assert!(import(&data, &[seed.to_str().unwrap()]).status.success());
    let app = spawn_app_with(Store::open(&data, 8 << 20).unwrap(), |_| {}).await;
    let sets = app.oai("verb=ListSets").await;
    let specs = texts(&sets, "setSpec");
    let names = texts(&sets, "setName");
    let name_of = |spec: &str| {
        specs
            .iter()
            .position(|s| s == spec)
            .map(|i| names[i].clone())
    };
    assert_eq!(
        name_of("doctype").as_deref(),
        Some("Document types"),
        "{sets}"
    );
    assert_eq!(name_of("periodical").as_deref(), Some("Periodicals"));
    assert_eq!(name_of("lang").as_deref(), Some("Languages"));
    assert_eq!(name_of("lang:fre").as_deref(), Some("Français"));
    let listed = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=lang:fre")
        .await;
    assert_eq!(
        header_identifiers(&listed),
        ["oai:moisson.example.org:bulletin/44933"]
    );
}

#[test]
fn strict_writes_a_directory_whose_only_other_file_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let input = dir.path().join("displays");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(
        fixture("bulletin-44933-seed.txt"),
        input.join("a-bulletin.txt"),
    )
    .unwrap();
    std::fs::write(input.join("b-empty.txt"), "").unwrap();
    let out = import(&data, &["--strict", input.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("nothing written"), "{err}");
    assert!(err.contains("added 1,"), "{err}");
}
