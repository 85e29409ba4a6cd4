//! Single durable creates for profiling: `cargo run --release --example dev_create -- N THREADS`.
//! (The side-by-side comparison with SQLite is `examples/compare.rs`.)

use std::time::Instant;

use customer_store::{CustomerStore, NewCustomer, RedbStore};

#[path = "../benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(5_000), |s| s.parse())?;
    let threads: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    // FILE=path: creates into an existing store (e.g. one `compare --keep` left) instead.
    let file = std::env::var_os("FILE");
    // TAIL=N: the email index's tail (`RedbStoreBuilder::email_index_tail`).
    let tail = std::env::var("TAIL").ok().and_then(|t| t.parse().ok());
    // JOURNAL=0: no journal (every commit durable in redb itself).
    let journal = std::env::var("JOURNAL").map_or(true, |j| j != "0");
    let store = tail
        .map_or_else(RedbStore::builder, |t| {
            RedbStore::builder().email_index_tail(t)
        })
        .journal(journal)
        .open(
            file.clone()
                .map_or_else(|| dir.path().join("create.redb"), Into::into),
        )?;
    let preload_n: usize = std::env::var("PRELOAD")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(if file.is_some() { 0 } else { 50_000 });
    let preload: Vec<NewCustomer> = (0..preload_n)
        .map(|i| NewCustomer::new(format!("pre{i}@example.com"), format!("Customer {i}")))
        .collect();
    for chunk in preload.chunks(1000) {
        store.create_many("acme", chunk.to_vec())?;
    }
    let data = std::env::var_os("DATA").is_some();
    let t = Instant::now();
    std::thread::scope(|s| {
        for thread in 0..threads {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..n / threads {
                    // DATA=1: the benchmark's customers (numbered from 10 M), as `compare`
                    // creates them.
                    let new = if data {
                        common::Dataset { customers: 0 }
                            .customer(10_000_000 + (thread * (n / threads) + i) as u64)
                    } else {
                        NewCustomer::new(format!("c{thread}x{i}@example.com"), "Some One")
                            .with_external_id(format!("ext_{thread}_{i}"))
                    };
                    store.create("acme", new).expect("create");
                }
            });
        }
    });
    // A read commits what the journal still holds: its cost belongs to the creates.
    let settle = Instant::now();
    store.get_by_email("acme", "nobody@example.com")?;
    let settle = settle.elapsed();
    let secs = t.elapsed().as_secs_f64();
    println!("the read after the creates took {settle:?}");
    println!("{threads} thread(s): {:.0} creates/s", n as f64 / secs);
    Ok(())
}
