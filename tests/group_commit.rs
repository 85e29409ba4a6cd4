//! Group commit under failure: a batch whose transaction is spoiled by one job answers the
//! others from state that committed, and one business's damage never fails another's writes.
//!
//! Regression tests for three bugs found in review: a job refused against an uncommitted write
//! of its batch (an `email_taken` naming a customer that never existed, a `not_found` for one
//! that still did), every write of a batch failed by one job's own error, and a damaged record
//! waiting in the email index's tail blocking every later create of its business.
#![cfg(feature = "fault-injection")]

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, Error, ListQuery, NewCustomer, RedbStore,
};
use redb::backends::InMemoryBackend;
use redb::{BackendError, StorageBackend};

/// A memory backend whose `sync_data` can be held shut, so that writers queue behind a commit.
#[derive(Debug, Default)]
struct Gate {
    inner: InMemoryBackend,
    shut: Mutex<bool>,
    opened: Condvar,
    waiting: AtomicUsize,
    /// Every sync fails while set.
    fail: AtomicBool,
}

impl Gate {
    fn shut(&self) {
        *self.shut.lock().expect("lock") = true;
    }

    fn open(&self) {
        *self.shut.lock().expect("lock") = false;
        self.opened.notify_all();
    }
}

impl StorageBackend for Gate {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut shut = self.shut.lock().expect("lock");
        if *shut {
            self.waiting.fetch_add(1, Ordering::SeqCst);
        }
        while *shut {
            shut = self.opened.wait(shut).expect("lock");
        }
        drop(shut);
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the sync failed"));
        }
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(s, e)
    }
}

type JobResult = Result<String, Error>;
type Job = Box<dyn FnOnce(&RedbStore) -> JobResult + Send>;

/// Runs `lead`, a create whose sync the gate holds, then queues `jobs` (one thread each, in
/// order) behind it so that they share the next batch, and opens the gate. Returns the
/// leader's customer and each job's result.
fn behind_a_held_sync(
    store: &RedbStore,
    gate: &Gate,
    lead: (&'static str, &'static str),
    jobs: Vec<Job>,
) -> Result<(Customer, Vec<JobResult>), Box<dyn std::error::Error>> {
    gate.shut();
    let s = store.clone();
    let leader = std::thread::spawn(move || s.create(lead.0, NewCustomer::new(lead.1, "L")));
    while gate.waiting.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut handles = Vec::new();
    for job in jobs {
        let s = store.clone();
        handles.push(std::thread::spawn(move || job(&s)));
        std::thread::sleep(Duration::from_millis(100));
    }
    gate.open();
    let lead = leader.join().map_err(|_| "leader panicked")??;
    let results = handles
        .into_iter()
        .map(|h| h.join().expect("job thread"))
        .collect();
    Ok((lead, results))
}

#[test]
fn a_spoiled_batch_answers_every_job_from_committed_state() -> Result<(), Box<dyn std::error::Error>>
{
    // Without a journal: each batch commits (and syncs) in the database.
    let gate = Arc::new(Gate::default());
    let open = || RedbStore::builder().open_backend(gate.clone());
    spoiled_batch(&open, &gate, &gate.inner)?;
    Ok(())
}

/// As above, with a journal: the spoiled batch runs in the transaction that holds the earlier
/// batches' acknowledged writes; the store reopens (replaying them) and runs the other jobs
/// again.
#[test]
fn a_spoiled_batch_keeps_the_held_writes_before_it() -> Result<(), Box<dyn std::error::Error>> {
    // The gate holds the journal's syncs; the database is a plain backend.
    let gate = Arc::new(Gate::default());
    let db = Arc::new(InMemoryBackend::new());
    let open = || RedbStore::builder().open_backend_with_journal(db.clone(), gate.clone());
    let store = spoiled_batch(&open, &gate, &db)?;
    // Nothing was lost to the store's reopen after the spoiled batch: later writes go on.
    let before = store.list("acme", &ListQuery::default())?.items.len();
    store.create("acme", NewCustomer::new("after@x.io", "After"))?;
    assert_eq!(
        store.list("acme", &ListQuery::default())?.items.len(),
        before + 1
    );
    Ok(())
}

/// Five jobs queue behind a held commit (the gate holds the sync of the leader's write) and
/// share a batch, one of which spoils it (an update of a damaged record). Returns the store,
/// reopened once to damage the record.
fn spoiled_batch(
    open: &dyn Fn() -> Result<RedbStore, Error>,
    gate: &Gate,
    db: &InMemoryBackend,
) -> Result<RedbStore, Box<dyn std::error::Error>> {
    // A damaged record: an update of it fails with `corrupt`, an error of its own that spoils
    // the transaction it runs in. (The email index holds the email lower-cased, so only the
    // record has these bytes.) The store is closed first, so that the record is in the file.
    let damaged = {
        let store = open()?;
        store
            .create("full", NewCustomer::new("Full@Mixed.io", "F"))?
            .id
    };
    damage(db, b"Full@Mixed.io")?;
    let store = open()?;
    let victim = store.create("acme", NewCustomer::new("victim@x.io", "V"))?;
    let damaged_id = damaged.clone();

    // Hold a commit open so that the jobs below queue up behind it and share a batch.
    let (v1, v2) = (victim.id.clone(), victim.id.clone());
    let jobs: Vec<Job> = vec![
        Box::new(|s| {
            s.create("acme", NewCustomer::new("dup@x.io", "A"))
                .map(|c| c.id)
        }),
        Box::new(|s| {
            s.create("acme", NewCustomer::new("DUP@x.io", "B"))
                .map(|c| c.id)
        }),
        Box::new(move |s| s.delete("acme", &v1).map(|c| c.id)),
        Box::new(move |s| {
            s.update("acme", &v2, CustomerPatch::default().set_name("W"))
                .map(|c| c.id)
        }),
        Box::new(move |s| {
            s.update("full", &damaged, CustomerPatch::default().set_name("G"))
                .map(|c| c.id)
        }),
    ];
    let (_, results) = behind_a_held_sync(&store, gate, ("acme", "lead@x.io"), jobs)?;

    let first = results[0].clone()?;
    let dup = results[1].clone().unwrap_err();
    assert_eq!(
        dup.existing_id(),
        Some(first.as_str()),
        "names the holder that committed"
    );
    assert!(store.get("acme", &first)?.is_some());
    assert_eq!(results[2].clone()?, victim.id);
    assert!(
        results[3].clone().unwrap_err().is_not_found(),
        "the delete committed first"
    );
    assert!(store.get("acme", &victim.id)?.is_none());
    assert_eq!(
        results[4].clone().unwrap_err().code(),
        "corrupt",
        "the damaged record's update alone fails"
    );
    // lead@x.io and dup@x.io; the victim was deleted.
    let acme: Vec<String> = store
        .list("acme", &ListQuery::default())?
        .items
        .into_iter()
        .map(|c| c.email)
        .collect();
    assert_eq!(acme, ["lead@x.io", "dup@x.io"]);
    // `verify` finds the damaged record and what it throws off in its own business (#1), and
    // nothing in acme's records, indexes or counts.
    let report = store.verify().unwrap_err().to_string();
    assert!(report.contains(&damaged_id), "{report}");
    let problems = report.split_once("problem(s): ").map_or("", |(_, p)| p);
    assert!(
        !problems.is_empty() && problems.split("; ").all(|p| p.contains("business #1")),
        "{report}"
    );
    Ok(store)
}

/// Changes the first byte of the only place `needle` is stored in the database `db`.
fn damage(db: &InMemoryBackend, needle: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let len = usize::try_from(db.len()?)?;
    let mut bytes = vec![0u8; len];
    db.read(0, &mut bytes)?;
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or("record not found")?;
    db.write(u64::try_from(at)?, b"X")?;
    Ok(())
}

/// A damaged record waiting in the email index's tail stops the fold there (verify reports
/// it); later creates of its business and of others go on.
#[test]
fn a_corrupt_tail_record_does_not_block_creates() -> Result<(), Box<dyn std::error::Error>> {
    let gate = Arc::new(Gate::default());
    {
        let store = RedbStore::builder()
            .email_index_tail(4)
            .open_backend(gate.clone())?;
        store.create("acme", NewCustomer::new("Alpha@Mixed.io", "A"))?;
        store.create("acme", NewCustomer::new("Bravo@Mixed.io", "B"))?;
    }
    // Damage the record's case-kept email (the email index holds it lower-cased).
    let len = usize::try_from(gate.inner.len()?)?;
    let mut bytes = vec![0u8; len];
    gate.inner.read(0, &mut bytes)?;
    let needle = b"Bravo@Mixed.io";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or("record not found")?;
    gate.inner.write(u64::try_from(at)?, b"X")?;

    let store = RedbStore::builder()
        .email_index_tail(4)
        .open_backend(gate.clone())?;
    for i in 0..4 {
        store.create("acme", NewCustomer::new(format!("n{i}@x.io"), "N"))?;
    }
    store.create("globex", NewCustomer::new("z@x.io", "Z"))?;
    assert_eq!(store.verify().unwrap_err().code(), "corrupt");
    Ok(())
}

/// A batch runs while the frame of the batch before it syncs, on top of its writes, but is
/// answered only once that frame is on disk: a create refused because an earlier create took
/// its email is not told so before that create is durable, and is told of a failure instead
/// when the sync fails.
#[test]
fn a_refusal_behind_a_pending_sync_waits_for_it() -> Result<(), Box<dyn std::error::Error>> {
    for fails in [false, true] {
        let gate = Arc::new(Gate::default());
        let store = RedbStore::builder()
            .open_backend_with_journal(Arc::new(InMemoryBackend::new()), gate.clone())?;
        store.create("acme", NewCustomer::new("first@x.io", "F"))?;

        gate.shut();
        let s = store.clone();
        let taker = std::thread::spawn(move || s.create("acme", NewCustomer::new("dup@x.io", "A")));
        while gate.waiting.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
        let s = store.clone();
        let refused =
            std::thread::spawn(move || s.create("acme", NewCustomer::new("DUP@x.io", "B")));
        std::thread::sleep(Duration::from_millis(200));
        assert!(!taker.is_finished(), "answered before its frame is on disk");
        assert!(
            !refused.is_finished(),
            "refused before the taker's frame is on disk"
        );

        gate.fail.store(fails, Ordering::SeqCst);
        gate.open();
        let taker = taker.join().map_err(|_| "taker panicked")?;
        let refused = refused.join().map_err(|_| "refused panicked")?;
        gate.fail.store(false, Ordering::SeqCst);
        if fails {
            assert!(taker.unwrap_err().is_storage());
            assert!(refused.unwrap_err().is_storage(), "not a refusal");
        } else {
            let taker = taker?;
            let refused = refused.unwrap_err();
            assert_eq!(refused.code(), "email_taken");
            assert_eq!(refused.existing_id(), Some(taker.id.as_str()));
        }
        // The store recovers (reopening after the failed sync) and goes on.
        store.create("acme", NewCustomer::new("after@x.io", "After"))?;
        assert!(store.get_by_email("acme", "after@x.io")?.is_some());
        assert!(store.get_by_email("acme", "first@x.io")?.is_some());
    }
    Ok(())
}

/// A job that has already written when it spoils its batch (a delete that removed its index
/// entries before finding its business's tail miscounted) leaves no trace: the batch ran in
/// the transaction that holds earlier acknowledged writes, so the store reopens, replaying
/// them, and runs the other jobs again without it. The deleted customer is whole afterwards,
/// its email, externalId and status entries included, and every acknowledged write is there,
/// in the running store and after it is closed and opened again (the database file, and the
/// journal in the gate's memory).
#[test]
fn a_job_that_wrote_before_spoiling_its_batch_leaves_no_trace()
-> Result<(), Box<dyn std::error::Error>> {
    use redb::{ReadableTable, TableDefinition};
    const BUSINESSES: TableDefinition<&str, (u32, u32)> = TableDefinition::new("businesses_v2");
    const STATES: TableDefinition<u32, [u64; 6]> = TableDefinition::new("business_states_v1");

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let gate = Arc::new(Gate::default());
    let open = |path: &std::path::Path| -> Result<RedbStore, Box<dyn std::error::Error>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(RedbStore::builder().open_backend_with_journal(
            Arc::new(redb::backends::FileBackend::new(file)?),
            gate.clone(),
        )?)
    };
    let victim = {
        let store = open(&path)?;
        store.create("acme", NewCustomer::new("keep@x.io", "K"))?;
        store.create(
            "acme",
            NewCustomer::new("victim@x.io", "V").with_external_id("ext-v"),
        )?
    };
    // Miscount the tail: the victim waits in it, but its business's state says none does.
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let handle = txn
                .open_table(BUSINESSES)?
                .get("acme")?
                .ok_or("acme has no handle")?
                .value()
                .0;
            let mut states = txn.open_table(STATES)?;
            let mut state = states.get(handle)?.ok_or("acme has no state")?.value();
            assert_eq!(state[2], 2, "both customers wait in the tail");
            state[2] = 0;
            states.insert(handle, state)?;
        }
        txn.commit()?;
    }

    let store = open(&path)?;
    // Acknowledged, and held in the transaction the spoiled batch will run in. The other
    // writes are to other businesses: a create in acme would make the miscount good again.
    let held = store.create("globex", NewCustomer::new("held@x.io", "H"))?;

    let v = victim.id.clone();
    let jobs: Vec<Job> = vec![
        Box::new(|s| {
            s.create("globex", NewCustomer::new("a@x.io", "A"))
                .map(|c| c.id)
        }),
        Box::new(move |s| s.delete("acme", &v).map(|c| c.id)),
        Box::new(|s| {
            s.create("initech", NewCustomer::new("b@x.io", "B"))
                .map(|c| c.id)
        }),
    ];
    let (lead, results) = behind_a_held_sync(&store, &gate, ("globex", "lead@x.io"), jobs)?;
    let a = results[0].clone()?;
    assert_eq!(results[1].clone().unwrap_err().code(), "corrupt");
    let b = results[2].clone()?;

    let check = |store: &RedbStore| -> Result<(), Box<dyn std::error::Error>> {
        for (business, id) in [
            ("globex", &held.id),
            ("globex", &lead.id),
            ("globex", &a),
            ("initech", &b),
        ] {
            assert!(
                store.get(business, id)?.is_some(),
                "{business} {id} was acknowledged"
            );
        }
        // The delete's removals of the victim's index entries were undone with it.
        assert_eq!(store.get("acme", &victim.id)?, Some(victim.clone()));
        let by_email = store
            .get_by_email("acme", "victim@x.io")?
            .ok_or("email entry lost")?;
        assert_eq!(by_email.id, victim.id);
        let by_external = store
            .get_by_external_id("acme", "ext-v")?
            .ok_or("externalId entry lost")?;
        assert_eq!(by_external.id, victim.id);
        let active = store.list(
            "acme",
            &ListQuery::default().with_status(customer_store::Status::Active),
        )?;
        assert!(
            active.items.iter().any(|c| c.id == victim.id),
            "status entry lost"
        );
        Ok(())
    };
    check(&store)?;
    drop(store);
    check(&open(&path)?)?;
    Ok(())
}
