//! Harvesting a PMB OAI connector (`…/ws/connector_out.php?source_id=N`) in
//! `pmb_xml_unimarc`, through the UNIMARC crosswalk (`crosswalk = "pmb-unimarc"`).
//!
//! Each harvested `<notice>` is read into the UNIMARC model, served again as
//! `pmb_xml_unimarc` in PMB's namespace (see [`crate::importer::unimarc::write_notice`]) and
//! mapped to the `oai_dc` served beside it; the provenance says `altered="true"`. PMB's dummy
//! `<id>-bull` records are skipped. The crosswalk's sets (periodical, document type,
//! language) go under `source:NAME:` like the upstream sets, so that harvested and local sets
//! never mix: `source:NAME:periodical:…` beneath `source:NAME:periodical` "Periodicals".
//!
//! PMB's quirks handled here (see `tests/fixtures/pmb/oai/README.md`):
//! - a notice removed from one basket but still in another is reported deleted (with the
//!   basket it left as setSpec) and may be listed live in the same list: a deleted header
//!   only takes the record out of the sets it names, and a record still in another upstream
//!   set stays live ([`Deletion`]);
//! - pages are recomputed by offset at every request, so a basket that changes during a
//!   harvest shifts records across pages; PMB's `cursor` is the number of records remaining
//!   after the page, which tells when that happened ([`RemainingCursor`]).

use crate::importer::pmb::load::{define_if_unnamed, PARENT_SETS};
use crate::importer::pmb::SetDef;
use crate::importer::unimarc::{
    map_record, read_payload, write_notice, CrosswalkOptions, Mapped, UnimarcRecord, PMB_NAMESPACE,
};
use crate::protocol::SetSpec;
use crate::store::{HarvestSink, StoreError};

/// A harvested notice, crosswalked.
#[derive(Debug)]
pub(crate) struct Crosswalked {
    /// The notice as served (`pmb_xml_unimarc`, in PMB's namespace).
    pub notice: Vec<u8>,
    /// Its Dublin Core.
    pub dc: crate::dc::DcRecord,
    /// What Dublin Core does not hold (author roles…).
    pub local_fields: Vec<(String, String)>,
    /// The crosswalk's sets, local (`source:NAME:periodical:…`), with their names.
    pub sets: Vec<LocalSet>,
}

/// A set of the crosswalk under `source:NAME:`, and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalSet {
    /// The local setSpec.
    pub spec: SetSpec,
    /// Its name.
    pub name: String,
    /// Whether a name someone gave it is replaced (not for languages, as `import pmb`).
    pub rename: bool,
}

/// The namespace harvested notices are served in.
pub(crate) const NAMESPACE: &str = PMB_NAMESPACE;

/// `source:NAME:SPEC`, or `None` when that is no setSpec.
fn under_source(source: &str, spec: &str) -> Option<SetSpec> {
    SetSpec::parse(&format!("source:{source}:{spec}"))
}

fn local_sets(source: &str, sets: Vec<SetDef>) -> Vec<LocalSet> {
    sets.into_iter()
        .filter_map(|def| {
            Some(LocalSet {
                spec: under_source(source, &def.spec)?,
                rename: !def.spec.starts_with("lang:"),
                name: def.name,
            })
        })
        .collect()
}

/// Maps a record read from a notice; `Ok(None)` for a record PMB publishes that describes no
/// document (its dummy `<id>-bull`).
fn crosswalk_record(
    source: &str,
    record: &UnimarcRecord,
    options: &CrosswalkOptions,
) -> Result<Option<Crosswalked>, String> {
    match map_record(record, options, &[]).map_err(|e| e.to_string())? {
        Mapped::Skipped(s) => {
            tracing::debug!(id = %s.id, reason = %s.reason, "Notice skipped.");
            Ok(None)
        }
        Mapped::Record(m) => Ok(Some(Crosswalked {
            notice: write_notice(record),
            dc: m.dc,
            local_fields: m.local_fields,
            sets: local_sets(source, m.sets),
        })),
    }
}

/// Reads and maps the `<notice>` of one harvested `<metadata>`.
///
/// # Errors
/// Why the payload is not one usable notice (no 001, no title…): the record is rejected.
pub(crate) fn crosswalk(
    source: &str,
    payload: &[u8],
    options: &CrosswalkOptions,
) -> Result<Option<Crosswalked>, String> {
    let record = read_payload(payload).map_err(|e| e.to_string())?;
    crosswalk_record(source, &record, options)
}

/// Names the crosswalk's sets (and their parents `source:NAME:periodical` "Periodicals"…)
/// unless already named so; returns how many were written.
///
/// # Errors
/// A storage failure.
pub(crate) fn define_sets<S: HarvestSink>(
    store: &S,
    source: &str,
    sets: &[LocalSet],
) -> Result<u64, StoreError> {
    let mut written = 0;
    let prefix = format!("source:{source}:");
    for set in sets {
        let top = set
            .spec
            .as_ref()
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        if let Some((spec, name)) = PARENT_SETS.iter().find(|(s, _)| *s == top) {
            if let Some(parent) = under_source(source, spec) {
                written += define_if_unnamed(store, &parent, name, false)?;
            }
        }
        written += define_if_unnamed(store, &set.spec, &set.name, set.rename)?;
    }
    Ok(written)
}

/// What a deleted header means for a record of this source already stored.
#[derive(Debug)]
pub(crate) enum Deletion {
    /// The record is in no other upstream set: it becomes a tombstone.
    Tombstone,
    /// The record left the sets the header names but is still in `upstream` (local
    /// setSpecs): it stays live, rewritten with those sets only.
    StillIn {
        /// The stored record, crosswalked again.
        record: Box<Crosswalked>,
        /// The upstream sets it is still in.
        upstream: Vec<SetSpec>,
    },
}

/// The `<notice>` of a stored record's rendered `pmb_xml_unimarc`.
fn stored_notice(rendered: &[u8]) -> Option<&[u8]> {
    let start = rendered.windows(7).position(|w| w == b"<notice")?;
    let end = rendered.windows(9).rposition(|w| w == b"</notice>")? + 9;
    rendered.get(start..end)
}

/// Decides what a deleted header naming `left` (local setSpecs of the sets the record left)
/// does to the stored record `identifier` (PMB reports a notice taken out of one basket as
/// deleted, even when it is still in another).
///
/// # Errors
/// A storage failure.
pub(crate) fn deletion<S: HarvestSink>(
    store: &S,
    source: &str,
    identifier: &str,
    left: &[SetSpec],
    options: &CrosswalkOptions,
    prefix: &str,
) -> Result<Deletion, StoreError> {
    let Some(stored) = store.get(identifier)? else {
        return Ok(Deletion::Tombstone);
    };
    let ours = stored.origin == crate::store::Origin::Source(source.to_owned());
    if stored.deleted || !ours || left.is_empty() {
        return Ok(Deletion::Tombstone);
    }
    let Some(rendered) = store.rendered(identifier, prefix)? else {
        return Ok(Deletion::Tombstone);
    };
    let record = stored_notice(&rendered)
        .and_then(|n| read_payload(n).ok())
        .and_then(|r| crosswalk_record(source, &r, options).ok().flatten());
    let Some(record) = record else {
        return Ok(Deletion::Tombstone);
    };
    let root = format!("source:{source}:");
    let upstream: Vec<SetSpec> = stored
        .sets
        .iter()
        .filter(|s| s.starts_with(&root))
        .filter(|s| !record.sets.iter().any(|c| c.spec.as_ref() == s.as_str()))
        .filter(|s| !left.iter().any(|l| l.as_ref() == s.as_str()))
        .filter_map(|s| SetSpec::parse(s))
        .collect();
    if upstream.is_empty() {
        return Ok(Deletion::Tombstone);
    }
    Ok(Deletion::StillIn {
        record: Box::new(record),
        upstream,
    })
}

/// Follows PMB's `cursor`, the number of records that remain after a page (not the offset):
/// each page must take off exactly as many as it carries, and the last page (without a
/// resumptionToken) carry what remained. Anything else means the list shifted under the
/// harvest (PMB recomputes it at each request and keeps only an offset in its token), so a
/// record may have been skipped. PMB also drops some deleted headers from a page while still
/// counting them: that looks like a shift too, and costs only a second pass.
#[derive(Debug, Default)]
pub(crate) struct RemainingCursor {
    remaining: Option<u64>,
    /// True once a page did not match.
    pub shifted: bool,
}

impl RemainingCursor {
    /// Checks one page of `records` records; `cursor` is its token's (`None` for the last page).
    pub fn page(&mut self, records: usize, cursor: Option<u64>, last: bool) {
        let records = records as u64;
        if let Some(before) = self.remaining {
            let expected = before.checked_sub(records);
            let fits = if last {
                before == records
            } else {
                cursor.is_none() || expected == cursor
            };
            if !fits {
                self.shifted = true;
            }
        }
        self.remaining = if last { None } else { cursor };
    }

    /// Forgets the pages seen (after a restart of the list).
    pub fn restart(&mut self) {
        self.remaining = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_that_takes_off_what_each_page_carries_did_not_shift() {
        let mut c = RemainingCursor::default();
        c.page(3, Some(5), false);
        c.page(3, Some(2), false);
        c.page(2, None, true);
        assert!(!c.shifted);
    }

    #[test]
    fn a_record_leaving_or_joining_the_list_between_pages_is_seen() {
        let mut left = RemainingCursor::default();
        left.page(3, Some(5), false);
        left.page(3, Some(1), false);
        assert!(left.shifted);
        let mut joined = RemainingCursor::default();
        joined.page(3, Some(5), false);
        joined.page(3, Some(2), false);
        joined.page(3, None, true);
        assert!(joined.shifted);
        let mut restarted = RemainingCursor::default();
        restarted.page(3, Some(5), false);
        restarted.restart();
        restarted.page(3, Some(9), false);
        assert!(!restarted.shifted);
    }

    #[test]
    fn the_notice_is_found_in_a_rendered_record() {
        let rendered = b"<record><header/><metadata><notice xmlns=\"x\"><rs>n</rs></notice></metadata><about/></record>";
        assert_eq!(
            stored_notice(rendered),
            Some(&b"<notice xmlns=\"x\"><rs>n</rs></notice>"[..])
        );
        assert_eq!(stored_notice(b"<record/>"), None);
    }
}
