//! The admin API, through which `moisson harvest` and `moisson import dc` hand their work to
//! the running server that holds the store (sled lets one process open it):
//!
//! - `POST /admin/harvest` with a JSON [`HarvestSpec`] runs the harvest in the server, against
//!   the server's own `[[source]]` configuration, and answers the JSON [`RunReport`];
//! - `POST /admin/import/dc?name=FILE` with JSON Lines streams an import and answers an
//!   [`ImportReport`];
//! - `GET /admin/harvest/runs` lists the last run of each source and the state of each list.
//!
//! The routes are off (404) unless an admin token is configured (`[admin] token` or
//! `MOISSON_ADMIN_TOKEN`), answer only loopback clients unless `[admin] allow_remote`, and
//! compare the bearer token in constant time.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::Settings;
use crate::harvester::config::{HarvestSettings, SourceSettings};
use crate::harvester::{self, HarvestSpec, NoProgress, RunReport};
use crate::importer::jsonl::{parse_line, Item};
use crate::importer::{ImportError, ImportSummary};
use crate::store::harvest_state::{ListKey, ListState, SourceRun};
use crate::store::{RecordInput, Store, StoreError};

/// Records written per transaction by an admin import.
const IMPORT_BATCH: usize = 1000;

/// What the admin API needs from the configuration, read once at startup.
#[derive(Clone)]
pub struct AdminState {
    token_digest: Option<[u8; 32]>,
    allow_remote: bool,
    harvest: HarvestSettings,
    sources: Vec<SourceSettings>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("enabled", &self.token_digest.is_some())
            .field("allow_remote", &self.allow_remote)
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// The admin configuration of `settings` (the token from the environment wins).
    pub fn from_settings(settings: &Settings) -> AdminState {
        AdminState {
            token_digest: settings
                .admin
                .resolved_token()
                .map(|t| Sha256::digest(t.as_bytes()).into()),
            allow_remote: settings.admin.allow_remote,
            harvest: settings.harvest.clone(),
            sources: settings.source.clone(),
        }
    }

    /// True when the admin routes answer.
    pub fn enabled(&self) -> bool {
        self.token_digest.is_some()
    }
}

/// The answer of `POST /admin/import/dc`: the counts of a local import, and its messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// The same counts as a local import.
    #[serde(flatten)]
    pub summary: ImportSummary,
    /// One message per refused line, `FILE:LINE: why`.
    pub messages: Vec<String>,
}

/// The answer of `GET /admin/harvest/runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HarvestStatus {
    /// The last run of each source, by name.
    pub runs: Vec<(String, SourceRun)>,
    /// The state of each harvested list.
    pub lists: Vec<(ListKey, ListState)>,
}

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No admin token is configured: the routes do not exist.
    #[error("not found")]
    Off,
    /// The client is not on this host and remote admin is not allowed.
    #[error("the admin API only answers this host")]
    Remote,
    /// The bearer token is missing or wrong.
    #[error("a valid admin token is required")]
    Unauthorized,
    /// The request names unknown sources or has bad flags.
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The upload broke off or a task died.
    #[error("{0}")]
    Internal(String),
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            AdminError::Off => StatusCode::NOT_FOUND,
            AdminError::Remote => StatusCode::FORBIDDEN,
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AdminError::Store(_) | AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, AdminError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if matches!(self, AdminError::Store(_) | AdminError::Internal(_)) {
            tracing::error!(error.cause_chain = ?self, error.message = %self, "Admin request failed.");
        }
        response
            .content_type(ContentType::json())
            .body(serde_json::json!({ "error": self.to_string() }).to_string())
    }
}

/// Compares two digests in constant time.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorize(req: &HttpRequest, admin: &AdminState) -> Result<(), AdminError> {
    let Some(expected) = &admin.token_digest else {
        return Err(AdminError::Off);
    };
    if !admin.allow_remote {
        let local = req
            .peer_addr()
            .is_some_and(|a| a.ip().to_canonical().is_loopback());
        if !local {
            return Err(AdminError::Remote);
        }
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    // Hashing first makes the comparison independent of the token's length.
    let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
    if given.is_empty() || !same_digest(&digest, expected) {
        return Err(AdminError::Unauthorized);
    }
    Ok(())
}

/// Registers the admin routes (they answer 404 unless an admin token is configured).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .route("/harvest", web::post().to(harvest))
            .route("/harvest/runs", web::get().to(runs))
            .route("/import/dc", web::post().to(import_dc)),
    );
}

/// `POST /admin/harvest`: runs a harvest in this server and answers its report.
#[tracing::instrument(skip_all, err(Display))]
pub async fn harvest(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AdminError> {
    let admin = &state.admin;
    // Authorise before reading anything, so that a disabled API is indistinguishable from none.
    authorize(&req, admin)?;
    let spec: HarvestSpec = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("not a harvest request: {e}")))?;
    harvester::config::validate(&admin.harvest, &admin.sources)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let plan = spec
        .plan(&admin.sources)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    tracing::info!(sources = plan.sources.len(), "Admin harvest started.");
    let report: RunReport = harvester::run(&state.store, &admin.harvest, &plan, &NoProgress).await;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(serde_json::to_string(&report).map_err(|e| AdminError::Internal(e.to_string()))?))
}

/// `GET /admin/harvest/runs`: the last run of every source and the state of every list.
pub async fn runs(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state.admin)?;
    let store = state.store.clone();
    let status = web::block(move || -> Result<HarvestStatus, StoreError> {
        Ok(HarvestStatus {
            runs: store.source_runs()?,
            lists: store.list_states()?,
        })
    })
    .await
    .map_err(|e| AdminError::Internal(e.to_string()))??;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(serde_json::to_string(&status).map_err(|e| AdminError::Internal(e.to_string()))?))
}

/// The query of `POST /admin/import/dc`.
#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    /// The file name the client read, for messages.
    name: Option<String>,
}

struct Importer {
    store: Store,
    name: String,
    line: usize,
    batch: Vec<RecordInput>,
    /// The line each record of `batch` is on.
    batch_lines: Vec<usize>,
    summary: ImportSummary,
    messages: Vec<String>,
}

impl Importer {
    fn line(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.line += 1;
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.reject("not UTF-8 text".into());
            return Ok(());
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Ok(());
        }
        match parse_line(text) {
            Ok(Item::Record(r)) => {
                self.batch.push(r);
                self.batch_lines.push(self.line);
            }
            Ok(Item::Set(s)) => {
                self.store
                    .define_set(&s.spec, &s.name, s.description.as_ref())?;
                self.summary.sets += 1;
            }
            Err(message) => self.reject(message),
        }
        Ok(())
    }

    fn reject(&mut self, message: String) {
        self.summary.rejected += 1;
        self.message(self.line, message);
    }

    fn message(&mut self, line: usize, message: String) {
        self.messages.push(
            ImportError::Parse {
                path: self.name.clone().into(),
                line,
                message,
            }
            .to_string(),
        );
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if !self.batch.is_empty() {
            let outcome = self.store.put_batch(std::mem::take(&mut self.batch))?;
            let lines = std::mem::take(&mut self.batch_lines);
            for refusal in &outcome.refusals {
                let line = lines.get(refusal.index).copied().unwrap_or(0);
                self.message(line, refusal.to_string());
            }
            self.summary.record(&outcome);
        }
        Ok(())
    }

    /// Handles every complete line of `buf` (blocking), leaving an unfinished one in it.
    fn lines(mut self, mut buf: Vec<u8>, last: bool) -> Result<(Self, Vec<u8>), StoreError> {
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            self.line(&buf[start..start + pos])?;
            start += pos + 1;
            if self.batch.len() >= IMPORT_BATCH {
                self.flush()?;
            }
        }
        buf.drain(..start);
        if last {
            if !buf.is_empty() {
                let rest = std::mem::take(&mut buf);
                self.line(&rest)?;
            }
            self.flush()?;
            self.store.flush()?;
        }
        Ok((self, buf))
    }
}

/// `POST /admin/import/dc`: imports JSON Lines streamed in the body.
#[tracing::instrument(skip_all, err(Display))]
pub async fn import_dc(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ImportQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state.admin)?;
    let mut importer = Importer {
        store: state.store.clone(),
        name: query.into_inner().name.unwrap_or_else(|| "-".into()),
        line: 0,
        batch: Vec::with_capacity(IMPORT_BATCH),
        batch_lines: Vec::with_capacity(IMPORT_BATCH),
        summary: ImportSummary::default(),
        messages: Vec::new(),
    };
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = body.next().await;
        let last = chunk.is_none();
        if let Some(chunk) = chunk {
            buf.extend_from_slice(
                &chunk.map_err(|e| AdminError::Internal(format!("the upload broke off: {e}")))?,
            );
            if buf.len() < 1 << 20 {
                continue;
            }
        }
        let (back, rest) = web::block(move || importer.lines(buf, last))
            .await
            .map_err(|e| AdminError::Internal(e.to_string()))??;
        importer = back;
        buf = rest;
        if last {
            break;
        }
    }
    tracing::info!(name = %importer.name, summary = %importer.summary, "Admin import finished.");
    let report = ImportReport {
        summary: importer.summary,
        messages: importer.messages,
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(serde_json::to_string(&report).map_err(|e| AdminError::Internal(e.to_string()))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_compare_equal_only_when_equal() {
        let a: [u8; 32] = Sha256::digest(b"a").into();
        let b: [u8; 32] = Sha256::digest(b"b").into();
        assert!(same_digest(&a, &a));
        assert!(!same_digest(&a, &b));
    }

    #[test]
    fn without_a_token_the_admin_api_is_off() {
        let settings = Settings::default();
        if std::env::var(crate::harvester::config::ADMIN_TOKEN_ENV).is_err() {
            assert!(!AdminState::from_settings(&settings).enabled());
        }
    }
}
