//! `moisson import unimarc`: every PMB export gives the same Dublin Core, the seed bulletin is
//! the same record as from its display, bad input is refused by file and record, and a
//! running server takes the import over.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use moisson::dc::xml::read_oai_dc;
use moisson::dc::DcRecord;
use moisson::store::Store;

use crate::helpers::*;
use crate::pmb_harvest::{assert_same_dc, pmb_fixture};

const REPO: &str = "moisson.example.org";
const OPAC: &str = "https://catalogue.example.org/opac_css/";
const EXPORTS: [&str; 4] = [
    "unimarc-utf8.xml",
    "unimarc-latin1.xml",
    "notices-utf8.iso2709",
    "notices-iso5426.iso2709",
];

fn export(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pmb/export")
        .join(name)
}

fn moisson(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("MOISSON_REPOSITORY__REPOSITORY_IDENTIFIER", REPO)
        .env_remove("MOISSON_ADMIN_TOKEN")
        .output()
        .expect("Failed to run moisson.")
}

fn import(data: &Path, args: &[&str]) -> Output {
    let mut all = vec!["import", "unimarc"];
    all.extend_from_slice(args);
    moisson(data, &all)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every record the server lists in oai_dc, by identifier.
async fn served_dc(data: &Path) -> BTreeMap<String, DcRecord> {
    let app = spawn_app_with(Store::open(data, 8 << 20).unwrap(), |_| {}).await;
    let mut out = BTreeMap::new();
    let (ids, _) = harvest_all(
        &app,
        "verb=ListIdentifiers&metadataPrefix=oai_dc",
        "ListIdentifiers",
    )
    .await;
    for id in ids {
        let body = app
            .oai(&format!(
                "verb=GetRecord&metadataPrefix=oai_dc&identifier={}",
                urlencode(&id)
            ))
            .await;
        out.insert(id, read_oai_dc(&body).unwrap());
    }
    out
}

#[tokio::test]
async fn each_export_imported_into_its_own_store_gives_the_same_dublin_core() {
    let dir = tempfile::tempdir().unwrap();
    let mut served = Vec::new();
    for name in EXPORTS {
        let data = dir.path().join(name);
        let out = import(&data, &[export(name).to_str().unwrap(), "--opac-url", OPAC]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("added 7, updated 0, deleted 0, unchanged 0, rejected 0"),
            "{name}: {}",
            stderr(&out)
        );
        served.push((name, served_dc(&data).await));
    }
    let (_, reference) = &served[0];
    assert_eq!(reference.len(), 7);
    let seed = format!("oai:{REPO}:bulletin/44933");
    let expected = read_oai_dc(&pmb_fixture(
        "bulletin-44933-expected-from-unimarc-oai_dc.xml",
    ))
    .unwrap();
    assert_same_dc(
        &reference[&seed],
        &expected,
        "the seed from the UTF-8 export",
    );
    for (name, records) in &served[1..] {
        assert_eq!(
            records.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (id, dc) in records {
            assert_same_dc(dc, &reference[id], &format!("{name} {id}"));
        }
    }
}

#[tokio::test]
async fn the_bulletin_imported_from_its_display_and_from_unimarc_is_one_record_with_named_sets() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let display = pmb_fixture("bulletin-44933-seed.txt");
    let display_file = dir.path().join("seed.txt");
    std::fs::write(&display_file, display).unwrap();
    let out = moisson(&data, &["import", "pmb", display_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import(&data, &[export("unimarc-utf8.xml").to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The bulletin was there: updated (UNIMARC carries more), the six others added.
    assert!(
        stderr(&out).contains("added 6, updated 1,"),
        "{}",
        stderr(&out)
    );
    let app = spawn_app_with(Store::open(&data, 8 << 20).unwrap(), |_| {}).await;
    let sets = app.oai("verb=ListSets").await;
    let names = texts(&sets, "setName");
    for name in [
        "Periodicals",
        "Document types",
        "Languages",
        "Français",
        "Masters Recueil Alexandries",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    let listed = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=periodical")
        .await;
    assert!(
        header_identifiers(&listed).contains(&format!("oai:{REPO}:bulletin/44933")),
        "{listed}"
    );
}

/// The records of the UTF-8 ISO 2709 export, each as its bytes.
fn iso_records() -> Vec<Vec<u8>> {
    let bytes = std::fs::read(export("notices-utf8.iso2709")).unwrap();
    bytes
        .split_inclusive(|&b| b == 0x1D)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Imports `bytes` as `name` (in a dry run): the exit code and stderr.
fn try_import(dir: &Path, name: &str, bytes: &[u8]) -> (Option<i32>, String) {
    let file = dir.join(name);
    std::fs::write(&file, bytes).unwrap();
    let data = dir.join(format!("{name}.store"));
    let out = import(&data, &[file.to_str().unwrap()]);
    (out.status.code(), stderr(&out))
}

#[test]
fn bad_iso_2709_records_are_refused_by_file_record_and_byte_and_the_good_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let records = iso_records();
    assert_eq!(records.len(), 7);

    let mut truncated = records[..6].concat();
    truncated.extend_from_slice(&records[6][..records[6].len() / 2]);
    let (code, err) = try_import(dir.path(), "truncated.iso2709", &truncated);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("truncated.iso2709:record 7 (byte "), "{err}");
    assert!(
        err.contains("added 6,") && err.contains("rejected 1"),
        "{err}"
    );

    let mut leader = records.clone();
    leader[1][10..12].copy_from_slice(b"x9");
    let (code, err) = try_import(dir.path(), "leader.iso2709", &leader.concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("leader.iso2709:record 2 (byte "), "{err}");
    assert!(err.contains("leader"), "{err}");

    // One record written in Latin-1 among UTF-8 ones (é = E9, padded to keep the lengths).
    let mut mixed = records.clone();
    let at = mixed[2]
        .windows(2)
        .position(|w| w == "é".as_bytes())
        .expect("an é in record 3");
    mixed[2][at..at + 2].copy_from_slice(b"\xE9 ");
    let (code, err) = try_import(dir.path(), "mixed.iso2709", &mixed.concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("mixed.iso2709:record 3 (byte "), "{err}");
    assert!(err.contains("mixes encodings"), "{err}");
    assert!(err.contains("added 6,"), "{err}");
}

#[test]
fn a_notice_without_001_is_refused_by_file_record_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let xml = std::fs::read_to_string(export("unimarc-utf8.xml")).unwrap();
    let without = xml.replacen("<f c=\"001\">61250</f>", "", 1);
    assert_ne!(without, xml);
    let (code, err) = try_import(dir.path(), "no001.xml", without.as_bytes());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no001.xml:record 2 (line "), "{err}");
    assert!(err.contains("added 6,"), "{err}");
}

#[test]
fn files_that_are_not_unimarc_are_refused_once_by_name_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let readme = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for (name, bytes, what) in [
        (
            "README.md",
            readme.as_slice(),
            "text that is neither XML nor ISO 2709",
        ),
        (
            "records.jsonl",
            &b"{\"id\":\"oai:x:1\",\"dc\":{\"title\":[\"t\"]}}\n"[..],
            "JSON",
        ),
        (
            "image.png",
            &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
            "a PNG image",
        ),
        (
            "marc.xml",
            &b"<?xml version=\"1.0\"?><collection xmlns=\"http://www.loc.gov/MARC21/slim\"/>"[..],
            "MARCXML",
        ),
    ] {
        let (code, err) = try_import(dir.path(), name, bytes);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert!(
            err.contains(&format!("{name}: not UNIMARC")),
            "{name}: {err}"
        );
        assert!(err.contains(what), "{name}: {err}");
        assert!(err.contains("nothing imported"), "{name}: {err}");
        assert_eq!(err.matches("not UNIMARC").count(), 1, "{name}: once: {err}");
    }
    let (code, err) = try_import(dir.path(), "empty.xml", b"");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("nothing to import"), "{err}");
}

#[tokio::test]
async fn a_directory_with_good_and_bad_files_imports_the_good_ones_and_reports_each_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("exports");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(export("unimarc-utf8.xml"), input.join("a-good.xml")).unwrap();
    std::fs::write(input.join("b-image.png"), b"\x89PNG\r\n\x1a\n\0\0").unwrap();
    let records = iso_records();
    std::fs::write(
        input.join("c-cut.iso2709"),
        &records[0][..records[0].len() - 10],
    )
    .unwrap();
    std::fs::write(input.join("d-empty.xml"), b"").unwrap();
    let data = dir.path().join("store");
    let out = import(&data, &[input.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("b-image.png: not UNIMARC"), "{err}");
    assert!(err.contains("c-cut.iso2709:record 1 (byte 0)"), "{err}");
    assert!(err.contains("d-empty.xml: nothing to import"), "{err}");
    assert!(
        err.contains("added 7,") && err.contains("rejected 2"),
        "{err}"
    );
    assert_eq!(served_dc(&data).await.len(), 7);
}

#[test]
fn dry_run_and_strict_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let good = export("notices-iso5426.iso2709");
    let out = import(&data, &[good.to_str().unwrap(), "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("added 7,"), "{}", stderr(&out));
    assert!(stderr(&out).contains("dry run: nothing written"));
    assert!(!data.exists(), "a dry run creates no store");

    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::copy(&good, input.join("good.iso2709")).unwrap();
    std::fs::write(input.join("bad.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    let out = import(&data, &[input.to_str().unwrap(), "--strict"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("strict: nothing written"),
        "{}",
        stderr(&out)
    );
    assert!(
        !data.exists(),
        "a strict run that writes nothing leaves no new store"
    );
}

#[test]
fn a_bad_opac_url_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("store");
    let out = import(
        &data,
        &[
            export("unimarc-utf8.xml").to_str().unwrap(),
            "--opac-url",
            "catalogue.example.org",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("opac"), "{}", stderr(&out));
    assert!(!data.exists());
}

#[test]
fn pmb_s_placeholder_records_are_counted_as_skipped_and_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let xml = std::fs::read_to_string(export("unimarc-utf8.xml")).unwrap();
    // A PMB dummy `<id>-bull` record: 200$d Article_expl_bulletin.
    let dummy = "<notice>\n  <rs>n</rs>\n  <dt>a</dt>\n  <bl>m</bl>\n  <hl>0</hl>\n  <el>1</el>\n  <ru>i</ru>\n  <f c=\"001\">44933-bull</f>\n  <f c=\"200\" ind=\"1 \">\n    <s c=\"a\">Masters Recueil Alexandries</s>\n    <s c=\"d\">Article_expl_bulletin</s>\n  </f>\n</notice>\n</unimarc>";
    let with_dummy = xml.replacen("</unimarc>", dummy, 1);
    let (code, err) = try_import(dir.path(), "dummy.xml", with_dummy.as_bytes());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("added 7,"), "{err}");
    assert!(err.contains("skipped 1"), "{err}");
}

#[tokio::test]
async fn a_running_server_takes_the_import_over_through_its_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data, 16 << 20).unwrap();
    let app = spawn_app_with(store.clone(), |s| {
        s.admin.token = Some("s3cret".into());
        s.repository.repository_identifier = REPO.into();
    })
    .await;
    let config = dir.path().join("moisson.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:{}\"\n\n[pmb]\nopac_url = \"{OPAC}\"\n",
            app.port
        ),
    )
    .unwrap();
    let file = export("notices-iso5426.iso2709");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--config")
        .arg(&config)
        .arg("--data")
        .arg(&data)
        .args(["import", "unimarc", file.to_str().unwrap()])
        .env("MOISSON_ADMIN_TOKEN", "s3cret")
        .env("MOISSON_REPOSITORY__REPOSITORY_IDENTIFIER", REPO)
        .output()
        .await
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("import unimarc") && err.contains("added 7,"),
        "{err}"
    );
    let seed = store
        .dc(&format!("oai:{REPO}:bulletin/44933"))
        .unwrap()
        .unwrap();
    let expected = read_oai_dc(&pmb_fixture(
        "bulletin-44933-expected-from-unimarc-oai_dc.xml",
    ))
    .unwrap();
    assert_same_dc(&seed, &expected, "through the admin API, [pmb] opac_url");
}
