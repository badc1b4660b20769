//! `spawn_app()` and what tests need to talk to it and check its answers.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use moisson::config::Settings;
use moisson::http::Application;
use moisson::importer::jsonl::{parse_line, Item};
use moisson::store::{RecordInput, Store};
use quick_xml::events::Event;
use quick_xml::Reader;

/// A running server and a client for it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub store: Store,
    pub client: reqwest::Client,
    pub settings: Settings,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // Stop without waiting; the runtime ends with the test.
        drop(handle.stop(false));
    }
}

/// An HTTP answer.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".into();
    settings
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(
        Store::temporary().expect("Failed to create a temporary store."),
        |_| {},
    )
    .await
}

#[allow(clippy::unused_async)] // Async like the server it starts, so tests read the same.
pub async fn spawn_app_with(store: Store, configure: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        moisson::telemetry::init("debug");
    }
    let mut settings = test_settings();
    configure(&mut settings);
    let listener = TcpListener::bind(&settings.server.bind).expect("Failed to bind a port.");
    let port = listener.local_addr().unwrap().port();
    let address = format!("http://127.0.0.1:{port}");
    if settings.server.base_url.is_none() {
        settings.server.base_url = Some(format!("{address}/oai"));
    }
    let app = Application::with_listener(&settings, store.clone(), listener)
        .expect("Failed to build the app.");
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .unwrap();
    TestApp {
        address,
        port,
        store,
        client,
        settings,
        handle,
    }
}

impl TestApp {
    pub fn base_url(&self) -> String {
        format!("{}/oai", self.address)
    }

    pub async fn get(&self, query: &str) -> Answer {
        let r = self
            .client
            .get(format!("{}?{query}", self.base_url()))
            .send()
            .await
            .expect("Failed to send the request.");
        answer(r).await
    }

    pub async fn post(&self, form: &str) -> Answer {
        let r = self
            .client
            .post(self.base_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("Failed to send the request.");
        answer(r).await
    }

    pub async fn path(&self, path: &str) -> Answer {
        let r = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("Failed to send the request.");
        answer(r).await
    }

    /// GET, check HTTP 200, text/xml, and schema validity; returns the body.
    pub async fn oai(&self, query: &str) -> String {
        let a = self.get(query).await;
        assert_eq!(a.status, 200, "{query}: {}", a.body);
        assert_eq!(a.header("content-type"), Some("text/xml; charset=UTF-8"));
        assert_valid(&a.body);
        a.body
    }

    /// Seeds records written as `moisson import dc` JSON lines.
    pub fn seed(&self, lines: &[&str]) {
        seed(&self.store, lines);
    }
}

pub fn seed(store: &Store, lines: &[&str]) {
    let mut records: Vec<RecordInput> = Vec::new();
    for line in lines {
        match parse_line(line).expect("a valid seed line") {
            Item::Record(r) => records.push(r),
            Item::Set(s) => store
                .define_set(&s.spec, &s.name, s.description.as_ref())
                .unwrap(),
        }
    }
    store.put_batch(records).unwrap();
}

/// `n` records `oai:test:0001`… with datestamps one minute apart from 2020-01-01T00:00:00Z.
pub fn numbered_records(n: usize, sets: &[&str]) -> Vec<String> {
    (0..n)
        .map(|i| {
            let minutes = i64::try_from(i).unwrap();
            let d = chrono::DateTime::from_timestamp(1_577_836_800 + minutes * 60, 0).unwrap();
            serde_json::json!({
                "id": format!("oai:test:{i:04}"),
                "datestamp": d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "sets": sets,
                "dc": {"title": [format!("Record {i}")], "creator": ["Tester"]},
            })
            .to_string()
        })
        .collect()
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.expect("Failed to read the body.");
    Answer {
        status,
        headers,
        body,
    }
}

pub fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

/// Validates a response against the official OAI-PMH schema and every payload schema.
pub fn assert_valid(body: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("response.xml");
    std::fs::write(&file, body).unwrap();
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schemas_dir().join("oai-pmh-offline.xsd"))
        .arg(&file)
        .output()
        .expect("xmllint is needed by the tests (Debian package libxml2-utils).");
    assert!(
        out.status.success(),
        "response is not valid against the OAI-PMH schemas:\n{}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The texts of every element with this local name, in document order.
pub fn texts(xml: &str, local: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut depth_in = 0usize;
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                if current.is_some() {
                    depth_in += 1;
                } else if e.local_name().as_ref() == local.as_bytes() {
                    current = Some(String::new());
                    depth_in = 0;
                }
            }
            Event::Empty(e) if current.is_none() && e.local_name().as_ref() == local.as_bytes() => {
                out.push(String::new());
            }
            Event::End(_) if current.is_some() => {
                if depth_in == 0 {
                    out.push(current.take().unwrap());
                } else {
                    depth_in -= 1;
                }
            }
            ref e @ (Event::Text(_) | Event::CData(_) | Event::GeneralRef(_)) => {
                if let Some(c) = current.as_mut() {
                    moisson::dc::xml::push_event_text(e, c).unwrap();
                }
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// The value of `attr` on every element with this local name.
pub fn attrs(xml: &str, local: &str, attr: &str) -> Vec<Option<String>> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == local.as_bytes() => {
                out.push(
                    e.try_get_attribute(attr)
                        .unwrap()
                        .map(|a| a.unescape_value().unwrap().into_owned()),
                );
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

/// The error codes of a response.
pub fn error_codes(xml: &str) -> Vec<String> {
    attrs(xml, "error", "code").into_iter().flatten().collect()
}

/// The identifiers in the headers of a response.
pub fn identifiers(xml: &str) -> Vec<String> {
    texts(xml, "identifier")
        .into_iter()
        .filter(|s| !s.starts_with("http"))
        .collect()
}

/// The resumption token text, if the response has a resumptionToken element.
pub fn token(xml: &str) -> Option<String> {
    texts(xml, "resumptionToken").pop()
}

/// Every identifier of a complete list, following resumption tokens; also the pages.
pub async fn harvest_all(
    app: &TestApp,
    first_query: &str,
    verb: &str,
) -> (Vec<String>, Vec<String>) {
    let mut pages = vec![app.oai(first_query).await];
    let mut ids = header_identifiers(&pages[0]);
    while let Some(t) = token(pages.last().unwrap()).filter(|t| !t.is_empty()) {
        let page = app
            .oai(&format!("verb={verb}&resumptionToken={}", urlencode(&t)))
            .await;
        ids.extend(header_identifiers(&page));
        pages.push(page);
        assert!(pages.len() < 10_000, "the list does not end");
    }
    (ids, pages)
}

/// Identifiers inside `<header>` elements only.
pub fn header_identifiers(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut out = Vec::new();
    let mut in_header = false;
    let mut in_id = false;
    let mut text = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) if e.local_name().as_ref() == b"header" => in_header = true,
            Event::End(e) if e.local_name().as_ref() == b"header" => in_header = false,
            Event::Start(e) if in_header && e.local_name().as_ref() == b"identifier" => {
                in_id = true;
                text.clear();
            }
            Event::End(e) if in_id && e.local_name().as_ref() == b"identifier" => {
                in_id = false;
                out.push(std::mem::take(&mut text));
            }
            ref e @ (Event::Text(_) | Event::GeneralRef(_)) if in_id => {
                moisson::dc::xml::push_event_text(e, &mut text).unwrap();
            }
            Event::Eof => return out,
            _ => {}
        }
    }
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
