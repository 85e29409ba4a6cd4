//! The list walk alone, for profiling: `cargo run --release --example dev_walk -- N ROUNDS`,
//! or over an existing store file (business `acme`, as `compare --keep` leaves it):
//! `cargo run --release --example dev_walk -- FILE ROUNDS`. With `FRESH=1` every page is a new
//! one (`list`); otherwise one page is reused (`list_into`).
//! (The side-by-side comparison with SQLite is `examples/compare.rs`.)

use std::time::Instant;

use customer_store::{CustomerStore, ListQuery, NewCustomer, Page, RedbStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "100000".to_owned());
    let rounds: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let fresh = std::env::var_os("FRESH").is_some();
    let dir = tempfile::tempdir()?;
    let (store, business) = match what.parse::<usize>() {
        Ok(n) => (generated(&dir.path().join("walk.redb"), n)?, "acme"),
        Err(_) => (RedbStore::open(&what)?, "acme"),
    };
    let t = Instant::now();
    let mut seen = 0;
    let mut page = Page::default();
    for _ in 0..rounds {
        let mut query = ListQuery::default().with_limit(100);
        loop {
            if fresh {
                page = store.list(business, &query)?;
            } else {
                store.list_into(business, &query, &mut page)?;
            }
            seen += page.items.len();
            match page.next_cursor.take().filter(|_| page.has_more) {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "list walk: {:.2} M cust/s ({seen})",
        seen as f64 / secs / 1e6
    );
    Ok(())
}

fn generated(path: &std::path::Path, n: usize) -> Result<RedbStore, customer_store::Error> {
    let store = RedbStore::open(path)?;
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
    Ok(store)
}
