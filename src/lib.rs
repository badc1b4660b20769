//! moisson: an OAI-PMH 2.0 data provider and harvester for Dublin Core metadata.
#![warn(missing_docs)]

pub mod dc;
pub mod protocol;
pub mod store;
pub mod config;
pub mod http;
pub mod cli;
pub mod demo;
pub mod telemetry;
pub mod importer;
pub mod harvester;
