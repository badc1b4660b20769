//! The frame every page shares (head, navigation, footer) and the small pieces pages are made
//! of: values split into paragraphs, identifiers that break at their separators, dates, links.
//!
//! maud escapes every text and attribute value it writes; nothing here writes unescaped text.

use maud::{html, Markup, DOCTYPE};

use super::{Ctx, Section};
use crate::dc::{DcElement, DcRecord, DcValue};
use crate::protocol::{Datestamp, SetInfo};
use crate::store::browse::Entry;

/// The version the stylesheet's URL carries, so browsers may keep it a week.
const STYLE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A whole page: `title` in the tab and as context, `head` for page-specific `<meta>` and
/// `<link>` elements, `body` inside `<main>`.
pub fn page(ctx: &Ctx<'_>, section: Section, title: &str, head: &Markup, body: &Markup) -> Markup {
    let t = ctx.t;
    let links = &ctx.state.links;
    let name = ctx.state.name.as_str();
    let full_title = if section == Section::Home {
        name.to_owned()
    } else {
        format!("{title} · {name}")
    };
    let current = |s: Section| (s == section).then_some("page");
    html! {
        (DOCTYPE)
        html lang=(t.code) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (full_title) }
                link rel="stylesheet" href=(format!("{}?v={STYLE_VERSION}", links.style()));
                (head)
            }
            body {
                a.skip href="#main" { (t.skip_to_content) }
                header.site {
                    a.brand href=(links.home()) { (name) }
                    nav aria-label=(t.home) {
                        a href=(links.home()) aria-current=[current(Section::Home)] { (t.home) }
                        a href=(links.sets()) aria-current=[current(Section::Sets)] { (t.sets) }
                        @if ctx.state.console {
                            a href=(links.sources()) aria-current=[current(Section::Sources)] { (t.sources) }
                        }
                        a href=(links.identify()) { (t.oai_pmh) }
                    }
                }
                main #main { (body) }
                footer {
                    "moisson " (env!("CARGO_PKG_VERSION")) " · OAI-PMH "
                    a.id href=(links.identify()) { (breakable(links.oai())) }
                }
            }
        }
    }
}

/// Text that may break after `:`, `/`, `.`, `?`, `&`, `=`, `_` and `-` (a `<wbr>` after each)
/// rather than in the middle of a word.
pub fn breakable(text: &str) -> Markup {
    let pieces = text.split_inclusive(|c: char| ":/.?&=_-".contains(c));
    html! {
        @for piece in pieces { (piece) wbr; }
    }
}

/// A value as paragraphs: blank lines separate paragraphs, single line breaks are kept, so
/// that a table of contents reads line by line.
pub fn paragraphs(text: &str) -> Markup {
    paragraphs_then(text, &html! {})
}

/// [`paragraphs`], with `tail` at the end of the last paragraph.
fn paragraphs_then(text: &str, tail: &Markup) -> Markup {
    let text = text.replace("\r\n", "\n");
    let paragraphs: Vec<&str> = text
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let last = paragraphs.len().saturating_sub(1);
    html! {
        @for (n, p) in paragraphs.iter().enumerate() {
            p {
                @for (i, line) in p.lines().enumerate() {
                    @if i > 0 { br; }
                    (line.trim_end())
                }
                @if n == last { (tail) }
            }
        }
    }
}

/// The badge that shows a value's language.
pub fn lang_badge(lang: &str) -> Markup {
    html! { " " span.lang title=(lang) { (lang) } }
}

/// A Dublin Core value: its paragraphs (a link when it is an http(s) URL), and its language
/// unless `show_lang` is false (the element's label shows it, being the same for all).
pub fn dc_value(value: &DcValue, show_lang: bool) -> Markup {
    let text = value.value.trim();
    let badge = value
        .lang
        .as_deref()
        .filter(|_| show_lang)
        .map_or_else(|| html! {}, lang_badge);
    html! {
        div.value lang=[value.lang.as_deref()] {
            @if let Some(url) = web_url(text) {
                p { a href=(url) { (breakable(url)) } (badge) }
            } @else {
                (paragraphs_then(text, &badge))
            }
        }
    }
}

/// `text` when it is one http or https URL (never `javascript:` or another scheme).
pub fn web_url(text: &str) -> Option<&str> {
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let is_web = lower.starts_with("http://") || lower.starts_with("https://");
    (is_web && !text.contains(char::is_whitespace)).then_some(text)
}

/// A datestamp as people read it, in a `<time>` element.
pub fn date(d: Datestamp) -> Markup {
    let shown = d.to_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! { time datetime=(d.to_string()) { (shown) } }
}

/// A count with thin separators of thousands (`1 000 000` in French, `1,000,000` in English).
pub fn number(ctx: &Ctx<'_>, n: u64) -> String {
    let digits = n.to_string();
    let separator = if ctx.t.code == "fr" { '\u{202f}' } else { ',' };
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

/// The title a record is listed under: its first title, or a placeholder.
pub fn title_of<'a>(ctx: &Ctx<'_>, dc: &'a DcRecord) -> (&'a str, Option<&'a str>) {
    dc.get(DcElement::Title)
        .first()
        .map_or((ctx.t.untitled, None), |v| {
            (v.value.as_str(), v.lang.as_deref())
        })
}

/// A list of records, each a link to its page with its authors, date and datestamp.
pub fn record_list(ctx: &Ctx<'_>, entries: &[Entry]) -> Markup {
    let links = &ctx.state.links;
    html! {
        ul.records {
            @for entry in entries {
                @let id = entry.position.identifier.as_str();
                li {
                    @if let Some(dc) = &entry.dc {
                        @let (title, lang) = title_of(ctx, dc);
                        a href=(links.record(id)) lang=[lang] { (title) }
                        span.meta {
                            @for (i, creator) in dc.get(DcElement::Creator).iter().take(3).enumerate() {
                                @if i > 0 { ", " }
                                (creator.value)
                            }
                            @if let Some(d) = dc.get(DcElement::Date).first() {
                                @if !dc.get(DcElement::Creator).is_empty() { " · " }
                                (d.value)
                            }
                        }
                    } @else {
                        a.deleted href=(links.record(id)) { (ctx.t.deleted_record) }
                        span.meta.id { (breakable(id)) }
                    }
                }
            }
        }
    }
}

/// A list of sets with their names, specs and record counts, indented by depth.
pub fn set_list(ctx: &Ctx<'_>, sets: &[(SetInfo, u64)]) -> Markup {
    html! {
        ul.sets {
            @for (set, count) in sets {
                @let spec = set.spec.as_ref();
                @let depth = spec.matches(':').count().min(4);
                li class=(format!("depth-{depth}")) {
                    a href=(ctx.state.links.set(spec)) { (set.name) }
                    " " span.count { (number(ctx, *count)) }
                    @if set.name != spec { " " span.spec.id { (breakable(spec)) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_are_kept_and_blank_lines_make_paragraphs() {
        let html = paragraphs("Table :\r\nI) One\nII) Two\n\n\nAfter").into_string();
        assert_eq!(html, "<p>Table :<br>I) One<br>II) Two</p><p>After</p>");
    }

    #[test]
    fn markup_in_values_is_escaped() {
        let html = dc_value(
            &DcValue::with_lang("<script>alert(\"x\")</script> & co", "fr\""),
            true,
        )
        .into_string();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"));
        assert!(html.contains("lang=\"fr&quot;\""), "{html}");
    }

    #[test]
    fn only_http_urls_become_links() {
        assert_eq!(
            web_url("https://x.org/a?b=1&c"),
            Some("https://x.org/a?b=1&c")
        );
        assert_eq!(web_url("HTTP://X.ORG"), Some("HTTP://X.ORG"));
        assert_eq!(web_url("javascript:alert(1)"), None);
        assert_eq!(web_url("https://x.org/a b"), None);
        assert_eq!(web_url("urn:nbn:1"), None);
        let html = dc_value(&DcValue::new("https://x.org/?a=1&b=\"2\""), true).into_string();
        assert!(
            html.contains("href=\"https://x.org/?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
    }

    #[test]
    fn identifiers_break_at_their_separators() {
        assert_eq!(
            breakable("oai:x.org:bulletin/1").into_string(),
            "oai:<wbr>x.<wbr>org:<wbr>bulletin/<wbr>1<wbr>"
        );
    }
}
