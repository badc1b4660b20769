//! Route handlers: GET and POST `/oai`, `/health`.

use std::time::Instant;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse};

use super::error::ServerError;
use super::AppState;
use crate::protocol::{self, Datestamp, RawRequest};

fn is_list_verb(raw: &RawRequest) -> bool {
    raw.pairs().iter().any(|(k, v)| {
        k == "verb" && matches!(v.as_str(), "ListRecords" | "ListIdentifiers" | "ListSets")
    })
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
    let response = if is_list_verb(&raw) {
        // Lists are the expensive requests: beyond the permits, tell clients to come back
        // rather than queueing without bound.
        let Ok(permit) = state.list_permits.clone().try_acquire_owned() else {
            tracing::warn!(
                retry_after = state.retry_after_secs,
                "Overloaded: list request refused with 503."
            );
            state.metrics.overloaded();
            return Err(ServerError::Overloaded {
                retry_after_secs: state.retry_after_secs,
            });
        };
        let state = state.clone();
        let response = web::block(move || {
            let _permit = permit;
            protocol::handle(&state.store, &state.context, &raw, now)
        })
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))?;
        response?
    } else {
        protocol::handle(&state.store, &state.context, &raw, now)?
    };
    state.metrics.observe(&response, started.elapsed());
    tracing::info!(
        verb = response.verb.map(protocol::Verb::as_str),
        arguments = arguments.as_deref().unwrap_or_default(),
        status = 200,
        items = response.items,
        bytes = response.body.len(),
        errors = ?response.error_codes,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "OAI request."
    );
    Ok(HttpResponse::Ok()
        .content_type("text/xml; charset=UTF-8")
        .body(response.body))
}

/// GET `/oai?verb=…`
pub async fn oai_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ServerError> {
    let query = req.query_string();
    if query.len() > state.max_url_bytes {
        return Err(ServerError::UrlTooLong(state.max_url_bytes));
    }
    answer(state, RawRequest::from_urlencoded(query.as_bytes())).await
}

/// POST `/oai` with an `application/x-www-form-urlencoded` body (§3.1.1.2).
pub async fn oai_post(
    req: HttpRequest,
    body: web::Bytes,
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
    answer(state, RawRequest::from_urlencoded(&body)).await
}

/// `/health`: 200 when the store answers.
pub async fn health(state: web::Data<AppState>) -> Result<HttpResponse, ServerError> {
    let store = state.store.clone();
    let secret_ok = web::block(move || store.token_secret().map(|_| ()))
        .await
        .map_err(|e| ServerError::Internal(e.to_string()))?;
    secret_ok?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body("{\"status\":\"ok\"}\n"))
}
