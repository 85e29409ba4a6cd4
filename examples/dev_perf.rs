//! Quick engine timings for development: `cargo run --release --example dev_perf -- N`.
//! (The side-by-side comparison with SQLite is `examples/compare.rs`.)

use std::time::Instant;

use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(100_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let path = match std::env::var("KEEP_DB") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => dir.path().join("perf.redb"),
    };
    let tail = std::env::var("TAIL").ok().and_then(|t| t.parse().ok());
    let store = RedbStore::builder()
        .email_index_tail(tail.unwrap_or(customer_store::DEFAULT_EMAIL_INDEX_TAIL))
        .journal(std::env::var("JOURNAL").map_or(true, |v| v != "0"))
        .journal_limit(
            std::env::var("JOURNAL_LIMIT")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(customer_store::DEFAULT_JOURNAL_LIMIT),
        )
        .open(&path)?;
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    let size: usize = std::env::var("BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(1000);
    for chunk in 0..n.div_ceil(size) {
        let batch: Vec<NewCustomer> = (chunk * size..((chunk + 1) * size).min(n))
            .map(|i| {
                NewCustomer::new(
                    format!("user{i}.t{:x}@example{}.com", i * 7919 % 100_003, i % 97),
                    format!("Customer {i}"),
                )
                .with_phone(format!("+2332{:08}", i))
                .with_external_id(format!("ext_{i}"))
            })
            .collect();
        ids.extend(store.create_many("acme", batch)?.into_iter().map(|c| c.id));
    }
    let secs = t.elapsed().as_secs_f64();
    println!("import: {:.0}/s ({secs:.2}s)", n as f64 / secs);
    let size = std::fs::metadata(&path)?.len();
    println!("file: {} B/customer", size / n as u64);
    if std::env::var("ONLY_IMPORT").is_ok() {
        return Ok(());
    }
    let blocked = n * 97 / 100;
    for id in &ids[blocked..] {
        store.update(
            "acme",
            id,
            CustomerPatch::default().set_status(Status::Blocked),
        )?;
        if id == &ids[blocked + 200] {
            break;
        }
    }

    let t = Instant::now();
    let mut cursor: Option<String> = None;
    let mut seen = 0;
    loop {
        let mut q = ListQuery::default().with_limit(100);
        q.cursor = cursor.clone();
        let page = store.list("acme", &q)?;
        seen += page.items.len();
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("list walk: {:.0} cust/s ({seen})", seen as f64 / secs);

    let t = Instant::now();
    let gets = 200_000;
    let mut x = 12345u64;
    for _ in 0..gets {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = &ids[(x >> 33) as usize % n];
        store.get("acme", id)?.ok_or("missing")?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("get: {:.0}/s", gets as f64 / secs);

    let t = Instant::now();
    let page = store.list(
        "acme",
        &ListQuery::default().with_email(format!("t{:x}@", 4242 * 7919 % 100_003)),
    )?;
    println!(
        "email term first page: {:?} ({} items)",
        t.elapsed(),
        page.items.len()
    );
    let t = Instant::now();
    let page = store.list("acme", &ListQuery::default().with_status(Status::Blocked))?;
    println!(
        "status first page: {:?} ({} items)",
        t.elapsed(),
        page.items.len()
    );

    let t = Instant::now();
    let creates = 300;
    for i in 0..creates {
        store.create("acme", NewCustomer::new(format!("single{i}@x.io"), "S"))?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!("durable create 1 thread: {:.0}/s", creates as f64 / secs);
    Ok(())
}
