//! Infrastructure failures as HTTP responses: the only place a 5xx comes from, and the plain
//! 4xx answers to requests that cannot be read at all (a body too slow or too large).

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

/// A failure that is not an OAI-PMH protocol error.
#[derive(thiserror::Error)]
pub enum ServerError {
    /// The store failed.
    #[error("storage failure: {0}")]
    Store(#[from] StoreError),
    /// Too many list requests at once.
    #[error("too many list requests at once; retry in {retry_after_secs} s")]
    Overloaded {
        /// Seconds the client should wait.
        retry_after_secs: u64,
    },
    /// The blocking thread pool failed.
    #[error("internal error: {0}")]
    Internal(String),
    /// The request body did not arrive in time.
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    /// The request body is larger than the most the server reads.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The request body could not be read (a broken chunked encoding).
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    /// A POST body that is not form-encoded.
    #[error("POST requests must be application/x-www-form-urlencoded")]
    UnsupportedMediaType,
}

/// The error and every cause under it, one a line, as logs want it (`error.cause_chain`).
impl std::fmt::Debug for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")?;
        let mut cause = std::error::Error::source(self);
        while let Some(e) = cause {
            write!(f, "\nCaused by: {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        match self {
            ServerError::Store(_) | ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ServerError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::BadBody(_) => StatusCode::BAD_REQUEST,
            ServerError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType::plaintext());
        match self {
            ServerError::Overloaded { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            // The rest of the body is not read: the connection cannot carry another request.
            ServerError::BodyTimeout(_)
            | ServerError::BodyTooLarge(_)
            | ServerError::BadBody(_) => {
                response.insert_header((header::CONNECTION, "close"));
            }
            _ => {}
        }
        // Internal details go to the log, not to the client.
        let body = match self {
            ServerError::Store(_) | ServerError::Internal(_) => {
                "internal server error\n".to_owned()
            }
            other => format!("{other}\n"),
        };
        response.body(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_is_the_cause_chain() {
        let e = ServerError::Store(StoreError::Invalid("disk on fire".into()));
        let chain = format!("{e:?}");
        assert!(chain.starts_with("storage failure: "), "{chain}");
        assert!(chain.contains("disk on fire"), "{chain}");
        assert_eq!(e.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
