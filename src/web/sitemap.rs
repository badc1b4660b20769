//! `/sitemap.xml`, `/sitemap-sets.xml`, `/sitemap-records.xml` and `/robots.txt`: how crawlers
//! find every record page (sitemaps.org protocol 0.9).
//!
//! The index lists one file of set pages and files of at most [`URLS_PER_FILE`] record pages.
//! A records file is addressed by the first and the next file's first index position
//! (`?from=…&until=…`), so a file answers the same whether or not the index was cut again
//! since it was listed, and never holds more than its limit. Cutting the index reads every
//! key of the datestamp index once (about half a second per million records); the cut is kept
//! and made again only when the store changed, at most once a minute. Files are streamed.

use std::sync::{Mutex, PoisonError, RwLock, TryLockError};
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use quick_xml::events::BytesText;
use quick_xml::Writer;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use super::{format_position, position_argument, WebState};
use crate::protocol::Datestamp;
use crate::store::browse::ListPosition;
use crate::store::StoreError;

/// Most URLs in one sitemap file (the protocol's limit).
pub const URLS_PER_FILE: usize = 50_000;
/// URLs written before a chunk is sent.
const CHUNK: usize = 500;
/// The shortest time between two cuts of the index.
const RECUT_AT_MOST_EVERY: Duration = Duration::from_secs(60);
const NAMESPACE: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";
const CACHE_SITEMAP: &str = "public, max-age=3600";

type Fingerprint = (u64, Option<ListPosition>);

/// A cut of the index: the first position of each records file, and what the store looked
/// like when it was made.
#[derive(Clone)]
struct Cut {
    fingerprint: Fingerprint,
    starts: Vec<ListPosition>,
    at: Instant,
}

/// The last cut of the index, and the right to make the next one.
#[derive(Default)]
pub struct IndexCache {
    last: RwLock<Option<Cut>>,
    cutting: Mutex<()>,
}

impl IndexCache {
    /// The first position of every records file. The index is cut again when the store
    /// changed since the last cut and that cut is older than [`RECUT_AT_MOST_EVERY`]; while one
    /// request cuts, the others answer with the last cut (only the first cut is waited for).
    fn starts(&self, state: &WebState) -> Result<Vec<ListPosition>, StoreError> {
        let fingerprint = state.store.sitemap_fingerprint()?;
        let last = self
            .last
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(cut) = &last {
            if cut.fingerprint == fingerprint || cut.at.elapsed() < RECUT_AT_MOST_EVERY {
                return Ok(cut.starts.clone());
            }
        }
        let attempt = match self.cutting.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let _cutting = match (attempt, &last) {
            (Some(guard), _) => guard,
            (None, Some(cut)) => return Ok(cut.starts.clone()),
            (None, None) => {
                let guard = self.cutting.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(cut) = self
                    .last
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                {
                    return Ok(cut.starts.clone());
                }
                guard
            }
        };
        let starts = state.store.sitemap_starts(URLS_PER_FILE)?;
        *self.last.write().unwrap_or_else(PoisonError::into_inner) = Some(Cut {
            fingerprint,
            starts: starts.clone(),
            at: Instant::now(),
        });
        Ok(starts)
    }
}

type Chunk = Result<Bytes, std::io::Error>;

/// XML written in chunks to a response body from a blocking thread.
struct XmlStream {
    writer: Writer<Vec<u8>>,
    tx: mpsc::Sender<Chunk>,
}

impl XmlStream {
    /// Sends what was written; false when the client has gone.
    fn send(&mut self) -> bool {
        let bytes = std::mem::take(self.writer.get_mut());
        bytes.is_empty() || self.tx.blocking_send(Ok(Bytes::from(bytes))).is_ok()
    }

    fn element(&mut self, name: &str, children: &[(&str, &str)]) {
        let written = self.writer.create_element(name).write_inner_content(|w| {
            for (child, text) in children {
                w.create_element(*child)
                    .write_text_content(BytesText::new(text))?;
            }
            Ok(())
        });
        debug_assert!(written.is_ok(), "Writing to memory cannot fail.");
    }
}

/// Answers XML produced by `produce` on a blocking thread, streamed in chunks. A storage
/// failure after the first bytes aborts the response (logged), so that no client takes a
/// truncated file for a whole one.
fn stream<F>(state: &WebState, root: &'static str, produce: F) -> HttpResponse
where
    F: FnOnce(&mut XmlStream) -> Result<(), StoreError> + Send + 'static,
{
    let Some(permit) = state.permit() else {
        return state.overloaded();
    };
    stream_with(permit, root, produce)
}

/// [`stream`] under a permit already taken.
fn stream_with<F>(permit: OwnedSemaphorePermit, root: &'static str, produce: F) -> HttpResponse
where
    F: FnOnce(&mut XmlStream) -> Result<(), StoreError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    actix_web::rt::task::spawn_blocking(move || {
        let _permit = permit;
        let mut out = XmlStream {
            writer: Writer::new(Vec::with_capacity(64 * 1024)),
            tx,
        };
        out.writer
            .get_mut()
            .extend_from_slice(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.writer
            .get_mut()
            .extend_from_slice(format!("<{root} xmlns=\"{NAMESPACE}\">\n").as_bytes());
        match produce(&mut out) {
            Ok(()) => {
                out.writer
                    .get_mut()
                    .extend_from_slice(format!("\n</{root}>\n").as_bytes());
                out.send();
            }
            Err(error) => {
                tracing::error!(error.cause_chain = ?error, error.message = %error, "Sitemap failed.");
                let _ = out.tx.blocking_send(Err(std::io::Error::other(error)));
            }
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, CACHE_SITEMAP))
        .streaming(body)
}

fn plain(status: actix_web::http::StatusCode, cache: &'static str, text: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, cache))
        .body(text)
}

/// `/sitemap.xml`: the index.
pub async fn index(state: web::Data<WebState>) -> HttpResponse {
    let state = state.into_inner();
    let Some(permit) = state.permit() else {
        return state.overloaded();
    };
    // The one permit covers finding the files' starts and streaming the index.
    let starts = {
        let state = state.clone();
        web::block(move || (state.sitemap.starts(&state), permit)).await
    };
    let (starts, permit) = match starts {
        Ok((Ok(starts), permit)) => (starts, permit),
        Ok((Err(error), _)) => {
            tracing::error!(error.cause_chain = ?error, error.message = %error, "Sitemap index failed.");
            return plain(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "no-store",
                "internal server error\n".into(),
            );
        }
        Err(error) => {
            tracing::error!(error.message = %error, "Sitemap thread failed.");
            return plain(
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR,
                "no-store",
                "internal server error\n".into(),
            );
        }
    };
    stream_with(permit, "sitemapindex", move |out| {
        let links = &state.links;
        out.element("sitemap", &[("loc", &links.url("sitemap-sets.xml"))]);
        for (i, start) in starts.iter().enumerate() {
            let mut loc = format!(
                "{}?from={}",
                links.url("sitemap-records.xml"),
                super::query(&format_position(start))
            );
            if let Some(next) = starts.get(i + 1) {
                loc.push_str("&until=");
                loc.push_str(&super::query(&format_position(next)));
            }
            out.element("sitemap", &[("loc", &loc)]);
        }
        out.send();
        Ok(())
    })
}

/// `/sitemap-sets.xml`: the home page, `/sets` and every set's page.
pub async fn sets_file(state: web::Data<WebState>) -> HttpResponse {
    let state = state.into_inner();
    stream(&state.clone(), "urlset", move |out| {
        let links = &state.links;
        out.element("url", &[("loc", &links.absolute(&links.home()))]);
        out.element("url", &[("loc", &links.absolute(&links.sets()))]);
        for (n, set) in state.store.iter_sets().take(URLS_PER_FILE - 2).enumerate() {
            let set = set?;
            out.element(
                "url",
                &[("loc", &links.absolute(&links.set(set.spec.as_ref())))],
            );
            if n.is_multiple_of(CHUNK) && !out.send() {
                return Ok(());
            }
        }
        out.send();
        Ok(())
    })
}

/// `/sitemap-records.xml?from=POSITION[&until=POSITION]`: the record pages of one file.
pub async fn records_file(req: HttpRequest, state: web::Data<WebState>) -> HttpResponse {
    let bad = || {
        plain(
            actix_web::http::StatusCode::BAD_REQUEST,
            "public, max-age=60",
            "from (and until) must be positions listed in /sitemap.xml\n".into(),
        )
    };
    let (Ok(Some(from)), Ok(until)) = (
        position_argument(&req, "from"),
        position_argument(&req, "until"),
    ) else {
        return bad();
    };
    let state = state.into_inner();
    stream(&state.clone(), "urlset", move |out| {
        let links = state.links.clone();
        let mut n = 0usize;
        state.store.sitemap_entries(
            &from,
            until.as_ref(),
            URLS_PER_FILE,
            &mut |id, d: Datestamp| {
                let loc = links.absolute(&links.record(id));
                out.element("url", &[("loc", &loc), ("lastmod", &d.to_string())]);
                n += 1;
                // Stop reading the store once the client has gone.
                !n.is_multiple_of(CHUNK) || out.send()
            },
        )?;
        out.send();
        Ok(())
    })
}

/// `/robots.txt`: everything but the endpoint and the admin API, and where the sitemap is.
pub async fn robots(state: web::Data<WebState>) -> HttpResponse {
    let links = &state.links;
    let oai_path =
        url::Url::parse(links.oai()).map_or_else(|_| "/oai".to_owned(), |u| u.path().to_owned());
    plain(
        actix_web::http::StatusCode::OK,
        "public, max-age=86400",
        format!(
            "User-agent: *\nDisallow: {oai_path}\nDisallow: {}admin/\nAllow: /\n\nSitemap: {}\n",
            links.home(),
            links.url("sitemap.xml"),
        ),
    )
}
