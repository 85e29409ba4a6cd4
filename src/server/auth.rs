//! HTTP Basic credentials and the throttle on failed authentication.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use parking_lot::Mutex;

use super::error::ApiError;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthThrottle {
    /// Failed attempts within [`AuthThrottle::window`] that lock the address out: the one that
    /// reaches it is still answered 401, every request after it 429.
    pub max_failures: u32,
    /// The period over which failures are counted.
    pub window: Duration,
    /// How long a locked-out address is answered 429 (even with good credentials).
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

struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

/// Failed authentications per address (an IPv6 address counts by its /64 prefix).
pub(crate) struct FailureLimiter {
    policy: AuthThrottle,
    entries: Mutex<Entries>,
}

struct Entries {
    by_address: HashMap<IpAddr, Entry>,
    last_sweep: Instant,
}

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;
/// The shortest time between two sweeps: a flood of failures from ever new addresses must not
/// turn every failure into a walk over the whole table under the lock.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// The most addresses tracked at once; past it, failures from new addresses are not tracked
/// (memory stays bounded under a flood from ever new addresses).
const MAX_TRACKED: usize = 100_000;

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

impl FailureLimiter {
    pub(crate) fn new(policy: AuthThrottle) -> FailureLimiter {
        FailureLimiter {
            policy,
            entries: Mutex::new(Entries {
                by_address: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }

    /// `Err(seconds to wait)` while `ip` is locked out.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let entries = self.entries.lock();
        match entries
            .by_address
            .get(&key(ip))
            .and_then(|e| e.locked_until)
        {
            Some(until) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Ok(())
                } else {
                    // Rounded up: never tell a caller to retry before the lockout ends.
                    Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
                }
            }
            None => Ok(()),
        }
    }

    /// Records a failed authentication from `ip`.
    pub(crate) fn fail(&self, ip: IpAddr) {
        let now = Instant::now();
        let policy = self.policy;
        let mut entries = self.entries.lock();
        if entries.by_address.len() >= SWEEP_AT
            && now.duration_since(entries.last_sweep) >= SWEEP_EVERY
        {
            entries.by_address.retain(|_, e| {
                e.locked_until.is_some_and(|until| until > now)
                    || now.duration_since(e.window_start) < policy.window
            });
            entries.last_sweep = now;
        }
        let address = key(ip);
        if entries.by_address.len() >= MAX_TRACKED && !entries.by_address.contains_key(&address) {
            return;
        }
        let entry = entries.by_address.entry(address).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if entry.locked_until.is_some_and(|until| until <= now) {
            entry.locked_until = None;
        }
        if now.duration_since(entry.window_start) >= policy.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= policy.max_failures {
            entry.locked_until = Some(now + policy.lockout);
            entry.failures = 0;
            entry.window_start = now;
        }
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
        limiter.fail(ip);
        assert!(limiter.check(ip).is_ok());
        // The second failure locks the address out (found in a trial: it took a third).
        limiter.fail(ip);
        assert!(matches!(limiter.check(ip), Err(30)));
        assert!(limiter.check(other).is_ok());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        assert_eq!(key(a), key(b));
    }
}
