//! The admin API (being written): off unless a token is configured.

use actix_web::web;

/// Registers the admin routes when an admin token is configured.
pub fn configure(_cfg: &mut web::ServiceConfig) {}
