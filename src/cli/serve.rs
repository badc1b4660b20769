//! `moisson serve`

use anyhow::Context as _;
use clap::Args;

use super::{open_store, ExitCode};
use crate::config::Settings;
use crate::http::Application;

/// Flags of `moisson serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, such as 0.0.0.0:8080 (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Public base URL announced in responses (default http://BIND/oai).
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// When the store does not exist yet, create it empty instead of with the sample records.
    #[arg(long)]
    empty: bool,
}

impl ServeArgs {
    /// Opens (or creates) the store and serves it until SIGTERM or Ctrl-C.
    pub fn run(self, mut settings: Settings) -> anyhow::Result<ExitCode> {
        if let Some(bind) = self.bind {
            settings.server.bind = bind;
        }
        if let Some(url) = self.base_url {
            settings.server.base_url = Some(url);
        }
        // Bind before anything else, so that a bad or busy address creates no store.
        let listener = std::net::TcpListener::bind(&settings.server.bind).map_err(|e| {
            crate::config::ConfigError::Invalid(format!(
                "cannot listen on {}: {e}",
                settings.server.bind
            ))
        })?;
        let bound = listener
            .local_addr()
            .context("Failed to read the bound address")?;
        if settings.server.base_url.is_none() {
            // Port 0 picks a free port: announce the one bound.
            settings.server.bind = bound.to_string();
        }
        settings.derive_repository_identifier();
        settings.validate()?;
        crate::telemetry::init("info");
        let data_dir = settings.store.data_dir.clone();
        let fresh = !data_dir.exists();
        let store = open_store(&settings)
            .with_context(|| format!("Failed to open the store at {}", data_dir.display()))?;
        if let Some(reason) = store.read_only_reason() {
            eprintln!(
                "moisson: the store at {} is read-only ({reason}): serving what it holds; imports and harvests will fail until there is space",
                data_dir.display()
            );
        } else if fresh && !self.empty {
            let n = crate::demo::load(&store, &settings.repository.repository_identifier)
                .context("Failed to load the sample records")?;
            note!(
                "moisson: created a new store at {} with {n} sample records",
                data_dir.display()
            );
        }
        let address = super::ServedAddress::record(&data_dir, bound)?;
        actix_web::rt::System::new().block_on(async move {
            let app = Application::with_listener(&settings, store.clone(), listener)?;
            note!(
                "moisson: serving OAI-PMH 2.0 at {} (listening on port {}; Ctrl-C or SIGTERM to stop)",
                settings.server.base_url(),
                app.port()
            );
            app.run_until_stopped().await.context("The HTTP server failed")?;
            drop(address);
            store.flush().context("Failed to flush the store")?;
            tracing::info!("Stopped.");
            Ok(ExitCode::Ok)
        })
    }
}
