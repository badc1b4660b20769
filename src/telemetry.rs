//! Logging with tracing: human-readable on a terminal, JSON lines otherwise (or when
//! `MOISSON_LOG_FORMAT=json`). `RUST_LOG` or `MOISSON_LOG` set the filter.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init(default_filter: &str) {
    let filter = std::env::var("MOISSON_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| default_filter.to_owned());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("MOISSON_LOG_FORMAT")
        .map_or(!std::io::stderr().is_terminal(), |f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.compact().try_init()
    };
}
