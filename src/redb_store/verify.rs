//! `verify()`: an integrity check of every table, like SQLite's `PRAGMA integrity_check`.

use std::collections::HashMap;

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::codec;
use super::open::storage_error;
use super::tables::{BUSINESSES, CUSTOMERS, EMAILS, EXTERNAL_IDS, LAST_IDS};
use crate::validate::email_key;
use crate::{Error, Result, id};

/// What [`RedbStore::verify`](crate::RedbStore::verify) counted in a store it found clean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Businesses that have had at least one customer.
    pub businesses: u64,
    /// Customer records.
    pub customers: u64,
    /// Entries of the email index (one per customer).
    pub email_entries: u64,
    /// Entries of the externalId index (one per customer that has one).
    pub external_id_entries: u64,
}

/// The problems found so far; only the first few are kept for the message.
#[derive(Default)]
struct Problems {
    first: Vec<String>,
    count: u64,
}

impl Problems {
    const KEPT: usize = 10;

    fn add(&mut self, problem: String) {
        self.count += 1;
        if self.first.len() < Self::KEPT {
            self.first.push(problem);
        }
    }
}

fn err(e: impl Into<redb::Error>) -> Error {
    storage_error("verify", e)
}

/// Checks that an index maps each key to a record whose own key is the same.
fn check_index(
    index: &ReadOnlyTable<(u32, &'static str), u64>,
    name: &str,
    customers: &ReadOnlyTable<(u32, u64), &'static [u8]>,
    key_of: impl Fn(&crate::Customer) -> Option<String>,
    problems: &mut Problems,
) -> Result<u64> {
    let mut entries = 0;
    for entry in index.iter().map_err(err)? {
        let (key, value) = entry.map_err(err)?;
        let (handle, text) = key.value();
        let n = value.value();
        entries += 1;
        match customers.get((handle, n)).map_err(err)? {
            None => problems.add(format!(
                "{name} index entry {text:?} of business #{handle} names missing record {}",
                id::encode(n)
            )),
            Some(bytes) => match codec::decode(handle, n, bytes.value()) {
                Ok(customer) if key_of(&customer).as_deref() == Some(text) => {}
                Ok(customer) => problems.add(format!(
                    "{name} index entry {text:?} names {} whose {name} differs",
                    customer.id
                )),
                // Reported by the walk over the records.
                Err(_) => {}
            },
        }
    }
    Ok(entries)
}

pub(super) fn verify(db: &Database) -> Result<VerifyReport> {
    let txn = db.begin_read().map_err(err)?;
    let businesses = txn.open_table(BUSINESSES).map_err(err)?;
    let last_ids = txn.open_table(LAST_IDS).map_err(err)?;
    let customers = txn.open_table(CUSTOMERS).map_err(err)?;
    let emails = txn.open_table(EMAILS).map_err(err)?;
    let external_ids = txn.open_table(EXTERNAL_IDS).map_err(err)?;
    let mut problems = Problems::default();

    let mut names: HashMap<u32, String> = HashMap::new();
    for entry in businesses.iter().map_err(err)? {
        let (name, handle) = entry.map_err(err)?;
        if let Some(other) = names.insert(handle.value(), name.value().to_owned()) {
            problems.add(format!(
                "businesses {other:?} and {:?} share a handle",
                name.value()
            ));
        }
        if last_ids.get(handle.value()).map_err(err)?.is_none() {
            problems.add(format!("business {:?} has no id counter", name.value()));
        }
    }
    if last_ids.len().map_err(err)? != businesses.len().map_err(err)? {
        problems.add("id counters and businesses differ in number".to_owned());
    }

    let mut records = 0u64;
    let mut with_external_id = 0u64;
    for entry in customers.iter().map_err(err)? {
        let (key, value) = entry.map_err(err)?;
        let (handle, n) = key.value();
        records += 1;
        if !names.contains_key(&handle) {
            problems.add(format!(
                "record {} belongs to unknown business #{handle}",
                id::encode(n)
            ));
        }
        let last = last_ids.get(handle).map_err(err)?.map_or(0, |g| g.value());
        if n > last {
            problems.add(format!(
                "record {} is beyond its business's id counter",
                id::encode(n)
            ));
        }
        let customer = match codec::decode(handle, n, value.value()) {
            Ok(customer) => customer,
            Err(e) => {
                problems.add(e.to_string());
                continue;
            }
        };
        let key = email_key(&customer.email);
        if emails
            .get((handle, key.as_str()))
            .map_err(err)?
            .map(|g| g.value())
            != Some(n)
        {
            problems.add(format!("record {} has no email index entry", customer.id));
        }
        if let Some(external_id) = &customer.external_id {
            with_external_id += 1;
            let owner = external_ids
                .get((handle, external_id.as_str()))
                .map_err(err)?;
            if owner.map(|g| g.value()) != Some(n) {
                problems.add(format!(
                    "record {} has no externalId index entry",
                    customer.id
                ));
            }
        }
    }

    let email_entries = check_index(
        &emails,
        "email",
        &customers,
        |c| Some(email_key(&c.email)),
        &mut problems,
    )?;
    let external_id_entries = check_index(
        &external_ids,
        "externalId",
        &customers,
        |c| c.external_id.clone(),
        &mut problems,
    )?;
    if email_entries != records {
        problems.add(format!(
            "{email_entries} email index entries for {records} records"
        ));
    }
    if external_id_entries != with_external_id {
        problems.add(format!(
            "{external_id_entries} externalId index entries for {with_external_id} records with one"
        ));
    }

    if problems.count > 0 {
        return Err(Error::Corrupt(format!(
            "{} problem(s): {}",
            problems.count,
            problems.first.join("; ")
        )));
    }
    Ok(VerifyReport {
        businesses: names.len() as u64,
        customers: records,
        email_entries,
        external_id_entries,
    })
}
