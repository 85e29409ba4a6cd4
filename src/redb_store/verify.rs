//! `verify()`: an integrity check of every table, like SQLite's `PRAGMA integrity_check`.

use std::collections::HashMap;

use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::open::storage_error;
use super::tables::checked_handle;
use super::tables::{
    BUSINESS_STATES, BUSINESSES, BusinessState, CUSTOMERS, EMAILS, EXTERNAL_IDS, GRAMS, STATUSES,
};
use super::{codec, grams};
use crate::model::Status;
use crate::validate::email_key;
use crate::{Error, Result, id};

/// What [`RedbStore::verify`](crate::RedbStore::verify) counted in a store it found clean.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, NewCustomer, RedbStore, VerifyReport};
/// let store = RedbStore::in_memory()?;
/// assert_eq!(store.verify()?, VerifyReport::default());
/// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw").with_external_id("u1"))?;
/// store.create("acme", NewCustomer::new("ana@example.com", "Ana"))?;
/// store.create("globex", NewCustomer::new("kofi@example.com", "Kofi"))?;
/// let report = store.verify()?;
/// assert_eq!((report.businesses, report.customers), (2, 3));
/// assert_eq!((report.email_entries, report.status_entries), (3, 3));
/// assert_eq!(report.external_id_entries, 1);
/// # Ok::<(), customer_store::Error>(())
/// ```
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
    /// Entries of the status index (one per customer).
    pub status_entries: u64,
    /// Postings of the email gram index: one per distinct trigram of each email already folded
    /// into it (the newest customers of a business wait in its tail, with no postings yet; see
    /// [`DEFAULT_EMAIL_INDEX_TAIL`](crate::DEFAULT_EMAIL_INDEX_TAIL)).
    pub gram_postings: u64,
}

/// A multiset of ids, summarised: how many, and a sum of their mixed values. Two equal
/// multisets have equal fingerprints; unequal ones differ but with odds of about 2^-64.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    count: u64,
    sum: u64,
}

impl Fingerprint {
    fn add(&mut self, n: u64) {
        // splitmix64's finaliser
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.count += 1;
        self.sum = self.sum.wrapping_add(z ^ (z >> 31));
    }
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
            // (An error's text carries its kind, which the whole report already says.)
            let problem = match problem.strip_prefix("corrupt store: ") {
                Some(rest) => rest.to_owned(),
                None => problem,
            };
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
    let state_rows = txn.open_table(BUSINESS_STATES).map_err(err)?;
    let mut states: HashMap<u32, BusinessState> = HashMap::new();
    for entry in state_rows.iter().map_err(err)? {
        let (handle, row) = entry.map_err(err)?;
        states.insert(handle.value(), BusinessState::from_row(row.value()));
    }
    let state = |handle: u32| states.get(&handle).copied().unwrap_or_default();
    let customers = txn.open_table(CUSTOMERS).map_err(err)?;
    let emails = txn.open_table(EMAILS).map_err(err)?;
    let external_ids = txn.open_table(EXTERNAL_IDS).map_err(err)?;
    let mut problems = Problems::default();

    let mut names: HashMap<u32, String> = HashMap::new();
    for entry in businesses.iter().map_err(err)? {
        let (name, value) = entry.map_err(err)?;
        let handle = match checked_handle(name.value(), value.value()) {
            Ok(handle) => handle,
            Err(e) => {
                problems.add(e.to_string());
                continue;
            }
        };
        if let Some(other) = names.insert(handle, name.value().to_owned()) {
            problems.add(format!(
                "businesses {other:?} and {:?} share a handle",
                name.value()
            ));
        }
        if !states.contains_key(&handle) {
            problems.add(format!("business {:?} has no state row", name.value()));
        }
    }
    if states.len() as u64 != businesses.len().map_err(err)? {
        problems.add("state rows and businesses differ in number".to_owned());
    }

    let statuses = txn.open_table(STATUSES).map_err(err)?;
    let blocks = txn.open_table(GRAMS).map_err(err)?;
    let mut in_tails: HashMap<u32, u64> = HashMap::new();
    let mut status_counts: HashMap<(u32, u8), u64> = HashMap::new();
    let mut expected_postings: HashMap<(u32, u32), Fingerprint> = HashMap::new();
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
        if n > state(handle).last_id {
            problems.add(format!(
                "record {} is beyond its business's id counter",
                id::encode(n)
            ));
        }
        let customer = match codec::decode(handle, n, value.value()) {
            Ok(customer) => customer,
            Err(e) => {
                // Named with its business, and how to remove it (its index entries and counts
                // are then off too, and reported below: the removal mends them).
                let what = e.into_detail();
                let business = names
                    .get(&handle)
                    .map_or_else(|| format!("#{handle}"), |name| format!("{name:?}"));
                problems.add(format!(
                    "{what} (business {business}: `customer-store delete --damaged` or \
                     `RedbStore::remove_damaged` removes it)"
                ));
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
        let status_key = (handle, customer.status.code(), n);
        if statuses.get(status_key).map_err(err)?.is_none() {
            problems.add(format!("record {} has no status index entry", customer.id));
        }
        *status_counts
            .entry((handle, customer.status.code()))
            .or_default() += 1;
        if n < state(handle).tail_start {
            for gram in grams::grams(&key) {
                expected_postings.entry((handle, gram)).or_default().add(n);
            }
        } else {
            *in_tails.entry(handle).or_default() += 1;
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

    let status_entries = statuses.len().map_err(err)?;
    if status_entries != records {
        problems.add(format!(
            "{status_entries} status index entries for {records} records"
        ));
    }
    let gram_postings = check_postings(&blocks, &expected_postings, &mut problems)?;
    for (&handle, state) in &states {
        if in_tails.get(&handle).copied().unwrap_or(0) != state.tail_waiting {
            problems.add(format!("the gram tail of business #{handle} is miscounted"));
        }
        for code in Status::ALL.map(Status::code) {
            let records = status_counts.get(&(handle, code)).copied().unwrap_or(0);
            if state.count(code) != records {
                problems.add(format!(
                    "the count of status {code} of business #{handle} differs from the records"
                ));
            }
        }
    }
    for &(handle, _) in status_counts.keys() {
        if !states.contains_key(&handle) {
            problems.add(format!("business #{handle} has records but no state row"));
        }
    }

    if problems.count > 0 {
        let shown = if problems.count > problems.first.len() as u64 {
            format!(", the first {}", problems.first.len())
        } else {
            String::new()
        };
        return Err(Error::Corrupt(format!(
            "{} problem(s){shown}: {}",
            problems.count,
            problems.first.join("; ")
        )));
    }
    Ok(VerifyReport {
        businesses: names.len() as u64,
        customers: records,
        email_entries,
        external_id_entries,
        status_entries,
        gram_postings,
    })
}

/// Compares the gram postings with the grams of the records; returns the postings' number.
fn check_postings(
    blocks: &ReadOnlyTable<(u32, u32, u64), &'static [u8]>,
    expected: &HashMap<(u32, u32), Fingerprint>,
    problems: &mut Problems,
) -> Result<u64> {
    let mut found: HashMap<(u32, u32), Fingerprint> = HashMap::new();
    // The header count of each gram's last block (blocks come in key order).
    let mut header_counts: HashMap<(u32, u32), u64> = HashMap::new();
    let mut last: Option<(u32, u32, u64)> = None;
    let mut ids = Vec::new();
    let mut postings = 0u64;
    for entry in blocks.iter().map_err(err)? {
        let (key, value) = entry.map_err(err)?;
        let (handle, gram, first) = key.value();
        ids.clear();
        match grams::decode_block(first, value.value(), &mut ids) {
            Ok(count) => {
                header_counts.insert((handle, gram), count);
            }
            Err(e) => {
                problems.add(e.to_string());
                continue;
            }
        }
        if let Some((h, g, previous)) = last
            && (h, g) == (handle, gram)
            && previous >= first
        {
            problems.add(format!(
                "postings of gram {gram:#x} overlap or are out of order"
            ));
        }
        last = ids.last().map(|&l| (handle, gram, l));
        let fingerprint = found.entry((handle, gram)).or_default();
        for &n in &ids {
            fingerprint.add(n);
            postings += 1;
        }
    }
    for (key, fingerprint) in &found {
        if header_counts.get(key) != Some(&fingerprint.count) {
            problems.add(format!(
                "the postings count of gram {:#x} of business #{} is wrong",
                key.1, key.0
            ));
        }
        if expected.get(key) != Some(fingerprint) {
            problems.add(format!(
                "postings of gram {:#x} of business #{} differ from the records",
                key.1, key.0
            ));
        }
    }
    for key in expected.keys().filter(|k| !found.contains_key(k)) {
        problems.add(format!(
            "gram {:#x} of business #{} has no postings",
            key.1, key.0
        ));
    }
    Ok(postings)
}

/// A record that fails its checks (see [`RedbStore::damaged_records`](crate::RedbStore::damaged_records)).
///
/// # Example
///
/// ```
/// use customer_store::{DamagedRecord, RedbStore};
/// let store = RedbStore::in_memory()?;
/// let none: Vec<DamagedRecord> = store.damaged_records()?;
/// assert!(none.is_empty());
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DamagedRecord {
    /// Its business's name (`#` and the business's number when the name is lost too).
    pub business: String,
    /// Its id.
    pub id: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Every record that fails its checks, in key order.
pub(super) fn damaged_records(db: &Database) -> Result<Vec<DamagedRecord>> {
    let txn = db.begin_read().map_err(err)?;
    let mut names: HashMap<u32, String> = HashMap::new();
    for entry in txn
        .open_table(BUSINESSES)
        .map_err(err)?
        .iter()
        .map_err(err)?
    {
        let (name, value) = entry.map_err(err)?;
        if let Ok(handle) = checked_handle(name.value(), value.value()) {
            names.insert(handle, name.value().to_owned());
        }
    }
    let mut damaged = Vec::new();
    for entry in txn
        .open_table(CUSTOMERS)
        .map_err(err)?
        .iter()
        .map_err(err)?
    {
        let (key, value) = entry.map_err(err)?;
        let (handle, n) = key.value();
        if let Err(e) = codec::decode(handle, n, value.value()) {
            damaged.push(DamagedRecord {
                business: names
                    .get(&handle)
                    .cloned()
                    .unwrap_or_else(|| format!("#{handle}")),
                id: id::encode(n),
                problem: e.into_detail(),
            });
        }
    }
    Ok(damaged)
}
