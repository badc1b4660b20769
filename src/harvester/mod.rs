//! The harvester: pulls records from upstream OAI-PMH repositories into the store
//! (being written).

pub mod config;
