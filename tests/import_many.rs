//! `RedbStore::import_many`: an import keeps status and timestamps, and obeys every rule of a
//! create.

use customer_store::{CustomerStore, ImportCustomer, ListQuery, NewCustomer, RedbStore, Status};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn item(
    email: &str,
    status: Option<Status>,
    created: Option<&str>,
    updated: Option<&str>,
) -> ImportCustomer {
    ImportCustomer {
        status,
        created_at: created.map(|t| t.parse().expect("timestamp")),
        updated_at: updated.map(|t| t.parse().expect("timestamp")),
        ..ImportCustomer::from(NewCustomer::new(email, "N"))
    }
}

#[test]
fn keeps_status_and_timestamps() -> TestResult {
    let store = RedbStore::in_memory()?;
    let imported = store.import_many(
        "acme",
        vec![
            item(
                "a@x.io",
                Some(Status::Blocked),
                Some("2025-01-02T03:04:05Z"),
                Some("2025-02-03T04:05:06Z"),
            ),
            item("b@x.io", None, Some("2025-01-02T03:04:05.999Z"), None),
            item("c@x.io", Some(Status::Inactive), None, None),
        ],
    )?;
    assert_eq!(imported[0].status, Status::Blocked);
    assert_eq!(imported[0].created_at.to_string(), "2025-01-02T03:04:05Z");
    assert_eq!(imported[0].updated_at.to_string(), "2025-02-03T04:05:06Z");
    // Whole seconds, and updatedAt defaults to createdAt.
    assert_eq!(imported[1].status, Status::Active);
    assert_eq!(imported[1].updated_at.to_string(), "2025-01-02T03:04:05Z");
    assert_eq!(imported[2].created_at, imported[2].updated_at);
    assert!(imported[0].id < imported[1].id && imported[1].id < imported[2].id);
    // The status index knows the kept statuses.
    let blocked = store.list("acme", &ListQuery::default().with_status(Status::Blocked))?;
    assert_eq!(blocked.items, vec![imported[0].clone()]);
    let report = store.verify()?;
    assert_eq!((report.customers, report.status_entries), (3, 3));
    Ok(())
}

#[test]
fn refuses_like_a_create_and_writes_nothing() -> TestResult {
    let store = RedbStore::in_memory()?;
    store.create("acme", NewCustomer::new("taken@x.io", "T"))?;
    let backwards = store
        .import_many(
            "acme",
            vec![item(
                "a@x.io",
                None,
                Some("2025-02-01T00:00:00Z"),
                Some("2025-01-01T00:00:00Z"),
            )],
        )
        .unwrap_err();
    assert_eq!(
        (backwards.batch_index(), backwards.field()),
        (Some(0), Some("updatedAt"))
    );
    // Without a createdAt, the store's clock is the creation time: an updatedAt before it is
    // refused too (it was silently replaced by the clock's time).
    let before_the_clock = store
        .import_many(
            "acme",
            vec![
                item("b@x.io", None, None, None),
                item("c@x.io", None, None, Some("2000-01-01T00:00:00Z")),
            ],
        )
        .unwrap_err();
    assert_eq!(
        (before_the_clock.batch_index(), before_the_clock.field()),
        (Some(1), Some("updatedAt"))
    );
    let taken = store
        .import_many(
            "acme",
            vec![
                item("new@x.io", None, None, None),
                item("TAKEN@x.io", None, None, None),
            ],
        )
        .unwrap_err();
    assert_eq!(
        (taken.code(), taken.batch_index()),
        ("email_taken", Some(1))
    );
    let invalid = store
        .import_many("acme", vec![item("not-an-email", None, None, None)])
        .unwrap_err();
    assert_eq!(
        (invalid.code(), invalid.field()),
        ("invalid_request", Some("email"))
    );
    assert_eq!(store.verify()?.customers, 1);
    Ok(())
}
