//! `moisson export`

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;

use super::{open_store_for, ExitCode};
use crate::config::Settings;

/// Flags of `moisson export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

impl ExportArgs {
    /// Writes the store as JSON Lines.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        let store = open_store_for(settings, "export")?;
        let mut out: Box<dyn Write> = match &self.output {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("Failed to create {}", path.display()))?,
            ),
            None => Box::new(std::io::stdout().lock()),
        };
        let mut out = BufWriter::with_capacity(1 << 20, &mut out);
        let n = crate::importer::jsonl::export(&store, &mut out)?;
        out.flush()?;
        note!("moisson: exported {n} records");
        Ok(ExitCode::Ok)
    }
}
