//! Harvesting a PMB OAI connector in `pmb_xml_unimarc` through the UNIMARC crosswalk: a mock
//! connector (wiremock) serving the PMB fixtures of `tests/fixtures/pmb/oai/` with every quirk
//! their README lists, then the records served again by the real server, schema-valid.

use std::path::Path;
use std::time::Duration;

use moisson::dc::xml::read_oai_dc;
use moisson::dc::DcRecord;
use moisson::harvester::config::{HarvestSettings, SourceSettings};
use moisson::harvester::{Outcome, RunOptions, SourceReport};
use moisson::store::Store;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harvest::{fast_settings, harvest_with};
use crate::helpers::*;

const CONNECTOR: &str = "/ws/connector_out.php";
const TOKEN_1: &str = "370129080e5991f326b59aeac65b9333";
const TOKEN_2: &str = "c1874b226ffea61f2e947928c019e999";
const OPAC: &str = "https://catalogue.example.org/opac_css/";
const SEED: &str = "oai:catalogue:61234";

/// A fixture of `tests/fixtures/pmb/`.
pub fn pmb_fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pmb")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("Failed to read fixture {}: {e}", p.display()))
}

fn oai(name: &str) -> String {
    pmb_fixture(&format!("oai/{name}"))
}

/// PMB's answer: `text/xml` (PHP adds the charset).
fn xml(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into().into_bytes(), "text/xml;charset=UTF-8")
}

fn verb(name: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(CONNECTOR))
        .and(query_param("source_id", "1"))
        .and(query_param("verb", name))
}

/// Identify (`identify` names the fixture), ListMetadataFormats and ListSets.
async fn mount_description(server: &MockServer, identify: &str) {
    verb("Identify")
        .respond_with(xml(oai(identify)))
        .mount(server)
        .await;
    verb("ListMetadataFormats")
        .respond_with(xml(oai("listmetadataformats.xml")))
        .mount(server)
        .await;
    verb("ListSets")
        .respond_with(xml(oai("listsets.xml")))
        .mount(server)
        .await;
}

/// The three pages of the pmb_xml_unimarc list, each as given.
async fn mount_pages(server: &MockServer, pages: [String; 3]) {
    let [first, second, third] = pages;
    verb("ListRecords")
        .and(query_param("metadataPrefix", "pmb_xml_unimarc"))
        .and(query_param_is_missing("resumptionToken"))
        .respond_with(xml(first))
        .mount(server)
        .await;
    verb("ListRecords")
        .and(query_param("resumptionToken", TOKEN_1))
        .respond_with(xml(second))
        .mount(server)
        .await;
    verb("ListRecords")
        .and(query_param("resumptionToken", TOKEN_2))
        .respond_with(xml(third))
        .mount(server)
        .await;
}

fn pages() -> [String; 3] {
    [
        oai("listrecords-pmb_xml_unimarc-page1.xml"),
        oai("listrecords-pmb_xml_unimarc-page2.xml"),
        oai("listrecords-pmb_xml_unimarc-page3-last.xml"),
    ]
}

/// A connector serving the fixtures as they are (deletedRecord persistent).
async fn connector() -> MockServer {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    mount_pages(&server, pages()).await;
    server
}

fn base_url(server: &MockServer) -> String {
    format!("{}{CONNECTOR}?source_id=1", server.uri())
}

/// The `[[source]]` of the README: a PMB connector in pmb_xml_unimarc, crosswalked.
fn pmb_source(server: &MockServer) -> SourceSettings {
    let mut s = SourceSettings::new("catalogue", base_url(server));
    s.metadata_prefix = "pmb_xml_unimarc".into();
    s.crosswalk = Some("pmb-unimarc".into());
    s.opac_url = Some(OPAC.into());
    s.keyword_separator = Some(";".into());
    s
}

async fn harvest_pmb(store: &Store, server: &MockServer) -> SourceReport {
    harvest_pmb_with(store, &fast_settings(), &pmb_source(server)).await
}

async fn harvest_pmb_with(
    store: &Store,
    settings: &HarvestSettings,
    source: &SourceSettings,
) -> SourceReport {
    harvest_with(store, settings, source, RunOptions::default()).await
}

fn assert_ok(report: &SourceReport) {
    assert_eq!(report.outcome, Outcome::Ok, "{report}\n{:?}", report.error);
}

fn expected_seed() -> DcRecord {
    read_oai_dc(&pmb_fixture(
        "bulletin-44933-expected-from-unimarc-oai_dc.xml",
    ))
    .unwrap()
}

/// Same elements, values and languages, value by value (a readable failure).
pub fn assert_same_dc(got: &DcRecord, expected: &DcRecord, what: &str) {
    let g: Vec<_> = got.iter().collect();
    let e: Vec<_> = expected.iter().collect();
    for (i, (a, b)) in g.iter().zip(&e).enumerate() {
        assert_eq!(a, b, "{what}: value {i}");
    }
    assert_eq!(g.len(), e.len(), "{what}: number of values");
}

/// The text between the first `open` and the next `close`, both included.
fn element<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {xml}"));
    let end = xml[start..].find(close).expect("closed") + start + close.len();
    &xml[start..end]
}

#[tokio::test]
async fn the_seed_bulletin_harvested_from_pmb_is_served_as_the_expected_oai_dc_and_as_its_notice() {
    let server = connector().await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    assert_eq!(
        (report.new, report.deleted, report.pages),
        (7, 1, 3),
        "{report}"
    );
    let app = spawn_app_with(store, |_| {}).await;

    let dc = app
        .oai(&format!(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier={}",
            urlencode(SEED)
        ))
        .await;
    assert_same_dc(&read_oai_dc(&dc).unwrap(), &expected_seed(), "oai_dc");
    assert!(dc.contains("altered=\"true\""), "{dc}");
    assert!(
        dc.contains("<metadataNamespace>http://www.pmbservices.fr</metadataNamespace>"),
        "{dc}"
    );

    let unimarc = app
        .oai(&format!(
            "verb=GetRecord&metadataPrefix=pmb_xml_unimarc&identifier={}",
            urlencode(SEED)
        ))
        .await;
    let notice = element(&unimarc, "<notice", "</notice>");
    assert!(
        notice.starts_with("<notice xmlns=\"http://www.pmbservices.fr\">"),
        "{notice}"
    );
    assert!(notice.contains("<f c=\"001\">61234</f>"), "{notice}");
    assert!(notice.contains("<s c=\"9\">id:44933</s>"), "{notice}");
    assert!(notice.contains("&lt; 79/93 &gt;"), "{notice}");
}

#[tokio::test]
async fn both_formats_are_listed_with_the_upstream_schema_and_every_record_is_valid() {
    let server = connector().await;
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    let app = spawn_app_with(store, |_| {}).await;
    let formats = app.oai("verb=ListMetadataFormats").await;
    assert_eq!(
        texts(&formats, "metadataPrefix"),
        ["oai_dc", "pmb_xml_unimarc"]
    );
    assert!(formats.contains("<schema>http://www.pmbservices.fr/notice.xsd</schema>"));
    let per_record = app
        .oai(&format!(
            "verb=ListMetadataFormats&identifier={}",
            urlencode(SEED)
        ))
        .await;
    assert_eq!(
        texts(&per_record, "metadataPrefix"),
        ["oai_dc", "pmb_xml_unimarc"]
    );
    // `oai` validates each page against the schemas, pmb-notice.xsd included.
    for prefix in ["oai_dc", "pmb_xml_unimarc"] {
        let (ids, pages) = harvest_all(
            &app,
            &format!("verb=ListRecords&metadataPrefix={prefix}"),
            "ListRecords",
        )
        .await;
        assert!(ids.contains(&"oai:catalogue:61281".to_owned()));
        // 61270 was deleted before moisson ever saw it: its tombstone is in oai_dc only.
        let deleted = pages.concat().contains("status=\"deleted\"");
        assert_eq!(
            (ids.len(), deleted),
            (7 + usize::from(deleted), prefix == "oai_dc"),
            "{prefix}: {ids:?}"
        );
    }
}

#[tokio::test]
async fn upstream_and_crosswalk_sets_live_under_the_source_with_readable_names() {
    let server = connector().await;
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    let seed = store.get(SEED).unwrap().unwrap();
    assert!(
        seed.sets.contains(&"source:catalogue:set_1".to_owned()),
        "{:?}",
        seed.sets
    );
    assert!(
        seed.sets
            .iter()
            .any(|s| s.starts_with("source:catalogue:periodical:")),
        "{:?}",
        seed.sets
    );
    assert!(
        seed.sets.iter().all(|s| s.starts_with("source:catalogue")),
        "harvested and local sets never mix: {:?}",
        seed.sets
    );
    let app = spawn_app_with(store, |_| {}).await;
    let sets = app.oai("verb=ListSets").await;
    let names = texts(&sets, "setName");
    for name in [
        "Dossiers de recherche et revues",
        "Catalogue de la médiathèque d'exemple",
        "Periodicals",
        "Languages",
        "Document types",
        "Français",
        "Masters Recueil Alexandries",
    ] {
        assert!(names.iter().any(|n| n == name), "{name}: {names:?}");
    }
    let in_set = app
        .oai("verb=ListIdentifiers&metadataPrefix=oai_dc&set=source:catalogue:set_2")
        .await;
    assert_eq!(
        header_identifiers(&in_set),
        [
            "oai:catalogue:61281",
            "oai:catalogue:61301",
            "oai:catalogue:61302",
            "oai:catalogue:61310"
        ]
    );
}

#[tokio::test]
async fn the_namespaced_variant_gives_the_same_records() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    let [_, second, third] = pages();
    let namespaced = oai("listrecords-pmb_xml_unimarc-namespaced.xml");
    let token = element(&namespaced, "<resumptionToken", "</resumptionToken>");
    let token = &token[token.find('>').unwrap() + 1..token.len() - "</resumptionToken>".len()];
    mount_pages(&server, [namespaced.replace(token, TOKEN_1), second, third]).await;
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    let reference = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&reference, &connector().await).await);
    for id in ["61234", "61250", "61262"] {
        let id = format!("oai:catalogue:{id}");
        assert_eq!(
            store.dc(&id).unwrap().unwrap(),
            reference.dc(&id).unwrap().unwrap(),
            "{id}"
        );
        let notice = |s: &Store| {
            let r =
                String::from_utf8(s.rendered(&id, "pmb_xml_unimarc").unwrap().unwrap()).unwrap();
            element(&r, "<notice", "</notice>").to_owned()
        };
        assert_eq!(notice(&store), notice(&reference), "{id}");
    }
}

#[tokio::test]
async fn a_non_character_let_through_by_pmb_never_breaks_the_served_records() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    let [first, second, third] = pages();
    let first = first.replacen(
        "<s c=\"a\">Masters Recueil Alexandries</s>",
        "<s c=\"a\">Masters\u{FFFE} Recueil\u{FFFF} Alexandries</s>",
        1,
    );
    assert!(first.contains('\u{FFFE}'));
    mount_pages(&server, [first, second, third]).await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    assert_eq!(report.stripped_characters, 2, "{report}");
    let app = spawn_app_with(store, |_| {}).await;
    for prefix in ["oai_dc", "pmb_xml_unimarc"] {
        let body = app
            .oai(&format!(
                "verb=GetRecord&metadataPrefix={prefix}&identifier={}",
                urlencode(SEED)
            ))
            .await;
        assert!(!body.contains('\u{FFFE}') && !body.contains('\u{FFFF}'));
        assert!(body.contains("Masters Recueil Alexandries"), "{body}");
    }
}

#[tokio::test]
async fn a_first_503_with_an_empty_envelope_is_retried_after_its_retry_after() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    // PMB answers 503 + Retry-After: 10 while a set is being refreshed, with an OAI envelope
    // that holds neither a verb element nor an error.
    verb("ListRecords")
        .and(query_param_is_missing("resumptionToken"))
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "10")
                .set_body_raw(oai("listrecords-503-body.xml").into_bytes(), "text/xml"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_pages(&server, pages()).await;
    let settings = HarvestSettings {
        retry_after_cap_ms: 50,
        ..fast_settings()
    };
    let store = Store::temporary().unwrap();
    let started = std::time::Instant::now();
    let report = harvest_pmb_with(&store, &settings, &pmb_source(&server)).await;
    assert_ok(&report);
    assert_eq!((report.retries, report.new), (1, 7), "{report}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn pmb_s_unconfigured_error_fails_the_source_with_a_clear_message() {
    let server = MockServer::start().await;
    verb("Identify")
        .respond_with(xml(oai("error-unconfigured-source.xml")))
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Failed);
    let error = report.error.unwrap();
    assert!(error.contains("unconfigured"), "{error}");
    assert!(error.contains("not configured"), "{error}");
    assert!(error.contains("repository identifier"), "{error}");
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "no retry"
    );
}

#[tokio::test]
async fn an_unknown_set_answered_with_two_errors_fails_naming_the_set() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    verb("ListRecords")
        .and(query_param("set", "set_99"))
        .respond_with(xml(oai("error-unknown-set.xml")))
        .mount(&server)
        .await;
    let mut source = pmb_source(&server);
    source.sets = vec!["set_99".into()];
    let report = harvest_pmb_with(&Store::temporary().unwrap(), &fast_settings(), &source).await;
    assert_eq!(report.outcome, Outcome::Failed);
    let error = report.error.unwrap();
    assert!(error.contains("no set \"set_99\""), "{error}");
}

#[tokio::test]
async fn an_expired_token_answered_with_two_errors_restarts_the_list() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    // Tokens live 600 s: the first use of TOKEN_1 finds it expired (PMB's badArgument +
    // badResumptionToken pair), the restarted list gets a fresh one.
    verb("ListRecords")
        .and(query_param("resumptionToken", TOKEN_1))
        .respond_with(xml(oai("error-token-with-other-argument.xml")))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_pages(&server, pages()).await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    assert_eq!(report.restarts, 1, "{report}");
    assert_eq!(report.new, 7, "{report}");
    // Page 1 came twice (before and after the restart): its records are counted once.
    assert_eq!(report.repeated, 3, "{report}");
}

/// The ListRecords requests the connector received, as query strings.
async fn list_requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.url
                .query()
                .is_some_and(|q| q.contains("verb=ListRecords"))
        })
        .map(|r| r.url.query().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_next_incremental_from_steps_back_a_day_and_a_minute() {
    let server = connector().await;
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    server.reset().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    mount_pages(&server, pages()).await;
    let again = harvest_pmb(&store, &server).await;
    assert_ok(&again);
    let first = list_requests(&server).await.remove(0);
    // page 1's responseDate is 2024-03-18T10:42:07Z (PMB local time marked Z); PMB reads
    // `from` as local time, drops its seconds and compares exclusively: 1 day + 1 min back.
    assert!(first.contains("from=2024-03-17T10%3A41%3A07Z"), "{first}");
    assert_eq!(again.unchanged, 8, "seven records and a tombstone: {again}");
    assert_eq!(again.new, 0, "{again}");
}

/// A page with the record `id` taken out (as when a basket loses it between two requests),
/// and the cursor PMB would then send.
fn without(page: &str, id: &str) -> String {
    let needle = format!("<identifier>oai:catalogue:{id}</identifier>");
    let at = page.find(&needle).expect("the record is on the page");
    let start = page[..at].rfind("<record>").unwrap();
    let end = page[at..].find("</record>").unwrap() + at + "</record>".len();
    format!("{}{}", &page[..start], &page[end..])
}

#[tokio::test]
async fn a_list_that_shifts_under_the_harvest_is_listed_again_and_nothing_is_missed() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    // Between page 1 and page 2, 61234 (on page 1) left the basket: PMB recomputes the list
    // by offset, so page 2 starts one record later and 61281, first of the old page 2, is
    // never sent in that pass; the remaining count says 1 instead of 2.
    let [first, second, third] = pages();
    let shifted_second = without(&second, "61281")
        .replace("cursor=\"2\"", "cursor=\"1\"")
        .replacen(
            "</record><resumptionToken",
            &format!(
                "</record>{}<resumptionToken",
                element(&third, "<record>", "</record>")
            ),
            1,
        );
    let shifted_third = without(&third, "61302");
    verb("ListRecords")
        .and(query_param("resumptionToken", TOKEN_1))
        .respond_with(xml(shifted_second))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    verb("ListRecords")
        .and(query_param("resumptionToken", TOKEN_2))
        .respond_with(xml(shifted_third))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    mount_pages(&server, [first, second, third]).await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    assert_eq!(report.relisted, 1, "{report}");
    assert!(
        store.get("oai:catalogue:61281").unwrap().is_some(),
        "the record the shift hid was harvested by the second pass"
    );
    // Every record counted once, though the second pass listed them all again.
    assert_eq!((report.new, report.unchanged), (7, 0), "{report}");
    assert!(report.repeated >= 6, "{report}");
}

#[tokio::test]
async fn a_record_reported_deleted_from_one_basket_and_live_in_another_stays_live() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    mount_pages(&server, pages()).await;
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    let before = store.get("oai:catalogue:61281").unwrap().unwrap();
    assert!(before.sets.contains(&"source:catalogue:set_1".to_owned()));
    assert!(before.sets.contains(&"source:catalogue:set_2".to_owned()));

    // Next run: 61281 left basket 1 but is still in basket 2, and did not change, so PMB
    // lists only its deleted header (with set_1) — in PMB's order, setSpec before datestamp.
    server.reset().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    let [_, second, _] = pages();
    let deleted = element(
        &second,
        "<record>\n                <header status=\"deleted\">",
        "</record>",
    )
    .replace("61270", "61281");
    let page = oai("listrecords-pmb_xml_unimarc-page3-last.xml");
    let start = page.find("<record>").unwrap();
    let end = page.rfind("</record>").unwrap() + "</record>".len();
    let only_deleted = format!("{}{deleted}{}", &page[..start], &page[end..]);
    verb("ListRecords")
        .respond_with(xml(only_deleted))
        .mount(&server)
        .await;
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    let after = store.get("oai:catalogue:61281").unwrap().unwrap();
    assert!(!after.deleted, "still in basket 2: {report}");
    assert!(
        !after.sets.contains(&"source:catalogue:set_1".to_owned()),
        "{:?}",
        after.sets
    );
    assert!(after.sets.contains(&"source:catalogue:set_2".to_owned()));
    assert!(store.dc("oai:catalogue:61281").unwrap().is_some());
    // A record in that one basket only becomes a tombstone.
    let page1 = element(
        &second,
        "<record>\n                <header status=\"deleted\">",
        "</record>",
    )
    .replace("61270", "61262");
    server.reset().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    let only = format!("{}{page1}{}", &page[..start], &page[end..]);
    verb("ListRecords")
        .respond_with(xml(only))
        .mount(&server)
        .await;
    assert_ok(&harvest_pmb(&store, &server).await);
    assert!(store.get("oai:catalogue:61262").unwrap().unwrap().deleted);
}

#[tokio::test]
async fn a_deleted_header_on_the_same_page_as_the_live_record_does_not_delete_it() {
    let server = MockServer::start().await;
    mount_description(&server, "identify-deletion-persistent.xml").await;
    let [first, second, third] = pages();
    // Page 2 lists 61281 live (set_1, set_2) and, as PMB does for a notice taken out of a
    // basket, deleted (the deleted headers come last on a page).
    let second = second.replace(
        "<identifier>oai:catalogue:61270</identifier>",
        "<identifier>oai:catalogue:61281</identifier>",
    );
    mount_pages(&server, [first, second, third]).await;
    let store = Store::temporary().unwrap();
    let report = harvest_pmb(&store, &server).await;
    assert_ok(&report);
    assert!(!store.get("oai:catalogue:61281").unwrap().unwrap().deleted);
    assert_eq!((report.new, report.deleted), (7, 0), "{report}");
}

#[tokio::test]
async fn a_source_declaring_deleted_record_no_is_swept_with_pmb_s_identifiers() {
    let server = MockServer::start().await;
    mount_description(&server, "identify.xml").await;
    mount_pages(&server, pages()).await;
    // The sweep lists identifiers: the same headers, without metadata, 61301 gone.
    let headers = |page: &str| {
        let mut out = page.replace("ListRecords", "ListIdentifiers");
        while let Some(start) = out.find("<metadata>") {
            let end = out[start..].find("</metadata>").unwrap() + start + "</metadata>".len();
            out.replace_range(start..end, "");
        }
        out.replace("<record>", "").replace("</record>", "")
    };
    let [first, second, third] = pages();
    let second = without(&second, "61301");
    for (query, page) in [
        (None, first),
        (Some(TOKEN_1), second),
        (Some(TOKEN_2), third),
    ] {
        let mut mock = verb("ListIdentifiers");
        mock = match query {
            None => mock.and(query_param_is_missing("resumptionToken")),
            Some(t) => mock.and(query_param("resumptionToken", t)),
        };
        mock.respond_with(xml(headers(&page))).mount(&server).await;
    }
    let store = Store::temporary().unwrap();
    assert_ok(&harvest_pmb(&store, &server).await);
    assert!(!store.get("oai:catalogue:61301").unwrap().unwrap().deleted);
    let options = RunOptions {
        reconcile: true,
        force: true,
        ..RunOptions::default()
    };
    let report = harvest_with(&store, &fast_settings(), &pmb_source(&server), options).await;
    assert_ok(&report);
    let sweep = report.sweep.expect("the sweep ran");
    assert_eq!(sweep.removed, 1, "{report}");
    assert!(store.get("oai:catalogue:61301").unwrap().unwrap().deleted);
    assert!(!store.get(SEED).unwrap().unwrap().deleted);
}

#[test]
fn a_pmb_source_with_a_bad_opac_url_or_an_unknown_crosswalk_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, message) in [
        ("opac_url = \"catalogue.example.org\"", "opac_url"),
        ("crosswalk = \"marc21\"", "unknown crosswalk \\\"marc21\\\""),
        ("keyword_separator = \"\"", "keyword_separator"),
    ] {
        let config = dir.path().join("moisson.toml");
        std::fs::write(
            &config,
            format!(
                "[[source]]\nname = \"catalogue\"\nbase_url = \"https://catalogue.example.org/ws/connector_out.php?source_id=1\"\nmetadata_prefix = \"pmb_xml_unimarc\"\n{extra}\n"
            ),
        )
        .unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_moisson"))
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(dir.path().join("data"))
            .args(["harvest", "--all"])
            .env_remove("MOISSON_ADMIN_TOKEN")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{extra}: {err}");
        assert!(
            err.contains(message.replace("\\\"", "\"").as_str()),
            "{extra}: {err}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "{extra}: no store created"
        );
    }
}

#[tokio::test]
async fn the_binary_harvests_an_ad_hoc_pmb_connector_and_serves_the_seed() {
    let server = connector().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = base_url(&server);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_moisson"))
        .arg("--data")
        .arg(&data)
        .args([
            "harvest",
            "catalogue",
            "--url",
            &url,
            "--prefix",
            "pmb_xml_unimarc",
            "--crosswalk",
            "pmb-unimarc",
            "--opac-url",
            OPAC,
        ])
        .env_remove("MOISSON_ADMIN_TOKEN")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("harvest catalogue: new 7"), "{err}");
    let store = Store::open(&data, 16 << 20).unwrap();
    let app = spawn_app_with(store, |_| {}).await;
    let dc = app
        .oai(&format!(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier={}",
            urlencode(SEED)
        ))
        .await;
    assert_same_dc(&read_oai_dc(&dc).unwrap(), &expected_seed(), "oai_dc");
    let notice = app
        .oai(&format!(
            "verb=GetRecord&metadataPrefix=pmb_xml_unimarc&identifier={}",
            urlencode(SEED)
        ))
        .await;
    assert!(notice.contains("<notice xmlns=\"http://www.pmbservices.fr\">"));
}
