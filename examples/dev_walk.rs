//! The list walk alone, for profiling: `cargo run --release --example dev_walk -- N ROUNDS`.
//! (The side-by-side comparison with SQLite is `examples/compare.rs`.)

use std::time::Instant;

use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(100_000), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("walk.redb"))?;
    for chunk in 0..n.div_ceil(1000) {
        let batch: Vec<NewCustomer> = (chunk * 1000..((chunk + 1) * 1000).min(n))
            .map(|i| {
                NewCustomer::new(
                    format!("user{i}@example{}.com", i % 97),
                    format!("Customer {i}"),
                )
                .with_phone(format!("+2332{i:08}"))
                .with_external_id(format!("ext_{i}"))
                .with_description("a customer of the walk")
                .with_currency("GHS")
            })
            .collect();
        store.create_many("acme", batch)?;
    }
    let t = Instant::now();
    let mut seen = 0;
    for _ in 0..rounds {
        let mut query = ListQuery::default().with_limit(100);
        loop {
            let page = store.list("acme", &query)?;
            seen += page.items.len();
            if !page.has_more {
                break;
            }
            query.cursor = page.next_cursor;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!("list walk: {:.2} M cust/s", seen as f64 / secs / 1e6);
    Ok(())
}
