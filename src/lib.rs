//! An embedded, transactional store for the customer records of a payments platform.
//!
//! Merchants (businesses) register customers, retrieve them by id, email or external id, list
//! them with filters and cursor pagination, update and delete them. Every record belongs to one
//! business; email (ignoring case) and `externalId` are unique per business. The records and
//! requests match the JSON of the Customers API that the server (feature `server`) serves,
//! described in the README and in the OpenAPI document the server publishes.
//!
//! [`CustomerStore`] is the contract; [`RedbStore`] implements it on a [redb] database.
//!
//! [redb]: https://docs.rs/redb
//!
//! ```
//! use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status};
//!
//! let store = RedbStore::in_memory()?;
//! let yaw = store.create(
//!     "acme",
//!     NewCustomer::new("yaw@example.com", "Yaw Mensah")
//!         .with_phone("+233 24 999 8888")
//!         .with_currency("ghs"),
//! )?;
//! assert_eq!(yaw.phone.as_deref(), Some("+233249998888"));
//! assert_eq!(yaw.currency.as_deref(), Some("GHS"));
//!
//! let page = store.list("acme", &ListQuery::default().with_email("YAW"))?;
//! assert_eq!(page.items, vec![yaw.clone()]);
//!
//! let patch = CustomerPatch::default().set_status(Status::Blocked);
//! assert_eq!(store.update("acme", &yaw.id, patch)?.status, Status::Blocked);
//! # Ok::<(), customer_store::Error>(())
//! ```
//!
//! # The fields
//!
//! Lengths count Unicode scalar values (`chars`); "lower-cased" is [`str::to_lowercase`].
//! A value that breaks its rule is [`Error::InvalidRequest`] naming the field (its JSON name;
//! `business` for the business), and nothing is written.
//!
//! | field | rule |
//! |---|---|
//! | business | 1–64 characters of `A-Z a-z 0-9 _ -` (not part of the JSON) |
//! | `id` | issued by the store: `cust_` and 14 characters of `0-9a-z`, increasing within a business |
//! | `email` | required; trimmed; at most 254 characters; one `@`, a local part of 1–64, a domain with a dot and no empty label; no whitespace, control or invisible characters; kept as given; unique per business lower-cased |
//! | `name` | required; trimmed; 1–256 characters; no control characters |
//! | `phone` | optional; E.164: `+`, a first digit of 1–9, 7–15 digits in all; spaces, `-`, `.`, `(` and `)` are removed |
//! | `externalId` | optional; 1–255 characters; no control characters; kept exactly as given (case and spaces); unique per business |
//! | `description` | optional; at most 5,000 characters; no control characters but tab and line breaks |
//! | `currency` | optional; an ISO 4217 code in any case, kept upper-case |
//! | `metadata` | optional; at most 50 keys of 1–40 characters without `[`, `]` or control characters; each value a string of at most 500 characters (no control characters but tab and line breaks), a finite number or a boolean |
//! | `status` | `ACTIVE`, `INACTIVE` or `BLOCKED`; `ACTIVE` on create, any of the three by an update |
//! | `createdAt`, `updatedAt` | whole seconds, RFC 3339 UTC (`2026-06-05T12:00:00Z`), from the store's clock (an import keeps the times it is given) |
//!
//! A list's `limit` is 1–100 (default 20; out of range is an error, never clamped), its
//! `email` filter a substring matched ignoring case, its `status` filter exact, and its
//! `cursor` the `nextCursor` of a page before.
//!
//! # Decisions where the specification is silent
//!
//! - A business name that breaks its rule (1–64 characters of `A-Z a-z 0-9 _ -`) is an
//!   `invalid_request` on every call, reads included.
//! - `externalId` is kept exactly as given (not trimmed); email and name are trimmed.
//! - A metadata integer is kept exactly when it fits an `i64`; read from JSON, an integer from
//!   2^63 to 2^64 - 1 is refused (it would come back rounded), and so is a key given twice. A
//!   number JSON reads as a float (a fraction, an exponent, or an integer of 2^64 or more or
//!   below -2^63) is kept as the nearest `f64`. Metadata keys come back in key order.
//! - A name must hold a visible character (not only zero-width or combining ones), and holds
//!   no line separator or bidirectional override.
//! - A description, and a metadata string value, may not hold control characters other than
//!   tab and line breaks.
//! - `updatedAt` never goes backwards, even if the clock does.
//! - A well-formed cursor that this store never issued still has a place in id order: the
//!   list resumes after it (so the seed's sample id as a cursor gives an empty page).
//! - An update is validated before the id is looked up: an invalid patch is
//!   `invalid_request` even for an unknown id.
//! - A file that is only redb's unwritten skeleton (whole pages, no magic number, zeros past
//!   the header area: what a creation cut off by a crash leaves) holds no data and is taken as
//!   a new store; a file of 0 bytes (never one of ours: a new store is created under another
//!   name and linked into place) is refused as `corrupt`, and any other file that is not a store as
//!   `incompatible_format`, both unchanged.
//! - A store file's writes are made durable by its journal (`<file>.journal`), which is part
//!   of the store: a crash-left journal is applied by the next open; another store's journal
//!   is refused without a change, and the frames of another session (a journal of a later run
//!   beside an older copy of the file) are not applied (a journal that skips frames of the
//!   file's own session is refused). A torn last frame (never acknowledged) ends the replay; a
//!   frame damaged on disk with intact frames after it makes the open refuse (`corrupt`)
//!   rather than drop acknowledged writes silently, as SQLite would with its WAL (unless the
//!   database already holds that frame's write: then it is skipped). A file that was not
//!   closed cleanly refuses to open without its journal (a copy of the file alone, another
//!   name of it); an empty file in the journal's place opens it without the journal's writes.
//! - Ids are unique within a business (a record's key is the business and the id). Two
//!   businesses creating a customer in the same millisecond may get the same id text; neither
//!   can see the other's, and an id says nothing about another business's activity.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs, unsafe_code)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod clock;
mod error;
mod id;
mod model;
mod redb_store;
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub mod server;
mod store;
mod text;
mod validate;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::{BoxedSource, Error, Result};
pub use crate::model::{
    Customer, CustomerPatch, ImportCustomer, ListQuery, Metadata, MetadataObject, MetadataValue,
    NewCustomer, Page, Status,
};
#[cfg(feature = "server")]
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
pub use crate::redb_store::{ApiClient, ClientCredentials, Scope};
pub use crate::redb_store::{
    BusinessSummary, DEFAULT_CACHE_SIZE, DEFAULT_EMAIL_INDEX_TAIL, DEFAULT_JOURNAL_LIMIT,
    DamagedRecord, Progress, ProgressFn, RedbStore, RedbStoreBuilder, VerifyReport,
};
pub use crate::store::CustomerStore;
/// The instant type of `createdAt`, `updatedAt` and [`Clock`]: `jiff`'s, re-exported so that
/// a caller needs no `jiff` dependency of its own (nor one of a matching version).
pub use jiff::Timestamp;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
