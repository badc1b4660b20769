//! `moisson compact`

use anyhow::Context as _;
use clap::Args;

use super::{open_store_for, ExitCode};
use crate::config::Settings;

/// Flags of `moisson compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl CompactArgs {
    /// Compacts the store, rewrites sled's files, and prints what it gave back.
    pub fn run(self, settings: &Settings) -> anyhow::Result<ExitCode> {
        let dir = &settings.store.data_dir;
        let store = open_store_for(settings, "compact")?;
        let before = store.stats()?;
        let (outcome, store) = store
            .compact_offline()
            .with_context(|| format!("Failed to compact the store at {}", dir.display()))?;
        let after = store.stats()?;
        if self.json {
            let report =
                serde_json::json!({ "compaction": outcome, "before": before, "after": after });
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!(
                "value log: {} live + {} dead bytes before, {} live + {} dead after; {} segments emptied, {} bytes copied, {} bytes given back",
                before.live_bytes,
                before.dead_bytes,
                after.live_bytes,
                after.dead_bytes,
                outcome.segments_removed,
                outcome.bytes_copied,
                outcome.bytes_reclaimed
            );
            println!(
                "index: {}",
                if outcome.index_rebuilt {
                    format!(
                        "rebuilt ({} old versions and {} records out of order before)",
                        before.dead_slots, before.out_of_order
                    )
                } else if before.dead_slots > 0 || before.out_of_order > 0 {
                    "left as it is".to_owned()
                } else {
                    "nothing to rebuild".to_owned()
                }
            );
            if let Some(files) = outcome.sled_files {
                println!(
                    "sled files: {} bytes before, {} after; {} bytes given back",
                    files.bytes_before,
                    files.bytes_after,
                    files.bytes_before.saturating_sub(files.bytes_after)
                );
            }
        }
        if outcome.no_room {
            // A cron job must see that the space was not given back.
            super::note(format_args!(
                "moisson: compact: not enough free space at {} to rebuild the index or rewrite sled's files (it needs as much again as they hold): they were left as they were",
                dir.display()
            ));
            return Ok(ExitCode::Unexpected);
        }
        Ok(ExitCode::Ok)
    }
}
