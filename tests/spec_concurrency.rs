//! One store shared by many threads (SPEC §2): racing creates of one email or externalId have
//! exactly one winner, a cursor walk stays exact while other threads write, and
//! `Arc<dyn CustomerStore>` works across threads.

mod spec_support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, Error, ListQuery, NewCustomer, RedbStore, Status,
};
use spec_support::{TestResult, all_customers, verify_clean};

const BIZ: &str = "acme";
const THREADS: usize = 8;

/// Runs `f(thread index)` on `THREADS` threads released together, and collects the results.
fn race<T: Send + 'static>(
    f: impl Fn(usize) -> Result<T, Error> + Send + Sync + 'static,
) -> TestResult<Vec<Result<T, Error>>> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (f, barrier) = (Arc::clone(&f), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                f(t)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().map_err(|_| "a racing thread panicked".into()))
        .collect()
}

/// Checks that exactly one result won and that every loser got `code` naming the winner.
fn one_winner(results: Vec<Result<Customer, Error>>, code: &str) -> TestResult<Customer> {
    let (wins, losses): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(wins.len(), 1, "winners: {wins:?}, losers: {losses:?}");
    let winner = wins.into_iter().next().ok_or("no winner")??;
    for loss in losses {
        let error = loss.err().ok_or("a loser won")?;
        assert_eq!(error.code(), code, "{error:?}");
        assert_eq!(error.existing_id(), Some(winner.id.as_str()), "{error:?}");
    }
    Ok(winner)
}

#[test]
fn racing_creates_of_one_email_have_exactly_one_winner() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("customers.redb"))?;
    for round in 0..4 {
        let s = store.clone();
        let results = race(move |t| {
            // Half the threads use another case of the same email.
            let email = if t % 2 == 0 {
                format!("race{round}@example.com")
            } else {
                format!("RACE{round}@Example.COM")
            };
            let new = NewCustomer::new(email, format!("Thread {t}"))
                .with_external_id(format!("round{round}-thread{t}"));
            s.create(BIZ, new)
        })?;
        let winner = one_winner(results, "email_taken")?;
        assert_eq!(
            store.get_by_email(BIZ, &format!("race{round}@example.com"))?,
            Some(winner)
        );
    }
    let report = verify_clean(&store, 4)?;
    assert_eq!(report.external_id_entries, 4);
    Ok(())
}

#[test]
fn racing_creates_of_one_external_id_have_exactly_one_winner() -> TestResult {
    let store = RedbStore::in_memory()?;
    for round in 0..4 {
        let s = store.clone();
        let results = race(move |t| {
            let new = NewCustomer::new(format!("r{round}-t{t}@example.com"), "Racer")
                .with_external_id(format!("shared-{round}"));
            s.create(BIZ, new)
        })?;
        let winner = one_winner(results, "external_id_taken")?;
        assert_eq!(
            store.get_by_external_id(BIZ, &format!("shared-{round}"))?,
            Some(winner)
        );
    }
    let report = verify_clean(&store, 4)?;
    assert_eq!(report.external_id_entries, 4);
    Ok(())
}

#[test]
fn racing_updates_to_one_email_or_external_id_have_exactly_one_winner() -> TestResult {
    let store = RedbStore::in_memory()?;
    let customers: Vec<Customer> = (0..THREADS)
        .map(|t| store.create(BIZ, NewCustomer::new(format!("t{t}@example.com"), "T")))
        .collect::<Result<_, _>>()?;
    let ids: Arc<Vec<String>> = Arc::new(customers.iter().map(|c| c.id.clone()).collect());

    let (s, i) = (store.clone(), Arc::clone(&ids));
    let results = race(move |t| {
        let email = if t % 2 == 0 {
            "wanted@x.io"
        } else {
            "WANTED@x.io"
        };
        s.update(BIZ, &i[t], CustomerPatch::default().set_email(email))
    })?;
    let winner = one_winner(results, "email_taken")?;
    assert_eq!(
        store.get_by_email(BIZ, "wanted@x.io")?,
        Some(winner.clone())
    );
    // The losers kept their own emails.
    for (t, id) in ids.iter().enumerate() {
        if *id != winner.id {
            let c = store.get(BIZ, id)?.ok_or("a loser is gone")?;
            assert_eq!(c.email, format!("t{t}@example.com"));
        }
    }

    let (s, i) = (store.clone(), Arc::clone(&ids));
    let results = race(move |t| {
        s.update(
            BIZ,
            &i[t],
            CustomerPatch::default().set_external_id(Some("the-one")),
        )
    })?;
    let winner = one_winner(results, "external_id_taken")?;
    assert_eq!(store.get_by_external_id(BIZ, "the-one")?, Some(winner));
    let report = verify_clean(&store, 8)?;
    assert_eq!(report.external_id_entries, 1);
    Ok(())
}

#[test]
fn a_cursor_walk_visits_every_customer_once_while_other_threads_write() -> TestResult {
    let store = RedbStore::in_memory()?;
    let kept: Vec<Customer> = (0..150)
        .map(|i| {
            store.create(
                BIZ,
                NewCustomer::new(format!("keep{i}@example.com"), "Keep"),
            )
        })
        .collect::<Result<_, _>>()?;
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));

    // Two creators, and one thread that renames kept customers and deletes what it created.
    let mut writers = Vec::new();
    for w in 0..2 {
        let (store, stop, written) = (store.clone(), Arc::clone(&stop), Arc::clone(&written));
        writers.push(thread::spawn(move || -> Result<(), Error> {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let email = if i % 2 == 0 {
                    format!("w{w}-{i}@example.com")
                } else {
                    format!("keep-new{w}-{i}@example.com")
                };
                store.create(BIZ, NewCustomer::new(email, "Writer"))?;
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok(())
        }));
    }
    {
        let (store, stop, written) = (store.clone(), Arc::clone(&stop), Arc::clone(&written));
        let kept_ids: Vec<String> = kept.iter().map(|c| c.id.clone()).collect();
        writers.push(thread::spawn(move || -> Result<(), Error> {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = &kept_ids[i % kept_ids.len()];
                store.update(
                    BIZ,
                    id,
                    CustomerPatch::default().set_name(format!("Renamed {i}")),
                )?;
                let temp = store.create(
                    BIZ,
                    NewCustomer::new(format!("temp{i}@example.com"), "Temp"),
                )?;
                store.delete(BIZ, &temp.id)?;
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            Ok(())
        }));
    }
    while written.load(Ordering::Relaxed) < 10 {
        thread::yield_now();
    }

    let walks: Vec<(ListQuery, Vec<String>)> = [
        ListQuery::default().with_limit(7),
        ListQuery::default().with_limit(5).with_email("KEEP"),
        ListQuery::default()
            .with_limit(9)
            .with_status(Status::Active),
    ]
    .into_iter()
    .map(|query| {
        let mut q = query.clone();
        let mut seen = Vec::new();
        loop {
            let page = store.list(BIZ, &q)?;
            assert_eq!(page.next_cursor, page.items.last().map(|c| c.id.clone()));
            seen.extend(page.items.into_iter().map(|c| c.id));
            if !page.has_more {
                return Ok((query, seen));
            }
            q.cursor = page.next_cursor;
            // Let the writers land at least one write between two pages (bounded wait), so
            // the walk really runs against concurrent writes however the threads are
            // scheduled.
            let before = written.load(Ordering::Relaxed);
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
            while written.load(Ordering::Relaxed) == before && std::time::Instant::now() < deadline
            {
                thread::yield_now();
            }
        }
    })
    .collect::<Result<_, Error>>()?;
    let during = written.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.join().map_err(|_| "a writer panicked")??;
    }
    assert!(during > 10, "the writers did not run during the walks");

    for (query, seen) in walks {
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{query:?} visited a customer twice"
        );
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "{query:?} went backwards"
        );
        for c in &kept {
            assert!(unique.contains(&c.id), "{query:?} missed {}", c.id);
        }
    }
    let all = all_customers(&store, BIZ)?;
    verify_clean(&store, u64::try_from(all.len())?)?;
    Ok(())
}

fn assert_send_sync<T: Send + Sync>() {}

/// Uses the store only through the trait object.
fn exercise(store: &dyn CustomerStore, business: &str, t: usize) -> Result<usize, Error> {
    let mut live = 0;
    for i in 0..20 {
        let c = store.create(
            business,
            NewCustomer::new(format!("t{t}-{i}@example.com"), "T"),
        )?;
        live += 1;
        let got = store.get(business, &c.id)?.ok_or(Error::NotFound)?;
        let by_email = store
            .get_by_email(business, &c.email)?
            .ok_or(Error::NotFound)?;
        assert_eq!(
            (got.id.as_str(), by_email.id.as_str()),
            (c.id.as_str(), c.id.as_str())
        );
        if i % 4 == 0 {
            store.update(
                business,
                &c.id,
                CustomerPatch::default().set_status(Status::Inactive),
            )?;
        }
        if i % 5 == 0 {
            store.delete(business, &c.id)?;
            live -= 1;
        }
    }
    Ok(live)
}

#[test]
fn an_arc_dyn_customer_store_works_across_threads() -> TestResult {
    assert_send_sync::<RedbStore>();
    assert_send_sync::<Arc<dyn CustomerStore>>();
    let redb = RedbStore::in_memory()?;
    let store: Arc<dyn CustomerStore> = Arc::new(redb.clone());

    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            thread::spawn(move || -> Result<(usize, usize), Error> {
                let shared = exercise(store.as_ref(), "shared", t)?;
                let own = exercise(store.as_ref(), &format!("own{t}"), t)?;
                Ok((shared, own))
            })
        })
        .collect();
    let mut shared_live = 0;
    for (t, handle) in handles.into_iter().enumerate() {
        let (shared, own) = handle.join().map_err(|_| "a thread panicked")??;
        shared_live += shared;
        assert_eq!(
            all_customers(store.as_ref(), &format!("own{t}"))?.len(),
            own
        );
    }
    let shared = all_customers(store.as_ref(), "shared")?;
    assert_eq!(shared.len(), shared_live);
    let inactive = store.list(
        "shared",
        &ListQuery::default()
            .with_status(Status::Inactive)
            .with_limit(100),
    )?;
    assert_eq!(inactive.items.len(), 4 * 4);
    verify_clean(&redb, u64::try_from(shared_live * 2)?)?;
    Ok(())
}

/// Gets keep the newest snapshot between calls; a write that returned before a get began is
/// always seen by it, by id, by email and by external id, from any thread.
#[test]
fn reads_never_miss_a_write_that_returned_before_them() -> TestResult {
    const WRITES: usize = 300;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("fresh.redb"))?;
    let first = store.create(BIZ, NewCustomer::new("e0@x.io", "E").with_external_id("x0"))?;
    let ids = Arc::new(parking_lot::Mutex::new(vec![first.id]));
    // How many creates have returned.
    let published = Arc::new(AtomicUsize::new(1));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, ids, published) = (store.clone(), Arc::clone(&ids), Arc::clone(&published));
            thread::spawn(move || -> Result<usize, String> {
                let mut checks = 0;
                loop {
                    let returned = published.load(Ordering::SeqCst);
                    let v = returned - 1;
                    let id = ids.lock()[v].clone();
                    let by_id = store.get(BIZ, &id).map_err(|e| e.to_string())?;
                    let by_email = store
                        .get_by_email(BIZ, &format!("E{v}@X.IO"))
                        .map_err(|e| e.to_string())?;
                    let by_external = store
                        .get_by_external_id(BIZ, &format!("x{v}"))
                        .map_err(|e| e.to_string())?;
                    // The page after the create before it starts with it.
                    let after_previous = match v.checked_sub(1) {
                        Some(p) => ListQuery::default().with_cursor(ids.lock()[p].clone()),
                        None => ListQuery::default(),
                    };
                    let by_list = store
                        .list(BIZ, &after_previous.with_limit(1))
                        .map_err(|e| e.to_string())?
                        .items
                        .pop();
                    for (how, found) in [
                        ("id", by_id),
                        ("email", by_email),
                        ("external id", by_external),
                        ("list", by_list),
                    ] {
                        match found {
                            Some(c) if c.id == id => {}
                            other => return Err(format!("create {v} missed by {how}: {other:?}")),
                        }
                    }
                    checks += 1;
                    if returned == WRITES {
                        return Ok(checks);
                    }
                }
            })
        })
        .collect();
    for v in 1..WRITES {
        let c = store.create(
            BIZ,
            NewCustomer::new(format!("e{v}@x.io"), "E").with_external_id(format!("x{v}")),
        )?;
        ids.lock().push(c.id);
        published.store(v + 1, Ordering::SeqCst);
    }
    for reader in readers {
        let checks = reader.join().map_err(|_| "reader panicked")??;
        assert!(checks > 0);
    }
    Ok(())
}

/// A stream of writes that no read separates runs in one held transaction (committed every
/// so many writes, and by the next read): every write is seen afterwards, and a write outside
/// the group commit (an API client) does not wait for ever on the held transaction.
#[test]
fn writes_held_between_reads_are_all_seen() -> TestResult {
    const WRITES: usize = 2_500;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("held.redb");
    let store = RedbStore::open(&path)?;
    let mut ids = Vec::with_capacity(WRITES);
    for i in 0..WRITES {
        let created = store.create(BIZ, NewCustomer::new(format!("h{i}@x.io"), "H"))?;
        ids.push(created.id);
        #[cfg(feature = "server")]
        if i == WRITES / 2 {
            store.create_client(BIZ, &customer_store::Scope::ALL)?;
        }
    }
    let walked: Vec<String> = all_customers(&store, BIZ)?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(walked, ids);
    // An update of a customer from before the last automatic commit, then a read by email.
    let updated = store.update(BIZ, &ids[3], CustomerPatch::default().set_name("Renamed"))?;
    assert_eq!(store.get_by_email(BIZ, "h3@x.io")?, Some(updated));
    verify_clean(&store, u64::try_from(WRITES)?)?;
    drop(store);
    let reopened = RedbStore::open(&path)?;
    assert_eq!(all_customers(&reopened, BIZ)?.len(), WRITES);
    Ok(())
}

/// Email-filtered walks while a writer creates customers (with a short email-index tail, so
/// folds come often and the waiting emails are kept in memory between them) and moves other
/// customers' emails into and out of the term: every customer whose email matches throughout
/// is found exactly once by every walk, and every customer found matches.
#[test]
fn email_filters_during_writes_and_folds_miss_no_customer() -> TestResult {
    const WRITES: usize = 1_500;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::builder()
        .email_index_tail(8)
        .open(dir.path().join("filters.redb"))?;
    let term = "qzvk";
    let mut stable = BTreeSet::new();
    for i in 0..30 {
        stable.insert(
            store
                .create(BIZ, NewCustomer::new(format!("keep{i}.{term}@x.io"), "K"))?
                .id,
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done, stable) = (store.clone(), Arc::clone(&done), stable.clone());
            thread::spawn(move || -> Result<usize, String> {
                let mut walks = 0;
                while !done.load(Ordering::SeqCst) || walks < 3 {
                    let mut seen = BTreeSet::new();
                    let mut query = ListQuery::default().with_email(term).with_limit(7);
                    loop {
                        let page = store.list(BIZ, &query).map_err(|e| e.to_string())?;
                        for c in &page.items {
                            if !c.email.to_lowercase().contains(term) {
                                return Err(format!("{} does not match", c.email));
                            }
                            if !seen.insert(c.id.clone()) {
                                return Err(format!("{} found twice in one walk", c.id));
                            }
                        }
                        match page.next_cursor.filter(|_| page.has_more) {
                            Some(cursor) => query = query.with_cursor(cursor),
                            None => break,
                        }
                    }
                    if let Some(missing) = stable.iter().find(|id| !seen.contains(*id)) {
                        return Err(format!("walk {walks} missed {missing}"));
                    }
                    walks += 1;
                }
                Ok(walks)
            })
        })
        .collect();
    let mut flips: Vec<String> = Vec::new();
    for i in 0..WRITES {
        store.create(BIZ, NewCustomer::new(format!("w{i}@x.io"), "W"))?;
        if i % 3 == 0 {
            flips.push(
                store
                    .create(BIZ, NewCustomer::new(format!("f{i}.{term}@x.io"), "F"))?
                    .id,
            );
        }
        if i % 5 == 0 && !flips.is_empty() {
            let id = &flips[i % flips.len()];
            let email = if i % 10 == 0 {
                format!("moved{i}@x.io")
            } else {
                format!("back{i}.{term}@x.io")
            };
            store.update(BIZ, id, CustomerPatch::default().set_email(email))?;
        }
    }
    done.store(true, Ordering::SeqCst);
    for reader in readers {
        let walks = reader.join().map_err(|_| "a reader panicked")??;
        assert!(walks >= 3, "{walks} walks");
    }
    // Quiet now: the indexed answer is the scan's.
    let walk = |list: &dyn Fn(&ListQuery) -> Result<customer_store::Page, Error>| {
        let mut query = ListQuery::default().with_email(term).with_limit(100);
        let mut ids = Vec::new();
        loop {
            let page = list(&query)?;
            ids.extend(page.items.iter().map(|c| c.id.clone()));
            match page.next_cursor.filter(|_| page.has_more) {
                Some(cursor) => query = query.with_cursor(cursor),
                None => return Ok::<_, Error>(ids),
            }
        }
    };
    assert_eq!(
        walk(&|q| store.list(BIZ, q))?,
        walk(&|q| store.list_by_scan(BIZ, q))?
    );
    Ok(())
}
