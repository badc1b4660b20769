//! UNIMARC → Dublin Core, knowing PMB's record levels: the UNIMARC part of
//! `schemas/pmb-crosswalk.md` (one row per field), which follows the rules stated by
//! `tests/fixtures/pmb/oai/expected-good-crosswalk.json` and
//! `tests/fixtures/pmb/bulletin-44933-expected-from-unimarc-oai_dc.xml`.
//!
//! It produces the display importer's [`MappedRecord`], with the same local ids
//! (`bulletin/<bulletin id>` from 200$9 `id:`, `notice/<001>` otherwise), the same sets
//! (`periodical:…`, `doctype:…`) and the same language policy (the `//!` of
//! [`crate::importer::pmb::map`]): `xml:lang` from the first 101$a goes on titles, keywords,
//! categories, descriptions and the document type label, never on names, dates, identifiers,
//! source, relation, publisher, format, language or rights.

use std::fmt;

use super::record::{Field, Level, Position, UnimarcRecord};
use super::UnimarcError;
use crate::dc::DcElement;
use crate::importer::pmb::map::{bcp47, language_name, Builder};
use crate::importer::pmb::values::{first_year, function_label};
use crate::importer::pmb::{MappedRecord, RecordKind, SetDef};

/// PMB's default keyword separator (`pmb_keyword_sep`).
pub const DEFAULT_KEYWORD_SEPARATOR: &str = ";";

/// The OPAC base URL of a PMB (`opac_url_base`, such as
/// `https://catalogue.example.org/opac_css/`), from which permalinks are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpacUrl(String);

impl OpacUrl {
    /// Parses an `http(s)://` URL; a trailing `index.php` is dropped and a final `/` added.
    ///
    /// # Errors
    ///
    /// A message saying why the text is not such a URL.
    pub fn parse(url: &str) -> Result<OpacUrl, String> {
        let url = url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(format!(
                "the OPAC URL {url:?} does not start with http:// or https://"
            ));
        }
        if url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
        {
            return Err(format!(
                "the OPAC URL {url:?} holds spaces, a query or a fragment; give the OPAC's base \
                 directory, such as https://catalogue.example.org/opac_css/"
            ));
        }
        let url = url.strip_suffix("index.php").unwrap_or(url);
        let mut url = url.to_owned();
        if !url.ends_with('/') {
            url.push('/');
        }
        Ok(OpacUrl(url))
    }

    /// `index.php?lvl=<lvl>&id=<id>` under this base.
    fn permalink(&self, lvl: &str, id: &str) -> String {
        format!("{}index.php?lvl={lvl}&id={id}", self.0)
    }
}

impl AsRef<str> for OpacUrl {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The separator PMB joins free keywords with in 610$a (`pmb_keyword_sep`); never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeywordSeparator(String);

impl KeywordSeparator {
    /// The separator as given (not trimmed: a space is a valid separator).
    ///
    /// # Errors
    ///
    /// When it is empty.
    pub fn parse(separator: &str) -> Result<KeywordSeparator, String> {
        if separator.is_empty() {
            return Err("the keyword separator is empty".into());
        }
        Ok(KeywordSeparator(separator.to_owned()))
    }
}

impl Default for KeywordSeparator {
    fn default() -> Self {
        KeywordSeparator(DEFAULT_KEYWORD_SEPARATOR.to_owned())
    }
}

impl AsRef<str> for KeywordSeparator {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What the crosswalk needs to know about the PMB the records come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrosswalkOptions {
    /// The OPAC base URL; `None` means no permalink is emitted.
    pub opac_url: Option<OpacUrl>,
    /// The keyword separator of 610$a.
    pub keyword_separator: KeywordSeparator,
}

impl CrosswalkOptions {
    /// Parses the options as the configuration, the command line or the admin API gives them
    /// (no separator: the default one).
    ///
    /// # Errors
    /// The first option that cannot be used, and why.
    pub fn parse(
        opac_url: Option<&str>,
        keyword_separator: Option<&str>,
    ) -> Result<CrosswalkOptions, OptionError> {
        let opac_url = opac_url
            .map(OpacUrl::parse)
            .transpose()
            .map_err(OptionError::OpacUrl)?;
        let keyword_separator = keyword_separator
            .map(KeywordSeparator::parse)
            .transpose()
            .map_err(OptionError::KeywordSeparator)?
            .unwrap_or_default();
        Ok(CrosswalkOptions {
            opac_url,
            keyword_separator,
        })
    }
}

/// A crosswalk option that cannot be used: which one, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// The OPAC URL.
    #[error("{0}")]
    OpacUrl(String),
    /// The keyword separator.
    #[error("{0}")]
    KeywordSeparator(String),
}

impl OptionError {
    /// The option's name, as the configuration spells it.
    pub fn option(&self) -> &'static str {
        match self {
            OptionError::OpacUrl(_) => "opac_url",
            OptionError::KeywordSeparator(_) => "keyword_separator",
        }
    }
}

/// Why a record is not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// PMB's dummy `<bulletin id>-bull` record (200$d `Article_expl_bulletin`), written only to
    /// carry the items of a bulletin that has no bulletin notice: it describes no document.
    BulletinItems,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::BulletinItems => f.write_str(
                "PMB's placeholder for the items of a bulletin (200$d Article_expl_bulletin), \
                 not a document",
            ),
        }
    }
}

/// A record recognised and deliberately not published: neither an error nor a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it is.
    pub position: Position,
    /// Its 001.
    pub id: String,
    /// Why.
    pub reason: SkipReason,
}

/// What one UNIMARC record becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mapped {
    /// A record to publish.
    Record(Box<MappedRecord>),
    /// A record not to publish, and why.
    Skipped(Skipped),
}

/// PMB's document types (`dt`, includes/marc_tables/fr_FR/doctype.xml) with their DCMI Type
/// (the rule of `expected-good-crosswalk.json`).
fn doc_type(code: char) -> Option<(&'static str, &'static str)> {
    Some(match code {
        'a' => ("Text", "texte imprimé"),
        'b' => ("Text", "texte manuscrit"),
        'c' => ("Text", "partition musicale imprimée"),
        'd' => ("Text", "partition musicale manuscrite"),
        'e' => ("StillImage", "document cartographique imprimé"),
        'f' => ("StillImage", "document cartographique manuscrit"),
        'g' => ("MovingImage", "document projeté ou vidéo"),
        'i' => ("Sound", "enregistrement sonore non musical"),
        'j' => ("Sound", "enregistrement sonore musical"),
        'k' => ("StillImage", "document graphique à deux dimensions"),
        'l' => ("Text", "document électronique"),
        'm' => ("InteractiveResource", "document multimédia"),
        'r' => ("PhysicalObject", "objet à 3 dimensions, artefacts, ..."),
        _ => return None,
    })
}

/// The usage-rights message PMB writes in 319 when a record has none (`notice_usage_none`).
const NO_SPECIFIC_RIGHTS: &str = "Aucun droit spécifique";

/// True for PMB's dummy `<id>-bull` records.
fn is_bulletin_items(record: &UnimarcRecord) -> bool {
    record
        .all("200", 'd')
        .any(|d| d.trim() == "Article_expl_bulletin")
}

/// The bulletin id of a bulletin notice: 200$9 `id:<digits>`.
fn bulletin_id(record: &UnimarcRecord) -> Option<&str> {
    record
        .all("200", '9')
        .filter_map(|v| v.trim().strip_prefix("id:"))
        .map(str::trim)
        .find(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// The non-blank, trimmed value.
fn nonblank(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|s| !s.is_empty())
}

/// Maps one record through the crosswalk; `upstream_sets` are the PMB OAI sets the record was
/// harvested in (setSpec and readable name), added to its sets as given.
///
/// # Errors
///
/// [`UnimarcError::NoTitle`] when the record gives no title at all, and
/// [`UnimarcError::Malformed`] when its 001 holds characters an identifier cannot (anything
/// but ASCII letters, digits, `-`, `_`, `.` and `:`). Everything else degrades: missing fields
/// are omitted.
pub fn map_record(
    record: &UnimarcRecord,
    options: &CrosswalkOptions,
    upstream_sets: &[SetDef],
) -> Result<Mapped, UnimarcError> {
    if is_bulletin_items(record) {
        return Ok(Mapped::Skipped(Skipped {
            position: record.position,
            id: record.id.clone(),
            reason: SkipReason::BulletinItems,
        }));
    }
    // The 001 becomes part of an OAI identifier and of a permalink's query.
    if !record
        .id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    {
        return Err(UnimarcError::Malformed {
            at: record.position,
            message: format!(
                "the 001 {:?} cannot be part of an identifier (letters, digits, - _ . : only)",
                record.id
            ),
        });
    }
    let mut b = Builder::new(true);
    let level = record.label.level();
    let bulletin = bulletin_id(record).filter(|_| level == Level::BulletinNotice);
    let (kind, local_id) = match bulletin {
        Some(id) => (RecordKind::Bulletin, format!("bulletin/{id}")),
        None => (RecordKind::Notice, format!("notice/{}", record.id)),
    };
    let lang = record.all("101", 'a').find_map(nonblank).and_then(|code| {
        if code.bytes().any(|b| b.is_ascii_uppercase()) {
            bcp47(&code.to_ascii_lowercase())
        } else {
            bcp47(code)
        }
    });
    // One set per language, as the display importer makes them (`lang:fre` "Français").
    for code in record.all("101", 'a').filter_map(nonblank) {
        let code = code.trim().to_ascii_lowercase();
        if (2..=3).contains(&code.len()) && code.bytes().all(|c| c.is_ascii_lowercase()) {
            let name = language_name(&code).map_or_else(|| code.clone(), str::to_owned);
            b.set_def(SetDef {
                spec: format!("lang:{code}"),
                name,
            });
        }
    }

    map_title(record, level, lang, &mut b)?;
    map_names(record, &mut b);
    map_subjects(record, options, lang, &mut b);
    for tag in ["330", "327", "300"] {
        for value in record.all(tag, 'a') {
            b.push(DcElement::Description, value, lang);
        }
    }
    map_publication(record, &mut b);
    map_type(record, lang, &mut b);
    for code in ['a', 'c', 'd', 'e'] {
        for value in record.all("215", code) {
            b.push(DcElement::Format, value, None);
        }
    }
    map_identifiers(record, level, bulletin, options, &mut b);
    map_container(record, level, &mut b);
    for value in record.all("101", 'a') {
        b.push(DcElement::Language, value, None);
    }
    for value in record.all("319", 'a') {
        if value.trim() != NO_SPECIFIC_RIGHTS {
            b.push(DcElement::Rights, value, None);
        }
    }
    for def in upstream_sets {
        b.set_def(def.clone());
    }
    map_local_fields(record, level, &mut b);

    Ok(Mapped::Record(Box::new(MappedRecord {
        kind,
        local_id,
        dc: b.dc,
        sets: b.sets,
        local_fields: b.local,
        line: record.position.line,
        stripped_chars: b.stripped,
    })))
}

/// `dc:title`: a bulletin notice's own title 200$i, else `530$a, 200$h (210$d)`; any other
/// record `200$a = $d : $e ; $c`.
fn map_title(
    record: &UnimarcRecord,
    level: Level,
    lang: Option<&str>,
    b: &mut Builder,
) -> Result<(), UnimarcError> {
    let no_title = |why: &str| UnimarcError::NoTitle {
        at: record.position,
        id: record.id.clone(),
        why: why.to_owned(),
    };
    let Some(f200) = record.field("200") else {
        let why = if record.field("245").is_some() {
            "no 200 field; it has a 245, so it is MARC 21, not UNIMARC"
        } else {
            "no 200 field"
        };
        return Err(no_title(why));
    };
    let title = if level == Level::BulletinNotice {
        f200.first('i').map(str::to_owned).or_else(|| {
            let head = [record.first("530", 'a'), f200.first('h')]
                .into_iter()
                .flatten()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(", ");
            let date = publication(record).find_map(|f| f.first('d'));
            match (head.is_empty(), date) {
                (true, None) => f200.first('a').map(str::to_owned),
                (true, Some(d)) => Some(d.trim().to_owned()),
                (false, None) => Some(head),
                (false, Some(d)) => Some(format!("{head} ({})", d.trim())),
            }
        })
    } else {
        f200.first('a').map(|a| {
            let mut title = a.trim().to_owned();
            for (code, sep) in [('d', " = "), ('e', " : "), ('c', " ; ")] {
                for part in f200.all(code).filter_map(nonblank) {
                    title.push_str(sep);
                    title.push_str(part);
                }
            }
            title
        })
    };
    let Some(title) = title else {
        return Err(no_title("no 200$a"));
    };
    if !b.push(DcElement::Title, &title, lang) {
        return Err(no_title("200 is empty once cleaned"));
    }
    Ok(())
}

/// True for the responsibility fields: 70x persons, 71x corporate bodies and congresses.
fn is_responsibility(field: &Field) -> bool {
    let t = field.tag.as_str().as_bytes();
    t[0] == b'7' && (t[1] == b'0' || t[1] == b'1')
}

/// `dc:creator` for $4 070 (and a 700/710 main entry without a function or with 000),
/// `dc:contributor` for any other function; persons `$a, $b`, corporate bodies `$a. $b`.
/// Each function is kept as a local field `role:<code>:<label>`, as the display importer does.
fn map_names(record: &UnimarcRecord, b: &mut Builder) {
    for field in record.fields.iter().filter(|f| is_responsibility(f)) {
        let Some(surname) = field.first('a').map(str::trim) else {
            continue;
        };
        let corporate = field.tag.as_str().as_bytes()[1] == b'1';
        let mut name = surname.to_owned();
        if corporate {
            for part in field.all('b').filter_map(nonblank) {
                name.push_str(". ");
                name.push_str(part);
            }
        } else if let Some(forename) = field.first('b') {
            name.push_str(", ");
            name.push_str(forename.trim());
        }
        let codes = || field.all('4').filter_map(nonblank);
        let main_entry = matches!(field.tag.as_str(), "700" | "710");
        let creator = codes().any(|c| c == "070") || (main_entry && codes().all(|c| c == "000"));
        let element = if creator {
            DcElement::Creator
        } else {
            DcElement::Contributor
        };
        if b.push(element, &name, None) {
            for code in codes() {
                if let Some(label) = function_label(code) {
                    b.local(&format!("role:{code}:{label}"), &name);
                }
            }
        }
    }
}

/// `dc:subject`: 606$a categories in field order, then the free keywords of 610$a split on the
/// source's keyword separator; duplicates appear once.
fn map_subjects(
    record: &UnimarcRecord,
    options: &CrosswalkOptions,
    lang: Option<&str>,
    b: &mut Builder,
) {
    for value in record.all("606", 'a') {
        b.push(DcElement::Subject, value, lang);
    }
    let separator = options.keyword_separator.as_ref();
    for value in record.all("610", 'a') {
        for keyword in value.split(separator) {
            b.push(DcElement::Subject, keyword, lang);
        }
    }
}

/// The publication fields: 210, or 214 when there is no 210 (PMB writes both, identical).
fn publication(record: &UnimarcRecord) -> impl Iterator<Item = &Field> {
    let tag = if record.field("210").is_some() {
        "210"
    } else {
        "214"
    };
    record.fields(tag)
}

/// `dc:publisher` `$c ($a)` as PMB's own DC writes it, and `dc:date`: the year of the first
/// $h (PMB's date_date), else the first four-digit year of $d.
fn map_publication(record: &UnimarcRecord, b: &mut Builder) {
    for field in publication(record) {
        let place = field.first('a').map(str::trim);
        for name in field.all('c').filter_map(nonblank) {
            let value = match place {
                Some(place) => format!("{name} ({place})"),
                None => name.to_owned(),
            };
            b.push(DcElement::Publisher, &value, None);
        }
    }
    let year = publication(record)
        .find_map(|f| f.all('h').find_map(first_year))
        .or_else(|| publication(record).find_map(|f| f.all('d').find_map(first_year)));
    if let Some(year) = year {
        b.push(DcElement::Date, year, None);
    }
}

/// `dc:type`: the DCMI Type of the label's `dt`, then PMB's French label; one `doctype:` set.
fn map_type(record: &UnimarcRecord, lang: Option<&str>, b: &mut Builder) {
    let Some((dcmi, label)) = doc_type(record.label.doc_type) else {
        if record.label.doc_type != ' ' {
            b.local("dt", &record.label.doc_type.to_string());
        }
        return;
    };
    b.push(DcElement::Type, dcmi, None);
    b.push(DcElement::Type, label, lang);
    b.set("doctype", label);
}

/// `dc:identifier`: 856$u, the OPAC permalink, then `urn:ISSN:` (010 of a periodical, 011) or
/// `urn:ISBN:` (010 of anything else).
fn map_identifiers(
    record: &UnimarcRecord,
    level: Level,
    bulletin: Option<&str>,
    options: &CrosswalkOptions,
    b: &mut Builder,
) {
    for url in record.all("856", 'u') {
        b.push(DcElement::Identifier, url, None);
    }
    if let Some(opac) = &options.opac_url {
        let permalink = match bulletin {
            Some(id) => opac.permalink("bulletin_display", id),
            None => opac.permalink("notice_display", &record.id),
        };
        b.push(DcElement::Identifier, &permalink, None);
    }
    let number = |value: &str| value.split_whitespace().next().map(str::to_owned);
    let scheme = if level == Level::Periodical {
        "ISSN"
    } else {
        "ISBN"
    };
    for n in record.all("010", 'a').filter_map(number) {
        b.push(DcElement::Identifier, &format!("urn:{scheme}:{n}"), None);
    }
    for n in record.all("011", 'a').filter_map(number) {
        b.push(DcElement::Identifier, &format!("urn:ISSN:{n}"), None);
    }
}

/// `dc:source` and `dc:relation`: a bulletin notice cites `530$a, 200$h, 210$d`; an article
/// with its links (461 periodical, 463 issue) cites `periodical, numbering, date, pages`; the
/// periodical is a relation and a `periodical:` set (a periodical is in its own). Collections
/// (225$a, 225$i) and series (461$t) are relations.
fn map_container(record: &UnimarcRecord, level: Level, b: &mut Builder) {
    let linked_periodical = record.first("461", 't');
    let periodical = match level {
        Level::BulletinNotice => record.first("530", 'a').or(linked_periodical),
        Level::Article => linked_periodical,
        Level::Periodical => record.first("200", 'a'),
        _ => None,
    }
    .map(str::trim);
    let citation: Vec<&str> = match level {
        Level::BulletinNotice => vec![
            periodical,
            record.first("200", 'h'),
            publication(record).find_map(|f| f.first('d')),
        ],
        Level::Article if periodical.is_some() || record.field("463").is_some() => {
            let issue = record.field("463");
            vec![
                periodical,
                issue.and_then(|f| f.first('v')),
                issue.and_then(|f| f.first('e').or_else(|| f.first('d'))),
            ]
        }
        _ => Vec::new(),
    }
    .into_iter()
    .flatten()
    .map(str::trim)
    .collect();
    if !citation.is_empty() {
        let mut source = citation.join(", ");
        if level == Level::Article {
            if let Some(pages) = record.first("215", 'a').map(str::trim) {
                source.push_str(", ");
                if pages.starts_with(|c: char| c.is_ascii_digit()) {
                    source.push_str("p. ");
                }
                source.push_str(pages);
            }
        }
        b.push(DcElement::Source, &source, None);
    }
    if let Some(periodical) = periodical {
        if level != Level::Periodical {
            b.push(DcElement::Relation, periodical, None);
        }
        b.set("periodical", periodical);
    }
    for field in record.fields("225") {
        for code in ['a', 'i'] {
            for value in field.all(code) {
                b.push(DcElement::Relation, value, None);
            }
        }
    }
    for value in record.all("461", 't') {
        b.push(DcElement::Relation, value, None);
    }
}

/// What DC does not hold but is worth keeping: the notice id, a bulletin notice's PMB title
/// (200$a, with numbering and date glued in front), the edition, the price, the original
/// language and the Dewey class.
fn map_local_fields(record: &UnimarcRecord, level: Level, b: &mut Builder) {
    b.local("001", &record.id);
    if level == Level::BulletinNotice {
        if let Some(a) = record.first("200", 'a') {
            b.local("200$a", a);
        }
    }
    for (tag, code, key) in [
        ("205", 'a', "205$a"),
        ("010", 'd', "010$d"),
        ("101", 'c', "101$c"),
        ("676", 'a', "676$a"),
        ("676", 'l', "676$l"),
    ] {
        for value in record.all(tag, code) {
            b.local(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::unimarc::record::{FieldValue, Label, Subfield, Tag};

    type Subfields<'a> = &'a [(char, &'a str)];

    fn field(tag: &str, subfields: Subfields<'_>) -> Field {
        Field {
            tag: Tag::parse(tag.as_bytes()).unwrap(),
            value: FieldValue::Data {
                indicators: [' ', ' '],
                subfields: subfields
                    .iter()
                    .map(|&(code, value)| Subfield {
                        code,
                        value: value.to_owned(),
                    })
                    .collect(),
            },
        }
    }

    /// A record with label `dt bl hl` (`"am0"`), 001 `1`, 101$a `fre` unless one is given.
    fn record(label: &str, fields: &[(&str, Subfields<'_>)]) -> UnimarcRecord {
        let l: Vec<char> = label.chars().collect();
        let mut all = vec![Field {
            tag: Tag::parse(b"001").unwrap(),
            value: FieldValue::Control("1".into()),
        }];
        if !fields.iter().any(|(t, _)| *t == "101") {
            all.push(field("101", &[('a', "fre")]));
        }
        all.extend(fields.iter().map(|(t, s)| field(t, s)));
        UnimarcRecord {
            position: Position {
                record: 1,
                line: 1,
                offset: 0,
            },
            id: "1".into(),
            label: Label {
                doc_type: l[0],
                bib_level: l[1],
                hier_level: l[2],
                ..Label::default()
            },
            fields: all,
        }
    }

    fn options(separator: &str) -> CrosswalkOptions {
        CrosswalkOptions {
            opac_url: Some(OpacUrl::parse("https://pmb.example/opac_css").unwrap()),
            keyword_separator: KeywordSeparator::parse(separator).unwrap(),
        }
    }

    fn map(r: &UnimarcRecord, separator: &str) -> MappedRecord {
        match map_record(r, &options(separator), &[]).unwrap() {
            Mapped::Record(m) => *m,
            Mapped::Skipped(s) => panic!("{s:?}"),
        }
    }

    const NOTICE_1: &str = "https://pmb.example/opac_css/index.php?lvl=notice_display&id=1";

    /// One row of `schemas/pmb-crosswalk.md` §UNIMARC: the row's name, the record, the element
    /// and its values (with `xml:lang`).
    struct Row {
        name: &'static str,
        label: &'static str,
        fields: &'static [(&'static str, Subfields<'static>)],
        separator: &'static str,
        element: DcElement,
        expected: &'static [(&'static str, Option<&'static str>)],
    }

    const FR: Option<&str> = Some("fr");

    const ROWS: &[Row] = &[
        Row {
            name: "200 title",
            label: "am0",
            fields: &[(
                "200",
                &[
                    ('a', "Titre"),
                    ('d', "Title"),
                    ('e', "essai"),
                    ('c', "Autre"),
                ],
            )],
            separator: ";",
            element: DcElement::Title,
            expected: &[("Titre = Title : essai ; Autre", FR)],
        },
        Row {
            name: "200$i bulletin title",
            label: "ls2",
            fields: &[(
                "200",
                &[('a', "< 1 > - mai 2001 - T"), ('h', "< 1 >"), ('i', "T")],
            )],
            separator: ";",
            element: DcElement::Title,
            expected: &[("T", FR)],
        },
        Row {
            name: "bulletin without 200$i",
            label: "as2",
            fields: &[
                ("200", &[('a', "< 3 > - mai 2001"), ('h', "< 3 >")]),
                ("530", &[('a', "Revue")]),
                ("210", &[('d', "mai 2001")]),
            ],
            separator: ";",
            element: DcElement::Title,
            expected: &[("Revue, < 3 > (mai 2001)", FR)],
        },
        Row {
            name: "530 source",
            label: "as2",
            fields: &[
                ("200", &[('i', "T"), ('h', "n° 3")]),
                ("530", &[('a', "Revue")]),
                ("210", &[('d', "mai 2001")]),
                ("214", &[('d', "mai 2001")]),
            ],
            separator: ";",
            element: DcElement::Source,
            expected: &[("Revue, n° 3, mai 2001", None)],
        },
        Row {
            name: "530 relation",
            label: "as2",
            fields: &[("200", &[('i', "T")]), ("530", &[('a', "Revue")])],
            separator: ";",
            element: DcElement::Relation,
            expected: &[("Revue", None)],
        },
        Row {
            name: "200$9 bulletin permalink",
            label: "ls2",
            fields: &[("200", &[('i', "T"), ('9', "id:44933")])],
            separator: ";",
            element: DcElement::Identifier,
            expected: &[(
                "https://pmb.example/opac_css/index.php?lvl=bulletin_display&id=44933",
                None,
            )],
        },
        Row {
            name: "70x $4 070",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                (
                    "702",
                    &[
                        ('a', "Della Torre"),
                        ('b', "Laetitia"),
                        ('4', "070"),
                        ('9', "id:1"),
                    ],
                ),
            ],
            separator: ";",
            element: DcElement::Creator,
            expected: &[("Della Torre, Laetitia", None)],
        },
        Row {
            name: "70x other $4",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("700", &[('a', "Nguyen"), ('b', "Linh"), ('4', "300")]),
                ("702", &[('a', "Valluy"), ('b', "Jérôme"), ('4', "595")]),
            ],
            separator: ";",
            element: DcElement::Contributor,
            expected: &[("Nguyen, Linh", None), ("Valluy, Jérôme", None)],
        },
        Row {
            name: "700/710 without $4",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("700", &[('a', "A")]),
                ("701", &[('a', "B")]),
                ("710", &[('a', "C"), ('4', "000")]),
            ],
            separator: ";",
            element: DcElement::Creator,
            expected: &[("A", None), ("C", None)],
        },
        Row {
            name: "71x corporate body",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                (
                    "710",
                    &[
                        ('a', "Université Paris 1"),
                        ('b', "Département de science politique"),
                        ('4', "070"),
                        ('e', "Paris; France"),
                    ],
                ),
            ],
            separator: ";",
            element: DcElement::Creator,
            expected: &[("Université Paris 1. Département de science politique", None)],
        },
        Row {
            name: "606 then 610",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("610", &[('a', "Numérique ; Travail social ;  ; Social")]),
                (
                    "606",
                    &[
                        ('9', "id:1204"),
                        ('9', "lang:fr_FR"),
                        ('a', "Travail social"),
                    ],
                ),
            ],
            separator: ";",
            element: DcElement::Subject,
            expected: &[("Travail social", FR), ("Numérique", FR), ("Social", FR)],
        },
        Row {
            name: "610 separator",
            label: "am0",
            fields: &[("200", &[('a', "T")]), ("610", &[('a', "a / b; c")])],
            separator: "/",
            element: DcElement::Subject,
            expected: &[("a", FR), ("b; c", FR)],
        },
        Row {
            name: "676 not a subject",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("676", &[('a', "302.23"), ('l', "Médias")]),
            ],
            separator: ";",
            element: DcElement::Subject,
            expected: &[],
        },
        Row {
            name: "330 327 300",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("300", &[('a', " note ")]),
                ("327", &[('a', "Sommaire :\r\n1. Un")]),
                ("330", &[('a', "Résumé")]),
            ],
            separator: ";",
            element: DcElement::Description,
            expected: &[("Résumé", FR), ("Sommaire :\n1. Un", FR), ("note", FR)],
        },
        Row {
            name: "101 language",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("101", &[('a', "fre"), ('a', "eng"), ('c', "ger")]),
            ],
            separator: ";",
            element: DcElement::Language,
            expected: &[("fre", None), ("eng", None)],
        },
        Row {
            name: "101 xml:lang",
            label: "am0",
            fields: &[("200", &[('a', "Titel")]), ("101", &[('a', "ger")])],
            separator: ";",
            element: DcElement::Title,
            expected: &[("Titel", Some("de"))],
        },
        Row {
            name: "856 then permalink",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("856", &[('u', "https://x.example/1")]),
            ],
            separator: ";",
            element: DcElement::Identifier,
            expected: &[("https://x.example/1", None), (NOTICE_1, None)],
        },
        Row {
            name: "010 ISBN",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("010", &[('a', "978-2-99912-340-3"), ('d', "22 EUR")]),
            ],
            separator: ";",
            element: DcElement::Identifier,
            expected: &[(NOTICE_1, None), ("urn:ISBN:978-2-99912-340-3", None)],
        },
        Row {
            name: "010 ISSN of a periodical",
            label: "as1",
            fields: &[("200", &[('a', "Revue")]), ("010", &[('a', "2999-0017")])],
            separator: ";",
            element: DcElement::Identifier,
            expected: &[(NOTICE_1, None), ("urn:ISSN:2999-0017", None)],
        },
        Row {
            name: "011 ISSN",
            label: "am0",
            fields: &[("200", &[('a', "T")]), ("011", &[('a', "2999-0025")])],
            separator: ";",
            element: DcElement::Identifier,
            expected: &[(NOTICE_1, None), ("urn:ISSN:2999-0025", None)],
        },
        Row {
            name: "210 publisher",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                (
                    "210",
                    &[
                        ('a', "Lyon"),
                        ('b', "12, rue X\n\n69002"),
                        ('c', "Presses"),
                        ('9', "id:3"),
                    ],
                ),
                ("214", &[('a', "Lyon"), ('c', "Presses")]),
            ],
            separator: ";",
            element: DcElement::Publisher,
            expected: &[("Presses (Lyon)", None)],
        },
        Row {
            name: "210$h date",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("210", &[('d', "juin 2017"), ('h', "2017-06-01")]),
            ],
            separator: ";",
            element: DcElement::Date,
            expected: &[("2017", None)],
        },
        Row {
            name: "210$d date",
            label: "am0",
            fields: &[("200", &[('a', "T")]), ("214", &[('d', "cop. 2005")])],
            separator: ";",
            element: DcElement::Date,
            expected: &[("2005", None)],
        },
        Row {
            name: "215 format",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                (
                    "215",
                    &[
                        ('a', "148 p."),
                        ('c', "ill."),
                        ('d', "21 cm"),
                        ('e', "1 CD"),
                    ],
                ),
            ],
            separator: ";",
            element: DcElement::Format,
            expected: &[
                ("148 p.", None),
                ("ill.", None),
                ("21 cm", None),
                ("1 CD", None),
            ],
        },
        Row {
            name: "225 collection",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("225", &[('a', "Guides pratiques"), ('v', "12")]),
                ("410", &[('t', "Guides pratiques")]),
                ("225", &[('i', "Action sociale")]),
            ],
            separator: ";",
            element: DcElement::Relation,
            expected: &[("Guides pratiques", None), ("Action sociale", None)],
        },
        Row {
            name: "461 series",
            label: "am0",
            fields: &[("200", &[('a', "T")]), ("461", &[('t', "Maths & Cie")])],
            separator: ";",
            element: DcElement::Relation,
            expected: &[("Maths & Cie", None)],
        },
        Row {
            name: "461/463 article source",
            label: "aa2",
            fields: &[
                ("200", &[('a', "Article")]),
                ("215", &[('a', "45-62")]),
                ("461", &[('t', "Revue"), ('9', "id:61250")]),
                (
                    "463",
                    &[
                        ('v', "n° 12"),
                        ('e', "printemps 2023"),
                        ('d', "2023-03-15"),
                        ('t', " "),
                    ],
                ),
            ],
            separator: ";",
            element: DcElement::Source,
            expected: &[("Revue, n° 12, printemps 2023, p. 45-62", None)],
        },
        Row {
            name: "461/463 article relation",
            label: "aa2",
            fields: &[
                ("200", &[('a', "Article")]),
                ("461", &[('t', "Revue"), ('9', "id:61250")]),
            ],
            separator: ";",
            element: DcElement::Relation,
            expected: &[("Revue", None)],
        },
        Row {
            name: "319 boilerplate",
            label: "am0",
            fields: &[
                ("200", &[('a', "T")]),
                ("319", &[('a', "Aucun droit spécifique")]),
            ],
            separator: ";",
            element: DcElement::Rights,
            expected: &[],
        },
        Row {
            name: "319 rights",
            label: "gm0",
            fields: &[
                ("200", &[('a', "T")]),
                ("319", &[('a', "Droits de prêt acquis")]),
            ],
            separator: ";",
            element: DcElement::Rights,
            expected: &[("Droits de prêt acquis", None)],
        },
        Row {
            name: "dt type",
            label: "gm0",
            fields: &[("200", &[('a', "T")])],
            separator: ";",
            element: DcElement::Type,
            expected: &[("MovingImage", None), ("document projeté ou vidéo", FR)],
        },
        Row {
            name: "dt l type",
            label: "ls2",
            fields: &[("200", &[('i', "T")])],
            separator: ";",
            element: DcElement::Type,
            expected: &[("Text", None), ("document électronique", FR)],
        },
    ];

    #[test]
    fn every_row_of_the_crosswalk_table_maps_as_documented() {
        for row in ROWS {
            let mapped = map(&record(row.label, row.fields), row.separator);
            let got: Vec<(&str, Option<&str>)> = mapped
                .dc
                .get(row.element)
                .iter()
                .map(|v| (v.value.as_str(), v.lang.as_deref()))
                .collect();
            assert_eq!(got, row.expected, "row {:?}", row.name);
        }
    }

    #[test]
    fn the_crosswalk_document_names_every_row_of_the_table() {
        let doc = include_str!("../../../schemas/pmb-crosswalk.md");
        for row in ROWS {
            assert!(
                doc.contains(&format!("`{}`", row.name)),
                "row {:?} is not in the document",
                row.name
            );
        }
    }

    #[test]
    fn fields_with_no_dc_element_are_not_emitted_and_some_are_kept_locally() {
        let r = record(
            "am0",
            &[
                ("100", &[('a', "20170703u        u  u0frey50      ba")]),
                ("009", &[('a', "2017-06-01")]),
                ("200", &[('a', "T")]),
                ("205", &[('a', "2e édition")]),
                ("010", &[('a', "978-2-99912-340-3"), ('d', "22 EUR")]),
                ("102", &[('a', "fr")]),
                ("676", &[('a', "302.23"), ('l', "Médias")]),
                ("801", &[('a', "INTERNE"), ('b', "FR"), ('c', "20240318")]),
                (
                    "896",
                    &[(
                        'a',
                        "https://pmb.example/opac_css/thumbnail.php?type=1&id=1",
                    )],
                ),
            ],
        );
        let mapped = map(&r, ";");
        for (_, v) in mapped.dc.iter() {
            for never in [
                "2017-06-01",
                "INTERNE",
                "thumbnail",
                "302.23",
                "22 EUR",
                "2e édition",
            ] {
                assert!(!v.value.contains(never), "{never} in {v:?}");
            }
        }
        let local: Vec<(&str, &str)> = mapped
            .local_fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            local,
            [
                ("001", "1"),
                ("205$a", "2e édition"),
                ("010$d", "22 EUR"),
                ("676$a", "302.23"),
                ("676$l", "Médias")
            ]
        );
    }

    #[test]
    fn roles_are_kept_as_local_fields_like_the_display_importer_keeps_them() {
        let r = record(
            "am0",
            &[
                ("200", &[('a', "T")]),
                ("702", &[('a', "Valluy"), ('b', "Jérôme"), ('4', "595")]),
            ],
        );
        assert_eq!(
            map(&r, ";").local_fields[0],
            (
                "role:595:Directeur de la recherche".into(),
                "Valluy, Jérôme".into()
            )
        );
    }

    #[test]
    fn a_record_without_a_title_is_an_error_naming_it() {
        let err = map_record(
            &record("am0", &[("210", &[('c', "P")])]),
            &options(";"),
            &[],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "record 1 (line 1, byte 0): notice 1 has no title (no 200 field)"
        );
        let marc21 = record("am0", &[("245", &[('a', "A MARC 21 title")])]);
        let err = map_record(&marc21, &options(";"), &[]).unwrap_err();
        assert!(err.to_string().contains("MARC 21"), "{err}");
        let empty = record("am0", &[("200", &[('a', " \u{1} ")])]);
        assert!(matches!(
            map_record(&empty, &options(";"), &[]),
            Err(UnimarcError::NoTitle { .. })
        ));
    }

    #[test]
    fn a_001_that_cannot_make_an_identifier_is_refused() {
        let mut r = record("am0", &[("200", &[('a', "T")])]);
        for id in ["61234", "PPN-12.3:4_X"] {
            r.id = id.into();
            assert!(map_record(&r, &options(";"), &[]).is_ok(), "{id}");
        }
        for id in ["12 34", "1<2", "é1", "1&id=2"] {
            r.id = id.into();
            let err = map_record(&r, &options(";"), &[]).unwrap_err();
            assert!(
                err.to_string().contains("cannot be part of an identifier"),
                "{err}"
            );
        }
    }

    #[test]
    fn upstream_oai_sets_are_added_as_given_after_the_others() {
        let set = SetDef {
            spec: "set_2".into(),
            name: "Nouveautés de l'année".into(),
        };
        let r = record("am0", &[("200", &[('a', "T")])]);
        let Ok(Mapped::Record(m)) = map_record(&r, &options(";"), &[set.clone(), set.clone()])
        else {
            panic!("not mapped");
        };
        assert_eq!(m.sets.len(), 3, "language, doctype, then the OAI set once");
        assert_eq!(m.sets[0].spec, "lang:fre");
        assert_eq!(m.sets[2], set);
    }

    #[test]
    fn a_bulletin_notice_without_a_bulletin_id_is_a_notice() {
        let r = record("as2", &[("200", &[('i', "T"), ('9', "id:x")])]);
        let m = map(&r, ";");
        assert_eq!(
            (m.kind, m.local_id.as_str()),
            (RecordKind::Notice, "notice/1")
        );
        assert_eq!(m.dc.get(DcElement::Identifier)[0].value, NOTICE_1);
    }

    #[test]
    fn characters_illegal_in_xml_are_stripped_and_counted() {
        let r = record(
            "am0",
            &[
                ("200", &[('a', "Ti\u{1}tre\u{FFFE}")]),
                ("330", &[('a', "\u{0}")]),
            ],
        );
        let m = map(&r, ";");
        assert_eq!(m.dc.get(DcElement::Title)[0].value, "Titre");
        assert!(m.dc.get(DcElement::Description).is_empty());
        assert_eq!(m.stripped_chars, 3);
    }

    #[test]
    fn opac_urls_and_keyword_separators_are_parsed() {
        for (raw, base) in [
            ("https://c.example/opac_css/", "https://c.example/opac_css/"),
            ("https://c.example/opac_css", "https://c.example/opac_css/"),
            (
                " http://c.example/opac_css/index.php ",
                "http://c.example/opac_css/",
            ),
        ] {
            assert_eq!(OpacUrl::parse(raw).unwrap().as_ref(), base);
        }
        for bad in [
            "ftp://c.example/",
            "c.example/opac",
            "https://c.example/?lvl=1",
            "https://a b/",
        ] {
            assert!(OpacUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(KeywordSeparator::parse("").is_err());
        assert_eq!(KeywordSeparator::parse(" ").unwrap().as_ref(), " ");
        assert_eq!(KeywordSeparator::default().as_ref(), ";");
    }
}
