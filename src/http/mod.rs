//! The HTTP face of the repository (OAI-PMH 2.0 §3.1.1): `/oai` over GET and POST,
//! `/health`, `/metrics` and `/oai2.xsl`, and the pages for people of [`crate::web`]. It only moves bytes: every protocol decision is in
//! [`crate::protocol`].

pub mod admin;
pub mod error;
pub mod metrics;
mod routes;
pub mod stylesheet;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::protocol::{Context, RepositoryIdentity, TokenCodec};
use crate::store::{Store, StoreError};

pub use error::ServerError;

/// Shared state of every request handler.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// Protocol configuration and token secret.
    pub context: Arc<Context>,
    /// Permits for list requests running at once.
    pub list_permits: Arc<Semaphore>,
    /// Seconds to announce in Retry-After under overload.
    pub retry_after_secs: u64,
    /// Longest accepted query string.
    pub max_url_bytes: usize,
    /// Request counters and histograms for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// The admin API's configuration (off unless an admin token is set).
    pub admin: Arc<admin::AdminState>,
    /// The pages for people.
    pub web: Arc<crate::web::WebState>,
}

impl AppState {
    /// State for `store` configured by `settings`.
    ///
    /// # Errors
    /// When the store has no token secret.
    pub fn new(settings: &Settings, store: Store) -> Result<AppState, StoreError> {
        let stylesheet = stylesheet::HREF.to_owned();
        let context = Context {
            identity: RepositoryIdentity {
                repository_name: settings.repository.name.clone(),
                base_url: settings.server.base_url(),
                admin_emails: settings.repository.admin_emails.clone(),
                repository_identifier: settings.repository.repository_identifier.clone(),
            },
            page_size: settings.server.page_size,
            token_lifetime_secs: i64::from(settings.server.token_lifetime_hours) * 3600,
            tokens: TokenCodec::new(&store.token_secret()?),
            stylesheet: settings.server.stylesheet.then_some(stylesheet),
        };
        Ok(AppState {
            context: Arc::new(context),
            list_permits: Arc::new(Semaphore::new(settings.server.max_concurrent_lists)),
            retry_after_secs: settings.server.retry_after_secs,
            max_url_bytes: settings.server.max_url_bytes,
            metrics: Arc::new(metrics::Metrics::new()),
            admin: Arc::new(admin::AdminState::from_settings(settings)),
            web: Arc::new(crate::web::WebState::new(settings, store.clone())),
            store,
        })
    }
}

/// Registers the routes on an actix `ServiceConfig` (used by the server and by tests).
pub fn configure(state: AppState, max_body_bytes: usize) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let pages = state.web.clone();
        cfg.app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .service(
                web::resource("/oai")
                    .route(web::get().to(routes::oai_get))
                    .route(web::head().to(routes::oai_get))
                    .route(web::post().to(routes::oai_post)),
            )
            .route("/health", web::get().to(routes::health))
            .route("/metrics", web::get().to(metrics::scrape))
            .route("/oai2.xsl", web::get().to(stylesheet::serve))
            .configure(admin::configure)
            .configure(crate::web::configure(pages));
    }
}

/// A bound, not yet running, HTTP server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Binds `settings.server.bind` (port 0 picks a free port) and prepares the server.
    ///
    /// # Errors
    /// When the address cannot be bound or the store has no token secret.
    pub fn build(settings: &Settings, store: Store) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.server.bind)
            .map_err(|e| anyhow::anyhow!("Failed to bind {}: {e}", settings.server.bind))?;
        Application::with_listener(settings, store, listener)
    }

    /// Prepares the server on an already bound listener.
    ///
    /// # Errors
    /// When the store has no token secret or the listener is unusable.
    pub fn with_listener(
        settings: &Settings,
        store: Store,
        listener: TcpListener,
    ) -> anyhow::Result<Application> {
        let port = listener.local_addr()?.port();
        let state = AppState::new(settings, store)?;
        let max_body = settings.server.max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(Compress::default())
                .configure(configure(state.clone(), max_body))
        })
        // Compressed pages go out in chunks; without TCP_NODELAY, Nagle's algorithm meets the
        // client's delayed ACK and every keep-alive page stalls for tens of milliseconds.
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                if let Err(error) = tcp.set_nodelay(true) {
                    tracing::warn!(%error, "Could not set TCP_NODELAY.");
                }
            }
        })
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(30))
        .max_connection_rate(256);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Application { port, server })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGINT/SIGTERM, then finishes requests in flight (graceful shutdown).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// A handle to stop the server (for tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }
}
