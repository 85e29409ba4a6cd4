//! The read side: a redb snapshot per call (or, for point lookups, the newest one kept between
//! calls), the list query planner and its drivers.

use std::ops::Bound;
use std::sync::{Arc, OnceLock};

use redb::{
    Database, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition, Value,
};

use super::open::storage_error;
use super::tables::checked_handle;
use super::tables::{
    BUSINESS_STATES, BUSINESSES, BusinessState, CUSTOMERS, EMAILS, EXTERNAL_IDS, GRAMS, STATUSES,
};
use super::tail::TailMemory;
use super::{codec, grams};
use crate::model::{Customer, Page, Status};
use crate::validate::{ValidQuery, email_key};
use crate::{Error, Result, id};

/// One business of a store and its customers per status, as
/// [`RedbStore::businesses`](crate::RedbStore::businesses) reports them.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore, Status};
/// let store = RedbStore::in_memory()?;
/// let yaw = store.create("globex", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// store.create("globex", NewCustomer::new("ana@example.com", "Ana"))?;
/// store.create("acme", NewCustomer::new("kofi@example.com", "Kofi"))?;
/// store.update("globex", &yaw.id, CustomerPatch::default().set_status(Status::Blocked))?;
/// let businesses = store.businesses()?;
/// let names: Vec<&str> = businesses.iter().map(|b| b.name.as_str()).collect();
/// assert_eq!(names, ["acme", "globex"]);
/// let globex = &businesses[1];
/// assert_eq!((globex.active, globex.inactive, globex.blocked), (1, 0, 1));
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusinessSummary {
    /// The business name.
    pub name: String,
    /// Customers with status `ACTIVE`.
    pub active: u64,
    /// Customers with status `INACTIVE`.
    pub inactive: u64,
    /// Customers with status `BLOCKED`.
    pub blocked: u64,
}

impl BusinessSummary {
    /// All of the business's customers.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// store.create("acme", NewCustomer::new("ana@example.com", "Ana"))?;
    /// assert_eq!(store.businesses()?[0].customers(), 2);
    /// // A delete is counted out at once.
    /// store.delete("acme", &yaw.id)?;
    /// assert_eq!(store.businesses()?[0].customers(), 1);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn customers(&self) -> u64 {
        self.active + self.inactive + self.blocked
    }
}

fn read_err(e: impl Into<redb::Error>) -> Error {
    storage_error("read", e)
}

/// A read snapshot: lists, business summaries, and (through [`Lookups`]) point lookups.
pub(crate) struct Snapshot {
    lookups: Arc<Lookups>,
}

impl Snapshot {
    /// A new snapshot of `db`.
    pub(crate) fn begin(db: &Database, generation: u64) -> Result<Snapshot> {
        Ok(Snapshot::of(Arc::new(Lookups::begin(db, generation)?)))
    }

    /// The snapshot of `lookups` (the store keeps the newest one between calls), with the
    /// tables it has opened already.
    pub(crate) fn of(lookups: Arc<Lookups>) -> Snapshot {
        Snapshot { lookups }
    }

    fn txn(&self) -> &ReadTransaction {
        &self.lookups.txn
    }

    /// Every business that has had a customer, by name, with its customers per status.
    pub(crate) fn businesses(&self) -> Result<Vec<BusinessSummary>> {
        let businesses = self.txn().open_table(BUSINESSES).map_err(read_err)?;
        let mut out = Vec::new();
        for entry in businesses.iter().map_err(read_err)? {
            let (name, entry) = entry.map_err(read_err)?;
            let handle = checked_handle(name.value(), entry.value())?;
            let state = self.state(handle)?;
            out.push(BusinessSummary {
                name: name.value().to_owned(),
                active: state.count(Status::Active.code()),
                inactive: state.count(Status::Inactive.code()),
                blocked: state.count(Status::Blocked.code()),
            });
        }
        Ok(out)
    }

    /// One business's summary, `None` for a business that never had a customer.
    pub(crate) fn business(&self, business: &str) -> Result<Option<BusinessSummary>> {
        let Some(handle) = self.handle(business)? else {
            return Ok(None);
        };
        let state = self.state(handle)?;
        Ok(Some(BusinessSummary {
            name: business.to_owned(),
            active: state.count(Status::Active.code()),
            inactive: state.count(Status::Inactive.code()),
            blocked: state.count(Status::Blocked.code()),
        }))
    }

    pub(crate) fn handle(&self, business: &str) -> Result<Option<u32>> {
        let table = self.txn().open_table(BUSINESSES).map_err(read_err)?;
        match table.get(business).map_err(read_err)? {
            Some(entry) => checked_handle(business, entry.value()).map(Some),
            None => Ok(None),
        }
    }

    /// The point lookups of this snapshot.
    pub(crate) fn lookups(&self) -> &Lookups {
        &self.lookups
    }

    /// One page of `handle`'s customers matching `query`, in id order.
    ///
    /// With filters, the rarest of the term's grams or the status (by their counts) drives:
    /// its ids are visited in order from the cursor, then (for a gram) the newest customers not
    /// yet in the postings; each record is checked against every filter. A term shorter than
    /// a gram, and no filter at all, walk the records themselves.
    ///
    /// The customers of `spare` (an earlier page's) are decoded over, reusing their memory.
    pub(crate) fn list(
        &self,
        handle: u32,
        query: &ValidQuery,
        indexed: bool,
        spare: Vec<Customer>,
        tails: Option<&TailMemory>,
    ) -> Result<Page> {
        let mut page = Collector::new(query, spare);
        let start = match query.cursor.as_deref().map(id::resume_after) {
            None | Some(Ok(Some(Bound::Unbounded | Bound::Included(_)))) => 0,
            Some(Ok(Some(Bound::Excluded(n)))) => match n.checked_add(1) {
                Some(start) => start,
                None => return Ok(page.finish()),
            },
            Some(Ok(None)) => return Ok(page.finish()),
            Some(Err(())) => {
                return Err(Error::InvalidCursor {
                    reason: "not a customer id".to_owned(),
                });
            }
        };
        let customers = self.lookups.customers()?;
        let driver = if indexed {
            self.driver(handle, query)?
        } else {
            Driver::Scan
        };
        match driver {
            Driver::Nothing => {}
            Driver::Scan => {
                scan(customers, handle, start, &mut page)?;
            }
            Driver::Status(code) => self.by_status(customers, handle, code, start, &mut page)?,
            Driver::Grams(ref grams) => {
                if self.by_grams(customers, handle, grams, start, &mut page)? {
                    self.waiting(customers, handle, query, start, tails, &mut page)?;
                }
            }
            Driver::TailOnly => self.waiting(customers, handle, query, start, tails, &mut page)?,
        }
        Ok(page.finish())
    }

    /// Offers the customers not yet in the gram postings, from `start` on: those the tail's
    /// memory names as candidates for the email term when it can answer for this snapshot,
    /// else every one.
    fn waiting(
        &self,
        customers: &Customers,
        handle: u32,
        query: &ValidQuery,
        start: u64,
        tails: Option<&TailMemory>,
        page: &mut Collector<'_>,
    ) -> Result<()> {
        let tail = self.tail_start(handle)?;
        let term_grams = query.email.as_deref().map(grams::term_grams);
        let candidates = match (tails, term_grams) {
            (Some(tails), Some(term_grams)) if !term_grams.is_empty() => {
                tails.candidates(handle, self.lookups.generation, tail, start, &term_grams)
            }
            _ => None,
        };
        let Some(candidates) = candidates else {
            return scan(customers, handle, start.max(tail), page).map(drop);
        };
        for n in candidates {
            // The memory is a superset: an id a rolled-back write left names no record.
            if let Some(bytes) = customers.get((handle, n)).map_err(read_err)?
                && !page.offer(handle, n, bytes.value())?
            {
                break;
            }
        }
        Ok(())
    }

    /// The running state of business `handle` (counts, the email index's tail).
    fn state(&self, handle: u32) -> Result<BusinessState> {
        let states = self.txn().open_table(BUSINESS_STATES).map_err(read_err)?;
        Ok(states
            .get(handle)
            .map_err(read_err)?
            .map(|g| BusinessState::from_row(g.value()))
            .unwrap_or_default())
    }

    /// The first id of `handle` not yet in the gram postings.
    fn tail_start(&self, handle: u32) -> Result<u64> {
        Ok(self.state(handle)?.tail_start)
    }

    /// The cheapest way to answer `query`: the rarest gram or status, by their counts.
    fn driver(&self, handle: u32, query: &ValidQuery) -> Result<Driver> {
        if query.status.is_none() && query.email.is_none() {
            return Ok(Driver::Scan);
        }
        let status = match query.status {
            Some(status) => match self.state(handle)?.count(status.code()) {
                // The status index is always complete: no customer has this status.
                0 => return Ok(Driver::Nothing),
                n => Some((n, status.code())),
            },
            None => None,
        };
        let mut gram_counts: Vec<(u64, u32)> = Vec::new();
        if let Some(term) = query
            .email
            .as_deref()
            .filter(|t| t.len() >= grams::GRAM_LEN)
        {
            let blocks = self.txn().open_table(GRAMS).map_err(read_err)?;
            for gram in grams::term_grams(term) {
                gram_counts.push((grams::count(&blocks, handle, gram)?, gram));
            }
        }
        gram_counts.sort_unstable();
        let rarest_gram = gram_counts.first().copied();
        Ok(match (rarest_gram, status) {
            (Some((gram_count, _)), Some((status_count, code))) if status_count < gram_count => {
                Driver::Status(code)
            }
            // No indexed customer has this gram: only the newest ones may match.
            (Some((0, _)), _) => Driver::TailOnly,
            (Some((least, _)), _) => {
                // Grams not much commoner than the rarest are intersected with it before any
                // record is read: merging their postings costs far less than reading records.
                let grams = gram_counts
                    .iter()
                    .take_while(|(n, _)| *n <= least.saturating_mul(INTERSECT_RATIO))
                    .take(MAX_INTERSECTED)
                    .map(|&(_, gram)| gram)
                    .collect();
                Driver::Grams(grams)
            }
            (None, Some((_, code))) => Driver::Status(code),
            (None, None) => Driver::Scan,
        })
    }

    fn by_status(
        &self,
        customers: &Customers,
        handle: u32,
        code: u8,
        start: u64,
        page: &mut Collector<'_>,
    ) -> Result<()> {
        let statuses = self.txn().open_table(STATUSES).map_err(read_err)?;
        let range = statuses.range((handle, code, start)..=(handle, code, u64::MAX));
        for entry in range.map_err(read_err)? {
            let (key, _) = entry.map_err(read_err)?;
            if !offer_id(customers, handle, key.value().2, page)? {
                break;
            }
        }
        Ok(())
    }

    /// Walks the ids present in every one of `grams`' postings (the first is the rarest) from
    /// `start`, a leapfrog join; returns whether the page wants more.
    fn by_grams(
        &self,
        customers: &Customers,
        handle: u32,
        grams: &[u32],
        start: u64,
        page: &mut Collector<'_>,
    ) -> Result<bool> {
        let blocks = self.txn().open_table(GRAMS).map_err(read_err)?;
        let mut cursors = grams
            .iter()
            .map(|&gram| grams::PostingCursor::open(&blocks, handle, gram, start))
            .collect::<Result<Vec<_>>>()?;
        let Some((driver, others)) = cursors.split_first_mut() else {
            return Ok(true);
        };
        let mut candidate = driver.seek(start)?;
        'candidates: while let Some(n) = candidate {
            for other in others.iter_mut() {
                match other.seek(n)? {
                    None => return Ok(true),
                    Some(found) if found > n => {
                        candidate = driver.seek(found)?;
                        continue 'candidates;
                    }
                    Some(_) => {}
                }
            }
            if !offer_id(customers, handle, n, page)? {
                return Ok(false);
            }
            candidate = driver.seek(n.saturating_add(1))?.filter(|&next| next > n);
        }
        Ok(true)
    }
}

/// The tables the point lookups (by id, email, external id) read, all of one snapshot, each
/// opened at its first use. The store keeps the newest snapshot's between calls, so that a
/// lookup needs neither a new read transaction nor a table open while nothing commits.
pub(crate) struct Lookups {
    txn: ReadTransaction,
    /// The store's commit generation when the snapshot began: it holds every commit up to it
    /// (and perhaps later ones).
    generation: u64,
    customers: OnceLock<Customers>,
    emails: OnceLock<ReadOnlyTable<(u32, &'static str), u64>>,
    external_ids: OnceLock<ReadOnlyTable<(u32, &'static str), u64>>,
}

/// The table in `cell`, opened from `txn` on first use.
fn opened<'c, K: Key + 'static, V: Value + 'static>(
    cell: &'c OnceLock<ReadOnlyTable<K, V>>,
    txn: &ReadTransaction,
    table: TableDefinition<'_, K, V>,
) -> Result<&'c ReadOnlyTable<K, V>> {
    if let Some(table) = cell.get() {
        return Ok(table);
    }
    let opened = txn.open_table(table).map_err(read_err)?;
    // Another thread may have opened it meanwhile; either copy reads the same snapshot.
    Ok(cell.get_or_init(|| opened))
}

impl Lookups {
    /// The lookups of a new snapshot of `db`, begun at commit generation `generation`.
    pub(crate) fn begin(db: &Database, generation: u64) -> Result<Lookups> {
        Ok(Lookups {
            txn: db.begin_read().map_err(read_err)?,
            generation,
            customers: OnceLock::new(),
            emails: OnceLock::new(),
            external_ids: OnceLock::new(),
        })
    }

    /// The records table of this snapshot.
    fn customers(&self) -> Result<&Customers> {
        opened(&self.customers, &self.txn, CUSTOMERS)
    }

    /// The customer with id number `n`, if `handle` has one.
    pub(crate) fn get(&self, handle: u32, n: u64) -> Result<Option<Customer>> {
        match self.customers()?.get((handle, n)).map_err(read_err)? {
            Some(bytes) => codec::decode(handle, n, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    /// Follows an index entry to its record; an entry without a record is corruption.
    fn follow(&self, handle: u32, n: Option<u64>, index: &str) -> Result<Option<Customer>> {
        let Some(n) = n else { return Ok(None) };
        match self.get(handle, n)? {
            Some(customer) => Ok(Some(customer)),
            None => Err(Error::Corrupt(format!(
                "the {index} index names {} but no such record exists",
                id::encode(n)
            ))),
        }
    }

    /// The customer of `handle` with this email (compared as the email index keys it).
    pub(crate) fn by_email(&self, handle: u32, email: &str) -> Result<Option<Customer>> {
        let table = opened(&self.emails, &self.txn, EMAILS)?;
        let key = email_key(email);
        let n = table
            .get((handle, key.as_str()))
            .map_err(read_err)?
            .map(|g| g.value());
        let found = self.follow(handle, n, "email")?;
        match found {
            Some(c) if email_key(&c.email) != key => Err(Error::Corrupt(format!(
                "the email index entry of {} does not match its record",
                c.id
            ))),
            other => Ok(other),
        }
    }

    /// The customer of `handle` with this external id.
    pub(crate) fn by_external_id(
        &self,
        handle: u32,
        external_id: &str,
    ) -> Result<Option<Customer>> {
        let table = opened(&self.external_ids, &self.txn, EXTERNAL_IDS)?;
        let n = table
            .get((handle, external_id))
            .map_err(read_err)?
            .map(|g| g.value());
        let found = self.follow(handle, n, "externalId")?;
        match found {
            Some(c) if c.external_id.as_deref() != Some(external_id) => {
                Err(Error::Corrupt(format!(
                    "the externalId index entry of {} does not match its record",
                    c.id
                )))
            }
            other => Ok(other),
        }
    }
}

/// Grams at most this many times commoner than the rarest are intersected with it.
const INTERSECT_RATIO: u64 = 32;
/// The most grams one query intersects.
const MAX_INTERSECTED: usize = 4;

type Customers = ReadOnlyTable<(u32, u64), &'static [u8]>;

/// Offers the records of `handle` from id `start` on; returns whether the page wants more.
///
/// A cursor, not a range: redb's range keeps a cursor at each end and compares the two and the
/// bound at every step; one cursor stopping at the next business took the 1 M walk from 2,387 M
/// to 2,120 M instructions (callgrind; best of seven alternated timings 3.52 → 4.31 M/s).
fn scan(customers: &Customers, handle: u32, start: u64, page: &mut Collector<'_>) -> Result<bool> {
    let mut cursor = customers
        .lower_bound(Bound::Included((handle, start)))
        .map_err(read_err)?;
    while let Some((key, value)) = cursor.next().map_err(read_err)? {
        let (found, n) = key.value();
        if found != handle {
            break;
        }
        if !page.offer(handle, n, value.value())? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Offers the record an index entry names; a missing record is corruption.
fn offer_id(customers: &Customers, handle: u32, n: u64, page: &mut Collector<'_>) -> Result<bool> {
    match customers.get((handle, n)).map_err(read_err)? {
        Some(bytes) => page.offer(handle, n, bytes.value()),
        None => Err(Error::Corrupt(format!(
            "an index names {} but no such record exists",
            id::encode(n)
        ))),
    }
}

/// How a list query is answered.
enum Driver {
    /// A filter has no match at all.
    Nothing,
    /// Walk the records.
    Scan,
    /// Walk the status index.
    Status(u8),
    /// Walk the ids in every one of these grams' postings (rarest first), then the customers
    /// not yet in the postings.
    Grams(Vec<u32>),
    /// Walk only the customers not yet in the gram postings.
    TailOnly,
}

/// Gathers one page: the first `limit` matches, and whether one more exists.
struct Collector<'q> {
    query: &'q ValidQuery,
    /// The page's customers: the first `filled` are this page's, the rest spares to decode over.
    items: Vec<Customer>,
    filled: usize,
    has_more: bool,
    /// Memory the customers decoded over gave up, for the next ones to take.
    spares: codec::Spares,
}

impl<'q> Collector<'q> {
    fn new(query: &'q ValidQuery, mut spare: Vec<Customer>) -> Collector<'q> {
        spare.truncate(query.limit);
        spare.reserve(query.limit.min(100).saturating_sub(spare.len()));
        Collector {
            query,
            items: spare,
            filled: 0,
            has_more: false,
            spares: codec::Spares::default(),
        }
    }

    fn filtered(&self) -> bool {
        self.query.status.is_some() || self.query.email.is_some()
    }

    /// Takes the record `bytes` if it matches; returns whether to go on.
    ///
    /// Filters are checked on the record's leading fields, so a record that does not match
    /// is never fully decoded.
    fn offer(&mut self, handle: u32, n: u64, bytes: &[u8]) -> Result<bool> {
        if self.filtered() {
            let head = codec::peek(handle, n, bytes)?;
            if self.query.status.is_some_and(|s| s != head.status) {
                return Ok(true);
            }
            if let Some(term) = &self.query.email
                && !grams::contains_folded(head.email, term)
            {
                return Ok(true);
            }
        }
        if self.filled == self.query.limit {
            self.has_more = true;
            return Ok(false);
        }
        match self.items.get_mut(self.filled) {
            Some(spare) => codec::decode_into(handle, n, bytes, spare, &mut self.spares)?,
            None => self.items.push(codec::decode(handle, n, bytes)?),
        }
        self.filled += 1;
        Ok(true)
    }

    fn finish(mut self) -> Page {
        self.items.truncate(self.filled);
        let next_cursor = self.items.last().map(|c| c.id.clone());
        Page {
            items: self.items,
            next_cursor,
            has_more: self.has_more,
        }
    }
}
