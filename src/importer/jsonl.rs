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

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::dc::DcRecord;
use crate::protocol::{Datestamp, OaiIdentifier, SetInfo, SetSpec};
use crate::store::{Origin, RecordInput, Store, StoreError, StoredRecord};

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
            if s.name.trim().is_empty() {
                return Err("setName is empty".into());
            }
            Ok(Item::Set(SetInfo {
                spec,
                name: s.name,
                description: s.description,
            }))
        }
        Line::Record(r) => {
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
