//! The fuzz targets' logic, shared by `fuzz/fuzz_targets/*.rs` (libFuzzer) and
//! `tests/fuzz_replay.rs` (which replays `fuzz/corpus/*` and `fuzz/regressions/*` on stable).
//!
//! Each entry point takes arbitrary bytes and panics when the store breaks a promise:
//!
//! - [`ops`]: an operation sequence (small value pools) run against the reference model, with
//!   I/O faults injected before chosen operations.
//! - [`journal`]: the same on a store with a journal (database and journal both faulty), a
//!   small random journal limit and email-index tail, faults aimed at either.
//! - [`decode`]: arbitrary bytes stored as a customer record, then read, listed, verified,
//!   updated and deleted: every answer is a record or `corrupt`, never a panic.
//! - [`json`]: arbitrary bytes parsed as `NewCustomer`, `CustomerPatch` and `ListQuery`, and
//!   whatever parses passed to a store.

use std::sync::Arc;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, Error, ListQuery, ManualClock, NewCustomer, RedbStore,
};
use redb::{ReadableTable, TableDefinition};

use super::exec::{Harness, walk_all};
use super::faulty::{FaultyBackend, Plan, kind};
use super::model::{
    CURRENCIES, DESCRIPTIONS, EMAILS, EXTERNAL_IDS, FILTERS, Field, METADATA, NAMES, NewSpec,
    OTHER_IDS, Op, PHONES, PatchSpec, Target, Walk,
};

/// The clock every fuzz store starts at.
pub const START: &str = "2026-06-05T12:00:00.250Z";

fn start() -> jiff::Timestamp {
    START.parse().expect("a valid timestamp")
}

/// Reads the fuzzer's bytes as small choices; past the end every byte is 0.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A choice in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

// ---------------------------------------------------------------------------------------------
// ops

fn biz(input: &mut Input<'_>) -> usize {
    let b = input.byte();
    if b % 16 == 15 { 3 } else { usize::from(b) % 3 }
}

fn target(input: &mut Input<'_>) -> Target {
    let t = input.byte();
    let i = usize::from(t >> 3);
    match t % 8 {
        0..5 => Target::Live(i),
        5 | 6 => Target::Issued(i),
        _ => Target::Other(i % OTHER_IDS.len()),
    }
}

fn optional(input: &mut Input<'_>, present: bool, len: usize) -> Option<usize> {
    let i = input.below(len);
    present.then_some(i)
}

fn new_spec(input: &mut Input<'_>) -> NewSpec {
    let email = input.below(EMAILS.len());
    let name = input.below(NAMES.len());
    let flags = input.byte();
    NewSpec {
        email,
        name,
        phone: optional(input, flags & 1 != 0, PHONES.len()),
        external_id: optional(input, flags & 2 != 0, EXTERNAL_IDS.len()),
        description: optional(input, flags & 4 != 0, DESCRIPTIONS),
        currency: optional(input, flags & 8 != 0, CURRENCIES.len()),
        metadata: optional(input, flags & 16 != 0, METADATA),
    }
}

fn field(input: &mut Input<'_>) -> Field {
    let b = input.byte();
    match b % 8 {
        0..4 => Field::Absent,
        4 => Field::Null,
        _ => Field::Set(usize::from(b >> 3)),
    }
}

fn patch(input: &mut Input<'_>) -> PatchSpec {
    PatchSpec {
        email: field(input),
        name: field(input),
        phone: field(input),
        external_id: field(input),
        description: field(input),
        currency: field(input),
        metadata: field(input),
        status: field(input),
    }
}

fn walk(input: &mut Input<'_>) -> Walk {
    let filter = input.byte();
    let status = input.byte();
    let limit = input.byte();
    let start = input.byte();
    Walk {
        filter: (filter % 2 == 1).then_some(usize::from(filter >> 1) % FILTERS.len()),
        status: (!status.is_multiple_of(4)).then_some(usize::from(status % 4)),
        limit: match limit % 8 {
            0 => None,
            6 => Some([0, 100, 101][usize::from(limit >> 3) % 3]),
            l => Some(u32::from(l)),
        },
        start: (start % 4 == 3).then(|| target(&mut Input::new(&[start >> 2]))),
    }
}

fn op(input: &mut Input<'_>, selector: u8) -> Op {
    match selector % 16 {
        0..3 => Op::Create {
            biz: biz(input),
            new: new_spec(input),
        },
        3 => {
            let biz = biz(input);
            let n = input.below(4);
            Op::CreateMany {
                biz,
                items: (0..n).map(|_| new_spec(input)).collect(),
            }
        }
        4..7 => Op::Update {
            biz: biz(input),
            target: target(input),
            patch: patch(input),
        },
        7 => Op::Delete {
            biz: biz(input),
            target: target(input),
        },
        8 => Op::Get {
            biz: biz(input),
            target: target(input),
        },
        9 => Op::GetByEmail {
            biz: biz(input),
            email: input.below(EMAILS.len()),
        },
        10 => Op::GetByExternalId {
            biz: biz(input),
            external_id: input.below(EXTERNAL_IDS.len()),
        },
        11 | 12 => Op::List {
            biz: biz(input),
            walk: walk(input),
        },
        13 => Op::Clock {
            seconds: i64::from(input.byte().cast_signed()),
        },
        _ => Op::Reopen,
    }
}

/// The most steps one input runs.
pub const MAX_STEPS: usize = 48;

/// One step of an `ops` input: maybe a fault plan, then an operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub fault: Option<Plan>,
    pub op: Op,
}

/// Reads an `ops` input.
pub fn steps(data: &[u8]) -> Vec<Step> {
    steps_with_targets(data)
        .into_iter()
        .map(|(_, step)| step)
        .collect()
}

/// The `ops` target: the steps of `data` on a store in memory and on the model, with faults.
///
/// # Panics
///
/// When the store and the model disagree, an invariant breaks, or a panic escapes the store.
pub fn ops(data: &[u8]) {
    let steps = steps(data);
    let backend = FaultyBackend::in_memory();
    let open_on = backend.clone();
    let mut harness = Harness::new(
        start(),
        Box::new(move |clock| {
            RedbStore::builder()
                .clock(clock)
                .cache_size(1 << 20)
                .open_backend(open_on.shared())
        }),
    )
    .expect("a new store opens");
    let disarm_on = backend.clone();
    harness = harness.with_faults(Box::new(move || disarm_on.disarm()));
    for (i, step) in steps.iter().enumerate() {
        if let Some(plan) = step.fault {
            backend.arm(plan);
        }
        if let Err(e) = harness.step(&step.op) {
            panic!("step {i} {step:?}: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// journal

/// The `journal` target: the steps of `data` (after a first byte choosing the journal limit
/// and the email-index tail) on a store whose database and journal are both fault-injecting
/// backends in memory; bit 2 of a fault's flags aims it at the journal, else the database.
/// Small journal limits make checkpoints and wrap-arounds frequent; faults make the store
/// reopen and replay its journal.
///
/// # Panics
///
/// When the store and the model disagree, an invariant breaks, or a panic escapes the store.
pub fn journal(data: &[u8]) {
    let (&setup, rest) = data.split_first().unwrap_or((&0, &[]));
    let limit = 64u64 << (setup % 10);
    let tail = u64::from(setup >> 4) % 8 + 1;
    let db = FaultyBackend::in_memory();
    let journal = FaultyBackend::memory_file();
    let (open_db, open_journal) = (db.clone(), journal.clone());
    let mut harness = Harness::new(
        start(),
        Box::new(move |clock| {
            RedbStore::builder()
                .clock(clock)
                .cache_size(1 << 20)
                .journal_limit(limit)
                .email_index_tail(tail)
                .open_backend_with_journal(open_db.shared(), open_journal.shared())
        }),
    )
    .expect("a new store opens");
    let (disarm_db, disarm_journal) = (db.clone(), journal.clone());
    harness = harness.with_faults(Box::new(move || {
        disarm_db.disarm();
        disarm_journal.disarm();
    }));
    for (i, step) in steps_with_targets(rest).iter().enumerate() {
        if let Some((plan, on_journal)) = step.0 {
            if on_journal {
                journal.arm(plan);
            } else {
                db.arm(plan);
            }
        }
        if let Err(e) = harness.step(&step.1.op) {
            panic!("step {i} {:?}: {e}", step.1);
        }
    }
}

/// The steps of an input, each fault with whether it is aimed at the journal (bit 2 of its
/// flags; [`ops`] has no journal and ignores it).
fn steps_with_targets(data: &[u8]) -> Vec<(Option<(Plan, bool)>, Step)> {
    let mut input = Input::new(data);
    let mut steps = Vec::new();
    while !input.is_empty() && steps.len() < MAX_STEPS {
        let selector = input.byte();
        let fault = (selector & 0x80 != 0).then(|| {
            let kinds = input.byte() % 15 + 1;
            let at = u64::from(input.byte() % 24);
            let flags = input.byte();
            let plan = Plan {
                at,
                kinds: kinds & (kind::MUTATING | kind::READ),
                persistent: flags & 1 != 0,
                torn: flags & 2 != 0,
            };
            (plan, flags & 4 != 0)
        });
        let op = op(&mut input, selector & 0x7f);
        steps.push((
            fault,
            Step {
                fault: fault.map(|(plan, _)| plan),
                op,
            },
        ));
    }
    steps
}

// ---------------------------------------------------------------------------------------------
// decode

/// The records table as `src/redb_store/tables.rs` defines it: (business handle, id number)
/// → encoded record.
const CUSTOMERS: TableDefinition<(u32, u64), &[u8]> = TableDefinition::new("customers_v1");

/// An in-memory store on `backend`, its clock stopped at [`START`].
pub fn fuzz_store(backend: &FaultyBackend) -> RedbStore {
    let clock = Arc::new(ManualClock::new(start()));
    RedbStore::builder()
        .clock(clock)
        .cache_size(1 << 20)
        .open_backend(backend.shared())
        .expect("the store opens")
}

/// An answer that is not a record must be `corrupt` (the record does not decode).
fn corrupt_or<T: std::fmt::Debug>(what: &str, r: &customer_store::Result<T>) {
    if let Err(e) = r {
        assert_eq!(e.code(), "corrupt", "{what}: {e:?}");
    }
}

/// The `decode` target: stores the input as the bytes of a customer record with redb, then
/// reads the store through every path.
///
/// The first byte chooses how: bit 0 fixes the checksum (so the decoder past it is fuzzed),
/// bit 1 XORs the input onto a real record instead of replacing it, bit 2 stores it under
/// another customer's key.
///
/// # Panics
///
/// When a read panics, answers other than a record or `corrupt`, or returns a record that is
/// not the one under the key.
pub fn decode(data: &[u8]) {
    let mut input = Input::new(data);
    let mode = input.byte();
    let bytes = input.rest();

    let backend = FaultyBackend::in_memory();
    let (a, b) = {
        let store = fuzz_store(&backend);
        let a = store
            .create(
                "acme",
                NewCustomer::new("ana@x.io", "Ana").with_external_id("ext-1"),
            )
            .expect("create");
        let b = store
            .create("acme", NewCustomer::new("bo@x.io", "Bo"))
            .expect("create");
        (a, b)
    };

    // Write the bytes as a record, behind the store's back.
    {
        let db = redb::Builder::new()
            .create_with_backend(backend.clone())
            .expect("redb opens the store's backend");
        let txn = db.begin_write().expect("begin_write");
        {
            let mut table = txn.open_table(CUSTOMERS).expect("customers_v1");
            let keys: Vec<((u32, u64), Vec<u8>)> = table
                .iter()
                .expect("iter")
                .map(|e| {
                    let (k, v) = e.expect("entry");
                    (k.value(), v.value().to_vec())
                })
                .collect();
            assert_eq!(keys.len(), 2, "two records");
            let (key, original) = if mode & 4 == 0 {
                keys[0].clone()
            } else {
                (keys[1].0, keys[0].1.clone())
            };
            let mut record = if mode & 2 == 0 {
                bytes.to_vec()
            } else {
                let mut record = original.clone();
                for (i, x) in bytes.iter().enumerate() {
                    match record.get_mut(i) {
                        Some(r) => *r ^= x,
                        None => record.push(*x),
                    }
                }
                record
            };
            if mode & 1 != 0 {
                if record.len() < 4 {
                    record.resize(4, 0);
                }
                let body = record.len() - 4;
                // As the codec seals a record: version 3 checksums its key first. A record
                // moved under another key (mode 4) is sealed for its old key with mode 8 (as
                // if moved whole), else for the key it now sits under (as if forged).
                let crc = if record[0] == 3 {
                    let (business, id) = if mode & 12 == 12 { keys[0].0 } else { key };
                    let mut sealed = business.to_le_bytes().to_vec();
                    sealed.extend_from_slice(&id.to_le_bytes());
                    crc32c::crc32c_append(crc32c::crc32c(&sealed), &record[..body])
                } else {
                    crc32c::crc32c(&record[..body])
                };
                record[body..].copy_from_slice(&crc.to_le_bytes());
            }
            table.insert(key, record.as_slice()).expect("insert");
        }
        txn.commit().expect("commit");
    }
    let target = if mode & 4 == 0 { &a } else { &b };

    let store = fuzz_store(&backend);
    let got = store.get("acme", &target.id);
    corrupt_or("get", &got);
    // The other customer's record, byte for byte, moved under this key (its checksum as it
    // was, or resealed for its old key): never taken for this customer.
    let moved_whole = mode & 4 != 0 && mode & 2 != 0 && bytes.iter().all(|&x| x == 0);
    if moved_whole && (mode & 1 == 0 || mode & 8 != 0) {
        assert!(got.is_err(), "a record moved under another key was read");
    }
    if let Ok(found) = &got {
        let found = found.as_ref().expect("the key holds a record");
        assert_eq!(found.id, target.id, "a record answers for another key");
        // What the HTTP layer would do with it.
        let json = serde_json::to_string(found).expect("a customer serialises");
        assert!(json.starts_with('{'));
    }
    let listed = walk_all(&store, "acme", &ListQuery::default());
    corrupt_or("list", &listed);
    if let (Ok(listed), Ok(Some(found))) = (&listed, &got) {
        assert!(listed.contains(found), "get and list disagree");
    }
    for email in ["ana@x.io", "bo@x.io"] {
        corrupt_or("get_by_email", &store.get_by_email("acme", email));
    }
    corrupt_or(
        "get_by_external_id",
        &store.get_by_external_id("acme", "ext-1"),
    );
    let verified = store.verify();
    corrupt_or("verify", &verified);
    if let Ok(Some(found)) = &got {
        // A record that decodes under its key, checksum included, is a record (the harness
        // may have written a valid one); but one whose email or externalId no longer matches
        // its index entries must fail verify().
        let key = |e: &str| e.trim().to_lowercase();
        if key(&found.email) != key(&target.email) || found.external_id != target.external_id {
            assert!(
                verified.is_err(),
                "verify misses a record that left its index entries"
            );
        }
    }
    let updated = store.update("acme", &target.id, CustomerPatch::default().set_name("New"));
    if let Err(e) = &updated {
        assert!(
            matches!(e.code(), "corrupt" | "email_taken" | "external_id_taken"),
            "update: {e:?}"
        );
    }
    corrupt_or("delete", &store.delete("acme", &target.id));
    // The other customer is untouched.
    let other = if mode & 4 == 0 { &b } else { &a };
    if let Ok(found) = store.get("acme", &other.id) {
        assert_eq!(found.as_ref(), Some(other));
    }
}

// ---------------------------------------------------------------------------------------------
// json

/// The `json` target: the input is up to three documents separated by newlines, parsed as
/// `NewCustomer`, `CustomerPatch` and `ListQuery`; whatever parses is passed to a store.
///
/// # Panics
///
/// When a store call panics, answers an unexpected error, or a stored record does not read
/// back as it was returned.
pub fn json(data: &[u8]) {
    let mut docs = data.splitn(3, |b| *b == b'\n');
    let (new_doc, patch_doc, query_doc) = (
        docs.next().unwrap_or_default(),
        docs.next().unwrap_or_default(),
        docs.next().unwrap_or_default(),
    );
    let backend = FaultyBackend::in_memory();
    let store = fuzz_store(&backend);
    let seeded = store
        .create(
            "acme",
            NewCustomer::new("ana@x.io", "Ana").with_external_id("ext-1"),
        )
        .expect("create");

    let refusal = |what: &str, e: &Error| {
        assert!(
            matches!(
                e.code(),
                "invalid_request" | "invalid_cursor" | "email_taken" | "external_id_taken"
            ),
            "{what}: unexpected {e:?}"
        );
    };
    let reads_back = |c: &Customer| {
        assert_eq!(store.get("acme", &c.id).expect("get").as_ref(), Some(c));
        // In another case, where lower-casing gives the same key back: the key is
        // `str::to_lowercase` (SPEC), which writes a capital sigma as ς or σ by its place,
        // so `…@ςx.io` in capitals (`…@ΣX.IO`) lower-cases to `…@σx.io`, another key (a
        // limit the README states; found by this target).
        let upper = c.email.to_uppercase();
        let same_key = upper.trim().to_lowercase() == c.email.trim().to_lowercase();
        assert_eq!(
            store
                .get_by_email("acme", if same_key { &upper } else { &c.email })
                .expect("get_by_email")
                .map(|f| f.id),
            Some(c.id.clone()),
            "get_by_email misses {}",
            c.email
        );
        if let Some(x) = &c.external_id {
            assert_eq!(
                store.get_by_external_id("acme", x).expect("get").as_ref(),
                Some(c)
            );
        }
        let json = serde_json::to_value(c).expect("serialise");
        assert_eq!(json.as_object().map(serde_json::Map::len), Some(11));
    };

    if let Ok(new) = serde_json::from_slice::<NewCustomer>(new_doc) {
        match store.create("acme", new.clone()) {
            Ok(c) => reads_back(&c),
            Err(e) => refusal("create", &e),
        }
        match store.create_many("beta", vec![new.clone(), new]) {
            Ok(created) => panic!("a batch of one customer twice was accepted: {created:?}"),
            Err(e) => refusal("create_many", &e),
        }
    }
    if let Ok(patch) = serde_json::from_slice::<CustomerPatch>(patch_doc) {
        match store.update("acme", &seeded.id, patch.clone()) {
            Ok(c) => {
                assert_eq!(c.id, seeded.id);
                reads_back(&c);
            }
            Err(e) => refusal("update", &e),
        }
        match store.update("acme", "cust_x", patch) {
            Ok(c) => panic!("an update of an unknown id answered {c:?}"),
            Err(e) => assert!(e.is_not_found() || e.is_invalid_input(), "{e:?}"),
        }
    }
    if let Ok(query) = serde_json::from_slice::<ListQuery>(query_doc) {
        match store.list("acme", &query) {
            Ok(page) => {
                let limit = query.limit.unwrap_or(ListQuery::DEFAULT_LIMIT) as usize;
                assert!(page.items.len() <= limit);
                assert!(page.items.windows(2).all(|w| w[0].id < w[1].id));
                for c in &page.items {
                    if let Some(term) = query.email.as_deref() {
                        assert!(c.email.to_lowercase().contains(&term.to_lowercase()));
                    }
                    if let Some(status) = query.status {
                        assert_eq!(c.status, status);
                    }
                    if let Some(cursor) = &query.cursor {
                        assert!(c.id > *cursor);
                    }
                }
            }
            Err(e) => refusal("list", &e),
        }
    }
    store.verify().expect("verify");
}
