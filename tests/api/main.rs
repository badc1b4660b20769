//! Integration tests: the real server on port 0 over a temporary sled store, spoken to over HTTP.

mod helpers;
mod identify;
mod list_records;
mod errors;
mod get_record;
mod cli;
