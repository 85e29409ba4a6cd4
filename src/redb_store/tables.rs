//! Every redb table of the store, in one place.
//!
//! Keys start with the business handle (a `u32` interned from the business name), so a
//! business's rows are contiguous and no key of one business can equal another's. redb tuple
//! keys are length-prefixed and compared element by element, so `(business, text)` keys cannot
//! collide. A `_v1` in a name marks the layout version of that table.

use redb::TableDefinition;

/// The format version this build writes and reads, kept under [`FORMAT_KEY`] in [`META`].
///
/// Format 3 may keep acknowledged writes in the journal beside the file (see `journal`), so a
/// build that knows no journal must not open it.
pub(crate) const FORMAT_VERSION: u64 = 3;

/// The format before the journal; its files open and are marked format 3.
pub(crate) const FORMAT_WITHOUT_JOURNAL: u64 = 2;

/// The first format version, which had no search indexes (status, email grams).
pub(crate) const FORMAT_WITHOUT_SEARCH_INDEXES: u64 = 1;

/// The key of the format version in [`META`].
pub(crate) const FORMAT_KEY: &str = "customer_store.format";

/// The key in [`META`] of the number of the last journal frame the database holds.
pub(crate) const JOURNAL_LSN_KEY: &str = "customer_store.journal_lsn";

/// The key in [`META`] of the store's journal id (every frame carries it).
pub(crate) const JOURNAL_NONCE_KEY: &str = "customer_store.journal_id";

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

/// Business handle → the last customer id number issued in it (ids are never reused).
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

/// (business, status key) → how many customers have the status (a gram's count sits in the
/// header of its last posting block instead).
pub(crate) const COUNTS: TableDefinition<(u32, u32), u64> = TableDefinition::new("counts_v1");

/// Business handle → (first id not yet in the gram postings, customers created since).
///
/// New customers join the gram postings in bulk once enough have gathered (GIN's "pending
/// list"); until then a query finds them by reading the few newest records.
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
