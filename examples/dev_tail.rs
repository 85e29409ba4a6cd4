//! The email-filter page with the index's tail nearly full (its worst case), for a given tail
//! length (development aid): `cargo run --release --example dev_tail -- TAIL`.

use std::time::Instant;

use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};

fn email(i: u64) -> String {
    let token = if i % 20_011 == 7 {
        "qzvk".to_owned()
    } else {
        format!("{:08x}", i.wrapping_mul(0x9E37_79B9) & 0xFFFF_FFFF)
    };
    format!("user{i}.{token}@example{}.com", i % 97)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tail: u64 = std::env::args().nth(1).map_or(Ok(1024), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let store = RedbStore::builder()
        .email_index_tail(tail)
        .open(dir.path().join("t.redb"))?;
    let n = 200_000u64;
    let t = Instant::now();
    for start in (0..n).step_by(1000) {
        store.create_many(
            "acme",
            (start..start + 1000)
                .map(|i| NewCustomer::new(email(i), "N"))
                .collect(),
        )?;
    }
    let import = n as f64 / t.elapsed().as_secs_f64();
    // Fill the tail to one short of a fold: the most records a query must read past the postings.
    // The store folds the tail once a batch brings it to `tail` or more.
    let waiting = (0..n / 1000).fold(0, |w, _| if w + 1000 >= tail { 0 } else { w + 1000 });
    let fill = tail - 1 - waiting;
    store.create_many(
        "acme",
        (n..n + fill)
            .map(|i| NewCustomer::new(email(i), "N"))
            .collect(),
    )?;
    let query = ListQuery::default().with_email("QZVK");
    let mut times: Vec<f64> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let page = store.list("acme", &query).map(|p| p.items.len());
            assert!(matches!(page, Ok(k) if k > 0));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "tail {tail}: import {import:.0}/s; email page with {} waiting: median {:.0} µs, p90 {:.0} µs",
        tail - 1,
        times[100],
        times[180]
    );
    Ok(())
}
