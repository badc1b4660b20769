//! `moisson import dc|pmb`

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use super::{open_store, ExitCode};
use crate::config::Settings;
use crate::importer::jsonl::{parse_line, Item};
use crate::importer::{ImportError, ImportSummary};
use crate::protocol::{OaiIdentifier, SetSpec};
use crate::store::{PutOutcome, RecordInput, Store};

const BATCH: usize = 100;

/// The import formats.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// JSON Lines, one record a line (`-` reads standard input); see README "Import formats".
    Dc {
        /// The file to read, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
    /// PMB catalogue displays (bulletins and notices), mapped to Dublin Core; see
    /// schemas/pmb-crosswalk.md. UTF-8 or Windows-1252 input.
    Pmb {
        /// A display file, a directory of them (read recursively), or `-` for standard input.
        #[arg(value_name = "FILE|DIR|-")]
        path: PathBuf,
        /// Parse, map and compare with the store, but write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Write nothing at all if any record is rejected.
        #[arg(long)]
        strict: bool,
    },
}

impl ImportCommand {
    /// Runs the import and prints its summary.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        match self {
            ImportCommand::Dc { file } => {
                let store = open_store(settings).with_context(|| {
                    format!(
                        "Failed to open the store at {}",
                        settings.store.data_dir.display()
                    )
                })?;
                let summary = import_dc(&store, &file)?;
                store.flush()?;
                eprintln!("moisson: import {}: {summary}", file.display());
                Ok(if summary.rejected > 0 {
                    ExitCode::Rejected
                } else {
                    ExitCode::Ok
                })
            }
            ImportCommand::Pmb {
                path,
                dry_run,
                strict,
            } => {
                let store = open_store(settings).with_context(|| {
                    format!(
                        "Failed to open the store at {}",
                        settings.store.data_dir.display()
                    )
                })?;
                let options = PmbOptions {
                    repository_identifier: settings.repository.repository_identifier.clone(),
                    dry_run,
                    strict,
                };
                let summary = import_pmb(&store, &path, &options)?;
                store.flush()?;
                let mode = match (dry_run, strict) {
                    (true, _) => " (dry run: nothing written)",
                    (false, true) if summary.rejected > 0 => " (strict: nothing written)",
                    _ => "",
                };
                eprintln!("moisson: import pmb {}: {summary}{mode}", path.display());
                Ok(if summary.rejected > 0 {
                    ExitCode::Rejected
                } else {
                    ExitCode::Ok
                })
            }
        }
    }
}

/// How `moisson import pmb` runs.
#[derive(Debug, Clone)]
pub struct PmbOptions {
    /// The repositoryIdentifier the OAI identifiers are made with.
    pub repository_identifier: String,
    /// Write nothing.
    pub dry_run: bool,
    /// Write nothing if anything is rejected.
    pub strict: bool,
}

/// Every regular file under `path` (itself if a file), sorted, so runs are reproducible.
fn input_files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    if path.as_os_str() == "-" || !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| ImportError::Read {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ImportError::Read {
                path: dir.clone(),
                source,
            })?;
            let p = entry.path();
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

/// Turns a mapped PMB record into a record for the store (OAI identifier `oai:REPO:KIND/ID`).
///
/// # Errors
/// When the identifier or a setSpec cannot be formed.
pub fn pmb_record_input(
    mapped: crate::importer::pmb::MappedRecord,
    repository_identifier: &str,
) -> Result<(RecordInput, Vec<(SetSpec, String)>), String> {
    let id = format!("oai:{repository_identifier}:{}", mapped.local_id);
    let identifier = OaiIdentifier::parse(&id)
        .ok_or_else(|| format!("\"{id}\" is not a valid OAI identifier"))?;
    let mut sets = Vec::new();
    let mut defs = Vec::new();
    for def in mapped.sets {
        let spec = SetSpec::parse(&def.spec)
            .ok_or_else(|| format!("\"{}\" is not a valid setSpec", def.spec))?;
        sets.push(spec.clone());
        defs.push((spec, def.name));
    }
    let mut input = RecordInput::dc(identifier, mapped.dc);
    input.sets = sets;
    input.local_fields = mapped.local_fields;
    Ok((input, defs))
}

/// Imports PMB displays file by file: rejected records are reported by file and line, the
/// others are written in batches. With `strict`, a first pass checks every file and nothing is
/// written if anything would be rejected; with `dry_run`, nothing is written at all.
///
/// # Errors
/// An unreadable input or a storage failure.
pub fn import_pmb(
    store: &Store,
    path: &Path,
    options: &PmbOptions,
) -> Result<ImportSummary, ImportError> {
    let files = input_files(path)?;
    let stdin = path.as_os_str() == "-";
    let mut stdin_bytes = None;
    let mut read = |file: &Path| -> Result<Vec<u8>, ImportError> {
        if stdin {
            // Standard input can be read once only.
            if stdin_bytes.is_none() {
                let mut bytes = Vec::new();
                open_input(file)?
                    .read_to_end(&mut bytes)
                    .map_err(|source| ImportError::Read {
                        path: file.to_path_buf(),
                        source,
                    })?;
                stdin_bytes = Some(bytes);
            }
            return Ok(stdin_bytes.clone().unwrap_or_default());
        }
        std::fs::read(file).map_err(|source| ImportError::Read {
            path: file.to_path_buf(),
            source,
        })
    };
    let write = !options.dry_run
        && (!options.strict || {
            let mut rejected = 0u64;
            for file in &files {
                rejected +=
                    pmb_file_inputs(&read(file)?, options, &mut |_, _| {}, &mut |_| Ok(()))?;
            }
            rejected == 0
        });
    let mut summary = ImportSummary::default();
    let mut batch = LineBatch::default();
    for file in &files {
        let bytes = read(file)?;
        let mut report_line = |line: usize, message: &str| report(file, line, message);
        let mut sink = |(input, sets, stripped, line): PmbItem| -> Result<(), ImportError> {
            summary.stripped_characters += stripped as u64;
            if !write {
                let outcome = store.classify(&input)?;
                if outcome == PutOutcome::Rejected {
                    report(
                        file,
                        line,
                        "belongs to another origin: it would not be overwritten",
                    );
                }
                summary.count(outcome);
                return Ok(());
            }
            for (spec, name) in sets {
                if store.set_name(&spec)?.as_deref() != Some(name.as_str()) {
                    store.define_set(&spec, &name, None)?;
                    summary.sets += 1;
                }
            }
            batch.push(input, line);
            if batch.len() >= BATCH {
                batch.write(store, file, &mut summary)?;
            }
            Ok(())
        };
        summary.rejected += pmb_file_inputs(&bytes, options, &mut report_line, &mut sink)?;
        batch.write(store, file, &mut summary)?;
    }
    Ok(summary)
}

/// A batch of records waiting to be written, with the line each one starts on.
#[derive(Default)]
struct LineBatch {
    records: Vec<RecordInput>,
    lines: Vec<usize>,
}

impl LineBatch {
    fn push(&mut self, record: RecordInput, line: usize) {
        self.records.push(record);
        self.lines.push(line);
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    /// Writes the batch, reporting by file and line each record refused because another
    /// origin owns it.
    fn write(
        &mut self,
        store: &Store,
        path: &Path,
        summary: &mut ImportSummary,
    ) -> Result<(), ImportError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let outcome = store.put_batch(std::mem::take(&mut self.records))?;
        for refusal in &outcome.refusals {
            let line = self.lines.get(refusal.index).copied().unwrap_or(0);
            report(path, line, &refusal.to_string());
        }
        self.lines.clear();
        summary.record(&outcome);
        Ok(())
    }
}

/// A record ready for the store, the sets it belongs to, the characters stripped from it and
/// the line it starts on.
type PmbItem = (RecordInput, Vec<(SetSpec, String)>, usize, usize);

/// Parses and maps one file, handing each record to `sink` and each rejection to `reject`;
/// returns how many were rejected.
fn pmb_file_inputs(
    bytes: &[u8],
    options: &PmbOptions,
    reject: &mut dyn FnMut(usize, &str),
    sink: &mut dyn FnMut(PmbItem) -> Result<(), ImportError>,
) -> Result<u64, ImportError> {
    let results = match crate::importer::pmb::import_bytes(bytes) {
        Ok(results) => results,
        Err(e) => {
            reject(e.line(), &e.to_string());
            return Ok(1);
        }
    };
    let mut rejected = 0;
    for result in results {
        let mapped = result
            .map_err(|e| (e.line(), e.to_string()))
            .and_then(|mapped| {
                let (line, stripped) = (mapped.line, mapped.stripped_chars);
                pmb_record_input(mapped, &options.repository_identifier)
                    .map(|(input, sets)| (input, sets, stripped, line))
                    .map_err(|m| (line, m))
            });
        match mapped {
            Ok(item) => sink(item)?,
            Err((line, message)) => {
                reject(line, &message);
                rejected += 1;
            }
        }
    }
    Ok(rejected)
}

fn open_input(path: &Path) -> Result<Box<dyn Read>, ImportError> {
    if path.as_os_str() == "-" {
        Ok(Box::new(std::io::stdin().lock()))
    } else {
        let f = std::fs::File::open(path).map_err(|source| ImportError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Box::new(f))
    }
}

/// Imports a JSON Lines file; bad lines are reported on stderr and skipped.
///
/// # Errors
/// An unreadable input or a storage failure (the batch in flight is then not written).
pub fn import_dc(store: &Store, path: &Path) -> Result<ImportSummary, ImportError> {
    let reader = BufReader::with_capacity(1 << 20, open_input(path)?);
    let mut summary = ImportSummary::default();
    let mut batch = LineBatch::default();
    for (n, line) in reader.lines().enumerate() {
        let line_no = n + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                report(path, line_no, "not UTF-8 text");
                summary.rejected += 1;
                continue;
            }
            Err(source) => {
                return Err(ImportError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok(Item::Record(r)) => {
                batch.push(r, line_no);
                if batch.len() >= BATCH {
                    batch.write(store, path, &mut summary)?;
                }
            }
            Ok(Item::Set(s)) => {
                store.define_set(&s.spec, &s.name, s.description.as_ref())?;
                summary.sets += 1;
            }
            Err(message) => {
                report(path, line_no, &message);
                summary.rejected += 1;
            }
        }
    }
    batch.write(store, path, &mut summary)?;
    Ok(summary)
}

fn report(path: &Path, line: usize, message: &str) {
    eprintln!(
        "{}",
        ImportError::Parse {
            path: path.to_path_buf(),
            line,
            message: message.to_owned()
        }
    );
}
