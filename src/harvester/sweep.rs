//! The identifier sweep: finding the records a source deleted without saying so.
//!
//! A provider whose Identify says `deletedRecord` `no` or `transient` never (or not always)
//! reports deletions, yet its records are re-exposed as persistent. Every `reconcile_days` the
//! harvester lists every identifier of the source (a full ListIdentifiers per configured set,
//! or of the whole repository) and turns the source's records that are no longer listed into
//! tombstones. It runs only after the harvest's own lists completed without error, and only if
//! its own list completes too; it removes nothing when the records to remove are more than
//! `reconcile_max_share` of the source's records (an upstream outage or a misconfigured set
//! looks like that), unless `--force` says so.
//!
//! Memory stays flat however large the source: mark and sweep. Each listed identifier is
//! marked in the store ([`HarvestSink::mark_listed`], page by page, on disk), then the
//! store's records are streamed once to count the unmarked ones of the source and once more
//! to write their tombstones in batches, and the marks are removed.
//! At 1,000,000 records that is about 60 MB of marks on disk for the length of the sweep,
//! while memory holds one page of headers, one batch of tombstones and sled's page cache.

use serde::{Deserialize, Serialize};

use super::client::OaiClient;
use super::error::HarvestError;
use super::{blocking, provider_error};
use crate::protocol::xml::read::Payload;
use crate::protocol::{Datestamp, OaiIdentifier, Verb};
use crate::store::{HarvestSink, Origin, RecordInput, StoreError};

/// Restarts of the sweep's list after badResumptionToken before the sweep gives up.
const MAX_RESTARTS: u32 = 3;

/// What the sweep of a source found and did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Identifiers the provider listed (not deleted).
    pub listed: u64,
    /// The source's records (not deleted) in the store before the sweep.
    pub held: u64,
    /// Of those, the ones the provider no longer lists.
    pub stale: u64,
    /// Tombstones written.
    pub removed: u64,
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "identifier sweep: {} listed, {} of {} held no longer listed, {} removed",
            self.listed, self.stale, self.held, self.removed
        )
    }
}

/// The share of a source's records a sweep may remove without `--force`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SweepPolicy {
    /// Most `stale / held` removed without `force`.
    pub max_share: f64,
    /// Remove whatever the share.
    pub force: bool,
}

/// When the last sweep of `source` ended (seconds since the epoch), if one ever did.
///
/// # Errors
/// A storage failure.
pub fn last_sweep<S: HarvestSink>(store: &S, source: &str) -> Result<Option<i64>, StoreError> {
    store.last_sweep(source)
}

/// Records that `source` was swept (or that its sweeps start counting) at `at`.
///
/// # Errors
/// A storage failure.
pub fn set_last_sweep<S: HarvestSink>(store: &S, source: &str, at: i64) -> Result<(), StoreError> {
    store.set_last_sweep(source, at)
}

fn tombstones<S: HarvestSink>(store: &S, source: &str, ids: &[String]) -> Result<u64, StoreError> {
    let records: Vec<RecordInput> = ids
        .iter()
        .filter_map(|id| OaiIdentifier::parse(id))
        .map(|identifier| RecordInput {
            identifier,
            datestamp: None,
            // A tombstone keeps the record's sets (see the store).
            sets: Vec::new(),
            deleted: true,
            dc: None,
            other_formats: Vec::new(),
            about: Vec::new(),
            local_fields: Vec::new(),
            origin: Origin::Source(source.to_owned()),
        })
        .collect();
    let outcome = store.put_batch(records)?;
    Ok(outcome
        .outcomes
        .iter()
        .filter(|o| **o == crate::store::PutOutcome::Deleted)
        .count() as u64)
}

/// Lists every identifier of one list (a set, or the whole repository) and marks it.
async fn mark_list<S: HarvestSink>(
    client: &mut OaiClient,
    store: &S,
    source: &str,
    prefix: &str,
    set: Option<&str>,
) -> Result<u64, HarvestError> {
    let mut token: Option<String> = None;
    let mut listed = 0;
    let mut restarts = 0;
    let mut seen = std::collections::HashSet::new();
    loop {
        let mut args: Vec<(&str, &str)> = vec![("verb", "ListIdentifiers")];
        if let Some(t) = &token {
            args.push(("resumptionToken", t));
        } else {
            args.push(("metadataPrefix", prefix));
            if let Some(s) = set {
                args.push(("set", s));
            }
        }
        let url = client.url(&args);
        let response = client.call(&args).await?;
        if let Some(e) = response.errors.first() {
            if e.code == "noRecordsMatch" {
                return Ok(listed);
            }
            if e.code == "badResumptionToken" && token.is_some() && restarts < MAX_RESTARTS {
                // Marks are idempotent: listing again from the start is safe.
                restarts += 1;
                token = None;
                seen.clear();
                continue;
            }
            return Err(provider_error(&url, &response));
        }
        if response.verb != Some(Verb::ListIdentifiers) {
            return Err(HarvestError::Unexpected {
                url,
                message: "the response has no <ListIdentifiers> element".into(),
            });
        }
        let next = response
            .token
            .as_ref()
            .map(|t| t.value.clone())
            .filter(|v| !v.is_empty());
        let Payload::Headers(headers) = response.payload else {
            return Ok(listed);
        };
        let ids: Vec<String> = headers
            .into_iter()
            .filter(|h| !h.deleted && h.forbidden_in.is_empty())
            .map(|h| h.identifier)
            .collect();
        listed += ids.len() as u64;
        let (s, name) = (store.clone(), source.to_owned());
        blocking(move || s.mark_listed(&name, &ids)).await?;
        match next {
            None => return Ok(listed),
            Some(t) if !seen.insert(t.clone()) => {
                return Err(HarvestError::LoopingToken { url, token: t });
            }
            Some(t) => token = Some(t),
        }
    }
}

/// Sweeps `source`: lists its identifiers (`lists`: the configured sets, or `[None]`), then
/// turns its records no longer listed into tombstones, within `policy`.
///
/// # Errors
/// The listing failed (nothing is removed), the share to remove is over the policy's, or the
/// store failed.
pub async fn sweep<S: HarvestSink>(
    client: &mut OaiClient,
    store: &S,
    source: &str,
    prefix: &str,
    lists: &[Option<String>],
    policy: SweepPolicy,
    max_batch: usize,
) -> Result<SweepReport, HarvestError> {
    let (s, name) = (store.clone(), source.to_owned());
    blocking(move || s.clear_listed(&name)).await?;
    let mut report = SweepReport::default();
    for set in lists {
        report.listed += mark_list(client, store, source, prefix, set.as_deref()).await?;
    }
    let (s, name) = (store.clone(), source.to_owned());
    let (held, stale) = blocking(move || {
        let mut stale = 0u64;
        let held = s.for_each_unlisted(&name, &mut |_| {
            stale += 1;
            Ok(())
        })?;
        Ok((held, stale))
    })
    .await?;
    report.held = held;
    report.stale = stale;
    #[allow(clippy::cast_precision_loss)] // Counts far below 2^52.
    let share = if held == 0 {
        0.0
    } else {
        stale as f64 / held as f64
    };
    if stale > 0 && share > policy.max_share && !policy.force {
        let (s, name) = (store.clone(), source.to_owned());
        blocking(move || s.clear_listed(&name)).await?;
        return Err(HarvestError::SweepHeldBack {
            source_name: source.to_owned(),
            stale,
            held,
            max_share: policy.max_share,
        });
    }
    let (s, name) = (store.clone(), source.to_owned());
    let batch_size = max_batch.max(1);
    report.removed = blocking(move || {
        let mut removed = 0;
        let mut batch = Vec::with_capacity(batch_size);
        s.for_each_unlisted(&name, &mut |id| {
            batch.push(id.to_owned());
            if batch.len() >= batch_size {
                removed += tombstones(&s, &name, &batch)?;
                batch.clear();
            }
            Ok(())
        })?;
        removed += tombstones(&s, &name, &batch)?;
        s.clear_listed(&name)?;
        s.set_last_sweep(&name, Datestamp::now().unix())?;
        Ok(removed)
    })
    .await?;
    tracing::info!(
        listed = report.listed,
        held = report.held,
        stale = report.stale,
        removed = report.removed,
        "Identifier sweep finished."
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::{DcElement, DcRecord};
    use crate::store::Store;

    fn put(store: &Store, id: &str, origin: Origin) {
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Title, id);
        let mut r = RecordInput::dc(OaiIdentifier::parse(id).unwrap(), dc);
        r.origin = origin;
        store.put(r).unwrap();
    }

    #[test]
    fn only_unmarked_records_of_the_source_are_stale() {
        let store = Store::temporary().unwrap();
        let up = || Origin::Source("up".into());
        put(&store, "oai:x:1", up());
        put(&store, "oai:x:2", up());
        put(&store, "oai:x:3", Origin::Local);
        put(&store, "oai:x:4", Origin::Source("other".into()));
        store.mark_listed("up", &["oai:x:1".into()]).unwrap();
        let mut stale = Vec::new();
        let held = store
            .for_each_unlisted("up", &mut |id| {
                stale.push(id.to_owned());
                Ok(())
            })
            .unwrap();
        assert_eq!(
            (held, stale.as_slice()),
            (2, ["oai:x:2".to_owned()].as_slice())
        );
        assert_eq!(tombstones(&store, "up", &stale).unwrap(), 1);
        assert!(store.get("oai:x:2").unwrap().unwrap().deleted);
        store.clear_listed("up").unwrap();
        assert_eq!(store.listed_marks("up").unwrap(), 0);
        assert!(store.check().unwrap().is_empty());
    }
}
