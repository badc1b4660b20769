//! The browser view: every response carries `<?xml-stylesheet?>` pointing to `/oai2.xsl`, and a
//! real browser (headless Chromium) turns Identify, a ListRecords page, a record and an error
//! into readable pages. Without Chromium the rendering tests show as ignored (the build script
//! looks for it; under CI, which installs it as Debian package `chromium`, they run and fail
//! when it is missing); the XML checks always run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::helpers::*;
use moisson::store::Store;

/// Where Debian's `chromium` package puts the browser; `CHROMIUM` overrides it.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The browser, or `None` (after saying so loudly) when it is not installed.
pub(crate) fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from(CHROMIUM), PathBuf::from);
    if path.is_file() {
        return Some(path);
    }
    let message = format!(
        "Chromium not found at {}: the browser-view rendering tests are SKIPPED. \
         Install it with `apt-get install -y chromium` (or set CHROMIUM=/path/to/chromium).",
        path.display()
    );
    // CI installs Chromium, so there its absence is a broken install step, not a reason to skip.
    assert!(std::env::var_os("CI").is_none(), "{message}");
    eprintln!(
        "\n{}\n!!! {message}\n{}\n",
        "!".repeat(100),
        "!".repeat(100)
    );
    None
}

/// Runs headless Chromium on `url` with one more `action` flag (`--dump-dom`,
/// `--screenshot=…`, `--print-to-pdf=…`); returns what it wrote on stdout.
pub(crate) async fn chromium_run(chromium: &Path, url: &str, action: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(action)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .unwrap_or_else(|_| panic!("Chromium did not render {url} within 120 s."))
        .expect("Failed to start Chromium.");
    assert!(
        output.status.success(),
        "Chromium failed on {url} ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Loads `url` in headless Chromium and returns the DOM it built.
pub(crate) async fn dump_dom(chromium: &Path, url: &str) -> String {
    let dom = chromium_run(chromium, url, &["--dump-dom".to_owned()]).await;
    assert!(!dom.is_empty(), "Chromium rendered nothing for {url}");
    dom
}

/// Loads `url` in headless Chromium and returns the DOM after the stylesheet ran.
async fn render(chromium: &Path, url: &str) -> String {
    let dom = dump_dom(chromium, url).await;
    // Without XSLT the browser shows the XML itself: say so rather than fail on a missing word.
    assert!(
        dom.contains("OAI-PMH endpoint") && !dom.contains("<oai-pmh") && !dom.contains("<OAI-PMH"),
        "Chromium did not apply /oai2.xsl to {url} (has this Chromium dropped XSLT?):\n{dom}"
    );
    dom
}

/// The text a reader sees: tags, styles and entities gone, whitespace collapsed.
pub(crate) fn visible_text(dom: &str) -> String {
    const INLINE: [&str; 8] = ["a", "span", "code", "em", "strong", "b", "wbr", "time"];
    let mut text = String::with_capacity(dom.len());
    let mut rest = dom;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        rest = &rest[start + 1..];
        let name: String = rest
            .trim_start_matches('/')
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let end = if name == "style" || name == "script" {
            let close = format!("</{name}>");
            rest.find(&close).map(|i| i + close.len())
        } else {
            rest.find('>').map(|i| i + 1)
        };
        if !INLINE.contains(&name.as_str()) {
            text.push(' ');
        }
        rest = &rest[end.unwrap_or(rest.len())..];
    }
    text.push_str(rest);
    let text = unescape(&text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn unescape(s: &str) -> String {
    s.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every link of the page: (href, visible text).
pub(crate) fn links(dom: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for chunk in dom.split("<a ").skip(1) {
        let Some((tag, after)) = chunk.split_once('>') else {
            continue;
        };
        let inner = after.split("</a>").next().unwrap_or_default();
        if let Some((_, value)) = tag.split_once("href=\"") {
            let href = value.split('"').next().unwrap_or_default();
            out.push((unescape(href), visible_text(inner)));
        }
    }
    out
}

/// The href of the first link whose text starts with `text`.
pub(crate) fn link(dom: &str, text: &str) -> String {
    links(dom)
        .into_iter()
        .find(|(_, t)| t.starts_with(text))
        .map_or_else(|| panic!("no link \"{text}\" in:\n{dom}"), |(href, _)| href)
}

/// Resolves a link of a page the way the browser does (relative to the page's URL).
pub(crate) fn resolve(page: &str, href: &str) -> String {
    reqwest::Url::parse(page)
        .unwrap()
        .join(href)
        .unwrap()
        .to_string()
}

/// An identifier with every character that needs percent-encoding in a query, and one beyond ASCII.
const AWKWARD_ID: &str = "oai:test:a&b+c=d%25e#f?g;h/é";

/// Five numbered records and the awkward one, all in set `theses`.
fn seed_lines() -> Vec<String> {
    let mut lines = vec![r#"{"setSpec":"theses","setName":"Theses and dissertations"}"#.to_owned()];
    lines.extend(numbered_records(5, &["theses"]));
    lines.push(
        serde_json::json!({
            "id": AWKWARD_ID,
            "datestamp": "2019-12-31T23:00:00Z",
            "sets": ["theses"],
            "dc": {
                "title": ["Les bibliothèques & le libre accès"],
                "creator": ["Camille Martin"],
                "subject": ["Open access"],
                "identifier": ["https://theses.example.org/1001"],
                "language": ["fre"],
            },
        })
        .to_string(),
    );
    lines
}

async fn seeded_app(configure: impl FnOnce(&mut moisson::config::Settings)) -> TestApp {
    let app = spawn_app_with(Store::temporary().unwrap(), configure).await;
    app.seed(&seed_lines().iter().map(String::as_str).collect::<Vec<_>>());
    app
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn identify_renders_as_a_page_about_the_repository() {
    let Some(chromium) = chromium() else { return };
    let app = seeded_app(|s| s.repository.name = "Bibliothèque de Tours".into()).await;
    let dom = render(&chromium, &format!("{}?verb=Identify", app.base_url())).await;
    let text = visible_text(&dom);
    for expected in [
        "Bibliothèque de Tours (Identify)",
        "Repository name Bibliothèque de Tours",
        &format!("Base URL (give this to harvesters) {}", app.base_url()),
        "Protocol OAI-PMH 2.0",
        "Administrator admin@example.org",
        "Oldest record date 2019-12-31 23:00:00 UTC",
        "Kept: a deleted record stays listed as deleted",
        "Date precision To the second",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the page:\n{text}"
        );
    }
    assert!(
        dom.contains("<title>Bibliothèque de Tours · OAI-PMH</title>"),
        "{dom}"
    );
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn a_list_records_page_shows_dublin_core_in_plain_words_with_working_links() {
    let Some(chromium) = chromium() else { return };
    let app = seeded_app(|s| s.server.page_size = 3).await;
    let page_url = format!("{}?verb=ListRecords&metadataPrefix=oai_dc", app.base_url());
    let dom = render(&chromium, &page_url).await;
    let text = visible_text(&dom);
    for expected in [
        "Records (ListRecords)",
        "Items 1 to 3 of 6 records.",
        "Title Les bibliothèques & le libre accès",
        "Author or creator Camille Martin",
        "Subject Open access",
        "Identifier or link https://theses.example.org/1001",
        "Language fre",
        "Title Record 0",
        "Author or creator Tester",
        "Next page",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the page:\n{text}"
        );
    }
    assert!(
        !text.contains("Record 3"),
        "page 1 holds three records:\n{text}"
    );
    assert_eq!(
        link(&dom, "https://theses.example.org/1001"),
        "https://theses.example.org/1001"
    );

    // The next-page link carries the token, and the server takes it.
    let next = resolve(&page_url, &link(&dom, "Next page"));
    let body = app.oai(next.split_once('?').unwrap().1).await;
    assert_eq!(
        header_identifiers(&body),
        ["oai:test:0002", "oai:test:0003", "oai:test:0004"]
    );

    // A record's title links to GetRecord, its identifier percent-encoded; the browser follows it.
    let record = resolve(&page_url, &link(&dom, "Les bibliothèques & le libre accès"));
    let body = app.oai(record.split_once('?').unwrap().1).await;
    assert_eq!(header_identifiers(&body), [AWKWARD_ID]);
    let dom = render(&chromium, &record).await;
    let text = visible_text(&dom);
    assert!(text.contains("Record (GetRecord)"), "{text}");
    assert!(
        text.contains(&format!(
            "Identifier {AWKWARD_ID} · last changed 2019-12-31 23:00:00 UTC · in theses"
        )),
        "{text}"
    );

    // The set link lists the set's records.
    let set = resolve(&page_url, &link(&dom, "theses"));
    let body = app.oai(set.split_once('?').unwrap().1).await;
    assert_eq!(attrs(&body, "request", "set"), [Some("theses".to_owned())]);
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn an_error_page_explains_the_error_in_plain_words() {
    let Some(chromium) = chromium() else { return };
    let app = seeded_app(|_| {}).await;
    let dom = render(
        &chromium,
        &format!(
            "{}?verb=ListRecords&resumptionToken=expired-or-forged",
            app.base_url()
        ),
    )
    .await;
    let text = visible_text(&dom);
    for expected in [
        "The repository could not answer this request",
        "This resumption token is not valid (badResumptionToken)",
        "has expired, was changed, or was not issued by this repository",
        "Start the list again from its first page",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the page:\n{text}"
        );
    }

    let dom = render(
        &chromium,
        &format!(
            "{}?verb=ListRecords&metadataPrefix=oai_dc&set=nowhere",
            app.base_url()
        ),
    )
    .await;
    let text = visible_text(&dom);
    assert!(
        text.contains("No records match this request (noRecordsMatch)"),
        "{text}"
    );
    assert!(text.contains("Nothing is wrong"), "{text}");
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn sets_formats_and_identifiers_render_as_tables() {
    let Some(chromium) = chromium() else { return };
    let app = seeded_app(|_| {}).await;
    let base = app.base_url();
    let text = visible_text(&render(&chromium, &format!("{base}?verb=ListSets")).await);
    assert!(text.contains("Sets (ListSets)"), "{text}");
    assert!(text.contains("theses Theses and dissertations"), "{text}");
    let text = visible_text(&render(&chromium, &format!("{base}?verb=ListMetadataFormats")).await);
    assert!(
        text.contains("Metadata formats (ListMetadataFormats)"),
        "{text}"
    );
    assert!(
        text.contains("oai_dc http://www.openarchives.org/OAI/2.0/oai_dc.xsd"),
        "{text}"
    );
    let text = visible_text(
        &render(
            &chromium,
            &format!("{base}?verb=ListIdentifiers&metadataPrefix=oai_dc"),
        )
        .await,
    );
    assert!(
        text.contains("Record identifiers (ListIdentifiers)"),
        "{text}"
    );
    assert!(text.contains("6 records."), "{text}");
    assert!(
        text.contains("oai:test:0004 2020-01-01 00:04:00 UTC theses"),
        "{text}"
    );
}

/// Blanks `<responseDate>`, the one part that changes from one second to the next.
fn redact_response_date(xml: &str) -> String {
    let start = xml.find("<responseDate>").expect("a responseDate") + "<responseDate>".len();
    let end = xml.find("</responseDate>").expect("a responseDate");
    format!("{}{}", &xml[..start], &xml[end..])
}

#[tokio::test]
async fn with_the_stylesheet_on_the_xml_is_unchanged_but_for_the_instruction_and_stays_valid() {
    let store = Store::temporary().unwrap();
    let on = spawn_app_with(store.clone(), |_| {}).await;
    // The same store and the same baseURL, only without the stylesheet.
    let off = spawn_app_with(store, |s| {
        s.server.stylesheet = false;
        s.server.base_url = Some(on.base_url());
    })
    .await;
    on.seed(&seed_lines().iter().map(String::as_str).collect::<Vec<_>>());
    let id = urlencode(AWKWARD_ID);
    let instruction = format!(
        "<?xml-stylesheet type=\"text/xsl\" href=\"oai2.xsl?v={}\"?>\n",
        env!("CARGO_PKG_VERSION")
    );
    for query in [
        "verb=Identify".to_owned(),
        "verb=ListRecords&metadataPrefix=oai_dc".to_owned(),
        "verb=ListIdentifiers&metadataPrefix=oai_dc&set=theses".to_owned(),
        format!("verb=GetRecord&metadataPrefix=oai_dc&identifier={id}"),
        "verb=ListSets".to_owned(),
        "verb=ListMetadataFormats".to_owned(),
        "verb=ListRecords&resumptionToken=forged".to_owned(),
        "verb=Nope".to_owned(),
    ] {
        // `oai()` checks status, content type and validity against the OAI-PMH schemas.
        let with = on.oai(&query).await;
        let without = off.oai(&query).await;
        let (declaration, rest) = with.split_once('\n').unwrap();
        assert_eq!(declaration, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let rest = rest.strip_prefix(&instruction).unwrap_or_else(|| {
            panic!("{query}: no stylesheet instruction after the declaration:\n{with}")
        });
        assert!(!without.contains("xml-stylesheet"), "{without}");
        assert_eq!(
            redact_response_date(&format!("{declaration}\n{rest}")),
            redact_response_date(&without),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_stylesheet_is_served_next_to_the_endpoint_and_cached() {
    let app = spawn_app().await;
    let body = app.oai("verb=Identify").await;
    let href = body
        .split_once("href=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(href, _)| href.to_owned())
        .unwrap();
    // Relative to the baseURL, so that it works behind a proxy that moves the endpoint.
    assert!(href.starts_with("oai2.xsl"), "{href}");
    let url = resolve(&app.base_url(), &href);
    assert_eq!(url, format!("{}/{href}", app.address));
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/xsl; charset=utf-8");
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.contains("max-age=604800"), "{cache}");
    let xsl = r.text().await.unwrap();
    assert_eq!(xsl, moisson::http::stylesheet::STYLESHEET);
    // Well-formed XML, an XSLT 1.0 stylesheet.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("oai2.xsl");
    std::fs::write(&file, &xsl).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(xsl.contains(r#"<xsl:stylesheet version="1.0""#));
}
