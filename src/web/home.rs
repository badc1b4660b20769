//! `/`: the repository's name, description and contact, how to harvest it, its counts, its
//! first sets and its latest records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use maud::html;

use super::layout::{self, number};
use super::{Ctx, Html, Section, WebError};
use crate::protocol::{Repository, SetInfo};
use crate::store::{Store, StoreError};

/// Sets listed on the home page (all of them are on `/sets`).
const HOME_SETS: usize = 30;
/// Latest records listed on the home page.
const HOME_RECORDS: usize = 10;
/// Up to this many records, tombstones are counted at each request (milliseconds).
const COUNT_INLINE_UP_TO: u64 = 10_000;
/// How long a background count of tombstones is shown before it is made again.
const DELETED_FRESH_FOR: Duration = Duration::from_secs(60);

/// The number of tombstones, which only a scan of every record tells: counted at each request
/// for a small store, else in the background at most once a minute, the page showing the last
/// count (or "counting…" before the first).
#[derive(Default)]
pub struct DeletedCount {
    last: Arc<Mutex<Option<(u64, Instant)>>>,
    counting: Arc<AtomicBool>,
}

impl DeletedCount {
    fn get(&self, store: &Store, records: u64) -> Result<Option<u64>, StoreError> {
        if records <= COUNT_INLINE_UP_TO {
            return store.count_deleted().map(Some);
        }
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let stale = last.is_none_or(|(_, at)| at.elapsed() > DELETED_FRESH_FOR);
        if stale && !self.counting.swap(true, Ordering::SeqCst) {
            let (store, slot, counting) = (store.clone(), self.last.clone(), self.counting.clone());
            let spawned = std::thread::Builder::new()
                .name("moisson-count-deleted".into())
                .spawn(move || {
                    match store.count_deleted() {
                        Ok(n) => {
                            *slot.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some((n, Instant::now()));
                        }
                        Err(error) => {
                            tracing::error!(error.cause_chain = ?error, error.message = %error, "Could not count deleted records.");
                        }
                    }
                    counting.store(false, Ordering::SeqCst);
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "Could not start counting deleted records.");
                self.counting.store(false, Ordering::SeqCst);
            }
        }
        Ok(last.map(|(n, _)| n))
    }
}

/// The first sets in setSpec order, each with its record count.
pub(super) fn sets_with_counts(
    store: &Store,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<(SetInfo, u64)>, bool), StoreError> {
    let mut sets = Vec::new();
    let more = store.sets_page(after, limit, &mut |set| sets.push(set.clone()))?;
    let mut counted = Vec::with_capacity(sets.len());
    for set in sets {
        let n = store.count_records(Some(&set.spec))?;
        counted.push((set, n));
    }
    Ok((counted, more))
}

/// The home page.
pub fn page(ctx: &Ctx<'_>) -> Result<Html, WebError> {
    let state = ctx.state;
    let (t, links, store) = (ctx.t, &state.links, &state.store);
    let overview = store.overview()?;
    let deleted = state.deleted.get(store, overview.records)?;
    let formats = store.metadata_formats()?;
    let (sets, more_sets) = sets_with_counts(store, None, HOME_SETS)?;
    let latest = store.newest(None, None, HOME_RECORDS)?;
    let example = links.oai_request(&[("verb", "ListRecords"), ("metadataPrefix", "oai_dc")]);
    let body = html! {
        h1 { (state.name) }
        @if let Some(description) = &state.description {
            div.lede { (layout::paragraphs(description)) }
        }
        p {
            (t.admin_email) " "
            @for (i, email) in state.admin_emails.iter().enumerate() {
                @if i > 0 { ", " }
                a href=(format!("mailto:{email}")) { (email) }
            }
        }
        ul.counts {
            li { (t.records) " " b { (number(ctx, overview.records)) } }
            li { (t.deleted) " " b { @match deleted { Some(n) => (number(ctx, n)), None => (t.counting) } } }
            li { (t.sets) " " b { (number(ctx, overview.sets)) } }
            @if let Some(d) = overview.earliest { li { (t.earliest) " " b { (layout::date(d)) } } }
            @if let Some(d) = overview.latest { li { (t.latest) " " b { (layout::date(d)) } } }
        }
        section.box aria-labelledby="harvest" {
            h2 #harvest { (t.how_to_harvest) }
            p { (t.how_to_harvest_intro) }
            p { code { (layout::breakable(links.oai())) } }
            dl.fields {
                dt { (t.identify) }
                dd { a href=(links.identify()) { code { (layout::breakable(&links.identify())) } } }
                dt { (t.formats) }
                dd {
                    @for f in &formats {
                        span.tag { code { (f.prefix) } }
                        " "
                    }
                }
                dt { (t.example_list) }
                dd { a href=(example) { code { (layout::breakable(&example)) } } }
            }
        }
        h2 { (t.sets) }
        @if sets.is_empty() {
            p.muted { (t.no_sets) }
        } @else {
            (layout::set_list(ctx, &sets))
            @if more_sets { p { a href=(links.sets()) { (t.all_sets) " →" } } }
        }
        h2 { (t.latest_records) }
        @if latest.entries.is_empty() {
            p.muted { (t.no_records) }
        } @else {
            (layout::record_list(ctx, &latest.entries))
        }
    };
    Ok(Html::ok(layout::page(
        ctx,
        Section::Home,
        &state.name,
        &html! {},
        &body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::{DcElement, DcRecord};
    use crate::protocol::OaiIdentifier;
    use crate::store::RecordInput;

    #[test]
    fn a_large_store_counts_its_tombstones_in_the_background_and_shows_the_last_count() {
        let store = Store::temporary().unwrap();
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Title, "t");
        let mut gone = RecordInput::dc(OaiIdentifier::parse("oai:x:1").unwrap(), dc);
        gone.deleted = true;
        gone.dc = None;
        store.put(gone).unwrap();
        let count = DeletedCount::default();
        assert_eq!(count.get(&store, 1).unwrap(), Some(1), "small: counted now");
        // As if the store were large: the first answer cannot wait for the count.
        assert_eq!(count.get(&store, u64::MAX).unwrap(), None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while count.get(&store, u64::MAX).unwrap().is_none() {
            assert!(Instant::now() < deadline, "the background count never came");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(count.get(&store, u64::MAX).unwrap(), Some(1));
    }
}
