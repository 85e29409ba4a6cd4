//! HTTP Basic credentials and the throttle on failed authentication.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::RwLock;

use super::error::ApiError;
use crate::redb_store::CLIENT_ID_MAX;

/// A client id and secret taken from an `Authorization: Basic` header.
pub(crate) struct Credentials {
    pub(crate) client_id: String,
    pub(crate) secret: String,
}

/// Why a request carries no usable credentials.
pub(crate) enum BadCredentials {
    /// No `Authorization` header: not counted as a failed attempt.
    Missing,
    /// A header that is not `Basic base64(id:secret)`: counted as a failed attempt.
    Malformed(&'static str),
}

impl BadCredentials {
    pub(crate) fn into_error(self) -> ApiError {
        match self {
            BadCredentials::Missing => ApiError::unauthorized(
                "authentication required: HTTP Basic with clientId:clientSecret",
            ),
            BadCredentials::Malformed(why) => ApiError::unauthorized(why),
        }
    }
}

/// Reads `Authorization: Basic base64(clientId:clientSecret)`.
pub(crate) fn parse_basic(header: Option<&HeaderValue>) -> Result<Credentials, BadCredentials> {
    let Some(header) = header else {
        return Err(BadCredentials::Missing);
    };
    let malformed = BadCredentials::Malformed;
    let text = header
        .to_str()
        .map_err(|_| malformed("malformed Authorization header"))?;
    let (scheme, encoded) = text.trim().split_once(' ').ok_or(malformed(
        "malformed Authorization header: expected Basic credentials",
    ))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed(
            "unsupported authentication scheme: use HTTP Basic",
        ));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("malformed Basic credentials: not base64"))?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| malformed("malformed Basic credentials: not UTF-8"))?;
    let (client_id, secret) = decoded.split_once(':').ok_or(malformed(
        "malformed Basic credentials: expected clientId:clientSecret",
    ))?;
    Ok(Credentials {
        client_id: client_id.to_owned(),
        secret: secret.to_owned(),
    })
}

/// How many failed authentications one address may make before it is refused for a while.
///
/// A locked-out address is refused (429) except for the clients that authenticated from it
/// within the last hour (the 256 most recent per address, 1,024 addresses per client,
/// 100,000 pairs in all, kept in memory only): behind a proxy every caller shares one
/// address, and a stranger's bad guesses must not refuse every merchant there. Such a
/// client's failures from the address are counted apart, not for the address, and refuse it
/// at the same limit, so guessing its secret is throttled all the same.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use customer_store::RedbStore;
/// use customer_store::server::{AuthThrottle, ServerConfig, router};
/// use tower::ServiceExt;
///
/// let auth_throttle = AuthThrottle {
///     max_failures: 2,
///     window: Duration::from_secs(60),
///     lockout: Duration::from_secs(30),
/// };
/// let config = ServerConfig { auth_throttle, ..ServerConfig::default() };
/// // Without the server's peer addresses, every caller of the router is one address.
/// let app = router(RedbStore::in_memory()?, &config);
/// let bad = || {
///     let request = Request::get("/v1/customers").header("authorization", "Bearer x");
///     request.body(Body::empty())
/// };
/// let runtime = tokio::runtime::Runtime::new()?;
/// runtime.block_on(async {
///     // The failure that reaches the limit is still answered 401; the next is refused.
///     assert_eq!(app.clone().oneshot(bad()?).await?.status(), StatusCode::UNAUTHORIZED);
///     assert_eq!(app.clone().oneshot(bad()?).await?.status(), StatusCode::UNAUTHORIZED);
///     let locked = app.clone().oneshot(bad()?).await?;
///     assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
///     assert_eq!(locked.headers()["retry-after"], "30");
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// assert_eq!(AuthThrottle::default().max_failures, 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthThrottle {
    /// Failed attempts within [`AuthThrottle::window`] that lock the address (or, counting a
    /// client's own, that client at the address) out: the one that reaches it is still
    /// answered 401, every request after it 429.
    pub max_failures: u32,
    /// The period over which failures are counted.
    pub window: Duration,
    /// How long a locked-out address is answered 429 (good credentials included, but for the
    /// clients it knows). Held to a century: `Duration::MAX` locks out for good.
    pub lockout: Duration,
}

impl Default for AuthThrottle {
    /// 10 failures a minute, then one minute of 429.
    fn default() -> Self {
        AuthThrottle {
            max_failures: 10,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        }
    }
}

/// The longest lockout kept: [`AuthThrottle::lockout`] is held to it.
const LONGEST_LOCKOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Failures counted over a window, and the lockout they led to.
#[derive(Clone, Copy)]
struct Count {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

impl Count {
    fn new(now: Instant) -> Count {
        Count {
            window_start: now,
            failures: 0,
            locked_until: None,
        }
    }

    /// The seconds left of the lockout at `now`, rounded up (never tell a caller to retry
    /// before it ends), if there is one.
    fn locked(&self, now: Instant) -> Option<u64> {
        let left = self.locked_until?.saturating_duration_since(now);
        (!left.is_zero()).then(|| left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Counts one failure, locking out at the policy's limit.
    fn fail(&mut self, now: Instant, policy: &AuthThrottle) {
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
        }
        if now.duration_since(self.window_start) >= policy.window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.failures >= policy.max_failures {
            // A lockout past what an `Instant` can hold (`Duration::MAX` for "for good") is
            // held to a century rather than overflow (found in review: it panicked the handler).
            self.locked_until = now
                .checked_add(policy.lockout.min(LONGEST_LOCKOUT))
                .or(self.locked_until);
            self.failures = 0;
            self.window_start = now;
        }
    }

    /// Whether the count still matters at `now` (locked, or within its window).
    fn live(&self, now: Instant, policy: &AuthThrottle) -> bool {
        self.locked(now).is_some() || now.duration_since(self.window_start) < policy.window
    }
}

/// What the throttle keeps of one address that failed to authenticate.
struct Failed {
    /// The failures from the address that named no client it knows.
    all: Count,
    /// The failures naming each client the address knows, apart (a stranger cannot grow this
    /// table: a client enters [`Entries::known`] only with a good secret).
    clients: HashMap<String, Count>,
}

impl Failed {
    fn live(&self, now: Instant, policy: &AuthThrottle) -> bool {
        self.all.live(now, policy) || self.clients.values().any(|c| c.live(now, policy))
    }
}

/// Failed authentications per address (an IPv6 address counts by its /64 prefix), and the
/// clients known to have authenticated from each.
pub(crate) struct FailureLimiter {
    policy: AuthThrottle,
    entries: RwLock<Entries>,
}

struct Entries {
    failed: HashMap<IpAddr, Failed>,
    last_sweep: Instant,
    /// Per address, the clients that authenticated from it and when they last did.
    known: HashMap<IpAddr, HashMap<String, Instant>>,
    /// How many clients `known` holds in all.
    known_total: usize,
    /// At how many addresses each client of `known` is remembered.
    addresses_of: HashMap<String, usize>,
    last_known_sweep: Instant,
}

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;
/// The shortest time between two sweeps: a flood of failures from ever new addresses must not
/// turn every failure into a walk over the whole table under the lock.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The most addresses tracked at once; past it, failures from new addresses are not tracked
/// (memory stays bounded under a flood from ever new addresses).
const MAX_TRACKED: usize = 100_000;
/// The most (address, client) pairs known at once; past it (after a sweep of the stale ones),
/// a new pair is not remembered.
const MAX_KNOWN: usize = 100_000;
/// The most clients remembered for one address (the least recent is forgotten first).
const KNOWN_PER_ADDRESS: usize = 256;
/// How long a client that authenticated from an address stays known there (from its last
/// success, as renewed: see [`RENEW_AFTER`]).
const KNOWN_FOR: Duration = Duration::from_secs(3600);
/// How old a known client's time must be before a success renews it (so a client stays known
/// 59 to 60 minutes after its last success).
const RENEW_AFTER: Duration = Duration::from_secs(60);
/// The most addresses one client is remembered at: one secret must not fill the table of
/// known clients and keep every other client out of it.
const ADDRESSES_PER_CLIENT: usize = 1024;

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl Entries {
    /// Whether `client` authenticated from `address` within [`KNOWN_FOR`].
    fn knows(&self, address: &IpAddr, client: &str, now: Instant) -> bool {
        self.known
            .get(address)
            .and_then(|clients| clients.get(client))
            .is_some_and(|&at| now.duration_since(at) < KNOWN_FOR)
    }
}

impl FailureLimiter {
    pub(crate) fn new(policy: AuthThrottle) -> FailureLimiter {
        let now = Instant::now();
        FailureLimiter {
            policy,
            entries: RwLock::new(Entries {
                failed: HashMap::new(),
                last_sweep: now,
                known: HashMap::new(),
                known_total: 0,
                addresses_of: HashMap::new(),
                last_known_sweep: now,
            }),
        }
    }

    /// `Err(seconds to wait)` while a request from `ip` naming `client` (the id of its
    /// credentials, if they are well-formed) is locked out: a client the address knows only
    /// once its own failures there reach the limit; any other request while the address is.
    pub(crate) fn check(&self, ip: IpAddr, client: Option<&str>) -> Result<(), u64> {
        let now = Instant::now();
        let address = key(ip);
        let entries = self.entries.read();
        let Some(failed) = entries.failed.get(&address) else {
            return Ok(());
        };
        let count = match client.filter(|id| id.len() <= CLIENT_ID_MAX) {
            Some(id) if entries.knows(&address, id, now) => failed.clients.get(id),
            _ => Some(&failed.all),
        };
        count
            .and_then(|count| count.locked(now))
            .map_or(Ok(()), Err)
    }

    /// Records a failed authentication from `ip`, naming `client` when its credentials were
    /// well-formed: a client the address knows has its own count, any other failure counts
    /// for the address.
    pub(crate) fn fail(&self, ip: IpAddr, client: Option<&str>) {
        let now = Instant::now();
        let policy = self.policy;
        let address = key(ip);
        let mut entries = self.entries.write();
        if entries.failed.len() >= SWEEP_AT && now.duration_since(entries.last_sweep) >= SWEEP_EVERY
        {
            entries.failed.retain(|_, failed| {
                failed.clients.retain(|_, count| count.live(now, &policy));
                failed.live(now, &policy)
            });
            entries.last_sweep = now;
        }
        if entries.failed.len() >= MAX_TRACKED && !entries.failed.contains_key(&address) {
            return;
        }
        let known = client
            .filter(|id| id.len() <= CLIENT_ID_MAX && entries.knows(&address, id, now))
            .map(str::to_owned);
        let failed = entries.failed.entry(address).or_insert_with(|| Failed {
            all: Count::new(now),
            clients: HashMap::new(),
        });
        match known {
            Some(id) => failed
                .clients
                .entry(id)
                .or_insert_with(|| Count::new(now))
                .fail(now, &policy),
            None => failed.all.fail(now, &policy),
        }
    }

    /// Records that `client` (the store's id of a client whose secret was good) authenticated
    /// from `ip`: it then passes the address's lockout, for [`KNOWN_FOR`].
    pub(crate) fn succeed(&self, ip: IpAddr, client: &str) {
        let now = Instant::now();
        let address = key(ip);
        // Most successes come from a client known there a moment ago: a shared lock sees it,
        // and the time is renewed (under the exclusive lock) at most once a minute.
        let recent = self
            .entries
            .read()
            .known
            .get(&address)
            .and_then(|clients| clients.get(client))
            .is_some_and(|&at| now.saturating_duration_since(at) < RENEW_AFTER);
        if recent {
            return;
        }
        let mut entries = self.entries.write();
        if let Some(at) = entries
            .known
            .get_mut(&address)
            .and_then(|clients| clients.get_mut(client))
        {
            *at = now;
            return;
        }
        // A full address replaces its least recent client, which the global cap allows.
        let full_address = entries
            .known
            .get(&address)
            .is_some_and(|clients| clients.len() >= KNOWN_PER_ADDRESS);
        if !full_address
            && entries.known_total >= MAX_KNOWN
            && now.duration_since(entries.last_known_sweep) >= SWEEP_EVERY
        {
            entries.known.retain(|_, clients| {
                clients.retain(|_, at| now.duration_since(*at) < KNOWN_FOR);
                !clients.is_empty()
            });
            entries.known_total = entries.known.values().map(HashMap::len).sum();
            let mut addresses_of: HashMap<String, usize> = HashMap::new();
            for id in entries.known.values().flat_map(HashMap::keys) {
                *addresses_of.entry(id.clone()).or_default() += 1;
            }
            entries.addresses_of = addresses_of;
            entries.last_known_sweep = now;
        }
        if (!full_address && entries.known_total >= MAX_KNOWN)
            || entries
                .addresses_of
                .get(client)
                .is_some_and(|&n| n >= ADDRESSES_PER_CLIENT)
        {
            return;
        }
        let Entries {
            known,
            known_total,
            addresses_of,
            ..
        } = &mut *entries;
        let clients = known.entry(address).or_default();
        if full_address {
            let least_recent = clients
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, _)| id.clone());
            if let Some(id) = least_recent {
                clients.remove(&id);
                if let Some(n) = addresses_of.get_mut(&id) {
                    *n -= 1;
                    if *n == 0 {
                        addresses_of.remove(&id);
                    }
                }
            }
        } else {
            *known_total += 1;
        }
        clients.insert(client.to_owned(), now);
        *addresses_of.entry(client.to_owned()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn basic_credentials() {
        let ok = parse_basic(Some(&header("Basic Y2lfMTpjc186Mg==")))
            .ok()
            .unwrap();
        assert_eq!(
            (ok.client_id.as_str(), ok.secret.as_str()),
            ("ci_1", "cs_:2")
        );
        assert!(matches!(parse_basic(None), Err(BadCredentials::Missing)));
        for bad in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            "Basic Y2lfMQ==",
            "Basic /w==",
        ] {
            assert!(
                matches!(
                    parse_basic(Some(&header(bad))),
                    Err(BadCredentials::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn lockout_after_too_many_failures() {
        let limiter = FailureLimiter::new(AuthThrottle {
            max_failures: 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        limiter.fail(ip, None);
        assert!(limiter.check(ip, None).is_ok());
        // The second failure locks the address out (found in a trial: it took a third).
        limiter.fail(ip, None);
        assert!(matches!(limiter.check(ip, None), Err(30)));
        assert!(matches!(limiter.check(ip, Some("ci_a")), Err(30)));
        assert!(limiter.check(other, None).is_ok());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(key(a), key(b));
    }

    /// A lockout too long for an `Instant` (`Duration::MAX`, "for good") locks out for a
    /// century instead of panicking (found in review).
    #[test]
    fn a_lockout_for_good_locks_out() {
        let limiter = FailureLimiter::new(AuthThrottle {
            max_failures: 1,
            window: Duration::MAX,
            lockout: Duration::MAX,
        });
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.fail(ip, None);
        limiter.fail(ip, None);
        match limiter.check(ip, None) {
            Err(secs) => assert!(secs > 99 * 365 * 24 * 3600, "{secs}"),
            Ok(()) => panic!("not locked out"),
        }
    }

    /// Behind a proxy: a client that authenticated from an address passes its lockout, until
    /// its own failures there (counted apart) reach the limit; others are refused.
    #[test]
    fn known_clients_pass_the_address_lockout() {
        let limiter = FailureLimiter::new(AuthThrottle {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        });
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.succeed(proxy, "ci_merchant");
        limiter.fail(proxy, Some("ci_stranger"));
        limiter.fail(proxy, None);
        limiter.fail(proxy, Some("ci_other"));
        // Three failures from the address: locked, but for the merchant it knows.
        for refused in [None, Some("ci_stranger"), Some("ci_unseen")] {
            assert!(
                matches!(limiter.check(proxy, refused), Err(30)),
                "{refused:?}"
            );
        }
        assert!(limiter.check(proxy, Some("ci_merchant")).is_ok());
        // Guessing the merchant's secret is throttled all the same.
        for _ in 0..2 {
            limiter.fail(proxy, Some("ci_merchant"));
            assert!(limiter.check(proxy, Some("ci_merchant")).is_ok());
        }
        limiter.fail(proxy, Some("ci_merchant"));
        assert!(matches!(limiter.check(proxy, Some("ci_merchant")), Err(30)));
        // An id longer than any client's is never looked up: the address's lockout applies.
        let long = "c".repeat(CLIENT_ID_MAX + 1);
        assert!(matches!(limiter.check(proxy, Some(&long)), Err(30)));
        // Another address knows nothing of the merchant.
        let elsewhere: IpAddr = "10.0.0.9".parse().unwrap();
        assert!(limiter.check(elsewhere, Some("ci_merchant")).is_ok());
        for _ in 0..3 {
            limiter.fail(elsewhere, Some("ci_merchant"));
        }
        assert!(matches!(
            limiter.check(elsewhere, Some("ci_merchant")),
            Err(30)
        ));
        assert!(matches!(limiter.check(elsewhere, None), Err(30)));

        // A known client's failures count for it alone: they do not lock its address out.
        let fresh: IpAddr = "10.0.0.3".parse().unwrap();
        limiter.succeed(fresh, "ci_merchant");
        for _ in 0..3 {
            limiter.fail(fresh, Some("ci_merchant"));
        }
        assert!(matches!(limiter.check(fresh, Some("ci_merchant")), Err(30)));
        assert!(limiter.check(fresh, None).is_ok());
        // A failure naming an over-long id counts for the address.
        let other: IpAddr = "10.0.0.4".parse().unwrap();
        for _ in 0..3 {
            limiter.fail(other, Some(&long));
        }
        assert!(matches!(limiter.check(other, None), Err(30)));
    }

    /// The table of known clients stays bounded: an address keeps its most recent clients, and
    /// one client is remembered at a bounded number of addresses.
    #[test]
    fn known_clients_are_bounded() {
        let limiter = FailureLimiter::new(AuthThrottle {
            max_failures: 1,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        });
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..=KNOWN_PER_ADDRESS {
            limiter.succeed(proxy, &format!("ci_{i}"));
        }
        limiter.fail(proxy, None);
        assert!(matches!(limiter.check(proxy, Some("ci_0")), Err(30)));
        assert!(limiter.check(proxy, Some("ci_1")).is_ok());
        assert!(
            limiter
                .check(proxy, Some(&format!("ci_{KNOWN_PER_ADDRESS}")))
                .is_ok()
        );
        {
            let entries = limiter.entries.read();
            assert_eq!(entries.known_total, KNOWN_PER_ADDRESS);
            assert_eq!(entries.addresses_of.len(), KNOWN_PER_ADDRESS);
            assert!(!entries.addresses_of.contains_key("ci_0"));
        }
        // One secret from ever new addresses: remembered at ADDRESSES_PER_CLIENT of them.
        let address = |i: usize| IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
        for i in 0..=ADDRESSES_PER_CLIENT {
            limiter.succeed(address(i), "ci_roaming");
        }
        let last = address(ADDRESSES_PER_CLIENT);
        limiter.fail(last, None);
        assert!(matches!(limiter.check(last, Some("ci_roaming")), Err(30)));
        limiter.fail(address(0), None);
        assert!(limiter.check(address(0), Some("ci_roaming")).is_ok());
        let entries = limiter.entries.read();
        assert_eq!(entries.addresses_of["ci_roaming"], ADDRESSES_PER_CLIENT);
        assert_eq!(
            entries.known_total,
            KNOWN_PER_ADDRESS + ADDRESSES_PER_CLIENT
        );
    }
}
