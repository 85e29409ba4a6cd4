//! A write transaction with every table of the store open in it, kept open between batches.
//!
//! Opening a redb table looks its root up in the table tree (a B-tree read, a check of the
//! key and value types, an allocation of its name), and closing it writes the root back into
//! the transaction's pending updates. For the store's eight tables that was about a fifth of
//! a single durable create's CPU, paid again by every batch that ran in the transaction the
//! journal holds between batches (see `Journal::hold`). So the journal holds the transaction
//! together with its open tables ([`HeldTransaction`]), and each batch borrows them.
//!
//! Data flows one way: the tables are opened once per transaction, borrowed by each batch's
//! [`super::ops::WriteTables`], and closed only when the transaction is taken out to commit
//! ([`HeldTransaction::into_transaction`]).

use std::panic::{AssertUnwindSafe, catch_unwind};

use redb::{TableDefinition, WriteTransaction};

use super::open::{panic_error, storage_error};
use super::tables::{
    BUSINESS_STATES, BUSINESSES, CUSTOMERS, EMAILS, EXTERNAL_IDS, GRAMS, META, STATUSES,
};
use crate::Result;

/// Every table a write touches, open in one write transaction.
pub(crate) struct OpenTables<'txn> {
    pub(crate) main: MainTables<'txn>,
    pub(crate) unique: UniqueTables<'txn>,
}

/// The tables other than the two unique indexes.
pub(crate) struct MainTables<'txn> {
    pub(crate) businesses: redb::Table<'txn, &'static str, (u32, u32)>,
    pub(crate) states: redb::Table<'txn, u32, [u64; 6]>,
    pub(crate) customers: redb::Table<'txn, (u32, u64), &'static [u8]>,
    pub(crate) statuses: redb::Table<'txn, (u32, u8, u64), ()>,
    pub(crate) grams: redb::Table<'txn, (u32, u32, u64), &'static [u8]>,
    /// The file's facts; a journaled batch writes the number of its frame here.
    pub(crate) meta: redb::Table<'txn, &'static str, u64>,
}

/// The unique indexes (email and externalId), apart from the other tables so that a large
/// create can write them on a second thread while the first writes the rest (redb lets the
/// tables of one write transaction be written from several threads at once).
pub(crate) struct UniqueTables<'txn> {
    pub(crate) emails: redb::Table<'txn, (u32, &'static str), u64>,
    pub(crate) external_ids: redb::Table<'txn, (u32, &'static str), u64>,
}

impl<'txn> OpenTables<'txn> {
    /// Opens every table in `txn` (creating those a new file lacks).
    ///
    /// A panic inside redb's `open_table` (on a damaged table tree) poisons a lock that
    /// closing an open table takes: it becomes an error, and the tables opened before it are
    /// closed inside a guard (while unwinding, a second panic would abort the process; left
    /// open, they would keep the write lock taken for good).
    ///
    /// # Errors
    ///
    /// A storage error if a table cannot be opened.
    pub(crate) fn open(txn: &'txn WriteTransaction) -> Result<OpenTables<'txn>> {
        fn open<'txn, K: redb::Key + 'static, V: redb::Value + 'static>(
            txn: &'txn WriteTransaction,
            table: TableDefinition<K, V>,
        ) -> Result<redb::Table<'txn, K, V>> {
            catch_unwind(AssertUnwindSafe(|| txn.open_table(table)))
                .map_err(|panic| panic_error("write", &*panic))?
                .map_err(|e| storage_error("write", e))
        }
        fn close<T>(table: T) {
            let _ = catch_unwind(AssertUnwindSafe(move || drop(table)));
        }
        /// The opened table, or (closing the tables opened before it) the error.
        macro_rules! or_close {
            ($opened:expr; $($before:ident),*) => {
                match $opened {
                    Ok(table) => table,
                    Err(error) => {
                        $(close($before);)*
                        return Err(error);
                    }
                }
            };
        }
        let businesses = open(txn, BUSINESSES)?;
        let states = or_close!(open(txn, BUSINESS_STATES); businesses);
        let customers = or_close!(open(txn, CUSTOMERS); businesses, states);
        let emails = or_close!(open(txn, EMAILS); businesses, states, customers);
        let external_ids =
            or_close!(open(txn, EXTERNAL_IDS); businesses, states, customers, emails);
        let statuses = or_close!(
            open(txn, STATUSES);
            businesses, states, customers, emails, external_ids
        );
        let grams = or_close!(
            open(txn, GRAMS);
            businesses, states, customers, emails, external_ids, statuses
        );
        let meta = or_close!(
            open(txn, META);
            businesses, states, customers, emails, external_ids, statuses, grams
        );
        Ok(OpenTables {
            main: MainTables {
                businesses,
                states,
                customers,
                statuses,
                grams,
                meta,
            },
            unique: UniqueTables {
                emails,
                external_ids,
            },
        })
    }
}

self_cell::self_cell!(
    /// A write transaction and its [`OpenTables`], kept together so that the journal can hold
    /// both between batches.
    pub(crate) struct HeldTransaction {
        owner: WriteTransaction,
        #[covariant]
        dependent: OpenTables,
    }
);

impl HeldTransaction {
    /// Opens every table in `txn`. Set the transaction's durability before: it cannot be
    /// changed while its tables are open.
    ///
    /// # Errors
    ///
    /// A storage error if a table cannot be opened (the transaction is then dropped, which
    /// aborts it).
    pub(crate) fn begin(txn: WriteTransaction) -> Result<HeldTransaction> {
        HeldTransaction::try_new(txn, |txn| OpenTables::open(txn))
    }

    /// Runs `f` on the open tables.
    pub(crate) fn tables<T>(&mut self, f: impl FnOnce(&mut OpenTables<'_>) -> T) -> T {
        self.with_dependent_mut(|_, tables| f(tables))
    }

    /// Closes the tables and returns the transaction, to commit it (or change its durability).
    pub(crate) fn into_transaction(self) -> WriteTransaction {
        self.into_owner()
    }
}

#[cfg(test)]
mod tests {
    use redb::{Database, ReadableDatabase, ReadableTableMetadata, TableHandle};

    use super::*;

    /// Writes made through the held tables over several borrows are all in the transaction
    /// once it is taken out and committed, and the tables were closed for the commit to work.
    #[test]
    fn writes_through_held_tables_commit_together() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("held.redb")).unwrap();
        let mut held = HeldTransaction::begin(db.begin_write().unwrap()).unwrap();
        for n in 1..=3u64 {
            held.tables(|t| t.main.meta.insert("count", n).map(drop))
                .unwrap();
            held.tables(|t| t.main.statuses.insert((7, 0, n), ()).map(drop))
                .unwrap();
        }
        held.into_transaction().commit().unwrap();

        let read = db.begin_read().unwrap();
        let meta = read.open_table(META).unwrap();
        assert_eq!(meta.get("count").unwrap().unwrap().value(), 3);
        let statuses = read.open_table(STATUSES).unwrap();
        assert_eq!(statuses.len().unwrap(), 3);
    }

    /// When a table cannot be opened (here the last one, `META`, stored with another value
    /// type), `begin` returns the error rather than panicking, the seven tables opened before
    /// it are closed, and the transaction is dropped: the write lock is free again, and
    /// nothing of the failed attempt was written.
    #[test]
    fn a_table_that_cannot_be_opened_is_an_error_and_frees_the_write_lock() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("held.redb")).unwrap();
        let wrong: TableDefinition<&str, &str> = TableDefinition::new(META.name());
        let txn = db.begin_write().unwrap();
        txn.open_table(wrong)
            .unwrap()
            .insert("format", "x")
            .unwrap();
        txn.commit().unwrap();

        let failed = HeldTransaction::begin(db.begin_write().unwrap());
        let error = failed.err().expect("META has the wrong type");
        assert!(matches!(error, crate::Error::Storage { .. }), "{error:?}");
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            cause.as_deref().is_some_and(|c| c.contains(META.name())),
            "the cause names the table: {cause:?}"
        );

        // The write lock was released (a lock still held would make this fail, not wait),
        // and the tables the failed attempt created are gone with its transaction.
        let txn = db.try_begin_write().expect("the write lock is free");
        assert_eq!(txn.list_tables().unwrap().count(), 1, "only the wrong META");
        drop(txn);
        let read = db.begin_read().unwrap();
        assert!(read.open_table(CUSTOMERS).is_err());
        assert_eq!(
            read.open_table(wrong)
                .unwrap()
                .get("format")
                .unwrap()
                .unwrap()
                .value(),
            "x"
        );
    }

    /// A held transaction that is dropped without a commit writes nothing.
    #[test]
    fn a_dropped_held_transaction_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("held.redb")).unwrap();
        let mut held = HeldTransaction::begin(db.begin_write().unwrap()).unwrap();
        held.tables(|t| t.main.meta.insert("count", 1).map(drop))
            .unwrap();
        drop(held);
        let read = db.begin_read().unwrap();
        assert!(
            read.open_table(META).is_err(),
            "the table was never committed"
        );
    }
}
