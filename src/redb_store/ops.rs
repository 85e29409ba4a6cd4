//! The operations inside their transactions: one write transaction per write, one read
//! snapshot per read. Every uniqueness check runs before the first write of an item, and a
//! failed operation returns before commit, so dropping the transaction aborts it.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use jiff::Timestamp;
use redb::{
    Database, ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction,
};

use super::group::Output;
use super::open::storage_error;
use super::tables::{
    BUSINESSES, COUNTS, CUSTOMERS, EMAILS, EXTERNAL_IDS, GRAM_TAILS, GRAMS, LAST_IDS, STATUSES,
};
use super::{codec, grams};
use crate::model::{Customer, Page, Status};
use crate::validate::{ValidNew, ValidPatch, ValidQuery, email_key};
use crate::{Error, Result, id};

fn read_err(e: impl Into<redb::Error>) -> Error {
    storage_error("read", e)
}

fn write_err(e: impl Into<redb::Error>) -> Error {
    storage_error("write", e)
}

/// The tables of one write transaction, each opened once.
pub(crate) struct WriteTables<'txn> {
    businesses: redb::Table<'txn, &'static str, u32>,
    last_ids: redb::Table<'txn, u32, u64>,
    customers: redb::Table<'txn, (u32, u64), &'static [u8]>,
    emails: redb::Table<'txn, (u32, &'static str), u64>,
    external_ids: redb::Table<'txn, (u32, &'static str), u64>,
    statuses: redb::Table<'txn, (u32, u8, u64), ()>,
    grams: redb::Table<'txn, (u32, u32, u64), &'static [u8]>,
    counts: redb::Table<'txn, (u32, u32), u64>,
    tails: redb::Table<'txn, u32, (u64, u64)>,
    tail_max: u64,
}

impl<'txn> WriteTables<'txn> {
    /// Opens every table; new customers join the gram postings `tail_max` at a time.
    pub(crate) fn open(txn: &'txn WriteTransaction, tail_max: u64) -> Result<WriteTables<'txn>> {
        Ok(WriteTables {
            businesses: txn.open_table(BUSINESSES).map_err(write_err)?,
            last_ids: txn.open_table(LAST_IDS).map_err(write_err)?,
            customers: txn.open_table(CUSTOMERS).map_err(write_err)?,
            emails: txn.open_table(EMAILS).map_err(write_err)?,
            external_ids: txn.open_table(EXTERNAL_IDS).map_err(write_err)?,
            statuses: txn.open_table(STATUSES).map_err(write_err)?,
            grams: txn.open_table(GRAMS).map_err(write_err)?,
            counts: txn.open_table(COUNTS).map_err(write_err)?,
            tails: txn.open_table(GRAM_TAILS).map_err(write_err)?,
            tail_max,
        })
    }

    fn handle(&self, business: &str) -> Result<Option<u32>> {
        Ok(self
            .businesses
            .get(business)
            .map_err(write_err)?
            .map(|g| g.value()))
    }

    /// The handle of `business`, interning the name on its first write.
    fn handle_or_create(&mut self, business: &str) -> Result<u32> {
        if let Some(handle) = self.handle(business)? {
            return Ok(handle);
        }
        let next = match self.last_ids.last().map_err(write_err)? {
            Some((key, _)) => key.value().checked_add(1).ok_or_else(|| Error::Storage {
                message: "too many businesses".to_owned(),
                source: None,
            })?,
            None => 1,
        };
        self.businesses.insert(business, next).map_err(write_err)?;
        self.last_ids.insert(next, 0).map_err(write_err)?;
        Ok(next)
    }

    fn record(&self, handle: u32, n: u64) -> Result<Option<Customer>> {
        match self.customers.get((handle, n)).map_err(write_err)? {
            Some(bytes) => codec::decode(handle, n, bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn email_owner(&self, handle: u32, key: &str) -> Result<Option<u64>> {
        Ok(self
            .emails
            .get((handle, key))
            .map_err(write_err)?
            .map(|g| g.value()))
    }

    fn external_id_owner(&self, handle: u32, external_id: &str) -> Result<Option<u64>> {
        Ok(self
            .external_ids
            .get((handle, external_id))
            .map_err(write_err)?
            .map(|g| g.value()))
    }

    /// Writes the record itself.
    fn put_record(&mut self, handle: u32, n: u64, customer: &Customer) -> Result<()> {
        let bytes = codec::encode(handle, n, customer)?;
        self.customers
            .insert((handle, n), bytes.as_slice())
            .map_err(write_err)?;
        Ok(())
    }

    fn put_email(&mut self, handle: u32, n: u64, email: &str) -> Result<()> {
        self.emails
            .insert((handle, email_key(email).as_str()), n)
            .map_err(write_err)?;
        Ok(())
    }

    fn remove_email(&mut self, handle: u32, n: u64, email: &str) -> Result<()> {
        let key = email_key(email);
        if self.email_owner(handle, &key)? == Some(n) {
            self.emails
                .remove((handle, key.as_str()))
                .map_err(write_err)?;
        }
        Ok(())
    }

    fn put_external_id(&mut self, handle: u32, n: u64, external_id: Option<&str>) -> Result<()> {
        if let Some(external_id) = external_id {
            self.external_ids
                .insert((handle, external_id), n)
                .map_err(write_err)?;
        }
        Ok(())
    }

    fn remove_external_id(&mut self, handle: u32, n: u64, external_id: Option<&str>) -> Result<()> {
        if let Some(external_id) = external_id
            && self.external_id_owner(handle, external_id)? == Some(n)
        {
            self.external_ids
                .remove((handle, external_id))
                .map_err(write_err)?;
        }
        Ok(())
    }

    /// Adds `added` customers of `status` to the index's count.
    fn count_status(&mut self, handle: u32, status: Status, added: i64) -> Result<()> {
        let key = grams::status_count_key(status.code());
        grams::add_count(&mut self.counts, handle, key, added)
    }

    fn put_status(&mut self, handle: u32, n: u64, status: Status) -> Result<()> {
        self.statuses
            .insert((handle, status.code(), n), ())
            .map_err(write_err)?;
        self.count_status(handle, status, 1)
    }

    fn remove_status(&mut self, handle: u32, n: u64, status: Status) -> Result<()> {
        if self
            .statuses
            .remove((handle, status.code(), n))
            .map_err(write_err)?
            .is_some()
        {
            grams::add_count(
                &mut self.counts,
                handle,
                grams::status_count_key(status.code()),
                -1,
            )?;
        }
        Ok(())
    }

    /// The first id of `handle` not yet in the gram postings, and how many wait after it.
    fn tail(&self, handle: u32) -> Result<(u64, u64)> {
        Ok(self
            .tails
            .get(handle)
            .map_err(write_err)?
            .map_or((0, 0), |g| g.value()))
    }

    /// Counts `added` new customers into the tail, folding it into the postings when full.
    fn grow_tail(&mut self, handle: u32, added: u64) -> Result<()> {
        let (start, waiting) = self.tail(handle)?;
        let waiting = waiting + added;
        if waiting < self.tail_max {
            self.tails
                .insert(handle, (start, waiting))
                .map_err(write_err)?;
            return Ok(());
        }
        let mut postings: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        let mut next_start = start;
        for entry in self
            .customers
            .range((handle, start)..=(handle, u64::MAX))
            .map_err(write_err)?
        {
            let (key, value) = entry.map_err(write_err)?;
            let n = key.value().1;
            let head = codec::peek(handle, n, value.value())?;
            for gram in grams::grams(&email_key(head.email)) {
                postings.entry(gram).or_default().push(n);
            }
            next_start = n.saturating_add(1);
        }
        for (gram, ids) in postings {
            grams::append(&mut self.grams, handle, gram, &ids)?;
        }
        self.tails
            .insert(handle, (next_start, 0))
            .map_err(write_err)?;
        Ok(())
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
            grams::remove(&mut self.grams, handle, gram, n)?;
        }
        for &gram in new.iter().filter(|g| old.binary_search(g).is_err()) {
            grams::insert(&mut self.grams, handle, gram, n)?;
        }
        Ok(())
    }
}

fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

/// Creates `items` (already validated) in the open transaction, checking every uniqueness
/// rule of every item before the first write. With `batch`, errors name the item's index.
pub(crate) fn create(
    tables: &mut WriteTables<'_>,
    business: &str,
    items: Vec<ValidNew>,
    now: Timestamp,
    batch: bool,
) -> Result<Vec<Customer>> {
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
    // Checks: first within the batch, then against the store.
    let keys: Vec<String> = items.iter().map(|item| email_key(&item.email)).collect();
    let mut emails_in_batch: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    let mut external_ids_in_batch: HashMap<&str, usize> = HashMap::new();
    for (index, (item, key)) in items.iter().zip(&keys).enumerate() {
        if let Some(earlier_index) = emails_in_batch.insert(key, index) {
            return Err(at_item(
                index,
                Error::DuplicateInBatch {
                    field: "email",
                    earlier_index,
                },
            ));
        }
        if let Some(external_id) = &item.external_id
            && let Some(earlier_index) = external_ids_in_batch.insert(external_id, index)
        {
            let error = Error::DuplicateInBatch {
                field: "externalId",
                earlier_index,
            };
            return Err(at_item(index, error));
        }
    }
    if let Some(handle) = tables.handle(business)? {
        for (index, (item, key)) in items.iter().zip(&keys).enumerate() {
            if let Some(owner) = tables.email_owner(handle, key)? {
                return Err(at_item(
                    index,
                    Error::EmailTaken {
                        existing_id: id::encode(owner),
                    },
                ));
            }
            if let Some(external_id) = &item.external_id
                && let Some(owner) = tables.external_id_owner(handle, external_id)?
            {
                let error = Error::ExternalIdTaken {
                    existing_id: id::encode(owner),
                };
                return Err(at_item(index, error));
            }
        }
    }
    // Writes.
    let handle = tables.handle_or_create(business)?;
    let now_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
    let stamp = whole_seconds(now);
    let mut last = tables
        .last_ids
        .get(handle)
        .map_err(write_err)?
        .map(|g| g.value());
    if last.unwrap_or(0).checked_add(items.len() as u64).is_none() {
        return Err(Error::Storage {
            message: "the id space of this business is exhausted".to_owned(),
            source: None,
        });
    }
    let mut created = Vec::with_capacity(items.len());
    for item in items {
        let n = id::next(last, now_ms).ok_or_else(|| Error::Storage {
            message: "the id space of this business is exhausted".to_owned(),
            source: None,
        })?;
        last = Some(n);
        let customer = Customer {
            id: id::encode(n),
            external_id: item.external_id,
            email: item.email,
            name: item.name,
            phone: item.phone,
            description: item.description,
            metadata: item.metadata,
            status: Status::Active,
            currency: item.currency,
            created_at: stamp,
            updated_at: stamp,
        };
        tables.put_record(handle, n, &customer)?;
        tables.put_email(handle, n, &customer.email)?;
        tables.put_external_id(handle, n, customer.external_id.as_deref())?;
        tables
            .statuses
            .insert((handle, customer.status.code(), n), ())
            .map_err(write_err)?;
        created.push(customer);
    }
    let added = i64::try_from(created.len()).unwrap_or(i64::MAX);
    tables.count_status(handle, Status::Active, added)?;
    if let Some(last) = last {
        tables.last_ids.insert(handle, last).map_err(write_err)?;
    }
    tables.grow_tail(handle, created.len() as u64)?;
    Ok(created)
}

/// The record with every change of `patch` applied (timestamps untouched).
fn apply(old: &Customer, patch: ValidPatch) -> Customer {
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
    tables: &mut WriteTables<'_>,
    business: &str,
    n: u64,
    patch: ValidPatch,
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
    // Writes.
    new.updated_at = whole_seconds(now).max(old.updated_at);
    tables.put_record(handle, n, &new)?;
    if email_changed {
        tables.remove_email(handle, n, &old.email)?;
        tables.put_email(handle, n, &new.email)?;
        if n < tables.tail(handle)?.0 {
            tables.change_postings(handle, n, Some(&old.email), Some(&new.email))?;
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
    Ok(Output::Written(new))
}

/// Removes customer `n`, its index entries and its postings.
pub(crate) fn delete(tables: &mut WriteTables<'_>, business: &str, n: u64) -> Result<Customer> {
    let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
    let old = tables.record(handle, n)?.ok_or(Error::NotFound)?;
    tables.remove_email(handle, n, &old.email)?;
    tables.remove_external_id(handle, n, old.external_id.as_deref())?;
    tables.remove_status(handle, n, old.status)?;
    let (start, waiting) = tables.tail(handle)?;
    if n < start {
        tables.change_postings(handle, n, Some(&old.email), None)?;
    } else {
        let waiting = waiting.checked_sub(1).ok_or_else(|| {
            Error::Corrupt(format!("the gram tail of business #{handle} is miscounted"))
        })?;
        tables
            .tails
            .insert(handle, (start, waiting))
            .map_err(write_err)?;
    }
    tables.customers.remove((handle, n)).map_err(write_err)?;
    Ok(old)
}

/// A read snapshot with the business resolved to its handle.
pub(crate) struct Snapshot {
    txn: ReadTransaction,
}

impl Snapshot {
    pub(crate) fn begin(db: &Database) -> Result<Snapshot> {
        Ok(Snapshot {
            txn: db.begin_read().map_err(read_err)?,
        })
    }

    pub(crate) fn handle(&self, business: &str) -> Result<Option<u32>> {
        let table = self.txn.open_table(BUSINESSES).map_err(read_err)?;
        Ok(table.get(business).map_err(read_err)?.map(|g| g.value()))
    }

    pub(crate) fn get(&self, handle: u32, n: u64) -> Result<Option<Customer>> {
        let table = self.txn.open_table(CUSTOMERS).map_err(read_err)?;
        match table.get((handle, n)).map_err(read_err)? {
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

    pub(crate) fn by_email(&self, handle: u32, email: &str) -> Result<Option<Customer>> {
        let table = self.txn.open_table(EMAILS).map_err(read_err)?;
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

    pub(crate) fn by_external_id(
        &self,
        handle: u32,
        external_id: &str,
    ) -> Result<Option<Customer>> {
        let table = self.txn.open_table(EXTERNAL_IDS).map_err(read_err)?;
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

    /// One page of `handle`'s customers matching `query`, in id order.
    ///
    /// With filters, the rarest of the term's grams or the status (by their counts) drives:
    /// its ids are visited in order from the cursor, then (for a gram) the newest customers not
    /// yet in the postings; each record is checked against every filter. A term shorter than
    /// a gram, and no filter at all, walk the records themselves.
    pub(crate) fn list(&self, handle: u32, query: &ValidQuery, indexed: bool) -> Result<Page> {
        let mut page = Collector::new(query);
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
        let customers = self.txn.open_table(CUSTOMERS).map_err(read_err)?;
        let driver = if indexed {
            self.driver(handle, query)?
        } else {
            Driver::Scan
        };
        match driver {
            Driver::Nothing => {}
            Driver::Scan => {
                scan(&customers, handle, start, &mut page)?;
            }
            Driver::Status(code) => self.by_status(&customers, handle, code, start, &mut page)?,
            Driver::Gram(gram) => {
                let tail = self.tail_start(handle)?;
                if self.by_gram(&customers, handle, gram, start, &mut page)? {
                    scan(&customers, handle, start.max(tail), &mut page)?;
                }
            }
            Driver::TailOnly => {
                let tail = self.tail_start(handle)?;
                scan(&customers, handle, start.max(tail), &mut page)?;
            }
        }
        Ok(page.finish())
    }

    /// The first id of `handle` not yet in the gram postings.
    fn tail_start(&self, handle: u32) -> Result<u64> {
        let tails = self.txn.open_table(GRAM_TAILS).map_err(read_err)?;
        Ok(tails
            .get(handle)
            .map_err(read_err)?
            .map_or(0, |g| g.value().0))
    }

    /// The cheapest way to answer `query`: the rarest gram or status, by their counts.
    fn driver(&self, handle: u32, query: &ValidQuery) -> Result<Driver> {
        let counts = self.txn.open_table(COUNTS).map_err(read_err)?;
        let blocks = self.txn.open_table(GRAMS).map_err(read_err)?;
        let count = |key: u32| -> Result<u64> {
            Ok(counts
                .get((handle, key))
                .map_err(read_err)?
                .map_or(0, |g| g.value()))
        };
        let status = match query.status {
            Some(status) => match count(grams::status_count_key(status.code()))? {
                // The status index is always complete: no customer has this status.
                0 => return Ok(Driver::Nothing),
                n => Some((n, status.code())),
            },
            None => None,
        };
        let mut rarest_gram: Option<(u64, u32)> = None;
        if let Some(term) = query
            .email
            .as_deref()
            .filter(|t| t.len() >= grams::GRAM_LEN)
        {
            for gram in grams::grams(term) {
                let n = grams::count(&blocks, handle, gram)?;
                if rarest_gram.is_none_or(|(least, _)| n < least) {
                    rarest_gram = Some((n, gram));
                }
            }
        }
        Ok(match (rarest_gram, status) {
            (Some((gram_count, _)), Some((status_count, code))) if status_count < gram_count => {
                Driver::Status(code)
            }
            // No indexed customer has this gram: only the newest ones may match.
            (Some((0, _)), _) => Driver::TailOnly,
            (Some((_, gram)), _) => Driver::Gram(gram),
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
        let statuses = self.txn.open_table(STATUSES).map_err(read_err)?;
        let range = statuses.range((handle, code, start)..=(handle, code, u64::MAX));
        for entry in range.map_err(read_err)? {
            let (key, _) = entry.map_err(read_err)?;
            if !offer_id(customers, handle, key.value().2, page)? {
                break;
            }
        }
        Ok(())
    }

    /// Walks one gram's postings from `start`; returns whether the page wants more.
    fn by_gram(
        &self,
        customers: &Customers,
        handle: u32,
        gram: u32,
        start: u64,
        page: &mut Collector<'_>,
    ) -> Result<bool> {
        let blocks = self.txn.open_table(GRAMS).map_err(read_err)?;
        let mut ids = Vec::with_capacity(grams::BLOCK_IDS);
        // The block that may hold `start`, then every later block.
        let first = blocks
            .range((handle, gram, 0)..=(handle, gram, start))
            .map_err(read_err)?;
        let later = match start.checked_add(1) {
            Some(after) => Some(
                blocks
                    .range((handle, gram, after)..=(handle, gram, u64::MAX))
                    .map_err(read_err)?,
            ),
            None => None,
        };
        for entry in first.rev().take(1).chain(later.into_iter().flatten()) {
            let (key, value) = entry.map_err(read_err)?;
            ids.clear();
            grams::decode_block(key.value().2, value.value(), &mut ids)?;
            for &n in ids.iter().filter(|&&n| n >= start) {
                if !offer_id(customers, handle, n, page)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

type Customers = ReadOnlyTable<(u32, u64), &'static [u8]>;

/// Offers the records of `handle` from id `start` on; returns whether the page wants more.
fn scan(customers: &Customers, handle: u32, start: u64, page: &mut Collector<'_>) -> Result<bool> {
    for entry in customers
        .range((handle, start)..=(handle, u64::MAX))
        .map_err(read_err)?
    {
        let (key, value) = entry.map_err(read_err)?;
        if !page.offer(handle, key.value().1, value.value())? {
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
    /// Walk one gram's postings, then the customers not yet in them.
    Gram(u32),
    /// Walk only the customers not yet in the gram postings.
    TailOnly,
}

/// Gathers one page: the first `limit` matches, and whether one more exists.
struct Collector<'q> {
    query: &'q ValidQuery,
    items: Vec<Customer>,
    has_more: bool,
}

impl<'q> Collector<'q> {
    fn new(query: &'q ValidQuery) -> Collector<'q> {
        Collector {
            query,
            items: Vec::with_capacity(query.limit.min(100)),
            has_more: false,
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
        if self.items.len() == self.query.limit {
            self.has_more = true;
            return Ok(false);
        }
        self.items.push(codec::decode(handle, n, bytes)?);
        Ok(true)
    }

    fn finish(self) -> Page {
        let next_cursor = self.items.last().map(|c| c.id.clone());
        Page {
            items: self.items,
            next_cursor,
            has_more: self.has_more,
        }
    }
}
