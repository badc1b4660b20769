//! PMB OPAC catalogue displays (copied as text) → [`PmbRecord`]s: labelled fields, in order.
//!
//! Implements the parsing rules of the PMB crosswalk (`schemas/pmb-crosswalk.md`, from
//! `pmb-crosswalk.md` §5 and §9):
//!
//! - a line that is only `[...]` (`[n° ou bulletin]`) starts a record;
//! - `Label : |` opens a field; its value runs over the following lines, paragraphs included,
//!   until a line ending with ` |` (a bar without the space, or a line that is only `|`,
//!   closes it too); `Label : | value |` is the one-line form. Values keep their inner line
//!   breaks and are trimmed at both ends;
//! - an unclosed field is also closed by the next line that opens a field with a *known* label
//!   (§5: "concatenate until the next `Label : |` line"), and a `[...]` line just before that
//!   label then starts the next record; at the end of the file an unclosed field is an error;
//! - a value (or stray text) over [`MAX_VALUE_BYTES`] makes its record an error; values are
//!   offsets into the input until their field closes, so a huge value costs no extra memory;
//! - text outside any field right after a header is the ISBD paragraph (a fallback for the
//!   title, type, authors, year and languages); text outside any field that ends with ` |`
//!   after a closed field continues that field (a value with an inner line ending in ` |`,
//!   such as keywords wrapped over two lines); other stray text is kept as `text`;
//! - a lone `|` line (the table's last border) is ignored;
//! - a second `Titre` field in one record starts a new record (displays without headers);
//! - the same record shown twice (PMB's table, then the ISBD paragraph and repeated fields) is
//!   merged into one: identity is the Permalink's `lvl` + `id`, else the title. Fields already
//!   present with the same value are not repeated;
//! - unknown labels are kept as fields of kind [`FieldKind::Other`].
//!
//! Parsing borrows from the input: values are slices of it unless CR LF line ends had to be
//! normalised.

use std::borrow::Cow;
use std::collections::HashMap;

use super::values::{fold, Isbd};
use super::PmbError;

/// Largest value accepted, in bytes (1 MiB); a larger value makes its record an error.
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// Longest label recognised at the start of a line, in bytes.
const MAX_LABEL_BYTES: usize = 80;

/// What a display label means; several spellings map to one kind (see [`FieldKind::of_label`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// `Titre`
    Title,
    /// `Type de document`
    DocType,
    /// `Auteurs` / `Auteur` / `Auteur(s)`: all responsibilities, main author first.
    Authors,
    /// `Auteur principal`
    MainAuthors,
    /// `Autres auteurs` / `Auteurs secondaires`
    OtherAuthors,
    /// `Année de publication`
    Year,
    /// `Note générale`
    GeneralNote,
    /// `Langues`
    Languages,
    /// `Langues originales` (the work's original language; not dc:language)
    OriginalLanguages,
    /// `Mots-clés`
    Keywords,
    /// `Résumé`
    Abstract,
    /// `Note de contenu`
    ContentsNote,
    /// `En ligne`
    Online,
    /// `Permalink`
    Permalink,
    /// `Editeur`
    Publisher,
    /// `Collection`
    Collection,
    /// `ISBN/ISSN/EAN`
    Isbn,
    /// `Catégories` / `Descripteurs`
    Categories,
    /// `in` (articles: `<periodical> > <numbering> (<date>)`)
    In,
    /// `Titre de série`
    SeriesTitle,
    /// `Article en page(s)`
    ArticlePages,
    /// `Importance` (extent)
    Extent,
    /// `Présentation` (other physical details)
    Presentation,
    /// `Format` (dimensions)
    Format,
    /// `Prix`
    Price,
    /// `Indexation décimale`
    Dewey,
    /// `Autre titre` (complement of the title)
    OtherTitle,
    /// `Titre parallèle`
    ParallelTitle,
    /// Any other label: kept with the record, never dropped.
    Other,
}

impl FieldKind {
    /// The kind of a display label (case, accents, hyphens and `(s)` spellings tolerated).
    pub fn of_label(label: &str) -> FieldKind {
        // PMB's own spellings first: no allocation for the common case.
        match label {
            "Titre" => return FieldKind::Title,
            "Type de document" => return FieldKind::DocType,
            "Auteurs" => return FieldKind::Authors,
            "Année de publication" => return FieldKind::Year,
            "Note générale" => return FieldKind::GeneralNote,
            "Langues" => return FieldKind::Languages,
            "Mots-clés" => return FieldKind::Keywords,
            "Résumé" => return FieldKind::Abstract,
            "Note de contenu" => return FieldKind::ContentsNote,
            "En ligne" => return FieldKind::Online,
            "Permalink" => return FieldKind::Permalink,
            _ => {}
        }
        let key = fold(label);
        let key = key.trim_end_matches("(s)").trim();
        match key {
            "titre" | "titre propre" => FieldKind::Title,
            "type de document" | "type de doc" | "support" => FieldKind::DocType,
            "auteurs" | "auteur" | "responsabilite" | "responsabilites" => FieldKind::Authors,
            "auteur principal" | "auteurs principaux" => FieldKind::MainAuthors,
            "autres auteurs" | "autre auteur" | "auteurs secondaires" | "auteur secondaire" => {
                FieldKind::OtherAuthors
            }
            "annee de publication" | "annee" | "date de publication" | "annee d edition" => {
                FieldKind::Year
            }
            "note generale" | "notes generales" | "notes" => FieldKind::GeneralNote,
            "langues" | "langue" | "langue de publication" | "langues de publication" => {
                FieldKind::Languages
            }
            "langues originales" | "langue originale" | "langue(s) originale" => {
                FieldKind::OriginalLanguages
            }
            "mots cles" | "mot cle" | "mots cle" | "mots cles libres" => FieldKind::Keywords,
            "resume" | "resumes" => FieldKind::Abstract,
            "note de contenu" | "notes de contenu" => FieldKind::ContentsNote,
            "en ligne" | "ressource en ligne" | "url" => FieldKind::Online,
            "permalink" | "permalien" | "lien permanent" => FieldKind::Permalink,
            "editeur" | "editeurs" => FieldKind::Publisher,
            "collection" | "sous collection" => FieldKind::Collection,
            "categories" | "categorie" | "descripteurs" | "descripteur" => FieldKind::Categories,
            "in" | "dans" => FieldKind::In,
            "titre de serie" | "serie" => FieldKind::SeriesTitle,
            "article en page" | "article en pages" | "pagination" => FieldKind::ArticlePages,
            "importance" => FieldKind::Extent,
            "presentation" => FieldKind::Presentation,
            "format" => FieldKind::Format,
            "prix" => FieldKind::Price,
            "indexation decimale" => FieldKind::Dewey,
            "autre titre" | "autres titres" | "complement du titre" => FieldKind::OtherTitle,
            "titre parallele" | "titres paralleles" => FieldKind::ParallelTitle,
            _ if is_identifier_label(key) => FieldKind::Isbn,
            _ => FieldKind::Other,
        }
    }
}

/// `ISBN/ISSN/EAN`, `ISBN`, `ISSN/ISBN`, …
fn is_identifier_label(key: &str) -> bool {
    !key.is_empty()
        && key
            .split('/')
            .all(|part| matches!(part.trim(), "isbn" | "issn" | "ean" | "ismn"))
}

/// One displayed field: its label as shown, what it means, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PmbField<'a> {
    /// The label as displayed (`Mots-clés`).
    pub label: &'a str,
    /// What the label means.
    pub kind: FieldKind,
    /// The value: inner line breaks kept, trimmed at both ends, maybe empty.
    pub value: Cow<'a, str>,
    /// 1-based line where the field starts.
    pub line: usize,
}

/// A run of text outside any field (the ISBD paragraph, or stray text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextBlock<'a> {
    /// 1-based line where the text starts.
    pub line: usize,
    /// The text, trimmed at both ends.
    pub text: Cow<'a, str>,
}

/// One record of a PMB display, after merging its repeated displays.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PmbRecord<'a> {
    /// 1-based line where the record starts (its header, or its first field).
    pub line: usize,
    /// The `[...]` header line without its brackets (`n° ou bulletin`), if any.
    pub header: Option<&'a str>,
    /// The fields in display order.
    pub fields: Vec<PmbField<'a>>,
    /// The ISBD paragraph, if the display had one.
    pub isbd: Option<TextBlock<'a>>,
    /// Other text found outside any field.
    pub loose: Vec<TextBlock<'a>>,
}

impl<'a> PmbRecord<'a> {
    /// The first field of a kind.
    pub fn first(&self, kind: FieldKind) -> Option<&PmbField<'a>> {
        self.fields.iter().find(|f| f.kind == kind)
    }

    /// Every field of a kind, in order.
    pub fn all(&self, kind: FieldKind) -> impl Iterator<Item = &PmbField<'a>> {
        self.fields.iter().filter(move |f| f.kind == kind)
    }

    /// The parsed Permalink (first `Permalink` field), if any.
    pub fn permalink(&self) -> Option<Permalink<'_>> {
        self.first(FieldKind::Permalink)
            .map(|f| Permalink::parse(&f.value))
            .filter(|p| !p.url.is_empty())
    }

    /// The title used for identity: the `Titre` field, else the ISBD title.
    pub fn title(&self) -> Option<&str> {
        self.first(FieldKind::Title)
            .map(|f| f.value.as_ref())
            .or_else(|| self.isbd.as_ref().and_then(|i| Isbd::parse(&i.text).title))
            .filter(|t| !t.is_empty())
    }

    /// The merge key from the Permalink: `bulletin/44933`, or the URL when it has no id.
    fn link_key(&self) -> Option<String> {
        self.permalink()
            .map(|p| p.local_id().unwrap_or_else(|| p.url.to_owned()))
    }

    /// The merge key from the title, whitespace runs collapsed.
    fn title_key(&self) -> Option<String> {
        self.title().map(collapse_spaces)
    }

    fn absorb(&mut self, other: PmbRecord<'a>) {
        for field in other.fields {
            let duplicate = self.fields.iter().any(|f| {
                f.kind == field.kind
                    && f.value == field.value
                    && (f.kind != FieldKind::Other || f.label == field.label)
            });
            if !duplicate {
                self.fields.push(field);
            }
        }
        match (&self.isbd, other.isbd) {
            (None, isbd) => self.isbd = isbd,
            (Some(mine), Some(theirs)) if mine.text != theirs.text => self.loose.push(theirs),
            _ => {}
        }
        for text in other.loose {
            if !self.loose.iter().any(|t| t.text == text.text) {
                self.loose.push(text);
            }
        }
        if self.header.is_none() {
            self.header = other.header;
        }
    }
}

/// The record level and id read from a PMB permalink (`index.php?lvl=bulletin_display&id=44933`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permalink<'a> {
    /// The URL as displayed, trimmed.
    pub url: &'a str,
    /// The `lvl` parameter (`bulletin_display`, `notice_display`), if present.
    pub lvl: Option<&'a str>,
    /// The `id` parameter when it is a number.
    pub id: Option<&'a str>,
}

impl<'a> Permalink<'a> {
    /// Reads `lvl` and `id` from the URL's query (`&amp;` from HTML copies tolerated).
    pub fn parse(url: &'a str) -> Permalink<'a> {
        let url = url.trim();
        let mut link = Permalink {
            url,
            lvl: None,
            id: None,
        };
        let Some((_, query)) = url.split_once('?') else {
            return link;
        };
        let query = query.split('#').next().unwrap_or_default();
        for pair in query.split('&') {
            let pair = pair.strip_prefix("amp;").unwrap_or(pair);
            match pair.split_once('=') {
                Some(("lvl", v)) if link.lvl.is_none() => link.lvl = Some(v),
                Some(("id", v))
                    if link.id.is_none()
                        && !v.is_empty()
                        && v.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    link.id = Some(v);
                }
                _ => {}
            }
        }
        link
    }

    /// True when the permalink is a bulletin's (`lvl=bulletin_display`).
    pub fn is_bulletin(&self) -> bool {
        self.lvl == Some("bulletin_display")
    }

    /// `bulletin/<id>` or `notice/<id>` when both `lvl` and `id` are usable.
    pub fn local_id(&self) -> Option<String> {
        let level = match self.lvl? {
            "bulletin_display" => "bulletin",
            "notice_display" => "notice",
            _ => return None,
        };
        Some(format!("{level}/{}", self.id?))
    }
}

/// Parses a whole display: records in file order (by the line of their first display), each
/// merged from its repeated displays, or the error that made it unusable.
pub fn parse(text: &str) -> Vec<Result<PmbRecord<'_>, PmbError>> {
    let blocks = Parser::new(text).run();
    merge_blocks(blocks)
}

fn merge_blocks(
    blocks: Vec<Result<PmbRecord<'_>, PmbError>>,
) -> Vec<Result<PmbRecord<'_>, PmbError>> {
    let mut out: Vec<Result<PmbRecord<'_>, PmbError>> = Vec::with_capacity(blocks.len());
    let mut by_link: HashMap<String, usize> = HashMap::new();
    let mut by_title: HashMap<String, Vec<usize>> = HashMap::new();
    for block in blocks {
        let record = match block {
            Ok(record) => record,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let link = record.link_key();
        if let Some(&i) = link.as_ref().and_then(|l| by_link.get(l)) {
            // The common repeat (PMB's table, then its ISBD display): no title needed.
            if let Ok(existing) = &mut out[i] {
                existing.absorb(record);
            }
            continue;
        }
        let title = record.title_key();
        let ids = title.as_ref().and_then(|t| by_title.get(t));
        let target = if link.is_some() {
            // A linked display joins a same-title record only if that one has no link.
            ids.and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|&i| matches!(&out[i], Ok(r) if r.permalink().is_none()))
            })
        } else {
            ids.and_then(|ids| ids.first().copied())
        };
        let index = if let Some(i) = target {
            if let Ok(existing) = &mut out[i] {
                existing.absorb(record);
            }
            i
        } else {
            out.push(Ok(record));
            out.len() - 1
        };
        if let Some(link) = link {
            by_link.entry(link).or_insert(index);
        }
        if let Some(title) = title {
            let ids = by_title.entry(title).or_default();
            if !ids.contains(&index) {
                ids.push(index);
            }
        }
    }
    out
}

/// A field being read: where its value starts and ends in the input.
#[derive(Clone, Copy)]
struct OpenField<'a> {
    label: &'a str,
    kind: FieldKind,
    line: usize,
    /// Byte offset of the first line holding value text.
    start: Option<usize>,
    /// Byte offset just after the last value text read so far.
    end: usize,
    /// The last value line when it looks like a record header: (line, header, value start and
    /// end before it). If a known label follows, the field was never closed and that line
    /// starts the next record rather than ending this value.
    header: Option<(usize, &'a str, Option<usize>, usize)>,
}

/// Text outside fields being collected (offsets into the input).
struct Pending {
    line: usize,
    start: usize,
    end: usize,
}

/// One display of a record being read.
#[derive(Default)]
struct Block<'a> {
    record: PmbRecord<'a>,
    error: Option<PmbError>,
    /// Value start offset and index of the last closed field while text after it may continue
    /// it.
    continuable: Option<(usize, usize)>,
    started: bool,
}

/// The line-by-line state machine; values are kept as offsets and sliced when a field closes.
struct Parser<'a> {
    text: &'a str,
    blocks: Vec<Result<PmbRecord<'a>, PmbError>>,
    block: Block<'a>,
    open: Option<OpenField<'a>>,
    pending: Option<Pending>,
    /// Whether a CR LF line end was seen so far (values then need normalising).
    crlf: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser {
            text,
            blocks: Vec::new(),
            block: Block::default(),
            open: None,
            pending: None,
            crlf: false,
        }
    }

    fn run(mut self) -> Vec<Result<PmbRecord<'a>, PmbError>> {
        let text = self.text;
        let mut offset = 0;
        for (index, raw) in text.split_inclusive('\n').enumerate() {
            let content = raw.strip_suffix('\n').unwrap_or(raw);
            let content = match content.strip_suffix('\r') {
                Some(content) => {
                    self.crlf = true;
                    content
                }
                None => content,
            };
            self.line(index + 1, offset, content);
            offset += raw.len();
        }
        if let Some(open) = self.open.take() {
            self.fail(PmbError::UnterminatedField {
                line: open.line,
                label: open.label.to_owned(),
            });
        }
        self.flush_pending();
        self.finish_block();
        self.blocks
    }

    fn line(&mut self, line_no: usize, offset: usize, line: &'a str) {
        if let Some(open) = self.open.take() {
            // §5: a line opening a field with a known label also ends an unclosed value.
            let implicit_close = split_label_line(line)
                .is_some_and(|(label, _)| FieldKind::of_label(label) != FieldKind::Other);
            if implicit_close {
                if let Some((header_line, header, start, end)) = open.header {
                    self.close_field(OpenField { start, end, ..open });
                    self.start_record(header_line, header);
                } else {
                    self.close_field(open);
                }
            } else {
                self.continue_field(open, line_no, offset, line);
                return;
            }
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed == "|" {
            // The table's last border, or the end of text continuing the previous field.
            if self.pending.is_some() {
                self.pending_line(line_no, offset, line);
            }
            return;
        }
        if let Some(header) = header_text(trimmed) {
            self.flush_pending();
            self.start_record(line_no, header);
            return;
        }
        if let Some((label, rest)) = split_label_line(line) {
            self.flush_pending();
            let kind = FieldKind::of_label(label);
            if kind == FieldKind::Title && self.block.record.first(FieldKind::Title).is_some() {
                self.finish_block();
            }
            self.start_block(line_no);
            let rest_offset = offset + line.len() - rest.len();
            let open = OpenField {
                label,
                kind,
                line: line_no,
                start: None,
                end: rest_offset,
                header: None,
            };
            self.continue_field(open, line_no, rest_offset, rest);
            return;
        }
        self.pending_line(line_no, offset, line);
    }

    fn start_record(&mut self, line_no: usize, header: &'a str) {
        self.finish_block();
        self.start_block(line_no);
        self.block.record.header = Some(header);
    }

    fn start_block(&mut self, line_no: usize) {
        if !self.block.started {
            self.block.started = true;
            self.block.record.line = line_no;
        }
    }

    /// Reads one line (or the rest of a label line) of an open field's value.
    fn continue_field(
        &mut self,
        mut open: OpenField<'a>,
        line_no: usize,
        offset: usize,
        line: &'a str,
    ) {
        let (value, closes) = closing(line);
        let trimmed = value.trim();
        if !trimmed.is_empty() {
            open.header = header_text(trimmed)
                .filter(|_| !closes)
                .map(|h| (line_no, h, open.start, open.end));
            open.start.get_or_insert(offset);
            open.end = offset + value.len();
        }
        if closes {
            self.close_field(open);
        } else {
            self.open = Some(open);
        }
    }

    /// Values are only offsets until the field closes, so even a huge one costs no memory;
    /// the size is checked once, on the whole value.
    fn too_large(&mut self, line: usize, label: &str, size: usize) -> bool {
        if size <= MAX_VALUE_BYTES {
            return false;
        }
        self.fail(PmbError::ValueTooLarge {
            line,
            label: label.to_owned(),
            size,
            limit: MAX_VALUE_BYTES,
        });
        true
    }

    fn close_field(&mut self, open: OpenField<'a>) {
        let size = open
            .start
            .map_or(0, |s| self.text[s..open.end].trim().len());
        let value = match open.start {
            Some(_) if self.too_large(open.line, open.label, size) => Cow::Borrowed(""),
            Some(s) => self.slice(s, open.end),
            None => Cow::Borrowed(""),
        };
        let fields = &mut self.block.record.fields;
        self.block.continuable = open.start.map(|s| (s, fields.len()));
        fields.push(PmbField {
            label: open.label,
            kind: open.kind,
            value,
            line: open.line,
        });
    }

    fn pending_line(&mut self, line_no: usize, offset: usize, line: &'a str) {
        let (value, closes) = closing(line);
        let end = offset + value.len();
        let p = self.pending.get_or_insert(Pending {
            line: line_no,
            start: offset,
            end,
        });
        p.end = end;
        if let (true, Some((start, index))) = (closes, self.block.continuable) {
            // Text ending with ` |` right after a field: that field's value had an inner line
            // ending with ` |` (keywords wrapped over two lines), so the value runs to here.
            self.pending = None;
            let field = &self.block.record.fields[index];
            let (line, label) = (field.line, field.label);
            if !self.too_large(line, label, self.text[start..end].trim().len()) {
                self.block.record.fields[index].value = self.slice(start, end);
            }
        }
    }

    fn flush_pending(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        self.block.continuable = None;
        if self.too_large(p.line, "text", self.text[p.start..p.end].trim().len()) {
            return;
        }
        let text = self.slice(p.start, p.end);
        if text.is_empty() {
            return;
        }
        self.start_block(p.line);
        let block = TextBlock { line: p.line, text };
        let record = &mut self.block.record;
        if record.fields.is_empty() && record.isbd.is_none() {
            record.isbd = Some(block);
        } else {
            record.loose.push(block);
        }
    }

    /// The value between two offsets, trimmed, with CR LF normalised to LF.
    fn slice(&self, start: usize, end: usize) -> Cow<'a, str> {
        let value = self.text[start..end].trim();
        if self.crlf && value.contains('\r') {
            Cow::Owned(value.replace("\r\n", "\n"))
        } else {
            Cow::Borrowed(value)
        }
    }

    fn fail(&mut self, error: PmbError) {
        if self.block.error.is_none() {
            self.block.error = Some(error);
        }
    }

    fn finish_block(&mut self) {
        let block = std::mem::take(&mut self.block);
        if let Some(error) = block.error {
            self.blocks.push(Err(error));
            return;
        }
        let r = block.record;
        // A header alone carries no data.
        if r.fields.is_empty() && r.isbd.is_none() && r.loose.is_empty() {
            return;
        }
        self.blocks.push(Ok(r));
    }
}

/// `[n° ou bulletin]` → `n° ou bulletin`.
fn header_text(trimmed: &str) -> Option<&str> {
    let inner = trimmed.strip_prefix('[')?.strip_suffix(']')?;
    (!inner.contains([']', '|'])).then(|| inner.trim())
}

/// The minimum evidence that a text is a PMB display: one line `Label : |` whose label is a
/// PMB field label (any of [`FieldKind`] but `Other`). A README, a TOML or a JSON file has
/// none, so it is refused whole instead of becoming records titled by its first line.
pub fn looks_like_display(text: &str) -> bool {
    text.lines().any(|line| {
        split_label_line(line)
            .is_some_and(|(label, _)| FieldKind::of_label(label) != FieldKind::Other)
    })
}

/// Splits `Label : | rest` into the label and what follows the bar.
fn split_label_line(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let window = &bytes[..bytes.len().min(MAX_LABEL_BYTES + 2)];
    let colon = window.iter().position(|&b| b == b':')?;
    let label = line[..colon].trim();
    if label.is_empty() || label.contains('|') {
        return None;
    }
    let rest = line[colon + 1..].trim_start().strip_prefix('|')?;
    Some((label, rest))
}

/// Splits the closing `|` off a line: the value part and whether the field closes here.
///
/// PMB writes ` |`; a bar without the space (hand-edited files) closes the field too.
fn closing(line: &str) -> (&str, bool) {
    match line.trim_end().strip_suffix('|') {
        Some(before) => (before, true),
        None => (line, false),
    }
}

/// Collapses runs of whitespace to one space (identity keys).
pub(crate) fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../tests/fixtures/pmb/bulletin-44933-seed.txt");

    fn one(text: &str) -> PmbRecord<'_> {
        let mut records = parse(text);
        assert_eq!(records.len(), 1, "{records:#?}");
        records.remove(0).expect("The record parses.")
    }

    #[test]
    fn the_seed_is_one_record_merged_from_its_two_displays() {
        let record = one(SEED);
        assert_eq!(record.line, 1);
        assert_eq!(record.header, Some("n° ou bulletin"));
        let labels: Vec<_> = record.fields.iter().map(|f| (f.label, f.line)).collect();
        assert_eq!(
            labels,
            [
                ("Titre", 2),
                ("Type de document", 4),
                ("Auteurs", 6),
                ("Année de publication", 8),
                ("Note générale", 10),
                ("Langues", 16),
                ("Mots-clés", 18),
                ("Résumé", 20),
                ("Note de contenu", 22),
                ("En ligne", 50),
                ("Permalink", 52),
            ]
        );
        let isbd = record
            .isbd
            .as_ref()
            .expect("The second display has an ISBD paragraph.");
        assert_eq!(isbd.line, 55);
        assert!(isbd.text.ends_with("Langues : Français ( fre)"));
        assert!(record.loose.is_empty());
    }

    #[test]
    fn multi_line_values_keep_inner_breaks_and_are_trimmed() {
        let record = one(SEED);
        let contents = &record.first(FieldKind::ContentsNote).unwrap().value;
        assert!(
            contents.starts_with("Table des matières :\nINTRODUCTION\nRevue de la littérature\n")
        );
        assert!(contents.ends_with("Annexe 5 : Délibération de la CNIL"));
        assert_eq!(contents.lines().count(), 27);
        let note = &record.first(FieldKind::GeneralNote).unwrap().value;
        assert_eq!(note.lines().count(), 5);
        assert!(
            matches!(note, Cow::Borrowed(_)),
            "values borrow from the input"
        );
    }

    fn ok(results: Vec<Result<PmbRecord<'_>, PmbError>>) -> Vec<PmbRecord<'_>> {
        results
            .into_iter()
            .map(|r| r.expect("The record parses."))
            .collect()
    }

    #[test]
    fn records_start_at_headers_and_carry_their_line() {
        let records = ok(parse(
            "\n[a]\nTitre : | A |\n\n[b]\nTitre : | B |\n[header alone]\n",
        ));
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.line, r.header, r.title()))
            .collect();
        assert_eq!(got, [(2, Some("a"), Some("A")), (5, Some("b"), Some("B"))]);
    }

    #[test]
    fn a_second_titre_without_a_header_starts_a_new_record() {
        let records = ok(parse("Titre : | A |\nRésumé : | r |\nTitre : | B |\n"));
        let got: Vec<_> = records.iter().map(|r| (r.line, r.fields.len())).collect();
        assert_eq!(got, [(1, 2), (3, 1)]);
    }

    #[test]
    fn the_same_record_displayed_twice_is_merged_by_permalink() {
        let text =
            "[x]\nTitre : | A |\nPermalink : | https://p/index.php?lvl=notice_display&id=3 |\n\
                    [x]\nTitre : | A (bis) |\nNote générale : | n |\n\
                    Permalink : | https://p/index.php?id=3&amp;lvl=notice_display |\n";
        let records = ok(parse(text));
        assert_eq!(records.len(), 1);
        let got: Vec<_> = records[0]
            .fields
            .iter()
            .map(|f| (f.label, f.line))
            .collect();
        assert_eq!(
            got,
            [
                ("Titre", 2),
                ("Permalink", 3),
                ("Titre", 5),
                ("Note générale", 6),
                ("Permalink", 7)
            ]
        );
    }

    #[test]
    fn records_without_permalink_merge_by_title_and_different_permalinks_do_not() {
        let text = "Titre : | A |\nPermalink : | https://p/index.php?lvl=notice_display&id=1 |\n\
                    Titre : | A |\nPermalink : | https://p/index.php?lvl=bulletin_display&id=1 |\n\
                    Titre : |  A |\nRésumé : | r |\n";
        let records = ok(parse(text));
        let got: Vec<_> = records.iter().map(|r| (r.line, r.fields.len())).collect();
        assert_eq!(
            got,
            [(1, 3), (3, 2)],
            "the third display joins the first record with that title"
        );
    }

    #[test]
    fn a_known_label_closes_an_unterminated_value() {
        let record =
            one("Titre : | T |\nRésumé : |\nligne 1\nligne 2\nLangues : | Français (fre) |\n");
        assert_eq!(
            record.first(FieldKind::Abstract).unwrap().value,
            "ligne 1\nligne 2"
        );
        assert_eq!(record.first(FieldKind::Languages).unwrap().line, 5);
    }

    #[test]
    fn a_header_before_a_known_label_ends_an_unterminated_value_and_starts_a_record() {
        let records = ok(parse(
            "[a]\nTitre : | A |\nRésumé : |\nr\n[b]\nTitre : | B |\n[c]\nTitre : | C |\nNote générale : |\n[d] |\n",
        ));
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.line, r.header, r.title()))
            .collect();
        assert_eq!(
            got,
            [
                (1, Some("a"), Some("A")),
                (5, Some("b"), Some("B")),
                (7, Some("c"), Some("C"))
            ]
        );
        assert_eq!(records[0].first(FieldKind::Abstract).unwrap().value, "r");
        assert_eq!(
            records[2].first(FieldKind::GeneralNote).unwrap().value,
            "[d]",
            "closed by ` |`"
        );
    }

    #[test]
    fn an_unknown_label_line_inside_a_value_is_part_of_the_value() {
        let record = one("Titre : | T |\nRésumé : |\nVoir : | ceci\nfin |\n");
        assert_eq!(
            record.first(FieldKind::Abstract).unwrap().value,
            "Voir : | ceci\nfin"
        );
    }

    #[test]
    fn an_unterminated_field_at_end_of_file_is_an_error_naming_its_line() {
        let records = parse("Titre : | T |\nRésumé : |\nsans fin");
        assert_eq!(
            records,
            [Err(PmbError::UnterminatedField {
                line: 2,
                label: "Résumé".into()
            })]
        );
    }

    #[test]
    fn a_value_over_the_size_cap_is_an_error_and_the_next_record_still_parses() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let text = format!("[a]\nTitre : | A |\nNote de contenu : | {big} |\n[b]\nTitre : | B |\n");
        let records = parse(&text);
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[0],
            Err(PmbError::ValueTooLarge {
                line: 3,
                label: "Note de contenu".into(),
                size: MAX_VALUE_BYTES + 1,
                limit: MAX_VALUE_BYTES
            })
        );
        assert_eq!(records[1].as_ref().unwrap().title(), Some("B"));
    }

    #[test]
    fn keywords_wrapped_over_two_lines_are_one_value() {
        let record = one("Titre : | T |\nMots-clés : | A | B |\nC | D |\nLangues : | x |\n");
        assert_eq!(
            record.first(FieldKind::Keywords).unwrap().value,
            "A | B |\nC | D"
        );
        assert!(record.loose.is_empty());
    }

    #[test]
    fn stray_text_is_kept_not_dropped() {
        let record = one("Titre : | T |\nune ligne hors champ\nLangues : | Français (fre) |\n");
        assert_eq!(record.loose.len(), 1);
        assert_eq!(
            (record.loose[0].line, record.loose[0].text.as_ref()),
            (2, "une ligne hors champ")
        );
    }

    #[test]
    fn crlf_line_ends_are_normalised_and_lone_bars_ignored() {
        let record = one("Titre : |\r\nT |\r\nRésumé : |\r\na\r\n\r\nb |\r\n|\r\n");
        assert_eq!(record.first(FieldKind::Title).unwrap().value, "T");
        assert_eq!(record.first(FieldKind::Abstract).unwrap().value, "a\n\nb");
    }

    #[test]
    fn unknown_labels_are_kept_with_their_value() {
        let record = one("Titre : | T |\nCote : | 361 DUP |\n");
        let other = record.first(FieldKind::Other).unwrap();
        assert_eq!(
            (other.label, other.value.as_ref(), other.line),
            ("Cote", "361 DUP", 2)
        );
    }

    #[test]
    fn label_spellings_map_to_their_kinds() {
        for (label, kind) in [
            ("Auteur", FieldKind::Authors),
            ("Auteur(s)", FieldKind::Authors),
            ("Editeur", FieldKind::Publisher),
            ("Éditeur(s)", FieldKind::Publisher),
            ("ISBN/ISSN/EAN", FieldKind::Isbn),
            ("ISSN", FieldKind::Isbn),
            ("Catégories", FieldKind::Categories),
            ("Descripteurs", FieldKind::Categories),
            ("in", FieldKind::In),
            ("Titre de série", FieldKind::SeriesTitle),
            ("Article en page(s)", FieldKind::ArticlePages),
            ("Importance", FieldKind::Extent),
            ("Présentation", FieldKind::Presentation),
            ("Format", FieldKind::Format),
            ("Prix", FieldKind::Price),
            ("Indexation décimale", FieldKind::Dewey),
            ("Autre titre", FieldKind::OtherTitle),
            ("Titre parallèle", FieldKind::ParallelTitle),
            ("Langues originales", FieldKind::OriginalLanguages),
            ("Mots clés", FieldKind::Keywords),
            ("MOTS-CLES", FieldKind::Keywords),
            ("Cote", FieldKind::Other),
        ] {
            assert_eq!(FieldKind::of_label(label), kind, "{label}");
        }
    }

    #[test]
    fn permalinks_give_level_and_id() {
        let p = Permalink::parse(" https://h/index.php?lvl=bulletin_display&id=44933 ");
        assert!(p.is_bulletin());
        assert_eq!(p.local_id().as_deref(), Some("bulletin/44933"));
        let p = Permalink::parse("https://h/index.php?id=12&amp;lvl=notice_display#x");
        assert_eq!(p.local_id().as_deref(), Some("notice/12"));
        assert_eq!(
            Permalink::parse("https://h/index.php?lvl=notice_display&id=abc").local_id(),
            None
        );
        assert_eq!(
            Permalink::parse("https://h/index.php?lvl=author_see&id=3").local_id(),
            None
        );
    }

    #[test]
    fn parsing_never_panics_on_odd_input() {
        for text in [
            "",
            "|",
            " : |",
            ":|",
            "[",
            "[]",
            "Titre : |",
            "x\n|\n|",
            "é : | é",
            "\u{0}",
        ] {
            let _ = parse(text);
        }
    }

    #[test]
    fn one_line_fields_and_empty_fields_are_read() {
        let record = one("Titre : | Un titre |\nAuteurs : | |\nLangues :| Français (fre)|\n");
        let got: Vec<_> = record
            .fields
            .iter()
            .map(|f| (f.kind, f.value.as_ref()))
            .collect();
        assert_eq!(
            got,
            [
                (FieldKind::Title, "Un titre"),
                (FieldKind::Authors, ""),
                (FieldKind::Languages, "Français (fre)"),
            ]
        );
    }
}
