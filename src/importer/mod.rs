//! Importers: turn catalogue exports into Dublin Core records for the store.

pub mod pmb;
