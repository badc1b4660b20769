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

    /// Checks, without mapping anything, that a non-empty file may be of this format.
    ///
    /// # Errors
    /// Why the whole file is not of this format.
    pub fn check(&self, bytes: &[u8]) -> Result<(), String> {
        match self {
            FileFormat::Pmb(_) => pmb::check_display(bytes).map_err(|e| e.to_string()),
            FileFormat::Unimarc(_) => unimarc::read(bytes).map(drop).map_err(|e| e.to_string()),
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
