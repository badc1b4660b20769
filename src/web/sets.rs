//! `/sets`, the set hierarchy with names and counts, paged by setSpec; and `/sets/{spec}`, a
//! set's records newest first, paged by keyset so that deep pages cost what the first does.

use maud::html;

use super::home::sets_with_counts;
use super::layout::{self, number};
use super::{Ctx, Html, Section, WebError};
use crate::protocol::{Repository, SetInfo, SetSpec};
use crate::store::browse::ListPosition;

/// Sets per page of `/sets`.
const SETS_PER_PAGE: usize = 200;
/// Direct subsets listed on a set's page.
const SUBSETS: usize = 200;
/// Sets read at most to find a set's direct subsets.
const SUBSETS_SCANNED: usize = 2000;

/// `/sets?after=SPEC`
pub fn list(ctx: &Ctx<'_>, after: Option<&str>) -> Result<Html, WebError> {
    let (t, links) = (ctx.t, &ctx.state.links);
    if after.is_some_and(|a| SetSpec::parse(a).is_none()) {
        return Err(WebError::BadPosition);
    }
    let (sets, more) = sets_with_counts(&ctx.state.store, after, SETS_PER_PAGE)?;
    let body = html! {
        h1 { (t.sets) }
        @if sets.is_empty() && after.is_none() {
            p.muted { (t.no_sets) }
        } @else {
            (layout::set_list(ctx, &sets))
        }
        nav.pager {
            @if after.is_some() { a href=(links.sets()) { "← " (t.sets) } }
            @if let (true, Some((last, _))) = (more, sets.last()) {
                a href=(links.sets_after(last.spec.as_ref())) { (t.more_sets) " →" }
            }
        }
    };
    Ok(Html::ok(layout::page(
        ctx,
        Section::Sets,
        t.sets,
        &html! {},
        &body,
    )))
}

/// `/sets/{spec}?before=POSITION`
pub fn one(ctx: &Ctx<'_>, spec: &str, before: Option<&ListPosition>) -> Result<Html, WebError> {
    let state = ctx.state;
    let (t, links, store) = (ctx.t, &state.links, &state.store);
    let set = SetSpec::parse(spec).ok_or_else(|| WebError::NoSet(spec.to_owned()))?;
    let name = store
        .set_name(&set)?
        .ok_or_else(|| WebError::NoSet(spec.to_owned()))?;
    let count = store.count_records(Some(&set))?;
    let mut ancestors = Vec::new();
    for a in set.with_ancestors().skip(1) {
        if let Some(parent) = SetSpec::parse(a) {
            let name = store.set_name(&parent)?.unwrap_or_else(|| a.to_owned());
            ancestors.push((parent, name));
        }
    }
    ancestors.reverse();
    let children = subsets(ctx, &set)?;
    let page = store.newest(Some(&set), before, state.page_size)?;
    let body = html! {
        @if !ancestors.is_empty() {
            p.muted {
                (t.part_of) " "
                @for (i, (parent, name)) in ancestors.iter().enumerate() {
                    @if i > 0 { " › " }
                    a href=(links.set(parent.as_ref())) { (name) }
                }
            }
        }
        h1 { (name) }
        p.muted { (t.set) " " code.id { (layout::breakable(spec)) } " · " (number(ctx, count)) " " (t.records.to_lowercase()) }
        @if !children.is_empty() {
            h2 { (t.subsets) }
            (layout::set_list(ctx, &children))
        }
        h2 { (t.records_newest_first) }
        @if page.entries.is_empty() {
            p.muted { (t.no_records) }
        } @else {
            (layout::record_list(ctx, &page.entries))
        }
        nav.pager {
            @if before.is_some() { a href=(links.set(spec)) { "← " (t.newest_records) } }
            @if let Some(next) = &page.next {
                a href=(links.set_before(spec, next)) { (t.older_records) " →" }
            }
        }
    };
    Ok(Html::ok(layout::page(
        ctx,
        Section::Sets,
        &name,
        &html! {},
        &body,
    )))
}

/// The direct subsets of `set` (`a:b` for `a`), at most [`SUBSETS`], with their counts.
///
/// Subsets follow their set in setSpec order, but sets such as `a-b` and the subsets'
/// own subsets come between: at most [`SUBSETS_SCANNED`] sets are read to find them.
fn subsets(ctx: &Ctx<'_>, set: &SetSpec) -> Result<Vec<(SetInfo, u64)>, WebError> {
    let store = &ctx.state.store;
    let prefix = format!("{set}:");
    let mut children = Vec::new();
    let mut scanned = 0;
    let mut after = set.as_ref().to_owned();
    while scanned < SUBSETS_SCANNED && children.len() < SUBSETS {
        let mut page = Vec::new();
        let more = store.sets_page(Some(&after), SUBSETS, &mut |s| page.push(s.clone()))?;
        scanned += page.len();
        let Some(last) = page.last() else { break };
        last.spec.as_ref().clone_into(&mut after);
        let past = !after.starts_with(set.as_ref());
        children.extend(page.into_iter().filter(|s| {
            s.spec
                .as_ref()
                .strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains(':'))
        }));
        if past || !more {
            break;
        }
    }
    children.truncate(SUBSETS);
    let mut counted = Vec::with_capacity(children.len());
    for child in children {
        let n = store.count_records(Some(&child.spec))?;
        counted.push((child, n));
    }
    Ok(counted)
}
