//! The one public error type of the crate, with a stable machine-readable code.

use std::fmt;
use std::sync::Arc;

/// A `Result` whose error defaults to [`Error`].
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, NewCustomer, RedbStore, Result};
///
/// fn name_of(store: &RedbStore, email: &str) -> Result<Option<String>> {
///     Ok(store.get_by_email("acme", email)?.map(|c| c.name))
/// }
///
/// let store = RedbStore::in_memory()?;
/// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// assert_eq!(name_of(&store, "YAW@example.com")?.as_deref(), Some("Yaw"));
/// assert_eq!(name_of(&store, "ana@example.com")?, None);
/// # Ok::<(), customer_store::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A backend error kept as the `source()` of a storage error.
///
/// It is reference-counted so that [`Error`] stays `Clone` (one failed group commit can be
/// reported to every caller in it).
///
/// # Example
///
/// ```
/// use customer_store::{Error, RedbStore};
/// let dir = tempfile::tempdir()?;
/// // A directory is not a store file: a storage error whose source is the I/O error.
/// let Err(Error::Storage { source: Some(source), .. }) = RedbStore::open(dir.path()) else {
///     panic!("expected a storage error with a source");
/// };
/// let io = source.downcast_ref::<std::io::Error>().expect("an I/O error");
/// assert_eq!(io.kind(), std::io::ErrorKind::IsADirectory);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type BoxedSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a store call.
///
/// Match on the variant, or use [`Error::code`] (stable strings, also used by the HTTP API) and
/// the predicates ([`Error::is_conflict`], [`Error::is_not_found`], …).
///
/// No variant carries a type of the storage backend, so another backend can implement
/// [`CustomerStore`](crate::CustomerStore) with the same error.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, Error, NewCustomer, RedbStore};
/// let store = RedbStore::in_memory()?;
/// match store.create("acme", NewCustomer::new("not-an-email", "Yaw")) {
///     Err(Error::InvalidRequest { field, .. }) => assert_eq!(field, "email"),
///     other => panic!("expected invalid_request, got {other:?}"),
/// }
/// let err = store.get_by_email("bad business!", "yaw@example.com").unwrap_err();
/// assert_eq!((err.code(), err.field()), ("invalid_request", Some("business")));
/// assert!(err.to_string().starts_with("invalid business: "));
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field or list parameter broke one of its rules. Nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidRequest {
        /// The field at fault, with its JSON name (`email`, `externalId`, `limit`, …).
        field: String,
        /// What is wrong with it, in words fit to show a caller.
        reason: String,
    },
    /// Another customer of the business already has this email (compared case-insensitively).
    #[error("email is already used by customer {existing_id}")]
    EmailTaken {
        /// The id of the customer that holds the email.
        existing_id: String,
    },
    /// Another customer of the business already has this `externalId`.
    #[error("externalId is already used by customer {existing_id}")]
    ExternalIdTaken {
        /// The id of the customer that holds the external id.
        existing_id: String,
    },
    /// Two items of one [`create_many`](crate::CustomerStore::create_many) batch share an email
    /// or an `externalId`.
    #[error("{field} repeats item {earlier_index} of the same batch")]
    DuplicateInBatch {
        /// `email` or `externalId`.
        field: &'static str,
        /// The index of the earlier item that has the same value.
        earlier_index: usize,
    },
    /// One item of a [`create_many`](crate::CustomerStore::create_many) batch failed; the whole
    /// batch was refused.
    #[error("item {index} of the batch: {source}")]
    Batch {
        /// The index of the offending item in the batch.
        index: usize,
        /// Why that item was refused.
        source: Box<Error>,
    },
    /// No customer with this id in this business.
    #[error("customer not found")]
    NotFound,
    /// The list cursor is not a customer id (`cust_` followed by 14 characters of `0-9a-z`).
    #[error("invalid cursor: {reason}")]
    InvalidCursor {
        /// What is wrong with it.
        reason: String,
    },
    /// The storage failed (an I/O error, a full disk, a file held by another process).
    ///
    /// When this comes from a write, the outcome of that write is **unknown**: the commit may
    /// have reached the disk before the failure was seen. Reading the record back (or retrying
    /// a create, which answers [`Error::EmailTaken`] if the first attempt landed) tells which.
    /// The store reopens its database by itself after such an error.
    ///
    /// Its message says what failed (`create /data/customers.redb`); the operating system's
    /// reason (`No such file or directory`) is its [`source`](std::error::Error::source), as
    /// Rust errors keep a cause: log the whole chain, not only this error's `Display`.
    #[error("storage error: {message}")]
    Storage {
        /// What failed.
        message: String,
        /// The backend's own error, where there is one.
        #[source]
        source: Option<BoxedSource>,
    },
    /// A record or an index entry does not decode or fails its checksum, or the store's files
    /// are damaged or incomplete (a file of 0 bytes, a crash-left file without its journal, a
    /// damaged or missing journal frame, a journal that may hold writes beside no store
    /// file); nothing wrong was returned in its place.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The file is not a customer store, or one of a format version this build cannot read.
    /// The file was not changed.
    #[error("incompatible file format: {0}")]
    IncompatibleFormat(String),
}

impl Error {
    /// The stable machine-readable code of the error, as the HTTP API reports it.
    ///
    /// One of `invalid_request`, `email_taken`, `external_id_taken`, `not_found`,
    /// `invalid_cursor`, `storage`, `corrupt`, `incompatible_format`. A batch error reports the
    /// code of the item's own error.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::Error;
    /// assert_eq!(Error::NotFound.code(), "not_found");
    /// ```
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest { .. } => "invalid_request",
            Error::EmailTaken { .. } => "email_taken",
            Error::ExternalIdTaken { .. } => "external_id_taken",
            Error::DuplicateInBatch { field, .. } => {
                if *field == "email" {
                    "email_taken"
                } else {
                    "external_id_taken"
                }
            }
            Error::Batch { source, .. } => source.code(),
            Error::NotFound => "not_found",
            Error::InvalidCursor { .. } => "invalid_cursor",
            Error::Storage { .. } => "storage",
            Error::Corrupt(_) => "corrupt",
            Error::IncompatibleFormat(_) => "incompatible_format",
        }
    }

    /// Whether the error is a uniqueness conflict (email or `externalId` taken).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw").with_external_id("u1"))?;
    /// let again = NewCustomer::new("ana@example.com", "Ana").with_external_id("u1");
    /// let err = store.create("acme", again).unwrap_err();
    /// assert!(err.is_conflict());
    /// assert_eq!(err.code(), "external_id_taken");
    /// // Another business may use the same external id.
    /// let other = NewCustomer::new("ana@example.com", "Ana").with_external_id("u1");
    /// assert!(store.create("globex", other).is_ok());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self.code(), "email_taken" | "external_id_taken")
    }

    /// Whether the error is [`Error::NotFound`].
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let patch = CustomerPatch::default().set_name("Yaw");
    /// let err = store.update("acme", "cust_00000000000000", patch).unwrap_err();
    /// assert!(err.is_not_found());
    /// assert!(!err.is_invalid_input() && !err.is_conflict());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound)
    }

    /// Whether the caller's input was refused (`invalid_request` or `invalid_cursor`).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let too_big = store.list("acme", &ListQuery::default().with_limit(101)).unwrap_err();
    /// assert!(too_big.is_invalid_input());
    /// assert_eq!((too_big.code(), too_big.field()), ("invalid_request", Some("limit")));
    /// let query = ListQuery::default().with_cursor("page-2");
    /// let bad_cursor = store.list("acme", &query).unwrap_err();
    /// assert!(bad_cursor.is_invalid_input());
    /// assert_eq!(bad_cursor.code(), "invalid_cursor");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn is_invalid_input(&self) -> bool {
        matches!(self.code(), "invalid_request" | "invalid_cursor")
    }

    /// Whether the storage failed; the outcome of a write that failed so is unknown.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// let dir = tempfile::tempdir()?;
    /// // A directory cannot be opened as a store file.
    /// let err = RedbStore::open(dir.path()).unwrap_err();
    /// assert!(err.is_storage());
    /// assert!(!err.is_in_use());
    /// assert_eq!((err.code(), err.field()), ("storage", None));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_storage(&self) -> bool {
        matches!(self, Error::Storage { .. })
    }

    /// Whether an open failed because another open store holds the file ("store in use": a
    /// running server, another process, or another open in this one). A storage error, like
    /// a failed disk, but one that ends when the holder closes the store: worth a retry.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("customers.redb");
    /// let first = RedbStore::open(&path)?;
    /// let second = RedbStore::open(&path).unwrap_err();
    /// assert!(second.is_storage() && second.is_in_use());
    /// drop(first);
    /// assert!(RedbStore::open(&path).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_in_use(&self) -> bool {
        match self {
            Error::Storage {
                source: Some(source),
                ..
            } => matches!(
                source.downcast_ref::<redb::Error>(),
                Some(redb::Error::DatabaseAlreadyOpen)
            ),
            _ => false,
        }
    }

    /// The field at fault, with its JSON name (or the argument's: `business`, `path`, `scopes`, …):
    /// for `invalid_request` (`email`, `limit`, …), a
    /// conflict or a repeat within a batch (`email` or `externalId`), `invalid_cursor`
    /// (`cursor`), and a batch error (its item's field).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, Error, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let bad_phone = NewCustomer::new("yaw@example.com", "Yaw").with_phone("024 999 8888");
    /// assert_eq!(store.create("acme", bad_phone).unwrap_err().field(), Some("phone"));
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let taken = store.create("acme", NewCustomer::new("YAW@example.com", "Y")).unwrap_err();
    /// assert_eq!(taken.field(), Some("email"));
    /// // A batch error names the field of its item's own error.
    /// let batch = vec![NewCustomer::new("ana@example.com", "Ana").with_currency("XYZ")];
    /// assert_eq!(store.create_many("acme", batch).unwrap_err().field(), Some("currency"));
    /// assert_eq!(Error::NotFound.field(), None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidRequest { field, .. } => Some(field),
            Error::EmailTaken { .. } => Some("email"),
            Error::ExternalIdTaken { .. } => Some("externalId"),
            Error::DuplicateInBatch { field, .. } => Some(field),
            Error::Batch { source, .. } => source.field(),
            Error::InvalidCursor { .. } => Some("cursor"),
            _ => None,
        }
    }

    /// The id of the customer that already holds the email or `externalId`, for a conflict
    /// with a stored customer. `None` for a repeat inside a batch
    /// ([`Error::DuplicateInBatch`], which [`is_conflict`](Error::is_conflict) too, with the
    /// same [`code`](Error::code)): no stored customer holds the value, and the batch's
    /// earlier item is named by its index.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let taken = store.create("acme", NewCustomer::new("Yaw@Example.com", "Y")).unwrap_err();
    /// assert_eq!(taken.existing_id(), Some(yaw.id.as_str()));
    /// // Within one batch, no stored customer holds the repeated email.
    /// let batch = vec![NewCustomer::new("a@x.io", "A"), NewCustomer::new("a@x.io", "B")];
    /// let repeat = store.create_many("acme", batch).unwrap_err();
    /// assert!(repeat.is_conflict());
    /// assert_eq!(repeat.existing_id(), None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn existing_id(&self) -> Option<&str> {
        match self {
            Error::EmailTaken { existing_id } | Error::ExternalIdTaken { existing_id } => {
                Some(existing_id)
            }
            Error::Batch { source, .. } => source.existing_id(),
            _ => None,
        }
    }

    /// The index of the offending item, for an error of a batch.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let batch = vec![
    ///     NewCustomer::new("a@x.io", "A"),
    ///     NewCustomer::new("b@x.io", "B"),
    ///     NewCustomer::new("c@x.io", ""),
    /// ];
    /// let err = store.create_many("acme", batch).unwrap_err();
    /// assert_eq!((err.batch_index(), err.field()), (Some(2), Some("name")));
    /// // All or nothing: the first two were not written either.
    /// assert!(store.get_by_email("acme", "a@x.io")?.is_none());
    /// // A single create is no batch.
    /// let single = store.create("acme", NewCustomer::new("c@x.io", "")).unwrap_err();
    /// assert_eq!(single.batch_index(), None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn batch_index(&self) -> Option<usize> {
        match self {
            Error::Batch { index, .. } => Some(*index),
            _ => None,
        }
    }

    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::InvalidRequest {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The error's text without its kind in front, for a message that wraps it (a corrupt
    /// store's "what" alone, where the wrapping message says "corrupt" already).
    pub(crate) fn into_detail(self) -> String {
        match self {
            Error::Corrupt(what) => what,
            other => other.to_string(),
        }
    }

    pub(crate) fn storage(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        Error::Storage {
            message: message.to_string(),
            source: Some(Arc::new(source)),
        }
    }
}
