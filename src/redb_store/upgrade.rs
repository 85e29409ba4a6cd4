//! Upgrading a store of an older format to the current one, inside the opening transaction,
//! so a store is never answered from a half-upgraded file:
//!
//! - format 1 (no search indexes): the status index and the email gram postings are built
//!   once from the records;
//! - format 2 (a table each for the last ids, the status counts and the email index's tails):
//!   the three are merged into one state row per business.

use std::collections::HashMap;
use std::sync::Arc;

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};

use super::open::storage_error;
use super::tables::{
    BUSINESS_STATES, BUSINESSES, BUSINESSES_V1, BusinessState, COUNTS, CUSTOMERS, GRAM_TAILS,
    GRAMS, LAST_IDS, STATUSES, business_check, status_count_key,
};
use super::{codec, grams};
use crate::validate::email_key;
use crate::{Error, Result};

/// Progress of a long operation (the index build of an upgrade): `done` of `total` records.
///
/// # Example
///
/// ```
/// use customer_store::Progress;
/// let progress = Progress { done: 20_000, total: 80_000 };
/// assert_eq!(progress.done * 100 / progress.total, 25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Records handled so far.
    pub done: u64,
    /// Records to handle in all.
    pub total: u64,
}

/// A callback told of the progress of long work during an open.
///
/// Given to [`RedbStoreBuilder::on_progress`](crate::RedbStoreBuilder::on_progress).
///
/// # Example
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use customer_store::{Progress, ProgressFn, RedbStore};
/// let last = Arc::new(Mutex::new(None));
/// let seen = Arc::clone(&last);
/// let report: ProgressFn = Arc::new(move |p: Progress| *seen.lock().unwrap() = Some(p));
/// report(Progress { done: 1, total: 2 });
/// assert_eq!(*last.lock().unwrap(), Some(Progress { done: 1, total: 2 }));
/// let _builder = RedbStore::builder().on_progress(report);
/// ```
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Records between two flushes of gathered postings (bounds the memory of the build).
const CHUNK: u64 = 20_000;

/// The most (business, gram) lists gathered before a flush: a chunk of many small
/// businesses holds about one list per posting, ~80 bytes each.
#[cfg(not(test))]
const MOST_LISTS: usize = 200_000;
/// Small in tests, so that the upgrade tests flush part way through a chunk too.
#[cfg(test)]
const MOST_LISTS: usize = 8;

fn err(e: impl Into<redb::Error>) -> Error {
    storage_error("upgrade", e)
}

/// Moves the businesses of format 1 (`businesses_v1`, handles without check values) to
/// `businesses_v2`.
fn migrate_businesses(txn: &WriteTransaction) -> Result<()> {
    let mut moved = Vec::new();
    match txn.open_table(BUSINESSES_V1) {
        Ok(old) => {
            for entry in old.iter().map_err(err)? {
                let (name, handle) = entry.map_err(err)?;
                moved.push((name.value().to_owned(), handle.value()));
            }
        }
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(err(e)),
    }
    let mut businesses = txn.open_table(BUSINESSES).map_err(err)?;
    for (name, handle) in moved {
        businesses
            .insert(name.as_str(), (handle, business_check(&name, handle)))
            .map_err(err)?;
    }
    drop(businesses);
    txn.delete_table(BUSINESSES_V1).map_err(err)?;
    Ok(())
}

/// Builds the status index, the gram postings and their counts from every record.
pub(crate) fn build_search_indexes(
    txn: &WriteTransaction,
    progress: Option<&ProgressFn>,
) -> Result<()> {
    migrate_businesses(txn)?;
    let customers = txn.open_table(CUSTOMERS).map_err(err)?;
    let mut statuses = txn.open_table(STATUSES).map_err(err)?;
    let mut blocks = txn.open_table(GRAMS).map_err(err)?;
    let mut counts = txn.open_table(COUNTS).map_err(err)?;
    let total = customers.len().map_err(err)?;
    let mut tails = txn.open_table(GRAM_TAILS).map_err(err)?;
    let mut tail_starts: HashMap<u32, u64> = HashMap::new();
    let mut status_counts: HashMap<(u32, u8), i64> = HashMap::new();
    let mut postings = grams::NewPostings::default();
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
        postings.add(handle, &email_key(&customer.email), n);
        done += 1;
        if done.is_multiple_of(CHUNK) || postings.lists() >= MOST_LISTS {
            std::mem::take(&mut postings).write(&mut blocks)?;
        }
        if done.is_multiple_of(CHUNK)
            && let Some(progress) = progress
        {
            progress(Progress { done, total });
        }
    }
    postings.write(&mut blocks)?;
    for (handle, start) in tail_starts {
        tails.insert(handle, (start, 0)).map_err(err)?;
    }
    for ((handle, code), n) in status_counts {
        super::tables::add_count(
            &mut counts,
            handle,
            super::tables::status_count_key(code),
            n,
        )?;
    }
    if let Some(progress) = progress {
        progress(Progress { done, total });
    }
    Ok(())
}

/// Merges the last ids, status counts and email-index tails of format 2 into one state row per
/// business (format 3), and drops the three old tables.
pub(crate) fn merge_business_states(txn: &WriteTransaction) -> Result<()> {
    let mut states: HashMap<u32, BusinessState> = HashMap::new();
    {
        let last_ids = txn.open_table(LAST_IDS).map_err(err)?;
        for entry in last_ids.iter().map_err(err)? {
            let (handle, last) = entry.map_err(err)?;
            states.entry(handle.value()).or_default().last_id = last.value();
        }
        let tails = txn.open_table(GRAM_TAILS).map_err(err)?;
        for entry in tails.iter().map_err(err)? {
            let (handle, tail) = entry.map_err(err)?;
            let state = states.entry(handle.value()).or_default();
            (state.tail_start, state.tail_waiting) = tail.value();
        }
        let counts = txn.open_table(COUNTS).map_err(err)?;
        for entry in counts.iter().map_err(err)? {
            let (key, n) = entry.map_err(err)?;
            let (handle, what) = key.value();
            let Some(code) = (0..3u8).find(|&code| status_count_key(code) == what) else {
                return Err(Error::Corrupt(format!(
                    "upgrade: count {what:#x} of business #{handle} is not a status count"
                )));
            };
            let delta = i64::try_from(n.value()).map_err(|_| {
                Error::Corrupt(format!("upgrade: count of business #{handle} out of range"))
            })?;
            states.entry(handle).or_default().add_count(code, delta)?;
        }
    }
    let mut rows = txn.open_table(BUSINESS_STATES).map_err(err)?;
    for (handle, state) in states {
        rows.insert(handle, state.row()).map_err(err)?;
    }
    drop(rows);
    txn.delete_table(LAST_IDS).map_err(err)?;
    txn.delete_table(GRAM_TAILS).map_err(err)?;
    txn.delete_table(COUNTS).map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use redb::ReadableDatabase;

    use super::super::backend::Source;
    use super::super::open;
    use super::super::tables::{EMAILS, FORMAT_KEY, FORMAT_VERSION, LAST_IDS, META};
    use super::super::{snapshot::Snapshot, verify};
    use super::*;
    use crate::model::{Customer, Status};
    use crate::validate::ValidQuery;

    /// The format version `db` keeps.
    fn format_of(db: &redb::Database) -> Option<u64> {
        let txn = db.begin_read().unwrap();
        let version = txn.open_table(META).unwrap().get(FORMAT_KEY).unwrap();
        version.map(|v| v.value())
    }

    fn customer(i: u64) -> Customer {
        Customer {
            id: crate::id::encode(i),
            external_id: None,
            email: format!("user{i}@Example.com"),
            name: "N".to_owned(),
            phone: None,
            description: None,
            metadata: None,
            status: if i.is_multiple_of(3) {
                Status::Blocked
            } else {
                Status::Active
            },
            currency: None,
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    /// A format-2 store (last ids, status counts and tails in three tables) has them merged
    /// into one state row per business on open, and goes on issuing ids after its last.
    #[test]
    fn a_format_2_store_is_upgraded_on_open() {
        use super::super::tables::{EXTERNAL_IDS, GRAMS};
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        {
            let db = redb::Database::builder()
                .create_with_backend(super::super::backend::Shared(backend.clone()))
                .unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 2).unwrap();
                txn.open_table(BUSINESSES)
                    .unwrap()
                    .insert("acme", (1, business_check("acme", 1)))
                    .unwrap();
                txn.open_table(LAST_IDS).unwrap().insert(1, 60).unwrap();
                let mut customers = txn.open_table(CUSTOMERS).unwrap();
                let mut emails = txn.open_table(EMAILS).unwrap();
                let mut statuses = txn.open_table(STATUSES).unwrap();
                for i in 1..=60 {
                    let c = customer(i);
                    // Format 2 wrote version-2 records.
                    customers
                        .insert((1, i), codec::encode_v2(1, i, &c).as_slice())
                        .unwrap();
                    emails.insert((1, email_key(&c.email).as_str()), i).unwrap();
                    statuses.insert((1, c.status.code(), i), ()).unwrap();
                }
                txn.open_table(EXTERNAL_IDS).unwrap();
                txn.open_table(GRAMS).unwrap();
                // Every customer still waits in the email index's tail.
                txn.open_table(GRAM_TAILS)
                    .unwrap()
                    .insert(1, (1, 60))
                    .unwrap();
                let mut counts = txn.open_table(COUNTS).unwrap();
                counts.insert((1, status_count_key(0)), 40).unwrap();
                counts.insert((1, status_count_key(2)), 20).unwrap();
            }
            txn.commit().unwrap();
        }
        let db = open::open(&Source::Backend(backend.clone()), 1 << 20, true, None).unwrap();
        let report = verify::verify(&db).unwrap();
        assert_eq!((report.customers, report.status_entries), (60, 60));
        let txn = db.begin_read().unwrap();
        let row = txn.open_table(BUSINESS_STATES).unwrap().get(1).unwrap();
        assert_eq!(
            row.map(|r| BusinessState::from_row(r.value())),
            Some(BusinessState {
                last_id: 60,
                tail_start: 1,
                tail_waiting: 60,
                counts: [40, 0, 20],
            })
        );
        for old in ["last_ids_v1", "counts_v1", "email_gram_tails_v1"] {
            assert!(
                txn.list_tables()
                    .unwrap()
                    .all(|t| redb::TableHandle::name(&t) != old),
                "{old} is left"
            );
        }
        let summary = Snapshot::begin(&db, 0).unwrap().businesses().unwrap();
        assert_eq!((summary[0].active, summary[0].blocked), (40, 20));
        drop((txn, db));

        // Its version-2 records read as they were; one that changes is rewritten in the
        // current layout, beside the others.
        let store = crate::RedbStore::builder()
            .build(Source::Backend(backend.clone()), None)
            .unwrap();
        let walked = crate::CustomerStore::list(
            &store,
            "acme",
            &crate::ListQuery::default().with_limit(100),
        )
        .unwrap();
        let expected: Vec<Customer> = (1..=60).map(customer).collect();
        assert_eq!(walked.items, expected);
        let patch = crate::CustomerPatch::default().set_name("Renamed");
        let renamed = crate::CustomerStore::update(&store, "acme", &customer(7).id, patch).unwrap();
        assert_eq!(renamed.name, "Renamed");
        drop(store);
        let db = redb::Database::builder()
            .create_with_backend(super::super::backend::Shared(backend))
            .unwrap();
        let txn = db.begin_read().unwrap();
        let customers = txn.open_table(CUSTOMERS).unwrap();
        let version = |i: u64| customers.get((1, i)).unwrap().unwrap().value()[0];
        assert_eq!((version(7), version(8)), (3, 2));
        let mut store_customers = expected;
        store_customers[6] = renamed;
        for (i, c) in (1..=60).zip(&store_customers) {
            let bytes = customers.get((1, i)).unwrap().unwrap();
            assert_eq!(&codec::decode(1, i, bytes.value()).unwrap(), c);
        }
    }

    /// A format-3 store (layout-2 records) opens as it is, its records read back, and it is
    /// marked format 4.
    #[test]
    fn a_format_3_store_is_marked_format_4_and_its_records_read() {
        use crate::CustomerStore;
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        let open_store = || {
            crate::RedbStore::builder()
                .build(Source::Backend(backend.clone()), None)
                .unwrap()
        };
        let created: Vec<Customer> = {
            let store = open_store();
            (0..5)
                .map(|i| {
                    let new = crate::NewCustomer::new(format!("c{i}@x.io"), "C")
                        .with_external_id(format!("e{i}"));
                    store.create("acme", new).unwrap()
                })
                .collect()
        };
        // As a build of format 3 left it: every record in layout 2.
        {
            let db = redb::Database::builder()
                .create_with_backend(super::super::backend::Shared(backend.clone()))
                .unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut customers = txn.open_table(CUSTOMERS).unwrap();
                for c in &created {
                    let n = crate::id::decode(&c.id).unwrap();
                    customers
                        .insert((1, n), codec::encode_v2(1, n, c).as_slice())
                        .unwrap();
                }
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 3).unwrap();
            }
            txn.commit().unwrap();
        }
        let store = open_store();
        let page = store
            .list("acme", &crate::ListQuery::default().with_limit(10))
            .unwrap();
        assert_eq!(page.items, created);
        for c in &created {
            let by_email = store.get_by_email("acme", &c.email).unwrap();
            assert_eq!(by_email.as_ref(), Some(c));
        }
        store.verify().unwrap();
        drop(store);
        let db = redb::Database::builder()
            .create_with_backend(super::super::backend::Shared(backend))
            .unwrap();
        assert_eq!(format_of(&db), Some(FORMAT_VERSION));
    }

    /// A format-1 store (no search indexes, version-1 records) gets its indexes on open.
    #[test]
    fn a_format_1_store_is_upgraded_on_open() {
        let backend: Arc<dyn redb::StorageBackend> =
            Arc::new(redb::backends::InMemoryBackend::new());
        {
            let db = redb::Database::builder()
                .create_with_backend(super::super::backend::Shared(backend.clone()))
                .unwrap();
            let txn = db.begin_write().unwrap();
            {
                txn.open_table(META).unwrap().insert(FORMAT_KEY, 1).unwrap();
                txn.open_table(BUSINESSES_V1)
                    .unwrap()
                    .insert("acme", 1)
                    .unwrap();
                txn.open_table(LAST_IDS).unwrap().insert(1, 60).unwrap();
                let mut customers = txn.open_table(CUSTOMERS).unwrap();
                let mut emails = txn.open_table(EMAILS).unwrap();
                for i in 1..=60 {
                    let c = customer(i);
                    customers
                        .insert((1, i), codec::encode_v1(1, i, &c).as_slice())
                        .unwrap();
                    emails.insert((1, email_key(&c.email).as_str()), i).unwrap();
                }
                txn.open_table(super::super::tables::EXTERNAL_IDS).unwrap();
            }
            txn.commit().unwrap();
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let progress: ProgressFn = Arc::new(move |p| record.lock().unwrap().push(p));
        let db = open::open(&Source::Backend(backend), 1 << 20, true, Some(&progress)).unwrap();
        assert_eq!(
            seen.lock().unwrap().last(),
            Some(&Progress {
                done: 60,
                total: 60
            })
        );
        let report = verify::verify(&db).unwrap();
        assert_eq!((report.customers, report.status_entries), (60, 60));
        assert!(report.gram_postings > 0);
        assert_eq!(format_of(&db), Some(FORMAT_VERSION));
        let query = ValidQuery {
            email: Some("user4".into()),
            status: None,
            limit: 100,
            cursor: None,
        };
        let page = Snapshot::begin(&db, 0)
            .unwrap()
            .list(1, &query, true, Vec::new(), None)
            .unwrap();
        let found: Vec<String> = page.items.iter().map(|c| c.email.clone()).collect();
        assert_eq!(
            found,
            [
                "user4@Example.com",
                "user40@Example.com",
                "user41@Example.com",
                "user42@Example.com",
                "user43@Example.com",
                "user44@Example.com",
                "user45@Example.com",
                "user46@Example.com",
                "user47@Example.com",
                "user48@Example.com",
                "user49@Example.com"
            ]
        );
        let blocked = ValidQuery {
            email: None,
            status: Some(Status::Blocked),
            limit: 100,
            cursor: None,
        };
        let page = Snapshot::begin(&db, 0)
            .unwrap()
            .list(1, &blocked, true, Vec::new(), None)
            .unwrap();
        assert_eq!(page.items.len(), 20);
    }
}
