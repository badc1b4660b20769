//! The storage interface the protocol needs (`protocol::Repository`), implemented by the sled
//! store and by test doubles. It is synchronous because sled is; the HTTP layer runs it on a
//! blocking thread.

use super::model::{MetadataFormat, SetInfo};
use super::token::ListFilter;
use super::types::{Datestamp, MetadataPrefix, OaiIdentifier};

/// The outcome of looking up one item in one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No item has this identifier.
    NoSuchItem,
    /// The item exists but not in this format.
    NoSuchFormat,
    /// The rendered `<record>` was appended to the output.
    Written,
}

/// Where a page of records stopped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageEnd {
    /// How many items were written.
    pub written: usize,
    /// The (datestamp, identifier) of the last item written.
    pub last: Option<(Datestamp, String)>,
    /// True when the list goes on after this page.
    pub more: bool,
}

/// A repository of records, sets and formats that the protocol handler can serve.
pub trait Repository {
    /// Storage failure (never a protocol error).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The moment lists are answered as of when the clock says `now`: earlier while a write
    /// whose records are stamped but not yet visible is in progress.
    fn visible_until(&self, now: Datestamp) -> Datestamp {
        now
    }

    /// The earliest datestamp of any record, deleted ones included; `None` when empty.
    fn earliest_datestamp(&self) -> Result<Option<Datestamp>, Self::Error>;

    /// An identifier of a record in the repository, for the `oai-identifier` description.
    fn sample_identifier(&self) -> Result<Option<OaiIdentifier>, Self::Error>;

    /// Every metadata format the repository can disseminate (`oai_dc` first).
    fn metadata_formats(&self) -> Result<Vec<MetadataFormat>, Self::Error>;

    /// True when the repository can disseminate `prefix` (one of [`Self::metadata_formats`]).
    fn supports_format(&self, prefix: &MetadataPrefix) -> Result<bool, Self::Error> {
        Ok(self.metadata_formats()?.iter().any(|f| &f.prefix == prefix))
    }

    /// The formats one item is available in; `None` when the item does not exist.
    fn item_formats(
        &self,
        identifier: &OaiIdentifier,
    ) -> Result<Option<Vec<MetadataPrefix>>, Self::Error>;

    /// True when the repository has at least one set.
    fn has_sets(&self) -> Result<bool, Self::Error>;

    /// Number of sets.
    fn count_sets(&self) -> Result<u64, Self::Error>;

    /// Calls `each` for up to `limit` sets after `after` in setSpec order; true when more follow.
    fn sets_page(
        &self,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&SetInfo),
    ) -> Result<bool, Self::Error>;

    /// Appends the rendered `<record>` (or only its `<header>`) of one item to `out`.
    fn write_record(
        &self,
        identifier: &OaiIdentifier,
        prefix: &MetadataPrefix,
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<Lookup, Self::Error>;

    /// Counts the records (deleted ones included) that `filter` selects.
    fn count(&self, filter: &ListFilter) -> Result<u64, Self::Error>;

    /// Appends up to `limit` rendered records (or headers) selected by `filter`, in
    /// (datestamp, identifier) order, strictly after `after`.
    fn list_page(
        &self,
        filter: &ListFilter,
        after: Option<(Datestamp, &str)>,
        limit: usize,
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<PageEnd, Self::Error>;
}
