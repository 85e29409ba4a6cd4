//! The store against SQLite in one run: prints the SPEC §4 table in Markdown.
//!
//! ```text
//! cargo run --release --example compare                          # 100,000 customers
//! cargo run --release --example compare -- --customers 1000000   # the headline figures
//! ```
//!
//! Both databases get the same generated customers (one business, the newest 3% `BLOCKED`)
//! under the same ids; every timed operation runs on the store and on SQLite in this process,
//! the two sides taking turns in rounds so that a change in the machine's load hits both
//! alike. The store's import runs first, in a child process of its own, so that its peak RSS
//! (`VmHWM`) is the store's alone. The SQLite baseline (WAL,
//! `synchronous=FULL`, a clustered `WITHOUT ROWID` table, the same unique indexes, the
//! store's default cache size) lives in `benches/common/mod.rs`, shared with `cargo bench --bench store_vs_sqlite`.
//!
//! The process runs on the system allocator; `cargo run --release --features mimalloc
//! --example compare` runs it on mimalloc. The table's heading names the one in use.
//!
//! Options: `--customers N` (default 100,000), `--dir PATH` (where the files go; default a new
//! directory under the system temp dir, removed at the end), `--keep` (keep the files).

#[allow(
    dead_code,
    reason = "shared with benches/store_vs_sqlite.rs; each of the two uses a part of it"
)]
#[path = "../benches/common/mod.rs"]
mod common;

/// mimalloc with the feature `mimalloc` (`common::ALLOCATOR_NAME`), else the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use customer_store::{CustomerStore, RedbStore, Status};

use common::{BUSINESS, Dataset, NEEDLE, SqliteIds};

/// Random gets per lookup measure, in rounds.
const GETS: u64 = 200_000;
const GET_ROUNDS: u64 = 4;
/// Creates between two folds of a business's email index tail once its waiting emails are
/// kept in memory (the default tail, 16 times longer: DESIGN.md, "Long tails, in memory").
/// Each create measure spans exactly this many, so that it holds exactly one fold, whatever
/// the tail's phase: a shorter one held either none or one (whose cost it then counted
/// twice or more over).
const FOLD_CYCLE: u64 = 16 * customer_store::DEFAULT_EMAIL_INDEX_TAIL;
/// Durable creates from one thread.
const CREATES_1: u64 = FOLD_CYCLE;
/// Threads, and durable creates per thread, of the concurrent create measure.
const WRITERS: u64 = 16;
const CREATES_PER_WRITER: u64 = FOLD_CYCLE / WRITERS;
/// Rounds of each create measure (alternating the two sides).
const CREATE_ROUNDS: u64 = 4;
/// The most time a create measure may take per side; it reports the rate of what it did.
const CREATE_DEADLINE: Duration = Duration::from_secs(60);

const STORE_FILE: &str = "customers.redb";
const SQLITE_FILE: &str = "customers.sqlite";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child-store-import") {
        let dir = PathBuf::from(&args[1]);
        let customers = args[2].parse().expect("customers");
        child_store_import(&dir, Dataset { customers });
        return;
    }
    let mut customers = 100_000;
    let mut dir = None;
    let mut keep = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--customers" => {
                let value = rest.next().expect("--customers N");
                customers = value
                    .replace(['_', ','], "")
                    .parse()
                    .expect("--customers N");
            }
            "--dir" => dir = Some(PathBuf::from(rest.next().expect("--dir PATH"))),
            "--keep" => keep = true,
            other => {
                eprintln!(
                    "unknown argument {other}; usage: compare [--customers N] [--dir PATH] [--keep]"
                );
                std::process::exit(2);
            }
        }
    }
    assert!(customers >= 100, "--customers must be at least 100");
    let temp = match dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("customer-store-compare-")
                .tempdir()
                .expect("temp dir"),
        ),
    };
    let dir = dir.unwrap_or_else(|| temp.as_ref().expect("temp dir").path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("create --dir");
    run(&dir, Dataset { customers });
    match temp {
        Some(temp) if keep => println!("\nfiles kept in {}", temp.keep().display()),
        Some(temp) => drop(temp),
        None if keep => println!("\nfiles kept in {}", dir.display()),
        None => {
            let _ = std::fs::remove_file(dir.join(STORE_FILE));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(dir.join(format!("{SQLITE_FILE}{suffix}")));
            }
        }
    }
}

/// The child: imports the data set into a new store, reports the import time and the peak
/// RSS, then marks the newest 3% `BLOCKED` (untimed setup).
fn child_store_import(dir: &Path, data: Dataset) {
    let store = RedbStore::open(dir.join(STORE_FILE)).expect("open store");
    let wall = Instant::now();
    let spent = common::import_store(&store, &data);
    println!("import_secs={}", spent.as_secs_f64());
    println!("import_wall_secs={}", wall.elapsed().as_secs_f64());
    println!("import_hwm_kib={}", vm_hwm_kib());
    let ids = common::walk_store(&store);
    assert_eq!(ids.len() as u64, data.customers);
    let start = Instant::now();
    common::block_newest_in_store(&store, &ids, &data, 4);
    println!("block_secs={}", start.elapsed().as_secs_f64());
}

/// The process's peak resident set size so far, in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmHWM:")
                    .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

struct Log(Instant);

impl Log {
    fn say(&self, what: &str) {
        eprintln!("[{:7.1}s] {what}", self.0.elapsed().as_secs_f64());
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn per_second(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

/// Both sides of one measure.
struct Pair {
    store: f64,
    sqlite: f64,
}

#[allow(
    clippy::too_many_lines,
    reason = "one straight script: each measure in turn, store then SQLite"
)]
fn run(dir: &Path, data: Dataset) {
    let n = data.customers;
    let log = Log(Instant::now());
    let load_before = load_average();
    let store_path = dir.join(STORE_FILE);
    let sqlite_path = dir.join(SQLITE_FILE);
    for stale in [&store_path, &sqlite_path] {
        let _ = std::fs::remove_file(stale);
    }

    // --- The store's import, in a child process (its peak RSS is its own).
    log.say(&format!(
        "store: importing {n} customers in a child process"
    ));
    let child = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--child-store-import")
        .arg(dir)
        .arg(n.to_string())
        .output()
        .expect("run the import child");
    let report = String::from_utf8_lossy(&child.stdout).into_owned();
    assert!(
        child.status.success(),
        "the import child failed: {}\n{report}",
        String::from_utf8_lossy(&child.stderr)
    );
    let value = |key: &str| -> f64 {
        report
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("the import child did not report {key}: {report}"))
    };
    let store_import = per_second(n, Duration::from_secs_f64(value("import_secs")));
    let store_hwm_kib = value("import_hwm_kib");
    log.say(&format!(
        "store: import {:.1}s in create_many ({:.1}s wall), peak RSS {:.0} MiB; \
         BLOCKED updates {:.1}s",
        value("import_secs"),
        value("import_wall_secs"),
        store_hwm_kib / 1024.0,
        value("block_secs")
    ));

    let store = RedbStore::open(&store_path).expect("open store");
    let store_bytes = common::store_size(&store_path);
    log.say("store: first walk (warm-up; collects the ids)");
    let ids = common::walk_store(&store);
    assert_eq!(ids.len() as u64, n, "the store walk saw every customer");
    let blocked_from = data.blocked_from() as usize;
    let newest = store
        .get(BUSINESS, &ids[n as usize - 1])
        .expect("get")
        .expect("present");
    assert_eq!(newest.status, Status::Blocked);

    // --- SQLite's import, with the store's ids.
    log.say(&format!("sqlite: importing {n} customers"));
    let mut sqlite = common::sqlite_open(&sqlite_path);
    let sqlite_import = per_second(n, common::import_sqlite(&mut sqlite, &data, &ids));
    let sqlite_bytes = common::sqlite_size(&sqlite_path);
    log.say("sqlite: first walk (warm-up)");
    let sqlite_ids = common::walk_sqlite(&sqlite);
    assert_eq!(sqlite_ids, ids, "both databases hold the same ids");
    drop(sqlite_ids);

    // --- List walk. Each measure alternates the two sides round by round, so that a change
    // in the machine's load (it may be shared) hits both alike.
    let rounds = (4_000_000 / n).clamp(2, 50);
    log.say(&format!("list walk ({rounds} rounds)"));
    let walk = alternate(
        rounds,
        |_| {
            assert_eq!(common::walk_store_reusing(&store).0, n);
            n
        },
        |_| {
            assert_eq!(common::walk_sqlite_reusing(&sqlite).0, n);
            n
        },
    );
    log.say(&format!("list walk, a new page per call ({rounds} rounds)"));
    let walk_fresh = alternate(
        rounds,
        |_| {
            assert_eq!(common::walk_store(&store).len(), ids.len());
            n
        },
        |_| {
            assert_eq!(common::walk_sqlite(&sqlite).len(), ids.len());
            n
        },
    );

    // --- Gets.
    log.say(&format!("{GETS} gets by id"));
    let slice = GETS / GET_ROUNDS;
    let get = alternate(
        GET_ROUNDS,
        |round| {
            for k in round * slice..(round + 1) * slice {
                let id = &ids[common::pick(k, ids.len())];
                assert!(store.get(BUSINESS, id).expect("get").is_some());
            }
            slice
        },
        |round| {
            for k in round * slice..(round + 1) * slice {
                let id = &ids[common::pick(k, ids.len())];
                assert!(common::sqlite_get(&sqlite, id).is_some());
            }
            slice
        },
    );
    log.say(&format!("{GETS} gets by email"));
    let emails: Vec<String> = (0..GETS)
        .map(|k| data.email(common::pick(k, ids.len()) as u64))
        .collect();
    let chunk = |round: u64| &emails[(round * slice) as usize..((round + 1) * slice) as usize];
    let by_email = alternate(
        GET_ROUNDS,
        |round| {
            for email in chunk(round) {
                let found = store.get_by_email(BUSINESS, email).expect("get_by_email");
                assert!(found.is_some());
            }
            slice
        },
        |round| {
            for email in chunk(round) {
                assert!(common::sqlite_get_by_email(&sqlite, email).is_some());
            }
            slice
        },
    );
    drop(emails);

    // --- Filtered first pages (median latencies, in seconds).
    let matches = data.needle_count();
    log.say(&format!(
        "email substring '{NEEDLE}' ({matches} matches), first page"
    ));
    let expected = common::store_email_page(&store, NEEDLE);
    assert_eq!(
        expected.len() as u64,
        matches.min(u64::from(common::FILTER_PAGE))
    );
    assert_eq!(common::sqlite_email_page(&sqlite, NEEDLE), expected);
    let email_page = alternate_latency(
        || {
            assert_eq!(
                common::store_email_page(&store, NEEDLE).len(),
                expected.len()
            )
        },
        || {
            assert_eq!(
                common::sqlite_email_page(&sqlite, NEEDLE).len(),
                expected.len()
            )
        },
    );
    log.say("status=BLOCKED, first page");
    let expected = common::store_blocked_page(&store);
    assert_eq!(expected.first(), ids.get(blocked_from));
    assert_eq!(common::sqlite_blocked_page(&sqlite), expected);
    let status_page = alternate_latency(
        || assert_eq!(common::store_blocked_page(&store).len(), expected.len()),
        || assert_eq!(common::sqlite_blocked_page(&sqlite).len(), expected.len()),
    );

    // --- Durable creates (customers beyond the data set; the same rows on both sides).
    let sqlite_new_ids = SqliteIds::after(ids.last().map(String::as_str));
    drop(ids);
    log.say(&format!(
        "durable creates, 1 thread ({CREATE_ROUNDS} rounds of up to {} each)",
        CREATES_1 / CREATE_ROUNDS
    ));
    let per_round = CREATES_1 / CREATE_ROUNDS;
    let round_deadline = CREATE_DEADLINE / CREATE_ROUNDS as u32;
    let sequential = |create: &mut dyn FnMut(u64), round: u64| {
        let start = Instant::now();
        let mut done = 0;
        while done < per_round && start.elapsed() < round_deadline {
            create(n + round * per_round + done);
            done += 1;
        }
        done
    };
    let create_1 = alternate(
        CREATE_ROUNDS,
        |round| {
            sequential(
                &mut |i| {
                    common::store_create(&store, &data, i);
                },
                round,
            )
        },
        |round| {
            sequential(
                &mut |i| {
                    common::sqlite_create(&sqlite, &sqlite_new_ids, &data, i);
                },
                round,
            )
        },
    );
    log.say(&format!(
        "durable creates, {WRITERS} threads ({CREATE_ROUNDS} rounds of up to {WRITERS}x{} each)",
        CREATES_PER_WRITER / CREATE_ROUNDS
    ));
    let per_writer = CREATES_PER_WRITER / CREATE_ROUNDS;
    let mut stores: Vec<RedbStore> = (0..WRITERS).map(|_| store.clone()).collect();
    let mut connections: Vec<_> = (0..WRITERS)
        .map(|_| common::sqlite_open(&sqlite_path))
        .collect();
    let store_next = AtomicU64::new(n + CREATES_1);
    let sqlite_next = AtomicU64::new(n + CREATES_1);
    let create_16 = alternate(
        CREATE_ROUNDS,
        |_| {
            concurrent_creates(&mut stores, per_writer, round_deadline, |store, _| {
                let i = store_next.fetch_add(1, Ordering::Relaxed);
                common::store_create(store, &data, i);
            })
        },
        |_| {
            concurrent_creates(&mut connections, per_writer, round_deadline, |conn, _| {
                let i = sqlite_next.fetch_add(1, Ordering::Relaxed);
                common::sqlite_create(conn, &sqlite_new_ids, &data, i);
            })
        },
    );
    drop(stores);
    drop(connections);
    drop(store);
    drop(sqlite);
    // --- The store file after compact() (as an operator would after an import, like SQLite's
    // VACUUM), at the end so that it changes none of the measures above.
    log.say("store: compact()");
    let store = RedbStore::open(&store_path).expect("open store");
    let customers_now = store.verify().expect("verify").customers;
    store.compact().expect("compact");
    drop(store);
    let size_compacted = common::store_size(&store_path).on_disk as f64 / customers_now as f64;
    // SQLite at the same moment, after its own compaction, per its own rows.
    log.say("sqlite: VACUUM");
    let sqlite = common::sqlite_open(&sqlite_path);
    let sqlite_rows = common::sqlite_vacuum(&sqlite);
    let sqlite_vacuumed = common::sqlite_size(&sqlite_path).on_disk as f64 / sqlite_rows as f64;
    drop(sqlite);
    log.say("done");
    let load_after = load_average();

    print_table(&Table {
        n,
        matches,
        walk,
        walk_fresh,
        get,
        by_email,
        email_page,
        status_page,
        create_1,
        create_16,
        import: Pair {
            store: store_import,
            sqlite: sqlite_import,
        },
        size: Pair {
            store: store_bytes.on_disk as f64 / n as f64,
            sqlite: sqlite_bytes.on_disk as f64 / n as f64,
        },
        size_len: Pair {
            store: store_bytes.len as f64 / n as f64,
            sqlite: sqlite_bytes.len as f64 / n as f64,
        },
        size_compacted: Pair {
            store: size_compacted,
            sqlite: sqlite_vacuumed,
        },
        creates_after: customers_now - n,
        store_hwm_mib: store_hwm_kib / 1024.0,
        load: [load_before, load_after],
    });
}

/// Runs `create` from one thread per element of `states` (each with its own state, e.g. a
/// connection), `per_writer` times each or until `deadline`; returns the creates done.
fn concurrent_creates<S: Send>(
    states: &mut [S],
    per_writer: u64,
    deadline: Duration,
    create: impl Fn(&mut S, u64) + Sync,
) -> u64 {
    let done = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for state in states.iter_mut() {
            let (done, create) = (&done, &create);
            scope.spawn(move || {
                for k in 0..per_writer {
                    if start.elapsed() >= deadline {
                        break;
                    }
                    create(state, k);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed)
}

/// Runs the two sides in turn for `rounds` rounds (the store first in even rounds, SQLite
/// first in odd ones); each call returns how many operations it did. Returns the two rates.
fn alternate(
    rounds: u64,
    mut store: impl FnMut(u64) -> u64,
    mut sqlite: impl FnMut(u64) -> u64,
) -> Pair {
    let mut store_side = (0, Duration::ZERO);
    let mut sqlite_side = (0, Duration::ZERO);
    let timed = |side: &mut (u64, Duration), f: &mut dyn FnMut(u64) -> u64, round: u64| {
        let start = Instant::now();
        side.0 += f(round);
        side.1 += start.elapsed();
    };
    for round in 0..rounds {
        if round % 2 == 0 {
            timed(&mut store_side, &mut store, round);
            timed(&mut sqlite_side, &mut sqlite, round);
        } else {
            timed(&mut sqlite_side, &mut sqlite, round);
            timed(&mut store_side, &mut store, round);
        }
    }
    Pair {
        store: per_second(store_side.0, store_side.1),
        sqlite: per_second(sqlite_side.0, sqlite_side.1),
    }
}

/// Calls each side back to back for 0.75 s (at least once, at most 1,000 times), the two
/// sides taking turns for 4 rounds; returns each side's median latency in seconds. (Calls
/// alternating one by one would measure the store with caches cold from SQLite's scans.)
fn alternate_latency(mut store: impl FnMut(), mut sqlite: impl FnMut()) -> Pair {
    fn block(f: &mut dyn FnMut(), times: &mut Vec<Duration>) {
        let start = Instant::now();
        let mut calls = 0;
        while calls < 1_000 && (calls == 0 || start.elapsed() < Duration::from_millis(750)) {
            let call = Instant::now();
            f();
            times.push(call.elapsed());
            calls += 1;
        }
    }
    let (mut store_times, mut sqlite_times) = (Vec::new(), Vec::new());
    for round in 0..4 {
        if round % 2 == 0 {
            block(&mut store, &mut store_times);
            block(&mut sqlite, &mut sqlite_times);
        } else {
            block(&mut sqlite, &mut sqlite_times);
            block(&mut store, &mut store_times);
        }
    }
    Pair {
        store: median(store_times).as_secs_f64(),
        sqlite: median(sqlite_times).as_secs_f64(),
    }
}

struct Table {
    n: u64,
    matches: u64,
    /// The walk into one reused page on each side.
    walk: Pair,
    /// The walk with a new page per call on each side.
    walk_fresh: Pair,
    get: Pair,
    by_email: Pair,
    email_page: Pair,
    status_page: Pair,
    create_1: Pair,
    create_16: Pair,
    import: Pair,
    /// Bytes on disk (allocated) per customer, after the import.
    size: Pair,
    /// File length per customer, after the import.
    size_len: Pair,
    /// Bytes per customer at the end of the run, after the store's `compact()` and SQLite's
    /// `VACUUM`, each divided by its own customers.
    size_compacted: Pair,
    /// The store's customers created after the import (the create measures).
    creates_after: u64,
    store_hwm_mib: f64,
    /// `/proc/loadavg` at the start and at the end of the run.
    load: [String; 2],
}

/// The 1, 5 and 15-minute load averages, as `/proc/loadavg` has them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn rate(per_second: f64, unit: &str) -> String {
    if per_second >= 1e6 {
        format!("{:.2} M {unit}/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} k {unit}/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} {unit}/s")
    }
}

fn latency(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{:.1} µs", seconds * 1e6)
    }
}

fn mark(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

fn print_table(t: &Table) {
    let speedup = |p: &Pair| p.store / p.sqlite;
    let faster = |p: &Pair| p.sqlite / p.store;
    println!(
        "\n{} customers in one business (newest 3% BLOCKED); store = RedbStore, default \
         options; SQLite = WAL, synchronous=FULL, WITHOUT ROWID, {} MiB cache (the store's \
         default); allocator: {}.\n",
        t.n,
        customer_store::DEFAULT_CACHE_SIZE >> 20,
        common::ALLOCATOR_NAME
    );
    println!(
        "Load average (1/5/15 min) at the start: {}; at the end: {}; cores: {}.\n",
        t.load[0],
        t.load[1],
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("| measure | store | SQLite | ratio (store vs SQLite) | target | met |");
    println!("|---|---|---|---|---|---|");
    let row =
        |measure: &str, store: String, sqlite: String, ratio: String, target: &str, met: &str| {
            println!("| {measure} | {store} | {sqlite} | {ratio} | {target} | {met} |");
        };
    row(
        "list walk, 100/page, snapshot per page (one page reused: `list_into`; SQLite: rows read into reused strings)",
        rate(t.walk.store, "cust"),
        rate(t.walk.sqlite, "cust"),
        format!("{:.2}×", speedup(&t.walk)),
        "≥ 3× SQLite",
        mark(speedup(&t.walk) >= 3.0),
    );
    row(
        "list walk as above, a new page per call (`list`; SQLite: new strings per row)",
        rate(t.walk_fresh.store, "cust"),
        rate(t.walk_fresh.sqlite, "cust"),
        format!("{:.2}×", speedup(&t.walk_fresh)),
        "—",
        "—",
    );
    row(
        &format!("get by id ({}k random)", GETS / 1000),
        rate(t.get.store, "get"),
        rate(t.get.sqlite, "get"),
        format!("{:.2}×", speedup(&t.get)),
        "≥ 2× SQLite",
        mark(speedup(&t.get) >= 2.0),
    );
    row(
        &format!("get_by_email ({}k random)", GETS / 1000),
        rate(t.by_email.store, "get"),
        rate(t.by_email.sqlite, "get"),
        format!("{:.2}×", speedup(&t.by_email)),
        "—",
        "—",
    );
    row(
        &format!(
            "email substring, first page of 20, selective term ({} matches)",
            t.matches
        ),
        latency(t.email_page.store),
        latency(t.email_page.sqlite),
        format!("{:.2}×", faster(&t.email_page)),
        "≤ 0.2 ms (≥ 100× SQLite)",
        mark(t.email_page.store <= 0.2e-3 && faster(&t.email_page) >= 100.0),
    );
    row(
        "status=BLOCKED first page of 20 (BLOCKED = newest 3%)",
        latency(t.status_page.store),
        latency(t.status_page.sqlite),
        format!("{:.2}×", faster(&t.status_page)),
        "≥ 50× SQLite",
        mark(faster(&t.status_page) >= 50.0),
    );
    row(
        &format!(
            "durable create, 1 thread ({CREATES_1} creates a side, or fewer if {} s run out)",
            CREATE_DEADLINE.as_secs()
        ),
        rate(t.create_1.store, "create"),
        rate(t.create_1.sqlite, "create"),
        format!("{:.2}×", speedup(&t.create_1)),
        "≥ 1× SQLite",
        mark(speedup(&t.create_1) >= 1.0),
    );
    let vs_one = t.create_16.store / t.create_1.sqlite;
    row(
        &format!(
            "durable create, {WRITERS} threads ({WRITERS}×{CREATES_PER_WRITER} creates a side, \
             or fewer if {} s run out)",
            CREATE_DEADLINE.as_secs()
        ),
        rate(t.create_16.store, "create"),
        rate(t.create_16.sqlite, "create"),
        format!(
            "{vs_one:.2}× SQLite's 1 thread (the target's ratio; {:.2}× its {WRITERS} threads)",
            speedup(&t.create_16)
        ),
        "≥ 10× SQLite's 1-thread rate",
        mark(vs_one >= 10.0),
    );
    row(
        "bulk import, create_many 1,000/batch (the whole data set)",
        rate(t.import.store, "cust"),
        rate(t.import.sqlite, "cust"),
        format!("{:.2}×", speedup(&t.import)),
        "≥ 2× SQLite",
        mark(speedup(&t.import) >= 2.0),
    );
    let size_ratio = t.size.store / t.size.sqlite;
    row(
        "file size per customer, all indexes (bytes on disk, as `du` counts them / customers)",
        format!("{:.0} B", t.size.store),
        format!("{:.0} B", t.size.sqlite),
        format!("store is {size_ratio:.2}× SQLite's size"),
        "≤ 1.5× SQLite",
        mark(size_ratio <= 1.5),
    );
    row(
        "file length per customer (as `ls -l` shows it; redb doubles a file's length as it \
         grows and leaves the new part unwritten, so the store's file is sparse)",
        format!("{:.0} B", t.size_len.store),
        format!("{:.0} B", t.size_len.sqlite),
        format!(
            "store is {:.2}× SQLite's length",
            t.size_len.store / t.size_len.sqlite
        ),
        "—",
        "—",
    );
    let compacted_ratio = speedup(&t.size_compacted);
    row(
        &format!(
            "file size per customer at the end of the run ({} creates after the import), after \
             the store's `compact()` and SQLite's `VACUUM`",
            t.creates_after
        ),
        format!("{:.0} B", t.size_compacted.store),
        format!("{:.0} B", t.size_compacted.sqlite),
        format!("store is {compacted_ratio:.2}× SQLite's size"),
        "≤ 1.5× SQLite",
        mark(compacted_ratio <= 1.5),
    );
    row(
        &format!("peak RSS (VmHWM), store import of {} customers", t.n),
        format!("{:.0} MiB", t.store_hwm_mib),
        "—".to_owned(),
        "—".to_owned(),
        "≤ 256 MiB",
        mark(t.store_hwm_mib <= 256.0),
    );
}
