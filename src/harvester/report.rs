//! What a harvest run reports: one [`SourceReport`] per source (the one-line summary on
//! stderr, and the `--json` run report), and the run's overall [`Outcome`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::store::harvest_state::SourceRun;
use crate::store::{BatchOutcome, PutOutcome};

/// Most rejections kept in a report (all are logged).
pub const MAX_REPORTED_REJECTIONS: usize = 1000;

/// How the harvest of a source ended, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every record harvested.
    Ok,
    /// Finished, but some records were refused (each reported).
    Rejected,
    /// Another harvest of the source was running; nothing was done.
    AlreadyRunning,
    /// The harvest stopped on an error; the pages committed before it are kept.
    Failed,
}

impl Outcome {
    /// The name used in reports and stored runs.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Rejected => "rejected",
            Outcome::AlreadyRunning => "already_running",
            Outcome::Failed => "failed",
        }
    }
}

/// One record the harvester refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The identifier as the provider wrote it.
    pub identifier: String,
    /// Why it was refused.
    pub reason: String,
}

/// The report of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Source name.
    pub source: String,
    /// Its baseURL.
    pub base_url: String,
    /// The metadataPrefix harvested.
    pub metadata_prefix: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The error that ended it.
    pub error: Option<String>,
    /// The request URL of that error, when a request failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_url: Option<String>,
    /// New records.
    pub new: u64,
    /// Changed records.
    pub updated: u64,
    /// Records that became tombstones.
    pub deleted: u64,
    /// Records harvested again without change.
    pub unchanged: u64,
    /// Records refused.
    pub rejected: u64,
    /// Records deliberately not published (PMB's dummy `<id>-bull` notices).
    #[serde(default)]
    pub skipped: u64,
    /// Records listed again in the same run (a list that shifted under the harvest), counted
    /// once.
    #[serde(default)]
    pub repeated: u64,
    /// Lists harvested a second time in the same run because they shifted under the first.
    #[serde(default)]
    pub relisted: u64,
    /// Pages committed.
    pub pages: u64,
    /// HTTP requests, retries included.
    pub requests: u64,
    /// Retries.
    pub retries: u64,
    /// Lists restarted after badResumptionToken.
    pub restarts: u64,
    /// True when a list continued from a checkpointed resumption token.
    pub resumed: bool,
    /// False when the run stopped before the end of a list on purpose (`--max-pages`).
    pub complete: bool,
    /// Characters XML forbids, removed.
    pub stripped_characters: u64,
    /// True when a harvested record carried an upstream setSpec (so ListSets is worth asking).
    #[serde(default)]
    pub upstream_sets: bool,
    /// Upstream sets whose local set was named (or renamed) after ListSets.
    #[serde(default)]
    pub sets_named: u64,
    /// The identifier sweep, when one ran.
    #[serde(default)]
    pub sweep: Option<super::sweep::SweepReport>,
    /// Seconds the harvest took.
    pub seconds: f64,
    /// The refused records (at most [`MAX_REPORTED_REJECTIONS`]).
    pub rejections: Vec<Rejection>,
}

impl SourceReport {
    /// An empty report for a source.
    pub fn new(source: &str, base_url: &str, metadata_prefix: &str) -> Self {
        SourceReport {
            source: source.to_owned(),
            base_url: base_url.to_owned(),
            metadata_prefix: metadata_prefix.to_owned(),
            outcome: Outcome::Ok,
            error: None,
            error_url: None,
            new: 0,
            updated: 0,
            deleted: 0,
            unchanged: 0,
            rejected: 0,
            skipped: 0,
            repeated: 0,
            relisted: 0,
            pages: 0,
            requests: 0,
            retries: 0,
            restarts: 0,
            resumed: false,
            complete: true,
            stripped_characters: 0,
            upstream_sets: false,
            sets_named: 0,
            sweep: None,
            seconds: 0.0,
            rejections: Vec::new(),
        }
    }

    /// Adds the outcomes of a written page; `deleted[i]` tells whether input `i` was a deletion.
    pub fn count(&mut self, outcome: &BatchOutcome, deleted: &[bool]) {
        for (o, &del) in outcome.outcomes.iter().zip(deleted) {
            match (o, del) {
                // Counted, with its reason, by `reject`.
                (PutOutcome::Rejected, _) => {}
                (PutOutcome::Unchanged, _) => self.unchanged += 1,
                (_, true) | (PutOutcome::Deleted, _) => self.deleted += 1,
                (PutOutcome::Added, false) => self.new += 1,
                (PutOutcome::Updated, false) => self.updated += 1,
            }
        }
    }

    /// Records a refused record.
    pub fn reject(&mut self, identifier: &str, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REPORTED_REJECTIONS {
            self.rejections.push(Rejection {
                identifier: identifier.to_owned(),
                reason,
            });
        }
    }

    /// The run to store in `harvest_state` for metrics.
    pub fn to_run(&self, started: i64, finished: i64) -> SourceRun {
        SourceRun {
            started,
            finished,
            outcome: self.outcome.as_str().to_owned(),
            error: self.error.clone(),
            new: self.new,
            updated: self.updated,
            deleted: self.deleted,
            unchanged: self.unchanged,
            rejected: self.rejected,
            pages: self.pages,
            requests: self.requests,
            retries: self.retries,
            seconds: self.seconds,
            error_url: self.error_url.clone(),
        }
    }
}

impl fmt::Display for SourceReport {
    /// The one-line summary: `harvest NAME: new …, seconds` and how it ended when not ok.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "harvest {}: new {}, updated {}, deleted {}, unchanged {}, rejected {}, pages {}, requests {}, retries {}, {:.1} s",
            self.source,
            self.new,
            self.updated,
            self.deleted,
            self.unchanged,
            self.rejected,
            self.pages,
            self.requests,
            self.retries,
            self.seconds
        )?;
        if self.stripped_characters > 0 {
            write!(
                f,
                ", {} characters illegal in XML removed",
                self.stripped_characters
            )?;
        }
        if self.skipped > 0 {
            write!(
                f,
                ", {} skipped (PMB placeholders, not documents)",
                self.skipped
            )?;
        }
        if self.repeated > 0 {
            write!(f, ", {} listed twice (counted once)", self.repeated)?;
        }
        if self.relisted > 0 {
            write!(
                f,
                ", {} lists harvested again (they shifted during the harvest)",
                self.relisted
            )?;
        }
        if self.restarts > 0 {
            write!(f, ", {} restarts after badResumptionToken", self.restarts)?;
        }
        if self.resumed {
            f.write_str(", resumed")?;
        }
        if let Some(sweep) = &self.sweep {
            write!(f, "; {sweep}")?;
        }
        if !self.complete {
            f.write_str(", stopped before the end of the list")?;
        }
        match (self.outcome, &self.error) {
            (Outcome::Failed, Some(e)) => write!(f, "; FAILED: {e}"),
            (Outcome::AlreadyRunning, _) => {
                f.write_str("; skipped: another harvest of this source is running")
            }
            _ => Ok(()),
        }
    }
}

/// The report of a whole run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// One report per source, in the order harvested.
    pub sources: Vec<SourceReport>,
}

impl RunReport {
    /// The worst outcome over all sources (`Ok` for none).
    pub fn outcome(&self) -> Outcome {
        self.sources
            .iter()
            .map(|s| s.outcome)
            .max()
            .unwrap_or(Outcome::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_names_every_count() {
        let mut r = SourceReport::new("zenodo", "https://zenodo.org/oai2d", "oai_dc");
        r.new = 3;
        r.deleted = 1;
        r.pages = 2;
        r.requests = 4;
        r.retries = 1;
        r.seconds = 1.25;
        assert_eq!(
            r.to_string(),
            "harvest zenodo: new 3, updated 0, deleted 1, unchanged 0, rejected 0, pages 2, requests 4, retries 1, 1.2 s"
        );
        r.outcome = Outcome::Failed;
        r.error = Some("boom".into());
        assert!(r.to_string().ends_with("; FAILED: boom"));
    }

    #[test]
    fn the_run_outcome_is_the_worst_source_outcome() {
        let mut run = RunReport::default();
        assert_eq!(run.outcome(), Outcome::Ok);
        for o in [Outcome::Rejected, Outcome::Ok, Outcome::AlreadyRunning] {
            let mut r = SourceReport::new("a", "http://a", "oai_dc");
            r.outcome = o;
            run.sources.push(r);
        }
        assert_eq!(run.outcome(), Outcome::AlreadyRunning);
    }
}
