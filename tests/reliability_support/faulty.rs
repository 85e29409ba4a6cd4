//! A redb `StorageBackend` that fails chosen I/O calls, as redb's own fuzzer does.
//!
//! It wraps a real backend (memory or file) and forwards every method, the lock methods
//! included. Once armed, it counts the calls of the chosen kinds and fails the N-th one
//! (one-shot), or that one and every later one until disarmed (persistent, like a full disk).
//! A failed `write` can be torn: the first half of the data lands before the error.
//!
//! Several backends can also [`join`](FaultyBackend::join) one [`Crash`]: a process that dies
//! at the N-th mutating call counted over all of them together, in the order the calls happen.

use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

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
    /// The crash this backend shares with others, if it joined one.
    crash: OnceLock<Crash>,
}

/// A process that dies at one mutating I/O call, counted over every backend that joined it
/// together: from that call on, no `write`, `set_len` or `sync_data` of any of them reaches
/// the storage (each fails; nothing of a failed write lands). Reads still work.
#[derive(Clone)]
pub struct Crash(Arc<CrashState>);

struct CrashState {
    /// The index of the call that dies (`u64::MAX`: none).
    at: AtomicU64,
    /// Mutating calls since the last `arm` / `count`.
    calls: AtomicU64,
    /// Calls failed since the crash was made.
    failed: AtomicU64,
}

impl Default for Crash {
    fn default() -> Self {
        Crash::new()
    }
}

impl Crash {
    pub fn new() -> Crash {
        Crash(Arc::new(CrashState {
            at: AtomicU64::new(u64::MAX),
            calls: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }))
    }

    /// Counts mutating calls from zero without failing any.
    pub fn count(&self) {
        self.arm(u64::MAX);
    }

    /// Counts mutating calls from zero; call `at` and every later one fail.
    pub fn arm(&self, at: u64) {
        self.0.at.store(at, Ordering::SeqCst);
        self.0.calls.store(0, Ordering::SeqCst);
    }

    /// Mutating calls since the last `arm` / `count`.
    pub fn calls(&self) -> u64 {
        self.0.calls.load(Ordering::SeqCst)
    }

    /// Whether the process has died (some call failed).
    pub fn crashed(&self) -> bool {
        self.0.failed.load(Ordering::SeqCst) > 0
    }

    /// Counts a mutating call; `true` when it must fail.
    fn dies(&self) -> bool {
        let n = self.0.calls.fetch_add(1, Ordering::SeqCst);
        let dead = n >= self.0.at.load(Ordering::SeqCst);
        if dead {
            self.0.failed.fetch_add(1, Ordering::SeqCst);
        }
        dead
    }
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
            crash: OnceLock::new(),
        }))
    }

    /// Makes this backend one of those `crash` counts and kills (at most one crash per
    /// backend; a second join is ignored).
    pub fn join(&self, crash: &Crash) {
        let _ = self.0.crash.set(crash.clone());
    }

    /// Whether a mutating call dies with the crash this backend joined (counting it).
    fn crashes(&self) -> bool {
        self.0.crash.get().is_some_and(Crash::dies)
    }

    pub fn in_memory() -> FaultyBackend {
        FaultyBackend::new(InMemoryBackend::new())
    }

    /// In memory, with the semantics of a file (see [`MemoryFile`]).
    pub fn memory_file() -> FaultyBackend {
        FaultyBackend::new(MemoryFile::default())
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
        if self.crashes() {
            return Err(Self::fault("set_len (crashed)"));
        }
        if self.fails(kind::SET_LEN) {
            return Err(Self::fault("set_len"));
        }
        self.0.backend.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        if self.crashes() {
            return Err(Self::fault("sync_data (crashed)"));
        }
        if self.fails(kind::SYNC) {
            return Err(Self::fault("sync_data"));
        }
        self.0.backend.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if self.crashes() {
            return Err(Self::fault("write (crashed)"));
        }
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

/// Bytes in memory that behave like a file: a write past the end extends them (zeros fill any
/// gap). The store's journal grows its file by writing zeros past the end, which redb's
/// `InMemoryBackend` refuses (it writes only within its length).
#[derive(Debug, Default)]
pub struct MemoryFile(RwLock<Vec<u8>>);

impl StorageBackend for MemoryFile {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.0.read().map_err(|_| Self::poisoned())?.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let bytes = self.0.read().map_err(|_| Self::poisoned())?;
        let start = usize::try_from(offset).map_err(|_| Self::out_of_range())?;
        let source = start
            .checked_add(out.len())
            .and_then(|end| bytes.get(start..end))
            .ok_or_else(Self::out_of_range)?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let len = usize::try_from(len).map_err(|_| Self::out_of_range())?;
        self.0.write().map_err(|_| Self::poisoned())?.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let mut bytes = self.0.write().map_err(|_| Self::poisoned())?;
        let start = usize::try_from(offset).map_err(|_| Self::out_of_range())?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(Self::out_of_range)?;
        if bytes.len() < end {
            bytes.resize(end, 0);
        }
        bytes[start..end].copy_from_slice(data);
        Ok(())
    }
}

impl MemoryFile {
    fn out_of_range() -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, "out of range")
    }

    fn poisoned() -> io::Error {
        io::Error::other("a memory file's lock is poisoned")
    }
}
