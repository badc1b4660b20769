//! `moisson check`

use clap::Args;

use super::{open_store_for, ExitCode};
use crate::config::Settings;

/// Flags of `moisson check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Rebuild every index (identifier map, lists, list-size counters, set definitions) from
    /// the records. Records whose bytes are gone are named; they cannot be rebuilt.
    #[arg(long)]
    repair: bool,
}

impl CheckArgs {
    /// Verifies the store, optionally repairs it, and prints its stats.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        let store = open_store_for(settings, "check")?;
        let problems = if self.repair {
            store.repair()?
        } else {
            store.check()?
        };
        for p in &problems {
            say!("{}: {p}", if self.repair { "repaired" } else { "problem" })?;
        }
        let stats = store.stats()?;
        say!(
            "records: {}, deleted: {}, sets: {}, earliest: {}, latest: {}",
            stats.records,
            stats.deleted,
            stats.sets,
            stats.earliest.as_deref().unwrap_or("-"),
            stats.latest.as_deref().unwrap_or("-")
        )?;
        if problems.is_empty() {
            say!("the store is consistent")?;
            Ok(ExitCode::Ok)
        } else if self.repair {
            say!(
                "{} problems repaired; run `moisson check` again to verify",
                problems.len()
            )?;
            Ok(ExitCode::Ok)
        } else {
            say!(
                "{} problems found; `moisson check --repair` rebuilds the indexes from the records",
                problems.len()
            )?;
            Ok(ExitCode::Rejected)
        }
    }
}
