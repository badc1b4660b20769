//! Prometheus metrics at `/metrics`, in the OpenMetrics text format (which Prometheus scrapes
//! natively), written by the `prometheus-client` crate.
//!
//! Three kinds of numbers live here:
//! - request metrics, counted in memory as the server answers ([`Metrics::observe`],
//!   [`Metrics::overloaded`], [`Metrics::server_error`]); they start at zero with the process,
//!   as Prometheus counters do;
//! - the HTTP server's state, read at scrape time: connections open, connections closed for
//!   not reading ([`super::connection`]), the response buffer's fill ([`super::body`]);
//! - per-source harvest metrics: the last run of each source as the harvester recorded it in
//!   the store ([`crate::store::Store::source_runs`]), read at scrape time, so that they
//!   survive restarts. They describe the last run only, so they are gauges: alert on
//!   `moisson_harvest_last_run_outcome{outcome!="ok"}` or on an old
//!   `moisson_harvest_last_run_timestamp_seconds`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::error::ServerError;
use super::AppState;
use crate::protocol::{Response, Verb};
use crate::store::harvest_state::SourceRun;

/// The `Content-Type` of the exposition (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric name starts with this.
const PREFIX: &str = "moisson";

/// The `cause` labels of 5xx answers.
const CAUSE_STORAGE: &str = "storage";
const CAUSE_INTERNAL: &str = "internal";

/// The `verb` label of a request that could not be parsed (its error codes tell why).
const NO_VERB: &str = "none";

const VERBS: [Verb; 6] = [
    Verb::Identify,
    Verb::ListMetadataFormats,
    Verb::ListSets,
    Verb::ListIdentifiers,
    Verb::ListRecords,
    Verb::GetRecord,
];

/// The error codes of OAI-PMH 2.0 §3.6, so that every series exists from the start.
const ERROR_CODES: [&str; 8] = [
    "badArgument",
    "badResumptionToken",
    "badVerb",
    "cannotDisseminateFormat",
    "idDoesNotExist",
    "noRecordsMatch",
    "noMetadataFormats",
    "noSetHierarchy",
];

/// Response-time buckets, in seconds: 1 ms to 10 s.
const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabel {
    verb: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CauseLabel {
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceOutcomeLabel {
    source: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceCountLabel {
    source: String,
    count: &'static str,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The request metrics of one server (shared by all its workers).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<VerbLabel, Counter>,
    errors: Family<CodeLabel, Counter>,
    duration: Family<VerbLabel, Histogram, fn() -> Histogram>,
    items: Family<VerbLabel, Counter>,
    tokens_issued: Family<VerbLabel, Counter>,
    tokens_rejected: Counter,
    overloaded: Counter,
    server_errors: Family<CauseLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every request metric, each series at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<VerbLabel, Counter>::default();
        let errors = Family::<CodeLabel, Counter>::default();
        let duration: Family<VerbLabel, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        let items = Family::<VerbLabel, Counter>::default();
        let tokens_issued = Family::<VerbLabel, Counter>::default();
        let tokens_rejected = Counter::default();
        let overloaded = Counter::default();
        let server_errors = Family::<CauseLabel, Counter>::default();

        let info = Family::<VersionLabel, Gauge>::default();
        info.get_or_create(&VersionLabel {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        registry.register("build_info", "The running version of moisson", info);
        registry.register(
            "oai_requests",
            "OAI-PMH requests answered, by verb (\"none\": the request could not be parsed)",
            requests.clone(),
        );
        registry.register(
            "oai_errors",
            "OAI-PMH error conditions reported in responses, by error code",
            errors.clone(),
        );
        registry.register_with_unit(
            "oai_request_duration",
            "Time to answer an OAI-PMH request, by verb",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "oai_items_served",
            "Items written, by verb: records (ListRecords, GetRecord), headers \
             (ListIdentifiers), sets or metadata formats",
            items.clone(),
        );
        registry.register(
            "oai_resumption_tokens_issued",
            "Resumption tokens issued, by verb",
            tokens_issued.clone(),
        );
        registry.register(
            "oai_resumption_tokens_rejected",
            "Requests refused with badResumptionToken (expired, tampered or foreign tokens)",
            tokens_rejected.clone(),
        );
        registry.register(
            "oai_overloaded",
            "Requests refused with 503 Service Unavailable because too many lists ran at once \
             or the response buffer was full",
            overloaded.clone(),
        );
        registry.register(
            "http_server_errors",
            "Requests answered 500 by cause: storage (the store failed) or internal",
            server_errors.clone(),
        );

        // Every series exists from the start, so that rate() and alerts see a 0 before the
        // first event.
        let verbs = VERBS.iter().map(|v| v.as_str()).chain([NO_VERB]);
        for verb in verbs {
            let label = VerbLabel { verb };
            requests.get_or_create_owned(&label);
            duration.get_or_create_owned(&label);
            items.get_or_create_owned(&label);
        }
        for verb in [Verb::ListSets, Verb::ListIdentifiers, Verb::ListRecords] {
            tokens_issued.get_or_create_owned(&VerbLabel {
                verb: verb.as_str(),
            });
        }
        for code in ERROR_CODES {
            errors.get_or_create_owned(&CodeLabel { code });
        }
        for cause in [CAUSE_STORAGE, CAUSE_INTERNAL] {
            server_errors.get_or_create_owned(&CauseLabel { cause });
        }
        Metrics {
            registry,
            requests,
            errors,
            duration,
            items,
            tokens_issued,
            tokens_rejected,
            overloaded,
            server_errors,
        }
    }

    /// Counts one answered OAI-PMH request that took `elapsed`.
    pub fn observe(&self, response: &Response, elapsed: Duration) {
        let label = VerbLabel {
            verb: response.verb.map_or(NO_VERB, Verb::as_str),
        };
        self.requests.get_or_create(&label).inc();
        self.duration
            .get_or_create(&label)
            .observe(elapsed.as_secs_f64());
        if response.items > 0 {
            self.items
                .get_or_create(&label)
                .inc_by(u64::try_from(response.items).unwrap_or(u64::MAX));
        }
        if response.token_issued {
            self.tokens_issued.get_or_create(&label).inc();
        }
        for &code in &response.error_codes {
            self.errors.get_or_create(&CodeLabel { code }).inc();
        }
        if response.error_codes.contains(&"badResumptionToken") {
            self.tokens_rejected.inc();
        }
    }

    /// Counts one request refused with 503 because the server was busy.
    pub fn overloaded(&self) {
        self.overloaded.inc();
    }

    /// Counts one request answered with a 5xx by `error`'s cause.
    pub fn server_error(&self, error: &ServerError) {
        let cause = match error {
            ServerError::Store(_) => CAUSE_STORAGE,
            _ => CAUSE_INTERNAL,
        };
        self.server_errors
            .get_or_create(&CauseLabel { cause })
            .inc();
    }

    /// The whole exposition: request metrics, the connections now, then the last harvest run
    /// of each source (`None` when the harvest state could not be read), then `# EOF`.
    pub fn render(&self, now: &HttpNow, runs: Option<&[(String, SourceRun)]>) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let harvest = harvest_registry(runs);
        // Writing to a String cannot fail; the encoder only reports fmt::Error from its writer.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &http_registry(now));
        let _ = encode_registry(&mut out, &harvest);
        let _ = encode_eof(&mut out);
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The state of the HTTP server at one scrape.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpNow {
    /// Connections open.
    pub connections: usize,
    /// Connections closed so far because their client read nothing of its response.
    pub write_timeouts: u64,
    /// Bytes of responses waiting for their clients.
    pub buffered_bytes: usize,
    /// The most those may be.
    pub buffer_bytes: usize,
}

fn http_registry(now: &HttpNow) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    let gauge = |v: usize| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    registry.register(
        "http_connections",
        "Client connections open",
        gauge(now.connections),
    );
    let timeouts = Counter::<u64>::default();
    timeouts.inc_by(now.write_timeouts);
    registry.register(
        "http_write_timeouts",
        "Connections closed because their client read nothing of its response for \
         server.write_timeout_secs",
        timeouts,
    );
    registry.register_with_unit(
        "http_response_buffer",
        "Memory held by responses waiting for their clients",
        Unit::Bytes,
        gauge(now.buffered_bytes),
    );
    registry.register_with_unit(
        "http_response_buffer_limit",
        "The most memory responses waiting for their clients may hold (server.response_buffer_mb)",
        Unit::Bytes,
        gauge(now.buffer_bytes),
    );
    registry
}

/// A registry made for one scrape, from the runs the harvester recorded.
fn harvest_registry(runs: Option<&[(String, SourceRun)]>) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    let up = Gauge::<i64>::default();
    up.set(i64::from(runs.is_some()));
    registry.register(
        "harvest_state_up",
        "1 when the harvest state could be read from the store for this scrape, else 0",
        up,
    );
    let finished = Family::<SourceLabel, Gauge>::default();
    let duration = Family::<SourceLabel, Gauge<f64, AtomicU64>>::default();
    let outcome = Family::<SourceOutcomeLabel, Gauge>::default();
    let counts = Family::<SourceCountLabel, Gauge>::default();
    for (name, run) in runs.unwrap_or_default() {
        let source = SourceLabel {
            source: name.clone(),
        };
        finished.get_or_create(&source).set(run.finished);
        duration.get_or_create(&source).set(run.seconds);
        outcome
            .get_or_create(&SourceOutcomeLabel {
                source: name.clone(),
                outcome: run.outcome.clone(),
            })
            .set(1);
        for (count, n) in [
            ("new", run.new),
            ("updated", run.updated),
            ("deleted", run.deleted),
            ("unchanged", run.unchanged),
            ("rejected", run.rejected),
            ("pages", run.pages),
            ("requests", run.requests),
            ("retries", run.retries),
        ] {
            counts
                .get_or_create(&SourceCountLabel {
                    source: name.clone(),
                    count,
                })
                .set(saturating_i64(n));
        }
    }
    registry.register_with_unit(
        "harvest_last_run_timestamp",
        "When the last harvest run of a source ended, in seconds since the Unix epoch",
        Unit::Seconds,
        finished,
    );
    registry.register_with_unit(
        "harvest_last_run_duration",
        "How long the last harvest run of a source took",
        Unit::Seconds,
        duration,
    );
    registry.register(
        "harvest_last_run_outcome",
        "1 for how the last harvest run of a source ended: ok, rejected (some records refused), \
         failed or already_running",
        outcome,
    );
    registry.register(
        "harvest_last_run",
        "Counts of the last harvest run of a source: records new, updated, deleted, unchanged \
         and rejected; pages; requests and retries",
        counts,
    );
    registry
}

/// GET `/metrics`: the exposition, harvest state read from the store off the async workers.
pub async fn scrape(state: web::Data<AppState>) -> Result<HttpResponse, ServerError> {
    let store = state.store.clone();
    let runs = web::block(move || store.source_runs())
        .await
        .map_err(|e| super::routes::server_failure(&state, ServerError::Internal(e.to_string())))?;
    let runs = match runs {
        Ok(runs) => Some(runs),
        Err(error) => {
            tracing::warn!(
                error.cause_chain = ?error,
                error.message = %error,
                "Failed to read the harvest state for /metrics."
            );
            None
        }
    };
    let now = HttpNow {
        connections: state.connections.open(),
        write_timeouts: state.connections.write_timeouts(),
        buffered_bytes: state.responses.buffered(),
        buffer_bytes: state.responses.total(),
    };
    Ok(HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-store"))
        .body(state.metrics.render(&now, runs.as_deref())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(exposition: &str, series: &str) -> Option<f64> {
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.split(' ').next()?.parse().ok())
    }

    #[test]
    fn every_series_exists_at_zero_and_the_exposition_ends_with_eof() {
        let text = Metrics::new().render(&HttpNow::default(), Some(&[]));
        assert_eq!(
            value(&text, "moisson_oai_requests_total{verb=\"ListRecords\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&text, "moisson_oai_errors_total{code=\"noSetHierarchy\"}"),
            Some(0.0)
        );
        assert_eq!(value(&text, "moisson_oai_overloaded_total"), Some(0.0));
        assert_eq!(value(&text, "moisson_harvest_state_up"), Some(1.0));
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_response_moves_its_verb_items_token_and_error_series() {
        let m = Metrics::new();
        m.observe(
            &Response {
                verb: Some(Verb::ListRecords),
                items: 100,
                token_issued: true,
                ..Response::default()
            },
            Duration::from_millis(3),
        );
        m.observe(
            &Response {
                error_codes: vec!["badResumptionToken"],
                ..Response::default()
            },
            Duration::from_millis(1),
        );
        m.overloaded();
        let text = m.render(&HttpNow::default(), None);
        assert_eq!(
            value(&text, "moisson_oai_requests_total{verb=\"ListRecords\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "moisson_oai_requests_total{verb=\"none\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "moisson_oai_items_served_total{verb=\"ListRecords\"}"
            ),
            Some(100.0)
        );
        assert_eq!(
            value(
                &text,
                "moisson_oai_resumption_tokens_issued_total{verb=\"ListRecords\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "moisson_oai_resumption_tokens_rejected_total"),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "moisson_oai_errors_total{code=\"badResumptionToken\"}"
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &text,
                "moisson_oai_request_duration_seconds_bucket{le=\"0.005\",verb=\"ListRecords\"}"
            )
            .or_else(|| value(
                &text,
                "moisson_oai_request_duration_seconds_bucket{verb=\"ListRecords\",le=\"0.005\"}"
            )),
            Some(1.0)
        );
        assert_eq!(value(&text, "moisson_oai_overloaded_total"), Some(1.0));
        assert_eq!(value(&text, "moisson_harvest_state_up"), Some(0.0));
    }

    #[test]
    fn the_last_run_of_each_source_becomes_labelled_series() {
        let runs = [(
            "bib \"a\"".to_owned(),
            SourceRun {
                started: 1_699_999_990,
                finished: 1_700_000_000,
                outcome: "rejected".into(),
                new: 5,
                rejected: 3,
                retries: 4,
                seconds: 10.5,
                ..SourceRun::default()
            },
        )];
        let text = Metrics::new().render(&HttpNow::default(), Some(&runs));
        let source = r#"source="bib \"a\"""#;
        assert_eq!(
            value(
                &text,
                &format!("moisson_harvest_last_run_timestamp_seconds{{{source}}}")
            ),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            value(
                &text,
                &format!("moisson_harvest_last_run_duration_seconds{{{source}}}")
            ),
            Some(10.5)
        );
        assert_eq!(
            value(
                &text,
                &format!("moisson_harvest_last_run_outcome{{{source},outcome=\"rejected\"}}")
            ),
            Some(1.0)
        );
        for (count, n) in [
            ("new", 5.0),
            ("updated", 0.0),
            ("rejected", 3.0),
            ("retries", 4.0),
        ] {
            assert_eq!(
                value(
                    &text,
                    &format!("moisson_harvest_last_run{{{source},count=\"{count}\"}}")
                ),
                Some(n),
                "{count}"
            );
        }
    }
}
