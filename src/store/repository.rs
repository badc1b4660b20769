//! `protocol::Repository` over the index: lists are lazy cursors ([`index::Cursor`]), never a
//! collected result set.

use std::ops::Bound;

use super::error::StoreError;
use super::index::{Cursor, Item, Selection};
use super::vlog::BlobRef;
use super::{codec, counts, keys, set_info, Store, FORMAT_KEY_PREFIX, OAI_DC};
use crate::protocol::repository::{Lookup, PageEnd, Repository};
use crate::protocol::token::ListFilter;
use crate::protocol::{Datestamp, MetadataFormat, MetadataPrefix, OaiIdentifier, SetInfo};

impl Store {
    pub(crate) fn cursor<'a>(
        &self,
        filter: &'a ListFilter,
        from: Option<i64>,
        until: i64,
        after: Option<(i64, &'a str)>,
    ) -> Result<Cursor<'a>, StoreError> {
        Cursor::new(
            self.index(),
            Selection {
                format: Some(filter.metadata_prefix.as_ref()),
                set: filter.set.as_ref().map(AsRef::as_ref),
                from,
                until,
                after,
            },
            self.next_seq(),
        )
    }

    /// Appends these `oai_dc` forms (or their headers) to `out`, in order, with room made at
    /// once for them and for the end of the response (a page of 400 KB that outgrew its
    /// buffer by its closing tags was copied whole).
    fn read_blobs(
        &self,
        refs: &[BlobRef],
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        if !headers_only {
            out.reserve(refs.iter().map(|r| r.raw_len as usize).sum::<usize>() + PAGE_END);
        }
        self.inner
            .vlog
            .read_many_into(refs, headers_only, out)
            .map_err(|e| self.vlog_error(e))
    }

    /// Appends an item's rendered form in `prefix` (or its header) to `out`.
    fn write_item(
        &self,
        item: &Item,
        prefix: &str,
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        let slot = item.slot();
        if prefix == OAI_DC {
            if let Some(r) = slot.dc_ref {
                return self.read_blob(r, headers_only, out);
            }
        }
        let record = slot.record()?;
        if self.write_rendered(&record, prefix, headers_only, out)? {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                key: slot.identifier.to_owned(),
                message: format!("listed in {prefix} without a rendered form in it"),
            })
        }
    }
}

impl Repository for Store {
    type Error = StoreError;

    fn visible_until(&self, now: Datestamp) -> Datestamp {
        Store::visible_until(self, now)
    }

    fn earliest_datestamp(&self) -> Result<Option<Datestamp>, StoreError> {
        Ok(self
            .all()?
            .next_item()?
            .map(|i| Datestamp::from_unix(i.slot().datestamp)))
    }

    fn sample_identifier(&self) -> Result<Option<OaiIdentifier>, StoreError> {
        Ok(self
            .all()?
            .next_item()?
            .and_then(|i| OaiIdentifier::parse(i.slot().identifier)))
    }

    fn metadata_formats(&self) -> Result<Vec<MetadataFormat>, StoreError> {
        let mut formats = vec![MetadataFormat::oai_dc()];
        for item in self.inner.meta.scan_prefix(FORMAT_KEY_PREFIX) {
            let (k, v) = item?;
            formats.push(codec::decode(&k, &v)?);
        }
        Ok(formats)
    }

    fn supports_format(&self, prefix: &MetadataPrefix) -> Result<bool, StoreError> {
        if prefix.as_ref() == OAI_DC {
            return Ok(true);
        }
        let mut key = FORMAT_KEY_PREFIX.to_vec();
        key.extend_from_slice(prefix.as_ref().as_bytes());
        Ok(self.inner.meta.contains_key(key)?)
    }

    fn item_formats(
        &self,
        identifier: &OaiIdentifier,
    ) -> Result<Option<Vec<MetadataPrefix>>, StoreError> {
        Ok(self.get(identifier.as_ref())?.map(|r| {
            r.formats
                .iter()
                .filter_map(|f| MetadataPrefix::parse(f))
                .collect()
        }))
    }

    fn has_sets(&self) -> Result<bool, StoreError> {
        Ok(!self.inner.sets.is_empty())
    }

    fn count_sets(&self) -> Result<u64, StoreError> {
        Ok(self.inner.sets.len() as u64)
    }

    fn sets_page(
        &self,
        after: Option<&str>,
        limit: usize,
        each: &mut dyn FnMut(&SetInfo),
    ) -> Result<bool, StoreError> {
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.as_bytes().to_vec()));
        let mut iter = self
            .inner
            .sets
            .range::<Vec<u8>, _>((start, Bound::Unbounded));
        for _ in 0..limit {
            match iter.next().transpose()? {
                Some((k, v)) => each(&set_info(&k, &v)?),
                None => return Ok(false),
            }
        }
        Ok(iter.next().transpose()?.is_some())
    }

    fn write_record(
        &self,
        identifier: &OaiIdentifier,
        prefix: &MetadataPrefix,
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<Lookup, StoreError> {
        let index = self.index();
        let Some((seq, dc_ref)) = index.lookup_ref(identifier.as_ref())? else {
            return Ok(Lookup::NoSuchItem);
        };
        if prefix.as_ref() == OAI_DC && !dc_ref.is_empty() {
            self.read_blob(&dc_ref, headers_only, out)?;
            return Ok(Lookup::Written);
        }
        let Some(page) = index.page(seq / super::page::SLOTS)? else {
            return Ok(Lookup::NoSuchItem);
        };
        let Some(slot) = super::page::slot(&page, super::index::slot_index(seq)) else {
            return Ok(Lookup::NoSuchItem);
        };
        if prefix.as_ref() == OAI_DC {
            if let Some(r) = slot.dc_ref {
                self.read_blob(r, headers_only, out)?;
                return Ok(Lookup::Written);
            }
        }
        if self.write_rendered(&slot.record()?, prefix.as_ref(), headers_only, out)? {
            Ok(Lookup::Written)
        } else {
            Ok(Lookup::NoSuchFormat)
        }
    }

    fn count(&self, filter: &ListFilter) -> Result<u64, StoreError> {
        let prefix = filter.metadata_prefix.as_ref();
        let scope = match &filter.set {
            Some(set) => keys::set_scope(prefix, set.as_ref()),
            None => keys::format_scope(prefix),
        };
        // Counts are exact per time bucket; only the edges of a range shorter than a bucket are
        // counted record by record. A list that runs to the newest record (the usual first page:
        // no `until`) counts as if unbounded, so that a store written in the last few days (all
        // in one bucket) is not read whole to answer page 1.
        let from = filter.from.map_or(i64::MIN / 4, Datestamp::unix);
        let until = match self.latest_bound()? {
            Some(latest) if filter.until.unix() >= latest => i64::MAX / 4,
            _ => filter.until.unix(),
        };
        let index = self.index();
        counts::count(
            &scope,
            from,
            until,
            |lo, hi| {
                let mut total: i64 = 0;
                for item in index.counts.range(lo..hi) {
                    let (_, v) = item?;
                    total += v.as_ref().try_into().map_or(0, i64::from_le_bytes);
                }
                Ok(u64::try_from(total).unwrap_or(0))
            },
            |a, b| {
                let mut cursor = self.cursor(filter, Some(a), b.saturating_sub(1), None)?;
                let mut n = 0;
                while cursor.next_item()?.is_some() {
                    n += 1;
                }
                Ok(n)
            },
        )
    }

    fn list_page(
        &self,
        filter: &ListFilter,
        after: Option<(Datestamp, &str)>,
        limit: usize,
        headers_only: bool,
        out: &mut Vec<u8>,
    ) -> Result<PageEnd, StoreError> {
        let after = after.map(|(d, id)| (d.unix(), id));
        let mut cursor = self.cursor(
            filter,
            filter.from.map(Datestamp::unix),
            filter.until.unix(),
            after,
        )?;
        let prefix = filter.metadata_prefix.as_ref();
        let mut page = PageEnd::default();
        // The `oai_dc` forms of consecutive records are mostly consecutive in the value log:
        // they are read together, a range at a time.
        let mut pending: Vec<BlobRef> = Vec::with_capacity(limit.min(1024));
        let mut last = None;
        while page.written < limit {
            let Some(item) = cursor.next_item()? else {
                break;
            };
            if let Some(r) = item.slot().dc_ref.filter(|_| prefix == OAI_DC) {
                pending.push(decode_ref(r)?);
            } else {
                self.read_blobs(&pending, headers_only, out)?;
                pending.clear();
                self.write_item(&item, prefix, headers_only, out)?;
            }
            page.written += 1;
            last = Some(item);
        }
        self.read_blobs(&pending, headers_only, out)?;
        if let Some(item) = last {
            let slot = item.slot();
            page.last = Some((
                Datestamp::from_unix(slot.datestamp),
                slot.identifier.to_owned(),
            ));
        }
        page.more = page.written == limit && cursor.next_item()?.is_some();
        Ok(page)
    }
}

/// Room for what follows the records of a page: the resumption token and closing tags.
const PAGE_END: usize = 2048;

fn decode_ref(reference: &[u8]) -> Result<BlobRef, StoreError> {
    BlobRef::decode(reference).ok_or_else(|| StoreError::Corrupt {
        key: "blob reference".into(),
        message: "malformed".into(),
    })
}
