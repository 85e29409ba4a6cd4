//! Opening a database: refusing files that are not ours before redb may write to them,
//! creating the tables of a new store, and turning redb's errors into the crate's.

use std::fs::File;
use std::io::{self, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use redb::{
    Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable, TableError,
};

use super::backend::{Shared, Source};
use super::tables::{
    BUSINESS_STATES, BUSINESSES, CUSTOMERS, EMAILS, EXTERNAL_IDS, FORMAT_KEY, FORMAT_VERSION,
    FORMAT_WITH_POSTCARD_RECORDS, FORMAT_WITHOUT_JOURNAL, FORMAT_WITHOUT_SEARCH_INDEXES, GRAMS,
    META, STATUSES,
};
use super::upgrade::{self, ProgressFn};
use crate::{Error, Result};

/// The first bytes of every redb file (redb's own `MAGICNUMBER`, which it does not export).
pub(crate) const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Turns a redb error into the crate's: `Corrupted` becomes [`Error::Corrupt`], everything
/// else [`Error::Storage`] with the redb error as its source.
pub(crate) fn storage_error(context: &str, error: impl Into<redb::Error>) -> Error {
    match error.into() {
        redb::Error::Corrupted(message) => Error::Corrupt(format!("{context}: {message}")),
        redb::Error::DatabaseAlreadyOpen => Error::Storage {
            message: format!(
                "store in use: {context}: the file is held by another open store (another \
                 process, such as a running server, or another open in this one)"
            ),
            source: Some(Arc::new(redb::Error::DatabaseAlreadyOpen)),
        },
        other => Error::storage(context, other),
    }
}

/// Whether `error` came from an I/O failure after which redb refuses every call until the
/// database is reopened.
pub(crate) fn needs_reopen(error: &Error) -> bool {
    let Error::Storage {
        source: Some(source),
        ..
    } = error
    else {
        return false;
    };
    matches!(
        source.downcast_ref::<redb::Error>(),
        Some(
            redb::Error::Io(_)
                | redb::Error::PreviousIo
                | redb::Error::Backend(_)
                | redb::Error::DatabaseClosed
                | redb::Error::LockPoisoned(_)
        )
    )
}

/// `error`, marked so that the store reopens its database after it (as after an I/O error).
pub(crate) fn force_reopen(error: Error) -> Error {
    if needs_reopen(&error) {
        return error;
    }
    // The message and the cause kept as they were (the operating system's reason, say), not
    // the whole error nested in another ("storage error: storage error: …").
    let (message, cause) = match &error {
        Error::Storage { message, source } => {
            (message.clone(), source.as_ref().map(|s| s.to_string()))
        }
        other => (other.to_string(), None),
    };
    let reason = match cause {
        Some(cause) => format!("{cause}; the store reopens"),
        None => "the store reopens".to_owned(),
    };
    Error::storage(message, redb::Error::Io(io::Error::other(reason)))
}

/// A failed `commit()`. Unless the transaction was poisoned (and rolled back), redb refuses
/// every later write transaction until the database is reopened, and the commit may have
/// landed: the error is marked so that the store reopens.
pub(crate) fn commit_error(context: &str, error: redb::CommitError) -> Error {
    let poisoned = matches!(error, redb::CommitError::TransactionPoisoned);
    let error = storage_error(context, error);
    if poisoned { error } else { force_reopen(error) }
}

/// The error for a panic caught inside redb (possible on a damaged file).
pub(crate) fn panic_error(context: &str, panic: &(dyn std::any::Any + Send)) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown failure".to_owned());
    Error::Corrupt(format!("{context}: the storage engine failed: {what}"))
}

/// Runs `f`, turning a panic inside redb into an error.
pub(crate) fn guarded<T>(context: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(panic_error(context, &*panic)))
}

fn incompatible(what: impl std::fmt::Display) -> Error {
    Error::IncompatibleFormat(format!(
        "not a customer store of format {FORMAT_VERSION}: {what}"
    ))
}

/// What an open does with a redb database that has no table at all.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Empty {
    /// Makes it a new store: a backend's database, or the file `create_file` just made.
    Adopt,
    /// Refuses it: a file found at a store's path was never ours without its tables (a store
    /// is created under another name and linked into place only once they exist), so it is
    /// another program's database, or an interrupted creation of an earlier version.
    Refuse,
}

/// The refusal of a redb database without tables found at a store's path.
fn empty_database() -> Error {
    incompatible(
        "a redb database without any table, so not a customer store (another program's, or an \
         interrupted creation: if no program owns it, remove it to start a new store there)",
    )
}

/// Checks the format version in a database opened read-only. A database with no table at all
/// is taken as a new store or refused, as `empty` says.
fn check_format(db: &impl ReadableDatabase, empty: Empty) -> Result<()> {
    let txn = db.begin_read().map_err(|e| storage_error("read", e))?;
    match txn.open_table(META) {
        Ok(meta) => match meta.get(FORMAT_KEY).map_err(|e| storage_error("read", e))? {
            Some(v)
                if [
                    FORMAT_VERSION,
                    FORMAT_WITH_POSTCARD_RECORDS,
                    FORMAT_WITHOUT_JOURNAL,
                    FORMAT_WITHOUT_SEARCH_INDEXES,
                ]
                .contains(&v.value()) =>
            {
                Ok(())
            }
            Some(v) => Err(Error::IncompatibleFormat(format!(
                "the file has format version {}; this build reads version {FORMAT_VERSION}",
                v.value()
            ))),
            None => Err(incompatible("its metadata has no format version")),
        },
        Err(TableError::TableDoesNotExist(_)) => {
            let mut tables = txn.list_tables().map_err(|e| storage_error("read", e))?;
            let mut multimaps = txn
                .list_multimap_tables()
                .map_err(|e| storage_error("read", e))?;
            if tables.next().is_some() || multimaps.next().is_some() {
                Err(incompatible("a redb database of another program"))
            } else if empty == Empty::Refuse {
                Err(empty_database())
            } else {
                Ok(())
            }
        }
        Err(TableError::TableTypeMismatch { .. } | TableError::TableIsMultimap(_)) => {
            Err(incompatible("a redb database of another program"))
        }
        Err(e) => Err(storage_error("read", e)),
    }
}

/// Checks that a reopened database is a store of the current format.
fn check_current_format(db: &Database) -> Result<()> {
    let txn = db.begin_read().map_err(|e| storage_error("reopen", e))?;
    let version = match txn.open_table(META) {
        Ok(meta) => meta
            .get(FORMAT_KEY)
            .map_err(|e| storage_error("reopen", e))?
            .map(|v| v.value()),
        Err(_) => None,
    };
    if version == Some(FORMAT_VERSION) {
        Ok(())
    } else {
        Err(incompatible(
            "the file is no longer the store that was opened",
        ))
    }
}

/// Checks a read-only open. A file that needs repair after a crash cannot be opened read-only;
/// only a writable open repairs it, so its format is checked after that open (`initialise`).
fn probe_read_only(result: Result<ReadOnlyDatabase, DatabaseError>, empty: Empty) -> Result<()> {
    match result {
        Ok(db) => check_format(&db, empty),
        Err(DatabaseError::RepairAborted) => Ok(()),
        Err(DatabaseError::UpgradeRequired(v)) => {
            Err(incompatible(format!("a redb file of format {v}")))
        }
        Err(e) => Err(storage_error("open", e)),
    }
}

/// The most a file left by an interrupted creation can hold (redb's first allocation).
const SKELETON_MAX: u64 = 16 << 20;

/// Whether `bytes` are what redb leaves when a creation is cut off before it writes its magic
/// number: whole pages, no magic, nothing but zeros past the header area. Such a file holds
/// no data at all, so it is taken as a new store (an interrupted first open must not leave a
/// file that never opens again); anything else without the magic is refused untouched.
fn is_unwritten_skeleton(bytes: &[u8]) -> bool {
    const HEADER_AREA: usize = 512;
    !bytes.is_empty()
        && bytes.len().is_multiple_of(4096)
        && bytes[..REDB_MAGIC.len()].iter().all(|&b| b == 0)
        && bytes[HEADER_AREA..].iter().all(|&b| b == 0)
}

/// Looks at an existing file before redb opens it for writing: refuses one that is not a store
/// without changing a byte of it, and replaces an unwritten skeleton by a new store.
fn probe_file(path: &Path, redb: &redb::Builder) -> Result<()> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::storage(format!("open {}", path.display()), e)),
    };
    let len = file
        .metadata()
        .map_err(|e| Error::storage(format!("open {}", path.display()), e))?
        .len();
    if len == 0 {
        // Never one of ours (a new store is created under another name and linked into
        // place): a failed copy or restore, or a full disk. Taken as a new store, it would
        // serve an empty store and hide the loss.
        return Err(Error::Corrupt(
            "the file is empty (0 bytes), not a store; to start a new store there, remove it \
             first"
                .to_owned(),
        ));
    }
    let mut magic = [0u8; REDB_MAGIC.len()];
    let read = file.read_exact(&mut magic);
    drop(file);
    if read.is_ok() && magic == [0; REDB_MAGIC.len()] && len <= SKELETON_MAX {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::storage(format!("open {}", path.display()), e))?;
        if is_unwritten_skeleton(&bytes) {
            // Replaced by a new store the way one is created (under another name, linked
            // into place): a crash meanwhile leaves no file, never an empty one. A symbolic
            // link stays: the file it leads to is the one replaced.
            let file = std::fs::canonicalize(path)
                .map_err(|e| Error::storage(format!("open {}", path.display()), e))?;
            std::fs::remove_file(&file)
                .map_err(|e| Error::storage(format!("open {}", path.display()), e))?;
            // (A file that took the name meanwhile is left to redb's open and the checks
            // after it.)
            return create_file(&file, redb).map(drop);
        }
    }
    if read.is_err() || magic != REDB_MAGIC {
        return Err(incompatible(format!(
            "{} is not a redb database file",
            path.display()
        )));
    }
    guarded("open", || {
        probe_read_only(redb.open_read_only(path), Empty::Refuse)
    })
}

fn probe_backend(backend: &Shared, redb: &redb::Builder) -> Result<()> {
    let len = backend.0.len().map_err(|e| Error::storage("open", e))?;
    if len == 0 {
        return Ok(());
    }
    if len <= SKELETON_MAX {
        let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
        backend
            .0
            .read(0, &mut bytes)
            .map_err(|e| Error::storage("open", e))?;
        if is_unwritten_skeleton(&bytes) {
            return backend.0.set_len(0).map_err(|e| Error::storage("open", e));
        }
    }
    guarded("open", || {
        probe_read_only(
            redb.open_read_only_with_backend(backend.clone()),
            Empty::Adopt,
        )
    })
}

/// Writes the format version of a new store and creates every table, or checks the version of
/// an existing one.
fn initialise(db: &Database, progress: Option<&ProgressFn>, empty: Empty) -> Result<()> {
    // One table open at a time: a panic inside redb's `open_table` (on a damaged table tree)
    // poisons a lock that dropping an open table takes, and a second panic while unwinding
    // aborts the process.
    let txn = db.begin_write().map_err(|e| storage_error("open", e))?;
    let version = txn
        .open_table(META)
        .map_err(|e| storage_error("open", e))?
        .get(FORMAT_KEY)
        .map_err(|e| storage_error("open", e))?
        .map(|v| v.value());
    match version {
        Some(FORMAT_VERSION | FORMAT_WITH_POSTCARD_RECORDS) => {
            // Nothing to convert in format 3: this build reads its records as they are.
        }
        Some(FORMAT_WITHOUT_JOURNAL) => upgrade::merge_business_states(&txn)?,
        Some(FORMAT_WITHOUT_SEARCH_INDEXES) => {
            upgrade::build_search_indexes(&txn, progress)?;
            upgrade::merge_business_states(&txn)?;
        }
        Some(other) => {
            return Err(Error::IncompatibleFormat(format!(
                "the file has format version {other}; this build reads version {FORMAT_VERSION}"
            )));
        }
        None => {
            let foreign = txn
                .list_tables()
                .map_err(|e| storage_error("open", e))?
                .any(|t| redb::TableHandle::name(&t) != redb::TableHandle::name(&META))
                || txn
                    .list_multimap_tables()
                    .map_err(|e| storage_error("open", e))?
                    .next()
                    .is_some();
            if foreign {
                return Err(incompatible("a redb database of another program"));
            }
            if empty == Empty::Refuse {
                return Err(empty_database());
            }
        }
    }
    let current = version == Some(FORMAT_VERSION);
    if !current {
        txn.open_table(META)
            .map_err(|e| storage_error("open", e))?
            .insert(FORMAT_KEY, FORMAT_VERSION)
            .map_err(|e| storage_error("open", e))?;
    }
    txn.open_table(BUSINESSES)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(BUSINESS_STATES)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(CUSTOMERS)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(EMAILS)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(EXTERNAL_IDS)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(STATUSES)
        .map_err(|e| storage_error("open", e))?;
    txn.open_table(GRAMS)
        .map_err(|e| storage_error("open", e))?;
    if current {
        // A store of this format needs nothing: leave the file as it is.
        txn.abort().map_err(|e| storage_error("open", e))
    } else {
        txn.commit().map_err(|e| storage_error("open", e))
    }
}

/// Creates a new store at `path` atomically: under a temporary name beside it that is this
/// creation's alone ([`super::backend::creation_name`]), initialised and committed, then
/// linked into place (and the directory synced). A crash meanwhile leaves no file at `path`,
/// never a half-created one that would not open; the next creation removes what it left.
/// Returns whether it did: if a file appeared at `path` meanwhile, it is left as it is (an
/// open then checks it), never replaced (another process may have created the store and
/// written to it already).
fn create_file(path: &Path, redb: &redb::Builder) -> Result<bool> {
    let failed = |e: io::Error| Error::storage(format!("create {}", path.display()), e);
    if path.file_name().is_none() {
        return Err(Error::invalid(
            "path",
            format!("\"{}\" names no file", path.display()),
        ));
    }
    // A missing directory said plainly: redb's "No such file or directory" reads as if the
    // file were meant. (Any other trouble with it is the creation's own error, below.)
    let directory = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(directory) = directory
        && let Err(e) = std::fs::metadata(directory)
        && e.kind() == io::ErrorKind::NotFound
    {
        return Err(Error::storage(
            format!(
                "create {}: the directory {} does not exist",
                path.display(),
                directory.display()
            ),
            e,
        ));
    }
    // Leftovers of crashed creations are never a store (by their names): removed.
    super::backend::remove_dead_creations(path);
    let temporary = super::backend::creation_name(path);
    let context = format!("create {}", path.display());
    let created = (|| {
        // Never a file that exists: this creation's own, or none.
        let file = super::backend::create_exclusive(&temporary).map_err(failed)?;
        let db = guarded(&context, || {
            redb::backends::FileBackend::new(file)
                .and_then(|backend| redb.create_with_backend(backend))
                .map_err(|e| storage_error(&context, e))
        })?;
        guarded(&context, || initialise(&db, None, Empty::Adopt))?;
        drop(db);
        if !super::backend::name_new_file(&temporary, path).map_err(failed)? {
            return Ok(false);
        }
        super::backend::sync_directory_of(path).map_err(failed)?;
        Ok(true)
    })();
    if created.is_err() {
        // A creation that failed (a full disk, say) leaves nothing behind.
        let _ = super::backend::remove_if_present(&temporary);
    }
    created
}

/// Opens the database of `source`. On the first open of a store the file is checked before
/// redb may write to it; a reopen after an I/O error skips that check.
pub(crate) fn open(
    source: &Source,
    cache_size: usize,
    first: bool,
    progress: Option<&ProgressFn>,
) -> Result<Database> {
    open_reporting(source, cache_size, first, progress).map(|(db, _)| db)
}

/// [`open`], also telling whether this open created the store's file (a first open of a path
/// where no file was).
pub(crate) fn open_reporting(
    source: &Source,
    cache_size: usize,
    first: bool,
    progress: Option<&ProgressFn>,
) -> Result<(Database, bool)> {
    let mut redb = redb::Builder::new();
    redb.set_cache_size(cache_size);
    let mut created = false;
    if first {
        match source {
            Source::File(path) if !path.exists() => {
                created = create_file(path, &redb)?;
                if !created {
                    probe_file(path, &redb)?;
                }
            }
            Source::File(path) => probe_file(path, &redb)?,
            Source::Backend(backend) => probe_backend(&Shared(backend.clone()), &redb)?,
        };
    }
    let db = guarded("open", || {
        match source {
            // A reopen after an I/O error must find the store where it was, not a new file.
            Source::File(path) if !first => redb.open(path),
            Source::File(path) => redb.create(path),
            Source::Backend(backend) => redb.create_with_backend(Shared(backend.clone())),
        }
        .map_err(|e| storage_error("open", e))
    })?;
    if first {
        // A file at the store's path was made by `create_file` (with its tables) or found
        // there: one without tables is not adopted.
        let empty = match source {
            Source::File(_) => Empty::Refuse,
            Source::Backend(_) => Empty::Adopt,
        };
        guarded("open", || initialise(&db, progress, empty))?;
    } else {
        // The file may have been replaced since the first open: it must still be this store.
        guarded("reopen", || check_current_format(&db))?;
    }
    Ok((db, created))
}

#[cfg(test)]
mod tests {
    use super::{commit_error, is_unwritten_skeleton, needs_reopen};

    /// redb refuses every write transaction after a failed commit (unless the transaction was
    /// poisoned) until the database reopens: such a failure must reopen the store, whatever
    /// its kind (found in review: a commit that failed on a damaged page left every later
    /// write of every business failing).
    #[test]
    fn a_failed_commit_reopens_the_store() {
        let damaged = redb::CommitError::Storage(redb::StorageError::Corrupted("page".into()));
        assert!(needs_reopen(&commit_error("commit", damaged)));
        let poisoned = redb::CommitError::TransactionPoisoned;
        assert!(!needs_reopen(&commit_error("commit", poisoned)));
    }

    /// The error marked for a reopen keeps its message and cause, not nested in another
    /// ("storage error: storage error: commit"; found in review).
    #[test]
    fn a_reopening_error_keeps_its_message_and_cause() {
        let cause = |e: &crate::Error| std::error::Error::source(e).map(ToString::to_string);
        // An I/O error reopens the store as it is: its cause is the operating system's reason.
        let full = redb::CommitError::Storage(redb::StorageError::Io(
            std::io::Error::from_raw_os_error(28),
        ));
        let reason = std::io::Error::from_raw_os_error(28).to_string();
        let error = commit_error("commit", full);
        assert!(needs_reopen(&error));
        assert_eq!(error.to_string(), "storage error: commit");
        assert!(
            cause(&error).is_some_and(|c| c.contains(&reason)),
            "{error:?}"
        );
        // Any other is marked, its message kept, not nested.
        let damaged = redb::CommitError::Storage(redb::StorageError::Corrupted("page 7".into()));
        let error = commit_error("commit", damaged);
        assert!(needs_reopen(&error));
        assert_eq!(
            error.to_string(),
            "storage error: corrupt store: commit: page 7"
        );
        assert_eq!(
            cause(&error).as_deref(),
            Some("I/O error: the store reopens")
        );
        // A storage error's own cause is kept in the mark.
        let marked = super::force_reopen(crate::Error::storage(
            "sync",
            std::io::Error::other("disk gone"),
        ));
        assert_eq!(marked.to_string(), "storage error: sync");
        assert_eq!(
            cause(&marked).as_deref(),
            Some("I/O error: disk gone; the store reopens")
        );
    }

    #[test]
    fn only_an_empty_skeleton_counts_as_unwritten() {
        let mut skeleton = vec![0u8; 8192];
        skeleton[20..40].fill(7); // the header area may hold anything but the magic
        assert!(is_unwritten_skeleton(&skeleton));
        let mut data = skeleton.clone();
        data[5000] = 1;
        assert!(
            !is_unwritten_skeleton(&data),
            "a byte of data past the header area"
        );
        let mut magic = skeleton.clone();
        magic[0] = b'r';
        assert!(!is_unwritten_skeleton(&magic));
        assert!(!is_unwritten_skeleton(&skeleton[..4000]), "not whole pages");
        assert!(!is_unwritten_skeleton(&[]));
    }
}
