//! Compacts a store file and prints its size before and after (development aid):
//! `cargo run --release --example dev_compact -- customers.redb`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dev_compact FILE")?;
    let before = std::fs::metadata(&path)?.len();
    let store = customer_store::RedbStore::open(&path)?;
    let customers = store.verify()?.customers.max(1);
    let t = std::time::Instant::now();
    store.compact()?;
    let secs = t.elapsed().as_secs_f64();
    drop(store);
    let after = std::fs::metadata(&path)?.len();
    println!(
        "{before} -> {after} bytes ({} -> {} B/customer) in {secs:.1} s",
        before / customers,
        after / customers
    );
    Ok(())
}
