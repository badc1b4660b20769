//! `/records/{identifier}`: every Dublin Core element with its language, the record's sets by
//! name, its formats (links to GetRecord), its provenance, Highwire `citation_*` tags and a
//! `<link rel="alternate">` to its OAI-PMH GetRecord; a tombstone page (410 Gone) for a
//! deleted record.

use actix_web::http::StatusCode;
use maud::{html, Markup};

use super::layout::{self, breakable};
use super::{citation, Ctx, Html, Section, WebError};
use crate::dc::{DcElement, DcRecord};
use crate::protocol::{OaiIdentifier, SetSpec};
use crate::store::{Origin, StoredRecord};

/// The record page, or its tombstone.
pub fn page(ctx: &Ctx<'_>, identifier: &str) -> Result<Html, WebError> {
    let store = &ctx.state.store;
    let missing = || WebError::NoRecord(identifier.to_owned());
    let id = OaiIdentifier::parse(identifier).ok_or_else(missing)?;
    let record = store.get(id.as_ref())?.ok_or_else(missing)?;
    let dc = if record.deleted {
        None
    } else {
        store.dc(id.as_ref())?
    };
    let sets = set_names(ctx, &record)?;
    let links = &ctx.state.links;
    let title = match &dc {
        Some(dc) => layout::title_of(ctx, dc).0.to_owned(),
        None if record.deleted => ctx.t.deleted_record.to_owned(),
        None => identifier.to_owned(),
    };
    let head = html! {
        link rel="canonical" href=(links.absolute(&links.record(identifier)));
        link rel="alternate" type="text/xml" title="OAI-PMH GetRecord"
            href=(links.get_record(identifier, record.formats.first().map_or("oai_dc", String::as_str)));
        @if let Some(dc) = &dc {
            @for (name, content) in citation::tags(dc) {
                meta name=(name) content=(content);
            }
        }
    };
    let body = html! {
        @if let Some(dc) = &dc {
            @let (shown, lang) = layout::title_of(ctx, dc);
            h1 lang=[lang] { (shown) }
        } @else if record.deleted {
            h1.deleted { (ctx.t.deleted_record) }
            div.box.error { p { (ctx.t.tombstone) } }
        } @else {
            h1.id { (breakable(identifier)) }
        }
        @if !sets.is_empty() {
            p.in-sets {
                span.muted { (ctx.t.in_sets) } " "
                @for (spec, name) in &sets {
                    a.tag href=(links.set(spec)) title=(spec) { (name) }
                    " "
                }
            }
        }
        @if let Some(dc) = &dc { (fields(ctx, dc)) }
        h2 { (ctx.t.about_record) }
        (header(ctx, identifier, &record))
        (provenance(ctx, identifier, &record))
    };
    let markup = layout::page(ctx, Section::Record, &title, &head, &body);
    Ok(Html {
        status: if record.deleted {
            StatusCode::GONE
        } else {
            StatusCode::OK
        },
        markup,
    })
}

/// The record's sets as (spec, name), named after their definitions.
fn set_names(ctx: &Ctx<'_>, record: &StoredRecord) -> Result<Vec<(String, String)>, WebError> {
    let mut out = Vec::with_capacity(record.sets.len());
    for spec in &record.sets {
        let name = match SetSpec::parse(spec) {
            Some(set) => ctx.state.store.set_name(&set)?,
            None => None,
        };
        out.push((spec.clone(), name.unwrap_or_else(|| spec.clone())));
    }
    Ok(out)
}

/// Elements whose values are short terms, shown side by side.
const TERMS: [DcElement; 4] = [
    DcElement::Subject,
    DcElement::Type,
    DcElement::Format,
    DcElement::Language,
];

/// Every element that has values, in Dublin Core order, each value with its language: once
/// beside the element's label when all its values share it.
fn fields(ctx: &Ctx<'_>, dc: &DcRecord) -> Markup {
    html! {
        dl.fields {
            @for element in DcElement::ALL {
                @let values = dc.get(element);
                @if let Some(first) = values.first() {
                    @let shared = values.iter().all(|v| v.lang == first.lang);
                    dt {
                        (ctx.t.element(element))
                        @if let (true, Some(lang)) = (shared, &first.lang) { (layout::lang_badge(lang)) }
                    }
                    @if TERMS.contains(&element) {
                        dd {
                            @for value in values {
                                span.tag lang=[value.lang.as_deref()] {
                                    (value.value.trim())
                                    @if let (false, Some(lang)) = (shared, &value.lang) { (layout::lang_badge(lang)) }
                                }
                                " "
                            }
                        }
                    } @else {
                        @for value in values { dd { (layout::dc_value(value, !shared)) } }
                    }
                }
            }
        }
    }
}

/// Identifier, datestamp and formats.
fn header(ctx: &Ctx<'_>, identifier: &str, record: &StoredRecord) -> Markup {
    let (t, links) = (ctx.t, &ctx.state.links);
    let datestamp = crate::protocol::Datestamp::from_unix(record.datestamp);
    html! {
        dl.fields {
            dt { (t.identifier) }
            dd.id { (breakable(identifier)) }
            dt { (t.last_changed) }
            dd { (layout::date(datestamp)) }
            dt { (t.formats) }
            dd {
                @for format in &record.formats {
                    a.tag href=(links.get_record(identifier, format)) { code { (format) } }
                    " "
                }
            }
        }
    }
}

/// Where the record comes from: this repository, or a harvest source (its base URL, the
/// original identifier, and the harvest date, which is the record's datestamp).
fn provenance(ctx: &Ctx<'_>, identifier: &str, record: &StoredRecord) -> Markup {
    let t = ctx.t;
    let datestamp = crate::protocol::Datestamp::from_unix(record.datestamp);
    let source = match &record.origin {
        Origin::Local => None,
        Origin::Source(name) => Some(name.as_str()),
    };
    let configured =
        source.and_then(|name| ctx.state.configured_sources.iter().find(|s| s.name == name));
    html! {
        h2 { (t.provenance) }
        @match source {
            None => p { (t.local_record) },
            Some(name) => dl.fields {
                dt { (t.harvested_from) }
                dd {
                    @if ctx.state.console {
                        a href=(ctx.state.links.sources()) { (name) }
                    } @else {
                        (name)
                    }
                    @if let Some(s) = configured { br; span.id { (breakable(&s.base_url)) } }
                }
                dt { (t.original_identifier) }
                dd.id { (breakable(identifier)) }
                dt { (t.harvested_on) }
                dd { (layout::date(datestamp)) }
            },
        }
    }
}
