//! Where the store reads the time: the system clock, or one a test controls.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// A source of the current time for `createdAt`, `updatedAt` and new ids.
///
/// The store truncates what it reads to whole seconds for the timestamps and to milliseconds
/// for ids.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that shows a set time until told otherwise; for tests and imports.
///
/// # Example
///
/// ```
/// use customer_store::{Clock, ManualClock};
/// let clock = ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap());
/// clock.advance_seconds(60);
/// assert_eq!(clock.now().to_string(), "2026-06-05T12:01:00Z");
/// ```
///
/// Clones share the time: a clone given to a store moves when the original is moved.
///
/// ```
/// use std::sync::Arc;
/// use customer_store::{Clock, ManualClock, NewCustomer, RedbStore, CustomerStore};
/// let clock = ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap());
/// let store = RedbStore::builder().clock(Arc::new(clock.clone())).in_memory()?;
/// clock.advance_seconds(3600);
/// let created = store.create("acme", NewCustomer::new("ana@x.io", "Ana"))?;
/// assert_eq!(created.created_at.to_string(), "2026-06-05T13:00:00Z");
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `at` (to the millisecond).
    #[must_use]
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock {
            millis: Arc::new(AtomicI64::new(at.as_millisecond())),
        }
    }

    /// Moves the clock to `at`, backwards or forwards.
    pub fn set(&self, at: Timestamp) {
        self.millis.store(at.as_millisecond(), Ordering::SeqCst);
    }

    /// Moves the clock by `seconds` (negative steps back).
    pub fn advance_seconds(&self, seconds: i64) {
        self.millis
            .fetch_add(seconds.saturating_mul(1000), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let millis = self.millis.load(Ordering::SeqCst);
        Timestamp::from_millisecond(millis).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}
