//! The harvester against mock providers (wiremock) serving real captured responses
//! (`tests/fixtures/oai/`, see its README) and every fault it must survive; the binary's exit
//! codes; and the hand-over of harvests and imports to a running server's admin API.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use moisson::dc::xml::{read_oai_dc, DC_NAMESPACE, OAI_DC_NAMESPACE};
use moisson::dc::{DcElement, DcRecord};
use moisson::harvester::config::{HarvestSettings, SourceSettings};
use moisson::harvester::lock::SourceLock;
use moisson::harvester::{self, NoProgress, Outcome, RunOptions, SourceReport, Window};
use moisson::protocol::DateArgument;
use moisson::store::harvest_state::ListKey;
use moisson::store::Store;
use wiremock::matchers::{header, header_regex, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Helpers shared with roundtrip.rs

/// A fixture of `tests/fixtures/oai/`.
pub fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/oai")
        .join(name);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("Failed to read fixture {}: {e}", p.display()))
}

/// Settings that keep retries fast.
pub fn fast_settings() -> HarvestSettings {
    HarvestSettings {
        retries: 3,
        backoff_base_ms: 10,
        backoff_cap_ms: 40,
        retry_after_floor_ms: 0,
        retry_after_cap_ms: 5_000,
        connect_timeout_secs: 2,
        read_timeout_secs: 5,
        request_timeout_secs: 10,
        ..HarvestSettings::default()
    }
}

/// Harvests one source with the library, as `moisson harvest` does.
pub async fn harvest_with(
    store: &Store,
    settings: &HarvestSettings,
    source: &SourceSettings,
    options: RunOptions,
) -> SourceReport {
    harvester::harvest_source(store, settings, source, &options, &NoProgress).await
}

fn upstream(server: &MockServer) -> SourceSettings {
    SourceSettings::new("up", format!("{}/oai", server.uri()))
}

async fn harvest(store: &Store, server: &MockServer) -> SourceReport {
    harvest_with(
        store,
        &fast_settings(),
        &upstream(server),
        RunOptions::default(),
    )
    .await
}

fn xml(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into().into_bytes(), "text/xml; charset=UTF-8")
}

/// Identify: the NSDL capture (second granularity, deletedRecord no), or day granularity.
async fn mount_identify(server: &MockServer, day_granularity: bool) {
    let mut body = fixture("nsdl/identify.xml");
    if day_granularity {
        body = body.replace(
            "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>",
            "<granularity>YYYY-MM-DD</granularity>",
        );
    }
    Mock::given(method("GET"))
        .and(path("/oai"))
        .and(query_param("verb", "Identify"))
        .respond_with(xml(body))
        .named("Identify")
        .mount(server)
        .await;
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).map_or(0, |i| i + open.len());
    let end = s[start..].find(close).map_or(s.len(), |i| i + start);
    &s[start..end]
}

/// A ListIdentifiers capture turned into the ListRecords page the same provider would send:
/// each header gets a small `oai_dc` payload (deleted ones stay bare). Namespaces the capture
/// declares on its root (Tethys does) are not declared again.
pub fn identifiers_to_records(capture: &str) -> String {
    let declared = capture.contains("xmlns:oai_dc=");
    let capture = capture.replace("ListIdentifiers", "ListRecords");
    let mut out = String::new();
    let mut rest = capture.as_str();
    while let Some(start) = rest.find("<header") {
        out.push_str(&rest[..start]);
        let end =
            rest[start..].find("</header>").expect("a closed header") + start + "</header>".len();
        let header = &rest[start..end];
        out.push_str("<record>");
        out.push_str(header);
        if !header.contains("status=\"deleted\"") {
            let id = between(header, "<identifier>", "</identifier>");
            let ns = if declared {
                String::new()
            } else {
                format!(" xmlns:oai_dc=\"{OAI_DC_NAMESPACE}\" xmlns:dc=\"{DC_NAMESPACE}\"")
            };
            let _ = write!(
                out,
                "<metadata><oai_dc:dc{ns}><dc:title>Title of {id}</dc:title><dc:creator>Crawford, Jo</dc:creator></oai_dc:dc></metadata>"
            );
        }
        out.push_str("</record>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A GetRecord capture turned into a one-record ListRecords page.
pub fn get_record_to_list(capture: &str) -> String {
    capture
        .replace("<GetRecord>", "<ListRecords>")
        .replace("</GetRecord>", "</ListRecords>")
        .replace("verb=\"GetRecord\"", "verb=\"ListRecords\"")
}

/// A synthetic ListRecords page: one `oai_dc` record per (identifier, title).
fn page(records: &[(&str, &str)], token: Option<&str>) -> String {
    let mut body = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
         <responseDate>2024-05-01T10:00:00Z</responseDate><request verb=\"ListRecords\">http://up/oai</request><ListRecords>",
    );
    for (i, (id, title)) in records.iter().enumerate() {
        let _ = write!(
            body,
            "<record><header><identifier>{id}</identifier><datestamp>2023-01-01T00:00:{i:02}Z</datestamp></header>\
             <metadata><oai_dc:dc xmlns:oai_dc=\"{OAI_DC_NAMESPACE}\" xmlns:dc=\"{DC_NAMESPACE}\"><dc:title>{title}</dc:title></oai_dc:dc></metadata></record>"
        );
    }
    if let Some(t) = token {
        let _ = write!(
            body,
            "<resumptionToken completeListSize=\"9\">{t}</resumptionToken>"
        );
    }
    body.push_str("</ListRecords></OAI-PMH>\n");
    body
}

fn first_list_request() -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/oai"))
        .and(query_param("verb", "ListRecords"))
        .and(query_param("metadataPrefix", "oai_dc"))
        .and(query_param_is_missing("resumptionToken"))
}

fn token_request(token: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path("/oai"))
        .and(query_param("verb", "ListRecords"))
        .and(query_param("resumptionToken", token))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is needed by this test.");
    let mut stdin = child.stdin.take().unwrap();
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
}

fn title(store: &Store, id: &str) -> String {
    store.dc(id).unwrap().unwrap().get(DcElement::Title)[0]
        .value
        .clone()
}

fn sets(store: &Store, id: &str) -> Vec<String> {
    store.get(id).unwrap().unwrap().sets
}

// ---------------------------------------------------------------------------------------------
// Real captures

#[tokio::test]
async fn a_dspace_record_keeps_its_identifier_and_sets_and_is_served_with_a_provenance() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let capture = fixture("dspace/conicet-dspace7-getrecord-oai_dc.xml");
    first_list_request()
        .respond_with(xml(get_record_to_list(&capture)))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    // Identify, the list, then ListSets (the record has upstream sets; this mock has none).
    assert_eq!((report.new, report.pages, report.requests), (1, 1, 3));

    let id = "oai:ri.conicet.gov.ar:11336/149241";
    assert_eq!(
        sets(&store, id),
        [
            "source:up",
            "source:up:com_11336_345",
            "source:up:com_11336_332",
            "source:up:col_11336_90201",
            "source:up:snrd"
        ]
    );
    let upstream_dc = read_oai_dc(&capture).unwrap();
    assert_eq!(store.dc(id).unwrap().unwrap(), upstream_dc);

    // Re-exposed by our own server: valid against the schemas, provenance included.
    let app = spawn_app_with(store, |_| {}).await;
    let body = app
        .oai(&format!(
            "verb=GetRecord&metadataPrefix=oai_dc&identifier={}",
            urlencode(id)
        ))
        .await;
    assert_eq!(texts(&body, "baseURL"), [format!("{}/oai", server.uri())]);
    // The header's datestamp is local; the provenance keeps the upstream one.
    assert_eq!(texts(&body, "datestamp")[1], "2021-12-23T16:03:17Z");
    assert_eq!(texts(&body, "metadataNamespace"), [OAI_DC_NAMESPACE]);
    assert_eq!(
        attrs(&body, "originDescription", "altered"),
        [Some("false".to_owned())]
    );
    let sets = app.oai("verb=ListSets").await;
    assert!(texts(&sets, "setSpec").contains(&"source:up:snrd".to_owned()));
}

#[tokio::test]
async fn an_hdl_identifier_and_an_arxiv_day_datestamp_are_kept_as_the_provider_wrote_them() {
    let server = MockServer::start().await;
    mount_identify(&server, true).await;
    let eur = get_record_to_list(&fixture("dspace/eur-2003-getrecord.xml"));
    let arxiv = get_record_to_list(&fixture("arxiv/getrecord-oai_dc.xml"));
    // One page with both records: the arXiv <record> spliced into the EUR page.
    let arxiv_record = format!(
        "<record>{}</record>",
        between(&arxiv, "<record>", "</record>")
    );
    let both = eur.replacen(
        "</ListRecords>",
        &format!("{arxiv_record}</ListRecords>"),
        1,
    );
    first_list_request()
        .respond_with(xml(both))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!((report.outcome, report.new), (Outcome::Ok, 2), "{report}");
    assert!(store.get("hdl:1765/315").unwrap().is_some());
    assert_eq!(sets(&store, "hdl:1765/315"), ["source:up", "source:up:2:7"]);
    let rendered = String::from_utf8(
        store
            .rendered("oai:arXiv.org:1507.03011", "oai_dc")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert!(
        rendered.contains("<datestamp>2015-07-14</datestamp>"),
        "{rendered}"
    );
    assert!(
        title(&store, "oai:arXiv.org:1507.03011").starts_with("The Distribution of Star Formation")
    );
}

#[tokio::test]
async fn tethys_three_page_chain_is_followed_to_the_page_without_a_token() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page1.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("177435831000000")
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page2.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("177435832000000")
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page3-no-token.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!(
        (report.new, report.pages, report.requests, report.retries),
        (9, 3, 5, 0),
        "Identify, three pages, ListSets"
    );
    for i in 1..=9 {
        assert_eq!(
            title(&store, &format!("oai:tethys.at:{i}")),
            format!("Title of oai:tethys.at:{i}")
        );
    }
    assert!(sets(&store, "oai:tethys.at:5").contains(&"source:up:data-type:monitoring".to_owned()));
    let state = store
        .list_state(&ListKey {
            source: "up".into(),
            prefix: "oai_dc".into(),
            set: None,
        })
        .unwrap()
        .unwrap();
    assert_eq!(state.in_flight, None);
    // responseDate of the first page, 2026-03-24T14:18:29Z, minus the 60 s overlap.
    assert_eq!(state.next_from.as_deref(), Some("2026-03-24T14:17:29Z"));
}

#[tokio::test]
async fn a_zenodo_deleted_header_becomes_a_tombstone() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let store = Store::temporary().unwrap();
    // The record existed before: it was harvested earlier.
    seed(
        &store,
        &[r#"{"id":"oai:zenodo.org:8435696","origin":"source:up","dc":{"title":["Old"]}}"#],
    );
    first_list_request()
        .respond_with(xml(identifiers_to_records(&fixture(
            "zenodo/listidentifiers-with-deleted.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    // The capture's token is followed by the end of the list (an empty resumptionToken).
    let token = between(
        &fixture("zenodo/listidentifiers-with-deleted.xml"),
        "completeListSize=\"8084640\">",
        "</resumptionToken>",
    )
    .to_owned();
    token_request(&token)
        .respond_with(xml(page(&[], None).replace(
            "</ListRecords>",
            "<resumptionToken completeListSize=\"3\" cursor=\"3\"/></ListRecords>",
        )))
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!((report.new, report.deleted), (2, 1));
    let tombstone = store.get("oai:zenodo.org:8435696").unwrap().unwrap();
    assert!(tombstone.deleted);
    assert_eq!(
        tombstone.sets,
        [
            "source:up",
            "source:up:user-pyhep2023",
            "source:up:openaire"
        ]
    );
    let app = spawn_app_with(store, |_| {}).await;
    let body = app
        .oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:zenodo.org:8435696")
        .await;
    assert_eq!(
        attrs(&body, "header", "status"),
        [Some("deleted".to_owned())]
    );
}

#[tokio::test]
async fn no_records_match_sent_with_http_422_is_a_successful_empty_harvest() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(ResponseTemplate::new(422).set_body_raw(
            fixture("zenodo/listidentifiers-noRecordsMatch-http422.xml").into_bytes(),
            "text/xml",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!((report.new, report.requests, report.retries), (0, 2, 0));
    assert!(store.is_empty());
}

#[tokio::test]
async fn an_expired_token_restarts_the_list_from_the_last_committed_datestamp_with_overlap() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .and(query_param_is_missing("from"))
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page1.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    // Zenodo's badResumptionToken capture, with its HTTP 422.
    token_request("177435831000000")
        .respond_with(ResponseTemplate::new(422).set_body_raw(
            fixture("zenodo/listidentifiers-badResumptionToken-http422.xml").into_bytes(),
            "text/xml",
        ))
        .expect(1)
        .mount(&server)
        .await;
    // Page 1 came in datestamp order, last 2022-09-08T12:00:00Z: restart one minute before.
    first_list_request()
        .and(query_param("from", "2022-09-08T11:59:00Z"))
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page3-no-token.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!((report.new, report.restarts, report.pages), (6, 1, 2));
}

#[tokio::test]
async fn a_list_restarted_once_restarts_again_from_its_last_datestamp_not_from_its_start() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let expired = || {
        ResponseTemplate::new(422).set_body_raw(
            fixture("zenodo/listidentifiers-badResumptionToken-http422.xml").into_bytes(),
            "text/xml",
        )
    };
    // Datestamps 2023-01-01T00:00:00Z and :01Z, in order.
    first_list_request()
        .and(query_param_is_missing("from"))
        .respond_with(xml(page(&[("oai:x:1", "a"), ("oai:x:2", "b")], Some("T1"))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("T1")
        .respond_with(expired())
        .expect(1)
        .mount(&server)
        .await;
    // The restart from one minute before the last datestamp sends the overlap again.
    let restarted = [
        ("oai:x:1", "a"),
        ("oai:x:2", "b"),
        ("oai:x:3", "c"),
        ("oai:x:4", "d"),
        ("oai:x:5", "e"),
    ];
    first_list_request()
        .and(query_param("from", "2022-12-31T23:59:01Z"))
        .respond_with(xml(page(&restarted, Some("T2"))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("T2")
        .respond_with(expired())
        .expect(1)
        .mount(&server)
        .await;
    // A second expiry must not restart from the very start (no `from`), but from the last
    // datestamp (00:00:04) minus the overlap.
    first_list_request()
        .and(query_param("from", "2022-12-31T23:59:04Z"))
        .respond_with(xml(page(&[("oai:x:6", "f")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.restarts, report.new),
        (Outcome::Ok, 2, 6),
        "{report}"
    );
}

#[tokio::test]
async fn a_list_that_keeps_refusing_its_tokens_fails_after_a_few_restarts() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], Some("T"))))
        .expect(4)
        .mount(&server)
        .await;
    token_request("T")
        .respond_with(xml(fixture(
            "zenodo/listidentifiers-badResumptionToken-http422.xml",
        )))
        .expect(4)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report}");
    assert!(report.error.unwrap().contains("badResumptionToken"));
}

// ---------------------------------------------------------------------------------------------
// Retries

#[tokio::test]
async fn arxiv_503_with_retry_after_is_honoured_then_retried() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(
            ResponseTemplate::new(503)
                .insert_header("Retry-After", "1")
                .set_body_raw(
                    fixture("arxiv/listrecords-http503-retry-after.html").into_bytes(),
                    "text/html",
                ),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .respond_with(xml(page(&[("oai:arXiv.org:1", "a")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let started = Instant::now();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert_eq!((report.retries, report.requests, report.new), (1, 3, 1));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    first_list_request()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", at.as_str()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Ok, 1),
        "{report}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_is_cut_to_the_cap() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "86400"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None)))
        .mount(&server)
        .await;
    let settings = HarvestSettings {
        retry_after_cap_ms: 200,
        ..fast_settings()
    };
    let started = Instant::now();
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &settings,
        &upstream(&server),
        RunOptions::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn transient_statuses_are_retried_and_other_client_errors_are_not() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    for status in [500, 408, 429, 502] {
        first_list_request()
            .respond_with(ResponseTemplate::new(status))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let settings = HarvestSettings {
        retries: 4,
        ..fast_settings()
    };
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &settings,
        &upstream(&server),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        (report.outcome, report.retries, report.requests),
        (Outcome::Ok, 4, 6),
        "{report}"
    );

    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Failed, 0),
        "{report}"
    );
    assert!(report.error.unwrap().contains("404"));
}

#[tokio::test]
async fn the_retries_are_bounded() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(ResponseTemplate::new(503))
        .expect(4)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Failed, 3),
        "{report}"
    );
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None)).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None)))
        .expect(1)
        .mount(&server)
        .await;
    let settings = HarvestSettings {
        request_timeout_secs: 1,
        read_timeout_secs: 1,
        ..fast_settings()
    };
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &settings,
        &upstream(&server),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        (report.outcome, report.retries, report.new),
        (Outcome::Ok, 1, 1),
        "{report}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_reported() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let source = SourceSettings::new("up", format!("http://127.0.0.1:{port}/oai"));
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &fast_settings(),
        &source,
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        (report.outcome, report.requests, report.retries),
        (Outcome::Failed, 4, 3),
        "{report}"
    );
}

// ---------------------------------------------------------------------------------------------
// Untrusted XML

#[tokio::test]
async fn a_complete_but_truncated_page_fails_at_once_and_is_never_half_committed() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let p1 = page(&[("oai:x:1", "a"), ("oai:x:2", "b")], Some("T1"));
    let p2 = page(
        &[("oai:x:3", "c"), ("oai:x:4", "d"), ("oai:x:5", "e")],
        None,
    );
    first_list_request()
        .respond_with(xml(p1.clone()))
        .expect(1)
        .mount(&server)
        .await;
    // Cut in the middle of the second record of page 2, and served whole (with its
    // Content-Length): the provider will send the same page again, so it is not retried.
    let cut = p2.find("oai:x:4").unwrap() + 20;
    token_request("T1")
        .respond_with(xml(p2[..cut].to_owned()))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.new, report.retries),
        (Outcome::Failed, 2, 0),
        "{report}"
    );
    let error = report.error.as_deref().unwrap();
    assert!(error.contains("truncated"), "{error}");
    assert!(
        error.contains("resumptionToken=T1"),
        "names the URL: {error}"
    );
    // Nothing of page 2, and the checkpoint still points at it.
    assert!(store.get("oai:x:3").unwrap().is_none());
    let key = ListKey {
        source: "up".into(),
        prefix: "oai_dc".into(),
        set: None,
    };
    assert_eq!(
        store
            .list_state(&key)
            .unwrap()
            .unwrap()
            .in_flight
            .unwrap()
            .token,
        "T1"
    );

    // The provider recovers: the next run resumes at page 2.
    server.reset().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(p1))
        .expect(0)
        .mount(&server)
        .await;
    token_request("T1")
        .respond_with(xml(p2))
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert!(report.resumed);
    assert_eq!(report.new, 3);
    assert_eq!(store.stats().unwrap().records, 5);
}

/// A provider on a raw socket: the first `cut_times` answers to ListRecords stop early (after
/// headers promising the whole body, or with no length at all, then the connection closes),
/// later ones are whole. Answers Identify from the NSDL capture.
async fn flaky_provider(
    page: String,
    cut_times: usize,
    with_length: bool,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oai", listener.local_addr().unwrap());
    let lists = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = lists.clone();
    let identify = fixture("nsdl/identify.xml");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0u8; 4096];
            let n = socket.read(&mut request).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            let body = if request.contains("verb=Identify") {
                identify.clone()
            } else {
                page.clone()
            };
            let cut = !request.contains("verb=Identify")
                && counter.fetch_add(1, Ordering::SeqCst) < cut_times;
            let sent = if cut {
                &body[..body.len() / 2]
            } else {
                body.as_str()
            };
            let head = if with_length || !cut {
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n".to_owned()
            };
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(sent.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, lists)
}

#[tokio::test]
async fn a_page_cut_short_in_transit_is_retried() {
    let body = page(&[("oai:x:1", "a"), ("oai:x:2", "b")], None);
    for with_length in [true, false] {
        let (url, lists) = flaky_provider(body.clone(), 2, with_length).await;
        let store = Store::temporary().unwrap();
        let report = harvest_with(
            &store,
            &fast_settings(),
            &SourceSettings::new("up", url),
            RunOptions::default(),
        )
        .await;
        assert_eq!(
            (report.outcome, report.new, report.retries),
            (Outcome::Ok, 2, 2),
            "with Content-Length {with_length}: {report}"
        );
        assert_eq!(lists.load(std::sync::atomic::Ordering::SeqCst), 3);
    }
}

#[tokio::test]
async fn an_html_page_served_with_200_fails_at_once_naming_the_url() {
    let html = ResponseTemplate::new(200).set_body_raw(
        "<!DOCTYPE html><html><body><h1>Database error</h1></body></html>"
            .as_bytes()
            .to_vec(),
        "text/html",
    );
    // To ListRecords…
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(html.clone())
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Failed, 0),
        "{report}"
    );
    let error = report.error.unwrap();
    assert!(
        error.contains("verb=ListRecords") && error.contains("<html>"),
        "{error}"
    );
    // …and to Identify, which used to be retried for 21 s.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("verb", "Identify"))
        .respond_with(html)
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &HarvestSettings {
            backoff_base_ms: 5_000,
            ..fast_settings()
        },
        &upstream(&server),
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Failed, 0),
        "{report}"
    );
    assert!(report.error.unwrap().contains("verb=Identify"));
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn junk_after_the_root_element_fails_at_once() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(
            page(&[("oai:x:1", "a")], None) + "<p>Powered by PHP</p>"
        ))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.retries, report.new),
        (Outcome::Failed, 0, 0),
        "{report}"
    );
    assert!(report.error.unwrap().contains("after </OAI-PMH>"));
    assert!(store.get("oai:x:1").unwrap().is_none());
}

#[tokio::test]
async fn a_body_over_the_size_cap_is_refused_at_once_gzip_bombs_included() {
    let big_title = "x".repeat(3 * 1024 * 1024);
    let big = page(&[("oai:x:1", big_title.as_str())], None);
    let settings = HarvestSettings {
        max_body_mib: 1,
        retries: 3,
        ..fast_settings()
    };
    for compressed in [false, true] {
        let server = MockServer::start().await;
        mount_identify(&server, false).await;
        let response = if compressed {
            let bomb = gzip(big.as_bytes());
            assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_raw(bomb, "text/xml")
        } else {
            xml(big.clone())
        };
        first_list_request()
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let store = Store::temporary().unwrap();
        let report =
            harvest_with(&store, &settings, &upstream(&server), RunOptions::default()).await;
        assert_eq!(
            (report.outcome, report.retries),
            (Outcome::Failed, 0),
            "{report}"
        );
        assert!(report.error.unwrap().contains("larger than"));
        assert!(store.is_empty());
    }
}

#[tokio::test]
async fn gzip_and_deflate_responses_are_decoded() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = identifiers_to_records(&fixture("tethys/listidentifiers-page3-no-token.xml"));
    first_list_request()
        .and(header_regex("accept-encoding", "gzip"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("Content-Encoding", "gzip")
                .set_body_raw(gzip(body.as_bytes()), "text/xml"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!((report.outcome, report.new), (Outcome::Ok, 3), "{report}");
}

#[tokio::test]
async fn characters_illegal_in_xml_are_removed_exactly_and_counted() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = page(
        &[
            ("oai:x:1", "a\u{1}b\u{B}c&#x1F;d\te\u{FFFD}f\r\ng"),
            ("oai:x:2", "clean &amp; &#233;"),
        ],
        None,
    );
    first_list_request()
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.stripped_characters),
        (Outcome::Ok, 3),
        "{report}"
    );
    assert_eq!(title(&store, "oai:x:1"), "abcd\te\u{FFFD}f\ng");
    assert_eq!(title(&store, "oai:x:2"), "clean & é");
    let r1 = String::from_utf8(store.rendered("oai:x:1", "oai_dc").unwrap().unwrap()).unwrap();
    assert!(r1.contains("altered=\"true\""), "{r1}");
    let r2 = String::from_utf8(store.rendered("oai:x:2", "oai_dc").unwrap().unwrap()).unwrap();
    assert!(r2.contains("altered=\"false\""), "{r2}");
    let app = spawn_app_with(store, |_| {}).await;
    app.oai("verb=ListRecords&metadataPrefix=oai_dc").await;
}

#[tokio::test]
async fn a_record_without_a_valid_identifier_is_rejected_and_the_others_kept() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = page(&[("not an identifier", "a"), ("oai:x:2", "b")], None).replacen(
        "</ListRecords>",
        "<record><header><identifier>oai:x:3</identifier><datestamp>2020-01-01</datestamp></header></record></ListRecords>",
        1,
    );
    first_list_request()
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.new, report.rejected),
        (Outcome::Rejected, 1, 2),
        "{report}"
    );
    assert_eq!(report.rejections[0].identifier, "not an identifier");
    assert!(report.rejections[1].reason.contains("no metadata"));
}

#[tokio::test]
async fn an_identifier_that_held_a_forbidden_character_is_refused_not_merged_into_another() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = page(
        &[
            ("oai:x:1", "the real one"),
            ("oai:x:1\u{FFFE}", "a different record"),
            ("oai:x:1&#xFFFF;", "another one"),
            ("oai:x:2", "t\u{FFFF}itle"),
        ],
        None,
    );
    first_list_request()
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.new, report.updated, report.rejected),
        (Outcome::Rejected, 2, 0, 2),
        "{report}"
    );
    assert!(
        report.rejections[0].reason.contains("<identifier>"),
        "{:?}",
        report.rejections
    );
    assert_eq!(title(&store, "oai:x:1"), "the real one");
    assert_eq!(
        title(&store, "oai:x:2"),
        "title",
        "values are still stripped"
    );
    assert!(report.stripped_characters >= 1);
}

#[tokio::test]
async fn upstream_sets_are_named_after_list_sets_and_the_source_after_identify() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = page(&[("oai:x:1", "a"), ("oai:x:2", "b")], None)
        .replacen(
            "</datestamp></header>",
            "</datestamp><setSpec>crimes</setSpec></header>",
            1,
        )
        .replacen(
            "</datestamp></header>",
            "</datestamp><setSpec>later:sub</setSpec></header>",
            2,
        );
    first_list_request()
        .respond_with(xml(body))
        .mount(&server)
        .await;
    let sets = fixture("harvard-librarycloud/listsets.xml");
    let page1 = sets.replacen(
        "</ListSets>",
        "<resumptionToken>S2</resumptionToken></ListSets>",
        1,
    );
    let page2 = "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><responseDate>2024-05-01T10:00:00Z</responseDate>\
        <request verb=\"ListSets\">http://up/oai</request><ListSets><set><setSpec>later</setSpec><setName>Later</setName></set>\
        <set><setSpec>later:sub</setSpec><setName>Later, a subset</setName></set><resumptionToken/></ListSets></OAI-PMH>";
    Mock::given(method("GET"))
        .and(query_param("verb", "ListSets"))
        .and(query_param_is_missing("resumptionToken"))
        .respond_with(xml(page1))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListSets"))
        .and(query_param("resumptionToken", "S2"))
        .respond_with(xml(page2))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    assert!(report.sets_named >= 3, "{report:?}");
    let name = |spec: &str| {
        store
            .set_name(&moisson::protocol::SetSpec::parse(spec).unwrap())
            .unwrap()
    };
    assert_eq!(
        name("source:up:crimes").as_deref(),
        Some("English Crime and Execution Broadsides")
    );
    assert_eq!(
        name("source:up:later:sub").as_deref(),
        Some("Later, a subset")
    );
    assert_eq!(name("source:up:later").as_deref(), Some("Later"));
    assert_eq!(
        name("source:up").as_deref(),
        Some("National Science Digital Library")
    );
    assert_eq!(name("source").as_deref(), Some("Harvested sources"));
    let app = spawn_app_with(store, |_| {}).await;
    app.oai("verb=ListSets").await;
}

#[tokio::test]
async fn a_provider_without_sets_is_harvested_all_the_same() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], None).replacen(
            "</datestamp></header>",
            "</datestamp><setSpec>s</setSpec></header>",
            1,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListSets"))
        .respond_with(xml(
            "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><responseDate>2024-05-01T10:00:00Z</responseDate>\
             <request verb=\"ListSets\">http://up/oai</request><error code=\"noSetHierarchy\">no sets</error></OAI-PMH>",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.new, report.sets_named),
        (Outcome::Ok, 1, 0),
        "{report}"
    );
}

#[tokio::test]
async fn a_harvested_record_never_overwrites_a_local_record_or_another_sources() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(
            &[
                ("oai:x:1", "from up"),
                ("oai:x:2", "from up"),
                ("oai:x:3", "new"),
            ],
            None,
        )))
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let mut local = moisson::store::RecordInput::dc(
        moisson::protocol::OaiIdentifier::parse("oai:x:1").unwrap(),
        DcRecord::default(),
    );
    local
        .dc
        .as_mut()
        .unwrap()
        .push_str(DcElement::Title, "local");
    local.sets = vec![moisson::protocol::SetSpec::parse("doctype:x").unwrap()];
    store.put(local).unwrap();
    let mut other = moisson::store::RecordInput::dc(
        moisson::protocol::OaiIdentifier::parse("oai:x:2").unwrap(),
        DcRecord::default(),
    );
    other
        .dc
        .as_mut()
        .unwrap()
        .push_str(DcElement::Title, "from another source");
    other.origin = moisson::store::Origin::Source("other".into());
    store.put(other).unwrap();

    let report = harvest(&store, &server).await;

    assert_eq!(
        (report.outcome, report.new, report.updated, report.rejected),
        (Outcome::Rejected, 1, 0, 2),
        "{report}"
    );
    assert_eq!(title(&store, "oai:x:1"), "local");
    assert_eq!(sets(&store, "oai:x:1"), ["doctype:x"]);
    assert_eq!(title(&store, "oai:x:2"), "from another source");
    let reasons: Vec<&str> = report
        .rejections
        .iter()
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "oai:x:1 belongs to local; source:up may not overwrite it",
            "oai:x:2 belongs to source:other; source:up may not overwrite it"
        ]
    );
}

#[tokio::test]
async fn a_repeated_resumption_token_stops_the_harvest_with_an_error() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], Some("A"))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("A")
        .respond_with(xml(page(&[("oai:x:2", "b")], Some("B"))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("B")
        .respond_with(xml(page(&[("oai:x:3", "c")], Some("A"))))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(report.outcome, Outcome::Failed, "{report}");
    assert!(report.error.unwrap().contains("loops"));
    assert_eq!(report.new, 2);
}

#[tokio::test]
async fn every_end_of_list_form_ends_cleanly() {
    for end in [
        "<resumptionToken completeListSize=\"2\" cursor=\"1\"/>",
        "<resumptionToken completeListSize=\"2\" cursor=\"1\">  \n </resumptionToken>",
        "<resumptionToken></resumptionToken>",
        "",
    ] {
        let server = MockServer::start().await;
        mount_identify(&server, false).await;
        first_list_request()
            .respond_with(xml(page(&[("oai:x:1", "a")], Some("T"))))
            .expect(1)
            .mount(&server)
            .await;
        token_request("T")
            .respond_with(xml(page(&[("oai:x:2", "b")], None)
                .replace("</ListRecords>", &format!("{end}</ListRecords>"))))
            .expect(1)
            .mount(&server)
            .await;
        let report = harvest(&Store::temporary().unwrap(), &server).await;
        assert_eq!(
            (report.outcome, report.new, report.requests),
            (Outcome::Ok, 2, 3),
            "{end}: {report}"
        );
    }
}

#[tokio::test]
async fn provider_errors_other_than_no_records_match_are_reported() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(fixture("europeana/error-idDoesNotExist.xml")))
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(
        (report.outcome, report.retries),
        (Outcome::Failed, 0),
        "{report}"
    );
    assert!(report.error.unwrap().contains("idDoesNotExist"));
}

// ---------------------------------------------------------------------------------------------
// Formats, politeness, state

#[tokio::test]
async fn another_format_is_stored_as_harvested_and_listed_by_list_metadata_formats() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListMetadataFormats"))
        .respond_with(xml(fixture(
            "dspace/conicet-dspace7-listmetadataformats.xml",
        )))
        .expect(1)
        .mount(&server)
        .await;
    // The mods prefix is declared on the envelope: the stored payload must declare it itself.
    let body = "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" xmlns:mods=\"http://www.loc.gov/mods/v3\">\
        <responseDate>2024-01-01T00:00:00Z</responseDate><request>http://up/oai</request><ListRecords>\
        <record><header><identifier>oai:x:1</identifier><datestamp>2023-01-01T00:00:00Z</datestamp></header>\
        <metadata><mods:mods><mods:titleInfo><mods:title>Une &amp; deux</mods:title></mods:titleInfo></mods:mods></metadata></record>\
        </ListRecords></OAI-PMH>";
    Mock::given(method("GET"))
        .and(query_param("verb", "ListRecords"))
        .and(query_param("metadataPrefix", "mods"))
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let source = SourceSettings {
        metadata_prefix: "mods".into(),
        ..upstream(&server)
    };
    let store = Store::temporary().unwrap();
    let report = harvest_with(&store, &fast_settings(), &source, RunOptions::default()).await;
    assert_eq!((report.outcome, report.new), (Outcome::Ok, 1), "{report}");
    let app = spawn_app_with(store, |_| {}).await;
    let formats = app.get("verb=ListMetadataFormats").await.body;
    assert!(
        texts(&formats, "metadataPrefix").contains(&"mods".to_owned()),
        "{formats}"
    );
    assert!(texts(&formats, "schema")
        .contains(&"http://www.loc.gov/standards/mods/v3/mods-3-1.xsd".to_owned()));
    let record = app
        .get("verb=GetRecord&metadataPrefix=mods&identifier=oai:x:1")
        .await
        .body;
    assert!(
        record.contains("<mods:mods xmlns:mods=\"http://www.loc.gov/mods/v3\"><mods:titleInfo><mods:title>Une &amp; deux</mods:title>"),
        "{record}"
    );
    assert!(record.contains("<metadataNamespace>http://www.loc.gov/mods/v3</metadataNamespace>"));
}

#[tokio::test]
async fn a_format_the_provider_does_not_offer_fails_before_listing() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    Mock::given(query_param("verb", "ListMetadataFormats"))
        .respond_with(xml(fixture(
            "dspace/conicet-dspace7-listmetadataformats.xml",
        )))
        .mount(&server)
        .await;
    Mock::given(query_param("verb", "ListRecords"))
        .respond_with(xml(""))
        .expect(0)
        .mount(&server)
        .await;
    let source = SourceSettings {
        metadata_prefix: "marcxml".into(),
        ..upstream(&server)
    };
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &fast_settings(),
        &source,
        RunOptions::default(),
    )
    .await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report.error.unwrap().contains("cannotDisseminateFormat"));
}

#[tokio::test]
async fn requests_name_moisson_and_its_version_in_the_user_agent() {
    let server = MockServer::start().await;
    let ua = format!("moisson/{}", env!("CARGO_PKG_VERSION"));
    Mock::given(header("user-agent", ua.as_str()))
        .and(query_param("verb", "Identify"))
        .respond_with(xml(fixture("nsdl/identify.xml")))
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .and(header("user-agent", ua.as_str()))
        .respond_with(xml(page(&[], None)))
        .expect(1)
        .mount(&server)
        .await;
    let report = harvest(&Store::temporary().unwrap(), &server).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
}

#[tokio::test]
async fn the_per_source_delay_spaces_requests() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a")], Some("T"))))
        .mount(&server)
        .await;
    token_request("T")
        .respond_with(xml(page(&[("oai:x:2", "b")], None)))
        .mount(&server)
        .await;
    let source = SourceSettings {
        delay_ms: Some(300),
        ..upstream(&server)
    };
    let started = Instant::now();
    let report = harvest_with(
        &Store::temporary().unwrap(),
        &fast_settings(),
        &source,
        RunOptions::default(),
    )
    .await;
    assert_eq!(
        (report.outcome, report.requests),
        (Outcome::Ok, 3),
        "{report}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_next_run_is_incremental_and_leaves_unchanged_records_alone() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    let body = identifiers_to_records(&fixture("tethys/listidentifiers-page3-no-token.xml"));
    first_list_request()
        .and(query_param_is_missing("from"))
        .respond_with(xml(body.clone()))
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .and(query_param("from", "2026-03-24T14:17:29Z"))
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let first = harvest(&store, &server).await;
    assert_eq!((first.outcome, first.new), (Outcome::Ok, 3), "{first}");
    let before = store.get("oai:tethys.at:7").unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = harvest(&store, &server).await;
    assert_eq!(
        (second.outcome, second.new, second.unchanged),
        (Outcome::Ok, 0, 3),
        "{second}"
    );
    assert_eq!(
        store.get("oai:tethys.at:7").unwrap().unwrap(),
        before,
        "datestamp and content kept"
    );
}

#[tokio::test]
async fn a_day_granularity_provider_is_asked_with_days() {
    let server = MockServer::start().await;
    mount_identify(&server, true).await;
    let body = identifiers_to_records(&fixture("tethys/listidentifiers-page3-no-token.xml"));
    first_list_request()
        .and(query_param("from", "2019-12-31"))
        .and(query_param("until", "2020-01-02"))
        .respond_with(xml(body.clone()))
        .expect(1)
        .mount(&server)
        .await;
    first_list_request()
        .and(query_param("from", "2026-03-24"))
        .and(query_param_is_missing("until"))
        .respond_with(xml(body))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let explicit = RunOptions {
        window: Window {
            from: DateArgument::parse("2019-12-31T10:00:00Z"),
            until: DateArgument::parse("2020-01-02"),
        },
        ..RunOptions::default()
    };
    let source = SourceSettings {
        from: Some("2019-12-31".into()),
        ..upstream(&server)
    };
    let report = harvest_with(&store, &fast_settings(), &source, explicit).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
    // That run covered the configured first `from` up to `until`: the next one starts there
    // — here its responseDate is later than until, so until wins, at day granularity.
    let key = ListKey {
        source: "up".into(),
        prefix: "oai_dc".into(),
        set: None,
    };
    assert_eq!(
        store
            .list_state(&key)
            .unwrap()
            .unwrap()
            .next_from
            .as_deref(),
        Some("2020-01-02")
    );
    // Pretend the last completed run answered on 2026-03-24 (the capture's responseDate).
    let mut state = store.list_state(&key).unwrap().unwrap();
    state.next_from = Some("2026-03-24".into());
    store.set_list_state(&key, &state).unwrap();
    let report = harvest_with(&store, &fast_settings(), &source, RunOptions::default()).await;
    assert_eq!(report.outcome, Outcome::Ok, "{report}");
}

#[tokio::test]
async fn each_configured_set_is_its_own_list_with_its_own_state() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    for (set, id) in [("ddc:550", "oai:x:1"), ("open_access", "oai:x:2")] {
        first_list_request()
            .and(query_param("set", set))
            .respond_with(xml(page(&[(id, set)], None)))
            .expect(1)
            .mount(&server)
            .await;
    }
    let store = Store::temporary().unwrap();
    let source = SourceSettings {
        sets: vec!["ddc:550".into(), "open_access".into()],
        ..upstream(&server)
    };
    let report = harvest_with(&store, &fast_settings(), &source, RunOptions::default()).await;
    assert_eq!(
        (report.outcome, report.new, report.pages),
        (Outcome::Ok, 2, 2),
        "{report}"
    );
    let lists: Vec<Option<String>> = store
        .list_states()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k.set)
        .collect();
    assert_eq!(
        lists,
        [Some("ddc:550".to_owned()), Some("open_access".to_owned())]
    );
}

#[tokio::test]
async fn a_run_stopped_after_one_page_resumes_from_its_checkpointed_token() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page1.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("177435831000000")
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page2.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    token_request("177435832000000")
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page3-no-token.xml",
        ))))
        .expect(1)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let one_page = RunOptions {
        max_pages: Some(1),
        ..RunOptions::default()
    };
    let first = harvest_with(&store, &fast_settings(), &upstream(&server), one_page).await;
    assert_eq!(
        (first.outcome, first.new, first.complete),
        (Outcome::Ok, 3, false),
        "{first}"
    );
    let second = harvest(&store, &server).await;
    assert_eq!(
        (second.outcome, second.new, second.resumed),
        (Outcome::Ok, 6, true),
        "{second}"
    );
    assert_eq!(
        second.requests, 4,
        "Identify, the two remaining pages and ListSets"
    );
}

#[tokio::test]
async fn two_harvests_of_one_source_never_run_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(xml(""))
        .expect(0)
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let _running = SourceLock::acquire(&store, "up").unwrap();
    let report = harvest(&store, &server).await;
    assert_eq!(
        (report.outcome, report.requests),
        (Outcome::AlreadyRunning, 0)
    );
    assert!(report
        .to_string()
        .contains("another harvest of this source is running"));
}

#[tokio::test]
async fn the_last_run_of_each_source_is_recorded_for_metrics() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a"), ("oai:x:2", "b")], None)))
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    harvest(&store, &server).await;
    let runs = store.source_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let (name, run) = &runs[0];
    assert_eq!(
        (name.as_str(), run.outcome.as_str(), run.new, run.requests),
        ("up", "ok", 2, 2)
    );
    assert!(run.finished >= run.started);
}

// ---------------------------------------------------------------------------------------------
// The binary: exit codes, JSON report, hand-over to a running server

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_moisson")
}

/// A configuration file with one source `up` at `base_url` (and extra TOML).
pub fn config_file(dir: &Path, base_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("moisson.toml");
    std::fs::write(
        &path,
        format!(
            "{extra}\n[harvest]\nretries = 1\nbackoff_base_ms = 10\nbackoff_cap_ms = 20\n\n[[source]]\nname = \"up\"\nbase_url = \"{base_url}\"\n"
        ),
    )
    .unwrap();
    path
}

async fn run_bin(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(bin());
    cmd.args(args)
        .env_remove("MOISSON_ADMIN_TOKEN")
        .env("MOISSON_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .await
        .expect("Failed to run the moisson binary.");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_binary_reports_each_outcome_with_its_own_exit_code() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a"), ("not an id", "b")], None)))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_file(dir.path(), &format!("{}/oai", server.uri()), "");
    let data = dir.path().join("data");
    let (cfg, data) = (cfg.to_str().unwrap(), data.to_str().unwrap());

    let (code, stdout, stderr) = run_bin(
        &["--config", cfg, "--data", data, "harvest", "up", "--json"],
        &[],
    )
    .await;
    assert_eq!(code, 2, "rejected records: {stderr}");
    assert!(
        stderr.contains("moisson: harvest up: rejected not an id:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("moisson: harvest up: new 1, updated 0, deleted 0, unchanged 0, rejected 1, pages 1, requests 2, retries 0"),
        "{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout).expect("--json writes the run report");
    assert_eq!(json["sources"][0]["new"], 1);
    assert_eq!(json["sources"][0]["outcome"], "rejected");

    let (code, _, stderr) =
        run_bin(&["--config", cfg, "--data", data, "harvest", "nope"], &[]).await;
    assert_eq!(code, 3, "unknown source: {stderr}");
    assert!(stderr.contains("no source named \"nope\""));

    let (code, _, stderr) = run_bin(&["--config", cfg, "--data", data, "harvest"], &[]).await;
    assert_eq!(code, 3, "nothing to harvest: {stderr}");

    // Another process holds the source's lock.
    let lock_path = Path::new(data).join("harvest-up.lock");
    let held = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    fs4::FileExt::try_lock(&held).unwrap();
    let (code, _, stderr) =
        run_bin(&["--config", cfg, "--data", data, "harvest", "--all"], &[]).await;
    assert_eq!(code, 5, "already running: {stderr}");
    assert!(
        stderr.contains("another harvest of this source is running"),
        "{stderr}"
    );
    drop(held);

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (code, _, stderr) = run_bin(
        &[
            "--data",
            data,
            "harvest",
            "--url",
            &format!("http://127.0.0.1:{dead}/oai"),
        ],
        &[("MOISSON_HARVEST__RETRIES", "0")],
    )
    .await;
    assert_eq!(code, 6, "failed source: {stderr}");
    assert!(
        stderr.contains("harvest 127.0.0.1:") && stderr.contains("FAILED"),
        "{stderr}"
    );
}

#[tokio::test]
async fn harvest_and_import_are_handed_to_the_server_that_holds_the_store() {
    let upstream = MockServer::start().await;
    mount_identify(&upstream, false).await;
    first_list_request()
        .respond_with(xml(identifiers_to_records(&fixture(
            "tethys/listidentifiers-page3-no-token.xml",
        ))))
        .expect(1)
        .mount(&upstream)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data, 16 << 20).unwrap();
    let upstream_url = format!("{}/oai", upstream.uri());
    let app = spawn_app_with(store.clone(), |s| {
        s.admin.token = Some("s3cret-token".into());
        s.source = vec![SourceSettings::new("up", upstream_url.as_str())];
        s.harvest = fast_settings();
    })
    .await;
    let cfg = config_file(
        dir.path(),
        &upstream_url,
        &format!("[server]\nbind = \"127.0.0.1:{}\"", app.port),
    );
    let (cfg, data) = (cfg.to_str().unwrap(), data.to_str().unwrap());

    // No token on the CLI side: the store is busy (exit 4) and the message says what to do.
    let (code, _, stderr) = run_bin(&["--config", cfg, "--data", data, "harvest", "up"], &[]).await;
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("[admin] token"), "{stderr}");
    // A wrong token is refused.
    let (code, _, stderr) = run_bin(
        &["--config", cfg, "--data", data, "harvest", "up"],
        &[("MOISSON_ADMIN_TOKEN", "wrong")],
    )
    .await;
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");

    let (code, stdout, stderr) = run_bin(
        &["--config", cfg, "--data", data, "harvest", "up", "--json"],
        &[("MOISSON_ADMIN_TOKEN", "s3cret-token")],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("moisson: harvest up: new 3,"), "{stderr}");
    assert!(stdout.contains("\"new\": 3"), "{stdout}");
    assert!(store.get("oai:tethys.at:8").unwrap().is_some());

    let lines = dir.path().join("records.jsonl");
    std::fs::write(
        &lines,
        "{\"id\":\"oai:local:1\",\"dc\":{\"title\":[\"Local\"]}}\nnot json\n{\"setSpec\":\"local\",\"setName\":\"Local\"}\n",
    )
    .unwrap();
    let (code, _, stderr) = run_bin(
        &[
            "--config",
            cfg,
            "--data",
            data,
            "import",
            "dc",
            lines.to_str().unwrap(),
        ],
        &[("MOISSON_ADMIN_TOKEN", "s3cret-token")],
    )
    .await;
    assert_eq!(code, 2, "one rejected line: {stderr}");
    assert!(stderr.contains("records.jsonl:2: not JSON"), "{stderr}");
    assert!(
        stderr.contains("added 1, updated 0, deleted 0, unchanged 0, rejected 1, sets 1"),
        "{stderr}"
    );
    assert_eq!(title(&store, "oai:local:1"), "Local");
}

#[tokio::test]
async fn the_admin_api_is_off_without_a_token_and_checks_the_token_when_on() {
    let off = spawn_app().await;
    let r = off
        .client
        .post(format!("{}/admin/harvest", off.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let on = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.admin.token = Some("t".into());
    })
    .await;
    let url = format!("{}/admin/harvest/runs", on.address);
    assert_eq!(
        on.client.get(&url).send().await.unwrap().status().as_u16(),
        401
    );
    assert_eq!(
        on.client
            .get(&url)
            .bearer_auth("tt")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let ok = on.client.get(&url).bearer_auth("t").send().await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let body: serde_json::Value = serde_json::from_str(&ok.text().await.unwrap()).unwrap();
    assert_eq!(body["runs"], serde_json::json!([]));
    let bad = on
        .client
        .post(format!("{}/admin/harvest", on.address))
        .bearer_auth("t")
        .header("Content-Type", "application/json")
        .body(r#"{"names":["unknown"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
}

/// Sends the head of a POST that announces a 1 GB body and sends none of it; returns the
/// status line the server answers with (it must not wait for the body).
async fn status_without_body(port: u16, path: &str, token: Option<&str>) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: 1000000000\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("{path} (token {token:?}): the server waited for the body"))
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn the_admin_routes_check_the_token_before_reading_a_body_and_do_not_exist_when_off() {
    let off = spawn_app().await;
    for path in [
        "/admin/harvest",
        "/admin/import/dc",
        "/admin/import/pmb",
        "/admin/import/unimarc",
    ] {
        let status = status_without_body(off.port, path, None).await;
        assert!(status.contains(" 404 "), "{path}: {status}");
    }
    let on = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.admin.token = Some("t".into());
    })
    .await;
    for path in [
        "/admin/harvest",
        "/admin/import/dc",
        "/admin/import/pmb",
        "/admin/import/unimarc",
    ] {
        for token in [None, Some("wrong")] {
            let status = status_without_body(on.port, path, token).await;
            assert!(status.contains(" 401 "), "{path} {token:?}: {status}");
        }
    }
    // With the token, a body announced over its cap is refused before it is read.
    for path in [
        "/admin/harvest",
        "/admin/import/pmb",
        "/admin/import/unimarc",
    ] {
        let status = status_without_body(on.port, path, Some("t")).await;
        assert!(status.contains(" 400 "), "{path}: {status}");
    }
}

#[tokio::test]
async fn the_admin_import_stamps_what_it_imports_and_refuses_to_keep_datestamps() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.admin.token = Some("t".into());
    })
    .await;
    let url = format!("{}/admin/import/dc", app.address);
    let started = chrono::Utc::now().timestamp();
    let lines = "{\"id\":\"oai:x:old\",\"datestamp\":\"2001-01-01T00:00:00Z\",\"dc\":{\"title\":\"t\"}}\n\
                 {\"id\":\"oai:x:future\",\"datestamp\":\"2999-01-01T00:00:00Z\",\"dc\":{\"title\":\"t\"}}\n";
    let r = app
        .client
        .post(&url)
        .query(&[("name", "in.jsonl")])
        .bearer_auth("t")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let report: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(report["added"], 1, "{report}");
    assert_eq!(report["rejected"], 1, "{report}");
    assert_eq!(report["ignored_datestamps"], 1, "{report}");
    assert!(report["messages"][0]
        .as_str()
        .unwrap()
        .starts_with("in.jsonl:2: datestamp 2999-01-01T00:00:00Z is in the future"));
    let stamped = app.store.get("oai:x:old").unwrap().unwrap().datestamp;
    assert!(
        stamped >= started,
        "an old datestamp hides the record from incremental harvesters"
    );
    // A harvester that harvested before the import sees the record in its next window.
    let from = chrono::DateTime::from_timestamp(started, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ");
    let body = app
        .oai(&format!(
            "verb=ListIdentifiers&metadataPrefix=oai_dc&from={from}"
        ))
        .await;
    assert_eq!(header_identifiers(&body), ["oai:x:old"]);
    let refused = app
        .client
        .post(&url)
        .query(&[("keep_datestamps", "true")])
        .bearer_auth("t")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let png = app
        .client
        .post(&url)
        .bearer_auth("t")
        .body(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(png.status().as_u16(), 400);
}

// ---------------------------------------------------------------------------------------------
// The identifier sweep

/// A ListIdentifiers page of these identifiers.
fn headers_page(ids: &[String], token: Option<&str>) -> String {
    let mut body = String::from(
        "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><responseDate>2024-05-01T10:00:00Z</responseDate>\
         <request verb=\"ListIdentifiers\">http://up/oai</request><ListIdentifiers>",
    );
    for id in ids {
        let _ = write!(
            body,
            "<header><identifier>{id}</identifier><datestamp>2023-01-01T00:00:00Z</datestamp></header>"
        );
    }
    if let Some(t) = token {
        let _ = write!(body, "<resumptionToken>{t}</resumptionToken>");
    }
    body.push_str("</ListIdentifiers></OAI-PMH>");
    body
}

/// Serves ListIdentifiers as two pages holding `ids`.
async fn mount_identifiers(server: &MockServer, ids: &[String]) {
    let (a, b) = ids.split_at(ids.len() / 2);
    Mock::given(method("GET"))
        .and(query_param("verb", "ListIdentifiers"))
        .and(query_param("metadataPrefix", "oai_dc"))
        .respond_with(xml(headers_page(a, Some("I2"))))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListIdentifiers"))
        .and(query_param("resumptionToken", "I2"))
        .respond_with(xml(headers_page(b, None)))
        .mount(server)
        .await;
}

fn reconcile(force: bool) -> RunOptions {
    RunOptions {
        reconcile: true,
        force,
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn a_source_that_keeps_no_deletions_is_swept_and_records_it_no_longer_lists_become_tombstones(
) {
    let server = MockServer::start().await;
    mount_identify(&server, false).await; // NSDL: deletedRecord no
    let ids: Vec<String> = (1..=20).map(|i| format!("oai:x:{i}")).collect();
    let titles: Vec<(&str, &str)> = ids.iter().map(|i| (i.as_str(), "t")).collect();
    first_list_request()
        .and(query_param_is_missing("from"))
        .respond_with(xml(page(&titles, None)))
        .mount(&server)
        .await;
    first_list_request()
        .and(query_param("from", "2024-05-01T09:59:00Z"))
        .respond_with(xml(fixture(
            "zenodo/listidentifiers-noRecordsMatch-http422.xml",
        )))
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let settings = fast_settings();
    let source = upstream(&server);
    let first = harvest_with(&store, &settings, &source, RunOptions::default()).await;
    assert_eq!(
        (first.outcome, first.new, first.sweep),
        (Outcome::Ok, 20, None),
        "{first}"
    );

    // 2 of 20 gone upstream (10%): removed.
    mount_identifiers(&server, &ids[2..]).await;
    let second = harvest_with(&store, &settings, &source, reconcile(false)).await;
    assert_eq!(second.outcome, Outcome::Ok, "{second}");
    let sweep = second.sweep.unwrap();
    assert_eq!(
        (sweep.listed, sweep.held, sweep.stale, sweep.removed),
        (18, 20, 2, 2)
    );
    assert_eq!(second.deleted, 2);
    assert!(second
        .to_string()
        .contains("identifier sweep: 18 listed, 2 of 20 held no longer listed, 2 removed"));
    assert!(store.get("oai:x:1").unwrap().unwrap().deleted);
    assert!(!store.get("oai:x:3").unwrap().unwrap().deleted);
    let app = spawn_app_with(store.clone(), |_| {}).await;
    let body = app
        .oai("verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:1")
        .await;
    assert!(body.contains("status=\"deleted\""), "{body}");
    assert_eq!(
        store.listed_marks(&source.name).unwrap(),
        0,
        "no mark is left behind"
    );

    // 10 of the 18 left gone at once: held back without --force, removed with it.
    server.reset().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(fixture(
            "zenodo/listidentifiers-noRecordsMatch-http422.xml",
        )))
        .mount(&server)
        .await;
    mount_identifiers(&server, &ids[12..]).await;
    let held = harvest_with(&store, &settings, &source, reconcile(false)).await;
    assert_eq!(held.outcome, Outcome::Failed, "{held}");
    let error = held.error.unwrap();
    assert!(
        error.contains("found 10 of its 18 records") && error.contains("--force"),
        "{error}"
    );
    assert!(
        !store.get("oai:x:3").unwrap().unwrap().deleted,
        "nothing removed"
    );
    let forced = harvest_with(&store, &settings, &source, reconcile(true)).await;
    assert_eq!(
        (forced.outcome, forced.deleted),
        (Outcome::Ok, 10),
        "{forced}"
    );
    assert!(store.get("oai:x:3").unwrap().unwrap().deleted);
    assert!(store.check().unwrap().is_empty());
}

#[tokio::test]
async fn a_sweep_whose_list_fails_removes_nothing_and_one_is_due_after_reconcile_days() {
    let server = MockServer::start().await;
    mount_identify(&server, false).await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a"), ("oai:x:2", "b")], None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListIdentifiers"))
        .respond_with(xml(headers_page(&["oai:x:2".to_owned()], Some("BROKEN"))))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("resumptionToken", "BROKEN"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let store = Store::temporary().unwrap();
    let settings = HarvestSettings {
        reconcile_max_share: 1.0,
        ..fast_settings()
    };
    let source = upstream(&server);
    assert_eq!(
        harvest_with(&store, &settings, &source, RunOptions::default())
            .await
            .new,
        2
    );
    // Not due yet: the first harvest started the clock.
    let quiet = harvest_with(&store, &settings, &source, RunOptions::default()).await;
    assert_eq!((quiet.outcome, quiet.sweep), (Outcome::Ok, None), "{quiet}");
    // Eight days later it is due, and its list breaks off: nothing is removed.
    let eight_days_ago = chrono::Utc::now().timestamp() - 8 * 86_400;
    harvester::sweep::set_last_sweep(&store, "up", eight_days_ago).unwrap();
    let broken = harvest_with(&store, &settings, &source, RunOptions::default()).await;
    assert_eq!(broken.outcome, Outcome::Failed, "{broken}");
    assert!(broken
        .error
        .unwrap()
        .contains("identifier sweep failed, nothing was removed"));
    assert!(!store.get("oai:x:1").unwrap().unwrap().deleted);
    assert_eq!(
        harvester::sweep::last_sweep(&store, "up").unwrap(),
        Some(eight_days_ago)
    );
    // A source that keeps its deletions is not swept unless asked.
    let persistent = SourceSettings {
        reconcile_days: Some(1),
        ..source.clone()
    };
    server.reset().await;
    Mock::given(method("GET"))
        .and(query_param("verb", "Identify"))
        .respond_with(xml(fixture("nsdl/identify.xml").replace(
            "<deletedRecord>no</deletedRecord>",
            "<deletedRecord>persistent</deletedRecord>",
        )))
        .mount(&server)
        .await;
    first_list_request()
        .respond_with(xml(page(&[("oai:x:1", "a"), ("oai:x:2", "b")], None)))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("verb", "ListIdentifiers"))
        .respond_with(xml(headers_page(&[], None)))
        .expect(0)
        .mount(&server)
        .await;
    let report = harvest_with(&store, &settings, &persistent, RunOptions::default()).await;
    assert_eq!(
        (report.outcome, report.sweep),
        (Outcome::Ok, None),
        "{report}"
    );
}
