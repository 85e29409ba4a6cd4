//! Prints redb's storage statistics of every table of a store file (development aid):
//! `cargo run --release --example dev_stats -- customers.redb`.

use redb::{ReadableDatabase, ReadableTableMetadata, TableHandle};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: dev_stats FILE")?;
    let db = redb::Database::open(&path)?;
    let txn = db.begin_read()?;
    for handle in txn.list_tables()? {
        let table = txn.open_untyped_table(handle.clone())?;
        let stats = table.stats()?;
        println!(
            "{:<24} entries {:>9}  leaf {:>10}  stored {:>10}  meta {:>9}  frag {:>9}",
            handle.name(),
            table.len()?,
            stats.leaf_pages() * 4096,
            stats.stored_bytes(),
            stats.metadata_bytes(),
            stats.fragmented_bytes()
        );
    }
    println!("file {}", std::fs::metadata(&path)?.len());
    Ok(())
}
