//! Where the store reads the time: the system clock, or one a test controls.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::Timestamp;

/// A source of the current time for `createdAt`, `updatedAt` and new ids.
///
/// The store truncates what it reads to whole seconds for the timestamps and to milliseconds
/// for ids.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use customer_store::{Clock, CustomerStore, NewCustomer, RedbStore, Timestamp};
///
/// /// A clock stopped at the start of 2030.
/// #[derive(Debug)]
/// struct Frozen;
///
/// impl Clock for Frozen {
///     fn now(&self) -> Timestamp {
///         "2030-01-01T00:00:00.999Z".parse().unwrap()
///     }
/// }
///
/// let store = RedbStore::builder().clock(Arc::new(Frozen)).in_memory()?;
/// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// assert_eq!(yaw.created_at.to_string(), "2030-01-01T00:00:00Z"); // whole seconds
/// # Ok::<(), customer_store::Error>(())
/// ```
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{Clock, ManualClock, SystemClock};
    /// let pinned = ManualClock::new("2000-01-01T00:00:00Z".parse().unwrap());
    /// assert_eq!(pinned.now().to_string(), "2000-01-01T00:00:00Z");
    /// assert!(SystemClock.now() > pinned.now());
    /// ```
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
///
/// The default clock of [`RedbStore::builder`](crate::RedbStore::builder).
///
/// # Example
///
/// ```
/// use customer_store::{Clock, CustomerStore, NewCustomer, RedbStore, SystemClock, Timestamp};
/// let before = SystemClock.now();
/// assert!(before > "2025-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
/// let store = RedbStore::in_memory()?; // stamps with the system clock
/// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// // Whole seconds, so it may read up to a second before `before`.
/// assert!(yaw.created_at.as_second() >= before.as_second());
/// assert!(yaw.created_at <= SystemClock.now());
/// # Ok::<(), customer_store::Error>(())
/// ```
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
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{Clock, ManualClock};
    /// let clock = ManualClock::new("2026-06-05T12:00:00.123456Z".parse().unwrap());
    /// assert_eq!(clock.now().to_string(), "2026-06-05T12:00:00.123Z");
    /// assert_eq!(clock.now(), clock.now()); // it does not move by itself
    /// ```
    #[must_use]
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock {
            millis: Arc::new(AtomicI64::new(floor_millis(at))),
        }
    }

    /// Moves the clock to `at`, backwards or forwards.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use customer_store::{Clock, CustomerPatch, CustomerStore, ManualClock, NewCustomer};
    /// use customer_store::RedbStore;
    /// let clock = ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap());
    /// let store = RedbStore::builder().clock(Arc::new(clock.clone())).in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// clock.set("2026-06-01T00:00:00Z".parse().unwrap());
    /// assert_eq!(clock.now().to_string(), "2026-06-01T00:00:00Z");
    /// // The store's `updatedAt` never goes backwards, even when the clock does.
    /// let yaw = store.update("acme", &yaw.id, CustomerPatch::default().set_name("Yaw M."))?;
    /// assert_eq!(yaw.updated_at.to_string(), "2026-06-05T12:00:00Z");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn set(&self, at: Timestamp) {
        self.millis.store(floor_millis(at), Ordering::SeqCst);
    }

    /// Moves the clock by `seconds` (negative steps back).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{Clock, ManualClock};
    /// let clock = ManualClock::new("2026-06-05T12:00:00Z".parse().unwrap());
    /// clock.advance_seconds(-3600);
    /// assert_eq!(clock.now().to_string(), "2026-06-05T11:00:00Z");
    /// let shared = clock.clone();
    /// shared.advance_seconds(86_400);
    /// assert_eq!(clock.now().to_string(), "2026-06-06T11:00:00Z"); // clones share the time
    /// ```
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

/// `at` in whole milliseconds since 1970, rounded down (`as_millisecond` rounds toward zero,
/// which put a time just before 1970 after it: found in review).
fn floor_millis(at: Timestamp) -> i64 {
    at.as_millisecond() - i64::from(at.subsec_nanosecond() % 1_000_000 < 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_rounds_down_before_1970_too() {
        for (at, want) in [
            ("1969-12-31T23:59:59.9995Z", "1969-12-31T23:59:59.999Z"),
            ("1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999Z"),
            ("1969-12-31T23:59:59.0001Z", "1969-12-31T23:59:59Z"),
            ("1970-01-01T00:00:00.0009Z", "1970-01-01T00:00:00Z"),
            ("2026-06-05T12:00:00.123456Z", "2026-06-05T12:00:00.123Z"),
        ] {
            let clock = ManualClock::new(at.parse().unwrap());
            assert_eq!(clock.now().to_string(), want, "new {at}");
            clock.set("2000-01-01T00:00:00Z".parse().unwrap());
            clock.set(at.parse().unwrap());
            assert_eq!(clock.now().to_string(), want, "set {at}");
        }
    }
}
