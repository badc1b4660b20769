//! OAI-PMH XML: writing responses (§3.2) and reading them back (for the harvester).

pub mod read;
pub mod write;
