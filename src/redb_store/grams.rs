//! The email n-gram index: for each (business, trigram of the lower-cased email), the ids of the
//! customers whose email contains it, in id order, packed into compressed posting blocks.
//!
//! A block is stored under `(business, gram, first id)`; its value lists the ids after the
//! first as LEB128 varint deltas. Blocks hold at most [`BLOCK_IDS`] ids, so an append or a
//! removal rewrites a few hundred bytes, and one redb entry carries many postings (one entry per
//! posting would cost more than the record itself).
//!
//! Grams are the 3-byte windows of the UTF-8 bytes of the lower-cased email. A term (lower-cased)
//! that is a substring of the lower-cased email has all its windows among the email's, so the
//! postings of any one of the term's grams hold every match; each candidate is then confirmed
//! against the record.
//!
//! A gram's posting count sits in the header of its last block (so an append, which rewrites
//! that block anyway, keeps it for free); counts per (business, status) sit in a small table.
//! A query starts from its rarest gram, or its status when that is rarer.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use redb::{ReadableTable, Table};

use super::varint;
use crate::{Error, Result};

/// The most ids one posting block holds.
pub(crate) const BLOCK_IDS: usize = 128;

/// How many new customers wait outside the postings before they are folded in, by default.
///
/// A create then writes no posting at all; every `DEFAULT_EMAIL_INDEX_TAIL` creates, one fold
/// rewrites each touched gram's last block once. A query reads at most this many extra records,
/// or, for a business whose waiting emails are kept in memory (and whose tail may then be 16
/// times longer), the waiting records that have every gram of its term.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, DEFAULT_EMAIL_INDEX_TAIL, NewCustomer, RedbStore};
/// assert_eq!(DEFAULT_EMAIL_INDEX_TAIL, 1024);
/// // With the default, a few creates write no posting: their emails wait in the tail.
/// let store = RedbStore::in_memory()?;
/// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// assert_eq!(store.verify()?.gram_postings, 0);
/// # Ok::<(), customer_store::Error>(())
/// ```
pub const DEFAULT_EMAIL_INDEX_TAIL: u64 = 1024;

/// The gram length in bytes; shorter terms are answered by a scan.
pub(crate) const GRAM_LEN: usize = 3;

/// Whether `email`, lower-cased with its sigmas folded ([`crate::validate::fold_sigma`]),
/// contains `term` (lower-cased and folded, as [`crate::validate`] makes a list query's term),
/// without allocating for an ASCII email.
pub(crate) fn contains_folded(email: &str, term: &str) -> bool {
    if email.is_ascii() {
        let (email, term) = (email.as_bytes(), term.as_bytes());
        term.is_empty()
            || email
                .windows(term.len())
                .any(|w| w.eq_ignore_ascii_case(term))
    } else {
        crate::validate::fold_sigma(email.to_lowercase()).contains(term)
    }
}

/// The grams a list query's `term` (lower-cased and sigma-folded) looks up: those of its
/// windows that touch no `σ`. The postings hold the grams of emails as lower-cased, where a
/// sigma may be either form, so a window with one could miss a match; the others are the
/// same in the email. A term with no such window (`σσ`) gets none, and is answered by a scan.
pub(crate) fn term_grams(term: &str) -> Vec<u32> {
    const SIGMA: &[u8] = "σ".as_bytes();
    let bytes = term.as_bytes();
    if !term.contains('σ') {
        return grams(term);
    }
    let mut clean = vec![true; bytes.len()];
    for at in 0..bytes.len().saturating_sub(1) {
        if &bytes[at..at + 2] == SIGMA {
            clean[at] = false;
            clean[at + 1] = false;
        }
    }
    distinct(
        bytes
            .windows(GRAM_LEN)
            .zip(clean.windows(GRAM_LEN))
            .filter(|(_, clean)| clean.iter().all(|&c| c))
            .map(|(window, _)| window),
    )
}

/// The distinct grams of a lower-cased text, sorted.
pub(crate) fn grams(lower: &str) -> Vec<u32> {
    distinct(lower.as_bytes().windows(GRAM_LEN))
}

/// The grams of `windows` (each [`GRAM_LEN`] bytes, as a big-endian number), sorted, each once.
fn distinct<'a>(windows: impl Iterator<Item = &'a [u8]>) -> Vec<u32> {
    let mut grams: Vec<u32> = windows
        .map(|w| u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2]))
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Encodes a block: the gram's posting count (read only from the gram's last block; earlier
/// blocks keep a stale value that nothing reads), then the ids after `ids[0]` (the block's key)
/// as deltas.
pub(crate) fn encode_block(ids: &[u64], count: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 2 + 4);
    encode_block_into(&mut out, ids, count);
    out
}

/// [`encode_block`] into `out`, replacing what it held (a buffer reused across blocks).
fn encode_block_into(out: &mut Vec<u8>, ids: &[u64], count: u64) {
    out.clear();
    varint::put(out, count);
    for pair in ids.windows(2) {
        varint::put(out, pair[1] - pair[0]);
    }
}

fn corrupt_block(first: u64) -> Error {
    Error::Corrupt(format!("email index block {first} does not decode"))
}

/// The posting count in a block's header.
///
/// # Errors
///
/// [`Error::Corrupt`] for a header that does not decode.
pub(crate) fn block_count(first: u64, bytes: &[u8]) -> Result<u64> {
    varint::get(bytes, &mut 0).ok_or_else(|| corrupt_block(first))
}

/// Decodes a block stored under `first`, appending its ids (first included) to `out`;
/// returns the count in its header.
///
/// # Errors
///
/// [`Error::Corrupt`] for bytes that do not decode to a strictly increasing list.
pub(crate) fn decode_block(first: u64, bytes: &[u8], out: &mut Vec<u64>) -> Result<u64> {
    scan_block(first, bytes, |id| out.push(id))
}

/// Checks a block stored under `first` and calls `each` with its ids in order (first
/// included); returns the count in its header.
///
/// # Errors
///
/// [`Error::Corrupt`] for bytes that do not decode to a strictly increasing list.
fn scan_block(first: u64, bytes: &[u8], mut each: impl FnMut(u64)) -> Result<u64> {
    let mut pos = 0;
    let count = varint::get(bytes, &mut pos).ok_or_else(|| corrupt_block(first))?;
    each(first);
    let mut last = first;
    while pos < bytes.len() {
        let delta = varint::get(bytes, &mut pos).ok_or_else(|| corrupt_block(first))?;
        if delta == 0 {
            return Err(corrupt_block(first));
        }
        last = last
            .checked_add(delta)
            .ok_or_else(|| corrupt_block(first))?;
        each(last);
    }
    Ok(count)
}

type Blocks<'txn> = Table<'txn, (u32, u32, u64), &'static [u8]>;

fn write_err(e: impl Into<redb::Error>) -> Error {
    super::open::storage_error("write", e)
}

/// How many postings a gram has: the count in its last block's header (0 without blocks).
///
/// # Errors
///
/// Storage errors, and [`Error::Corrupt`] for a header that does not decode.
pub(crate) fn count(
    blocks: &impl ReadableTable<(u32, u32, u64), &'static [u8]>,
    handle: u32,
    gram: u32,
) -> Result<u64> {
    let read_err = |e: redb::StorageError| super::open::storage_error("read", e);
    let mut range = blocks
        .range((handle, gram, 0)..=(handle, gram, u64::MAX))
        .map_err(read_err)?;
    match range.next_back() {
        Some(entry) => {
            let (key, value) = entry.map_err(read_err)?;
            block_count(key.value().2, value.value())
        }
        None => Ok(0),
    }
}

/// Writes `ids` (sorted, non-empty) as blocks of at most [`BLOCK_IDS`], each under its first
/// id; when `last` is set these are the gram's last blocks and the final one carries `count`.
fn write_blocks(
    blocks: &mut Blocks<'_>,
    handle: u32,
    gram: u32,
    ids: &[u64],
    last: Option<u64>,
) -> Result<()> {
    write_blocks_with(blocks, handle, gram, ids, last, &mut Vec::new())
}

/// [`write_blocks`], encoding each block in `buffer`.
fn write_blocks_with(
    blocks: &mut Blocks<'_>,
    handle: u32,
    gram: u32,
    ids: &[u64],
    last: Option<u64>,
    buffer: &mut Vec<u8>,
) -> Result<()> {
    let chunks = ids.chunks(BLOCK_IDS);
    let final_chunk = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.enumerate() {
        let count = if i == final_chunk {
            last.unwrap_or(0)
        } else {
            0
        };
        encode_block_into(buffer, chunk, count);
        blocks
            .insert((handle, gram, chunk[0]), buffer.as_slice())
            .map_err(write_err)?;
    }
    Ok(())
}

/// A decoded block: its key, its ids and its header count.
struct Block {
    first: u64,
    ids: Vec<u64>,
    count: u64,
}

fn read_block(entry: Option<BlockEntry<'_>>) -> Result<Option<Block>> {
    match entry {
        Some(entry) => {
            let (key, value) = entry.map_err(write_err)?;
            let first = key.value().2;
            let mut ids = Vec::with_capacity(BLOCK_IDS + 1);
            let count = decode_block(first, value.value(), &mut ids)?;
            Ok(Some(Block { first, ids, count }))
        }
        None => Ok(None),
    }
}

type BlockEntry<'a> = std::result::Result<
    (
        redb::AccessGuard<'a, (u32, u32, u64)>,
        redb::AccessGuard<'a, &'static [u8]>,
    ),
    redb::StorageError,
>;

/// The block whose first id is the greatest at or below `n`.
fn block_at_or_before(
    blocks: &Blocks<'_>,
    handle: u32,
    gram: u32,
    n: u64,
) -> Result<Option<Block>> {
    let mut range = blocks
        .range((handle, gram, 0)..=(handle, gram, n))
        .map_err(write_err)?;
    read_block(range.next_back())
}

/// The gram's last block.
fn last_block(blocks: &Blocks<'_>, handle: u32, gram: u32) -> Result<Option<Block>> {
    block_at_or_before(blocks, handle, gram, u64::MAX)
}

/// Rewrites the gram's last block with a new count.
fn set_count(blocks: &mut Blocks<'_>, handle: u32, gram: u32, count: u64) -> Result<()> {
    if let Some(last) = last_block(blocks, handle, gram)? {
        blocks
            .insert(
                (handle, gram, last.first),
                encode_block(&last.ids, count).as_slice(),
            )
            .map_err(write_err)?;
    }
    Ok(())
}

/// A gram's last block as stored, for an append that extends it without decoding its ids.
struct StoredTail {
    /// Its key's id (its first id).
    first: u64,
    /// How many ids it holds.
    len: usize,
    /// Its last id.
    last: u64,
    /// The count in its header.
    count: u64,
    /// Where its deltas start in its bytes (after the header).
    deltas_at: usize,
}

/// The gram's last block, its bytes copied into `bytes`.
fn stored_tail(
    blocks: &Blocks<'_>,
    handle: u32,
    gram: u32,
    bytes: &mut Vec<u8>,
) -> Result<Option<StoredTail>> {
    let mut range = blocks
        .range((handle, gram, 0)..=(handle, gram, u64::MAX))
        .map_err(write_err)?;
    let Some(entry) = range.next_back() else {
        return Ok(None);
    };
    let (key, value) = entry.map_err(write_err)?;
    let first = key.value().2;
    bytes.clear();
    bytes.extend_from_slice(value.value());
    let (mut len, mut last) = (0, first);
    let count = scan_block(first, bytes, |id| {
        len += 1;
        last = id;
    })?;
    let mut deltas_at = 0;
    varint::get(bytes, &mut deltas_at);
    Ok(Some(StoredTail {
        first,
        len,
        last,
        count,
        deltas_at,
    }))
}

/// Buffers an append reuses from one gram to the next.
#[derive(Default)]
struct AppendBuffers {
    /// The bytes of the gram's last block.
    stored: Vec<u8>,
    /// The block being written.
    written: Vec<u8>,
}

/// Appends `ids` (strictly increasing, all greater than any id already in the gram) to the
/// gram's postings: one read and one write of its last block. The ids that join the last block
/// are appended to its bytes (its header count replaced): its own ids are scanned, to check
/// the block and find its last id, but not collected and encoded again.
///
/// # Errors
///
/// Storage errors, and [`Error::Corrupt`] when the last block does not decode, when it ends at
/// or past the first id appended, or when `ids` are not strictly increasing; nothing is
/// written then.
fn append(
    blocks: &mut Blocks<'_>,
    handle: u32,
    gram: u32,
    ids: &[u64],
    buffers: &mut AppendBuffers,
) -> Result<()> {
    let Some(&first_new) = ids.first() else {
        return Ok(());
    };
    if ids.windows(2).any(|pair| pair[1] <= pair[0]) {
        return Err(Error::Corrupt(format!(
            "the postings to append to email index gram {gram:#x} are not in increasing order"
        )));
    }
    let added = ids.len() as u64;
    let Some(tail) = stored_tail(blocks, handle, gram, &mut buffers.stored)? else {
        return write_blocks_with(blocks, handle, gram, ids, Some(added), &mut buffers.written);
    };
    if first_new <= tail.last {
        return Err(Error::Corrupt(format!(
            "email index block {} ends at id {}, not below the first id appended ({first_new})",
            tail.first, tail.last
        )));
    }
    let total = tail
        .count
        .checked_add(added)
        .ok_or_else(|| corrupt_block(tail.first))?;
    let (joining, rest) = ids.split_at(BLOCK_IDS.saturating_sub(tail.len).min(ids.len()));
    if !joining.is_empty() {
        // The block keeps its key; the final block written carries the count. Every delta
        // is positive: checked above.
        let out = &mut buffers.written;
        out.clear();
        varint::put(out, if rest.is_empty() { total } else { 0 });
        out.extend_from_slice(&buffers.stored[tail.deltas_at..]);
        let mut previous = tail.last;
        for &n in joining {
            varint::put(out, n - previous);
            previous = n;
        }
        blocks
            .insert((handle, gram, tail.first), out.as_slice())
            .map_err(write_err)?;
    }
    write_blocks_with(
        blocks,
        handle,
        gram,
        rest,
        Some(total),
        &mut buffers.written,
    )
}

/// Inserts one id anywhere in the gram's postings; returns whether it was new.
pub(crate) fn insert(blocks: &mut Blocks<'_>, handle: u32, gram: u32, n: u64) -> Result<bool> {
    let total = match last_block(blocks, handle, gram)? {
        Some(last) => last.count,
        None => return write_blocks(blocks, handle, gram, &[n], Some(1)).map(|()| true),
    };
    if let Some(mut block) = block_at_or_before(blocks, handle, gram, n)? {
        let Err(at) = block.ids.binary_search(&n) else {
            return Ok(false);
        };
        block.ids.insert(at, n);
        write_blocks(blocks, handle, gram, &block.ids, None)?;
    } else {
        // `n` precedes every block of the gram: it joins the first block, which is re-keyed.
        let mut range = blocks
            .range((handle, gram, n)..=(handle, gram, u64::MAX))
            .map_err(write_err)?;
        let next = read_block(range.next())?;
        drop(range);
        if let Some(next) = next {
            blocks
                .remove((handle, gram, next.first))
                .map_err(write_err)?;
            let mut ids = Vec::with_capacity(next.ids.len() + 1);
            ids.push(n);
            ids.extend_from_slice(&next.ids);
            write_blocks(blocks, handle, gram, &ids, None)?;
        }
    }
    set_count(blocks, handle, gram, total + 1)?;
    Ok(true)
}

/// Removes one id from the gram's postings; returns whether it was there.
pub(crate) fn remove(blocks: &mut Blocks<'_>, handle: u32, gram: u32, n: u64) -> Result<bool> {
    let Some(total) = last_block(blocks, handle, gram)?.map(|last| last.count) else {
        return Ok(false);
    };
    let Some(mut block) = block_at_or_before(blocks, handle, gram, n)? else {
        return Ok(false);
    };
    let Ok(at) = block.ids.binary_search(&n) else {
        return Ok(false);
    };
    block.ids.remove(at);
    if at == 0 {
        blocks
            .remove((handle, gram, block.first))
            .map_err(write_err)?;
    }
    if !block.ids.is_empty() {
        write_blocks(blocks, handle, gram, &block.ids, None)?;
    }
    let total = total
        .checked_sub(1)
        .ok_or_else(|| Error::Corrupt(format!("the postings count of gram {gram:#x} is wrong")))?;
    set_count(blocks, handle, gram, total)?;
    Ok(true)
}

/// Postings of new customers, gathered by (business, gram) as they are added, so that each
/// gram's last block is rewritten once.
///
/// A fold adds the postings of every waiting customer (hundreds of thousands of pairs at the
/// long tail's length) over a few thousand distinct grams, so each pair goes straight into its
/// gram's list: the table of lists stays in the CPU's cache, and only the grams are sorted at
/// the end. (Sorting the (business, gram, id) triples themselves, by radix, was a fifth of a
/// fold.)
#[derive(Default)]
pub(crate) struct NewPostings {
    /// Each (business, gram)'s ids, in the order they were added.
    lists: HashMap<(u32, u32), Vec<u64>, RandomState>,
}

impl NewPostings {
    /// Adds customer `n`'s postings, from its lower-cased email.
    pub(crate) fn add(&mut self, handle: u32, lower_email: &str, n: u64) {
        for gram in grams(lower_email) {
            self.lists.entry((handle, gram)).or_default().push(n);
        }
    }

    /// How many (business, gram) lists are gathered: each costs a table slot and an
    /// allocation, so a caller gathering many small businesses writes before it has many.
    pub(crate) fn lists(&self) -> usize {
        self.lists.len()
    }

    /// The gathered postings in (business, gram) order, each gram's ids ascending. Callers
    /// add customers in id order (a walk of the records), so the lists come out sorted; one
    /// that does not is sorted here.
    fn into_groups(self) -> Vec<((u32, u32), Vec<u64>)> {
        let mut groups: Vec<_> = self.lists.into_iter().collect();
        groups.sort_unstable_by_key(|&(key, _)| key);
        for (_, ids) in &mut groups {
            if !ids.is_sorted() {
                ids.sort_unstable();
            }
        }
        groups
    }

    /// Appends every gathered posting; each id must be above every id already in its gram.
    pub(crate) fn write(self, blocks: &mut Blocks<'_>) -> Result<()> {
        let mut buffers = AppendBuffers::default();
        for ((handle, gram), ids) in self.into_groups() {
            append(blocks, handle, gram, &ids, &mut buffers)?;
        }
        Ok(())
    }
}

/// Appends business `handle`'s postings in `lists` (each gram's ids ascending, the grams in
/// any order: the tail's memory, when it holds exactly the waiting customers,
/// `tail::TailMemory::take_exact`); each id must be above every id already in its gram.
pub(crate) fn append_lists(
    blocks: &mut Blocks<'_>,
    handle: u32,
    mut lists: Vec<(u32, Vec<u64>)>,
) -> Result<()> {
    lists.sort_unstable_by_key(|&(gram, _)| gram);
    let mut buffers = AppendBuffers::default();
    for (gram, ids) in lists {
        append(blocks, handle, gram, &ids, &mut buffers)?;
    }
    Ok(())
}

type ReadBlocks = redb::ReadOnlyTable<(u32, u32, u64), &'static [u8]>;

type BlockRange<'t> = redb::Range<'t, (u32, u32, u64), &'static [u8]>;

/// Walks one gram's postings in id order, a block at a time.
pub(crate) struct PostingCursor<'t> {
    later: Option<BlockRange<'t>>,
    ids: Vec<u64>,
    pos: usize,
}

impl<'t> PostingCursor<'t> {
    /// A cursor on `gram`'s postings, placed at the block that may hold `start`.
    pub(crate) fn open(blocks: &'t ReadBlocks, handle: u32, gram: u32, start: u64) -> Result<Self> {
        let read_err = |e: redb::StorageError| super::open::storage_error("read", e);
        let mut ids = Vec::with_capacity(BLOCK_IDS);
        let mut first = blocks
            .range((handle, gram, 0)..=(handle, gram, start))
            .map_err(read_err)?;
        if let Some(entry) = first.next_back() {
            let (key, value) = entry.map_err(read_err)?;
            decode_block(key.value().2, value.value(), &mut ids)?;
        }
        let later = match start.checked_add(1) {
            Some(after) => Some(
                blocks
                    .range((handle, gram, after)..=(handle, gram, u64::MAX))
                    .map_err(read_err)?,
            ),
            None => None,
        };
        Ok(PostingCursor { later, ids, pos: 0 })
    }

    /// The first id at or after `target`, moving forward only (`None` when none is left).
    pub(crate) fn seek(&mut self, target: u64) -> Result<Option<u64>> {
        loop {
            if let Some(&last) = self.ids.last()
                && last >= target
            {
                // The answer is in this block.
                let rest = &self.ids[self.pos..];
                self.pos += rest.partition_point(|&n| n < target);
                return Ok(self.ids.get(self.pos).copied());
            }
            let Some(entry) = self.later.as_mut().and_then(Iterator::next) else {
                self.pos = self.ids.len();
                return Ok(None);
            };
            let (key, value) = entry.map_err(|e| super::open::storage_error("read", e))?;
            self.ids.clear();
            self.pos = 0;
            decode_block(key.value().2, value.value(), &mut self.ids)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Postings added in id order or in any order group as a plain sort of the
        /// (business, gram, id) triples does.
        #[test]
        fn postings_group_like_a_plain_sort(
            mut customers in proptest::collection::vec(
                (0u32..3, "[a-d.@]{0,8}", 0u64..5000),
                0..300,
            ),
            walk_order in proptest::bool::ANY,
        ) {
            if walk_order {
                customers.sort_by_key(|&(business, _, id)| (business, id));
            }
            let mut triples = Vec::new();
            let mut postings = NewPostings::default();
            for (business, email, id) in &customers {
                postings.add(*business, email, *id);
                triples.extend(grams(email).into_iter().map(|gram| (*business, gram, *id)));
            }
            triples.sort_unstable();
            let expected: Vec<((u32, u32), Vec<u64>)> = triples
                .chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
                .map(|group| ((group[0].0, group[0].1), group.iter().map(|t| t.2).collect()))
                .collect();
            proptest::prop_assert_eq!(postings.into_groups(), expected);
        }
    }

    /// The append before it spliced bytes: the last block decoded, extended and encoded again.
    fn append_by_decoding(blocks: &mut Blocks<'_>, handle: u32, gram: u32, ids: &[u64]) {
        let added = ids.len() as u64;
        match last_block(blocks, handle, gram).unwrap() {
            Some(mut last) if last.ids.len() < BLOCK_IDS => {
                last.ids.extend_from_slice(ids);
                write_blocks(blocks, handle, gram, &last.ids, Some(last.count + added))
            }
            Some(last) => write_blocks(blocks, handle, gram, ids, Some(last.count + added)),
            None => write_blocks(blocks, handle, gram, ids, Some(added)),
        }
        .unwrap();
    }

    const TEST_BLOCKS: redb::TableDefinition<(u32, u32, u64), &[u8]> =
        redb::TableDefinition::new("blocks");

    fn memory_database() -> redb::Database {
        redb::Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .unwrap()
    }

    /// Every entry of a blocks table, keys and bytes.
    fn entries(blocks: &Blocks<'_>) -> Vec<((u32, u32, u64), Vec<u8>)> {
        blocks
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, value) = entry.unwrap();
                (key.value(), value.value().to_vec())
            })
            .collect()
    }

    proptest::proptest! {
        /// Folds of any sizes appended to a few grams (ids spaced by small gaps, one-byte
        /// deltas, or by gaps up to 2^40, deltas of up to six bytes; a fold of exactly what a
        /// block has room for, or one more, now and then) write exactly the blocks that
        /// decoding and encoding the last block wrote, and a gram's count is every id appended.
        #[test]
        fn splicing_appends_write_the_blocks_decoding_did(
            folds in proptest::collection::vec(
                (
                    0u32..3,
                    proptest::prop_oneof![
                        proptest::collection::vec(1u64..128, 1..300),
                        proptest::collection::vec(1u64..(1 << 40), 1..300),
                        proptest::collection::vec(1u64..128, BLOCK_IDS - 1..=BLOCK_IDS + 1),
                    ],
                ),
                1..12,
            ),
        ) {
            let db = memory_database();
            let txn = db.begin_write().unwrap();
            {
                let mut spliced = txn.open_table(TEST_BLOCKS).unwrap();
                let mut decoded = txn
                    .open_table(redb::TableDefinition::new("reference"))
                    .unwrap();
                let mut next = [0u64; 3];
                let mut buffers = AppendBuffers::default();
                for (gram, gaps) in &folds {
                    let at = *gram as usize;
                    let ids: Vec<u64> = gaps
                        .iter()
                        .map(|gap| {
                            next[at] += gap;
                            next[at]
                        })
                        .collect();
                    append(&mut spliced, 7, *gram, &ids, &mut buffers).unwrap();
                    append_by_decoding(&mut decoded, 7, *gram, &ids);
                }
                proptest::prop_assert_eq!(entries(&spliced), entries(&decoded));
                for gram in 0..3u32 {
                    let appended: usize = folds
                        .iter()
                        .filter(|(g, _)| *g == gram)
                        .map(|(_, gaps)| gaps.len())
                        .sum();
                    proptest::prop_assert_eq!(count(&spliced, 7, gram).unwrap(), appended as u64);
                }
            }
        }
    }

    /// An id at or below the last block's last id is refused (the stored block and the fold
    /// disagree), with nothing written, rather than encoded as a wrapped delta.
    #[test]
    fn an_append_below_the_last_block_is_corrupt() {
        let db = memory_database();
        let txn = db.begin_write().unwrap();
        let mut blocks = txn.open_table(TEST_BLOCKS).unwrap();
        let mut buffers = AppendBuffers::default();
        // Gram 2's last block has room; gram 3's is full (the new ids would start a block).
        append(&mut blocks, 1, 2, &[10, 20], &mut buffers).unwrap();
        let full: Vec<u64> = (1..=BLOCK_IDS as u64).map(|i| i * 10).collect();
        append(&mut blocks, 1, 3, &full, &mut buffers).unwrap();
        let before = entries(&blocks);
        for (gram, ids) in [
            (2, &[20u64][..]),
            (2, &[5]),
            (2, &[21, 21]),
            (2, &[30, 25]),
            (3, &[5]),
            (3, &[10 * BLOCK_IDS as u64]),
            (3, &[9999, 9000]),
            (4, &[7, 7]),
        ] {
            let error = append(&mut blocks, 1, gram, ids, &mut buffers).unwrap_err();
            assert!(matches!(error, Error::Corrupt(_)), "{ids:?}: {error:?}");
            assert_eq!(entries(&blocks), before, "{gram} {ids:?}");
        }
    }

    #[test]
    fn grams_are_byte_windows() {
        assert_eq!(grams("ab"), Vec::<u32>::new());
        assert_eq!(grams("abc"), vec![0x61_62_63]);
        assert_eq!(grams("aaaa"), vec![0x61_61_61]);
        assert_eq!(grams("é@x").len(), 2);
    }

    #[test]
    fn folded_contains() {
        assert!(contains_folded("Yaw@Example.com", "yaw@ex"));
        assert!(contains_folded("Yaw@Example.com", ""));
        assert!(!contains_folded("Yaw@Example.com", "yawn"));
        assert!(contains_folded("ÉLODIE@x.io", "élo"));
        assert!(!contains_folded("a@x.io", "é"));
    }

    #[test]
    fn blocks_round_trip() {
        for ids in [vec![5u64], vec![1, 2, 3], vec![0, 1 << 40, u64::MAX]] {
            let mut out = Vec::new();
            assert_eq!(
                decode_block(ids[0], &encode_block(&ids, 9), &mut out).unwrap(),
                9
            );
            assert_eq!(out, ids);
            out.clear();
        }
    }

    #[test]
    fn bad_blocks_are_refused() {
        let mut out = Vec::new();
        assert!(decode_block(1, &[], &mut out).is_err());
        assert!(decode_block(1, &[0, 0x80], &mut out).is_err());
        assert!(decode_block(1, &[0, 0], &mut out).is_err());
        assert!(decode_block(u64::MAX, &[0, 1], &mut out).is_err());
        assert!(decode_block(1, &[0xFF; 11], &mut out).is_err());
    }
}
