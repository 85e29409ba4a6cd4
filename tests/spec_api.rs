//! The shape of the public API (SPEC §2): public types derive `Debug` and `Clone`, the store is
//! `Send + Sync` and object-safe, errors have stable codes, and no input panics the store.

mod spec_support;

use std::marker::PhantomData;
use std::sync::Arc;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, Error, ListQuery, ManualClock, Metadata, MetadataValue,
    NewCustomer, Page, RedbStore, RedbStoreBuilder, Status, SystemClock, VerifyReport,
};
use proptest::prelude::*;
use spec_support::TestResult;

fn debug_and_clone<T: std::fmt::Debug + Clone>() {}

/// Tells at run time whether a type is `Clone`, so that a missing impl fails one test instead
/// of the build (autoref specialisation: the inherent-looking method on `Probe<T>` wins only
/// when `T: Clone`).
struct Probe<T>(PhantomData<T>);

trait IsClone {
    fn is_clone(&self) -> bool {
        true
    }
}

impl<T: Clone> IsClone for Probe<T> {}

trait NotClone {
    fn is_clone(&self) -> bool {
        false
    }
}

impl<T> NotClone for &Probe<T> {}

macro_rules! is_clone {
    ($t:ty) => {
        (&Probe::<$t>(PhantomData)).is_clone()
    };
}

#[test]
fn public_types_derive_debug_and_clone() {
    debug_and_clone::<Customer>();
    debug_and_clone::<NewCustomer>();
    debug_and_clone::<CustomerPatch>();
    debug_and_clone::<ListQuery>();
    debug_and_clone::<Page>();
    debug_and_clone::<Status>();
    debug_and_clone::<Metadata>();
    debug_and_clone::<MetadataValue>();
    debug_and_clone::<Error>();
    debug_and_clone::<RedbStore>();
    debug_and_clone::<RedbStoreBuilder>();
    debug_and_clone::<VerifyReport>();
    debug_and_clone::<SystemClock>();
    assert!(is_clone!(Customer), "the probe itself works");
    assert!(!is_clone!(std::sync::Mutex<u8>), "the probe itself works");
}

#[test]
fn manual_clock_derives_debug_and_clone() {
    // SPEC §2: "Public types derive `Debug` and `Clone`."
    assert!(is_clone!(ManualClock), "ManualClock is not Clone");
}

#[test]
fn the_store_is_send_sync_and_object_safe() -> TestResult {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RedbStore>();
    send_sync::<Arc<dyn CustomerStore>>();
    send_sync::<Error>();
    let store: Box<dyn CustomerStore> = Box::new(RedbStore::in_memory()?);
    let c = store.create("acme", NewCustomer::new("a@x.io", "A"))?;
    assert_eq!(store.get("acme", &c.id)?, Some(c));
    // Clones share one database.
    let one = RedbStore::in_memory()?;
    let two = one.clone();
    let c = one.create("acme", NewCustomer::new("a@x.io", "A"))?;
    assert_eq!(two.get("acme", &c.id)?, Some(c));
    Ok(())
}

#[test]
fn errors_have_the_stable_codes_and_their_facts() {
    let id = "cust_c0000000000001".to_owned();
    let cases: Vec<(Error, &str)> = vec![
        (
            Error::InvalidRequest {
                field: "externalId".into(),
                reason: "too long".into(),
            },
            "invalid_request",
        ),
        (
            Error::EmailTaken {
                existing_id: id.clone(),
            },
            "email_taken",
        ),
        (
            Error::ExternalIdTaken {
                existing_id: id.clone(),
            },
            "external_id_taken",
        ),
        (Error::NotFound, "not_found"),
        (
            Error::InvalidCursor {
                reason: "bad".into(),
            },
            "invalid_cursor",
        ),
        (
            Error::Storage {
                message: "disk full".into(),
                source: Some(Arc::new(std::io::Error::other("disk full"))),
            },
            "storage",
        ),
        (Error::Corrupt("bad checksum".into()), "corrupt"),
        (
            Error::IncompatibleFormat("not a store".into()),
            "incompatible_format",
        ),
    ];
    for (error, code) in &cases {
        assert_eq!(error.code(), *code);
        assert!(!error.to_string().is_empty());
        assert_eq!(error.is_not_found(), *code == "not_found");
        assert_eq!(
            error.is_conflict(),
            matches!(*code, "email_taken" | "external_id_taken")
        );
        assert_eq!(
            error.is_invalid_input(),
            matches!(*code, "invalid_request" | "invalid_cursor")
        );
        assert_eq!(error.is_storage(), *code == "storage");
    }
    assert_eq!(cases[0].0.field(), Some("externalId"));
    assert_eq!(cases[1].0.existing_id(), Some(id.as_str()));
    // The conflict messages name the existing id (SPEC §3: "the message names the existing id").
    assert!(cases[1].0.to_string().contains(&id));
    assert!(cases[2].0.to_string().contains(&id));
    // A storage error keeps the backend error as its source.
    assert!(std::error::Error::source(&cases[5].0).is_some());

    let batch = Error::Batch {
        index: 3,
        source: Box::new(Error::DuplicateInBatch {
            field: "email",
            earlier_index: 1,
        }),
    };
    assert_eq!(batch.code(), "email_taken");
    assert_eq!(batch.batch_index(), Some(3));
    assert_eq!(batch.field(), Some("email"));
}

#[test]
fn a_store_error_names_the_existing_id_in_its_message() -> TestResult {
    let store = RedbStore::in_memory()?;
    let yaw = store.create(
        "acme",
        NewCustomer::new("yaw@x.io", "Yaw").with_external_id("y"),
    )?;
    let email = store
        .create("acme", NewCustomer::new("YAW@x.io", "Other"))
        .err()
        .ok_or("accepted")?;
    assert!(email.to_string().contains(&yaw.id), "{email}");
    let external = store
        .create(
            "acme",
            NewCustomer::new("o@x.io", "Other").with_external_id("y"),
        )
        .err()
        .ok_or("accepted")?;
    assert!(external.to_string().contains(&yaw.id), "{external}");
    Ok(())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_@. +()\\-]{0,30}",
        "cust_[0-9a-z]{14}",
        "cust_[0-9a-zA-Z_ ]{0,16}",
        Just(String::new()),
        Just("x".repeat(70_000)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// SPEC §2: "No input, however malformed, panics the store."
    #[test]
    fn no_input_panics_the_store(
        business in any_text(),
        id in any_text(),
        email in any_text(),
        name in any_text(),
        phone in any_text(),
        other in any_text(),
        limit in any::<u32>(),
    ) {
        let store = RedbStore::in_memory().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let new = NewCustomer::new(email.clone(), name.clone())
            .with_phone(phone.clone())
            .with_external_id(other.clone())
            .with_description(other.clone())
            .with_currency(other.clone())
            .with_metadata(Metadata::from([(other.clone(), MetadataValue::from(other.clone()))]));
        let _ = store.create(&business, new.clone());
        let _ = store.create(&business, NewCustomer::new(email.clone(), name.clone()));
        let _ = store.create_many(&business, vec![new.clone(), new]);
        let _ = store.get(&business, &id);
        let _ = store.get_by_email(&business, &email);
        let _ = store.get_by_external_id(&business, &other);
        let query = ListQuery::default().with_email(email.clone()).with_limit(limit).with_cursor(id.clone());
        let _ = store.list(&business, &query);
        let _ = store.list(&business, &ListQuery::default().with_email(other.clone()));
        let patch = CustomerPatch::default().set_email(email).set_name(name).set_phone(Some(phone));
        let _ = store.update(&business, &id, patch);
        let _ = store.delete(&business, &id);
        store.verify().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
