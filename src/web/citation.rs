//! Highwire Press `citation_*` meta tags from Dublin Core, the tags Google Scholar reads
//! ("Inclusion guidelines for webmasters"): title, authors, publication date, journal title and
//! issue for bulletins and articles, publisher, language, keywords, and the PDF or online
//! full text.
//!
//! A bulletin or article names its periodical in `dc:relation` and cites itself in
//! `dc:source` as `Periodical, numbering, date` (the PMB crosswalk writes them so): the journal
//! title is a relation that a source starts with, and the issue is the numbering after it.

use crate::dc::{DcElement, DcRecord};
use crate::web::layout::web_url;

/// The tags of one record, in the order Google Scholar lists them.
pub fn tags(dc: &DcRecord) -> Vec<(&'static str, String)> {
    let first = |e: DcElement| dc.get(e).first().map(|v| v.value.trim().to_owned());
    let mut out = Vec::new();
    if let Some(title) = first(DcElement::Title) {
        out.push(("citation_title", title));
    }
    for creator in dc.get(DcElement::Creator) {
        out.push(("citation_author", creator.value.trim().to_owned()));
    }
    if let Some(date) = dc
        .get(DcElement::Date)
        .iter()
        .find_map(|d| publication_date(&d.value))
    {
        out.push(("citation_publication_date", date));
    }
    if let Some((journal, issue)) = journal(dc) {
        out.push(("citation_journal_title", journal));
        if let Some(issue) = issue {
            out.push(("citation_issue", issue));
        }
    }
    if let Some(publisher) = first(DcElement::Publisher) {
        out.push(("citation_publisher", publisher));
    }
    if let Some(language) = first(DcElement::Language) {
        out.push(("citation_language", language));
    }
    let keywords: Vec<&str> = dc
        .get(DcElement::Subject)
        .iter()
        .map(|s| s.value.trim())
        .collect();
    if !keywords.is_empty() {
        out.push(("citation_keywords", keywords.join("; ")));
    }
    out.extend(full_text(dc));
    out
}

/// `YYYY`, `YYYY/MM` or `YYYY/MM/DD` from a `dc:date` (`2018-02` → `2018/02`; a range or a
/// date in words gives its first year); `None` without a year.
fn publication_date(text: &str) -> Option<String> {
    let text = text.trim();
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    if digits(0..4) {
        let mut end = 4;
        while b.get(end) == Some(&b'-') && digits(end + 1..end + 3) && end < 10 {
            end += 3;
        }
        if !digits(end..end + 1) {
            return Some(text[..end].replace('-', "/"));
        }
    }
    // The first run of exactly four digits: `juin 2017`, `[1852?]`.
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 4 {
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

/// The periodical a record belongs to, and the numbering its citation gives after it.
fn journal(dc: &DcRecord) -> Option<(String, Option<String>)> {
    for relation in dc.get(DcElement::Relation) {
        let journal = relation.value.trim();
        if journal.is_empty() || web_url(journal).is_some() {
            continue;
        }
        for source in dc.get(DcElement::Source) {
            if let Some(rest) = source.value.trim().strip_prefix(journal) {
                let Some(rest) = rest.strip_prefix(',') else {
                    continue;
                };
                let numbering = rest.split(',').next().unwrap_or_default();
                let issue = numbering
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .trim();
                let issue = ["n°", "N°", "no.", "No.", "no ", "No "]
                    .iter()
                    .find_map(|p| issue.strip_prefix(p))
                    .unwrap_or(issue)
                    .trim();
                return Some((
                    journal.to_owned(),
                    (!issue.is_empty()).then(|| issue.to_owned()),
                ));
            }
        }
    }
    None
}

/// `citation_pdf_url` for a PDF, else `citation_fulltext_html_url`, from the first web
/// identifier (the resource itself comes before catalogue links in our records).
fn full_text(dc: &DcRecord) -> Option<(&'static str, String)> {
    let urls: Vec<&str> = dc
        .get(DcElement::Identifier)
        .iter()
        .filter_map(|v| web_url(v.value.trim()))
        .collect();
    let is_pdf = dc
        .get(DcElement::Format)
        .iter()
        .any(|f| f.value.trim().eq_ignore_ascii_case("application/pdf"));
    if let Some(pdf) = urls
        .iter()
        .find(|u| u.to_ascii_lowercase().ends_with(".pdf"))
    {
        return Some(("citation_pdf_url", (*pdf).to_owned()));
    }
    let first = (*urls.first()?).to_owned();
    Some(if is_pdf {
        ("citation_pdf_url", first)
    } else {
        ("citation_fulltext_html_url", first)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(fields: &[(DcElement, &str)]) -> DcRecord {
        let mut dc = DcRecord::new();
        for (e, v) in fields {
            dc.push_str(*e, *v);
        }
        dc
    }

    fn tag<'a>(tags: &'a [(&str, String)], name: &str) -> Vec<&'a str> {
        tags.iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    #[test]
    fn a_bulletin_gets_its_journal_issue_authors_and_online_url() {
        let dc = record(&[
            (DcElement::Title, "NTIC et travail social"),
            (DcElement::Creator, "Laetitia Della Torre"),
            (DcElement::Date, "2017"),
            (
                DcElement::Identifier,
                "http://www.reseau-terra.eu/article1402.html",
            ),
            (
                DcElement::Identifier,
                "https://cs.example.fr/index.php?lvl=bulletin_display&id=44933",
            ),
            (
                DcElement::Source,
                "Masters Recueil Alexandries, < 79/93 >, juin 2017",
            ),
            (DcElement::Relation, "Masters Recueil Alexandries"),
            (DcElement::Language, "fre"),
        ]);
        let tags = tags(&dc);
        assert_eq!(tag(&tags, "citation_title"), ["NTIC et travail social"]);
        assert_eq!(tag(&tags, "citation_author"), ["Laetitia Della Torre"]);
        assert_eq!(tag(&tags, "citation_publication_date"), ["2017"]);
        assert_eq!(
            tag(&tags, "citation_journal_title"),
            ["Masters Recueil Alexandries"]
        );
        assert_eq!(tag(&tags, "citation_issue"), ["79/93"]);
        assert_eq!(
            tag(&tags, "citation_fulltext_html_url"),
            ["http://www.reseau-terra.eu/article1402.html"]
        );
        assert_eq!(tag(&tags, "citation_language"), ["fre"]);
    }

    #[test]
    fn issues_lose_their_number_sign_and_pdfs_are_named_as_such() {
        let dc = record(&[
            (
                DcElement::Source,
                "Bulletin des bibliothèques, n° 12, décembre 2019",
            ),
            (DcElement::Relation, "Bulletin des bibliothèques"),
            (DcElement::Format, "application/pdf"),
            (DcElement::Identifier, "urn:nbn:x"),
            (DcElement::Identifier, "https://x.org/1"),
        ]);
        let tags = tags(&dc);
        assert_eq!(tag(&tags, "citation_issue"), ["12"]);
        assert_eq!(tag(&tags, "citation_pdf_url"), ["https://x.org/1"]);
        let dc = record(&[(DcElement::Identifier, "https://x.org/a/Thesis.PDF")]);
        assert_eq!(
            tag(&tags_of(&dc), "citation_pdf_url"),
            ["https://x.org/a/Thesis.PDF"]
        );
    }

    fn tags_of(dc: &DcRecord) -> Vec<(&'static str, String)> {
        tags(dc)
    }

    #[test]
    fn a_relation_no_source_cites_is_no_journal() {
        let dc = record(&[
            (DcElement::Relation, "https://data.example.org/atlas"),
            (DcElement::Source, "https://data.example.org/atlas, v2"),
            (DcElement::Relation, "Revue"),
            (DcElement::Source, "Revue des revues"),
        ]);
        assert!(tag(&tags(&dc), "citation_journal_title").is_empty());
    }

    #[test]
    fn dates_are_written_the_way_scholar_reads_them() {
        for (given, expected) in [
            ("2017", Some("2017")),
            ("2018-02", Some("2018/02")),
            ("2018-02-03", Some("2018/02/03")),
            ("2018-02-03T10:00:00Z", Some("2018/02/03")),
            ("1968/1975", Some("1968")),
            ("juin 2017", Some("2017")),
            ("[1852?]", Some("1852")),
            ("20170", None),
            ("s.d.", None),
        ] {
            assert_eq!(publication_date(given).as_deref(), expected, "{given}");
        }
    }
}
