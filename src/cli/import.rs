//! `moisson import dc|pmb`

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;

use super::{open_store, ExitCode};
use crate::config::Settings;
use crate::importer::jsonl::{parse_line, Item};
use crate::importer::{ImportError, ImportSummary};
use crate::store::{RecordInput, Store};

const BATCH: usize = 1000;

/// The import formats.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// JSON Lines, one record a line (`-` reads standard input); see README "Import formats".
    Dc {
        /// The file to read, or `-` for standard input.
        #[arg(value_name = "FILE|-")]
        file: PathBuf,
    },
}

impl ImportCommand {
    /// Runs the import and prints its summary.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        match self {
            ImportCommand::Dc { file } => {
                let store = open_store(settings)
                    .with_context(|| format!("Failed to open the store at {}", settings.store.data_dir.display()))?;
                let summary = import_dc(&store, &file)?;
                store.flush()?;
                eprintln!("moisson: import {}: {summary}", file.display());
                Ok(if summary.rejected > 0 { ExitCode::Rejected } else { ExitCode::Ok })
            }
        }
    }
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
    let mut batch: Vec<RecordInput> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<RecordInput>, summary: &mut ImportSummary| -> Result<(), ImportError> {
        if !batch.is_empty() {
            summary.record(&store.put_batch(std::mem::take(batch))?);
        }
        Ok(())
    };
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
                batch.push(r);
                if batch.len() >= BATCH {
                    flush(&mut batch, &mut summary)?;
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
    flush(&mut batch, &mut summary)?;
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
