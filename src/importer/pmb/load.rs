//! PMB displays into a store: the mapped records become OAI records `oai:REPO:KIND/ID`, their
//! sets are defined with readable names (the parent sets `doctype`, `periodical` and `lang`
//! too) before the records that use them, and every rejected record is reported by file and
//! line. Used by `moisson import pmb`, the admin API and the demo store.

use std::path::Path;

use super::MappedRecord;
use crate::importer::batch::{is_blank, Item, Placing};
use crate::importer::{ImportError, ImportSummary};
use crate::protocol::{OaiIdentifier, SetSpec};
use crate::store::{RecordInput, RecordSink, StoreError};

/// The parent sets the PMB mapping puts records beneath, with their names.
pub const PARENT_SETS: &[(&str, &str)] = &[
    ("doctype", "Document types"),
    ("periodical", "Periodicals"),
    ("lang", "Languages"),
];

/// How PMB displays are loaded.
#[derive(Debug, Clone)]
pub struct PmbOptions {
    /// The repositoryIdentifier the OAI identifiers are made with.
    pub repository_identifier: String,
    /// Write nothing: only count what would change.
    pub dry_run: bool,
}

/// A set a record belongs to and its name; `rename` says whether a set already named
/// otherwise takes this name (periodicals and document types follow the catalogue) or keeps
/// its own (a language set someone named).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedSet {
    /// The setSpec.
    pub spec: SetSpec,
    /// The setName.
    pub name: String,
    /// Whether an existing, different name is replaced.
    pub rename: bool,
}

/// Turns a mapped PMB record into a record for the store (OAI identifier `oai:REPO:KIND/ID`)
/// and the sets to define for it.
///
/// # Errors
/// When the identifier or a setSpec cannot be formed.
pub fn record_input(
    mapped: MappedRecord,
    repository_identifier: &str,
) -> Result<(RecordInput, Vec<NamedSet>), String> {
    let id = format!("oai:{repository_identifier}:{}", mapped.local_id);
    let identifier = OaiIdentifier::parse(&id)
        .ok_or_else(|| format!("\"{id}\" is not a valid OAI identifier"))?;
    let mut sets = Vec::new();
    let mut defs = Vec::new();
    for def in mapped.sets {
        let spec = SetSpec::parse(&def.spec)
            .ok_or_else(|| format!("\"{}\" is not a valid setSpec", def.spec))?;
        sets.push(spec.clone());
        let rename = !def.spec.starts_with("lang:");
        defs.push(NamedSet {
            spec,
            name: def.name,
            rename,
        });
    }
    let mut input = RecordInput::dc(identifier, mapped.dc);
    input.sets = sets;
    input.local_fields = mapped.local_fields;
    Ok((input, defs))
}

/// Defines `set` (and its parent, when it is one of [`PARENT_SETS`]) unless already named as
/// wanted; returns how many sets were written. A set named by its own spec was named by
/// nobody (the store names sets it has to create that way) and is always renamed.
///
/// # Errors
/// A storage failure.
pub fn define_named_set<S: RecordSink + ?Sized>(
    store: &S,
    set: &NamedSet,
) -> Result<u64, StoreError> {
    let mut written = 0;
    let top = set.spec.as_ref().split(':').next().unwrap_or_default();
    if let Some((spec, name)) = PARENT_SETS.iter().find(|(s, _)| *s == top) {
        if let Some(parent) = SetSpec::parse(spec) {
            written += define_if_unnamed(store, &parent, name, false)?;
        }
    }
    written += define_if_unnamed(store, &set.spec, &set.name, set.rename)?;
    Ok(written)
}

/// Defines a set unless it already has this name (or, without `rename`, any real name).
///
/// # Errors
/// A storage failure.
pub fn define_if_unnamed<S: RecordSink + ?Sized>(
    store: &S,
    spec: &SetSpec,
    name: &str,
    rename: bool,
) -> Result<u64, StoreError> {
    let current = store.set_name(spec)?;
    let keep = match current.as_deref() {
        None => false,
        Some(c) if c == name => true,
        Some(c) if c == spec.as_ref() => false,
        Some(_) => !rename,
    };
    if keep {
        return Ok(0);
    }
    store.define_set(spec, name, None)?;
    Ok(1)
}

/// What one file of displays gave: its records ready for the store (with their sets, the
/// characters stripped and their line), and its rejections by line.
#[derive(Debug, Default)]
pub struct FileItems {
    /// The records, in file order.
    pub records: Vec<(RecordInput, Vec<NamedSet>, usize, usize)>,
    /// (line, reason) of each rejected record; line 0 concerns the whole file.
    pub rejections: Vec<(usize, String)>,
}

/// Parses and maps the bytes of one display file. A file that is not a display at all
/// (binary, or text without one PMB field label) gives one rejection for the whole file.
pub fn file_items(bytes: &[u8], repository_identifier: &str) -> FileItems {
    let mut items = FileItems::default();
    let results = match super::import_bytes(bytes) {
        Ok(results) => results,
        // Binary, mixed encodings, mojibake, or no PMB label: the file as a whole.
        Err(e) => {
            items.rejections.push((0, e.to_string()));
            return items;
        }
    };
    for result in results {
        match result {
            Ok(mapped) => {
                let (line, stripped) = (mapped.line, mapped.stripped_chars);
                match record_input(mapped, repository_identifier) {
                    Ok((input, sets)) => items.records.push((input, sets, stripped, line)),
                    Err(m) => items.rejections.push((line, m)),
                }
            }
            Err(e) => items.rejections.push((e.line(), e.to_string())),
        }
    }
    items
}

/// True when every record of the file can be imported (what `--strict` checks first); an empty
/// file has nothing to refuse.
pub fn file_is_clean(bytes: &[u8], repository_identifier: &str) -> bool {
    is_blank(bytes)
        || file_items(bytes, repository_identifier)
            .rejections
            .is_empty()
}

/// The items of one display file for [`crate::importer::batch`], its rejections first.
pub fn items<'a>(
    name: &'a Path,
    bytes: &[u8],
    repository_identifier: &str,
) -> impl Iterator<Item = Item> + 'a {
    let items = file_items(bytes, repository_identifier);
    let rejected = items.rejections.into_iter().map(move |(line, message)| {
        Item::Rejected(if line == 0 {
            ImportError::NotFormat {
                path: name.to_path_buf(),
                message,
            }
        } else {
            ImportError::Parse {
                path: name.to_path_buf(),
                line,
                message,
            }
        })
    });
    let records = items
        .records
        .into_iter()
        .map(|(input, sets, stripped, at)| Item::Record {
            input: Box::new(input),
            sets,
            stripped,
            at,
        });
    rejected.chain(records)
}

/// A display's records are placed by line; every set is named as each record gives it.
pub const PLACING: Placing = Placing {
    refusal: |name, line, _, message| ImportError::Parse {
        path: name.to_path_buf(),
        line,
        message,
    },
    other_origin: "belongs to another origin: it would not be overwritten",
    name_sets_once: false,
};

/// Adds the counts of one file to those of a whole import.
pub fn add(total: &mut ImportSummary, file: &ImportSummary) {
    total.added += file.added;
    total.updated += file.updated;
    total.deleted += file.deleted;
    total.unchanged += file.unchanged;
    total.rejected += file.rejected;
    total.sets += file.sets;
    total.stripped_characters += file.stripped_characters;
    total.ignored_datestamps += file.ignored_datestamps;
    total.skipped += file.skipped;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::testing::SharedSink;
    use crate::importer::FileFormat;
    use crate::store::Store;

    const SEED: &[u8] = include_bytes!("../../demo/bulletin-44933.txt");

    #[test]
    fn files_that_are_not_displays_are_refused_once_for_the_whole_file() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10";
        for bytes in [
            &include_bytes!("../../../README.md")[..],
            &include_bytes!("../../../Cargo.toml")[..],
            &png[..],
            b"{\"id\":\"oai:x:1\",\"dc\":{\"title\":\"t\"}}\n",
        ] {
            let items = file_items(bytes, "x.example.org");
            assert!(items.records.is_empty(), "{:?}", items.records);
            assert_eq!(items.rejections.len(), 1, "{:?}", items.rejections);
        }
        let items = file_items(include_bytes!("../../../README.md"), "x.example.org");
        assert!(items.rejections[0].1.contains("not a PMB display"));
    }

    /// Imports the seed display into `store` as `import pmb` does.
    fn load_seed<S: RecordSink + Clone + Send + 'static>(store: &S) -> ImportSummary {
        let format = FileFormat::Pmb(PmbOptions {
            repository_identifier: "x.example.org".into(),
            dry_run: false,
        });
        format
            .load_file(Some(store), Path::new("seed"), SEED, &mut |e| panic!("{e}"))
            .expect("loaded")
    }

    #[test]
    fn a_file_loads_into_any_record_sink_with_its_sets_named() {
        let shared = SharedSink::default();
        let summary = load_seed(&shared);
        assert_eq!(summary.added, 1);
        let sink = shared.sink();
        let records = sink.records.borrow();
        assert_eq!(records.len(), 1);
        assert!(records[0].dc.is_some());
        let sets = sink.sets.borrow();
        assert_eq!(sets.get("lang:fre").map(String::as_str), Some("Français"));
        assert_eq!(sets.get("lang").map(String::as_str), Some("Languages"));
    }

    #[test]
    fn a_language_set_and_the_parent_sets_are_named_before_the_record() {
        let store = Store::temporary().unwrap();
        let summary = load_seed(&store);
        assert_eq!(summary.added, 1);
        let name = |s: &str| store.set_name(&SetSpec::parse(s).unwrap()).unwrap();
        assert_eq!(name("lang:fre").as_deref(), Some("Français"));
        assert_eq!(name("lang").as_deref(), Some("Languages"));
        assert_eq!(name("doctype").as_deref(), Some("Document types"));
        assert_eq!(name("periodical").as_deref(), Some("Periodicals"));
        let record = store
            .get("oai:x.example.org:bulletin/44933")
            .unwrap()
            .unwrap();
        assert!(
            record.sets.contains(&"lang:fre".to_owned()),
            "{:?}",
            record.sets
        );
    }

    #[test]
    fn a_set_someone_named_keeps_its_name_unless_the_catalogue_renames_it() {
        let store = Store::temporary().unwrap();
        let lang = SetSpec::parse("lang:fre").unwrap();
        store.define_set(&lang, "In French", None).unwrap();
        assert_eq!(
            define_if_unnamed(&store, &lang, "Français", false).unwrap(),
            0
        );
        assert_eq!(store.set_name(&lang).unwrap().as_deref(), Some("In French"));
        let auto = SetSpec::parse("doctype").unwrap();
        store.define_set(&auto, "doctype", None).unwrap();
        assert_eq!(
            define_if_unnamed(&store, &auto, "Document types", false).unwrap(),
            1
        );
        assert_eq!(
            define_if_unnamed(&store, &lang, "Français", true).unwrap(),
            1
        );
    }
}
