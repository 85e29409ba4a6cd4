//! Process kills: every write that returned `Ok` survives `kill -9` and a reopen.
//!
//! The parent test re-runs this test binary as a child (`--exact crash_child_writer
//! --ignored`). The child opens the store file and runs a deterministic workload (creates,
//! batches, renames, email changes, status changes, deletes) in a business of its own,
//! printing `ACK <step> <ids>` on stdout after each `Ok`. The parent kills it with SIGKILL at a
//! random moment (after a random number of acknowledgements plus a random delay, or a random
//! time after start, which can fall inside the first open), reopens the file and checks:
//!
//! - the store opens, and `verify()` is clean;
//! - the round's business is exactly the state after the acknowledged steps, or after one more
//!   (the step in flight when the kill came); every acknowledged create kept its id;
//! - every earlier round's business is unchanged.
//!
//! `CRASH_ROUNDS` sets the number of rounds (CI: [`DEFAULT_ROUNDS`]); `CRASH_SEED` replays a
//! run (the seed is printed).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use customer_store::{
    Customer, CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status,
};

mod reliability_support;
use reliability_support::exec::walk_all;

const DEFAULT_ROUNDS: u64 = 50;
const CHILD: &str = "crash_child_writer";
const ENV_DB: &str = "CUSTOMER_STORE_CRASH_DB";
const ENV_ROUND: &str = "CUSTOMER_STORE_CRASH_ROUND";
/// A child that is never killed stops after this many steps.
const MAX_STEPS: u64 = 400;

type Result<T, E = String> = std::result::Result<T, E>;

/// What the workload knows of a customer (the store picks the id).
#[derive(Debug, Clone, PartialEq)]
struct Person {
    name: String,
    external_id: Option<String>,
    status: Status,
}

/// One step of the workload; customers are named by their (unique) email.
#[derive(Debug, Clone)]
enum Step {
    Create(Vec<(String, Person)>),
    Rename { email: String, name: String },
    ChangeEmail { from: String, to: String },
    SetStatus { email: String, status: Status },
    Delete { email: String },
}

/// The workload of one round, and the state it leads to.
#[derive(Debug, Clone, Default)]
struct Plan {
    round: u64,
    /// Live customers by email, with their creation order.
    people: BTreeMap<String, (u64, Person)>,
    created: u64,
}

impl Plan {
    fn new(round: u64) -> Plan {
        Plan {
            round,
            ..Plan::default()
        }
    }

    fn business(&self) -> String {
        format!("round{}", self.round)
    }

    fn person(&self, i: u64) -> (String, Person) {
        let r = self.round;
        (
            format!("c{i}@r{r}.io"),
            Person {
                name: format!("name {i}"),
                external_id: (!i.is_multiple_of(3)).then(|| format!("x{i}")),
                status: Status::Active,
            },
        )
    }

    /// Step `i`, which depends on the state after steps `0..i`.
    fn step(&self, i: u64) -> Step {
        let live: Vec<&String> = self.people.keys().collect();
        if live.len() < 3 {
            return Step::Create(vec![self.person(i)]);
        }
        let pick = || live[usize::try_from(i * 7 % live.len() as u64).unwrap_or(0)].clone();
        match i % 7 {
            0 | 1 => Step::Create(vec![self.person(i)]),
            2 => Step::Rename {
                email: pick(),
                name: format!("renamed {i}"),
            },
            3 => Step::ChangeEmail {
                from: pick(),
                to: format!("moved{i}@r{}.io", self.round),
            },
            4 => Step::Create(vec![self.person(i), self.person(i + MAX_STEPS)]),
            5 => Step::SetStatus {
                email: pick(),
                status: Status::ALL[usize::try_from(i % 3).unwrap_or(0)],
            },
            _ if live.len() > 6 => Step::Delete { email: pick() },
            _ => Step::Rename {
                email: pick(),
                name: format!("renamed {i}"),
            },
        }
    }

    fn apply(&mut self, step: &Step) {
        match step.clone() {
            Step::Create(people) => {
                for (email, person) in people {
                    self.created += 1;
                    self.people.insert(email, (self.created, person));
                }
            }
            Step::Rename { email, name } => {
                if let Some((_, p)) = self.people.get_mut(&email) {
                    p.name = name;
                }
            }
            Step::ChangeEmail { from, to } => {
                if let Some(p) = self.people.remove(&from) {
                    self.people.insert(to, p);
                }
            }
            Step::SetStatus { email, status } => {
                if let Some((_, p)) = self.people.get_mut(&email) {
                    p.status = status;
                }
            }
            Step::Delete { email } => {
                self.people.remove(&email);
            }
        }
    }

    /// The state as the store shows it: email → person, in creation order.
    fn view(&self) -> Vec<(String, Person)> {
        let mut people: Vec<_> = self.people.iter().collect();
        people.sort_by_key(|(_, (order, _))| *order);
        people
            .into_iter()
            .map(|(email, (_, p))| (email.clone(), p.clone()))
            .collect()
    }
}

fn view(customers: &[Customer]) -> Vec<(String, Person)> {
    customers
        .iter()
        .map(|c| {
            (
                c.email.clone(),
                Person {
                    name: c.name.clone(),
                    external_id: c.external_id.clone(),
                    status: c.status,
                },
            )
        })
        .collect()
}

/// The child: runs the round's workload on the store file, acknowledging each `Ok`.
#[test]
#[ignore = "run by crash_kill_rounds as a child process"]
fn crash_child_writer() -> Result<()> {
    let (Some(db), Some(round)) = (std::env::var_os(ENV_DB), std::env::var(ENV_ROUND).ok()) else {
        return Ok(());
    };
    let round: u64 = round.parse().map_err(|e| format!("{e}"))?;
    let store = RedbStore::open(PathBuf::from(db)).map_err(|e| format!("open: {e}"))?;
    let mut plan = Plan::new(round);
    let business = plan.business();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    for i in 0..MAX_STEPS {
        let step = plan.step(i);
        let id_of = |email: &String| ids.get(email).cloned().ok_or("unknown email");
        let acked: Vec<String> = match &step {
            Step::Create(people) => {
                let new: Vec<NewCustomer> = people
                    .iter()
                    .map(|(email, p)| NewCustomer {
                        external_id: p.external_id.clone(),
                        ..NewCustomer::new(email, &p.name)
                    })
                    .collect();
                let created = if new.len() == 1 {
                    vec![store.create(&business, new[0].clone())]
                        .into_iter()
                        .collect::<customer_store::Result<Vec<_>>>()
                } else {
                    store.create_many(&business, new)
                }
                .map_err(|e| format!("step {i}: {e}"))?;
                for c in &created {
                    ids.insert(c.email.clone(), c.id.clone());
                }
                created.into_iter().map(|c| c.id).collect()
            }
            Step::Rename { email, name } => {
                let patch = CustomerPatch::default().set_name(name);
                store.update(&business, &id_of(email)?, patch)
            }
            .map(|_| Vec::new())
            .map_err(|e| format!("step {i}: {e}"))?,
            Step::ChangeEmail { from, to } => {
                let id = id_of(from)?;
                let patch = CustomerPatch::default().set_email(to);
                store
                    .update(&business, &id, patch)
                    .map_err(|e| format!("step {i}: {e}"))?;
                ids.insert(to.clone(), id);
                Vec::new()
            }
            Step::SetStatus { email, status } => {
                let patch = CustomerPatch::default().set_status(*status);
                store.update(&business, &id_of(email)?, patch)
            }
            .map(|_| Vec::new())
            .map_err(|e| format!("step {i}: {e}"))?,
            Step::Delete { email } => store
                .delete(&business, &id_of(email)?)
                .map(|_| Vec::new())
                .map_err(|e| format!("step {i}: {e}"))?,
        };
        plan.apply(&step);
        writeln!(out, "ACK {i} {}", acked.join(" ")).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A small xorshift generator: the run is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn spawn_child(db: &Path, round: u64) -> Result<Child> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .args([
            "--exact",
            CHILD,
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env(ENV_DB, db)
        .env(ENV_ROUND, round.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the child: {e}"))
}

/// One acknowledgement: the step and the ids it created.
type Ack = (u64, Vec<String>);

/// Reads complete `ACK` lines (a line cut by the kill does not count).
fn read_acks(stdout: impl Read + Send + 'static, tx: mpsc::Sender<Ack>) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line.ends_with(b"\n") => {
                // The first ack shares its line with libtest's "test … " prefix.
                let text = String::from_utf8_lossy(&line);
                let Some(at) = text.find("ACK ") else {
                    continue;
                };
                let mut words = text[at..].split_whitespace();
                if words.next() == Some("ACK")
                    && let Some(step) = words.next().and_then(|s| s.parse().ok())
                {
                    let ids = words.map(str::to_owned).collect();
                    if tx.send((step, ids)).is_err() {
                        return;
                    }
                }
            }
            Ok(_) => return,
        }
    }
}

/// Moves `ids` (email → acknowledged id) through `step`; `created` are the ids a create step
/// acknowledged (`None`: not acknowledged, its ids are unknown).
fn follow_ids(
    ids: &mut BTreeMap<String, String>,
    step: &Step,
    created: Option<&Vec<String>>,
) -> Result<()> {
    match step {
        Step::Create(people) => {
            if let Some(created) = created {
                if people.len() != created.len() {
                    return Err(format!(
                        "a create of {} acknowledged {created:?}",
                        people.len()
                    ));
                }
                for ((email, _), id) in people.iter().zip(created) {
                    ids.insert(email.clone(), id.clone());
                }
            }
        }
        Step::ChangeEmail { from, to } => {
            if let Some(id) = ids.remove(from) {
                ids.insert(to.clone(), id);
            }
        }
        Step::Delete { email } => {
            ids.remove(email);
        }
        Step::Rename { .. } | Step::SetStatus { .. } => {}
    }
    Ok(())
}

/// How a round ended.
#[derive(Debug, Default)]
struct Summary {
    rounds: u64,
    killed: u64,
    acks: u64,
    in_flight_landed: u64,
    killed_before_first_ack: u64,
}

/// One round: run a child on `db`, kill it, check the file. With `early`, the kill comes
/// within 25 ms of the start, often inside the first open of a new file.
fn round(
    db: &Path,
    r: u64,
    early: bool,
    rng: &mut Rng,
    done: &mut BTreeMap<String, Vec<Customer>>,
    summary: &mut Summary,
) -> Result<()> {
    let mut child = spawn_child(db, r)?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || read_acks(stdout, tx));

    // When to kill: after a random time, or after a random number of acks plus a delay.
    let started = Instant::now();
    let by_time = r.is_multiple_of(4) || early;
    let deadline = Duration::from_millis(rng.below(if early { 25 } else { 60 }));
    let target_acks = 1 + rng.below(60);
    let delay = Duration::from_micros(rng.below(3000));
    let mut acks: Vec<Ack> = Vec::new();
    let mut killed = false;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        let due = if by_time {
            started.elapsed() >= deadline
        } else {
            acks.len() as u64 >= target_acks
        };
        if due {
            if !by_time {
                std::thread::sleep(delay);
            }
            killed = child.kill().is_ok();
            break;
        }
        match rx.recv_timeout(Duration::from_millis(1)) {
            Ok(ack) => acks.push(ack),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // The child closed stdout: it is ending.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            return Err(format!("round {r}: the child hangs"));
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = reader.join();
    acks.extend(rx.try_iter());
    let child_err = err_reader.join().unwrap_or_default();
    if !killed && !status.success() {
        return Err(format!(
            "round {r}: the child failed ({status}):\n{child_err}"
        ));
    }

    // Acks come in step order, one per step.
    for (k, (step, _)) in acks.iter().enumerate() {
        if *step != k as u64 {
            return Err(format!("round {r}: ack {k} is for step {step}"));
        }
    }
    let k = acks.len() as u64;
    summary.rounds += 1;
    summary.killed += u64::from(killed);
    summary.acks += k;
    summary.killed_before_first_ack += u64::from(k == 0);

    // The states the store may be in: after k steps, or after k + 1. `ids` follows each
    // acknowledged create's id through email changes.
    let mut plan = Plan::new(r);
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (i, (_, created)) in acks.iter().enumerate() {
        let step = plan.step(i as u64);
        follow_ids(&mut ids, &step, Some(created)).map_err(|e| format!("round {r}: {e}"))?;
        plan.apply(&step);
    }
    let acked = plan.view();
    let next = plan.step(k);
    let mut one_more = plan.clone();
    one_more.apply(&next);
    let in_flight = one_more.view();

    let store = RedbStore::open(db).map_err(|e| format!("round {r}: reopen after kill: {e}"))?;
    store
        .verify()
        .map_err(|e| format!("round {r}: verify after kill: {e}"))?;
    let business = plan.business();
    let customers = walk_all(&store, &business, &ListQuery::default())
        .map_err(|e| format!("round {r}: list: {e}"))?;
    let now = view(&customers);
    if now != acked {
        if now != in_flight {
            return Err(format!(
                "round {r}: after {k} acks the store holds {now:#?}\nexpected {acked:#?}\nor {in_flight:#?}"
            ));
        }
        summary.in_flight_landed += 1;
        follow_ids(&mut ids, &next, None).map_err(|e| format!("round {r}: {e}"))?;
    }
    // Every acknowledged create kept its id.
    for c in &customers {
        if let Some(id) = ids.get(&c.email)
            && *id != c.id
        {
            return Err(format!(
                "round {r}: {} has id {}, acknowledged {id}",
                c.email, c.id
            ));
        }
    }
    // Earlier rounds are untouched.
    for (b, expected) in done.iter() {
        let found = walk_all(&store, b, &ListQuery::default()).map_err(|e| e.to_string())?;
        if found != *expected {
            return Err(format!("round {r}: business {b} changed"));
        }
    }
    done.insert(business, customers);
    Ok(())
}

#[test]
fn crash_kill_rounds() -> Result<()> {
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(seed_from_time);
    eprintln!("crash_kill_rounds: CRASH_SEED={seed} CRASH_ROUNDS={rounds}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let db = dir.path().join("customers.redb");
    // The file exists before the first kill (a kill inside the very first open is
    // `kill_during_first_open`).
    drop(RedbStore::open(&db).map_err(|e| e.to_string())?);
    let mut done = BTreeMap::new();
    let mut summary = Summary::default();
    for r in 0..rounds {
        round(&db, r, false, &mut rng, &mut done, &mut summary)
            .map_err(|e| format!("{e}\n(replay with CRASH_SEED={seed})"))?;
    }
    eprintln!("crash_kill_rounds: {summary:?}");
    if summary.killed < rounds / 2 {
        return Err(format!(
            "only {} of {rounds} children were killed",
            summary.killed
        ));
    }
    Ok(())
}

/// Kills within the first 25 ms of a child on a new file: the file the kill leaves (empty,
/// half-created, or holding the first writes) opens as a clean store.
///
/// Regression: a kill between redb's first header write and its magic number used to leave a
/// file that never opened (about one round in 40 landed there). A new store is now created
/// under a temporary name and linked into place; `crash_during_the_first_open_of_a_new_file`
/// in `tests/fault_injection.rs` covers the same window deterministically.
#[test]
fn kill_during_first_open() -> Result<()> {
    let rounds = std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(seed_from_time);
    eprintln!("kill_during_first_open: CRASH_SEED={seed} CRASH_ROUNDS={rounds}");
    let mut rng = Rng(seed);
    let mut summary = Summary::default();
    for r in 0..rounds {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let db = dir.path().join("customers.redb");
        round(&db, r, true, &mut rng, &mut BTreeMap::new(), &mut summary)
            .map_err(|e| format!("{e}\n(replay with CRASH_SEED={seed})"))?;
    }
    eprintln!("kill_during_first_open: {summary:?}");
    Ok(())
}

fn seed_from_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.subsec_nanos().into())
        | 1
}
