//! Pages for people: the repository's home, its sets, each record (with Highwire Press
//! `citation_*` tags for Google Scholar), the harvest console, and a sitemap with `robots.txt`
//! for crawlers. Rendered on the server with maud, one small stylesheet of our own, no script,
//! in English or French.
//!
//! Routes: `/`, `/sets`, `/sets/{spec}`, `/records/{identifier}`, `/sources` (unless
//! `[web] sources = false`), `/sitemap.xml`, `/sitemap-sets.xml`, `/sitemap-records.xml`,
//! `/robots.txt`, `/style.css`, and an HTML 404 page for every other path.
//!
//! Like [`crate::http`], this module only moves bytes: it reads through the store's browse
//! functions ([`crate::store::browse`]) and public reads, renders, and answers. Every page is
//! bounded (a page of a list holds at most `[web] page_size` records), at most
//! `[server] max_concurrent_lists` pages and sitemaps are made at once (more get 503 with
//! `Retry-After`), every value is escaped by maud, and every answer states its `Content-Type`
//! and `Cache-Control`.

mod citation;
mod home;
mod i18n;
mod layout;
mod record;
mod sets;
mod sitemap;
mod sources;

use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Language, Settings};
use crate::protocol::{Datestamp, OaiIdentifier};
use crate::store::browse::ListPosition;
use crate::store::{Store, StoreError};
use i18n::Text;

/// The stylesheet of every page.
pub const STYLESHEET: &str = include_str!("style.css");

/// `Cache-Control` of pages that change when the store does.
const CACHE_PAGE: &str = "public, max-age=60";
/// `Cache-Control` of the harvest console, which changes while a harvest runs.
const CACHE_CONSOLE: &str = "no-cache";
/// `Cache-Control` of a failure that may be gone at the next request.
const CACHE_NONE: &str = "no-store";
/// `Content-Security-Policy` of every page: no script, no frame, styles from here only; a
/// second wall behind escaping.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Characters left as they are in a path segment besides letters and digits; `/` and `:` stay
/// readable in record paths (`/records/oai:x.org:bulletin/1`).
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// A harvest source as the console shows it: what the configuration says, without secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceInfo {
    /// The source's name.
    pub name: String,
    /// Its baseURL, without user name and password.
    pub base_url: String,
    /// The metadataPrefix harvested.
    pub metadata_prefix: String,
    /// The sets harvested; none means the whole repository.
    pub sets: Vec<String>,
}

/// Which part of the site a page belongs to (for the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// `/`
    Home,
    /// `/sets` and set pages.
    Sets,
    /// A record page.
    Record,
    /// `/sources`
    Sources,
    /// An error page.
    Error,
}

/// The URLs of the pages, relative to the site's root path, and of the OAI-PMH endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    root_url: String,
    root_path: String,
    oai: String,
}

fn query(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Links {
    /// Links for pages served at `root_url` (ending with `/`) and the endpoint `oai`.
    pub fn new(root_url: &str, oai: &str) -> Links {
        let after_scheme = root_url.find("://").map_or(0, |i| i + 3);
        let root_path = root_url[after_scheme..].find('/').map_or_else(
            || "/".to_owned(),
            |i| root_url[after_scheme + i..].to_owned(),
        );
        Links {
            root_url: root_url.to_owned(),
            root_path,
            oai: oai.to_owned(),
        }
    }
    /// `/`
    pub fn home(&self) -> String {
        self.root_path.clone()
    }
    /// `/sets`
    pub fn sets(&self) -> String {
        format!("{}sets", self.root_path)
    }
    /// `/sets?after=SPEC`
    pub fn sets_after(&self, spec: &str) -> String {
        format!("{}sets?after={}", self.root_path, query(spec))
    }
    /// `/sets/SPEC`
    pub fn set(&self, spec: &str) -> String {
        format!("{}sets/{}", self.root_path, utf8_percent_encode(spec, PATH))
    }
    /// `/sets/SPEC?before=POSITION`
    pub fn set_before(&self, spec: &str, before: &ListPosition) -> String {
        format!(
            "{}?before={}",
            self.set(spec),
            query(&format_position(before))
        )
    }
    /// `/records/IDENTIFIER`
    pub fn record(&self, identifier: &str) -> String {
        format!(
            "{}records/{}",
            self.root_path,
            utf8_percent_encode(identifier, PATH)
        )
    }
    /// `/sources`
    pub fn sources(&self) -> String {
        format!("{}sources", self.root_path)
    }
    /// `/style.css`
    pub fn style(&self) -> String {
        format!("{}style.css", self.root_path)
    }
    /// The absolute URL of a page given by its root-relative link.
    pub fn absolute(&self, link: &str) -> String {
        format!(
            "{}{}",
            self.root_url,
            link.strip_prefix(&self.root_path).unwrap_or(link)
        )
    }
    /// The absolute URL of a path relative to the site's root (`sitemap.xml`).
    pub fn url(&self, relative: &str) -> String {
        format!("{}{relative}", self.root_url)
    }
    /// The baseURL of the OAI-PMH endpoint.
    pub fn oai(&self) -> &str {
        &self.oai
    }
    /// The endpoint with these arguments.
    pub fn oai_request(&self, args: &[(&str, &str)]) -> String {
        let pairs = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(args)
            .finish();
        format!("{}?{pairs}", self.oai)
    }
    /// `?verb=Identify`
    pub fn identify(&self) -> String {
        self.oai_request(&[("verb", "Identify")])
    }
    /// `?verb=GetRecord&metadataPrefix=PREFIX&identifier=ID`
    pub fn get_record(&self, identifier: &str, prefix: &str) -> String {
        self.oai_request(&[
            ("verb", "GetRecord"),
            ("metadataPrefix", prefix),
            ("identifier", identifier),
        ])
    }
}

/// A list position in a URL: `SECONDS.IDENTIFIER`.
pub(crate) fn format_position(p: &ListPosition) -> String {
    format!("{}.{}", p.datestamp.unix(), p.identifier)
}

/// Parses [`format_position`]; `None` for anything else.
pub(crate) fn parse_position(s: &str) -> Option<ListPosition> {
    let (seconds, identifier) = s.split_once('.')?;
    let seconds: i64 = seconds.parse().ok()?;
    let identifier = OaiIdentifier::parse(identifier)?;
    Some(ListPosition {
        datestamp: Datestamp::from_unix(seconds),
        identifier: identifier.as_ref().to_owned(),
    })
}

/// Removes the user name and password from a URL shown on a public page.
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Everything the pages need, shared by every worker.
pub struct WebState {
    store: Store,
    name: String,
    description: Option<String>,
    admin_emails: Vec<String>,
    links: Links,
    language: Option<Language>,
    /// Every configured source (record pages name the one a record came from).
    configured_sources: Vec<SourceInfo>,
    /// Whether `/sources` is served.
    console: bool,
    harvest_interval_secs: Option<u64>,
    page_size: usize,
    sitemap: sitemap::IndexCache,
    /// Pages and sitemaps being made at once; beyond, 503 rather than a queue without bound.
    permits: Arc<Semaphore>,
    retry_after_secs: u64,
}

impl WebState {
    /// The pages of `store` as `settings` configure them.
    pub fn new(settings: &Settings, store: Store) -> WebState {
        let oai = settings.server.base_url();
        let configured_sources = settings
            .source
            .iter()
            .map(|s| SourceInfo {
                name: s.name.clone(),
                base_url: without_credentials(&s.base_url),
                metadata_prefix: s.metadata_prefix.clone(),
                sets: s.sets.clone(),
            })
            .collect();
        WebState {
            store,
            name: settings.repository.name.clone(),
            description: settings.web.description.clone(),
            admin_emails: settings.repository.admin_emails.clone(),
            links: Links::new(&settings.web.base_url(&oai), &oai),
            language: settings.web.language,
            configured_sources,
            console: settings.web.sources,
            harvest_interval_secs: settings.web.harvest_interval_secs,
            page_size: settings.web.page_size,
            sitemap: sitemap::IndexCache::default(),
            permits: Arc::new(Semaphore::new(settings.server.max_concurrent_lists)),
            retry_after_secs: settings.server.retry_after_secs,
        }
    }

    /// A permit to make a page, or `None` when `[server] max_concurrent_lists` are being made.
    fn permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// 503 with `Retry-After`: too many pages at once.
    fn overloaded(&self) -> HttpResponse {
        tracing::warn!(
            retry_after = self.retry_after_secs,
            "Overloaded: page refused with 503."
        );
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, CACHE_NONE))
            .insert_header((header::RETRY_AFTER, self.retry_after_secs.to_string()))
            .body(format!(
                "too many requests at once; retry in {} s\n",
                self.retry_after_secs
            ))
    }
}

/// What a page is rendered with: the shared state and the visitor's language.
pub(crate) struct Ctx<'a> {
    /// The shared state.
    pub state: &'a WebState,
    /// The labels of the page's language.
    pub t: &'static Text,
}

/// A rendered page and its status.
pub(crate) struct Html {
    status: StatusCode,
    markup: Markup,
}

impl Html {
    fn ok(markup: Markup) -> Html {
        Html {
            status: StatusCode::OK,
            markup,
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebError {
    /// No record has this identifier.
    #[error("no record {0}")]
    NoRecord(String),
    /// No set has this setSpec.
    #[error("no set {0}")]
    NoSet(String),
    /// No page at this path.
    #[error("no page here")]
    NoPage,
    /// A `before` or `after` argument that is not one of ours.
    #[error("bad list position")]
    BadPosition,
    /// The store failed.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NoRecord(_) | WebError::NoSet(_) | WebError::NoPage => StatusCode::NOT_FOUND,
            WebError::BadPosition => StatusCode::BAD_REQUEST,
            WebError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error page.
    fn page(&self, ctx: &Ctx<'_>) -> Markup {
        let t = ctx.t;
        let (title, text, what) = match self {
            WebError::NoRecord(id) => (t.not_found, t.no_such_record, Some(id.as_str())),
            WebError::NoSet(spec) => (t.not_found, t.no_such_set, Some(spec.as_str())),
            WebError::NoPage => (t.not_found, t.no_such_page, None),
            WebError::BadPosition => (t.bad_request, t.bad_position, None),
            WebError::Store(_) => (t.internal_error, t.internal_error_detail, None),
        };
        let body = html! {
            h1 { (title) }
            div.box.error {
                p { (text) }
                @if let Some(what) = what { p.id { (layout::breakable(what)) } }
            }
            p { a href=(ctx.state.links.home()) { (t.back_home) } }
        };
        layout::page(ctx, Section::Error, title, &html! {}, &body)
    }
}

fn language(req: &HttpRequest, state: &WebState) -> Language {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    i18n::choose(state.language, accept)
}

/// Renders a page on a blocking thread (store reads are synchronous) and answers it with its
/// headers; an error becomes its error page, a storage failure is logged here, once.
async fn respond<F>(
    req: &HttpRequest,
    state: web::Data<WebState>,
    cache: &'static str,
    build: F,
) -> HttpResponse
where
    F: FnOnce(&Ctx<'_>) -> Result<Html, WebError> + Send + 'static,
{
    let Some(permit) = state.permit() else {
        return state.overloaded();
    };
    let lang = language(req, &state);
    let negotiated = state.language.is_none();
    let state = state.into_inner();
    let rendered = web::block(move || {
        let _permit = permit;
        let ctx = Ctx {
            state: &state,
            t: Text::of(lang),
        };
        let (status, mut body, cache) = match build(&ctx) {
            Ok(html) => (html.status, html.markup.into_string(), cache),
            Err(e) => {
                if let WebError::Store(store) = &e {
                    tracing::error!(error.cause_chain = ?store, error.message = %store, "Page failed.");
                }
                let cache = if e.status().is_server_error() {
                    CACHE_NONE
                } else {
                    CACHE_PAGE
                };
                (e.status(), e.page(&ctx).into_string(), cache)
            }
        };
        strip_controls(&mut body);
        (status, body, cache)
    })
    .await;
    let (status, body, cache) = rendered.unwrap_or_else(|e| {
        tracing::error!(error.message = %e, "Page rendering thread failed.");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error\n".to_owned(),
            CACHE_NONE,
        )
    });
    let mut response = HttpResponse::build(status);
    response
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_LANGUAGE, Text::of(lang).code))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if negotiated {
        response.insert_header((header::VARY, HeaderValue::from_static("Accept-Language")));
    }
    response.body(body)
}

/// Removes what no page may carry whatever came in (an identifier typed in the address bar,
/// a set name): C0 and C1 controls but tab and line breaks, and non-characters.
fn strip_controls(body: &mut String) {
    let keep = |c: char| crate::dc::is_xml_char(c) && !('\u{80}'..='\u{9f}').contains(&c);
    if !body.chars().all(keep) {
        body.retain(keep);
    }
}

/// The value of one query argument, decoded.
fn argument(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A list position argument: absent, or one of ours.
fn position_argument(req: &HttpRequest, name: &str) -> Result<Option<ListPosition>, WebError> {
    argument(req, name)
        .map(|v| parse_position(&v).ok_or(WebError::BadPosition))
        .transpose()
}

/// The rest of the path after `prefix`, percent-decoded; `None` when it is not UTF-8.
fn path_tail(req: &HttpRequest, prefix: &str) -> Option<String> {
    let tail = req.uri().path().strip_prefix(prefix)?;
    percent_encoding::percent_decode_str(tail)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

async fn home_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    respond(&req, state, CACHE_PAGE, home::page).await
}

async fn sets_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let after = argument(&req, "after");
    respond(&req, state, CACHE_PAGE, move |ctx| {
        sets::list(ctx, after.as_deref())
    })
    .await
}

async fn set_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let spec = path_tail(&req, "/sets/").unwrap_or_default();
    let before = position_argument(&req, "before");
    respond(&req, state, CACHE_PAGE, move |ctx| {
        sets::one(ctx, &spec, before?.as_ref())
    })
    .await
}

async fn record_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let identifier = path_tail(&req, "/records/").unwrap_or_default();
    respond(&req, state, CACHE_PAGE, move |ctx| {
        record::page(ctx, &identifier)
    })
    .await
}

async fn sources_page(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    if !state.console {
        return not_found(req, state).await;
    }
    respond(&req, state, CACHE_CONSOLE, sources::page).await
}

async fn not_found(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    respond(&req, state, CACHE_PAGE, |_| Err(WebError::NoPage)).await
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=604800"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STYLESHEET)
}

/// A resource answering GET and HEAD with `handler` (other methods get 405).
fn page<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
        .default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, CACHE_PAGE))
        .insert_header((header::ALLOW, "GET, HEAD"))
        .body("only GET and HEAD are answered here\n")
}

/// Registers the pages, with `state` as their shared data.
pub fn configure(state: Arc<WebState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(state))
            .service(page("/", home_page))
            .service(page("/sets", sets_page))
            .service(page("/sets/{spec}", set_page))
            .service(page("/records/{identifier:.+}", record_page))
            .service(page("/sources", sources_page))
            .service(page("/sitemap.xml", sitemap::index))
            .service(page("/sitemap-sets.xml", sitemap::sets_file))
            .service(page("/sitemap-records.xml", sitemap::records_file))
            .service(page("/robots.txt", sitemap::robots))
            .service(page("/style.css", stylesheet))
            .default_service(web::to(not_found));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_url_form() {
        let p = ListPosition {
            datestamp: Datestamp::from_unix(-5),
            identifier: "oai:x:a.b&c".into(),
        };
        assert_eq!(parse_position(&format_position(&p)), Some(p));
        for bad in ["", "12", "x.oai:x:1", "12.not an id", "12.<script>"] {
            assert_eq!(parse_position(bad), None, "{bad}");
        }
    }

    #[test]
    fn links_keep_a_path_prefix_and_encode_what_must_be() {
        let links = Links::new("https://x.org/moisson/", "https://x.org/moisson/oai");
        assert_eq!(links.home(), "/moisson/");
        assert_eq!(
            links.record("oai:x:bulletin/1?a#b%20 é"),
            "/moisson/records/oai:x:bulletin/1%3Fa%23b%2520%20%C3%A9"
        );
        assert_eq!(
            links.absolute(&links.set("a:b")),
            "https://x.org/moisson/sets/a:b"
        );
        assert_eq!(
            links.get_record("oai:x:1&2", "oai_dc"),
            "https://x.org/moisson/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai%3Ax%3A1%262"
        );
        assert_eq!(Links::new("http://h:1/", "http://h:1/oai").home(), "/");
    }

    #[test]
    fn controls_and_non_characters_never_reach_a_page() {
        let mut body = "a\u{1}b\u{85}c\u{fffe}d\te\nf é".to_owned();
        strip_controls(&mut body);
        assert_eq!(body, "abcd\te\nf é");
    }

    #[test]
    fn credentials_never_reach_a_page() {
        assert_eq!(
            without_credentials("https://user:secret@up.example.org/oai"),
            "https://up.example.org/oai"
        );
        assert_eq!(
            without_credentials("https://up.example.org/oai"),
            "https://up.example.org/oai"
        );
    }
}
