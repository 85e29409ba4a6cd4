//! Raw redb compaction of a file, bypassing the store (development aid).
use redb::ReadableDatabase;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: dev_rawcompact FILE")?;
    let mut db = redb::Database::open(&path)?;
    if std::env::var_os("EMPTY_COMMIT").is_some() {
        let txn = db.begin_write()?;
        txn.commit()?;
    }
    if std::env::var_os("READ").is_some() {
        let txn = db.begin_read()?;
        let t = txn.open_table(redb::TableDefinition::<(u32, u64), &[u8]>::new(
            "customers_v1",
        ))?;
        drop(t);
        drop(txn);
    }
    let mut passes = 0;
    while db.compact()? {
        passes += 1;
    }
    drop(db);
    println!("{passes} passes, {} bytes", std::fs::metadata(&path)?.len());
    Ok(())
}
