//! Group commit: concurrent writes share one write transaction and one fsync.
//!
//! A writer queues its job and waits. If no batch is being committed, the writer becomes the
//! leader: it takes every queued job, runs them in order in one transaction, commits once and
//! hands each job its own result. Writers that queued meanwhile form the next batch. A single
//! writer therefore commits alone, as before; sixteen writers share fsyncs.
//!
//! A commit may leave its batch's durability pending (the store's journal frame is written
//! but not yet synced). The leader then gives up the lead before it waits for the sync, so the
//! next batch runs its writes while this one's frame syncs, and answers its batch only after
//! the sync; a failed sync answers every job of the batch with its error.
//!
//! Each job checks all of its rules before its first write, so a job that fails (validation,
//! conflict, not found) has written nothing and the others in the batch commit unharmed.
//!
//! A job that fails for a reason of its own that spoils the transaction (a damaged record, an
//! exhausted id space) is answered with its error and taken out; the other jobs run again in a
//! fresh transaction, so one business's damage never fails another's writes, and no job is
//! answered from state that did not commit. When the transaction itself fails (an I/O error,
//! a failed commit), every job of the batch gets that error: none is reported `Ok`, and none is
//! refused on the strength of another job's uncommitted write.

use std::collections::HashMap;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::model::Customer;
use crate::{Error, Result};

use super::open::{needs_reopen, panic_error};
use super::ops::{self, WriteTables};

/// What a job returns.
pub(crate) enum Output {
    /// One record that the job wrote.
    Written(Customer),
    /// New customers that the job wrote: each one's id number and times, from which its
    /// writer makes the customers (`ops::created`) once it has its answer.
    Created(ops::Made),
    /// A record returned without any write (a patch that changes nothing).
    Unchanged(Customer),
    /// A damaged record removed, unread (`RedbStore::remove_damaged`).
    Removed,
}

impl Output {
    fn wrote(&self) -> bool {
        !matches!(self, Output::Unchanged(_))
    }
}

/// One write, run inside the batch's transaction; it may be run again in a later transaction
/// if another job of its batch spoiled the first.
pub(crate) type Job = Box<dyn FnMut(&mut WriteTables<'_, '_>) -> Result<Output> + Send>;

/// The longest a leader waits for the writers of the last batch to queue again, while an
/// earlier batch's sync is under way.
const GATHER: Duration = Duration::from_micros(200);

/// The most jobs one transaction takes; later ones wait for the next batch.
const MAX_BATCH: usize = 512;

#[derive(Default)]
struct State {
    queue: Vec<(u64, Job)>,
    leading: bool,
    next_ticket: u64,
    /// Every ticket below this one was taken into a batch (the queue is in ticket order).
    taken: u64,
    results: HashMap<u64, Result<Output>>,
    /// The thread of every job not yet answered, to wake exactly the writers concerned: those
    /// of a batch when it is answered, and the first queued one when the lead is free.
    threads: HashMap<u64, Thread>,
    /// How many jobs wait for their batch's sync: their writers cannot queue again until it
    /// ends, so a gathering leader does not wait for them. While it is not zero a sync is
    /// under way, and a new leader gathers.
    syncing: usize,
    /// Whether the last batch was made durable by its commit alone (no journal, a bulk load,
    /// or nothing written): its writers come back while no sync runs, and the next leader
    /// waits for them all the same.
    committed_alone: bool,
}

/// The queue of writes waiting for a commit.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// Told when a job is queued or a sync ends (a gathering leader waits on it).
    arrived: Condvar,
}

impl State {
    /// The writer of the first queued job other than the caller's (`own`), if any: the one to
    /// wake to take the free lead (once the lock is released).
    fn next_leader(&self, own: u64) -> Option<Thread> {
        self.queue
            .iter()
            .find(|(ticket, _)| *ticket != own)
            .and_then(|(ticket, _)| self.threads.get(ticket))
            .cloned()
    }
}

/// Whether a job's error spoils the transaction it ran in (a refusal does not: it wrote
/// nothing).
fn spoils_transaction(error: &Error) -> bool {
    matches!(error, Error::Storage { .. } | Error::Corrupt(_))
}

/// The body a transaction runs: all remaining jobs, in order. Returns whether any wrote.
pub(crate) type Body<'a> = dyn FnMut(&mut WriteTables<'_, '_>) -> Result<bool> + 'a;

/// Runs `jobs` through `in_transaction`, which opens a transaction, runs the body it is given
/// on the tables, and commits when the body returns `Ok(true)`.
///
/// Returns one result per job, in order. The jobs are dropped when it returns, before any
/// result reaches its writer: a create's writer counts on it to take back the items it shared
/// with its job without copying them (`RedbStore`'s `created`, which copies them should a job
/// ever outlive its answer).
pub(crate) fn run_batch(
    mut jobs: Vec<Job>,
    mut in_transaction: impl FnMut(&mut Body<'_>) -> Result<()>,
) -> Vec<Result<Output>> {
    let mut answers: Vec<Option<Result<Output>>> = jobs.iter().map(|_| None).collect();
    loop {
        let active: Vec<usize> = (0..jobs.len()).filter(|&i| answers[i].is_none()).collect();
        if active.is_empty() {
            break;
        }
        let mut results: Vec<(usize, Result<Output>)> = Vec::with_capacity(active.len());
        let mut culprit: Option<(usize, Error)> = None;
        let outcome = in_transaction(&mut |tables| {
            results.clear();
            culprit = None;
            for &i in &active {
                let result = (jobs[i])(tables);
                if let Err(error) = &result
                    && spoils_transaction(error)
                {
                    culprit = Some((i, error.clone()));
                    return Err(error.clone());
                }
                results.push((i, result));
            }
            Ok(results
                .iter()
                .any(|(_, r)| r.as_ref().is_ok_and(Output::wrote)))
        });
        match (outcome, culprit) {
            (Ok(()), _) => {
                for (i, result) in results.drain(..) {
                    answers[i] = Some(result);
                }
            }
            // A job spoiled the transaction on its own, without an I/O error: answer it, and
            // run the others again without it (after a reopen, when the transaction held
            // earlier batches' writes).
            (Err(_), Some((i, own))) if !needs_reopen(&own) => answers[i] = Some(Err(own)),
            // The transaction failed: every job still waiting gets its error.
            (Err(error), _) => {
                for &i in &active {
                    answers[i] = Some(Err(error.clone()));
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(not_run())))
        .collect()
}

pub(crate) fn not_run() -> Error {
    Error::Storage {
        message: "the write was not run".to_owned(),
        source: None,
    }
}

impl GroupCommit {
    /// Queues `job` and returns its result once the batch that holds it has committed.
    ///
    /// `commit` runs a batch; it is called on whichever waiting thread leads. It may return
    /// what is still pending for the batch's results to be durable: `durable` is then called
    /// with it after the lead has passed on, and the batch is answered after it (every job
    /// with its error if it fails).
    pub(crate) fn submit<P>(
        &self,
        job: Job,
        commit: impl Fn(Vec<Job>) -> (Vec<Result<Output>>, Option<P>),
        durable: impl Fn(P) -> Result<()>,
    ) -> Result<Output> {
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, job));
        state.threads.insert(ticket, std::thread::current());
        self.arrived.notify_one();
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                state.threads.remove(&ticket);
                return result;
            }
            // A job already taken waits for its batch's answer; a queued one for the lead.
            // Woken by `unpark` (which a `park` after it still sees); a spurious wake loops.
            if state.leading || ticket < state.taken {
                drop(state);
                std::thread::park();
                state = self.state.lock();
                continue;
            }
            state.leading = true;
            // Writers come back together: while an earlier batch's sync is under way (this
            // batch's frame could not be written before it ends anyway), wait for every writer
            // inside `submit` that is not waiting for a sync to queue, so that the next sync
            // carries them all; so too after a batch that its commit alone made durable (no
            // journal: its writers come back as this leader starts, and each commit syncs;
            // without the wait sixteen writers went from 4.5–6.7 k to 2.8–2.9 k creates/s). With
            // the journal's disk idle, or a lone writer, go at once. Measured
            // (`dev_create 16000 16` on a copy of the 1 M store, alternated): with every sync
            // made 200 µs longer (tmpfs), waiting only while a sync is under way gave
            // 20.2–20.9 k creates/s, waiting up to 200 µs every time 20.5–21.4 k, never
            // waiting 18.1–19.7 k; on a disk whose `fdatasync` took 50 µs, 27.7–34.9 k,
            // 23.0–28.3 k and 30.0–33.5 k.
            let deadline = Instant::now() + GATHER;
            while (state.syncing > 0 || state.committed_alone)
                && state.queue.len() < state.threads.len().saturating_sub(state.syncing)
                && !self.arrived.wait_until(&mut state, deadline).timed_out()
            {}
            let take = state.queue.len().min(MAX_BATCH);
            let batch: Vec<(u64, Job)> = state.queue.drain(..take).collect();
            if let Some(&(last, _)) = batch.last() {
                state.taken = last + 1;
            }
            drop(state);

            let (tickets, jobs): (Vec<u64>, Vec<Job>) = batch.into_iter().unzip();
            // A panic must not leave `leading` set: every later writer would wait for ever.
            let (mut results, pending) = catch_unwind(AssertUnwindSafe(|| commit(jobs)))
                .unwrap_or_else(|panic| {
                    let error = panic_error("write", &*panic);
                    (tickets.iter().map(|_| Err(error.clone())).collect(), None)
                });
            // A batch always answers every job; pad defensively so no waiter hangs.
            results.resize_with(tickets.len(), || Err(not_run()));

            // Writers to wake once the lock is released: a writer woken while the leader
            // still holds it would find it taken and block on it again. (An unpark that comes
            // after its writer has already seen its answer only makes a later park of that
            // thread return early; `submit`'s own park loops on that.)
            let mut to_wake = Vec::with_capacity(tickets.len() + 1);
            if let Some(pending) = pending {
                // The next batch may run while this one's writes become durable.
                state = self.state.lock();
                state.leading = false;
                state.committed_alone = false;
                state.syncing += tickets.len();
                let next = state.next_leader(ticket);
                drop(state);
                if let Some(next) = next {
                    next.unpark();
                }
                let durable = catch_unwind(AssertUnwindSafe(|| durable(pending)))
                    .unwrap_or_else(|panic| Err(panic_error("write", &*panic)));
                if let Err(error) = durable {
                    for result in &mut results {
                        *result = Err(error.clone());
                    }
                }
                state = self.state.lock();
                state.syncing -= tickets.len();
                // A gathering leader stops waiting once the disk is free.
                self.arrived.notify_one();
            } else {
                state = self.state.lock();
                state.leading = false;
                state.committed_alone = true;
                if let Some(next) = state.next_leader(ticket) {
                    to_wake.push(next);
                }
            }
            // The leader's own answer, when its job was in the batch it led, is taken here
            // rather than left for it to look up after locking again.
            let mut own = None;
            for (answered, result) in tickets.into_iter().zip(results) {
                if answered == ticket {
                    own = Some(result);
                    continue;
                }
                if let Some(thread) = state.threads.get(&answered) {
                    to_wake.push(thread.clone());
                }
                state.results.insert(answered, result);
            }
            if own.is_some() {
                state.threads.remove(&ticket);
            }
            drop(state);
            for thread in to_wake {
                thread.unpark();
            }
            if let Some(result) = own {
                return result;
            }
            // Its job did not fit in the batch it led: it waits (or leads) again.
            state = self.state.lock();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Tells which writer a job is: dropping the job leaves the writer's number behind.
    struct Tag {
        writer: usize,
        dropped: Arc<Mutex<Vec<usize>>>,
    }

    impl Drop for Tag {
        fn drop(&mut self) {
            self.dropped.lock().push(self.writer);
        }
    }

    /// More writers than a batch takes: every writer gets exactly its own answer (the batch
    /// answers each job with the number of the writer that queued it), no batch is larger
    /// than `MAX_BATCH`, every job is run once, and the batch after a lingering one is full;
    /// with batches whose durability is pending after their commit (the lead passes on before
    /// their sync) and with batches made durable by their commit alone.
    #[test]
    fn every_writer_gets_its_own_answer_when_batches_overflow() {
        overflowing_batches(true);
        overflowing_batches(false);
    }

    fn overflowing_batches(pending: bool) {
        const WRITERS: usize = MAX_BATCH + 200;
        let group = GroupCommit::default();
        let dropped = Arc::new(Mutex::new(Vec::new()));
        let batches = AtomicUsize::new(0);
        let jobs_run = AtomicUsize::new(0);
        let largest = AtomicUsize::new(0);
        let commit = |jobs: Vec<Job>| {
            let batch = batches.fetch_add(1, Ordering::SeqCst);
            jobs_run.fetch_add(jobs.len(), Ordering::SeqCst);
            largest.fetch_max(jobs.len(), Ordering::SeqCst);
            // The first batch lingers until every other writer has queued behind it (or, if
            // some writer never came, a deadline: the assertions then fail).
            if batch == 0 {
                let deadline = Instant::now() + Duration::from_secs(30);
                while group.state.lock().threads.len() < WRITERS && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let answers = jobs
                .into_iter()
                .map(|job| {
                    drop(job);
                    let writer = dropped.lock().pop();
                    Err(Error::Storage {
                        message: format!("{writer:?}"),
                        source: None,
                    })
                })
                .collect();
            (answers, pending.then_some(()))
        };
        std::thread::scope(|scope| {
            for writer in 0..WRITERS {
                let (group, commit, dropped) = (&group, &commit, dropped.clone());
                scope.spawn(move || {
                    let tag = Tag { writer, dropped };
                    let job: Job = Box::new(move |_| {
                        let _ = &tag;
                        Err(not_run())
                    });
                    match group.submit(job, commit, |()| Ok(())) {
                        Err(Error::Storage { message, .. }) => {
                            assert_eq!(message, format!("{:?}", Some(writer)));
                        }
                        _ => panic!("writer {writer} got an answer no batch gave"),
                    }
                });
            }
        });
        assert_eq!(jobs_run.load(Ordering::SeqCst), WRITERS);
        assert_eq!(largest.load(Ordering::SeqCst), MAX_BATCH);
        assert!(batches.load(Ordering::SeqCst) >= 3);
    }

    /// The answer a test batch gives every job: an error naming the batch.
    fn batch_answer(batch: usize) -> Result<Output> {
        Err(Error::Storage {
            message: format!("batch {batch}"),
            source: None,
        })
    }

    fn message(result: Result<Output>) -> String {
        match result {
            Err(Error::Storage { message, .. }) => message,
            Err(other) => format!("{other}"),
            Ok(_) => "ok".to_owned(),
        }
    }

    fn nothing() -> Job {
        Box::new(|_| Err(not_run()))
    }

    /// While a batch waits for its sync, the next writer leads and its batch commits and is
    /// answered; the first batch's writer gets its answer only once its own sync has ended.
    #[test]
    fn the_next_batch_runs_while_one_waits_for_its_sync() {
        let group = GroupCommit::default();
        let batches = AtomicUsize::new(0);
        let (sync_started, sync_started_rx) = std::sync::mpsc::channel::<()>();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let first_answered = std::sync::atomic::AtomicBool::new(false);
        let commit = |jobs: Vec<Job>| {
            let batch = batches.fetch_add(1, Ordering::SeqCst);
            (
                jobs.iter().map(|_| batch_answer(batch)).collect(),
                Some(batch),
            )
        };
        let durable = |batch: usize| {
            if batch == 0 {
                sync_started.send(()).expect("the test waits");
                release_rx
                    .lock()
                    .recv_timeout(Duration::from_secs(30))
                    .expect("released");
            }
            Ok(())
        };
        std::thread::scope(|scope| {
            let first = scope.spawn(|| {
                let answer = group.submit(nothing(), commit, durable);
                first_answered.store(true, Ordering::SeqCst);
                message(answer)
            });
            sync_started_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the first batch reached its sync");
            let second = scope.spawn(|| message(group.submit(nothing(), commit, durable)));
            assert_eq!(second.join().expect("second writer"), "batch 1");
            assert!(!first_answered.load(Ordering::SeqCst));
            release.send(()).expect("the first writer waits");
            assert_eq!(first.join().expect("first writer"), "batch 0");
        });
    }

    /// A failed sync answers every job of its batch with its error, not the batch's answers.
    #[test]
    fn a_failed_sync_answers_its_whole_batch() {
        let group = GroupCommit::default();
        let commit = |jobs: Vec<Job>| {
            let answers = jobs.iter().map(|_| batch_answer(0)).collect();
            (answers, Some(()))
        };
        let durable = |()| {
            Err(Error::Storage {
                message: "sync failed".to_owned(),
                source: None,
            })
        };
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| message(group.submit(nothing(), commit, durable))))
                .collect();
            for writer in writers {
                assert_eq!(writer.join().expect("writer"), "sync failed");
            }
        });
    }
}
