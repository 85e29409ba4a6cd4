//! The write operations inside their transaction. Every check of an operation (uniqueness,
//! existence) runs before its first write, so an operation that fails has written nothing and
//! the other operations of its group commit are unharmed.

use std::collections::HashMap;
use std::ops::Bound;

use jiff::Timestamp;
use redb::{Database, ReadableDatabase, ReadableTable};

use super::beside::beside;
use super::codec::{self, RecordFields};
use super::grams;
use super::group::Output;
use super::held::{MainTables, OpenTables, UniqueTables};
use super::journal::{self, Effect};
use super::open::{force_reopen, needs_reopen, panic_error, storage_error};
use super::tables::{BUSINESS_STATES, BusinessState, CUSTOMERS};
use super::tables::{business_check, checked_handle};
use super::tail::{self, TailMemory};
use crate::model::{Customer, Status};
use crate::validate::{ValidNew, ValidPatch, email_key, whole_seconds};
use crate::{Error, Result, id};

fn write_err(e: impl Into<redb::Error>) -> Error {
    storage_error("write", e)
}

/// The fewest new customers written through cursors (`append_records`): below it, one insert
/// each. A cursor's splice costs more than a few inserts: one durable create took about 14 µs
/// more through two cursors (1 M store on tmpfs, `dev_create`).
const APPEND_RUN: usize = 16;

/// An entry written for a new customer `n` replaced one (`replaced`): the ids a business
/// issues only grow, so its state row is behind its records (`Corrupt`, which spoils the
/// transaction, so the replacement is never committed).
fn new_entry(replaced: bool, handle: u32, what: &str, n: u64) -> Result<()> {
    if replaced {
        return Err(Error::Corrupt(format!(
            "business #{handle} already has {what} at the new id {}",
            id::encode(n)
        )));
    }
    Ok(())
}

/// A failed append through a cursor: a key in the way of a new id is corruption (not reached:
/// [`WriteTables::check_nothing_from`] refuses first), anything else a storage error.
fn out_of_order(e: redb::CursorError, handle: u32, n: u64, what: &str) -> Error {
    match e {
        redb::CursorError::UnorderedKey => Error::Corrupt(format!(
            "business #{handle} already has a {what} at or after the new id {}",
            id::encode(n)
        )),
        other => write_err(other),
    }
}

/// The error of a use of the unique indexes while a create has lent them to its second
/// thread (not reached: nothing else of the batch runs then).
fn unique_lent() -> Error {
    Error::Storage {
        message: "write: the unique indexes are in use by another thread".to_owned(),
        source: None,
    }
}

/// The error of a panic on a large create's second thread: the store reopens its database, as
/// after a panic on the calling thread (redb's state after it is unknown).
fn lent_thread_panicked(panic: Box<dyn std::any::Any + Send>) -> Error {
    force_reopen(panic_error("write", &*panic))
}

/// Writes the email index entry of customer `n` (`key`: its email, lower-cased).
fn put_email_entry(unique: &mut UniqueTables<'_>, handle: u32, n: u64, key: &str) -> Result<()> {
    unique.emails.insert((handle, key), n).map_err(write_err)?;
    Ok(())
}

/// Writes the externalId index entry of customer `n`.
fn put_external_id_entry(
    unique: &mut UniqueTables<'_>,
    handle: u32,
    n: u64,
    external_id: &str,
) -> Result<()> {
    unique
        .external_ids
        .insert((handle, external_id), n)
        .map_err(write_err)?;
    Ok(())
}

/// One batch's view of a write transaction: its open tables (borrowed, see `held`) and what
/// the batch keeps besides.
pub(crate) struct WriteTables<'t, 'txn> {
    tables: &'t mut MainTables<'txn>,
    /// The unique indexes: `None` only while a large create writes them on a second thread
    /// ([`write_new`]), when nothing else of the batch runs.
    unique: Option<&'t mut UniqueTables<'txn>>,
    /// The states of the businesses read or written in this batch: (handle, state, stored
    /// state), written back once by [`WriteTables::finish`].
    changed: Vec<(u32, BusinessState, Option<BusinessState>)>,
    tail_max: u64,
    /// The memory of long tails, when the store keeps one (not during a replay).
    tails: Option<Tails<'t>>,
    /// What the transaction's jobs changed, for the journal (kept only when there is one).
    effects: Kept,
}

/// What a writer needs to keep businesses' waiting emails in memory (see `tail`).
#[derive(Clone, Copy)]
pub(crate) struct Tails<'a> {
    pub memory: &'a TailMemory,
    /// The database, for its newest committed snapshot.
    pub db: &'a Database,
    /// The store's commit generation: no commit lands while a batch runs.
    pub generation: u64,
}

impl Tails<'_> {
    /// Notes that customer `n` of `handle` now has the lower-cased email `key`, for a business
    /// whose tail may grow to `long_tail`.
    fn remember(&self, handle: u32, n: u64, key: &str, long_tail: u64) {
        // Deleted and re-emailed customers stay listed: twice the long tail at most.
        self.memory.add(handle, n, key, long_tail.saturating_mul(2));
    }
}

/// The effects a transaction keeps for the journal.
enum Kept {
    /// None: no journal, or a replay.
    Nothing,
    /// The effects so far and about how many bytes they take in a frame.
    Effects(Vec<Effect>, usize),
    /// More than a frame takes ([`journal::DIRECT_COMMIT_BYTES`]): the transaction is a bulk
    /// load, committed durably in the database instead, and keeps no effects.
    TooMany,
}

impl<'t, 'txn> WriteTables<'t, 'txn> {
    /// A batch's view of `tables`; new customers join the gram postings `tail_max` at a time.
    pub(crate) fn new(tables: &'t mut OpenTables<'txn>, tail_max: u64) -> WriteTables<'t, 'txn> {
        WriteTables {
            tables: &mut tables.main,
            unique: Some(&mut tables.unique),
            changed: Vec::new(),
            tail_max,
            tails: None,
            effects: Kept::Nothing,
        }
    }

    /// Keeps long tails' waiting emails in `tails` from now on.
    pub(crate) fn keep_tails(&mut self, tails: Tails<'t>) {
        self.tails = Some(tails);
    }

    /// Notes that customer `n` of `handle` now has `email`, for the tail's memory.
    fn remember_email(&self, handle: u32, n: u64, email: &str) {
        if self.tails.is_some() {
            self.remember_key(handle, n, &email_key(email));
        }
    }

    /// [`WriteTables::remember_email`] with the email already lower-cased (`key`).
    fn remember_key(&self, handle: u32, n: u64, key: &str) {
        if let Some(tails) = &self.tails {
            tails.remember(handle, n, key, self.long_tail());
        }
    }

    /// The unique indexes.
    fn unique(&self) -> Result<&UniqueTables<'txn>> {
        self.unique.as_deref().ok_or_else(unique_lent)
    }

    /// The unique indexes, to write.
    fn unique_mut(&mut self) -> Result<&mut UniqueTables<'txn>> {
        self.unique.as_deref_mut().ok_or_else(unique_lent)
    }

    /// How long a business's tail may grow while its waiting emails are kept in memory.
    fn long_tail(&self) -> u64 {
        self.tail_max.saturating_mul(tail::LONG_TAIL_FACTOR)
    }

    /// Starts keeping `handle`'s waiting emails in memory: those of the newest committed
    /// snapshot and of this transaction (whose tail starts at `start`). Returns whether it did
    /// (the budget allowing).
    fn keep_waiting(&self, handle: u32, start: u64) -> Result<bool> {
        let Some(tails) = &self.tails else {
            return Ok(false);
        };
        let read_err = |e: redb::Error| storage_error("read", e);
        let snapshot = tails.db.begin_read().map_err(|e| read_err(e.into()))?;
        let committed_start = match snapshot.open_table(BUSINESS_STATES) {
            Ok(states) => states
                .get(handle)
                .map_err(|e| read_err(e.into()))?
                .map_or(0, |g| BusinessState::from_row(g.value()).tail_start),
            Err(redb::TableError::TableDoesNotExist(_)) => 0,
            Err(e) => return Err(read_err(e.into())),
        };
        let mut emails = Vec::new();
        let committed = snapshot
            .open_table(CUSTOMERS)
            .map_err(|e| read_err(e.into()))?;
        let whole = waiting_emails(&committed, handle, committed_start, &mut emails)?;
        drop(committed);
        if !whole || !waiting_emails(&self.tables.customers, handle, start, &mut emails)? {
            return Ok(false);
        }
        Ok(tails.memory.start(
            handle,
            tails.generation,
            committed_start.min(start),
            &emails,
        ))
    }

    /// Keeps what the jobs change from now on, for the journal, up to what one frame takes.
    pub(crate) fn keep_effects(&mut self) {
        self.effects = Kept::Effects(Vec::new(), 0);
    }

    /// What the jobs changed since [`WriteTables::keep_effects`], or `None` when that was
    /// more than a frame takes (a bulk load, to be committed durably in the database).
    pub(crate) fn take_effects(&mut self) -> Option<Vec<Effect>> {
        match std::mem::replace(&mut self.effects, Kept::Nothing) {
            Kept::Effects(effects, _) => Some(effects),
            Kept::Nothing | Kept::TooMany => None,
        }
    }

    fn keeps_effects(&self) -> bool {
        matches!(self.effects, Kept::Effects(..))
    }

    /// Whether `bytes` more of effects still fit in one frame; when they do not, the
    /// transaction stops keeping effects (it will be committed directly), so that a bulk load
    /// encodes nothing more for the journal.
    fn effects_fit(&mut self, bytes: usize) -> bool {
        match &self.effects {
            Kept::Effects(_, kept) if kept + bytes <= journal::DIRECT_COMMIT_BYTES => true,
            Kept::Effects(..) => {
                self.effects = Kept::TooMany;
                false
            }
            Kept::Nothing | Kept::TooMany => false,
        }
    }

    fn effect(&mut self, effect: Effect) {
        let bytes = journal::effects_bytes(std::slice::from_ref(&effect));
        self.effect_of_size(effect, bytes);
    }

    /// [`WriteTables::effect`] for an effect whose size in a frame is known: `bytes`.
    fn effect_of_size(&mut self, effect: Effect, bytes: usize) {
        if self.effects_fit(bytes)
            && let Kept::Effects(effects, kept) = &mut self.effects
        {
            effects.push(effect);
            *kept += bytes;
        }
    }

    /// Writes back the business states the transaction changed. Runs once, after the last
    /// job and before the commit.
    pub(crate) fn finish(&mut self) -> Result<()> {
        for (handle, state, stored) in std::mem::take(&mut self.changed) {
            if Some(state) != stored {
                self.tables
                    .states
                    .insert(handle, state.row())
                    .map_err(write_err)?;
            }
        }
        Ok(())
    }

    /// The state of business `handle` as this transaction has it.
    fn state(&mut self, handle: u32) -> Result<BusinessState> {
        if let Some((_, state, _)) = self.changed.iter().find(|(h, _, _)| *h == handle) {
            return Ok(*state);
        }
        let stored = self
            .tables
            .states
            .get(handle)
            .map_err(write_err)?
            .map(|g| BusinessState::from_row(g.value()))
            .ok_or_else(|| Error::Corrupt(format!("business #{handle} has no state row")))?;
        self.changed.push((handle, stored, Some(stored)));
        Ok(stored)
    }

    /// Changes the state of business `handle` (written back by [`WriteTables::finish`]).
    fn set_state(&mut self, handle: u32, state: BusinessState) -> Result<()> {
        self.state(handle)?;
        if let Some(entry) = self.changed.iter_mut().find(|(h, _, _)| *h == handle) {
            entry.1 = state;
        }
        Ok(())
    }

    fn handle(&self, business: &str) -> Result<Option<u32>> {
        match self.tables.businesses.get(business).map_err(write_err)? {
            Some(entry) => checked_handle(business, entry.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The handle of `business`, interning the name on its first write. `replaying` a journal
    /// skips the check for a damaged entry (the write was made and acknowledged before;
    /// refusing it now would refuse the whole open).
    fn handle_or_create(&mut self, business: &str, replaying: bool) -> Result<u32> {
        if let Some(handle) = self.handle(business)? {
            return Ok(handle);
        }
        // The newest handle: stored, or new in this transaction (not yet written back).
        let stored = self
            .tables
            .states
            .last()
            .map_err(write_err)?
            .map(|(k, _)| k.value());
        let newest = self.changed.iter().map(|(h, _, _)| *h).chain(stored).max();
        let next = match newest {
            Some(newest) => newest.checked_add(1).ok_or_else(|| Error::Storage {
                message: "too many businesses".to_owned(),
                source: None,
            })?,
            None => 1,
        };
        // The business asked for may be one whose entry is damaged (its name changed on disk,
        // so it no longer matches its check): refuse rather than create a second one beside
        // its records (found in an operator's trial: an import did). One scan of the
        // businesses, for each new business only.
        if !replaying {
            for entry in self.tables.businesses.iter().map_err(write_err)? {
                let (name, value) = entry.map_err(write_err)?;
                if let Err(e) = checked_handle(name.value(), value.value()) {
                    let why = e.into_detail();
                    return Err(Error::Corrupt(format!(
                        "no new business is created while the entry of another is damaged (it may \
                         be {business:?}): {why}"
                    )));
                }
            }
        }
        // Every business has a state row, so `next` is free. If rows were lost, refuse rather
        // than hand a new business the records of another.
        if self
            .tables
            .customers
            .range((next, 0)..=(next, u64::MAX))
            .map_err(write_err)?
            .next()
            .is_some()
        {
            return Err(Error::Corrupt(format!(
                "business #{next} has records but no state row"
            )));
        }
        self.tables
            .businesses
            .insert(business, (next, business_check(business, next)))
            .map_err(write_err)?;
        self.changed.push((next, BusinessState::default(), None));
        Ok(next)
    }

    fn record(&self, handle: u32, n: u64) -> Result<Option<Customer>> {
        match self.tables.customers.get((handle, n)).map_err(write_err)? {
            Some(bytes) => codec::decode(handle, n, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn email_owner(&self, handle: u32, key: &str) -> Result<Option<u64>> {
        Ok(self
            .unique()?
            .emails
            .get((handle, key))
            .map_err(write_err)?
            .map(|g| g.value()))
    }

    fn external_id_owner(&self, handle: u32, external_id: &str) -> Result<Option<u64>> {
        Ok(self
            .unique()?
            .external_ids
            .get((handle, external_id))
            .map_err(write_err)?
            .map(|g| g.value()))
    }

    /// Writes the record itself.
    fn put_record(&mut self, handle: u32, n: u64, customer: &Customer) -> Result<()> {
        let bytes = codec::encode(handle, n, customer)?;
        self.tables
            .customers
            .insert((handle, n), bytes.as_slice())
            .map_err(write_err)?;
        Ok(())
    }

    /// Checks, before a run of new customers numbered from `first` on is written, that
    /// `handle` has no record and no entry of the status index under one of `statuses` (those
    /// the new customers have) numbered `first` or above. The ids a business issues only grow,
    /// so an entry there means its state row is behind its records (`Corrupt`): the run's
    /// cursors could not pass it. (Two seeks, about 4,300 instructions each on the 1 M store:
    /// for fewer customers, [`new_entry`] refuses an entry at a new key instead.)
    fn check_nothing_from(
        &self,
        handle: u32,
        first: u64,
        statuses: impl IntoIterator<Item = Status>,
    ) -> Result<()> {
        let in_the_way = |what: &str, n: u64| {
            Error::Corrupt(format!(
                "business #{handle} already has {what} at {}, at or after the new id {}",
                id::encode(n),
                id::encode(first)
            ))
        };
        let mut records = self
            .tables
            .customers
            .lower_bound(Bound::Included((handle, first)))
            .map_err(write_err)?;
        if let Some((key, _)) = records.next().map_err(write_err)? {
            let (found, n) = key.value();
            if found == handle {
                return Err(in_the_way("a record", n));
            }
        }
        for status in statuses {
            let mut entries = self
                .tables
                .statuses
                .lower_bound(Bound::Included((handle, status.code(), first)))
                .map_err(write_err)?;
            if let Some((key, _)) = entries.next().map_err(write_err)? {
                let (found, code, n) = key.value();
                if (found, code) == (handle, status.code()) {
                    return Err(in_the_way("a status index entry", n));
                }
            }
        }
        Ok(())
    }

    /// Writes new records of `handle`, numbered above every id it issued. A run of
    /// [`APPEND_RUN`] or more goes in through one cursor at the business's end, once
    /// [`WriteTables::check_nothing_from`] found nothing in its way: redb buffers an ascending
    /// run and splices it into full leaves, one parent update per flush, instead of descending
    /// the tree for every insert. Fewer go in one insert each; one that replaces a record is
    /// `Corrupt` ([`new_entry`]).
    fn append_records(
        &mut self,
        handle: u32,
        numbers: &[u64],
        created: &[RecordFields<'_>],
    ) -> Result<()> {
        if numbers.len() < APPEND_RUN {
            for (&n, fields) in numbers.iter().zip(created) {
                let bytes = codec::encode_fields(handle, n, fields)?;
                let old = self.tables.customers.insert((handle, n), bytes.as_slice());
                new_entry(old.map_err(write_err)?.is_some(), handle, "a record", n)?;
            }
            return Ok(());
        }
        let end = Bound::Included((handle, u64::MAX));
        let mut cursor = self
            .tables
            .customers
            .upper_bound_mut(end)
            .map_err(write_err)?;
        for (&n, fields) in numbers.iter().zip(created) {
            let bytes = codec::encode_fields(handle, n, fields)?;
            cursor
                .insert_before((handle, n), bytes.as_slice())
                .map_err(|e| out_of_order(e, handle, n, "record"))?;
        }
        cursor.close().map_err(write_err)
    }

    /// [`WriteTables::append_records`] for the status index entries of those of `created`
    /// that have `status` (a run counted per status); the caller counts them.
    fn append_status_entries(
        &mut self,
        handle: u32,
        status: Status,
        numbers: &[u64],
        created: &[RecordFields<'_>],
    ) -> Result<()> {
        let with_status = || {
            numbers
                .iter()
                .zip(created)
                .filter(move |(_, c)| c.status == status)
                .map(|(&n, _)| n)
        };
        if with_status().take(APPEND_RUN).count() < APPEND_RUN {
            for n in with_status() {
                let old = self.tables.statuses.insert((handle, status.code(), n), ());
                new_entry(
                    old.map_err(write_err)?.is_some(),
                    handle,
                    "a status index entry",
                    n,
                )?;
            }
            return Ok(());
        }
        let end = Bound::Included((handle, status.code(), u64::MAX));
        let mut cursor = self
            .tables
            .statuses
            .upper_bound_mut(end)
            .map_err(write_err)?;
        for n in with_status() {
            cursor
                .insert_before((handle, status.code(), n), ())
                .map_err(|e| out_of_order(e, handle, n, "status index entry"))?;
        }
        cursor.close().map_err(write_err)
    }

    fn put_email(&mut self, handle: u32, n: u64, email: &str) -> Result<()> {
        self.put_email_key(handle, n, &email_key(email))
    }

    /// [`WriteTables::put_email`] with the email already lower-cased (`key`).
    fn put_email_key(&mut self, handle: u32, n: u64, key: &str) -> Result<()> {
        put_email_entry(self.unique_mut()?, handle, n, key)
    }

    fn remove_email(&mut self, handle: u32, n: u64, email: &str) -> Result<()> {
        let key = email_key(email);
        if self.email_owner(handle, &key)? == Some(n) {
            self.unique_mut()?
                .emails
                .remove((handle, key.as_str()))
                .map_err(write_err)?;
        }
        Ok(())
    }

    fn put_external_id(&mut self, handle: u32, n: u64, external_id: Option<&str>) -> Result<()> {
        match external_id {
            Some(external_id) => put_external_id_entry(self.unique_mut()?, handle, n, external_id),
            None => Ok(()),
        }
    }

    fn remove_external_id(&mut self, handle: u32, n: u64, external_id: Option<&str>) -> Result<()> {
        if let Some(external_id) = external_id
            && self.external_id_owner(handle, external_id)? == Some(n)
        {
            self.unique_mut()?
                .external_ids
                .remove((handle, external_id))
                .map_err(write_err)?;
        }
        Ok(())
    }

    /// Adds `added` customers of `status` to the index's count.
    fn count_status(&mut self, handle: u32, status: Status, added: i64) -> Result<()> {
        if added == 0 {
            return Ok(());
        }
        let mut state = self.state(handle)?;
        state
            .add_count(status.code(), added)
            .map_err(|e| Error::Corrupt(format!("business #{handle}: {e}")))?;
        self.set_state(handle, state)
    }

    /// Writes a status index entry; the caller counts it (a batch counts once).
    fn put_status_entry(&mut self, handle: u32, n: u64, status: Status) -> Result<()> {
        self.tables
            .statuses
            .insert((handle, status.code(), n), ())
            .map_err(write_err)?;
        Ok(())
    }

    fn put_status(&mut self, handle: u32, n: u64, status: Status) -> Result<()> {
        self.put_status_entry(handle, n, status)?;
        self.count_status(handle, status, 1)
    }

    fn remove_status(&mut self, handle: u32, n: u64, status: Status) -> Result<()> {
        if self
            .tables
            .statuses
            .remove((handle, status.code(), n))
            .map_err(write_err)?
            .is_some()
        {
            self.count_status(handle, status, -1)?;
        }
        Ok(())
    }

    /// Counts `added` new customers into the tail, folding it into the postings when full.
    fn grow_tail(&mut self, handle: u32, added: u64) -> Result<()> {
        let mut state = self.state(handle)?;
        let start = state.tail_start;
        // The state row carries no checksum: a damaged count is reported, not wrapped.
        state.tail_waiting = state.tail_waiting.checked_add(added).ok_or_else(|| {
            Error::Corrupt(format!("the gram tail of business #{handle} is miscounted"))
        })?;
        let kept = self.tails.as_ref().is_some_and(|t| t.memory.keeps(handle));
        let most = if kept {
            self.long_tail()
        } else {
            self.tail_max
        };
        // A tail that reaches its length is folded, unless its emails can be kept in memory
        // from now on (it may then grow up to the long tail).
        let keep = !kept
            && state.tail_waiting < self.long_tail()
            && self
                .tails
                .as_ref()
                .is_some_and(|t| t.memory.has_room(state.tail_waiting.saturating_mul(2)))
            && self.keep_waiting(handle, start)?;
        if state.tail_waiting < most || keep {
            return self.set_state(handle, state);
        }
        // The memory's lists, when they hold exactly the waiting customers' grams, save
        // reading the records and taking their grams again. Taken, they are gone from the
        // memory even if the write below fails: the business's filtered pages then read their
        // waiting records until a fold lands (the memory's list starts after the failed
        // fold's customers, which a snapshot's tail never does).
        let taken = self
            .tails
            .as_ref()
            .and_then(|t| t.memory.take_exact(handle, start, state.tail_waiting));
        let (next_start, left) = match taken {
            Some(taken) => {
                grams::append_lists(&mut self.tables.grams, handle, taken.lists)?;
                (taken.next_start, 0)
            }
            None => {
                let tail = self.read_tail(handle, start)?;
                tail.postings.write(&mut self.tables.grams)?;
                if let Some(tails) = &self.tails {
                    if tail.damaged.is_some() {
                        // The customers from the damaged one on still wait: no empty list
                        // may stand for them (found in review: a filter then answered from
                        // it, and missed them). Queries read the records until a whole fold.
                        tails.memory.forget(handle);
                    } else {
                        tails.memory.folded(handle, tail.next_start);
                    }
                }
                let left = match tail.damaged {
                    None => 0,
                    Some(_) => state.tail_waiting.checked_sub(tail.folded).ok_or_else(|| {
                        Error::Corrupt(format!("the gram tail of business #{handle} is miscounted"))
                    })?,
                };
                (tail.next_start, left)
            }
        };
        state.tail_start = next_start;
        state.tail_waiting = left;
        self.set_state(handle, state)
    }

    /// The postings of `handle`'s customers from `start` on, read from their records, up to
    /// the first damaged record. The fold stops there: left out of the postings, a damaged
    /// record would be silently missing from every filtered list (found in an operator's
    /// trial), and failing the fold would fail every later create of the business. It stays
    /// in the tail, which filtered lists read (answering `corrupt`), until it is removed
    /// (`remove_damaged`); each fold meanwhile reads it first and stops.
    fn read_tail(&self, handle: u32, start: u64) -> Result<ReadTail> {
        let mut tail = ReadTail {
            postings: grams::NewPostings::default(),
            next_start: start,
            folded: 0,
            damaged: None,
        };
        for entry in self
            .tables
            .customers
            .range((handle, start)..=(handle, u64::MAX))
            .map_err(write_err)?
        {
            let (key, value) = entry.map_err(write_err)?;
            let n = key.value().1;
            let Ok(head) = codec::peek(handle, n, value.value()) else {
                tail.damaged = Some(n);
                tail.next_start = n;
                break;
            };
            tail.postings.add(handle, &email_key(head.email), n);
            tail.folded += 1;
            tail.next_start = n.saturating_add(1);
        }
        Ok(tail)
    }

    /// Moves customer `n`'s postings from the grams of `old` to those of `new` (both emails).
    fn change_postings(
        &mut self,
        handle: u32,
        n: u64,
        old: Option<&str>,
        new: Option<&str>,
    ) -> Result<()> {
        let old = old.map(|e| grams::grams(&email_key(e))).unwrap_or_default();
        let new = new.map(|e| grams::grams(&email_key(e))).unwrap_or_default();
        for &gram in old.iter().filter(|g| new.binary_search(g).is_err()) {
            grams::remove(&mut self.tables.grams, handle, gram, n)?;
        }
        for &gram in new.iter().filter(|g| old.binary_search(g).is_err()) {
            grams::insert(&mut self.tables.grams, handle, gram, n)?;
        }
        Ok(())
    }
}

/// What [`WriteTables::read_tail`] read of a business's tail.
struct ReadTail {
    postings: grams::NewPostings,
    /// The first id left in the tail.
    next_start: u64,
    /// How many customers the postings hold.
    folded: u64,
    /// The damaged record the read stopped at, if it did.
    damaged: Option<u64>,
}

/// The first item of a create that breaks a uniqueness rule of one index ([`first_offence`]).
struct Offence {
    index: usize,
    /// The rule's place among an item's checks: a repeat of an earlier item's email (0), of
    /// its externalId (1), a stored customer's email (2), a stored externalId (3).
    rank: u8,
    /// The item's error, or the storage error of its lookup.
    error: std::result::Result<Error, Error>,
}

/// The first offence of `keys` (new customers' lower-cased emails) against the email index.
fn email_offence(
    emails: &impl ReadableTable<(u32, &'static str), u64>,
    handle: Option<u32>,
    keys: &[String],
) -> Option<Offence> {
    let values = keys.iter().map(|key| Some(key.as_str()));
    first_offence(emails, Unique::Email, handle, values)
}

/// The first offence of `items`' externalIds against the externalId index.
fn external_id_offence(
    external_ids: &impl ReadableTable<(u32, &'static str), u64>,
    handle: Option<u32>,
    items: &[ValidNew],
) -> Option<Offence> {
    let values = items.iter().map(|item| item.external_id.as_deref());
    first_offence(external_ids, Unique::ExternalId, handle, values)
}

/// The lower-cased emails of `items`.
fn email_keys(items: &[ValidNew]) -> Vec<String> {
    items.iter().map(|item| email_key(&item.email)).collect()
}

/// The unique index a create's checks look at: the email index or the externalId index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unique {
    Email,
    ExternalId,
}

/// The first of `values` (one per item of a create, lower-cased emails or externalIds; `None`
/// for an item without one) that repeats an earlier value, or that a stored customer of
/// `handle` (if the business exists) holds in `index`, which is the `which` index.
fn first_offence<'v>(
    index: &impl ReadableTable<(u32, &'static str), u64>,
    which: Unique,
    handle: Option<u32>,
    values: impl ExactSizeIterator<Item = Option<&'v str>>,
) -> Option<Offence> {
    let (field, repeat_rank, taken_rank) = match which {
        Unique::Email => ("email", 0, 2),
        Unique::ExternalId => ("externalId", 1, 3),
    };
    // Every item has an email, few may have an externalId: only the emails' map is sized
    // up front (a single create then allocates no map for a customer without an externalId).
    let expected = match which {
        Unique::Email => values.len(),
        Unique::ExternalId => 0,
    };
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(expected);
    for (at, value) in values.enumerate() {
        let Some(value) = value else {
            continue;
        };
        if let Some(&earlier_index) = seen.get(value) {
            let error = Error::DuplicateInBatch {
                field,
                earlier_index,
            };
            return Some(Offence {
                index: at,
                rank: repeat_rank,
                error: Ok(error),
            });
        }
        if let Some(handle) = handle {
            let error = match index.get((handle, value)).map_err(write_err) {
                Ok(None) => None,
                Ok(Some(owner)) => {
                    let existing_id = id::encode(owner.value());
                    Some(Ok(match which {
                        Unique::Email => Error::EmailTaken { existing_id },
                        Unique::ExternalId => Error::ExternalIdTaken { existing_id },
                    }))
                }
                Err(e) => Some(Err(e)),
            };
            if let Some(error) = error {
                return Some(Offence {
                    index: at,
                    rank: taken_rank,
                    error,
                });
            }
        }
        seen.insert(value, at);
    }
    None
}

/// What a create wrote for each of its items, in order: the id number and the two timestamps.
pub(crate) type Made = Vec<(u64, Timestamp, Timestamp)>;

/// Creates `items` (already validated) in the open transaction, checking every uniqueness
/// rule of every item before the first write. With `batch`, errors name the item's index.
/// `bad_item` is the error of the batch's item after `items`, which failed its field rules:
/// it is returned, with nothing written, once `items` are found free of conflicts (so that
/// the error names the first offending item).
///
/// Returns each item's id and times; [`created`] makes the customers of them once the write is
/// durable, outside the transaction and without copying the items (a job keeps its items, as
/// it may run again in another transaction if another job of its batch spoils this one).
pub(crate) fn create(
    tables: &mut WriteTables<'_, '_>,
    business: &str,
    items: &[ValidNew],
    now: Timestamp,
    batch: bool,
    bad_item: Option<&Error>,
) -> Result<Made> {
    let at_item = |index: usize, error: Error| {
        if batch {
            Error::Batch {
                index,
                source: Box::new(error),
            }
        } else {
            error
        }
    };
    // Checks, so the error names the first offending item: for each item in index order, a
    // repeat of an earlier item's email, then of its externalId, then an email a stored
    // customer holds, then a stored externalId. The email checks and the externalId checks
    // each find their first offence (on two threads for a large batch); the earlier wins.
    let handle = tables.handle(business)?;
    let unique = tables.unique()?;
    let email_side = || {
        let keys = email_keys(items);
        let offence = email_offence(&unique.emails, handle, &keys);
        (keys, offence)
    };
    let external_side = || external_id_offence(&unique.external_ids, handle, items);
    let ((keys, email_offence), external_id_offence) =
        if handle.is_some() && items.len() >= SECOND_THREAD_RUN {
            let (external, email) = beside(external_side, email_side);
            (email.map_err(lent_thread_panicked)?, external)
        } else {
            (email_side(), external_side())
        };
    if let Some(offence) = [email_offence, external_id_offence]
        .into_iter()
        .flatten()
        .min_by_key(|offence| (offence.index, offence.rank))
    {
        return Err(match offence.error {
            Ok(error) => at_item(offence.index, error),
            Err(storage) => storage,
        });
    }
    if let Some(error) = bad_item {
        return Err(error.clone());
    }
    // Writes.
    let handle = tables.handle_or_create(business, false)?;
    let now_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
    let stamp = whole_seconds(now);
    let mut last = Some(tables.state(handle)?.last_id);
    if last.unwrap_or(0).checked_add(items.len() as u64).is_none() {
        return Err(Error::Storage {
            message: "the id space of this business is exhausted".to_owned(),
            source: None,
        });
    }
    let mut made = Vec::with_capacity(items.len());
    let mut numbers = Vec::with_capacity(items.len());
    let mut fields = Vec::with_capacity(items.len());
    for item in items {
        let n = id::next(last, now_ms).ok_or_else(|| Error::Storage {
            message: "the id space of this business is exhausted".to_owned(),
            source: None,
        })?;
        last = Some(n);
        let created_at = item.created_at.unwrap_or(stamp);
        let updated_at = item.updated_at.unwrap_or(created_at).max(created_at);
        made.push((n, created_at, updated_at));
        numbers.push(n);
        fields.push(RecordFields {
            email: &item.email,
            name: &item.name,
            phone: item.phone.as_deref(),
            external_id: item.external_id.as_deref(),
            description: item.description.as_deref(),
            currency: item.currency.as_deref(),
            metadata: item.metadata.as_ref(),
            status: item.status,
            created_at,
            updated_at,
        });
    }
    write_new(tables, handle, &numbers, &keys, &fields, last)?;
    if tables.keeps_effects() {
        // Encoded one by one, and no further than a frame takes: past that the batch is
        // committed directly and its records are not journaled.
        let mut records = Vec::with_capacity(fields.len());
        let mut bytes = business.len();
        for (&n, record_fields) in numbers.iter().zip(&fields) {
            let record = codec::encode_fields(0, n, record_fields)?;
            bytes += journal::record_bytes(&record);
            if !tables.effects_fit(bytes) {
                return Ok(made);
            }
            records.push((n, record));
        }
        tables.effect_of_size(
            Effect::Created {
                business: business.to_owned(),
                records,
            },
            bytes,
        );
    }
    Ok(made)
}

/// The customers that [`create`] made of `items`, which move into them: `made` gives each its
/// id number and times (one per item, as `create` returns them; the caller checks).
pub(crate) fn created(items: Vec<ValidNew>, made: &[(u64, Timestamp, Timestamp)]) -> Vec<Customer> {
    items
        .into_iter()
        .zip(made)
        .map(|(item, &(n, created_at, updated_at))| Customer {
            id: id::encode(n),
            external_id: item.external_id,
            email: item.email,
            name: item.name,
            phone: item.phone,
            description: item.description,
            metadata: item.metadata,
            status: item.status,
            currency: item.currency,
            created_at,
            updated_at,
        })
        .collect()
}

/// Appends the (lower-cased) email of every customer of `handle` from id `start` on, as
/// `customers` holds them. Returns `false`, at once, at a damaged record: its email is not
/// known, so no list of the waiting emails can stand for the records (a query must read them
/// and answer `corrupt`; found in an operator's trial: it was left out, and a filtered list
/// silently missed it).
fn waiting_emails(
    customers: &impl ReadableTable<(u32, u64), &'static [u8]>,
    handle: u32,
    start: u64,
    out: &mut Vec<(u64, String)>,
) -> Result<bool> {
    for entry in customers
        .range((handle, start)..=(handle, u64::MAX))
        .map_err(write_err)?
    {
        let (key, value) = entry.map_err(write_err)?;
        let n = key.value().1;
        match codec::peek(handle, n, value.value()) {
            Ok(head) => out.push((n, email_key(head.email))),
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// The businesses whose email-index tail is longer than `tail_max` in the newest committed
/// snapshot of `db` (their waiting emails were kept in memory when the store last ran), each
/// with its tail's first id and its waiting emails.
///
/// # Errors
///
/// Storage errors.
pub(crate) fn long_tails(
    db: &Database,
    tail_max: u64,
    mut room: impl FnMut(u64) -> bool,
) -> Result<Vec<LongTail>> {
    let read_err = |e: redb::Error| storage_error("read", e);
    let snapshot = db.begin_read().map_err(|e| read_err(e.into()))?;
    let states = snapshot
        .open_table(BUSINESS_STATES)
        .map_err(|e| read_err(e.into()))?;
    let customers = snapshot
        .open_table(CUSTOMERS)
        .map_err(|e| read_err(e.into()))?;
    let mut out = Vec::new();
    for entry in states.iter().map_err(|e| read_err(e.into()))? {
        let (handle, row) = entry.map_err(|e| read_err(e.into()))?;
        let state = BusinessState::from_row(row.value());
        // A tail longer than a kept one may be, or beyond the budget, folds at its next write.
        if state.tail_waiting > tail_max
            && state.tail_waiting < tail_max.saturating_mul(tail::LONG_TAIL_FACTOR)
            && room(state.tail_waiting)
        {
            let mut emails = Vec::new();
            if !waiting_emails(&customers, handle.value(), state.tail_start, &mut emails)? {
                continue;
            }
            out.push(LongTail {
                handle: handle.value(),
                start: state.tail_start,
                emails,
            });
        }
    }
    Ok(out)
}

/// A business's long email-index tail (see [`long_tails`]).
pub(crate) struct LongTail {
    pub handle: u32,
    pub start: u64,
    pub emails: Vec<(u64, String)>,
}

/// The fewest new customers of one create whose unique index entries are written on a second
/// thread while the first writes the rest ([`write_new`]): starting a thread costs tens of
/// microseconds, a thousand new customers about ten milliseconds.
const SECOND_THREAD_RUN: usize = 256;

/// Writes new customers (`numbers`, with their lower-cased emails `keys`; `last` is the newest
/// id issued): the records in id order, the status entries in id order per status (both
/// appended through cursors when there are enough, see [`WriteTables::append_records`]), the
/// email and externalId entries ([`put_unique_entries`]), the counts and the email index's
/// tail ([`finish_new`]). Lookups in key order measured no faster, so the uniqueness checks
/// stay in item order. Appending through cursors took a 1 M import on tmpfs from 10.6–15.1 s
/// to 9.5–12.6 s (five runs each, alternated).
///
/// From [`SECOND_THREAD_RUN`] customers on, a second (scoped) thread writes the unique indexes
/// while this one writes the rest, the tail's memory before the fold that must find the new
/// emails there. The two threads write disjoint tables of the one transaction (redb allows
/// it). If no thread can be started, this one does both. A panic on the second thread makes
/// the store reopen its database, as one on this thread does (`RedbStore::run_with_journal`),
/// since redb's state after a panic inside it is unknown; its error wins over this thread's.
/// (Giving the second thread the tail's memory too, this one waiting for it before the fold,
/// measured slower than one thread: the fold comes every 16,384 customers, so in most batches
/// this thread sat idle; PERFORMANCE.md, "Round 11".)
fn write_new(
    tables: &mut WriteTables<'_, '_>,
    handle: u32,
    numbers: &[u64],
    keys: &[String],
    created: &[RecordFields<'_>],
    last: Option<u64>,
) -> Result<()> {
    if let Some(&first) = numbers.first()
        && numbers.len() >= APPEND_RUN
    {
        let statuses = Status::ALL
            .into_iter()
            .filter(|&s| created.iter().any(|c| c.status == s));
        tables.check_nothing_from(handle, first, statuses)?;
    }
    // The records, the status entries, the tail's memory, the counts and the tail (which
    // folds only after the memory has the new emails).
    let write_rest = |tables: &mut WriteTables<'_, '_>| -> Result<()> {
        for (&n, key) in numbers.iter().zip(keys) {
            tables.remember_key(handle, n, key);
        }
        tables.append_records(handle, numbers, created)?;
        for status in Status::ALL {
            tables.append_status_entries(handle, status, numbers, created)?;
        }
        finish_new(tables, handle, created, last)
    };
    if numbers.len() < SECOND_THREAD_RUN {
        put_unique_entries(tables.unique_mut()?, handle, numbers, keys, created)?;
        return write_rest(tables);
    }
    let unique = tables.unique.take().ok_or_else(unique_lent)?;
    let (written, indexed) = beside(
        || write_rest(tables),
        || put_unique_entries(unique, handle, numbers, keys, created),
    );
    tables.unique = Some(unique);
    let indexed = indexed.unwrap_or_else(|panic| Err(lent_thread_panicked(panic)));
    // An error that makes the store reopen (a panic) wins over the other thread's.
    match (written, indexed) {
        (Ok(()), indexed) => indexed,
        (Err(_), Err(reopen)) if needs_reopen(&reopen) => Err(reopen),
        (Err(error), _) => Err(error),
    }
}

/// Writes the email and externalId index entries of new customers (`numbers`, with their
/// lower-cased emails `keys`), each index in one run sorted by key. Writing each tree in one
/// run, rather than switching among trees per customer, took the 1 M import from about 64 k to
/// 81 k customers/s (the benchmarks' batches already come in key order; the sort is for
/// batches that do not).
fn put_unique_entries(
    unique: &mut UniqueTables<'_>,
    handle: u32,
    numbers: &[u64],
    keys: &[String],
    created: &[RecordFields<'_>],
) -> Result<()> {
    let mut order: Vec<usize> = (0..numbers.len()).collect();
    order.sort_unstable_by_key(|&i| keys[i].as_str());
    for &i in &order {
        put_email_entry(unique, handle, numbers[i], &keys[i])?;
    }
    order.retain(|&i| created[i].external_id.is_some());
    order.sort_unstable_by_key(|&i| created[i].external_id);
    for &i in &order {
        if let Some(external_id) = created[i].external_id {
            put_external_id_entry(unique, handle, numbers[i], external_id)?;
        }
    }
    Ok(())
}

/// Counts new customers (`created`, up to id number `last`) into the status counts, the last
/// id issued and the email index's tail.
fn finish_new(
    tables: &mut WriteTables<'_, '_>,
    handle: u32,
    created: &[RecordFields<'_>],
    last: Option<u64>,
) -> Result<()> {
    for status in Status::ALL {
        let added = created.iter().filter(|c| c.status == status).count();
        tables.count_status(handle, status, i64::try_from(added).unwrap_or(i64::MAX))?;
    }
    if let Some(last) = last {
        let mut state = tables.state(handle)?;
        state.last_id = state.last_id.max(last);
        tables.set_state(handle, state)?;
    }
    tables.grow_tail(handle, created.len() as u64)
}

/// The record with every change of `patch` applied (timestamps untouched).
fn apply(old: &Customer, patch: &ValidPatch) -> Customer {
    let patch = patch.clone();
    let mut new = old.clone();
    if let Some(email) = patch.email {
        new.email = email;
    }
    if let Some(name) = patch.name {
        new.name = name;
    }
    if let Some(status) = patch.status {
        new.status = status;
    }
    if let Some(phone) = patch.phone {
        new.phone = phone;
    }
    if let Some(external_id) = patch.external_id {
        new.external_id = external_id;
    }
    if let Some(description) = patch.description {
        new.description = description;
    }
    if let Some(currency) = patch.currency {
        new.currency = currency;
    }
    if let Some(metadata) = patch.metadata {
        new.metadata = metadata;
    }
    new
}

/// Applies `patch` to customer `n`; returns the record and whether anything changed (a patch
/// that changes nothing writes nothing).
pub(crate) fn update(
    tables: &mut WriteTables<'_, '_>,
    business: &str,
    n: u64,
    patch: &ValidPatch,
    now: Timestamp,
) -> Result<Output> {
    let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
    let old = tables.record(handle, n)?.ok_or(Error::NotFound)?;
    let mut new = apply(&old, patch);
    if new == old {
        return Ok(Output::Unchanged(old));
    }
    let email_changed = email_key(&new.email) != email_key(&old.email);
    let external_id_changed = new.external_id != old.external_id;
    // Checks.
    if email_changed
        && let Some(owner) = tables.email_owner(handle, &email_key(&new.email))?
        && owner != n
    {
        return Err(Error::EmailTaken {
            existing_id: id::encode(owner),
        });
    }
    if external_id_changed
        && let Some(external_id) = &new.external_id
        && let Some(owner) = tables.external_id_owner(handle, external_id)?
        && owner != n
    {
        return Err(Error::ExternalIdTaken {
            existing_id: id::encode(owner),
        });
    }
    new.updated_at = whole_seconds(now).max(old.updated_at);
    replace(tables, handle, n, &old, &new)?;
    if tables.keeps_effects() {
        tables.effect(Effect::Replaced {
            business: business.to_owned(),
            n,
            record: codec::encode(0, n, &new)?,
        });
    }
    Ok(Output::Written(new))
}

/// Replaces customer `n`'s record `old` with `new`, moving the index entries that change.
fn replace(
    tables: &mut WriteTables<'_, '_>,
    handle: u32,
    n: u64,
    old: &Customer,
    new: &Customer,
) -> Result<()> {
    let email_changed = email_key(&new.email) != email_key(&old.email);
    let external_id_changed = new.external_id != old.external_id;
    tables.put_record(handle, n, new)?;
    if email_changed {
        tables.remove_email(handle, n, &old.email)?;
        tables.put_email(handle, n, &new.email)?;
        if n < tables.state(handle)?.tail_start {
            tables.change_postings(handle, n, Some(&old.email), Some(&new.email))?;
        } else {
            tables.remember_email(handle, n, &new.email);
        }
    }
    if external_id_changed {
        tables.remove_external_id(handle, n, old.external_id.as_deref())?;
        tables.put_external_id(handle, n, new.external_id.as_deref())?;
    }
    if new.status != old.status {
        tables.remove_status(handle, n, old.status)?;
        tables.put_status(handle, n, new.status)?;
    }
    Ok(())
}

/// Removes customer `n`, its index entries and its postings.
pub(crate) fn delete(tables: &mut WriteTables<'_, '_>, business: &str, n: u64) -> Result<Customer> {
    let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
    // A damaged record cannot say which entries are its own: pointed to the removal that
    // finds them (an operator's trial found no hint of it here).
    let old = tables
        .record(handle, n)
        .map_err(|e| match e {
            Error::Corrupt(what) => Error::Corrupt(format!(
                "{what} (a damaged record is removed with `customer-store delete --damaged` or \
                 `RedbStore::remove_damaged`)"
            )),
            other => other,
        })?
        .ok_or(Error::NotFound)?;
    tables.remove_email(handle, n, &old.email)?;
    tables.remove_external_id(handle, n, old.external_id.as_deref())?;
    tables.remove_status(handle, n, old.status)?;
    if n < tables.state(handle)?.tail_start {
        tables.change_postings(handle, n, Some(&old.email), None)?;
    }
    drop_record(tables, business, handle, n)?;
    Ok(old)
}

/// The end of a removal, once the index entries and postings that name customer `n` are gone:
/// it leaves its business's tail count (if it waits there) and the records, and the journal
/// is told.
fn drop_record(
    tables: &mut WriteTables<'_, '_>,
    business: &str,
    handle: u32,
    n: u64,
) -> Result<()> {
    let mut state = tables.state(handle)?;
    if n >= state.tail_start {
        state.tail_waiting = state.tail_waiting.checked_sub(1).ok_or_else(|| {
            Error::Corrupt(format!("the gram tail of business #{handle} is miscounted"))
        })?;
        tables.set_state(handle, state)?;
    }
    tables
        .tables
        .customers
        .remove((handle, n))
        .map_err(write_err)?;
    tables.effect(Effect::Deleted {
        business: business.to_owned(),
        n,
    });
    Ok(())
}

/// Removes customer `n`, whose record fails its checks (so [`delete`] cannot read which index
/// entries are its own), with every index entry and posting that names it, found by their
/// values: a scan of the business's entries in each index, for a repair. A record that
/// checks out is refused (it is deleted as usual).
///
/// # Errors
///
/// [`Error::NotFound`] for no record at all; [`Error::InvalidRequest`] (field `id`) for a
/// record that is not damaged; storage errors.
pub(crate) fn remove_damaged(
    tables: &mut WriteTables<'_, '_>,
    business: &str,
    n: u64,
) -> Result<()> {
    let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
    match tables.record(handle, n) {
        Ok(None) => return Err(Error::NotFound),
        Ok(Some(_)) => {
            return Err(Error::invalid(
                "id",
                "the record is not damaged: delete it as usual",
            ));
        }
        Err(Error::Corrupt(_)) => {}
        Err(other) => return Err(other),
    }
    let unique = tables.unique()?;
    let emails = keys_naming(&unique.emails, handle, n)?;
    let external_ids = keys_naming(&unique.external_ids, handle, n)?;
    let unique = tables.unique_mut()?;
    for key in &emails {
        unique
            .emails
            .remove((handle, key.as_str()))
            .map_err(write_err)?;
    }
    for key in &external_ids {
        unique
            .external_ids
            .remove((handle, key.as_str()))
            .map_err(write_err)?;
    }
    for status in Status::ALL {
        tables.remove_status(handle, n, status)?;
    }
    if n < tables.state(handle)?.tail_start {
        // Every gram, not only those of the email entry found: the entry may be gone too.
        for gram in grams_of(&tables.tables.grams, handle)? {
            grams::remove(&mut tables.tables.grams, handle, gram, n)?;
        }
    }
    drop_record(tables, business, handle, n)
}

/// The keys of `index` of business `handle` whose entry names customer `n`.
fn keys_naming(
    index: &redb::Table<'_, (u32, &'static str), u64>,
    handle: u32,
    n: u64,
) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    for entry in index.range((handle, "")..).map_err(write_err)? {
        let (key, value) = entry.map_err(write_err)?;
        let (found, text) = key.value();
        if found != handle {
            break;
        }
        if value.value() == n {
            keys.push(text.to_owned());
        }
    }
    Ok(keys)
}

/// The grams of business `handle` that have postings, each once.
fn grams_of(
    blocks: &redb::Table<'_, (u32, u32, u64), &'static [u8]>,
    handle: u32,
) -> Result<Vec<u32>> {
    let mut found: Vec<u32> = Vec::new();
    for entry in blocks.range((handle, 0, 0)..).map_err(write_err)? {
        let (key, _) = entry.map_err(write_err)?;
        let (business, gram, _) = key.value();
        if business != handle {
            break;
        }
        if found.last() != Some(&gram) {
            found.push(gram);
        }
    }
    Ok(found)
}

/// Applies a journal effect again (after a crash), through the same writes as the first time.
/// The state it is applied to is the one it was first made in, so no check can fail.
///
/// # Errors
///
/// [`Error::Corrupt`] when the state does not fit the effect (a record missing); storage
/// errors.
pub(crate) fn replay(tables: &mut WriteTables<'_, '_>, effect: &Effect) -> Result<()> {
    let missing = |business: &str, n: u64| {
        Error::Corrupt(format!(
            "customer {} of business {business:?} is missing",
            id::encode(n)
        ))
    };
    match effect {
        Effect::Created { business, records } => {
            let handle = tables.handle_or_create(business, true)?;
            let mut last = Some(tables.state(handle)?.last_id);
            let mut created = Vec::with_capacity(records.len());
            let mut numbers = Vec::with_capacity(records.len());
            for (n, bytes) in records {
                created.push(codec::decode(0, *n, bytes)?);
                numbers.push(*n);
                last = Some(last.map_or(*n, |l| l.max(*n)));
            }
            let keys: Vec<String> = created.iter().map(|c| email_key(&c.email)).collect();
            let fields: Vec<RecordFields<'_>> = created.iter().map(RecordFields::of).collect();
            write_new(tables, handle, &numbers, &keys, &fields, last)
        }
        Effect::Replaced {
            business,
            n,
            record,
        } => {
            let handle = tables
                .handle(business)?
                .ok_or_else(|| missing(business, *n))?;
            let old = tables
                .record(handle, *n)?
                .ok_or_else(|| missing(business, *n))?;
            let new = codec::decode(0, *n, record)?;
            replace(tables, handle, *n, &old, &new)
        }
        // A record damaged the first time was removed by [`remove_damaged`]; it is damaged
        // again now (the same state).
        Effect::Deleted { business, n } => {
            let damaged = match tables.handle(business)? {
                Some(handle) => matches!(tables.record(handle, *n), Err(Error::Corrupt(_))),
                None => false,
            };
            if damaged {
                remove_damaged(tables, business, *n)
            } else {
                delete(tables, business, *n).map(|_| ())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::backend::Source;
    use super::super::open;
    use super::*;
    use crate::model::NewCustomer;
    use crate::redb_store::tables::BUSINESSES;

    /// A business whose state row is lost must not hand its handle to a new business (which
    /// would then read the other's records): the create is refused as `corrupt`.
    #[test]
    fn a_new_business_never_takes_a_handle_with_records() {
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        let db = open::open(&Source::Backend(backend), 1 << 20, true, None).unwrap();
        let txn = db.begin_write().unwrap();
        {
            txn.open_table(BUSINESSES)
                .unwrap()
                .insert("acme", (1, business_check("acme", 1)))
                .unwrap();
            txn.open_table(CUSTOMERS)
                .unwrap()
                .insert((1, 5), [0u8; 4].as_slice())
                .unwrap();
        }
        let mut open = OpenTables::open(&txn).unwrap();
        let mut tables = WriteTables::new(&mut open, 8);
        let item = crate::validate::new_customer(NewCustomer::new("b@x.io", "B")).unwrap();
        let refused = create(
            &mut tables,
            "beta",
            &[item],
            jiff::Timestamp::UNIX_EPOCH,
            false,
            None,
        );
        assert!(
            matches!(&refused, Err(Error::Corrupt(m)) if m.contains("no state row")),
            "{refused:?}"
        );
    }

    /// A new customer's record or status entry where one already is (a state row behind its
    /// records) is `corrupt`: a run of new customers is refused before anything is written
    /// when an entry is at or after its first id; one customer (as fewer than `APPEND_RUN`)
    /// when its own entry replaced one, which spoils the transaction.
    #[test]
    fn an_entry_in_the_way_of_a_new_id_is_corrupt() {
        for (in_the_way, batch) in [
            ("a record", 1),
            ("a record", APPEND_RUN),
            ("a status index entry", 1),
            ("a status index entry", APPEND_RUN),
        ] {
            let backend: Arc<dyn redb::StorageBackend> =
                Arc::new(redb::backends::InMemoryBackend::new());
            let db = open::open(&Source::Backend(backend), 1 << 20, true, None).unwrap();
            let txn = db.begin_write().unwrap();
            let mut open = OpenTables::open(&txn).unwrap();
            let mut tables = WriteTables::new(&mut open, 8);
            let items = |prefix: &str, count: usize| -> Vec<ValidNew> {
                (0..count)
                    .map(|i| NewCustomer::new(format!("{prefix}{i}@x.io"), "A"))
                    .map(|new| crate::validate::new_customer(new).unwrap())
                    .collect()
            };
            let now = jiff::Timestamp::UNIX_EPOCH;
            let first_items = items("a", 1);
            let made = create(&mut tables, "acme", &first_items, now, false, None).unwrap();
            let first = created(first_items, &made);
            let n = made[0].0;
            assert_eq!(id::decode(&first[0].id), Some(n));
            let handle = tables.handle("acme").unwrap().unwrap();
            // A run is refused for an entry anywhere among its ids; one customer for its own.
            let at = if batch == 1 { n + 1 } else { n + 2 };
            match in_the_way {
                "a record" => tables.put_record(handle, at, &first[0]).unwrap(),
                _ => tables.put_status_entry(handle, at, Status::Active).unwrap(),
            }
            let refused = create(&mut tables, "acme", &items("b", batch), now, false, None);
            let expected = if batch == 1 {
                format!(
                    "business #{handle} already has {in_the_way} at the new id {}",
                    id::encode(at)
                )
            } else {
                format!(
                    "business #{handle} already has {in_the_way} at {}, at or after the new id {}",
                    id::encode(at),
                    id::encode(n + 1)
                )
            };
            assert!(
                matches!(&refused, Err(Error::Corrupt(m)) if *m == expected),
                "{in_the_way}, {batch}: {refused:?}"
            );
            if batch > 1 {
                let written = tables.tables.customers.get((handle, n + 1)).unwrap();
                assert!(
                    written.is_none(),
                    "{in_the_way}, {batch}: a record was written"
                );
                drop(written);
                assert_eq!(tables.email_owner(handle, "b0@x.io").unwrap(), None);
            }
        }
    }

    /// A fold takes its postings from the tail's memory only when the memory holds exactly
    /// the waiting customers: after a rolled-back batch, a deleted customer or a changed
    /// email in the tail, it reads the records. `verify` compares every posting with the
    /// records after each step.
    #[test]
    fn a_fold_from_the_memory_posts_exactly_the_waiting_customers() {
        use crate::model::CustomerPatch;
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        let db = open::open(&Source::Backend(backend), 1 << 20, true, None).unwrap();
        let memory = TailMemory::default();
        let mut second = 0;
        let mut made = 0;
        // One transaction of `steps` (each a batch of so many new customers, or a change to
        // the last one created), a second after the previous one (or in the same second, so
        // that it takes the same ids as a dropped one); committed or dropped; then verified.
        let mut run = |steps: &[i64], commit: bool, same_second: bool| {
            if !same_second {
                second += 1;
            }
            let now = jiff::Timestamp::from_second(second).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut open = OpenTables::open(&txn).unwrap();
                let mut tables = WriteTables::new(&mut open, 4);
                tables.keep_tails(Tails {
                    memory: &memory,
                    db: &db,
                    generation: second.cast_unsigned(),
                });
                let mut last = None;
                for &step in steps {
                    match step {
                        -1 => {
                            delete(&mut tables, "acme", last.unwrap()).unwrap();
                        }
                        -2 => {
                            made += 1;
                            let patch = CustomerPatch::default().set_email(format!("m{made}@y.io"));
                            let patch = crate::validate::patch(patch).unwrap();
                            update(&mut tables, "acme", last.unwrap(), &patch, now).unwrap();
                        }
                        count => {
                            let items: Vec<ValidNew> = (0..count)
                                .map(|_| {
                                    made += 1;
                                    NewCustomer::new(format!("c{made}@x{}.io", made % 7), "C")
                                })
                                .map(|new| crate::validate::new_customer(new).unwrap())
                                .collect();
                            let ids = create(&mut tables, "acme", &items, now, true, None).unwrap();
                            last = ids.last().map(|&(n, _, _)| n);
                        }
                    }
                }
                tables.finish().unwrap();
            }
            if commit {
                txn.commit().unwrap();
                memory.committed(second.cast_unsigned());
            }
            super::super::verify::verify(&db).unwrap()
        };
        // The memory starts from the records (a tail of 4 at most, then kept up to 64), and
        // the fold at 64 reads the records; the memory starts again after it.
        assert_eq!(
            run(&[10, 10, 10, 10, 10, 10, 10, 10], true, false).customers,
            80
        );
        assert_eq!(memory.lists_taken(), 0);
        // A rolled-back batch leaves ids in the memory that no customer has; the next
        // transaction comes a second later, with higher ids.
        run(&[30], false, false);
        assert_eq!(run(&[30, 30], true, false).customers, 140);
        // Run again in the same second, a rolled-back batch's ids are taken again.
        run(&[30], false, false);
        assert_eq!(run(&[30, 40], true, true).customers, 210);
        // A customer deleted, then an email changed, in the tail.
        assert_eq!(run(&[30, -1, 40], true, false).customers, 279);
        assert_eq!(run(&[30, -2, 40], true, false).customers, 349);
        assert_eq!(
            memory.lists_taken(),
            0,
            "every fold so far read the records"
        );
        // Nothing of the kind: the folds take the memory's lists.
        assert_eq!(run(&[35, 35, 20], true, false).customers, 439);
        assert_eq!(memory.lists_taken(), 1);
        assert_eq!(run(&[64, 64], true, false).customers, 567);
        assert_eq!(memory.lists_taken(), 3);
    }

    /// A journal left by a build of format 3 holds its records in layout version 2: they
    /// replay as they are, and land in the database in the current layout.
    #[test]
    fn effects_with_version_2_records_replay() {
        use redb::ReadableDatabase;
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        let db = open::open(&Source::Backend(backend), 1 << 20, true, None).unwrap();
        let customer = |n: u64, name: &str| Customer {
            id: id::encode(n),
            external_id: Some(format!("ext-{n}")),
            email: format!("c{n}@x.io"),
            name: name.to_owned(),
            phone: None,
            description: None,
            metadata: None,
            status: Status::Active,
            currency: Some("GHS".to_owned()),
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        };
        let (first, second) = (customer(1 << 20, "One"), customer((1 << 20) + 1, "Two"));
        let renamed = customer(1 << 20, "Renamed");
        let effects = [
            Effect::Created {
                business: "acme".to_owned(),
                records: vec![
                    (1 << 20, codec::encode_v2(0, 1 << 20, &first)),
                    ((1 << 20) + 1, codec::encode_v2(0, (1 << 20) + 1, &second)),
                ],
            },
            Effect::Replaced {
                business: "acme".to_owned(),
                n: 1 << 20,
                record: codec::encode_v2(0, 1 << 20, &renamed),
            },
        ];
        let txn = db.begin_write().unwrap();
        {
            let mut open = OpenTables::open(&txn).unwrap();
            let mut tables = WriteTables::new(&mut open, 8);
            for effect in &effects {
                replay(&mut tables, effect).unwrap();
            }
            tables.finish().unwrap();
        }
        txn.commit().unwrap();
        let txn = db.begin_read().unwrap();
        let records = txn.open_table(CUSTOMERS).unwrap();
        for (n, expected) in [(1 << 20, &renamed), ((1 << 20) + 1, &second)] {
            let bytes = records.get((1, n)).unwrap().unwrap();
            assert_eq!(bytes.value()[0], 3, "rewritten in the current layout");
            assert_eq!(&codec::decode(1, n, bytes.value()).unwrap(), expected);
        }
        let report = super::super::verify::verify(&db).unwrap();
        assert_eq!((report.customers, report.external_id_entries), (2, 2));
    }
}
