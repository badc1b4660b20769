//! The harvester: pulls records from upstream OAI-PMH 2.0 repositories into the store
//! (the service-provider side of the protocol: Identify §4.2, ListMetadataFormats §4.4,
//! ListRecords §4.5 with resumption tokens §3.5, selective harvesting §3.3).
//!
//! For each source: Identify first (granularity, deletedRecord), ListMetadataFormats when the
//! prefix is not `oai_dc` (to register it), then one ListRecords list per configured set
//! (or one for the whole repository), page by page:
//!
//! - **Incremental.** State is kept per (source, metadataPrefix, set) in
//!   [`crate::store::harvest_state`]. The next `from` is the `responseDate` of the first
//!   response of the last *completed* run, at the provider's granularity, minus an overlap —
//!   not the largest datestamp seen, because lists are not ordered by datestamp.
//! - **Resumable.** Each page is written in one transaction together with the resumption token
//!   that follows it, so a run killed at any moment continues from the last committed page.
//!   When the provider answers badResumptionToken (expired), the list restarts from the last
//!   committed datestamp minus the overlap if every datestamp so far came in order, or else
//!   from the list's own `from`: restarting is safe because writes are idempotent.
//! - **Pipelined.** While page *n* is converted and written on a blocking thread, page *n+1*
//!   is already being fetched (one page ahead, no more: memory holds at most two pages).
//!   A page is one store write (up to `max_batch` records), since each write ends with an
//!   fsync.
//! - **Backend-neutral.** Everything goes through [`crate::store::HarvestSink`] (records, list
//!   states, runs, sweep marks): the harvester does not know which store it writes to.
//!
//! Records keep their upstream identifiers, go into set `source:<name>` with the upstream
//! setSpecs beneath it, and carry an `<about><provenance>` container. Deleted records become
//! tombstones. Formats other than `oai_dc` are stored as the harvested XML, except PMB's
//! `pmb_xml_unimarc`, which is crosswalked to `oai_dc` and served in PMB's namespace
//! (`pmb`, with PMB's quirks).

pub mod client;
pub mod config;
pub mod error;
pub mod lock;
mod pmb;
pub mod provenance;
pub mod report;
pub mod retry;
pub mod sweep;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use self::client::OaiClient;
use self::config::{Crosswalk, HarvestSettings, SourceSettings};
use self::lock::SourceLock;
use self::provenance::{provenance_xml, Provenance};
use crate::config::ConfigError;
use crate::dc::xml::OAI_DC_NAMESPACE;
use crate::importer::unimarc::CrosswalkOptions;
use crate::protocol::xml::read::{Payload, Record, Response, PROVENANCE_NAMESPACE};
use crate::protocol::{
    DateArgument, Datestamp, Granularity, MetadataFormat, MetadataPrefix, OaiIdentifier, SetSpec,
    Verb,
};
use crate::store::harvest_state::{HarvestedRecord, InFlight, ListKey, ListState};
use crate::store::{BatchOutcome, HarvestSink, Origin, RecordInput};

pub use error::HarvestError;
pub use report::{Outcome, Rejection, RunReport, SourceReport};

/// Restarts of one list after badResumptionToken, without a page committed in between,
/// before the harvest gives up.
const MAX_RESTARTS_WITHOUT_PROGRESS: u32 = 3;
/// The parent of every `source:NAME` set.
pub const SOURCES_SET: &str = "source";
/// Its name.
pub const SOURCES_SET_NAME: &str = "Harvested sources";
/// ListSets pages followed at most (a provider whose set list never ends is not followed).
const MAX_SET_PAGES: usize = 1000;

/// What to harvest, as the command line (or an admin request) says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(clippy::struct_excessive_bools)] // The command line's flags, as sent to the admin API.
pub struct HarvestSpec {
    /// Configured sources to harvest (with `url`: the name of the ad-hoc source).
    pub names: Vec<String>,
    /// Every configured source.
    pub all: bool,
    /// Ignore the incremental state: harvest everything again.
    pub full: bool,
    /// `from` of this run (`YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`).
    pub from: Option<String>,
    /// `until` of this run.
    pub until: Option<String>,
    /// An ad-hoc source: this baseURL.
    pub url: Option<String>,
    /// Sets to harvest instead of the configured ones.
    pub sets: Vec<String>,
    /// metadataPrefix instead of the configured one.
    pub prefix: Option<String>,
    /// Stop each list after this many pages, leaving it to be resumed (for tests and trials).
    pub max_pages: Option<u64>,
    /// Run the identifier sweep of each source now, due or not.
    pub reconcile: bool,
    /// Let the sweep remove more than `reconcile_max_share` of a source's records.
    pub force: bool,
    /// The crosswalk instead of the configured one (`pmb-unimarc`).
    pub crosswalk: Option<String>,
    /// The PMB OPAC base URL instead of the configured one.
    pub opac_url: Option<String>,
    /// PMB's keyword separator instead of the configured one.
    pub keyword_separator: Option<String>,
}

/// The `from`/`until` of a run, when given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    /// First datestamp wanted.
    pub from: Option<DateArgument>,
    /// Last datestamp wanted.
    pub until: Option<DateArgument>,
}

/// How a run treats every source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Ignore the incremental state.
    pub full: bool,
    /// Explicit `from`/`until`.
    pub window: Window,
    /// Stop each list after this many pages.
    pub max_pages: Option<u64>,
    /// Sweep every source now.
    pub reconcile: bool,
    /// Let sweeps remove any share.
    pub force: bool,
}

/// The sources of a run and how to harvest them: a [`HarvestSpec`] checked against the
/// configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The sources, in order.
    pub sources: Vec<SourceSettings>,
    /// The options.
    pub options: RunOptions,
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

/// A source name made from a URL's host: `https://zenodo.org/oai2d` → `zenodo.org`.
pub fn name_from_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "adhoc".into()
    } else {
        name
    }
}

impl HarvestSpec {
    /// Checks the spec against the configured sources.
    ///
    /// # Errors
    /// Unknown source names, contradictory flags, malformed dates: a configuration error.
    pub fn plan(&self, configured: &[SourceSettings]) -> Result<Plan, ConfigError> {
        let date = |flag: &str, value: Option<&String>| {
            value
                .map(|s| {
                    DateArgument::parse(s).ok_or_else(|| {
                        invalid(format!(
                            "--{flag} \"{s}\" must be YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ"
                        ))
                    })
                })
                .transpose()
        };
        let from = date("from", self.from.as_ref())?;
        let until = date("until", self.until.as_ref())?;
        if let (Some(f), Some(u)) = (from, until) {
            if f.start > u.end {
                return Err(invalid("--from is later than --until"));
            }
        }
        let mut sources: Vec<SourceSettings> = if let Some(url) = &self.url {
            if self.all || self.names.len() > 1 {
                return Err(invalid(
                    "--url harvests one source: give at most one NAME for it, and no --all",
                ));
            }
            let name = self
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| name_from_url(url));
            vec![SourceSettings::new(name, url.as_str())]
        } else if self.all {
            if !self.names.is_empty() {
                return Err(invalid("give source names or --all, not both"));
            }
            if configured.is_empty() {
                return Err(invalid("--all: the configuration has no [[source]]"));
            }
            configured.to_vec()
        } else if self.names.is_empty() {
            return Err(invalid(
                "name a source to harvest (NAME…), or use --all or --url URL",
            ));
        } else {
            let mut out: Vec<SourceSettings> = Vec::new();
            for name in &self.names {
                let source = configured.iter().find(|s| &s.name == name).ok_or_else(|| {
                    let known: Vec<&str> = configured.iter().map(|s| s.name.as_str()).collect();
                    invalid(format!(
                        "no source named \"{name}\" in the configuration (known: {})",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ))
                })?;
                if !out.iter().any(|s| &s.name == name) {
                    out.push(source.clone());
                }
            }
            out
        };
        for source in &mut sources {
            if let Some(prefix) = &self.prefix {
                source.metadata_prefix.clone_from(prefix);
            }
            if !self.sets.is_empty() {
                source.sets.clone_from(&self.sets);
            }
            for (value, key) in [
                (&self.crosswalk, &mut source.crosswalk),
                (&self.opac_url, &mut source.opac_url),
                (&self.keyword_separator, &mut source.keyword_separator),
            ] {
                if value.is_some() {
                    key.clone_from(value);
                }
            }
            source.validate()?;
        }
        if self.max_pages == Some(0) {
            return Err(invalid("--max-pages must be at least 1"));
        }
        Ok(Plan {
            sources,
            options: RunOptions {
                full: self.full,
                window: Window { from, until },
                max_pages: self.max_pages,
                reconcile: self.reconcile,
                force: self.force,
            },
        })
    }
}

/// Receives progress while sources are harvested (a progress bar on a terminal).
pub trait Progress: Send + Sync {
    /// A source starts.
    fn start(&self, _source: &str) {}
    /// A page was committed: records handled so far in this source, and the list size when
    /// the provider tells it.
    fn page(&self, _source: &str, _records: u64, _total: Option<u64>) {}
    /// A source is done.
    fn finish(&self, _report: &SourceReport) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Harvests the sources of `plan` one after the other into `store`.
pub async fn run<S: HarvestSink>(
    store: &S,
    settings: &HarvestSettings,
    plan: &Plan,
    progress: &dyn Progress,
) -> RunReport {
    let mut report = RunReport::default();
    for source in &plan.sources {
        let span = tracing::info_span!("harvest", source = %source.name);
        let r = harvest_source(store, settings, source, &plan.options, progress)
            .instrument(span)
            .await;
        report.sources.push(r);
    }
    report
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Harvests one source (taking its lock) and records how the run went.
pub async fn harvest_source<S: HarvestSink>(
    store: &S,
    settings: &HarvestSettings,
    source: &SourceSettings,
    options: &RunOptions,
    progress: &dyn Progress,
) -> SourceReport {
    let started = Instant::now();
    let started_at = Datestamp::now().unix();
    let mut report = SourceReport::new(&source.name, &source.base_url, &source.metadata_prefix);
    // The lock (a flock), the run record and the flush (fsyncs) block: off the async workers.
    let acquired = {
        let (store, name) = (store.clone(), source.name.clone());
        tokio::task::spawn_blocking(move || {
            let lock = SourceLock::acquire(&store, &name)?;
            let last_finished = store
                .source_history(&name, 1)?
                .first()
                .map_or(i64::MIN, |r| r.finished);
            Ok((lock, last_finished))
        })
        .await
        .unwrap_or_else(|e| Err(HarvestError::Task(e.to_string())))
    };
    let (lock, last_finished) = match acquired {
        Ok(acquired) => acquired,
        Err(e) => {
            report.outcome = if matches!(e, HarvestError::AlreadyRunning { .. }) {
                Outcome::AlreadyRunning
            } else {
                Outcome::Failed
            };
            tracing::warn!(error.message = %e, "Harvest not started.");
            report.error = Some(chain(&e));
            progress.finish(&report);
            return report;
        }
    };
    progress.start(&source.name);
    tracing::info!(base_url = %source.base_url, metadata_prefix = %source.metadata_prefix, "Harvest started.");
    let result = match OaiClient::new(&source.base_url, source.policy(settings)) {
        Ok(mut client) => {
            let ctx = SourceCtx {
                store,
                settings,
                source,
                options,
                progress,
                // A record stamped since then was written by this run (a record the last run
                // wrote in the very second this one started is taken for that run's).
                written_since: started_at.max(last_finished.saturating_add(1)),
            };
            let r = ctx.harvest(&mut client, &mut report).await;
            report.requests = client.requests;
            report.retries = client.retries;
            r
        }
        Err(e) => Err(e),
    };
    report.seconds = started.elapsed().as_secs_f64();
    match result {
        Ok(()) => {
            report.outcome = if report.rejected > 0 {
                Outcome::Rejected
            } else {
                Outcome::Ok
            };
            tracing::info!(
                new = report.new,
                updated = report.updated,
                deleted = report.deleted,
                unchanged = report.unchanged,
                rejected = report.rejected,
                pages = report.pages,
                requests = report.requests,
                retries = report.retries,
                "Harvest finished."
            );
        }
        Err(e) => {
            tracing::error!(error.cause_chain = ?e, error.message = %e, "Harvest failed.");
            report.outcome = Outcome::Failed;
            report.error = Some(chain(&e));
            report.error_url = e.url().map(str::to_owned);
        }
    }
    let finished = Datestamp::now().unix();
    let run = report.to_run(started_at, finished);
    let (s, name) = (store.clone(), source.name.clone());
    let flushed = tokio::task::spawn_blocking(move || {
        if let Err(e) = s.put_source_run(&name, &run) {
            tracing::error!(error.cause_chain = ?e, error.message = %e, "Failed to record the run.");
        }
        let flushed = s.flush();
        drop(lock);
        flushed
    })
    .await
    .unwrap_or_else(|e| Err(crate::store::StoreError::Invalid(e.to_string())));
    if let Err(e) = flushed {
        tracing::error!(error.cause_chain = ?e, error.message = %e, "Failed to flush the store.");
        report.outcome = Outcome::Failed;
        report.error.get_or_insert_with(|| chain(&e));
    }
    progress.finish(&report);
    report
}

/// A date at the provider's granularity.
fn at_granularity(secs: i64, granularity: Granularity) -> String {
    let full = Datestamp::from_unix(secs).to_string();
    match granularity {
        Granularity::Day => full[..10].to_owned(),
        Granularity::Second => full,
    }
}

fn parse_arg(value: &str) -> Option<i64> {
    Datestamp::parse_lenient(value).map(Datestamp::unix)
}

struct SourceCtx<'a, S> {
    store: &'a S,
    settings: &'a HarvestSettings,
    source: &'a SourceSettings,
    options: &'a RunOptions,
    progress: &'a dyn Progress,
    /// Records stamped at or after this second (unix) were written by this run.
    written_since: i64,
}

/// What Identify told about the provider.
struct Provider {
    granularity: Granularity,
    response_date: Option<i64>,
    namespace: String,
    /// `no`, `transient` or `persistent`.
    deleted_record: String,
}

pub(crate) fn provider_error(url: &str, response: &Response) -> HarvestError {
    let e = &response.errors[0];
    let mut message = e.message.clone();
    // PMB's outgoing OAI connector answers every verb with this code, which OAI-PMH does not
    // have, while the source lacks its repository name, admin email or identifier.
    if e.code == "unconfigured" {
        message.push_str(
            " (PMB: the OAI source is not configured; fill in its repository name, admin \
             email and repository identifier in PMB's outgoing connector settings)",
        );
    }
    HarvestError::Provider {
        url: url.to_owned(),
        code: e.code.clone(),
        message,
    }
}

/// Everything the blocking page writer needs.
struct PageContext<S> {
    store: S,
    key: ListKey,
    source: String,
    root_set: SetSpec,
    base_url: String,
    prefix: MetadataPrefix,
    namespace: String,
    granularity: Granularity,
    overlap: i64,
    max_batch: usize,
    saved: Option<ListState>,
    fallback_date: i64,
    until_end: Option<i64>,
    /// The crosswalk to `oai_dc`, for a PMB source.
    crosswalk: Option<CrosswalkOptions>,
    /// When the run started (unix seconds): a record stored since was written by this run.
    run_started: i64,
}

/// What writing one page did.
struct PageResult {
    /// True when a record of the page carried an upstream setSpec.
    upstream_sets: bool,
    outcome: BatchOutcome,
    deleted: Vec<bool>,
    rejections: Vec<Rejection>,
    stripped: u64,
    total: Option<u64>,
    /// Records not published on purpose.
    skipped: u64,
    /// Records already written by this run (listed twice), among the unchanged.
    repeated: u64,
}

impl<S: HarvestSink> SourceCtx<'_, S> {
    async fn harvest(
        &self,
        client: &mut OaiClient,
        report: &mut SourceReport,
    ) -> Result<(), HarvestError> {
        let provider = self.identify(client).await?;
        let lists: Vec<Option<String>> = if self.source.sets.is_empty() {
            vec![None]
        } else {
            self.source.sets.iter().cloned().map(Some).collect()
        };
        for set in lists {
            let shifted = self
                .harvest_list(client, &provider, set.clone(), report)
                .await?;
            if shifted && report.complete {
                // The first pass kept the saved `from`: this one lists the same window.
                tracing::warn!(set = ?set, "The list shifted while it was harvested: harvesting it once more.");
                report.relisted += 1;
                if self.harvest_list(client, &provider, set, report).await? {
                    tracing::warn!(
                        "The list shifted again: the next run lists the same window again."
                    );
                }
            }
            if !report.complete {
                break;
            }
        }
        if report.upstream_sets || !self.source.sets.is_empty() {
            report.sets_named = self.name_upstream_sets(client).await;
        }
        if report.complete && self.sweep_due(&provider).await? {
            let lists: Vec<Option<String>> = if self.source.sets.is_empty() {
                vec![None]
            } else {
                self.source.sets.iter().cloned().map(Some).collect()
            };
            let policy = sweep::SweepPolicy {
                max_share: self.source.reconcile_max_share(self.settings),
                force: self.options.force,
            };
            let swept = sweep::sweep(
                client,
                self.store,
                &self.source.name,
                &self.source.metadata_prefix,
                &lists,
                policy,
                self.settings.max_batch,
            )
            .await
            .map_err(|e| match e {
                e @ HarvestError::SweepHeldBack { .. } => e,
                e => HarvestError::Sweep(Box::new(e)),
            })?;
            report.deleted += swept.removed;
            report.sweep = Some(swept);
        }
        Ok(())
    }

    /// True when the identifier sweep should run now: asked for, or the provider does not keep
    /// deletions and the last sweep is older than `reconcile_days`. The first harvest of such
    /// a source only starts the clock.
    async fn sweep_due(&self, provider: &Provider) -> Result<bool, HarvestError> {
        if self.options.reconcile {
            return Ok(true);
        }
        let days = self.source.reconcile_days(self.settings);
        let keeps_deletions = provider.deleted_record.eq_ignore_ascii_case("persistent");
        if days == 0 || keeps_deletions {
            return Ok(false);
        }
        let store = self.store.clone();
        let name = self.source.name.clone();
        blocking(move || {
            let now = Datestamp::now().unix();
            match sweep::last_sweep(&store, &name)? {
                None => {
                    sweep::set_last_sweep(&store, &name, now)?;
                    Ok(false)
                }
                Some(last) => {
                    let every = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
                    Ok(now.saturating_sub(last) >= every)
                }
            }
        })
        .await
    }

    /// Names the local sets `source:NAME:SPEC` after the provider's ListSets (every page of
    /// it), and returns how many were (re)named. A provider without sets (`noSetHierarchy`),
    /// or whose ListSets fails, leaves them named by their spec: the records are harvested all
    /// the same.
    async fn name_upstream_sets(&self, client: &mut OaiClient) -> u64 {
        let mut token: Option<String> = None;
        let mut named = 0;
        for _ in 0..MAX_SET_PAGES {
            let mut args = vec![("verb", "ListSets")];
            if let Some(t) = &token {
                args.push(("resumptionToken", t.as_str()));
            }
            let url = client.url(&args);
            let response = match client.call(&args).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error.message = %e, "ListSets failed: the harvested sets keep their specs as names.");
                    return named;
                }
            };
            if let Some(e) = response.errors.first() {
                if e.code != "noSetHierarchy" {
                    tracing::warn!(%url, code = %e.code, message = %e.message, "ListSets answered an error: the harvested sets keep their specs as names.");
                }
                return named;
            }
            let Payload::Sets(sets) = &response.payload else {
                return named;
            };
            let defs: Vec<(SetSpec, String)> = sets
                .iter()
                .filter(|s| !s.spec_altered && !s.name.trim().is_empty())
                .filter_map(|s| Some((local_set(&self.source.name, &s.spec)?, s.name.clone())))
                .collect();
            let store = self.store.clone();
            match tokio::task::spawn_blocking(move || -> Result<u64, crate::store::StoreError> {
                let mut n = 0;
                for (spec, name) in defs {
                    if store.set_name(&spec)?.as_deref() != Some(name.as_str()) {
                        store.define_set(&spec, &name, None)?;
                        n += 1;
                    }
                }
                Ok(n)
            })
            .await
            {
                Ok(Ok(n)) => named += n,
                Ok(Err(e)) => {
                    tracing::warn!(error.message = %e, "Could not name the harvested sets.");
                    return named;
                }
                Err(e) => {
                    tracing::warn!(error.message = %e, "Could not name the harvested sets.");
                    return named;
                }
            }
            match response.token.map(|t| t.value).filter(|v| !v.is_empty()) {
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => return named,
            }
        }
        named
    }

    async fn identify(&self, client: &mut OaiClient) -> Result<Provider, HarvestError> {
        let url = client.url(&[("verb", "Identify")]);
        let identify = client.call(&[("verb", "Identify")]).await?;
        if !identify.errors.is_empty() {
            return Err(provider_error(&url, &identify));
        }
        let Payload::Identify(info) = &identify.payload else {
            return Err(HarvestError::Unexpected {
                url,
                message: "the Identify response has no <Identify> element".into(),
            });
        };
        // Day granularity is the one every repository must accept (§3.3.2).
        let granularity = if info.granularity == "YYYY-MM-DDThh:mm:ssZ" {
            Granularity::Second
        } else {
            Granularity::Day
        };
        tracing::info!(
            repository = %info.repository_name,
            granularity = %info.granularity,
            earliest_datestamp = %info.earliest_datestamp,
            deleted_record = %info.deleted_record,
            compression = ?info.compression,
            "Identified the provider."
        );
        let prefix = self.prefix()?;
        let namespace = if prefix.as_ref() == "oai_dc" {
            OAI_DC_NAMESPACE.to_owned()
        } else {
            self.register_format(client, &prefix).await?
        };
        let root = self.root_set()?;
        let name = if info.repository_name.is_empty() {
            self.source.name.clone()
        } else {
            info.repository_name.clone()
        };
        let store = self.store.clone();
        blocking(move || {
            if let Some(parent) = SetSpec::parse(SOURCES_SET) {
                if store.set_name(&parent)?.is_none_or(|n| n == SOURCES_SET) {
                    store.define_set(&parent, SOURCES_SET_NAME, None)?;
                }
            }
            if store.set_name(&root)?.as_deref() != Some(name.as_str()) {
                store.define_set(&root, &name, None)?;
            }
            Ok(())
        })
        .await?;
        Ok(Provider {
            granularity,
            response_date: identify.response_date.as_deref().and_then(parse_arg),
            namespace,
            deleted_record: info.deleted_record.clone(),
        })
    }

    fn prefix(&self) -> Result<MetadataPrefix, HarvestError> {
        MetadataPrefix::parse(&self.source.metadata_prefix).ok_or_else(|| {
            HarvestError::Unexpected {
                url: self.source.base_url.clone(),
                message: format!(
                    "\"{}\" is not a metadataPrefix",
                    self.source.metadata_prefix
                ),
            }
        })
    }

    fn root_set(&self) -> Result<SetSpec, HarvestError> {
        SetSpec::parse(&format!("source:{}", self.source.name)).ok_or_else(|| {
            HarvestError::Unexpected {
                url: self.source.base_url.clone(),
                message: format!("\"{}\" cannot be a set name", self.source.name),
            }
        })
    }

    /// Learns the schema and namespace of a format other than `oai_dc` and registers it, so
    /// that ListMetadataFormats lists it.
    async fn register_format(
        &self,
        client: &mut OaiClient,
        prefix: &MetadataPrefix,
    ) -> Result<String, HarvestError> {
        let args = [("verb", "ListMetadataFormats")];
        let url = client.url(&args);
        let response = client.call(&args).await?;
        if !response.errors.is_empty() {
            return Err(provider_error(&url, &response));
        }
        let Payload::Formats(formats) = &response.payload else {
            return Err(HarvestError::Unexpected {
                url,
                message: "the ListMetadataFormats response has no <ListMetadataFormats> element"
                    .into(),
            });
        };
        let Some(found) = formats.iter().find(|f| f.prefix == prefix.as_ref()) else {
            return Err(HarvestError::Provider {
                url,
                code: "cannotDisseminateFormat".into(),
                message: format!("the provider does not list the metadata format \"{prefix}\""),
            });
        };
        let format = MetadataFormat {
            prefix: prefix.clone(),
            schema: found.schema.clone(),
            namespace: found.namespace.clone(),
        };
        let store = self.store.clone();
        blocking(move || store.register_format(&format)).await?;
        Ok(found.namespace.clone())
    }

    /// Harvests one list (the repository, or one set) to its end; true when PMB's cursor
    /// showed that the list shifted under the harvest (see [`pmb::RemainingCursor`]).
    #[allow(clippy::too_many_lines)]
    async fn harvest_list(
        &self,
        client: &mut OaiClient,
        provider: &Provider,
        set: Option<String>,
        report: &mut SourceReport,
    ) -> Result<bool, HarvestError> {
        let g = provider.granularity;
        let overlap =
            i64::try_from(self.source.overlap_secs(self.settings)).unwrap_or(i64::MAX / 4);
        let crosswalk = self
            .source
            .crosswalk()
            .map_err(|e| HarvestError::Unexpected {
                url: self.source.base_url.clone(),
                message: e.to_string(),
            })?
            .map(|Crosswalk::PmbUnimarc(options)| options);
        let key = ListKey {
            source: self.source.name.clone(),
            prefix: self.source.metadata_prefix.clone(),
            set: set.clone(),
        };
        let store = self.store.clone();
        let k = key.clone();
        let saved = blocking(move || store.list_state(&k))
            .await?
            .filter(|s| s.base_url == self.source.base_url);
        let window = self.options.window;
        let explicit = window.from.is_some() || window.until.is_some();
        let resume = saved
            .as_ref()
            .and_then(|s| s.in_flight.clone())
            .filter(|f| !self.options.full && !explicit && !f.token.is_empty());
        let mut flight = if let Some(f) = &resume {
            f.clone()
        } else {
            let from = match window.from {
                Some(d) => Some(at_granularity(d.start.unix(), g)),
                None if self.options.full => None,
                None => saved.as_ref().and_then(|s| s.next_from.clone()),
            }
            .or_else(|| {
                self.source
                    .from
                    .as_deref()
                    .and_then(DateArgument::parse)
                    .map(|d| at_granularity(d.start.unix(), g))
            });
            InFlight {
                from,
                until: window.until.map(|d| at_granularity(d.end.unix(), g)),
                sorted: true,
                ..InFlight::default()
            }
        };
        if resume.is_some() {
            report.resumed = true;
            tracing::info!(set = ?set, pages = flight.pages, "Resuming the list from its checkpointed resumption token.");
        }
        let ctx = Arc::new(PageContext {
            store: self.store.clone(),
            key,
            source: self.source.name.clone(),
            root_set: self.root_set()?,
            base_url: self.source.base_url.clone(),
            prefix: self.prefix()?,
            namespace: provider.namespace.clone(),
            granularity: g,
            overlap,
            max_batch: self.settings.max_batch,
            saved,
            fallback_date: provider
                .response_date
                .unwrap_or_else(|| Datestamp::now().unix()),
            until_end: flight
                .until
                .as_deref()
                .and_then(DateArgument::parse)
                .map(|d| d.end.unix()),
            crosswalk,
            run_started: self.written_since,
        });
        let mut pipe = Pipeline::<S> {
            preparing: None,
            committing: None,
        };
        let listed = self
            .list_pages(
                client,
                &ctx,
                resume.map(|f| f.token),
                &mut flight,
                &mut pipe,
                report,
            )
            .await;
        let drained = self
            .drain(&ctx, &mut pipe, &mut flight, listed.is_ok(), report)
            .await;
        let shifted = listed?;
        drained?;
        Ok(shifted)
    }

    /// Requests the pages of a list and hands each to `pipe`, to be prepared and committed,
    /// until the list ends or fails: true when the list moved under the harvest. The caller
    /// drains `pipe` in either case.
    async fn list_pages(
        &self,
        client: &mut OaiClient,
        ctx: &Arc<PageContext<S>>,
        resume: Option<String>,
        flight: &mut InFlight,
        pipe: &mut Pipeline<S>,
        report: &mut SourceReport,
    ) -> Result<bool, HarvestError> {
        let (g, overlap, set) = (ctx.granularity, ctx.overlap, ctx.key.set.clone());
        let mut cursor = pmb::RemainingCursor::default();
        let mut token: Option<String> = resume;
        let mut request_from = flight.from.clone();
        let mut seen: HashSet<String> = HashSet::new();
        let mut pages_this_run = 0u64;
        let mut restarts_without_progress = 0u32;
        loop {
            let mut args: Vec<(&str, &str)> = vec![("verb", "ListRecords")];
            if let Some(t) = &token {
                args.push(("resumptionToken", t));
            } else {
                args.push(("metadataPrefix", &self.source.metadata_prefix));
                if let Some(f) = &request_from {
                    args.push(("from", f));
                }
                if let Some(u) = &flight.until {
                    args.push(("until", u));
                }
                if let Some(s) = &set {
                    args.push(("set", s));
                }
            }
            let url = client.url(&args);
            let fetched = client.call(&args).await;
            // The page before must be prepared (it gives the list's state) and the one before
            // it committed before this one is looked at.
            let advanced = self.advance(ctx, pipe, flight, report).await;
            let response = fetched?;
            advanced?;
            let mut end_of_list = false;
            if !response.errors.is_empty() {
                let has = |code: &str| response.errors.iter().any(|e| e.code == code);
                if let (true, Some(s), None) = (has("noSetHierarchy"), &set, &token) {
                    // PMB answers an unknown set with noRecordsMatch AND noSetHierarchy: the
                    // configured set does not exist there, which no retry changes.
                    return Err(HarvestError::Provider {
                        url,
                        code: "noSetHierarchy".into(),
                        message: format!("the provider has no set \"{s}\" (check `sets`)"),
                    });
                }
                if has("noRecordsMatch") {
                    // An empty list (§3.6): success with zero records. Zenodo sends it with 422.
                    end_of_list = true;
                } else if has("badResumptionToken") && token.is_some() {
                    restarts_without_progress += 1;
                    if restarts_without_progress > MAX_RESTARTS_WITHOUT_PROGRESS {
                        return Err(HarvestError::TooManyRestarts {
                            url,
                            restarts: restarts_without_progress - 1,
                        });
                    }
                    flight.restarts += 1;
                    report.restarts += 1;
                    request_from = restart_from(flight, g, overlap);
                    restarted_at(flight, request_from.as_deref());
                    tracing::warn!(
                        from = ?request_from,
                        sorted = flight.sorted,
                        "The provider refused the resumption token (expired?): restarting the list."
                    );
                    token = None;
                    seen.clear();
                    cursor.restart();
                    continue;
                } else {
                    return Err(provider_error(&url, &response));
                }
            } else if response.verb != Some(Verb::ListRecords) {
                return Err(HarvestError::Unexpected {
                    url,
                    message: "the response has no <ListRecords> element".into(),
                });
            } else if token.is_some() {
                // A token was honoured: the list moves on (tokens that expire now and then
                // during a long harvest are not a reason to give up).
                restarts_without_progress = 0;
            }
            let next = if end_of_list {
                None
            } else {
                response
                    .token
                    .as_ref()
                    .map(|t| t.value.clone())
                    .filter(|v| !v.is_empty())
            };
            if ctx.crosswalk.is_some() && !end_of_list {
                let at = response.token.as_ref().and_then(|t| t.cursor);
                cursor.page(response.records().len(), at, next.is_none());
            }
            if let Some(t) = &next {
                if token.as_deref() == Some(t.as_str()) || !seen.insert(t.clone()) {
                    return Err(HarvestError::LoopingToken {
                        url,
                        token: t.clone(),
                    });
                }
            }
            if flight.first_response_date.is_none() {
                flight.first_response_date = Some(
                    response
                        .response_date
                        .as_deref()
                        .and_then(parse_arg)
                        .unwrap_or(ctx.fallback_date),
                );
            }
            let page_ctx = Arc::clone(ctx);
            let page_flight = flight.clone();
            let page_next = next.clone();
            let shifted = cursor.shifted;
            let span = tracing::debug_span!("page", n = flight.pages + 1);
            pipe.preparing = Some(tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                prepare_write(&page_ctx, response, page_flight, page_next, shifted)
            }));
            pages_this_run += 1;
            match next {
                None => break,
                Some(t) => {
                    token = Some(t);
                    if self.options.max_pages.is_some_and(|m| pages_this_run >= m) {
                        report.complete = false;
                        break;
                    }
                }
            }
        }
        Ok(cursor.shifted)
    }

    /// Moves the pages in flight on: counts the page committed (if any), then sets the list's
    /// state from the page prepared (if any) and starts its commit.
    async fn advance(
        &self,
        ctx: &Arc<PageContext<S>>,
        pipe: &mut Pipeline<S>,
        flight: &mut InFlight,
        report: &mut SourceReport,
    ) -> Result<(), HarvestError> {
        self.settle(&mut pipe.committing, report).await?;
        let Some(handle) = pipe.preparing.take() else {
            return Ok(());
        };
        let page = handle
            .await
            .map_err(|e| HarvestError::Task(e.to_string()))??;
        flight.clone_from(&page.flight);
        let ctx = Arc::clone(ctx);
        let span = tracing::debug_span!("commit", n = flight.pages);
        pipe.committing = Some(tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            commit_page(&ctx, page)
        }));
        Ok(())
    }

    /// Ends a list: when it went well, commits the page prepared; in any case waits for the
    /// page being committed and counts it. A page prepared after a failure is dropped.
    async fn drain(
        &self,
        ctx: &Arc<PageContext<S>>,
        pipe: &mut Pipeline<S>,
        flight: &mut InFlight,
        listed: bool,
        report: &mut SourceReport,
    ) -> Result<(), HarvestError> {
        let advanced = if listed {
            self.advance(ctx, pipe, flight, report).await
        } else {
            Ok(())
        };
        if let Some(dropped) = pipe.preparing.take() {
            // Waited for, so that nothing of the list runs on after it.
            let _ = dropped.await;
        }
        let settled = self.settle(&mut pipe.committing, report).await;
        advanced?;
        settled.map(|_| ())
    }

    /// Waits for the page being written, if any, and counts it; true when there was one.
    async fn settle(
        &self,
        pending: &mut Option<JoinHandle<Result<PageResult, HarvestError>>>,
        report: &mut SourceReport,
    ) -> Result<bool, HarvestError> {
        let Some(handle) = pending.take() else {
            return Ok(false);
        };
        let page = handle
            .await
            .map_err(|e| HarvestError::Task(e.to_string()))??;
        report.count(&page.outcome, &page.deleted);
        report.unchanged = report.unchanged.saturating_sub(page.repeated);
        report.repeated += page.repeated;
        report.skipped += page.skipped;
        for refusal in &page.outcome.refusals {
            tracing::warn!(identifier = %refusal.identifier, owner = %refusal.owner, "Record refused: it belongs to another origin.");
            report.reject(&refusal.identifier, refusal.to_string());
        }
        for r in page.rejections {
            tracing::warn!(identifier = %r.identifier, reason = %r.reason, "Record rejected.");
            report.reject(&r.identifier, r.reason);
        }
        report.pages += 1;
        report.upstream_sets |= page.upstream_sets;
        report.stripped_characters += page.stripped;
        let handled =
            report.new + report.updated + report.deleted + report.unchanged + report.rejected;
        self.progress.page(&self.source.name, handled, page.total);
        Ok(true)
    }
}

/// Where a list restarts after badResumptionToken: the last committed datestamp minus the
/// overlap when the list came in datestamp order so far, else the list's own `from`.
fn restart_from(flight: &InFlight, g: Granularity, overlap: i64) -> Option<String> {
    match (flight.sorted, flight.last_datestamp) {
        (true, Some(last)) => Some(at_granularity(last.saturating_sub(overlap), g)),
        _ => flight.from.clone(),
    }
}

/// After a restart from the last datestamp minus the overlap, the records come again from
/// that point: order is judged from there, else the overlap itself would make the list look
/// unsorted and a second expiry would restart it from its very start.
fn restarted_at(flight: &mut InFlight, from: Option<&str>) {
    if flight.sorted {
        flight.last_datestamp = from.and_then(parse_arg);
    }
}

impl<S> PageContext<S> {
    /// The state of the list once complete: the next `from` is the first responseDate of this
    /// run (or `until`, if earlier) minus the overlap — unless this run started later than
    /// the saved `from`, which would leave a gap. A list that `shifted` under the harvest
    /// keeps the earlier of the saved `from` and its own, so that the next pass lists the same
    /// window again.
    fn completed_state(&self, flight: &InFlight, shifted: bool) -> ListState {
        let saved_from = self.saved.as_ref().and_then(|s| s.next_from.clone());
        if shifted {
            let next_from = match (saved_from, flight.from.clone()) {
                (Some(saved), Some(from)) => Some(if parse_arg(&from) < parse_arg(&saved) {
                    from
                } else {
                    saved
                }),
                _ => None,
            };
            return ListState {
                base_url: self.base_url.clone(),
                next_from,
                last_completed: Some(Datestamp::now().unix()),
                in_flight: None,
            };
        }
        let first = flight.first_response_date.unwrap_or(self.fallback_date);
        let reached = self
            .until_end
            .map_or(first, |u| u.min(first))
            .saturating_sub(self.overlap);
        let run_from = flight.from.as_deref().and_then(parse_arg);
        let next_from = match (saved_from.as_deref().and_then(parse_arg), run_from) {
            (Some(saved), Some(from)) if from > saved => saved_from,
            (Some(saved), _) if saved > reached => saved_from,
            _ => Some(at_granularity(reached, self.granularity)),
        };
        ListState {
            base_url: self.base_url.clone(),
            next_from,
            last_completed: Some(Datestamp::now().unix()),
            in_flight: None,
        }
    }

    fn in_flight_state(&self, flight: InFlight) -> ListState {
        ListState {
            base_url: self.base_url.clone(),
            next_from: self.saved.as_ref().and_then(|s| s.next_from.clone()),
            last_completed: self.saved.as_ref().and_then(|s| s.last_completed),
            in_flight: Some(flight),
        }
    }
}

/// The local setSpec of an upstream one: `source:<name>:<upstream>`. Characters a setSpec
/// cannot hold become `_` and empty parts are dropped, so the result is always valid.
pub fn local_set(source: &str, upstream: &str) -> Option<SetSpec> {
    let parts: Vec<String> = upstream
        .split(':')
        .map(|part| {
            part.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect::<String>()
        })
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return None;
    }
    SetSpec::parse(&format!("source:{source}:{}", parts.join(":")))
}

/// What one harvested record becomes.
enum Converted {
    /// A record to write, its upstream datestamp, and the crosswalk's sets to name first.
    Record {
        record: Box<HarvestedRecord>,
        datestamp: Datestamp,
        sets: Vec<pmb::LocalSet>,
    },
    /// A record not to publish (PMB's dummy `<id>-bull` notices).
    Skipped,
}

/// The parsed header fields of a harvested record, and the record's local sets.
fn header_input<S>(
    ctx: &PageContext<S>,
    record: &Record,
) -> Result<(RecordInput, Datestamp), String> {
    let h = &record.header;
    if !h.forbidden_in.is_empty() {
        // Stripped, `oai:x:1\u{FFFE}` would be `oai:x:1`: another record, silently merged.
        return Err(format!(
            "the header's <{}> holds a character XML 1.0 forbids (or bytes that are not UTF-8); \
             without it the record could pass for another one, so it is refused",
            h.forbidden_in.join(">, <")
        ));
    }
    let Some(identifier) = OaiIdentifier::parse(&h.identifier) else {
        return Err(format!("\"{}\" is not a valid identifier", h.identifier));
    };
    let Some(datestamp) = Datestamp::parse_lenient(&h.datestamp) else {
        return Err(format!("datestamp \"{}\" is not a date", h.datestamp));
    };
    let mut sets = vec![ctx.root_set.clone()];
    for s in &h.set_specs {
        if let Some(local) = local_set(&ctx.source, s) {
            if !sets.contains(&local) {
                sets.push(local);
            }
        }
    }
    let input = RecordInput {
        identifier,
        datestamp: None,
        sets,
        deleted: h.deleted,
        dc: None,
        other_formats: Vec::new(),
        about: Vec::new(),
        local_fields: Vec::new(),
        origin: Origin::Source(ctx.source.clone()),
    };
    Ok((input, datestamp))
}

/// Puts a crosswalked notice into `input`: its Dublin Core, the notice as served, the
/// crosswalk's sets; returns those sets, to name.
fn put_crosswalked(
    input: &mut RecordInput,
    prefix: &MetadataPrefix,
    c: pmb::Crosswalked,
) -> Vec<pmb::LocalSet> {
    input.dc = Some(c.dc);
    input.local_fields = c.local_fields;
    input.other_formats.push((prefix.clone(), c.notice));
    for s in &c.sets {
        if !input.sets.contains(&s.spec) {
            input.sets.push(s.spec.clone());
        }
    }
    c.sets
}

/// A deleted header of a PMB source: the record leaves the sets the header names, and stays
/// live if it is still in another upstream set (`Ok(None)`: a plain tombstone).
fn pmb_deletion<S: HarvestSink>(
    ctx: &PageContext<S>,
    options: &CrosswalkOptions,
    record: &Record,
    input: &mut RecordInput,
) -> Result<Option<Vec<pmb::LocalSet>>, String> {
    let left: Vec<SetSpec> = record
        .header
        .set_specs
        .iter()
        .filter_map(|s| local_set(&ctx.source, s))
        .collect();
    let decided = pmb::deletion(
        &ctx.store,
        &ctx.source,
        input.identifier.as_ref(),
        &left,
        options,
        ctx.prefix.as_ref(),
    )
    .map_err(|e| format!("cannot read the stored record: {e}"))?;
    let pmb::Deletion::StillIn {
        record: c,
        upstream,
    } = decided
    else {
        return Ok(None);
    };
    tracing::debug!(identifier = %input.identifier, "Deleted from some sets only: stays live.");
    input.deleted = false;
    input.sets.truncate(1);
    input.sets.extend(upstream);
    Ok(Some(put_crosswalked(input, &ctx.prefix, *c)))
}

/// Turns one harvested record into what the store writes; `Err(reason)` rejects it.
fn convert<S: HarvestSink>(
    ctx: &PageContext<S>,
    response: &Response,
    record: &mut Record,
) -> Result<Converted, String> {
    let (mut input, datestamp) = header_input(ctx, record)?;
    let mut crosswalk_sets = Vec::new();
    let mut rebuilt = false;
    if let (true, Some(options)) = (record.header.deleted, &ctx.crosswalk) {
        if let Some(sets) = pmb_deletion(ctx, options, record, &mut input)? {
            crosswalk_sets = sets;
            rebuilt = true;
        }
    }
    let h = &record.header;
    let mut provenance = None;
    if !input.deleted {
        let mut altered = record.stripped_characters > 0;
        let namespace = if rebuilt {
            altered = true;
            pmb::NAMESPACE.to_owned()
        } else {
            let Some(metadata) = record.metadata.as_mut() else {
                return Err("the record is not deleted but has no metadata".into());
            };
            if let Some(options) = &ctx.crosswalk {
                let xml = response.element_xml(&metadata.element);
                let Some(c) = pmb::crosswalk(&ctx.source, &xml, options)? else {
                    return Ok(Converted::Skipped);
                };
                crosswalk_sets = put_crosswalked(&mut input, &ctx.prefix, c);
                // The notice is served in PMB's namespace, and with an oai_dc made from it.
                altered = true;
                pmb::NAMESPACE.to_owned()
            } else if ctx.prefix.as_ref() == "oai_dc" {
                // Taken, not cloned: the page is not read again once converted.
                let Some(mut dc) = metadata.dc.take() else {
                    return Err("the metadata is not an <oai_dc:dc> element".into());
                };
                // An xml:lang that is no language tag would make every response holding the
                // record invalid: the value is kept, its language dropped.
                for v in dc.values_mut() {
                    if v.lang
                        .as_deref()
                        .is_some_and(|l| !crate::protocol::xml::read::is_xml_language(l))
                    {
                        v.lang = None;
                    }
                }
                input.dc = Some(dc);
                OAI_DC_NAMESPACE.to_owned()
            } else {
                input
                    .other_formats
                    .push((ctx.prefix.clone(), response.element_xml(&metadata.element)));
                metadata
                    .element
                    .namespace
                    .clone()
                    .unwrap_or_else(|| ctx.namespace.clone())
            }
        };
        let nested = record
            .about
            .iter()
            .find_map(|a| a.origin.as_ref())
            .map(|e| response.element_xml(e));
        provenance = Some(provenance_xml(&Provenance {
            base_url: &ctx.base_url,
            identifier: &h.identifier,
            datestamp: &h.datestamp,
            metadata_namespace: &namespace,
            altered,
            nested: nested.as_deref(),
        }));
        for about in &record.about {
            if about.element.namespace.as_deref() != Some(PROVENANCE_NAMESPACE) {
                input.about.push(response.element_xml(&about.element));
            }
        }
    }
    Ok(Converted::Record {
        record: Box::new(HarvestedRecord { input, provenance }),
        datestamp,
        sets: crosswalk_sets,
    })
}

/// The records of a page, converted; PMB's deleted header of a record listed live on the same
/// page is dropped (the live header lists the sets the record is still in).
struct PageInputs {
    inputs: Vec<HarvestedRecord>,
    sets: Vec<pmb::LocalSet>,
    rejections: Vec<Rejection>,
    skipped: u64,
}

fn page_inputs<S: HarvestSink>(
    ctx: &PageContext<S>,
    response: &Response,
    records: Vec<Record>,
    flight: &mut InFlight,
) -> PageInputs {
    let live: HashSet<String> = if ctx.crosswalk.is_some() {
        records
            .iter()
            .filter(|r| !r.header.deleted)
            .map(|r| r.header.identifier.clone())
            .collect()
    } else {
        HashSet::new()
    };
    let mut out = PageInputs {
        inputs: Vec::with_capacity(records.len()),
        sets: Vec::new(),
        rejections: Vec::new(),
        skipped: 0,
    };
    for mut record in records {
        if record.header.deleted && live.contains(&record.header.identifier) {
            continue;
        }
        match convert(ctx, response, &mut record) {
            Ok(Converted::Record {
                record,
                datestamp,
                sets,
            }) => {
                let d = datestamp.unix();
                if flight.last_datestamp.is_some_and(|last| d < last) {
                    flight.sorted = false;
                }
                flight.last_datestamp = Some(flight.last_datestamp.map_or(d, |last| last.max(d)));
                out.inputs.push(*record);
                for s in sets {
                    if !out.sets.contains(&s) {
                        out.sets.push(s);
                    }
                }
            }
            Ok(Converted::Skipped) => out.skipped += 1,
            Err(reason) => out.rejections.push(Rejection {
                identifier: record.header.identifier,
                reason,
            }),
        }
    }
    out
}

/// How many of the records `ids` that came out unchanged were already written by this run
/// (listed twice because the list shifted): they are counted once.
fn repeated<S: HarvestSink>(
    ctx: &PageContext<S>,
    ids: &[String],
    outcome: &BatchOutcome,
) -> Result<u64, HarvestError> {
    let mut n = 0;
    for (id, o) in ids.iter().zip(&outcome.outcomes) {
        if *o == crate::store::PutOutcome::Unchanged
            && ctx
                .store
                .get(id)?
                .is_some_and(|r| r.datestamp >= ctx.run_started)
        {
            n += 1;
        }
    }
    Ok(n)
}

/// The pages of a list in flight: one being prepared while the one before is committed.
struct Pipeline<S: HarvestSink> {
    preparing: Option<JoinHandle<Result<ReadyPage<S>, HarvestError>>>,
    committing: Option<JoinHandle<Result<PageResult, HarvestError>>>,
}

/// A page converted and, when it fits in one batch, prepared: all its commit needs.
struct ReadyPage<S: HarvestSink> {
    records: PageRecords<S::PreparedPage>,
    /// The checkpoint the page's commit writes.
    state: ListState,
    deleted: Vec<bool>,
    ids: Vec<String>,
    rejections: Vec<Rejection>,
    upstream_sets: bool,
    /// The list's state once the page is written.
    flight: InFlight,
    stripped: u64,
    total: Option<u64>,
    skipped: u64,
}

/// A page's records: prepared as one batch, or, more than a batch, to be written in several.
enum PageRecords<P> {
    Prepared(P),
    Batches {
        records: Vec<HarvestedRecord>,
        /// The checkpoint before the page: written with all but the last batch.
        previous_state: Box<ListState>,
    },
}

/// Converts one page and prepares it against the store (blocking), with the list's next state.
/// `shifted` says that the list moved under the harvest: its completion then keeps the saved
/// `from`.
fn prepare_write<S: HarvestSink>(
    ctx: &PageContext<S>,
    mut response: Response,
    mut flight: InFlight,
    next: Option<String>,
    shifted: bool,
) -> Result<ReadyPage<S>, HarvestError> {
    let before = flight.clone();
    let records = match std::mem::replace(&mut response.payload, Payload::None) {
        Payload::Records(r) => r,
        _ => Vec::new(),
    };
    let upstream_sets = records.iter().any(|r| !r.header.set_specs.is_empty());
    let page = page_inputs(ctx, &response, records, &mut flight);
    pmb::define_sets(&ctx.store, &ctx.source, &page.sets)?;
    let (inputs, rejections) = (page.inputs, page.rejections);
    flight.pages += 1;
    flight.records += inputs.len() as u64;
    let state = match &next {
        Some(t) => ctx.in_flight_state(InFlight {
            token: t.clone(),
            ..flight.clone()
        }),
        None => ctx.completed_state(&flight, shifted),
    };
    let deleted: Vec<bool> = inputs.iter().map(|r| r.input.deleted).collect();
    let ids: Vec<String> = inputs
        .iter()
        .map(|r| r.input.identifier.as_ref().to_owned())
        .collect();
    // A page larger than a batch is written in several transactions; only the last one moves
    // the checkpoint, so an interruption in between makes the page be fetched again.
    let records = if inputs.len() > ctx.max_batch {
        PageRecords::Batches {
            records: inputs,
            previous_state: Box::new(if before.token.is_empty() {
                ListState {
                    in_flight: None,
                    ..ctx.in_flight_state(before)
                }
            } else {
                ctx.in_flight_state(before)
            }),
        }
    } else {
        PageRecords::Prepared(ctx.store.prepare_harvest_page(inputs)?)
    };
    Ok(ReadyPage {
        records,
        state,
        deleted,
        ids,
        rejections,
        upstream_sets,
        flight: InFlight {
            token: next.unwrap_or_default(),
            ..flight
        },
        stripped: response.stripped_characters as u64,
        total: response
            .token
            .as_ref()
            .and_then(|t| t.complete_list_size)
            // PMB sends completeListSize="0" on every token: a size it does not know.
            .filter(|&n| n > 0),
        skipped: page.skipped,
    })
}

/// Commits a page of [`prepare_write`] with its checkpoint (blocking).
fn commit_page<S: HarvestSink>(
    ctx: &PageContext<S>,
    page: ReadyPage<S>,
) -> Result<PageResult, HarvestError> {
    let outcome = match page.records {
        PageRecords::Prepared(p) => {
            ctx.store
                .put_prepared_harvest_page(p, &ctx.key, &page.state)?
        }
        PageRecords::Batches {
            records,
            previous_state,
        } => write_batches(ctx, records, &page.state, &previous_state)?,
    };
    let repeated = repeated(ctx, &page.ids, &outcome)?;
    tracing::debug!(
        records = page.deleted.len(),
        rejected = page.rejections.len(),
        more = !page.flight.token.is_empty(),
        "Page committed."
    );
    Ok(PageResult {
        upstream_sets: page.upstream_sets,
        outcome,
        deleted: page.deleted,
        rejections: page.rejections,
        stripped: page.stripped,
        total: page.total,
        skipped: page.skipped,
        repeated,
    })
}

/// Writes a page larger than a batch in batches; only the last one moves the checkpoint.
fn write_batches<S: HarvestSink>(
    ctx: &PageContext<S>,
    mut rest: Vec<HarvestedRecord>,
    state: &ListState,
    previous_state: &ListState,
) -> Result<BatchOutcome, HarvestError> {
    let mut outcome = BatchOutcome::default();
    loop {
        let tail = if rest.len() > ctx.max_batch {
            rest.split_off(ctx.max_batch)
        } else {
            Vec::new()
        };
        let last = tail.is_empty();
        let written = ctx.store.put_harvest_page(
            rest,
            &ctx.key,
            if last { state } else { previous_state },
        )?;
        let offset = outcome.outcomes.len();
        outcome.outcomes.extend(written.outcomes);
        outcome.stripped_characters += written.stripped_characters;
        outcome
            .refusals
            .extend(written.refusals.into_iter().map(|mut r| {
                r.index += offset;
                r
            }));
        if last {
            return Ok(outcome);
        }
        rest = tail;
    }
}

/// Runs a store call on the blocking pool: sled may wait on the disk.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, HarvestError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HarvestError::Task(e.to_string()))?
        .map_err(HarvestError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn upstream_setspecs_go_beneath_the_source_set_and_stay_valid() {
        assert_eq!(
            local_set("zenodo", "user-foo").unwrap().as_ref(),
            "source:zenodo:user-foo"
        );
        assert_eq!(
            local_set("arxiv", "physics:astro-ph").unwrap().as_ref(),
            "source:arxiv:physics:astro-ph"
        );
        assert_eq!(
            local_set("x", "a b::c/d").unwrap().as_ref(),
            "source:x:a_b:c_d"
        );
        assert_eq!(local_set("x", ":"), None);
    }

    #[test]
    fn ad_hoc_sources_are_named_after_the_host() {
        assert_eq!(name_from_url("https://zenodo.org/oai2d"), "zenodo.org");
        assert_eq!(
            name_from_url("http://user:pw@127.0.0.1:8080/oai?x=1"),
            "127.0.0.1"
        );
        assert_eq!(name_from_url("garbage"), "garbage");
    }

    #[test]
    fn a_plan_needs_known_sources_and_sane_flags() {
        let configured = vec![
            SourceSettings::new("a", "http://a/oai"),
            SourceSettings::new("b", "http://b/oai"),
        ];
        let spec = |f: fn(&mut HarvestSpec)| {
            let mut s = HarvestSpec::default();
            f(&mut s);
            s.plan(&configured)
        };
        assert_eq!(spec(|s| s.all = true).unwrap().sources.len(), 2);
        assert_eq!(
            spec(|s| s.names = vec!["b".into(), "b".into()])
                .unwrap()
                .sources
                .len(),
            1
        );
        assert!(spec(|_| {}).is_err());
        assert!(spec(|s| s.names = vec!["c".into()]).is_err());
        assert!(spec(|s| {
            s.all = true;
            s.from = Some("2020-13-01".into());
        })
        .is_err());
        let adhoc = spec(|s| {
            s.url = Some("https://zenodo.org/oai2d".into());
            s.sets = vec!["user-rdmo".into()];
            s.prefix = Some("datacite".into());
        })
        .unwrap();
        assert_eq!(adhoc.sources[0].name, "zenodo.org");
        assert_eq!(adhoc.sources[0].sets, ["user-rdmo"]);
        assert_eq!(adhoc.sources[0].metadata_prefix, "datacite");
    }

    #[test]
    fn dates_are_sent_at_the_provider_granularity() {
        assert_eq!(
            at_granularity(1_577_836_799, Granularity::Day),
            "2019-12-31"
        );
        assert_eq!(
            at_granularity(1_577_836_799, Granularity::Second),
            "2019-12-31T23:59:59Z"
        );
    }

    #[test]
    fn an_expired_list_restarts_from_the_last_datestamp_only_when_it_came_in_order() {
        let mut f = InFlight {
            from: Some("2000-01-01".into()),
            sorted: true,
            last_datestamp: Some(1_577_836_800),
            ..InFlight::default()
        };
        assert_eq!(
            restart_from(&f, Granularity::Second, 60).as_deref(),
            Some("2019-12-31T23:59:00Z")
        );
        f.sorted = false;
        assert_eq!(
            restart_from(&f, Granularity::Second, 60).as_deref(),
            Some("2000-01-01")
        );
    }

    #[test]
    fn a_list_restarted_in_order_stays_in_order_through_its_overlap() {
        let mut f = InFlight {
            from: Some("2000-01-01".into()),
            sorted: true,
            last_datestamp: Some(1_577_836_800),
            ..InFlight::default()
        };
        let from = restart_from(&f, Granularity::Second, 60);
        restarted_at(&mut f, from.as_deref());
        // The first record after the restart is inside the overlap.
        assert_eq!(f.last_datestamp, Some(1_577_836_740));
        let unsorted_before =
            Some(1_577_836_750).is_some_and(|d| f.last_datestamp.is_some_and(|l| d < l));
        assert!(!unsorted_before);
        f.sorted = false;
        restarted_at(&mut f, Some("2000-01-01"));
        assert_eq!(
            f.last_datestamp,
            Some(1_577_836_740),
            "an unsorted list is left alone"
        );
    }

    fn page_ctx(saved_from: Option<&str>, until_end: Option<i64>) -> PageContext<Store> {
        PageContext {
            store: Store::temporary().unwrap(),
            key: ListKey {
                source: "s".into(),
                prefix: "oai_dc".into(),
                set: None,
            },
            source: "s".into(),
            root_set: SetSpec::parse("source:s").unwrap(),
            base_url: "http://s/oai".into(),
            prefix: MetadataPrefix::oai_dc(),
            namespace: OAI_DC_NAMESPACE.into(),
            granularity: Granularity::Second,
            overlap: 60,
            max_batch: 10,
            saved: saved_from.map(|f| ListState {
                next_from: Some(f.into()),
                ..ListState::default()
            }),
            fallback_date: 0,
            until_end,
            crosswalk: None,
            run_started: 0,
        }
    }

    #[test]
    fn the_next_from_is_the_first_response_date_minus_the_overlap_and_never_leaves_a_gap() {
        let flight = |from: Option<&str>| InFlight {
            from: from.map(str::to_owned),
            first_response_date: Some(1_600_000_000),
            ..InFlight::default()
        };
        let next = |ctx: &PageContext<Store>, f: &InFlight| {
            ctx.completed_state(f, false).next_from.unwrap()
        };
        assert_eq!(
            next(&page_ctx(None, None), &flight(None)),
            "2020-09-13T12:25:40Z"
        );
        // Until earlier than the response: the next run continues from until.
        assert_eq!(
            next(&page_ctx(None, Some(1_500_000_000)), &flight(None)),
            "2017-07-14T02:39:00Z"
        );
        // A run that started after the saved from must not move it forward.
        let ctx = page_ctx(Some("2010-01-01T00:00:00Z"), None);
        assert_eq!(
            next(&ctx, &flight(Some("2015-01-01"))),
            "2010-01-01T00:00:00Z"
        );
        assert_eq!(
            next(&ctx, &flight(Some("2009-01-01"))),
            "2020-09-13T12:25:40Z"
        );
    }
}
