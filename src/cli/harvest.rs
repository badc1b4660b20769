//! `moisson harvest`, and the hand-over of harvests and imports to a running server.
//!
//! sled lets one process open a store. When `moisson serve` holds it, `moisson harvest` (and
//! `moisson import dc`) send their work to the server's admin API (`POST /admin/harvest`,
//! `POST /admin/import/dc`, with the admin token) and print the same summary, so that a cron
//! line works whether the server runs or not.

use std::io::{IsTerminal as _, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::import::ImportCommand;
use super::{open_store, ExitCode};
use crate::config::Settings;
use crate::harvester::{self, HarvestSpec, NoProgress, Outcome, Progress, RunReport, SourceReport};
use crate::http::admin::ImportReport;
use crate::store::StoreError;

/// Flags of `moisson harvest`.
#[derive(Debug, Args)]
pub struct HarvestArgs {
    /// Sources to harvest, by their `[[source]]` name; with --url, the name to give that source.
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Harvest every configured source.
    #[arg(long)]
    all: bool,
    /// Ignore the incremental state: harvest everything again.
    #[arg(long)]
    full: bool,
    /// Only records changed on or after DATE (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Only records changed on or before DATE.
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Harvest this baseURL without configuring it (named after its host unless NAME is given).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Harvest this set instead of the configured ones (repeatable).
    #[arg(long = "set", value_name = "SPEC")]
    sets: Vec<String>,
    /// Harvest this metadataPrefix instead of the configured one (default oai_dc).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Also write the run report as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Stop each list after N pages; the next run resumes it.
    #[arg(long, value_name = "N", hide = true)]
    max_pages: Option<u64>,
}

impl HarvestArgs {
    fn spec(&self) -> HarvestSpec {
        HarvestSpec {
            names: self.names.clone(),
            all: self.all,
            full: self.full,
            from: self.from.clone(),
            until: self.until.clone(),
            url: self.url.clone(),
            sets: self.sets.clone(),
            prefix: self.prefix.clone(),
            max_pages: self.max_pages,
        }
    }

    /// Harvests, locally or through a running server, and prints one summary line per source.
    ///
    /// # Errors
    /// A configuration error, or a store that can be neither opened nor reached.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        harvester::config::validate(&settings.harvest, &settings.source)?;
        let spec = self.spec();
        let plan = spec.plan(&settings.source)?;
        crate::telemetry::init("warn");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("Failed to start the async runtime")?;
        let report = match open_store(settings) {
            Ok(store) => {
                let progress: Box<dyn Progress> = if std::io::stderr().is_terminal() {
                    Box::new(TerminalProgress::default())
                } else {
                    Box::new(NoProgress)
                };
                runtime.block_on(harvester::run(
                    &store,
                    &settings.harvest,
                    &plan,
                    progress.as_ref(),
                ))
            }
            Err(StoreError::Locked { path }) => {
                let client = AdminClient::new(settings, &path)?;
                runtime.block_on(client.harvest(&spec))?
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "Failed to open the store at {}",
                        settings.store.data_dir.display()
                    )
                })
            }
        };
        print_report(&report, self.json)?;
        Ok(exit_code(&report))
    }
}

/// The exit code of a run: the worst outcome over its sources.
pub fn exit_code(report: &RunReport) -> ExitCode {
    match report.outcome() {
        Outcome::Ok => ExitCode::Ok,
        Outcome::Rejected => ExitCode::Rejected,
        Outcome::AlreadyRunning => ExitCode::AlreadyRunning,
        Outcome::Failed => ExitCode::SourceFailed,
    }
}

fn print_report(report: &RunReport, json: bool) -> anyhow::Result<()> {
    for source in &report.sources {
        for r in &source.rejections {
            eprintln!(
                "moisson: harvest {}: rejected {}: {}",
                source.source, r.identifier, r.reason
            );
        }
        let listed = source.rejections.len() as u64;
        if source.rejected > listed {
            eprintln!(
                "moisson: harvest {}: … and {} more rejected records (see the log)",
                source.source,
                source.rejected - listed
            );
        }
        eprintln!("moisson: {source}");
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).context("Failed to write the report")?
        );
    }
    Ok(())
}

/// A progress bar per source on stderr (only used when stderr is a terminal).
#[derive(Default)]
struct TerminalProgress {
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress for TerminalProgress {
    fn start(&self, source: &str) {
        let bar = ProgressBar::new_spinner();
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {prefix}: {pos} records [{elapsed}]")
        {
            bar.set_style(style);
        }
        bar.set_prefix(source.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        *self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(bar);
    }

    fn page(&self, _source: &str, records: u64, total: Option<u64>) {
        if let Some(bar) = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            if let Some(total) = total.filter(|t| *t >= records) {
                if bar.length() != Some(total) {
                    bar.set_length(total);
                    if let Ok(style) = ProgressStyle::with_template(
                        "{prefix}: {bar:40} {pos}/{len} records [{elapsed}, ETA {eta}]",
                    ) {
                        bar.set_style(style);
                    }
                }
            }
            bar.set_position(records);
        }
    }

    fn finish(&self, _report: &SourceReport) {
        if let Some(bar) = self
            .bar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            bar.finish_and_clear();
        }
    }
}

/// The admin API of the server that holds the store.
struct AdminClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

fn locked(path: &Path, why: String) -> anyhow::Error {
    anyhow::Error::new(StoreError::Locked {
        path: path.to_path_buf(),
    })
    .context(why)
}

impl AdminClient {
    fn new(settings: &Settings, path: &Path) -> anyhow::Result<AdminClient> {
        let Some(token) = settings.admin.resolved_token() else {
            return Err(locked(
                path,
                "The store is in use by another process; to hand the work to a running `moisson serve`, \
                 give both the same [admin] token (or MOISSON_ADMIN_TOKEN)"
                    .into(),
            ));
        };
        let http = reqwest::Client::builder()
            .user_agent(harvester::client::USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("Failed to build the HTTP client")?;
        Ok(AdminClient {
            http,
            base: settings.admin.base_url(&settings.server.bind),
            token,
        })
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> anyhow::Result<reqwest::Response> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| {
                format!(
                    "The store is in use, and its server's admin API at {url} cannot be reached"
                )
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::BAD_REQUEST {
            return Err(crate::config::ConfigError::Invalid(format!(
                "the server refused the request: {}",
                body.trim()
            ))
            .into());
        }
        Err(anyhow::anyhow!(
            "The store is in use, and its server's admin API at {url} answered {status}: {}",
            body.trim()
        ))
    }

    async fn harvest(&self, spec: &HarvestSpec) -> anyhow::Result<RunReport> {
        let url = format!("{}/admin/harvest", self.base);
        tracing::info!(url = %url, "The store is in use: handing the harvest to the running server.");
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(spec).context("Failed to encode the harvest request")?);
        let response = self.send(request, &url).await?;
        let body = response
            .bytes()
            .await
            .context("Failed to read the server's harvest report")?;
        serde_json::from_slice(&body).context("The server's harvest report is unreadable")
    }

    async fn import_dc(&self, file: &Path) -> anyhow::Result<ImportReport> {
        let name = file.display().to_string();
        let url = format!("{}/admin/import/dc", self.base);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        let path: PathBuf = file.to_path_buf();
        // The file (or standard input) is streamed, never held whole in memory.
        std::thread::spawn(move || {
            let mut input: Box<dyn std::io::Read> = if path.as_os_str() == "-" {
                Box::new(std::io::stdin())
            } else {
                match std::fs::File::open(&path) {
                    Ok(f) => Box::new(f),
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            };
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match input.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let request = self
            .http
            .post(&url)
            .query(&[("name", name.as_str())])
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(stream));
        let response = self.send(request, &url).await?;
        let body = response
            .bytes()
            .await
            .context("Failed to read the server's import report")?;
        serde_json::from_slice(&body).context("The server's import report is unreadable")
    }
}

#[allow(unreachable_patterns, clippy::match_wildcard_for_single_variants)]
fn dc_file(command: &ImportCommand) -> Option<PathBuf> {
    match command {
        ImportCommand::Dc { file } => Some(file.clone()),
        _ => None,
    }
}

/// Runs `moisson import`; when the store is held by a running server, sends a `dc` import to
/// its admin API instead and prints the same report.
///
/// # Errors
/// As the import, or when the server cannot take it.
pub fn import_or_hand_off(command: ImportCommand, settings: &Settings) -> anyhow::Result<ExitCode> {
    let file = dc_file(&command);
    let result = command.run(settings);
    let Err(error) = &result else {
        return result;
    };
    let locked_path = error
        .chain()
        .find_map(|c| match c.downcast_ref::<StoreError>() {
            Some(StoreError::Locked { path }) => Some(path.clone()),
            _ => None,
        });
    let (Some(path), Some(file)) = (locked_path, file) else {
        return result;
    };
    if settings.admin.resolved_token().is_none() {
        return result;
    }
    let client = AdminClient::new(settings, &path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")?;
    let report = runtime.block_on(client.import_dc(&file))?;
    for message in &report.messages {
        eprintln!("{message}");
    }
    let summary = &report.summary;
    eprintln!("moisson: import {}: {summary}", file.display());
    Ok(if summary.rejected > 0 {
        ExitCode::Rejected
    } else {
        ExitCode::Ok
    })
}
