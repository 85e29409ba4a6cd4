//! I/O faults at every I/O call of a write: the store reports `storage`, recovers by itself,
//! and the write is either fully applied or fully absent.
//!
//! A `StorageBackend` wrapper (`reliability_support::faulty`) fails `write`, `set_len` or
//! `sync_data` at the N-th call and forwards every other method, the lock methods included.
//! For each write (create, update, delete, create_many) the sweep first counts the write's I/O
//! calls, then for every N runs the write on a fresh, identical store with call N failing:
//! once, persistently (like a full disk) until the fault is lifted, and torn (half the data of
//! the failed write lands). The write's content carries the sweep step (names such as
//! `step 7`), as redb's fuzzer writes a counter in each transaction, and a fault-free run of
//! the same write gives the "applied" state to compare with.
//!
//! After each fault: the call answered `storage` (never a panic, never `Ok` with data
//! missing); the store works again without being reopened by the caller; it holds exactly
//! the state before the write or the state after it; `verify()` is clean; a retry answers as
//! SPEC §2 promises (a retried create finds `email_taken` naming the id the first attempt
//! created); and reopening the store shows the same state.
#![cfg(feature = "fault-injection")]

mod reliability_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, ListQuery, ManualClock, NewCustomer, RedbStore, Status,
};
use reliability_support::exec::walk_all;
use reliability_support::faulty::{FaultyBackend, Plan, kind};

type Result<T, E = String> = std::result::Result<T, E>;

const BUSINESSES: [&str; 2] = ["acme", "beta"];

/// What a write returned: the customers it created, changed or removed.
type Out = Vec<Customer>;

/// The customers every sweep point starts with.
struct Seeded {
    ana: Customer,
    bo: Customer,
}

/// A fresh store on `backend` holding the seed customers.
struct Setup {
    backend: FaultyBackend,
    clock: Arc<ManualClock>,
    store: RedbStore,
    seeded: Seeded,
    _dir: Option<tempfile::TempDir>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Memory,
    File,
}

fn open(backend: &FaultyBackend, clock: &Arc<ManualClock>) -> customer_store::Result<RedbStore> {
    RedbStore::builder()
        .clock(clock.clone())
        .cache_size(1 << 20)
        .open_backend(backend.shared())
}

fn setup(on: Backend) -> Result<Setup> {
    let (backend, dir) = match on {
        Backend::Memory => (FaultyBackend::in_memory(), None),
        Backend::File => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(dir.path().join("customers.redb"))
                .map_err(|e| e.to_string())?;
            (FaultyBackend::file(file), Some(dir))
        }
    };
    let start = "2026-06-05T12:00:00Z".parse().map_err(|e| format!("{e}"))?;
    let clock = Arc::new(ManualClock::new(start));
    let store = open(&backend, &clock).map_err(|e| e.to_string())?;
    let create = |business, new| store.create(business, new).map_err(|e| e.to_string());
    let ana = create(
        "acme",
        NewCustomer::new("ana@x.io", "Ana")
            .with_external_id("ext-1")
            .with_phone("+233 24 999 8888")
            .with_currency("ghs"),
    )?;
    let bo = create(
        "acme",
        NewCustomer::new("bo@x.io", "Bo").with_external_id("ext-2"),
    )?;
    create("acme", NewCustomer::new("cy@ex.org", "Cy"))?;
    create("beta", NewCustomer::new("ana@x.io", "Other Ana"))?;
    clock.advance_seconds(10);
    Ok(Setup {
        backend,
        clock,
        store,
        seeded: Seeded { ana, bo },
        _dir: dir,
    })
}

type Dump = Vec<Vec<Customer>>;

fn dump(store: &RedbStore) -> customer_store::Result<Dump> {
    BUSINESSES
        .iter()
        .map(|b| walk_all(store, b, &ListQuery::default()))
        .collect()
}

/// One write of the sweep; `step` goes into its content.
struct Write {
    name: &'static str,
    run: fn(&RedbStore, &Seeded, u64) -> customer_store::Result<Out>,
    /// What a retry must answer once the first attempt landed (`reference` is the answer of
    /// the fault-free run).
    retry_after_applied: fn(&Out, &customer_store::Result<Out>) -> bool,
}

fn one(r: customer_store::Result<Customer>) -> customer_store::Result<Out> {
    r.map(|c| vec![c])
}

fn id_of(out: &Out, i: usize) -> &str {
    &out[i].id
}

const WRITES: [Write; 4] = [
    Write {
        name: "create",
        run: |store, _, step| {
            let new = NewCustomer::new(format!("new-{step}@x.io"), format!("step {step}"))
                .with_external_id(format!("new-{step}"))
                .with_description("created under a fault");
            one(store.create("acme", new))
        },
        // SPEC: retrying a create whose outcome was unknown answers email_taken naming the id
        // the first attempt created.
        retry_after_applied: |reference, retry| {
            matches!(retry, Err(e) if e.code() == "email_taken"
                && e.existing_id() == Some(id_of(reference, 0)))
        },
    },
    Write {
        name: "update",
        run: |store, seeded, step| {
            let patch = CustomerPatch::default()
                .set_name(format!("step {step}"))
                .set_email(format!("moved-{step}@x.io"))
                .set_external_id(Some(format!("moved-{step}")))
                .set_phone(None::<String>)
                .set_status(Status::Blocked);
            one(store.update("acme", &seeded.ana.id, patch))
        },
        // The same patch again changes nothing and returns the record as it is.
        retry_after_applied: |reference, retry| retry.as_ref().ok() == Some(reference),
    },
    Write {
        name: "delete",
        run: |store, seeded, _| one(store.delete("acme", &seeded.bo.id)),
        retry_after_applied: |_, retry| matches!(retry, Err(e) if e.is_not_found()),
    },
    Write {
        name: "create_many",
        run: |store, _, step| {
            let batch = (0..3)
                .map(|i| {
                    NewCustomer::new(format!("batch-{step}-{i}@x.io"), format!("step {step}"))
                        .with_external_id(format!("batch-{step}-{i}"))
                })
                .collect();
            store.create_many("acme", batch)
        },
        retry_after_applied: |reference, retry| {
            matches!(retry, Err(e) if e.code() == "email_taken"
                && e.batch_index() == Some(0)
                && e.existing_id() == Some(id_of(reference, 0)))
        },
    },
];

/// The fault-free run of `write` at `step`: its answer and the state after it.
fn reference(write: &Write, on: Backend, step: u64) -> Result<(Out, Dump, u64)> {
    let s = setup(on)?;
    s.backend.count(kind::MUTATING);
    let out = (write.run)(&s.store, &s.seeded, step).map_err(|e| format!("reference: {e}"))?;
    let calls = s.backend.calls();
    let after = dump(&s.store).map_err(|e| e.to_string())?;
    Ok((out, after, calls))
}

/// How one sweep point ended.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    points: u64,
    applied: u64,
    absent: u64,
}

/// Runs `write` with `plan` on a fresh store and checks everything the file promises.
fn point(write: &Write, on: Backend, plan: Plan, tally: &mut Tally) -> Result<()> {
    let step = plan.at;
    let ctx = |e: String| format!("{} at call {} ({plan:?}, {on:?}): {e}", write.name, plan.at);
    let (reference_out, after, _) = reference(write, on, step).map_err(ctx)?;
    let s = setup(on).map_err(ctx)?;
    let before = dump(&s.store).map_err(|e| ctx(e.to_string()))?;
    if before == after {
        return Err(ctx("the write changes nothing".into()));
    }

    s.backend.arm(plan);
    let result = catch_unwind(AssertUnwindSafe(|| (write.run)(&s.store, &s.seeded, step)))
        .map_err(|_| ctx("a panic escaped the store".into()))?;
    let injected = s.backend.injected() > 0;
    if plan.persistent && injected {
        // While the disk keeps failing, calls fail cleanly (or read what is committed).
        let read = catch_unwind(AssertUnwindSafe(|| s.store.get("acme", &s.seeded.ana.id)))
            .map_err(|_| ctx("a panic escaped a read during the fault".into()))?;
        match read {
            Err(e) if e.is_storage() => {}
            Ok(found) => {
                let known = |d: &Dump| d[0].iter().find(|c| c.id == s.seeded.ana.id).cloned();
                if found != known(&before) && found != known(&after) {
                    return Err(ctx(format!("a read during the fault answered {found:?}")));
                }
            }
            Err(e) => return Err(ctx(format!("a read during the fault answered {e:?}"))),
        }
    }
    s.backend.disarm();

    match &result {
        Ok(out) if *out != reference_out => {
            return Err(ctx(format!("Ok({out:?}), expected {reference_out:?}")));
        }
        Err(e) if !e.is_storage() => return Err(ctx(format!("error {e:?} is not `storage`"))),
        Err(e) if !injected => return Err(ctx(format!("error {e:?} without a fault"))),
        _ => {}
    }

    // The store recovers by itself: the next calls work.
    let now = dump(&s.store).map_err(|e| ctx(format!("no recovery: {e}")))?;
    let applied = if now == after {
        true
    } else if now == before {
        false
    } else {
        return Err(ctx(format!(
            "neither before nor after:\nnow {now:#?}\nbefore {before:#?}\nafter {after:#?}"
        )));
    };
    if result.is_ok() && !applied {
        return Err(ctx("Ok, but the write is missing".into()));
    }
    s.store
        .verify()
        .map_err(|e| ctx(format!("verify after the fault: {e}")))?;
    tally.points += 1;
    if applied {
        tally.applied += 1;
    } else {
        tally.absent += 1;
    }

    // A retry answers as promised and leads to the "after" state.
    let retry = (write.run)(&s.store, &s.seeded, step);
    let retry_ok = if applied {
        (write.retry_after_applied)(&reference_out, &retry)
    } else {
        retry.as_ref().ok() == Some(&reference_out)
    };
    if !retry_ok {
        return Err(ctx(format!(
            "retry (applied: {applied}) answered {retry:?}"
        )));
    }
    let now = dump(&s.store).map_err(|e| ctx(e.to_string()))?;
    if now != after {
        return Err(ctx(
            "after the retry the state is not the written one".into()
        ));
    }

    // What the store holds is what a reopen finds, and the store keeps working.
    let Setup {
        backend,
        clock,
        store,
        ..
    } = s;
    drop(store);
    let store = open(&backend, &clock).map_err(|e| ctx(format!("reopen: {e}")))?;
    let reopened = dump(&store).map_err(|e| ctx(e.to_string()))?;
    if reopened != after {
        return Err(ctx("a reopen shows another state".into()));
    }
    store
        .create("beta", NewCustomer::new("later@x.io", "Later"))
        .map_err(|e| ctx(format!("a later write: {e}")))?;
    store
        .verify()
        .map_err(|e| ctx(format!("verify after reopen: {e}")))?;
    Ok(())
}

/// Sweeps the fault over every mutating I/O call of every write, in one mode.
fn sweep(on: Backend, persistent: bool, torn: bool) -> Result<()> {
    let mut report = Vec::new();
    for write in &WRITES {
        let (_, _, calls) = reference(write, on, 0)?;
        if calls == 0 {
            return Err(format!("{} made no I/O call", write.name));
        }
        let mut tally = Tally::default();
        // One point past the last call: no fault fires, the write must simply work.
        for at in 0..=calls {
            let plan = Plan {
                at,
                kinds: kind::MUTATING,
                persistent,
                torn,
            };
            point(write, on, plan, &mut tally)?;
        }
        report.push(format!(
            "{}: {calls} I/O calls, {} points ({} applied, {} absent)",
            write.name, tally.points, tally.applied, tally.absent
        ));
    }
    eprintln!(
        "{on:?} persistent={persistent} torn={torn}\n  {}",
        report.join("\n  ")
    );
    Ok(())
}

#[test]
fn one_failing_call_in_memory() -> Result<()> {
    sweep(Backend::Memory, false, false)
}

#[test]
fn persistent_failure_in_memory() -> Result<()> {
    sweep(Backend::Memory, true, false)
}

#[test]
fn torn_write_in_memory() -> Result<()> {
    sweep(Backend::Memory, false, true)
}

#[test]
fn one_failing_call_on_a_file() -> Result<()> {
    sweep(Backend::File, false, false)
}

/// Reads that fail (a cold cache after a reopen) answer `storage` or the right record, and
/// the store recovers.
#[test]
fn failing_reads() -> Result<()> {
    let s = setup(Backend::Memory)?;
    let Setup {
        backend,
        clock,
        store,
        seeded,
        ..
    } = s;
    drop(store);
    let expected = Some(seeded.ana.clone());
    let mut points = 0;
    for at in 0.. {
        // No page cache: every lookup reads the backend.
        let store = RedbStore::builder()
            .clock(clock.clone())
            .cache_size(0)
            .open_backend(backend.shared())
            .map_err(|e| e.to_string())?;
        let injected = backend.injected();
        backend.arm(Plan {
            at,
            kinds: kind::READ,
            persistent: false,
            torn: false,
        });
        let got = catch_unwind(AssertUnwindSafe(|| store.get_by_email("acme", "ANA@x.io")))
            .map_err(|_| format!("read fault {at}: a panic escaped"))?;
        let fired = backend.injected() > injected;
        let calls = backend.calls();
        backend.disarm();
        match got {
            Ok(found) if found == expected => {}
            Err(e) if e.is_storage() && fired => {}
            other => return Err(format!("read fault {at}: {other:?}")),
        }
        let again = store
            .get_by_email("acme", "ana@x.io")
            .map_err(|e| e.to_string())?;
        if again != expected {
            return Err(format!("read fault {at}: after recovery {again:?}"));
        }
        store.verify().map_err(|e| e.to_string())?;
        points += 1;
        drop(store);
        if at >= calls {
            break;
        }
        if points > 200 {
            return Err("more than 200 read calls for one lookup".into());
        }
    }
    eprintln!("read faults: {points} points");
    Ok(())
}

/// A process that dies at I/O call `at`: that call and every later one never reach the file.
fn crash_at(at: u64) -> Plan {
    Plan {
        at,
        kinds: kind::MUTATING,
        persistent: true,
        torn: false,
    }
}

/// Every crash point of every write on a store file: the process "dies" at call N (nothing
/// from call N on reaches the file), then a new process opens the file by its path and finds
/// the state before or after the write, and a clean `verify()`.
#[test]
fn crash_at_every_call_of_a_write_on_a_file() -> Result<()> {
    let mut report = Vec::new();
    for write in &WRITES {
        let (_, after, calls) = reference(write, Backend::File, 0)?;
        let (mut applied, mut absent) = (0, 0);
        for at in 0..calls {
            let ctx = |e: String| format!("{} crashing at call {at}: {e}", write.name);
            let s = setup(Backend::File).map_err(ctx)?;
            let before = dump(&s.store).map_err(|e| ctx(e.to_string()))?;
            s.backend.arm(crash_at(at));
            let result = catch_unwind(AssertUnwindSafe(|| (write.run)(&s.store, &s.seeded, 0)))
                .map_err(|_| ctx("a panic escaped the store".into()))?;
            let Setup {
                store, clock, _dir, ..
            } = s;
            drop(store);
            let dir = _dir.ok_or("a file store has a directory")?;
            let reopened = RedbStore::builder()
                .clock(clock)
                .open(dir.path().join("customers.redb"))
                .map_err(|e| ctx(format!("reopen after the crash: {e}")))?;
            let now = dump(&reopened).map_err(|e| ctx(e.to_string()))?;
            if now == after {
                applied += 1;
            } else if now == before && result.is_err() {
                absent += 1;
            } else {
                return Err(ctx(format!("answered {result:?}, then holds {now:#?}")));
            }
            reopened
                .verify()
                .map_err(|e| ctx(format!("verify after the crash: {e}")))?;
        }
        report.push(format!(
            "{}: {calls} crash points ({applied} applied, {absent} absent)",
            write.name
        ));
    }
    eprintln!("crash points on a file:\n  {}", report.join("\n  "));
    Ok(())
}

/// A crash at every I/O call of the first open of a new store file (while redb creates the
/// file and the store writes its format version): the file left behind must open as a store.
///
/// Regression: redb writes a new file's header without its magic number first and adds the
/// magic last, and refuses (`create` included) a non-empty file without the magic; a crash
/// between the two used to leave a file that `RedbStore::open` refused for ever. Such a file
/// (whole pages, no magic, zeros past the header area) holds no data and is now taken as new.
/// A file of 0 bytes is refused by path (a failed copy, not a creation of ours), but opens as
/// a new store on the backend it was being created on; so does a redb file without tables
/// (another program's empty database, by its path).
#[test]
fn crash_during_the_first_open_of_a_new_file() -> Result<()> {
    let count = |plan: Option<Plan>| -> Result<(u64, tempfile::TempDir)> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("customers.redb");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| e.to_string())?;
        let backend = FaultyBackend::file(file);
        match plan {
            Some(plan) => backend.arm(plan),
            None => backend.count(kind::MUTATING),
        }
        let opened = catch_unwind(AssertUnwindSafe(|| {
            RedbStore::builder().open_backend(backend.shared())
        }))
        .map_err(|_| "a panic escaped the open".to_owned())?;
        drop(opened);
        Ok((backend.calls(), dir))
    };
    let (calls, _) = count(None)?;
    let mut refused = Vec::new();
    for at in 0..calls {
        let (_, dir) = count(Some(crash_at(at)))?;
        let path = dir.path().join("customers.redb");
        let empty = std::fs::metadata(&path).map_err(|e| e.to_string())?.len() == 0;
        if empty {
            // Nothing written yet. By its path such a file is refused (the store never leaves
            // one: `RedbStore::open` creates a new file under another name and links it into
            // place), by
            // the backend it was being created on it is a new store.
            match RedbStore::open(&path) {
                Err(e) if e.to_string().contains("empty (0 bytes)") => {}
                other => refused.push(format!("crash at call {at}: by its path: {other:?}")),
            }
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|e| e.to_string())?;
            let store = RedbStore::builder()
                .open_backend(FaultyBackend::file(file).shared())
                .map_err(|e| format!("crash at {at}: by its backend: {e}"))?;
            store
                .create("acme", NewCustomer::new("ana@x.io", "Ana"))
                .map_err(|e| format!("crash at {at}: create: {e}"))?;
            continue;
        }
        let store = match RedbStore::open(&path) {
            Ok(store) => store,
            // A redb file without tables at a store's path is refused (another program's
            // empty database looks the same); the backend it was being created on adopts it.
            Err(e) if e.to_string().contains("without any table") => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| e.to_string())?;
                RedbStore::builder()
                    .open_backend(FaultyBackend::file(file).shared())
                    .map_err(|e| format!("crash at {at}: by its backend: {e}"))?
            }
            Err(e) => {
                refused.push(format!("crash at call {at} of {calls}: {e}"));
                continue;
            }
        };
        store
            .verify()
            .map_err(|e| format!("crash at {at}: verify: {e}"))?;
        store
            .create("acme", NewCustomer::new("ana@x.io", "Ana"))
            .map_err(|e| format!("crash at {at}: create: {e}"))?;
    }
    if refused.is_empty() {
        Ok(())
    } else {
        Err(refused.join("\n"))
    }
}

/// A panic inside the storage engine at every I/O call of each write (the backend panics,
/// standing in for a panic inside redb): the call answers an error, no panic reaches the
/// caller, the write is applied or absent, and the store works again.
///
/// (A panic raised while redb holds its allocator lock is worse: the lock is poisoned and
/// dropping the `Database` panics again; `no_panic_escapes` in `tests/corrupt_files.rs`
/// reaches that through a damaged file.)
#[test]
fn panic_inside_the_engine_at_every_call() -> Result<()> {
    let mut report = Vec::new();
    for write in &WRITES {
        let (_, after, calls) = reference(write, Backend::Memory, 0)?;
        let mut escaped = Vec::new();
        for at in 0..calls {
            let s = setup(Backend::Memory)?;
            let before = dump(&s.store).map_err(|e| e.to_string())?;
            s.backend.arm_panic(Plan::once(at));
            let result = catch_unwind(AssertUnwindSafe(|| (write.run)(&s.store, &s.seeded, 0)));
            s.backend.disarm();
            let Ok(result) = result else {
                escaped.push(at);
                continue;
            };
            if let Ok(out) = &result {
                return Err(format!(
                    "{} at {at}: Ok({out:?}) despite a panic",
                    write.name
                ));
            }
            let now = dump(&s.store).map_err(|e| format!("{} at {at}: {e}", write.name))?;
            if now != before && now != after {
                return Err(format!("{} at {at}: neither before nor after", write.name));
            }
            s.store
                .verify()
                .map_err(|e| format!("{} at {at}: verify: {e}", write.name))?;
            s.store
                .create("beta", NewCustomer::new("later@x.io", "Later"))
                .map_err(|e| format!("{} at {at}: a later write: {e}", write.name))?;
            let dropped = catch_unwind(AssertUnwindSafe(|| drop(s)));
            if dropped.is_err() {
                escaped.push(at);
            }
        }
        if !escaped.is_empty() {
            report.push(format!(
                "{}: a panic escaped at calls {escaped:?} of {calls}",
                write.name
            ));
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(report.join("\n"))
    }
}

/// A reopen after an I/O error forgets the business handles it learnt: the file opened may be
/// an older copy of the store (restored while it ran), in which a handle can name another
/// business. Here "beta" got handle 2 in the running store, and "gamma" got 2 in a copy
/// taken before "beta" existed; after that copy is put in place and the store reopens, a
/// read of "beta" must find nothing, never gamma's customers.
#[test]
fn a_reopen_forgets_the_business_handles_it_learnt() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("customers.redb");
    let fork = dir.path().join("fork.redb");
    let fail = |e: customer_store::Error| e.to_string();
    {
        let store = RedbStore::builder()
            .journal(false)
            .open(&path)
            .map_err(fail)?;
        store
            .create("acme", NewCustomer::new("ana@x.io", "Ana"))
            .map_err(fail)?;
    }
    std::fs::copy(&path, &fork).map_err(|e| e.to_string())?;
    {
        let older = RedbStore::builder()
            .journal(false)
            .open(&fork)
            .map_err(fail)?;
        older
            .create("gamma", NewCustomer::new("gil@x.io", "Gil"))
            .map_err(fail)?;
    }
    let older_bytes = std::fs::read(&fork).map_err(|e| e.to_string())?;

    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| e.to_string())?;
    let backend = FaultyBackend::file(file);
    let store = RedbStore::builder()
        .cache_size(1 << 20)
        .open_backend(backend.shared())
        .map_err(fail)?;
    let bea = store
        .create("beta", NewCustomer::new("bea@x.io", "Bea"))
        .map_err(fail)?;
    // Learn beta's handle, then give the file the older copy's bytes; every write of the
    // store's own fails until the reopen has read them.
    assert_eq!(
        store.get_by_email("beta", "bea@x.io").map_err(fail)?,
        Some(bea)
    );
    backend.arm(Plan {
        at: 0,
        kinds: kind::MUTATING,
        persistent: true,
        torn: false,
    });
    std::fs::write(&path, &older_bytes).map_err(|e| e.to_string())?;
    let failed = store.create("acme", NewCustomer::new("cy@x.io", "Cy"));
    backend.disarm();
    if !matches!(failed, Err(customer_store::Error::Storage { .. })) {
        return Err(format!("the failing write answered {failed:?}"));
    }
    let gil = store.get_by_email("gamma", "gil@x.io").map_err(fail)?;
    if gil.is_none() {
        return Err("the store did not reopen onto the older copy".to_owned());
    }
    let leaked = store.get_by_email("beta", "gil@x.io").map_err(fail)?;
    if leaked.is_some() {
        return Err(format!("beta read gamma's customer: {leaked:?}"));
    }
    let page = store.list("beta", &ListQuery::default()).map_err(fail)?;
    if !page.items.is_empty() {
        return Err(format!("beta listed gamma's customers: {:?}", page.items));
    }
    store.verify().map_err(fail)?;
    Ok(())
}
