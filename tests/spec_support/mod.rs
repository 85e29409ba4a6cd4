//! Helpers shared by the `spec_*` integration tests, which check the store against SPEC §2.
//!
//! Each test file compiles its own copy of this module and uses only some of the helpers.
#![allow(
    dead_code,
    reason = "each spec_* test binary uses a different subset of the helpers"
)]

use std::fmt::{self, Debug};
use std::sync::Arc;

use customer_store::{
    Customer, CustomerStore, Error, ListQuery, ManualClock, RedbStore, VerifyReport,
};
use jiff::Timestamp;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The error type of the tests: anything, so that `?` works on every call.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// The time of the seed's samples (`createdAt` of its customer).
pub const SEED_CREATED_AT: &str = "2026-06-05T12:00:00Z";

/// The time of the seed's update sample (`updatedAt` after the PATCH).
pub const SEED_UPDATED_AT: &str = "2026-06-06T15:00:00Z";

/// The seed's sample customer id.
pub const SEED_ID: &str = "cust_cl8z2lh820000a";

/// The eleven fields of a customer, in the seed's order.
pub const CUSTOMER_FIELDS: [&str; 11] = [
    "id",
    "externalId",
    "email",
    "name",
    "phone",
    "description",
    "metadata",
    "status",
    "currency",
    "createdAt",
    "updatedAt",
];

/// Parses an RFC 3339 timestamp.
pub fn at(text: &str) -> TestResult<Timestamp> {
    Ok(text.parse()?)
}

/// An in-memory store whose clock shows `time` until the test moves it.
pub fn pinned_store(time: &str) -> TestResult<(RedbStore, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(at(time)?));
    let store = RedbStore::builder().clock(clock.clone()).in_memory()?;
    Ok((store, clock))
}

/// Whether `id` has the shape SPEC §2 gives ids: `cust_` + 14 characters of `0-9a-z`.
pub fn is_customer_id(id: &str) -> bool {
    id.strip_prefix("cust_").is_some_and(|rest| {
        rest.len() == 14
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

/// Unwraps the error of `result`, checking its code.
#[track_caller]
pub fn expect_code<T: Debug>(result: Result<T, Error>, code: &str) -> Error {
    match result {
        Ok(value) => panic!("expected a {code} error, got Ok({value:?})"),
        Err(error) => {
            assert_eq!(error.code(), code, "unexpected error: {error:?}");
            error
        }
    }
}

/// Checks that `result` is an `invalid_request` naming `field` (its JSON name).
#[track_caller]
pub fn expect_invalid<T: Debug>(result: Result<T, Error>, field: &str) -> Error {
    let error = expect_code(result, "invalid_request");
    assert!(
        matches!(item_error(&error), Error::InvalidRequest { field: f, .. } if f == field),
        "expected invalid_request naming {field}, got {error:?}"
    );
    assert_eq!(error.field(), Some(field));
    assert!(error.is_invalid_input());
    error
}

/// The error of the item for a batch error, else the error itself.
pub fn item_error(error: &Error) -> &Error {
    match error {
        Error::Batch { source, .. } => item_error(source),
        other => other,
    }
}

/// Every customer of `business`, walking the pages with the largest limit.
pub fn all_customers(store: &dyn CustomerStore, business: &str) -> TestResult<Vec<Customer>> {
    all_matching(store, business, ListQuery::default())
}

/// Every customer of `business` that `query`'s filters match, walking its pages with the
/// largest limit.
pub fn all_matching(
    store: &dyn CustomerStore,
    business: &str,
    mut query: ListQuery,
) -> TestResult<Vec<Customer>> {
    let mut out = Vec::new();
    query.limit = Some(ListQuery::MAX_LIMIT);
    loop {
        let page = store.list(business, &query)?;
        out.extend(page.items);
        match (page.has_more, page.next_cursor) {
            (true, Some(cursor)) => query.cursor = Some(cursor),
            _ => return Ok(out),
        }
    }
}

/// What a refused call must leave unchanged: the business's customers and the table counts.
pub fn state(store: &RedbStore, business: &str) -> TestResult<(Vec<Customer>, VerifyReport)> {
    Ok((all_customers(store, business)?, store.verify()?))
}

/// Runs the test `name` of this test binary again, as a child process with `env` set to the
/// store path `db` (in `db`'s folder, where a core dump would land), and returns the ids the
/// child printed as `created ID` lines. The child is the test itself, which sees `env` set,
/// prints each id once its write returned `Ok` and then aborts: the call checks that it did
/// not exit normally.
pub fn ids_of_aborted_child(
    name: &str,
    env: &str,
    db: &std::path::Path,
) -> TestResult<Vec<String>> {
    let output = std::process::Command::new(std::env::current_exe()?)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, db)
        .current_dir(db.parent().ok_or("the store path has no folder")?)
        .output()?;
    assert!(!output.status.success(), "the child did not abort");
    let stdout = String::from_utf8(output.stdout)?;
    Ok(stdout
        .lines()
        .filter_map(|line| line.rsplit_once("created ").map(|(_, id)| id.to_owned()))
        .collect())
}

/// Runs `verify()` and checks that it counts `customers` records, one email entry each.
pub fn verify_clean(store: &RedbStore, customers: u64) -> TestResult<VerifyReport> {
    let report = store.verify()?;
    assert_eq!(report.customers, customers, "{report:?}");
    assert_eq!(report.email_entries, customers, "{report:?}");
    Ok(report)
}

/// `json` without the whitespace between its tokens (strings untouched).
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The keys of a JSON object, in the order the text gives them.
pub fn keys_in_order(json: &str) -> TestResult<Vec<String>> {
    struct Keys(Vec<String>);

    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Keys, D::Error> {
            struct KeysVisitor;

            impl<'de> Visitor<'de> for KeysVisitor {
                type Value = Keys;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a JSON object")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        keys.push(key);
                    }
                    Ok(Keys(keys))
                }
            }

            deserializer.deserialize_map(KeysVisitor)
        }
    }

    let keys: Keys = serde_json::from_str(json)?;
    Ok(keys.0)
}
