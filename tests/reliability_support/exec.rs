//! Runs a workload against a store and the reference model side by side.
//!
//! Every answer of the store is compared with the model's, errors included (code, existing id,
//! batch index). After every step the store's full list walk must equal the model, every
//! record must be found through each of its indexes, and `verify()` must be clean.
//!
//! With fault injection (`disarm` set), a write that fails with a `storage` error has an
//! unknown outcome: the harness reads the store back and accepts exactly two states, the
//! model before the write and the model after it, then follows the one the store is in.

use std::sync::Arc;

use customer_store::{Customer, CustomerStore, Error, ListQuery, ManualClock, Page, RedbStore};

use super::model::{
    BUSINESSES, Dump, EMAILS, EXTERNAL_IDS, Expect, FILTERS, Model, NewSpec, Op, PatchSpec,
    VALID_BUSINESSES, Walk, email_key, pick, status,
};

/// What went wrong, in words (proptest shrinks on it, the fuzzer panics with it).
pub type Check = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Opens (or reopens) the store under test with the harness's clock.
pub type Opener = Box<dyn FnMut(Arc<ManualClock>) -> customer_store::Result<RedbStore>>;

/// Counts of what a workload exercised, for the reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub steps: u64,
    pub writes_ok: u64,
    pub writes_refused: u64,
    pub reads: u64,
    pub pages: u64,
    pub reopens: u64,
    pub unknown_absent: u64,
    pub unknown_applied: u64,
}

/// A store under test, its model and its clock.
pub struct Harness {
    store: Option<RedbStore>,
    pub model: Model,
    pub clock: Arc<ManualClock>,
    opener: Opener,
    /// Set under fault injection: turns faults off before the store is read back.
    disarm: Option<Box<dyn Fn()>>,
    pub stats: Stats,
}

/// A store answer reduced for comparison.
fn reduce<T>(r: &customer_store::Result<T>) -> Result<&T, Expect> {
    r.as_ref().map_err(Expect::from)
}

/// Compares a store answer with the model's: values exactly, errors by their reduced form,
/// and the error's code with the code the model predicts.
fn compare<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: &Result<T, Expect>,
    actual: &customer_store::Result<T>,
) -> Check {
    let reduced = reduce(actual);
    ensure!(
        expected.as_ref() == reduced.as_ref().map(|v| *v),
        "{what}: expected {expected:#?}\n  got {actual:#?}"
    );
    if let (Err(e), Err(x)) = (actual, expected) {
        ensure!(e.code() == x.code(), "{what}: code {} for {e:?}", e.code());
        check_accessors(e)?;
    }
    Ok(())
}

/// The accessors agree with the variant.
fn check_accessors(e: &Error) -> Check {
    let reduced = Expect::from(e);
    let (existing, index) = match &reduced {
        Expect::EmailTaken(id) | Expect::ExternalIdTaken(id) => (Some(id.clone()), None),
        Expect::Batch(i, inner) => match &**inner {
            Expect::EmailTaken(id) | Expect::ExternalIdTaken(id) => (Some(id.clone()), Some(*i)),
            _ => (None, Some(*i)),
        },
        _ => (None, None),
    };
    ensure!(
        e.existing_id().map(str::to_owned) == existing,
        "existing_id() of {e:?}"
    );
    ensure!(e.batch_index() == index, "batch_index() of {e:?}");
    Ok(())
}

impl Harness {
    /// A harness on the store `opener` opens; the clock starts at `start`.
    pub fn new(start: jiff::Timestamp, mut opener: Opener) -> customer_store::Result<Harness> {
        let clock = Arc::new(ManualClock::new(start));
        let store = opener(clock.clone())?;
        Ok(Harness {
            store: Some(store),
            model: Model::new(clock_now(&clock)),
            clock,
            opener,
            disarm: None,
            stats: Stats::default(),
        })
    }

    /// Accepts unknown outcomes of failed writes; `disarm` turns the faults off.
    pub fn with_faults(mut self, disarm: Box<dyn Fn()>) -> Harness {
        self.disarm = Some(disarm);
        self
    }

    pub fn store(&self) -> &RedbStore {
        self.store.as_ref().expect("the store is open")
    }

    fn faults(&self) -> bool {
        self.disarm.is_some()
    }

    fn disarm(&self) {
        if let Some(disarm) = &self.disarm {
            disarm();
        }
    }

    /// Runs one operation on both sides, then checks every invariant.
    pub fn step(&mut self, op: &Op) -> Check {
        self.stats.steps += 1;
        let result = self.run(op);
        self.disarm();
        result?;
        self.check_invariants()
    }

    fn run(&mut self, op: &Op) -> Check {
        match op {
            Op::Create { biz, new } => self.create(*biz, new),
            Op::CreateMany { biz, items } => self.create_many(*biz, items),
            Op::Update { biz, target, patch } => {
                let id = self.model.target(*biz, *target);
                self.update(*biz, &id, patch)
            }
            Op::Delete { biz, target } => {
                let id = self.model.target(*biz, *target);
                self.delete(*biz, &id)
            }
            Op::Get { biz, target } => {
                let id = self.model.target(*biz, *target);
                let actual = self.store().get(BUSINESSES[*biz], &id);
                self.read("get", &self.model.get(*biz, &id), &actual)
            }
            Op::GetByEmail { biz, email } => {
                let email = pick(EMAILS, *email).0;
                let actual = self.store().get_by_email(BUSINESSES[*biz], email);
                self.read(
                    "get_by_email",
                    &self.model.get_by_email(*biz, email),
                    &actual,
                )
            }
            Op::GetByExternalId { biz, external_id } => {
                let x = pick(EXTERNAL_IDS, *external_id).0;
                let actual = self.store().get_by_external_id(BUSINESSES[*biz], x);
                self.read(
                    "get_by_external_id",
                    &self.model.get_by_external_id(*biz, x),
                    &actual,
                )
            }
            Op::List { biz, walk } => self.walk(*biz, walk),
            Op::Clock { seconds } => {
                self.clock.advance_seconds(*seconds);
                self.model.now = clock_now(&self.clock);
                Ok(())
            }
            Op::Reopen => self.reopen(),
        }
    }

    fn read<T: PartialEq + std::fmt::Debug>(
        &mut self,
        what: &str,
        expected: &Result<T, Expect>,
        actual: &customer_store::Result<T>,
    ) -> Check {
        self.stats.reads += 1;
        if let Err(e) = actual
            && e.is_storage()
            && self.faults()
        {
            return self.resolve(what, |_, _| Err("a read changed the store".to_owned()));
        }
        compare(what, expected, actual)
    }

    fn count_write<T>(&mut self, expected: &Result<T, Expect>) {
        if expected.is_ok() {
            self.stats.writes_ok += 1;
        } else {
            self.stats.writes_refused += 1;
        }
    }

    fn create(&mut self, biz: usize, spec: &NewSpec) -> Check {
        let expected = self.model.expect_create(biz, spec);
        self.count_write(&expected);
        let actual = self.store().create(BUSINESSES[biz], spec.to_new());
        match (expected, actual) {
            (_, Err(e)) if e.is_storage() && self.faults() => {
                self.resolve("create", |model, dump| {
                    let draft = model
                        .expect_create(biz, spec)
                        .map_err(|e| format!("the create had to fail ({e:?})"))?;
                    let created = new_records(model, dump, biz, std::slice::from_ref(&draft))?;
                    model.commit_created(biz, vec![draft], &created)
                })
            }
            (Ok(draft), Ok(c)) => self.model.commit_created(biz, vec![draft], &[c]),
            (expected, actual) => compare("create", &expected, &actual),
        }
    }

    fn create_many(&mut self, biz: usize, specs: &[NewSpec]) -> Check {
        let expected = self.model.expect_create_many(biz, specs);
        self.count_write(&expected);
        let new = specs.iter().map(NewSpec::to_new).collect();
        let actual = self.store().create_many(BUSINESSES[biz], new);
        match (expected, actual) {
            (_, Err(e)) if e.is_storage() && self.faults() => {
                self.resolve("create_many", |model, dump| {
                    let drafts = model
                        .expect_create_many(biz, specs)
                        .map_err(|e| format!("the batch had to fail ({e:?})"))?;
                    let created = new_records(model, dump, biz, &drafts)?;
                    model.commit_created(biz, drafts, &created)
                })
            }
            (Ok(drafts), Ok(created)) => self.model.commit_created(biz, drafts, &created),
            (expected, actual) => compare("create_many", &expected, &actual),
        }
    }

    fn update(&mut self, biz: usize, id: &str, patch: &PatchSpec) -> Check {
        let expected = self.model.expect_update(biz, id, patch);
        self.count_write(&expected);
        let actual = self.store().update(BUSINESSES[biz], id, patch.to_patch());
        match (expected, actual) {
            (_, Err(e)) if e.is_storage() && self.faults() => self.resolve("update", |model, _| {
                let (new, _) = model
                    .expect_update(biz, id, patch)
                    .map_err(|e| format!("the update had to fail ({e:?})"))?;
                model.commit_update(biz, new);
                Ok(())
            }),
            (Ok((new, _)), Ok(c)) => {
                ensure!(new == c, "update: expected {new:#?}\n  got {c:#?}");
                self.model.commit_update(biz, new);
                Ok(())
            }
            (expected, actual) => compare("update", &expected.map(|(c, _)| c), &actual),
        }
    }

    fn delete(&mut self, biz: usize, id: &str) -> Check {
        let expected = self.model.expect_delete(biz, id);
        self.count_write(&expected);
        let actual = self.store().delete(BUSINESSES[biz], id);
        match (expected, actual) {
            (_, Err(e)) if e.is_storage() && self.faults() => self.resolve("delete", |model, _| {
                model
                    .expect_delete(biz, id)
                    .map_err(|e| format!("the delete had to fail ({e:?})"))?;
                model.commit_delete(biz, id);
                Ok(())
            }),
            (Ok(old), Ok(c)) => {
                ensure!(old == c, "delete: expected {old:#?}\n  got {c:#?}");
                self.model.commit_delete(biz, id);
                Ok(())
            }
            (expected, actual) => compare("delete", &expected, &actual),
        }
    }

    /// Walks every page of a list from the walk's start, each page compared with the model.
    fn walk(&mut self, biz: usize, walk: &Walk) -> Check {
        let mut query = ListQuery {
            email: walk.filter.map(|i| pick(FILTERS, i).to_owned()),
            status: walk.status.map(status),
            limit: walk.limit,
            cursor: walk.start.map(|t| self.model.target(biz, t)),
        };
        let max_pages = self.model.issued.len() + 2;
        for _ in 0..max_pages {
            self.stats.pages += 1;
            let expected = self.model.page(biz, &query);
            let actual = self.store().list(BUSINESSES[biz], &query);
            if let Err(e) = &actual
                && e.is_storage()
                && self.faults()
            {
                return self.resolve("list", |_, _| Err("a list changed the store".to_owned()));
            }
            compare(&format!("list {query:?}"), &expected, &actual)?;
            match actual {
                Ok(Page {
                    has_more: true,
                    next_cursor,
                    ..
                }) => query.cursor = next_cursor,
                _ => return Ok(()),
            }
        }
        Err(format!("list {query:?}: the walk does not end"))
    }

    fn reopen(&mut self) -> Check {
        self.stats.reopens += 1;
        drop(self.store.take());
        match (self.opener)(self.clock.clone()) {
            Ok(store) => self.store = Some(store),
            Err(e) if e.is_storage() && self.faults() => {
                self.disarm();
                let store = (self.opener)(self.clock.clone())
                    .map_err(|e| format!("the store does not open once the fault is gone: {e}"))?;
                self.store = Some(store);
            }
            Err(e) => return Err(format!("reopen: {e}")),
        }
        Ok(())
    }

    /// A write failed with a storage error: its outcome is unknown. Reads the store back
    /// (with the faults off) and accepts the model before the write, or the model after it
    /// (`apply` makes it, taking the new ids from what the store holds).
    fn resolve(&mut self, what: &str, apply: impl FnOnce(&mut Model, &Dump) -> Check) -> Check {
        self.disarm();
        let dump = self
            .dump()
            .map_err(|e| format!("{what}: the store did not recover from a fault: {e}"))?;
        if dump == self.model.dump() {
            self.stats.unknown_absent += 1;
            return Ok(());
        }
        let mut applied = self.model.clone();
        apply(&mut applied, &dump)
            .map_err(|e| format!("{what}: the store changed after a fault: {e}"))?;
        ensure!(
            applied.dump() == dump,
            "{what}: after a fault the store is neither before nor after the write:\n\
             store {dump:#?}\nbefore {:#?}\nafter {:#?}",
            self.model.dump(),
            applied.dump()
        );
        self.model = applied;
        self.stats.unknown_applied += 1;
        Ok(())
    }

    /// Every customer of every valid business, by full list walks.
    pub fn dump(&self) -> customer_store::Result<Dump> {
        (0..VALID_BUSINESSES)
            .map(|biz| walk_all(self.store(), BUSINESSES[biz], &ListQuery::default()))
            .collect()
    }

    /// The store equals the model: full walks, every index, `verify()`.
    pub fn check_invariants(&self) -> Check {
        let store = self.store();
        let dump = self.dump().map_err(|e| format!("list walk: {e}"))?;
        let expected = self.model.dump();
        ensure!(
            dump == expected,
            "a full list walk differs from the model:\nstore {dump:#?}\nmodel {expected:#?}"
        );
        // A filtered walk in small pages, its filters rotating with the step (the filters may
        // be answered from search indexes: this compares them with the plain model).
        let step = usize::try_from(self.stats.steps).unwrap_or(0);
        for (biz, name) in BUSINESSES.iter().enumerate().take(VALID_BUSINESSES) {
            let query = ListQuery {
                email: Some(pick(FILTERS, step + biz).to_owned()),
                status: (step % 4 != 3).then(|| status(step + biz)),
                limit: Some(2),
                cursor: None,
            };
            let walked = walk_all(store, name, &query)
                .map_err(|e| format!("filtered walk {query:?}: {e}"))?;
            let all = ListQuery {
                limit: Some(ListQuery::MAX_LIMIT),
                ..query.clone()
            };
            let expected = self
                .model
                .page(biz, &all)
                .map_err(|e| format!("model page {e:?}"))?
                .items;
            ensure!(
                walked == expected,
                "filtered walk {query:?} of {name}:\nstore {walked:#?}\nmodel {expected:#?}"
            );
        }
        let (mut customers, mut external_ids, mut businesses) = (0, 0, 0);
        for (biz, b) in self.model.biz.iter().enumerate() {
            let name = BUSINESSES[biz];
            businesses += u64::from(b.exists);
            for c in b.customers.values() {
                customers += 1;
                let found = |r: customer_store::Result<Option<Customer>>, how: &str| -> Check {
                    match r {
                        Ok(Some(found)) if found == *c => Ok(()),
                        other => Err(format!("{how} of {} gives {other:?}", c.id)),
                    }
                };
                found(store.get(name, &c.id), "get")?;
                found(store.get_by_email(name, &c.email), "get_by_email")?;
                found(
                    store.get_by_email(name, &email_key(&c.email).to_uppercase()),
                    "get_by_email in upper case",
                )?;
                if let Some(x) = &c.external_id {
                    external_ids += 1;
                    found(store.get_by_external_id(name, x), "get_by_external_id")?;
                }
            }
        }
        let report = store.verify().map_err(|e| format!("verify: {e}"))?;
        ensure!(
            (
                report.customers,
                report.email_entries,
                report.external_id_entries,
                report.businesses
            ) == (customers, customers, external_ids, businesses),
            "verify counts {report:?}, the model has {customers} customers, {external_ids} \
             external ids, {businesses} businesses"
        );
        Ok(())
    }
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    customer_store::Clock::now(clock)
}

/// Every page of a list, concatenated; checks the pages chain (ascending ids, cursors).
pub fn walk_all(
    store: &dyn CustomerStore,
    business: &str,
    query: &ListQuery,
) -> customer_store::Result<Vec<Customer>> {
    let mut query = query.clone();
    query.limit.get_or_insert(ListQuery::MAX_LIMIT);
    let mut all: Vec<Customer> = Vec::new();
    loop {
        let page = store.list(business, &query)?;
        assert!(
            page.items.windows(2).all(|w| w[0].id < w[1].id),
            "a page out of id order"
        );
        assert_eq!(
            page.next_cursor,
            page.items.last().map(|c| c.id.clone()),
            "nextCursor is not the last item's id"
        );
        if let (Some(last), Some(first)) = (all.last(), page.items.first()) {
            assert!(last.id < first.id, "a page repeats or goes back");
        }
        all.extend(page.items);
        if !page.has_more {
            return Ok(all);
        }
        query.cursor = page.next_cursor;
    }
}

/// The records of `biz` in `dump` that the model does not know, matched to `drafts` by email.
fn new_records(
    model: &Model,
    dump: &Dump,
    biz: usize,
    drafts: &[Customer],
) -> Result<Vec<Customer>, String> {
    drafts
        .iter()
        .map(|draft| {
            let key = email_key(&draft.email);
            dump[biz]
                .iter()
                .find(|c| {
                    email_key(&c.email) == key && !model.biz[biz].customers.contains_key(&c.id)
                })
                .cloned()
                .ok_or_else(|| format!("no new record for {}", draft.email))
        })
        .collect()
}
