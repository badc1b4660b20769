//! The write loop of the PMB display and UNIMARC loaders: the records of one file, in order,
//! their sets named before them, written in batches of [`BATCH`] (or, in a dry run,
//! classified), and every rejection and refusal reported by file and place. What differs
//! between the two formats (where a record is, how a refusal is worded) is a [`Placing`].
//!
//! Batches are written by a [`BatchWriter`] while the next batch is read and mapped
//! ([`write_items_pipelined`], as `import pmb|unimarc` and the admin API do); a batch's
//! refusals are placed with the places of that batch.

use std::collections::HashSet;
use std::path::Path;

use super::pmb::load::{define_named_set, NamedSet};
use super::{ImportError, ImportSummary};
use crate::store::pipeline::BatchWriter;
use crate::store::{BatchOutcome, PutOutcome, RecordInput, RecordSink, Refusal, StoreError};

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

/// The summary of a blank file: nothing to import.
pub fn blank_file() -> ImportSummary {
    ImportSummary {
        nothing_to_import: true,
        ..ImportSummary::default()
    }
}

/// A file being written: its name, how its records are placed, and whether this is a dry run.
pub struct File<'a> {
    /// The name errors give it.
    pub name: &'a Path,
    /// How its format places what the store refuses.
    pub placing: &'a Placing,
    /// Write nothing, only count what would change.
    pub dry_run: bool,
}

impl<'a> File<'a> {
    /// The file `name` of a format placing records as `placing` says.
    pub fn new(name: &'a Path, placing: &'a Placing, dry_run: bool) -> Self {
        File {
            name,
            placing,
            dry_run,
        }
    }
}

/// Writes (or, in a dry run or with no store, classifies) the `items` of `file`, reporting
/// each rejection and refusal through `report`. With no store (a dry run before the store
/// exists), every record counts as added. Each batch is written on a thread of its own (a
/// [`BatchWriter`]) while the next one is read and mapped.
///
/// # Errors
/// A storage failure; the batch in flight and those after it are then not written.
pub fn write_items_pipelined<S: RecordSink + Clone + Send + 'static>(
    store: Option<&S>,
    file: &File<'_>,
    items: impl Iterator<Item = Item>,
    report: &mut dyn FnMut(ImportError),
) -> Result<ImportSummary, StoreError> {
    let mut batches = store
        .filter(|_| !file.dry_run)
        .map(|s| Batches::new(s, file));
    let mut summary = ImportSummary::default();
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
            None => classify(store, file, &input, at, &mut summary, report)?,
        }
    }
    if let Some(batches) = &mut batches {
        batches.send(true, &mut summary, report)?;
    }
    Ok(summary)
}

/// Counts what writing `input` would do, reporting a record another origin holds.
fn classify<S: RecordSink + ?Sized>(
    store: Option<&S>,
    file: &File<'_>,
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
        let message = file.placing.other_origin.to_owned();
        let identifier = input.identifier.as_ref();
        report((file.placing.refusal)(file.name, at, identifier, message));
    }
    summary.count(outcome);
    Ok(())
}

/// Records handed to a [`BatchWriter`] batch by batch, each with its place (a line or a
/// record number): the batch being filled, and the places of the one in flight, so that a
/// refusal, which the store gives by index in its batch, is placed in its own batch.
pub struct PlacedBatches<S: RecordSink + Clone + Send + 'static> {
    writer: BatchWriter<S>,
    records: Vec<RecordInput>,
    places: Vec<usize>,
    in_flight: Vec<usize>,
}

/// A written batch: its outcome, and the places of its records.
pub struct WrittenBatch {
    places: Vec<usize>,
    outcome: BatchOutcome,
}

impl WrittenBatch {
    /// What the store did with the batch.
    pub fn outcome(&self) -> &BatchOutcome {
        &self.outcome
    }

    /// Each record the store refused, with its place (0 if the store named no record of the
    /// batch).
    pub fn refusals(&self) -> impl Iterator<Item = (usize, &Refusal)> {
        let place = |r: &Refusal| self.places.get(r.index).copied().unwrap_or(0);
        self.outcome.refusals.iter().map(move |r| (place(r), r))
    }
}

impl<S: RecordSink + Clone + Send + 'static> PlacedBatches<S> {
    /// Batches written into `sink` on a thread of their own.
    pub fn new(sink: S) -> Self {
        PlacedBatches {
            writer: BatchWriter::new(sink),
            records: Vec::new(),
            places: Vec::new(),
            in_flight: Vec::new(),
        }
    }

    /// Adds the record found at `at` to the batch being filled; returns how many it holds.
    pub fn push(&mut self, input: RecordInput, at: usize) -> usize {
        self.records.push(input);
        self.places.push(at);
        self.records.len()
    }

    /// Hands the batch being filled over, if it holds any record (it is written in one
    /// transaction); returns the batch written before it.
    ///
    /// # Errors
    /// The storage error of the batch before; the batch being filled is then not written.
    pub fn send(&mut self) -> Result<Option<WrittenBatch>, StoreError> {
        if self.records.is_empty() {
            return Ok(None);
        }
        // Taken with the records, so that a failure leaves no place of them behind.
        let places = std::mem::take(&mut self.places);
        let previous = self.writer.send(std::mem::take(&mut self.records))?;
        let places = std::mem::replace(&mut self.in_flight, places);
        Ok(previous.map(|outcome| WrittenBatch { places, outcome }))
    }

    /// Waits for the batch in flight, if any, and returns it once written.
    ///
    /// # Errors
    /// Its storage error.
    pub fn wait(&mut self) -> Result<Option<WrittenBatch>, StoreError> {
        let outcome = self.writer.wait()?;
        let places = std::mem::take(&mut self.in_flight);
        Ok(outcome.map(|outcome| WrittenBatch { places, outcome }))
    }
}

/// The batches of a file, and the sets it has named so far.
struct Batches<'a, S: RecordSink + Clone + Send + 'static> {
    store: &'a S,
    file: &'a File<'a>,
    placed: PlacedBatches<S>,
    named: HashSet<String>,
}

impl<'a, S: RecordSink + Clone + Send + 'static> Batches<'a, S> {
    fn new(store: &'a S, file: &'a File<'a>) -> Self {
        Batches {
            store,
            file,
            placed: PlacedBatches::new(store.clone()),
            named: HashSet::new(),
        }
    }

    /// Names the sets of `input`, then adds it to the batch, handed over when full.
    fn push(
        &mut self,
        input: RecordInput,
        sets: &[NamedSet],
        at: usize,
        summary: &mut ImportSummary,
        report: &mut dyn FnMut(ImportError),
    ) -> Result<(), StoreError> {
        for set in sets {
            if !self.file.placing.name_sets_once || self.named.insert(set.spec.as_ref().to_owned())
            {
                summary.sets += define_named_set(self.store, set)?;
            }
        }
        if self.placed.push(input, at) >= BATCH {
            self.send(false, summary, report)?;
        }
        Ok(())
    }

    /// Hands the batch over and accounts for the one before; when it is the `last`, waits
    /// for it and accounts for it too.
    fn send(
        &mut self,
        last: bool,
        summary: &mut ImportSummary,
        report: &mut dyn FnMut(ImportError),
    ) -> Result<(), StoreError> {
        if let Some(written) = self.placed.send()? {
            self.account(&written, summary, report);
        }
        if last {
            if let Some(written) = self.placed.wait()? {
                self.account(&written, summary, report);
            }
        }
        Ok(())
    }

    /// Counts a written batch and reports what the store refused in it.
    fn account(
        &self,
        written: &WrittenBatch,
        summary: &mut ImportSummary,
        report: &mut dyn FnMut(ImportError),
    ) {
        let File { name, placing, .. } = self.file;
        for (at, refusal) in written.refusals() {
            let message = refusal.to_string();
            report((placing.refusal)(name, at, &refusal.identifier, message));
        }
        summary.record(written.outcome());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dc::{DcElement, DcRecord};
    use crate::protocol::OaiIdentifier;
    use crate::store::{Origin, Store};

    const LINES: Placing = Placing {
        refusal: |name, line, _, message| ImportError::Parse {
            path: name.to_path_buf(),
            line,
            message,
        },
        other_origin: "another origin",
        name_sets_once: true,
    };

    fn input(n: usize) -> RecordInput {
        let mut dc = DcRecord::new();
        dc.push_str(DcElement::Title, "t");
        let id = OaiIdentifier::parse(&format!("oai:x.example.org:{n}")).expect("valid");
        RecordInput::dc(id, dc)
    }

    /// A store where records 1 and 2500 were harvested, and the items of records 0..=4000.
    fn harvested_two() -> (Store, impl Iterator<Item = Item>) {
        let store = Store::temporary().expect("store");
        for n in [1, 2500] {
            let mut harvested = input(n);
            harvested.origin = Origin::Source("up".into());
            store.put(harvested).expect("written");
        }
        let items = (0..=2 * BATCH).map(|n| Item::Record {
            input: Box::new(input(n)),
            sets: Vec::new(),
            stripped: 0,
            at: n + 10,
        });
        (store, items)
    }

    #[test]
    fn refusals_are_placed_in_their_own_batch() {
        let (store, items) = harvested_two();
        let mut messages = Vec::new();
        let report = &mut |e: ImportError| messages.push(e.to_string());
        let file = File::new(Path::new("f"), &LINES, false);
        let summary = write_items_pipelined(Some(&store), &file, items, report).expect("written");
        assert_eq!((summary.added, summary.rejected), (2 * BATCH as u64 - 1, 2));
        assert!(store.get("oai:x.example.org:4000").expect("read").is_some());
        assert_eq!(messages.len(), 2);
        assert!(messages[0].starts_with("f:11: "), "{messages:?}");
        assert!(messages[1].starts_with("f:2510: "), "{messages:?}");
    }
}
