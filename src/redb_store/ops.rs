//! The operations inside their transactions: one write transaction per write, one read
//! snapshot per read. Every uniqueness check runs before the first write of an item, and a
//! failed operation returns before commit, so dropping the transaction aborts it.

use std::collections::HashMap;
use std::ops::Bound;

use jiff::Timestamp;
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use super::codec;
use super::open::storage_error;
use super::tables::{BUSINESSES, CUSTOMERS, EMAILS, EXTERNAL_IDS, LAST_IDS};
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
struct WriteTables<'txn> {
    businesses: redb::Table<'txn, &'static str, u32>,
    last_ids: redb::Table<'txn, u32, u64>,
    customers: redb::Table<'txn, (u32, u64), &'static [u8]>,
    emails: redb::Table<'txn, (u32, &'static str), u64>,
    external_ids: redb::Table<'txn, (u32, &'static str), u64>,
}

impl<'txn> WriteTables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<WriteTables<'txn>> {
        Ok(WriteTables {
            businesses: txn.open_table(BUSINESSES).map_err(write_err)?,
            last_ids: txn.open_table(LAST_IDS).map_err(write_err)?,
            customers: txn.open_table(CUSTOMERS).map_err(write_err)?,
            emails: txn.open_table(EMAILS).map_err(write_err)?,
            external_ids: txn.open_table(EXTERNAL_IDS).map_err(write_err)?,
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

    /// Writes a record and its index entries (the caller checked uniqueness).
    fn put(&mut self, handle: u32, n: u64, customer: &Customer) -> Result<()> {
        let bytes = codec::encode(handle, n, customer)?;
        self.customers
            .insert((handle, n), bytes.as_slice())
            .map_err(write_err)?;
        self.emails
            .insert((handle, email_key(&customer.email).as_str()), n)
            .map_err(write_err)?;
        if let Some(external_id) = &customer.external_id {
            self.external_ids
                .insert((handle, external_id.as_str()), n)
                .map_err(write_err)?;
        }
        Ok(())
    }

    /// Removes a record's index entries, where they point at it.
    fn remove_index_entries(&mut self, handle: u32, n: u64, customer: &Customer) -> Result<()> {
        let key = email_key(&customer.email);
        if self.email_owner(handle, &key)? == Some(n) {
            self.emails
                .remove((handle, key.as_str()))
                .map_err(write_err)?;
        }
        if let Some(external_id) = &customer.external_id
            && self.external_id_owner(handle, external_id)? == Some(n)
        {
            self.external_ids
                .remove((handle, external_id.as_str()))
                .map_err(write_err)?;
        }
        Ok(())
    }
}

fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).unwrap_or(at)
}

fn commit(txn: WriteTransaction) -> Result<()> {
    txn.commit()
        .map_err(|e| storage_error("commit (outcome unknown)", e))
}

/// Creates `items` in one transaction. With `batch`, errors name the item's index.
pub(crate) fn create(
    db: &Database,
    business: &str,
    items: Vec<ValidNew>,
    now: Timestamp,
    batch: bool,
) -> Result<Vec<Customer>> {
    let txn = db.begin_write().map_err(write_err)?;
    let created = {
        let mut tables = WriteTables::open(&txn)?;
        let handle = tables.handle_or_create(business)?;
        let now_ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
        let stamp = whole_seconds(now);
        let mut last = tables
            .last_ids
            .get(handle)
            .map_err(write_err)?
            .map(|g| g.value());
        let mut emails_in_batch: HashMap<String, usize> = HashMap::new();
        let mut external_ids_in_batch: HashMap<String, usize> = HashMap::new();
        let mut created = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let at_item = |error: Error| {
                if batch {
                    Error::Batch {
                        index,
                        source: Box::new(error),
                    }
                } else {
                    error
                }
            };
            let key = email_key(&item.email);
            if let Some(&earlier_index) = emails_in_batch.get(&key) {
                return Err(at_item(Error::DuplicateInBatch {
                    field: "email",
                    earlier_index,
                }));
            }
            if let Some(owner) = tables.email_owner(handle, &key)? {
                return Err(at_item(Error::EmailTaken {
                    existing_id: id::encode(owner),
                }));
            }
            if let Some(external_id) = &item.external_id {
                if let Some(&earlier_index) = external_ids_in_batch.get(external_id) {
                    return Err(at_item(Error::DuplicateInBatch {
                        field: "externalId",
                        earlier_index,
                    }));
                }
                if let Some(owner) = tables.external_id_owner(handle, external_id)? {
                    return Err(at_item(Error::ExternalIdTaken {
                        existing_id: id::encode(owner),
                    }));
                }
                external_ids_in_batch.insert(external_id.clone(), index);
            }
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
            tables.put(handle, n, &customer)?;
            emails_in_batch.insert(key, index);
            created.push(customer);
        }
        if let Some(last) = last {
            tables.last_ids.insert(handle, last).map_err(write_err)?;
        }
        created
    };
    commit(txn)?;
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

/// Applies `patch` to customer `n`; a patch that changes nothing commits nothing.
pub(crate) fn update(
    db: &Database,
    business: &str,
    n: u64,
    patch: ValidPatch,
    now: Timestamp,
) -> Result<Customer> {
    let txn = db.begin_write().map_err(write_err)?;
    let (updated, changed) = {
        let mut tables = WriteTables::open(&txn)?;
        let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
        let old = tables.record(handle, n)?.ok_or(Error::NotFound)?;
        let mut new = apply(&old, patch);
        if new == old {
            (old, false)
        } else {
            let new_key = email_key(&new.email);
            if new_key != email_key(&old.email)
                && let Some(owner) = tables.email_owner(handle, &new_key)?
                && owner != n
            {
                return Err(Error::EmailTaken {
                    existing_id: id::encode(owner),
                });
            }
            if new.external_id != old.external_id
                && let Some(external_id) = &new.external_id
                && let Some(owner) = tables.external_id_owner(handle, external_id)?
                && owner != n
            {
                return Err(Error::ExternalIdTaken {
                    existing_id: id::encode(owner),
                });
            }
            new.updated_at = whole_seconds(now).max(old.updated_at);
            tables.remove_index_entries(handle, n, &old)?;
            tables.put(handle, n, &new)?;
            (new, true)
        }
    };
    if changed {
        commit(txn)?;
    }
    Ok(updated)
}

/// Removes customer `n` and its index entries.
pub(crate) fn delete(db: &Database, business: &str, n: u64) -> Result<Customer> {
    let txn = db.begin_write().map_err(write_err)?;
    let removed = {
        let mut tables = WriteTables::open(&txn)?;
        let handle = tables.handle(business)?.ok_or(Error::NotFound)?;
        let old = tables.record(handle, n)?.ok_or(Error::NotFound)?;
        tables.remove_index_entries(handle, n, &old)?;
        tables.customers.remove((handle, n)).map_err(write_err)?;
        old
    };
    commit(txn)?;
    Ok(removed)
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
    pub(crate) fn list(&self, handle: u32, query: &ValidQuery) -> Result<Page> {
        let empty = Page {
            items: Vec::new(),
            next_cursor: None,
            has_more: false,
        };
        let start = match query.cursor.as_deref().map(id::resume_after) {
            None => Bound::Included(0),
            Some(Ok(Some(Bound::Excluded(n)))) => Bound::Excluded(n),
            Some(Ok(Some(_))) => Bound::Included(0),
            Some(Ok(None)) => return Ok(empty),
            Some(Err(())) => {
                return Err(Error::InvalidCursor {
                    reason: "not a customer id".to_owned(),
                });
            }
        };
        let lower = match start {
            Bound::Excluded(n) if n == u64::MAX => return Ok(empty),
            Bound::Excluded(n) => (handle, n + 1),
            _ => (handle, 0),
        };
        let table = self.txn.open_table(CUSTOMERS).map_err(read_err)?;
        let mut items = Vec::with_capacity(query.limit.min(32) + 1);
        let mut has_more = false;
        for entry in table.range(lower..=(handle, u64::MAX)).map_err(read_err)? {
            let (key, value) = entry.map_err(read_err)?;
            let (_, n) = key.value();
            let customer = codec::decode(handle, n, value.value())?;
            if query.status.is_some_and(|s| s != customer.status) {
                continue;
            }
            if let Some(term) = &query.email
                && !customer.email.to_lowercase().contains(term.as_str())
            {
                continue;
            }
            if items.len() == query.limit {
                has_more = true;
                break;
            }
            items.push(customer);
        }
        let next_cursor = items.last().map(|c| c.id.clone());
        Ok(Page {
            items,
            next_cursor,
            has_more,
        })
    }
}
