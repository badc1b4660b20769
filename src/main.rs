//! The `moisson` binary: parse the command line, run, map the result to an exit code.

use clap::Parser;
use moisson::cli::{self, Cli};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => code.into(),
        Err(error) => {
            eprintln!("moisson: {error:#}");
            cli::exit_code_for(&error).into()
        }
    }
}
