//! `moisson stats`

use clap::Args;

use super::{open_store_for, ExitCode};
use crate::config::Settings;

/// Flags of `moisson stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl StatsArgs {
    /// Prints the store's counts.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        let store = open_store_for(settings, "stats")?;
        let stats = store.stats()?;
        if self.json {
            say!("{}", serde_json::to_string_pretty(&stats)?)?;
        } else {
            say!("records:  {}", stats.records)?;
            say!("deleted:  {}", stats.deleted)?;
            say!("sets:     {}", stats.sets)?;
            say!("earliest: {}", stats.earliest.as_deref().unwrap_or("-"))?;
            say!("latest:   {}", stats.latest.as_deref().unwrap_or("-"))?;
            say!(
                "characters illegal in XML removed: {}",
                stats.stripped_characters
            )?;
            say!(
                "value log: {} bytes live, {} bytes dead (old versions; `moisson compact` gives them back), {} segments",
                stats.live_bytes, stats.dead_bytes, stats.segments
            )?;
            say!(
                "index: {} bytes in sled (`moisson compact` rewrites it), {} old versions, {} records out of order",
                stats.index_bytes,
                stats.dead_slots,
                stats.out_of_order
            )?;
            if let Some(reason) = &stats.read_only {
                say!("read-only: {reason}")?;
            }
        }
        Ok(ExitCode::Ok)
    }
}
