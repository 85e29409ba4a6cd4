//! Random gets by id on an existing store file (development aid):
//! `cargo run --release --example dev_gets -- customers.redb` (`CACHE_MIB=64`: another cache
//! size; `COMMIT=1`: one write first; `JOURNAL=0`: without the journal).

use std::time::Instant;

use customer_store::{CustomerStore, ListQuery, RedbStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dev_gets FILE")?;
    if !std::path::Path::new(&path).exists() {
        return Err(format!("{path}: no such store file (see the usage above)").into());
    }
    let store = RedbStore::builder()
        .journal(std::env::var("JOURNAL").map_or(true, |v| v != "0"))
        .cache_size(
            std::env::var("CACHE_MIB")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .map_or(customer_store::DEFAULT_CACHE_SIZE, |mib| mib << 20),
        )
        .open(&path)?;
    if std::env::var_os("COMMIT").is_some() {
        store.create("other", customer_store::NewCustomer::new("x@y.io", "X"))?;
    }
    let mut ids = Vec::new();
    let mut query = ListQuery::default().with_limit(100);
    loop {
        let page = store.list("acme", &query)?;
        ids.extend(page.items.into_iter().map(|c| c.id));
        if !page.has_more {
            break;
        }
        query.cursor = page.next_cursor;
    }
    if ids.is_empty() {
        return Err(format!("{path}: business `acme` has no customers").into());
    }
    for round in 0..3 {
        let t = Instant::now();
        let gets = 200_000u64;
        let mut x = 12345u64 + round;
        for _ in 0..gets {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let id = &ids[(x >> 33) as usize % ids.len()];
            store.get("acme", id)?.ok_or("missing")?;
        }
        println!("get: {:.0}/s", gets as f64 / t.elapsed().as_secs_f64());
    }
    Ok(())
}
