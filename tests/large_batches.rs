//! `create_many` with batches large enough (256 customers and more) that the store writes the
//! unique indexes on a second thread while it writes the records, the status index, the
//! counts and the email index's tail on the first: the outcome must be the one a plain
//! reference model gives, item for item.
//!
//! Each case runs a few large batches against a model (emails, ignoring case, and externalIds,
//! per business). A batch may carry up to three injected conflicts (a repeat of an earlier
//! item, or a value a stored customer holds) at random positions, often on the same item, so
//! that the first offending item is anywhere in it and the email side and the externalId side
//! of the checks both find one. After the batches: every lookup by email and by externalId,
//! the status filter and an email-substring filter agree with the model, and `verify()` finds
//! the indexes consistent. The email-index tail is 16 (every batch folds it), 40 (the tail's
//! memory starts with a business's first batch, takes the next and folds at the third, when
//! a case has that many clean batches for one business) or the default (a business's first
//! 1,023 customers wait unfolded, read from their records).
//!
//! Other tests: one item breaking rules of both indexes; field rules checked in two halves;
//! a process killed right after two large batches (the journal's replay); a tail kept in
//! memory across large batches, then folded.

use std::collections::{BTreeMap, HashMap};

use customer_store::{
    Customer, CustomerStore, Error, ImportCustomer, ListQuery, NewCustomer, RedbStore, Status,
};
use proptest::prelude::*;
use spec_support::{all_matching, ids_of_aborted_child};

mod spec_support;

/// A conflict put into a batch at `at` (a fraction of its length).
#[derive(Debug, Clone, Copy)]
enum Conflict {
    /// The email of an earlier item of the batch, in upper case.
    RepeatEmail,
    /// The externalId of an earlier item of the batch.
    RepeatExternalId,
    /// The email of a stored customer of the business.
    TakenEmail,
    /// The externalId of a stored customer of the business.
    TakenExternalId,
}

#[derive(Debug, Clone)]
struct BatchSpec {
    business: usize,
    len: usize,
    /// Which items have an externalId: every `external_every`-th.
    external_every: usize,
    /// Through `import_many`, with these statuses in turn (`create_many` makes every customer
    /// active).
    statuses: Option<Vec<u8>>,
    /// Conflicts and where (a fraction of the batch's length; equal fractions, same item).
    conflicts: Vec<(Conflict, f64)>,
}

fn batch_spec() -> impl Strategy<Value = BatchSpec> {
    let conflict = prop_oneof![
        Just(Conflict::RepeatEmail),
        Just(Conflict::RepeatExternalId),
        Just(Conflict::TakenEmail),
        Just(Conflict::TakenExternalId),
    ];
    (
        prop_oneof![3 => Just(0usize), 1 => Just(1usize)],
        256..330usize,
        1..4usize,
        proptest::option::of(proptest::collection::vec(0..3u8, 1..16)),
        // Half the batches clean, so that businesses grow across batches.
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(
                (
                    conflict,
                    prop_oneof![Just(0.25), Just(0.5), Just(0.75), 0.0..1.0f64],
                ),
                1..4,
            ),
        ],
    )
        .prop_map(
            |(business, len, external_every, statuses, conflicts)| BatchSpec {
                business,
                len,
                external_every,
                statuses,
                conflicts,
            },
        )
}

const BUSINESSES: [&str; 2] = ["acme", "globex"];

fn status(code: u8) -> Status {
    match code {
        0 => Status::Active,
        1 => Status::Inactive,
        _ => Status::Blocked,
    }
}

/// One business as the model has it: lower-cased email → id, externalId → id, id → status.
#[derive(Default)]
struct Model {
    emails: HashMap<String, String>,
    external_ids: HashMap<String, String>,
    statuses: BTreeMap<String, Status>,
}

/// The first offending item of `batch` for `model`, as `create_many` must name it: for each
/// item in order, a repeat of an earlier item's email, then of its externalId, then an email
/// a stored customer holds, then a stored externalId.
fn first_offence(model: &Model, batch: &[NewCustomer]) -> Option<(usize, &'static str)> {
    let mut emails = HashMap::new();
    let mut external_ids = HashMap::new();
    for (index, item) in batch.iter().enumerate() {
        let key = item.email.trim().to_lowercase();
        if emails.contains_key(&key) {
            return Some((index, "repeat email"));
        }
        if let Some(external_id) = &item.external_id
            && external_ids.contains_key(external_id)
        {
            return Some((index, "repeat externalId"));
        }
        if model.emails.contains_key(&key) {
            return Some((index, "taken email"));
        }
        if let Some(external_id) = &item.external_id
            && model.external_ids.contains_key(external_id)
        {
            return Some((index, "taken externalId"));
        }
        emails.insert(key, index);
        if let Some(external_id) = &item.external_id {
            external_ids.insert(external_id.clone(), index);
        }
    }
    None
}

fn kind(error: &Error) -> &'static str {
    match error {
        Error::DuplicateInBatch { field: "email", .. } => "repeat email",
        Error::DuplicateInBatch { .. } => "repeat externalId",
        Error::EmailTaken { .. } => "taken email",
        Error::ExternalIdTaken { .. } => "taken externalId",
        _ => "other",
    }
}

/// The batch `spec` describes; `serial` makes its values unique across the case.
fn make_batch(spec: &BatchSpec, serial: usize, model: &Model) -> Vec<NewCustomer> {
    let mut batch: Vec<NewCustomer> = (0..spec.len)
        .map(|i| {
            let mut item = NewCustomer::new(
                format!("b{serial}.i{i}.q{}@mail{}.example", i * 7 % 13, i % 5),
                format!("Customer {serial}-{i}"),
            );
            if i % spec.external_every == 0 {
                item = item.with_external_id(format!("ext-{serial}-{i}"));
            }
            item
        })
        .collect();
    for &(conflict, at) in &spec.conflicts {
        // Positions from 1 on, so that an earlier item exists to repeat.
        let at = 1 + ((spec.len - 1) as f64 * at) as usize % (spec.len - 1);
        match conflict {
            Conflict::RepeatEmail => {
                let earlier = batch[at / 2].email.to_uppercase();
                batch[at].email = earlier;
            }
            Conflict::RepeatExternalId => {
                let earlier = (0..at)
                    .rev()
                    .find_map(|i| batch[i].external_id.clone())
                    .unwrap_or_else(|| "ext-none".to_owned());
                batch[at].external_id = Some(earlier);
            }
            Conflict::TakenEmail => {
                if let Some(stored) = model.emails.keys().nth(at % 7) {
                    batch[at].email = stored.clone();
                }
            }
            Conflict::TakenExternalId => {
                if let Some(stored) = model.external_ids.keys().nth(at % 7) {
                    batch[at].external_id = Some(stored.clone());
                }
            }
        }
    }
    batch
}

/// `batch` written through `create_many`, or through `import_many` with `statuses` in turn.
fn write(
    store: &RedbStore,
    business: &str,
    batch: Vec<NewCustomer>,
    statuses: Option<&[u8]>,
) -> customer_store::Result<Vec<Customer>> {
    match statuses {
        None => store.create_many(business, batch),
        Some(codes) => {
            let items = batch
                .into_iter()
                .zip(codes.iter().cycle())
                .map(|(item, &code)| ImportCustomer {
                    status: Some(status(code)),
                    ..ImportCustomer::from(item)
                })
                .collect();
            store.import_many(business, items)
        }
    }
}

/// Every lookup and filter of `business` agrees with `model`.
fn check_reads(store: &RedbStore, business: &str, model: &Model) -> Result<(), TestCaseError> {
    for (email, id) in &model.emails {
        let found = store.get_by_email(business, &email.to_uppercase());
        prop_assert_eq!(found.ok().flatten().map(|c| c.id), Some(id.clone()));
    }
    for (external_id, id) in &model.external_ids {
        let found = store.get_by_external_id(business, external_id);
        prop_assert_eq!(found.ok().flatten().map(|c| c.id), Some(id.clone()));
    }
    for code in 0..3 {
        let wanted: Vec<&String> = model
            .statuses
            .iter()
            .filter(|(_, s)| **s == status(code))
            .map(|(id, _)| id)
            .collect();
        let found = all_pages(
            store,
            business,
            ListQuery::default().with_status(status(code)),
        )?;
        prop_assert_eq!(found.iter().collect::<Vec<_>>(), wanted);
    }
    // A substring of some emails (".q3@mail"), across the folded postings and the tail.
    let mut wanted: Vec<&String> = model
        .emails
        .iter()
        .filter(|(email, _)| email.contains(".q3@mail"))
        .map(|(_, id)| id)
        .collect();
    wanted.sort();
    let found = all_pages(store, business, ListQuery::default().with_email(".Q3@MAIL"))?;
    prop_assert_eq!(found.iter().collect::<Vec<_>>(), wanted);
    Ok(())
}

/// The ids of every customer `query` matches ([`all_matching`]).
fn all_pages(
    store: &RedbStore,
    business: &str,
    query: ListQuery,
) -> Result<Vec<String>, TestCaseError> {
    let customers = all_matching(store, business, query)
        .map_err(|e| TestCaseError::fail(format!("list: {e}")))?;
    Ok(customers.into_iter().map(|c| c.id).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn large_batches_match_the_model(
        specs in proptest::collection::vec(batch_spec(), 2..8),
        tail in prop_oneof![Just(16u64), Just(40), Just(customer_store::DEFAULT_EMAIL_INDEX_TAIL)],
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let store = RedbStore::builder()
            .email_index_tail(tail)
            .open(dir.path().join("large.redb"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut models: [Model; 2] = Default::default();
        for (serial, spec) in specs.iter().enumerate() {
            let business = BUSINESSES[spec.business];
            let model = &mut models[spec.business];
            let batch = make_batch(spec, serial, model);
            let expected = first_offence(model, &batch);
            let statuses = spec.statuses.as_deref();
            match (write(&store, business, batch.clone(), statuses), expected) {
                (Ok(created), None) => {
                    prop_assert_eq!(created.len(), batch.len());
                    let codes = statuses.unwrap_or(&[0]);
                    for ((customer, item), &code) in created.iter().zip(&batch).zip(codes.iter().cycle()) {
                        prop_assert_eq!(&customer.email, &item.email);
                        prop_assert_eq!(&customer.external_id, &item.external_id);
                        prop_assert_eq!(customer.status, status(code));
                        model.emails.insert(item.email.to_lowercase(), customer.id.clone());
                        if let Some(external_id) = &item.external_id {
                            model.external_ids.insert(external_id.clone(), customer.id.clone());
                        }
                        model.statuses.insert(customer.id.clone(), customer.status);
                    }
                }
                (Err(Error::Batch { index, source }), Some((at, what))) => {
                    prop_assert_eq!((index, kind(&source)), (at, what));
                }
                (outcome, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "batch {serial}: {:?} where the model expects {expected:?}",
                        outcome.map(|c| c.len())
                    )));
                }
            }
        }
        for (business, model) in BUSINESSES.iter().zip(&models) {
            check_reads(&store, business, model)?;
        }
        let report = store.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let customers: usize = models.iter().map(|m| m.emails.len()).sum();
        let external_ids: usize = models.iter().map(|m| m.external_ids.len()).sum();
        prop_assert_eq!(report.customers, customers as u64);
        prop_assert_eq!(report.email_entries, customers as u64);
        prop_assert_eq!(report.external_id_entries, external_ids as u64);
        prop_assert_eq!(report.status_entries, customers as u64);
    }
}

/// A batch of 600 (its field rules checked in two halves at once) is refused at its first
/// offending item, whichever half holds it and whatever rule it breaks, and writes nothing.
#[test]
fn a_large_batch_names_its_first_offending_item() -> Result<(), Box<dyn std::error::Error>> {
    let store = RedbStore::in_memory()?;
    let stored = store.create("acme", NewCustomer::new("kept@x.example", "Kept"))?;
    let batch = |bad: &[(usize, &str)]| -> Vec<NewCustomer> {
        (0..600)
            .map(|i| {
                let email = bad
                    .iter()
                    .find(|(at, _)| *at == i)
                    .map_or_else(|| format!("c{i}@x.example"), |(_, e)| (*e).to_owned());
                NewCustomer::new(email, "N")
            })
            .collect()
    };
    // (the bad items: index and email; the index and code of the error)
    type Case<'a> = (&'a [(usize, &'a str)], usize, &'a str);
    let cases: [Case<'_>; 5] = [
        // Invalid in the second half only.
        (&[(400, "not an email")], 400, "invalid_request"),
        // Invalid in both halves: the first half's.
        (
            &[(100, "nope"), (400, "not an email")],
            100,
            "invalid_request",
        ),
        // Invalid at the second half's first item.
        (&[(300, "nope")], 300, "invalid_request"),
        // A taken email before an invalid item of the second half.
        (&[(50, "KEPT@x.example"), (400, "nope")], 50, "email_taken"),
        // An invalid item before a taken email.
        (
            &[(20, "nope"), (450, "kept@x.example")],
            20,
            "invalid_request",
        ),
    ];
    for (bad, index, code) in cases {
        match store.create_many("acme", batch(bad)) {
            Err(Error::Batch { index: at, source }) => {
                assert_eq!((at, source.code()), (index, code), "{bad:?}");
            }
            other => panic!("{bad:?}: {:?}", other.map(|c| c.len())),
        }
        assert_eq!(store.verify()?.customers, 1, "{bad:?} wrote something");
    }
    let created = store.create_many("acme", batch(&[]))?;
    assert_eq!(created.len(), 600);
    assert_eq!(created[599].email, "c599@x.example");
    assert_eq!(store.get("acme", &stored.id)?, Some(stored));
    assert_eq!(store.verify()?.customers, 601);
    Ok(())
}

/// The environment variable that makes `a_large_batch_survives_a_crash` the child.
const CHILD_DB: &str = "LARGE_BATCHES_CHILD_DB";

/// A large batch that returned `Ok` lives only in the journal until a checkpoint: a process
/// that dies right after it leaves the batch to the next open's replay, which writes it
/// through the same two-thread path. The reopened store holds every customer, its lookups and
/// an email-substring filter agree, and `verify()` finds the indexes consistent.
#[test]
fn a_large_batch_survives_a_crash() -> Result<(), Box<dyn std::error::Error>> {
    const NAME: &str = "a_large_batch_survives_a_crash";
    let batch = |from: usize| -> Vec<NewCustomer> {
        (from..from + 300)
            .map(|i| {
                NewCustomer::new(format!("crash{i}.q3@mail.example"), "N")
                    .with_external_id(format!("ext-crash-{i}"))
            })
            .collect()
    };
    if let Some(path) = std::env::var_os(CHILD_DB) {
        // The child: two large batches (the second into an existing business, so that its
        // checks run on two threads too), then a death without unwinding or closing.
        use std::io::Write as _;
        let store = RedbStore::builder().email_index_tail(100).open(&path)?;
        let mut out = std::io::stdout().lock();
        for from in [0, 300] {
            for customer in store.create_many("acme", batch(from))? {
                writeln!(out, "created {}", customer.id)?;
            }
        }
        out.flush()?;
        std::process::abort();
    }

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("customers.redb");
    let ids = ids_of_aborted_child(NAME, CHILD_DB, &path)?;
    assert_eq!(ids.len(), 600, "child ids: {ids:?}");
    let mut journal = path.clone().into_os_string();
    journal.push(".journal");
    assert!(
        std::fs::metadata(&journal)?.len() > 0,
        "the batches were not left to the journal"
    );

    let store = RedbStore::builder().email_index_tail(100).open(&path)?;
    let report = store.verify()?;
    assert_eq!(
        (
            report.customers,
            report.email_entries,
            report.external_id_entries
        ),
        (600, 600, 600)
    );
    for (i, id) in ids.iter().enumerate() {
        let by_email = store.get_by_email("acme", &format!("CRASH{i}.Q3@mail.example"))?;
        assert_eq!(by_email.map(|c| c.id).as_ref(), Some(id));
        let by_external_id = store.get_by_external_id("acme", &format!("ext-crash-{i}"))?;
        assert_eq!(by_external_id.map(|c| c.id).as_ref(), Some(id));
    }
    let found = all_pages(&store, "acme", ListQuery::default().with_email("h59"))
        .map_err(|e| e.to_string())?;
    let wanted: Vec<String> = (0..600)
        .filter(|i| format!("crash{i}.q3").contains("h59"))
        .map(|i| ids[i].clone())
        .collect();
    assert_eq!(found, wanted);
    // The replayed batches are refused again: the indexes hold them.
    match store.create_many("acme", batch(0)) {
        Err(Error::Batch { index: 0, source }) => assert_eq!(source.code(), "email_taken"),
        other => panic!("{:?}", other.map(|c| c.len())),
    }
    Ok(())
}

/// When one item of a large batch breaks rules of both indexes (found on two threads), the
/// error is the one the checks in item order give: a repeat of an earlier email, then of an
/// earlier externalId, then a stored email, then a stored externalId.
#[test]
fn one_item_breaking_both_indexes_reports_the_serial_order()
-> Result<(), Box<dyn std::error::Error>> {
    let store = RedbStore::in_memory()?;
    store.create(
        "acme",
        NewCustomer::new("stored@x.example", "S").with_external_id("ext-stored"),
    )?;
    let batch = |email: &str, external_id: &str| -> Vec<NewCustomer> {
        (0..300)
            .map(|i| {
                let item = NewCustomer::new(format!("c{i}@x.example"), "N")
                    .with_external_id(format!("ext-{i}"));
                if i == 200 {
                    NewCustomer::new(email, "N").with_external_id(external_id)
                } else {
                    item
                }
            })
            .collect()
    };
    let cases = [
        // (email, externalId of item 200; the error's code and field, and whether it names a
        // repeat of an earlier item)
        ("C7@x.example", "ext-8", "email_taken", "email", true),
        ("C7@x.example", "ext-stored", "email_taken", "email", true),
        (
            "stored@x.example",
            "ext-8",
            "external_id_taken",
            "externalId",
            true,
        ),
        (
            "stored@x.example",
            "ext-stored",
            "email_taken",
            "email",
            false,
        ),
    ];
    for (email, external_id, code, field, repeat) in cases {
        match store.create_many("acme", batch(email, external_id)) {
            Err(Error::Batch { index, source }) => {
                assert_eq!(
                    (index, source.code(), source.field()),
                    (200, code, Some(field)),
                    "{email} {external_id}: {source:?}"
                );
                let found = matches!(*source, Error::DuplicateInBatch { .. });
                assert_eq!(found, repeat, "{email} {external_id}: {source:?}");
            }
            other => panic!("{email} {external_id}: {:?}", other.map(|c| c.len())),
        }
    }
    assert_eq!(store.verify()?.customers, 1);
    Ok(())
}

/// A tail kept in memory across large batches, then folded (1,120 customers or more here:
/// the tail of 70 kept up to 16 times that): the postings the fold writes are those of every
/// record (`verify()`), and a substring filter finds every match before and after it.
#[test]
fn a_long_tail_folded_after_large_batches_indexes_every_customer()
-> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::builder()
        .email_index_tail(70)
        .open(dir.path().join("fold.redb"))?;
    let mut ids = Vec::new();
    for round in 0..5 {
        let batch = (0..300)
            .map(|i| NewCustomer::new(format!("r{round}.n{i}.z{}@fold.example", i % 11), "N"))
            .collect();
        ids.extend(store.create_many("acme", batch)?.into_iter().map(|c| c.id));
        let wanted: Vec<&String> = ids
            .iter()
            .enumerate()
            .filter(|(k, _)| (k % 300) % 11 == 4)
            .map(|(_, id)| id)
            .collect();
        let found = all_pages(&store, "acme", ListQuery::default().with_email(".Z4@"))
            .map_err(|e| e.to_string())?;
        assert_eq!(
            found.iter().collect::<Vec<_>>(),
            wanted,
            "after round {round}"
        );
        let report = store.verify()?;
        assert_eq!(report.customers, ids.len() as u64);
    }
    Ok(())
}
