//! [`RedbStore`]: the [`CustomerStore`] on a redb database.

mod backend;
mod beside;
#[cfg(feature = "server")]
mod clients;
mod codec;
mod grams;
mod group;
mod held;
mod journal;
mod keyed_crc;
mod open;
mod ops;
mod pairs;
mod snapshot;
mod tables;
mod tail;
mod upgrade;
mod varint;
mod verify;

use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;
use redb::Database;

use self::backend::{JournalPlace, Source};
#[cfg(feature = "server")]
pub(crate) use self::clients::ID_MAX as CLIENT_ID_MAX;
#[cfg(feature = "server")]
pub use self::clients::{ApiClient, ClientCredentials, Scope};
pub use self::grams::DEFAULT_EMAIL_INDEX_TAIL;
use self::group::{GroupCommit, Job, Output};
use self::held::HeldTransaction;
pub use self::journal::DEFAULT_JOURNAL_LIMIT;
use self::journal::{Journal, PendingSync};
use self::open::{guarded, needs_reopen, panic_error};
use self::ops::WriteTables;
pub use self::snapshot::BusinessSummary;
use self::snapshot::{Lookups, Snapshot};
use self::tail::TailMemory;
pub use self::upgrade::{Progress, ProgressFn};
pub use self::verify::{DamagedRecord, VerifyReport};
use crate::clock::{Clock, SystemClock};
use crate::model::{Customer, CustomerPatch, ImportCustomer, ListQuery, NewCustomer, Page};
use crate::store::CustomerStore;
use crate::{Error, Result, id, validate};

/// The cache size of a store opened with default options: 128 MiB.
///
/// # Example
///
/// ```
/// use customer_store::{DEFAULT_CACHE_SIZE, RedbStore};
/// assert_eq!(DEFAULT_CACHE_SIZE, 128 * 1024 * 1024);
/// // A store that may keep half as much in memory.
/// let store = RedbStore::builder().cache_size(DEFAULT_CACHE_SIZE / 2).in_memory()?;
/// assert_eq!(store.verify()?.customers, 0);
/// # Ok::<(), customer_store::Error>(())
/// ```
pub const DEFAULT_CACHE_SIZE: usize = 128 * 1024 * 1024;

/// The most records a transaction held between batches writes before a batch commits it
/// (see [`Journal::hold`]); it bounds the pages a held transaction keeps dirty.
const HELD_RECORDS: usize = 4096;

/// The database, its journal, and a count of how often they were (re)opened.
struct Slot {
    db: Option<Database>,
    /// The journal, when writes are made durable by it (see `journal`).
    journal: Option<parking_lot::Mutex<Journal>>,
    generation: u64,
}

impl Slot {
    /// Closes the journal and the database. With `checkpoint`, the database is first made to
    /// hold every write and the journal is removed (a clean close; after an I/O error the
    /// journal is left for the next open to replay).
    fn close(&mut self, checkpoint: bool) {
        let _ = self.close_reporting(checkpoint);
    }

    /// [`Slot::close`], telling whether a clean close (`checkpoint`) worked: if not, the
    /// journal is left for the next open to replay.
    fn close_reporting(&mut self, checkpoint: bool) -> Result<()> {
        let mut closed = Ok(());
        if let Some(journal) = self.journal.take() {
            let mut journal = journal.into_inner();
            let db = self.db.as_ref();
            // Dropped here, inside the guard: a transaction the journal holds keeps the
            // database open, and redb closes it when that transaction goes.
            // (A slot with a journal always has its database: a failed reopen leaves neither,
            // which `RedbStore::close` reports itself.)
            closed = catch_unwind(AssertUnwindSafe(move || {
                let closed = match (checkpoint, db) {
                    (true, Some(db)) => journal.close(db),
                    _ => Ok(()),
                };
                drop(journal);
                closed
            }))
            .unwrap_or_else(|panic| Err(panic_error("close", &*panic)));
        }
        close_quietly(self.db.take());
        closed
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.close(true);
    }
}

/// Closes a database; redb may panic while closing a damaged file, and no panic may reach a
/// caller (nor a `drop` of the store).
fn close_quietly(db: Option<Database>) {
    if let Some(db) = db {
        let _ = catch_unwind(AssertUnwindSafe(move || drop(db)));
    }
}

struct Inner {
    source: Source,
    /// Where the journal lives (`None`: in memory, no journal).
    journal: Option<JournalPlace>,
    /// Whether writes go through the journal; without, each commits durably in redb (a
    /// journal left by a crash is still replayed on open).
    journal_writes: bool,
    journal_limit: u64,
    cache_size: usize,
    clock: Arc<dyn Clock>,
    email_index_tail: u64,
    /// Business names already seen in a committed snapshot, with their handles (emptied by a
    /// reopen; read and filled only under the slot's lock).
    handles: RwLock<HashMap<String, u32>>,
    /// The point lookups of the latest committed snapshot (declared before `slot`, so dropped
    /// before the database).
    latest: parking_lot::Mutex<Latest>,
    slot: RwLock<Slot>,
    writes: GroupCommit,
    /// Set when the journal may hold a transaction that reads must commit first (see
    /// [`RedbStore::settle`]).
    unsettled: AtomicBool,
    /// The waiting emails of businesses with long email-index tails (see `tail`).
    tails: TailMemory,
}

/// The point lookups of the newest snapshot, kept between calls so that a get (by id, email
/// or external id) needs neither a new read transaction nor a table open.
///
/// A writer marks its commit as under way before the commit can become visible, and bumps
/// `generation` once it has landed, before the writer returns. While a commit is under way,
/// gets read a fresh snapshot and keep nothing; a table read before a commit is kept only if
/// no commit began since. So a get never answers older than any read that came before it (a
/// fresh snapshot may already see a commit the kept table predates), never misses a write that
/// returned before it began, and no stale snapshot stays alive to hold freed pages.
///
/// One flag suffices because one group commit runs at a time (the group's leader): a second
/// path that committed customers concurrently would need a count instead. Commits that touch
/// no table the lookups read (API clients, journal sessions and checkpoints) leave the kept
/// snapshot in place; it then holds the few pages they free until the next write.
#[derive(Default)]
struct Latest {
    generation: u64,
    committing: bool,
    lookups: Option<Arc<Lookups>>,
}

/// A [`CustomerStore`] on a redb database file (or in memory).
///
/// One `RedbStore` is shared by every thread of a process (it is `Send + Sync`, and cloning it
/// is cheap: clones share the database). The file is locked while it is open, so a second
/// process cannot open it at the same time.
///
/// # Guarantees
///
/// - Every write runs inside one redb transaction (consecutive writes may share one), durable
///   before it returns `Ok`: the record and all of its index entries land together or not at
///   all. A store on a file makes writes durable
///   through its journal (`<file>.journal`, beside it: one small synced append per group
///   commit); a crash loses nothing acknowledged, and the next open applies the journal.
///   The journal is part of the store: move, copy or delete the two files together (a clean
///   close removes the journal).
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

/// A storage error of an open by path that names neither file is told which one it is about
/// ("journal: open" for the journal, any other for the store file): found in a library user's
/// trial, a permission refused or a path under a regular file said only "open" or
/// "journal: open".
fn naming_the_file(error: Error, path: &Path, journal: &Path) -> Error {
    // A path without a separator ("store") may be in the message as a word, not as the path.
    let names = |message: &str, file: &Path| {
        let file = file.to_string_lossy();
        file.contains(std::path::MAIN_SEPARATOR) && message.contains(&*file)
    };
    match error {
        Error::Storage { message, source }
            if !names(&message, path) && !names(&message, journal) =>
        {
            let file = if message.contains("journal") {
                journal
            } else {
                path
            };
            Error::Storage {
                message: format!("{message} ({})", file.display()),
                source,
            }
        }
        other => other,
    }
}

/// The refusal of a `file` that is there but is not a regular file (a directory, a device, a
/// pipe, a socket), if it is one: `what` it should have been.
fn not_a_file(file: &Path, what: &str) -> Option<Error> {
    let meta = std::fs::metadata(file).ok().filter(|m| !m.is_file())?;
    let (kind, is) = if meta.is_dir() {
        (std::io::ErrorKind::IsADirectory, "a directory")
    } else {
        (
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a device, a pipe or a socket)",
        )
    };
    Some(Error::storage(
        format!("open {}: {is}, not a {what}", file.display()),
        std::io::Error::new(kind, is),
    ))
}

/// Options for opening a [`RedbStore`]: the clock, the cache size, the email index's tail, the
/// journal, and a progress callback.
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
#[derive(Clone)]
pub struct RedbStoreBuilder {
    cache_size: usize,
    clock: Arc<dyn Clock>,
    progress: Option<ProgressFn>,
    email_index_tail: u64,
    journal: bool,
    journal_limit: u64,
}

impl fmt::Debug for RedbStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStoreBuilder")
            .field("cache_size", &self.cache_size)
            .field("clock", &self.clock)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("email_index_tail", &self.email_index_tail)
            .field("journal", &self.journal)
            .field("journal_limit", &self.journal_limit)
            .finish()
    }
}

impl Default for RedbStoreBuilder {
    fn default() -> Self {
        RedbStoreBuilder {
            cache_size: DEFAULT_CACHE_SIZE,
            clock: Arc::new(SystemClock),
            progress: None,
            email_index_tail: DEFAULT_EMAIL_INDEX_TAIL,
            journal: true,
            journal_limit: DEFAULT_JOURNAL_LIMIT,
        }
    }
}

impl RedbStoreBuilder {
    /// The clock that stamps `createdAt`, `updatedAt` and new ids (default: the system clock).
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_store::{CustomerPatch, CustomerStore, ManualClock, NewCustomer, RedbStore};
    /// let clock = ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap());
    /// let store = RedbStore::builder().clock(Arc::new(clock.clone())).in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// clock.advance_seconds(90);
    /// let yaw = store.update("acme", &yaw.id, CustomerPatch::default().set_name("Yaw M."))?;
    /// assert_eq!(yaw.created_at.to_string(), "2026-06-05T12:00:00Z");
    /// assert_eq!(yaw.updated_at.to_string(), "2026-06-05T12:01:30Z");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The bytes of page cache redb may keep in memory (default [`DEFAULT_CACHE_SIZE`]).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir()?;
    /// // 4 MiB of cache: slower reads of a large store, the same answers.
    /// let store = RedbStore::builder().cache_size(4 << 20).open(dir.path().join("c.redb"))?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// How many new customers of a business may wait before they join the email search index
    /// in one batch (default [`DEFAULT_EMAIL_INDEX_TAIL`], at least 1).
    ///
    /// A larger tail makes creates cheaper and email-filtered lists read more records; the
    /// answers are the same either way. Once a business's tail reaches this length, the
    /// store keeps its waiting emails' grams in memory (within a fixed budget across
    /// businesses) and lets the tail grow 16 times longer: filtered lists then read only the
    /// waiting records whose emails have every gram of the term.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// let short = RedbStore::builder().email_index_tail(1).in_memory()?;
    /// let long = RedbStore::builder().email_index_tail(10_000).in_memory()?;
    /// let query = ListQuery::default().with_email("ana");
    /// for store in [&short, &long] {
    ///     for name in ["yaw", "ana", "diana", "kofi"] {
    ///         store.create("acme", NewCustomer::new(format!("{name}@example.com"), name))?;
    ///     }
    /// }
    /// let emails = |store: &RedbStore| -> customer_store::Result<Vec<String>> {
    ///     Ok(store.list("acme", &query)?.items.into_iter().map(|c| c.email).collect())
    /// };
    /// assert_eq!(emails(&short)?, ["ana@example.com", "diana@example.com"]);
    /// assert_eq!(emails(&short)?, emails(&long)?);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn email_index_tail(mut self, customers: u64) -> Self {
        self.email_index_tail = customers.max(1);
        self
    }

    /// Whether a store on a file makes writes durable through its journal (default `true`).
    ///
    /// With the journal, a group commit syncs one small append to `<file>.journal` and the
    /// database catches up now and then (a checkpoint); without it, every group commit is
    /// committed to the database file with its own fsync, several scattered page writes.
    /// Both are equally durable; the journal is about twice as fast for single writes. A
    /// journal left by a crash is applied on open either way (and then removed, without the
    /// journal). A store in memory has no journal.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let with = RedbStore::open(dir.path().join("a.redb"))?;
    /// with.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(dir.path().join("a.redb.journal").exists());
    /// let without = RedbStore::builder().journal(false).open(dir.path().join("b.redb"))?;
    /// without.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(!dir.path().join("b.redb.journal").exists());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn journal(mut self, enabled: bool) -> Self {
        self.journal = enabled;
        self
    }

    /// How long the journal may grow before a write first checkpoints: commits the database
    /// durably and starts the journal again (default [`DEFAULT_JOURNAL_LIMIT`], at least 1).
    ///
    /// A smaller limit keeps the journal file and the work of an open after a crash small, at
    /// the cost of more frequent database syncs.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("customers.redb");
    /// let store = RedbStore::builder().journal_limit(1 << 20).open(&path)?;
    /// for i in 0..10 {
    ///     store.create("acme", NewCustomer::new(format!("c{i}@example.com"), "C"))?;
    /// }
    /// drop(store); // a clean close checkpoints and removes the journal
    /// assert!(!dir.path().join("customers.redb.journal").exists());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn journal_limit(mut self, bytes: u64) -> Self {
        self.journal_limit = bytes.max(1);
        self
    }

    /// A callback told of the progress of long work during the open: building the search
    /// indexes of a store written by an older version (format 1), once.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use customer_store::{Progress, RedbStore};
    /// let calls = Arc::new(AtomicU64::new(0));
    /// let seen = Arc::clone(&calls);
    /// let dir = tempfile::tempdir()?;
    /// let store = RedbStore::builder()
    ///     .on_progress(Arc::new(move |p: Progress| {
    ///         assert!(p.done <= p.total);
    ///         seen.fetch_add(1, Ordering::Relaxed);
    ///     }))
    ///     .open(dir.path().join("customers.redb"))?;
    /// // A new store (or one of the current format) has no index to build: no call.
    /// assert_eq!(calls.load(Ordering::Relaxed), 0);
    /// # drop(store);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn on_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Opens the store file at `path`, creating it if it does not exist (through a symbolic
    /// link to a file not yet there, where the link leads).
    ///
    /// # Errors
    ///
    /// [`Error::IncompatibleFormat`] for a file that is not a customer store or is of another
    /// format version, for a journal beside it that belongs to another store or is not a
    /// journal at all (a database in its place), and for a journal left beside the symbolic
    /// link rather than beside the file it leads to (the files are left unchanged);
    /// [`Error::Corrupt`] for a file of 0 bytes,
    /// for a file that was not closed cleanly whose journal is missing, for a journal that may
    /// hold writes beside no store file (nothing is created), and for damage;
    /// [`Error::Storage`] when the file cannot be opened (a directory or a device, say; the
    /// message names the file) or is held by another process ("store in use");
    /// [`Error::InvalidRequest`] (field `path`) for a path that names no file (`""`).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.redb");
    /// let store = RedbStore::builder().journal_limit(1 << 20).open(&path)?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(path.exists());
    /// drop(store);
    /// assert_eq!(RedbStore::builder().open(&path)?.verify()?.customers, 1);
    ///
    /// // A file that is not a store is refused, and left unchanged.
    /// let notes = dir.path().join("notes.txt");
    /// std::fs::write(&notes, "not a store")?;
    /// let err = RedbStore::builder().open(&notes).unwrap_err();
    /// assert_eq!(err.code(), "incompatible_format");
    /// assert_eq!(std::fs::read_to_string(&notes)?, "not a store");
    /// // A file of 0 bytes is corrupt, a directory a storage error, "" an invalid path.
    /// let empty = dir.path().join("empty.redb");
    /// std::fs::File::create(&empty)?;
    /// assert_eq!(RedbStore::builder().open(&empty).unwrap_err().code(), "corrupt");
    /// assert!(RedbStore::builder().open(dir.path()).unwrap_err().is_storage());
    /// assert_eq!(RedbStore::builder().open("").unwrap_err().field(), Some("path"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(self, path: impl AsRef<Path>) -> Result<RedbStore> {
        let path = backend::through_dangling_link(path.as_ref().to_path_buf());
        let journal = backend::journal_path(&path);
        // Not "not a redb database file" (found in a library user's trial): it cannot be
        // opened as a file at all. Nor, for a device, "the file is empty, remove it", and a
        // pipe is never opened, in either place (that would wait for a writer, for good).
        for (file, what) in [(&path, "store file"), (&journal, "journal")] {
            if let Some(error) = not_a_file(file, what) {
                return Err(error);
            }
        }
        // Even without the journal, one left by a crash is replayed (then removed) on open.
        let place = Some(JournalPlace::File(journal.clone()));
        self.build(Source::File(path.clone()), place)
            .map_err(|e| naming_the_file(e, &path, &journal))
    }

    /// A store in memory, gone when the last clone is dropped.
    ///
    /// # Errors
    ///
    /// Only if redb fails to set up the memory database.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::builder().email_index_tail(16).in_memory()?;
    /// let clone = store.clone();
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// drop(store);
    /// // Clones share the database; it lives while one of them does.
    /// assert_eq!(clone.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn in_memory(self) -> Result<RedbStore> {
        self.build(
            Source::Backend(Arc::new(redb::backends::InMemoryBackend::new())),
            None,
        )
    }

    /// A store on a custom redb storage backend (for fault-injection tests). The store keeps
    /// the backend and reopens its database on it after an I/O error.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::open`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let backend = Arc::new(redb::backends::InMemoryBackend::new());
    /// let store = RedbStore::builder().open_backend(backend.clone())?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// drop(store);
    /// // The database lives in the backend: opened again, it still holds the customer.
    /// let store = RedbStore::builder().open_backend(backend)?;
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn open_backend(self, backend: Arc<dyn redb::StorageBackend>) -> Result<RedbStore> {
        self.build(Source::Backend(backend), None)
    }

    /// A store on custom redb storage backends for its database and its journal (for
    /// fault-injection tests). The store keeps both and reopens them after an I/O error.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::open`].
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let db = Arc::new(redb::backends::InMemoryBackend::new());
    /// let journal = Arc::new(redb::backends::InMemoryBackend::new());
    /// let store = RedbStore::builder().open_backend_with_journal(db.clone(), journal.clone())?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// drop(store);
    /// let store = RedbStore::builder().open_backend_with_journal(db, journal)?;
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[cfg(feature = "fault-injection")]
    pub fn open_backend_with_journal(
        self,
        backend: Arc<dyn redb::StorageBackend>,
        journal: Arc<dyn redb::StorageBackend>,
    ) -> Result<RedbStore> {
        self.build(
            Source::Backend(backend),
            Some(JournalPlace::Backend(journal)),
        )
    }

    /// Opens the database (creating a file that is not there), then its journal.
    fn build(self, source: Source, journal: Option<JournalPlace>) -> Result<RedbStore> {
        // Before the database is opened or created: a foreign journal, or a database in the
        // journal's place, is refused with nothing written (for a new store, not even its file).
        if let (Source::File(path), Some(JournalPlace::File(journal))) = (&source, &journal) {
            if let Some(misplaced) = backend::journal_beside_link(path) {
                return Err(Error::IncompatibleFormat(format!(
                    "a journal lies beside the link {}: {}; the journal of a store opened \
                     through a symbolic link lies beside the file the link leads to, {}. Move \
                     it there (it may hold acknowledged writes) to open this store",
                    path.display(),
                    misplaced.display(),
                    journal.display()
                )));
            }
            guarded("open the journal", || {
                journal::refuse_foreign(path, journal)
            })?;
        }
        let (db, created) =
            open::open_reporting(&source, self.cache_size, true, self.progress.as_ref())?;
        if created
            && let (Source::File(path), Some(JournalPlace::File(journal))) = (&source, &journal)
        {
            // A new store (its file now created and locked by this process): a journal left
            // at its place is not its own. One that never held a write (empty, or zeros) is
            // removed; any other is refused and kept (it may hold its missing file's writes).
            guarded("open the journal", || {
                journal::remove_unwritten(path, journal)
            })?;
        }
        let mut slot = Slot {
            db: None,
            journal: None,
            generation: 0,
        };
        let opened = open_journal(
            journal.as_ref(),
            self.journal,
            &db,
            self.email_index_tail,
            self.journal_limit,
        );
        slot.db = Some(db);
        slot.journal = opened?.map(parking_lot::Mutex::new);
        let tails = TailMemory::default();
        if let Some(db) = &slot.db {
            remember_long_tails(&tails, db, self.email_index_tail, 0)?;
        }
        Ok(RedbStore {
            inner: Arc::new(Inner {
                source,
                journal,
                journal_writes: self.journal,
                journal_limit: self.journal_limit,
                cache_size: self.cache_size,
                clock: self.clock,
                email_index_tail: self.email_index_tail,
                handles: RwLock::new(HashMap::new()),
                slot: RwLock::new(slot),
                latest: parking_lot::Mutex::new(Latest::default()),
                writes: GroupCommit::default(),
                unsettled: AtomicBool::new(false),
                tails,
            }),
        })
    }
}

/// The fewest items of a batch whose field rules are checked on two threads, half each
/// ([`check_items`]): checking a thousand items takes about half a millisecond, starting a
/// thread tens of microseconds.
const CHECK_ON_TWO_THREADS: usize = 512;

/// The valid items of a batch up to its first invalid one, and that one's error (naming its
/// index). A large batch is checked in two halves at once; the second half's first error
/// counts only if the first half has none.
fn check_items<T: Send>(
    mut items: Vec<T>,
    now: jiff::Timestamp,
    check: fn(T, jiff::Timestamp) -> Result<validate::ValidNew>,
) -> (Vec<validate::ValidNew>, Option<Error>) {
    /// The valid items from the start of `items` (numbered from `first`) up to the first
    /// invalid one, and its error.
    fn run<T>(
        items: Vec<T>,
        first: usize,
        now: jiff::Timestamp,
        check: fn(T, jiff::Timestamp) -> Result<validate::ValidNew>,
    ) -> (Vec<validate::ValidNew>, Option<Error>) {
        let mut valid = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            match check(item, now) {
                Ok(item) => valid.push(item),
                Err(e) => {
                    let error = Error::Batch {
                        index: first + index,
                        source: Box::new(e),
                    };
                    return (valid, Some(error));
                }
            }
        }
        (valid, None)
    }
    if items.len() < CHECK_ON_TWO_THREADS {
        return run(items, 0, now, check);
    }
    let middle = items.len() / 2;
    let second = items.split_off(middle);
    let (first_half, second_half) = beside::beside(
        || run(items, 0, now, check),
        move || run(second, middle, now, check),
    );
    match (first_half, second_half) {
        ((valid, Some(error)), _) => (valid, Some(error)),
        ((mut valid, None), Ok((rest, error))) => {
            valid.extend(rest);
            (valid, error)
        }
        // A panic in a check of the second half (not expected: the checks are plain functions
        // of the fields, fuzzed) goes on as it would have on one thread, as one in the first
        // half does.
        ((_, None), Err(panic)) => std::panic::resume_unwind(panic),
    }
}

impl RedbStore {
    /// Options for opening a store.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.redb");
    /// let store = RedbStore::builder().cache_size(16 << 20).journal(false).open(&path)?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(!RedbStore::journal_path(&path).exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn builder() -> RedbStoreBuilder {
        RedbStoreBuilder::default()
    }

    /// Opens the store file at `path` with default options, creating it if needed.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::open`].
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.redb");
    /// assert!(!path.exists());
    /// let store = RedbStore::open(&path)?; // created
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(store.close()?);
    /// let store = RedbStore::open(&path)?; // opened again
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore> {
        RedbStore::builder().open(path)
    }

    /// The journal file of the store file at `path` (its name with `.journal` added; for a
    /// symbolic link, the name of the file it leads to). It is part of the store: keep, copy
    /// and remove it with the store file.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// let journal = RedbStore::journal_path("data/customers.redb");
    /// assert_eq!(journal, std::path::Path::new("data/customers.redb.journal"));
    /// ```
    #[must_use]
    pub fn journal_path(path: impl AsRef<Path>) -> std::path::PathBuf {
        backend::journal_path(path.as_ref())
    }

    /// A store in memory with default options.
    ///
    /// # Errors
    ///
    /// As [`RedbStoreBuilder::in_memory`].
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(store.get_by_email("acme", "yaw@example.com")?.is_some());
    /// // Each in-memory store is a database of its own.
    /// assert!(RedbStore::in_memory()?.get_by_email("acme", "yaw@example.com")?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn in_memory() -> Result<RedbStore> {
        RedbStore::builder().in_memory()
    }

    /// Removes a customer whose record is damaged (it fails its checksum or does not decode,
    /// so that every read of it, and [`delete`](CustomerStore::delete), answers `corrupt`),
    /// with every index entry and email posting that names it: a repair, after which
    /// [`verify`](RedbStore::verify) finds the store clean again if nothing else is damaged,
    /// and the customer's email and externalId are free. What the record held is lost; its id
    /// is never reused. The index entries are found by a scan of the business's entries, so
    /// the write takes a moment on a large business (every other write waits for it).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when there is no record with this id in the business;
    /// [`Error::InvalidRequest`] (field `id`) for a record that is not damaged (delete it
    /// as usual); [`Error::Corrupt`] for damage that is not the record's own (an index or
    /// the business's state); [`Error::Storage`] as for any write.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// // A record that checks out is deleted as usual, never removed as damaged.
    /// let refused = store.remove_damaged("acme", &yaw.id).unwrap_err();
    /// assert_eq!((refused.code(), refused.field()), ("invalid_request", Some("id")));
    /// assert!(store.remove_damaged("acme", "cust_00000000000000").unwrap_err().is_not_found());
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn remove_damaged(&self, business: &str, id: &str) -> Result<()> {
        validate::business(business)?;
        let n = id::decode(id).ok_or(Error::NotFound)?;
        let business = business.to_owned();
        self.write(Box::new(move |tables| {
            ops::remove_damaged(tables, &business, n).map(|()| Output::Removed)
        }))
        .map(drop)
    }

    /// Every record that fails its checks (its checksum, or its decoding), with its business
    /// and id: what [`remove_damaged`](RedbStore::remove_damaged) takes. A walk of every
    /// record, as [`verify`](RedbStore::verify) makes, which also reports other damage.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be read (damage to redb's own pages may be
    /// reported so, or as [`Error::Corrupt`]).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(store.damaged_records()?.is_empty());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn damaged_records(&self) -> Result<Vec<DamagedRecord>> {
        self.run("find damaged records", verify::damaged_records)
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

    /// Closes the store now, if this is its last handle (no clone of it is left), and tells
    /// whether the close was clean: the database made to hold every write and synced, and the
    /// journal removed, as dropping the last handle does, but with the outcome reported rather
    /// than lost. Returns `Ok(false)` when other handles are left: this one is dropped, and the
    /// store closes with the last of them.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the clean close fails (a full disk, say). The store is closed
    /// all the same, and its journal kept: the next open replays it, so no acknowledged write
    /// is lost, but until then the file alone is not the whole store (copy both files, or open
    /// it once first).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.redb");
    /// let store = RedbStore::open(&path)?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(store.close()?);
    /// assert!(!RedbStore::journal_path(&path).exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(self) -> Result<bool> {
        // A database that failed to reopen after an I/O error is tried once more: the clean
        // close needs it.
        let failed = {
            let slot = self.inner.slot.read();
            slot.db.is_none().then_some(slot.generation)
        };
        if let Some(generation) = failed {
            let _ = self.reopen(generation);
        }
        let Some(inner) = Arc::into_inner(self.inner) else {
            return Ok(false);
        };
        let Inner {
            latest,
            slot,
            journal,
            ..
        } = inner;
        // The snapshot kept for gets holds a read transaction: gone before the database.
        drop(latest);
        let mut slot = slot.into_inner();
        if slot.db.is_none() && journal.is_some() {
            // Its journal (a reopen failed before reading it) may hold writes the file lacks.
            return Err(Error::Storage {
                message: "close: the database did not reopen after an I/O error; its journal \
                          is kept for the next open"
                    .to_owned(),
                source: None,
            });
        }
        slot.close_reporting(true).map(|()| true)
    }

    /// Rewrites the file so that the space freed by earlier writes is given back: the file
    /// shrinks to about what the live data takes. Every other call waits meanwhile; run it
    /// after a large import or many deletes, not on a hot path.
    ///
    /// Returns whether anything was compacted.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file cannot be written (the store then reopens itself).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// store.compact()?;
    /// assert_eq!(store.verify()?.customers, 1);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn compact(&self) -> Result<bool> {
        let mut slot = self.inner.slot.write();
        let generation = slot.generation;
        let Slot { db, journal, .. } = &mut *slot;
        let Some(db) = db.as_mut() else {
            drop(slot);
            self.reopen(generation)?;
            return self.compact();
        };
        // Every other call holds the slot's read lock while it runs, so none is under way;
        // the snapshot kept for gets is the one read transaction left, and compaction needs
        // none alive. Compaction moves only what a durable commit holds: checkpoint first.
        self.new_snapshot();
        let checkpointed = match journal {
            // A failed checkpoint may have lost held writes from the database: reopen.
            Some(journal) => {
                guarded("compact", || journal.get_mut().checkpoint(db)).map_err(open::force_reopen)
            }
            None => Ok(()),
        };
        // Each pass moves what it can; repeat until one finds nothing left to move.
        let passes = || {
            let mut compacted = false;
            while db.compact()? {
                compacted = true;
            }
            Ok::<bool, redb::CompactionError>(compacted)
        };
        let result = checkpointed.and_then(|()| {
            catch_unwind(AssertUnwindSafe(passes))
                .map_err(|panic| panic_error("compact", &*panic))?
                .map_err(|e| open::storage_error("compact", e))
        });
        drop(slot);
        if let Err(error) = &result
            && needs_reopen(error)
        {
            let _ = self.reopen(generation);
        }
        result
    }

    /// Every business that has had a customer, in name order, with its customers per status
    /// (from the counts the status index keeps: no record is read).
    ///
    /// # Errors
    ///
    /// Storage errors only.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let businesses = store.businesses()?;
    /// assert_eq!((businesses[0].name.as_str(), businesses[0].customers()), ("acme", 1));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn businesses(&self) -> Result<Vec<BusinessSummary>> {
        self.run("read", |db| Snapshot::begin(db, 0)?.businesses())
    }

    /// One business's customers per status, as [`businesses`](RedbStore::businesses) gives
    /// them, without reading the other businesses' entries (one of which may be damaged);
    /// `None` for a business that never had a customer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRequest`] for a malformed business name; [`Error::Corrupt`] when this
    /// business's entry is damaged; storage errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert_eq!(store.business("acme")?.map(|b| b.customers()), Some(1));
    /// assert_eq!(store.business("globex")?, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn business(&self, business: &str) -> Result<Option<BusinessSummary>> {
        validate::business(business)?;
        self.run("read", |db| Snapshot::begin(db, 0)?.business(business))
    }

    /// Imports customers in one transaction, all or nothing, as
    /// [`create_many`](CustomerStore::create_many) does, but keeping each item's status and
    /// timestamps where it has them (an export's lines). New ids are issued; uniqueness and
    /// every field rule hold as for a create.
    ///
    /// # Errors
    ///
    /// As [`create_many`](CustomerStore::create_many); also `invalid_request` on `updatedAt`
    /// for an item updated before it was created, and on `createdAt` or `updatedAt` for a
    /// time later than the store's clock.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{ImportCustomer, NewCustomer, RedbStore, Status};
    /// let store = RedbStore::in_memory()?;
    /// let item = ImportCustomer {
    ///     status: Some(Status::Inactive),
    ///     created_at: Some("2025-01-02T03:04:05Z".parse().unwrap()),
    ///     ..ImportCustomer::from(NewCustomer::new("yaw@example.com", "Yaw"))
    /// };
    /// let imported = store.import_many("acme", vec![item])?;
    /// assert_eq!(imported[0].status, Status::Inactive);
    /// assert_eq!(imported[0].updated_at.to_string(), "2025-01-02T03:04:05Z");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn import_many(&self, business: &str, items: Vec<ImportCustomer>) -> Result<Vec<Customer>> {
        self.insert_many(business, items, validate::import)
    }

    /// Checks `item` against the field rules as [`import_many`](RedbStore::import_many) would
    /// (at the store's clock now), without reading or writing the store: uniqueness is not
    /// checked. For sorting out the rows of a file before importing them, as
    /// `customer-store import` does.
    ///
    /// # Errors
    ///
    /// `invalid_request` naming the field that breaks a rule, as `import_many` would report it
    /// for this item.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{ImportCustomer, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let bad = ImportCustomer::from(NewCustomer::new("yaw@example.com", "Yaw").with_phone("12"));
    /// assert_eq!(store.check_import(&bad).unwrap_err().field(), Some("phone"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn check_import(&self, item: &ImportCustomer) -> Result<()> {
        validate::import(item.clone(), self.now()).map(drop)
    }

    /// Validates the items up to the first bad one and writes them all in one job, at one
    /// reading of the clock (`now`, which `check` is given too). A bad item is reported only
    /// if no item before it conflicts (within the batch or with a stored customer): the error
    /// names the first offending item, whatever rule it breaks.
    fn insert_many<T: Send>(
        &self,
        business: &str,
        items: Vec<T>,
        check: fn(T, jiff::Timestamp) -> Result<validate::ValidNew>,
    ) -> Result<Vec<Customer>> {
        validate::business(business)?;
        let now = self.now();
        let (valid, bad_item) = check_items(items, now, check);
        if valid.is_empty() {
            return bad_item.map_or(Ok(Vec::new()), Err);
        }
        let business = business.to_owned();
        // The job reads the items; once it is answered (and dropped) they move into the
        // customers returned.
        let valid = Arc::new(valid);
        let items = Arc::clone(&valid);
        let output = self.write(Box::new(move |tables| {
            ops::create(tables, &business, &items, now, true, bad_item.as_ref())
                .map(Output::Created)
        }))?;
        created(valid, output)
    }

    /// [`CustomerStore::list`] answered by reading every record of the business in order,
    /// without the status and email indexes: the reference the indexed answers are tested
    /// against. Same results, slower.
    ///
    /// # Errors
    ///
    /// As [`CustomerStore::list`].
    #[doc(hidden)]
    pub fn list_by_scan(&self, business: &str, query: &ListQuery) -> Result<Page> {
        self.list_with(business, query, false, Vec::new())
    }

    /// A list page, through the search indexes or (`indexed == false`) by a scan, decoded over
    /// the customers of `spare`.
    fn list_with(
        &self,
        business: &str,
        query: &ListQuery,
        indexed: bool,
        spare: Vec<Customer>,
    ) -> Result<Page> {
        validate::business(business)?;
        let query = validate::list_query(query)?;
        self.latest(business, Page::default(), |snapshot, handle| {
            snapshot.list(handle, &query, indexed, spare, Some(&self.inner.tails))
        })
    }

    /// Runs `op` on the database, reopening it first if an earlier I/O error closed it, and
    /// after `op` if it failed with such an error.
    ///
    /// A write held by the journal is committed first, so `op` sees every write that returned.
    fn run<T>(&self, context: &str, op: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let mut op = Some(op);
        self.settling(|unsettled| {
            self.run_with_journal(context, |db, journal| {
                self.settle(journal).inspect_err(|_| unsettled.set(true))?;
                op.take().map_or_else(|| Err(group::not_run()), |op| op(db))
            })
        })
    }

    /// Runs `attempt` once more when it failed because its settle did (it marks the cell):
    /// a writer failed with writes held (the store has now reopened, replaying them), or the
    /// commit of the held writes failed. The second attempt runs on the reopened database.
    fn settling<T>(
        &self,
        mut attempt: impl FnMut(&std::cell::Cell<bool>) -> Result<T>,
    ) -> Result<T> {
        let unsettled = std::cell::Cell::new(false);
        let result = attempt(&unsettled);
        if unsettled.get() && result.is_err() {
            return attempt(&unsettled);
        }
        result
    }

    /// [`RedbStore::run`] for `op` that reads only tables no group commit writes (API
    /// clients): a write the journal holds is left held.
    #[cfg(feature = "server")]
    fn run_unsettled<T>(
        &self,
        context: &str,
        op: impl FnOnce(&Database) -> Result<T>,
    ) -> Result<T> {
        self.run_with_journal(context, |db, _| op(db))
    }

    /// [`RedbStore::run`] for `op` that commits a write transaction of its own, outside the
    /// group commit: the journal stays locked meanwhile, so no group commit holds the write
    /// lock it waits for.
    #[cfg(feature = "server")]
    fn run_alone<T>(&self, context: &str, op: impl FnOnce(&Database) -> Result<T>) -> Result<T> {
        let mut op = Some(op);
        self.settling(|unsettled| {
            self.run_with_journal(context, |db, journal| {
                let mut journal = journal.map(parking_lot::Mutex::lock);
                if let Some(journal) = journal.as_mut() {
                    self.settle_locked(journal)
                        .inspect_err(|_| unsettled.set(true))?;
                    // `op` commits durably without a frame: the database first holds every
                    // frame durably, and the frames after `op` are of a new session.
                    journal.checkpoint(db)?;
                    journal.end_session();
                }
                op.take().map_or_else(|| Err(group::not_run()), |op| op(db))
            })
        })
    }

    /// [`RedbStore::run`], giving `op` the journal too.
    fn run_with_journal<T>(
        &self,
        context: &str,
        op: impl FnOnce(&Database, Option<&parking_lot::Mutex<Journal>>) -> Result<T>,
    ) -> Result<T> {
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
        let journal = slot.journal.as_ref();
        let (result, reopen) = match catch_unwind(AssertUnwindSafe(|| op(db, journal))) {
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
        // Close the old database first (it holds the file lock), and the snapshot kept of it.
        // The journal is left as it is on disk: the open replays what it holds.
        self.new_snapshot();
        slot.close(false);
        slot.generation += 1;
        // The file opened next is checked to be this store, but it may be an older copy of it
        // (restored while the store ran): a handle learnt from the old file is learnt again.
        self.inner.handles.write().clear();
        let db = open::open(&self.inner.source, self.inner.cache_size, false, None)?;
        let journal = open_journal(
            self.inner.journal.as_ref(),
            self.inner.journal_writes,
            &db,
            self.inner.email_index_tail,
            self.inner.journal_limit,
        );
        slot.db = Some(db);
        match journal {
            Ok(journal) => {
                slot.journal = journal.map(parking_lot::Mutex::new);
                // The open replayed (and committed) every acknowledged write.
                self.inner.unsettled.store(false, Ordering::Release);
                self.inner.tails.clear();
                let generation = self.inner.latest.lock().generation;
                let remembered = slot.db.as_ref().map_or(Ok(()), |db| {
                    remember_long_tails(
                        &self.inner.tails,
                        db,
                        self.inner.email_index_tail,
                        generation,
                    )
                });
                if remembered.is_err() {
                    // The database must be reopened again: the next call does it.
                    slot.close(false);
                }
                remembered
            }
            Err(error) => {
                // Without its journal the database must not take writes: close it again.
                slot.close(false);
                Err(error)
            }
        }
    }

    /// Runs a write job in the next group commit and returns its own result.
    fn write(&self, job: Job) -> Result<Output> {
        self.inner.writes.submit(
            job,
            |jobs| self.commit_batch(jobs),
            |pending| self.durable(pending),
        )
    }

    /// Waits until a batch's journal frames are on disk (see [`Journal::pending`]). A failed
    /// sync reopens the store (unless it reopened already), which replays what reached the
    /// disk.
    fn durable(&self, pending: PendingSync) -> Result<()> {
        pending.wait().inspect_err(|_| {
            let slot = self.inner.slot.read();
            let generation = slot.generation;
            let current = slot
                .journal
                .as_ref()
                .is_some_and(|journal| pending.is_of(&journal.lock()));
            drop(slot);
            if current {
                // A failed reopen is retried by the next call.
                let _ = self.reopen(generation);
            }
        })
    }

    /// Runs a batch of write jobs in one transaction, made durable once: by one journal frame,
    /// or (without a journal) by the commit's own fsync.
    ///
    /// With the journal, the batch runs in the transaction the journal holds, if any (see
    /// [`Journal::hold`]), and the transaction is held again afterwards rather than
    /// committed, until a read needs it ([`RedbStore::settle`]) or it has taken
    /// [`HELD_RECORDS`] writes.
    ///
    /// The batch's journal frame is written but not yet synced when this returns: its writes
    /// are acknowledged only once the returned [`journal::PendingSync`] has been waited for,
    /// which the group commit does after handing the lead to the next batch.
    fn commit_batch(&self, jobs: Vec<Job>) -> (Vec<Result<Output>>, Option<PendingSync>) {
        // Every batch waits for the frames written before its answers, its own or not: a job
        // refused on the strength of an earlier batch's write is answered only once that
        // write is durable. The wait is taken from the journal the batch ran against, under
        // its lock (a reopen may replace the journal as soon as the batch lets go of it).
        let pending = std::cell::RefCell::new(None);
        let results = group::run_batch(jobs, |body| {
            self.run_with_journal("write", |db, journal| {
                let mut journal = journal.map(parking_lot::Mutex::lock);
                let result = self.run_journaled(db, &mut journal, body);
                if let Some(journal) = &journal {
                    *pending.borrow_mut() = Some(journal.pending());
                }
                result
            })
        });
        (results, pending.into_inner())
    }

    /// One attempt of a batch's transaction, with the journal (if any) locked.
    fn run_journaled(
        &self,
        db: &Database,
        journal: &mut Option<parking_lot::MutexGuard<'_, Journal>>,
        body: &mut group::Body<'_>,
    ) -> Result<()> {
        if let Some(journal) = journal.as_mut() {
            journal.start_session(db)?;
            if journal.wants_checkpoint() {
                self.visible_commit(|| journal.checkpoint(db))?;
            }
        }
        let write_err = |e: redb::Error| open::storage_error("write", e);
        let held = journal.as_mut().and_then(|j| j.take_held());
        let was_held = held.is_some();
        // A failure after the held transaction was taken loses acknowledged writes
        // from the database in memory (the journal keeps them): reopen, replaying.
        let lost = |error: Error| {
            if was_held {
                open::force_reopen(error)
            } else {
                error
            }
        };
        let mut held = match held {
            Some(held) => held,
            None => {
                let mut txn = db.begin_write().map_err(|e| write_err(e.into()))?;
                if journal.is_some() {
                    txn.set_durability(redb::Durability::None)
                        .map_err(|e| write_err(e.into()))?;
                }
                HeldTransaction::begin(txn)?
            }
        };
        let (wrote, effects) = held
            .tables(|open| {
                let mut tables = WriteTables::new(open, self.inner.email_index_tail);
                if journal.is_some() {
                    tables.keep_effects();
                }
                tables.keep_tails(ops::Tails {
                    memory: &self.inner.tails,
                    db,
                    generation: self.inner.latest.lock().generation,
                });
                let wrote = body(&mut tables)?;
                tables.finish()?;
                Ok::<_, Error>((wrote, tables.take_effects()))
            })
            .map_err(lost)?;
        let Some(journal) = journal.as_mut() else {
            if wrote {
                self.visible_commit(|| {
                    held.into_transaction()
                        .commit()
                        .map_err(|e| open::commit_error("commit (outcome unknown)", e))
                })?;
            }
            return Ok(());
        };
        if !wrote {
            if was_held {
                journal.hold(held, 0);
            }
            return Ok(());
        }
        let Some(effects) = effects else {
            // A bulk load (more effects than a frame takes) commits durably in the
            // database instead of journaled (the frames before it on disk first).
            journal.sync().map_err(lost)?;
            let mut txn = held.into_transaction();
            txn.set_durability(redb::Durability::Immediate)
                .map_err(|e| lost(write_err(e.into())))?;
            self.visible_commit(|| {
                txn.commit()
                    .map_err(|e| lost(open::commit_error("commit (outcome unknown)", e)))
            })?;
            journal.durable_now();
            journal.released();
            journal.end_session();
            return Ok(());
        };
        // The frame is on disk before the transaction is visible to anyone.
        let lsn = journal.next_lsn();
        held.tables(|open| {
            open.main
                .meta
                .insert(tables::JOURNAL_LSN_KEY, lsn)
                .map(drop)
        })
        .map_err(|e| lost(write_err(e.into())))?;
        journal.append(lsn, &effects).map_err(lost)?;
        let records = journal::records_in(&effects);
        if journal.held_records() + records < HELD_RECORDS {
            journal.hold(held, records);
            self.inner.unsettled.store(true, Ordering::Release);
            return Ok(());
        }
        // Nothing becomes visible before its frame is on disk.
        journal.sync().map_err(lost)?;
        self.visible_commit(|| {
            held.into_transaction().commit().map_err(|e| {
                // The journal holds a frame the database may lack: the store must
                // reopen (and replay) before the next write builds on it.
                journal.poison();
                open::force_reopen(open::storage_error("commit (outcome unknown)", e))
            })
        })?;
        journal.released();
        Ok(())
    }

    /// Runs `commit`, a commit that may make writes visible, with the snapshot kept for gets
    /// dropped before and after it: landed or not (a failed commit's outcome is unknown), the
    /// kept snapshot is no longer the newest.
    fn visible_commit<T>(&self, commit: impl FnOnce() -> Result<T>) -> Result<T> {
        self.commit_begins();
        let result = commit();
        self.new_snapshot();
        result
    }

    /// Commits the transaction the journal holds, if any, so that a read sees every write
    /// that returned before it.
    fn settle(&self, journal: Option<&parking_lot::Mutex<Journal>>) -> Result<()> {
        if !self.inner.unsettled.load(Ordering::Acquire) {
            return Ok(());
        }
        match journal {
            Some(journal) => self.settle_locked(&mut journal.lock()),
            None => Ok(()),
        }
    }

    /// [`RedbStore::settle`], with the journal already locked.
    fn settle_locked(&self, journal: &mut Journal) -> Result<()> {
        if journal.holds() {
            self.visible_commit(|| journal.commit_held())?;
        } else {
            // Refuses when a failed writer lost the held transaction: the store reopens first.
            journal.commit_held()?;
        }
        // Set again only under the journal's lock, by a writer that holds a transaction.
        self.inner.unsettled.store(false, Ordering::Release);
        Ok(())
    }

    /// A commit may become visible from now on: gets stop using the kept snapshot.
    fn commit_begins(&self) {
        let mut latest = self.inner.latest.lock();
        latest.committing = true;
        latest.lookups = None;
    }

    /// Forgets the snapshot kept for gets: a commit landed (or may have).
    fn new_snapshot(&self) {
        let mut latest = self.inner.latest.lock();
        latest.generation += 1;
        latest.committing = false;
        latest.lookups = None;
        self.inner.tails.committed(latest.generation);
    }

    /// The point lookups of the newest committed snapshot, kept between calls.
    fn latest_lookups(&self, db: &Database) -> Result<Arc<Lookups>> {
        let (generation, keepable) = {
            let latest = self.inner.latest.lock();
            if let Some(lookups) = &latest.lookups {
                return Ok(lookups.clone());
            }
            (latest.generation, !latest.committing)
        };
        let lookups = Arc::new(Lookups::begin(db, generation)?);
        let mut latest = self.inner.latest.lock();
        // Kept only if no commit began or landed since the generation was read: the snapshot
        // may predate it.
        if keepable && !latest.committing && latest.generation == generation {
            latest.lookups = Some(lookups.clone());
        }
        Ok(lookups)
    }

    /// Runs a read of `business` on the newest snapshot, kept between calls, once the
    /// business's handle is known; else on a new snapshot that resolves (and caches) the
    /// handle, answering `absent` for a business that has none.
    ///
    /// The kept snapshot is as fresh as a new one: it is dropped before any commit becomes
    /// visible (see [`RedbStore::commit_begins`]).
    fn latest<T>(
        &self,
        business: &str,
        absent: T,
        op: impl FnOnce(&Snapshot, u32) -> Result<T>,
    ) -> Result<T> {
        validate::business(business)?;
        self.run("read", |db| match self.cached_handle(business) {
            Some(handle) => op(&Snapshot::of(self.latest_lookups(db)?), handle),
            None => {
                let generation = self.inner.latest.lock().generation;
                let snapshot = Snapshot::begin(db, generation)?;
                let Some(handle) = snapshot.handle(business)? else {
                    return Ok(absent);
                };
                // A committed handle never changes, so it may be kept for good.
                self.inner
                    .handles
                    .write()
                    .insert(business.to_owned(), handle);
                op(&snapshot, handle)
            }
        })
    }

    /// The handle of `business` if a committed snapshot of the database open now showed it.
    /// Read under the slot's lock (inside [`RedbStore::run`]): a reopen empties the cache
    /// under the same lock, so a handle from before it is never used on the file after it.
    fn cached_handle(&self, business: &str) -> Option<u32> {
        self.inner.handles.read().get(business).copied()
    }

    /// [`RedbStore::latest`] for a point lookup.
    fn lookup(
        &self,
        business: &str,
        op: impl FnOnce(&Lookups, u32) -> Result<Option<Customer>>,
    ) -> Result<Option<Customer>> {
        self.latest(business, None, |snapshot, handle| {
            op(snapshot.lookups(), handle)
        })
    }

    fn now(&self) -> jiff::Timestamp {
        self.inner.clock.now()
    }
}

/// Keeps in `tails` the waiting emails of the businesses whose email-index tail is long (it
/// grew long with them in memory, before the store closed), so that their email-filtered
/// pages need not read every waiting record; `generation` is the store's commit generation,
/// with no commit under way. A business that does not fit, or a read that fails, is left to
/// read its records (its next write folds its tail).
///
/// # Errors
///
/// An I/O error, after which redb refuses every call until the database is reopened.
fn remember_long_tails(
    tails: &TailMemory,
    db: &Database,
    tail_max: u64,
    generation: u64,
) -> Result<()> {
    // Counted as the emails are gathered, before `start` counts their grams.
    let mut promised = 0u64;
    let room = |waiting: u64| {
        promised = promised.saturating_add(waiting);
        tails.has_room(promised)
    };
    match guarded("open", || ops::long_tails(db, tail_max, room)) {
        Ok(long) => {
            for tail in long {
                tails.start(tail.handle, generation, tail.start, &tail.emails);
            }
            Ok(())
        }
        Err(error) if needs_reopen(&error) => Err(error),
        // A damaged page: its business's pages read their records (and report it).
        Err(_) => Ok(()),
    }
}

/// Opens the journal at `place` for the database just opened, applying what it holds. Without
/// `writes`, a journal left there is applied and removed, and none is returned (nor created).
fn open_journal(
    place: Option<&JournalPlace>,
    writes: bool,
    db: &Database,
    tail_max: u64,
    limit: u64,
) -> Result<Option<Journal>> {
    let Some(place) = place else {
        return Ok(None);
    };
    let existed = place.exists();
    if !existed {
        // A crash-left file whose journal was moved away (or opened under another name, a
        // hard link or a copy): opening it without the journal would lose acknowledged writes.
        if let JournalPlace::File(path) = place
            && guarded("open the journal", || journal::left_open(db))?
        {
            return Err(journal::missing(path));
        }
        if !writes {
            return Ok(None);
        }
    }
    let (file, unplaced) = match place {
        JournalPlace::File(path) if !existed => {
            let (file, temporary) = place.create_unplaced(path)?;
            (file, Some(temporary))
        }
        _ => (place.open()?, None),
    };
    guarded("open the journal", || {
        let mut journal = journal::recover(db, file, tail_max, limit)?;
        if let JournalPlace::File(path) = place {
            journal.set_path(path.clone(), unplaced);
        }
        if writes {
            Ok(Some(journal))
        } else {
            journal.close(db)?;
            Ok(None)
        }
    })
}

fn one(output: Output) -> Result<Customer> {
    match output {
        Output::Written(customer) | Output::Unchanged(customer) => Ok(customer),
        Output::Created(_) => Err(Error::Corrupt("a write returned new ids".to_owned())),
        Output::Removed => Err(Error::Corrupt("a write returned no record".to_owned())),
    }
}

/// The customers a create job made of `items` (its writer's copy, shared with the job), from
/// its answer. The job is dropped before it is answered, so the items move; were it not, they
/// would be copied.
fn created(items: Arc<Vec<validate::ValidNew>>, output: Output) -> Result<Vec<Customer>> {
    let Output::Created(made) = output else {
        return Err(Error::Corrupt(
            "a create returned records instead of new ids".to_owned(),
        ));
    };
    if made.len() != items.len() {
        return Err(Error::Corrupt(format!(
            "a create of {} customers made {}",
            items.len(),
            made.len()
        )));
    }
    let items = Arc::try_unwrap(items).unwrap_or_else(|shared| (*shared).clone());
    Ok(ops::created(items, &made))
}

impl CustomerStore for RedbStore {
    fn create(&self, business: &str, new: NewCustomer) -> Result<Customer> {
        validate::business(business)?;
        let valid = validate::new_customer(new)?;
        let now = self.now();
        let business = business.to_owned();
        let valid = Arc::new(vec![valid]);
        let items = Arc::clone(&valid);
        let output = self.write(Box::new(move |tables| {
            ops::create(tables, &business, &items, now, false, None).map(Output::Created)
        }))?;
        created(valid, output)?
            .pop()
            .ok_or_else(|| Error::Corrupt("create returned no record".to_owned()))
    }

    fn create_many(&self, business: &str, new: Vec<NewCustomer>) -> Result<Vec<Customer>> {
        self.insert_many(business, new, |item, _| validate::new_customer(item))
    }

    fn get(&self, business: &str, id: &str) -> Result<Option<Customer>> {
        let Some(n) = id::decode(id) else {
            validate::business(business)?;
            return Ok(None);
        };
        self.lookup(business, |lookups, handle| lookups.get(handle, n))
    }

    fn get_by_email(&self, business: &str, email: &str) -> Result<Option<Customer>> {
        self.lookup(business, |lookups, handle| lookups.by_email(handle, email))
    }

    fn get_by_external_id(&self, business: &str, external_id: &str) -> Result<Option<Customer>> {
        self.lookup(business, |lookups, handle| {
            lookups.by_external_id(handle, external_id)
        })
    }

    fn list(&self, business: &str, query: &ListQuery) -> Result<Page> {
        self.list_with(business, query, true, Vec::new())
    }

    fn list_into(&self, business: &str, query: &ListQuery, page: &mut Page) -> Result<()> {
        let spare = std::mem::take(page).items;
        *page = self.list_with(business, query, true, spare)?;
        Ok(())
    }

    fn update(&self, business: &str, id: &str, patch: CustomerPatch) -> Result<Customer> {
        validate::business(business)?;
        let patch = validate::patch(patch)?;
        let n = id::decode(id).ok_or(Error::NotFound)?;
        let now = self.now();
        let business = business.to_owned();
        let output = self.write(Box::new(move |tables| {
            ops::update(tables, &business, n, &patch, now)
        }))?;
        one(output)
    }

    fn delete(&self, business: &str, id: &str) -> Result<Customer> {
        validate::business(business)?;
        let n = id::decode(id).ok_or(Error::NotFound)?;
        let business = business.to_owned();
        let output = self.write(Box::new(move |tables| {
            ops::delete(tables, &business, n).map(Output::Written)
        }))?;
        one(output)
    }
}
