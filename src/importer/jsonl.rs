//! The JSON Lines form of records (`moisson import dc`, `moisson export`), one object a line:
//!
//! ```json
//! {"id":"oai:example.org:1","datestamp":"2017-06-01T00:00:00Z","sets":["a:b"],"deleted":false,"dc":{"title":["…"]}}
//! {"setSpec":"a:b","setName":"Section B","setDescription":{"description":["…"]}}
//! ```
//!
//! Set lines carry set names and descriptions, so that export → import → export is
//! byte-identical. Optional `"local"` holds source fields with no place in Dublin Core, and
//! `"origin"` who owns a record that is not local (`"source:NAME"` for a harvested one).
//!
//! Given datestamps are kept only when loading a new store ([`DcOptions::keep_datestamps`]):
//! on a store that harvesters may already know, a record stamped in the past is never seen by
//! an incremental harvest, so it is stamped when written. A datestamp in the future is refused
//! either way, since it would hide the record from every list until then.

use std::io::Write;

use serde::{Deserialize, Serialize};

use std::path::PathBuf;

use super::batch::{PlacedBatches, WrittenBatch};
use super::{ImportError, ImportSummary};
use crate::dc::DcRecord;
use crate::protocol::types::is_noncharacter;
use crate::protocol::xml::read::is_xml_language;
use crate::protocol::{Datestamp, OaiIdentifier, SetInfo, SetSpec};
use crate::store::{Origin, RecordInput, RecordSink, Store, StoreError, StoredRecord};

/// Most per-line messages a [`DcLoader`] keeps when it collects them (the count goes on).
pub const MAX_KEPT_MESSAGES: usize = 1000;
/// Longest line accepted, in bytes: a longer one is refused, and never held whole.
pub const MAX_LINE_BYTES: usize = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    datestamp: Option<String>,
    #[serde(default)]
    sets: Vec<String>,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    dc: DcRecord,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    local: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Origin::is_local")]
    origin: Origin,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetLine {
    #[serde(rename = "setSpec")]
    spec: String,
    #[serde(rename = "setName")]
    name: String,
    #[serde(
        rename = "setDescription",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    description: Option<DcRecord>,
}

enum Line {
    Set(SetLine),
    Record(RecordLine),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A record to write.
    Record(RecordInput),
    /// A set definition.
    Set(SetInfo),
}

fn json_error(what: &str, e: &serde_json::Error) -> String {
    if e.is_syntax() || e.is_eof() {
        format!("not JSON: {e}")
    } else {
        format!("{what}: {e}")
    }
}

/// Parses one line; the error says what is wrong with it.
pub fn parse_line(line: &str) -> Result<Item, String> {
    // Set lines are rare: look for their key before parsing, so records are parsed once.
    let parsed: Line = if line.contains("\"setSpec\"") {
        Line::Set(serde_json::from_str(line).map_err(|e| json_error("bad set line", &e))?)
    } else {
        Line::Record(serde_json::from_str(line).map_err(|e| json_error("bad record", &e))?)
    };
    match parsed {
        Line::Set(s) => {
            let spec = SetSpec::parse(&s.spec)
                .ok_or_else(|| format!("\"{}\" is not a valid setSpec", s.spec))?;
            // A name and a description are text: what XML forbids is dropped, as in values.
            let mut name = s.name;
            crate::dc::strip_illegal_xml_chars(&mut name);
            if name.trim().is_empty() {
                return Err("setName is empty".into());
            }
            let mut description = s.description;
            if let Some(d) = description.as_mut() {
                d.strip_illegal_xml_chars();
                check_languages(d)?;
            }
            Ok(Item::Set(SetInfo {
                spec,
                name,
                description,
            }))
        }
        Line::Record(r) => {
            // Refused, never stripped: without the character it would be another identifier.
            if let Some(c) =
                r.id.chars()
                    .find(|c| !crate::dc::is_xml_char(*c) || is_noncharacter(*c))
            {
                return Err(format!(
                    "the identifier {:?} holds {}, which XML cannot carry",
                    r.id,
                    char_name(c)
                ));
            }
            check_languages(&r.dc)?;
            let identifier = OaiIdentifier::parse(&r.id).ok_or_else(|| {
                format!(
                    "\"{}\" is not a valid identifier (a URI such as oai:example.org:1)",
                    r.id
                )
            })?;
            let datestamp = r
                .datestamp
                .as_deref()
                .map(|d| {
                    Datestamp::parse_lenient(d)
                        .ok_or_else(|| format!("datestamp \"{d}\" is not YYYY-MM-DDThh:mm:ssZ"))
                })
                .transpose()?;
            let sets = r
                .sets
                .iter()
                .map(|s| SetSpec::parse(s).ok_or_else(|| format!("\"{s}\" is not a valid setSpec")))
                .collect::<Result<Vec<_>, _>>()?;
            if !r.deleted && r.dc.is_empty() {
                return Err(
                    "the record has no Dublin Core element (\"dc\" is missing or empty)".into(),
                );
            }
            Ok(Item::Record(RecordInput {
                identifier,
                datestamp,
                sets,
                deleted: r.deleted,
                dc: (!r.deleted).then_some(r.dc),
                other_formats: Vec::new(),
                about: Vec::new(),
                local_fields: r.local,
                origin: r.origin,
            }))
        }
    }
}

/// What the first bytes of an input say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniff {
    /// Nothing but whitespace so far.
    Blank,
    /// Text whose first line may be JSON.
    JsonLines,
    /// Not JSON Lines: why (binary, not UTF-8, or text that is not JSON).
    Refused(String),
}

/// Judges an input by its first bytes (a few KiB are enough), so that a PNG or a README is
/// refused once instead of line by line.
pub fn sniff(head: &[u8]) -> Sniff {
    if head.contains(&0) {
        return Sniff::Refused("a binary file (it holds NUL bytes), not JSON Lines".into());
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        // A character cut by the end of the buffer is not an error.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(e) => {
            return Sniff::Refused(format!(
                "not UTF-8 text (byte {} is not UTF-8): a binary file or another encoding, not JSON Lines",
                e.valid_up_to()
            ))
        }
    };
    let text = text.trim_start_matches('\u{FEFF}');
    match text.trim_start().chars().next() {
        None => Sniff::Blank,
        Some('{') => Sniff::JsonLines,
        Some(_) => {
            let first: String = text.trim_start().chars().take(40).collect();
            let first = first.lines().next().unwrap_or_default();
            Sniff::Refused(format!(
                "not JSON Lines: the first line starts with {first:?}, not a JSON object"
            ))
        }
    }
}

/// How given datestamps are treated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DcOptions {
    /// Keep the datestamps the lines give (loading a new store); otherwise records are
    /// stamped when written.
    pub keep_datestamps: bool,
}

/// Records in the first batch of a load (see `DcLoader::filling`).
const FIRST_BATCH: usize = 250;

/// Loads JSON Lines into a store (any [`RecordSink`]): lines in, records written in batches,
/// every refused line reported by name and line number.
pub struct DcLoader<S: RecordSink + Clone + Send + 'static = Store> {
    sink: S,
    name: PathBuf,
    options: DcOptions,
    now: Datestamp,
    batch_size: usize,
    /// The size of the batch being filled: it starts small and doubles up to `batch_size`, so
    /// that the first records are committed soon, not after a whole large batch.
    filling: usize,
    /// Written each while the next one is parsed, placed by line.
    batches: PlacedBatches<S>,
    lines_with_content: u64,
    /// The counts so far.
    pub summary: ImportSummary,
    messages: Vec<String>,
    print: Option<fn(&str)>,
}

impl<S: RecordSink + Clone + Send + 'static> DcLoader<S> {
    /// A loader into `sink` for the input called `name`; refused lines are handed to `print`
    /// when given, else kept (at most [`MAX_KEPT_MESSAGES`]).
    pub fn new(
        sink: S,
        name: PathBuf,
        options: DcOptions,
        batch_size: usize,
        print: Option<fn(&str)>,
    ) -> DcLoader<S> {
        DcLoader {
            batches: PlacedBatches::new(sink.clone()),
            sink,
            name,
            options,
            now: Datestamp::now(),
            batch_size: batch_size.max(1),
            filling: batch_size.clamp(1, FIRST_BATCH),
            lines_with_content: 0,
            summary: ImportSummary::default(),
            messages: Vec::new(),
            print,
        }
    }

    /// Refuses a line.
    pub fn reject(&mut self, line: usize, message: String) {
        self.summary.rejected += 1;
        self.message(line, message);
    }

    fn message(&mut self, line: usize, message: String) {
        let text = ImportError::Parse {
            path: self.name.clone(),
            line,
            message,
        }
        .to_string();
        match self.print {
            Some(print) => print(&text),
            None if self.messages.len() < MAX_KEPT_MESSAGES => self.messages.push(text),
            None => {}
        }
    }

    /// Handles one line (without its line end).
    ///
    /// # Errors
    /// A storage failure, of the batch this line completes or of the one written before it;
    /// nothing after the failed batch is written.
    pub fn line(&mut self, line_no: usize, bytes: &[u8]) -> Result<(), StoreError> {
        // Vectorised: validating each line with `std` was a twentieth of an import's CPU.
        let Ok(text) = simdutf8::basic::from_utf8(bytes) else {
            self.reject(line_no, "not UTF-8 text".into());
            return Ok(());
        };
        let mut text = text.trim_end_matches('\r');
        if line_no == 1 {
            // A byte-order mark, as some editors write, is not part of the first line's JSON.
            text = text.trim_start_matches('\u{FEFF}');
        }
        if text.trim().is_empty() {
            return Ok(());
        }
        self.lines_with_content += 1;
        match parse_line(text) {
            Ok(Item::Record(mut r)) => {
                if let Some(d) = r.datestamp.filter(|d| *d > self.now) {
                    self.reject(
                        line_no,
                        format!("datestamp {d} is in the future: the record would be hidden from every list until then"),
                    );
                    return Ok(());
                }
                if !self.options.keep_datestamps && r.datestamp.take().is_some() {
                    self.summary.ignored_datestamps += 1;
                }
                if self.batches.push(r, line_no) >= self.filling {
                    self.flush()?;
                }
            }
            Ok(Item::Set(s)) => {
                self.sink
                    .define_set(&s.spec, &s.name, s.description.as_ref())?;
                self.summary.sets += 1;
            }
            Err(message) => self.reject(line_no, message),
        }
        Ok(())
    }

    /// Hands the batch to the writer thread, and accounts for the one it wrote before.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.filling = (self.filling * 2).min(self.batch_size);
        if let Some(written) = self.batches.send()? {
            self.account(&written);
        }
        Ok(())
    }

    fn account(&mut self, written: &WrittenBatch) {
        for (line, refusal) in written.refusals() {
            self.message(line, refusal.to_string());
        }
        self.summary.record(written.outcome());
    }

    /// Writes what is left and returns the counts and the kept messages.
    ///
    /// # Errors
    /// A storage failure.
    pub fn finish(mut self) -> Result<(ImportSummary, Vec<String>), StoreError> {
        self.flush()?;
        if let Some(written) = self.batches.wait()? {
            self.account(&written);
        }
        self.summary.nothing_to_import = self.lines_with_content == 0;
        Ok((self.summary, self.messages))
    }
}

/// Cuts a byte stream into numbered lines for a [`DcLoader`], holding at most one line, and
/// never more than its limit of one.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max: usize,
    overlong: bool,
    line: usize,
}

impl LineSplitter {
    /// A splitter refusing lines longer than `max` bytes.
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            partial: Vec::new(),
            max,
            overlong: false,
            line: 0,
        }
    }

    fn too_long<S: RecordSink + Clone + Send + 'static>(&mut self, loader: &mut DcLoader<S>) {
        loader.reject(
            self.line,
            format!("the line is longer than {} bytes", self.max),
        );
        self.overlong = false;
        self.partial = Vec::new();
    }

    /// Hands every line completed by `chunk` to `loader`.
    ///
    /// # Errors
    /// A storage failure of the loader.
    pub fn push<S: RecordSink + Clone + Send + 'static>(
        &mut self,
        chunk: &[u8],
        loader: &mut DcLoader<S>,
    ) -> Result<(), StoreError> {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let piece = &rest[..pos];
            rest = &rest[pos + 1..];
            self.line += 1;
            if self.overlong || self.partial.len() + piece.len() > self.max {
                self.too_long(loader);
            } else if self.partial.is_empty() {
                loader.line(self.line, piece)?;
            } else {
                self.partial.extend_from_slice(piece);
                let line = std::mem::take(&mut self.partial);
                loader.line(self.line, &line)?;
            }
        }
        if !self.overlong {
            if self.partial.len() + rest.len() > self.max {
                self.overlong = true;
                self.partial = Vec::new();
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
        Ok(())
    }

    /// Hands the last line, if it has no line end, to `loader`.
    ///
    /// # Errors
    /// A storage failure of the loader.
    pub fn finish<S: RecordSink + Clone + Send + 'static>(
        &mut self,
        loader: &mut DcLoader<S>,
    ) -> Result<(), StoreError> {
        if self.overlong {
            self.line += 1;
            self.too_long(loader);
        } else if !self.partial.is_empty() {
            self.line += 1;
            let line = std::mem::take(&mut self.partial);
            loader.line(self.line, &line)?;
        }
        Ok(())
    }
}

fn char_name(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Refuses a value language that is not a language tag (it would make the record's
/// `xml:lang` invalid in every response).
fn check_languages(dc: &DcRecord) -> Result<(), String> {
    for (element, value) in dc.iter() {
        if let Some(lang) = value.lang.as_deref().filter(|l| !is_xml_language(l)) {
            return Err(format!(
                "the language {lang:?} of a {element:?} value is not a language tag such as \"fr\" or \"en-GB\""
            ));
        }
    }
    Ok(())
}

/// Writes every set, then every record, of the store as JSON Lines, in a stable order.
///
/// # Errors
/// A storage or write failure.
pub fn export(store: &Store, out: &mut dyn Write) -> anyhow::Result<u64> {
    for set in store.iter_sets() {
        let set = set?;
        let line = SetLine {
            spec: set.spec.to_string(),
            name: set.name,
            description: set.description,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    let mut n = 0;
    for item in store.iter_records() {
        let (id, record) = item?;
        let line = record_line(store, id, record)?;
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

fn record_line(store: &Store, id: String, record: StoredRecord) -> Result<RecordLine, StoreError> {
    let dc = if record.deleted {
        DcRecord::new()
    } else {
        store.dc(&id)?.unwrap_or_default()
    };
    Ok(RecordLine {
        datestamp: Some(Datestamp::from_unix(record.datestamp).to_string()),
        id,
        sets: record.sets,
        deleted: record.deleted,
        dc,
        local: record.local_fields,
        origin: record.origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::testing::SharedSink;

    #[test]
    fn a_bad_line_says_why() {
        assert!(parse_line("{").unwrap_err().contains("not JSON"));
        assert!(parse_line(r#"{"id":"nope","dc":{"title":"t"}}"#)
            .unwrap_err()
            .contains("not a valid identifier"));
        assert!(parse_line(r#"{"id":"oai:x:1","dc":{}}"#)
            .unwrap_err()
            .contains("no Dublin Core"));
        assert!(
            parse_line(r#"{"id":"oai:x:1","datestamp":"yesterday","dc":{"title":"t"}}"#)
                .unwrap_err()
                .contains("datestamp")
        );
        assert!(
            parse_line(r#"{"id":"oai:x:1","dc":{"title":"t"},"color":"red"}"#)
                .unwrap_err()
                .contains("color")
        );
    }

    #[test]
    fn characters_xml_cannot_carry_are_refused_in_identifiers_and_dropped_from_names() {
        for id in [
            "oai:x:1\u{FFFE}",
            "oai:x:1\u{FFFF}",
            "oai:x:\u{FDD0}",
            "oai:x:\u{1}",
            "oai:x:\u{1FFFF}",
        ] {
            let line = serde_json::json!({"id": id, "dc": {"title": "t"}}).to_string();
            assert!(
                parse_line(&line).unwrap_err().contains("XML cannot carry"),
                "{id:?}"
            );
        }
        let line =
            r#"{"setSpec":"a","setName":"A\uFFFEB","setDescription":{"description":["x\u0001y"]}}"#;
        let Item::Set(set) = parse_line(line).unwrap() else {
            panic!("a set line");
        };
        assert_eq!(set.name, "AB");
        assert_eq!(
            set.description
                .unwrap()
                .get(crate::dc::DcElement::Description)[0]
                .value,
            "xy"
        );
        assert!(
            parse_line(r#"{"id":"oai:x:1","dc":{"title":{"value":"t","lang":"f r"}}}"#)
                .unwrap_err()
                .contains("language")
        );
    }

    #[test]
    fn lines_are_cut_whatever_the_chunks_and_a_byte_order_mark_or_an_overlong_line_is_handled() {
        let store = Store::temporary().unwrap();
        let mut loader = DcLoader::new(store.clone(), "f".into(), DcOptions::default(), 2, None);
        let mut lines = LineSplitter::new(64);
        let input = format!(
            "\u{FEFF}{{\"id\":\"oai:x:1\",\"dc\":{{\"title\":\"a\"}}}}\r\n{}\n{{\"id\":\"oai:x:2\",\"dc\":{{\"title\":\"b\"}}}}",
            "x".repeat(100)
        );
        for chunk in input.as_bytes().chunks(5) {
            lines.push(chunk, &mut loader).unwrap();
        }
        lines.finish(&mut loader).unwrap();
        let (summary, messages) = loader.finish().unwrap();
        assert_eq!((summary.added, summary.rejected), (2, 1), "{messages:?}");
        assert_eq!(messages, ["f:2: the line is longer than 64 bytes"]);
        assert!(store.get("oai:x:2").unwrap().is_some());
    }

    #[test]
    fn a_record_of_another_origin_is_refused_by_its_own_line_whatever_its_batch() {
        let store = Store::temporary().unwrap();
        for n in [2, 6] {
            let mut harvested = RecordInput::dc(
                OaiIdentifier::parse(&format!("oai:x:{n}")).unwrap(),
                DcRecord::default(),
            );
            harvested.origin = Origin::Source("up".into());
            store.put(harvested).unwrap();
        }
        let mut loader = DcLoader::new(store.clone(), "f".into(), DcOptions::default(), 2, None);
        let mut lines = LineSplitter::new(MAX_LINE_BYTES);
        for n in 1..=7 {
            let line = format!("{{\"id\":\"oai:x:{n}\",\"dc\":{{\"title\":\"t\"}}}}\n");
            lines.push(line.as_bytes(), &mut loader).unwrap();
        }
        lines.finish(&mut loader).unwrap();
        let (summary, messages) = loader.finish().unwrap();
        assert_eq!((summary.added, summary.rejected), (5, 2), "{messages:?}");
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].starts_with("f:2: oai:x:2 belongs to source:up"),
            "{messages:?}"
        );
        assert!(
            messages[1].starts_with("f:6: oai:x:6 belongs to source:up"),
            "{messages:?}"
        );
    }

    #[test]
    fn any_record_sink_takes_the_records_in_order_and_the_sets() {
        let sink = SharedSink::default();
        let mut loader = DcLoader::new(sink.clone(), "f".into(), DcOptions::default(), 2, None);
        let mut lines = LineSplitter::new(MAX_LINE_BYTES);
        let input = (1..=5)
            .map(|n| format!("{{\"id\":\"oai:x:{n}\",\"dc\":{{\"title\":\"t\"}}}}\n"))
            .chain(["{\"setSpec\":\"a\",\"setName\":\"A\"}\n".to_owned()])
            .collect::<String>();
        lines.push(input.as_bytes(), &mut loader).unwrap();
        lines.finish(&mut loader).unwrap();
        let (summary, _) = loader.finish().unwrap();
        assert_eq!((summary.added, summary.sets), (5, 1));
        let seen = sink.sink();
        let ids: Vec<_> = seen
            .records
            .borrow()
            .iter()
            .map(|r| r.identifier.to_string())
            .collect();
        assert_eq!(
            ids,
            (1..=5).map(|n| format!("oai:x:{n}")).collect::<Vec<_>>()
        );
        let sets: Vec<_> = seen.sets.borrow().keys().cloned().collect();
        assert_eq!(sets, ["a"]);
    }

    #[test]
    fn a_deleted_record_needs_no_metadata() {
        let Item::Record(r) =
            parse_line(r#"{"id":"oai:x:1","deleted":true,"sets":["a:b"]}"#).unwrap()
        else {
            panic!("a record line");
        };
        assert!(r.deleted);
        assert_eq!(r.sets, [SetSpec::parse("a:b").unwrap()]);
    }
}
