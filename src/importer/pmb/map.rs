//! [`PmbRecord`] → Dublin Core: the PMB crosswalk (`schemas/pmb-crosswalk.md`, from
//! `pmb-crosswalk.md` §4–§7 and §9), one function per group of fields.
//!
//! Language: `xml:lang` (BCP 47, from the record's first `Langues` code) goes on the values
//! written in the record's language — titles except parallel titles, keywords, categories,
//! descriptions and the document type label — and never on names, dates, identifiers, source,
//! relation, publisher, format or language values.

use std::cell::{Cell, OnceCell};

use super::parse::{collapse_spaces, FieldKind, PmbRecord};
use super::values::{
    first_year, fold, parse_in, parse_languages, split_authors, split_bulletin_title,
    split_keywords, Isbd,
};
use super::PmbError;
use crate::dc::{DcElement, DcRecord, DcValue};

/// Whether a record is a bulletin (issue of a periodical) or any other notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A bulletin (`lvl=bulletin_display`); its ids are PMB `bulletin_id`s.
    Bulletin,
    /// Any other record (`lvl=notice_display`, or no permalink); ids are PMB `notice_id`s.
    Notice,
}

impl RecordKind {
    /// `bulletin` or `notice`: the first segment of local ids.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Bulletin => "bulletin",
            RecordKind::Notice => "notice",
        }
    }
}

/// An OAI-PMH set a record belongs to: `setSpec` and `setName`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SetDef {
    /// The setSpec (`periodical:masters-recueil-alexandries`), matching OAI-PMH's pattern.
    pub spec: String,
    /// The human-readable setName (`Masters Recueil Alexandries`).
    pub name: String,
}

/// One PMB record mapped to Dublin Core, with what DC cannot hold kept aside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MappedRecord {
    /// Bulletin or notice.
    pub kind: RecordKind,
    /// `bulletin/44933` or `notice/<id>` from the Permalink; bulletin and notice ids are
    /// separate number spaces. Without a usable Permalink id: `<kind>/u-<hash of the permalink
    /// URL>` or `<kind>/t-<hash of the title>` (16 hex digits of FNV-1a 64 over the URL, or the
    /// title with runs of whitespace collapsed) — the same title is the same record, as in the
    /// merge rule.
    pub local_id: String,
    /// The oai_dc description.
    pub dc: DcRecord,
    /// Sets: one per periodical (`periodical:…`), one per document type (`doctype:…`) and one
    /// per language (`lang:<code>`, as in the demo store).
    pub sets: Vec<SetDef>,
    /// What DC does not hold: unknown labels, roles (`role:<code>:<label>` → name), the raw
    /// display title (`Titre`), the raw year, and the like, in record order.
    pub local_fields: Vec<(String, String)>,
    /// 1-based line where the record starts.
    pub line: usize,
    /// Characters removed because XML 1.0 forbids them.
    pub stripped_chars: usize,
}

/// Accumulates a mapped record, for both crosswalks (displays and UNIMARC): every value goes
/// through [`Builder::push`] and its cleaning.
pub(crate) struct Builder {
    pub(crate) dc: DcRecord,
    pub(crate) sets: Vec<SetDef>,
    pub(crate) local: Vec<(String, String)>,
    pub(crate) stripped: usize,
    /// Whether CR LF and CR become LF: ISO 2709 keeps PMB's CR LF in values, while a
    /// display's line ends were read as lines.
    cr_to_lf: bool,
}

impl Builder {
    /// An empty record; `cr_to_lf` as the input needs (see the field).
    pub(crate) fn new(cr_to_lf: bool) -> Self {
        Builder {
            dc: DcRecord::new(),
            sets: Vec::new(),
            local: Vec::new(),
            stripped: 0,
            cr_to_lf,
        }
    }

    /// Cleans a value (illegal XML characters out, trimmed) and appends it unless it is empty
    /// or already there; returns whether the element now has that value.
    pub(crate) fn push(&mut self, element: DcElement, value: &str, lang: Option<&str>) -> bool {
        let Some(value) = self.clean(value) else {
            return false;
        };
        let value = DcValue {
            value,
            lang: lang.map(str::to_owned),
        };
        if !self.dc.get(element).contains(&value) {
            self.dc.push(element, value);
        }
        true
    }

    /// Keeps a cleaned value DC cannot hold under `key`.
    pub(crate) fn local(&mut self, key: &str, value: &str) {
        if let Some(value) = self.clean(value) {
            self.local.push((key.to_owned(), value));
        }
    }

    /// A set `prefix:<slug of name>`, named `name`.
    pub(crate) fn set(&mut self, prefix: &str, name: &str) {
        let Some(name) = self.clean(name) else {
            return;
        };
        let spec = format!("{prefix}:{}", slug(&name));
        self.set_def(SetDef { spec, name });
    }

    /// A set whose spec is given as is (`lang:fre`), named `name`.
    fn set_spec(&mut self, spec: String, name: &str) {
        if let Some(name) = self.clean(name) {
            self.set_def(SetDef { spec, name });
        }
    }

    /// A set as given, unless the record already has its spec.
    pub(crate) fn set_def(&mut self, def: SetDef) {
        if !self.sets.iter().any(|s| s.spec == def.spec) {
            self.sets.push(def);
        }
    }

    /// The value with CRs made LF (when asked), the characters XML forbids out, trimmed;
    /// `None` when nothing is left.
    fn clean(&mut self, value: &str) -> Option<String> {
        let mut value = if self.cr_to_lf && value.contains('\r') {
            value.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            value.to_owned()
        };
        if crate::dc::may_hold_illegal_xml(&value) {
            self.stripped += crate::dc::strip_illegal_xml_chars(&mut value);
        }
        let trimmed = value.trim();
        if trimmed.is_empty() {
            None
        } else if trimmed.len() == value.len() {
            Some(value)
        } else {
            Some(trimmed.to_owned())
        }
    }
}

/// The ISBD paragraph, parsed only when a field is missing, and whether it was used.
struct Fallback<'r> {
    text: Option<&'r str>,
    parsed: OnceCell<Option<Isbd<'r>>>,
    used: Cell<bool>,
}

impl<'r> Fallback<'r> {
    fn new(record: &'r PmbRecord<'_>) -> Self {
        Fallback {
            text: record.isbd.as_ref().map(|t| t.text.as_ref()),
            parsed: OnceCell::new(),
            used: Cell::new(false),
        }
    }

    /// One part of the ISBD paragraph, remembering that the paragraph was used.
    fn take<T>(&self, part: impl FnOnce(&Isbd<'r>) -> Option<T>) -> Option<T> {
        let isbd = self.parsed.get_or_init(|| self.text.map(Isbd::parse));
        let found = isbd.as_ref().and_then(part);
        if found.is_some() {
            self.used.set(true);
        }
        found
    }
}

/// Maps one parsed record through the crosswalk.
///
/// # Errors
///
/// [`PmbError::MissingTitle`] when neither a `Titre` field nor an ISBD paragraph gives a title
/// that is non-empty once cleaned. Everything else degrades: empty fields are omitted, and
/// values that cannot be mapped (malformed languages, unknown labels) are kept in
/// [`MappedRecord::local_fields`].
pub fn map_record(record: &PmbRecord<'_>) -> Result<MappedRecord, PmbError> {
    let mut b = Builder::new(false);
    let permalink = record.permalink();
    let kind = if permalink.is_some_and(|p| p.is_bulletin()) {
        RecordKind::Bulletin
    } else {
        RecordKind::Notice
    };
    let isbd = Fallback::new(record);

    if let Some(header) = record.header {
        b.local("header", header);
    }
    let lang = map_languages(record, &isbd, &mut b);
    let lang = lang.as_deref();
    let bulletin = map_title(record, kind, &isbd, lang, &mut b)?;
    map_authors(record, &isbd, &mut b);
    map_subjects(record, lang, &mut b);
    for notes in [
        FieldKind::Abstract,
        FieldKind::ContentsNote,
        FieldKind::GeneralNote,
    ] {
        for f in record.all(notes) {
            b.push(DcElement::Description, &f.value, lang);
        }
    }
    map_publishers(record, &mut b);
    map_date(record, &isbd, bulletin.date.as_deref(), &mut b);
    map_type(record, kind, &isbd, lang, &mut b);
    for physical in [
        FieldKind::Extent,
        FieldKind::Presentation,
        FieldKind::Format,
    ] {
        for f in record.all(physical) {
            b.push(DcElement::Format, &f.value, None);
        }
    }
    map_identifiers(record, &mut b);
    map_container(record, &bulletin, &mut b);
    for f in record
        .all(FieldKind::Collection)
        .chain(record.all(FieldKind::SeriesTitle))
    {
        b.push(DcElement::Relation, &f.value, None);
    }
    map_local_fields(record, &mut b);
    if isbd.used.get() {
        if let Some(t) = &record.isbd {
            b.local("isbd", &t.text);
        }
    }
    for t in &record.loose {
        b.local("text", &t.text);
    }

    let local_id = permalink
        .and_then(|p| p.local_id())
        .unwrap_or_else(|| fallback_id(record, kind));
    // Every value went through `Builder::clean`, which strips with the same rule.
    debug_assert_eq!(b.dc.clone().strip_illegal_xml_chars(), 0);
    Ok(MappedRecord {
        kind,
        local_id,
        dc: b.dc,
        sets: b.sets,
        local_fields: b.local,
        line: record.line,
        stripped_chars: b.stripped,
    })
}

/// `dc:language` per code, as PMB gives it; returns the BCP 47 tag of the first code.
///
/// Decision: a part without a usable code (`Français`, `Français (xx1)`) is not an error — the
/// crosswalk only says to take the code in parentheses — so it is kept raw as a local field
/// under the displayed label and yields neither `dc:language` nor `xml:lang`.
fn map_languages(record: &PmbRecord<'_>, isbd: &Fallback<'_>, b: &mut Builder) -> Option<String> {
    let mut values: Vec<(&str, &str)> = record
        .all(FieldKind::Languages)
        .map(|f| (f.label, f.value.as_ref()))
        .collect();
    if values.is_empty() {
        if let Some(langs) = isbd.take(|i| i.languages) {
            values.push(("Langues", langs));
        }
    }
    let mut first = None;
    for (label, value) in values {
        let langs = parse_languages(value);
        for code in &langs.codes {
            first.get_or_insert_with(|| code.clone());
            b.push(DcElement::Language, code, None);
            let name = language_name(code)
                .map(str::to_owned)
                .or_else(|| displayed_language_name(value, code))
                .unwrap_or_else(|| code.clone());
            b.set_spec(format!("lang:{code}"), &name);
        }
        for part in langs.malformed {
            b.local(label, part);
        }
    }
    first.and_then(|code| bcp47(&code)).map(str::to_owned)
}

/// The name of a language in itself, for the language sets (`lang:fre` → `Français`), for the
/// languages most catalogues hold; others are named as the display names them.
pub(crate) fn language_name(code: &str) -> Option<&'static str> {
    Some(match code {
        "fre" | "fra" => "Français",
        "eng" => "English",
        "ger" | "deu" => "Deutsch",
        "spa" => "Español",
        "ita" => "Italiano",
        "por" => "Português",
        "dut" | "nld" => "Nederlands",
        "lat" => "Latina",
        "cat" => "Català",
        "oci" => "Occitan",
        "bre" => "Brezhoneg",
        "baq" | "eus" => "Euskara",
        "pol" => "Polski",
        "rus" => "Русский",
        "gre" | "ell" => "Ελληνικά",
        "ara" => "العربية",
        "chi" | "zho" => "中文",
        "jpn" => "日本語",
        _ => return None,
    })
}

/// The name a `Langues` value gives a code: `Breton (bre)` → `Breton`.
fn displayed_language_name(value: &str, code: &str) -> Option<String> {
    value.split([';', ',', '|', '\n']).find_map(|part| {
        let part = part.trim();
        let open = part.rfind('(')?;
        let inner = part[open + 1..].strip_suffix(')')?.trim();
        let name = part[..open].trim();
        (inner.eq_ignore_ascii_case(code) && !name.is_empty()).then(|| name.to_owned())
    })
}

/// The parts of a bulletin title that other elements need.
#[derive(Default)]
struct BulletinParts {
    periodical: Option<String>,
    citation: Option<String>,
    date: Option<String>,
}

/// `dc:title`: a bulletin's own title (§1, §5), else the whole `Titre`; other titles follow.
fn map_title(
    record: &PmbRecord<'_>,
    kind: RecordKind,
    isbd: &Fallback<'_>,
    lang: Option<&str>,
    b: &mut Builder,
) -> Result<BulletinParts, PmbError> {
    let missing = PmbError::MissingTitle { line: record.line };
    let field = record
        .first(FieldKind::Title)
        .filter(|f| !f.value.is_empty());
    let (label, display) = match field {
        Some(f) => (f.label, f.value.as_ref()),
        None => match isbd.take(|i| i.title) {
            Some(title) => ("Titre", title),
            None => return Err(missing),
        },
    };
    b.local(label, display);
    let mut parts = BulletinParts::default();
    let pushed = if kind == RecordKind::Bulletin {
        let t = split_bulletin_title(display);
        let head = match (t.periodical, t.numbering) {
            (Some(p), Some(n)) => format!("{p}, {n}"),
            _ => t.left.to_owned(),
        };
        let title = match (t.title, t.date) {
            (Some(title), _) => title.to_owned(),
            // §9: a bulletin without its own title is `<periodical>, <numbering> (<date>)`.
            (None, Some(date)) => format!("{head} ({date})"),
            (None, None) => head.clone(),
        };
        parts.citation = Some(match t.date {
            Some(date) => format!("{head}, {date}"),
            None => head,
        });
        parts.periodical = t.periodical.map(str::to_owned);
        parts.date = t.date.map(str::to_owned);
        b.push(DcElement::Title, &title, lang)
    } else {
        b.push(DcElement::Title, display, lang)
    };
    if !pushed {
        return Err(missing);
    }
    for f in record.all(FieldKind::Title).skip(1) {
        b.local(f.label, &f.value);
    }
    for f in record.all(FieldKind::OtherTitle) {
        b.push(DcElement::Title, &f.value, lang);
    }
    // A parallel title is by definition in another language, which PMB does not display.
    for f in record.all(FieldKind::ParallelTitle) {
        b.push(DcElement::Title, &f.value, None);
    }
    Ok(parts)
}

/// `dc:creator` for role Auteur (070), `dc:contributor` for every other role (§6); names only,
/// roles kept as `role:<code>:<label>` local fields.
///
/// Without a recognised role (or with `Fonction indéterminée`, 000) PMB's own rule applies by
/// position: the first name of `Auteurs` (PMB lists the main author, 700, first) or any name
/// of `Auteur principal` is a creator, the others are contributors.
fn map_authors(record: &PmbRecord<'_>, isbd: &Fallback<'_>, b: &mut Builder) {
    let mut lists: Vec<(FieldKind, &str)> = record
        .fields
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FieldKind::Authors | FieldKind::MainAuthors | FieldKind::OtherAuthors
            )
        })
        .map(|f| (f.kind, f.value.as_ref()))
        .collect();
    if lists.is_empty() {
        if let Some(resp) = isbd.take(|i| i.responsibility) {
            lists.push((FieldKind::Authors, resp));
        }
    }
    let mut first_of_authors = true;
    for (kind, value) in lists {
        for author in split_authors(value) {
            let positional_creator = match kind {
                FieldKind::MainAuthors => true,
                FieldKind::Authors => first_of_authors,
                _ => false,
            };
            let creator = match author.role {
                Some(role) if role.code != "000" => role.code == "070",
                _ => positional_creator,
            };
            let element = if creator {
                DcElement::Creator
            } else {
                DcElement::Contributor
            };
            if b.push(element, author.name, None) {
                if kind == FieldKind::Authors {
                    first_of_authors = false;
                }
                if let Some(role) = author.role {
                    b.local(&format!("role:{}:{}", role.code, role.label), author.name);
                }
            }
        }
    }
}

/// `dc:subject`: keywords (§5 split rule), then categories, then the decimal index (a code,
/// without language).
fn map_subjects(record: &PmbRecord<'_>, lang: Option<&str>, b: &mut Builder) {
    for f in record
        .all(FieldKind::Keywords)
        .chain(record.all(FieldKind::Categories))
    {
        for keyword in split_keywords(&f.value) {
            b.push(DcElement::Subject, keyword, lang);
        }
    }
    for f in record.all(FieldKind::Dewey) {
        b.push(DcElement::Subject, &f.value, None);
    }
}

/// `dc:publisher`: `Paris : L'Harmattan` → `L'Harmattan (Paris)`, as PMB's own DC export
/// writes 210$c (210$a); several publishers are separated by ` ; `.
fn map_publishers(record: &PmbRecord<'_>, b: &mut Builder) {
    for f in record.all(FieldKind::Publisher) {
        for part in f.value.split([';', '\n']) {
            let part = part.trim();
            let value = match part.rsplit_once(" : ") {
                Some((place, name)) if !place.trim().is_empty() && !name.trim().is_empty() => {
                    format!("{} ({})", name.trim(), place.trim())
                }
                _ => part.to_owned(),
            };
            b.push(DcElement::Publisher, &value, None);
        }
    }
}

/// `dc:date`: the first 4-digit year of `Année de publication` (the raw text is kept as a
/// local field); without it, the ISBD year, then a bulletin's mention date.
fn map_date(
    record: &PmbRecord<'_>,
    isbd: &Fallback<'_>,
    mention_date: Option<&str>,
    b: &mut Builder,
) {
    let mut years = record.all(FieldKind::Year).peekable();
    if years.peek().is_some() {
        for f in years {
            b.local(f.label, &f.value);
            if let Some(year) = first_year(&f.value) {
                b.push(DcElement::Date, year, None);
            }
        }
        return;
    }
    if let Some(year) = isbd.take(|i| i.year.and_then(first_year)) {
        b.push(DcElement::Date, year, None);
    } else if let Some(year) = mention_date.and_then(first_year) {
        b.push(DcElement::Date, year, None);
    }
}

/// `dc:type`: the DCMI Type term for the PMB document type, then the label itself in the
/// record's language; a `doctype:` set per label. A bulletin without a type is `Text` (§9).
fn map_type(
    record: &PmbRecord<'_>,
    kind: RecordKind,
    isbd: &Fallback<'_>,
    lang: Option<&str>,
    b: &mut Builder,
) {
    let mut labels: Vec<&str> = record
        .all(FieldKind::DocType)
        .map(|f| f.value.as_ref())
        .collect();
    if labels.is_empty() {
        if let Some(t) = isbd.take(|i| i.doc_type) {
            labels.push(t);
        }
    }
    if labels.is_empty() && kind == RecordKind::Bulletin {
        b.push(DcElement::Type, "Text", None);
    }
    for label in &labels {
        if let Some(term) = dcmi_type(label) {
            b.push(DcElement::Type, term, None);
        }
    }
    for label in labels {
        if b.push(DcElement::Type, label, lang) {
            b.set("doctype", label);
        }
    }
}

/// The DCMI Type Vocabulary term for a PMB document type label (PMB's typdoc list:
/// includes/marc_tables/fr_FR/doctype.xml), or `None` when the label is not recognised.
///
/// Specific media are tested first so that `Document cartographique manuscrit` is an image;
/// texts, scores (LoC MARC → DC: notated music is Text) and `document électronique` (§4: a
/// research dossier, not PMB's own InteractiveResource) are Text.
pub(crate) fn dcmi_type(label: &str) -> Option<&'static str> {
    let key = fold(label);
    let has = |words: &[&str]| words.iter().any(|w| key.contains(w));
    Some(if has(&["cartograph", "carte"]) {
        "Image"
    } else if has(&["video", "projete", "film", "dvd"]) {
        "MovingImage"
    } else if has(&["sonore", "audio", "enregistrement"]) {
        "Sound"
    } else if has(&["graphique", "image", "photo", "affiche", "estampe"]) {
        "StillImage"
    } else if has(&["multimedia"]) {
        "InteractiveResource"
    } else if has(&["logiciel"]) {
        "Software"
    } else if has(&["objet", "artefact"]) {
        "PhysicalObject"
    } else if has(&[
        "texte",
        "text",
        "electronique",
        "partition",
        "manuscrit",
        "these",
        "memoire",
        "article",
        "periodique",
        "rapport",
        "livre",
        "ouvrage",
        "monographie",
    ]) {
        "Text"
    } else {
        return None;
    })
}

/// `dc:identifier`: the resource URLs (`En ligne`) first, then the Permalink (§4), then
/// ISBN/ISSN as `urn:ISBN:`/`urn:ISSN:` like PMB's own DC export; a URL given twice appears
/// once.
fn map_identifiers(record: &PmbRecord<'_>, b: &mut Builder) {
    for f in record
        .all(FieldKind::Online)
        .chain(record.all(FieldKind::Permalink))
    {
        for url in f.value.split(['\n', '|']) {
            b.push(DcElement::Identifier, url, None);
        }
    }
    for f in record.all(FieldKind::Isbn) {
        for part in f.value.split([';', '|', '\n']) {
            if let Some(id) = standard_number(part) {
                b.push(DcElement::Identifier, &id, None);
            }
        }
    }
}

/// `978-2-343-01234-5 (br.)` → `urn:ISBN:978-2-343-01234-5`; `0295-7736` → `urn:ISSN:0295-7736`;
/// anything else (EAN, ISMN, free text) as displayed, without qualifier.
fn standard_number(part: &str) -> Option<String> {
    let number = part
        .split([' ', '('])
        .find(|s| !s.is_empty())
        .map_or("", str::trim)
        .trim_end_matches([':', ',', '.']);
    if number.is_empty() {
        return None;
    }
    let digits: String = number
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let body_ok = |n: usize| {
        digits.len() == n
            && digits[..n - 1].bytes().all(|b| b.is_ascii_digit())
            && matches!(digits.as_bytes()[n - 1], b'0'..=b'9' | b'X')
    };
    Some(
        if body_ok(8) && number.len() == 9 && number.as_bytes()[4] == b'-' {
            format!("urn:ISSN:{number}")
        } else if body_ok(10)
            || (body_ok(13)
                && (digits.starts_with("978") || digits.starts_with("979"))
                && !digits.starts_with("9790"))
        {
            format!("urn:ISBN:{number}")
        } else {
            number.to_owned()
        },
    )
}

/// The container: for a bulletin, the periodical (`dc:relation`) and the citation
/// `Periodical, numbering, date` (`dc:source`); for an article, `in` + `Article en page(s)`
/// give `Periodical, numbering, date, p. x-y` (§9). One `periodical:` set per periodical.
fn map_container(record: &PmbRecord<'_>, bulletin: &BulletinParts, b: &mut Builder) {
    if let Some(citation) = &bulletin.citation {
        b.push(DcElement::Source, citation, None);
    }
    if let Some(periodical) = &bulletin.periodical {
        b.push(DcElement::Relation, periodical, None);
        b.set("periodical", periodical);
    }
    let pages: Vec<&str> = record
        .all(FieldKind::ArticlePages)
        .map(|f| f.value.trim())
        .filter(|p| !p.is_empty())
        .collect();
    let mut cited_pages = false;
    for f in record.all(FieldKind::In) {
        let r = parse_in(&f.value);
        let mut parts: Vec<String> = [r.periodical, r.numbering, r.date]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        for p in &pages {
            parts.push(if p.starts_with(|c: char| c.is_ascii_digit()) {
                format!("p. {p}")
            } else {
                (*p).to_owned()
            });
            cited_pages = true;
        }
        b.push(DcElement::Source, &parts.join(", "), None);
        if let Some(periodical) = r.periodical {
            b.push(DcElement::Relation, periodical, None);
            b.set("periodical", periodical);
        }
    }
    // Pages without the `in` they belong to cite nothing; keep them aside.
    if !cited_pages {
        for f in record.all(FieldKind::ArticlePages) {
            b.local(f.label, &f.value);
        }
    }
}

/// Labels with no DC element: unknown ones, `Prix`, `Langues originales` (§5: not
/// dc:language).
fn map_local_fields(record: &PmbRecord<'_>, b: &mut Builder) {
    for f in &record.fields {
        if matches!(
            f.kind,
            FieldKind::Other | FieldKind::Price | FieldKind::OriginalLanguages
        ) {
            b.local(f.label, &f.value);
        }
    }
}

/// `<kind>/u-<hash of the permalink URL>`, else `<kind>/t-<hash of the title>`.
fn fallback_id(record: &PmbRecord<'_>, kind: RecordKind) -> String {
    let (tag, key) = match record.permalink() {
        Some(p) => ("u", p.url.to_owned()),
        None => ("t", record.title().map(collapse_spaces).unwrap_or_default()),
    };
    format!("{}/{tag}-{:016x}", kind.as_str(), fnv1a64(key.as_bytes()))
}

/// FNV-1a, 64 bits: stable across Rust versions and platforms (unlike `DefaultHasher`).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A setSpec segment: accents folded to ASCII, lowercased, anything else a single `-`; text
/// with nothing foldable becomes `x-<hash>`. The result matches OAI-PMH's
/// `[A-Za-z0-9\-_\.!~\*'\(\)]+`.
pub(crate) fn slug(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in fold(name).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        format!("x-{:016x}", fnv1a64(name.as_bytes()))
    } else {
        out
    }
}

/// BCP 47 language tag for a PMB language code (ISO 639-2/B, /T, or an obsolete MARC code):
/// the ISO 639-1 code when there is one (§7), the 639-2 code itself for the common languages
/// without one, else `None` (unknown, `mul`, `und`, `zxx`, PMB's legacy codes).
pub(crate) fn bcp47(code: &str) -> Option<&'static str> {
    Some(match code {
        "aar" => "aa",
        "abk" => "ab",
        "afr" => "af",
        "aka" => "ak",
        "alb" | "sqi" => "sq",
        "amh" => "am",
        "ara" => "ar",
        "arg" => "an",
        "arm" | "hye" => "hy",
        "asm" => "as",
        "ava" => "av",
        "ave" => "ae",
        "aym" => "ay",
        "aze" => "az",
        "bak" => "ba",
        "bam" => "bm",
        "baq" | "eus" => "eu",
        "bel" => "be",
        "ben" => "bn",
        "bis" => "bi",
        "bos" => "bs",
        "bre" => "br",
        "bul" => "bg",
        "bur" | "mya" => "my",
        "cat" => "ca",
        "cha" => "ch",
        "che" => "ce",
        "chi" | "zho" => "zh",
        "chu" => "cu",
        "chv" => "cv",
        "cor" => "kw",
        "cos" => "co",
        "cre" => "cr",
        "cze" | "ces" => "cs",
        "dan" => "da",
        "div" => "dv",
        "dut" | "nld" => "nl",
        "dzo" => "dz",
        "eng" => "en",
        "epo" | "esp" => "eo",
        "est" => "et",
        "ewe" => "ee",
        "fao" | "far" => "fo",
        "fij" => "fj",
        "fin" => "fi",
        "fre" | "fra" => "fr",
        "fry" => "fy",
        "ful" => "ff",
        "geo" | "kat" => "ka",
        "ger" | "deu" => "de",
        "gla" | "gae" => "gd",
        "gle" | "iri" => "ga",
        "glg" | "gag" => "gl",
        "glv" | "max" => "gv",
        "gre" | "ell" => "el",
        "grn" => "gn",
        "guj" => "gu",
        "hat" => "ht",
        "hau" => "ha",
        "heb" => "he",
        "her" => "hz",
        "hin" => "hi",
        "hmo" => "ho",
        "hrv" | "scr" => "hr",
        "hun" => "hu",
        "ibo" => "ig",
        "ice" | "isl" => "is",
        "ido" => "io",
        "iii" => "ii",
        "iku" => "iu",
        "ile" => "ie",
        "ina" | "int" => "ia",
        "ind" => "id",
        "ipk" => "ik",
        "ita" => "it",
        "jav" => "jv",
        "jpn" => "ja",
        "kal" => "kl",
        "kan" => "kn",
        "kas" => "ks",
        "kau" => "kr",
        "kaz" => "kk",
        "khm" | "cam" => "km",
        "kik" => "ki",
        "kin" => "rw",
        "kir" => "ky",
        "kom" => "kv",
        "kon" => "kg",
        "kor" => "ko",
        "kua" => "kj",
        "kur" => "ku",
        "lao" => "lo",
        "lat" => "la",
        "lav" => "lv",
        "lim" => "li",
        "lin" => "ln",
        "lit" => "lt",
        "ltz" => "lb",
        "lub" => "lu",
        "lug" => "lg",
        "mac" | "mkd" => "mk",
        "mah" => "mh",
        "mal" => "ml",
        "mao" | "mri" => "mi",
        "mar" => "mr",
        "may" | "msa" => "ms",
        "mlg" | "mla" => "mg",
        "mlt" => "mt",
        "mon" => "mn",
        "nau" => "na",
        "nav" => "nv",
        "nbl" => "nr",
        "nde" => "nd",
        "ndo" => "ng",
        "nep" => "ne",
        "nno" => "nn",
        "nob" => "nb",
        "nor" => "no",
        "nya" => "ny",
        "oci" | "lan" => "oc",
        "oji" => "oj",
        "ori" => "or",
        "orm" => "om",
        "oss" => "os",
        "pan" => "pa",
        "per" | "fas" => "fa",
        "pli" => "pi",
        "pol" => "pl",
        "por" => "pt",
        "pus" => "ps",
        "que" => "qu",
        "roh" => "rm",
        "rum" | "ron" | "mol" => "ro",
        "run" => "rn",
        "rus" => "ru",
        "sag" => "sg",
        "san" => "sa",
        "sin" | "snh" => "si",
        "slo" | "slk" => "sk",
        "slv" => "sl",
        "sme" => "se",
        "smo" | "sao" => "sm",
        "sna" | "sho" => "sn",
        "snd" => "sd",
        "som" => "so",
        "sot" | "sso" => "st",
        "spa" => "es",
        "srd" => "sc",
        "srp" | "scc" => "sr",
        "ssw" | "swz" => "ss",
        "sun" => "su",
        "swa" => "sw",
        "swe" => "sv",
        "tah" => "ty",
        "tam" => "ta",
        "tat" | "tar" => "tt",
        "tel" => "te",
        "tgk" => "tg",
        "tgl" | "tag" => "tl",
        "tha" => "th",
        "tib" | "bod" => "bo",
        "tir" => "ti",
        "ton" => "to",
        "tsn" | "tsw" => "tn",
        "tso" => "ts",
        "tuk" => "tk",
        "tur" => "tr",
        "twi" => "tw",
        "uig" => "ug",
        "ukr" => "uk",
        "urd" => "ur",
        "uzb" => "uz",
        "ven" => "ve",
        "vie" => "vi",
        "vol" => "vo",
        "wel" | "cym" => "cy",
        "wln" => "wa",
        "wol" => "wo",
        "xho" => "xh",
        "yid" => "yi",
        "yor" => "yo",
        "zha" => "za",
        "zul" => "zu",
        // Common languages without a 639-1 code: BCP 47 uses the 639-2 code itself.
        "grc" => "grc",
        "fro" => "fro",
        "frm" => "frm",
        "enm" => "enm",
        "ang" => "ang",
        "gmh" => "gmh",
        "goh" => "goh",
        "gsw" => "gsw",
        "nds" => "nds",
        "syr" => "syr",
        "cop" => "cop",
        "egy" => "egy",
        "akk" => "akk",
        "sux" => "sux",
        "haw" => "haw",
        "chr" => "chr",
        "ast" => "ast",
        "frp" => "frp",
        "rom" => "rom",
        "ber" => "ber",
        "cpf" => "cpf",
        "crp" => "crp",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::xml::{read_oai_dc, to_oai_dc_string};
    use crate::importer::pmb::{decode_input, import_bytes, parse_and_map, MAX_VALUE_BYTES};
    use proptest::prelude::*;

    const SEED: &str = include_str!("../../../tests/fixtures/pmb/bulletin-44933-seed.txt");
    const EXPECTED: &str =
        include_str!("../../../tests/fixtures/pmb/bulletin-44933-expected-oai_dc.xml");
    const NOTICE: &str =
        include_str!("../../../tests/fixtures/pmb/notice-editeur-collection-isbn.txt");
    const ARTICLE: &str = include_str!("../../../tests/fixtures/pmb/article-in.txt");
    const MULTI: &str = include_str!("../../../tests/fixtures/pmb/multi-record.txt");
    const MALFORMED: &str = include_str!("../../../tests/fixtures/pmb/malformed.txt");

    fn map_one(text: &str) -> MappedRecord {
        let mut records = parse_and_map(text);
        assert_eq!(records.len(), 1, "{records:#?}");
        records.remove(0).expect("The record maps.")
    }

    fn values(dc: &DcRecord, element: DcElement) -> Vec<(&str, Option<&str>)> {
        dc.get(element)
            .iter()
            .map(|v| (v.value.as_str(), v.lang.as_deref()))
            .collect()
    }

    fn local<'a>(record: &'a MappedRecord, key: &str) -> Vec<&'a str> {
        record
            .local_fields
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A notice with a permalink and the given extra field lines.
    fn notice(fields: &str) -> String {
        format!(
            "[texte imprimé]\nTitre : | Un titre |\n{fields}\nPermalink : | \
             https://pmb.example/index.php?lvl=notice_display&id=7 |\n"
        )
    }

    fn bulletin(title: &str) -> String {
        format!(
            "[n° ou bulletin]\nTitre : | {title} |\nLangues : | Français (fre) |\nPermalink : | \
             https://pmb.example/index.php?lvl=bulletin_display&id=9 |\n"
        )
    }

    #[test]
    fn the_seed_maps_to_exactly_the_expected_oai_dc() {
        let mapped = map_one(SEED);
        let expected = read_oai_dc(EXPECTED).expect("The expected fixture is oai_dc.");
        for element in DcElement::ALL {
            assert_eq!(
                mapped.dc.get(element),
                expected.get(element),
                "dc:{element}"
            );
        }
        assert_eq!(mapped.dc, expected);
    }

    #[test]
    fn the_seed_gets_its_bulletin_id_sets_and_local_fields() {
        let mapped = map_one(SEED);
        assert_eq!(mapped.kind, RecordKind::Bulletin);
        assert_eq!(mapped.local_id, "bulletin/44933");
        assert_eq!(mapped.line, 1);
        assert_eq!(mapped.stripped_chars, 0);
        assert_eq!(
            mapped.sets,
            [
                SetDef {
                    spec: "lang:fre".into(),
                    name: "Français".into()
                },
                SetDef {
                    spec: "doctype:document-electronique".into(),
                    name: "document électronique".into()
                },
                SetDef {
                    spec: "periodical:masters-recueil-alexandries".into(),
                    name: "Masters Recueil Alexandries".into()
                },
            ]
        );
        assert_eq!(local(&mapped, "role:070:Auteur"), ["Laetitia Della Torre"]);
        assert_eq!(
            local(&mapped, "role:595:Directeur de la recherche"),
            ["Jérôme Valluy"]
        );
        assert_eq!(local(&mapped, "Année de publication"), ["2017"]);
        assert_eq!(local(&mapped, "header"), ["n° ou bulletin"]);
        let title = local(&mapped, "Titre");
        assert_eq!(title.len(), 1);
        assert!(title[0].starts_with("Masters Recueil Alexandries < 79/93 > - juin 2017 - NTIC"));
        assert!(local(&mapped, "isbd").is_empty(), "the ISBD was not needed");
    }

    #[test]
    fn the_seed_survives_oai_dc_serialisation() {
        let mapped = map_one(SEED);
        let xml = to_oai_dc_string(&mapped.dc);
        assert!(xml.contains("&lt; 79/93 &gt;"));
        assert!(xml.contains("lvl=bulletin_display&amp;id=44933"));
        assert_eq!(read_oai_dc(&xml).unwrap(), mapped.dc);
    }

    #[test]
    fn a_windows_1252_copy_of_the_seed_maps_to_the_same_record() {
        let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(SEED);
        assert!(!unmappable, "the seed is representable in Windows-1252");
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "the copy is not UTF-8"
        );
        assert_eq!(decode_input(&bytes).unwrap(), SEED);
        assert_eq!(
            decode_input(SEED.as_bytes()).unwrap(),
            SEED,
            "the UTF-8 original too"
        );
        let records = import_bytes(&bytes).unwrap();
        assert_eq!(records, [Ok(map_one(SEED))]);
    }

    #[test]
    fn a_bulletin_title_splits_into_issue_title_citation_and_periodical() {
        let mapped = map_one(&bulletin("La Revue n° 12 - mars 2019 - Travail - emploi"));
        assert_eq!(
            values(&mapped.dc, DcElement::Title),
            [("Travail - emploi", Some("fr"))]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Source),
            [("La Revue, n° 12, mars 2019", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Relation),
            [("La Revue", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Date),
            [("2019", None)],
            "from the mention date"
        );
        assert_eq!(values(&mapped.dc, DcElement::Type), [("Text", None)], "§9");
        assert!(mapped.sets.iter().any(|s| s.spec == "periodical:la-revue"));
    }

    #[test]
    fn a_bulletin_without_its_own_title_is_named_after_periodical_numbering_and_date() {
        let mapped = map_one(&bulletin(
            "Masters Recueil Alexandries < 80/93 > - juillet 2017",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Title),
            [(
                "Masters Recueil Alexandries, < 80/93 > (juillet 2017)",
                Some("fr")
            )]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Source),
            [("Masters Recueil Alexandries, < 80/93 >, juillet 2017", None)]
        );
    }

    #[test]
    fn a_bulletin_without_a_numbering_token_keeps_the_left_part_as_citation_only() {
        let mapped = map_one(&bulletin("Esprit 412 - février 2015 - Le social"));
        assert_eq!(
            values(&mapped.dc, DcElement::Title),
            [("Le social", Some("fr"))]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Source),
            [("Esprit 412, février 2015", None)]
        );
        assert!(mapped.dc.get(DcElement::Relation).is_empty());
        assert!(mapped
            .sets
            .iter()
            .all(|s| !s.spec.starts_with("periodical:")));
    }

    #[test]
    fn a_notice_title_is_the_whole_titre_even_with_dashes() {
        let mapped = map_one(NOTICE);
        assert_eq!(mapped.kind, RecordKind::Notice);
        assert_eq!(mapped.local_id, "notice/12345");
        assert_eq!(
            values(&mapped.dc, DcElement::Title)[0],
            (
                "Les travailleurs sociaux face au numérique - enjeux et pratiques",
                Some("de")
            )
        );
        assert!(mapped.dc.get(DcElement::Source).is_empty());
    }

    #[test]
    fn the_document_type_gives_a_dcmi_term_and_the_label_in_the_record_language() {
        let mapped = map_one(&notice(
            "Type de document : | Enregistrement sonore musical |\nLangues : | Espagnol (spa) |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Type),
            [
                ("Sound", None),
                ("Enregistrement sonore musical", Some("es"))
            ]
        );
        assert_eq!(
            mapped.sets[0],
            SetDef {
                spec: "lang:spa".into(),
                name: "Español".into()
            },
            "a set per language"
        );
        assert_eq!(mapped.sets[1].spec, "doctype:enregistrement-sonore-musical");
        for (label, term) in [
            ("texte imprimé", Some("Text")),
            ("Partition musicale imprimée", Some("Text")),
            ("Document cartographique manuscrit", Some("Image")),
            ("Document projeté ou vidéo", Some("MovingImage")),
            ("Document graphique à deux dimensions", Some("StillImage")),
            ("Document multimédia", Some("InteractiveResource")),
            ("document électronique", Some("Text")),
            ("Dossier documentaire", None),
        ] {
            assert_eq!(dcmi_type(label), term, "{label}");
        }
    }

    #[test]
    fn an_unknown_document_type_keeps_only_its_label() {
        let mapped = map_one(&notice("Type de document : | Dossier documentaire |"));
        assert_eq!(
            values(&mapped.dc, DcElement::Type),
            [("Dossier documentaire", None)]
        );
    }

    #[test]
    fn role_auteur_is_a_creator_and_every_other_role_a_contributor_with_roles_kept() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Creator),
            [("Marie Dupont", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Contributor),
            [
                ("Université Paris 1, Département de science politique", None),
                ("Paul Martin", None),
                ("Anna Schmidt", None),
            ]
        );
        assert_eq!(local(&mapped, "role:070:Auteur"), ["Marie Dupont"]);
        assert_eq!(
            local(&mapped, "role:475:Collectivité éditrice"),
            ["Université Paris 1, Département de science politique"]
        );
        assert_eq!(local(&mapped, "role:080:Préfacier, etc."), ["Paul Martin"]);
        assert_eq!(local(&mapped, "role:730:Traducteur"), ["Anna Schmidt"]);
    }

    #[test]
    fn authors_without_roles_follow_pmb_positions() {
        let mapped = map_one(&notice(
            "Auteurs : | Jean Durand ; Zoé Petit, Fonction indéterminée |\nAutres auteurs : | Léa Roux |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Creator),
            [("Jean Durand", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Contributor),
            [("Zoé Petit", None), ("Léa Roux", None)]
        );
        let mapped = map_one(&notice("Auteur principal : | A ; B |"));
        assert_eq!(
            values(&mapped.dc, DcElement::Creator),
            [("A", None), ("B", None)]
        );
    }

    #[test]
    fn a_first_author_that_cleans_to_nothing_does_not_take_the_creator_position() {
        // Found by the property test: the creator is the first name that survives cleaning.
        let mapped = map_one(&notice("Auteurs : | \u{e} ; ¡ |"));
        assert_eq!(values(&mapped.dc, DcElement::Creator), [("¡", None)]);
        assert!(mapped.dc.get(DcElement::Contributor).is_empty());
    }

    #[test]
    fn empty_auteurs_omit_the_element_without_error() {
        let mapped = map_one(&notice("Auteurs : | |\nAuteur : |\n |"));
        assert!(mapped.dc.get(DcElement::Creator).is_empty());
        assert!(mapped.dc.get(DcElement::Contributor).is_empty());
    }

    #[test]
    fn the_date_is_the_first_four_digit_year_and_the_raw_text_is_kept() {
        for (raw, year) in [
            ("DL 2010", Some("2010")),
            ("[2017]", Some("2017")),
            ("cop. 2005", Some("2005")),
            ("2016-2017", Some("2016")),
            ("s.d.", None),
        ] {
            let mapped = map_one(&notice(&format!("Année de publication : | {raw} |")));
            let got: Vec<_> = values(&mapped.dc, DcElement::Date)
                .into_iter()
                .map(|v| v.0)
                .collect();
            assert_eq!(got, year.into_iter().collect::<Vec<_>>(), "{raw}");
            assert_eq!(local(&mapped, "Année de publication"), [raw]);
        }
    }

    #[test]
    fn descriptions_come_as_abstract_contents_then_general_note_in_the_record_language() {
        let mapped = map_one(&notice(
            "Note générale : | N |\nNote de contenu : | C |\nRésumé : | R |\nLangues : | Anglais (eng) |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Description),
            [("R", Some("en")), ("C", Some("en")), ("N", Some("en"))]
        );
    }

    #[test]
    fn languages_keep_pmb_codes_and_tag_text_with_bcp47() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Language),
            [("ger", None), ("fre", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Subject)[0].1,
            Some("de"),
            "the first language"
        );
        for (code, tag) in [
            ("fre", Some("fr")),
            ("fra", Some("fr")),
            ("ger", Some("de")),
            ("dut", Some("nl")),
            ("chi", Some("zh")),
            ("cze", Some("cs")),
            ("gre", Some("el")),
            ("per", Some("fa")),
            ("rum", Some("ro")),
            ("slo", Some("sk")),
            ("wel", Some("cy")),
            ("baq", Some("eu")),
            ("alb", Some("sq")),
            ("arm", Some("hy")),
            ("ice", Some("is")),
            ("mac", Some("mk")),
            ("may", Some("ms")),
            ("bur", Some("my")),
            ("geo", Some("ka")),
            ("tib", Some("bo")),
            ("eng", Some("en")),
            ("spa", Some("es")),
            ("ita", Some("it")),
            ("por", Some("pt")),
            ("ara", Some("ar")),
            ("rus", Some("ru")),
            ("jpn", Some("ja")),
            ("grc", Some("grc")),
            ("mul", None),
            ("und", None),
            ("esk", None),
            ("brz", None),
        ] {
            assert_eq!(bcp47(code), tag, "{code}");
        }
    }

    #[test]
    fn a_language_set_is_named_in_its_language_or_as_the_display_names_it() {
        let mapped = map_one(&notice("Langues : | Breton (bre) ; Kurde (kur) |"));
        let names: Vec<(&str, &str)> = mapped
            .sets
            .iter()
            .map(|s| (s.spec.as_str(), s.name.as_str()))
            .collect();
        assert_eq!(names, [("lang:bre", "Brezhoneg"), ("lang:kur", "Kurde")]);
    }

    #[test]
    fn an_unknown_language_code_is_kept_without_xml_lang() {
        let mapped = map_one(&notice("Langues : | Brézhoneg (brz) |\nRésumé : | R |"));
        assert_eq!(values(&mapped.dc, DcElement::Language), [("brz", None)]);
        assert_eq!(values(&mapped.dc, DcElement::Title), [("Un titre", None)]);
        assert_eq!(values(&mapped.dc, DcElement::Description), [("R", None)]);
    }

    #[test]
    fn a_malformed_language_is_kept_as_a_local_field_not_an_error() {
        let mapped = map_one(&notice("Langues : | Français ; Anglais (eng) |"));
        assert_eq!(values(&mapped.dc, DcElement::Language), [("eng", None)]);
        assert_eq!(local(&mapped, "Langues"), ["Français"]);
        let mapped = map_one(&notice("Langues : | Français (f1) |"));
        assert!(mapped.dc.get(DcElement::Language).is_empty());
        assert_eq!(values(&mapped.dc, DcElement::Title), [("Un titre", None)]);
        assert_eq!(local(&mapped, "Langues"), ["Français (f1)"]);
    }

    #[test]
    fn keywords_become_subjects_split_on_bars_or_semicolons() {
        let mapped = map_one(&notice(
            "Mots-clés : | A | B - C | A |\nLangues : | Français (fre) |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Subject),
            [("A", Some("fr")), ("B - C", Some("fr"))]
        );
        let mapped = map_one(ARTICLE);
        let subjects: Vec<_> = values(&mapped.dc, DcElement::Subject)
            .into_iter()
            .map(|v| v.0)
            .collect();
        assert_eq!(
            subjects,
            ["maraude", "application mobile", "travail social"]
        );
    }

    #[test]
    fn categories_and_the_decimal_index_become_subjects() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Subject),
            [
                ("numérique", Some("de")),
                ("travail social", Some("de")),
                ("Action sociale:Travail social", Some("de")),
                ("Informatique:Usages", Some("de")),
                ("361.3 Travail social", None),
            ]
        );
    }

    #[test]
    fn en_ligne_comes_before_the_permalink_and_a_repeated_url_appears_once() {
        let mapped = map_one(&notice(
            "En ligne : | https://a.example/1 |\nEn ligne : | https://pmb.example/index.php?lvl=notice_display&id=7 |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Identifier),
            [
                ("https://a.example/1", None),
                (
                    "https://pmb.example/index.php?lvl=notice_display&id=7",
                    None
                )
            ]
        );
    }

    #[test]
    fn editeur_becomes_the_publisher_with_its_place_in_parentheses() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Publisher),
            [("L'Harmattan (Paris)", None)]
        );
        let mapped = map_one(&notice("Editeur : | Paris : L'Harmattan ; La Découverte |"));
        assert_eq!(
            values(&mapped.dc, DcElement::Publisher),
            [("L'Harmattan (Paris)", None), ("La Découverte", None)]
        );
    }

    #[test]
    fn collection_and_series_become_relations() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Relation),
            [
                ("Logiques sociales", None),
                ("Travail social et société", None)
            ]
        );
    }

    #[test]
    fn isbn_and_issn_become_urns_and_other_numbers_stay_as_displayed() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Identifier),
            [
                (
                    "https://cs.iut.univ-tours.fr/index.php?lvl=notice_display&id=12345",
                    None
                ),
                ("urn:ISBN:978-2-343-01234-5", None),
            ]
        );
        for (raw, id) in [
            ("2-7384-1234-X", Some("urn:ISBN:2-7384-1234-X")),
            ("0295-7736", Some("urn:ISSN:0295-7736")),
            ("9782343012345 : 25 EUR", Some("urn:ISBN:9782343012345")),
            ("3760123456789", Some("3760123456789")),
            ("  ", None),
        ] {
            assert_eq!(standard_number(raw).as_deref(), id, "{raw}");
        }
    }

    #[test]
    fn an_article_cites_its_periodical_issue_and_pages() {
        let mapped = map_one(ARTICLE);
        assert_eq!(mapped.local_id, "notice/50211");
        assert_eq!(
            values(&mapped.dc, DcElement::Source),
            [(
                "Revue française de service social, n° 267, décembre 2017, p. 45-58",
                None
            )]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Relation),
            [("Revue française de service social", None)]
        );
        assert!(mapped
            .sets
            .iter()
            .any(|s| s.spec == "periodical:revue-francaise-de-service-social"));
        assert_eq!(
            values(&mapped.dc, DcElement::Creator),
            [("Laetitia Della Torre", None)]
        );
        assert_eq!(
            values(&mapped.dc, DcElement::Description),
            [(
                "Les applications mobiles changent les maraudes.\n\nCet article en décrit les usages.",
                Some("fr")
            )]
        );
    }

    #[test]
    fn pages_without_an_in_reference_are_kept_aside() {
        let mapped = map_one(&notice("Article en page(s) : | p. 3-9 |"));
        assert!(mapped.dc.get(DcElement::Source).is_empty());
        assert_eq!(local(&mapped, "Article en page(s)"), ["p. 3-9"]);
    }

    #[test]
    fn physical_description_becomes_format_and_the_price_stays_local() {
        let mapped = map_one(NOTICE);
        assert_eq!(
            values(&mapped.dc, DcElement::Format),
            [
                ("245 p.", None),
                ("ill., couv. ill.", None),
                ("22 cm", None)
            ]
        );
        assert_eq!(local(&mapped, "Prix"), ["25 EUR"]);
    }

    #[test]
    fn other_titles_are_titles_and_parallel_titles_have_no_language() {
        let mapped = map_one(&notice(
            "Autre titre : | sous-titre |\nTitre parallèle : | A title |\nLangues : | Français (fre) |",
        ));
        assert_eq!(
            values(&mapped.dc, DcElement::Title),
            [
                ("Un titre", Some("fr")),
                ("sous-titre", Some("fr")),
                ("A title", None)
            ]
        );
    }

    #[test]
    fn unknown_labels_and_original_languages_are_kept_as_local_fields() {
        let mapped = map_one(NOTICE);
        assert_eq!(local(&mapped, "Public"), ["Professionnels du secteur"]);
        assert_eq!(local(&mapped, "Langues originales"), ["Allemand (ger)"]);
        assert!(!mapped
            .dc
            .iter()
            .any(|(_, v)| v.value.contains("Professionnels")));
    }

    #[test]
    fn a_record_without_a_permalink_id_gets_a_stable_id_from_its_content() {
        let a = map_one("Titre : |  Sans   lien |\n");
        let b = map_one("[x]\nTitre : | Sans lien |\nRésumé : | autre chose |\n");
        assert_eq!(a.kind, RecordKind::Notice);
        assert_eq!(a.local_id, b.local_id, "the same title is the same record");
        assert_eq!(
            a.local_id,
            format!("notice/t-{:016x}", fnv1a64(b"Sans lien"))
        );
        let c = map_one(
            "Titre : | T |\nPermalink : | https://pmb.example/index.php?lvl=bulletin_display |\n",
        );
        assert_eq!(c.kind, RecordKind::Bulletin);
        assert_eq!(
            c.local_id,
            format!(
                "bulletin/u-{:016x}",
                fnv1a64(b"https://pmb.example/index.php?lvl=bulletin_display")
            )
        );
    }

    fn is_set_spec(spec: &str) -> bool {
        spec.split(':').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c))
        })
    }

    #[test]
    fn set_specs_match_the_oai_pmh_pattern() {
        for name in [
            "Revue française de service social",
            "L'Œuvre d’art — « Été » n° 3",
            "東京",
            "---",
            "ÆØÅ ßtraße",
        ] {
            let spec = format!("periodical:{}", slug(name));
            assert!(is_set_spec(&spec), "{spec}");
        }
        assert_eq!(slug("L'Œuvre d’art — « Été »"), "l-oeuvre-d-art-ete");
        for text in [SEED, NOTICE, ARTICLE, MULTI] {
            for record in parse_and_map(text).into_iter().flatten() {
                assert!(
                    record.sets.iter().all(|s| is_set_spec(&s.spec)),
                    "{:?}",
                    record.sets
                );
            }
        }
    }

    #[test]
    fn characters_illegal_in_xml_are_stripped_and_counted() {
        let mapped = map_one(&notice(
            "Résumé : | a\u{1}b\u{FFFE} |\nMots-clés : | \u{B} | ok\u{0} |",
        ));
        assert_eq!(values(&mapped.dc, DcElement::Description), [("ab", None)]);
        assert_eq!(values(&mapped.dc, DcElement::Subject), [("ok", None)]);
        assert_eq!(mapped.stripped_chars, 3);
        assert_eq!(
            read_oai_dc(&to_oai_dc_string(&mapped.dc)).unwrap(),
            mapped.dc
        );
    }

    #[test]
    fn no_element_is_ever_empty() {
        let text =
            notice("Auteurs : | \u{1} |\nRésumé : | \u{2} |\nEditeur : | |\nCollection : |\n|");
        for text in [SEED, NOTICE, ARTICLE, MULTI, MALFORMED, text.as_str()] {
            for record in parse_and_map(text).into_iter().flatten() {
                assert!(
                    record.dc.iter().all(|(_, v)| !v.value.trim().is_empty()),
                    "{record:#?}"
                );
            }
        }
    }

    #[test]
    fn a_record_without_titre_is_an_error_naming_its_first_line() {
        let records = parse_and_map("\n[n° ou bulletin]\nAuteurs : | A |\n");
        assert_eq!(records, [Err(PmbError::MissingTitle { line: 2 })]);
        assert_eq!(
            records[0].as_ref().unwrap_err().to_string(),
            "line 2: the record has no Titre (no non-empty `Titre : |` field and no ISBD title)"
        );
        let records = parse_and_map("Titre : | \u{1} |\n");
        assert_eq!(
            records,
            [Err(PmbError::MissingTitle { line: 1 })],
            "empty once cleaned"
        );
    }

    #[test]
    fn a_ten_megabyte_value_is_rejected_with_a_clear_message() {
        let big = "é".repeat(5 * 1024 * 1024);
        let text = format!("Titre : | T |\nRésumé : |\n{big}\n|\nTitre : | Suivant |\n");
        let records = parse_and_map(&text);
        assert_eq!(records.len(), 2);
        let err = records[0].as_ref().unwrap_err();
        assert!(
            matches!(err, PmbError::ValueTooLarge { line: 2, size, limit, .. } if *size > 10_000_000 && *limit == MAX_VALUE_BYTES),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "line 2: the value of \"Résumé\" is {} bytes, over the limit of {MAX_VALUE_BYTES} bytes",
                big.len()
            )
        );
        assert_eq!(records[1].as_ref().unwrap().line, 5);
    }

    #[test]
    fn an_unterminated_field_is_an_error_naming_its_line() {
        let records = parse_and_map("Titre : | T |\nRésumé : |\nsans fin\n");
        assert_eq!(
            records,
            [Err(PmbError::UnterminatedField {
                line: 2,
                label: "Résumé".into()
            })]
        );
    }

    #[test]
    fn the_malformed_fixture_reports_each_bad_record_and_keeps_the_good_one() {
        let records = parse_and_map(MALFORMED);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0], Err(PmbError::MissingTitle { line: 1 }));
        let good = records[1].as_ref().unwrap();
        assert_eq!((good.line, good.local_id.as_str()), (5, "notice/2"));
        assert!(good.dc.get(DcElement::Creator).is_empty());
        assert_eq!(local(good, "Langues"), ["Français"]);
        assert_eq!(
            records[2],
            Err(PmbError::UnterminatedField {
                line: 12,
                label: "Résumé".into()
            })
        );
    }

    #[test]
    fn the_multi_record_fixture_gives_each_record_once_in_file_order() {
        let records: Vec<_> = parse_and_map(MULTI)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.line, r.local_id.as_str(), r.kind))
            .collect();
        assert_eq!(
            got,
            [
                (1, "bulletin/44934", RecordKind::Bulletin),
                (4, "bulletin/45001", RecordKind::Bulletin),
                (12, "notice/44934", RecordKind::Notice),
            ]
        );
        let vacarme = &records[1];
        assert_eq!(
            values(&vacarme.dc, DcElement::Title),
            [("Numérique, la fin du social ?", Some("fr"))]
        );
        assert_eq!(
            values(&vacarme.dc, DcElement::Source),
            [("Vacarme, n° 81, automne 2017", None)]
        );
        assert_eq!(
            values(&vacarme.dc, DcElement::Subject).len(),
            2,
            "merged, not repeated"
        );
        assert_eq!(values(&records[2].dc, DcElement::Date), [("2005", None)]);
    }

    #[test]
    fn the_isbd_paragraph_is_a_fallback_when_the_table_is_missing() {
        let text = "[n° ou bulletin]\nRevue n° 3 - mai 2001 - Un titre [texte imprimé] / Ana Lima, \
                    Auteur ; Rui Sá, Traducteur . - [2001]. Langues : Portugais ( por)\nPermalink : | \
                    https://pmb.example/index.php?lvl=bulletin_display&id=5 |\n";
        let mapped = map_one(text);
        assert_eq!(
            values(&mapped.dc, DcElement::Title),
            [("Un titre", Some("pt"))]
        );
        assert_eq!(values(&mapped.dc, DcElement::Creator), [("Ana Lima", None)]);
        assert_eq!(
            values(&mapped.dc, DcElement::Contributor),
            [("Rui Sá", None)]
        );
        assert_eq!(values(&mapped.dc, DcElement::Date), [("2001", None)]);
        assert_eq!(
            values(&mapped.dc, DcElement::Type),
            [("Text", None), ("texte imprimé", Some("pt"))]
        );
        assert_eq!(values(&mapped.dc, DcElement::Language), [("por", None)]);
        assert_eq!(local(&mapped, "isbd").len(), 1, "the ISBD used is kept");
    }

    fn clean(s: &str) -> String {
        let mut s = s.trim().to_owned();
        crate::dc::strip_illegal_xml_chars(&mut s);
        s.trim().to_owned()
    }

    proptest! {
        #[test]
        fn arbitrary_field_values_survive_parse_map_and_oai_dc(
            title in "[^|\r\n]{1,60}".prop_filter("a title", |t| !clean(t).is_empty()),
            abstract_lines in proptest::collection::vec("[^|\r\n]{0,40}", 1..5),
            keywords in proptest::collection::vec("[^|;\r\n]{1,20}", 1..5),
            authors in proptest::collection::vec("[^|;,\r\n]{1,20}", 1..4),
        ) {
            let text = format!(
                "[n° ou bulletin]\nTitre : | {title} |\nAuteurs : | {} |\nMots-clés : | {} |\n\
                 Résumé : |\n{} |\nLangues : | Français (fre) |\nPermalink : | \
                 https://pmb.example/index.php?lvl=notice_display&id=1 |\n|",
                authors.join(" ; "),
                keywords.join(" | "),
                abstract_lines.join("\n"),
            );
            let records = parse_and_map(&text);
            prop_assert_eq!(records.len(), 1);
            let mapped = records[0].clone().unwrap();
            prop_assert_eq!(read_oai_dc(&to_oai_dc_string(&mapped.dc)).unwrap(), mapped.dc.clone());

            let clean_title = clean(&title);
            prop_assert_eq!(values(&mapped.dc, DcElement::Title), [(clean_title.as_str(), Some("fr"))]);
            let description = clean(&abstract_lines.join("\n"));
            let expected: Vec<_> = Some(description.as_str()).filter(|d| !d.is_empty()).map(|d| (d, Some("fr"))).into_iter().collect();
            prop_assert_eq!(values(&mapped.dc, DcElement::Description), expected);
            let mut subjects: Vec<String> = Vec::new();
            for k in &keywords {
                let k = clean(k);
                if !k.is_empty() && !subjects.contains(&k) {
                    subjects.push(k);
                }
            }
            let got: Vec<_> = mapped.dc.get(DcElement::Subject).iter().map(|v| v.value.clone()).collect();
            prop_assert_eq!(got, subjects);
            let first_author = authors.iter().map(|a| clean(a)).find(|a| !a.is_empty());
            let creators: Vec<_> = mapped.dc.get(DcElement::Creator).iter().map(|v| v.value.clone()).collect();
            prop_assert_eq!(creators.first().cloned(), first_author);
        }
    }
}
