//! Model-based property test of the journal: random workloads on a store whose database and
//! journal are fault-injecting in-memory backends (`FaultyBackend` on a [`Disk`]: bytes in
//! memory with a file's semantics), with crashes, clean reopens and `verify()` between the
//! writes, checked against a plain `BTreeMap` reference model.
//!
//! Each workload picks a small `journal_limit` (so checkpoints, and frames written over older
//! ones from byte 0, happen every few writes), a small `email_index_tail` (so email-index
//! folds happen inside replayed frames) and a page-cache size, then mixes:
//!
//! - writes: `create`, `create_many`, `import_many` (kept statuses and timestamps, refused
//!   `updatedAt`), `update` (email, externalId, status and every other field, set and
//!   cleared), `delete`; conflicts are frequent (small email and externalId pools) so refused
//!   writes are common too;
//! - parallel writes: two or three writes on distinct businesses at once, so a group commit
//!   can put several jobs (and a refused one) into one journal frame;
//! - clock steps (forwards and backwards, whole seconds and milliseconds), `compact()`;
//! - a clean reopen: the store is dropped (checkpoint, journal emptied) and opened again;
//! - a crash: every mutating call on both backends fails from then on (nothing more reaches
//!   them), the store is dropped, the faults are lifted and the store is opened again from
//!   the same backends, replaying the journal;
//! - a power loss: a crash in which both backends also lose every write not yet synced (the
//!   redb commits made without an fsync among them);
//! - `verify()`.
//!
//! Every write's answer is compared with the model (records exactly, errors by their reduced
//! form). After each reopen and crash, and at the end of every workload (after a last crash),
//! the store must equal the model exactly: full list walks of every business, `businesses()`
//! with its per-status counts, get / get_by_email / get_by_external_id for every live record
//! and for every pool key and issued id, email-substring and status filtered lists compared
//! with `list_by_scan` and with the model, and `verify()` with the model's counts. Crashes
//! fall only between operations, so every write was acknowledged (or refused): all of them
//! must survive, and no refused one may appear. New ids must be above every id the business
//! ever issued (deleted ones included), across crashes and replays.
//!
//! CI runs [`DEFAULT_CASES`] workloads of up to 60 steps; `PROPTEST_CASES=N` runs N. Failures
//! are kept in `proptest-regressions/journal_model.txt`.
#![cfg(feature = "fault-injection")]

mod reliability_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Barrier};

use customer_store::{
    Clock, Customer, CustomerPatch, CustomerStore, ImportCustomer, ListQuery, ManualClock,
    NewCustomer, Page, RedbStore, Status,
};
use jiff::Timestamp;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestRng, TestRunner};
use redb::StorageBackend;

use reliability_support::faulty::{FaultyBackend, Plan, kind};
use reliability_support::model::{Expect, Field, OTHER_IDS, Target, email_key, metadata, status};

/// Workloads per CI run (about 20 s in debug on 2 cores).
const DEFAULT_CASES: u32 = 300;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/journal_model.txt",
        ))),
        ..ProptestConfig::default()
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

type Check = Result<(), String>;

// ---------------------------------------------------------------------------------------
// Pools: every value is valid and kept as given, except the emails, whose spellings change
// case or add spaces, and two invalid emails.

const BUSINESSES: [&str; 3] = ["acme", "beta", "Gamma_3"];
const LOCALS: [&str; 8] = ["ana", "bo", "cy", "dee.ana", "élodie", "fox", "gus", "hal"];
const DOMAINS: [&str; 3] = ["x.io", "ex.org", "Mail.co"];
/// Distinct valid addresses (ignoring case).
const ADDRESSES: usize = LOCALS.len() * DOMAINS.len();
const BAD_EMAILS: [&str; 2] = ["not-an-email", "a b@x.io"];
const NAMES: [&str; 3] = ["Ana Lima", "Bo", "Zoë Ødegård"];
const PHONES: [&str; 3] = ["+233249998888", "+15550109999", "+442079460958"];
/// Exact and case-sensitive: `ext-1` and `EXT-1` are two ids.
const EXTERNAL_IDS: [&str; 8] = [
    "ext-1", "EXT-1", "ext-2", "ext-3", "x-4", "x-5", "x-6", "x-7",
];
const DESCRIPTIONS: [&str; 3] = ["", "VIP customer", "línea ü — ☃"];
const CURRENCIES: [&str; 3] = ["GHS", "USD", "EUR"];
/// Valid metadata objects of the shared pool (`metadata(0..3)`).
const METADATA: usize = 3;
/// Email filter terms for lists (case-insensitive substrings; empty means no filter).
const FILTERS: [&str; 10] = [
    "", "ana", "X.IO", "@ex", "ÉLO", "odie@", "o", "mail.c", "zzz", "a@",
];

/// The times imports keep are offsets from here (the store's clock runs a year later).
fn import_base() -> Timestamp {
    "2025-01-01T00:00:00Z".parse().expect("a timestamp")
}

fn whole_seconds(at: Timestamp) -> Timestamp {
    Timestamp::from_second(at.as_second()).expect("a time in range")
}

/// An email of the pool: an address and a spelling of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Email {
    /// `0..ADDRESSES` valid, above that one of [`BAD_EMAILS`].
    addr: usize,
    /// 0: as is, 1: upper case, 2: with spaces around (trimmed by the store).
    spelling: u8,
}

impl Email {
    fn raw(self) -> String {
        if self.addr >= ADDRESSES {
            return BAD_EMAILS[(self.addr - ADDRESSES) % BAD_EMAILS.len()].to_owned();
        }
        let base = format!(
            "{}@{}",
            LOCALS[self.addr / DOMAINS.len()],
            DOMAINS[self.addr % DOMAINS.len()]
        );
        match self.spelling % 3 {
            0 => base,
            1 => base.to_uppercase(),
            _ => format!("  {base}\t"),
        }
    }

    /// What the store keeps, or `None` when it must refuse the email.
    fn stored(self) -> Option<String> {
        (self.addr < ADDRESSES).then(|| self.raw().trim().to_owned())
    }
}

/// A new customer, as indexes into the pools.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    email: Email,
    name: usize,
    phone: Option<usize>,
    external_id: Option<usize>,
    description: Option<usize>,
    currency: Option<usize>,
    metadata: Option<usize>,
}

impl Item {
    fn to_new(&self) -> NewCustomer {
        NewCustomer {
            email: self.email.raw(),
            name: NAMES[self.name % NAMES.len()].to_owned(),
            phone: self.phone.map(|i| PHONES[i % PHONES.len()].to_owned()),
            external_id: self
                .external_id
                .map(|i| EXTERNAL_IDS[i % EXTERNAL_IDS.len()].to_owned()),
            description: self
                .description
                .map(|i| DESCRIPTIONS[i % DESCRIPTIONS.len()].to_owned()),
            currency: self
                .currency
                .map(|i| CURRENCIES[i % CURRENCIES.len()].to_owned()),
            metadata: self.metadata.map(|i| metadata(i % METADATA).0),
        }
    }

    /// The customer the store must create (without its id), stamped `stamp`.
    fn draft(&self, stamp: Timestamp) -> Result<Customer, Expect> {
        let new = self.to_new();
        Ok(Customer {
            id: String::new(),
            external_id: new.external_id,
            email: self
                .email
                .stored()
                .ok_or_else(|| Expect::Invalid("email".to_owned()))?,
            name: new.name,
            phone: new.phone,
            description: new.description,
            metadata: new.metadata,
            status: Status::Active,
            currency: new.currency,
            created_at: stamp,
            updated_at: stamp,
        })
    }
}

/// An item of an import: a new customer with a status and timestamps to keep.
#[derive(Debug, Clone, PartialEq)]
struct ImportItem {
    item: Item,
    status: Option<usize>,
    /// Milliseconds after [`import_base`].
    created: Option<i64>,
    /// Milliseconds after `created` (or after [`import_base`] without one).
    updated: Option<i64>,
}

impl ImportItem {
    fn created_at(&self) -> Option<Timestamp> {
        self.created
            .map(|ms| import_base() + jiff::SignedDuration::from_millis(ms))
    }

    fn updated_at(&self) -> Option<Timestamp> {
        self.updated.map(|ms| {
            import_base() + jiff::SignedDuration::from_millis(self.created.unwrap_or(0) + ms)
        })
    }

    fn to_import(&self) -> ImportCustomer {
        ImportCustomer {
            customer: self.item.to_new(),
            status: self.status.map(status),
            created_at: self.created_at(),
            updated_at: self.updated_at(),
        }
    }

    /// The customer the store must import (without its id).
    fn draft(&self, stamp: Timestamp) -> Result<Customer, Expect> {
        let mut draft = self.item.draft(stamp)?;
        let created = self.created_at().map(whole_seconds);
        let updated = self.updated_at().map(whole_seconds);
        // Never before createdAt, which is the store's clock when the item has none.
        if updated.is_some_and(|updated| updated < created.unwrap_or(stamp)) {
            return Err(Expect::Invalid("updatedAt".to_owned()));
        }
        draft.status = self.status.map_or(Status::Active, status);
        draft.created_at = created.unwrap_or(stamp);
        draft.updated_at = updated.unwrap_or(draft.created_at);
        Ok(draft)
    }
}

/// An update, as indexes into the pools.
#[derive(Debug, Clone, PartialEq)]
struct Patch {
    email: Option<Email>,
    name: Option<usize>,
    status: Option<usize>,
    phone: Field,
    external_id: Field,
    description: Field,
    currency: Field,
    metadata: Field,
}

fn patch_field<T>(field: Field, value: impl Fn(usize) -> T) -> Option<Option<T>> {
    match field {
        Field::Absent => None,
        Field::Null => Some(None),
        Field::Set(i) => Some(Some(value(i))),
    }
}

fn apply_field<T>(slot: &mut Option<T>, field: Field, value: impl Fn(usize) -> T) {
    if let Some(v) = patch_field(field, value) {
        *slot = v;
    }
}

impl Patch {
    fn to_patch(&self) -> CustomerPatch {
        CustomerPatch {
            email: self.email.map(|e| Some(e.raw())),
            name: self.name.map(|i| Some(NAMES[i % NAMES.len()].to_owned())),
            status: self.status.map(|i| Some(status(i))),
            phone: patch_field(self.phone, |i| PHONES[i % PHONES.len()].to_owned()),
            external_id: patch_field(self.external_id, |i| {
                EXTERNAL_IDS[i % EXTERNAL_IDS.len()].to_owned()
            }),
            description: patch_field(self.description, |i| {
                DESCRIPTIONS[i % DESCRIPTIONS.len()].to_owned()
            }),
            currency: patch_field(self.currency, |i| {
                CURRENCIES[i % CURRENCIES.len()].to_owned()
            }),
            metadata: patch_field(self.metadata, |i| metadata(i % METADATA).0),
        }
    }

    /// `old` with the patch applied (timestamps untouched); `Err` for an invalid email.
    fn apply(&self, old: &Customer) -> Result<Customer, Expect> {
        let mut new = old.clone();
        if let Some(email) = self.email {
            new.email = email
                .stored()
                .ok_or_else(|| Expect::Invalid("email".to_owned()))?;
        }
        if let Some(i) = self.name {
            NAMES[i % NAMES.len()].clone_into(&mut new.name);
        }
        if let Some(i) = self.status {
            new.status = status(i);
        }
        apply_field(&mut new.phone, self.phone, |i| {
            PHONES[i % PHONES.len()].to_owned()
        });
        apply_field(&mut new.external_id, self.external_id, |i| {
            EXTERNAL_IDS[i % EXTERNAL_IDS.len()].to_owned()
        });
        apply_field(&mut new.description, self.description, |i| {
            DESCRIPTIONS[i % DESCRIPTIONS.len()].to_owned()
        });
        apply_field(&mut new.currency, self.currency, |i| {
            CURRENCIES[i % CURRENCIES.len()].to_owned()
        });
        apply_field(&mut new.metadata, self.metadata, |i| {
            metadata(i % METADATA).0
        });
        Ok(new)
    }
}

/// One write.
#[derive(Debug, Clone, PartialEq)]
enum Write {
    Create {
        biz: usize,
        item: Item,
    },
    CreateMany {
        biz: usize,
        items: Vec<Item>,
    },
    Import {
        biz: usize,
        items: Vec<ImportItem>,
    },
    Update {
        biz: usize,
        target: Target,
        patch: Patch,
    },
    Delete {
        biz: usize,
        target: Target,
    },
}

impl Write {
    fn biz(&self) -> usize {
        match self {
            Write::Create { biz, .. }
            | Write::CreateMany { biz, .. }
            | Write::Import { biz, .. }
            | Write::Update { biz, .. }
            | Write::Delete { biz, .. } => *biz,
        }
    }

    fn on(mut self, business: usize) -> Write {
        match &mut self {
            Write::Create { biz, .. }
            | Write::CreateMany { biz, .. }
            | Write::Import { biz, .. }
            | Write::Update { biz, .. }
            | Write::Delete { biz, .. } => *biz = business,
        }
        self
    }
}

/// One step of a workload.
#[derive(Debug, Clone, PartialEq)]
enum Op {
    Write(Write),
    /// Writes on distinct businesses, submitted together from several threads.
    Parallel(Vec<Write>),
    /// Moves the clock by this many milliseconds (negative: backwards).
    Clock(i64),
    Compact,
    Verify,
    /// Drops the store (a clean close) and opens it again.
    Reopen,
    /// Cuts both backends off, drops the store, and opens it again from what they hold.
    Crash,
    /// A crash in which the backends also lose every write not synced yet.
    PowerLoss,
}

/// A workload's store options.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Setup {
    journal_limit: u64,
    email_index_tail: u64,
    cache_size: usize,
}

// ---------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone, Default, PartialEq)]
struct Biz {
    /// Live customers by id (ids sort like their creation order).
    customers: BTreeMap<String, Customer>,
    /// Every id issued in this business, deleted ones included.
    issued: BTreeSet<String>,
}

impl Biz {
    fn by_email_key(&self, key: &str) -> Option<&Customer> {
        self.customers.values().find(|c| email_key(&c.email) == key)
    }

    fn by_external_id(&self, external_id: &str) -> Option<&Customer> {
        self.customers
            .values()
            .find(|c| c.external_id.as_deref() == Some(external_id))
    }

    fn count(&self, status: Status) -> u64 {
        self.customers
            .values()
            .filter(|c| c.status == status)
            .count() as u64
    }
}

/// What a write must do.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    /// New customers (without their ids).
    Created(Vec<Customer>),
    Updated(Customer),
    Unchanged(Customer),
    Deleted(Customer),
}

/// Every business's customers in id order: what full list walks return.
type Dump = Vec<Vec<Customer>>;

#[derive(Debug, Clone)]
struct Model {
    biz: Vec<Biz>,
    /// Every id issued, in every business, in order.
    issued: Vec<String>,
}

impl Model {
    fn new() -> Model {
        Model {
            biz: vec![Biz::default(); BUSINESSES.len()],
            issued: Vec::new(),
        }
    }

    fn dump(&self) -> Dump {
        self.biz
            .iter()
            .map(|b| b.customers.values().cloned().collect())
            .collect()
    }

    /// The id text a write on `biz` names.
    fn target(&self, biz: usize, target: Target) -> String {
        let live = &self.biz[biz].customers;
        match target {
            Target::Live(i) if !live.is_empty() => {
                live.keys().nth(i % live.len()).cloned().unwrap_or_default()
            }
            Target::Live(i) | Target::Issued(i) if !self.issued.is_empty() => {
                self.issued[i % self.issued.len()].clone()
            }
            Target::Live(i) | Target::Issued(i) | Target::Other(i) => {
                OTHER_IDS[i % OTHER_IDS.len()].to_owned()
            }
        }
    }

    /// The first conflict of `drafts` (in item order: a repeat within the batch, email then
    /// externalId; then a stored owner, email then externalId).
    fn conflicts(&self, biz: usize, drafts: &[Customer], batch: bool) -> Result<(), Expect> {
        let at = |index: usize, e: Expect| {
            if batch {
                Expect::Batch(index, Box::new(e))
            } else {
                e
            }
        };
        let b = &self.biz[biz];
        for (index, draft) in drafts.iter().enumerate() {
            let key = email_key(&draft.email);
            let earlier = &drafts[..index];
            if let Some(j) = earlier.iter().position(|d| email_key(&d.email) == key) {
                return Err(at(index, Expect::DuplicateInBatch("email".into(), j)));
            }
            if let Some(x) = &draft.external_id
                && let Some(j) = earlier
                    .iter()
                    .position(|d| d.external_id.as_ref() == Some(x))
            {
                return Err(at(index, Expect::DuplicateInBatch("externalId".into(), j)));
            }
            if let Some(owner) = b.by_email_key(&key) {
                return Err(at(index, Expect::EmailTaken(owner.id.clone())));
            }
            if let Some(x) = &draft.external_id
                && let Some(owner) = b.by_external_id(x)
            {
                return Err(at(index, Expect::ExternalIdTaken(owner.id.clone())));
            }
        }
        Ok(())
    }

    /// The drafts of a batch, or its first offending item, in index order whatever rule it
    /// breaks: an item's field rules, then its conflicts.
    fn batch(
        &self,
        biz: usize,
        drafts: impl Iterator<Item = Result<Customer, Expect>>,
    ) -> Result<Vec<Customer>, Expect> {
        let mut good = Vec::new();
        let mut bad_item = None;
        for (index, draft) in drafts.enumerate() {
            match draft {
                Ok(draft) => good.push(draft),
                Err(e) => {
                    bad_item = Some(Expect::Batch(index, Box::new(e)));
                    break;
                }
            }
        }
        self.conflicts(biz, &good, true)?;
        bad_item.map_or(Ok(good), Err)
    }

    /// What `write` (naming `id`) must do when the clock shows `now`.
    fn expect(&self, write: &Write, id: &str, now: Timestamp) -> Result<Expected, Expect> {
        let stamp = whole_seconds(now);
        match write {
            Write::Create { biz, item } => {
                let draft = item.draft(stamp)?;
                self.conflicts(*biz, std::slice::from_ref(&draft), false)?;
                Ok(Expected::Created(vec![draft]))
            }
            Write::CreateMany { biz, items } => {
                let drafts = self.batch(*biz, items.iter().map(|item| item.draft(stamp)))?;
                Ok(Expected::Created(drafts))
            }
            Write::Import { biz, items } => {
                let drafts = self.batch(*biz, items.iter().map(|item| item.draft(stamp)))?;
                Ok(Expected::Created(drafts))
            }
            Write::Update { biz, patch, .. } => {
                if let Some(email) = patch.email
                    && email.stored().is_none()
                {
                    return Err(Expect::Invalid("email".to_owned()));
                }
                let b = &self.biz[*biz];
                let old = b.customers.get(id).ok_or(Expect::NotFound)?;
                let mut new = patch.apply(old)?;
                if new == *old {
                    return Ok(Expected::Unchanged(new));
                }
                if let Some(owner) = b.by_email_key(&email_key(&new.email))
                    && owner.id != id
                {
                    return Err(Expect::EmailTaken(owner.id.clone()));
                }
                if let Some(x) = &new.external_id
                    && let Some(owner) = b.by_external_id(x)
                    && owner.id != id
                {
                    return Err(Expect::ExternalIdTaken(owner.id.clone()));
                }
                new.updated_at = stamp.max(old.updated_at);
                Ok(Expected::Updated(new))
            }
            Write::Delete { biz, .. } => self.biz[*biz]
                .customers
                .get(id)
                .cloned()
                .map(Expected::Deleted)
                .ok_or(Expect::NotFound),
        }
    }

    /// Records customers the store created; each id must be well-formed and above every id
    /// the business ever issued (so never one issued before, deleted or not).
    fn commit_created(&mut self, biz: usize, drafts: Vec<Customer>, created: &[Customer]) -> Check {
        ensure!(
            drafts.len() == created.len(),
            "{} customers created, {} expected",
            created.len(),
            drafts.len()
        );
        for (mut draft, c) in drafts.into_iter().zip(created) {
            ensure!(
                reliability_support::model::well_formed(&c.id),
                "malformed id {:?}",
                c.id
            );
            let b = &mut self.biz[biz];
            if let Some(last) = b.issued.last() {
                ensure!(
                    c.id > *last,
                    "new id {} of {} is not above {last}, issued before (ids: {:?})",
                    c.id,
                    BUSINESSES[biz],
                    b.issued
                );
            }
            draft.id.clone_from(&c.id);
            ensure!(draft == *c, "created {c:#?}\nexpected {draft:#?}");
            b.issued.insert(c.id.clone());
            b.customers.insert(c.id.clone(), draft);
            self.issued.push(c.id.clone());
        }
        Ok(())
    }

    /// Compares a write's answer with the expectation and follows it.
    fn settle(
        &mut self,
        write: &Write,
        expected: Result<Expected, Expect>,
        actual: customer_store::Result<Vec<Customer>>,
    ) -> Check {
        let biz = write.biz();
        match (expected, actual) {
            (Ok(Expected::Created(drafts)), Ok(created)) => {
                self.commit_created(biz, drafts, &created)
            }
            (Ok(Expected::Updated(new)), Ok(got)) => {
                ensure!(got == [new.clone()], "updated {got:#?}\nexpected {new:#?}");
                self.biz[biz].customers.insert(new.id.clone(), new);
                Ok(())
            }
            (Ok(Expected::Unchanged(old)), Ok(got)) => {
                ensure!(
                    got == [old.clone()],
                    "unchanged {got:#?}\nexpected {old:#?}"
                );
                Ok(())
            }
            (Ok(Expected::Deleted(old)), Ok(got)) => {
                ensure!(got == [old.clone()], "deleted {got:#?}\nexpected {old:#?}");
                self.biz[biz].customers.remove(&old.id);
                Ok(())
            }
            (Err(expected), Err(e)) => {
                let got = Expect::from(&e);
                ensure!(got == expected, "refused with {e:?}, expected {expected:?}");
                Ok(())
            }
            (expected, actual) => Err(format!("expected {expected:#?}\n  got {actual:#?}")),
        }
    }
}

/// Runs `write` (naming `id`) on the store.
fn perform(store: &RedbStore, write: &Write, id: &str) -> customer_store::Result<Vec<Customer>> {
    let name = BUSINESSES[write.biz()];
    match write {
        Write::Create { item, .. } => store.create(name, item.to_new()).map(|c| vec![c]),
        Write::CreateMany { items, .. } => {
            store.create_many(name, items.iter().map(Item::to_new).collect())
        }
        Write::Import { items, .. } => {
            store.import_many(name, items.iter().map(ImportItem::to_import).collect())
        }
        Write::Update { patch, .. } => store.update(name, id, patch.to_patch()).map(|c| vec![c]),
        Write::Delete { .. } => store.delete(name, id).map(|c| vec![c]),
    }
}

/// Every page of a list from `query` on, concatenated; checks that the pages chain.
fn walk(
    list: impl Fn(&ListQuery) -> customer_store::Result<Page>,
    query: &ListQuery,
    max_pages: usize,
) -> Result<Vec<Customer>, String> {
    let mut query = query.clone();
    let limit = query.limit.unwrap_or(ListQuery::DEFAULT_LIMIT) as usize;
    let mut all: Vec<Customer> = Vec::new();
    for _ in 0..max_pages {
        let page = list(&query).map_err(|e| format!("list {query:?}: {e}"))?;
        ensure!(
            page.items.windows(2).all(|w| w[0].id < w[1].id),
            "list {query:?}: a page out of id order"
        );
        ensure!(
            page.next_cursor == page.items.last().map(|c| c.id.clone()),
            "list {query:?}: nextCursor is not the last item's id"
        );
        ensure!(
            page.items.len() <= limit && (!page.has_more || page.items.len() == limit),
            "list {query:?}: {} items, has_more {}",
            page.items.len(),
            page.has_more
        );
        if let (Some(last), Some(first)) = (all.last(), page.items.first()) {
            ensure!(
                last.id < first.id,
                "list {query:?}: a page repeats or goes back"
            );
        }
        all.extend(page.items);
        if !page.has_more {
            return Ok(all);
        }
        query.cursor = page.next_cursor;
    }
    Err(format!("list {query:?}: the walk does not end"))
}

/// Every customer of every business, by full list walks.
fn dump(store: &RedbStore) -> Result<Dump, String> {
    let query = ListQuery {
        limit: Some(ListQuery::MAX_LIMIT),
        ..ListQuery::default()
    };
    BUSINESSES
        .iter()
        .map(|name| walk(|q| store.list(name, q), &query, 1000))
        .collect()
}

/// What a workload exercised.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    steps: u64,
    writes_ok: u64,
    writes_refused: u64,
    reopens: u64,
    crashes: u64,
    /// Of the crashes, those that lost the writes not synced yet.
    power_losses: u64,
    /// Crashes after which the database alone lacked acknowledged writes (the journal had to
    /// supply them). Measured only when asked (see [`Harness::measure`]).
    replays: u64,
    /// Of those, crashes after which the database held some writes made since the last
    /// open but not all: a checkpoint ran mid-run and the journal was written again from
    /// its start.
    replays_after_checkpoint: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.steps += o.steps;
        self.writes_ok += o.writes_ok;
        self.writes_refused += o.writes_refused;
        self.reopens += o.reopens;
        self.crashes += o.crashes;
        self.power_losses += o.power_losses;
        self.replays += o.replays;
        self.replays_after_checkpoint += o.replays_after_checkpoint;
    }
}

/// Bytes in memory that behave like a file on a disk: a write past the end extends them
/// (zeros fill any gap), as a file does, and [`Disk::power_loss`] takes them back to what the
/// last `sync_data` made durable.
///
/// (redb's `InMemoryBackend` writes only within its length, and the journal grows its file by
/// writing zeros past its end: every write of a store whose journal is an `InMemoryBackend`
/// fails with "journal: grow … Index out-of-range". So both backends are disks here.)
#[derive(Clone, Default)]
struct Disk(Arc<std::sync::Mutex<DiskState>>);

#[derive(Default)]
struct DiskState {
    bytes: Vec<u8>,
    /// What the last `sync_data` made durable.
    synced: Vec<u8>,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state();
        write!(
            f,
            "Disk({} bytes, {} synced)",
            state.bytes.len(),
            state.synced.len()
        )
    }
}

impl Disk {
    fn state(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Everything written since the last sync is lost (the file's length included).
    fn power_loss(&self) {
        let mut guard = self.state();
        let state = &mut *guard;
        state.bytes.clone_from(&state.synced);
    }

    fn out_of_range() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "out of range")
    }
}

impl StorageBackend for Disk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.state().bytes.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let state = self.state();
        let start = usize::try_from(offset).map_err(|_| Self::out_of_range())?;
        let source = start
            .checked_add(out.len())
            .and_then(|end| state.bytes.get(start..end))
            .ok_or_else(Self::out_of_range)?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        let len = usize::try_from(len).map_err(|_| Self::out_of_range())?;
        self.state().bytes.resize(len, 0);
        Ok(())
    }

    fn sync_data(&self) -> std::io::Result<()> {
        let mut guard = self.state();
        let state = &mut *guard;
        state.synced.clone_from(&state.bytes);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut state = self.state();
        let start = usize::try_from(offset).map_err(|_| Self::out_of_range())?;
        let end = start
            .checked_add(data.len())
            .ok_or_else(Self::out_of_range)?;
        if state.bytes.len() < end {
            state.bytes.resize(end, 0);
        }
        state.bytes[start..end].copy_from_slice(data);
        Ok(())
    }
}

/// A store on two fault-injecting memory backends, its model and its clock.
struct Harness {
    setup: Setup,
    /// The database's bytes, and the fault-injecting backend on them that the store uses.
    db_disk: Disk,
    db: FaultyBackend,
    journal_disk: Disk,
    journal: FaultyBackend,
    clock: Arc<ManualClock>,
    store: Option<RedbStore>,
    model: Model,
    /// The model when the store was last opened (the database then held all of it).
    at_open: Dump,
    /// Whether crashes first look at what the database alone holds (for the stats).
    measure: bool,
    stats: Stats,
}

impl Harness {
    fn new(setup: Setup, measure: bool) -> Result<Harness, String> {
        let start: Timestamp = "2026-06-05T12:00:00.250Z"
            .parse()
            .map_err(|e| format!("{e}"))?;
        let (db_disk, journal_disk) = (Disk::default(), Disk::default());
        let mut harness = Harness {
            setup,
            db: FaultyBackend::new(db_disk.clone()),
            db_disk,
            journal: FaultyBackend::new(journal_disk.clone()),
            journal_disk,
            clock: Arc::new(ManualClock::new(start)),
            store: None,
            model: Model::new(),
            at_open: Model::new().dump(),
            measure,
            stats: Stats::default(),
        };
        harness.open()?;
        Ok(harness)
    }

    fn store(&self) -> &RedbStore {
        self.store.as_ref().expect("the store is open")
    }

    fn now(&self) -> Timestamp {
        Clock::now(&*self.clock)
    }

    fn open(&mut self) -> Check {
        let store = RedbStore::builder()
            .clock(self.clock.clone())
            .cache_size(self.setup.cache_size)
            .journal_limit(self.setup.journal_limit)
            .email_index_tail(self.setup.email_index_tail)
            .open_backend_with_journal(self.db.shared(), self.journal.shared())
            .map_err(|e| format!("open: {e}"))?;
        self.store = Some(store);
        self.at_open = self.model.dump();
        Ok(())
    }

    fn step(&mut self, op: &Op) -> Check {
        self.stats.steps += 1;
        match op {
            Op::Write(write) => self.write(write),
            Op::Parallel(writes) => self.parallel(writes),
            Op::Clock(ms) => {
                self.clock
                    .set(self.now() + jiff::SignedDuration::from_millis(*ms));
                Ok(())
            }
            Op::Compact => {
                self.store()
                    .compact()
                    .map_err(|e| format!("compact: {e}"))?;
                self.check(false)
            }
            Op::Verify => self.check(false),
            Op::Reopen => {
                self.stats.reopens += 1;
                drop(self.store.take());
                self.open()?;
                self.check(true)
            }
            Op::Crash => {
                self.crash(false)?;
                self.check(true)
            }
            Op::PowerLoss => {
                self.crash(true)?;
                self.check(true)
            }
        }
    }

    fn count(&mut self, expected: &Result<Expected, Expect>) {
        if expected.is_ok() {
            self.stats.writes_ok += 1;
        } else {
            self.stats.writes_refused += 1;
        }
    }

    fn write(&mut self, write: &Write) -> Check {
        let id = self.target(write);
        let expected = self.model.expect(write, &id, self.now());
        self.count(&expected);
        let actual = perform(self.store(), write, &id);
        self.model.settle(write, expected, actual)
    }

    fn target(&self, write: &Write) -> String {
        match write {
            Write::Update { biz, target, .. } | Write::Delete { biz, target } => {
                self.model.target(*biz, *target)
            }
            _ => String::new(),
        }
    }

    /// Writes on distinct businesses (so their outcomes do not depend on their order) from
    /// one thread each, released together.
    fn parallel(&mut self, writes: &[Write]) -> Check {
        let now = self.now();
        let planned: Vec<(String, Result<Expected, Expect>)> = writes
            .iter()
            .map(|w| {
                let id = self.target(w);
                let expected = self.model.expect(w, &id, now);
                (id, expected)
            })
            .collect();
        let store = self.store().clone();
        let barrier = Barrier::new(writes.len());
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = writes
                .iter()
                .zip(&planned)
                .map(|(w, (id, _))| {
                    let (store, barrier) = (&store, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        perform(store, w, id)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        drop(store);
        for ((write, (_, expected)), result) in writes.iter().zip(planned).zip(results) {
            self.count(&expected);
            let actual = result.map_err(|_| "a writer panicked".to_owned())?;
            self.model
                .settle(write, expected, actual)
                .map_err(|e| format!("{write:?}: {e}"))?;
        }
        Ok(())
    }

    /// Cuts both backends off (every write, set_len and sync fails from now on), drops the
    /// store, lifts the faults and opens the store again from what the backends hold: with
    /// `power_loss`, only what they had synced.
    fn crash(&mut self, power_loss: bool) -> Check {
        self.stats.crashes += 1;
        self.stats.power_losses += u64::from(power_loss);
        if self.measure {
            self.measure_durable()?;
        }
        let cut = Plan {
            at: 0,
            kinds: kind::MUTATING,
            persistent: true,
            torn: false,
        };
        let injected = || self.db.injected() + self.journal.injected();
        let before = injected();
        self.db.arm(cut);
        self.journal.arm(cut);
        drop(self.store.take());
        // The drop tried to checkpoint (a durable commit): the crash cut that off.
        ensure!(
            injected() > before,
            "the store closed without a write: the crash cut nothing off"
        );
        if power_loss {
            self.db_disk.power_loss();
            self.journal_disk.power_loss();
        }
        self.db.disarm();
        self.journal.disarm();
        self.open()
    }

    /// What the database alone holds now (its durable state: what a crash leaves of it,
    /// without the journal), opened from a copy of its bytes.
    fn durable_dump(&self) -> Result<Dump, String> {
        let io = |e: std::io::Error| format!("copy the database: {e}");
        let len = self.db.len().map_err(io)?;
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        self.db.read(0, &mut bytes).map_err(io)?;
        let copy = redb::backends::InMemoryBackend::new();
        copy.set_len(len).map_err(io)?;
        copy.write(0, &bytes).map_err(io)?;
        let store = RedbStore::builder()
            .cache_size(1 << 20)
            .open_backend(Arc::new(copy))
            .map_err(|e| format!("open a copy of the database: {e}"))?;
        dump(&store)
    }

    fn measure_durable(&mut self) -> Check {
        let durable = self.durable_dump()?;
        let model = self.model.dump();
        if durable != model {
            self.stats.replays += 1;
            if durable != self.at_open {
                self.stats.replays_after_checkpoint += 1;
            }
        }
        Ok(())
    }

    /// The store equals the model. `full` after an open: every filter and status, every
    /// issued id; otherwise a rotating part of them.
    fn check(&self, full: bool) -> Check {
        let store = self.store();
        let step = usize::try_from(self.stats.steps).unwrap_or(0);
        let max_pages = self.model.issued.len() + 2;
        for (biz, name) in BUSINESSES.iter().enumerate() {
            let b = &self.model.biz[biz];
            let expected: Vec<Customer> = b.customers.values().cloned().collect();
            let query = ListQuery {
                limit: Some(u32::try_from(1 + (step + biz) % 4).unwrap_or(1)),
                ..ListQuery::default()
            };
            let walked = walk(|q| store.list(name, q), &query, max_pages)?;
            ensure!(
                walked == expected,
                "a full list walk of {name} differs from the model:\nstore {walked:#?}\n\
                 model {expected:#?}"
            );
            for c in b.customers.values() {
                let found = |r: customer_store::Result<Option<Customer>>, how: &str| -> Check {
                    match r {
                        Ok(Some(found)) if found == *c => Ok(()),
                        other => Err(format!("{how} of {} in {name} gives {other:?}", c.id)),
                    }
                };
                found(store.get(name, &c.id), "get")?;
                found(store.get_by_email(name, &c.email), "get_by_email")?;
                found(
                    store.get_by_email(name, &email_key(&c.email).to_uppercase()),
                    "get_by_email in upper case",
                )?;
                if let Some(x) = &c.external_id {
                    found(store.get_by_external_id(name, x), "get_by_external_id")?;
                }
            }
            // Keys of the pools, present or not.
            for addr in (0..ADDRESSES + BAD_EMAILS.len()).filter(|a| full || (a + step) % 5 == 0) {
                let email = Email {
                    addr,
                    spelling: u8::try_from((addr + step) % 3).unwrap_or(0),
                }
                .raw();
                let got = store
                    .get_by_email(name, &email)
                    .map_err(|e| format!("get_by_email {email:?}: {e}"))?;
                let want = b.by_email_key(&email_key(&email));
                ensure!(
                    got.as_ref() == want,
                    "get_by_email({name}, {email:?}) gives {got:?}, the model has {want:?}"
                );
            }
            for x in EXTERNAL_IDS {
                let got = store
                    .get_by_external_id(name, x)
                    .map_err(|e| format!("get_by_external_id {x:?}: {e}"))?;
                let want = b.by_external_id(x);
                ensure!(
                    got.as_ref() == want,
                    "get_by_external_id({name}, {x:?}) gives {got:?}, the model has {want:?}"
                );
            }
            // Every id ever issued (in any business), live or deleted.
            let ids: BTreeSet<&String> = if full {
                self.model.issued.iter().collect()
            } else {
                b.issued.iter().collect()
            };
            for id in ids {
                let got = store.get(name, id).map_err(|e| format!("get {id}: {e}"))?;
                let want = b.customers.get(id);
                ensure!(
                    got.as_ref() == want,
                    "get({name}, {id}) gives {got:?}, the model has {want:?}"
                );
            }
            // Filtered walks: the indexes, a scan and the model agree.
            let statuses = [None, Some(0), Some(1), Some(2)];
            let combos: Vec<(usize, Option<usize>)> = FILTERS
                .iter()
                .enumerate()
                .flat_map(|(f, _)| statuses.iter().map(move |&s| (f, s)))
                .filter(|&(f, s)| {
                    full || (f + 3 * s.map_or(3, |s| s) + step + biz).is_multiple_of(7)
                })
                .collect();
            for (f, s) in combos {
                let query = ListQuery {
                    email: Some(FILTERS[f].to_owned()),
                    status: s.map(status),
                    limit: Some(u32::try_from(1 + (f + step) % 3).unwrap_or(1)),
                    cursor: None,
                };
                let indexed = walk(|q| store.list(name, q), &query, max_pages)?;
                let scanned = walk(|q| store.list_by_scan(name, q), &query, max_pages)?;
                let term = FILTERS[f].to_lowercase();
                let want: Vec<Customer> = b
                    .customers
                    .values()
                    .filter(|c| s.is_none_or(|s| c.status == status(s)))
                    .filter(|c| c.email.to_lowercase().contains(&term))
                    .cloned()
                    .collect();
                ensure!(
                    indexed == want && scanned == want,
                    "filtered walk {query:?} of {name}:\nindexed {indexed:#?}\n\
                     scanned {scanned:#?}\nmodel {want:#?}"
                );
            }
        }
        // Businesses that ever had a customer, in name order, with their counts.
        let mut want: Vec<(String, u64, u64, u64)> = self
            .model
            .biz
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.issued.is_empty())
            .map(|(i, b)| {
                (
                    BUSINESSES[i].to_owned(),
                    b.count(Status::Active),
                    b.count(Status::Inactive),
                    b.count(Status::Blocked),
                )
            })
            .collect();
        want.sort();
        let got: Vec<(String, u64, u64, u64)> = store
            .businesses()
            .map_err(|e| format!("businesses: {e}"))?
            .into_iter()
            .map(|s| (s.name, s.active, s.inactive, s.blocked))
            .collect();
        ensure!(
            got == want,
            "businesses() gives {got:?}, the model {want:?}"
        );
        // verify(): every table consistent, with the model's counts.
        let report = store.verify().map_err(|e| format!("verify: {e}"))?;
        let customers: u64 = self
            .model
            .biz
            .iter()
            .map(|b| b.customers.len() as u64)
            .sum();
        let external_ids = self
            .model
            .biz
            .iter()
            .flat_map(|b| b.customers.values())
            .filter(|c| c.external_id.is_some())
            .count() as u64;
        ensure!(
            (
                report.businesses,
                report.customers,
                report.email_entries,
                report.external_id_entries,
                report.status_entries
            ) == (
                want.len() as u64,
                customers,
                customers,
                external_ids,
                customers
            ),
            "verify counts {report:?}; the model has {} businesses, {customers} customers, \
             {external_ids} external ids",
            want.len()
        );
        Ok(())
    }
}

/// Runs a workload, then crashes once more and checks; the error names the failing step.
fn run(setup: Setup, ops: &[Op], measure: bool) -> Result<Stats, String> {
    let mut harness = Harness::new(setup, measure)?;
    for (i, op) in ops.iter().enumerate() {
        harness
            .step(op)
            .map_err(|e| format!("step {i} {op:?}: {e}"))?;
    }
    harness
        .step(&Op::Crash)
        .map_err(|e| format!("the final crash: {e}"))?;
    Ok(harness.stats)
}

// ---------------------------------------------------------------------------------------
// Strategies.

fn email() -> impl Strategy<Value = Email> {
    (
        prop_oneof![
            10 => 0..6usize,
            10 => 0..ADDRESSES,
            1 => ADDRESSES..ADDRESSES + BAD_EMAILS.len(),
        ],
        0..3u8,
    )
        .prop_map(|(addr, spelling)| Email { addr, spelling })
}

fn item() -> impl Strategy<Value = Item> {
    (
        email(),
        0..NAMES.len(),
        prop::option::weighted(0.3, 0..PHONES.len()),
        prop::option::weighted(0.6, 0..EXTERNAL_IDS.len()),
        prop::option::weighted(0.3, 0..DESCRIPTIONS.len()),
        prop::option::weighted(0.3, 0..CURRENCIES.len()),
        prop::option::weighted(0.3, 0..METADATA),
    )
        .prop_map(
            |(email, name, phone, external_id, description, currency, metadata)| Item {
                email,
                name,
                phone,
                external_id,
                description,
                currency,
                metadata,
            },
        )
}

fn import_item() -> impl Strategy<Value = ImportItem> {
    (
        item(),
        prop::option::weighted(0.7, 0..3usize),
        prop::option::weighted(0.7, 0..86_400_000i64),
        prop::option::weighted(
            0.6,
            prop_oneof![8 => 0..100_000_000i64, 1 => -3_000..1_000i64],
        ),
    )
        .prop_map(|(item, status, created, updated)| ImportItem {
            item,
            status,
            created,
            updated,
        })
}

fn field(len: usize) -> impl Strategy<Value = Field> {
    prop_oneof![
        10 => Just(Field::Absent),
        2 => Just(Field::Null),
        4 => (0..len).prop_map(Field::Set),
    ]
}

fn patch() -> impl Strategy<Value = Patch> {
    (
        prop::option::weighted(0.35, email()),
        prop::option::weighted(0.2, 0..NAMES.len()),
        prop::option::weighted(0.4, 0..3usize),
        field(PHONES.len()),
        field(EXTERNAL_IDS.len()),
        field(DESCRIPTIONS.len()),
        field(CURRENCIES.len()),
        field(METADATA),
    )
        .prop_map(
            |(email, name, status, phone, external_id, description, currency, metadata)| Patch {
                email,
                name,
                status,
                phone,
                external_id,
                description,
                currency,
                metadata,
            },
        )
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        8 => any::<u8>().prop_map(|i| Target::Live(i.into())),
        2 => any::<u8>().prop_map(|i| Target::Issued(i.into())),
        1 => (0..OTHER_IDS.len()).prop_map(Target::Other),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    let biz = 0..BUSINESSES.len();
    prop_oneof![
        8 => (biz.clone(), item()).prop_map(|(biz, item)| Write::Create { biz, item }),
        3 => (biz.clone(), vec(item(), 0..5))
            .prop_map(|(biz, items)| Write::CreateMany { biz, items }),
        3 => (biz.clone(), vec(import_item(), 0..5))
            .prop_map(|(biz, items)| Write::Import { biz, items }),
        8 => (biz.clone(), target(), patch())
            .prop_map(|(biz, target, patch)| Write::Update { biz, target, patch }),
        4 => (biz, target()).prop_map(|(biz, target)| Write::Delete { biz, target }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        36 => write().prop_map(Op::Write),
        2 => vec(write(), 2..=BUSINESSES.len()).prop_map(|writes| {
            Op::Parallel(writes.into_iter().enumerate().map(|(i, w)| w.on(i)).collect())
        }),
        3 => prop_oneof![
            4 => -30_000..120_000i64,
            1 => 0..3i64,
        ]
        .prop_map(Op::Clock),
        1 => Just(Op::Compact),
        1 => Just(Op::Verify),
        1 => Just(Op::Reopen),
        2 => Just(Op::Crash),
        2 => Just(Op::PowerLoss),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![
            5 => 256..768u64,
            2 => 768..4096u64,
            1 => 4096..=16384u64,
        ],
        1..=8u64,
        prop_oneof![Just(64usize << 10), Just(4usize << 20)],
    )
        .prop_map(|(journal_limit, email_index_tail, cache_size)| Setup {
            journal_limit,
            email_index_tail,
            cache_size,
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_survives_crashes_like_the_model(setup in setup(), ops in vec(op(), 1..60)) {
        run(setup, &ops, false).map_err(TestCaseError::fail)?;
    }
}

/// The workloads reach what the property test is about: crashes after which the database
/// alone lacks acknowledged writes (the journal supplies them), and crashes after a mid-run
/// checkpoint whose journal was written again from its start.
#[test]
fn workloads_reach_replay_after_checkpoints() -> Result<(), String> {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let strategy = (setup(), vec(op(), 20..60));
    let mut totals = Stats::default();
    for _ in 0..24 {
        let (setup, ops) = strategy
            .new_tree(&mut runner)
            .map_err(|e| e.to_string())?
            .current();
        totals += run(setup, &ops, true)?;
    }
    eprintln!("workloads_reach_replay_after_checkpoints: {totals:?}");
    ensure!(
        totals.crashes >= 24 && totals.replays * 3 >= totals.crashes,
        "too few crashes needed the journal: {totals:?}"
    );
    ensure!(
        totals.replays_after_checkpoint * 10 >= totals.replays,
        "too few replays followed a mid-run checkpoint: {totals:?}"
    );
    ensure!(
        totals.power_losses * 3 >= totals.crashes && totals.power_losses < totals.crashes,
        "too few crashes of each kind: {totals:?}"
    );
    ensure!(
        totals.writes_ok > 2 * totals.crashes && totals.writes_refused > 0,
        "too few writes: {totals:?}"
    );
    Ok(())
}

/// Acknowledged writes of every kind live only in the journal until a checkpoint: after a
/// crash the database alone holds none of them, and the reopened store holds them all and
/// issues ids above every id issued before (the deleted newest one included).
#[test]
fn a_crash_keeps_every_acknowledged_write() -> Result<(), String> {
    let setup = Setup {
        journal_limit: 1 << 20,
        email_index_tail: 2,
        cache_size: 4 << 20,
    };
    let item = |addr, external_id| Item {
        email: Email { addr, spelling: 1 },
        name: 2,
        phone: Some(0),
        external_id,
        description: Some(2),
        currency: Some(1),
        metadata: Some(2),
    };
    let writes = [
        Write::Create {
            biz: 0,
            item: item(0, Some(0)),
        },
        Write::CreateMany {
            biz: 1,
            items: vec![item(1, Some(1)), item(2, None), item(3, Some(2))],
        },
        Write::Import {
            biz: 2,
            items: vec![ImportItem {
                item: item(4, Some(3)),
                status: Some(2),
                created: Some(1_500),
                updated: Some(90_000),
            }],
        },
        Write::Update {
            biz: 1,
            target: Target::Live(0),
            patch: Patch {
                email: Some(Email {
                    addr: 9,
                    spelling: 0,
                }),
                name: None,
                status: Some(1),
                phone: Field::Null,
                external_id: Field::Set(4),
                description: Field::Absent,
                currency: Field::Set(2),
                metadata: Field::Null,
            },
        },
        // The newest customer of business 1 goes: its id must still never come back.
        Write::Delete {
            biz: 1,
            target: Target::Live(2),
        },
        // Refused (email taken): must not appear.
        Write::Create {
            biz: 0,
            item: item(0, None),
        },
    ];
    let mut harness = Harness::new(setup, true)?;
    for write in &writes {
        harness.step(&Op::Write(write.clone()))?;
    }
    ensure!(
        harness.stats.writes_refused == 1,
        "the last create had to be refused"
    );
    let model = harness.model.dump();
    ensure!(
        harness.durable_dump()? == Model::new().dump(),
        "the database alone already holds writes (no checkpoint was due)"
    );
    harness.step(&Op::Crash)?;
    ensure!(harness.store().verify().is_ok(), "verify after the crash");
    ensure!(
        dump(harness.store())? == model,
        "the reopened store lost writes"
    );
    ensure!(
        harness.durable_dump()? == model,
        "the open after the crash did not checkpoint what it replayed"
    );
    // New ids continue above the old ones in every business, the clock unchanged.
    for biz in 0..BUSINESSES.len() {
        harness.step(&Op::Write(Write::Create {
            biz,
            item: item(20 + biz, None),
        }))?;
    }
    ensure!(harness.stats.writes_ok == 8, "the new creates were refused");
    harness.step(&Op::Crash)?;
    harness.step(&Op::Reopen)?;
    Ok(())
}
