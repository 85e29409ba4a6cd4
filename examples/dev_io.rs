//! Bytes written to disk per durable create (development aid; independent of machine load):
//! `cargo run --release --example dev_io -- [customers]`.

use customer_store::{CustomerStore, NewCustomer, RedbStore};

fn written() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(50_000), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("io.redb"))?;
    for chunk in 0..n.div_ceil(1000) {
        let batch = (chunk * 1000..(chunk + 1) * 1000)
            .map(|i| {
                NewCustomer::new(format!("user{i}@example{}.com", i % 97), "N")
                    .with_external_id(format!("e{i}"))
            })
            .collect();
        store.create_many("acme", batch)?;
    }
    let creates: u32 = 200;
    let before = written();
    let t = std::time::Instant::now();
    for i in 0..creates {
        store.create(
            "acme",
            NewCustomer::new(format!("single{i}@x.io"), "S").with_external_id(format!("s{i}")),
        )?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "durable create: {} bytes written per commit, {:.0}/s",
        (written() - before) / u64::from(creates),
        f64::from(creates) / secs
    );
    // Raw redb, for scale: one table, one insert per durable commit.
    const RAW: redb::TableDefinition<(u32, u64), &[u8]> = redb::TableDefinition::new("raw");
    let db = redb::Database::create(dir.path().join("raw.redb"))?;
    let txn = db.begin_write()?;
    {
        let mut t = txn.open_table(RAW)?;
        for i in 0..n as u64 {
            t.insert((1, i), [7u8; 100].as_slice())?;
        }
    }
    txn.commit()?;
    let before = written();
    for i in 0..u64::from(creates) {
        let txn = db.begin_write()?;
        txn.open_table(RAW)?
            .insert((1, n as u64 + i), [7u8; 100].as_slice())?;
        txn.commit()?;
    }
    println!(
        "raw redb, one table: {} bytes per commit",
        (written() - before) / u64::from(creates)
    );
    Ok(())
}
