//! The reference model: what the store must answer, written the obvious way with `BTreeMap`s.
//!
//! Inputs come from tiny pools (a few emails in mixed case, a few external ids) so that
//! conflicts are frequent. Each pool entry carries its raw text and what the store must make
//! of it: the normalised value, or `None` when the store must refuse it. The model never
//! re-implements a validation rule; it only knows the answers for its pool.

use std::collections::BTreeMap;

use customer_store::{
    Customer, CustomerPatch, Error, ListQuery, Metadata, MetadataValue, NewCustomer, Page, Status,
};
use jiff::Timestamp;

/// The businesses of the workloads. The last one breaks the business-name rule.
pub const BUSINESSES: [&str; 4] = ["acme", "beta", "Gamma_3", "not valid"];
/// How many of [`BUSINESSES`] are valid (the first ones).
pub const VALID_BUSINESSES: usize = 3;

/// Emails: 5 distinct addresses (ignoring case), in several spellings, and 2 invalid ones.
pub const EMAILS: &[(&str, Option<&str>)] = &[
    ("ana@x.io", Some("ana@x.io")),
    ("ANA@X.IO", Some("ANA@X.IO")),
    (" Ana@x.io\t", Some("Ana@x.io")),
    ("bo@x.io", Some("bo@x.io")),
    ("BO@x.IO", Some("BO@x.IO")),
    ("cy@ex.org", Some("cy@ex.org")),
    ("Cy@Ex.Org", Some("Cy@Ex.Org")),
    ("élodie@ex.org", Some("élodie@ex.org")),
    ("ÉLODIE@EX.ORG", Some("ÉLODIE@EX.ORG")),
    ("dee.ana@x.io", Some("dee.ana@x.io")),
    ("not-an-email", None),
    ("a b@x.io", None),
];

/// Names, and two the store must refuse.
pub const NAMES: &[(&str, Option<&str>)] = &[
    ("Ana Lima", Some("Ana Lima")),
    ("  Bo  ", Some("Bo")),
    ("Zoë Ødegård", Some("Zoë Ødegård")),
    ("   ", None),
    ("a\u{7}b", None),
];

/// Phones: separators are removed; one is not E.164.
pub const PHONES: &[(&str, Option<&str>)] = &[
    ("+233 24 999 8888", Some("+233249998888")),
    ("+1 (555) 010-9999", Some("+15550109999")),
    ("+44.20.7946.0958", Some("+442079460958")),
    ("0244 000", None),
];

/// External ids: exact and case-sensitive (`ext-1`, `EXT-1` and ` ext-1` are three ids).
pub const EXTERNAL_IDS: &[(&str, Option<&str>)] = &[
    ("ext-1", Some("ext-1")),
    ("EXT-1", Some("EXT-1")),
    (" ext-1", Some(" ext-1")),
    ("ext-2", Some("ext-2")),
    ("", None),
    ("bad\u{0}", None),
];

/// Currencies: any case in, upper case stored.
pub const CURRENCIES: &[(&str, Option<&str>)] = &[
    ("ghs", Some("GHS")),
    ("USD", Some("USD")),
    ("eUr", Some("EUR")),
    ("ABC", None),
];

/// How many descriptions [`description`] knows.
pub const DESCRIPTIONS: usize = 3;

/// A description and what the store keeps of it (`None`: refused, too long).
pub fn description(i: usize) -> (String, Option<String>) {
    match i % DESCRIPTIONS {
        0 => (String::new(), Some(String::new())),
        1 => ("VIP customer".to_owned(), Some("VIP customer".to_owned())),
        _ => ("d".repeat(5001), None),
    }
}

/// How many metadata objects [`metadata`] knows.
pub const METADATA: usize = 4;

/// A metadata object and what the store keeps of it (`None`: refused).
pub fn metadata(i: usize) -> (Metadata, Option<Metadata>) {
    let m = match i % METADATA {
        0 => Metadata::new(),
        1 => Metadata::from([("plan".to_owned(), MetadataValue::from("gold"))]),
        2 => Metadata::from([
            ("seats".to_owned(), MetadataValue::Int(3)),
            ("vip".to_owned(), MetadataValue::Bool(true)),
            ("ratio".to_owned(), MetadataValue::Float(0.5)),
        ]),
        _ => {
            let bad = Metadata::from([("a[0]".to_owned(), MetadataValue::from("x"))]);
            return (bad, None);
        }
    };
    (m.clone(), Some(m))
}

/// Email filter terms for `list` (case-insensitive substrings; empty means no filter).
pub const FILTERS: &[&str] = &["", "ana", "X.IO", "@ex", "ÉLO", "odie@", "zzz", "o"];

/// Ids that name no customer: malformed ones (a list refuses them as cursors) and
/// well-formed ones this store never issues.
pub const OTHER_IDS: &[&str] = &[
    "",
    "nope",
    "cust_x",
    "cust_C0000000000000",
    "cust_a0000000000000",
    "cust_c0000000000000",
    "cust_cl8z2lh820000a",
    "cust_czzzzzzzzzzzzz",
    "cust_d0000000000000",
];

/// Whether `text` is a well-formed id (SPEC: `cust_[0-9a-z]{14}`).
pub fn well_formed(text: &str) -> bool {
    text.strip_prefix("cust_").is_some_and(|rest| {
        rest.len() == 14
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
    })
}

/// The key under which an email is unique (SPEC: trimmed, Unicode lower case).
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A create request, as indexes into the pools.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSpec {
    pub email: usize,
    pub name: usize,
    pub phone: Option<usize>,
    pub external_id: Option<usize>,
    pub description: Option<usize>,
    pub currency: Option<usize>,
    pub metadata: Option<usize>,
}

impl NewSpec {
    /// A valid request with the given email and external id (other fields absent).
    pub fn simple(email: usize, external_id: Option<usize>) -> NewSpec {
        NewSpec {
            email,
            name: 0,
            phone: None,
            external_id,
            description: None,
            currency: None,
            metadata: None,
        }
    }

    /// The request the store receives.
    pub fn to_new(&self) -> NewCustomer {
        NewCustomer {
            email: pick(EMAILS, self.email).0.to_owned(),
            name: pick(NAMES, self.name).0.to_owned(),
            phone: self.phone.map(|i| pick(PHONES, i).0.to_owned()),
            external_id: self.external_id.map(|i| pick(EXTERNAL_IDS, i).0.to_owned()),
            description: self.description.map(|i| description(i).0),
            currency: self.currency.map(|i| pick(CURRENCIES, i).0.to_owned()),
            metadata: self.metadata.map(|i| metadata(i).0),
        }
    }
}

/// One field of a patch: absent, `null`, or a value (an index into the field's pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Field {
    #[default]
    Absent,
    Null,
    Set(usize),
}

/// An update request, as indexes into the pools.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PatchSpec {
    pub email: Field,
    pub name: Field,
    pub phone: Field,
    pub external_id: Field,
    pub description: Field,
    pub currency: Field,
    pub metadata: Field,
    /// `Set(i)` is `Status::ALL[i % 3]`.
    pub status: Field,
}

fn patch_field<T>(field: Field, value: impl Fn(usize) -> T) -> Option<Option<T>> {
    match field {
        Field::Absent => None,
        Field::Null => Some(None),
        Field::Set(i) => Some(Some(value(i))),
    }
}

impl PatchSpec {
    /// The request the store receives.
    pub fn to_patch(&self) -> CustomerPatch {
        CustomerPatch {
            email: patch_field(self.email, |i| pick(EMAILS, i).0.to_owned()),
            name: patch_field(self.name, |i| pick(NAMES, i).0.to_owned()),
            phone: patch_field(self.phone, |i| pick(PHONES, i).0.to_owned()),
            external_id: patch_field(self.external_id, |i| pick(EXTERNAL_IDS, i).0.to_owned()),
            description: patch_field(self.description, |i| description(i).0),
            currency: patch_field(self.currency, |i| pick(CURRENCIES, i).0.to_owned()),
            metadata: patch_field(self.metadata, |i| metadata(i).0),
            status: patch_field(self.status, status),
        }
    }
}

/// `Status::ALL[i % 3]`.
pub fn status(i: usize) -> Status {
    Status::ALL[i % Status::ALL.len()]
}

/// An entry of a pool, by any index (taken modulo the pool's length).
pub fn pick<T: Copy>(pool: &[T], i: usize) -> T {
    pool[i % pool.len()]
}

/// Which id an operation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One of the live customers of the operation's business (else as `Issued`).
    Live(usize),
    /// One of the ids the store has issued so far, in any business (modulo their number).
    Issued(usize),
    /// One of [`OTHER_IDS`].
    Other(usize),
}

/// A `list` walk: pages of `limit` from `start` until `has_more` is false.
#[derive(Debug, Clone, PartialEq)]
pub struct Walk {
    pub filter: Option<usize>,
    pub status: Option<usize>,
    /// `None`: the default limit. Out of range (0, 101) is refused.
    pub limit: Option<u32>,
    pub start: Option<Target>,
}

/// One step of a workload.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Create {
        biz: usize,
        new: NewSpec,
    },
    CreateMany {
        biz: usize,
        items: Vec<NewSpec>,
    },
    Update {
        biz: usize,
        target: Target,
        patch: PatchSpec,
    },
    Delete {
        biz: usize,
        target: Target,
    },
    Get {
        biz: usize,
        target: Target,
    },
    GetByEmail {
        biz: usize,
        email: usize,
    },
    GetByExternalId {
        biz: usize,
        external_id: usize,
    },
    List {
        biz: usize,
        walk: Walk,
    },
    /// Moves the store's clock (negative: backwards).
    Clock {
        seconds: i64,
    },
    /// Closes the store and opens it again on the same file or backend.
    Reopen,
}

/// A store error reduced to what the model can predict.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Invalid(String),
    EmailTaken(String),
    ExternalIdTaken(String),
    DuplicateInBatch(String, usize),
    Batch(usize, Box<Expect>),
    NotFound,
    InvalidCursor,
    Storage,
    Corrupt(String),
    Other(String),
}

impl Expect {
    /// The stable code the store must report for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Expect::Invalid(_) => "invalid_request",
            Expect::EmailTaken(_) => "email_taken",
            Expect::ExternalIdTaken(_) => "external_id_taken",
            Expect::DuplicateInBatch(field, _) if field == "email" => "email_taken",
            Expect::DuplicateInBatch(..) => "external_id_taken",
            Expect::Batch(_, inner) => inner.code(),
            Expect::NotFound => "not_found",
            Expect::InvalidCursor => "invalid_cursor",
            Expect::Storage => "storage",
            Expect::Corrupt(_) => "corrupt",
            Expect::Other(_) => "?",
        }
    }
}

impl From<&Error> for Expect {
    fn from(e: &Error) -> Expect {
        match e {
            Error::InvalidRequest { field, .. } => Expect::Invalid(field.clone()),
            Error::EmailTaken { existing_id } => Expect::EmailTaken(existing_id.clone()),
            Error::ExternalIdTaken { existing_id } => Expect::ExternalIdTaken(existing_id.clone()),
            Error::DuplicateInBatch {
                field,
                earlier_index,
            } => Expect::DuplicateInBatch((*field).to_owned(), *earlier_index),
            Error::Batch { index, source } => Expect::Batch(*index, Box::new((&**source).into())),
            Error::NotFound => Expect::NotFound,
            Error::InvalidCursor { .. } => Expect::InvalidCursor,
            Error::Storage { .. } => Expect::Storage,
            Error::Corrupt(m) => Expect::Corrupt(m.clone()),
            other => Expect::Other(other.to_string()),
        }
    }
}

/// The customers of one business.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Biz {
    /// Live customers by id (ids sort like their creation order).
    pub customers: BTreeMap<String, Customer>,
    /// The last id issued in this business (ids are never reused).
    pub last_id: Option<String>,
    /// Whether a create ever committed in this business.
    pub exists: bool,
}

impl Biz {
    fn by_email_key(&self, key: &str) -> Option<&Customer> {
        self.customers.values().find(|c| email_key(&c.email) == key)
    }

    fn by_external_id(&self, external_id: &str) -> Option<&Customer> {
        self.customers
            .values()
            .find(|c| c.external_id.as_deref() == Some(external_id))
    }
}

/// Every business's customers, in id order: what a full list walk returns.
pub type Dump = Vec<Vec<Customer>>;

/// The reference model of a whole store.
#[derive(Debug, Clone)]
pub struct Model {
    pub biz: Vec<Biz>,
    /// Every id the store issued, in every business, deleted ones included.
    pub issued: Vec<String>,
    /// The store's clock.
    pub now: Timestamp,
}

fn invalid(field: &str) -> Expect {
    Expect::Invalid(field.to_owned())
}

fn check_business(biz: usize) -> Result<(), Expect> {
    if biz < VALID_BUSINESSES {
        Ok(())
    } else {
        Err(invalid("business"))
    }
}

fn pooled(pool: &[(&str, Option<&str>)], i: usize, field: &str) -> Result<String, Expect> {
    pick(pool, i)
        .1
        .map(str::to_owned)
        .ok_or_else(|| invalid(field))
}

impl Model {
    pub fn new(now: Timestamp) -> Model {
        Model {
            biz: vec![Biz::default(); VALID_BUSINESSES],
            issued: Vec::new(),
            now,
        }
    }

    /// `now` in whole seconds, as the store stamps records.
    pub fn stamp(&self) -> Timestamp {
        Timestamp::from_second(self.now.as_second()).expect("a clock in range")
    }

    /// The id text an operation on `biz` names.
    pub fn target(&self, biz: usize, target: Target) -> String {
        match target {
            Target::Live(i) if biz < VALID_BUSINESSES && !self.biz[biz].customers.is_empty() => {
                let live = &self.biz[biz].customers;
                live.keys().nth(i % live.len()).cloned().unwrap_or_default()
            }
            Target::Live(i) | Target::Issued(i) if !self.issued.is_empty() => {
                self.issued[i % self.issued.len()].clone()
            }
            Target::Live(i) | Target::Issued(i) | Target::Other(i) => pick(OTHER_IDS, i).to_owned(),
        }
    }

    pub fn dump(&self) -> Dump {
        self.biz
            .iter()
            .map(|b| b.customers.values().cloned().collect())
            .collect()
    }

    /// A new customer as the store must build it, with an empty id (the store picks it).
    pub fn draft(&self, spec: &NewSpec) -> Result<Customer, Expect> {
        let email = pooled(EMAILS, spec.email, "email")?;
        let name = pooled(NAMES, spec.name, "name")?;
        let phone = spec.phone.map(|i| pooled(PHONES, i, "phone")).transpose()?;
        let external_id = spec
            .external_id
            .map(|i| pooled(EXTERNAL_IDS, i, "externalId"))
            .transpose()?;
        let description = spec
            .description
            .map(|i| description(i).1.ok_or_else(|| invalid("description")))
            .transpose()?;
        let currency = spec
            .currency
            .map(|i| pooled(CURRENCIES, i, "currency"))
            .transpose()?;
        let metadata = spec
            .metadata
            .map(|i| metadata(i).1.ok_or_else(|| invalid("metadata")))
            .transpose()?;
        Ok(Customer {
            id: String::new(),
            external_id,
            email,
            name,
            phone,
            description,
            metadata,
            status: Status::Active,
            currency,
            created_at: self.stamp(),
            updated_at: self.stamp(),
        })
    }

    /// What `create` must answer (the draft has no id yet).
    pub fn expect_create(&self, biz: usize, spec: &NewSpec) -> Result<Customer, Expect> {
        check_business(biz)?;
        let draft = self.draft(spec)?;
        let b = &self.biz[biz];
        if let Some(owner) = b.by_email_key(&email_key(&draft.email)) {
            return Err(Expect::EmailTaken(owner.id.clone()));
        }
        if let Some(x) = &draft.external_id
            && let Some(owner) = b.by_external_id(x)
        {
            return Err(Expect::ExternalIdTaken(owner.id.clone()));
        }
        Ok(draft)
    }

    /// What `create_many` must answer (drafts without ids).
    pub fn expect_create_many(
        &self,
        biz: usize,
        specs: &[NewSpec],
    ) -> Result<Vec<Customer>, Expect> {
        check_business(biz)?;
        let at = |index: usize| move |e: Expect| Expect::Batch(index, Box::new(e));
        // The first offending item, in index order, whatever rule it breaks; for each item,
        // its field rules, then a repeat of an earlier item of the batch (email, then
        // externalId), then a conflict with a stored customer (email, then externalId).
        let b = &self.biz[biz];
        let mut drafts: Vec<Customer> = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            let draft = self.draft(spec).map_err(at(index))?;
            let key = email_key(&draft.email);
            let earlier = &drafts[..index];
            if let Some(j) = earlier.iter().position(|d| email_key(&d.email) == key) {
                return Err(at(index)(Expect::DuplicateInBatch("email".into(), j)));
            }
            if let Some(x) = &draft.external_id
                && let Some(j) = earlier
                    .iter()
                    .position(|d| d.external_id.as_ref() == Some(x))
            {
                return Err(at(index)(Expect::DuplicateInBatch("externalId".into(), j)));
            }
            if let Some(owner) = b.by_email_key(&key) {
                return Err(at(index)(Expect::EmailTaken(owner.id.clone())));
            }
            if let Some(x) = &draft.external_id
                && let Some(owner) = b.by_external_id(x)
            {
                return Err(at(index)(Expect::ExternalIdTaken(owner.id.clone())));
            }
            drafts.push(draft);
        }
        Ok(drafts)
    }

    /// Records customers the store created: checks each id is new, well-formed and above
    /// every id issued before in the business, and that the record is the draft.
    pub fn commit_created(
        &mut self,
        biz: usize,
        drafts: Vec<Customer>,
        created: &[Customer],
    ) -> Result<(), String> {
        if drafts.len() != created.len() {
            return Err(format!(
                "{} customers created, {} expected",
                created.len(),
                drafts.len()
            ));
        }
        for (mut draft, c) in drafts.into_iter().zip(created) {
            if !well_formed(&c.id) {
                return Err(format!("malformed id {:?}", c.id));
            }
            let b = &mut self.biz[biz];
            if b.last_id.as_ref().is_some_and(|last| c.id <= *last) {
                return Err(format!(
                    "id {} is not above the last id {:?} of the business",
                    c.id, b.last_id
                ));
            }
            draft.id.clone_from(&c.id);
            if draft != *c {
                return Err(format!("created {c:#?}\nexpected {draft:#?}"));
            }
            b.last_id = Some(c.id.clone());
            b.exists = true;
            b.customers.insert(c.id.clone(), draft);
            self.issued.push(c.id.clone());
        }
        Ok(())
    }

    /// What `update` must answer: the new record, and whether anything changed.
    pub fn expect_update(
        &self,
        biz: usize,
        id: &str,
        patch: &PatchSpec,
    ) -> Result<(Customer, bool), Expect> {
        check_business(biz)?;
        let required = |field: Field, pool, name: &str| match field {
            Field::Absent => Ok(None),
            Field::Null => Err(invalid(name)),
            Field::Set(i) => pooled(pool, i, name).map(Some),
        };
        let clearable = |field: Field, value: &dyn Fn(usize) -> Result<String, Expect>| match field
        {
            Field::Absent => Ok(None),
            Field::Null => Ok(Some(None)),
            Field::Set(i) => value(i).map(|v| Some(Some(v))),
        };
        // The store checks the fields in this order.
        let email = required(patch.email, EMAILS, "email")?;
        let name = required(patch.name, NAMES, "name")?;
        let new_status = match patch.status {
            Field::Absent => None,
            Field::Null => return Err(invalid("status")),
            Field::Set(i) => Some(status(i)),
        };
        let phone = clearable(patch.phone, &|i| pooled(PHONES, i, "phone"))?;
        let external_id = clearable(patch.external_id, &|i| {
            pooled(EXTERNAL_IDS, i, "externalId")
        })?;
        let desc = clearable(patch.description, &|i| {
            description(i).1.ok_or_else(|| invalid("description"))
        })?;
        let currency = clearable(patch.currency, &|i| pooled(CURRENCIES, i, "currency"))?;
        let meta = match patch.metadata {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Set(i) => Some(Some(metadata(i).1.ok_or_else(|| invalid("metadata"))?)),
        };

        let b = &self.biz[biz];
        let old = b.customers.get(id).ok_or(Expect::NotFound)?;
        let mut new = old.clone();
        if let Some(v) = email {
            new.email = v;
        }
        if let Some(v) = name {
            new.name = v;
        }
        if let Some(v) = new_status {
            new.status = v;
        }
        if let Some(v) = phone {
            new.phone = v;
        }
        if let Some(v) = external_id {
            new.external_id = v;
        }
        if let Some(v) = desc {
            new.description = v;
        }
        if let Some(v) = currency {
            new.currency = v;
        }
        if let Some(v) = meta {
            new.metadata = v;
        }
        if new == *old {
            return Ok((new, false));
        }
        if let Some(owner) = b.by_email_key(&email_key(&new.email))
            && owner.id != id
        {
            return Err(Expect::EmailTaken(owner.id.clone()));
        }
        if let Some(x) = &new.external_id
            && let Some(owner) = b.by_external_id(x)
            && owner.id != id
        {
            return Err(Expect::ExternalIdTaken(owner.id.clone()));
        }
        new.updated_at = self.stamp().max(old.updated_at);
        Ok((new, true))
    }

    pub fn commit_update(&mut self, biz: usize, new: Customer) {
        self.biz[biz].customers.insert(new.id.clone(), new);
    }

    /// What `delete` must answer.
    pub fn expect_delete(&self, biz: usize, id: &str) -> Result<Customer, Expect> {
        check_business(biz)?;
        self.biz[biz]
            .customers
            .get(id)
            .cloned()
            .ok_or(Expect::NotFound)
    }

    pub fn commit_delete(&mut self, biz: usize, id: &str) {
        self.biz[biz].customers.remove(id);
    }

    pub fn get(&self, biz: usize, id: &str) -> Result<Option<Customer>, Expect> {
        check_business(biz)?;
        Ok(self.biz[biz].customers.get(id).cloned())
    }

    pub fn get_by_email(&self, biz: usize, email: &str) -> Result<Option<Customer>, Expect> {
        check_business(biz)?;
        Ok(self.biz[biz].by_email_key(&email_key(email)).cloned())
    }

    pub fn get_by_external_id(&self, biz: usize, x: &str) -> Result<Option<Customer>, Expect> {
        check_business(biz)?;
        Ok(self.biz[biz].by_external_id(x).cloned())
    }

    /// The page `list` must answer for `query`.
    pub fn page(&self, biz: usize, query: &ListQuery) -> Result<Page, Expect> {
        check_business(biz)?;
        let limit = query.limit.unwrap_or(ListQuery::DEFAULT_LIMIT);
        if !(1..=ListQuery::MAX_LIMIT).contains(&limit) {
            return Err(invalid("limit"));
        }
        if let Some(cursor) = &query.cursor
            && !well_formed(cursor)
        {
            return Err(Expect::InvalidCursor);
        }
        let term = query
            .email
            .as_deref()
            .map(str::to_lowercase)
            .filter(|t| !t.is_empty());
        // Ids are fixed-width lower-case text: text order is id order, for any cursor.
        let matching: Vec<&Customer> = self.biz[biz]
            .customers
            .values()
            .filter(|c| query.cursor.as_ref().is_none_or(|cursor| c.id > *cursor))
            .filter(|c| query.status.is_none_or(|s| s == c.status))
            .filter(|c| {
                term.as_ref()
                    .is_none_or(|t| c.email.to_lowercase().contains(t.as_str()))
            })
            .collect();
        let limit = limit as usize;
        let items: Vec<Customer> = matching.iter().take(limit).map(|c| (*c).clone()).collect();
        Ok(Page {
            next_cursor: items.last().map(|c| c.id.clone()),
            has_more: matching.len() > limit,
            items,
        })
    }
}
