//! `moisson import dc|pmb|unimarc`: imports into the store, or, when a running `moisson serve` holds
//! it, through that server's admin API (see [`super::harvest`]), with the same report.
//!
//! The input is looked at before the store is opened: a file that cannot be read, or that
//! is not in the importer's format (a PNG, a README), is refused once, by name, and creates no
//! store. `--dry-run` creates nothing either.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use super::{open_store, ExitCode};
use crate::config::{ConfigError, Settings};
use crate::importer::batch::{blank_file, is_blank, BATCH};
use crate::importer::jsonl::{sniff, DcLoader, DcOptions, LineSplitter, Sniff, MAX_LINE_BYTES};
use crate::importer::pmb::load::{add, PmbOptions};
use crate::importer::unimarc::load::UnimarcOptions;
use crate::importer::{FileFormat, ImportError, ImportSummary, JUDGE_BYTES};
use crate::store::{is_store, Store, StoreError};

/// Bytes read to judge an input before importing it.
const SNIFF_BYTES: usize = 8 * 1024;
/// Bytes read at a time.
const CHUNK_BYTES: usize = 256 * 1024;

/// The import formats.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// JSON Lines, one record a line (`-` reads standard input); see README "Import formats".
    Dc {
        /// The file to read, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
        /// Keep the datestamps the lines give, to load a NEW store (an export of another one):
        /// refused on a store that has been served. Without it, records are stamped when
        /// written, so that incremental harvesters see every change.
        #[arg(long)]
        keep_datestamps: bool,
    },
    /// PMB catalogue displays (bulletins and notices), mapped to Dublin Core; see
    /// schemas/pmb-crosswalk.md. UTF-8 or Windows-1252 input.
    Pmb {
        /// A display file, a directory of them (read recursively), or `-` for standard input.
        #[arg(value_name = "FILE|DIR|-")]
        path: PathBuf,
        /// Parse, map and compare with the store, but write nothing (and create no store).
        #[arg(long)]
        dry_run: bool,
        /// Write nothing at all if any record is rejected.
        #[arg(long)]
        strict: bool,
    },
    /// PMB UNIMARC exports ("UNIMARC PMB XML" or "UNIMARC ISO2709", UTF-8 or ISO 5426,
    /// detected), mapped to Dublin Core; see schemas/pmb-crosswalk.md.
    Unimarc {
        /// An export file, a directory of them (read recursively), or `-` for standard input.
        #[arg(value_name = "FILE|DIR|-")]
        path: PathBuf,
        /// Parse, map and compare with the store, but write nothing (and create no store).
        #[arg(long)]
        dry_run: bool,
        /// Write nothing at all if any record is rejected.
        #[arg(long)]
        strict: bool,
        /// The PMB OPAC base URL permalinks are made with (default: [pmb] opac_url; none: no
        /// permalink), such as https://catalogue.example.org/opac_css/.
        #[arg(long, value_name = "URL")]
        opac_url: Option<String>,
        /// The separator PMB joins free keywords with in 610$a (default: [pmb]
        /// keyword_separator, else ";").
        #[arg(long, value_name = "SEP")]
        keyword_separator: Option<String>,
    },
}

impl ImportCommand {
    /// Runs the import (or hands it to the running server) and prints its summary.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        match self {
            ImportCommand::Dc {
                file,
                keep_datestamps,
            } => run_dc(settings, &file, DcOptions { keep_datestamps }),
            ImportCommand::Pmb {
                path,
                dry_run,
                strict,
            } => {
                let format = FileFormat::Pmb(PmbOptions {
                    repository_identifier: settings.repository.repository_identifier.clone(),
                    dry_run,
                });
                run_files(settings, &path, &format, strict)
            }
            ImportCommand::Unimarc {
                path,
                dry_run,
                strict,
                opac_url,
                keyword_separator,
            } => {
                let format = FileFormat::Unimarc(UnimarcOptions {
                    repository_identifier: settings.repository.repository_identifier.clone(),
                    dry_run,
                    crosswalk: settings
                        .pmb
                        .crosswalk_options(opac_url.as_deref(), keyword_separator.as_deref())?,
                });
                run_files(settings, &path, &format, strict)
            }
        }
    }
}

pub(super) fn exit_code(summary: &ImportSummary) -> ExitCode {
    if summary.rejected > 0 {
        ExitCode::Rejected
    } else {
        ExitCode::Ok
    }
}

fn print_line(line: &str) {
    super::note(format_args!("{line}"));
}

/// A JSON Lines input, opened and judged by its first bytes.
pub(super) struct DcInput {
    /// The name given on the command line (`-` for standard input).
    pub name: PathBuf,
    head: Vec<u8>,
    reader: Box<dyn Read + Send>,
}

fn open_reader(path: &Path) -> Result<Box<dyn Read + Send>, ImportError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = std::fs::File::open(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ImportError::NotFormat {
            path: path.to_path_buf(),
            message: "a directory, not a JSON Lines file".into(),
        });
    }
    Ok(Box::new(file))
}

impl DcInput {
    /// Opens `path` and reads its first bytes.
    ///
    /// # Errors
    /// [`ImportError::Read`] when it cannot be read, [`ImportError::NotFormat`] when it is not
    /// JSON Lines text (binary, not UTF-8, or text whose first line is not a JSON object).
    pub fn open(path: &Path) -> Result<DcInput, ImportError> {
        let mut reader = open_reader(path)?;
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut reader)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(|source| ImportError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if let Sniff::Refused(message) = sniff(&head) {
            return Err(ImportError::NotFormat {
                path: path.to_path_buf(),
                message,
            });
        }
        Ok(DcInput {
            name: path.to_path_buf(),
            head,
            reader,
        })
    }

    /// True when the whole input is blank: it was read to its end in the first bytes.
    fn is_blank(&self) -> bool {
        self.head.len() < SNIFF_BYTES && is_blank(&self.head)
    }

    /// The whole input, in chunks, from its first byte.
    pub fn chunks(self) -> impl Iterator<Item = std::io::Result<Vec<u8>>> + Send {
        let DcInput {
            head, mut reader, ..
        } = self;
        let mut head = Some(head);
        std::iter::from_fn(move || {
            if let Some(h) = head.take().filter(|h| !h.is_empty()) {
                return Some(Ok(h));
            }
            let mut buf = vec![0u8; CHUNK_BYTES];
            loop {
                return match reader.read(&mut buf) {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some(Ok(buf))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => Some(Err(e)),
                };
            }
        })
    }
}

fn run_dc(settings: &Settings, file: &Path, options: DcOptions) -> anyhow::Result<ExitCode> {
    let input = DcInput::open(file)?;
    if input.is_blank() {
        // Nothing to write: no store is opened or created, and no running server asked.
        note!("moisson: import {}: {}", file.display(), blank_file());
        return Ok(ExitCode::Ok);
    }
    let dir = &settings.store.data_dir;
    if options.keep_datestamps && super::has_been_served(dir) {
        return Err(keep_refused(&format!(
            "the store at {} has been served",
            dir.display()
        )));
    }
    let store = match open_store(settings) {
        Ok(store) => store,
        Err(StoreError::Locked { path }) => {
            if options.keep_datestamps {
                return Err(keep_refused(&format!(
                    "the store at {} is being served",
                    dir.display()
                )));
            }
            return super::harvest::hand_off_dc(settings, &path, input);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("Failed to open the store at {}", dir.display()))
        }
    };
    let summary = import_dc(&store, input, options)?;
    store
        .flush()
        .with_context(|| format!("Failed to flush the store at {}", dir.display()))?;
    note!("moisson: import {}: {summary}", file.display());
    Ok(exit_code(&summary))
}

fn keep_refused(why: &str) -> anyhow::Error {
    ConfigError::Invalid(format!(
        "--keep-datestamps is for loading a new store, and {why}: harvesters may already hold \
         later datestamps, so older ones would hide these records from them. Import without \
         --keep-datestamps (records are stamped when written), or into a new --data directory"
    ))
    .into()
}

/// Imports a JSON Lines input into `store`; bad lines are reported on stderr and skipped.
///
/// # Errors
/// An unreadable input or a storage failure (the batch in flight is then not written).
pub(super) fn import_dc(
    store: &Store,
    input: DcInput,
    options: DcOptions,
) -> Result<ImportSummary, ImportError> {
    let name = input.name.clone();
    let mut loader = DcLoader::new(
        store.clone(),
        name.clone(),
        options,
        BATCH,
        Some(print_line),
    );
    let mut lines = LineSplitter::new(MAX_LINE_BYTES);
    for chunk in input.chunks() {
        let chunk = chunk.map_err(|source| ImportError::Read {
            path: name.clone(),
            source,
        })?;
        lines.push(&chunk, &mut loader)?;
    }
    lines.finish(&mut loader)?;
    Ok(loader.finish()?.0)
}

/// Every regular file under `path` (itself if a file), sorted, so runs are reproducible.
pub(super) fn input_files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    if path.as_os_str() == "-" {
        return Ok(vec![path.to_path_buf()]);
    }
    let meta = std::fs::metadata(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let read_error = |source| ImportError::Read {
            path: dir.clone(),
            source,
        };
        for entry in std::fs::read_dir(&dir).map_err(read_error)? {
            let p = entry.map_err(read_error)?.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.is_file() {
                files.push(p);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads input files whole (a display is parsed whole); standard input once, however often
/// it is asked for.
#[derive(Default)]
pub(super) struct Inputs {
    stdin: Option<Vec<u8>>,
}

impl Inputs {
    /// The bytes of `file`.
    ///
    /// # Errors
    /// When it cannot be read; the error names it.
    pub fn read(&mut self, file: &Path) -> Result<Vec<u8>, ImportError> {
        let error = |source| ImportError::Read {
            path: file.to_path_buf(),
            source,
        };
        if file.as_os_str() != "-" {
            return std::fs::read(file).map_err(error);
        }
        if self.stdin.is_none() {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes).map_err(error)?;
            self.stdin = Some(bytes);
        }
        Ok(self.stdin.clone().unwrap_or_default())
    }
}

/// Judges the files before the store is opened, each by its first [`JUDGE_BYTES`]: when none
/// can hold a record (each is empty, or not of the format at all, such as a README given to
/// `import pmb`), says so for each and returns the summary, so that neither a store nor a
/// running server is needed for that.
fn judged_without_store(
    files: &[PathBuf],
    format: &FileFormat,
) -> Result<Option<ImportSummary>, ImportError> {
    let mut refusals = Vec::new();
    let mut empty = Vec::new();
    for file in files {
        // Standard input can be read once only: the import itself judges it.
        if file.as_os_str() == "-" {
            return Ok(None);
        }
        let (head, whole) = read_head(file)?;
        if whole && is_blank(&head) {
            empty.push(file);
            continue;
        }
        match format.check(&head, whole) {
            Ok(()) => return Ok(None),
            Err(message) => refusals.push(ImportError::NotFormat {
                path: file.clone(),
                message,
            }),
        }
    }
    if files.len() > 1 {
        for file in empty {
            note_empty(format, file);
        }
    }
    for refusal in &refusals {
        print_line(&refusal.to_string());
    }
    Ok(Some(ImportSummary {
        rejected: refusals.len() as u64,
        nothing_to_import: refusals.is_empty(),
        ..ImportSummary::default()
    }))
}

/// The first [`JUDGE_BYTES`] of `file`, and whether they are the whole file.
fn read_head(file: &Path) -> Result<(Vec<u8>, bool), ImportError> {
    let error = |source| ImportError::Read {
        path: file.to_path_buf(),
        source,
    };
    let mut head = Vec::new();
    // One byte more than is judged says whether the file goes on.
    let limit = JUDGE_BYTES as u64 + 1;
    std::fs::File::open(file)
        .and_then(|f| f.take(limit).read_to_end(&mut head))
        .map_err(error)?;
    let whole = head.len() <= JUDGE_BYTES;
    head.truncate(JUDGE_BYTES);
    Ok((head, whole))
}

/// Says that `file`, one of several, is empty.
fn note_empty(format: &FileFormat, file: &Path) {
    note!(
        "moisson: import {} {}: nothing to import (the file is empty)",
        format.name(),
        file.display()
    );
}

/// Imports the files under `path` in `format` into the store, or through the running server
/// that holds it, and prints the summary.
fn run_files(
    settings: &Settings,
    path: &Path,
    format: &FileFormat,
    strict: bool,
) -> anyhow::Result<ExitCode> {
    let files = input_files(path)?;
    if let Some(summary) = judged_without_store(&files, format)? {
        print_summary(path, format, &summary, true);
        return Ok(exit_code(&summary));
    }
    let dir = &settings.store.data_dir;
    let fresh = !dir.exists();
    // A dry run never creates the store: without one, every record would be added.
    let store = if format.dry_run() && !is_store(dir) {
        None
    } else {
        match open_store(settings) {
            Ok(store) => Some(store),
            Err(StoreError::Locked { path: locked }) => {
                return super::harvest::hand_off_files(
                    settings, &locked, path, &files, format, strict,
                );
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("Failed to open the store at {}", dir.display()))
            }
        }
    };
    let (summary, written) = import_files(store.as_ref(), &files, format, strict)?;
    if let Some(store) = &store {
        store
            .flush()
            .with_context(|| format!("Failed to flush the store at {}", dir.display()))?;
    }
    let wrote_nothing =
        !written || summary.added + summary.updated + summary.deleted + summary.sets == 0;
    if fresh && store.is_some() && wrote_nothing {
        // Files judged by their start alone can still prove not to be of the format (a large
        // text file given to `import pmb`): the store this command made for them holds nothing
        // and is not left behind.
        drop(store);
        if let Err(error) = std::fs::remove_dir_all(dir) {
            tracing::warn!(%error, dir = %dir.display(), "Could not remove the empty new store.");
        }
    }
    print_summary(path, format, &summary, written);
    Ok(exit_code(&summary))
}

/// Prints the summary line of a PMB or UNIMARC import.
pub(super) fn print_summary(
    path: &Path,
    format: &FileFormat,
    summary: &ImportSummary,
    written: bool,
) {
    let mode = match (format.dry_run(), written) {
        (true, _) => " (dry run: nothing written)",
        (false, false) => " (strict: nothing written)",
        _ => "",
    };
    note!(
        "moisson: import {} {}: {summary}{mode}",
        format.name(),
        path.display()
    );
}

/// Imports PMB displays or UNIMARC exports file by file: rejected records are reported by file
/// and line or record, the others are written in batches. With `strict`, a first pass checks
/// every file and nothing is written if anything would be rejected; with a dry run, nothing is
/// written at all. Returns the counts and whether anything could be written.
///
/// # Errors
/// An unreadable input or a storage failure.
pub(super) fn import_files(
    store: Option<&Store>,
    files: &[PathBuf],
    format: &FileFormat,
    strict: bool,
) -> Result<(ImportSummary, bool), ImportError> {
    let mut inputs = Inputs::default();
    let mut write = !format.dry_run();
    if write && strict {
        for file in files {
            let bytes = inputs.read(file)?;
            if !format.file_is_clean(file, &bytes) {
                write = false;
                break;
            }
        }
    }
    let pass = format.with_dry_run(!write);
    let mut total = ImportSummary {
        nothing_to_import: true,
        ..ImportSummary::default()
    };
    for file in files {
        let bytes = inputs.read(file)?;
        let summary = pass.load_file(store, file, &bytes, &mut |e| {
            print_line(&e.to_string());
        })?;
        if summary.nothing_to_import && files.len() > 1 {
            note_empty(format, file);
        }
        total.nothing_to_import &= summary.nothing_to_import;
        add(&mut total, &summary);
    }
    Ok((total, write))
}
