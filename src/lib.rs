//! moisson: an OAI-PMH 2.0 data provider and harvester for Dublin Core metadata.
#![warn(missing_docs)]

pub mod dc;
pub mod importer;
