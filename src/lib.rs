//! moisson: an OAI-PMH 2.0 data provider and harvester for Dublin Core metadata.
#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod dc;
pub mod demo;
pub mod harvester;
pub mod http;
pub mod importer;
pub mod protocol;
pub mod store;
pub mod telemetry;
pub mod web;
