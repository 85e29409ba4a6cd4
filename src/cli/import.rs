//! `customer-store import`: loads a JSON Lines or CSV file into one business, in large atomic
//! batches, refusing bad rows and conflicts one by one into a rejects file.
//!
//! One thread reads and parses the file into batches of rows (at most `--batch-size` rows or
//! [`BATCH_BYTES`] of text); this thread writes each batch with
//! [`RedbStore::import_many`], which is all or nothing. The outcome is the one of importing
//! the rows one at a time, in file order: when a batch is refused, the rows the store would
//! refuse (a field rule; an email or externalId held by a stored customer or by an earlier
//! row) are taken out and the rest is tried again. A batch costs a few tries however many of
//! its rows are refused, so a rerun of an import costs about a lookup per row.
//! Two batches at most wait between the threads: memory does not grow with the file.

mod progress;
mod read;
mod rejects;

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::{Receiver, sync_channel};

use customer_store::{CustomerStore, Error, ImportCustomer, ListQuery, RedbStore};

use self::progress::{Counts, Progress};
use self::read::{Bad, Batch, CsvRows, JsonLines, Rows};
use self::rejects::{Reason, Rejects};
use super::CliResult;
use super::format::Format;

/// The most text one batch holds (rows are also limited by `--batch-size`).
const BATCH_BYTES: usize = 8 << 20;

/// How many refused rows are shown on stderr before the reasons file takes over.
const NOTES_SHOWN: u64 = 10;

/// What to do with a row whose email or externalId is already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnConflict {
    /// Stop at the first conflict: the rows before it stay imported; exit status 1.
    Fail,
    /// Record the row in the rejects file and go on.
    Skip,
}

/// The `import` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The file to import.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The business the customers belong to.
    #[arg(long)]
    business: String,
    /// The file's format [default: csv for a .csv file, jsonl otherwise].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// What to do with a row whose email or externalId is taken (by a stored customer or an
    /// earlier row of the file).
    #[arg(long, value_enum, default_value_t = OnConflict::Fail)]
    on_conflict: OnConflict,
    /// Where refused rows go, verbatim [default: FILE.rejects]; the reasons go to the same
    /// name with `.reasons` appended.
    #[arg(long, value_name = "PATH")]
    rejects: Option<PathBuf>,
    /// Rows per transaction (each batch also holds at most 8 MiB of text). Larger batches
    /// mean fewer durable commits: faster, and a smaller file.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: u32,
    /// No progress and no per-row notes on stderr (the summary is still printed).
    #[arg(long, short)]
    quiet: bool,
}

/// Help text of `import`.
pub(crate) const AFTER_HELP: &str = "\
Input:
  JSON Lines: one object per line, either a create body (email, name, phone, externalId,
  description, currency, metadata) or an exported customer (the eleven fields). `id` is
  ignored: each customer gets a new id, in file order. `status`, `createdAt` and `updatedAt`
  are kept where present (otherwise ACTIVE, the current time for createdAt, the createdAt for
  updatedAt). A time later than the store's clock is refused, as is an updatedAt before the
  createdAt (before the current time when createdAt is absent). Blank lines are skipped.
  CSV: a header naming any of the same fields (email and name required), then one record per
  customer; an empty cell is an absent field, `metadata` is a JSON object in one cell.
  A row longer than 1 MiB is refused without being read into memory.

Rejects:
  A refused row (malformed JSON or CSV, invalid UTF-8, a field rule, or a conflict) is copied
  verbatim to the rejects file (for CSV after the file's header line, so that it can be
  imported again once fixed), and its reason to the reasons file (REJECTS.reasons), one JSON
  object per line in the same order: {\"line\": N, \"code\": C, \"field\": F, \"message\": M}.
  Codes: invalid_json (a JSON line that is not a create body or an exported customer: bad
  JSON, an unknown or missing field, a value of the wrong type or format; no field named),
  invalid_csv, invalid_utf8, line_too_long, invalid_request (a field rule, naming the field),
  email_taken, external_id_taken. The first rejects are also shown on stderr.
  The files are created at the first refused row.

Batches and interruptions:
  Rows are written in atomic batches (--batch-size). An interrupted import keeps every batch
  it committed; rerun it with --on-conflict skip to finish it (the rows already imported are
  then skipped as email conflicts).

Summary and exit status:
  The summary (imported, skipped, failed) goes to stdout. The exit status is 0 when no row
  failed (skipped conflicts allowed), 1 when a row failed or --on-conflict fail stopped at a
  conflict.

Examples:
  customer-store import --business acme customers.jsonl
  customer-store import --db shop.redb --business acme --on-conflict skip customers.csv
  customer-store import --business acme --rejects /tmp/bad.jsonl export.jsonl";

/// A refused row: its place in the batch, whether it was skipped (a conflict) or failed.
struct Refused {
    row: usize,
    skipped: bool,
    code: &'static str,
    field: Option<String>,
    message: String,
}

impl Refused {
    fn bad(row: usize, bad: &Bad) -> Refused {
        Refused {
            row,
            skipped: false,
            code: bad.code,
            field: bad.field.clone(),
            message: bad.message.clone(),
        }
    }
}

/// The writing side of an import.
struct Writer<'a> {
    store: &'a RedbStore,
    business: &'a str,
    on_conflict: OnConflict,
    rejects: Rejects,
    progress: Progress,
    counts: Counts,
    /// The refused row that stopped the import (`--on-conflict fail`): its line and reason.
    stopped: Option<(u64, String)>,
}

pub(crate) fn run(db: &Path, args: Args) -> CliResult {
    let format = args.format.unwrap_or_else(|| Format::of_path(&args.file));
    let input_name = args.file.display().to_string();
    let file = File::open(&args.file).map_err(|e| format!("{input_name}: {e}"))?;
    let total_bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let rejects_path = args.rejects.clone().unwrap_or_else(|| {
        let mut name = args.file.as_os_str().to_owned();
        name.push(".rejects");
        PathBuf::from(name)
    });
    let reasons_path = rejects::reasons_path(&rejects_path);
    if same_file(&rejects_path, &args.file) || same_file(&reasons_path, &args.file) {
        return Err(format!(
            "{}: the rejects file would overwrite the input",
            rejects_path.display()
        ));
    }

    let store = super::open(db)?;
    // Refuses a malformed business name before reading anything.
    store
        .list(&args.business, &ListQuery::default().with_limit(1))
        .map_err(|e| super::line(&e))?;

    let input = BufReader::with_capacity(256 * 1024, file);
    let (source, header): (Box<dyn Rows>, Option<Vec<u8>>) = match format {
        Format::Jsonl => (Box::new(JsonLines::new(input)), None),
        Format::Csv => {
            let (rows, header) = CsvRows::new(input).map_err(|e| format!("{input_name}: {e}"))?;
            (Box::new(rows), Some(header))
        }
    };
    let batch_size = usize::try_from(args.batch_size).unwrap_or(10_000);
    let mut writer = Writer {
        store: &store,
        business: &args.business,
        on_conflict: args.on_conflict,
        rejects: Rejects::new(rejects_path, args.file.clone(), header),
        progress: Progress::new(total_bytes, args.quiet),
        counts: Counts::default(),
        stopped: None,
    };

    let (sender, receiver) = sync_channel::<Result<Batch, String>>(2);
    let outcome = std::thread::scope(|scope| {
        scope.spawn(move || read_batches(source, batch_size, &input_name, &sender));
        writer.write_all(receiver)
    });
    writer.progress.finish();
    let flushed = writer.rejects.flush();
    let summary = writer.summary();
    outcome?;
    flushed?;
    summary?;
    if let Some((line, reason)) = &writer.stopped {
        eprintln!(
            "customer-store: stopped at line {line} (--on-conflict fail): {reason}; the rows \
             before it are imported, rerun with --on-conflict skip to import the rest"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(if writer.counts.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether two paths name the same existing file.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The reading thread: parses the file into batches until it ends, fails, or the writer stops.
fn read_batches(
    mut source: Box<dyn Rows>,
    rows_per_batch: usize,
    input_name: &str,
    sender: &std::sync::mpsc::SyncSender<Result<Batch, String>>,
) {
    loop {
        let mut batch = Batch {
            text: Vec::with_capacity(256 * 1024),
            rows: Vec::with_capacity(rows_per_batch),
            offset: 0,
        };
        let mut more = true;
        while batch.rows.len() < rows_per_batch && batch.text.len() < BATCH_BYTES {
            match source.next_into(&mut batch) {
                Ok(true) => {}
                Ok(false) => {
                    more = false;
                    break;
                }
                Err(e) => {
                    // The writer may have stopped already; then nobody needs to hear.
                    let _ = sender.send(Err(format!("{input_name}: {e}")));
                    return;
                }
            }
        }
        batch.offset = source.offset();
        if !batch.rows.is_empty() && sender.send(Ok(batch)).is_err() {
            return;
        }
        if !more {
            return;
        }
    }
}

impl Writer<'_> {
    /// Writes every batch the reader sends, until the file ends or the import stops.
    fn write_all(&mut self, receiver: Receiver<Result<Batch, String>>) -> Result<(), String> {
        for batch in receiver {
            self.write_batch(&batch?)?;
            if self.stopped.is_some() {
                break;
            }
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &Batch) -> Result<(), String> {
        let mut refused: Vec<Refused> = Vec::new();
        let mut pending: Vec<usize> = Vec::with_capacity(batch.rows.len());
        for (index, row) in batch.rows.iter().enumerate() {
            match &row.parsed {
                Ok(_) => pending.push(index),
                Err(bad) => refused.push(Refused::bad(index, bad)),
            }
        }
        let mut stop_row: Option<usize> = None;
        self.import_rows(batch, &mut pending, &mut refused, &mut stop_row)?;
        // Past the row that stopped the import, nothing counts.
        let rows_done = stop_row.map_or(batch.rows.len(), |stop| stop + 1);
        // Counted before the rejects are written: a failure there stops the import after
        // these rows were imported, and the summary must count them.
        self.counts.rows += rows_done as u64;
        refused.retain(|r| r.row < rows_done);
        refused.sort_by_key(|r| r.row);
        for r in &refused {
            let row = &batch.rows[r.row];
            if r.skipped {
                self.counts.skipped += 1;
            } else {
                self.counts.failed += 1;
            }
            let reason = Reason {
                line: row.line,
                code: r.code,
                field: r.field.as_deref(),
                message: &r.message,
            };
            self.rejects
                .write(&row.raw, batch.text_of(&row.raw), &reason)?;
            if self.rejects.count <= NOTES_SHOWN {
                self.progress.note(&format!(
                    "customer-store: line {}: {}: {}",
                    row.line, r.code, r.message
                ));
                if self.rejects.count == NOTES_SHOWN {
                    self.progress.note(&format!(
                        "customer-store: further refused rows are only listed in {}",
                        self.rejects.reasons_path().display()
                    ));
                }
            }
            if stop_row == Some(r.row) {
                self.stopped = Some((row.line, r.message.clone()));
            }
        }
        self.rejects.flush()?;
        self.progress.update(&self.counts, batch.offset);
        Ok(())
    }

    /// Imports the rows `live` of `batch`, taking out each refused row and trying the rest
    /// again, so that the outcome is the one of importing the rows one by one.
    ///
    /// A try that fails writes nothing: `import_many` refuses the whole batch, naming its
    /// first offending item. After the first refusal, the rows that break a field rule are
    /// sorted out by [`Writer::weed_out_invalid`] (a conflict named by the store says nothing
    /// of the rows after it), and after the first conflict among the rest by
    /// [`Writer::conflicts`]: a batch costs a few tries, not one per bad row.
    fn import_rows(
        &mut self,
        batch: &Batch,
        live: &mut Vec<usize>,
        refused: &mut Vec<Refused>,
        stop_row: &mut Option<usize>,
    ) -> Result<(), String> {
        let mut validated = false;
        loop {
            if live.is_empty() {
                return Ok(());
            }
            let items: Vec<ImportCustomer> = live
                .iter()
                .filter_map(|&row| batch.rows[row].parsed.as_ref().ok().cloned())
                .collect();
            let error = match self.store.import_many(self.business, items) {
                Ok(created) => {
                    self.counts.imported += created.len() as u64;
                    return Ok(());
                }
                Err(error) => error,
            };
            let (Some(index), Error::Batch { source, .. }) = (error.batch_index(), &error) else {
                return Err(format!("writing a batch: {}", super::line(&error)));
            };
            if index >= live.len() {
                return Err(format!("writing a batch: {}", super::line(&error)));
            }
            if !validated {
                // The rows before `index` passed every rule; the others are checked now.
                validated = true;
                self.weed_out_invalid(batch, live, index, refused);
                continue;
            }
            if source.is_invalid_input() {
                // Checked already, but refused now (the clock moved past an `updatedAt`).
                let row = live.remove(index);
                refused.push(Refused {
                    row,
                    skipped: false,
                    code: source.code(),
                    field: source.field().map(str::to_owned),
                    message: source.to_string(),
                });
                continue;
            }
            if !source.is_conflict() {
                return Err(format!("writing a batch: {}", super::line(&error)));
            }
            // Every row passed the rules (weeded out above).
            let mut found = self.conflicts(batch, live);
            if found.is_empty() {
                // The store saw a conflict that the lookups did not: take its word for it.
                let message = match source.as_ref() {
                    Error::DuplicateInBatch {
                        field,
                        earlier_index,
                    } => live.get(*earlier_index).map_or_else(
                        || source.to_string(),
                        |&earlier| format!("{field} repeats line {}", batch.rows[earlier].line),
                    ),
                    other => other.to_string(),
                };
                found.push((
                    index,
                    Refused {
                        row: live[index],
                        skipped: true,
                        code: source.code(),
                        field: source.field().map(str::to_owned),
                        message,
                    },
                ));
            }
            match self.on_conflict {
                OnConflict::Skip => {
                    let mut refuse = vec![false; live.len()];
                    for (at, _) in &found {
                        refuse[*at] = true;
                    }
                    let mut position = 0;
                    live.retain(|_| {
                        position += 1;
                        !refuse[position - 1]
                    });
                    refused.extend(found.into_iter().map(|(_, r)| r));
                }
                OnConflict::Fail => {
                    // Stop at the first conflict; the rows before it are still imported.
                    let Some((at, mut first)) = found.into_iter().next() else {
                        return Err(format!("writing a batch: {}", super::line(&error)));
                    };
                    first.skipped = false;
                    *stop_row = Some(first.row);
                    refused.push(first);
                    live.truncate(at);
                }
            }
        }
    }

    /// Takes out of `live[from..]` each row that breaks a field rule, checking each with
    /// [`RedbStore::check_import`] (the store's own rules, without a write).
    fn weed_out_invalid(
        &self,
        batch: &Batch,
        live: &mut Vec<usize>,
        from: usize,
        refused: &mut Vec<Refused>,
    ) {
        let mut at = 0;
        live.retain(|&row| {
            at += 1;
            if at <= from {
                return true;
            }
            let Some(Ok(item)) = batch.rows.get(row).map(|r| &r.parsed) else {
                return false;
            };
            match self.store.check_import(item) {
                Ok(()) => true,
                Err(error) => {
                    refused.push(Refused {
                        row,
                        skipped: false,
                        code: error.code(),
                        field: error.field().map(str::to_owned),
                        message: error.to_string(),
                    });
                    false
                }
            }
        });
    }

    /// The rows of `live` (all within the field rules) that importing them one by one would
    /// refuse, with their positions in `live`: a row whose email (ignoring case) or externalId
    /// a stored customer or an earlier accepted row has, the email checked first, as the
    /// store does for a single create.
    fn conflicts(&self, batch: &Batch, live: &[usize]) -> Vec<(usize, Refused)> {
        let mut emails: HashMap<String, u64> = HashMap::with_capacity(live.len());
        let mut external_ids: HashMap<&str, u64> = HashMap::new();
        let mut found = Vec::new();
        for (at, &row) in live.iter().enumerate() {
            let Some(Ok(item)) = batch.rows.get(row).map(|r| &r.parsed) else {
                continue;
            };
            let line = batch.rows[row].line;
            let key = item.customer.email.trim().to_lowercase();
            let external_id = item.customer.external_id.as_deref();
            let taken = |error: Error| {
                (
                    error.code(),
                    error.field().map(str::to_owned),
                    error.to_string(),
                )
            };
            let repeats = |field: &str, earlier: u64| {
                let code = if field == "email" {
                    "email_taken"
                } else {
                    "external_id_taken"
                };
                (
                    code,
                    Some(field.to_owned()),
                    format!("{field} repeats line {earlier}"),
                )
            };
            let verdict = if let Ok(Some(holder)) =
                self.store.get_by_email(self.business, &item.customer.email)
            {
                Some(taken(Error::EmailTaken {
                    existing_id: holder.id,
                }))
            } else if let Some(&earlier) = emails.get(&key) {
                Some(repeats("email", earlier))
            } else if let Some(id) = external_id
                && let Ok(Some(holder)) = self.store.get_by_external_id(self.business, id)
            {
                Some(taken(Error::ExternalIdTaken {
                    existing_id: holder.id,
                }))
            } else if let Some(id) = external_id
                && let Some(&earlier) = external_ids.get(id)
            {
                Some(repeats("externalId", earlier))
            } else {
                None
            };
            match verdict {
                Some((code, field, message)) => found.push((
                    at,
                    Refused {
                        row,
                        skipped: true,
                        code,
                        field,
                        message,
                    },
                )),
                None => {
                    emails.insert(key, line);
                    if let Some(id) = external_id {
                        external_ids.insert(id, line);
                    }
                }
            }
        }
        found
    }

    /// Prints the summary line (and where the rejects went) on stdout.
    fn summary(&self) -> Result<(), String> {
        let c = &self.counts;
        let elapsed = self.progress.elapsed();
        outln!(
            "imported {}, skipped {}, failed {} ({} rows in {:.2} s, {:.0} rows/s)",
            c.imported,
            c.skipped,
            c.failed,
            c.rows,
            elapsed.as_secs_f64(),
            self.progress.rate(c.rows)
        );
        if self.rejects.count > 0 {
            outln!(
                "rejects: {} (reasons: {})",
                self.rejects.path().display(),
                self.rejects.reasons_path().display()
            );
        }
        Ok(())
    }
}
