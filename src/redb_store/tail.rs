//! The email index's tail, kept in memory: for each business with a long tail, the grams of
//! the emails its waiting customers have had, so that an email-filtered page finds its
//! candidates among them without reading every waiting record.
//!
//! New customers wait outside the gram postings until a fold (see `grams`). A page filtered by
//! email reads every waiting record, so the tail must stay short (1,024 by default), and a fold
//! every 1,024 creates is most of a create's CPU. With this memory, a business's tail may grow
//! [`LONG_TAIL_FACTOR`] times longer: a filtered page takes its tail candidates from here and
//! checks each against the snapshot's record, as it does the postings' candidates.
//!
//! The memory is a superset: a write adds the grams of the email it sets (before its commit,
//! so before any snapshot holds it), and nothing is removed until a fold replaces the whole
//! list. Ids that a rolled-back write left are candidates that the record check drops. It may
//! serve a snapshot only if it holds every email of that snapshot's waiting customers:
//! - built from the newest committed snapshot (generation `g`) and the writer's open
//!   transaction, it serves snapshots of generation `g` on (older ones read the records);
//! - after a fold, it starts empty from the fold's first waiting id, and serves only snapshots
//!   taken after the fold's commit (until that lands, none);
//! - a snapshot whose first waiting id is below the memory's start (a fold in it was rolled
//!   back) reads the records.
//!
//! The memory is bounded: [`BUDGET_POSTINGS`] across businesses, and a business's list drops
//! (its tail then folds at its next write) when it passes the budget or holds more than twice
//! the ids its long tail may have (deleted or re-emailed customers stay listed). At open, and
//! after a reopen, the businesses whose tail is long get their list again from the committed
//! snapshot, within the budget.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use parking_lot::Mutex;

use super::grams;

/// How many times longer than the configured tail a business's tail may grow once its waiting
/// emails are in memory.
pub(crate) const LONG_TAIL_FACTOR: u64 = 16;

/// The most postings (id in a gram's list) the memory holds across businesses, about 8 bytes
/// each: beyond it, businesses keep the configured tail and read their waiting records.
const BUDGET_POSTINGS: usize = 4 << 20;

/// From which snapshots a business's memory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Since {
    /// Snapshots of this generation on.
    Generation(u64),
    /// None yet: a fold that is not yet committed replaced the list.
    NextCommit,
}

/// One business's waiting emails, as grams.
#[derive(Debug)]
struct Waiting {
    since: Since,
    /// The first waiting id when the list was started; ids below it are not listed.
    from: u64,
    /// Each gram's ids, in order, each once (hashed with foldhash: SipHash was most of an
    /// add, ~28 lookups per email on the writer's thread).
    grams: HashMap<u32, GramIds, RandomState>,
    postings: usize,
    /// How many emails were added since the list started.
    emails: u64,
    /// The highest id added since the list started.
    newest: u64,
    /// Whether every email added since the list started came with a new, higher id: no
    /// customer was listed twice (an email that changed). False for a list started from the
    /// stored records (whose reads may list a customer twice).
    ascending: bool,
}

/// A gram's ids, in order, each once, with the last one kept beside them: an add compares
/// the new id with it in the hash table's slot, which the lookup has just read, instead of
/// reading the list's end (a cache miss for each gram; `perf annotate` put most of an add's
/// time on that read).
#[derive(Debug, Default)]
struct GramIds {
    /// The last of `ids` (0 while there is none).
    last: u64,
    ids: Vec<u64>,
}

impl Waiting {
    /// An empty list from `from` on, whose emails will all be added one by one.
    fn empty(since: Since, from: u64) -> Waiting {
        Waiting {
            since,
            from,
            grams: HashMap::default(),
            postings: 0,
            emails: 0,
            newest: 0,
            ascending: true,
        }
    }

    fn add(&mut self, n: u64, lower_email: &str) -> usize {
        if self.emails > 0 && n <= self.newest {
            self.ascending = false;
        }
        self.newest = self.newest.max(n);
        let mut added = 0;
        for gram in grams::grams(lower_email) {
            let list = self.grams.entry(gram).or_default();
            // New customers come in id order; an older one (its email changed) is inserted
            // before the last id, which stays last.
            if !list.ids.is_empty() && list.last >= n {
                if let Err(at) = list.ids.binary_search(&n) {
                    list.ids.insert(at, n);
                    added += 1;
                }
            } else {
                list.ids.push(n);
                list.last = n;
                added += 1;
            }
        }
        self.postings += added;
        self.emails += 1;
        added
    }
}

/// About how many postings one email adds (its grams), for a budget check before the emails
/// are read.
pub(crate) const POSTINGS_PER_EMAIL: usize = 32;

/// A business's gram lists taken for a fold ([`TailMemory::take_exact`]).
pub(crate) struct Taken {
    /// Each gram with its ids, ascending, each once; the grams in no order.
    pub lists: Vec<(u32, Vec<u64>)>,
    /// The first id after the tail's customers: where the tail starts after the fold.
    pub next_start: u64,
}

/// The waiting emails of the businesses with long tails.
#[derive(Debug, Default)]
pub(crate) struct TailMemory {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    businesses: HashMap<u32, Waiting>,
    postings: usize,
    /// How many folds took their lists from here (for tests).
    #[cfg(test)]
    taken: u64,
}

impl TailMemory {
    /// Forgets everything (the store reopened its database).
    pub(crate) fn clear(&self) {
        let mut state = self.state.lock();
        state.businesses.clear();
        state.postings = 0;
    }

    /// Whether `handle`'s waiting emails are kept (its tail may then be long).
    pub(crate) fn keeps(&self, handle: u32) -> bool {
        self.state.lock().businesses.contains_key(&handle)
    }

    /// Whether about `emails` more emails fit in the budget.
    pub(crate) fn has_room(&self, emails: u64) -> bool {
        let emails = usize::try_from(emails).unwrap_or(usize::MAX);
        self.state
            .lock()
            .postings
            .saturating_add(emails.saturating_mul(POSTINGS_PER_EMAIL))
            <= BUDGET_POSTINGS
    }

    /// Starts keeping `handle`'s waiting emails, from `from` on: `emails` are every email of
    /// its waiting customers in the newest committed snapshot, of generation `generation`,
    /// and in the writer's open transaction. Returns `false` (keeping nothing) when the budget
    /// does not allow it.
    pub(crate) fn start(
        &self,
        handle: u32,
        generation: u64,
        from: u64,
        emails: &[(u64, String)],
    ) -> bool {
        let mut state = self.state.lock();
        let needed: usize = emails.iter().map(|(_, e)| e.len()).sum();
        if state.postings + needed > BUDGET_POSTINGS {
            return false;
        }
        let mut waiting = Waiting::empty(Since::Generation(generation), from);
        // Read from two snapshots, the emails may list a customer twice.
        waiting.ascending = false;
        for (n, email) in emails {
            if *n >= from {
                waiting.add(*n, email);
            }
        }
        state.postings += waiting.postings;
        if let Some(old) = state.businesses.insert(handle, waiting) {
            state.postings -= old.postings;
        }
        true
    }

    /// Adds customer `n`'s lower-cased email, set by a write not yet committed. The list drops
    /// (the business's tail then folds at its next write) when the budget is spent or it has
    /// taken more than `most_emails`.
    pub(crate) fn add(&self, handle: u32, n: u64, lower_email: &str, most_emails: u64) {
        let mut state = self.state.lock();
        let State {
            businesses,
            postings,
            ..
        } = &mut *state;
        let Some(waiting) = businesses.get_mut(&handle) else {
            return;
        };
        if n < waiting.from {
            return;
        }
        *postings += waiting.add(n, lower_email);
        if *postings > BUDGET_POSTINGS || waiting.emails > most_emails {
            *postings -= waiting.postings;
            businesses.remove(&handle);
        }
    }

    /// A fold of `handle`'s tail, not yet committed, moved the waiting customers into the
    /// postings: the list starts again, empty, from `from`, for snapshots after that commit.
    pub(crate) fn folded(&self, handle: u32, from: u64) {
        let mut state = self.state.lock();
        let State {
            businesses,
            postings,
            ..
        } = &mut *state;
        if let Some(waiting) = businesses.get_mut(&handle) {
            *postings -= waiting.postings;
            *waiting = Waiting::empty(Since::NextCommit, from);
        }
    }

    /// Stops keeping `handle`'s waiting emails: its queries read the waiting records.
    pub(crate) fn forget(&self, handle: u32) {
        let mut state = self.state.lock();
        let State {
            businesses,
            postings,
            ..
        } = &mut *state;
        if let Some(waiting) = businesses.remove(&handle) {
            *postings -= waiting.postings;
        }
    }

    /// For a fold of `handle`'s tail, which starts at `start` and holds `count` customers in
    /// the writer's transaction: the gram lists, taken out of the memory, when they hold the
    /// grams of exactly those customers' emails, and the first id after them. The memory then
    /// starts again as [`TailMemory::folded`] leaves it. `None` (nothing changed) when the
    /// lists may hold more: a fold then reads the records.
    ///
    /// The lists are exact when they were started empty at `start` (by a fold), every email
    /// since came with a higher id than the one before (no customer listed twice), and as
    /// many emails were added as the tail holds customers. Every write that stores a new
    /// customer while the memory is kept adds its email, so the tail's customers are among
    /// those added; an id added by a write that was rolled back, or of a customer deleted
    /// since, has no customer in the tail, and the counts then differ. (A rolled-back batch
    /// run again at once takes the same ids again: they are no longer ascending.)
    pub(crate) fn take_exact(&self, handle: u32, start: u64, count: u64) -> Option<Taken> {
        let mut state = self.state.lock();
        let State {
            businesses,
            postings,
            ..
        } = &mut *state;
        let waiting = businesses.get_mut(&handle)?;
        if !waiting.ascending || waiting.from != start || waiting.emails != count {
            return None;
        }
        let next_start = if count == 0 {
            start
        } else {
            waiting.newest.checked_add(1)?
        };
        *postings -= waiting.postings;
        let old = std::mem::replace(waiting, Waiting::empty(Since::NextCommit, next_start));
        #[cfg(test)]
        {
            state.taken += 1;
        }
        Some(Taken {
            lists: old
                .grams
                .into_iter()
                .map(|(g, list)| (g, list.ids))
                .collect(),
            next_start,
        })
    }

    /// How many folds took their lists from the memory.
    #[cfg(test)]
    pub(crate) fn lists_taken(&self) -> u64 {
        self.state.lock().taken
    }

    /// A commit landed (or may have) and the generation is now `generation`: lists replaced by
    /// a fold serve the snapshots from now on.
    pub(crate) fn committed(&self, generation: u64) {
        let mut state = self.state.lock();
        for waiting in state.businesses.values_mut() {
            if waiting.since == Since::NextCommit {
                waiting.since = Since::Generation(generation);
            }
        }
    }

    /// The ids from `start` on (in order, each once) that may hold an email with every one of
    /// `term_grams`, among `handle`'s customers waiting in a snapshot of `generation` whose
    /// tail starts at `tail`; `None` when the memory cannot answer for that snapshot (the
    /// records must be read).
    pub(crate) fn candidates(
        &self,
        handle: u32,
        generation: u64,
        tail: u64,
        start: u64,
        term_grams: &[u32],
    ) -> Option<Vec<u64>> {
        let state = self.state.lock();
        let waiting = state.businesses.get(&handle)?;
        match waiting.since {
            Since::Generation(since) if since <= generation && waiting.from <= tail => {}
            _ => return None,
        }
        let from = start.max(tail);
        let mut lists = Vec::with_capacity(term_grams.len());
        for gram in term_grams {
            match waiting.grams.get(gram) {
                Some(list) => lists.push(list.ids.as_slice()),
                // No waiting email has this gram.
                None => return Some(Vec::new()),
            }
        }
        // The rarest gram's ids that every other gram has too.
        lists.sort_unstable_by_key(|l| l.len());
        let (rarest, others) = lists.split_first()?;
        let first = rarest.partition_point(|&n| n < from);
        Some(
            rarest[first..]
                .iter()
                .copied()
                .filter(|n| others.iter().all(|l| l.binary_search(n).is_ok()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|&(n, e)| (n, e.to_owned())).collect()
    }

    #[test]
    fn a_list_serves_only_the_snapshots_it_is_complete_for() {
        let memory = TailMemory::default();
        let grams = grams::grams("qzvk");
        assert!(memory.start(1, 5, 10, &emails(&[(10, "a.qzvk@x.io"), (11, "b@x.io")])));
        assert!(memory.keeps(1));
        // Older than the snapshot it was built from: the records must be read.
        assert_eq!(memory.candidates(1, 4, 10, 0, &grams), None);
        assert_eq!(memory.candidates(1, 5, 10, 0, &grams), Some(vec![10]));
        // Another business has no list.
        assert_eq!(memory.candidates(2, 5, 10, 0, &grams), None);
        // A write adds its email before it commits; an email that changes is listed again.
        memory.add(1, 12, "c.qzvk@x.io", 100);
        memory.add(1, 10, "a.qzvk.again@x.io", 100);
        assert_eq!(memory.candidates(1, 5, 10, 0, &grams), Some(vec![10, 12]));
        assert_eq!(memory.candidates(1, 5, 10, 11, &grams), Some(vec![12]));
        // A gram no waiting email has: no candidate at all.
        assert_eq!(
            memory.candidates(1, 5, 10, 0, &grams::grams("zzz")),
            Some(vec![])
        );

        // A fold (not yet committed) starts the list again: no snapshot may use it.
        memory.folded(1, 13);
        assert_eq!(memory.candidates(1, 5, 10, 0, &grams), None);
        assert_eq!(memory.candidates(1, 9, 13, 0, &grams), None);
        memory.add(1, 13, "d.qzvk@x.io", 100);
        memory.committed(7);
        // Snapshots before the fold's commit read their records; those after use the list.
        assert_eq!(memory.candidates(1, 6, 13, 0, &grams), None);
        assert_eq!(memory.candidates(1, 7, 13, 0, &grams), Some(vec![13]));
        // A snapshot whose tail starts before the list (the fold did not land) reads records.
        assert_eq!(memory.candidates(1, 8, 10, 0, &grams), None);
        memory.clear();
        assert!(!memory.keeps(1));
    }

    /// The ids of `gram`'s list in lists taken for a fold.
    fn ids_of(taken: &Taken, email_gram: &str) -> Vec<u64> {
        let gram = grams::grams(email_gram)[0];
        let found = taken.lists.iter().find(|(g, _)| *g == gram);
        found.map(|(_, ids)| ids.clone()).unwrap_or_default()
    }

    #[test]
    fn a_fold_takes_the_lists_only_when_they_hold_exactly_the_tail() {
        let memory = TailMemory::default();
        // Started from stored records (which may list a customer twice): never taken.
        assert!(memory.start(1, 0, 10, &emails(&[(10, "abc@x.io"), (10, "abc@x.io")])));
        assert!(memory.take_exact(1, 10, 1).is_none());
        assert!(memory.take_exact(1, 10, 2).is_none());
        // A fold through the records starts it again, empty: the emails added from then on
        // in id order are exactly the tail when the counts agree.
        memory.folded(1, 11);
        memory.add(1, 11, "abc@x.io", 100);
        memory.add(1, 14, "abd@x.io", 100);
        assert!(memory.take_exact(1, 10, 2).is_none(), "another start");
        assert!(
            memory.take_exact(1, 11, 3).is_none(),
            "a customer not added"
        );
        assert!(
            memory.take_exact(1, 11, 1).is_none(),
            "a rolled-back or deleted one"
        );
        assert!(memory.take_exact(2, 11, 2).is_none(), "another business");
        let taken = memory.take_exact(1, 11, 2).expect("exact");
        assert_eq!(taken.next_start, 15);
        assert_eq!(ids_of(&taken, "abc"), vec![11]);
        assert_eq!(ids_of(&taken, "x.i"), vec![11, 14]);
        // Taken, the memory starts again from the next id and serves no snapshot until the
        // fold commits, as after `folded`.
        assert!(memory.keeps(1));
        assert_eq!(memory.candidates(1, 9, 15, 0, &grams::grams("abc")), None);
        memory.committed(10);
        assert_eq!(
            memory.candidates(1, 10, 15, 0, &grams::grams("abc")),
            Some(vec![])
        );
        // An empty tail is taken as it is.
        let empty = memory.take_exact(1, 15, 0).expect("exact");
        assert_eq!((empty.next_start, empty.lists.len()), (15, 0));
        // An email that changed lists its customer twice: never taken again until a fold
        // through the records.
        memory.add(1, 15, "abe@x.io", 100);
        memory.add(1, 16, "abf@x.io", 100);
        memory.add(1, 15, "zzz@x.io", 100);
        assert!(memory.take_exact(1, 15, 2).is_none());
        assert!(memory.take_exact(1, 15, 3).is_none());
        memory.folded(1, 17);
        memory.add(1, 17, "abg@x.io", 100);
        assert_eq!(memory.take_exact(1, 17, 1).expect("exact").next_start, 18);
        // The budget counts nothing for lists taken.
        assert!(memory.has_room((BUDGET_POSTINGS / POSTINGS_PER_EMAIL) as u64));
    }

    #[test]
    fn the_budget_bounds_the_lists() {
        let memory = TailMemory::default();
        let long = "x".repeat(BUDGET_POSTINGS + 1);
        assert!(!memory.start(1, 0, 0, &emails(&[(0, &long)])));
        assert!(!memory.keeps(1));
        assert!(memory.start(1, 0, 0, &emails(&[(0, "a@x.io")])));
        assert!(memory.has_room(1));
        assert!(!memory.has_room(u64::MAX));
        // A list that takes more emails than its tail may hold drops.
        memory.add(1, 1, "b@x.io", 2);
        assert!(memory.keeps(1));
        memory.add(1, 2, "c@x.io", 2);
        assert!(!memory.keeps(1));
    }
}
