//! PMB UNIMARC exports ("UNIMARC PMB XML", "UNIMARC ISO2709") into a store, as
//! `moisson import unimarc` and `POST /admin/import/unimarc` do: the same identifiers
//! (`oai:REPO:bulletin/<id>`, `…:notice/<id>`), sets (per periodical, document type and
//! language, parents named) and report as `import pmb` (see [`crate::importer::pmb::load`]),
//! so the same bulletin imported from a display and from UNIMARC is the same record.
//!
//! A file is read record by record and written in batches: one bad record is reported by
//! file, record number and line (XML) or byte offset (ISO 2709), and never hides the others.

use std::path::Path;

use super::{import_bytes, CrosswalkOptions, Format, Mapped, UnimarcError};
use crate::importer::batch::{is_blank, Item, Placing};
use crate::importer::pmb::load::record_input;
use crate::importer::ImportError;

/// How UNIMARC files are loaded.
#[derive(Debug, Clone)]
pub struct UnimarcOptions {
    /// The repositoryIdentifier the OAI identifiers are made with.
    pub repository_identifier: String,
    /// Write nothing: only count what would change.
    pub dry_run: bool,
    /// The PMB the files come from (OPAC URL, keyword separator).
    pub crosswalk: CrosswalkOptions,
}

fn record_error(name: &Path, format: Format, e: &UnimarcError) -> ImportError {
    let Some(at) = e.position() else {
        return ImportError::NotFormat {
            path: name.to_path_buf(),
            message: e.to_string(),
        };
    };
    let place = match format {
        Format::PmbXml => format!("line {}", at.line),
        Format::Iso2709 => format!("byte {}", at.offset),
    };
    let text = e.to_string();
    let message = text
        .strip_prefix(&format!("{at}: "))
        .map_or_else(|| text.clone(), str::to_owned);
    ImportError::Record {
        path: name.to_path_buf(),
        record: at.record,
        place,
        message,
    }
}

/// The items of one file, in order; `Err` for a file that is not UNIMARC at all.
fn items<'a>(
    name: &'a Path,
    bytes: &'a [u8],
    options: &'a UnimarcOptions,
) -> Result<impl Iterator<Item = Item> + 'a, ImportError> {
    let format = super::detect(bytes).map_err(|e| ImportError::NotFormat {
        path: name.to_path_buf(),
        message: e.to_string(),
    })?;
    let results = import_bytes(bytes, &options.crosswalk).map_err(|e| ImportError::NotFormat {
        path: name.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut number = 0;
    Ok(results.map(move |result| {
        number += 1;
        match result {
            Ok(Mapped::Skipped(_)) => Item::Skipped,
            Ok(Mapped::Record(m)) => {
                let stripped = m.stripped_chars;
                match record_input(*m, &options.repository_identifier) {
                    Ok((input, sets)) => Item::Record {
                        input: Box::new(input),
                        sets,
                        stripped,
                        at: number,
                    },
                    Err(message) => Item::Rejected(ImportError::Record {
                        path: name.to_path_buf(),
                        record: number,
                        place: "its 001".into(),
                        message,
                    }),
                }
            }
            Err(e) => Item::Rejected(record_error(name, format, &e)),
        }
    }))
}

/// True when every record of the file can be imported (what `--strict` checks first).
pub fn file_is_clean(name: &Path, bytes: &[u8], options: &UnimarcOptions) -> bool {
    if is_blank(bytes) {
        return true;
    }
    items(name, bytes, options)
        .is_ok_and(|mut items| !items.any(|item| matches!(item, Item::Rejected(_))))
}

/// The items of one UNIMARC file for [`crate::importer::batch`]: its records, or one refusal
/// for a file that is not UNIMARC at all.
pub fn items_or_refusal<'a>(
    name: &'a Path,
    bytes: &'a [u8],
    options: &'a UnimarcOptions,
) -> Box<dyn Iterator<Item = Item> + 'a> {
    match items(name, bytes, options) {
        Ok(items) => Box::new(items),
        Err(e) => Box::new(std::iter::once(Item::Rejected(e))),
    }
}

/// A UNIMARC record is placed by its number and identifier; a set is looked at once a file.
pub const PLACING: Placing = Placing {
    refusal: |name, record, identifier, message| ImportError::Record {
        path: name.to_path_buf(),
        record,
        place: identifier.to_owned(),
        message,
    },
    other_origin: "belongs to another origin (a harvested source): it would not be overwritten",
    name_sets_once: true,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::{FileFormat, ImportSummary};
    use crate::store::Store;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/pmb/export");

    fn options(dry_run: bool) -> UnimarcOptions {
        UnimarcOptions {
            repository_identifier: "x.example.org".into(),
            dry_run,
            crosswalk: CrosswalkOptions::default(),
        }
    }

    /// Imports `bytes` as the file `name` as `import unimarc` does, each error to `report`.
    fn load(
        store: Option<&Store>,
        name: &str,
        bytes: &[u8],
        report: &mut dyn FnMut(ImportError),
    ) -> ImportSummary {
        FileFormat::Unimarc(options(store.is_none()))
            .load_file(store, Path::new(name), bytes, report)
            .expect("no storage failure")
    }

    #[test]
    fn an_export_is_loaded_with_named_sets_and_bulletin_identifiers() {
        let store = Store::temporary().unwrap();
        let bytes = std::fs::read(format!("{FIXTURES}/notices-utf8.iso2709")).unwrap();
        let summary = load(Some(&store), "n.iso2709", &bytes, &mut |e| panic!("{e}"));
        assert_eq!((summary.added, summary.rejected), (7, 0), "{summary}");
        assert!(store
            .get("oai:x.example.org:bulletin/44933")
            .unwrap()
            .is_some());
        let name = |s: &str| {
            store
                .set_name(&crate::protocol::SetSpec::parse(s).unwrap())
                .unwrap()
        };
        assert_eq!(name("periodical").as_deref(), Some("Periodicals"));
        assert_eq!(name("lang:fre").as_deref(), Some("Français"));
        let again = load(Some(&store), "n.iso2709", &bytes, &mut |e| panic!("{e}"));
        assert_eq!(again.unchanged, 7, "{again}");
    }

    #[test]
    fn the_characters_xml_forbids_are_stripped_and_counted() {
        let xml = std::fs::read_to_string(format!("{FIXTURES}/unimarc-utf8.xml")).unwrap();
        // A serial's note (300$a), which only its description takes.
        let dirty = xml.replacen("Semestriel.", "Semes\u{1}triel\u{FFFE}.", 1);
        assert_ne!(dirty, xml, "the fixture holds the note");
        let store = Store::temporary().unwrap();
        let summary = load(Some(&store), "u.xml", dirty.as_bytes(), &mut |e| {
            panic!("{e}")
        });
        assert_eq!(summary.stripped_characters, 2, "{summary}");
        assert!(summary
            .to_string()
            .contains("2 characters illegal in XML removed"));
        let clean = load(Some(&store), "u.xml", xml.as_bytes(), &mut |e| {
            panic!("{e}")
        });
        assert_eq!(
            (clean.stripped_characters, clean.updated),
            (0, 0),
            "{clean}"
        );
    }

    #[test]
    fn a_truncated_record_is_named_by_file_record_and_byte_and_the_others_are_kept() {
        let bytes = std::fs::read(format!("{FIXTURES}/notices-utf8.iso2709")).unwrap();
        let cut = &bytes[..bytes.len() - 40];
        let mut errors = Vec::new();
        let summary = load(None, "cut.iso2709", cut, &mut |e| {
            errors.push(e.to_string());
        });
        assert_eq!((summary.added, summary.rejected), (6, 1), "{errors:?}");
        assert!(
            errors[0].starts_with("cut.iso2709:record 7 (byte "),
            "{errors:?}"
        );
        assert!(errors[0].contains("truncated"), "{errors:?}");
    }

    #[test]
    fn a_file_that_is_not_unimarc_is_refused_once() {
        let mut errors = Vec::new();
        let readme = include_bytes!("../../../README.md");
        let summary = load(None, "README.md", readme, &mut |e| {
            errors.push(e.to_string());
        });
        assert_eq!(summary.rejected, 1);
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("README.md: not UNIMARC"),
            "{errors:?}"
        );
        assert!(!file_is_clean(
            Path::new("README.md"),
            include_bytes!("../../../README.md"),
            &options(true)
        ));
    }
}
