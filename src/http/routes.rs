//! Route handlers: GET and POST `/oai`, `/health`.
//!
//! Every store read runs on the blocking pool (`web::block`): sled may wait on the disk, and
//! an async worker that waits stops every connection it serves.

use std::time::Instant;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};

use super::body::{self, FormBody};
use super::error::ServerError;
use super::AppState;
use crate::protocol::{self, Datestamp, OaiError, RawRequest};

fn is_list_verb(raw: &RawRequest) -> bool {
    raw.pairs().iter().any(|(k, v)| {
        k == "verb" && matches!(v.as_str(), "ListRecords" | "ListIdentifiers" | "ListSets")
    })
}

/// Logs a failure that becomes a 5xx, once, with its causes, and counts it.
pub(super) fn server_failure(state: &AppState, error: ServerError) -> ServerError {
    tracing::error!(
        error.cause_chain = ?error,
        error.message = %error,
        "Request failed."
    );
    state.metrics.server_error(&error);
    error
}

fn overloaded(state: &AppState, what: &str) -> ServerError {
    tracing::warn!(
        retry_after = state.retry_after_secs,
        "Overloaded: {what}; refused with 503."
    );
    state.metrics.overloaded();
    ServerError::Overloaded {
        retry_after_secs: state.retry_after_secs,
    }
}

async fn answer(state: web::Data<AppState>, raw: RawRequest) -> Result<HttpResponse, ServerError> {
    let started = Instant::now();
    // The access line names the arguments as received (the token included: it is not secret);
    // they are encoded only when the line will be written, to keep GetRecord's path short.
    let arguments = tracing::enabled!(tracing::Level::INFO).then(|| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(raw.pairs().iter().filter(|(k, _)| k != "verb"))
            .finish()
    });
    let now = Datestamp::now();
    // Lists are the expensive requests: beyond the permits, tell clients to come back
    // rather than queueing without bound.
    //
    // The permit is held until the page is in the response buffer (or refused): released when
    // the blocking task ends, it would let rendered pages pile up while the async workers are
    // too busy to take them, without bound (1,000 non-reading clients: 600 MB).
    let permit = if is_list_verb(&raw) {
        if state.responses.nearly_full() {
            return Err(overloaded(&state, "the response buffer is full"));
        }
        let Ok(permit) = state.list_permits.clone().try_acquire_owned() else {
            return Err(overloaded(&state, "too many list requests at once"));
        };
        Some(permit)
    } else {
        None
    };
    let shared = state.clone();
    let buffer = if permit.is_some() {
        state.responses.buffer()
    } else {
        Vec::with_capacity(protocol::RESPONSE_CAPACITY)
    };
    // Every verb, GetRecord included, reads sled and the value log, which may wait on the disk.
    let response =
        web::block(move || protocol::handle_in(&shared.store, &shared.context, &raw, now, buffer))
            .await
            .map_err(|e| server_failure(&state, ServerError::Internal(e.to_string())))?
            .map_err(|e| server_failure(&state, ServerError::Store(e)))?;
    respond(&state, response, started, arguments.as_deref())
}

/// Sends a written response, if the response budget has room for it.
fn respond(
    state: &AppState,
    response: protocol::Response,
    started: Instant,
    arguments: Option<&str>,
) -> Result<HttpResponse, ServerError> {
    let bytes = response.body.len();
    let verb = response.verb;
    let items = response.items;
    let errors = response.error_codes.clone();
    state.metrics.observe(&response, started.elapsed());
    let Some(body) = state.responses.body(response.body) else {
        return Err(overloaded(
            state,
            "the response does not fit in the response buffer",
        ));
    };
    tracing::info!(
        verb = verb.map(protocol::Verb::as_str),
        arguments = arguments.unwrap_or_default(),
        status = 200,
        items,
        bytes,
        errors = ?errors,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "OAI request."
    );
    Ok(HttpResponse::Ok()
        .content_type("text/xml; charset=UTF-8")
        .body(body))
}

/// Answers `badArgument` to a request too large to be parsed.
fn too_large(
    state: &AppState,
    what: &str,
    len: usize,
    max: usize,
) -> Result<HttpResponse, ServerError> {
    let started = Instant::now();
    let error = OaiError::BadArgument(format!(
        "the {what} is {len} bytes long; this repository reads at most {max} bytes of arguments"
    ));
    let response = protocol::handler::refuse(&state.context, Datestamp::now(), error);
    respond(state, response, started, None)
}

/// GET `/oai?verb=…`
pub async fn oai_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ServerError> {
    let query = req.query_string();
    let max = state.limits.max_url_bytes;
    if query.len() > max {
        return too_large(&state, "query string", query.len(), max);
    }
    answer(state, RawRequest::from_urlencoded(query.as_bytes())).await
}

/// POST `/oai` with an `application/x-www-form-urlencoded` body (§3.1.1.2).
pub async fn oai_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ServerError> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form {
        return Err(ServerError::UnsupportedMediaType);
    }
    let content_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let limits = state.limits;
    let body = body::read_form(
        &mut payload.into_inner(),
        content_length,
        (limits.max_body_bytes, limits.body_hard_limit),
        limits.body_timeout,
    )
    .await?;
    match body {
        FormBody::Complete(body) => answer(state, RawRequest::from_urlencoded(&body)).await,
        FormBody::Oversized(len) => too_large(&state, "request body", len, limits.max_body_bytes),
    }
}

/// `/health`: 200 when the store answers.
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ServerError> {
    let store = state.store.clone();
    web::block(move || store.token_secret().map(|_| ()))
        .await
        .map_err(|e| server_failure(&state, ServerError::Internal(e.to_string())))?
        .map_err(|e| server_failure(&state, ServerError::Store(e)))?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body("{\"status\":\"ok\"}\n"))
}
