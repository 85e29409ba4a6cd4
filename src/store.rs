//! The storage contract: what every customer store does, whatever its engine.

use crate::{Customer, CustomerPatch, ListQuery, NewCustomer, Page, Result};

/// A transactional store of customer records, each owned by one business.
///
/// Every method takes the business first; a call never sees or changes another business's
/// customers. Business names are exact: `acme` and `ACME` are two businesses. The trait is
/// object-safe: `Arc<dyn CustomerStore>` works. [`RedbStore`] is the
/// implementation of this crate.
///
/// [`RedbStore`]: crate::RedbStore
///
/// # Errors
///
/// Each method answers [`Error::InvalidRequest`] for a business name that is not 1–64
/// characters of `A-Z a-z 0-9 _ -`, and [`Error::Storage`] / [`Error::Corrupt`] when the
/// storage fails; the other errors are listed on each method.
///
/// [`Error::InvalidRequest`]: crate::Error::InvalidRequest
/// [`Error::Storage`]: crate::Error::Storage
/// [`Error::Corrupt`]: crate::Error::Corrupt
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use customer_store::{CustomerStore, NewCustomer, RedbStore};
///
/// fn register(store: &dyn CustomerStore, email: &str) -> customer_store::Result<String> {
///     Ok(store.create("acme", NewCustomer::new(email, "New customer"))?.id)
/// }
///
/// let store: Arc<dyn CustomerStore> = Arc::new(RedbStore::in_memory()?);
/// let id = register(&*store, "yaw@example.com")?;
/// assert!(store.get("acme", &id)?.is_some());
/// // Business names are exact: `ACME` is another business.
/// assert!(store.get("ACME", &id)?.is_none());
/// assert_eq!(store.get("not a business", &id).unwrap_err().field(), Some("business"));
/// # Ok::<(), customer_store::Error>(())
/// ```
pub trait CustomerStore: Send + Sync {
    /// Validates, normalises and stores a new customer; durable when it returns `Ok`.
    ///
    /// # Errors
    ///
    /// `invalid_request` naming the field that breaks a rule; `email_taken` or
    /// `external_id_taken` naming the existing customer's id. Nothing is written on error.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore, Status};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new(" Yaw@Example.com ", "Yaw Mensah"))?;
    /// assert_eq!(yaw.email, "Yaw@Example.com");
    /// assert_eq!(yaw.status, Status::Active);
    /// let again = store.create("acme", NewCustomer::new("yaw@example.com", "Someone"));
    /// assert_eq!(again.unwrap_err().existing_id(), Some(yaw.id.as_str()));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn create(&self, business: &str, new: NewCustomer) -> Result<Customer>;

    /// Creates every customer of `new` in one transaction, or none of them.
    ///
    /// # Errors
    ///
    /// [`Error::Batch`](crate::Error::Batch) with the index of the first offending item and
    /// its own error, whatever rule it breaks (each item is checked in order: its fields, then
    /// a repeat of an earlier item, then a stored customer). For an email or external id
    /// repeated inside the batch, that own error (the `source` of the `Batch`) is
    /// [`Error::DuplicateInBatch`](crate::Error::DuplicateInBatch) naming the earlier index;
    /// its code is a conflict's, `email_taken` or `external_id_taken`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, Error, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let batch = vec![NewCustomer::new("a@x.io", "A"), NewCustomer::new("A@X.IO", "B")];
    /// let err = store.create_many("acme", batch).unwrap_err();
    /// assert_eq!((err.code(), err.batch_index()), ("email_taken", Some(1)));
    /// let Error::Batch { source, .. } = err else { panic!("not a batch error") };
    /// assert!(matches!(*source, Error::DuplicateInBatch { earlier_index: 0, .. }));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn create_many(&self, business: &str, new: Vec<NewCustomer>) -> Result<Vec<Customer>>;

    /// The customer with this id, or `None` (also for a malformed id or another business's).
    ///
    /// # Errors
    ///
    /// Only storage and business-name errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert_eq!(store.get("acme", &yaw.id)?, Some(yaw.clone()));
    /// assert_eq!(store.get("other", &yaw.id)?, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn get(&self, business: &str, id: &str) -> Result<Option<Customer>>;

    /// The customer with this email, compared ignoring case and surrounding spaces.
    ///
    /// # Errors
    ///
    /// Only storage and business-name errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert!(store.get_by_email("acme", "YAW@example.COM")?.is_some());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn get_by_email(&self, business: &str, email: &str) -> Result<Option<Customer>>;

    /// The customer with this external id (exact, case-sensitive).
    ///
    /// # Errors
    ///
    /// Only storage and business-name errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_external_id("user_1");
    /// store.create("acme", new)?;
    /// assert!(store.get_by_external_id("acme", "user_1")?.is_some());
    /// assert!(store.get_by_external_id("acme", "USER_1")?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn get_by_external_id(&self, business: &str, external_id: &str) -> Result<Option<Customer>>;

    /// One page of the business's customers, in creation order, from one snapshot.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a `limit` outside 1–100 (never clamped); `invalid_cursor` for a
    /// cursor that is not of the form `cust_` + 14 characters of `0-9a-z`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// for i in 0..3 {
    ///     store.create("acme", NewCustomer::new(format!("c{i}@example.com"), "C"))?;
    /// }
    /// let page = store.list("acme", &ListQuery::default().with_limit(2))?;
    /// assert!(page.has_more);
    /// let rest = store.list("acme", &ListQuery::default().with_cursor(page.next_cursor.unwrap()))?;
    /// assert_eq!((rest.items.len(), rest.has_more), (1, false));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn list(&self, business: &str, query: &ListQuery) -> Result<Page>;

    /// [`list`](Self::list) into `page`, replacing what it held; an implementation may reuse
    /// the memory of `page`'s customers. A walk that passes the same `page` to every call
    /// allocates next to nothing per page on [`RedbStore`](crate::RedbStore).
    ///
    /// `page` is left empty on error. The default implementation calls [`list`](Self::list).
    ///
    /// # Errors
    ///
    /// As [`list`](Self::list).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, Page, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// for i in 0..5 {
    ///     store.create("acme", NewCustomer::new(format!("c{i}@example.com"), "C"))?;
    /// }
    /// let mut query = ListQuery::default().with_limit(2);
    /// let mut page = Page::default();
    /// let mut seen = Vec::new();
    /// loop {
    ///     store.list_into("acme", &query, &mut page)?;
    ///     seen.extend(page.items.iter().map(|c| c.email.clone()));
    ///     match page.next_cursor.take().filter(|_| page.has_more) {
    ///         Some(cursor) => query = query.with_cursor(cursor),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen.len(), 5);
    /// assert_eq!(seen[4], "c4@example.com");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn list_into(&self, business: &str, query: &ListQuery, page: &mut Page) -> Result<()> {
        *page = Page::default();
        *page = self.list(business, query)?;
        Ok(())
    }

    /// Applies a patch; a patch that changes nothing writes nothing.
    ///
    /// # Errors
    ///
    /// `not_found` for an id that names no customer of the business; `invalid_request` for a
    /// field rule or a `null` name, email or status; `email_taken` / `external_id_taken` when
    /// the new value belongs to another customer.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_phone("+233 24 999 8888");
    /// let yaw = store.create("acme", new)?;
    /// let patch = CustomerPatch::default().set_phone(None::<String>);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.phone, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn update(&self, business: &str, id: &str, patch: CustomerPatch) -> Result<Customer>;

    /// Removes a customer and every index entry of it, and returns the removed record.
    ///
    /// The email and external id become free; the id is never issued again.
    ///
    /// # Errors
    ///
    /// `not_found` for an id that names no customer of the business.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// assert_eq!(store.delete("acme", &yaw.id)?, yaw);
    /// assert!(store.delete("acme", &yaw.id).unwrap_err().is_not_found());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    fn delete(&self, business: &str, id: &str) -> Result<Customer>;
}
