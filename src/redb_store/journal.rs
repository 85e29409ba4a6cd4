//! The journal: the store's own write-ahead log, beside the database file.
//!
//! A group commit writes what its jobs changed (the effects: records created, replaced,
//! deleted) as one frame at the journal's end and syncs it (one `fdatasync` of a small write
//! into space already allocated) before the redb transaction, committed without an fsync of
//! its own (`Durability::None`), becomes visible. The frame is written and synced outside the
//! journal's lock ([`Syncer`], on a thread of its own while frames keep coming), while the
//! next batch runs its writes; a frame is written only after every frame before it is on
//! disk. A write is acknowledged only after its frame is on disk and
//! its transaction committed or held. Every transaction also stores the number of its frame
//! (its `lsn`) in `META`, so a durable state of the database always says which frame it ends
//! with.
//!
//! The transaction need not be committed at once: it may be held for the next batch
//! ([`Journal::hold`]) until a read commits it (every read does so first, so a read still sees
//! every write that returned before it); its frames are durable, and nothing reads it before
//! it commits.
//!
//! Now and then (when the journal has grown past a limit, and when the store closes) a
//! checkpoint commits the held transaction, or an empty one, durably: the database now holds
//! every frame, and the journal starts again from its first byte, overwriting the old frames
//! (whose numbers are all at most the checkpoint's).
//!
//! On open, the frames numbered after the database's durable `lsn` are applied again, in
//! order, through the same write paths, and a checkpoint follows. Replay stops at the first
//! frame that is cut short or fails its checksum (a write that was never acknowledged), or
//! whose number is lower than its predecessor's (an older frame from before the last
//! checkpoint); a higher number than the next means frames are missing, refused unless the
//! database holds them. A damaged frame with a later frame of its session after it (found by
//! its opening bytes, whatever the damaged frame's length says) was acknowledged: the open
//! refuses rather than drop it.
//!
//! The first write after an open (or an open that replays frames) starts a session: a random
//! id, committed durably in `META` before the session's first frame. An open with nothing to
//! replay commits nothing. A replay takes only frames of the database's own session, so frames
//! of another timeline (a journal left by a later run beside an older copy of the file, or old
//! frames past the end of the newest) are never applied to it. Every frame of an earlier
//! session is held by the file (the session started with a durable commit after it), so a
//! journal that starts with a frame of another session numbered past the file's last is of a
//! later run: refused, and kept, rather than removed with the writes it holds.
//!
//! The session's start also marks the journal as in use (`JOURNAL_OPEN_KEY` in `META`), and
//! a clean close removes the mark. A file that has the mark but no journal beside it is
//! refused ([`missing`]): it was copied alone or opened under another name (a hard link), and
//! opening it would lose the journal's writes for good. An empty journal file is accepted (a
//! crash can leave one after a session's start, before its first frame): it is also how an
//! operator opens such a file without the journal on purpose. So no other empty journal may be
//! left about: an open that finds no journal creates one under a temporary name
//! (`.NAME.journal.naming`) and gives it its name, durably, only when its first session starts
//! (an open killed before its first write leaves none under the journal's name, say under the
//! other name of a hard link), and a clean close removes the journal rather than leave it
//! empty.
//!
//! Frame layout: payload length (`u32` LE), CRC-32C of the payload (`u32` LE), then the payload:
//! postcard of the store's journal id (`nonce`, random, made once and kept in `META`), the
//! session, the frame number and the effects. Records inside effects use the record encoding of `codec` (bound to business
//! handle 0 and their id number, with their own checksum).

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};
use redb::{Database, ReadableDatabase, StorageBackend, WriteTransaction};
use serde::{Deserialize, Serialize};

use super::held::{HeldTransaction, OpenTables};
use super::open::{REDB_MAGIC, commit_error, storage_error};
use super::ops::{self, WriteTables};
use super::tables::{
    JOURNAL_LSN_KEY, JOURNAL_NONCE_KEY, JOURNAL_OPEN_KEY, JOURNAL_SESSION_KEY, META,
};
use crate::{Error, Result};

/// The journal length past which the next write first checkpoints (default 64 MiB).
///
/// # Example
///
/// ```
/// use customer_store::{DEFAULT_JOURNAL_LIMIT, RedbStore};
/// assert_eq!(DEFAULT_JOURNAL_LIMIT, 64 * 1024 * 1024);
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("customers.redb");
/// let store = RedbStore::builder().journal_limit(DEFAULT_JOURNAL_LIMIT / 4).open(&path)?;
/// assert!(store.close()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const DEFAULT_JOURNAL_LIMIT: u64 = 64 << 20;

/// A group commit whose effects take more than this is committed durably in the database
/// itself instead of journaled (a bulk load: its own fsync is cheap next to its work, and the
/// pages it frees are reused at once, where deferring them to a checkpoint grows the file).
pub(crate) const DIRECT_COMMIT_BYTES: usize = 1 << 20;

/// About how many bytes `effects` take in a frame.
pub(crate) fn effects_bytes(effects: &[Effect]) -> usize {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::Created { business, records } => {
                business.len() + records.iter().map(|(_, r)| record_bytes(r)).sum::<usize>()
            }
            Effect::Replaced {
                business, record, ..
            } => business.len() + record_bytes(record),
            Effect::Deleted { business, .. } => business.len() + 12,
        })
        .sum()
}

/// How many records `effects` write (a customer created, replaced or deleted is one).
pub(crate) fn records_in(effects: &[Effect]) -> usize {
    effects
        .iter()
        .map(|effect| match effect {
            Effect::Created { records, .. } => records.len(),
            Effect::Replaced { .. } | Effect::Deleted { .. } => 1,
        })
        .sum()
}

/// About how many bytes one record (with its id number) takes in a frame.
pub(crate) fn record_bytes(record: &[u8]) -> usize {
    record.len() + 12
}

/// Bytes before each frame's payload: its length and its checksum.
const FRAME_HEADER: usize = 8;

/// The journal file grows in steps of at least this many bytes, written as zeros, so that
/// syncing a frame never has to record a new file length or allocate a block.
const GROWTH_STEP: u64 = 1 << 20;

/// What one write job changed, as the journal keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Effect {
    /// New customers of a business: (id number, record bytes) in id order.
    Created {
        business: String,
        records: Vec<(u64, Vec<u8>)>,
    },
    /// The new record of an existing customer.
    Replaced {
        business: String,
        n: u64,
        record: Vec<u8>,
    },
    /// A customer removed.
    Deleted { business: String, n: u64 },
}

#[derive(Serialize)]
struct FrameOut<'a> {
    nonce: u64,
    session: u64,
    lsn: u64,
    effects: &'a [Effect],
}

#[derive(Deserialize)]
struct FrameIn {
    nonce: u64,
    session: u64,
    lsn: u64,
    effects: Vec<Effect>,
}

fn io_error(context: &str, error: std::io::Error) -> Error {
    // As a redb I/O error, so the store reopens (and replays) after it like after any other.
    storage_error(context, redb::Error::Io(error))
}

/// The open journal of a store.
pub(crate) struct Journal {
    file: Arc<dyn StorageBackend>,
    /// Syncs the frames written, outside the journal's lock (see [`Syncer`]).
    syncer: Arc<Syncer>,
    nonce: u64,
    /// The session of this open's frames, once one is started (see [`Journal::start_session`]).
    session: Option<u64>,
    /// Whether the database's durable state marks the journal as in use (a session started,
    /// by this open or by one that did not close cleanly): a clean close removes the mark.
    marked: bool,
    /// The journal's file, removed by a clean close (see [`Journal::close`]); `None` for a
    /// journal on a backend.
    path: Option<std::path::PathBuf>,
    /// The temporary name of a journal created by this open, until its first session gives it
    /// its name (see [`Journal::start_session`]).
    unplaced: Option<std::path::PathBuf>,
    /// Where the next frame goes.
    position: u64,
    /// The file's length: bytes past `position` are old frames or zeros.
    capacity: u64,
    /// The number of the newest frame written or replayed.
    last_lsn: u64,
    /// The number of the last frame a durable commit of the database holds.
    durable_lsn: u64,
    limit: u64,
    /// Set when a frame may be on disk that the database does not hold (a failed append, or
    /// a failed commit after an append): no checkpoint or frame may follow until the store
    /// reopens and replays.
    poisoned: bool,
    /// The write transaction that holds the frames written since the database's last commit,
    /// not committed yet (see [`Journal::hold`]).
    held: Option<HeldTransaction>,
    /// How many records `held` writes (see [`records_in`]).
    held_records: usize,
    /// Set while the database may lack a frame: a writer has taken `held`
    /// ([`Journal::take_held`]), or appended a frame, and has not yet given the transaction
    /// back or committed it. If the writer fails (or panics), the database lacks those frames
    /// until the store reopens and replays them, so nothing but the writer's own append may
    /// use the journal meanwhile.
    lent: bool,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("position", &self.position)
            .field("last_lsn", &self.last_lsn)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// The number the next frame gets.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.last_lsn + 1
    }

    /// Queues frame `lsn` with `effects` at the journal's end: the syncer writes it once every
    /// frame before it is on disk, and syncs it (see [`Syncer`]). Returns once the frames
    /// before it are on disk, so that the batch holds the lead meanwhile (the writers that
    /// come back then form one batch, not two); the frame itself is synced later, outside the
    /// journal's lock ([`Journal::pending`]), so that the next batch runs while it syncs;
    /// nothing may see its writes, or hear of them, before then.
    ///
    /// # Errors
    ///
    /// A storage error (as a redb I/O error, so the store reopens and replays): the frame, or
    /// an earlier one, may or may not have reached the disk.
    pub(crate) fn append(&mut self, lsn: u64, effects: &[Effect]) -> Result<()> {
        // The writer that took the held transaction appends its frame before giving it back.
        if self.poisoned || self.syncer.failed() {
            return self.usable();
        }
        let Some(session) = self.session else {
            return Err(Error::Storage {
                message: "journal: a frame before its session was started".to_owned(),
                source: None,
            });
        };
        let mut buffer = self.syncer.spare();
        buffer.clear();
        buffer.extend_from_slice(&[0; FRAME_HEADER]);
        let frame = FrameOut {
            nonce: self.nonce,
            session,
            lsn,
            effects,
        };
        let mut buffer = postcard::to_extend(&frame, buffer)
            .map_err(|e| Error::storage("journal: encode a frame", e))?;
        let payload_len =
            u32::try_from(buffer.len() - FRAME_HEADER).map_err(|_| Error::Storage {
                message: "journal: a frame of over 4 GiB".to_owned(),
                source: None,
            })?;
        let crc = crc32c::crc32c(&buffer[FRAME_HEADER..]);
        buffer[..4].copy_from_slice(&payload_len.to_le_bytes());
        buffer[4..8].copy_from_slice(&crc.to_le_bytes());
        let end = self.position + buffer.len() as u64;
        // Poisoned until the frame is queued: a failure, or a panic, may leave the file grown
        // in part. (A failed write or sync of the frame fails the syncer.)
        self.poisoned = true;
        self.grow_to(end)?;
        self.syncer.queue(lsn, self.position, buffer)?;
        self.poisoned = false;
        self.position = end;
        self.last_lsn = lsn;
        // The database lacks this frame until its transaction is held or committed.
        self.lent = true;
        self.syncer.through(lsn.saturating_sub(1))
    }

    /// Makes every frame written so far durable (waiting for a sync under way, or syncing).
    ///
    /// # Errors
    ///
    /// A storage error that reopens the store, when this or an earlier sync failed: the
    /// journal then refuses everything until the store reopens and replays.
    pub(crate) fn sync(&self) -> Result<()> {
        self.syncer.through(self.last_lsn)
    }

    /// What makes the frames written so far durable, to be waited for outside the journal's
    /// lock: the writes of a batch are acknowledged only after [`PendingSync::wait`].
    pub(crate) fn pending(&self) -> PendingSync {
        PendingSync {
            syncer: self.syncer.clone(),
            lsn: self.last_lsn,
        }
    }

    /// Records that a durable commit of the database, made without a frame, holds every frame
    /// so far: a checkpoint happened.
    pub(crate) fn durable_now(&mut self) {
        self.durable_lsn = self.last_lsn;
        self.position = 0;
    }

    /// Ends this open's session after a durable commit made without a frame (a bulk load, an
    /// API client's write), once the database holds every frame: the next frame starts a new
    /// session, at the journal's start. A copy of the file from before that commit then meets
    /// frames of a session it never started, numbered past its own (refused by [`frames`] as
    /// a later run's), where the same session's next frames would have been applied to it
    /// without the commit's writes (found in review).
    pub(crate) fn end_session(&mut self) {
        debug_assert_eq!(self.durable_lsn, self.last_lsn);
        self.session = None;
        self.position = 0;
    }

    /// Marks the journal as holding a frame the database may lack (its commit failed).
    pub(crate) fn poison(&mut self) {
        self.poisoned = true;
    }

    /// Keeps `txn` uncommitted: its frames (`records` more written since the database's last
    /// commit) are on disk, so its writes are durable, but it is not visible yet. The next
    /// batch runs in it ([`Journal::take_held`]); a read commits it first
    /// ([`Journal::commit_held`]), as does a checkpoint.
    ///
    /// Committing a redb transaction costs about as much CPU as the writes in it; holding one
    /// across batches that no read separates makes a stream of single writes pay it once.
    pub(crate) fn hold(&mut self, txn: HeldTransaction, records: usize) {
        self.held = Some(txn);
        self.held_records += records;
        self.lent = false;
    }

    /// The held transaction, for the next batch to run in; until it is given back
    /// ([`Journal::hold`]) or committed ([`Journal::released`]), nothing else may use the
    /// journal.
    pub(crate) fn take_held(&mut self) -> Option<HeldTransaction> {
        let txn = self.held.take();
        self.lent = txn.is_some();
        txn
    }

    /// How many records the held transaction (taken or not) writes.
    pub(crate) fn held_records(&self) -> usize {
        self.held_records
    }

    /// Records that the writer committed the transaction it took.
    pub(crate) fn released(&mut self) {
        self.held_records = 0;
        self.lent = false;
    }

    /// Whether a transaction is held (and a read must commit it first).
    pub(crate) fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Commits the held transaction, if any, without an fsync: its frames are durable already.
    ///
    /// # Errors
    ///
    /// A storage error that reopens the store, when the journal is poisoned or the commit
    /// fails (the database may then lack acknowledged frames: the reopen replays them).
    pub(crate) fn commit_held(&mut self) -> Result<()> {
        self.usable()?;
        // Nothing becomes visible before its frame is on disk.
        self.sync()?;
        // Lent until the commit lands: a panic inside it leaves the journal refusing.
        if let Some(held) = self.take_held() {
            held.into_transaction().commit().map_err(|e| {
                self.poisoned = true;
                super::open::force_reopen(storage_error("commit (outcome unknown)", e))
            })?;
            self.released();
        }
        Ok(())
    }

    fn usable(&self) -> Result<()> {
        if self.poisoned || self.lent || self.syncer.failed() {
            return Err(super::open::force_reopen(Error::Storage {
                message: "journal: a frame may be ahead of the database".to_owned(),
                source: None,
            }));
        }
        Ok(())
    }

    /// Makes the file at least `end` bytes long, writing zeros.
    fn grow_to(&mut self, end: u64) -> Result<()> {
        if end <= self.capacity {
            return Ok(());
        }
        // Doubling, but not past the limit: the frame that crosses it is the last before a
        // checkpoint, so the file ends up at most one frame (and a step) longer than the limit
        // (it reached twice the limit).
        let doubled = self.capacity.saturating_mul(2).min(self.limit);
        let target = end.max(doubled).max(GROWTH_STEP);
        let target = target.div_ceil(GROWTH_STEP) * GROWTH_STEP;
        // The length first (a backend may refuse writes past its end), then real zeros, so
        // that no later sync has blocks to allocate.
        self.file
            .set_len(target)
            .map_err(|e| io_error("journal: grow", e))?;
        let zeros = vec![0u8; GROWTH_STEP as usize];
        let mut at = self.capacity;
        while at < target {
            let n = (target - at).min(GROWTH_STEP);
            self.file
                .write(at, &zeros[..n as usize])
                .map_err(|e| io_error("journal: grow", e))?;
            at += n;
        }
        self.capacity = target;
        Ok(())
    }

    /// Starts this open's session, if it has none yet: commits a new session id (and the
    /// store's journal id, if it has none yet) durably, before the session's first frame.
    ///
    /// # Errors
    ///
    /// A storage error if the commit fails (the session is then not started).
    pub(crate) fn start_session(&mut self, db: &Database) -> Result<()> {
        self.usable()?;
        if self.session.is_some() {
            return Ok(());
        }
        self.place()?;
        let session = new_id();
        let failed = |e: redb::Error| storage_error("start a journal session", e);
        let txn = db.begin_write().map_err(|e| failed(e.into()))?;
        write_session(&txn, self.nonce, session, self.last_lsn)?;
        txn.commit()
            .map_err(|e| commit_error("start a journal session", e))?;
        self.session = Some(session);
        self.marked = true;
        self.durable_lsn = self.last_lsn;
        Ok(())
    }

    /// Whether the journal has grown past its limit: the next write checkpoints first.
    pub(crate) fn wants_checkpoint(&self) -> bool {
        self.position >= self.limit
    }

    /// Commits the database durably (it then holds every frame) and starts the journal again.
    ///
    /// # Errors
    ///
    /// A storage error if the commit fails; the journal is then left as it was.
    pub(crate) fn checkpoint(&mut self, db: &Database) -> Result<()> {
        self.usable()?;
        self.sync()?;
        if self.durable_lsn == self.last_lsn {
            // Nothing since the last durable commit (and no commit to grow the file with,
            // after a compaction).
            self.position = 0;
            return Ok(());
        }
        // A held transaction becomes the checkpoint's commit. Until that lands, the journal
        // stays lent: a failure leaves the database without acknowledged writes, and the
        // store must reopen (and replay) before anything else uses it.
        let held = self.take_held();
        let was_held = held.is_some();
        let committed = (|| {
            let failed = |e: redb::Error| storage_error("checkpoint", e);
            let mut txn = match held {
                Some(held) => held.into_transaction(),
                None => db.begin_write().map_err(|e| failed(e.into()))?,
            };
            txn.set_durability(redb::Durability::Immediate)
                .map_err(|e| failed(e.into()))?;
            txn.open_table(META)
                .map_err(|e| failed(e.into()))?
                .insert(JOURNAL_LSN_KEY, self.last_lsn)
                .map_err(|e| failed(e.into()))?;
            txn.commit().map_err(|e| commit_error("checkpoint", e))
        })();
        if let Err(error) = committed {
            return Err(if was_held {
                self.poisoned = true;
                super::open::force_reopen(error)
            } else {
                error
            });
        }
        self.released();
        self.durable_lsn = self.last_lsn;
        self.position = 0;
        Ok(())
    }

    /// The journal's file, for [`Journal::close`] to remove; with `unplaced`, the file is
    /// still under that temporary name (created by this open) until the first session starts.
    pub(crate) fn set_path(
        &mut self,
        path: std::path::PathBuf,
        unplaced: Option<std::path::PathBuf>,
    ) {
        self.path = Some(path);
        self.unplaced = unplaced;
    }

    /// Gives a journal created by this open its name, durably, before a session may mark the
    /// database as needing it.
    fn place(&mut self) -> Result<()> {
        let (Some(temporary), Some(path)) = (&self.unplaced, &self.path) else {
            return Ok(());
        };
        let failed =
            |e: std::io::Error| Error::storage(format!("name the journal {}", path.display()), e);
        match std::fs::rename(temporary, path) {
            Ok(()) => {}
            // Renamed by an earlier attempt whose directory sync failed.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.exists() => {}
            Err(e) => return Err(failed(e)),
        }
        // Named only once the name is durable: until then every session start tries again.
        super::backend::sync_directory_of(path).map_err(failed)?;
        self.unplaced = None;
        Ok(())
    }

    /// Checkpoints, records that the database needs the journal no more, and removes the
    /// journal's file (a journal on a backend is emptied instead) when the store closes.
    ///
    /// Removed rather than left empty: an empty journal beside a file that was not closed
    /// cleanly is accepted (a crash can leave one), so an empty one left by a clean close
    /// under another name of the same file (a hard link) would hide the missing journal.
    pub(crate) fn close(&mut self, db: &Database) -> Result<()> {
        self.checkpoint(db)?;
        if self.marked {
            let failed = |e: redb::Error| storage_error("close the journal", e);
            let mut txn = db.begin_write().map_err(|e| failed(e.into()))?;
            txn.set_durability(redb::Durability::Immediate)
                .map_err(|e| failed(e.into()))?;
            txn.open_table(META)
                .map_err(|e| failed(e.into()))?
                .remove(JOURNAL_OPEN_KEY)
                .map_err(|e| failed(e.into()))?;
            txn.commit()
                .map_err(|e| commit_error("close the journal", e))?;
            self.marked = false;
        }
        if let Some(temporary) = self.unplaced.take() {
            // No session wrote to it (it may have been renamed, by an attempt whose directory
            // sync failed): it holds nothing, under either name.
            let _ = std::fs::remove_file(temporary);
            if let Some(path) = &self.path {
                let _ = std::fs::remove_file(path);
            }
            self.capacity = 0;
            return Ok(());
        }
        // Removed (else emptied, as on a backend); the removal made durable as far as it can be
        // (the database no longer needs the journal, so one that comes back after a crash is
        // harmless).
        if let Some(path) = &self.path
            && super::backend::remove_if_present(path).is_ok()
        {
            self.capacity = 0;
            let _ = super::backend::sync_directory_of(path);
            return Ok(());
        }
        if self.capacity > 0 {
            self.file
                .set_len(0)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| io_error("journal: close", e))?;
            self.capacity = 0;
        }
        Ok(())
    }
}

/// Writes and syncs the journal's frames, one at a time and in order, outside the journal's
/// lock: a batch queues its frame ([`Journal::append`]) and the next batch runs its writes
/// while that frame is written and synced.
///
/// A frame is written only once every frame before it is on disk (a torn frame can never have
/// an intact later one behind it). Whoever waits for a frame while no other is being written
/// writes and syncs it (a lone writer, its own frame: no thread to wake). A frame queued while
/// another is being written is written by a thread of the syncer's own as soon as that sync
/// ends: while frames keep coming, that thread writes one after the other without waiting for
/// a wake, instead of the frame's leader being woken to write it and then to sync it (each of
/// those wakes took 60-120 µs on a busy 2-core machine, a quarter of every cycle of sixteen
/// writers). If the thread cannot be started, or has stopped, the waiters do it all.
///
/// A failed write or sync is final for this open of the journal: every later sync, append,
/// commit of the held transaction and checkpoint refuses until the store reopens and replays
/// (after a failed `fdatasync`, a later one may succeed although the data was lost).
pub(crate) struct Syncer {
    file: Arc<dyn StorageBackend>,
    /// Set for good when a write or sync failed (read without the lock).
    failed: AtomicBool,
    state: Mutex<SyncState>,
    /// Told when a frame is queued or the syncer stops (its thread waits on it).
    work: Condvar,
    /// Told when a frame is on disk, or a write or sync failed (writers wait on it).
    progress: Condvar,
}

struct SyncState {
    /// Frames queued and not yet being written, oldest first.
    queue: VecDeque<QueuedFrame>,
    /// The newest frame known to be on disk.
    synced: u64,
    /// Set while a frame is being written and synced.
    busy: bool,
    /// The syncer's thread, while it runs.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set once the journal is done with the syncer: its thread writes what is queued and ends.
    stopping: bool,
    /// Set when the thread could not be started (not tried again: the waiters write).
    no_thread: bool,
    /// A written frame's buffer, for the next frame to reuse.
    spare: Vec<u8>,
    /// What failed, once a write or sync did.
    failure: Option<String>,
}

/// A frame to be written at `at` in the journal.
struct QueuedFrame {
    lsn: u64,
    at: u64,
    bytes: Vec<u8>,
}

impl Syncer {
    fn new(file: Arc<dyn StorageBackend>, lsn: u64) -> Syncer {
        Syncer {
            file,
            failed: AtomicBool::new(false),
            state: Mutex::new(SyncState {
                queue: VecDeque::new(),
                synced: lsn,
                busy: false,
                thread: None,
                stopping: false,
                no_thread: false,
                spare: Vec::new(),
                failure: None,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        }
    }

    fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// A buffer to encode the next frame in.
    fn spare(&self) -> Vec<u8> {
        std::mem::take(&mut self.state.lock().spare)
    }

    /// Queues frame `lsn`, `bytes` to be written at `at`, after every frame queued before it.
    fn queue(self: &Arc<Self>, lsn: u64, at: u64, bytes: Vec<u8>) -> Result<()> {
        let mut state = self.state.lock();
        if self.failed() {
            return Err(sync_failed(&state));
        }
        state.queue.push_back(QueuedFrame { lsn, at, bytes });
        if state.thread.is_none() && !state.stopping && !state.no_thread {
            let syncer = Arc::clone(self);
            // Without a thread, the frames are written by those who wait for them.
            state.thread = std::thread::Builder::new()
                .name("customer-store-journal".to_owned())
                .spawn(move || syncer.run())
                .ok();
            state.no_thread = state.thread.is_none();
        }
        Ok(())
    }

    /// The syncer's thread: writes and syncs queued frames until the journal is done with it.
    fn run(&self) {
        let mut state = self.state.lock();
        loop {
            if self.failed() {
                break;
            }
            if !state.queue.is_empty() && !state.busy {
                self.write_next(&mut state);
            } else if state.stopping && !state.busy {
                break;
            } else {
                self.work.wait(&mut state);
            }
        }
        state.thread = None;
        // Whoever waits now writes (or learns of the failure) itself.
        self.progress.notify_all();
    }

    /// Writes and syncs the oldest queued frame (the state unlocked meanwhile).
    fn write_next(&self, state: &mut parking_lot::MutexGuard<'_, SyncState>) {
        let Some(frame) = state.queue.pop_front() else {
            return;
        };
        state.busy = true;
        let (done, bytes) = parking_lot::MutexGuard::unlocked(state, || {
            // A panic inside the backend is a failed write or sync: its outcome is unknown.
            let done = catch_unwind(AssertUnwindSafe(|| {
                self.file
                    .write(frame.at, &frame.bytes)
                    .and_then(|()| self.file.sync_data())
            }))
            .unwrap_or_else(|_| Err(std::io::Error::other("the write or sync panicked")));
            (done, frame.bytes)
        });
        state.busy = false;
        match done {
            Ok(()) => state.synced = state.synced.max(frame.lsn),
            Err(error) => {
                self.failed.store(true, Ordering::Release);
                state.failure = Some(error.to_string());
                state.queue.clear();
            }
        }
        // A large frame (an import's batch) does not keep its buffer for the store's life.
        if bytes.capacity() <= 1 << 20 {
            state.spare = bytes;
        }
        self.progress.notify_all();
        // The next frame was queued meanwhile: the thread writes it (at once if the thread
        // wrote this one: the chain does not wait for a wake). A stopping thread that found
        // this frame being written waits for it to end before it ends.
        if !state.queue.is_empty() || state.stopping {
            self.work.notify_all();
        }
    }

    /// Returns once frame `lsn` and those before it are on disk.
    fn through(&self, lsn: u64) -> Result<()> {
        let mut state = self.state.lock();
        loop {
            if self.failed() {
                return Err(sync_failed(&state));
            }
            // Every frame written is queued: none left, none being written, all on disk.
            if state.synced >= lsn || (state.queue.is_empty() && !state.busy) {
                return Ok(());
            }
            // No frame being written: the oldest (at most `lsn`) is written here, at once.
            if !state.busy {
                self.write_next(&mut state);
            } else {
                self.progress.wait(&mut state);
            }
        }
    }

    /// Ends the syncer's thread, once it has written what is queued, and returns once every
    /// queued frame is on disk (or a write or sync failed): nothing of this journal's is
    /// written after it returns, so the file may be opened again (a reopen replays it).
    fn stop(&self) {
        let thread = {
            let mut state = self.state.lock();
            state.stopping = true;
            self.work.notify_all();
            state.thread.take()
        };
        if let Some(thread) = thread
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
        // Frames no thread wrote (none could be started) are written here, as an append wrote
        // its frame at once before the syncer: the reopen that may follow must find them. (A
        // failure is reported to those who wait for the frames.)
        let _ = self.through(u64::MAX);
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.syncer.stop();
    }
}

fn sync_failed(state: &SyncState) -> Error {
    let cause = state.failure.as_deref().unwrap_or("unknown");
    super::open::force_reopen(Error::Storage {
        message: format!("journal: a write or sync failed ({cause}); the store reopens"),
        source: None,
    })
}

/// The frames of a batch, to be made durable before the batch is answered (see
/// [`Journal::pending`]).
pub(crate) struct PendingSync {
    syncer: Arc<Syncer>,
    lsn: u64,
}

impl PendingSync {
    /// Waits until the batch's frames (and every frame before them) are on disk.
    ///
    /// # Errors
    ///
    /// A storage error that reopens the store, when a sync failed: the batch's writes may or
    /// may not have reached the disk.
    pub(crate) fn wait(&self) -> Result<()> {
        self.syncer.through(self.lsn)
    }

    /// Whether these frames are `journal`'s (not an earlier open's, replaced by a reopen).
    pub(crate) fn is_of(&self, journal: &Journal) -> bool {
        Arc::ptr_eq(&self.syncer, &journal.syncer)
    }
}

/// Writes a session's start into `META`: the store's journal id, the session, the last frame
/// the database holds, and the mark that the journal is in use until a clean close.
fn write_session(txn: &WriteTransaction, nonce: u64, session: u64, lsn: u64) -> Result<()> {
    let failed = |e: redb::Error| storage_error("start a journal session", e);
    let mut meta = txn.open_table(META).map_err(|e| failed(e.into()))?;
    for (key, value) in [
        (JOURNAL_NONCE_KEY, nonce),
        (JOURNAL_SESSION_KEY, session),
        (JOURNAL_LSN_KEY, lsn),
        (JOURNAL_OPEN_KEY, session),
    ] {
        meta.insert(key, value).map_err(|e| failed(e.into()))?;
    }
    Ok(())
}

/// A new random id (of a store's journal, of a session, or in a new file's temporary name).
pub(crate) fn new_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.finish() | 1
}

/// What `META` says of the journal in the database's durable state.
struct JournalMeta {
    /// The store's journal id, once it has one.
    nonce: Option<u64>,
    /// The session whose frames the database may lack.
    session: Option<u64>,
    /// The number of the last frame the database holds.
    lsn: u64,
    /// Whether the journal is marked as in use (see [`left_open`]).
    open: bool,
}

/// Whether the database's durable state says its journal was in use when it last closed (a
/// crash, or a copy of a running store's file): the journal may hold writes the file lacks.
///
/// # Errors
///
/// Storage errors.
pub(crate) fn left_open(db: &impl ReadableDatabase) -> Result<bool> {
    Ok(journal_meta(db)?.open)
}

/// The refusal of a store whose journal is missing while the file says it was in use.
pub(crate) fn missing(journal: &std::path::Path) -> Error {
    Error::Corrupt(format!(
        "the store file was not closed cleanly and its journal {} is missing: it holds the \
         writes acknowledged since the file's last checkpoint. Put the journal back beside the \
         file (the file's name + .journal), or, to open the store without those writes, create \
         an empty file in its place",
        journal.display()
    ))
}

fn journal_meta(db: &impl ReadableDatabase) -> Result<JournalMeta> {
    let failed = |e: redb::Error| storage_error("open the journal", e);
    let txn = db.begin_read().map_err(|e| failed(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| failed(e.into()))?;
    let get = |key| {
        meta.get(key)
            .map(|v| v.map(|v| v.value()))
            .map_err(|e| failed(e.into()))
    };
    Ok(JournalMeta {
        nonce: get(JOURNAL_NONCE_KEY)?,
        session: get(JOURNAL_SESSION_KEY)?,
        lsn: get(JOURNAL_LSN_KEY)?.unwrap_or(0),
        open: get(JOURNAL_OPEN_KEY)?.is_some(),
    })
}

/// The most a frame's payload may take. A group commit whose effects take over
/// [`DIRECT_COMMIT_BYTES`] is not journaled, so a larger length read from disk is damage, and
/// no read allocates more than this for it.
const MAX_FRAME: u64 = 64 << 20;

/// Bytes a journal is read from: the file, or a slice in tests.
trait JournalBytes {
    fn size(&self) -> u64;
    fn read_exact_at(&self, at: u64, out: &mut [u8]) -> std::io::Result<()>;
}

impl JournalBytes for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, at: u64, out: &mut [u8]) -> std::io::Result<()> {
        let range = usize::try_from(at)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(out.len())?))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(range);
        Ok(())
    }
}

/// A journal backend with its length read once.
struct OnBackend<'a>(&'a dyn StorageBackend, u64);

impl JournalBytes for OnBackend<'_> {
    fn size(&self) -> u64 {
        self.1
    }

    fn read_exact_at(&self, at: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.0.read(at, out)
    }
}

/// What a journal holds at one place.
enum Place {
    /// No frame: too few bytes for one.
    End,
    /// A zero length: unwritten space (the journal's end), or a length zeroed on disk.
    Zero,
    /// A length no frame can have (more than the cap or than the bytes left): the middle of an
    /// older frame, a torn write, or a damaged length.
    BadLength,
    /// A frame whose checksum fails.
    Damaged,
    /// A frame whose checksum holds but which does not decode.
    Undecodable,
    /// A whole frame; the next place is `next`.
    Frame { frame: FrameIn, next: u64 },
}

/// Reads the frame at `at`, allocating no more than its (capped) length.
fn read_place<B: JournalBytes + ?Sized>(bytes: &B, at: u64) -> std::io::Result<Place> {
    let size = bytes.size();
    let start = at + FRAME_HEADER as u64;
    if size < start {
        return Ok(Place::End);
    }
    let mut header = [0u8; FRAME_HEADER];
    bytes.read_exact_at(at, &mut header)?;
    let len = u64::from(u32::from_le_bytes([
        header[0], header[1], header[2], header[3],
    ]));
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 {
        return Ok(Place::Zero);
    }
    if len > MAX_FRAME || len > size - start {
        return Ok(Place::BadLength);
    }
    let mut payload = vec![0u8; usize::try_from(len).unwrap_or(0)];
    bytes.read_exact_at(start, &mut payload)?;
    let next = start + len;
    if crc32c::crc32c(&payload) != crc {
        return Ok(Place::Damaged);
    }
    Ok(match postcard::from_bytes(&payload) {
        Ok(frame) => Place::Frame { frame, next },
        Err(_) => Place::Undecodable,
    })
}

/// The frames of the journal in order, up to the first that is cut short, fails its checksum
/// or is numbered below its predecessor; frames missing in between are refused unless the
/// database holds them. Frames of another session end the sequence, but a first frame of a
/// later run than the file is refused, and so is a first frame of another store (a store
/// without a journal id yet, `None`, owns no frame). `after` is the last frame the database
/// holds.
fn frames<B: JournalBytes + ?Sized>(
    bytes: &B,
    nonce: Option<u64>,
    session: Option<u64>,
    after: u64,
) -> Result<Vec<FrameIn>> {
    let read = |at| read_place(bytes, at).map_err(|e| io_error("journal: read", e));
    // A frame's length can never read as redb's file magic (it would be over 1.6 GB), so a
    // journal that starts with it is a database put in the journal's place: refused, not
    // taken for a torn write and overwritten.
    refuse_database(bytes)?;
    let mut frames: Vec<FrameIn> = Vec::new();
    // The number of the frame before `at` (read, or skipped as damaged but already held).
    let mut previous: Option<u64> = None;
    let mut at = 0u64;
    loop {
        let (frame, next) = match read(at)? {
            Place::End => break,
            Place::Undecodable => {
                return Err(Error::Corrupt(format!(
                    "journal: the frame at byte {at} passes its checksum but does not decode"
                )));
            }
            Place::Zero | Place::Damaged | Place::BadLength => {
                // Unwritten space, or a torn last frame, was never acknowledged. But an
                // intact frame of this session numbered after this one, anywhere after it,
                // means this one was acknowledged and then damaged on disk (its length field
                // too, perhaps zeroed): skip to it if the database already holds every frame
                // in between, else refuse rather than drop the writes that follow.
                let damaged = previous.unwrap_or(after) + 1;
                let (Some(nonce), Some(session)) = (nonce, session) else {
                    break;
                };
                let Some((found_at, found)) = later_frame(bytes, at, nonce, session, damaged)
                    .map_err(|e| io_error("journal: read", e))?
                else {
                    break;
                };
                if found > damaged && found - 1 > after {
                    return Err(Error::Corrupt(format!(
                        "journal: write {damaged} is damaged and later writes follow it (to \
                         open the store without the journal's writes, move the journal away \
                         and put an empty file in its place)"
                    )));
                }
                previous = Some(found - 1);
                at = found_at;
                continue;
            }
            Place::Frame { frame, next } => (frame, next),
        };
        if Some(frame.nonce) != nonce {
            if previous.is_none() {
                return Err(foreign_journal(nonce.is_none()));
            }
            break;
        }
        if Some(frame.session) != session {
            // Frames of an earlier session are all held (a session starts with a durable
            // commit after every frame before it). A journal that starts with a frame the file
            // lacks, of a session it never started, is of a later run than the file: the file
            // is an older copy of this store (a backup restored beside the live journal).
            // Neither is applied nor dropped: refused, both kept.
            if previous.is_none() && frame.lsn > after {
                return Err(later_run(frame.lsn, after));
            }
            break;
        }
        if let Some(p) = previous
            && Some(frame.lsn) != p.checked_add(1)
        {
            // A lower number is a frame of this session from before the journal restarted at
            // its start: the end. A higher one cannot be written (frames go one after
            // another); the frames in between are gone from the file. Harmless if the database
            // holds them, else refused rather than the writes dropped.
            if frame.lsn <= p {
                break;
            }
            if frame.lsn - 1 > after {
                return Err(Error::Corrupt(format!(
                    "journal: write {} is missing and later writes follow it (to open the \
                     store without the journal's writes, move the journal away and put an \
                     empty file in its place)",
                    p.saturating_add(1)
                )));
            }
        }
        previous = Some(frame.lsn);
        frames.push(frame);
        at = next;
    }
    Ok(frames)
}

/// The refusal of a journal of a later run than the store file beside it (see [`frames`]).
fn later_run(first: u64, held: u64) -> Error {
    Error::Corrupt(format!(
        "the journal holds writes {first} and on, made after the store file was copied (of a \
         later run than the file, which ends at write {held}): the file is an older copy of \
         this store (a backup restored beside the live journal?). Put back the store file \
         this journal belongs to, or, to open the older file as it is, move the journal away \
         and put an empty file in its place"
    ))
}

/// How far past a damaged place [`later_frame`] looks: the next two frames start within it
/// even at the largest length a frame may have.
const SCAN_WINDOW: u64 = 2 * (MAX_FRAME + FRAME_HEADER as u64);

/// Bytes read at a time by [`later_frame`].
const SCAN_CHUNK: u64 = 1 << 20;

/// The first intact frame of `session` (of the store `nonce`) numbered `at_least` or more that
/// starts after `from`, within [`SCAN_WINDOW`]: its place and its number.
///
/// Frames are found by their payload's first bytes (the store's journal id and the session,
/// both random), so a damaged length that hides where the next frame starts does not hide
/// the frame. Older frames of the session (from before the last checkpoint) have lower
/// numbers and are passed over. Reads [`SCAN_CHUNK`] bytes at a time.
fn later_frame<B: JournalBytes + ?Sized>(
    bytes: &B,
    from: u64,
    nonce: u64,
    session: u64,
    at_least: u64,
) -> std::io::Result<Option<(u64, u64)>> {
    let mut pattern = Vec::with_capacity(20);
    for id in [nonce, session] {
        pattern = postcard::to_extend(&id, pattern).map_err(std::io::Error::other)?;
    }
    let header = FRAME_HEADER as u64;
    let end = bytes.size().min(from.saturating_add(SCAN_WINDOW));
    // Where the payload of a frame starting after `from` may start.
    let mut chunk_at = from + 1 + header;
    let overlap = pattern.len() as u64 - 1;
    let mut chunk = Vec::new();
    while chunk_at + overlap < end {
        let len = (end - chunk_at).min(SCAN_CHUNK + overlap);
        chunk.resize(usize::try_from(len).unwrap_or(0), 0);
        bytes.read_exact_at(chunk_at, &mut chunk)?;
        // Unwritten space (the usual end of a journal) holds no frame: every window starting
        // in it starts with a zero byte, and the pattern cannot (the journal id is odd).
        if chunk.iter().all(|&b| b == 0) {
            chunk_at += SCAN_CHUNK;
            continue;
        }
        for (i, window) in chunk.windows(pattern.len()).enumerate() {
            if window != pattern.as_slice() {
                continue;
            }
            let frame_at = chunk_at + i as u64 - header;
            if let Place::Frame { frame, .. } = read_place(bytes, frame_at)?
                && frame.nonce == nonce
                && frame.session == session
                && frame.lsn >= at_least
            {
                return Ok(Some((frame_at, frame.lsn)));
            }
        }
        chunk_at += SCAN_CHUNK;
    }
    Ok(None)
}

/// Refuses a journal of another store lying beside the store file at `db`, a journal that
/// may hold writes beside no store file, or a database in the journal's place, before the
/// database is opened for writing (or created), so that the refusal changes no byte of either
/// file.
///
/// A file that needs redb's repair after a crash cannot be read before that repair; its
/// journal is checked by [`recover`], after it.
///
/// # Errors
///
/// [`Error::IncompatibleFormat`] for another store's journal or a database; [`Error::Corrupt`]
/// for a journal that may hold writes while the store file is missing ([`orphaned`]); a storage
/// error when the journal cannot be read.
pub(crate) fn refuse_foreign(db: &std::path::Path, journal: &std::path::Path) -> Result<()> {
    if !db.exists() {
        if may_hold_writes(journal)? {
            return Err(orphaned(db, journal));
        }
        return Ok(());
    }
    let Some(first) = first_frame(journal)? else {
        return Ok(());
    };
    let Ok(database) = redb::Builder::new().open_read_only(db) else {
        // In need of repair, or not a store: the open itself decides.
        return Ok(());
    };
    let nonce = journal_meta(&database)?.nonce;
    if nonce == Some(first.nonce) {
        Ok(())
    } else {
        Err(foreign_journal(nonce.is_none()))
    }
}

/// Refuses a journal that starts with redb's file magic: a database put in the journal's
/// place, which would otherwise read as a torn first frame and be overwritten (or, beside a
/// new store, removed as a leftover). A frame's length can never read as the magic (it would
/// be over 1.6 GB, far past [`MAX_FRAME`]).
fn refuse_database<B: JournalBytes + ?Sized>(bytes: &B) -> Result<()> {
    let mut head = [0u8; REDB_MAGIC.len()];
    if bytes.size() < head.len() as u64 {
        return Ok(());
    }
    bytes
        .read_exact_at(0, &mut head)
        .map_err(|e| io_error("journal: read", e))?;
    if head == REDB_MAGIC {
        return Err(Error::IncompatibleFormat(
            "the file in the journal's place (the store file's name + .journal) is a redb \
             database, not a journal; move it away to open this store"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The journal file at `journal`, opened to be read before the store is opened (`None` when
/// there is none), with its size.
///
/// # Errors
///
/// [`Error::IncompatibleFormat`] for a database in the journal's place ([`refuse_database`]);
/// a storage error when the file cannot be opened.
fn open_journal_file(
    journal: &std::path::Path,
) -> Result<Option<(redb::backends::FileBackend, u64)>> {
    let file = match std::fs::File::open(journal) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("journal: open", e)),
    };
    let backend =
        redb::backends::FileBackend::new(file).map_err(|e| Error::storage("journal: open", e))?;
    let size = backend.len().map_err(|e| io_error("journal: open", e))?;
    refuse_database(&OnBackend(&backend, size))?;
    Ok(Some((backend, size)))
}

/// The first frame of the journal file at `journal`, if it starts with an intact one (`None`
/// when there is no file, or its start is unwritten or torn: it holds no acknowledged write).
///
/// # Errors
///
/// [`Error::IncompatibleFormat`] for a database in the journal's place; a storage error when
/// the file cannot be read.
fn first_frame(journal: &std::path::Path) -> Result<Option<FrameIn>> {
    let Some((backend, size)) = open_journal_file(journal)? else {
        return Ok(None);
    };
    let first =
        read_place(&OnBackend(&backend, size), 0).map_err(|e| io_error("journal: read", e))?;
    Ok(match first {
        Place::Frame { frame, .. } => Some(frame),
        _ => None,
    })
}

/// Whether the journal file at `journal` may hold writes: whether it has a byte that is not
/// zero. An empty journal, or one of zeros (grown, never written), holds none. Anything else
/// is kept: an intact frame, and a damaged first frame too, since intact frames may follow it
/// (a torn first write, never acknowledged, looks the same and is kept as well).
///
/// # Errors
///
/// [`Error::IncompatibleFormat`] for a database in the journal's place; a storage error when
/// the file cannot be read.
fn may_hold_writes(journal: &std::path::Path) -> Result<bool> {
    let Some((backend, size)) = open_journal_file(journal)? else {
        return Ok(false);
    };
    let bytes = OnBackend(&backend, size);
    let mut chunk = vec![0u8; usize::try_from(SCAN_CHUNK.min(size)).unwrap_or(0)];
    let mut at = 0;
    while at < size {
        let len = usize::try_from((size - at).min(SCAN_CHUNK)).unwrap_or(0);
        bytes
            .read_exact_at(at, &mut chunk[..len])
            .map_err(|e| io_error("journal: read", e))?;
        if chunk[..len].iter().any(|&b| b != 0) {
            return Ok(true);
        }
        at += SCAN_CHUNK;
    }
    Ok(false)
}

/// Removes the journal file at `journal` beside a store file this open has just created,
/// unless it may hold writes ([`may_hold_writes`]): an empty or zeroed journal never held one
/// (a leftover), but any other belongs to a store file that is missing, or that another
/// process created and wrote since this open found no file there; it is refused and kept.
///
/// # Errors
///
/// [`Error::Corrupt`] for a journal that may hold writes ([`orphaned`]);
/// [`Error::IncompatibleFormat`] for a database in the journal's place; a storage error when
/// the file cannot be read or removed.
pub(crate) fn remove_unwritten(db: &std::path::Path, journal: &std::path::Path) -> Result<()> {
    if may_hold_writes(journal)? {
        return Err(orphaned(db, journal));
    }
    super::backend::remove_if_present(journal)
        .map_err(|e| Error::storage(format!("remove the journal {}", journal.display()), e))
}

/// The refusal of a journal that may hold writes beside a missing store file: opening would
/// create a new, empty store and lose them.
fn orphaned(db: &std::path::Path, journal: &std::path::Path) -> Error {
    Error::Corrupt(format!(
        "the journal {} may hold writes but the store file {} is missing (moved, or not yet \
         restored?): put the store file back to open it with those writes, or move the \
         journal away to create a new, empty store at this path",
        journal.display(),
        db.display()
    ))
}

/// The refusal of a journal whose first frame is of another store than the file beside it.
/// A file that never had a journal (`never_journaled`) may also be a copy of the journal's own
/// store from before its first journaled write, so the message names both; either way the
/// journal holds another file's writes and must be kept.
fn foreign_journal(never_journaled: bool) -> Error {
    let whose = if never_journaled {
        "belongs to another store, or to a later run of this one (the store file has never had \
         a journal: a copy of it from before its first write, restored beside the live \
         journal?). Put back the store file the journal belongs to, or, to open this file as \
         it is,"
    } else {
        "belongs to another store. To open this file,"
    };
    Error::IncompatibleFormat(format!(
        "the journal beside the store file {whose} move the journal away (keep it: it holds \
         the writes of the store it belongs to)"
    ))
}

/// Opens the journal of a store whose database is open: applies the frames the database does
/// not hold yet, checkpoints, and returns the journal ready for new frames.
///
/// # Errors
///
/// [`Error::Corrupt`] when the journal's frames do not continue the database's (frames are
/// missing) or a frame cannot be applied; [`Error::IncompatibleFormat`] when the journal is
/// another store's; storage errors. Nothing of the database changes on an error.
pub(crate) fn recover(
    db: &Database,
    file: Arc<dyn StorageBackend>,
    tail_max: u64,
    limit: u64,
) -> Result<Journal> {
    let meta = journal_meta(db)?;
    let durable_lsn = meta.lsn;
    let len = file.len().map_err(|e| io_error("journal: open", e))?;
    let pending: Vec<FrameIn> = frames(
        &OnBackend(file.as_ref(), len),
        meta.nonce,
        meta.session,
        durable_lsn,
    )?
    .into_iter()
    .filter(|f| f.lsn > durable_lsn)
    .collect();
    if let Some(first) = pending.first()
        && first.lsn != durable_lsn + 1
    {
        return Err(Error::Corrupt(format!(
            "the journal continues from write {} but the store file ends at write \
             {durable_lsn}: writes are missing",
            first.lsn
        )));
    }
    let mut journal = Journal {
        syncer: Arc::new(Syncer::new(file.clone(), durable_lsn)),
        file,
        nonce: meta.nonce.unwrap_or_else(new_id),
        session: None,
        marked: meta.open,
        path: None,
        unplaced: None,
        position: 0,
        capacity: len,
        last_lsn: durable_lsn,
        durable_lsn,
        limit: limit.max(1),
        poisoned: false,
        held: None,
        held_records: 0,
        lent: false,
    };
    if pending.is_empty() {
        // Nothing to replay: the open writes nothing (the first write starts the session).
        return Ok(journal);
    }
    let last_lsn = pending.last().map_or(durable_lsn, |f| f.lsn);
    let session = new_id();
    // One durable commit: the replayed frames, and the new session (before its first frame).
    let txn = db.begin_write().map_err(|e| storage_error("replay", e))?;
    {
        let mut open = OpenTables::open(&txn)?;
        let mut tables = WriteTables::new(&mut open, tail_max);
        for frame in &pending {
            for effect in &frame.effects {
                ops::replay(&mut tables, effect).map_err(|e| match e {
                    // An I/O failure is not a verdict on the journal: pass it on as it is.
                    Error::Storage { .. } => e,
                    e => Error::Corrupt(format!(
                        "journal: write {} cannot be applied: {e}",
                        frame.lsn
                    )),
                })?;
            }
        }
        tables.finish()?;
    }
    write_session(&txn, journal.nonce, session, last_lsn)?;
    txn.commit().map_err(|e| storage_error("replay", e))?;
    journal.session = Some(session);
    journal.marked = true;
    journal.last_lsn = last_lsn;
    journal.durable_lsn = last_lsn;
    // The replay committed durably: nothing before it is left to sync (nor was anything queued).
    journal.syncer.stop();
    journal.syncer = Arc::new(Syncer::new(journal.file.clone(), last_lsn));
    Ok(journal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_bytes(nonce: u64, lsn: u64) -> Vec<u8> {
        frame_in_session(nonce, 1, lsn)
    }

    fn frame_in_session(nonce: u64, session: u64, lsn: u64) -> Vec<u8> {
        let effects = [Effect::Deleted {
            business: "acme".to_owned(),
            n: lsn,
        }];
        let payload = postcard::to_extend(
            &FrameOut {
                nonce,
                session,
                lsn,
                effects: &effects,
            },
            Vec::new(),
        )
        .unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// A journal of 8 GiB whose first frame claims 4 GiB: the reader allocates nothing for
    /// a length over the cap, looks for later frames a chunk at a time within its window
    /// only, and finds the journal's end.
    #[test]
    fn a_frame_length_over_the_cap_is_the_end_and_allocates_nothing() {
        struct Huge(std::cell::Cell<u64>);
        impl JournalBytes for Huge {
            fn size(&self) -> u64 {
                8 << 30
            }
            fn read_exact_at(&self, at: u64, out: &mut [u8]) -> std::io::Result<()> {
                assert!(
                    out.len() as u64 <= SCAN_CHUNK + 32,
                    "read {} at {at}",
                    out.len()
                );
                assert!(at + out.len() as u64 <= SCAN_WINDOW + 32, "read at {at}");
                self.0.set(self.0.get() + out.len() as u64);
                out.fill(0);
                if at == 0 {
                    out[..4].copy_from_slice(&[0xff; 4]);
                }
                Ok(())
            }
        }
        let huge = Huge(std::cell::Cell::new(0));
        assert!(frames(&huge, Some(7), Some(1), 0).unwrap().is_empty());
        assert!(huge.0.get() <= SCAN_WINDOW + SCAN_CHUNK);
    }

    /// A damaged length hides where the next frame starts, but not the frame: acknowledged
    /// writes after it are refused, not dropped; frames the database holds are skipped.
    #[test]
    fn a_damaged_length_does_not_hide_the_frames_after_it() {
        let journal = [frame_bytes(7, 4), frame_bytes(7, 5), frame_bytes(7, 6)].concat();
        let second = frame_bytes(7, 4).len();
        // A zeroed length reads like the journal's unwritten end (found in review: the frames
        // after it were dropped without a word).
        for damage in [
            [0xff, 0xff, 0xff, 0x7f],
            [0x01, 0, 0, 0],
            [0x30, 0, 0, 0],
            [0, 0, 0, 0],
        ] {
            let mut bytes = journal.clone();
            bytes[second..second + 4].copy_from_slice(&damage);
            assert!(
                matches!(
                    frames(&bytes[..], Some(7), Some(1), 3),
                    Err(Error::Corrupt(_))
                ),
                "{damage:?}"
            );
            let held = frames(&bytes[..], Some(7), Some(1), 5).unwrap();
            assert_eq!(held.iter().map(|f| f.lsn).collect::<Vec<_>>(), [4, 6]);
            // Two damaged in a row: the third frame still speaks for them.
            let third = second + frame_bytes(7, 5).len();
            let mut two = bytes.clone();
            two[third + FRAME_HEADER + 3] ^= 1;
            let mut three = [two.clone(), frame_bytes(7, 7)].concat();
            assert!(matches!(
                frames(&three[..], Some(7), Some(1), 3),
                Err(Error::Corrupt(_))
            ));
            let held = frames(&three[..], Some(7), Some(1), 6).unwrap();
            assert_eq!(held.iter().map(|f| f.lsn).collect::<Vec<_>>(), [4, 7]);
            // Another session's or another store's frame after the damage speaks for nothing.
            three.truncate(two.len());
            let other = [three.clone(), frame_in_session(7, 2, 7), frame_bytes(8, 7)].concat();
            let read = frames(&other[..], Some(7), Some(1), 3).unwrap();
            assert_eq!(read.iter().map(|f| f.lsn).collect::<Vec<_>>(), [4]);
        }
    }

    /// After a checkpoint the journal restarts at its first byte: the newest frames, then (cut
    /// into) the older ones. A torn newest frame ends the journal; the older frames behind it,
    /// numbered lower, are not taken for acknowledged writes.
    #[test]
    fn older_frames_behind_a_torn_one_are_not_later_writes() {
        let old = [frame_bytes(7, 1), frame_bytes(7, 2), frame_bytes(7, 3)].concat();
        let new = [frame_bytes(7, 4), frame_bytes(7, 5)].concat();
        let mut bytes = old.clone();
        bytes.extend_from_slice(&old);
        bytes[..new.len()].copy_from_slice(&new);
        let lsns = |b: &[u8], after| {
            frames(b, Some(7), Some(1), after)
                .unwrap()
                .iter()
                .map(|f| f.lsn)
                .collect::<Vec<_>>()
        };
        assert_eq!(lsns(&bytes, 3), [4, 5]);
        // Frame 5 damaged, as a torn write leaves it.
        let mut torn = bytes.clone();
        let fifth = frame_bytes(7, 4).len();
        torn[fifth + FRAME_HEADER + 4] ^= 0x40;
        assert_eq!(lsns(&torn, 3), [4]);
    }

    #[test]
    fn frames_stop_at_a_torn_a_stale_or_a_foreign_frame() {
        let mut bytes = [frame_bytes(7, 4), frame_bytes(7, 5), frame_bytes(7, 6)].concat();
        let lsns = |b: &[u8]| {
            frames(b, Some(7), Some(1), 3)
                .unwrap()
                .iter()
                .map(|f| f.lsn)
                .collect::<Vec<_>>()
        };
        assert_eq!(lsns(&bytes), [4, 5, 6]);
        // An older frame after the newest: the journal restarted there.
        let stale = [bytes.clone(), frame_bytes(7, 2)].concat();
        assert_eq!(lsns(&stale), [4, 5, 6]);
        // A torn last frame.
        let torn = &bytes[..bytes.len() - 3];
        assert_eq!(lsns(torn), [4, 5]);
        // A flipped bit in the last frame's payload: as if torn.
        let mut last_damaged = bytes.clone();
        let at = last_damaged.len() - 2;
        last_damaged[at] ^= 1;
        assert_eq!(lsns(&last_damaged), [4, 5]);
        // A flipped bit in the second frame's payload, the third intact after it: an
        // acknowledged write was damaged, and later ones follow it. Refused, not dropped.
        let second = frame_bytes(7, 4).len() + FRAME_HEADER + 2;
        bytes[second] ^= 1;
        assert!(matches!(
            frames(&bytes[..], Some(7), Some(1), 3),
            Err(Error::Corrupt(_))
        ));
        // The same damage when the database already holds frame 5 (a durable commit came
        // after it): frame 5 is skipped, the frames after it are read.
        let held = frames(&bytes[..], Some(7), Some(1), 5).unwrap();
        assert_eq!(held.iter().map(|f| f.lsn).collect::<Vec<_>>(), [4, 6]);
        // The same with the first frame damaged (the database ends at frame 3).
        let mut first_damaged = [frame_bytes(7, 4), frame_bytes(7, 5)].concat();
        first_damaged[FRAME_HEADER + 2] ^= 1;
        assert!(matches!(
            frames(&first_damaged[..], Some(7), Some(1), 3),
            Err(Error::Corrupt(_))
        ));
        // Zeros (grown, unwritten space) end the journal.
        assert_eq!(lsns(&[frame_bytes(7, 4), vec![0; 64]].concat()), [4]);
        // Another store's journal is refused, not replayed.
        assert!(matches!(
            frames(&frame_bytes(8, 1)[..], Some(7), Some(1), 0),
            Err(Error::IncompatibleFormat(_))
        ));
        assert!(matches!(
            frames(&frame_bytes(8, 1)[..], None, None, 0),
            Err(Error::IncompatibleFormat(_))
        ));
        assert!(frames(&[0u8; 100][..], None, None, 0).unwrap().is_empty());
        // Another session's frames end the sequence: an earlier session's, which the
        // database holds, at the start too.
        let other = [frame_bytes(7, 4), frame_in_session(7, 2, 5)].concat();
        assert_eq!(lsns(&other), [4]);
        assert_eq!(lsns(&frame_in_session(7, 2, 3)), Vec::<u64>::new());
        // But a first frame of another session numbered past the database's last is of a
        // later run than the file: refused, not dropped with the writes it holds.
        assert!(matches!(
            frames(&frame_in_session(7, 2, 4)[..], Some(7), Some(1), 3),
            Err(Error::Corrupt(m)) if m.contains("later run")
        ));
    }

    /// Frames go one after another, so a frame numbered past its predecessor's successor
    /// means the frames in between are gone from the file (found in review: [4][5][7] was
    /// read as the end after 5, dropping 7 without a word). Refused, unless the database
    /// holds the missing frames.
    #[test]
    fn a_gap_in_the_numbers_is_refused_unless_the_database_holds_it() {
        let bytes = [frame_bytes(7, 4), frame_bytes(7, 5), frame_bytes(7, 7)].concat();
        assert!(matches!(
            frames(&bytes[..], Some(7), Some(1), 3),
            Err(Error::Corrupt(message)) if message.contains("write 6 is missing")
        ));
        let held = frames(&bytes[..], Some(7), Some(1), 6).unwrap();
        assert_eq!(held.iter().map(|f| f.lsn).collect::<Vec<_>>(), [4, 5, 7]);
    }

    /// From a frame's append, or a take of the held transaction, until the transaction is
    /// held again or committed, the database may lack acknowledged frames: everything but the
    /// writer's own append refuses (and asks for a reopen) if the writer never comes back.
    #[test]
    fn a_taken_transaction_keeps_the_journal_refusing_until_it_is_back() {
        let source = super::super::backend::Source::Backend(Arc::new(
            redb::backends::InMemoryBackend::new(),
        ));
        let db = super::super::open::open(&source, 1 << 20, true, None).unwrap();
        let file: Arc<dyn StorageBackend> = Arc::new(redb::backends::InMemoryBackend::new());
        let mut journal = recover(&db, file, 1024, 1 << 20).unwrap();
        journal.start_session(&db).unwrap();
        let refuses = |journal: &mut Journal| {
            let refused = journal.commit_held().unwrap_err();
            assert!(super::super::open::needs_reopen(&refused), "{refused:?}");
        };

        let mut txn = db.begin_write().unwrap();
        txn.set_durability(redb::Durability::None).unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        refuses(&mut journal);
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        assert!(journal.holds());
        // Taken by a writer that appends again and gives it back.
        let txn = journal.take_held().unwrap();
        refuses(&mut journal);
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(txn, 1);
        assert_eq!(journal.held_records(), 2);
        journal.commit_held().unwrap();
        assert!(!journal.holds());
        assert_eq!(journal.held_records(), 0);

        // A writer that fails after taking it (the transaction is dropped): no read, commit
        // or checkpoint may use the database until the store reopens.
        let txn = db.begin_write().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        drop(journal.take_held());
        refuses(&mut journal);
        assert!(journal.checkpoint(&db).is_err());
        assert!(journal.start_session(&db).is_err());
    }

    /// A backend that records the order of frame writes and of finished syncs, can hold its
    /// syncs until released, and can fail its writes or syncs.
    #[derive(Debug, Default)]
    struct Recording {
        inner: redb::backends::InMemoryBackend,
        log: parking_lot::Mutex<Vec<&'static str>>,
        fail_sync: std::sync::atomic::AtomicBool,
        fail_write: std::sync::atomic::AtomicBool,
        /// While set, syncs wait.
        hold_syncs: parking_lot::Mutex<bool>,
        released: parking_lot::Condvar,
    }

    impl Recording {
        fn hold_syncs(&self, hold: bool) {
            *self.hold_syncs.lock() = hold;
            self.released.notify_all();
        }

        /// Holds syncs until the guard is dropped (also when an assertion fails meanwhile, so
        /// that a failing test fails instead of hanging).
        fn syncs_held(&self) -> impl Drop + '_ {
            struct Release<'a>(&'a Recording);
            impl Drop for Release<'_> {
                fn drop(&mut self) {
                    self.0.hold_syncs(false);
                }
            }
            self.hold_syncs(true);
            Release(self)
        }

        fn take_log(&self) -> Vec<&'static str> {
            std::mem::take(&mut *self.log.lock())
        }
    }

    impl StorageBackend for Recording {
        fn len(&self) -> std::io::Result<u64> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> std::io::Result<()> {
            let mut held = self.hold_syncs.lock();
            while *held {
                self.released.wait(&mut held);
            }
            drop(held);
            self.log.lock().push("sync");
            if self.fail_sync.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("sync refused"));
            }
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            // Zeros that grow the file are not frames.
            if data.iter().any(|&b| b != 0) {
                self.log.lock().push("frame");
                if self.fail_write.load(Ordering::SeqCst) {
                    return Err(std::io::Error::other("write refused"));
                }
            }
            self.inner.write(offset, data)
        }
    }

    fn recording_journal(db: &Database, file: &Arc<Recording>) -> Journal {
        let mut journal = recover(db, file.clone(), 1024, 1 << 20).unwrap();
        journal.start_session(db).unwrap();
        journal
    }

    fn in_memory_db() -> Database {
        let source = super::super::backend::Source::Backend(Arc::new(
            redb::backends::InMemoryBackend::new(),
        ));
        super::super::open::open(&source, 1 << 20, true, None).unwrap()
    }

    /// A frame is written only after the frames before it are on disk; a batch's frame is on
    /// disk once its pending sync has been waited for, and before anything commits it.
    fn frames_in_order(journal: &mut Journal, db: &Database, file: &Recording) {
        let log = |file: &Recording| std::mem::take(&mut *file.log.lock());
        let txn = db.begin_write().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        journal.pending().wait().unwrap();
        assert_eq!(log(file), ["frame", "sync"]);
        journal.pending().wait().unwrap();
        assert_eq!(log(file), Vec::<&str>::new(), "nothing new to sync");

        // While a frame syncs, the next append waits for that sync, and its frame is written
        // only after it.
        let held = file.syncs_held();
        let txn = journal.take_held().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(txn, 1);
        let first = journal.pending();
        let waiting = std::thread::spawn(move || first.wait());
        std::thread::scope(|s| {
            let next = s.spawn(|| {
                let txn = journal.take_held().unwrap();
                journal.append(journal.next_lsn(), &[]).unwrap();
                journal.hold(txn, 1);
            });
            std::thread::sleep(std::time::Duration::from_millis(30));
            assert!(
                !next.is_finished(),
                "the append waits for the sync before it"
            );
            assert!(!waiting.is_finished(), "the batch waits for its sync");
            drop(held);
        });
        waiting.join().unwrap().unwrap();
        journal.pending().wait().unwrap();
        assert_eq!(log(file), ["frame", "sync", "frame", "sync"]);

        // A commit of held writes syncs first when their frame is not on disk yet.
        let txn = journal.take_held().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(txn, 1);
        journal.commit_held().unwrap();
        assert_eq!(log(file), ["frame", "sync"]);
    }

    /// A failed write or sync is final: the batch waiting for it, later appends, commits and
    /// checkpoints all refuse (asking for a reopen), even once writes and syncs work again;
    /// nothing is written after the failure (`log`: what the backend saw).
    fn failures_are_final(
        mut journal: Journal,
        db: &Database,
        file: &Recording,
        flag: &AtomicBool,
        log: &[&str],
    ) {
        let txn = db.begin_write().unwrap();
        flag.store(true, Ordering::SeqCst);
        let appended = journal.append(journal.next_lsn(), &[]);
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        let failed = appended
            .and_then(|()| journal.pending().wait())
            .unwrap_err();
        assert!(super::super::open::needs_reopen(&failed), "{failed:?}");
        assert!(
            failed.to_string().contains("refused"),
            "names its cause: {failed}"
        );
        flag.store(false, Ordering::SeqCst);
        let again = journal.pending().wait().unwrap_err();
        assert!(super::super::open::needs_reopen(&again), "{again:?}");
        assert!(journal.commit_held().is_err());
        assert!(journal.checkpoint(db).is_err());
        let txn = journal.take_held().unwrap();
        assert!(journal.append(journal.next_lsn(), &[]).is_err());
        drop(txn);
        drop(journal);
        assert_eq!(file.take_log(), log, "nothing written after the failure");
    }

    #[test]
    fn frames_are_synced_in_order_and_before_any_commit() {
        let db = in_memory_db();
        let file = Arc::new(Recording::default());
        let mut journal = recording_journal(&db, &file);
        frames_in_order(&mut journal, &db, &file);
        file.take_log();
        failures_are_final(journal, &db, &file, &file.fail_sync, &["frame", "sync"]);
    }

    #[test]
    fn a_failed_frame_write_is_final() {
        let db = in_memory_db();
        let file = Arc::new(Recording::default());
        let journal = recording_journal(&db, &file);
        failures_are_final(journal, &db, &file, &file.fail_write, &["frame"]);
    }

    /// Dropping the journal (a close, or a reopen after an error) returns only once nothing
    /// of it is being written or waits to be: a frame being synced by a waiter is waited for
    /// (the syncer's thread, asleep with nothing queued and woken to stop while that sync
    /// runs, ends after it), and a frame no one waited for yet is written and synced.
    #[test]
    fn dropping_the_journal_finishes_its_frames() {
        let db = in_memory_db();
        let file = Arc::new(Recording::default());
        let mut journal = recording_journal(&db, &file);
        let txn = db.begin_write().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        journal.pending().wait().unwrap();
        assert!(journal.syncer.state.lock().thread.is_some(), "started");
        assert_eq!(file.take_log(), ["frame", "sync"]);
        // The thread, with nothing queued, goes to sleep; a frame queued now does not wake it
        // (no frame is being written), so the waiter below writes it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let held = file.syncs_held();
        let txn = journal.take_held().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(txn, 1);
        let waiting = std::thread::spawn({
            let pending = journal.pending();
            move || pending.wait()
        });
        while file.log.lock().is_empty() {
            std::thread::yield_now();
        }
        let (dropped, done) = std::sync::mpsc::channel();
        let dropping = std::thread::spawn(move || {
            drop(journal);
            dropped.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(
            !dropping.is_finished(),
            "the drop waits for the sync under way"
        );
        drop(held);
        done.recv_timeout(std::time::Duration::from_secs(10))
            .expect("the drop ends once the sync does");
        dropping.join().unwrap();
        waiting.join().unwrap().unwrap();
        assert_eq!(file.take_log(), ["frame", "sync"]);

        // Without a thread, a frame queued and not yet waited for is written by the drop.
        let mut journal = recording_journal(&db, &file);
        journal.syncer.stop();
        let txn = db.begin_write().unwrap();
        journal.append(journal.next_lsn(), &[]).unwrap();
        journal.hold(HeldTransaction::begin(txn).unwrap(), 1);
        assert_eq!(file.take_log(), Vec::<&str>::new(), "queued, not written");
        drop(journal);
        assert_eq!(file.take_log(), ["frame", "sync"]);
    }

    /// Without the syncer's thread, the writer waiting for a frame writes and syncs it, under
    /// the same rules.
    #[test]
    fn without_the_syncers_thread_waiters_write_and_sync() {
        let db = in_memory_db();
        let file = Arc::new(Recording::default());
        let mut journal = recording_journal(&db, &file);
        journal.syncer.stop();
        frames_in_order(&mut journal, &db, &file);
        assert!(journal.syncer.state.lock().thread.is_none());
        file.take_log();
        failures_are_final(journal, &db, &file, &file.fail_sync, &["frame", "sync"]);
    }
}
