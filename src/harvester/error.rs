//! `HarvestError`: everything that can stop the harvest of one source, naming what failed.

use crate::protocol::xml::read::ReadError;
use crate::store::StoreError;

/// Why the harvest of a source (or one request of it) failed.
#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    /// The request could not be made or its response not read (connection, timeout, TLS).
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The request URL.
        url: String,
        /// What reqwest said.
        #[source]
        source: reqwest::Error,
    },
    /// The provider answered with an HTTP status that is not a response.
    #[error("{url} answered HTTP {status}")]
    Http {
        /// The request URL.
        url: String,
        /// The status code.
        status: u16,
        /// `Retry-After`, when given.
        retry_after: Option<std::time::Duration>,
    },
    /// The body grew past the size cap (after decompression).
    #[error("the response of {url} is larger than {limit} bytes")]
    TooLarge {
        /// The request URL.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The body stopped where a connection without length framing closed: it may have been
    /// cut short in transit (retried).
    #[error("the response of {url} was cut short: {source}")]
    CutShort {
        /// The request URL.
        url: String,
        /// Where the XML stopped.
        #[source]
        source: ReadError,
    },
    /// The body arrived whole but is not a usable OAI-PMH response (not retried).
    #[error("the response of {url} is not usable: {source}")]
    Malformed {
        /// The request URL.
        url: String,
        /// What is wrong with it.
        #[source]
        source: ReadError,
    },
    /// The provider answered with an OAI-PMH `<error>` that ends the harvest.
    #[error("{url} answered with OAI-PMH error {code}: {message}")]
    Provider {
        /// The request URL.
        url: String,
        /// The error code.
        code: String,
        /// Its text.
        message: String,
    },
    /// The provider answered with something else than what was asked.
    #[error("{url}: {message}")]
    Unexpected {
        /// The request URL.
        url: String,
        /// What was wrong.
        message: String,
    },
    /// The provider sent a resumption token it had already sent in this list.
    #[error("{url} sent resumption token \"{token}\" a second time: the list loops")]
    LoopingToken {
        /// The request URL.
        url: String,
        /// The repeated token.
        token: String,
    },
    /// The provider kept answering badResumptionToken even after restarting the list.
    #[error("{url}: the list was restarted {restarts} times after badResumptionToken, giving up")]
    TooManyRestarts {
        /// The request URL.
        url: String,
        /// How many restarts were made.
        restarts: u32,
    },
    /// The identifier sweep would remove more of the source's records than allowed.
    #[error(
        "the identifier sweep of source \"{source_name}\" found {stale} of its {held} records \
         no longer listed, more than reconcile_max_share = {max_share}: nothing removed; if the \
         source really dropped them, run `moisson harvest {source_name} --reconcile --force`"
    )]
    SweepHeldBack {
        /// The source.
        source_name: String,
        /// Records no longer listed.
        stale: u64,
        /// Records of the source in the store.
        held: u64,
        /// The configured share.
        max_share: f64,
    },
    /// The identifier sweep's own list failed: nothing was removed.
    #[error("the identifier sweep failed, nothing was removed: {0}")]
    Sweep(#[source] Box<HarvestError>),
    /// Another harvest of this source is running.
    #[error("a harvest of source \"{source_name}\" is already running")]
    AlreadyRunning {
        /// The source.
        source_name: String,
    },
    /// Writing to the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A lock file could not be made.
    #[error("cannot use lock file {path}: {source}")]
    Lock {
        /// The lock file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A background task died.
    #[error("internal error: {0}")]
    Task(String),
}

impl HarvestError {
    /// The request URL that failed, for the errors a request caused.
    pub fn url(&self) -> Option<&str> {
        match self {
            HarvestError::Transport { url, .. }
            | HarvestError::Http { url, .. }
            | HarvestError::TooLarge { url, .. }
            | HarvestError::CutShort { url, .. }
            | HarvestError::Malformed { url, .. }
            | HarvestError::Provider { url, .. }
            | HarvestError::Unexpected { url, .. }
            | HarvestError::LoopingToken { url, .. }
            | HarvestError::TooManyRestarts { url, .. } => Some(url),
            HarvestError::Sweep(inner) => inner.url(),
            HarvestError::SweepHeldBack { .. }
            | HarvestError::AlreadyRunning { .. }
            | HarvestError::Store(_)
            | HarvestError::Lock { .. }
            | HarvestError::Task(_) => None,
        }
    }
}
