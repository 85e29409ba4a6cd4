//! Every redb table of the store, in one place.
//!
//! Keys start with the business handle (a `u32` interned from the business name), so a
//! business's rows are contiguous and no key of one business can equal another's. redb tuple
//! keys are length-prefixed and compared element by element, so `(business, text)` keys cannot
//! collide. A `_v1` in a name marks the layout version of that table.

use redb::TableDefinition;

/// The format version this build writes and reads, kept under [`FORMAT_KEY`] in [`META`].
///
/// Format 4 may hold records of layout version 3 (see `codec`), which a build of format 3
/// would report as damaged; the version keeps such a build out with `incompatible_format`
/// instead. Format 3 brought the journal beside the file (see `journal`), which a build that
/// knows no journal must not ignore.
pub(crate) const FORMAT_VERSION: u64 = 4;

/// The format before record layout version 3 (every record of layout 1 or 2); its files open
/// and are marked format 4, and their records are rewritten in the new layout as they change.
pub(crate) const FORMAT_WITH_POSTCARD_RECORDS: u64 = 3;

/// The format before the journal; its files open and are marked with the current format.
pub(crate) const FORMAT_WITHOUT_JOURNAL: u64 = 2;

/// The first format version, which had no search indexes (status, email grams).
pub(crate) const FORMAT_WITHOUT_SEARCH_INDEXES: u64 = 1;

/// The key of the format version in [`META`].
pub(crate) const FORMAT_KEY: &str = "customer_store.format";

/// The key in [`META`] of the number of the last journal frame the database holds.
pub(crate) const JOURNAL_LSN_KEY: &str = "customer_store.journal_lsn";

/// The key in [`META`] of the store's journal id (every frame carries it).
pub(crate) const JOURNAL_NONCE_KEY: &str = "customer_store.journal_id";

/// The key in [`META`] of the journal session of the latest open (every frame carries it).
pub(crate) const JOURNAL_SESSION_KEY: &str = "customer_store.journal_session";

/// The key in [`META`] that is present (holding the session) from a session's start until the
/// store closes cleanly: while it is there, the journal may hold writes the file lacks.
pub(crate) const JOURNAL_OPEN_KEY: &str = "customer_store.journal_open";

/// Facts about the file itself (the format version).
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("customer_store_meta");

/// Business name → (business handle, CRC-32C of the name and the handle).
///
/// The check value guards tenant isolation: a damaged handle would point a business's reads at
/// another business's records (whose own checks would pass); with it, a read answers `corrupt`.
/// A damaged name can only hide its business, and `verify()` reports it.
pub(crate) const BUSINESSES: TableDefinition<&str, (u32, u32)> =
    TableDefinition::new("businesses_v2");

/// Business name → business handle, without a check value: format 1, read by the upgrade.
pub(crate) const BUSINESSES_V1: TableDefinition<&str, u32> = TableDefinition::new("businesses_v1");

/// The check value stored with a business's handle.
pub(crate) fn business_check(name: &str, handle: u32) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(name.as_bytes()), &handle.to_le_bytes())
}

/// The handle of a `BUSINESSES` entry, if its check value matches.
pub(crate) fn checked_handle(name: &str, (handle, check): (u32, u32)) -> crate::Result<u32> {
    if business_check(name, handle) == check {
        Ok(handle)
    } else {
        Err(crate::Error::Corrupt(format!(
            "the entry of business {name:?} fails its check"
        )))
    }
}

/// Business handle → its running state, one row a write updates once (see [`BusinessState`]).
pub(crate) const BUSINESS_STATES: TableDefinition<u32, [u64; 6]> =
    TableDefinition::new("business_states_v1");

/// What a business's writes keep up to date besides records and index entries, in one row so
/// that a create touches one table for it, not three.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BusinessState {
    /// The last customer id number issued (ids are never reused); 0 before the first.
    pub(crate) last_id: u64,
    /// The first id not yet in the gram postings.
    ///
    /// New customers join the gram postings in bulk once enough have gathered (GIN's "pending
    /// list"); until then a query finds them by reading the few newest records.
    pub(crate) tail_start: u64,
    /// Customers created since `tail_start` (still to join the gram postings).
    pub(crate) tail_waiting: u64,
    /// Customers per status, by status code.
    pub(crate) counts: [u64; 3],
}

impl BusinessState {
    /// The state stored as `row`.
    pub(crate) fn from_row(row: [u64; 6]) -> BusinessState {
        BusinessState {
            last_id: row[0],
            tail_start: row[1],
            tail_waiting: row[2],
            counts: [row[3], row[4], row[5]],
        }
    }

    /// The row that stores the state.
    pub(crate) fn row(&self) -> [u64; 6] {
        let [a, b, c] = self.counts;
        [self.last_id, self.tail_start, self.tail_waiting, a, b, c]
    }

    /// How many customers have the status of `code`.
    pub(crate) fn count(&self, code: u8) -> u64 {
        self.counts.get(usize::from(code)).copied().unwrap_or(0)
    }

    /// Adds `delta` customers to the count of status `code`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Corrupt`] when the count would leave its range (the stored count is
    /// wrong).
    pub(crate) fn add_count(&mut self, code: u8, delta: i64) -> crate::Result<()> {
        let out_of_range =
            || crate::Error::Corrupt(format!("the count of status {code} is out of range"));
        let count = self
            .counts
            .get_mut(usize::from(code))
            .ok_or_else(out_of_range)?;
        *count = count.checked_add_signed(delta).ok_or_else(out_of_range)?;
        Ok(())
    }
}

/// Business handle → the last customer id number issued in it: format 2 and before (now in
/// [`BUSINESS_STATES`]).
pub(crate) const LAST_IDS: TableDefinition<u32, u64> = TableDefinition::new("last_ids_v1");

/// (business, id number) → encoded record (see `codec`).
pub(crate) const CUSTOMERS: TableDefinition<(u32, u64), &[u8]> =
    TableDefinition::new("customers_v1");

/// (business, lower-cased email) → id number. One entry per customer.
pub(crate) const EMAILS: TableDefinition<(u32, &str), u64> = TableDefinition::new("emails_v1");

/// (business, external id) → id number. One entry per customer that has an external id.
pub(crate) const EXTERNAL_IDS: TableDefinition<(u32, &str), u64> =
    TableDefinition::new("external_ids_v1");

/// (business, status code, id number) → (): the status filter's index.
pub(crate) const STATUSES: TableDefinition<(u32, u8, u64), ()> =
    TableDefinition::new("status_index_v1");

/// (business, email trigram, first id of the block) → posting block (see `grams`).
pub(crate) const GRAMS: TableDefinition<(u32, u32, u64), &[u8]> =
    TableDefinition::new("email_grams_v1");

/// (business, status key) → how many customers have the status: format 2 (now in
/// [`BUSINESS_STATES`]; written by the upgrade of format 1 on its way).
pub(crate) const COUNTS: TableDefinition<(u32, u32), u64> = TableDefinition::new("counts_v1");

/// Business handle → (first id not yet in the gram postings, customers created since): format
/// 2 (now in [`BUSINESS_STATES`]).
pub(crate) const GRAM_TAILS: TableDefinition<u32, (u64, u64)> =
    TableDefinition::new("email_gram_tails_v1");

/// The `COUNTS` key of a status.
pub(crate) fn status_count_key(code: u8) -> u32 {
    0xFF00_0000 | u32::from(code)
}

/// Adds `delta` to a `COUNTS` entry, removing the entry when it reaches zero.
pub(crate) fn add_count(
    counts: &mut redb::Table<'_, (u32, u32), u64>,
    handle: u32,
    key: u32,
    delta: i64,
) -> crate::Result<()> {
    use redb::ReadableTable;
    let write_err = |e: redb::StorageError| super::open::storage_error("write", e);
    if delta == 0 {
        return Ok(());
    }
    let old = counts
        .get((handle, key))
        .map_err(write_err)?
        .map_or(0, |g| g.value());
    let new = old.checked_add_signed(delta).ok_or_else(|| {
        crate::Error::Corrupt(format!(
            "index count {key:#x} of business #{handle} out of range"
        ))
    })?;
    if new == 0 {
        counts.remove((handle, key)).map_err(write_err)?;
    } else {
        counts.insert((handle, key), new).map_err(write_err)?;
    }
    Ok(())
}
