//! Repairing a damaged record: `RedbStore::remove_damaged` removes a record that fails its
//! checks, which every read and `delete` answer with `corrupt`, together with every index
//! entry and email posting that names it; `verify()` is clean after it, the customer's email
//! and externalId are free, and every other customer is as it was. A record that checks out
//! is refused (deleted as usual), a missing one is `not_found`.
//!
//! (Replaying the removal from the journal after a crash is in `journal_faults.rs`.)

use std::path::Path;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIZ: &str = "acme";
/// The name of the customer whose record is damaged: found in the file's bytes only there
/// (names are in no index).
const DAMAGED_NAME: &str = "Dora Damaged-Record";

fn open(path: &Path, tail: Option<u64>) -> customer_store::Result<RedbStore> {
    match tail {
        Some(tail) => RedbStore::builder().email_index_tail(tail).open(path),
        None => RedbStore::open(path),
    }
}

/// Every customer of the business, page by page.
fn walk(store: &RedbStore, query: ListQuery) -> customer_store::Result<Vec<Customer>> {
    let mut query = query.with_limit(7);
    let mut all = Vec::new();
    loop {
        let page = store.list(BIZ, &query)?;
        all.extend(page.items);
        match page.next_cursor.filter(|_| page.has_more) {
            Some(cursor) => query = query.with_cursor(cursor),
            None => return Ok(all),
        }
    }
}

/// A store of 40 customers of [`BIZ`] and 3 of another business, closed; the one at
/// `damaged` is named [`DAMAGED_NAME`], BLOCKED. Returns the customers of [`BIZ`].
fn written(
    path: &Path,
    tail: Option<u64>,
    damaged: usize,
) -> customer_store::Result<Vec<Customer>> {
    let store = open(path, tail)?;
    let mut made = Vec::new();
    for i in 0..40 {
        let name = if i == damaged {
            DAMAGED_NAME.to_owned()
        } else {
            format!("Customer {i}")
        };
        let customer = store.create(
            BIZ,
            NewCustomer::new(format!("user{i}@shop.example"), name)
                .with_external_id(format!("ext-{i}")),
        )?;
        made.push(customer);
    }
    let blocked = CustomerPatch::default().set_status(Status::Blocked);
    made[damaged] = store.update(BIZ, &made[damaged].id, blocked)?;
    for i in 0..3 {
        store.create(
            "globex",
            NewCustomer::new(format!("user{i}@shop.example"), "G"),
        )?;
    }
    assert!(store.close()?, "a clean close");
    Ok(made)
}

/// A store of one customer of [`BIZ`] and one of `zulu_merchant`, closed.
fn two_businesses(path: &Path) -> TestResult {
    let store = RedbStore::open(path)?;
    store.create(BIZ, NewCustomer::new("a@shop.example", "A"))?;
    store.create("zulu_merchant", NewCustomer::new("z@shop.example", "Z"))?;
    assert!(store.close()?);
    Ok(())
}

/// Changes one byte of the only place `needle` is stored in the file at `path`.
fn damage(path: &Path, needle: &[u8]) -> TestResult {
    let mut bytes = std::fs::read(path)?;
    let places: Vec<usize> = bytes
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(places.len(), 1, "the needle is in the file once");
    bytes[places[0]] ^= 0x20;
    std::fs::write(path, bytes)?;
    Ok(())
}

#[test]
fn a_damaged_record_is_removed_with_every_trace() -> TestResult {
    // The default tail keeps every new customer out of the postings; a tail of 1 folds them
    // in every 16 creates (its long tail), the damaged one among them.
    for tail in [None, Some(1)] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("customers.redb");
        let made = written(&path, tail, 20)?;
        let dora = made[20].clone();
        damage(&path, DAMAGED_NAME.as_bytes())?;

        let store = open(&path, tail)?;
        assert_eq!(
            store.get(BIZ, &dora.id).map_err(|e| e.code()),
            Err("corrupt")
        );
        let delete = store.delete(BIZ, &dora.id).map_err(|e| e.code());
        assert_eq!(delete.map(|c| c.id), Err("corrupt"), "tail {tail:?}");
        let report = store.verify().unwrap_err().to_string();
        assert!(
            report.contains(&dora.id),
            "verify names the record: {report}"
        );

        let damaged: Vec<(String, String)> = store
            .damaged_records()?
            .into_iter()
            .map(|d| (d.business, d.id))
            .collect();
        assert_eq!(damaged, [(BIZ.to_owned(), dora.id.clone())]);

        store.remove_damaged(BIZ, &dora.id)?;
        assert!(store.damaged_records()?.is_empty());

        // `verify` also finds a posting that names no record.
        let report = store.verify()?;
        assert_eq!(report.customers, 42, "tail {tail:?}");
        assert_eq!(report.gram_postings > 0, tail.is_some(), "tail {tail:?}");
        assert_eq!(store.get(BIZ, &dora.id)?, None);
        assert_eq!(store.get_by_email(BIZ, &dora.email)?, None);
        let others: Vec<Customer> = made.iter().filter(|c| c.id != dora.id).cloned().collect();
        assert_eq!(walk(&store, ListQuery::default())?, others);
        let blocked = walk(&store, ListQuery::default().with_status(Status::Blocked))?;
        assert_eq!(blocked, Vec::<Customer>::new(), "tail {tail:?}");
        let by_email = walk(&store, ListQuery::default().with_email("user2"))?;
        let want: Vec<Customer> = others
            .iter()
            .filter(|c| c.email.contains("user2"))
            .cloned()
            .collect();
        assert_eq!(by_email, want, "tail {tail:?}");
        let acme = store.businesses()?.into_iter().find(|b| b.name == BIZ);
        let counts = acme.map(|b| (b.active, b.blocked));
        assert_eq!(counts, Some((39, 0)), "tail {tail:?}");

        // Its email and externalId are free, and no index still names the old id.
        let again = store.create(
            BIZ,
            NewCustomer::new(dora.email.clone(), "Dora").with_external_id("ext-20"),
        )?;
        assert_ne!(again.id, dora.id);
        assert_eq!(
            store.get_by_external_id(BIZ, "ext-20")?,
            Some(again.clone())
        );
        store.verify()?;

        // Nothing left to remove; a record that checks out is deleted as usual.
        let gone = store.remove_damaged(BIZ, &dora.id).unwrap_err();
        assert!(gone.is_not_found(), "{gone}");
        let healthy = store.remove_damaged(BIZ, &again.id).unwrap_err();
        assert_eq!(
            (healthy.code(), healthy.field()),
            ("invalid_request", Some("id"))
        );
        assert_eq!(store.get(BIZ, &again.id)?, Some(again));
        drop(store);

        // The removal lasts.
        let store = open(&path, tail)?;
        assert_eq!(store.verify()?.customers, 43);
        assert_eq!(store.get(BIZ, &dora.id)?, None);
    }
    Ok(())
}

/// A damaged record waiting in the email index's tail is never silently left out of a
/// filtered list (found in an operator's trial: `list --email` skipped it, exit 0): the list
/// answers `corrupt`, also after creates that would fold the tail (the fold stops at the
/// damaged record, and creates go on), and while a tail is kept in memory. Once the record is
/// removed, the fold goes on and the store is clean.
#[test]
fn a_damaged_record_in_the_tail_is_never_left_out_of_a_filtered_list() -> TestResult {
    // The default tail (the record waits, read from the file); a tail of 1 with its long
    // tail of 16 (the damaged 36th waits after the fold at 32, a tail kept in memory).
    for (tail, at) in [(None, 20), (Some(1), 35)] {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("customers.redb");
        let made = written(&path, tail, at)?;
        let dora = made[at].clone();
        damage(&path, DAMAGED_NAME.as_bytes())?;

        let store = open(&path, tail)?;
        let query = ListQuery::default().with_email(dora.email.clone());
        let filtered = |store: &RedbStore| walk(store, query.clone()).map_err(|e| e.code());
        assert_eq!(filtered(&store), Err("corrupt"), "tail {tail:?}");
        let statuses = ListQuery::default().with_status(Status::Blocked);
        let blocked = walk(&store, statuses.clone()).map_err(|e| e.code());
        assert_eq!(blocked, Err("corrupt"), "tail {tail:?}");
        // Creates go on, and the folds they start stop at the damaged record.
        for i in 40..80 {
            store.create(BIZ, NewCustomer::new(format!("user{i}@shop.example"), "N"))?;
        }
        assert_eq!(filtered(&store), Err("corrupt"), "tail {tail:?}");
        drop(store);
        let store = open(&path, tail)?;
        assert_eq!(filtered(&store), Err("corrupt"), "tail {tail:?}, reopened");

        store.remove_damaged(BIZ, &dora.id)?;
        assert_eq!(filtered(&store), Ok(Vec::new()), "tail {tail:?}");
        assert_eq!(store.verify()?.customers, 82);
        for i in 80..120 {
            store.create(BIZ, NewCustomer::new(format!("user{i}@shop.example"), "N"))?;
        }
        let report = store.verify()?;
        assert_eq!(report.customers, 122);
        if tail.is_some() {
            // The folds went on past where the damaged record was.
            assert!(report.gram_postings > 0, "{report:?}");
        }
        let all = walk(&store, ListQuery::default().with_email("user1"))?;
        assert_eq!(all.len(), 1 + 10 + 20, "user1, user10..19 and user100..119");
    }
    Ok(())
}

/// A business whose entry in the businesses table is damaged (its name changed on disk) is not
/// created a second time beside its records: a create or import for a new business is refused
/// as `corrupt` (found in an operator's trial: an import made a second "globex" beside 2,000
/// orphaned customers). Known businesses go on.
#[test]
fn no_business_is_created_while_another_entry_is_damaged() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    two_businesses(&path)?;
    // Its name's middle, which keeps the keys in order (a first letter changed in case
    // would move it before "acme" and hide that one from lookups too).
    damage(&path, b"merchant")?;

    let store = RedbStore::open(&path)?;
    for business in ["zulu_merchant", "new_merchant"] {
        let refused = store.create(business, NewCustomer::new("z@shop.example", "Z"));
        let error = refused.unwrap_err();
        assert_eq!(error.code(), "corrupt", "{business}: {error}");
        assert!(
            error.to_string().contains("entry of another is damaged"),
            "{error}"
        );
        let batch = vec![NewCustomer::new("y@shop.example", "Y")];
        assert_eq!(
            store.create_many(business, batch).unwrap_err().code(),
            "corrupt"
        );
    }
    store.create(BIZ, NewCustomer::new("b@shop.example", "B"))?;
    assert_eq!(walk(&store, ListQuery::default())?.len(), 2);
    assert_eq!(store.verify().unwrap_err().code(), "corrupt");
    Ok(())
}

/// A record damaged while its business's waiting emails are kept in memory, and a fold that
/// then stops at it: the customers still waiting are not answered from an emptied memory
/// (found in review: a filter then missed healthy customers, `Ok` with none).
#[cfg(feature = "fault-injection")]
#[test]
fn a_fold_stopped_by_damage_leaves_no_customer_out_of_a_filter() -> TestResult {
    use redb::StorageBackend as _;
    let backend = std::sync::Arc::new(redb::backends::InMemoryBackend::new());
    let store = RedbStore::builder()
        .email_index_tail(4)
        .cache_size(0)
        .open_backend(backend.clone())?;
    let made = (0..10)
        .map(|i| {
            store.create(
                BIZ,
                NewCustomer::new(format!("c{i}@x.io"), format!("Name-{i}-Zq")),
            )
        })
        .collect::<customer_store::Result<Vec<_>>>()?;
    // The memory no longer holds exactly the tail, so the next fold reads the records.
    store.delete(BIZ, &made[1].id)?;
    let mut bytes = vec![0u8; usize::try_from(backend.len()?)?];
    backend.read(0, &mut bytes)?;
    let needle = b"Name-5-Zq";
    let places: Vec<usize> = (0..=bytes.len() - needle.len())
        .filter(|&at| &bytes[at..at + needle.len()] == needle)
        .collect();
    assert!(!places.is_empty(), "the record is in the file");
    for at in places {
        backend.write(u64::try_from(at)?, b"X")?;
    }
    for i in 10..70 {
        store.create(BIZ, NewCustomer::new(format!("c{i}@x.io"), "N"))?;
    }
    for i in [7, 9, 42, 69] {
        let query = ListQuery::default().with_email(format!("c{i}@x.io"));
        let found = store.list(BIZ, &query).map(|p| p.items.len());
        assert!(matches!(found, Ok(1)) || found.is_err(), "c{i}: {found:?}");
    }
    Ok(())
}

/// Another business's damaged entry does not stop one business's own summary (which
/// `export` checks its count against; found in review: `businesses()` failed, and so did the
/// export of a healthy business).
#[test]
fn a_business_summary_reads_only_its_own_entry() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    two_businesses(&path)?;
    damage(&path, b"merchant")?;
    let store = RedbStore::open(&path)?;
    assert_eq!(store.businesses().unwrap_err().code(), "corrupt");
    assert_eq!(store.business(BIZ)?.map(|b| b.customers()), Some(1));
    assert_eq!(store.business("nobody")?, None);
    Ok(())
}
