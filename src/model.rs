//! The records and requests of the Customers API, with the seed's JSON names.
//!
//! Deserialising these types checks only the JSON shape (types, unknown fields); every field
//! rule is checked by the store call, which answers [`Error::InvalidRequest`](crate::Error).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The lifecycle state of a customer. New customers are [`Status::Active`].
///
/// # Example
///
/// ```
/// use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status};
/// let store = RedbStore::in_memory()?;
/// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
/// assert_eq!(yaw.status, Status::Active);
/// store.update("acme", &yaw.id, CustomerPatch::default().set_status(Status::Blocked))?;
/// let blocked = store.list("acme", &ListQuery::default().with_status(Status::Blocked))?;
/// assert_eq!(blocked.items[0].id, yaw.id);
///
/// // The seed's names, in text and in JSON; any other spelling is refused.
/// assert_eq!("INACTIVE".parse::<Status>()?, Status::Inactive);
/// assert_eq!("inactive".parse::<Status>().unwrap_err().field(), Some("status"));
/// assert_eq!(serde_json::to_string(&Status::Blocked).unwrap(), r#""BLOCKED""#);
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// The customer can be charged and invoiced (`ACTIVE`).
    Active,
    /// The customer is kept but not in use (`INACTIVE`).
    Inactive,
    /// The customer is barred from payments (`BLOCKED`).
    Blocked,
}

impl Status {
    /// Every status, in the order of their stored codes.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::Status;
    /// let names: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    /// assert_eq!(names, ["ACTIVE", "INACTIVE", "BLOCKED"]);
    /// ```
    pub const ALL: [Status; 3] = [Status::Active, Status::Inactive, Status::Blocked];

    /// The seed's name of the status: `ACTIVE`, `INACTIVE` or `BLOCKED`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::Status;
    /// assert_eq!(Status::Inactive.as_str(), "INACTIVE");
    /// assert_eq!(Status::Blocked.to_string(), Status::Blocked.as_str());
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "ACTIVE",
            Status::Inactive => "INACTIVE",
            Status::Blocked => "BLOCKED",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Status::Active => 0,
            Status::Inactive => 1,
            Status::Blocked => 2,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Status> {
        Status::ALL.get(usize::from(code)).copied()
    }
}

/// The derived form of [`Status`], for formats that are not human-readable: as `Status`
/// serialises in them (postcard writes the variant's index, CBOR its name), so that what a
/// caller stored in one of them reads back. (The store's own records hold a status as a code
/// of their own.)
#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum StatusIndex {
    Active,
    Inactive,
    Blocked,
}

/// Reads a status name; anything but a string is a wrong type, not malformed input (serde's
/// derived enum calls a JSON `true` a syntax error).
struct StatusName;

impl serde::de::Visitor<'_> for StatusName {
    type Value = Status;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("one of ACTIVE, INACTIVE, BLOCKED")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Status, E> {
        v.parse()
            .map_err(|_| E::unknown_variant(v, &["ACTIVE", "INACTIVE", "BLOCKED"]))
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Status, D::Error> {
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(StatusName)
        } else {
            Ok(match StatusIndex::deserialize(deserializer)? {
                StatusIndex::Active => Status::Active,
                StatusIndex::Inactive => Status::Inactive,
                StatusIndex::Blocked => Status::Blocked,
            })
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Status, crate::Error> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid("status", "must be one of ACTIVE, INACTIVE, BLOCKED")
            })
    }
}

/// One value of a customer's metadata: a string, a finite number or a boolean.
///
/// Integers keep their exact value and their JSON form (`3`, not `3.0`).
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, Metadata, MetadataValue, NewCustomer, RedbStore};
/// let metadata = Metadata::from([
///     ("plan".to_owned(), MetadataValue::from("gold")),
///     ("seats".to_owned(), MetadataValue::from(3_i64)),
///     ("discount".to_owned(), MetadataValue::from(0.5)),
///     ("trial".to_owned(), MetadataValue::from(false)),
/// ]);
/// assert_eq!(
///     serde_json::to_string(&metadata).unwrap(),
///     r#"{"discount":0.5,"plan":"gold","seats":3,"trial":false}"#
/// );
/// let store = RedbStore::in_memory()?;
/// let new = NewCustomer::new("yaw@example.com", "Yaw").with_metadata(metadata.clone());
/// let yaw = store.create("acme", new)?;
/// assert_eq!(yaw.metadata, Some(metadata));
///
/// // Read from JSON, an integer is an `Int` and anything with a fraction a `Float`.
/// let read: MetadataValue = serde_json::from_str("3").unwrap();
/// assert_eq!(read, MetadataValue::Int(3));
/// let read: MetadataValue = serde_json::from_str("3.0").unwrap();
/// assert_eq!(read, MetadataValue::Float(3.0));
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// A string of at most 500 characters.
    String(String),
    /// An integer that fits in an `i64`.
    Int(i64),
    /// Any other finite number.
    Float(f64),
    /// `true` or `false`.
    Bool(bool),
}

impl From<&str> for MetadataValue {
    fn from(value: &str) -> Self {
        MetadataValue::String(value.to_owned())
    }
}

impl From<String> for MetadataValue {
    fn from(value: String) -> Self {
        MetadataValue::String(value)
    }
}

impl From<i64> for MetadataValue {
    fn from(value: i64) -> Self {
        MetadataValue::Int(value)
    }
}

impl From<f64> for MetadataValue {
    fn from(value: f64) -> Self {
        MetadataValue::Float(value)
    }
}

impl From<bool> for MetadataValue {
    fn from(value: bool) -> Self {
        MetadataValue::Bool(value)
    }
}

impl Serialize for MetadataValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            MetadataValue::String(s) => serializer.serialize_str(s),
            MetadataValue::Int(i) => serializer.serialize_i64(*i),
            MetadataValue::Float(f) => serializer.serialize_f64(*f),
            MetadataValue::Bool(b) => serializer.serialize_bool(*b),
        }
    }
}

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;

        impl Visitor<'_> for ValueVisitor {
            type Value = MetadataValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a number or a boolean (metadata is a flat object)")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Bool(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MetadataValue, E> {
                i64::try_from(v)
                    .map(MetadataValue::Int)
                    .map_err(|_| E::custom(NUMBER_TOO_LARGE))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<MetadataValue, E> {
                Ok(MetadataValue::Float(v))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<MetadataValue, E> {
                Ok(MetadataValue::String(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<MetadataValue, E> {
                Ok(MetadataValue::String(v))
            }
        }

        deserializer.deserialize_any(ValueVisitor)
    }
}

/// A customer's metadata: a flat object of at most 50 keys, kept in key order.
///
/// When read from JSON (the bodies of [`NewCustomer`] and [`CustomerPatch`]), a key given twice
/// is refused (which one counts would be up to the reader), and so is an integer from 2^63 to
/// 2^64 − 1, which serde_json reads as a `u64` that an `i64` cannot keep (it used to come back
/// rounded, as a float). Every other number outside the `i64` range (2^64 and more, below
/// −2^63, or with a fraction or an exponent) reaches the store as the nearest `f64`, as any
/// JSON reader reads it, and comes back as that float: send a longer integer (an order number)
/// as a string.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, Metadata, MetadataValue, NewCustomer, RedbStore};
/// let mut metadata = Metadata::new();
/// metadata.insert("zone".to_owned(), "eu".into());
/// metadata.insert("account".to_owned(), 42_i64.into());
/// let store = RedbStore::in_memory()?;
/// let new = NewCustomer::new("yaw@example.com", "Yaw").with_metadata(metadata);
/// let yaw = store.create("acme", new)?;
/// let keys: Vec<&str> = yaw.metadata.as_ref().unwrap().keys().map(String::as_str).collect();
/// assert_eq!(keys, ["account", "zone"]);
///
/// // At most 50 keys.
/// let many: Metadata = (0..51).map(|i| (format!("k{i}"), MetadataValue::Bool(true))).collect();
/// let new = NewCustomer::new("ana@example.com", "Ana").with_metadata(many);
/// assert_eq!(store.create("acme", new).unwrap_err().field(), Some("metadata"));
/// # Ok::<(), customer_store::Error>(())
/// ```
pub type Metadata = BTreeMap<String, MetadataValue>;

/// The refusal of a metadata integer that an `i64` cannot keep.
const NUMBER_TOO_LARGE: &str =
    "a metadata integer must be within the 64-bit signed range; send a longer one as a string";

/// [`Metadata`] read strictly: from an object whose keys all differ, with numbers in range.
///
/// The bodies of [`NewCustomer`] and [`CustomerPatch`] read their metadata this way; use it to
/// read metadata given on its own (a CSV cell, a command-line argument) by the same rules.
///
/// # Errors
///
/// Deserialising fails on a repeated key, on a value that is not a string, number or boolean,
/// and on an integer from 2^63 to 2^64 − 1.
///
/// # Example
///
/// ```
/// use customer_store::MetadataObject;
/// let MetadataObject(metadata) = serde_json::from_str(r#"{"plan": "gold", "seats": 3}"#)?;
/// assert_eq!(metadata.len(), 2);
/// assert!(serde_json::from_str::<MetadataObject>(r#"{"plan": 1, "plan": 2}"#).is_err());
/// assert!(serde_json::from_str::<MetadataObject>(r#"{"id": 18446744073709551615}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataObject(pub Metadata);

impl<'de> Deserialize<'de> for MetadataObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = MetadataObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a flat object of strings, numbers and booleans")
            }

            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MetadataObject, A::Error> {
                let mut metadata = Metadata::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<MetadataValue>()?;
                    if metadata.contains_key(&key) {
                        // The client's own text, cut as the server cuts a name it echoes
                        // (found in review: a 30,000-character key came back whole).
                        let shown: String = key.chars().take(40).collect();
                        let cut = if shown.len() < key.len() { "…" } else { "" };
                        return Err(de::Error::custom(format_args!(
                            "duplicate metadata key `{shown}{cut}`"
                        )));
                    }
                    metadata.insert(key, value);
                }
                Ok(MetadataObject(metadata))
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Reads an optional metadata field (`null` is `None`) through [`MetadataObject`].
pub(crate) fn metadata<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Metadata>, D::Error> {
    Ok(Option::<MetadataObject>::deserialize(deserializer)?.map(|m| m.0))
}

/// Reads a patch's metadata: absent (`None`, by `default`), `null` or an object.
fn present_metadata<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<Metadata>>, D::Error> {
    metadata(deserializer).map(Some)
}

/// A stored customer, as the API returns it.
///
/// Serialises to exactly the seed's shape: `id, externalId, email, name, phone, description,
/// metadata, status, currency, createdAt, updatedAt`, with absent values as `null`.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use customer_store::{CustomerStore, ManualClock, NewCustomer, RedbStore, Status};
/// let clock = ManualClock::new("2026-06-05T12:00:00.750Z".parse().unwrap());
/// let store = RedbStore::builder().clock(Arc::new(clock)).in_memory()?;
/// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", " Yaw Mensah "))?;
/// assert!(yaw.id.starts_with("cust_") && yaw.id.len() == 19);
/// assert_eq!(yaw.name, "Yaw Mensah");
/// assert_eq!((yaw.status, yaw.phone.as_deref()), (Status::Active, None));
/// assert_eq!(yaw.created_at, yaw.updated_at);
///
/// let json = serde_json::to_string(&yaw).unwrap();
/// let expected = format!(
///     r#"{{"id":"{}","externalId":null,"email":"yaw@example.com","name":"Yaw Mensah","#,
///     yaw.id
/// ) + r#""phone":null,"description":null,"metadata":null,"status":"ACTIVE","currency":null,"#
///   + r#""createdAt":"2026-06-05T12:00:00Z","updatedAt":"2026-06-05T12:00:00Z"}"#;
/// assert_eq!(json, expected);
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    /// The customer's id: `cust_` and 14 characters of `0-9a-z`, increasing with creation
    /// within its business. Ids are unique within a business only: two businesses may hold the
    /// same id (each business counts its own), so keep the business beside it.
    pub id: String,
    /// The merchant's own identifier for the customer; unique within the business.
    pub external_id: Option<String>,
    /// The email as given (trimmed); unique within the business, ignoring case.
    pub email: String,
    /// The customer's full name.
    pub name: String,
    /// The phone number in E.164 form (`+233249998888`).
    pub phone: Option<String>,
    /// Internal notes about the customer.
    pub description: Option<String>,
    /// Flat key-value metadata.
    pub metadata: Option<Metadata>,
    /// The customer's status.
    pub status: Status,
    /// The default currency for invoicing, an upper-case ISO 4217 code.
    pub currency: Option<String>,
    /// When the customer was created (whole seconds, UTC).
    pub created_at: Timestamp,
    /// When the customer last changed (whole seconds, UTC).
    pub updated_at: Timestamp,
}

/// The body of a create request: the seed's create parameters.
///
/// Unknown fields are refused when deserialising. The field rules (lengths, formats) are checked
/// by [`CustomerStore::create`](crate::CustomerStore::create).
///
/// # Example
///
/// ```
/// use customer_store::NewCustomer;
/// let new = NewCustomer::new("yaw@example.com", "Yaw Mensah").with_currency("GHS");
/// assert_eq!(new.currency.as_deref(), Some("GHS"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCustomer {
    /// Required; unique within the business, ignoring case. No spaces, control characters or
    /// invisible format characters (zero-width, direction marks).
    pub email: String,
    /// Required; the customer's full name.
    pub name: String,
    /// An international phone number (`+233240000000`); spaces, `-`, `.`, `(`, `)` are removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The merchant's own identifier; unique within the business, case-sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Internal notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// An ISO 4217 code in any case; stored upper case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Flat key-value metadata.
    #[serde(
        default,
        deserialize_with = "metadata",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Metadata>,
}

impl NewCustomer {
    /// A create request with the two required fields.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let new = NewCustomer::new(" Ana@Example.com ", " Ana Lima ");
    /// assert_eq!((new.phone, new.currency), (None, None));
    /// let store = RedbStore::in_memory()?;
    /// let ana = store.create("acme", NewCustomer::new(" Ana@Example.com ", " Ana Lima "))?;
    /// assert_eq!((ana.email.as_str(), ana.name.as_str()), ("Ana@Example.com", "Ana Lima"));
    /// let nameless = store.create("acme", NewCustomer::new("bo@example.com", "  "));
    /// assert_eq!(nameless.unwrap_err().field(), Some("name"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn new(email: impl Into<String>, name: impl Into<String>) -> NewCustomer {
        NewCustomer {
            email: email.into(),
            name: name.into(),
            ..NewCustomer::default()
        }
    }

    /// Sets the phone number.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_phone("+233 (24) 999-88.88");
    /// assert_eq!(store.create("acme", new)?.phone.as_deref(), Some("+233249998888"));
    /// let local = NewCustomer::new("ana@example.com", "Ana").with_phone("024 999 8888");
    /// assert_eq!(store.create("acme", local).unwrap_err().field(), Some("phone"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> NewCustomer {
        self.phone = Some(phone.into());
        self
    }

    /// Sets the external id.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_external_id(" User_1 ");
    /// // Kept exactly as given: neither trimmed nor lower-cased.
    /// assert_eq!(store.create("acme", new)?.external_id.as_deref(), Some(" User_1 "));
    /// assert!(store.get_by_external_id("acme", "User_1")?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_external_id(mut self, external_id: impl Into<String>) -> NewCustomer {
        self.external_id = Some(external_id.into());
        self
    }

    /// Sets the description.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_description("VIP\nCall first");
    /// assert_eq!(store.create("acme", new)?.description.as_deref(), Some("VIP\nCall first"));
    /// let long = NewCustomer::new("ana@example.com", "Ana").with_description("x".repeat(5001));
    /// assert_eq!(store.create("acme", long).unwrap_err().field(), Some("description"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> NewCustomer {
        self.description = Some(description.into());
        self
    }

    /// Sets the currency code.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_currency("ghs");
    /// assert_eq!(store.create("acme", new)?.currency.as_deref(), Some("GHS"));
    /// let unknown = NewCustomer::new("ana@example.com", "Ana").with_currency("XYZ");
    /// assert_eq!(store.create("acme", unknown).unwrap_err().field(), Some("currency"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_currency(mut self, currency: impl Into<String>) -> NewCustomer {
        self.currency = Some(currency.into());
        self
    }

    /// Sets the metadata.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, Metadata, MetadataValue, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let metadata = Metadata::from([("plan".to_owned(), MetadataValue::from("gold"))]);
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_metadata(metadata.clone());
    /// assert_eq!(store.create("acme", new)?.metadata, Some(metadata));
    /// let bad_key = Metadata::from([("a[0]".to_owned(), MetadataValue::from(1_i64))]);
    /// let new = NewCustomer::new("ana@example.com", "Ana").with_metadata(bad_key);
    /// assert_eq!(store.create("acme", new).unwrap_err().field(), Some("metadata"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_metadata(mut self, metadata: Metadata) -> NewCustomer {
        self.metadata = Some(metadata);
        self
    }
}

/// A customer being imported: a create request, plus the status and timestamps an exported
/// record carries (kept where present). See
/// [`RedbStore::import_many`](crate::RedbStore::import_many).
///
/// # Example
///
/// ```
/// use customer_store::{ImportCustomer, NewCustomer, Status};
/// let item = ImportCustomer {
///     status: Some(Status::Blocked),
///     created_at: Some("2026-06-05T12:00:00Z".parse().unwrap()),
///     ..ImportCustomer::from(NewCustomer::new("yaw@example.com", "Yaw"))
/// };
/// assert_eq!(item.updated_at, None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportCustomer {
    /// The fields of a create request.
    pub customer: NewCustomer,
    /// The status to keep (`ACTIVE` when `None`).
    pub status: Option<Status>,
    /// The creation time to keep (the store's clock when `None`); never after the store's
    /// clock, or the item is refused.
    pub created_at: Option<Timestamp>,
    /// The update time to keep (`createdAt` when `None`); never before `createdAt` (the
    /// store's clock when that is `None`) nor after the store's clock, or the item is refused.
    pub updated_at: Option<Timestamp>,
}

impl From<NewCustomer> for ImportCustomer {
    fn from(customer: NewCustomer) -> Self {
        ImportCustomer {
            customer,
            ..ImportCustomer::default()
        }
    }
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The body of an update request (PATCH semantics).
///
/// Each field is `None` when absent (unchanged), `Some(None)` for JSON `null` (cleared) and
/// `Some(Some(value))` to set it. `null` is accepted for `phone`, `description`, `metadata`,
/// `externalId` and `currency`; for `name`, `email` and `status` the store answers
/// `invalid_request`. `metadata` replaces the whole object. Unknown fields are refused.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerPatch, Status};
/// let patch = CustomerPatch::default().set_name("Yaw Mensah Jr.").set_status(Status::Active);
/// let json: CustomerPatch =
///     serde_json::from_str(r#"{"name": "Yaw Mensah Jr.", "status": "ACTIVE"}"#).unwrap();
/// assert_eq!(patch, json);
///
/// let cleared = CustomerPatch::default().clear_phone().clear_metadata();
/// let json: CustomerPatch =
///     serde_json::from_str(r#"{"phone": null, "metadata": null}"#).unwrap();
/// assert_eq!(cleared, json);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomerPatch {
    /// A new email (unique within the business).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<Option<String>>,
    /// A new name.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<Option<String>>,
    /// A new phone number, or `Some(None)` to clear it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Option<Option<String>>,
    /// A new external id, or `Some(None)` to clear it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<Option<String>>,
    /// A new description, or `Some(None)` to clear it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
    /// A new currency code, or `Some(None)` to clear it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub currency: Option<Option<String>>,
    /// New metadata (replacing the old object), or `Some(None)` to clear it.
    #[serde(
        default,
        deserialize_with = "present_metadata",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Option<Metadata>>,
    /// A new status.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<Option<Status>>,
}

impl CustomerPatch {
    /// Sets the email.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let ana = store.create("acme", NewCustomer::new("ana@example.com", "Ana"))?;
    /// let patch = CustomerPatch::default().set_email(" yaw@new.example ");
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.email, "yaw@new.example");
    /// // The old email is free again; another customer's is not.
    /// assert!(store.get_by_email("acme", "yaw@example.com")?.is_none());
    /// let patch = CustomerPatch::default().set_email("ANA@example.com");
    /// let taken = store.update("acme", &yaw.id, patch);
    /// assert_eq!(taken.unwrap_err().existing_id(), Some(ana.id.as_str()));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_email(mut self, email: impl Into<String>) -> CustomerPatch {
        self.email = Some(Some(email.into()));
        self
    }

    /// Sets the name.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let patch = CustomerPatch::default().set_name("  Yaw Mensah Jr. ");
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.name, "Yaw Mensah Jr.");
    /// let empty = store.update("acme", &yaw.id, CustomerPatch::default().set_name(""));
    /// assert_eq!(empty.unwrap_err().field(), Some("name"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_name(mut self, name: impl Into<String>) -> CustomerPatch {
        self.name = Some(Some(name.into()));
        self
    }

    /// Sets (`Some`) or clears (`None`) the phone number.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let patch = CustomerPatch::default().set_phone(Some("+44 20 7946 0958"));
    /// let yaw = store.update("acme", &yaw.id, patch)?;
    /// assert_eq!(yaw.phone.as_deref(), Some("+442079460958"));
    /// let patch = CustomerPatch::default().set_phone(None::<&str>);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.phone, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_phone(mut self, phone: Option<impl Into<String>>) -> CustomerPatch {
        self.phone = Some(phone.map(Into::into));
        self
    }

    /// Sets (`Some`) or clears (`None`) the external id.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// store.update("acme", &yaw.id, CustomerPatch::default().set_external_id(Some("user_1")))?;
    /// assert_eq!(store.get_by_external_id("acme", "user_1")?.map(|c| c.id), Some(yaw.id.clone()));
    /// let patch = CustomerPatch::default().set_external_id(None::<String>);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.external_id, None);
    /// assert!(store.get_by_external_id("acme", "user_1")?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_external_id(mut self, external_id: Option<impl Into<String>>) -> CustomerPatch {
        self.external_id = Some(external_id.map(Into::into));
        self
    }

    /// Sets (`Some`) or clears (`None`) the description.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let patch = CustomerPatch::default().set_description(Some("Prefers email"));
    /// let yaw = store.update("acme", &yaw.id, patch)?;
    /// assert_eq!(yaw.description.as_deref(), Some("Prefers email"));
    /// let nul = CustomerPatch::default().set_description(Some("a\0b"));
    /// assert_eq!(store.update("acme", &yaw.id, nul).unwrap_err().field(), Some("description"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_description(mut self, description: Option<impl Into<String>>) -> CustomerPatch {
        self.description = Some(description.map(Into::into));
        self
    }

    /// Sets (`Some`) or clears (`None`) the currency.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let patch = CustomerPatch::default().set_currency(Some("eur"));
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.currency.as_deref(), Some("EUR"));
    /// let patch = CustomerPatch::default().set_currency(None::<&str>);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.currency, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_currency(mut self, currency: Option<impl Into<String>>) -> CustomerPatch {
        self.currency = Some(currency.map(Into::into));
        self
    }

    /// Replaces (`Some`) or clears (`None`) the metadata.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, Metadata, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let first = Metadata::from([
    ///     ("plan".to_owned(), "gold".into()),
    ///     ("seats".to_owned(), 3_i64.into()),
    /// ]);
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_metadata(first);
    /// let yaw = store.create("acme", new)?;
    /// // The whole object is replaced: `seats` is gone.
    /// let second = Metadata::from([("plan".into(), "silver".into())]);
    /// let patch = CustomerPatch::default().set_metadata(Some(second.clone()));
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.metadata, Some(second));
    /// let patch = CustomerPatch::default().set_metadata(None);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.metadata, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_metadata(mut self, metadata: Option<Metadata>) -> CustomerPatch {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the status.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore, Status};
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// let patch = CustomerPatch::default().set_status(Status::Inactive);
    /// assert_eq!(store.update("acme", &yaw.id, patch)?.status, Status::Inactive);
    /// assert_eq!(store.businesses()?[0].inactive, 1);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn set_status(mut self, status: Status) -> CustomerPatch {
        self.status = Some(Some(status));
        self
    }
    /// Clears the phone number (`"phone": null`): the same as `set_phone(None)`, without naming a type
    /// for the `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_phone("+233249998888");
    /// let yaw = store.create("acme", new.with_currency("GHS"))?;
    /// let after = store.update("acme", &yaw.id, CustomerPatch::default().clear_phone())?;
    /// assert_eq!(after.phone, None);
    /// assert_eq!(after.currency.as_deref(), Some("GHS")); // the other fields are unchanged
    /// let same = CustomerPatch::default().set_phone(None::<&str>);
    /// assert_eq!(CustomerPatch::default().clear_phone(), same);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clear_phone(mut self) -> CustomerPatch {
        self.phone = Some(None);
        self
    }

    /// Clears the external id (`"externalId": null`): the same as `set_external_id(None)`, without naming a type
    /// for the `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_external_id("u1");
    /// let yaw = store.create("acme", new)?;
    /// let after = store.update("acme", &yaw.id, CustomerPatch::default().clear_external_id())?;
    /// assert_eq!(after.external_id, None);
    /// // The external id is free for another customer.
    /// let ana = NewCustomer::new("ana@example.com", "Ana").with_external_id("u1");
    /// assert_eq!(store.create("acme", ana)?.external_id.as_deref(), Some("u1"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clear_external_id(mut self) -> CustomerPatch {
        self.external_id = Some(None);
        self
    }

    /// Clears the description (`"description": null`): the same as `set_description(None)`, without naming a type
    /// for the `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_description("VIP");
    /// let yaw = store.create("acme", new)?;
    /// let after = store.update("acme", &yaw.id, CustomerPatch::default().clear_description())?;
    /// assert_eq!(after.description, None);
    /// assert_eq!(store.get("acme", &yaw.id)?.unwrap().description, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clear_description(mut self) -> CustomerPatch {
        self.description = Some(None);
        self
    }

    /// Clears the currency (`"currency": null`): the same as `set_currency(None)`, without naming a type
    /// for the `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_currency("usd");
    /// let yaw = store.create("acme", new)?;
    /// assert_eq!(yaw.currency.as_deref(), Some("USD"));
    /// let after = store.update("acme", &yaw.id, CustomerPatch::default().clear_currency())?;
    /// assert_eq!(after.currency, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clear_currency(mut self) -> CustomerPatch {
        self.currency = Some(None);
        self
    }

    /// Clears the metadata (`"metadata": null`): the same as `set_metadata(None)`, without naming a type
    /// for the `None`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, Metadata, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let metadata = Metadata::from([("plan".into(), "gold".into())]);
    /// let new = NewCustomer::new("yaw@example.com", "Yaw").with_metadata(metadata);
    /// let yaw = store.create("acme", new)?;
    /// let after = store.update("acme", &yaw.id, CustomerPatch::default().clear_metadata())?;
    /// assert_eq!(after.metadata, None);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn clear_metadata(mut self) -> CustomerPatch {
        self.metadata = Some(None);
        self
    }
}

/// The parameters of a list call, with the seed's query names.
///
/// # Example
///
/// ```
/// use customer_store::ListQuery;
/// let query = ListQuery::default().with_email("yaw").with_limit(1);
/// assert_eq!(query.limit, Some(1));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListQuery {
    /// Only customers whose email contains this text, ignoring case and spaces at either end.
    /// Empty means no filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Only customers with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Page size, 1–100; 20 when absent. Out of range is an error, never clamped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page: only customers created after it are returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListQuery {
    /// The page size used when `limit` is absent.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let batch = (0..25).map(|i| NewCustomer::new(format!("c{i}@example.com"), "C")).collect();
    /// store.create_many("acme", batch)?;
    /// let page = store.list("acme", &ListQuery::default())?;
    /// assert_eq!(page.items.len(), ListQuery::DEFAULT_LIMIT as usize);
    /// assert!(page.has_more);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub const DEFAULT_LIMIT: u32 = 20;
    /// The largest page size.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// assert!(store.list("acme", &ListQuery::default().with_limit(ListQuery::MAX_LIMIT)).is_ok());
    /// let over = ListQuery::default().with_limit(ListQuery::MAX_LIMIT + 1);
    /// assert_eq!(store.list("acme", &over).unwrap_err().field(), Some("limit"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub const MAX_LIMIT: u32 = 100;

    /// Sets the email filter.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// store.create("acme", NewCustomer::new("Yaw.Mensah@example.com", "Yaw"))?;
    /// store.create("acme", NewCustomer::new("ana@example.org", "Ana"))?;
    /// // A substring, ignoring case and spaces at either end.
    /// let page = store.list("acme", &ListQuery::default().with_email(" mensah@EXAMPLE "))?;
    /// assert_eq!(page.items.len(), 1);
    /// assert_eq!(page.items[0].email, "Yaw.Mensah@example.com");
    /// // An empty term is no filter.
    /// assert_eq!(store.list("acme", &ListQuery::default().with_email(""))?.items.len(), 2);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_email(mut self, term: impl Into<String>) -> ListQuery {
        self.email = Some(term.into());
        self
    }

    /// Sets the status filter.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// use customer_store::Status;
    /// let store = RedbStore::in_memory()?;
    /// let yaw = store.create("acme", NewCustomer::new("yaw@example.com", "Yaw"))?;
    /// store.create("acme", NewCustomer::new("ana@example.com", "Ana"))?;
    /// store.update("acme", &yaw.id, CustomerPatch::default().set_status(Status::Inactive))?;
    /// let page = store.list("acme", &ListQuery::default().with_status(Status::Active))?;
    /// assert_eq!(page.items.len(), 1);
    /// assert_eq!(page.items[0].email, "ana@example.com");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_status(mut self, status: Status) -> ListQuery {
        self.status = Some(status);
        self
    }

    /// Sets the page size.
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
    /// assert_eq!((page.items.len(), page.has_more), (2, true));
    /// // Out of range is an error, never clamped.
    /// let zero = store.list("acme", &ListQuery::default().with_limit(0));
    /// assert_eq!(zero.unwrap_err().field(), Some("limit"));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_limit(mut self, limit: u32) -> ListQuery {
        self.limit = Some(limit);
        self
    }

    /// Sets the cursor (the previous page's `nextCursor`).
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{CustomerStore, ListQuery, NewCustomer, RedbStore};
    /// let store = RedbStore::in_memory()?;
    /// let first = store.create("acme", NewCustomer::new("a@example.com", "A"))?;
    /// let second = store.create("acme", NewCustomer::new("b@example.com", "B"))?;
    /// let rest = store.list("acme", &ListQuery::default().with_cursor(first.id.as_str()))?;
    /// assert_eq!(rest.items, vec![second]);
    /// let bad = store.list("acme", &ListQuery::default().with_cursor("2"));
    /// assert_eq!(bad.unwrap_err().code(), "invalid_cursor");
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn with_cursor(mut self, cursor: impl Into<String>) -> ListQuery {
        self.cursor = Some(cursor.into());
        self
    }
}

/// One page of a list call: `{"items": [...], "nextCursor": ..., "hasMore": ...}`.
///
/// The default is the empty page.
///
/// # Example
///
/// ```
/// use customer_store::{CustomerStore, ListQuery, NewCustomer, Page, RedbStore};
/// let store = RedbStore::in_memory()?;
/// let empty = store.list("acme", &ListQuery::default())?;
/// assert_eq!(empty, Page::default());
/// assert_eq!(
///     serde_json::to_string(&empty).unwrap(),
///     r#"{"items":[],"nextCursor":null,"hasMore":false}"#
/// );
///
/// let a = store.create("acme", NewCustomer::new("a@example.com", "A"))?;
/// let b = store.create("acme", NewCustomer::new("b@example.com", "B"))?;
/// let first = store.list("acme", &ListQuery::default().with_limit(1))?;
/// assert_eq!((first.next_cursor.as_deref(), first.has_more), (Some(a.id.as_str()), true));
/// let last = store.list("acme", &ListQuery::default().with_cursor(first.next_cursor.unwrap()))?;
/// assert_eq!((last.next_cursor.as_deref(), last.has_more), (Some(b.id.as_str()), false));
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    /// The matching customers, in ascending id (creation) order.
    pub items: Vec<Customer>,
    /// The id of the last item (`None` on an empty page): pass it as the next `cursor`.
    pub next_cursor: Option<String>,
    /// Whether another matching customer exists after the last item.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A status reads back from what it serialises to, in a human-readable format (JSON: its
    /// name) and in one that is not (postcard: its index).
    #[test]
    fn statuses_read_back() {
        for status in Status::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
            let bytes = postcard::to_allocvec(&status).unwrap();
            assert_eq!(bytes, [status.code()]);
            assert_eq!(postcard::from_bytes::<Status>(&bytes).unwrap(), status);
        }
        let wrong = serde_json::from_str::<Status>("true").unwrap_err();
        assert!(wrong.is_data(), "{wrong}");
        let unknown = serde_json::from_str::<Status>("\"active\"").unwrap_err();
        assert!(unknown.to_string().contains("unknown variant"), "{unknown}");
    }
}
