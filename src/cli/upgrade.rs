//! `moisson upgrade`

use anyhow::Context as _;
use clap::Args;

use super::ExitCode;
use crate::config::Settings;
use crate::store::Store;

/// Flags of `moisson upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Print the outcome as JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl UpgradeArgs {
    /// Converts the store in place, or says it is current.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        let dir = &settings.store.data_dir;
        anyhow::ensure!(crate::store::is_store(dir), "no store at {}", dir.display());
        let outcome = Store::upgrade(dir, &settings.store.options()).with_context(|| {
            format!(
                "Failed to upgrade the store at {} (it is unchanged; run `moisson upgrade` again)",
                dir.display()
            )
        })?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        }
        let Some(outcome) = outcome else {
            if !self.json {
                println!("the store at {} is current: nothing to do", dir.display());
            }
            return Ok(ExitCode::Ok);
        };
        for lost in outcome.lost.iter().filter(|_| !self.json) {
            println!("not converted: {lost}");
        }
        if !self.json {
            println!(
                "upgraded the store at {}: {} records converted, {} left out",
                dir.display(),
                outcome.records,
                outcome.lost.len()
            );
        }
        Ok(if outcome.lost.is_empty() {
            ExitCode::Ok
        } else {
            ExitCode::Rejected
        })
    }
}
