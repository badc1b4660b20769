//! Integration tests: the real server on port 0 over a temporary sled store, spoken to over HTTP.

mod browser;
mod cli;
mod errors;
mod get_record;
mod harvest;
mod helpers;
mod hostile_arguments;
mod identify;
mod import_pmb;
mod import_unimarc;
mod list_records;
mod metrics;
mod pmb_harvest;
mod roundtrip;
mod slow_clients;
mod unicode;
mod web;
