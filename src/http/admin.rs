//! The admin API, through which `moisson harvest` and `moisson import dc` hand their work to
//! the running server that holds the store (sled lets one process open it):
//!
//! - `POST /admin/harvest` with a JSON [`HarvestSpec`] runs the harvest in the server, against
//!   the server's own `[[source]]` configuration, and answers the JSON [`RunReport`];
//! - `POST /admin/import/dc?name=FILE` with JSON Lines streams an import and answers an
//!   [`ImportReport`]; given datestamps are not kept (the store is served: a changed record is
//!   stamped when it becomes visible), and `keep_datestamps=true` is refused;
//! - `POST /admin/import/pmb?name=FILE&dry_run=BOOL` with one PMB display file (at most
//!   [`MAX_PMB_UPLOAD`] bytes: a display is parsed whole) answers an [`ImportReport`];
//! - `POST /admin/import/unimarc?name=FILE&dry_run=BOOL&opac_url=URL&keyword_separator=SEP`
//!   with one PMB UNIMARC export (XML or ISO 2709, at most [`MAX_PMB_UPLOAD`] bytes: read
//!   whole, as ISO 2709 has no line to cut it at) answers an [`ImportReport`];
//! - `GET /admin/harvest/runs` lists the last run of each source and the state of each list.
//!
//! Unless an admin token is configured (`[admin] token` or `MOISSON_ADMIN_TOKEN`) the routes do
//! not exist (404, and no body is read). They answer only loopback clients unless
//! `[admin] allow_remote`, compare the bearer token in constant time, and check it before they
//! read a byte of the body. Imports and harvests run off the async workers: the store's locks,
//! fsyncs and flushes block.

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
use crate::importer::jsonl::{
    sniff, DcLoader, DcOptions, LineSplitter, Sniff, MAX_KEPT_MESSAGES, MAX_LINE_BYTES,
};
use crate::importer::pmb::load::PmbOptions;
use crate::importer::unimarc::load::UnimarcOptions;
use crate::importer::unimarc::CrosswalkOptions;
use crate::importer::{FileFormat, ImportSummary};
use crate::store::harvest_state::{ListKey, ListState, SourceRun};
use crate::store::StoreError;

/// Records written per transaction by an admin import.
const IMPORT_BATCH: usize = 1000;
/// Largest harvest request body.
const MAX_HARVEST_REQUEST: usize = 64 * 1024;
/// Largest PMB display file accepted in one request (it is parsed whole).
pub const MAX_PMB_UPLOAD: usize = 256 << 20;

/// What the admin API needs from the configuration, read once at startup.
#[derive(Clone)]
pub struct AdminState {
    token_digest: Option<[u8; 32]>,
    allow_remote: bool,
    harvest: HarvestSettings,
    sources: Vec<SourceSettings>,
    repository_identifier: String,
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
            repository_identifier: settings.repository.repository_identifier.clone(),
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

/// Registers the admin routes. Without an admin token they do not match at all, so a request
/// gets the server's plain 404 and its body is never read.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .guard(actix_web::guard::fn_guard(|ctx| {
                ctx.app_data::<web::Data<AppState>>()
                    .is_some_and(|state| state.admin.enabled())
            }))
            .route("/harvest", web::post().to(harvest))
            .route("/harvest/runs", web::get().to(runs))
            .route("/import/dc", web::post().to(import_dc))
            .route("/import/pmb", web::post().to(import_pmb))
            .route("/import/unimarc", web::post().to(import_unimarc)),
    );
}

/// Reads a body of at most `limit` bytes (after authorisation: never before). A body whose
/// announced length is over the limit is refused before any of it is read.
async fn read_body(
    req: &HttpRequest,
    body: &mut web::Payload,
    limit: usize,
) -> Result<Vec<u8>, AdminError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(AdminError::BadRequest(format!(
            "the request body is larger than {limit} bytes"
        )));
    }
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| AdminError::Internal(format!("the upload broke off: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(AdminError::BadRequest(format!(
                "the request body is larger than {limit} bytes"
            )));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn json_response<T: Serialize>(value: &T) -> Result<HttpResponse, AdminError> {
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(serde_json::to_string(value).map_err(|e| AdminError::Internal(e.to_string()))?))
}

/// `POST /admin/harvest`: runs a harvest in this server and answers its report.
#[tracing::instrument(skip_all, err(Display))]
pub async fn harvest(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    let admin = &state.admin;
    authorize(&req, admin)?;
    let body = read_body(&req, &mut body, MAX_HARVEST_REQUEST).await?;
    let spec: HarvestSpec = serde_json::from_slice(&body)
        .map_err(|e| AdminError::BadRequest(format!("not a harvest request: {e}")))?;
    harvester::config::validate(&admin.harvest, &admin.sources)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let plan = spec
        .plan(&admin.sources)
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    tracing::info!(sources = plan.sources.len(), "Admin harvest started.");
    // A harvest takes minutes to hours and takes locks, fsyncs and flushes: it runs on a
    // thread and runtime of its own, never on the HTTP workers.
    let (tx, rx) = tokio::sync::oneshot::channel::<RunReport>();
    let store = state.store.clone();
    let settings = admin.harvest.clone();
    std::thread::Builder::new()
        .name("moisson-admin-harvest".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error.message = %e, "Failed to start the harvest runtime.");
                    return;
                }
            };
            let report = runtime.block_on(harvester::run(&store, &settings, &plan, &NoProgress));
            let _ = tx.send(report);
        })
        .map_err(|e| AdminError::Internal(format!("cannot start the harvest: {e}")))?;
    let report = rx
        .await
        .map_err(|_| AdminError::Internal("the harvest stopped without a report".into()))?;
    json_response(&report)
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
    json_response(&status)
}

/// The query of `POST /admin/import/dc`.
#[derive(Debug, Deserialize)]
pub struct ImportQuery {
    /// The file name the client read, for messages.
    name: Option<String>,
    /// Refused when true: a served store stamps what it imports.
    #[serde(default)]
    keep_datestamps: bool,
}

/// `POST /admin/import/dc`: imports JSON Lines streamed in the body, a megabyte at a time.
#[tracing::instrument(skip_all, err(Display))]
pub async fn import_dc(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<ImportQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state.admin)?;
    let query = query.into_inner();
    if query.keep_datestamps {
        return Err(AdminError::BadRequest(
            "keep_datestamps is for loading a new store; this store is served, so what it \
             imports is stamped when written"
                .into(),
        ));
    }
    let name = query.name.unwrap_or_else(|| "-".into());
    let mut loader = DcLoader::new(
        state.store.clone(),
        name.clone().into(),
        DcOptions::default(),
        IMPORT_BATCH,
        None,
    );
    let mut lines = LineSplitter::new(MAX_LINE_BYTES);
    let mut buf: Vec<u8> = Vec::new();
    let mut sniffed = false;
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
        if !sniffed {
            sniffed = true;
            if let Sniff::Refused(message) = sniff(&buf[..buf.len().min(8192)]) {
                return Err(AdminError::BadRequest(format!(
                    "{name}: {message}: nothing imported"
                )));
            }
        }
        let chunk = std::mem::take(&mut buf);
        let (l, s) = web::block(move || -> Result<_, StoreError> {
            lines.push(&chunk, &mut loader)?;
            if last {
                lines.finish(&mut loader)?;
            }
            Ok((loader, lines))
        })
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))??;
        (loader, lines) = (l, s);
        if last {
            break;
        }
    }
    let store = state.store.clone();
    let (summary, messages) = web::block(move || -> Result<_, StoreError> {
        let done = loader.finish()?;
        store.flush()?;
        Ok(done)
    })
    .await
    .map_err(|e| AdminError::Internal(e.to_string()))??;
    tracing::info!(name = %name, summary = %summary, "Admin import finished.");
    json_response(&ImportReport { summary, messages })
}

/// The query of `POST /admin/import/pmb`.
#[derive(Debug, Deserialize)]
pub struct PmbQuery {
    /// The file name the client read, for messages.
    name: Option<String>,
    /// Compare with the store, write nothing.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /admin/import/pmb`: imports one PMB display file sent as the body.
#[tracing::instrument(skip_all, err(Display))]
pub async fn import_pmb(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<PmbQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state.admin)?;
    let query = query.into_inner();
    let format = FileFormat::Pmb(PmbOptions {
        repository_identifier: state.admin.repository_identifier.clone(),
        dry_run: query.dry_run,
    });
    import_file(&req, &state, query.name, format, &mut body).await
}

/// Imports the one file of `format` that is the body, under the file name the client gave.
async fn import_file(
    req: &HttpRequest,
    state: &AppState,
    name: Option<String>,
    format: FileFormat,
    body: &mut web::Payload,
) -> Result<HttpResponse, AdminError> {
    let bytes = read_body(req, body, MAX_PMB_UPLOAD).await?;
    let name = name.unwrap_or_else(|| "-".into());
    let store = state.store.clone();
    let file = name.clone();
    let (dry_run, label) = (format.dry_run(), format.name().to_uppercase());
    let (summary, messages) = web::block(move || -> Result<_, StoreError> {
        let mut messages = Vec::new();
        let summary = format.load_file(
            Some(&store),
            std::path::Path::new(&file),
            &bytes,
            &mut |e| {
                if messages.len() < MAX_KEPT_MESSAGES {
                    messages.push(e.to_string());
                }
            },
        )?;
        if !dry_run {
            store.flush()?;
        }
        Ok((summary, messages))
    })
    .await
    .map_err(|e| AdminError::Internal(e.to_string()))??;
    tracing::info!(name = %name, summary = %summary, "Admin {label} import finished.");
    json_response(&ImportReport { summary, messages })
}

/// The query of `POST /admin/import/unimarc`.
#[derive(Debug, Deserialize)]
pub struct UnimarcQuery {
    /// The file name the client read, for messages.
    name: Option<String>,
    /// Compare with the store, write nothing.
    #[serde(default)]
    dry_run: bool,
    /// The PMB OPAC base URL permalinks are made with.
    opac_url: Option<String>,
    /// PMB's keyword separator.
    keyword_separator: Option<String>,
}

impl UnimarcQuery {
    fn crosswalk(&self) -> Result<CrosswalkOptions, AdminError> {
        CrosswalkOptions::parse(self.opac_url.as_deref(), self.keyword_separator.as_deref())
            .map_err(|e| AdminError::BadRequest(e.to_string()))
    }
}

/// `POST /admin/import/unimarc`: imports one PMB UNIMARC export sent as the body.
#[tracing::instrument(skip_all, err(Display))]
pub async fn import_unimarc(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<UnimarcQuery>,
    mut body: web::Payload,
) -> Result<HttpResponse, AdminError> {
    authorize(&req, &state.admin)?;
    let query = query.into_inner();
    let format = FileFormat::Unimarc(UnimarcOptions {
        repository_identifier: state.admin.repository_identifier.clone(),
        dry_run: query.dry_run,
        crosswalk: query.crosswalk()?,
    });
    import_file(&req, &state, query.name, format, &mut body).await
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
