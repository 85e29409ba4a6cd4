//! Where the database lives, kept so that the store can reopen it after an I/O error.

use std::fmt;
use std::io;
use std::ops::Bound;
use std::path::PathBuf;
use std::sync::Arc;

use redb::{BackendError, StorageBackend};

/// The place a store's database is opened from, and reopened from after an I/O error.
#[derive(Clone)]
pub(crate) enum Source {
    /// A file on disk.
    File(PathBuf),
    /// A backend the store keeps a handle on (memory, or a test's fault-injecting wrapper).
    Backend(Arc<dyn StorageBackend>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Backend(backend) => write!(f, "backend {backend:?}"),
        }
    }
}

/// A handle on a shared backend that redb can own, so the same bytes outlive one `Database`.
///
/// Every method is forwarded, the lock methods included (redb relies on them to keep two
/// openers of one backend apart).
#[derive(Debug, Clone)]
pub(crate) struct Shared(pub(crate) Arc<dyn StorageBackend>);

impl StorageBackend for Shared {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.0.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.0.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.query_lock_range(start, end)
    }
}

/// The journal file of the store file at `path`: the same name with `.journal` added. A
/// symbolic link is followed first: the journal lies beside the file itself, whatever name
/// the store is opened by.
pub(crate) fn journal_path(path: &std::path::Path) -> PathBuf {
    let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let path = match linked.then(|| std::fs::canonicalize(path)) {
        Some(Ok(real)) => real,
        _ => path.to_path_buf(),
    };
    with_journal_suffix(path)
}

fn with_journal_suffix(path: PathBuf) -> PathBuf {
    let mut name = path.into_os_string();
    name.push(".journal");
    PathBuf::from(name)
}

/// A journal beside a symbolic link rather than beside the file it leads to, where versions
/// before links were followed put it: it may hold acknowledged writes that the open would not
/// see, so the open refuses until it is moved.
pub(crate) fn journal_beside_link(path: &std::path::Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let beside_link = with_journal_suffix(path.to_path_buf());
    let beside_file = journal_path(path);
    if beside_link == beside_file {
        return None;
    }
    let link_journal = std::fs::metadata(&beside_link).ok()?;
    // The same file under both names (a link from one to the other) is the journal itself.
    let same = std::fs::metadata(&beside_file)
        .is_ok_and(|f| (f.dev(), f.ino()) == (link_journal.dev(), link_journal.ino()));
    (link_journal.is_file() && link_journal.len() > 0 && !same).then_some(beside_link)
}

/// A hidden name beside `path` for a file on its way there: `.NAME` and `suffix`.
pub(crate) fn hidden_beside(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(suffix);
    path.with_file_name(name)
}

/// The suffix of a new store file's temporary name, after the store's name (see
/// [`creation_name`]).
const CREATING: &str = ".creating.";

/// A temporary name for a new store file at `path` that is this creation's alone:
/// `.NAME.creating.PID-TOKEN`, the process's id and a random token (hex digits). Processes (or
/// threads) creating the same store at once never touch each other's file: each creates its
/// own (exclusively: never one that exists) and links only its own, whole, into place. (With
/// one name for all, one could remove another's file and link a half-created one: found in
/// an operator's trial.) The random token keeps apart processes that have the same id (in
/// containers sharing a volume, say).
pub(crate) fn creation_name(path: &std::path::Path) -> PathBuf {
    static CREATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CREATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = super::journal::new_id() ^ n;
    hidden_beside(path, &format!("{CREATING}{}-{token:x}", std::process::id()))
}

/// How old a creation's temporary file must be before [`remove_dead_creations`] may take it
/// for a dead one's: a creation takes well under a second, and a process in another PID
/// namespace (another container sharing the volume) may look dead to `/proc` here.
const DEAD_CREATION_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Removes the temporary files that creations of the store at `path` left when their process
/// died: `.NAME.creating.PID-TOKEN` over a minute old where no process `PID` runs (as `/proc`
/// tells; nothing is removed without it), and `.NAME.creating` of builds before
/// [`creation_name`]. Best effort: a file that cannot be removed is left, as it was (a leftover
/// whose process id was taken again stays until that process ends).
pub(crate) fn remove_dead_creations(path: &std::path::Path) {
    use std::os::unix::ffi::OsStrExt;
    let _ = remove_if_present(&hidden_beside(path, ".creating"));
    let proc = std::path::Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let prefix = hidden_beside(path, CREATING);
    let (Some(prefix), Some(directory)) = (prefix.file_name(), prefix.parent()) else {
        return;
    };
    let directory = if directory.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        directory
    };
    let Ok(entries) = std::fs::read_dir(directory) else {
        return;
    };
    let digits = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_digit);
    let hex = |b: &[u8]| !b.is_empty() && b.iter().all(u8::is_ascii_hexdigit);
    let own_pid = std::process::id().to_string();
    let old = |entry: &std::fs::DirEntry| {
        entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age >= DEAD_CREATION_AGE)
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(prefix.as_bytes()) else {
            continue;
        };
        let Some(dash) = rest.iter().position(|&b| b == b'-') else {
            continue;
        };
        let (pid, token) = (&rest[..dash], &rest[dash + 1..]);
        if !digits(pid) || !hex(token) {
            continue;
        }
        let pid = String::from_utf8_lossy(pid);
        if pid != own_pid && !proc.join(pid.as_ref()).exists() && old(&entry) {
            let _ = remove_if_present(&entry.path());
        }
    }
}

/// The file a symbolic link at `path` leads to, when that file does not exist yet (a store to
/// be created through a link, say onto another volume): the store is created there and the
/// link stays. `path` itself otherwise (a link to an existing file is opened through, as any
/// file). A chain of links is followed to its end, up to 40 of them.
pub(crate) fn through_dangling_link(path: PathBuf) -> PathBuf {
    let mut path = path;
    for _ in 0..40 {
        let linked = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if !linked || path.exists() {
            break;
        }
        let Ok(target) = std::fs::read_link(&path) else {
            break;
        };
        path = match path.parent() {
            Some(directory) if target.is_relative() => directory.join(target),
            _ => target,
        };
    }
    path
}

/// Gives the file at `temporary` the name `path` unless a file took that name meanwhile (say,
/// another process created the same store since this one found no file there), which is kept.
/// Returns whether `temporary` took the name; if not, it is removed.
///
/// A hard link never replaces a file, as a rename would. On a file system without hard links
/// (the link is refused as unsupported or not permitted) the file is renamed instead, so
/// there, a file that appeared meanwhile is replaced; any other failure is an error.
pub(crate) fn name_new_file(
    temporary: &std::path::Path,
    path: &std::path::Path,
) -> io::Result<bool> {
    match std::fs::hard_link(temporary, path) {
        Ok(()) => remove_if_present(temporary).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            remove_if_present(temporary).map(|()| false)
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
            ) =>
        {
            std::fs::rename(temporary, path).map(|()| true)
        }
        Err(e) => Err(e),
    }
}

/// Creates a new file at `path` for reading and writing, never opening one that exists.
pub(crate) fn create_exclusive(path: &std::path::Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
}

/// Removes the file at `path`, if there is one.
pub(crate) fn remove_if_present(path: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Makes a name just created in the directory of `path` durable (syncs the directory).
pub(crate) fn sync_directory_of(path: &std::path::Path) -> io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    std::fs::File::open(directory).and_then(|d| d.sync_all())
}

/// Where a store's journal lives.
#[derive(Clone)]
pub(crate) enum JournalPlace {
    /// A file beside the database file.
    File(PathBuf),
    /// A backend the store keeps a handle on (a test's fault-injecting wrapper).
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    Backend(Arc<dyn StorageBackend>),
}

impl fmt::Debug for JournalPlace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalPlace::File(path) => write!(f, "file {}", path.display()),
            JournalPlace::Backend(backend) => write!(f, "backend {backend:?}"),
        }
    }
}

impl JournalPlace {
    /// Whether a journal is there (a backend always is).
    pub(crate) fn exists(&self) -> bool {
        match self {
            JournalPlace::File(path) => path.exists(),
            JournalPlace::Backend(_) => true,
        }
    }

    /// Creates the journal of a file that has none under a temporary name beside it
    /// (`.NAME.journal.naming`, a leftover of an earlier open removed first): the journal
    /// takes its name when its first session starts ([`crate::redb_store::journal`]), so an
    /// open that ends before its first write leaves no journal, not even an empty one. Returns
    /// the journal and its temporary name.
    pub(crate) fn create_unplaced(
        &self,
        path: &std::path::Path,
    ) -> crate::Result<(Arc<dyn StorageBackend>, PathBuf)> {
        let failed = |e: io::Error| {
            crate::Error::storage(format!("create the journal {}", path.display()), e)
        };
        // Apart from the names of new store files (`.NAME.creating.PID-TOKEN`, see
        // `creation_name`), which the removal of dead creations looks for.
        let temporary = hidden_beside(path, ".naming");
        remove_if_present(&temporary).map_err(failed)?;
        let file = create_exclusive(&temporary).map_err(failed)?;
        let backend = redb::backends::FileBackend::new(file)
            .map_err(|e| crate::Error::storage("create the journal", e))?;
        Ok((Arc::new(backend), temporary))
    }

    /// Opens (or creates) the journal for reading and writing.
    pub(crate) fn open(&self) -> crate::Result<Arc<dyn StorageBackend>> {
        match self {
            JournalPlace::File(path) => {
                let failed = |e: io::Error| {
                    crate::Error::storage(format!("open the journal {}", path.display()), e)
                };
                let existed = path.exists();
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(failed)?;
                if !existed {
                    // The new name must be durable before a frame in the file is acknowledged.
                    sync_directory_of(path).map_err(failed)?;
                }
                let backend = redb::backends::FileBackend::new(file)
                    .map_err(|e| crate::Error::storage("open the journal", e))?;
                Ok(Arc::new(backend))
            }
            JournalPlace::Backend(backend) => Ok(backend.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{creation_name, name_new_file, remove_dead_creations};

    /// What crashed creations left is removed: the temporary files of processes that no longer
    /// run, a minute old or more, and the one name of earlier builds; nothing else (this
    /// process's own creations, a younger file, another store's, names that only look alike).
    #[test]
    fn dead_creations_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        // Above the largest pid Linux allows (2^22): no process has them.
        let dead = ".s.creating.99999999-0a";
        let young = ".s.creating.99999998-1";
        let own = creation_name(&path);
        let own = own.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(own.starts_with(&format!(".s.creating.{}-", std::process::id())));
        let kept = [
            own.as_str(),
            young,
            ".t.creating.99999999-0",
            ".s.creating.x-1",
            ".s.creating.99999999-",
            ".s.creating.99999999-zz",
            ".s.creating.99999999-0.creating.5-1",
            "s",
        ];
        let a_while_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for name in kept.iter().chain(&[dead, ".s.creating"]) {
            let file = std::fs::File::create(dir.path().join(name)).unwrap();
            if *name != young {
                file.set_modified(a_while_ago).unwrap();
            }
        }
        remove_dead_creations(&path);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = kept.iter().map(|&n| n.to_owned()).collect();
        want.sort();
        assert_eq!(left, want);
        assert_ne!(
            creation_name(&path),
            creation_name(&path),
            "a name per creation"
        );
    }

    /// A new store's file takes its name only if no file has it: one that appeared since the
    /// open found none (another process's new store, perhaps written already) is kept, never
    /// replaced as a rename would (found in review).
    #[test]
    fn a_new_file_never_replaces_one_that_took_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let (temporary, path) = (dir.path().join(".s.creating"), dir.path().join("s"));
        std::fs::write(&temporary, b"first").unwrap();
        assert!(name_new_file(&temporary, &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert!(!temporary.exists());

        std::fs::write(&temporary, b"second").unwrap();
        assert!(!name_new_file(&temporary, &path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"first", "replaced");
        assert!(!temporary.exists(), "the temporary file was left");

        // No temporary file (another open removed it): an error, nothing named.
        assert!(name_new_file(&temporary, &dir.path().join("t")).is_err());
        assert!(!dir.path().join("t").exists());
    }
}
