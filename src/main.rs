//! The `moisson` binary: parse the command line, run, map the result to an exit code.

use clap::Parser;
use moisson::cli::{self, Cli, ExitCode};

/// glibc's malloc setting read at start-up that `serve` needs (see [`bound_malloc_arenas`]).
const ARENA_MAX: &str = "MALLOC_ARENA_MAX";

/// Runs the server with two malloc arenas, by executing this binary again (same process,
/// same arguments) with `MALLOC_ARENA_MAX=2` unless it is set already.
///
/// glibc gives each thread that allocates its own arena, up to eight per core, and memory
/// freed in one arena is not reused by another: at 1M records, a full harvest then 10 s of
/// GetRecord left the server at 137 MB of peak RSS, 88 MB with two arenas, for the same
/// throughput. glibc reads the setting before `main`, hence the exec; when the exec fails,
/// the server runs as it is.
fn bound_malloc_arenas() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os(ARENA_MAX).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only when it failed: the server then runs with glibc's default.
    let _ = std::process::Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env(ARENA_MAX, "2")
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
