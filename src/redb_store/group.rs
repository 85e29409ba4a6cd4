//! Group commit: concurrent writes share one write transaction and one fsync.
//!
//! A writer queues its job and waits. If no batch is being committed, the writer becomes the
//! leader: it takes every queued job, runs them in order in one transaction, commits once and
//! hands each job its own result. Writers that queued meanwhile form the next batch. A single
//! writer therefore commits alone, as before; sixteen writers share fsyncs.
//!
//! Each job checks all of its rules before its first write, so a job that fails (validation,
//! conflict, not found) has written nothing and the others in the batch commit unharmed. A
//! storage or corruption error inside the transaction fails the whole batch, since the
//! transaction can no longer be trusted; no job of such a batch is reported `Ok`.

use std::collections::HashMap;

use parking_lot::{Condvar, Mutex};

use crate::model::Customer;
use crate::{Error, Result};

use super::ops::WriteTables;

/// What a job returns.
pub(crate) enum Output {
    /// One record that the job wrote.
    Written(Customer),
    /// Records that the job wrote.
    WrittenMany(Vec<Customer>),
    /// A record returned without any write (a patch that changes nothing).
    Unchanged(Customer),
}

impl Output {
    fn wrote(&self) -> bool {
        !matches!(self, Output::Unchanged(_))
    }
}

/// One write, run inside the batch's transaction.
pub(crate) type Job = Box<dyn FnOnce(&mut WriteTables<'_>) -> Result<Output> + Send>;

/// The most jobs one transaction takes; later ones wait for the next batch.
const MAX_BATCH: usize = 512;

#[derive(Default)]
struct State {
    queue: Vec<(u64, Job)>,
    leading: bool,
    next_ticket: u64,
    results: HashMap<u64, Result<Output>>,
}

/// The queue of writes waiting for a commit.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    finished: Condvar,
}

/// Whether an error means the transaction itself failed (and so every write in it).
fn poisons_batch(error: &Error) -> bool {
    matches!(error, Error::Storage { .. } | Error::Corrupt(_))
}

/// Runs `jobs` in one transaction through `in_transaction`, which opens the transaction, runs
/// the closure it is given on the tables, and commits when that closure asks it to.
///
/// Returns one result per job, in order.
pub(crate) fn run_batch(
    jobs: Vec<Job>,
    in_transaction: impl FnOnce(&mut dyn FnMut(&mut WriteTables<'_>) -> Result<bool>) -> Result<()>,
) -> Vec<Result<Output>> {
    let count = jobs.len();
    let mut results: Vec<Result<Output>> = Vec::with_capacity(count);
    let mut jobs = Some(jobs);
    let mut body = |tables: &mut WriteTables<'_>| -> Result<bool> {
        for job in jobs.take().into_iter().flatten() {
            let result = job(tables);
            if let Err(error) = &result
                && poisons_batch(error)
            {
                return Err(error.clone());
            }
            results.push(result);
        }
        Ok(results.iter().any(|r| r.as_ref().is_ok_and(Output::wrote)))
    };
    match in_transaction(&mut body) {
        Ok(()) => results,
        Err(error) => {
            // The transaction failed: keep each job's own refusal, fail every other job.
            let mut all: Vec<Result<Output>> = results
                .into_iter()
                .map(|r| match r {
                    Ok(_) => Err(error.clone()),
                    refused => refused,
                })
                .collect();
            all.resize_with(count, || Err(error.clone()));
            all
        }
    }
}

impl GroupCommit {
    /// Queues `job` and returns its result once the batch that holds it has committed.
    ///
    /// `commit` runs a batch; it is called on whichever waiting thread leads.
    pub(crate) fn submit(
        &self,
        job: Job,
        commit: impl Fn(Vec<Job>) -> Vec<Result<Output>>,
    ) -> Result<Output> {
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.queue.push((ticket, job));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result;
            }
            if state.leading {
                self.finished.wait(&mut state);
                continue;
            }
            state.leading = true;
            let take = state.queue.len().min(MAX_BATCH);
            let batch: Vec<(u64, Job)> = state.queue.drain(..take).collect();
            drop(state);

            let (tickets, jobs): (Vec<u64>, Vec<Job>) = batch.into_iter().unzip();
            let mut results = commit(jobs);
            // A batch always answers every job; pad defensively so no waiter hangs.
            results.resize_with(tickets.len(), || {
                Err(Error::Storage {
                    message: "the write was not run".to_owned(),
                    source: None,
                })
            });

            state = self.state.lock();
            state.results.extend(tickets.into_iter().zip(results));
            state.leading = false;
            self.finished.notify_all();
        }
    }
}
