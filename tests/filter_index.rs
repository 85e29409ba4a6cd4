//! The indexed list path (status index, email gram postings and their pending tail) against
//! the plain scan: for random customers, changes and queries, both give the same pages.

use std::sync::Arc;

use customer_store::{
    CustomerPatch, CustomerStore, ListQuery, ManualClock, NewCustomer, Page, RedbStore, Status,
};
use proptest::prelude::*;

/// Pieces that emails are built from: ASCII, upper case, non-ASCII, LIKE wildcards.
const PIECES: &[&str] = &[
    "a", "b", "yaw", "É", "é", "%", "_", "x1", "Ab", "ß", "ı", "aa", "Σ", "ς",
];
const DOMAINS: &[&str] = &["ex.com", "EX.com", "mail.gh", "é.io"];

fn email() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(PIECES), 1..5),
        prop::sample::select(DOMAINS),
    )
        .prop_map(|(local, domain)| format!("{}@{domain}", local.concat()))
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(Status::ALL.to_vec())
}

#[derive(Debug, Clone)]
enum Op {
    Create(String),
    CreateMany(Vec<String>),
    SetEmail(usize, String),
    SetStatus(usize, Status),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => email().prop_map(Op::Create),
        1 => prop::collection::vec(email(), 1..6).prop_map(Op::CreateMany),
        // Runs long enough to be appended through cursors (16 or more), distinct within the
        // batch ("r" and a number lead no other email).
        1 => prop::collection::vec(email(), 16..40).prop_map(|emails| {
            let distinct = emails.iter().enumerate().map(|(i, e)| format!("r{i}{e}"));
            Op::CreateMany(distinct.collect())
        }),
        2 => (any::<usize>(), email()).prop_map(|(i, e)| Op::SetEmail(i, e)),
        2 => (any::<usize>(), status()).prop_map(|(i, s)| Op::SetStatus(i, s)),
        1 => any::<usize>().prop_map(Op::Delete),
    ]
}

#[derive(Debug, Clone)]
enum Term {
    /// A substring of the i-th live email, with its case changed.
    Slice(usize, usize, usize, bool),
    /// Any text built from the pieces.
    Free(Vec<&'static str>),
}

#[derive(Debug, Clone)]
struct Query {
    term: Option<Term>,
    status: Option<Status>,
    limit: u32,
    /// Start after the i-th live id, or after a made-up id.
    cursor: Option<Result<usize, u64>>,
}

fn query() -> impl Strategy<Value = Query> {
    let term = prop_oneof![
        (any::<usize>(), 0usize..12, 1usize..12, any::<bool>())
            .prop_map(|(i, from, len, upper)| Term::Slice(i, from, len, upper)),
        prop::collection::vec(prop::sample::select(PIECES), 0..4).prop_map(Term::Free),
    ];
    let cursor = prop_oneof![any::<usize>().prop_map(Ok), any::<u64>().prop_map(Err)];
    (
        prop::option::of(term),
        prop::option::of(status()),
        1u32..5,
        prop::option::of(cursor),
    )
        .prop_map(|(term, status, limit, cursor)| Query {
            term,
            status,
            limit,
            cursor,
        })
}

fn to_list_query(q: &Query, live: &[(String, String)]) -> ListQuery {
    let mut out = ListQuery::default().with_limit(q.limit);
    out.status = q.status;
    out.email = q.term.as_ref().map(|term| match term {
        Term::Slice(i, from, len, upper) if !live.is_empty() => {
            let chars: Vec<char> = live[i % live.len()].1.chars().collect();
            let from = from % chars.len();
            let text: String = chars[from..(from + len).min(chars.len())].iter().collect();
            if *upper { text.to_uppercase() } else { text }
        }
        Term::Slice(..) => String::new(),
        Term::Free(pieces) => pieces.concat(),
    });
    out.cursor = q.cursor.map(|c| match c {
        Ok(i) if !live.is_empty() => live[i % live.len()].0.clone(),
        Ok(_) => "cust_c0000000000000".to_owned(),
        // Any well-formed cursor: `cust_` + 14 characters of 0-9a-z.
        Err(n) => format!("cust_c{:013}", n % 10u64.pow(13)),
    });
    out
}

/// Every page of `query`, following the cursors.
fn walk(
    store: &RedbStore,
    query: &ListQuery,
    list: impl Fn(&RedbStore, &ListQuery) -> customer_store::Result<Page>,
) -> Vec<Page> {
    let mut pages = Vec::new();
    let mut query = query.clone();
    loop {
        let page = list(store, &query).expect("list");
        let next = page.next_cursor.clone();
        let more = page.has_more;
        pages.push(page);
        if !more || pages.len() > 200 {
            return pages;
        }
        query.cursor = next;
    }
}

fn run(ops: Vec<Op>, queries: Vec<Query>, tail: u64) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::new(
        "2026-06-05T12:00:00Z".parse().expect("time"),
    ));
    let store = RedbStore::builder()
        .clock(clock.clone())
        .email_index_tail(tail)
        .in_memory()?;
    // (id, email) of the live customers, in creation order.
    let mut live: Vec<(String, String)> = Vec::new();
    for op in ops {
        clock.advance_seconds(1);
        match op {
            Op::Create(email) => {
                if let Ok(c) = store.create("acme", NewCustomer::new(email, "N")) {
                    live.push((c.id, c.email));
                }
            }
            Op::CreateMany(emails) => {
                let batch = emails
                    .into_iter()
                    .map(|e| NewCustomer::new(e, "N"))
                    .collect();
                if let Ok(created) = store.create_many("acme", batch) {
                    live.extend(created.into_iter().map(|c| (c.id, c.email)));
                }
            }
            Op::SetEmail(i, email) if !live.is_empty() => {
                let i = i % live.len();
                let patch = CustomerPatch::default().set_email(email);
                if let Ok(c) = store.update("acme", &live[i].0, patch) {
                    live[i].1 = c.email;
                }
            }
            Op::SetStatus(i, status) if !live.is_empty() => {
                let i = i % live.len();
                store.update(
                    "acme",
                    &live[i].0,
                    CustomerPatch::default().set_status(status),
                )?;
            }
            Op::Delete(i) if !live.is_empty() => {
                let (id, _) = live.remove(i % live.len());
                store.delete("acme", &id)?;
            }
            _ => {}
        }
        // Another business's customers never show up.
        store
            .create(
                "other",
                NewCustomer::new(format!("{}x@ex.com", live.len()), "O"),
            )
            .ok();
    }
    store.verify()?;
    // Every acknowledged customer, and no other, in creation order.
    let pages = walk(&store, &ListQuery::default().with_limit(100), |s, q| {
        s.list("acme", q)
    });
    let listed: Vec<(String, String)> = pages
        .into_iter()
        .flat_map(|page| page.items)
        .map(|c| (c.id, c.email))
        .collect();
    prop_assert_eq!(&listed, &live);
    // One page for every list_into call of every query: each call decodes over whatever the
    // previous one left, another query's customers included.
    let reused = std::cell::RefCell::new(Page::default());
    for q in &queries {
        let query = to_list_query(q, &live);
        let indexed = walk(&store, &query, |s, q| s.list("acme", q));
        let scanned = walk(&store, &query, |s, q| s.list_by_scan("acme", q));
        let into = walk(&store, &query, |s, q| {
            let mut page = reused.borrow_mut();
            s.list_into("acme", q, &mut page)?;
            Ok(page.clone())
        });
        prop_assert_eq!(&indexed, &scanned, "query {:?}", query);
        prop_assert_eq!(&indexed, &into, "list_into, query {:?}", query);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A tail of 2 folds new customers into the postings almost at once.
    #[test]
    fn indexed_pages_equal_scanned_pages_short_tail(
        ops in prop::collection::vec(op(), 1..60),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        run(ops, queries, 2)?;
    }

    /// A tail of 7 leaves recent customers outside the postings at query time.
    #[test]
    fn indexed_pages_equal_scanned_pages_long_tail(
        ops in prop::collection::vec(op(), 1..60),
        queries in prop::collection::vec(query(), 1..12),
    ) {
        run(ops, queries, 7)?;
    }
}

/// A selective term among many customers, across folds of the tail.
#[test]
fn selective_term_finds_every_match_in_order() -> Result<(), Box<dyn std::error::Error>> {
    let store = RedbStore::builder().email_index_tail(50).in_memory()?;
    let mut expected = Vec::new();
    for chunk in 0..10 {
        let batch: Vec<NewCustomer> = (chunk * 100..chunk * 100 + 100)
            .map(|i| {
                let token = if i % 37 == 0 { "zq9" } else { "abc" };
                NewCustomer::new(format!("user{i}.{token}@example.com"), "N")
            })
            .collect();
        for c in store.create_many("acme", batch)? {
            if c.email.contains("zq9") {
                expected.push(c.id);
            }
        }
    }
    let pages = walk(
        &store,
        &ListQuery::default().with_email("ZQ9").with_limit(3),
        |s, q| s.list("acme", q),
    );
    let found: Vec<String> = pages
        .into_iter()
        .flat_map(|p| p.items)
        .map(|c| c.id)
        .collect();
    assert_eq!(found, expected);
    assert_eq!(store.verify()?.customers, 1000);
    Ok(())
}

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

/// Posting lists beyond one block (128 ids): splits, re-keyed first blocks, removed block
/// heads, inserts before every block — under random email changes, deletes and creates.
#[test]
fn long_posting_lists_match_the_scan() -> Result<(), Box<dyn std::error::Error>> {
    for tail in [1u64, 64] {
        let clock = Arc::new(ManualClock::new("2026-06-05T12:00:00Z".parse()?));
        let store = RedbStore::builder()
            .clock(clock.clone())
            .email_index_tail(tail)
            .in_memory()?;
        let mut ids = Vec::new();
        let batch: Vec<NewCustomer> = (0..600)
            .map(|i| NewCustomer::new(format!("u{i}@zz.io"), "N"))
            .collect();
        ids.extend(store.create_many("acme", batch)?.into_iter().map(|c| c.id));
        let mut rng = 42 ^ tail;
        let domains = ["zz.io", "yy.io", "ZZ.io", "zzz.io", "q.zz.io"];
        for step in 0..1200 {
            clock.advance_seconds(1);
            let i = usize::try_from(lcg(&mut rng))? % ids.len();
            match lcg(&mut rng) % 10 {
                0..7 => {
                    let domain = domains[usize::try_from(lcg(&mut rng))? % domains.len()];
                    let email = format!("u{i}x{}@{domain}", step % 3);
                    // A taken email or a deleted customer is refused; both are fine here.
                    let _ =
                        store.update("acme", &ids[i], CustomerPatch::default().set_email(email));
                }
                7 => {
                    let _ = store.delete("acme", &ids[i]);
                }
                _ => ids.push(
                    store
                        .create("acme", NewCustomer::new(format!("n{step}@zz.io"), "N"))?
                        .id,
                ),
            }
        }
        store.verify()?;
        for term in [
            "zz.io", "@zz", "yy.", "u1", "x2@z", "q.zz", "zzz", "ZZ.IO", "n2",
        ] {
            for limit in [1, 7, 100] {
                let query = ListQuery::default().with_email(term).with_limit(limit);
                let indexed = walk(&store, &query, |s, q| s.list("acme", q));
                let scanned = walk(&store, &query, |s, q| s.list_by_scan("acme", q));
                assert_eq!(indexed, scanned, "tail {tail} term {term} limit {limit}");
            }
        }
    }
    Ok(())
}
