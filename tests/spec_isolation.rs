//! Tenant isolation (SPEC §2): no call of one business reads, changes or learns about another
//! business's customers.

mod spec_support;

use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore};
use spec_support::{
    SEED_CREATED_AT, TestResult, all_customers, expect_code, pinned_store, state, verify_clean,
};

/// Businesses whose names are prefixes or extensions of each other.
const OTHERS: [&str; 4] = ["globex", "acm", "acme-eu", "acmeacme"];

#[test]
fn no_call_of_one_business_sees_or_changes_another_s_customers() -> TestResult {
    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let acme: Vec<_> = (0..5)
        .map(|i| {
            store.create(
                "acme",
                NewCustomer::new(format!("c{i}@acme.io"), format!("Acme {i}"))
                    .with_external_id(format!("ext-{i}")),
            )
        })
        .collect::<Result<_, _>>()?;
    let acme_before = state(&store, "acme")?.0;

    for other in OTHERS {
        for c in &acme {
            assert_eq!(store.get(other, &c.id)?, None, "{other} sees {}", c.id);
            assert_eq!(store.get_by_email(other, &c.email)?, None);
            assert_eq!(
                store.get_by_external_id(other, c.external_id.as_deref().unwrap_or(""))?,
                None
            );
            expect_code(
                store.update(other, &c.id, CustomerPatch::default().set_name("Hijacked")),
                "not_found",
            );
            expect_code(store.delete(other, &c.id), "not_found");
        }
        let page = store.list(other, &ListQuery::default())?;
        assert!(page.items.is_empty() && page.next_cursor.is_none() && !page.has_more);
        let page = store.list(other, &ListQuery::default().with_email("acme.io"))?;
        assert!(page.items.is_empty());
        let page = store.list(
            other,
            &ListQuery::default().with_cursor("cust_00000000000000"),
        )?;
        assert!(page.items.is_empty());
    }
    assert_eq!(all_customers(&store, "acme")?, acme_before);

    // Now the other businesses have customers of their own, with the same emails and
    // external ids; every call still stays within its business.
    for other in OTHERS {
        let own = store.create(
            other,
            NewCustomer::new("c0@acme.io", format!("{other} 0")).with_external_id("ext-0"),
        )?;
        assert_eq!(store.get_by_email(other, "c0@acme.io")?, Some(own.clone()));
        assert_eq!(store.get_by_external_id(other, "ext-0")?, Some(own.clone()));
        assert_eq!(all_customers(&store, other)?, vec![own.clone()]);
        for c in &acme[1..] {
            assert_eq!(store.get(other, &c.id)?, None);
        }
        let renamed = store.update(other, &own.id, CustomerPatch::default().set_name("Renamed"))?;
        assert_eq!(store.get(other, &own.id)?, Some(renamed));
        assert_eq!(store.delete(other, &own.id)?.name, "Renamed");
    }
    assert_eq!(all_customers(&store, "acme")?, acme_before);
    assert_eq!(
        store.get_by_email("acme", "c0@acme.io")?,
        Some(acme[0].clone())
    );
    assert_eq!(
        store.get_by_external_id("acme", "ext-0")?,
        Some(acme[0].clone())
    );
    verify_clean(&store, 5)?;
    Ok(())
}

#[test]
fn the_same_id_in_two_businesses_names_two_customers() -> TestResult {
    // With one pinned clock, two businesses may well be issued the same id text: each call
    // must still reach only its own business's customer.
    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let a = store.create("acme", NewCustomer::new("a@x.io", "Acme's"))?;
    let g = store.create("globex", NewCustomer::new("g@x.io", "Globex's"))?;
    if a.id == g.id {
        let renamed = store.update("globex", &g.id, CustomerPatch::default().set_name("G2"))?;
        assert_eq!(renamed.email, "g@x.io");
        assert_eq!(store.get("acme", &a.id)?, Some(a.clone()));
        assert_eq!(store.delete("globex", &g.id)?.email, "g@x.io");
        assert_eq!(store.get("acme", &a.id)?, Some(a.clone()));
        assert_eq!(store.get("globex", &g.id)?, None);
    } else {
        assert_eq!(store.get("acme", &g.id)?, None);
        assert_eq!(store.get("globex", &a.id)?, None);
    }
    assert_eq!(all_customers(&store, "acme")?, vec![a]);
    Ok(())
}

#[test]
fn ids_reveal_nothing_about_other_businesses_activity() -> TestResult {
    // The id a business is issued is the same whether or not other businesses were busy.
    let quiet = {
        let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
        store.create("globex", NewCustomer::new("g@x.io", "G"))?.id
    };
    let busy = {
        let (store, clock) = pinned_store(SEED_CREATED_AT)?;
        for i in 0..25 {
            store.create("acme", NewCustomer::new(format!("a{i}@x.io"), "A"))?;
        }
        store.create_many(
            "acme",
            (0..25)
                .map(|i| NewCustomer::new(format!("b{i}@x.io"), "B"))
                .collect(),
        )?;
        clock.set(SEED_CREATED_AT.parse()?);
        store.create("globex", NewCustomer::new("g@x.io", "G"))?.id
    };
    assert_eq!(quiet, busy);
    Ok(())
}

#[test]
fn a_store_holds_many_businesses_apart() -> TestResult {
    let store = RedbStore::in_memory()?;
    for b in 0..10 {
        for i in 0..=b {
            store.create(
                &format!("biz{b}"),
                NewCustomer::new(format!("c{i}@x.io"), "C"),
            )?;
        }
    }
    for b in 0..10 {
        let customers = all_customers(&store, &format!("biz{b}"))?;
        assert_eq!(customers.len(), b + 1);
        for (i, c) in customers.iter().enumerate() {
            assert_eq!(c.email, format!("c{i}@x.io"));
        }
    }
    let report = verify_clean(&store, 55)?;
    assert_eq!(report.businesses, 10);
    Ok(())
}
