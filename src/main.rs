//! The `moisson` binary: parse the command line, run, map the result to an exit code.

use clap::Parser;
use moisson::cli::{self, Cli, ExitCode};

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return cli::usage_error(&error).into(),
    };
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
