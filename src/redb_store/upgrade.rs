//! Upgrading a store of format 1 (no search indexes) to the current format: the status index
//! and the email gram postings are built once from the records, inside the opening
//! transaction, so a store is never answered from half-built indexes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::open::storage_error;
use super::tables::{COUNTS, CUSTOMERS, GRAM_TAILS, GRAMS, STATUSES};
use super::{codec, grams};
use crate::validate::email_key;
use crate::{Error, Result};

/// Progress of a long operation (the index build of an upgrade): `done` of `total` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records handled so far.
    pub done: u64,
    /// Records to handle in all.
    pub total: u64,
}

/// A callback told of the progress of long work during an open.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Records between two flushes of gathered postings (bounds the memory of the build).
const CHUNK: u64 = 20_000;

fn err(e: impl Into<redb::Error>) -> Error {
    storage_error("upgrade", e)
}

type Postings = BTreeMap<(u32, u32), Vec<u64>>;

/// Appends gathered postings (ids ascending per gram, above those already there).
fn flush(
    blocks: &mut redb::Table<'_, (u32, u32, u64), &'static [u8]>,
    postings: &mut Postings,
) -> Result<()> {
    for ((handle, gram), ids) in std::mem::take(postings) {
        grams::append(blocks, handle, gram, &ids)?;
    }
    Ok(())
}

/// Builds the status index, the gram postings and their counts from every record.
pub(crate) fn build_search_indexes(
    txn: &WriteTransaction,
    progress: Option<&ProgressFn>,
) -> Result<()> {
    let customers = txn.open_table(CUSTOMERS).map_err(err)?;
    let mut statuses = txn.open_table(STATUSES).map_err(err)?;
    let mut blocks = txn.open_table(GRAMS).map_err(err)?;
    let mut counts = txn.open_table(COUNTS).map_err(err)?;
    let total = customers.len().map_err(err)?;
    let mut tails = txn.open_table(GRAM_TAILS).map_err(err)?;
    let mut tail_starts: HashMap<u32, u64> = HashMap::new();
    let mut status_counts: HashMap<(u32, u8), i64> = HashMap::new();
    let mut postings = Postings::new();
    let mut done = 0u64;
    for entry in customers.iter().map_err(err)? {
        let (key, value) = entry.map_err(err)?;
        let (handle, n) = key.value();
        let customer = codec::decode(handle, n, value.value())?;
        statuses
            .insert((handle, customer.status.code(), n), ())
            .map_err(err)?;
        *status_counts
            .entry((handle, customer.status.code()))
            .or_default() += 1;
        tail_starts.insert(handle, n.saturating_add(1));
        for gram in grams::grams(&email_key(&customer.email)) {
            postings.entry((handle, gram)).or_default().push(n);
        }
        done += 1;
        if done.is_multiple_of(CHUNK) {
            flush(&mut blocks, &mut postings)?;
            if let Some(progress) = progress {
                progress(Progress { done, total });
            }
        }
    }
    flush(&mut blocks, &mut postings)?;
    for (handle, start) in tail_starts {
        tails.insert(handle, (start, 0)).map_err(err)?;
    }
    for ((handle, code), n) in status_counts {
        grams::add_count(&mut counts, handle, grams::status_count_key(code), n)?;
    }
    if let Some(progress) = progress {
        progress(Progress { done, total });
    }
    Ok(())
}
