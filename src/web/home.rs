//! `/`: the repository's name, description and contact, how to harvest it, its counts, its
//! first sets and its latest records.

use maud::html;

use super::layout::{self, number};
use super::{Ctx, Html, Section, WebError};
use crate::protocol::{Repository, SetInfo};
use crate::store::{Store, StoreError};

/// Sets listed on the home page (all of them are on `/sets`).
const HOME_SETS: usize = 30;
/// Latest records listed on the home page.
const HOME_RECORDS: usize = 10;
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
    let deleted = store.count_deleted()?;
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
            li { (t.deleted) " " b { (number(ctx, deleted)) } }
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
