//! `/sources`, the harvest console: for each configured source (and each source harvested
//! with `moisson harvest --url`), its base URL, format and sets, whether a harvest is running,
//! the last run with its counts, the last error with the request that failed, the last 50
//! runs, and the next scheduled run when `[web] harvest_interval_secs` says when runs happen.
//! Public and read-only: nothing here can start or change a harvest, and base URLs are shown
//! without credentials.

use maud::{html, Markup};

use super::layout::{self, breakable, number};
use super::{Ctx, Html, Section, SourceInfo, WebError};
use crate::protocol::Datestamp;
use crate::store::browse::HarvestActivity;
use crate::store::harvest_state::{SourceRun, MAX_HISTORY};

/// The console.
pub fn page(ctx: &Ctx<'_>) -> Result<Html, WebError> {
    let state = ctx.state;
    let t = ctx.t;
    let runs = state.store.source_runs()?;
    // Configured sources first, in configuration order; then those only harvested ad hoc.
    let mut sources: Vec<(SourceInfo, bool)> = state
        .configured_sources
        .iter()
        .map(|s| (s.clone(), true))
        .collect();
    for (name, _) in &runs {
        if !sources.iter().any(|(s, _)| &s.name == name) {
            let info = SourceInfo {
                name: name.clone(),
                base_url: String::new(),
                metadata_prefix: String::new(),
                sets: Vec::new(),
            };
            sources.push((info, false));
        }
    }
    let mut sections = Vec::with_capacity(sources.len());
    for (source, configured) in &sources {
        let activity = state.store.harvest_activity(&source.name)?;
        let history = state.store.source_history(&source.name, MAX_HISTORY)?;
        sections.push(one(ctx, source, *configured, activity, &history));
    }
    let body = html! {
        h1 { (t.harvest_console) }
        @if sources.is_empty() { p.muted { (t.no_sources) } }
        @for section in sections { (section) }
    };
    Ok(Html::ok(layout::page(
        ctx,
        Section::Sources,
        t.harvest_console,
        &html! {},
        &body,
    )))
}

fn one(
    ctx: &Ctx<'_>,
    source: &SourceInfo,
    configured: bool,
    activity: HarvestActivity,
    history: &[SourceRun],
) -> Markup {
    let t = ctx.t;
    let last = history.first();
    let last_error = history.iter().find(|r| r.error.is_some());
    let status = match activity {
        HarvestActivity::Running => t.running,
        HarvestActivity::Interrupted => t.interrupted,
        HarvestActivity::Idle => t.idle,
    };
    html! {
        section.source id=(format!("source-{}", source.name)) {
            h2 { (source.name) }
            dl.fields {
                @if configured {
                    dt { (t.base_url) }
                    dd.id { (link(&source.base_url)) }
                    dt { (t.format) }
                    dd { code { (source.metadata_prefix) } }
                    dt { (t.sets) }
                    dd {
                        @if source.sets.is_empty() { (t.whole_repository) }
                        @for set in &source.sets { span.tag { code { (set) } } " " }
                    }
                }
                dt { (t.status) }
                dd { strong { (status) } }
                @if let Some(interval) = ctx.state.harvest_interval_secs {
                    dt { (t.next_run) }
                    dd { (next_run(ctx, last, interval)) }
                }
            }
            @match last {
                None => p.muted { (t.never_harvested) },
                Some(run) => {
                    h3 { (t.last_run) }
                    (last_run(ctx, run))
                }
            }
            @if let Some(run) = last_error {
                h3 { (t.last_error) }
                div.box.error {
                    p { (layout::date(Datestamp::from_unix(run.finished))) }
                    p { (run.error.as_deref().unwrap_or_default()) }
                    @if let Some(url) = &run.error_url {
                        p { (t.request_url) " " span.id { (link(url)) } }
                    }
                }
            }
            @if history.len() > 1 {
                h3 { (t.history) }
                (history_table(ctx, history))
            }
        }
    }
}

/// A link to `url` when it is an http(s) URL, else its text.
fn link(url: &str) -> Markup {
    html! {
        @if let Some(url) = layout::web_url(url) {
            a href=(url) { (breakable(url)) }
        } @else {
            (breakable(url))
        }
    }
}

fn outcome(ctx: &Ctx<'_>, run: &SourceRun) -> Markup {
    html! { span class=(format!("status-{}", run.outcome)) { (ctx.t.outcome_name(&run.outcome)) } }
}

fn last_run(ctx: &Ctx<'_>, run: &SourceRun) -> Markup {
    let t = ctx.t;
    let counts = [
        (t.new, run.new),
        (t.updated, run.updated),
        (t.deleted, run.deleted),
        (t.rejected, run.rejected),
        (t.unchanged, run.unchanged),
        (t.pages, run.pages),
        (t.requests, run.requests),
        (t.retries, run.retries),
    ];
    html! {
        dl.fields {
            dt { (t.started) }
            dd { (layout::date(Datestamp::from_unix(run.started))) }
            dt { (t.finished) }
            dd { (layout::date(Datestamp::from_unix(run.finished))) " (" (format!("{:.1}", run.seconds)) " " (t.seconds) ")" }
            dt { (t.outcome) }
            dd { (outcome(ctx, run)) }
        }
        ul.counts {
            @for (label, n) in counts { li { (label) " " b { (number(ctx, n)) } } }
        }
    }
}

fn history_table(ctx: &Ctx<'_>, history: &[SourceRun]) -> Markup {
    let t = ctx.t;
    html! {
        div.scroll {
            table {
                thead { tr {
                    th { (t.started) } th { (t.outcome) } th { (t.new) } th { (t.updated) }
                    th { (t.deleted) } th { (t.rejected) } th { (t.unchanged) } th { (t.pages) }
                    th { (t.requests) } th { (t.retries) } th { "s" }
                } }
                tbody {
                    @for run in history {
                        tr {
                            td { (layout::date(Datestamp::from_unix(run.started))) }
                            td { (outcome(ctx, run)) }
                            td { (number(ctx, run.new)) } td { (number(ctx, run.updated)) }
                            td { (number(ctx, run.deleted)) } td { (number(ctx, run.rejected)) }
                            td { (number(ctx, run.unchanged)) } td { (number(ctx, run.pages)) }
                            td { (number(ctx, run.requests)) } td { (number(ctx, run.retries)) }
                            td { (format!("{:.1}", run.seconds)) }
                        }
                    }
                }
            }
        }
    }
}

/// When the next scheduled run is due: the last run's start plus the interval.
fn next_run(ctx: &Ctx<'_>, last: Option<&SourceRun>, interval: u64) -> Markup {
    let t = ctx.t;
    let every = html! { " (" (t.every) " " (duration(interval)) ")" };
    let Some(last) = last else {
        return html! { (t.next_run_unknown) (every) };
    };
    let due = last
        .started
        .saturating_add(i64::try_from(interval).unwrap_or(i64::MAX));
    html! {
        @if due <= Datestamp::now().unix() { (t.due_now) } @else { (layout::date(Datestamp::from_unix(due))) }
        (every)
    }
}

/// `90` → `1 min 30 s`, `3600` → `1 h`, `86400` → `1 d`.
fn duration(secs: u64) -> String {
    let parts = [(86_400, "d"), (3600, "h"), (60, "min"), (1, "s")];
    let mut rest = secs;
    let mut out = Vec::new();
    for (size, unit) in parts {
        if rest >= size {
            out.push(format!("{} {unit}", rest / size));
            rest %= size;
        }
    }
    if out.is_empty() {
        "0 s".into()
    } else {
        out.join(" ")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn intervals_read_as_people_say_them() {
        assert_eq!(super::duration(3600), "1 h");
        assert_eq!(super::duration(90), "1 min 30 s");
        assert_eq!(super::duration(86_400 + 60), "1 d 1 min");
    }
}
