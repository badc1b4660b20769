//! `moisson harvest`, and the hand-over of harvests and imports to a running server.
//!
//! sled lets one process open a store. When `moisson serve` holds it, `moisson harvest` and
//! `moisson import dc|pmb|unimarc` send their work to the server's admin API
//! (`POST /admin/harvest`, `POST /admin/import/dc`, `POST /admin/import/pmb`,
//! `POST /admin/import/unimarc`, with the admin token) and print the same
//! summary, so that a cron line works whether the server runs or not. The server is found at
//! `[admin] url` when set, else at the address it recorded in the store directory
//! ([`super::ADDRESS_FILE`]), else at `server.bind`.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::import::{print_summary, DcInput, Inputs};
use super::{open_store, ExitCode};
use crate::config::Settings;
use crate::harvester::{self, HarvestSpec, NoProgress, Outcome, Progress, RunReport, SourceReport};
use crate::http::admin::ImportReport;
use crate::importer::pmb::load::add;
use crate::importer::{FileFormat, ImportSummary};
use crate::store::StoreError;

/// Flags of `moisson harvest`.
#[derive(Debug, Args)]
#[allow(clippy::struct_excessive_bools)] // Command-line flags.
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
    /// Harvest this metadataPrefix instead of the configured one (default oai_dc;
    /// pmb_xml_unimarc for a PMB OAI connector, crosswalked to oai_dc).
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Map harvested records to oai_dc with this crosswalk (pmb-unimarc, the default for
    /// --prefix pmb_xml_unimarc).
    #[arg(long, value_name = "NAME")]
    crosswalk: Option<String>,
    /// The PMB OPAC base URL permalinks are made with (pmb-unimarc).
    #[arg(long, value_name = "URL")]
    opac_url: Option<String>,
    /// PMB's keyword separator in 610$a (pmb-unimarc; default ";").
    #[arg(long, value_name = "SEP")]
    keyword_separator: Option<String>,
    /// Also write the run report as JSON on standard output.
    #[arg(long)]
    json: bool,
    /// Run the identifier sweep now (a full ListIdentifiers; records the source no longer
    /// lists become tombstones), whether or not reconcile_days says it is due.
    #[arg(long)]
    reconcile: bool,
    /// Let the identifier sweep remove more than reconcile_max_share of a source's records.
    #[arg(long)]
    force: bool,
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
            reconcile: self.reconcile,
            force: self.force,
            crosswalk: self.crosswalk.clone(),
            opac_url: self.opac_url.clone(),
            keyword_separator: self.keyword_separator.clone(),
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
            Err(StoreError::Locked { path }) => runtime.block_on(async {
                let client = AdminClient::connect(settings, &path).await?;
                client.harvest(&spec).await
            })?,
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
            note!(
                "moisson: harvest {}: rejected {}: {}",
                source.source,
                r.identifier,
                r.reason
            );
        }
        let listed = source.rejections.len() as u64;
        if source.rejected > listed {
            note!(
                "moisson: harvest {}: … and {} more rejected records (see the log)",
                source.source,
                source.rejected - listed
            );
        }
        note!("moisson: {source}");
    }
    if json {
        let text = serde_json::to_string_pretty(report).context("Failed to write the report")?;
        // The harvest is done whatever happens to its report: a reader that went away does
        // not change the exit code.
        if let Err(e) = say!("{text}") {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                return Err(e).context("Failed to write the report");
            }
        }
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

fn locked(path: &Path, what_to_do: &str) -> anyhow::Error {
    let locked = StoreError::Locked {
        path: path.to_path_buf(),
    };
    let why = format!("{locked}; {what_to_do}");
    anyhow::Error::new(locked).context(why)
}

/// Where the admin API may be, best first: `[admin] url` when set; else the address the
/// running server recorded in the store directory (it knows its `--bind`), then `server.bind`.
fn admin_candidates(settings: &Settings) -> Vec<String> {
    if let Some(url) = &settings.admin.url {
        return vec![url.trim_end_matches('/').to_owned()];
    }
    let mut out = Vec::new();
    if let Some(recorded) = super::ServedAddress::read(&settings.store.data_dir) {
        out.push(recorded);
    }
    let configured = settings.admin.base_url(&settings.server.bind);
    if !out.contains(&configured) {
        out.push(configured);
    }
    out
}

impl AdminClient {
    /// A client for the first candidate address that answers; a stale recorded address (a
    /// server killed without its shutdown) is passed over.
    async fn connect(settings: &Settings, path: &Path) -> anyhow::Result<AdminClient> {
        let Some(token) = settings.admin.resolved_token() else {
            return Err(locked(
                path,
                "to hand the work to it, give it and this command the same admin token ([admin] \
                 token in the configuration, or MOISSON_ADMIN_TOKEN)",
            ));
        };
        let http = reqwest::Client::builder()
            .user_agent(harvester::client::USER_AGENT)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .context("Failed to build the HTTP client")?;
        let candidates = admin_candidates(settings);
        let mut base = candidates[0].clone();
        for candidate in &candidates {
            let probe = http
                .get(format!("{candidate}/health"))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if probe.is_ok() {
                base.clone_from(candidate);
                break;
            }
        }
        Ok(AdminClient { http, base, token })
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

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
        what: &str,
    ) -> anyhow::Result<T> {
        let response = self.send(request, url).await?;
        let body = response
            .bytes()
            .await
            .with_context(|| format!("Failed to read the server's {what}"))?;
        serde_json::from_slice(&body).with_context(|| format!("The server's {what} is unreadable"))
    }

    async fn harvest(&self, spec: &HarvestSpec) -> anyhow::Result<RunReport> {
        let url = format!("{}/admin/harvest", self.base);
        tracing::info!(url = %url, "The store is in use: handing the harvest to the running server.");
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(spec).context("Failed to encode the harvest request")?);
        self.json(request, &url, "harvest report").await
    }

    async fn import_dc(&self, input: DcInput) -> anyhow::Result<ImportReport> {
        let name = input.name.display().to_string();
        let url = format!("{}/admin/import/dc", self.base);
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
        // The file (or standard input) is streamed, never held whole in memory.
        std::thread::spawn(move || {
            for chunk in input.chunks() {
                if tx.blocking_send(chunk).is_err() {
                    return;
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
        self.json(request, &url, "import report").await
    }

    /// Sends one file to `POST /admin/import/FORMAT`, with the format's options.
    async fn import_file(
        &self,
        format: &FileFormat,
        name: &Path,
        bytes: Vec<u8>,
        dry_run: bool,
    ) -> anyhow::Result<ImportReport> {
        let url = format!("{}/admin/import/{}", self.base, format.name());
        let mut query = vec![
            ("name", name.display().to_string()),
            ("dry_run", dry_run.to_string()),
        ];
        let content_type = match format {
            FileFormat::Pmb(_) => "text/plain",
            FileFormat::Unimarc(options) => {
                let crosswalk = &options.crosswalk;
                query.push((
                    "keyword_separator",
                    crosswalk.keyword_separator.as_ref().to_owned(),
                ));
                if let Some(opac) = &crosswalk.opac_url {
                    query.push(("opac_url", opac.as_ref().to_owned()));
                }
                "application/octet-stream"
            }
        };
        let request = self
            .http
            .post(&url)
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
        self.json(request, &url, "import report").await
    }
}

fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")
}

fn print_messages(report: &ImportReport) {
    for message in &report.messages {
        note!("{message}");
    }
    let listed = report.messages.len() as u64;
    if report.summary.rejected > listed {
        note!(
            "… and {} more rejected lines (see the server's log)",
            report.summary.rejected - listed
        );
    }
}

/// Sends a `dc` import to the admin API of the server that holds the store at `path`, and
/// prints the same report as a local import.
///
/// # Errors
/// When no token is configured or the server cannot take it.
pub(super) fn hand_off_dc(
    settings: &Settings,
    path: &Path,
    input: DcInput,
) -> anyhow::Result<ExitCode> {
    let file = input.name.clone();
    let report = current_thread_runtime()?.block_on(async {
        let client = AdminClient::connect(settings, path).await?;
        client.import_dc(input).await
    })?;
    print_messages(&report);
    let summary = &report.summary;
    note!("moisson: import {}: {summary}", file.display());
    Ok(super::import::exit_code(summary))
}

/// Sends a `pmb` or `unimarc` import to the admin API of the server that holds the store at
/// `locked`, one request per file (a file is read whole), with the options resolved here; with
/// `strict`, every file is checked first and nothing is sent to be written if one has a
/// rejected record.
///
/// # Errors
/// An unreadable file, no token, or a server that cannot take it.
pub(super) fn hand_off_files(
    settings: &Settings,
    locked: &Path,
    path: &Path,
    files: &[PathBuf],
    format: &FileFormat,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let mut inputs = Inputs::default();
    let runtime = current_thread_runtime()?;
    let client = runtime.block_on(AdminClient::connect(settings, locked))?;
    let mut write = !format.dry_run();
    if write && strict {
        for file in files {
            let bytes = inputs.read(file)?;
            let report = runtime.block_on(client.import_file(format, file, bytes, true))?;
            write &= report.summary.rejected == 0;
            if !write {
                break;
            }
        }
    }
    let mut total = ImportSummary {
        nothing_to_import: true,
        ..ImportSummary::default()
    };
    for file in files {
        let bytes = inputs.read(file)?;
        let report = runtime.block_on(client.import_file(format, file, bytes, !write))?;
        print_messages(&report);
        total.nothing_to_import &= report.summary.nothing_to_import;
        add(&mut total, &report.summary);
    }
    print_summary(path, format, &total, write);
    Ok(super::import::exit_code(&total))
}
