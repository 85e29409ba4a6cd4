//! Concurrency: racing writers on one unique value, and readers during a write storm.
//!
//! - Many threads create (or move an existing customer onto) the same email, in different
//!   cases, or the same externalId, at the same instant: exactly one wins, every loser gets the
//!   conflict error naming the winner, and nothing else is written. On a store file (durable
//!   commits) and in memory.
//! - Readers during a write storm never see a torn state: every record a list page shows is
//!   found through its email and externalId entries as long as it did not change meanwhile
//!   (each write gives a record a new, unique name, so "did not change" is exact), every index
//!   hit leads to its record, pages are in id order, a walk lists every customer that
//!   existed all through it, and `verify()` (one snapshot) is clean while the writers run.
//! - Threads opening the same new store file at the same instant, as processes starting
//!   together would: each open succeeds or answers "store in use", and the file opens after.

mod reliability_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, Error, ListQuery, NewCustomer, RedbStore, Status,
};
use reliability_support::exec::walk_all;

type Result<T, E = String> = std::result::Result<T, E>;

const THREADS: usize = 16;
const RACE_ROUNDS: usize = 12;

fn stores() -> Result<Vec<(&'static str, RedbStore, Option<tempfile::TempDir>)>> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = RedbStore::open(dir.path().join("customers.redb")).map_err(|e| e.to_string())?;
    let memory = RedbStore::in_memory().map_err(|e| e.to_string())?;
    Ok(vec![("file", file, Some(dir)), ("memory", memory, None)])
}

/// Runs `attempt(thread)` on [`THREADS`] threads released at once.
fn race<T: Send + 'static>(
    attempt: impl Fn(usize) -> customer_store::Result<T> + Send + Sync + 'static,
) -> Vec<customer_store::Result<T>> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let attempt = Arc::new(attempt);
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let barrier = barrier.clone();
            let attempt = attempt.clone();
            thread::spawn(move || {
                barrier.wait();
                attempt(t)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("a racing thread panicked"))
        .collect()
}

/// Exactly one `Ok`; every other answer is the conflict `code` naming the winner's id.
fn one_winner(
    results: Vec<customer_store::Result<Customer>>,
    code: &str,
) -> Result<(Customer, Vec<usize>)> {
    let winners: Vec<&Customer> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let [winner] = winners.as_slice() else {
        return Err(format!("{} winners: {results:?}", winners.len()));
    };
    let winner = (*winner).clone();
    let mut losers = Vec::new();
    for (t, r) in results.iter().enumerate() {
        match r {
            Ok(_) => {}
            Err(e) if e.code() == code && e.existing_id() == Some(winner.id.as_str()) => {
                losers.push(t);
            }
            Err(e) => {
                return Err(format!(
                    "thread {t}: {e:?}, expected {code} naming {}",
                    winner.id
                ));
            }
        }
    }
    Ok((winner, losers))
}

/// `t`-th spelling of an email: the case of each letter follows the bits of `t`.
fn spelling(email: &str, t: usize) -> String {
    email
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if (t >> (i % 5)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

#[test]
fn racing_creates_on_one_email() -> Result<()> {
    for (kind, store, _dir) in stores()? {
        for round in 0..RACE_ROUNDS {
            let s = store.clone();
            let results = race(move |t| {
                let email = spelling(&format!("race{round}@x.io"), t);
                s.create("acme", NewCustomer::new(email, format!("thread {t}")))
            });
            let (winner, _) =
                one_winner(results, "email_taken").map_err(|e| format!("{kind}: {e}"))?;
            let found = store
                .get_by_email("acme", &format!("RACE{round}@X.IO"))
                .map_err(|e| e.to_string())?;
            if found != Some(winner) {
                return Err(format!("{kind}: the winner is not what the index finds"));
            }
        }
        let report = store.verify().map_err(|e| e.to_string())?;
        if report.customers != RACE_ROUNDS as u64 {
            return Err(format!("{kind}: {report:?}"));
        }
    }
    Ok(())
}

#[test]
fn racing_creates_on_one_external_id() -> Result<()> {
    for (kind, store, _dir) in stores()? {
        for round in 0..RACE_ROUNDS {
            let s = store.clone();
            let results = race(move |t| {
                let new = NewCustomer::new(format!("r{round}t{t}@x.io"), format!("thread {t}"))
                    .with_external_id(format!("user-{round}"));
                s.create("acme", new)
            });
            let (winner, _) =
                one_winner(results, "external_id_taken").map_err(|e| format!("{kind}: {e}"))?;
            let found = store
                .get_by_external_id("acme", &format!("user-{round}"))
                .map_err(|e| e.to_string())?;
            if found != Some(winner) {
                return Err(format!("{kind}: the winner is not what the index finds"));
            }
        }
        // Only the winners were written.
        let all = walk_all(&store, "acme", &ListQuery::default()).map_err(|e| e.to_string())?;
        if all.len() != RACE_ROUNDS {
            return Err(format!("{kind}: {} customers", all.len()));
        }
        store.verify().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every thread moves its own customer onto one email (or one externalId): one wins, the
/// others keep their record unchanged.
#[test]
fn racing_updates_onto_one_email_and_external_id() -> Result<()> {
    for (kind, store, _dir) in stores()? {
        for round in 0..RACE_ROUNDS / 2 {
            for field in ["email", "externalId"] {
                let own: Vec<Customer> = (0..THREADS)
                    .map(|t| {
                        let email = format!("{field}{round}-{t}@x.io");
                        store.create("acme", NewCustomer::new(email, "Own"))
                    })
                    .collect::<customer_store::Result<_>>()
                    .map_err(|e| e.to_string())?;
                let ids: Vec<String> = own.iter().map(|c| c.id.clone()).collect();
                let s = store.clone();
                let target = format!("{field}-target-{round}@x.io");
                let results = race(move |t| {
                    let patch = if field == "email" {
                        CustomerPatch::default().set_email(spelling(&target, t))
                    } else {
                        CustomerPatch::default().set_external_id(Some(target.clone()))
                    };
                    s.update("acme", &ids[t], patch)
                });
                let code = if field == "email" {
                    "email_taken"
                } else {
                    "external_id_taken"
                };
                let (_, losers) = one_winner(results, code).map_err(|e| format!("{kind}: {e}"))?;
                for t in losers {
                    let now = store.get("acme", &own[t].id).map_err(|e| e.to_string())?;
                    if now.as_ref() != Some(&own[t]) {
                        return Err(format!("{kind}: a losing update changed {now:?}"));
                    }
                }
            }
        }
        store.verify().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Batches that overlap in one email: one batch lands whole, the others are refused at the
/// overlapping item, naming the winner's customer.
#[test]
fn racing_batches() -> Result<()> {
    for (kind, store, _dir) in stores()? {
        let s = store.clone();
        let results = race(move |t| {
            let batch = vec![
                NewCustomer::new(format!("own-{t}-a@x.io"), "A"),
                NewCustomer::new("shared@x.io", format!("thread {t}")),
                NewCustomer::new(format!("own-{t}-b@x.io"), "B"),
            ];
            s.create_many("acme", batch)
        });
        let winners: Vec<&Vec<Customer>> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        let [winner] = winners.as_slice() else {
            return Err(format!("{kind}: {} winning batches", winners.len()));
        };
        let shared = &winner[1].id;
        for r in &results {
            if let Err(e) = r
                && !(e.code() == "email_taken"
                    && e.batch_index() == Some(1)
                    && e.existing_id() == Some(shared.as_str()))
            {
                return Err(format!("{kind}: a losing batch answered {e:?}"));
            }
        }
        let report = store.verify().map_err(|e| e.to_string())?;
        if report.customers != 3 {
            return Err(format!("{kind}: {report:?}"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Readers during a write storm.

const EMAIL_POOL: usize = 12;
const EXTERNAL_ID_POOL: usize = 8;
const WRITERS: usize = 3;
const READERS: usize = 3;
const WRITES_PER_WRITER: u64 = 300;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % n as u64).unwrap_or(0)
    }
}

fn pool_email(i: usize) -> String {
    spelling(&format!("p{}@x.io", i % EMAIL_POOL), i)
}

fn pool_external_id(i: usize) -> String {
    format!("x{}", i % EXTERNAL_ID_POOL)
}

/// Errors a storm write may meet: conflicts and customers deleted by another writer.
fn expected_refusal(e: &Error) -> bool {
    matches!(e.code(), "email_taken" | "external_id_taken" | "not_found")
}

fn writer(store: &RedbStore, w: usize, version: &AtomicU64) -> Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
    let mut mine: Vec<String> = Vec::new();
    // Every write gives the record a name never used before.
    let name = || format!("v{}", version.fetch_add(1, Ordering::SeqCst));
    for _ in 0..WRITES_PER_WRITER {
        let pick = |rng: &mut Rng, mine: &Vec<String>| mine[rng.below(mine.len())].clone();
        let k = if mine.is_empty() { 0 } else { rng.below(10) };
        let result: customer_store::Result<()> = match k {
            0..3 => {
                let mut new = NewCustomer::new(pool_email(rng.below(64)), name());
                if rng.below(3) > 0 {
                    new = new.with_external_id(pool_external_id(rng.below(64)));
                }
                store.create("storm", new).map(|c| mine.push(c.id))
            }
            3..6 => {
                let mut patch = CustomerPatch::default().set_name(name());
                match rng.below(4) {
                    0 => patch = patch.set_email(pool_email(rng.below(64))),
                    1 => patch = patch.set_external_id(Some(pool_external_id(rng.below(64)))),
                    2 => patch = patch.set_external_id(None::<String>),
                    _ => patch = patch.set_status(Status::ALL[rng.below(3)]),
                }
                let id = pick(&mut rng, &mine);
                store.update("storm", &id, patch).map(drop)
            }
            6 => {
                let id = pick(&mut rng, &mine);
                store.delete("storm", &id).map(drop)
            }
            7 => {
                let batch = vec![
                    NewCustomer::new(pool_email(rng.below(64)), name()),
                    NewCustomer::new(pool_email(rng.below(64)), name())
                        .with_external_id(pool_external_id(rng.below(64))),
                ];
                store
                    .create_many("storm", batch)
                    .map(|cs| mine.extend(cs.into_iter().map(|c| c.id)))
            }
            _ => {
                let patch = CustomerPatch::default()
                    .set_name(name())
                    .set_email(pool_email(rng.below(64)))
                    .set_external_id(Some(pool_external_id(rng.below(64))));
                let id = pick(&mut rng, &mine);
                store.update("storm", &id, patch).map(drop)
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if expected_refusal(&e) => {}
            Err(e) => return Err(format!("writer {w}: {e:?}")),
        }
    }
    Ok(())
}

/// What a reader checked, to show the storm was seen.
#[derive(Debug, Default)]
struct Seen {
    pages: u64,
    records: u64,
    /// Records unchanged between the page and the index lookups: fully checked.
    stable: u64,
    index_hits: u64,
    verifies: u64,
    /// Walks checked to list every customer that existed all through them.
    walks: u64,
}

fn lookup(r: customer_store::Result<Option<Customer>>, what: &str) -> Result<Option<Customer>> {
    r.map_err(|e| format!("{what}: {e:?}"))
}

fn reader(store: &RedbStore, seed: u64, done: &AtomicBool) -> Result<Seen> {
    let mut rng = Rng(seed);
    let mut seen = Seen::default();
    let mut rounds = 0u64;
    while !done.load(Ordering::SeqCst) || rounds == 0 {
        rounds += 1;
        // Ids are never reused: an id listed before the walk and after it existed all
        // through the walk, which must then list it (exactly once: ids only go up).
        let ids = || -> Result<BTreeSet<String>> {
            Ok(walk_all(store, "storm", &ListQuery::default())
                .map_err(|e| format!("list: {e:?}"))?
                .into_iter()
                .map(|c| c.id)
                .collect())
        };
        let before = ids()?;
        let mut walked: BTreeSet<String> = BTreeSet::new();
        // A list walk; every record checked against its index entries.
        let mut query = ListQuery::default().with_limit(1 + rng.below(7) as u32);
        let mut last: Option<String> = None;
        loop {
            let page = store
                .list("storm", &query)
                .map_err(|e| format!("list: {e:?}"))?;
            seen.pages += 1;
            for c in &page.items {
                seen.records += 1;
                if last.as_ref().is_some_and(|l| c.id <= *l) {
                    return Err(format!("list out of order at {}", c.id));
                }
                last = Some(c.id.clone());
                walked.insert(c.id.clone());
                let by_email = lookup(store.get_by_email("storm", &c.email), "get_by_email")?;
                let by_external_id = match &c.external_id {
                    Some(x) => lookup(store.get_by_external_id("storm", x), "get_by_external_id")?,
                    None => None,
                };
                let again = lookup(store.get("storm", &c.id), "get")?;
                if again.as_ref() == Some(c) {
                    // Unchanged from the page to now: its entries existed all along.
                    seen.stable += 1;
                    if by_email.as_ref() != Some(c) {
                        return Err(format!("{} is not found by its email: {by_email:?}", c.id));
                    }
                    if c.external_id.is_some() && by_external_id.as_ref() != Some(c) {
                        return Err(format!(
                            "{} is not found by its externalId: {by_external_id:?}",
                            c.id
                        ));
                    }
                }
            }
            if !page.has_more {
                break;
            }
            query.cursor = page.next_cursor;
        }
        let after = ids()?;
        if let Some(missed) = before.intersection(&after).find(|id| !walked.contains(*id)) {
            return Err(format!("the walk missed {missed}, which existed all along"));
        }
        seen.walks += 1;
        // Index hits lead to a record that holds the value.
        for i in 0..EMAIL_POOL {
            if let Some(c) = lookup(store.get_by_email("storm", &pool_email(i)), "get_by_email")? {
                seen.index_hits += 1;
                if c.email.to_lowercase() != pool_email(i).to_lowercase() {
                    return Err(format!("the email index names {c:?} for {}", pool_email(i)));
                }
            }
        }
        for i in 0..EXTERNAL_ID_POOL {
            let x = pool_external_id(i);
            if let Some(c) = lookup(store.get_by_external_id("storm", &x), "get_by_external_id")? {
                seen.index_hits += 1;
                if c.external_id.as_deref() != Some(x.as_str()) {
                    return Err(format!("the externalId index names {c:?} for {x}"));
                }
            }
        }
        if rounds.is_multiple_of(4) {
            store
                .verify()
                .map_err(|e| format!("verify during the storm: {e}"))?;
            seen.verifies += 1;
        }
    }
    Ok(seen)
}

fn storm(store: &RedbStore) -> Result<Vec<Seen>> {
    let version = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (store, done) = (store.clone(), done.clone());
            thread::spawn(move || reader(&store, 7 + r as u64, &done))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, version) = (store.clone(), version.clone());
            thread::spawn(move || writer(&store, w, &version))
        })
        .collect();
    let mut errors = Vec::new();
    for w in writers {
        if let Err(e) = w
            .join()
            .map_err(|_| "a writer panicked".to_owned())
            .and_then(|r| r)
        {
            errors.push(e);
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut seen = Vec::new();
    for r in readers {
        match r
            .join()
            .map_err(|_| "a reader panicked".to_owned())
            .and_then(|r| r)
        {
            Ok(s) => seen.push(s),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    store.verify().map_err(|e| e.to_string())?;
    // Unique values stayed unique.
    let all = walk_all(store, "storm", &ListQuery::default()).map_err(|e| e.to_string())?;
    let emails: BTreeSet<String> = all.iter().map(|c| c.email.to_lowercase()).collect();
    if emails.len() != all.len() {
        return Err("two customers share an email".into());
    }
    Ok(seen)
}

#[test]
fn readers_never_see_a_torn_state() -> Result<()> {
    for (kind, store, _dir) in stores()? {
        let seen = storm(&store).map_err(|e| format!("{kind}: {e}"))?;
        let stable: u64 = seen.iter().map(|s| s.stable).sum();
        eprintln!("{kind}: {seen:?}");
        if stable == 0 {
            return Err(format!("{kind}: the readers checked no record"));
        }
    }
    Ok(())
}

/// Threads opening one new store file at the same instant (as processes started together
/// would; redb's locks are per open file, so threads of one process contend as processes do):
/// every open succeeds or answers "store in use" (another open holds the file), the file
/// opens afterwards, and no temporary file is left. Regression (an operator's trial): every
/// creation used one temporary name and removed it first, so one could remove another's file
/// and link a half-created one into place (3 of 80 rounds left a file that never opened, "a
/// redb database without any table"), and losers failed with "No such file or directory".
#[test]
fn racing_opens_of_a_new_store() -> Result<()> {
    const OPENERS: usize = 4;
    for round in 0..RACE_ROUNDS * 2 {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("customers.redb");
        let barrier = Arc::new(Barrier::new(OPENERS));
        let openers: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                thread::spawn(move || {
                    barrier.wait();
                    RedbStore::open(&path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            match opener.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) if e.is_in_use() && e.to_string().contains("store in use") => {}
                Ok(Err(e)) => return Err(format!("round {round}: an open answered {e}")),
                Err(_) => return Err(format!("round {round}: a panic escaped an open")),
            }
        }
        let store = RedbStore::open(&path).map_err(|e| format!("round {round}: {e}"))?;
        store
            .create("acme", NewCustomer::new("ana@x.io", "Ana"))
            .map_err(|e| format!("round {round}: {e}"))?;
        store.verify().map_err(|e| format!("round {round}: {e}"))?;
        drop(store);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        if left != ["customers.redb"] {
            return Err(format!("round {round}: files left: {left:?}"));
        }
    }
    Ok(())
}
