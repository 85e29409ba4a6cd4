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
