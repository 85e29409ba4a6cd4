//! The store against SQLite, operation by operation, on the same rows (SPEC §4).
//!
//! Each group measures one operation twice: `store/<customers>` (a [`RedbStore`] with default
//! options) and `sqlite/<customers>` (the baseline in `common`: WAL, `synchronous=FULL`, a
//! clustered `WITHOUT ROWID` table, the same unique indexes). Both hold one business of
//! `BENCH_CUSTOMERS` customers (default 10,000; `BENCH_CUSTOMERS=1000000` for the headline
//! figures), the newest 3% `BLOCKED`. The process runs on the system allocator, or on mimalloc
//! with the feature `mimalloc` (which `--all-features`, as below, includes).
//!
//! ```text
//! cargo bench --all-features --bench store_vs_sqlite
//! BENCH_CUSTOMERS=1000000 cargo bench --all-features --bench store_vs_sqlite -- get_by_id
//! cargo bench --all-features --bench store_vs_sqlite -- --test   # each bench once (CI)
//! ```
//!
//! `cargo run --release --example compare` prints the same comparison as one table.

#[allow(
    dead_code,
    reason = "shared with examples/compare.rs; each of the two uses a part of it"
)]
mod common;

/// mimalloc with the feature `mimalloc` (`common::ALLOCATOR_NAME`), else the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{
    BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use customer_store::{CustomerStore, RedbStore};
use rusqlite::Connection;

use common::{BUSINESS, Dataset, IMPORT_BATCH, NEEDLE, SqliteIds};

/// Threads of the concurrent durable-create bench.
const WRITERS: usize = 16;
/// Creates per iteration of the concurrent durable-create bench: enough that the threads reach
/// a steady state (a handful of creates per iteration would measure SQLite's busy-handler
/// back-off at the start and end of each round instead).
const ROUND: u64 = 256;

/// The data set size: `BENCH_CUSTOMERS`, default 10,000.
fn customers() -> u64 {
    std::env::var("BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(10_000)
}

/// Both databases, filled with the same customers.
struct Fixture {
    data: Dataset,
    store: RedbStore,
    /// The ids of customers `0..customers` (the same in both databases).
    ids: Vec<String>,
    sqlite_path: std::path::PathBuf,
    sqlite: Connection,
    sqlite_ids: SqliteIds,
    /// The next customer index for the store's / SQLite's creates (beyond the data set).
    store_next: AtomicU64,
    sqlite_next: AtomicU64,
    _dir: tempfile::TempDir,
}

fn setup() -> Fixture {
    let data = Dataset {
        customers: customers(),
    };
    let dir = tempfile::Builder::new()
        .prefix("store-vs-sqlite-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir");
    eprintln!(
        "building both databases with {} customers; allocator: {}",
        data.customers,
        common::ALLOCATOR_NAME
    );
    let store = RedbStore::open(dir.path().join("customers.redb")).expect("open store");
    common::import_store(&store, &data);
    let ids = common::walk_store(&store);
    assert_eq!(ids.len() as u64, data.customers);
    common::block_newest_in_store(&store, &ids, &data, 4);
    let sqlite_path = dir.path().join("customers.sqlite");
    let mut sqlite = common::sqlite_open(&sqlite_path);
    common::import_sqlite(&mut sqlite, &data, &ids);
    let sqlite_ids = SqliteIds::after(ids.last().map(String::as_str));
    Fixture {
        data,
        store,
        ids,
        sqlite_path,
        sqlite,
        sqlite_ids,
        store_next: AtomicU64::new(data.customers),
        sqlite_next: AtomicU64::new(data.customers),
        _dir: dir,
    }
}

fn reads(c: &mut Criterion, f: &Fixture) {
    let n = f.data.customers;

    let mut group = c.benchmark_group("list_walk_100_per_page");
    group.throughput(Throughput::Elements(n));
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| black_box(common::walk_store_reusing(&f.store)));
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| black_box(common::walk_sqlite_reusing(&f.sqlite)));
    });
    group.finish();

    let mut group = c.benchmark_group("get_by_id");
    group.throughput(Throughput::Elements(1));
    let mut k = 0;
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| {
            k += 1;
            let id = &f.ids[common::pick(k, f.ids.len())];
            black_box(f.store.get(BUSINESS, id).expect("get").expect("present"))
        });
    });
    let mut k = 0;
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| {
            k += 1;
            let id = &f.ids[common::pick(k, f.ids.len())];
            black_box(common::sqlite_get(&f.sqlite, id).expect("present"))
        });
    });
    group.finish();

    // The emails to look up, made before the clock runs.
    let emails: Vec<String> = (0..4096)
        .map(|k| f.data.email(common::pick(k, f.ids.len()) as u64))
        .collect();
    let mut group = c.benchmark_group("get_by_email");
    group.throughput(Throughput::Elements(1));
    let mut k = 0;
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| {
            k += 1;
            let email = &emails[k % emails.len()];
            let found = f.store.get_by_email(BUSINESS, email).expect("get_by_email");
            black_box(found.expect("present"))
        });
    });
    let mut k = 0;
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| {
            k += 1;
            let email = &emails[k % emails.len()];
            black_box(common::sqlite_get_by_email(&f.sqlite, email).expect("present"))
        });
    });
    group.finish();

    let expected = f.data.needle_count().min(u64::from(common::FILTER_PAGE)) as usize;
    let mut group = c.benchmark_group("email_substring_first_page");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| {
            let page = common::store_email_page(&f.store, NEEDLE);
            assert_eq!(page.len(), expected);
            black_box(page)
        });
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| {
            let page = common::sqlite_email_page(&f.sqlite, NEEDLE);
            assert_eq!(page.len(), expected);
            black_box(page)
        });
    });
    group.finish();

    let mut group = c.benchmark_group("status_blocked_first_page");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| black_box(common::store_blocked_page(&f.store)));
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| black_box(common::sqlite_blocked_page(&f.sqlite)));
    });
    group.finish();
}

fn writes(c: &mut Criterion, f: &mut Fixture) {
    let n = f.data.customers;

    let mut group = c.benchmark_group("create_durable_1_thread");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter(|| {
            let i = f.store_next.fetch_add(1, Ordering::Relaxed);
            black_box(common::store_create(&f.store, &f.data, i))
        });
    });
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter(|| {
            let i = f.sqlite_next.fetch_add(1, Ordering::Relaxed);
            black_box(common::sqlite_create(&f.sqlite, &f.sqlite_ids, &f.data, i))
        });
    });
    group.finish();

    // One iteration is ROUND creates, shared out to 16 threads.
    let mut group = c.benchmark_group("create_durable_16_threads");
    group.throughput(Throughput::Elements(ROUND));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter_custom(|iters| {
            let creates = iters * ROUND;
            let done = AtomicU64::new(0);
            let start = Instant::now();
            std::thread::scope(|scope| {
                for _ in 0..WRITERS {
                    scope.spawn(|| {
                        while done.fetch_add(1, Ordering::Relaxed) < creates {
                            let i = f.store_next.fetch_add(1, Ordering::Relaxed);
                            black_box(common::store_create(&f.store, &f.data, i));
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    let mut connections: Vec<Connection> = (0..WRITERS)
        .map(|_| common::sqlite_open(&f.sqlite_path))
        .collect();
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_custom(|iters| {
            let creates = iters * ROUND;
            let done = AtomicU64::new(0);
            let start = Instant::now();
            std::thread::scope(|scope| {
                let (next, ids, data) = (&f.sqlite_next, &f.sqlite_ids, &f.data);
                for conn in &mut connections {
                    let done = &done;
                    scope.spawn(move || {
                        while done.fetch_add(1, Ordering::Relaxed) < creates {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            black_box(common::sqlite_create(conn, ids, data, i));
                        }
                    });
                }
            });
            start.elapsed()
        });
    });
    drop(connections);
    group.finish();

    let mut group = c.benchmark_group("create_many_1000");
    group.throughput(Throughput::Elements(IMPORT_BATCH));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(BenchmarkId::new("store", n), |b| {
        b.iter_batched(
            || {
                let from = f.store_next.fetch_add(IMPORT_BATCH, Ordering::Relaxed);
                f.data.batch(from, from + IMPORT_BATCH)
            },
            |batch| black_box(f.store.create_many(BUSINESS, batch).expect("create_many")),
            BatchSize::PerIteration,
        );
    });
    let now = common::now_text();
    group.bench_function(BenchmarkId::new("sqlite", n), |b| {
        b.iter_batched(
            || {
                let from = f.sqlite_next.fetch_add(IMPORT_BATCH, Ordering::Relaxed);
                f.data.batch(from, from + IMPORT_BATCH)
            },
            |batch| {
                let ids = &f.sqlite_ids;
                common::sqlite_insert_batch(&mut f.sqlite, &batch, |_| ids.next(), &now);
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn store_vs_sqlite(c: &mut Criterion) {
    let mut fixture = setup();
    reads(c, &fixture);
    writes(c, &mut fixture);
}

criterion_group!(benches, store_vs_sqlite);
criterion_main!(benches);
