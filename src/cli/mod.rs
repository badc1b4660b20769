//! The command line: `moisson serve | harvest | import | export | stats | check | compact |
//! upgrade`, one module per subcommand. Each subcommand turns its flags into domain values before any work starts.
//!
//! Output never panics: `println!` and `eprintln!` panic when the other end of a pipe is gone
//! (`moisson export | head`), so commands write through `say!` (see [`say`]: on standard
//! output, a closed pipe ends the command quietly) and `note!` (see [`note`]: on standard
//! error, a closed or full stderr is ignored, the work goes on and the exit code still tells
//! how it went).

/// Writes a line to standard output; `?` on the result ends the command quietly when the
/// reader went away (see [`is_broken_pipe`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say(format_args!($($arg)*))
    };
}

/// Writes a line to standard error, ignoring a stderr that cannot be written.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::cli::note(format_args!($($arg)*))
    };
}

mod check;
mod compact;
mod export;
mod harvest;
mod import;
mod serve;
mod stats;
mod upgrade;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

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

/// File in the store directory holding the address of the `moisson serve` that holds the
/// store, so that other commands find its admin API whatever `--bind` it was given.
pub const ADDRESS_FILE: &str = "moisson-serve.address";
/// File in the store directory that says the store has been served (and since when): given
/// datestamps are then refused, because harvesters may already have seen later ones.
pub const SERVED_FILE: &str = "moisson-served";

/// The recorded address of a running server; dropping it removes the address file.
#[derive(Debug)]
pub struct ServedAddress {
    path: PathBuf,
    url: String,
}

impl ServedAddress {
    /// Records `bound` (as the URL the admin API answers on) in `dir`, and marks the store
    /// as served.
    ///
    /// # Errors
    /// When the files cannot be written (the error names them).
    pub fn record(dir: &Path, bound: std::net::SocketAddr) -> anyhow::Result<ServedAddress> {
        use anyhow::Context as _;
        let mut ip = bound.ip();
        // A server on every interface answers on loopback.
        if ip.is_unspecified() {
            ip = match ip {
                std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
        }
        let url = format!("http://{}", std::net::SocketAddr::new(ip, bound.port()));
        let path = dir.join(ADDRESS_FILE);
        std::fs::write(&path, format!("{url}\n"))
            .with_context(|| format!("Failed to write {}", path.display()))?;
        let served = dir.join(SERVED_FILE);
        if !served.exists() {
            std::fs::write(&served, format!("{}\n", crate::protocol::Datestamp::now()))
                .with_context(|| format!("Failed to write {}", served.display()))?;
        }
        Ok(ServedAddress { path, url })
    }

    /// The admin API's base URL recorded in `dir` by a running server, if any (it may be
    /// stale after a crash: callers check that it answers).
    pub fn read(dir: &Path) -> Option<String> {
        let text = std::fs::read_to_string(dir.join(ADDRESS_FILE)).ok()?;
        let url = text.trim();
        url.starts_with("http://").then(|| url.to_owned())
    }
}

impl Drop for ServedAddress {
    fn drop(&mut self) {
        // Only our own address: a newer server may have replaced it.
        if ServedAddress::read(self.path.parent().unwrap_or(Path::new("."))).as_deref()
            == Some(self.url.as_str())
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// True when the store in `dir` has ever been served.
pub fn has_been_served(dir: &Path) -> bool {
    dir.join(SERVED_FILE).exists()
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

/// Opens the store for a command that cannot be handed to a running server (`stats`,
/// `export`, `check`, `compact`): a store held by `moisson serve` is said so once, with what to
/// do, and keeps [`ExitCode::Busy`].
fn open_store_for(settings: &Settings, command: &str) -> anyhow::Result<Store> {
    let dir = &settings.store.data_dir;
    anyhow::ensure!(crate::store::is_store(dir), "no store at {}", dir.display());
    match open_store(settings) {
        Ok(store) => Ok(store),
        Err(e @ StoreError::Locked { .. }) => {
            let at = ServedAddress::read(dir)
                .map(|url| format!(" (its pages are at {url}/)"))
                .unwrap_or_default();
            let why = format!("{e}: stop it to run `moisson {command}`{at}");
            Err(anyhow::Error::new(e).context(why))
        }
        Err(e) => {
            Err(anyhow::Error::new(e)
                .context(format!("Failed to open the store at {}", dir.display())))
        }
    }
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
        Command::Import(args) => args.run(&settings),
        Command::Export(args) => args.run(&settings),
        Command::Stats(args) => args.run(&settings),
        Command::Check(args) => args.run(&settings),
        Command::Compact(args) => args.run(&settings),
        Command::Upgrade(args) => args.run(&settings),
    }
}

/// Writes one line to standard output.
///
/// # Errors
/// When standard output cannot be written, a closed pipe included.
pub fn say(line: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// Writes one line to standard error; a stderr that cannot be written is ignored, because
/// there is nowhere left to say so.
pub fn note(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// True when the failure is only that the reader of standard output went away.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The message of a failure and of each of its causes, a cause left out when the message
/// before it already says it (many errors include their source in their own message).
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut out = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// Prints a command-line parsing failure (or the help or version asked for) and returns its
/// exit code: 0 for `--help` and `--version`, [`ExitCode::Config`] for a usage error.
pub fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // clap writes help and version to stdout and errors to stderr; a closed pipe is ignored.
    let _ = error.print();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::Ok,
        _ => ExitCode::Config,
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
        if let Some(crate::importer::ImportError::NotFormat { .. }) =
            cause.downcast_ref::<crate::importer::ImportError>()
        {
            return ExitCode::Rejected;
        }
    }
    ExitCode::Unexpected
}
