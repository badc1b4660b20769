//! When to retry a request and how long to wait: the retry rules in one place.
//!
//! Retried, because a second try may succeed: timeouts and connection errors, HTTP 408, 429
//! and 5xx, and a body cut short in transit (fewer bytes than its Content-Length, a chunked
//! body without its last chunk, a gzip stream that stops, or XML that stops where a
//! connection without any length framing closed).
//!
//! Not retried, because the same request gets the same answer: a complete body that is not a
//! usable OAI-PMH response (malformed XML, an HTML page served with 200, junk after
//! `</OAI-PMH>`), a body over the size cap, other 4xx, and OAI-PMH `<error>`s. The harvest of
//! the source fails at once, naming the URL and the reason; retrying such a page on every run
//! only delayed the failure.
//!
//! The wait is the provider's `Retry-After` (seconds or HTTP-date), kept between a floor and a
//! cap, or else exponential backoff with jitter, capped.

use std::time::{Duration, SystemTime};

use super::config::SourcePolicy;
use super::error::HarvestError;

/// True when the failed request may succeed if made again.
pub fn is_retryable(error: &HarvestError) -> bool {
    match error {
        HarvestError::Transport { source, .. } => {
            source.is_timeout()
                || source.is_connect()
                || source.is_request()
                || source.is_body()
                || source.is_decode()
        }
        HarvestError::Http { status, .. } => is_retryable_status(*status),
        HarvestError::CutShort { .. } => true,
        HarvestError::TooLarge { .. }
        | HarvestError::Malformed { .. }
        | HarvestError::Provider { .. }
        | HarvestError::Unexpected { .. }
        | HarvestError::LoopingToken { .. }
        | HarvestError::TooManyRestarts { .. }
        | HarvestError::SweepHeldBack { .. }
        | HarvestError::Sweep(_)
        | HarvestError::AlreadyRunning { .. }
        | HarvestError::Store(_)
        | HarvestError::Lock { .. }
        | HarvestError::Task(_) => false,
    }
}

/// 408 Request Timeout, 429 Too Many Requests and every 5xx.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// How long to wait before retry number `attempt` (0 for the first retry).
pub fn wait_before_retry(policy: &SourcePolicy, attempt: u32, error: &HarvestError) -> Duration {
    if let HarvestError::Http {
        retry_after: Some(wait),
        ..
    } = error
    {
        return (*wait).clamp(
            policy.retry_after_floor,
            policy.retry_after_cap.max(policy.retry_after_floor),
        );
    }
    backoff(policy, attempt, rand::random::<f64>())
}

/// Exponential backoff with "equal jitter": half of `base·2^attempt` (capped) plus a random
/// part of the other half, so that retries of many harvesters spread out but never come
/// back at once.
pub fn backoff(policy: &SourcePolicy, attempt: u32, jitter: f64) -> Duration {
    let exp = policy
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(policy.backoff_cap);
    let half = exp / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SourcePolicy {
        SourcePolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(2),
            retry_after_floor: Duration::from_secs(1),
            retry_after_cap: Duration::from_secs(60),
            ..SourcePolicy::default()
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_as_an_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after(" 10 ", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn retry_after_is_kept_between_floor_and_cap() {
        let p = policy();
        let http = |secs| HarvestError::Http {
            url: String::new(),
            status: 503,
            retry_after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(wait_before_retry(&p, 0, &http(0)), Duration::from_secs(1));
        assert_eq!(wait_before_retry(&p, 0, &http(10)), Duration::from_secs(10));
        assert_eq!(
            wait_before_retry(&p, 0, &http(86_400)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = policy();
        assert_eq!(backoff(&p, 0, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(&p, 0, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(&p, 3, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(&p, 30, 1.0), Duration::from_secs(2));
        for attempt in 0..10 {
            let d = backoff(&p, attempt, 0.5);
            assert!(d >= backoff(&p, attempt, 0.0) && d <= backoff(&p, attempt, 1.0));
        }
    }

    #[test]
    fn statuses_are_classified() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 422] {
            assert!(!is_retryable_status(s), "{s}");
        }
    }
}
