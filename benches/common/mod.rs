//! What the store-vs-SQLite bench and the `compare` example share: the deterministic data
//! set, the store's side of each measured operation, and the SQLite baseline.
//!
//! The SQLite baseline is what a careful engineer would build on SQLite for the same API:
//! WAL, `synchronous=FULL`, a clustered `WITHOUT ROWID` table keyed `(business, id)`, unique
//! indexes on `(business, lower(email))` and `(business, external_id)`, and the same page
//! cache size as the store's default ([`customer_store::DEFAULT_CACHE_SIZE`]). It holds the same rows under the same ids (taken from
//! the store), so a query's answer can be compared item by item.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use customer_store::{
    CustomerPatch, CustomerStore, ListQuery, Metadata, MetadataValue, NewCustomer, Page, RedbStore,
    Status,
};
use rusqlite::{Connection, OptionalExtension, params};

/// The allocator of the comparison's process, as the reports name it: `compare` and the
/// criterion bench set mimalloc with the feature `mimalloc` (each in its own file, so that the
/// development examples that share this module keep the system allocator). It serves both
/// sides' Rust code (the rows SQLite hands back are copied into Rust strings too); SQLite's
/// own allocations go to the C library's `malloc` either way.
pub const ALLOCATOR_NAME: &str = if cfg!(feature = "mimalloc") {
    "mimalloc (feature `mimalloc`)"
} else {
    "the system allocator"
};

/// The business that owns every customer of the data set.
pub const BUSINESS: &str = "acme";
/// The selective email-filter term: in the emails of [`NEEDLE_MATCHES`] customers only.
pub const NEEDLE: &str = "qzvk";
/// How many customers of the data set carry [`NEEDLE`] in their email.
pub const NEEDLE_MATCHES: u64 = 10;
/// The page size of the list walk.
pub const WALK_PAGE: u32 = 100;
/// The page size of the filtered first pages (the API's default page).
pub const FILTER_PAGE: u32 = 20;
/// Customers per `create_many` call / SQLite import transaction.
pub const IMPORT_BATCH: u64 = 1_000;
/// SQLite's page cache in KiB (negative `cache_size`): the store's default cache size.
const SQLITE_CACHE_KIB: i64 = (customer_store::DEFAULT_CACHE_SIZE / 1024) as i64;

const FIRST_NAMES: [&str; 16] = [
    "Yaw", "Ama", "Kofi", "Efua", "Chidi", "Ngozi", "Amara", "Tunde", "Zainab", "Kwame", "Aisha",
    "Emeka", "Fatima", "Kojo", "Abena", "Sipho",
];
const LAST_NAMES: [&str; 16] = [
    "Mensah", "Owusu", "Okafor", "Adeyemi", "Boateng", "Nwosu", "Asante", "Bello", "Danso", "Eze",
    "Osei", "Abubakar", "Appiah", "Obi", "Ndlovu", "Agyeman",
];
const CURRENCIES: [&str; 4] = ["USD", "GHS", "EUR", "NGN"];

/// A 64-bit mix (splitmix64): the data set's and the benches' only randomness.
#[must_use]
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `k`-th of a deterministic sequence of indexes below `n`.
#[must_use]
pub fn pick(k: u64, n: usize) -> usize {
    // n is at most a few million: the remainder fits.
    (mix(k ^ 0x5EED) % n as u64) as usize
}

/// The deterministic data set of `customers` customers: customer `i` is [`Dataset::customer`].
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// The number of customers imported; the newest 3% of them are `BLOCKED`.
    pub customers: u64,
}

impl Dataset {
    /// The first customer index of the `BLOCKED` tail (the newest 3%).
    #[must_use]
    pub fn blocked_from(&self) -> u64 {
        self.customers - self.customers * 3 / 100
    }

    /// Whether customer `i`'s email carries [`NEEDLE`].
    #[must_use]
    pub fn is_needle(&self, i: u64) -> bool {
        let stride = (self.customers / NEEDLE_MATCHES).max(1);
        i < self.customers && i % stride == stride / 2
    }

    /// How many customers match the [`NEEDLE`] email filter.
    #[must_use]
    pub fn needle_count(&self) -> u64 {
        (0..self.customers).filter(|&i| self.is_needle(i)).count() as u64
    }

    /// The email of customer `i`: `user{i}.{token}@example{i % 97}.com`.
    #[must_use]
    pub fn email(&self, i: u64) -> String {
        let h = mix(i);
        if self.is_needle(i) {
            format!("user{i}.{NEEDLE}{:04x}@example{}.com", h & 0xffff, i % 97)
        } else {
            // Hex tokens never contain a letter of NEEDLE.
            format!("user{i}.{:08x}@example{}.com", h as u32, i % 97)
        }
    }

    /// The create request of customer `i` (also for `i >= customers`: the durable creates).
    #[must_use]
    pub fn customer(&self, i: u64) -> NewCustomer {
        let h = mix(i);
        let name = format!(
            "{} {}",
            FIRST_NAMES[(h >> 32) as usize % FIRST_NAMES.len()],
            LAST_NAMES[(h >> 40) as usize % LAST_NAMES.len()]
        );
        let mut new = NewCustomer::new(self.email(i), name);
        if h % 10 < 7 {
            new = new.with_phone(format!("+1555{:07}", i % 10_000_000));
        }
        if i.is_multiple_of(3) {
            new = new.with_external_id(format!("ext_{i:08}"));
        }
        if i.is_multiple_of(4) {
            new = new.with_currency(CURRENCIES[(h >> 48) as usize % CURRENCIES.len()]);
        }
        if i.is_multiple_of(10) {
            new = new.with_description("Enterprise API User");
        }
        if i.is_multiple_of(5) {
            let mut metadata = Metadata::new();
            let plan = if h & 1 == 0 { "pro" } else { "free" };
            metadata.insert("plan".to_owned(), MetadataValue::from(plan));
            metadata.insert("seats".to_owned(), MetadataValue::Int((i % 50) as i64));
            metadata.insert("trial".to_owned(), MetadataValue::Bool(h & 2 == 0));
            new = new.with_metadata(metadata);
        }
        new
    }

    /// The create requests of customers `from..to`.
    #[must_use]
    pub fn batch(&self, from: u64, to: u64) -> Vec<NewCustomer> {
        (from..to).map(|i| self.customer(i)).collect()
    }
}

/// Imports customers `0..customers` into `store` with `create_many` in batches of
/// [`IMPORT_BATCH`]; returns the time spent inside `create_many` (generating the requests is
/// not counted).
///
/// # Panics
///
/// On any store error: a bench has no other way to fail.
pub fn import_store(store: &RedbStore, data: &Dataset) -> Duration {
    let mut spent = Duration::ZERO;
    let mut from = 0;
    while from < data.customers {
        let to = (from + IMPORT_BATCH).min(data.customers);
        let batch = data.batch(from, to);
        let start = Instant::now();
        let created = store.create_many(BUSINESS, batch).expect("create_many");
        spent += start.elapsed();
        assert_eq!(created.len() as u64, to - from);
        from = to;
    }
    spent
}

/// Sets the newest 3% of the store's customers (`ids[blocked_from..]`) to `BLOCKED`, one
/// update each (the store has no way to create a customer blocked), from `threads` threads.
///
/// # Panics
///
/// On any store error.
pub fn block_newest_in_store(store: &RedbStore, ids: &[String], data: &Dataset, threads: usize) {
    let tail = &ids[data.blocked_from() as usize..];
    if tail.is_empty() {
        return;
    }
    let chunk = tail.len().div_ceil(threads.max(1));
    std::thread::scope(|scope| {
        for part in tail.chunks(chunk) {
            let store = store.clone();
            scope.spawn(move || {
                for id in part {
                    let patch = CustomerPatch::default().set_status(Status::Blocked);
                    store.update(BUSINESS, id, patch).expect("update");
                }
            });
        }
    });
}

/// Walks every customer of the business, [`WALK_PAGE`] per `list` call (one snapshot each),
/// and returns their ids in order.
///
/// # Panics
///
/// On any store error.
pub fn walk_store(store: &RedbStore) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = ListQuery::default().with_limit(WALK_PAGE);
        if let Some(cursor) = cursor.take() {
            query = query.with_cursor(cursor);
        }
        let page = store.list(BUSINESS, &query).expect("list");
        ids.extend(page.items.into_iter().map(|c| c.id));
        if !page.has_more {
            return ids;
        }
        cursor = page.next_cursor;
    }
}

/// Walks every customer of the business like [`walk_store`], but into one [`Page`] reused by
/// every call ([`CustomerStore::list_into`]); returns how many customers it saw and the
/// total length of their emails (so that every record is read).
///
/// # Panics
///
/// On any store error.
pub fn walk_store_reusing(store: &RedbStore) -> (u64, usize) {
    let mut page = Page::default();
    let mut query = ListQuery::default().with_limit(WALK_PAGE);
    let (mut seen, mut email_bytes) = (0, 0);
    loop {
        store.list_into(BUSINESS, &query, &mut page).expect("list");
        seen += page.items.len() as u64;
        email_bytes += page.items.iter().map(|c| c.email.len()).sum::<usize>();
        match page.next_cursor.take().filter(|_| page.has_more) {
            Some(cursor) => query.cursor = Some(cursor),
            None => return (seen, email_bytes),
        }
    }
}

/// The ids of the store's first page of customers whose email contains `term`.
///
/// # Panics
///
/// On any store error.
pub fn store_email_page(store: &RedbStore, term: &str) -> Vec<String> {
    let query = ListQuery::default()
        .with_email(term)
        .with_limit(FILTER_PAGE);
    let page = store.list(BUSINESS, &query).expect("list");
    page.items.into_iter().map(|c| c.id).collect()
}

/// The ids of the store's first page of `BLOCKED` customers.
///
/// # Panics
///
/// On any store error.
pub fn store_blocked_page(store: &RedbStore) -> Vec<String> {
    let query = ListQuery::default()
        .with_status(Status::Blocked)
        .with_limit(FILTER_PAGE);
    let page = store.list(BUSINESS, &query).expect("list");
    page.items.into_iter().map(|c| c.id).collect()
}

/// One durable create in the store.
///
/// # Panics
///
/// On any store error.
pub fn store_create(store: &RedbStore, data: &Dataset, i: u64) -> String {
    store.create(BUSINESS, data.customer(i)).expect("create").id
}

// ---------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS customers (
    business    TEXT NOT NULL,
    id          TEXT NOT NULL,
    external_id TEXT,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    phone       TEXT,
    description TEXT,
    metadata    TEXT,
    status      TEXT NOT NULL,
    currency    TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (business, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS customers_email ON customers (business, lower(email));
CREATE UNIQUE INDEX IF NOT EXISTS customers_external_id ON customers (business, external_id)
    WHERE external_id IS NOT NULL;
";

const COLUMNS: &str = "id, external_id, email, name, phone, description, metadata, status, \
                       currency, created_at, updated_at";

const INSERT: &str = "INSERT INTO customers (business, id, external_id, email, name, phone, \
                      description, metadata, status, currency, created_at, updated_at) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'ACTIVE', ?9, ?10, ?10)";

/// A customer row as the SQLite baseline reads it: every column, owned (as the store's
/// `Customer`; the metadata stays JSON text).
#[derive(Debug, Clone)]
pub struct SqliteCustomer {
    /// `id`.
    pub id: String,
    /// `external_id`.
    pub external_id: Option<String>,
    /// `email`.
    pub email: String,
    /// `name`.
    pub name: String,
    /// `phone`.
    pub phone: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `metadata` (JSON text).
    pub metadata: Option<String>,
    /// `status`.
    pub status: String,
    /// `currency`.
    pub currency: Option<String>,
    /// `created_at`.
    pub created_at: String,
    /// `updated_at`.
    pub updated_at: String,
}

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<SqliteCustomer> {
    Ok(SqliteCustomer {
        id: row.get(0)?,
        external_id: row.get(1)?,
        email: row.get(2)?,
        name: row.get(3)?,
        phone: row.get(4)?,
        description: row.get(5)?,
        metadata: row.get(6)?,
        status: row.get(7)?,
        currency: row.get(8)?,
        created_at: row.get(9)?,
        updated_at: row.get(10)?,
    })
}

/// Opens a connection of the baseline: WAL, `synchronous=FULL`, the store's cache size, a busy timeout,
/// and the query planner stability guarantee (QPSG); creates the schema if needed.
///
/// Without QPSG, the bundled SQLite (built with `SQLITE_ENABLE_STAT4`) marks a cached statement
/// whose plan may depend on a bound value (the walk's `id > ?2`) to be prepared again whenever
/// that value changes: every page of the walk parsed and planned its statement anew (18.8% of
/// SQLite's walk in a profile; its walk was 1.25× faster with QPSG). The plans are the same
/// either way here, so the baseline keeps its cached statements.
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_open(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open sqlite");
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .expect("journal_mode");
    assert_eq!(mode.to_lowercase(), "wal");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("synchronous");
    conn.pragma_update(None, "cache_size", -SQLITE_CACHE_KIB)
        .expect("cache_size");
    conn.busy_timeout(Duration::from_secs(120))
        .expect("busy_timeout");
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .expect("qpsg");
    conn.execute_batch(SCHEMA).expect("schema");
    conn
}

/// The timestamp text of a new row: now, whole seconds, RFC 3339 UTC (as the store's).
#[must_use]
pub fn now_text() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string()
}

fn insert(
    stmt: &mut rusqlite::CachedStatement<'_>,
    id: &str,
    new: &NewCustomer,
    now: &str,
) -> rusqlite::Result<usize> {
    let metadata = new
        .metadata
        .as_ref()
        .map(|m| serde_json::to_string(m).expect("metadata json"));
    stmt.execute(params![
        BUSINESS,
        id,
        new.external_id,
        new.email,
        new.name,
        new.phone,
        new.description,
        metadata,
        new.currency,
        now,
    ])
}

/// Inserts `batch` in one transaction with a prepared statement; `id_of(k)` is the id of the
/// `k`-th item.
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_insert_batch(
    conn: &mut Connection,
    batch: &[NewCustomer],
    mut id_of: impl FnMut(usize) -> String,
    now: &str,
) {
    let tx = conn.transaction().expect("begin");
    {
        let mut stmt = tx.prepare_cached(INSERT).expect("prepare");
        for (k, new) in batch.iter().enumerate() {
            insert(&mut stmt, &id_of(k), new, now).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// Imports customers `0..customers` under the store's `ids` (`ids[i]` for customer `i`),
/// [`IMPORT_BATCH`] rows per transaction with a prepared statement, then marks the newest 3%
/// `BLOCKED` in one statement. Returns the time spent in the import transactions (not the
/// `BLOCKED` update, and not generating the requests).
///
/// # Panics
///
/// On any SQLite error.
pub fn import_sqlite(conn: &mut Connection, data: &Dataset, ids: &[String]) -> Duration {
    let mut spent = Duration::ZERO;
    let now = now_text();
    let mut from = 0;
    while from < data.customers {
        let to = (from + IMPORT_BATCH).min(data.customers);
        let batch = data.batch(from, to);
        let start = Instant::now();
        sqlite_insert_batch(conn, &batch, |k| ids[from as usize + k].clone(), &now);
        spent += start.elapsed();
        from = to;
    }
    if let Some(first_blocked) = ids.get(data.blocked_from() as usize) {
        conn.execute(
            "UPDATE customers SET status = 'BLOCKED', updated_at = ?3 \
             WHERE business = ?1 AND id >= ?2",
            params![BUSINESS, first_blocked, now],
        )
        .expect("block");
    }
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    spent
}

/// The statement of a list-walk page: `?1` business, `?2` the last id seen, `?3` the limit.
fn page_statement(conn: &Connection) -> rusqlite::CachedStatement<'_> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM customers WHERE business = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))
    .expect("prepare")
}

/// One page of the list walk: `id > after`, in id order, `limit` rows, in a read transaction of
/// its own (autocommit).
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_page(conn: &Connection, after: &str, limit: u32) -> Vec<SqliteCustomer> {
    let mut stmt = page_statement(conn);
    stmt.query_map(params![BUSINESS, after, limit], read_row)
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("row")
}

/// [`sqlite_page`] into `page`, reusing the strings of the rows it already holds (as
/// [`walk_store_reusing`] does on the store's side).
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_page_into(
    conn: &Connection,
    after: &str,
    limit: u32,
    page: &mut Vec<SqliteCustomer>,
) {
    let mut stmt = page_statement(conn);
    let mut rows = stmt.query(params![BUSINESS, after, limit]).expect("query");
    let mut filled = 0;
    while let Some(row) = rows.next().expect("row") {
        match page.get_mut(filled) {
            Some(old) => read_row_into(row, old).expect("row"),
            None => page.push(read_row(row).expect("row")),
        }
        filled += 1;
    }
    page.truncate(filled);
}

fn text_into(row: &rusqlite::Row<'_>, column: usize, into: &mut String) -> rusqlite::Result<()> {
    into.clear();
    into.push_str(row.get_ref(column)?.as_str()?);
    Ok(())
}

fn optional_text_into(
    row: &rusqlite::Row<'_>,
    column: usize,
    into: &mut Option<String>,
) -> rusqlite::Result<()> {
    match (into.as_mut(), row.get_ref(column)?.as_str_or_null()?) {
        (Some(old), Some(text)) => {
            old.clear();
            old.push_str(text);
        }
        (_, text) => *into = text.map(str::to_owned),
    }
    Ok(())
}

fn read_row_into(row: &rusqlite::Row<'_>, into: &mut SqliteCustomer) -> rusqlite::Result<()> {
    text_into(row, 0, &mut into.id)?;
    optional_text_into(row, 1, &mut into.external_id)?;
    text_into(row, 2, &mut into.email)?;
    text_into(row, 3, &mut into.name)?;
    optional_text_into(row, 4, &mut into.phone)?;
    optional_text_into(row, 5, &mut into.description)?;
    optional_text_into(row, 6, &mut into.metadata)?;
    text_into(row, 7, &mut into.status)?;
    optional_text_into(row, 8, &mut into.currency)?;
    text_into(row, 9, &mut into.created_at)?;
    text_into(row, 10, &mut into.updated_at)
}

/// Walks every customer like [`walk_sqlite`], but into one page of rows reused by every
/// statement; returns how many it saw and the total length of their emails.
///
/// # Panics
///
/// On any SQLite error.
pub fn walk_sqlite_reusing(conn: &Connection) -> (u64, usize) {
    let mut page = Vec::new();
    let mut after = String::new();
    let (mut seen, mut email_bytes) = (0, 0);
    loop {
        sqlite_page_into(conn, &after, WALK_PAGE, &mut page);
        seen += page.len() as u64;
        email_bytes += page.iter().map(|c| c.email.len()).sum::<usize>();
        match page.last() {
            Some(last) if page.len() == WALK_PAGE as usize => after.clone_from(&last.id),
            _ => return (seen, email_bytes),
        }
    }
}

/// Walks every customer with keyset pagination, [`WALK_PAGE`] rows per statement; returns the
/// ids in order.
///
/// # Panics
///
/// On any SQLite error.
pub fn walk_sqlite(conn: &Connection) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = String::new();
    loop {
        let page = sqlite_page(conn, &after, WALK_PAGE);
        let full = page.len() == WALK_PAGE as usize;
        ids.extend(page.into_iter().map(|c| c.id));
        match ids.last() {
            Some(last) if full => after.clone_from(last),
            _ => return ids,
        }
    }
}

/// The customer with this id.
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_get(conn: &Connection, id: &str) -> Option<SqliteCustomer> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE business = ?1 AND id = ?2"
        ))
        .expect("prepare");
    stmt.query_row(params![BUSINESS, id], read_row)
        .optional()
        .expect("query")
}

/// The customer with this email, ignoring case (through the `lower(email)` index).
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_get_by_email(conn: &Connection, email: &str) -> Option<SqliteCustomer> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE business = ?1 AND lower(email) = ?2"
        ))
        .expect("prepare");
    stmt.query_row(params![BUSINESS, email.trim().to_lowercase()], read_row)
        .optional()
        .expect("query")
}

/// The ids of the first page of customers whose email contains `term` (`LIKE '%term%'`, which
/// ignores ASCII case by itself: wrapping the column in `lower()` only added work).
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_email_page(conn: &Connection, term: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE business = ?1 \
             AND email LIKE '%' || ?2 || '%' ORDER BY id LIMIT ?3"
        ))
        .expect("prepare");
    stmt.query_map(
        params![BUSINESS, term.to_lowercase(), FILTER_PAGE],
        read_row,
    )
    .expect("query")
    .map(|row| row.expect("row").id)
    .collect()
}

/// The ids of the first page of `BLOCKED` customers, in id order.
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_blocked_page(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM customers WHERE business = ?1 AND status = 'BLOCKED' \
             ORDER BY id LIMIT ?2"
        ))
        .expect("prepare");
    stmt.query_map(params![BUSINESS, FILTER_PAGE], read_row)
        .expect("query")
        .map(|row| row.expect("row").id)
        .collect()
}

/// Issues SQLite ids of the store's shape (`cust_c` + 13 base-36 digits of
/// `(milliseconds << 20) | sequence`), above every id given to [`SqliteIds::after`].
#[derive(Debug)]
pub struct SqliteIds {
    last: AtomicU64,
}

impl SqliteIds {
    /// Ids after `last` (an id of the store's shape), or from now when it is `None`.
    #[must_use]
    pub fn after(last: Option<&str>) -> SqliteIds {
        let last = last
            .and_then(|id| id.strip_prefix("cust_c"))
            .and_then(|digits| u64::from_str_radix(digits, 36).ok())
            .unwrap_or(0);
        SqliteIds {
            last: AtomicU64::new(last),
        }
    }

    /// The next id.
    #[must_use]
    pub fn next(&self) -> String {
        let now = u64::try_from(jiff::Timestamp::now().as_millisecond()).unwrap_or(0) << 20;
        let previous = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
                Some(now.max(last + 1))
            })
            .unwrap_or(0);
        encode_id(now.max(previous + 1))
    }
}

fn encode_id(mut n: u64) -> String {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = [b'0'; 13];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(n % 36) as usize];
        n /= 36;
    }
    let mut id = String::from("cust_c");
    id.extend(digits.iter().map(|&d| char::from(d)));
    id
}

/// One durable create in SQLite: one autocommit `INSERT` (its own transaction, fsynced), as a
/// careful SQLite store would do it. Waits for the write lock through the busy timeout, and
/// retries should even that run out.
///
/// # Panics
///
/// On any other SQLite error.
pub fn sqlite_create(conn: &Connection, ids: &SqliteIds, data: &Dataset, i: u64) -> String {
    let new = data.customer(i);
    let now = now_text();
    let id = ids.next();
    let mut stmt = conn.prepare_cached(INSERT).expect("prepare");
    loop {
        match insert(&mut stmt, &id, &new, &now) {
            Ok(_) => return id,
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                std::thread::yield_now();
            }
            Err(e) => panic!("sqlite insert: {e}"),
        }
    }
}

/// The size of a database's files: their length, and the bytes the file system holds for
/// them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Footprint {
    /// The files' lengths (`ls -l`).
    pub len: u64,
    /// The bytes allocated to them on disk (`du`): less than `len` for a sparse file, such as
    /// a store file past its last written page (redb grows a file by doubling its length,
    /// without writing the new part).
    pub on_disk: u64,
}

impl std::ops::Add for Footprint {
    type Output = Footprint;

    fn add(self, other: Footprint) -> Footprint {
        Footprint {
            len: self.len + other.len,
            on_disk: self.on_disk + other.on_disk,
        }
    }
}

/// The footprint of one file; zero when it does not exist.
#[must_use]
pub fn file_footprint(path: &Path) -> Footprint {
    let Ok(meta) = std::fs::metadata(path) else {
        return Footprint::default();
    };
    #[cfg(unix)]
    let on_disk = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
    #[cfg(not(unix))]
    let on_disk = meta.len();
    Footprint {
        len: meta.len(),
        on_disk,
    }
}

/// The footprint of a store file with its journal.
#[must_use]
pub fn store_size(path: &Path) -> Footprint {
    file_footprint(path) + file_footprint(&RedbStore::journal_path(path))
}

/// Rebuilds the SQLite database compactly (`VACUUM`, then a checkpoint that empties the WAL),
/// as an operator would after an import (the store's `compact()`); returns its rows.
///
/// # Panics
///
/// On any SQLite error.
pub fn sqlite_vacuum(conn: &Connection) -> u64 {
    conn.execute_batch("VACUUM").expect("vacuum");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM customers", [], |row| row.get(0))
        .expect("count");
    u64::try_from(rows).expect("a row count")
}

/// The footprint of a SQLite database with its `-wal` and `-shm` files.
#[must_use]
pub fn sqlite_size(path: &Path) -> Footprint {
    let with = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        file_footprint(Path::new(&name))
    };
    file_footprint(path) + with("-wal") + with("-shm")
}
