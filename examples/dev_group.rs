//! Durable creates from 16 threads against one thread (development aid for group commit):
//! `cargo run --release --example dev_group`.

use std::sync::Arc;
use std::time::Instant;

use customer_store::{CustomerStore, NewCustomer, RedbStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RedbStore::open(dir.path().join("group.redb"))?);
    let batch = (0..20_000)
        .map(|i| NewCustomer::new(format!("seed{i}@x.io"), "S"))
        .collect();
    store.create_many("acme", batch)?;
    let t = Instant::now();
    for i in 0..500 {
        store.create("acme", NewCustomer::new(format!("one{i}@x.io"), "O"))?;
    }
    println!(
        "1 thread: {:.0} creates/s",
        500.0 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let threads: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    store.create("acme", NewCustomer::new(format!("w{w}.{i}@x.io"), "W"))?;
                }
                Ok::<(), customer_store::Error>(())
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "writer panicked")??;
    }
    println!(
        "16 threads: {:.0} creates/s",
        4000.0 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
