//! The `moisson` binary: parse the command line, run, map the result to an exit code.

use clap::Parser;
use moisson::cli::{self, Cli, ExitCode};

/// jemalloc: a fifth less CPU than glibc's malloc on imports and harvests, whose records are
/// allocated on one thread and freed on another, and faster GetRecord at the same memory.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The environment variable jemalloc reads its settings from at start-up.
const MALLOC_CONF: &str = "_RJEM_MALLOC_CONF";
/// What `serve` runs with (see [`bound_malloc_arenas`]).
const SERVE_MALLOC_CONF: &str =
    "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0,background_thread:true";

/// Runs the server with two malloc arenas that give freed memory back within a second, by
/// executing this binary again (same process, same arguments) with jemalloc's settings, unless
/// they are set already.
///
/// By default jemalloc keeps four arenas per core and freed pages for ten seconds: at 1M
/// records, a full harvest then 10 s of GetRecord peaked at 105 MB of RSS, 91 MB with these
/// settings, for more GetRecords a second. jemalloc reads them before `main`, hence the
/// exec; when the exec fails, the server runs with the defaults.
fn bound_malloc_arenas() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os(MALLOC_CONF).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only when it failed: the server then runs with jemalloc's defaults.
    let _ = std::process::Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env(MALLOC_CONF, SERVE_MALLOC_CONF)
        .exec();
}

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return cli::usage_error(&error).into(),
    };
    if matches!(cli.command, cli::Command::Serve(_)) {
        bound_malloc_arenas();
    }
    match cli::run(cli) {
        Ok(code) => code.into(),
        // A reader that went away (`moisson export | head`) is not a failure of the work.
        Err(error) if cli::is_broken_pipe(&error) => ExitCode::Ok.into(),
        Err(error) => {
            cli::note(format_args!("moisson: {}", cli::error_chain(&error)));
            cli::exit_code_for(&error).into()
        }
    }
}
