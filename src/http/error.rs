//! Infrastructure failures as HTTP responses: the only place a 5xx comes from.

use actix_web::http::header::{self, ContentType};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use crate::store::StoreError;

/// A failure that is not an OAI-PMH protocol error.
#[derive(Debug, thiserror::Error)]
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
    /// The query string is longer than allowed.
    #[error("the request URL is longer than {0} bytes")]
    UrlTooLong(usize),
    /// A POST body that is not form-encoded.
    #[error("POST requests must be application/x-www-form-urlencoded")]
    UnsupportedMediaType,
}

impl ResponseError for ServerError {
    fn status_code(&self) -> StatusCode {
        match self {
            ServerError::Store(_) | ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServerError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ServerError::UrlTooLong(_) => StatusCode::URI_TOO_LONG,
            ServerError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header(ContentType::plaintext());
        if let ServerError::Overloaded { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
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
