//! [`RedbStore`]: the [`CustomerStore`] on a redb database.

mod backend;
mod codec;
mod open;
mod ops;
mod tables;
mod verify;

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use redb::Database;

use self::backend::Source;
use self::open::{needs_reopen, panic_error};
use self::ops::Snapshot;
pub use self::verify::VerifyReport;
use crate::clock::{Clock, SystemClock};
use crate::model::{Customer, CustomerPatch, ListQuery, NewCustomer, Page};
use crate::store::CustomerStore;
use crate::{Error, Result, id, validate};

/// The cache size of a store opened with default options: 64 MiB.
pub const DEFAULT_CACHE_SIZE: usize = 64 * 1024 * 1024;

/// The database and a count of how often it was (re)opened.
struct Slot {
    db: Option<Database>,
    generation: u64,
}

struct Inner {
    source: Source,
    cache_size: usize,
    clock: Arc<dyn Clock>,
    slot: RwLock<Slot>,
}

/// A [`CustomerStore`] on a redb database file (or in memory).
///
/// One `RedbStore` is shared by every thread of a process (it is `Send + Sync`, and cloning it
/// is cheap: clones share the database). The file is locked while it is open, so a second
/// process cannot open it at the same time.
///
/// # Guarantees
///
/// - Every write is one redb transaction, committed with an fsync before it returns `Ok`:
///   the record and all of its index entries land together or not at all.
/// - Email (ignoring case) and `externalId` are unique per business, checked inside the
///   write transaction before the first write.
/// - A read sees one committed snapshot; a list page never mixes two states.
/// - When a write fails with a storage error, its outcome is unknown (the commit may have
///   landed); the store reopens its database by itself, so later calls work again.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, NewCustomer, RedbStore};
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("customers.redb");
/// let id = {
///     let store = RedbStore::open(&path)?;
///     store.create("acme", NewCustomer::new("yaw@example.com", "Yaw Mensah"))?.id
/// };
/// let store = RedbStore::open(&path)?;
/// assert_eq!(store.get("acme", &id)?.unwrap().name, "Yaw Mensah");
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Clone)]
pub struct RedbStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore")
            .field("source", &self.inner.source)
            .finish_non_exhaustive()
    }
}

/// Options for opening a [`RedbStore`]: the clock and the cache size.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use customer_store::{CustomerStore, ManualClock, NewCustomer, RedbStore};
/// let clock = Arc::new(ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap()));
/// let store = RedbStore::builder().clock(clock).cache_size(8 << 20).in_memory()?;
/// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// assert_eq!(yaw.created_at.to_string(), "2026-06-05T12:00:00Z");
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedbStoreBuilder {
    cache_size: usize,
    clock: Arc<dyn Clock>,
}

impl Default for RedbStoreBuilder {
    fn default() -> Self {
        RedbStoreBuilder {
            cache_size: DEFAULT_CACHE_SIZE,
            clock: Arc::new(SystemClock),
        }
    }
}

impl RedbStoreBuilder {
    /// The clock that stamps `createdAt`, `updatedAt` and new ids (default: the system clock).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The bytes of page cache redb may keep in memory (default [`DEFAULT_CACHE_SIZE`]).
    #[must_use]
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Opens the store file at `path`, creating it if it does not exist.
    ///
    /// # Errors
    ///
    /// [`Error::IncompatibleFormat`] for a file that is not a customer store or is of another
    /// format version (the file is left unchanged); [`Error::Storage`] when the file cannot be
    /// opened or is held by another process ("store in use").
    pub fn open(self, path: impl AsRef<Path>) -> Result<RedbStore> {
        self.build(Source::File(path.as_ref().to_path_buf()))
    }

    /// A store in memory, gone when the last clone is dropped.
    ///
    /// # Errors
    ///
    /// Only if redb fails to set up the memory database.
    pub fn in_memory(self) -> Result<RedbStore> {
        self.build(Source::Backend(Arc::new(
            redb::backends::InMemoryBackend::new(),
        )))
    }

    /// A store on a custom redb storage backend (for fault-injection tests). The store keeps
    /// the backend and reopens its database on it after an I/O error.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::open`].
    #[cfg(feature = "fault-injection")]
    pub fn open_backend(self, backend: Arc<dyn redb::StorageBackend>) -> Result<RedbStore> {
        self.build(Source::Backend(backend))
    }

    fn build(self, source: Source) -> Result<RedbStore> {
        let db = open::open(&source, self.cache_size, true)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                source,
                cache_size: self.cache_size,
                clock: self.clock,
                slot: RwLock::new(Slot {
                    db: Some(db),
                    generation: 0,
                }),
            }),
        })
    }
}

impl RedbStore {
    /// Options for opening a store.
    #[must_use]
    pub fn builder() -> RedbStoreBuilder {
        RedbStoreBuilder::default()
    }

    /// Opens the store file at `path` with default options, creating it if needed.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore> {
        RedbStore::builder().open(path)
    }

    /// A store in memory with default options.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::in_memory`].
    pub fn in_memory() -> Result<RedbStore> {
        RedbStore::builder().in_memory()
    }

    /// Checks every table: each record decodes and passes its checksum, each index entry
    /// matches exactly one record and each record has its index entries.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] naming the first problems found; [`Error::Storage`] when the file
    /// cannot be read.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert_eq!(store.verify()?.customers, 1);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn verify(&self) -> Result<VerifyReport> {
        self.run("verify", verify::verify)
    }

    /// Runs `op` on the database, reopening it first if an earlier I/O error closed it, and
    /// after `op` if it failed with such an error.
    fn run<T>(&self, context: &str, op: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let mut slot = self.inner.slot.read();
        if slot.db.is_none() {
            let generation = slot.generation;
            drop(slot);
            self.reopen(generation)?;
            slot = self.inner.slot.read();
        }
        let generation = slot.generation;
        let Some(db) = slot.db.as_ref() else {
            return Err(Error::Storage {
                message: "the database is closed after an I/O error".to_owned(),
                source: None,
            });
        };
        let (result, reopen) = match catch_unwind(AssertUnwindSafe(|| op(db))) {
            Ok(result) => {
                let reopen = result.as_ref().err().is_some_and(needs_reopen);
                (result, reopen)
            }
            // A panic inside redb leaves its state unknown: reopen it as after an I/O error.
            Err(panic) => (Err(panic_error(context, &*panic)), true),
        };
        drop(slot);
        if reopen {
            // A failed reopen is retried by the next call; this call reports its own error.
            let _ = self.reopen(generation);
        }
        result
    }

    /// Replaces the database after an I/O error, unless another thread already did.
    fn reopen(&self, failed_generation: u64) -> Result<()> {
        let mut slot = self.inner.slot.write();
        if slot.generation != failed_generation && slot.db.is_some() {
            return Ok(());
        }
        // Drop the old database first: it holds the file lock.
        slot.db = None;
        slot.generation += 1;
        slot.db = Some(open::open(
            &self.inner.source,
            self.inner.cache_size,
            false,
        )?);
        Ok(())
    }

    fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }

    fn read<T>(
        &self,
        business: &str,
        absent: T,
        op: impl FnOnce(&Snapshot, u32) -> Result<T>,
    ) -> Result<T> {
        validate::business(business)?;
        self.run("read", |db| {
            let snapshot = Snapshot::begin(db)?;
            match snapshot.handle(business)? {
                Some(handle) => op(&snapshot, handle),
                None => Ok(absent),
            }
        })
    }
}

impl CustomerStore for RedbStore {
    fn create(&self, business: &str, new: NewCustomer) -> Result<Customer> {
        validate::business(business)?;
        let valid = validate::new_customer(new)?;
        let now = self.now();
        let mut created = self.run("create", |db| {
            ops::create(db, business, vec![valid], now, false)
        })?;
        created
            .pop()
            .ok_or_else(|| Error::Corrupt("create returned no record".to_owned()))
    }

    fn create_many(&self, business: &str, new: Vec<NewCustomer>) -> Result<Vec<Customer>> {
        validate::business(business)?;
        let valid = new
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                validate::new_customer(item).map_err(|e| Error::Batch {
                    index,
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if valid.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        self.run("create_many", |db| {
            ops::create(db, business, valid, now, true)
        })
    }

    fn get(&self, business: &str, id: &str) -> Result<Option<Customer>> {
        let Some(n) = id::decode(id) else {
            validate::business(business)?;
            return Ok(None);
        };
        self.read(business, None, |snapshot, handle| snapshot.get(handle, n))
    }

    fn get_by_email(&self, business: &str, email: &str) -> Result<Option<Customer>> {
        self.read(business, None, |snapshot, handle| {
            snapshot.by_email(handle, email)
        })
    }

    fn get_by_external_id(&self, business: &str, external_id: &str) -> Result<Option<Customer>> {
        self.read(business, None, |snapshot, handle| {
            snapshot.by_external_id(handle, external_id)
        })
    }

    fn list(&self, business: &str, query: &ListQuery) -> Result<Page> {
        validate::business(business)?;
        let query = validate::list_query(query)?;
        let empty = Page {
            items: Vec::new(),
            next_cursor: None,
            has_more: false,
        };
        self.read(business, empty, |snapshot, handle| {
            snapshot.list(handle, &query)
        })
    }

    fn update(&self, business: &str, id: &str, patch: CustomerPatch) -> Result<Customer> {
        validate::business(business)?;
        let patch = validate::patch(patch)?;
        let n = id::decode(id).ok_or(Error::NotFound)?;
        let now = self.now();
        self.run("update", |db| ops::update(db, business, n, patch, now))
    }

    fn delete(&self, business: &str, id: &str) -> Result<Customer> {
        validate::business(business)?;
        let n = id::decode(id).ok_or(Error::NotFound)?;
        self.run("delete", |db| ops::delete(db, business, n))
    }
}
