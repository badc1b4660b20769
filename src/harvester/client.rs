//! `OaiClient`: OAI-PMH requests to one provider over reqwest, with the politeness and
//! robustness rules of [`super::retry`]: a User-Agent naming moisson, connect and read
//! timeouts, gzip/deflate, a pause between requests, a decompressed size cap, and retries.

use std::time::{Instant, SystemTime};

use reqwest::header::RETRY_AFTER;

use super::config::SourcePolicy;
use super::error::HarvestError;
use super::retry::{is_retryable, is_retryable_status, parse_retry_after, wait_before_retry};
use crate::protocol::xml::read::{read_response, Response};

/// The User-Agent of every request: `moisson/<version>`.
pub const USER_AGENT: &str = concat!("moisson/", env!("CARGO_PKG_VERSION"));

/// A client for one OAI-PMH baseURL; it counts its requests and retries.
#[derive(Debug)]
pub struct OaiClient {
    http: reqwest::Client,
    base_url: String,
    policy: SourcePolicy,
    last_request: Option<Instant>,
    /// HTTP requests made, retries included.
    pub requests: u64,
    /// Requests made again after a retryable failure.
    pub retries: u64,
}

/// Builds the reqwest client of a policy.
///
/// # Errors
/// When the TLS backend cannot be initialised.
pub fn http_client(policy: &SourcePolicy) -> Result<reqwest::Client, HarvestError> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(policy.connect_timeout)
        .read_timeout(policy.read_timeout)
        .timeout(policy.request_timeout)
        .gzip(true)
        .deflate(true)
        .build()
        .map_err(|source| HarvestError::Transport {
            url: String::new(),
            source,
        })
}

impl OaiClient {
    /// A client for `base_url`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(base_url: &str, policy: SourcePolicy) -> Result<OaiClient, HarvestError> {
        Ok(OaiClient {
            http: http_client(&policy)?,
            base_url: base_url.to_owned(),
            policy,
            last_request: None,
            requests: 0,
            retries: 0,
        })
    }

    /// The baseURL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The request URL for these arguments (`verb` first).
    pub fn url(&self, args: &[(&str, &str)]) -> String {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(args)
            .finish();
        // Some baseURLs already carry a query string (`…/oai?repo=x`).
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", self.base_url)
    }

    /// Makes a request and reads its response, retrying what may succeed on a second try.
    ///
    /// An OAI-PMH response is returned whatever its HTTP status (Zenodo sends its `<error>`s
    /// with 422); its `<error>`s are for the caller to judge.
    ///
    /// # Errors
    /// The last failure, once it is not retryable or the retries are spent.
    #[tracing::instrument(skip_all, fields(url = tracing::field::Empty), err(Display))]
    pub async fn call(&mut self, args: &[(&str, &str)]) -> Result<Response, HarvestError> {
        let url = self.url(args);
        tracing::Span::current().record("url", url.as_str());
        let mut attempt = 0;
        loop {
            match self.fetch(&url).await {
                Ok(response) => return Ok(response),
                Err(error) if attempt < self.policy.retries && is_retryable(&error) => {
                    let wait = wait_before_retry(&self.policy, attempt, &error);
                    tracing::warn!(
                        error.message = %error,
                        attempt = attempt + 1,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "Request failed, retrying."
                    );
                    attempt += 1;
                    self.retries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn pace(&mut self) {
        if let Some(last) = self.last_request {
            let next = last + self.policy.delay;
            if next > Instant::now() {
                tokio::time::sleep_until(next.into()).await;
            }
        }
        self.last_request = Some(Instant::now());
    }

    async fn fetch(&mut self, url: &str) -> Result<Response, HarvestError> {
        self.pace().await;
        self.requests += 1;
        let transport = |source| HarvestError::Transport {
            url: url.to_owned(),
            source,
        };
        let mut response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        if is_retryable_status(status) {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            return Err(HarvestError::Http {
                url: url.to_owned(),
                status,
                retry_after,
            });
        }
        // A body with a Content-Length or in chunks that arrived whole is complete: hyper
        // reports a shorter one as a transport error. Only a body delimited by the connection
        // closing can look complete when it was cut.
        let framed = response.content_length().is_some()
            || response
                .headers()
                .get(reqwest::header::TRANSFER_ENCODING)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let limit = self.policy.max_body_bytes;
        let expected = response
            .content_length()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(64 * 1024);
        let mut body = Vec::with_capacity(expected.min(limit));
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(HarvestError::TooLarge {
                    url: url.to_owned(),
                    limit,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let parsed = tokio::task::spawn_blocking(move || read_response(body))
            .await
            .map_err(|e| HarvestError::Task(e.to_string()))?;
        let ok_status = (200..300).contains(&status);
        match parsed {
            Ok(r) if ok_status || !r.errors.is_empty() => Ok(r),
            Err(source @ crate::protocol::xml::read::ReadError::Truncated { .. })
                if ok_status && !framed =>
            {
                Err(HarvestError::CutShort {
                    url: url.to_owned(),
                    source,
                })
            }
            Err(source) if ok_status => Err(HarvestError::Malformed {
                url: url.to_owned(),
                source,
            }),
            _ => Err(HarvestError::Http {
                url: url.to_owned(),
                status,
                retry_after: None,
            }),
        }
    }
}
