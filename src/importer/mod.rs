//! Importers: turn files into [`RecordInput`](crate::store::RecordInput)s for a
//! [`RecordSink`], reporting every rejected line by file and line.
//!
//! [`pmb`] reads PMB OPAC displays; [`unimarc`] reads PMB's UNIMARC (its OAI `pmb_xml_unimarc`,
//! XML and ISO 2709 exports); both map to the same [`pmb::MappedRecord`].

pub mod batch;
pub mod jsonl;
pub mod pmb;
#[cfg(test)]
mod testing;
pub mod unimarc;

use std::path::{Path, PathBuf};

use crate::store::{RecordSink, StoreError};
use pmb::load::PmbOptions;
use unimarc::load::UnimarcOptions;

/// Bytes of a file [`FileFormat::check`] judges it by: a file no larger is judged whole, as
/// its import would judge it, and a larger one is never held whole only to be judged.
pub const JUDGE_BYTES: usize = 1 << 20;

/// A format imported file by file (each file read whole), with its options: PMB displays or
/// PMB UNIMARC exports, which `import pmb`, `import unimarc` and the admin API treat alike.
#[derive(Debug, Clone)]
pub enum FileFormat {
    /// PMB OPAC displays.
    Pmb(PmbOptions),
    /// PMB UNIMARC exports (XML or ISO 2709).
    Unimarc(UnimarcOptions),
}

impl FileFormat {
    /// The format's name, as the `import` subcommand and the admin route spell it.
    pub fn name(&self) -> &'static str {
        match self {
            FileFormat::Pmb(_) => "pmb",
            FileFormat::Unimarc(_) => "unimarc",
        }
    }

    /// Whether nothing is to be written.
    pub fn dry_run(&self) -> bool {
        match self {
            FileFormat::Pmb(o) => o.dry_run,
            FileFormat::Unimarc(o) => o.dry_run,
        }
    }

    /// The same format and options, with `dry_run` set.
    #[must_use]
    pub fn with_dry_run(&self, dry_run: bool) -> FileFormat {
        let mut format = self.clone();
        match &mut format {
            FileFormat::Pmb(o) => o.dry_run = dry_run,
            FileFormat::Unimarc(o) => o.dry_run = dry_run,
        }
        format
    }

    /// Checks, without mapping anything, that a non-empty file may be of this format, from
    /// `head`: the whole file when `whole`, else its first [`JUDGE_BYTES`]. A larger file is
    /// refused only for what no later byte can redeem (binary data; for UNIMARC, a start that
    /// is neither XML nor ISO 2709): whatever else its start says, its import judges it.
    ///
    /// # Errors
    /// Why the whole file is not of this format, as its import would say.
    pub fn check(&self, head: &[u8], whole: bool) -> Result<(), String> {
        fn said<T, E: std::fmt::Display>(judged: Result<T, E>) -> Result<(), String> {
            judged.map(drop).map_err(|e| e.to_string())
        }
        match (self, whole) {
            (FileFormat::Pmb(_), true) => said(pmb::check_display(head)),
            (FileFormat::Pmb(_), false) => said(pmb::check_start(head)),
            (FileFormat::Unimarc(_), true) => said(unimarc::read(head)),
            // White space may go on past the start: only what follows it tells.
            (FileFormat::Unimarc(_), false) if batch::is_blank(head) => Ok(()),
            (FileFormat::Unimarc(_), false) => said(unimarc::detect(head)),
        }
    }

    /// True when every record of the file `name` can be imported (what `--strict` checks).
    pub fn file_is_clean(&self, name: &Path, bytes: &[u8]) -> bool {
        match self {
            FileFormat::Pmb(o) => pmb::load::file_is_clean(bytes, &o.repository_identifier),
            FileFormat::Unimarc(o) => unimarc::load::file_is_clean(name, bytes, o),
        }
    }

    /// Writes (or, in a dry run, classifies) the records of the file `name`, reporting each
    /// rejection and refusal by file and line or record through `report`, each batch written
    /// on a thread of its own while the next is read. With no store (a dry run before the
    /// store exists), every record counts as added; a blank file is "nothing to import".
    ///
    /// # Errors
    /// A storage failure; the batch in flight is then not written.
    pub fn load_file<S: RecordSink + Clone + Send + 'static>(
        &self,
        store: Option<&S>,
        name: &Path,
        bytes: &[u8],
        report: &mut dyn FnMut(ImportError),
    ) -> Result<ImportSummary, StoreError> {
        if batch::is_blank(bytes) {
            return Ok(batch::blank_file());
        }
        let (items, placing): (Box<dyn Iterator<Item = batch::Item>>, _) = match self {
            FileFormat::Pmb(o) => (
                Box::new(pmb::load::items(name, bytes, &o.repository_identifier)),
                &pmb::load::PLACING,
            ),
            FileFormat::Unimarc(o) => (
                unimarc::load::items_or_refusal(name, bytes, o),
                &unimarc::load::PLACING,
            ),
        };
        let file = batch::File::new(name, placing, self.dry_run());
        batch::write_items_pipelined(store, &file, items, report)
    }
}

/// An import failure.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// One record could not be read; the others go on.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The input file (`-` for standard input).
        path: PathBuf,
        /// 1-based line where the record starts.
        line: usize,
        /// Why it was rejected.
        message: String,
    },
    /// One record of a UNIMARC file could not be read or mapped; the others go on (unless
    /// the file cannot be read past it, which the message says).
    #[error("{path}:record {record} ({place}): {message}")]
    Record {
        /// The input file (`-` for standard input).
        path: PathBuf,
        /// 1-based number of the record in the file.
        record: usize,
        /// Where it starts: `line N` in XML, `byte N` in ISO 2709.
        place: String,
        /// Why it was rejected.
        message: String,
    },
    /// The input is not in the importer's format (a binary file, a README…): nothing of it
    /// was imported.
    #[error("{path}: {message}: nothing imported")]
    NotFormat {
        /// The input file (`-` for standard input).
        path: PathBuf,
        /// What it is instead.
        message: String,
    },
    /// The input could not be read at all.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The input file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed; nothing of the failed batch was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Counts reported after an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportSummary {
    /// New records.
    pub added: u64,
    /// Changed records (new datestamp).
    pub updated: u64,
    /// Records turned into tombstones.
    pub deleted: u64,
    /// Records whose content did not change (datestamp kept).
    pub unchanged: u64,
    /// Records refused, each reported with file and line.
    pub rejected: u64,
    /// Set definitions written.
    pub sets: u64,
    /// Characters illegal in XML 1.0 removed.
    pub stripped_characters: u64,
    /// Given datestamps not kept: the records were stamped when written.
    #[serde(default)]
    pub ignored_datestamps: u64,
    /// Records recognised and deliberately not published (PMB's dummy `<id>-bull` notices).
    #[serde(default)]
    pub skipped: u64,
    /// True when the input held no record and no set at all (an empty file).
    #[serde(default)]
    pub nothing_to_import: bool,
}

impl ImportSummary {
    /// Adds the outcomes of one written batch.
    pub fn record(&mut self, outcome: &crate::store::BatchOutcome) {
        for o in &outcome.outcomes {
            self.count(*o);
        }
        self.stripped_characters += outcome.stripped_characters as u64;
    }

    /// Counts one outcome.
    pub fn count(&mut self, outcome: crate::store::PutOutcome) {
        use crate::store::PutOutcome;
        match outcome {
            PutOutcome::Added => self.added += 1,
            PutOutcome::Updated => self.updated += 1,
            PutOutcome::Deleted => self.deleted += 1,
            PutOutcome::Unchanged => self.unchanged += 1,
            PutOutcome::Rejected => self.rejected += 1,
        }
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nothing_to_import && self.rejected == 0 {
            return f.write_str("nothing to import (the input is empty)");
        }
        write!(
            f,
            "added {}, updated {}, deleted {}, unchanged {}, rejected {}",
            self.added, self.updated, self.deleted, self.unchanged, self.rejected
        )?;
        if self.skipped > 0 {
            write!(
                f,
                ", skipped {} (PMB placeholders for a bulletin's items, not documents)",
                self.skipped
            )?;
        }
        if self.sets > 0 {
            write!(f, ", sets {}", self.sets)?;
        }
        if self.stripped_characters > 0 {
            write!(
                f,
                ", {} characters illegal in XML removed",
                self.stripped_characters
            )?;
        }
        if self.ignored_datestamps > 0 {
            write!(
                f,
                ", {} given datestamps not kept (records are stamped when written; --keep-datestamps loads a new store with them)",
                self.ignored_datestamps
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn formats() -> [FileFormat; 2] {
        let repository_identifier = "x.example.org".to_owned();
        [
            FileFormat::Pmb(PmbOptions {
                repository_identifier: repository_identifier.clone(),
                dry_run: false,
            }),
            FileFormat::Unimarc(UnimarcOptions {
                repository_identifier,
                dry_run: false,
                crosswalk: unimarc::CrosswalkOptions::default(),
            }),
        ]
    }

    #[test]
    fn the_start_of_a_larger_file_is_refused_only_for_what_no_later_byte_redeems() {
        let readme = include_bytes!("../../README.md");
        let mut binary = b"%PDF-1.7\n".to_vec();
        binary.extend([0u8; 64]);
        for format in formats() {
            let whole = format.check(&binary, true).expect_err("binary");
            assert_eq!(
                format.check(&binary, false),
                Err(whole),
                "{}",
                format.name()
            );
            assert!(format.check(readme, true).is_err(), "{}", format.name());
            assert!(format.check(b"\n \n", false).is_ok(), "{}", format.name());
        }
        // A display's first label may come later, and a UNIMARC export's may not be a README.
        let [pmb, unimarc] = formats();
        assert!(pmb.check(readme, false).is_ok());
        assert!(unimarc.check(readme, false).is_err());
    }
}
