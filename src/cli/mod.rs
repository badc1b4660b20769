//! The command line: `moisson serve | harvest | import | export | stats | check | compact |
//! upgrade`, one module per subcommand.
//! Each subcommand turns its flags into domain values before any work starts.

mod check;
mod compact;
mod export;
mod harvest;
mod import;
mod serve;
mod stats;
mod upgrade;

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

pub use import::{import_dc, import_pmb, pmb_record_input, PmbOptions};

use crate::config::Settings;
use crate::store::{Store, StoreError};

/// Exit codes of the `moisson` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything went fine.
    Ok = 0,
    /// An unexpected failure (I/O, storage).
    Unexpected = 1,
    /// Some records were rejected (each one was reported).
    Rejected = 2,
    /// The configuration or the command line is wrong.
    Config = 3,
    /// The store is in use by another process (a running `moisson serve`).
    Busy = 4,
    /// Another harvest of a source was running, so that source was skipped.
    AlreadyRunning = 5,
    /// The harvest of a source failed (the pages committed before the failure are kept).
    SourceFailed = 6,
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code as u8)
    }
}

/// moisson: an OAI-PMH 2.0 data provider and harvester for Dublin Core metadata.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// TOML configuration file (every key is optional; see docker/moisson.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory of the store (default: ./data, or store.data_dir in the configuration).
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the store over OAI-PMH 2.0 at /oai (creates a demo store when there is none).
    Serve(serve::ServeArgs),
    /// Harvest upstream OAI-PMH repositories into the store (incremental and resumable).
    Harvest(harvest::HarvestArgs),
    /// Load records into the store.
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Write every set and record of the store as JSON Lines (the `import dc` format).
    Export(export::ExportArgs),
    /// Print counts: records, deleted, sets, earliest and latest datestamp.
    Stats(stats::StatsArgs),
    /// Verify every index entry against its record and every record against the indexes
    /// (exit code 2 when something is off); with --repair, rebuild what is off.
    Check(check::CheckArgs),
    /// Give back the space of old record versions (value log and index); stop the server first.
    Compact(compact::CompactArgs),
    /// Convert a store written by an earlier version to this version's layout, in place.
    Upgrade(upgrade::UpgradeArgs),
}

/// Loads the layered settings and applies the global flags.
fn settings(cli_config: Option<&Path>, data: Option<&Path>) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(cli_config)?;
    if let Some(data) = data {
        settings.store.data_dir = data.to_path_buf();
    }
    Ok(settings)
}

/// Opens the configured store, creating it if needed.
fn open_store(settings: &Settings) -> Result<Store, StoreError> {
    Store::open_with(&settings.store.data_dir, &settings.store.options())
}

/// Runs the command.
///
/// # Errors
/// Any failure, with context; [`exit_code_for`] maps it to an exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = settings(cli.config.as_deref(), cli.data.as_deref())?;
    match cli.command {
        Command::Serve(args) => args.run(settings),
        Command::Harvest(args) => args.run(&settings),
        Command::Import(args) => harvest::import_or_hand_off(args, &settings),
        Command::Export(args) => args.run(&settings),
        Command::Stats(args) => args.run(&settings),
        Command::Check(args) => args.run(&settings),
        Command::Compact(args) => args.run(&settings),
        Command::Upgrade(args) => args.run(&settings),
    }
}

/// The exit code for a failure: configuration problems, a busy store, or anything else.
pub fn exit_code_for(error: &anyhow::Error) -> ExitCode {
    for cause in error.chain() {
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return ExitCode::Config;
        }
        if let Some(StoreError::Locked { .. }) = cause.downcast_ref::<StoreError>() {
            return ExitCode::Busy;
        }
    }
    ExitCode::Unexpected
}
