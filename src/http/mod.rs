//! The HTTP face of the repository (OAI-PMH 2.0 §3.1.1): `/oai` over GET and POST, `/health`,
//! `/metrics` and `/oai2.xsl`, and the pages for people of [`crate::web`]. It only moves bytes:
//! every protocol decision is in [`crate::protocol`]. What no client may exceed — connections,
//! time to send a request, time to read a response, memory held by unread responses — is
//! bounded in [`connection`] and [`body`].

pub mod admin;
pub mod body;
pub mod connection;
pub mod error;
pub mod metrics;
mod routes;
pub mod stylesheet;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_service::{fn_service, map_config, IntoServiceFactory as _, ServiceFactoryExt as _};
use actix_web::dev::{AppConfig, Server};
use actix_web::middleware::Compress;
use actix_web::{web, App};
use tokio::sync::Semaphore;

use crate::config::Settings;
use crate::protocol::{Context, RepositoryIdentity, TokenCodec};
use crate::store::{Store, StoreError};

pub use error::ServerError;

/// How much of a request the server reads, and how long it waits for it.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Longest query string answered normally; longer ones get `badArgument`.
    pub max_url_bytes: usize,
    /// Largest form body answered normally; larger ones get `badArgument`.
    pub max_body_bytes: usize,
    /// Largest form body read at all; larger ones get 413.
    pub body_hard_limit: usize,
    /// Time to send a whole POST body.
    pub body_timeout: Duration,
}

impl RequestLimits {
    /// How many times `max_body_bytes` a body may be and still get an OAI-PMH answer.
    pub const HARD_LIMIT_FACTOR: usize = 16;

    /// The limits of `settings`.
    pub fn from_settings(settings: &Settings) -> Self {
        RequestLimits {
            max_url_bytes: settings.server.max_url_bytes,
            max_body_bytes: settings.server.max_body_bytes,
            body_hard_limit: settings
                .server
                .max_body_bytes
                .saturating_mul(Self::HARD_LIMIT_FACTOR),
            body_timeout: Duration::from_secs(settings.server.request_timeout_secs),
        }
    }
}

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
    /// How much of a request is read.
    pub limits: RequestLimits,
    /// The memory responses waiting for their clients may hold.
    pub responses: body::ResponseBudget,
    /// Open connections and write timeouts, for `/metrics`.
    pub connections: Arc<connection::ConnectionStats>,
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
            limits: RequestLimits::from_settings(settings),
            responses: body::ResponseBudget::new(
                settings.server.response_buffer_mb.saturating_mul(1 << 20),
            ),
            connections: Arc::new(connection::ConnectionStats::default()),
            metrics: Arc::new(metrics::Metrics::new()),
            admin: Arc::new(admin::AdminState::from_settings(settings)),
            web: Arc::new(crate::web::WebState::new(settings, store.clone())),
            store,
        })
    }
}

/// Registers the routes on an actix `ServiceConfig` (used by the server and by tests).
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let pages = state.web.clone();
        cfg.app_data(web::Data::new(state))
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
    /// actix-web's `HttpServer` cannot wrap the sockets it accepts, so the server is put
    /// together from the same parts (actix-server accepting, actix-http's HTTP/1.1 dispatcher
    /// over a [`connection::GuardedStream`], the actix-web `App`), with the settings
    /// `HttpServer` would apply.
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
        let fd_limit = connection::raise_fd_limit();
        let connections = connection::connection_cap(settings.server.max_connections, fd_limit);
        let workers = settings
            .server
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .clamp(1, 512);
        // Lists are bounded by their permits, but actix would let each worker's blocking pool
        // grow to 512 / workers threads, each with its buffers (and, under glibc, its malloc
        // arena): enough threads for every list permit, plus room for the other reads.
        let blocking_threads = (settings.server.max_concurrent_lists.div_ceil(workers) + 2).min(64);
        tracing::info!(
            fd_limit,
            connections,
            workers,
            blocking_threads,
            "Connection limits set."
        );
        let timeouts = Timeouts::from_settings(settings);
        let mut builder = Server::build()
            .workers(workers)
            // actix counts connections per worker.
            .max_concurrent_connections(connections.div_ceil(workers).max(1))
            .worker_max_blocking_threads(blocking_threads)
            .backlog(1024)
            .shutdown_timeout(settings.server.shutdown_timeout_secs);
        let shutdown = builder.graceful_shutdown_signal();
        builder = builder.listen("moisson", listener, move || {
            connection_service(state.clone(), timeouts, shutdown.clone())
        })?;
        let server = builder.run();
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

/// What serves one accepted socket on one worker: the socket wrapped in a
/// [`connection::GuardedStream`], actix-http's HTTP/1.1 dispatcher over it, and the App.
fn connection_service(
    state: AppState,
    timeouts: Timeouts,
    shutdown: actix_server::GracefulShutdownSignal,
) -> impl actix_service::ServiceFactory<
    actix_web::rt::net::TcpStream,
    Config = (),
    Response = (),
    Error = actix_http::error::DispatchError,
    InitError = (),
> {
    let guard = connection::Guard {
        stats: state.connections.clone(),
        budget: state.responses.clone(),
        write_timeout: timeouts.write,
    };
    let app = App::new()
        .wrap(Compress::default())
        .wrap_fn(move |mut req, srv| {
            body::with_idle_timeout(&mut req, timeouts.request);
            actix_web::dev::Service::call(srv, req)
        })
        .configure(configure(state));
    let service = actix_http::HttpService::build()
        .keep_alive(actix_http::KeepAlive::Timeout(Duration::from_secs(5)))
        .client_request_timeout(timeouts.request)
        .client_disconnect_timeout(Duration::from_secs(1))
        .graceful_shutdown_signal(move || {
            let shutdown = shutdown.clone();
            async move { shutdown.notified().await }
        })
        // The App needs an AppConfig only to build URLs from the Host header, which nothing
        // here does.
        .h1(map_config(
            app.into_factory()
                .map_err(|e: actix_web::Error| e.error_response()),
            |()| AppConfig::default(),
        ));
    fn_service(move |io: actix_web::rt::net::TcpStream| {
        // Compressed pages go out in chunks; without TCP_NODELAY, Nagle's algorithm meets the
        // client's delayed ACK and every keep-alive page stalls.
        if let Err(error) = io.set_nodelay(true) {
            tracing::warn!(%error, "Could not set TCP_NODELAY.");
        }
        let peer = io.peer_addr().ok();
        let io = connection::GuardedStream::new(io, guard.clone());
        std::future::ready(Ok::<_, actix_http::error::DispatchError>((io, peer)))
    })
    .and_then(service)
}

/// The timeouts of one server.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    request: Duration,
    write: Duration,
}

impl Timeouts {
    fn from_settings(settings: &Settings) -> Self {
        Timeouts {
            request: Duration::from_secs(settings.server.request_timeout_secs),
            write: Duration::from_secs(settings.server.write_timeout_secs),
        }
    }
}
