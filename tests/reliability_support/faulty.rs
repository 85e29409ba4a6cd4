//! A redb `StorageBackend` that fails chosen I/O calls, as redb's own fuzzer does.
//!
//! It wraps a real backend (memory or file) and forwards every method, the lock methods
//! included. Once armed, it counts the calls of the chosen kinds and fails the N-th one
//! (one-shot), or that one and every later one until disarmed (persistent, like a full disk).
//! A failed `write` can be torn: the first half of the data lands before the error.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use redb::backends::{FileBackend, InMemoryBackend};
use redb::{BackendError, StorageBackend};

/// Which calls a fault plan counts and fails.
pub mod kind {
    pub const WRITE: u8 = 1;
    pub const SET_LEN: u8 = 2;
    pub const SYNC: u8 = 4;
    pub const READ: u8 = 8;
    /// Every call that changes the storage.
    pub const MUTATING: u8 = WRITE | SET_LEN | SYNC;
}

/// When and how the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Fail the call with this index (0 = the first counted call after arming).
    pub at: u64,
    /// The kinds of call counted (see [`kind`]).
    pub kinds: u8,
    /// Keep failing every counted call from `at` on until disarmed.
    pub persistent: bool,
    /// A failed write first writes half of its data.
    pub torn: bool,
}

/// Plans whose failing call panics instead of returning an error (a stand-in for a panic
/// inside the storage engine) are armed with [`FaultyBackend::arm_panic`].
const PANIC: u8 = 0x80;

impl Plan {
    pub fn once(at: u64) -> Plan {
        Plan {
            at,
            kinds: kind::MUTATING,
            persistent: false,
            torn: false,
        }
    }
}

struct Inner {
    backend: Box<dyn StorageBackend>,
    armed: AtomicBool,
    kinds: AtomicU8,
    persistent: AtomicBool,
    torn: AtomicBool,
    at: AtomicU64,
    /// Counted calls since the last arm (or count reset).
    calls: AtomicU64,
    /// Faults injected since the backend was made.
    injected: AtomicU64,
}

/// A cloneable handle on one fault-injecting backend (clones share the bytes and the plan).
#[derive(Clone)]
pub struct FaultyBackend(Arc<Inner>);

impl fmt::Debug for FaultyBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultyBackend")
            .field("backend", &self.0.backend)
            .field("injected", &self.injected())
            .finish_non_exhaustive()
    }
}

impl FaultyBackend {
    pub fn new(backend: impl StorageBackend) -> FaultyBackend {
        FaultyBackend(Arc::new(Inner {
            backend: Box::new(backend),
            armed: AtomicBool::new(false),
            kinds: AtomicU8::new(kind::MUTATING),
            persistent: AtomicBool::new(false),
            torn: AtomicBool::new(false),
            at: AtomicU64::new(u64::MAX),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }))
    }

    pub fn in_memory() -> FaultyBackend {
        FaultyBackend::new(InMemoryBackend::new())
    }

    pub fn file(file: File) -> FaultyBackend {
        FaultyBackend::new(FileBackend::new(file).expect("a file backend"))
    }

    /// The backend as the store takes it.
    pub fn shared(&self) -> Arc<dyn StorageBackend> {
        Arc::new(self.clone())
    }

    /// Starts counting calls of `plan.kinds` from zero, failing as `plan` says.
    pub fn arm(&self, plan: Plan) {
        let i = &self.0;
        i.kinds.store(plan.kinds, Ordering::SeqCst);
        i.persistent.store(plan.persistent, Ordering::SeqCst);
        i.torn.store(plan.torn, Ordering::SeqCst);
        i.at.store(plan.at, Ordering::SeqCst);
        i.calls.store(0, Ordering::SeqCst);
        i.armed.store(true, Ordering::SeqCst);
    }

    /// Counts calls of `kinds` from zero without failing any.
    pub fn count(&self, kinds: u8) {
        self.arm(Plan {
            at: u64::MAX,
            kinds,
            persistent: false,
            torn: false,
        });
    }

    /// As [`FaultyBackend::arm`], but the failing call panics.
    pub fn arm_panic(&self, plan: Plan) {
        self.arm(Plan {
            kinds: plan.kinds | PANIC,
            ..plan
        });
    }

    /// No more faults (the call count keeps running).
    pub fn disarm(&self) {
        self.0.at.store(u64::MAX, Ordering::SeqCst);
        self.0.persistent.store(false, Ordering::SeqCst);
    }

    /// Counted calls since the last `arm` / `count`.
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::SeqCst)
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.0.injected.load(Ordering::SeqCst)
    }

    /// Counts a call of `kind`; `true` when it must fail.
    fn fails(&self, kind: u8) -> bool {
        let i = &self.0;
        if !i.armed.load(Ordering::SeqCst) || i.kinds.load(Ordering::SeqCst) & kind == 0 {
            return false;
        }
        let n = i.calls.fetch_add(1, Ordering::SeqCst);
        let at = i.at.load(Ordering::SeqCst);
        let fail = n == at || (n > at && i.persistent.load(Ordering::SeqCst));
        if fail {
            i.injected.fetch_add(1, Ordering::SeqCst);
            if i.kinds.load(Ordering::SeqCst) & PANIC != 0 {
                panic!("injected panic in the storage backend (call {n})");
            }
        }
        fail
    }

    fn fault(what: &str) -> io::Error {
        io::Error::other(format!("injected fault in {what}"))
    }
}

impl StorageBackend for FaultyBackend {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.backend.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        if self.fails(kind::READ) {
            return Err(Self::fault("read"));
        }
        self.0.backend.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        if self.fails(kind::SET_LEN) {
            return Err(Self::fault("set_len"));
        }
        self.0.backend.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.fails(kind::SYNC) {
            return Err(Self::fault("sync_data"));
        }
        self.0.backend.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.fails(kind::WRITE) {
            if self.0.torn.load(Ordering::SeqCst) {
                self.0.backend.write(offset, &data[..data.len() / 2])?;
            }
            return Err(Self::fault("write"));
        }
        self.0.backend.write(offset, data)
    }

    fn close(&self) -> Result<(), io::Error> {
        self.0.backend.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.backend.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.backend.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.backend.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.backend.query_lock_range(start, end)
    }
}
