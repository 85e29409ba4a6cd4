//! Model-based property test: random workloads against a store file and a plain in-memory
//! reference model (`reliability_support::model`), compared answer by answer.
//!
//! A workload mixes create, create_many, update (every field, email and externalId changes,
//! `null` clears), delete, the three gets, full list walks with random filters and page
//! sizes, clock steps and reopens, across 3 businesses (and an invalid business name), with
//! emails (in mixed case) and external ids from tiny pools so conflicts are frequent. After
//! every step the full list walk of each business equals the model, every record is found by
//! id, email and externalId, and `verify()` is clean with the model's counts.
//!
//! CI runs [`DEFAULT_CASES`] workloads of up to 40 steps; `PROPTEST_CASES=N` runs N. A
//! failure shrinks to a minimal workload; proptest keeps its seed in
//! `proptest-regressions/`, and a minimal workload worth keeping becomes a named test below.

mod reliability_support;

use std::path::PathBuf;

use customer_store::RedbStore;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

use reliability_support::exec::Harness;
use reliability_support::model::{
    CURRENCIES, DESCRIPTIONS, EMAILS, EXTERNAL_IDS, FILTERS, Field, METADATA, NAMES, NewSpec,
    OTHER_IDS, Op, PHONES, PatchSpec, Target, Walk,
};

/// Workloads per CI run (about 20 s in debug on 2 cores).
const DEFAULT_CASES: u32 = 1000;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/model_state_machine.txt",
        ))),
        ..ProptestConfig::default()
    }
}

/// An index into a pool whose first `valid` entries are valid and the rest refused.
fn index(valid: usize, len: usize) -> BoxedStrategy<usize> {
    if valid == len {
        (0..len).boxed()
    } else {
        prop_oneof![12 => 0..valid, 1 => valid..len].boxed()
    }
}

fn biz() -> impl Strategy<Value = usize> {
    prop_oneof![16 => 0..3usize, 1 => Just(3usize)]
}

fn email() -> BoxedStrategy<usize> {
    index(10, EMAILS.len())
}

fn external_id() -> BoxedStrategy<usize> {
    index(4, EXTERNAL_IDS.len())
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        6 => any::<u8>().prop_map(|i| Target::Live(i.into())),
        3 => any::<u8>().prop_map(|i| Target::Issued(i.into())),
        1 => (0..OTHER_IDS.len()).prop_map(Target::Other),
    ]
}

fn new_spec() -> impl Strategy<Value = NewSpec> {
    (
        email(),
        index(3, NAMES.len()),
        prop::option::weighted(0.3, index(3, PHONES.len())),
        prop::option::weighted(0.6, external_id()),
        prop::option::weighted(0.3, index(2, DESCRIPTIONS)),
        prop::option::weighted(0.3, index(3, CURRENCIES.len())),
        prop::option::weighted(0.3, index(3, METADATA)),
    )
        .prop_map(
            |(email, name, phone, external_id, description, currency, metadata)| NewSpec {
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

/// A patch field: mostly absent; `null` (clears, or is refused for name/email/status) or a
/// value otherwise.
fn field(values: BoxedStrategy<usize>, null: u32) -> impl Strategy<Value = Field> {
    prop_oneof![
        12 => Just(Field::Absent),
        null => Just(Field::Null),
        6 => values.prop_map(Field::Set),
    ]
}

fn patch() -> impl Strategy<Value = PatchSpec> {
    (
        field(email(), 1),
        field(index(3, NAMES.len()), 1),
        field(index(3, PHONES.len()), 3),
        field(external_id(), 4),
        field(index(2, DESCRIPTIONS), 3),
        field(index(3, CURRENCIES.len()), 3),
        field(index(3, METADATA), 3),
        field((0..3usize).boxed(), 1),
    )
        .prop_map(
            |(email, name, phone, external_id, description, currency, metadata, status)| {
                PatchSpec {
                    email,
                    name,
                    phone,
                    external_id,
                    description,
                    currency,
                    metadata,
                    status,
                }
            },
        )
}

fn walk() -> impl Strategy<Value = Walk> {
    (
        prop::option::weighted(0.5, 0..FILTERS.len()),
        prop::option::weighted(0.3, 0..3usize),
        prop_oneof![
            2 => Just(None),
            8 => (1u32..=4).prop_map(Some),
            1 => prop_oneof![Just(Some(0)), Just(Some(100)), Just(Some(101))],
        ],
        prop::option::weighted(0.3, target()),
    )
        .prop_map(|(filter, status, limit, start)| Walk {
            filter,
            status,
            limit,
            start,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (biz(), new_spec()).prop_map(|(biz, new)| Op::Create { biz, new }),
        2 => (biz(), vec(new_spec(), 0..4)).prop_map(|(biz, items)| Op::CreateMany { biz, items }),
        8 => (biz(), target(), patch())
            .prop_map(|(biz, target, patch)| Op::Update { biz, target, patch }),
        2 => (biz(), target()).prop_map(|(biz, target)| Op::Delete { biz, target }),
        2 => (biz(), target()).prop_map(|(biz, target)| Op::Get { biz, target }),
        2 => (biz(), 0..EMAILS.len()).prop_map(|(biz, email)| Op::GetByEmail { biz, email }),
        2 => (biz(), 0..EXTERNAL_IDS.len())
            .prop_map(|(biz, external_id)| Op::GetByExternalId { biz, external_id }),
        3 => (biz(), walk()).prop_map(|(biz, walk)| Op::List { biz, walk }),
        1 => (-30i64..120).prop_map(|seconds| Op::Clock { seconds }),
        1 => Just(Op::Reopen),
    ]
}

/// A store file in a fresh directory, reopened on the same path.
fn file_harness() -> Result<(Harness, tempfile::TempDir), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path: PathBuf = dir.path().join("customers.redb");
    let start = "2026-06-05T12:00:00.250Z"
        .parse()
        .map_err(|e| format!("{e}"))?;
    let harness = Harness::new(
        start,
        Box::new(move |clock| {
            RedbStore::builder()
                .clock(clock)
                .cache_size(4 << 20)
                .open(&path)
        }),
    )
    .map_err(|e| e.to_string())?;
    Ok((harness, dir))
}

/// Runs a workload; the error names the failing step.
fn run(ops: &[Op]) -> Result<(), String> {
    let (mut harness, _dir) = file_harness()?;
    harness.check_invariants()?;
    for (i, op) in ops.iter().enumerate() {
        harness
            .step(op)
            .map_err(|e| format!("step {i} {op:?}: {e}"))?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn store_matches_model(ops in vec(op(), 1..40)) {
        run(&ops).map_err(TestCaseError::fail)?;
    }
}

/// Every field of a customer changed in turn, each index entry moved and cleared, with the
/// conflicts each move can meet; a fixed workload that must always pass.
#[test]
fn every_field_and_index_combination() -> Result<(), String> {
    let spec = |email, external_id| NewSpec {
        phone: Some(0),
        description: Some(1),
        currency: Some(0),
        metadata: Some(2),
        ..NewSpec::simple(email, external_id)
    };
    let update = |target, patch| Op::Update {
        biz: 0,
        target: Target::Live(target),
        patch,
    };
    let mut ops = vec![
        Op::Create {
            biz: 0,
            new: spec(0, Some(0)),
        },
        Op::Create {
            biz: 0,
            new: spec(3, Some(1)),
        },
        // The same email and external id in another business are free.
        Op::Create {
            biz: 1,
            new: spec(1, Some(0)),
        },
    ];
    let set = |f: fn(&mut PatchSpec), p: &mut Vec<Op>, target| {
        let mut patch = PatchSpec::default();
        f(&mut patch);
        p.push(update(target, patch));
    };
    // Each field set, then cleared (or refused when it cannot be null).
    set(|p| p.email = Field::Set(5), &mut ops, 0); // email moves to a free address
    set(|p| p.email = Field::Set(4), &mut ops, 0); // taken by the other customer
    set(|p| p.email = Field::Set(6), &mut ops, 0); // only the case changes
    set(|p| p.email = Field::Null, &mut ops, 0);
    set(|p| p.external_id = Field::Set(1), &mut ops, 0); // taken
    set(|p| p.external_id = Field::Set(2), &mut ops, 0); // free
    set(|p| p.external_id = Field::Null, &mut ops, 0);
    set(|p| p.external_id = Field::Set(0), &mut ops, 1); // the freed one
    for f in [
        (|p: &mut PatchSpec| p.name = Field::Set(2)) as fn(&mut PatchSpec),
        |p| p.name = Field::Null,
        |p| p.phone = Field::Set(1),
        |p| p.phone = Field::Null,
        |p| p.description = Field::Set(0),
        |p| p.description = Field::Null,
        |p| p.currency = Field::Set(2),
        |p| p.currency = Field::Null,
        |p| p.metadata = Field::Set(1),
        |p| p.metadata = Field::Null,
        |p| p.status = Field::Set(2),
        |p| p.status = Field::Null,
        // A patch that changes nothing writes nothing.
        |p| p.status = Field::Set(2),
    ] {
        set(f, &mut ops, 0);
        ops.push(Op::Clock { seconds: 1 });
    }
    ops.extend([
        Op::Reopen,
        Op::Delete {
            biz: 0,
            target: Target::Live(0),
        },
        // Its email and external id are free again.
        Op::Create {
            biz: 0,
            new: spec(5, Some(2)),
        },
        Op::List {
            biz: 0,
            walk: Walk {
                filter: Some(1),
                status: None,
                limit: Some(1),
                start: None,
            },
        },
    ]);
    run(&ops)
}

/// The trait's promise for `create_many`: the error names the first offending item. Item 0
/// takes a stored customer's email; item 1 repeats item 0's.
///
/// Regression: a version of the store checked every item for repeats within the batch before
/// it checked any item against the stored customers, and answered item 1.
#[test]
fn create_many_reports_the_first_offending_item() -> Result<(), String> {
    use customer_store::{CustomerStore, NewCustomer};
    let store = RedbStore::in_memory().map_err(|e| e.to_string())?;
    let ana = store
        .create("acme", NewCustomer::new("ana@x.io", "Ana"))
        .map_err(|e| e.to_string())?;
    let batch = vec![
        NewCustomer::new("ANA@x.io", "Taken"),
        NewCustomer::new("ana@X.io", "Repeats item 0"),
    ];
    let err = store
        .create_many("acme", batch)
        .err()
        .ok_or("the batch was accepted")?;
    if (err.batch_index(), err.existing_id()) == (Some(0), Some(ana.id.as_str())) {
        Ok(())
    } else {
        Err(format!("expected item 0 naming {}, got {err:?}", ana.id))
    }
}
