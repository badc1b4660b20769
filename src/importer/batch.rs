//! The write loop of the PMB display and UNIMARC loaders: the records of one file, in order,
//! their sets named before them, written in batches of [`BATCH`] (or, in a dry run,
//! classified), and every rejection and refusal reported by file and place. What differs
//! between the two formats (where a record is, how a refusal is worded) is a [`Placing`].

use std::collections::HashSet;
use std::path::Path;

use super::pmb::load::{define_named_set, NamedSet};
use super::{ImportError, ImportSummary};
use crate::store::{PutOutcome, RecordInput, RecordSink, StoreError};

/// Records written per transaction.
pub const BATCH: usize = 2000;

/// One item of a file, in file order.
pub enum Item {
    /// A record ready for the store.
    Record {
        /// The record.
        input: Box<RecordInput>,
        /// The sets to name before it is written.
        sets: Vec<NamedSet>,
        /// Characters illegal in XML removed from it.
        stripped: usize,
        /// Where it is in the file: a line or a record number, as its [`Placing`] says.
        at: usize,
    },
    /// A record recognised and deliberately not published.
    Skipped,
    /// A record refused before the store.
    Rejected(ImportError),
}

/// How a format places and words what the store refuses.
pub struct Placing {
    /// The error for the record at `at` of file `name`, identified by `identifier`, refused
    /// for `message`.
    pub refusal: fn(name: &Path, at: usize, identifier: &str, message: String) -> ImportError,
    /// Why a dry run says a record of another origin would be refused.
    pub other_origin: &'static str,
    /// Whether a set is looked at once per file: a UNIMARC file names its few sets thousands
    /// of times, while a display's periodical takes the name its latest bulletin gives it.
    pub name_sets_once: bool,
}

/// True when the file holds nothing but white space: nothing to import.
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Writes (or, in a dry run or with no store, classifies) the `items` of the file `name`,
/// reporting each rejection and refusal through `report`. With no store (a dry run before
/// the store exists), every record counts as added.
///
/// # Errors
/// A storage failure; the batch in flight is then not written.
pub fn write_items<S: RecordSink + ?Sized>(
    store: Option<&S>,
    dry_run: bool,
    name: &Path,
    items: impl Iterator<Item = Item>,
    placing: &Placing,
    report: &mut dyn FnMut(ImportError),
) -> Result<ImportSummary, StoreError> {
    let mut summary = ImportSummary::default();
    let mut batches = store
        .filter(|_| !dry_run)
        .map(|store| Batches::new(store, name, placing));
    for item in items {
        let (input, sets, stripped, at) = match item {
            Item::Skipped => {
                summary.skipped += 1;
                continue;
            }
            Item::Rejected(e) => {
                summary.rejected += 1;
                report(e);
                continue;
            }
            Item::Record {
                input,
                sets,
                stripped,
                at,
            } => (*input, sets, stripped, at),
        };
        summary.stripped_characters += stripped as u64;
        match &mut batches {
            Some(batches) => batches.push(input, &sets, at, &mut summary, report)?,
            None => classify(store, name, placing, &input, at, &mut summary, report)?,
        }
    }
    if let Some(batches) = &mut batches {
        batches.write(&mut summary, report)?;
    }
    Ok(summary)
}

/// Counts what writing `input` would do, reporting a record another origin holds.
fn classify<S: RecordSink + ?Sized>(
    store: Option<&S>,
    name: &Path,
    placing: &Placing,
    input: &RecordInput,
    at: usize,
    summary: &mut ImportSummary,
    report: &mut dyn FnMut(ImportError),
) -> Result<(), StoreError> {
    let outcome = match store {
        Some(store) => store.classify(input)?,
        None => PutOutcome::Added,
    };
    if outcome == PutOutcome::Rejected {
        let message = placing.other_origin.to_owned();
        report((placing.refusal)(
            name,
            at,
            input.identifier.as_ref(),
            message,
        ));
    }
    summary.count(outcome);
    Ok(())
}

/// The batch being filled, with the place of each of its records.
struct Batches<'a, S: ?Sized> {
    store: &'a S,
    name: &'a Path,
    placing: &'a Placing,
    records: Vec<RecordInput>,
    places: Vec<usize>,
    named: HashSet<String>,
}

impl<'a, S: RecordSink + ?Sized> Batches<'a, S> {
    fn new(store: &'a S, name: &'a Path, placing: &'a Placing) -> Self {
        Batches {
            store,
            name,
            placing,
            records: Vec::with_capacity(BATCH),
            places: Vec::with_capacity(BATCH),
            named: HashSet::new(),
        }
    }

    /// Names the sets of `input`, then adds it to the batch, written when full.
    fn push(
        &mut self,
        input: RecordInput,
        sets: &[NamedSet],
        at: usize,
        summary: &mut ImportSummary,
        report: &mut dyn FnMut(ImportError),
    ) -> Result<(), StoreError> {
        for set in sets {
            if !self.placing.name_sets_once || self.named.insert(set.spec.as_ref().to_owned()) {
                summary.sets += define_named_set(self.store, set)?;
            }
        }
        self.records.push(input);
        self.places.push(at);
        if self.records.len() >= BATCH {
            self.write(summary, report)?;
        }
        Ok(())
    }

    /// Writes the batch in one transaction and reports what the store refused in it.
    fn write(
        &mut self,
        summary: &mut ImportSummary,
        report: &mut dyn FnMut(ImportError),
    ) -> Result<(), StoreError> {
        if self.records.is_empty() {
            return Ok(());
        }
        let outcome = self.store.put_batch(std::mem::take(&mut self.records))?;
        for refusal in &outcome.refusals {
            let at = self.places.get(refusal.index).copied().unwrap_or(0);
            let message = refusal.to_string();
            report((self.placing.refusal)(
                self.name,
                at,
                &refusal.identifier,
                message,
            ));
        }
        self.places.clear();
        summary.record(&outcome);
        Ok(())
    }
}
