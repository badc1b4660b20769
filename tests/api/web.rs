//! The pages for people, through the real server: every page's headers, escaping of hostile
//! identifiers and values, keyset paging, languages, the sitemap and its limits, the harvest
//! console after real harvests, and headless Chromium rendering: the visible text of each
//! page, the seed bulletin's record page (screenshot, table of contents line by line, sets by
//! name) and the two clicks from `/` to it. Without Chromium the rendering tests show as
//! ignored, except under CI where they fail (see `build.rs` and `browser.rs`).

use std::path::{Path, PathBuf};

use moisson::harvester::config::SourceSettings;
use moisson::harvester::{self, NoProgress, RunOptions};
use moisson::store::Store;

use crate::browser::{chromium, chromium_run, dump_dom, link, links, resolve, visible_text};
use crate::harvest::fast_settings;
use crate::helpers::*;

/// The seed PMB bulletin of the demo store.
const BULLETIN: &str = "oai:moisson.example.org:bulletin/44933";
const BULLETIN_TITLE: &str =
    "NTIC et travail social dans le secteur associatif : crise de sens ou outils de professionnalisation ?";

/// An identifier with every character an identifier may carry that HTML or URLs care about.
const HOSTILE_ID: &str = "oai:test:x&y'z(1);a=b+c%25d/é";
const HOSTILE_TITLE: &str = "<script>alert(\"pwned\")</script>";
const HOSTILE_CREATOR: &str = "\"><img src=x onerror=alert(1)>";

async fn demo_app(configure: impl FnOnce(&mut moisson::config::Settings)) -> TestApp {
    let store = Store::temporary().unwrap();
    moisson::demo::load(&store, "moisson.example.org").unwrap();
    spawn_app_with(store, configure).await
}

fn seed_hostile(app: &TestApp) {
    let line = serde_json::json!({
        "id": HOSTILE_ID,
        "datestamp": "2021-01-01T00:00:00Z",
        "sets": ["evil"],
        "dc": {
            "title": [HOSTILE_TITLE],
            "creator": [HOSTILE_CREATOR],
            "description": [{"value": "<b>bold</b> & \"quoted\"", "lang": "en"}],
            "identifier": ["javascript:alert(1)", "https://ok.example.org/?a=1&b=\"2\""],
        },
    })
    .to_string();
    app.seed(&[
        r#"{"setSpec":"evil","setName":"<i>Evil</i> & co"}"#,
        line.as_str(),
    ]);
}

/// `n` records in set `s:a` one minute apart, and one tombstone.
fn seed_numbered(app: &TestApp, n: usize) {
    let mut lines = vec![r#"{"setSpec":"s","setName":"Section"}"#.to_owned()];
    lines.push(r#"{"setSpec":"s:a","setName":"Section A"}"#.to_owned());
    lines.extend(numbered_records(n, &["s:a"]));
    lines.push(
        r#"{"id":"oai:test:gone","datestamp":"2019-01-01T00:00:00Z","sets":["s:a"],"deleted":true}"#
            .to_owned(),
    );
    app.seed(&lines.iter().map(String::as_str).collect::<Vec<_>>());
}

/// The path of a record's page, the identifier percent-encoded but for `:` and `/`.
fn record_path(id: &str) -> String {
    format!(
        "/records/{}",
        urlencode(id).replace("%3A", ":").replace("%2F", "/")
    )
}

#[tokio::test]
async fn every_page_states_its_content_type_and_cache_control_and_errors_get_their_status() {
    let app = spawn_app().await;
    seed_numbered(&app, 3);
    let cases = [
        ("/", 200, "text/html; charset=utf-8"),
        ("/sets", 200, "text/html; charset=utf-8"),
        ("/sets/s:a", 200, "text/html; charset=utf-8"),
        ("/records/oai:test:0001", 200, "text/html; charset=utf-8"),
        ("/records/oai:test:gone", 410, "text/html; charset=utf-8"),
        ("/sources", 200, "text/html; charset=utf-8"),
        ("/sitemap.xml", 200, "application/xml; charset=utf-8"),
        ("/sitemap-sets.xml", 200, "application/xml; charset=utf-8"),
        ("/robots.txt", 200, "text/plain; charset=utf-8"),
        ("/style.css", 200, "text/css; charset=utf-8"),
        ("/records/oai:test:nothing", 404, "text/html; charset=utf-8"),
        (
            "/records/not-an-identifier",
            404,
            "text/html; charset=utf-8",
        ),
        ("/sets/nowhere", 404, "text/html; charset=utf-8"),
        ("/sets/bad%20spec", 404, "text/html; charset=utf-8"),
        ("/sets/s:a?before=garbage", 400, "text/html; charset=utf-8"),
        ("/sets?after=%3C", 400, "text/html; charset=utf-8"),
        ("/sitemap-records.xml", 400, "text/plain; charset=utf-8"),
        ("/no/such/page", 404, "text/html; charset=utf-8"),
    ];
    for (path, status, content_type) in cases {
        let a = app.path(path).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert_eq!(a.header("content-type"), Some(content_type), "{path}");
        let cache = a.header("cache-control").unwrap_or_default();
        assert!(!cache.is_empty(), "{path} has no Cache-Control");
        if content_type.starts_with("text/html") {
            assert!(a.body.starts_with("<!DOCTYPE html>"), "{path}: {}", a.body);
            assert!(!a.body.contains("<script"), "{path}");
            assert!(
                a.header("content-security-policy")
                    .is_some_and(|c| c.contains("default-src 'none'")),
                "{path}"
            );
        }
    }
    assert_eq!(
        app.path("/sources").await.header("cache-control"),
        Some("no-cache")
    );
    // The protocol's own routes are untouched.
    assert_eq!(app.path("/health").await.status, 200);
    assert_eq!(app.path("/oai2.xsl").await.status, 200);
    app.oai("verb=Identify").await;
}

#[tokio::test]
async fn hostile_identifiers_values_and_names_come_out_escaped() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.repository.name = "<script>alert('repo')</script>".into();
    })
    .await;
    seed_hostile(&app);
    let record = app.path(&record_path(HOSTILE_ID)).await;
    assert_eq!(record.status, 200, "{}", record.body);
    for page in [
        record.body.clone(),
        app.path("/").await.body,
        app.path("/sets/evil").await.body,
    ] {
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("<i>Evil"), "{page}");
        assert!(!page.contains("href=\"javascript:"), "{page}");
        assert!(page.contains("&lt;script&gt;alert("), "{page}");
    }
    let body = &record.body;
    assert!(
        body.contains("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"),
        "{body}"
    );
    assert!(
        body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
        "{body}"
    );
    assert!(
        body.contains("&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"),
        "{body}"
    );
    assert!(
        body.contains("href=\"https://ok.example.org/?a=1&amp;b=&quot;2&quot;\""),
        "{body}"
    );
    assert!(
        body.contains("content=\"&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;\""),
        "{body}"
    );
    // The identifier is escaped in text and percent-encoded in links.
    assert!(
        body.contains("x&amp;<wbr>y'z(1);a=<wbr>b+c%25d/<wbr>é"),
        "{body}"
    );
    assert!(
        body.contains("identifier=oai%3Atest%3Ax%26y%27z%281%29%3Ba%3Db%2Bc%2525d%2F%C3%A9"),
        "{body}"
    );

    for path in [
        "/records/oai:x:%3Cscript%3Ealert(1)%3C/script%3E",
        "/records/%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "/sets/%3Cscript%3E",
        "/%3Cscript%3E",
    ] {
        let a = app.path(path).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(!a.body.contains("<script>alert"), "{path}: {}", a.body);
    }
    let a = app
        .path("/records/oai:x:%3Cscript%3Ealert(1)%3C/script%3E")
        .await;
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/"), "{}", a.body);

    // What a reader sees is the text itself, not its effect.
    let Some(chromium) = chromium() else { return };
    let dom = dump_dom(
        &chromium,
        &format!("{}{}", app.address, record_path(HOSTILE_ID)),
    )
    .await;
    let text = visible_text(&dom);
    assert!(text.contains(&format!("Title {HOSTILE_TITLE}")), "{text}");
    assert!(
        text.contains(&format!("Author {HOSTILE_CREATOR}")),
        "{text}"
    );
    assert!(text.contains(&format!("Identifier {HOSTILE_ID}")), "{text}");
    assert!(!dom.contains("<img"), "{dom}");
}

#[tokio::test]
async fn a_sets_records_are_paged_newest_first_by_keyset_to_the_end() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| s.web.page_size = 3).await;
    seed_numbered(&app, 7);
    let mut seen = Vec::new();
    let mut path = "/sets/s".to_owned();
    for _ in 0..10 {
        let page = app.path(&path).await;
        assert_eq!(page.status, 200, "{path}");
        let ids: Vec<String> = page
            .body
            .split("href=\"/records/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 3, "{path}: {ids:?}");
        seen.extend(ids);
        match page.body.split_once("Older records") {
            Some((before, _)) => {
                let href = before
                    .rsplit("href=\"")
                    .next()
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                path = href.replace("&amp;", "&");
            }
            None => break,
        }
    }
    let expected: Vec<String> = (0..7)
        .rev()
        .map(|i| format!("oai:test:{i:04}"))
        .chain(["oai:test:gone".to_owned()])
        .collect();
    assert_eq!(seen, expected);
    let home = app.path("/sets/s").await.body;
    assert!(home.contains("8 records"), "{home}");
    assert!(
        home.contains("Section A"),
        "the subset is listed by name: {home}"
    );
}

#[tokio::test]
async fn labels_follow_the_configured_language_else_accept_language() {
    let app = spawn_app().await;
    seed_numbered(&app, 1);
    let get = |lang: &'static str| {
        let client = app.client.clone();
        let url = format!("{}/", app.address);
        async move {
            let r = client
                .get(url)
                .header("Accept-Language", lang)
                .send()
                .await
                .unwrap();
            let language = r.headers()["content-language"].to_str().unwrap().to_owned();
            let vary = r
                .headers()
                .get("vary")
                .map(|v| v.to_str().unwrap().to_owned());
            (language, vary, r.text().await.unwrap())
        }
    };
    let (language, vary, body) = get("fr-FR,fr;q=0.9,en;q=0.5").await;
    assert_eq!(language, "fr");
    assert_eq!(vary.as_deref(), Some("Accept-Language"));
    assert!(
        body.contains("<html lang=\"fr\">") && body.contains("Dernières notices"),
        "{body}"
    );
    let (language, _, body) = get("de, en;q=0.8").await;
    assert_eq!(language, "en");
    assert!(body.contains("Latest records"), "{body}");

    let fixed = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.web.language = Some(moisson::config::Language::Fr);
    })
    .await;
    let r = fixed
        .client
        .get(format!("{}/sets", fixed.address))
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("vary").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Cet entrepôt n’a pas d’ensembles."));
}

/// The `<loc>`s of a sitemap or sitemap index, after checking its envelope.
fn locs(xml: &str, root: &str) -> Vec<String> {
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            "<{root} xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"
        )),
        "{xml}"
    );
    texts(xml, "loc")
}

#[tokio::test]
async fn the_sitemap_lists_every_live_record_page_within_its_limits_and_each_answers_200() {
    let app = spawn_app().await;
    seed_numbered(&app, 25);
    seed_hostile(&app);
    let index = app.path("/sitemap.xml").await;
    assert_eq!(index.status, 200);
    let files = locs(&index.body, "sitemapindex");
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0], format!("{}/sitemap-sets.xml", app.address));
    let mut records = Vec::new();
    for file in &files {
        let body = app
            .client
            .get(file)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.len() <= 50 * 1024 * 1024);
        let urls = locs(&body, "urlset");
        assert!(urls.len() <= 50_000);
        for url in &urls {
            assert!(url.starts_with(&format!("{}/", app.address)), "{url}");
            let r = app.client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200, "{url}");
        }
        if file.contains("records") {
            records.extend(urls);
        } else {
            assert!(
                urls.contains(&format!("{}/sets/s:a", app.address)),
                "{urls:?}"
            );
        }
    }
    assert_eq!(
        records.len(),
        26,
        "every record but the tombstone: {records:?}"
    );
    assert!(!records.iter().any(|u| u.contains("gone")));
    let robots = app.path("/robots.txt").await.body;
    assert!(
        robots.contains(&format!("Sitemap: {}/sitemap.xml", app.address)),
        "{robots}"
    );
    assert!(robots.contains("Disallow: /oai\n"), "{robots}");
}

#[tokio::test]
async fn a_sitemap_file_never_holds_more_than_fifty_thousand_urls() {
    let app = spawn_app().await;
    let n = 50_003;
    let lines: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"id":"oai:big:{i:06}","datestamp":"2020-01-01T00:00:00Z","dc":{{"title":["t"]}}}}"#))
        .collect();
    for chunk in lines.chunks(5000) {
        app.seed(&chunk.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let files = locs(&app.path("/sitemap.xml").await.body, "sitemapindex");
    assert_eq!(files.len(), 3, "{files:?}");
    let mut total = 0;
    for file in files.iter().skip(1) {
        let body = app
            .client
            .get(file)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let urls = body.matches("<loc>").count();
        assert!(urls <= 50_000, "{urls}");
        assert!(body.len() <= 50 * 1024 * 1024);
        total += urls;
    }
    assert_eq!(total, n);
}

fn source(name: &str, base_url: &str) -> SourceSettings {
    SourceSettings::new(name, base_url)
}

#[tokio::test]
async fn the_harvest_console_shows_the_last_run_its_history_and_the_last_error_with_its_url() {
    let upstream = spawn_app().await;
    seed_numbered(&upstream, 5);
    let store = Store::temporary().unwrap();
    let good = source("up", &upstream.base_url());
    let dead = source("dead", "http://127.0.0.1:9/oai");
    for s in [&good, &good, &dead] {
        harvester::harvest_source(
            &store,
            &fast_settings(),
            s,
            &RunOptions::default(),
            &NoProgress,
        )
        .await;
    }
    let (g, d) = (good.clone(), dead.clone());
    let app = spawn_app_with(store, move |s| {
        s.source = vec![g, d];
        s.web.harvest_interval_secs = Some(3600);
    })
    .await;
    let page = app.path("/sources").await;
    assert_eq!(page.status, 200);
    let Some(chromium) = chromium() else {
        assert!(page.body.contains("up") && page.body.contains("dead"));
        return;
    };
    let text = visible_text(&dump_dom(&chromium, &format!("{}/sources", app.address)).await);
    for expected in [
        "Harvest sources",
        &format!("up Base URL {}", upstream.base_url()),
        "Format oai_dc Sets the whole repository Status Idle",
        "Next scheduled run",
        "(every 1 h)",
        "Outcome ok",
        "New 0 Updated 0 Deleted 0 Rejected 0 Unchanged 0 Pages 1 Requests 2 Retries 0",
        "History",
        "ok 5 0 1 0 0 1 3 0",
        "dead Base URL http://127.0.0.1:9/oai",
        "Outcome failed",
        "Last error",
        "Request URL http://127.0.0.1:9/oai?verb=Identify",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the page:\n{text}"
        );
    }
    // A harvested record names where it came from.
    let dom = dump_dom(&chromium, &format!("{}/records/oai:test:0001", app.address)).await;
    let text = visible_text(&dom);
    assert!(
        text.contains(&format!(
            "Provenance Harvested from up {} Original identifier oai:test:0001 Harvested on",
            upstream.base_url()
        )),
        "{text}"
    );

    // `[web] sources = false` hides the console and its link.
    let hidden = spawn_app_with(Store::temporary().unwrap(), |s| s.web.sources = false).await;
    assert_eq!(hidden.path("/sources").await.status, 404);
    assert!(!hidden.path("/").await.body.contains("/sources"));
}

/// Where the rendering tests put what they make.
fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-pages");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The size of a PNG, from its IHDR chunk.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (word(16), word(20))
}

/// The page's text as laid out on paper (Chromium prints, pdftotext reads): the lines a reader
/// sees. `None`, after saying so, without pdftotext (Debian package poppler-utils).
async fn printed_lines(chromium: &Path, url: &str) -> Option<Vec<String>> {
    if std::process::Command::new("pdftotext")
        .arg("-v")
        .output()
        .is_err()
    {
        let message = "pdftotext not found: the printed-text check is SKIPPED (apt-get install poppler-utils)";
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("!!! {message}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("page.pdf");
    chromium_run(
        chromium,
        url,
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
        ],
    )
    .await;
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect(),
    )
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn the_seed_bulletin_reads_as_a_record_with_its_contents_line_by_line_and_its_sets_by_name() {
    let Some(chromium) = chromium() else { return };
    let app = demo_app(|_| {}).await;
    let url = format!("{}/records/{BULLETIN}", app.address);
    let dom = dump_dom(&chromium, &url).await;
    let text = visible_text(&dom);
    for expected in [
        &format!("Title fr {BULLETIN_TITLE}"),
        "Author Laetitia Della Torre",
        "Contributor Jérôme Valluy",
        "Source Masters Recueil Alexandries, < 79/93 >, juin 2017",
        &format!("Identifier {BULLETIN}"),
        "Sets Français document électronique Masters Recueil Alexandries",
        "Formats oai_dc",
        "Provenance Catalogued in this repository.",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the page:\n{text}"
        );
    }
    assert!(!text.contains("doctype:document-electronique"), "{text}");
    assert!(
        !text.contains("XSLT"),
        "no browser banner: the page uses no XSLT:\n{text}"
    );
    assert!(!dom.contains("xml-stylesheet"));
    for tag in [
        &format!("<meta name=\"citation_title\" content=\"{BULLETIN_TITLE}\">"),
        "<meta name=\"citation_author\" content=\"Laetitia Della Torre\">",
        "<meta name=\"citation_publication_date\" content=\"2017\">",
        "<meta name=\"citation_journal_title\" content=\"Masters Recueil Alexandries\">",
        "<meta name=\"citation_issue\" content=\"79/93\">",
        "<meta name=\"citation_fulltext_html_url\" content=\"http://www.reseau-terra.eu/article1402.html\">",
    ] {
        assert!(dom.contains(tag), "{tag} missing:\n{dom}");
    }
    let alternate = dom
        .split("<link rel=\"alternate\"")
        .nth(1)
        .and_then(|rest| rest.split("href=\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let get_record = app.oai(alternate.split_once('?').unwrap().1).await;
    assert_eq!(header_identifiers(&get_record), [BULLETIN]);

    // The table of contents: one line per entry on paper.
    if let Some(lines) = printed_lines(&chromium, &url).await {
        for entry in [
            "Table des matières :",
            "INTRODUCTION",
            "Revue de la littérature",
            "1) Une privatisation du secteur associatif",
            "CONCLUSION",
            "ANNEXES",
            "Annexe 1 : Bibliographie",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.ends_with(entry) && l.len() - entry.len() < 20),
                "\"{entry}\" is not a line of its own:\n{}",
                lines.join("\n")
            );
        }
    }

    // The screenshot the README shows.
    let png = output_dir().join("record-page.png");
    chromium_run(
        &chromium,
        &url,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1000,1800".into(),
            "--hide-scrollbars".into(),
        ],
    )
    .await;
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1000, 1800));
    assert!(
        bytes.len() > 20_000,
        "a blank screenshot is small: {} bytes",
        bytes.len()
    );
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn a_new_user_reaches_the_seed_bulletin_from_the_home_page_in_two_clicks() {
    let Some(chromium) = chromium() else { return };
    let app = demo_app(|_| {}).await;
    let home = format!("{}/", app.address);
    let dom = dump_dom(&chromium, &home).await;
    let text = visible_text(&dom);
    for expected in [
        "moisson OAI-PMH repository",
        "Records 11 Deleted 1 Sets 11",
        "How to harvest this repository",
        &app.base_url(),
        "Collections 7",
        "Masters Recueil Alexandries 1",
        "Latest records",
        "Atlas of coastal erosion & sediment transport <1990–2020>",
    ] {
        assert!(
            text.contains(expected),
            "\"{expected}\" is not on the home page:\n{text}"
        );
    }
    // Click 1: the periodical's set. Click 2: the bulletin.
    let set = resolve(&home, &link(&dom, "Masters Recueil Alexandries"));
    let dom = dump_dom(&chromium, &set).await;
    assert!(
        visible_text(&dom).contains("Records, newest first"),
        "{dom}"
    );
    let record = resolve(&set, &link(&dom, "NTIC et travail social"));
    assert_eq!(record, format!("{}/records/{BULLETIN}", app.address));
    let text = visible_text(&dump_dom(&chromium, &record).await);
    assert!(text.contains("Author Laetitia Della Torre"), "{text}");
}

#[tokio::test]
#[cfg_attr(
    chromium_missing,
    ignore = "Chromium is not installed: apt-get install chromium, or set CHROMIUM"
)]
async fn every_page_renders_in_a_browser_with_the_words_a_reader_expects() {
    let Some(chromium) = chromium() else { return };
    let app = demo_app(|s| s.web.language = Some(moisson::config::Language::Fr)).await;
    let base = &app.address;
    for (path, expected) in [
        (
            "/",
            vec![
                "Notices 11 Supprimées 1",
                "Moissonner cet entrepôt",
                "Dernières notices",
            ],
        ),
        (
            "/sets",
            vec!["Ensembles", "Collections 7", "Theses and dissertations 3"],
        ),
        (
            "/sets/collection",
            vec![
                "Collections",
                "Sous-ensembles",
                "Maps and plans 2",
                "Notices, les plus récentes d’abord",
            ],
        ),
        (
            "/sets/collection:theses",
            vec!["Fait partie de : Collections", "Theses and dissertations"],
        ),
        (
            "/records/oai:moisson.example.org:notice/1005",
            vec!["Notice supprimée", "Cette notice a été supprimée."],
        ),
        (
            "/records/oai:moisson.example.org:notice/1003",
            vec![
                "Titre Plan de la ville de Tours fr",
                "Map of the city of Tours en",
                "Couverture Tours (France) 1850-1860",
            ],
        ),
        (
            "/sources",
            vec![
                "Sources moissonnées",
                "Aucune source de moissonnage n’est configurée.",
            ],
        ),
        (
            "/records/oai:x:none",
            vec![
                "Page introuvable",
                "Aucune notice n’a cet identifiant : oai:x:none",
            ],
        ),
        ("/sets/collection?before=nope", vec!["Requête incorrecte"]),
    ] {
        let dom = dump_dom(&chromium, &format!("{base}{path}")).await;
        let text = visible_text(&dom);
        for e in expected {
            assert!(
                text.contains(e),
                "{path}: \"{e}\" is not on the page:\n{text}"
            );
        }
        assert!(!text.contains("XSLT"), "{path}: {text}");
        // The navigation is on every page.
        let nav: Vec<String> = links(&dom).into_iter().map(|(_, t)| t).collect();
        assert!(nav.iter().any(|t| t == "Ensembles"), "{path}: {nav:?}");
    }
    // Readable on a phone: the page is as wide as the screen, no wider.
    let png = output_dir().join("record-phone.png");
    chromium_run(
        &chromium,
        &format!("{base}/records/{BULLETIN}"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=390,844".into(),
        ],
    )
    .await;
    assert_eq!(png_size(&std::fs::read(&png).unwrap()), (390, 844));
    let dom = dump_dom(&chromium, &format!("{base}/")).await;
    assert!(
        dom.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
    );
}

#[tokio::test]
async fn pages_beyond_the_permits_get_503_with_retry_after_and_never_queue() {
    let app = spawn_app_with(Store::temporary().unwrap(), |s| {
        s.server.max_concurrent_lists = 1;
    })
    .await;
    let lines: Vec<String> = (0..20_000)
        .map(|i| format!(r#"{{"id":"oai:big:{i:06}","datestamp":"2020-01-01T00:00:00Z","dc":{{"title":["t"]}}}}"#))
        .collect();
    for chunk in lines.chunks(5000) {
        app.seed(&chunk.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let files = locs(&app.path("/sitemap.xml").await.body, "sitemapindex");
    // A client that asks for a sitemap file and does not read it holds the one permit.
    let slow = app.client.get(&files[1]).send().await.unwrap();
    assert_eq!(slow.status(), 200);
    let mut refused = None;
    for _ in 0..100 {
        let a = app.path("/").await;
        if a.status == 503 {
            refused = Some(a);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a page was made while the permit was held");
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    // Once the client goes, the permit comes back.
    drop(slow);
    let mut status = 0;
    for _ in 0..200 {
        status = app.path("/").await.status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
}
