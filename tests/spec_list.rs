//! `list` (SPEC §2 "Operations" and "Where rules are checked"): ascending id order, limits
//! never clamped, the email and status filters, cursors, `nextCursor` and `hasMore`.

mod spec_support;

use std::collections::BTreeSet;

use proptest::prelude::*;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, ListQuery, NewCustomer, Page, RedbStore, Status,
};
use spec_support::{
    SEED_CREATED_AT, TestResult, all_customers, expect_code, expect_invalid, is_customer_id,
    pinned_store, verify_clean,
};

const BIZ: &str = "acme";

/// Creates `n` customers `c0@example.com`, `c1@example.com`, …
fn populate(store: &RedbStore, n: usize) -> TestResult<Vec<Customer>> {
    Ok((0..n)
        .map(|i| {
            store.create(
                BIZ,
                NewCustomer::new(format!("c{i}@example.com"), format!("C {i}")),
            )
        })
        .collect::<Result<_, _>>()?)
}

/// Walks every page of `query`, checking the page invariants on the way.
fn walk(store: &RedbStore, query: &ListQuery) -> TestResult<Vec<Customer>> {
    let mut query = query.clone();
    let mut out: Vec<Customer> = Vec::new();
    loop {
        let page = store.list(BIZ, &query)?;
        check_page(&page, query.limit.unwrap_or(20))?;
        if let (Some(last), Some(first)) = (out.last(), page.items.first()) {
            assert!(first.id > last.id, "pages overlap or go backwards");
        }
        out.extend(page.items);
        if !page.has_more {
            return Ok(out);
        }
        query.cursor = page.next_cursor;
    }
}

fn check_page(page: &Page, limit: u32) -> TestResult {
    assert!(page.items.len() <= usize::try_from(limit)?);
    assert_eq!(page.next_cursor, page.items.last().map(|c| c.id.clone()));
    assert!(
        page.items.windows(2).all(|w| w[0].id < w[1].id),
        "not in ascending id order"
    );
    if page.items.is_empty() {
        assert!(!page.has_more);
    }
    Ok(())
}

fn ids(customers: &[Customer]) -> Vec<&str> {
    customers.iter().map(|c| c.id.as_str()).collect()
}

#[test]
fn items_come_in_ascending_id_order_which_is_creation_order() -> TestResult {
    let (store, clock) = pinned_store(SEED_CREATED_AT)?;
    let mut created = populate(&store, 30)?;
    // Later, and after the clock stepped back: still after the others.
    clock.advance_seconds(5);
    created.extend(
        store.create_many(
            BIZ,
            (30..40)
                .map(|i| NewCustomer::new(format!("c{i}@example.com"), "C"))
                .collect(),
        )?,
    );
    clock.advance_seconds(-3600);
    created.push(store.create(BIZ, NewCustomer::new("late@example.com", "Late"))?);

    assert!(created.iter().all(|c| is_customer_id(&c.id)));
    assert!(
        created.windows(2).all(|w| w[0].id < w[1].id),
        "ids are not increasing"
    );
    assert_eq!(walk(&store, &ListQuery::default())?, created);
    assert_eq!(walk(&store, &ListQuery::default().with_limit(7))?, created);
    assert_eq!(walk(&store, &ListQuery::default().with_limit(1))?, created);
    verify_clean(&store, 41)?;
    Ok(())
}

#[test]
fn limit_is_1_to_100_with_a_default_of_20_and_never_clamped() -> TestResult {
    let store = RedbStore::in_memory()?;
    let created = populate(&store, 120)?;

    let page = store.list(BIZ, &ListQuery::default())?;
    assert_eq!(ids(&page.items), ids(&created[..20]));
    assert!(page.has_more);
    assert_eq!(page.next_cursor.as_deref(), Some(created[19].id.as_str()));

    for limit in [1, 2, 20, 99, 100] {
        let page = store.list(BIZ, &ListQuery::default().with_limit(limit))?;
        assert_eq!(page.items.len(), usize::try_from(limit)?);
        assert!(page.has_more);
    }
    for limit in [0, 101, 1000, u32::MAX] {
        expect_invalid(
            store.list(BIZ, &ListQuery::default().with_limit(limit)),
            "limit",
        );
        // Also on a business with no customer, and with an otherwise valid query.
        expect_invalid(
            store.list("empty", &ListQuery::default().with_limit(limit)),
            "limit",
        );
        let query = ListQuery::default()
            .with_limit(limit)
            .with_email("c1")
            .with_status(Status::Active);
        expect_invalid(store.list(BIZ, &query), "limit");
    }
    let query: ListQuery = serde_json::from_str(r#"{"limit": 0}"#)?;
    expect_invalid(store.list(BIZ, &query), "limit");
    Ok(())
}

#[test]
fn has_more_and_next_cursor_at_the_end() -> TestResult {
    let store = RedbStore::in_memory()?;
    // Nothing at all: an empty page, no cursor.
    let empty = store.list(BIZ, &ListQuery::default())?;
    assert_eq!(
        (empty.items.len(), empty.next_cursor, empty.has_more),
        (0, None, false)
    );

    let created = populate(&store, 20)?;
    // Exactly `limit` items left: no more.
    let page = store.list(BIZ, &ListQuery::default())?;
    assert_eq!(page.items, created);
    assert!(!page.has_more);
    assert_eq!(page.next_cursor.as_deref(), Some(created[19].id.as_str()));

    // Past the last item: an empty page with no cursor.
    let after = store.list(
        BIZ,
        &ListQuery::default().with_cursor(created[19].id.clone()),
    )?;
    assert_eq!(
        (after.items.len(), after.next_cursor, after.has_more),
        (0, None, false)
    );

    // One more than the limit.
    store.create(BIZ, NewCustomer::new("twenty@example.com", "T"))?;
    let page = store.list(BIZ, &ListQuery::default())?;
    assert!(page.has_more);
    let rest = store.list(
        BIZ,
        &ListQuery::default().with_cursor(created[19].id.clone()),
    )?;
    assert_eq!(rest.items.len(), 1);
    assert!(!rest.has_more);
    Ok(())
}

#[test]
fn email_filter_is_a_case_insensitive_substring() -> TestResult {
    let store = RedbStore::in_memory()?;
    let emails = [
        "Yaw@Example.com",
        "ama@yawmail.io",
        "kofi@example.com",
        "ÉLODIE@exemple.fr",
        "esi@EXAMPLE.COM.gh",
        "y.a.w@other.org",
    ];
    let created: Vec<Customer> = emails
        .iter()
        .map(|e| store.create(BIZ, NewCustomer::new(*e, "N")))
        .collect::<Result<_, _>>()?;
    let pick = |which: &[usize]| {
        which
            .iter()
            .map(|&i| created[i].clone())
            .collect::<Vec<_>>()
    };

    for (term, expected) in [
        ("yaw", vec![0, 1]),
        ("YAW", vec![0, 1]),
        ("example.com", vec![0, 2, 4]),
        ("EXAMPLE.COM", vec![0, 2, 4]),
        ("élodie", vec![3]),
        ("ÉLO", vec![3]),
        ("@", vec![0, 1, 2, 3, 4, 5]),
        ("kofi@example.com", vec![2]),
        ("y.a", vec![5]),
        (".", vec![0, 1, 2, 3, 4, 5]),
        ("zzz", vec![]),
        ("kofi@example.com.", vec![]),
    ] {
        let query = ListQuery::default().with_email(term);
        assert_eq!(walk(&store, &query)?, pick(&expected), "term {term:?}");
        assert_eq!(
            walk(&store, &query.clone().with_limit(1))?,
            pick(&expected),
            "term {term:?}"
        );
    }
    // No match: an empty page with no cursor.
    let none = store.list(BIZ, &ListQuery::default().with_email("zzz"))?;
    assert_eq!(
        (none.items.len(), none.next_cursor, none.has_more),
        (0, None, false)
    );

    // An empty filter is no filter.
    assert_eq!(
        store.list(BIZ, &ListQuery::default().with_email(""))?,
        store.list(BIZ, &ListQuery::default())?
    );
    assert_eq!(
        walk(&store, &ListQuery::default().with_email("").with_limit(2))?,
        created
    );
    Ok(())
}

#[test]
fn email_filter_matches_a_sigma_in_either_form() -> TestResult {
    // A capital sigma lower-cases to `ς` at the end of a word and to `σ` inside one, so a term
    // lower-cased on its own missed the email it is part of: `Σ@` found no `ΟΔΥΣ@…` (found in
    // an HTTP trial). All three are one letter to the filter. Both ways a query is answered:
    // with the new customers still outside the postings (the default tail), and folded in.
    for tail in [None, Some(1)] {
        let builder = tail.map_or_else(RedbStore::builder, |t| {
            RedbStore::builder().email_index_tail(t)
        });
        let store = builder.in_memory()?;
        let emails = ["ΟΔΥΣ@example.gr", "ΟΔΥΣΣΕΑΣ@example.gr", "odys@example.gr"];
        let created: Vec<Customer> = emails
            .iter()
            .map(|e| store.create(BIZ, NewCustomer::new(*e, "N")))
            .collect::<Result<_, _>>()?;
        for (term, expected) in [
            ("Σ@", vec![0, 1]),
            ("σ@", vec![0, 1]),
            ("ς@", vec![0, 1]),
            ("υσ@ex", vec![0]),
            ("οδυσ", vec![0, 1]),
            ("ΟΔΥς", vec![0, 1]),
            ("ΣΣ", vec![1]),
            ("σσεας@", vec![1]),
            ("ας@example", vec![1]),
            ("σ", vec![0, 1]),
            ("σσσ", vec![]),
            ("ys@", vec![2]),
        ] {
            let query = ListQuery::default().with_email(term);
            let found: Vec<Customer> = walk(&store, &query)?;
            let want: Vec<Customer> = expected.iter().map(|&i| created[i].clone()).collect();
            assert_eq!(found, want, "term {term:?}, tail {tail:?}");
        }
        verify_clean(&store, 3)?;
    }
    Ok(())
}

#[test]
fn status_filter_is_exact_and_combines_with_the_email_filter() -> TestResult {
    let store = RedbStore::in_memory()?;
    let mut created = populate(&store, 12)?;
    for (i, status) in [
        (1, Status::Blocked),
        (4, Status::Inactive),
        (5, Status::Blocked),
        (11, Status::Blocked),
    ] {
        created[i] = store.update(
            BIZ,
            &created[i].id,
            CustomerPatch::default().set_status(status),
        )?;
    }
    let with = |status: Status| {
        created
            .iter()
            .filter(|c| c.status == status)
            .cloned()
            .collect::<Vec<_>>()
    };
    for status in Status::ALL {
        let query = ListQuery::default().with_status(status);
        assert_eq!(walk(&store, &query)?, with(status), "{status}");
        assert_eq!(
            walk(&store, &query.with_limit(1))?,
            with(status),
            "{status}"
        );
    }
    assert_eq!(with(Status::Active).len(), 8);

    // Both filters: emails containing "c1" (c1, c10, c11) that are BLOCKED.
    let query = ListQuery::default()
        .with_status(Status::Blocked)
        .with_email("C1");
    assert_eq!(
        walk(&store, &query)?,
        vec![created[1].clone(), created[11].clone()]
    );
    Ok(())
}

#[test]
fn has_more_counts_only_matching_items() -> TestResult {
    let store = RedbStore::in_memory()?;
    let created = populate(&store, 10)?;
    // c1 and c3 are blocked, then plenty of non-matching customers follow.
    for i in [1, 3] {
        store.update(
            BIZ,
            &created[i].id,
            CustomerPatch::default().set_status(Status::Blocked),
        )?;
    }
    let blocked = ListQuery::default().with_status(Status::Blocked);
    let page = store.list(BIZ, &blocked.clone().with_limit(2))?;
    assert_eq!(
        ids(&page.items),
        [created[1].id.as_str(), created[3].id.as_str()]
    );
    assert!(!page.has_more, "no other blocked customer exists");
    assert_eq!(page.next_cursor.as_deref(), Some(created[3].id.as_str()));

    let page = store.list(BIZ, &blocked.clone().with_limit(1))?;
    assert_eq!(ids(&page.items), [created[1].id.as_str()]);
    assert!(page.has_more);

    // After the last match the page is empty, however many non-matching items follow.
    let page = store.list(BIZ, &blocked.with_cursor(created[3].id.clone()))?;
    assert_eq!(
        (page.items.len(), page.next_cursor, page.has_more),
        (0, None, false)
    );
    Ok(())
}

#[test]
fn a_malformed_cursor_is_invalid_cursor() -> TestResult {
    let store = RedbStore::in_memory()?;
    populate(&store, 3)?;
    for bad in [
        "",
        "cust_",
        "abc",
        "cust_c000000000000",
        "cust_c00000000000000",
        "cust_C0000000000000",
        "CUST_c0000000000000",
        "cust_c00000000000-0",
        "cust_c000000000000 ",
        " cust_c0000000000000",
        "cus_c00000000000000",
        "cust-c0000000000000",
        "cust_c00000000000é",
        "c0000000000000",
    ] {
        let error = expect_code(
            store.list(BIZ, &ListQuery::default().with_cursor(bad)),
            "invalid_cursor",
        );
        assert!(error.is_invalid_input());
        // The same on a business that has no customer.
        expect_code(
            store.list("empty", &ListQuery::default().with_cursor(bad)),
            "invalid_cursor",
        );
    }
    Ok(())
}

#[test]
fn a_well_formed_cursor_resumes_after_its_place_in_id_order() -> TestResult {
    let store = RedbStore::in_memory()?;
    let created = populate(&store, 6)?;
    // Every issued id is above the smallest id text and below the largest.
    let all = store.list(
        BIZ,
        &ListQuery::default().with_cursor("cust_00000000000000"),
    )?;
    assert_eq!(all.items, created);
    let none = store.list(
        BIZ,
        &ListQuery::default().with_cursor("cust_zzzzzzzzzzzzzz"),
    )?;
    assert_eq!(
        (none.items.len(), none.next_cursor, none.has_more),
        (0, None, false)
    );

    // A deleted customer's id still works as a cursor.
    store.delete(BIZ, &created[2].id)?;
    let page = store.list(
        BIZ,
        &ListQuery::default().with_cursor(created[2].id.clone()),
    )?;
    assert_eq!(page.items, created[3..].to_vec());

    // Crate decision: the seed's sample id, never issued here, gives an empty page.
    let seed = store.list(
        BIZ,
        &ListQuery::default().with_cursor("cust_cl8z2lh820000a"),
    )?;
    assert!(seed.items.is_empty());
    Ok(())
}

#[test]
fn a_walk_sees_every_customer_once_while_the_business_changes_between_pages() -> TestResult {
    let store = RedbStore::in_memory()?;
    let created = populate(&store, 40)?;
    let mut query = ListQuery::default().with_limit(3);
    let mut seen: Vec<Customer> = Vec::new();
    let mut round = 0;
    loop {
        let page = store.list(BIZ, &query)?;
        check_page(&page, 3)?;
        seen.extend(page.items);
        // Between pages: create, rename one already seen and one not yet seen, delete a new one.
        round += 1;
        let fresh = store.create(
            BIZ,
            NewCustomer::new(format!("new{round}@example.com"), "New"),
        )?;
        let renamed_seen = &created[round % 10];
        store.update(
            BIZ,
            &renamed_seen.id,
            CustomerPatch::default().set_name(format!("R{round}")),
        )?;
        if round % 3 == 0 {
            store.delete(BIZ, &fresh.id)?;
        }
        if !page.has_more {
            break;
        }
        query.cursor = page.next_cursor;
        assert!(round < 1000, "the walk does not end");
    }
    let seen_ids: Vec<&str> = ids(&seen);
    let unique: BTreeSet<&str> = seen_ids.iter().copied().collect();
    assert_eq!(unique.len(), seen_ids.len(), "a customer was visited twice");
    assert!(seen_ids.windows(2).all(|w| w[0] < w[1]));
    for c in &created {
        assert!(unique.contains(c.id.as_str()), "{} was never visited", c.id);
    }
    let report = store.verify()?;
    assert_eq!(
        usize::try_from(report.customers)?,
        all_customers(&store, BIZ)?.len()
    );
    Ok(())
}

/// Twelve customers, the sixth deleted; built once for every case of the property below.
fn cursor_fixture() -> &'static (RedbStore, Vec<Customer>) {
    static FIXTURE: std::sync::OnceLock<(RedbStore, Vec<Customer>)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let store = RedbStore::in_memory().expect("an in-memory store");
        let created = populate(&store, 12).expect("twelve customers");
        store.delete(BIZ, &created[5].id).expect("delete");
        (store, created)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any well-formed cursor is accepted and returns exactly the customers whose id is greater
    /// (ids are fixed-width lower-case text, so text order is id order).
    #[test]
    fn any_well_formed_cursor_returns_the_ids_after_it(
        cursor_tail in "[0-9a-z]{14}",
        near in any::<prop::sample::Index>(),
        mutate in any::<bool>(),
        limit in 1_u32..=100,
    ) {
        let (store, created) = cursor_fixture();
        let live: Vec<&Customer> =
            created.iter().enumerate().filter(|(i, _)| *i != 5).map(|(_, c)| c).collect();
        // Either a random cursor, or one next to a real id (which shares its prefix).
        let cursor = if mutate {
            let base = &created[near.index(created.len())].id;
            format!("{}{}", &base[..base.len() - 5], &cursor_tail[..5])
        } else {
            format!("cust_{cursor_tail}")
        };
        let page = store
            .list(BIZ, &ListQuery::default().with_cursor(cursor.clone()).with_limit(limit))
            .map_err(|e| TestCaseError::fail(format!("{cursor}: {e}")))?;
        let after: Vec<&Customer> = live.into_iter().filter(|c| c.id > cursor).collect();
        let expected: Vec<&Customer> =
            after.iter().copied().take(usize::try_from(limit).unwrap_or(usize::MAX)).collect();
        prop_assert_eq!(page.items.iter().collect::<Vec<_>>(), expected, "cursor {}", cursor);
        prop_assert_eq!(page.has_more, after.len() > page.items.len());
    }
}

#[test]
fn list_into_replaces_the_page_and_empties_it_on_error_or_for_an_unknown_business() -> TestResult {
    let store = RedbStore::in_memory()?;
    let created = populate(&store, 5)?;
    let mut page = Page::default();

    store.list_into(BIZ, &ListQuery::default().with_limit(3), &mut page)?;
    assert_eq!(page, store.list(BIZ, &ListQuery::default().with_limit(3))?);
    assert_eq!(ids(&page.items), ids(&created[..3]));

    // A shorter page over a longer one: nothing of the longer one is left.
    let rest = ListQuery::default().with_cursor(created[2].id.clone());
    store.list_into(BIZ, &rest, &mut page)?;
    assert_eq!(ids(&page.items), ids(&created[3..]));
    assert_eq!(page.next_cursor.as_deref(), Some(created[4].id.as_str()));
    assert!(!page.has_more);

    // A filtered page over an unfiltered one.
    let filtered = ListQuery::default().with_email("c1@");
    store.list_into(BIZ, &filtered, &mut page)?;
    assert_eq!(page, store.list(BIZ, &filtered)?);
    assert_eq!(ids(&page.items), ids(&created[1..2]));

    // A bad query, and a business with no customers, leave the page empty.
    store.list_into(BIZ, &ListQuery::default(), &mut page)?;
    let err = store
        .list_into(BIZ, &ListQuery::default().with_cursor("nope"), &mut page)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_cursor");
    assert_eq!(page, Page::default());
    store.list_into(BIZ, &ListQuery::default(), &mut page)?;
    store.list_into("nobody", &ListQuery::default(), &mut page)?;
    assert_eq!(page, Page::default());
    Ok(())
}
