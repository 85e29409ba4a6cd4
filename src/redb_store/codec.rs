//! The stored form of a customer record.
//!
//! Version 3, written by this build:
//!
//! ```text
//! [version: 1 byte = 3] [business handle: varint] [id number's low 32 bits: 4 bytes LE]
//! [status: 1 byte] [created_at: zigzag varint, seconds]
//! [updated_at - created_at: zigzag varint, seconds]
//! [flags: 1 byte; which of phone, externalId, description, currency, metadata are present]
//! [byte length of each text present, varints: email, name, then the flagged ones in order]
//! [the texts themselves, one after another, UTF-8]
//! [metadata, when flagged: postcard list of (key, value) pairs, in key order]
//! [CRC-32C of the business handle and id number (LE) and of every byte before it: 4 bytes LE]
//! ```
//!
//! The record is tied to its key (business handle and id number) two ways: the checksum
//! covers the whole key, and the record keeps the business handle and the id's low half,
//! which a read compares with the key it was found under. Together they catch every record
//! found under another key, not merely all but one in 2³²: a key that differs in the business
//! or in the id's low half fails the comparison, and one that differs only in the id's high
//! half differs in four consecutive bytes, which CRC-32C always detects (every error burst of
//! up to 32 bits). That costs about 5 bytes a record against storing the whole id (9 bytes as
//! a varint).
//!
//! The texts sit together so that one UTF-8 check covers them all; they are decoded borrowed
//! from the page, and only the returned [`Customer`] allocates. A list filter tests status and
//! email, which [`peek`] reads without decoding the rest.
//!
//! The layout is written by hand rather than through serde: in the list walk, postcard's
//! field-by-field decoding and one UTF-8 check per string were a third of the time (see
//! DESIGN.md). Versions 1 and 2 (postcard throughout, with the key inside) are still read:
//! records are rewritten in the new layout only when they change.

use jiff::Timestamp;
use serde::Deserialize;
#[cfg(test)]
use serde::Serialize;

use super::keyed_crc::keyed_crc;
use super::pairs::{PairReader, StoredValue};
use super::varint;
use crate::model::{Customer, Metadata, MetadataValue, Status};
use crate::{Error, Result};

const VERSION: u8 = 3;
const VERSION_2: u8 = 2;
const VERSION_1: u8 = 1;
const CRC_LEN: usize = 4;

/// The flag bits of a version-3 record: its optional texts, in stored order, then metadata.
const OPTIONAL_TEXTS: [u8; 4] = [1, 1 << 1, 1 << 2, 1 << 3];
const HAS_METADATA: u8 = 1 << 4;
const KNOWN_FLAGS: u8 = 0x1F;
/// A record's texts: email, name, phone, externalId, description, currency.
const TEXTS: usize = 6;

/// A record of version 1 or 2, its fields borrowed from its bytes (version 3 is read through
/// [`Layout`]).
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct StoredRecord<'a> {
    business: u32,
    id: u64,
    status: u8,
    email: &'a str,
    created_at: i64,
    updated_at: i64,
    name: &'a str,
    #[serde(borrow)]
    phone: Option<&'a str>,
    #[serde(borrow)]
    external_id: Option<&'a str>,
    #[serde(borrow)]
    description: Option<&'a str>,
    #[serde(borrow)]
    currency: Option<&'a str>,
    #[serde(borrow)]
    metadata: Option<Vec<(&'a str, StoredValue<'a>)>>,
}

/// The leading fields of a version-2 record: what a list filter tests.
#[derive(Deserialize)]
struct StoredHead<'a> {
    business: u32,
    id: u64,
    status: u8,
    email: &'a str,
}

/// The record as stored by version 1.
#[derive(Deserialize)]
#[cfg_attr(test, derive(Serialize))]
struct StoredRecordV1<'a> {
    business: u32,
    id: u64,
    email: &'a str,
    name: &'a str,
    #[serde(borrow)]
    phone: Option<&'a str>,
    #[serde(borrow)]
    external_id: Option<&'a str>,
    #[serde(borrow)]
    description: Option<&'a str>,
    #[serde(borrow)]
    currency: Option<&'a str>,
    #[serde(borrow)]
    metadata: Option<Vec<(&'a str, StoredValue<'a>)>>,
    status: u8,
    created_at: i64,
    updated_at: i64,
}

impl<'a> From<StoredRecordV1<'a>> for StoredRecord<'a> {
    fn from(v1: StoredRecordV1<'a>) -> StoredRecord<'a> {
        StoredRecord {
            business: v1.business,
            id: v1.id,
            status: v1.status,
            email: v1.email,
            created_at: v1.created_at,
            updated_at: v1.updated_at,
            name: v1.name,
            phone: v1.phone,
            external_id: v1.external_id,
            description: v1.description,
            currency: v1.currency,
            metadata: v1.metadata,
        }
    }
}

/// The metadata as stored: borrowed pairs, in key order.
fn stored_metadata(metadata: Option<&Metadata>) -> Option<Vec<(&str, StoredValue<'_>)>> {
    metadata.map(|m| {
        m.iter()
            .map(|(k, v)| {
                let v = match v {
                    MetadataValue::String(s) => StoredValue::String(s),
                    MetadataValue::Int(i) => StoredValue::Int(*i),
                    MetadataValue::Float(f) => StoredValue::Float(*f),
                    MetadataValue::Bool(b) => StoredValue::Bool(*b),
                };
                (k.as_str(), v)
            })
            .collect()
    })
}

/// The low 32 bits of an id number, which a version-3 record keeps.
fn low_half(id: u64) -> u32 {
    (id & 0xFFFF_FFFF) as u32
}

/// A record's fields, borrowed: from a [`Customer`], or from a new customer's validated request
/// and its timestamps (so that a create encodes its records without building the customers
/// it returns).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordFields<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub phone: Option<&'a str>,
    pub external_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub currency: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub status: Status,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl<'a> RecordFields<'a> {
    /// The fields of `customer`.
    pub(crate) fn of(customer: &'a Customer) -> RecordFields<'a> {
        RecordFields {
            email: &customer.email,
            name: &customer.name,
            phone: customer.phone.as_deref(),
            external_id: customer.external_id.as_deref(),
            description: customer.description.as_deref(),
            currency: customer.currency.as_deref(),
            metadata: customer.metadata.as_ref(),
            status: customer.status,
            created_at: customer.created_at,
            updated_at: customer.updated_at,
        }
    }
}

/// Encodes `customer` as the record stored under `(business, id)`.
///
/// # Errors
///
/// [`Error::Corrupt`] if postcard cannot encode the metadata (it always can).
pub(crate) fn encode(business: u32, id: u64, customer: &Customer) -> Result<Vec<u8>> {
    encode_fields(business, id, &RecordFields::of(customer))
}

/// Encodes `fields` as the record stored under `(business, id)`.
///
/// # Errors
///
/// As [`encode`].
pub(crate) fn encode_fields(
    business: u32,
    id: u64,
    customer: &RecordFields<'_>,
) -> Result<Vec<u8>> {
    let texts = [
        Some(customer.email),
        Some(customer.name),
        customer.phone,
        customer.external_id,
        customer.description,
        customer.currency,
    ];
    let mut flags = if customer.metadata.is_some() {
        HAS_METADATA
    } else {
        0
    };
    for (flag, text) in OPTIONAL_TEXTS.iter().zip(&texts[2..]) {
        if text.is_some() {
            flags |= flag;
        }
    }
    let text_len: usize = texts.iter().flatten().map(|t| t.len()).sum();
    let mut out = Vec::with_capacity(40 + text_len);
    out.push(VERSION);
    varint::put(&mut out, u64::from(business));
    out.extend_from_slice(&low_half(id).to_le_bytes());
    out.push(customer.status.code());
    let created_at = customer.created_at.as_second();
    let updated_at = customer.updated_at.as_second();
    varint::put(&mut out, varint::zigzag(created_at));
    varint::put(
        &mut out,
        varint::zigzag(updated_at.wrapping_sub(created_at)),
    );
    out.push(flags);
    for text in texts.iter().flatten() {
        varint::put(&mut out, text.len() as u64);
    }
    for text in texts.iter().flatten() {
        out.extend_from_slice(text.as_bytes());
    }
    if let Some(pairs) = stored_metadata(customer.metadata) {
        out = postcard::to_extend(&pairs, out)
            .map_err(|e| Error::Corrupt(format!("cannot encode customer: {e}")))?;
    }
    let crc = keyed_crc(business, id, &out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A version-3 payload (after the version byte) up to its texts, which are located but not
/// yet checked.
struct Layout<'a> {
    /// The business handle the record was written for.
    business: u64,
    /// The low 32 bits of the id number the record was written for.
    id_low: u32,
    status: u8,
    created_at: i64,
    updated_at: i64,
    flags: u8,
    /// Bit `i` set when text `i` is present (email and name always are).
    present: u32,
    /// Where each text ends in `text`; an absent one ends where the text before it does.
    ends: [usize; TEXTS],
    /// The texts, one after another.
    text: &'a [u8],
    /// What follows the texts: the metadata, when flagged.
    rest: &'a [u8],
}

impl<'a> Layout<'a> {
    fn read(payload: &'a [u8]) -> Option<Layout<'a>> {
        let mut pos = 0;
        let business = varint::get(payload, &mut pos)?;
        let id_low = u32::from_le_bytes(payload.get(pos..pos + 4)?.try_into().ok()?);
        pos += 4;
        let status = *payload.get(pos)?;
        pos += 1;
        let created_at = varint::unzigzag(varint::get(payload, &mut pos)?);
        let updated_at = created_at.wrapping_add(varint::unzigzag(varint::get(payload, &mut pos)?));
        let flags = *payload.get(pos)?;
        pos += 1;
        if flags & !KNOWN_FLAGS != 0 {
            return None;
        }
        // Email and name, then the optional texts in the order of their flag bits (bits 0 to 3,
        // as `OPTIONAL_TEXTS` says: checked at compile time below).
        const _: () = assert!(
            OPTIONAL_TEXTS[0] == 1
                && OPTIONAL_TEXTS[1] == 1 << 1
                && OPTIONAL_TEXTS[2] == 1 << 2
                && OPTIONAL_TEXTS[3] == 1 << 3
        );
        let present = (u32::from(flags) << 2 | 0b11) & ((1 << TEXTS) - 1);
        let mut ends = [0; TEXTS];
        let mut end = 0usize;
        for (i, slot) in ends.iter_mut().enumerate() {
            if present & (1 << i) != 0 {
                let len = usize::try_from(varint::get(payload, &mut pos)?).ok()?;
                end = end.checked_add(len)?;
            }
            *slot = end;
        }
        let (text, rest) = payload.get(pos..)?.split_at_checked(end)?;
        Some(Layout {
            business,
            id_low,
            status,
            created_at,
            updated_at,
            flags,
            present,
            ends,
            text,
            rest,
        })
    }

    /// The key the record was written for, as far as it keeps it, given the key it was found
    /// under (`business`, `id`): equal to that key exactly when the record belongs there (the
    /// checksum covers the id's high half).
    fn key(&self, id: u64) -> (u32, u64) {
        match u32::try_from(self.business) {
            Ok(business) => (business, (id & !0xFFFF_FFFF) | u64::from(self.id_low)),
            // Not a handle at all: a key that differs from the one the record was found under.
            Err(_) => (u32::MAX, !id),
        }
    }

    /// The email, the first text (checked alone).
    fn email(&self) -> Option<&'a str> {
        crate::text::utf8(self.text.get(..self.ends[0])?)
    }

    /// The texts, checked as UTF-8 in one pass: email, name, phone, externalId, description,
    /// currency.
    fn texts(&self) -> Option<[Option<&'a str>; TEXTS]> {
        let text = crate::text::utf8(self.text)?;
        let mut texts = [None; TEXTS];
        let mut start = 0;
        for (i, (slot, &end)) in texts.iter_mut().zip(&self.ends).enumerate() {
            if self.present & (1 << i) != 0 {
                // A cut inside a character is `None`.
                *slot = Some(text.get(start..end)?);
            }
            start = end;
        }
        Some(texts)
    }

    /// The metadata pairs, when flagged, to be read as they are copied out; `None` when bytes
    /// follow the texts of a record without metadata or the pairs' count does not decode.
    fn metadata(&self) -> Option<Option<Pairs<'a>>> {
        if self.flags & HAS_METADATA == 0 {
            return self.rest.is_empty().then_some(None);
        }
        PairReader::new(self.rest).map(|reader| Some(Pairs::Stored(reader)))
    }
}

fn corrupt(business: u32, id: u64, what: &str) -> Error {
    Error::Corrupt(format!(
        "record {} of business #{business}: {what}",
        crate::id::encode(id)
    ))
}

fn timestamp(business: u32, id: u64, seconds: i64) -> Result<Timestamp> {
    Timestamp::from_second(seconds).map_err(|_| corrupt(business, id, "timestamp out of range"))
}

/// Checks the checksum and returns the version byte and the payload after it.
fn open_envelope(business: u32, id: u64, bytes: &[u8]) -> Result<(u8, &[u8])> {
    let Some(body_len) = bytes.len().checked_sub(CRC_LEN) else {
        return Err(corrupt(business, id, "record too short"));
    };
    let (body, crc) = bytes.split_at(body_len);
    let Some((&version, payload)) = body.split_first() else {
        return Err(corrupt(business, id, "record too short"));
    };
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    // Version 3 checksums its key with its bytes; earlier versions store the key inside.
    let found = match version {
        VERSION => keyed_crc(business, id, body),
        _ => crc32c::crc32c(body),
    };
    if found != expected {
        return Err(corrupt(business, id, "checksum mismatch"));
    }
    Ok((version, payload))
}

fn check_key(business: u32, id: u64, found: (u32, u64)) -> Result<()> {
    if found == (business, id) {
        Ok(())
    } else {
        Err(corrupt(business, id, "stored under another key"))
    }
}

/// What a list filter needs of a record, borrowed from its bytes.
pub(crate) struct Head<'a> {
    /// The record's status.
    pub status: Status,
    /// The record's email, as stored.
    pub email: &'a str,
}

/// Checks a record and decodes only its status and email.
///
/// # Errors
///
/// [`Error::Corrupt`] as for [`decode`].
pub(crate) fn peek(business: u32, id: u64, bytes: &[u8]) -> Result<Head<'_>> {
    let (version, payload) = open_envelope(business, id, bytes)?;
    let (business_found, id_found, status, email) = match version {
        VERSION => {
            let layout = Layout::read(payload);
            let head = layout
                .as_ref()
                .and_then(|l| Some((l.key(id), l.status, l.email()?)));
            let ((business_found, id_found), status, email) =
                head.ok_or_else(|| corrupt(business, id, "does not decode"))?;
            (business_found, id_found, status, email)
        }
        VERSION_2 => {
            let (head, _): (StoredHead<'_>, _) = postcard::take_from_bytes(payload)
                .map_err(|_| corrupt(business, id, "does not decode"))?;
            (head.business, head.id, head.status, head.email)
        }
        _ => {
            let record = decode_payload(business, id, version, payload)?;
            (record.business, record.id, record.status, record.email)
        }
    };
    check_key(business, id, (business_found, id_found))?;
    let status =
        Status::from_code(status).ok_or_else(|| corrupt(business, id, "unknown status"))?;
    Ok(Head { status, email })
}

/// Decodes the payload of a record of version 1 or 2 (postcard throughout); version 3 is read
/// through [`Layout`].
fn decode_payload<'a>(
    business: u32,
    id: u64,
    version: u8,
    payload: &'a [u8],
) -> Result<StoredRecord<'a>> {
    let does_not_decode = |_| corrupt(business, id, "does not decode");
    match version {
        VERSION_2 => postcard::from_bytes(payload).map_err(does_not_decode),
        VERSION_1 => postcard::from_bytes::<StoredRecordV1<'_>>(payload)
            .map(StoredRecord::from)
            .map_err(does_not_decode),
        _ => Err(corrupt(business, id, "unknown record version")),
    }
}

/// A record's fields once every check passed, its texts still borrowed from the page.
struct Fields<'a> {
    status: Status,
    created_at: Timestamp,
    updated_at: Timestamp,
    /// Email, name, phone, externalId, description, currency (the first two always present).
    texts: [Option<&'a str>; TEXTS],
    /// Version 3's pairs are checked only as they are copied out: by [`decode`] and
    /// [`decode_into`], which fail on them as on any other field.
    metadata: Option<Pairs<'a>>,
}

/// A record's metadata pairs, not yet copied out.
#[derive(Clone)]
enum Pairs<'a> {
    /// Version 3's, read from the stored bytes as they are copied.
    Stored(PairReader<'a>),
    /// Versions 1 and 2's, decoded by serde with the rest of the record.
    Decoded(std::vec::IntoIter<(&'a str, StoredValue<'a>)>),
}

impl<'a> Pairs<'a> {
    /// How many pairs are left, as stored.
    fn left(&self) -> u64 {
        match self {
            Pairs::Stored(reader) => reader.left(),
            Pairs::Decoded(pairs) => pairs.len() as u64,
        }
    }

    /// The next pair; `None` when none is left or it does not decode.
    fn next_pair(&mut self) -> Option<(&'a str, StoredValue<'a>)> {
        match self {
            Pairs::Stored(reader) => reader.next_pair(),
            Pairs::Decoded(pairs) => pairs.next(),
        }
    }

    /// Whether every pair was read and nothing follows the last.
    fn finished(&self) -> bool {
        match self {
            Pairs::Stored(reader) => reader.finished(),
            Pairs::Decoded(pairs) => pairs.len() == 0,
        }
    }
}

/// Checks the record stored under `(business, id)` (checksum, key, status, timestamps, texts,
/// and for version 3 the metadata's count; its pairs are checked as they are copied out) and
/// decodes it without allocating for its strings. Version 3, what every read
/// meets in the end, goes straight from its layout to the fields.
fn check(business: u32, id: u64, bytes: &[u8]) -> Result<Fields<'_>> {
    let does_not_decode = || corrupt(business, id, "does not decode");
    let (version, payload) = open_envelope(business, id, bytes)?;
    let (found, status, created_at, updated_at, texts, metadata) = if version == VERSION {
        let layout = Layout::read(payload).ok_or_else(does_not_decode)?;
        (
            layout.key(id),
            layout.status,
            layout.created_at,
            layout.updated_at,
            layout.texts().ok_or_else(does_not_decode)?,
            layout.metadata().ok_or_else(does_not_decode)?,
        )
    } else {
        let record = decode_payload(business, id, version, payload)?;
        let texts = [
            Some(record.email),
            Some(record.name),
            record.phone,
            record.external_id,
            record.description,
            record.currency,
        ];
        (
            (record.business, record.id),
            record.status,
            record.created_at,
            record.updated_at,
            texts,
            record
                .metadata
                .map(|pairs| Pairs::Decoded(pairs.into_iter())),
        )
    };
    check_key(business, id, found)?;
    Ok(Fields {
        status: Status::from_code(status).ok_or_else(|| corrupt(business, id, "unknown status"))?,
        created_at: timestamp(business, id, created_at)?,
        updated_at: timestamp(business, id, updated_at)?,
        texts,
        metadata,
    })
}

/// The pairs as a new map (a key stored twice keeps its last value); `None` when a pair does
/// not decode or bytes are left over.
fn owned_metadata(mut pairs: Pairs<'_>) -> Option<Metadata> {
    let mut map = Metadata::new();
    while pairs.left() > 0 {
        let (key, value) = pairs.next_pair()?;
        map.insert(key.to_owned(), owned_value(value));
    }
    pairs.finished().then_some(map)
}

fn owned_value(value: StoredValue<'_>) -> MetadataValue {
    match value {
        StoredValue::String(s) => MetadataValue::String(s.to_owned()),
        StoredValue::Int(i) => MetadataValue::Int(i),
        StoredValue::Float(f) => MetadataValue::Float(f),
        StoredValue::Bool(b) => MetadataValue::Bool(b),
    }
}

/// Decodes the record stored under `(business, id)`, checking its checksum and its key.
///
/// # Errors
///
/// [`Error::Corrupt`] when the bytes fail the checksum, do not decode, or belong to another
/// key.
pub(crate) fn decode(business: u32, id: u64, bytes: &[u8]) -> Result<Customer> {
    let fields = check(business, id, bytes)?;
    let metadata = match fields.metadata {
        Some(pairs) => {
            Some(owned_metadata(pairs).ok_or_else(|| corrupt(business, id, "does not decode"))?)
        }
        None => None,
    };
    let [email, name, phone, external_id, description, currency] = fields.texts;
    Ok(Customer {
        id: crate::id::encode(id),
        external_id: external_id.map(str::to_owned),
        email: email.unwrap_or_default().to_owned(),
        name: name.unwrap_or_default().to_owned(),
        phone: phone.map(str::to_owned),
        description: description.map(str::to_owned),
        metadata,
        status: fields.status,
        currency: currency.map(str::to_owned),
        created_at: fields.created_at,
        updated_at: fields.updated_at,
    })
}

/// Strings and metadata maps that [`decode_into`] took out of customers whose record lacked
/// the field, kept for the next customer whose record has it: an optional field that comes
/// and goes along a page moves its memory between customers instead of freeing it and
/// allocating anew.
#[derive(Default)]
pub(crate) struct Spares {
    strings: Vec<String>,
    maps: Vec<Metadata>,
}

/// [`decode`] into an existing customer, reusing the memory its strings and metadata hold (and
/// what `spares` holds): a page decoded over the previous page's customers allocates next to
/// nothing.
///
/// # Errors
///
/// As [`decode`]. On error `into` holds a mix of its old fields and the record's (every
/// check but the metadata's comes before it changes).
pub(crate) fn decode_into(
    business: u32,
    id: u64,
    bytes: &[u8],
    into: &mut Customer,
    spares: &mut Spares,
) -> Result<()> {
    check(business, id, bytes)?
        .write(id, into, spares)
        .ok_or_else(|| corrupt(business, id, "does not decode"))
}

impl Fields<'_> {
    /// Sets every field of `into`, the customer numbered `id`; `None` when the metadata does
    /// not decode.
    fn write(self, id: u64, into: &mut Customer, spares: &mut Spares) -> Option<()> {
        let [email, name, phone, external_id, description, currency] = self.texts;
        // Every field, by name: a field added to `Customer` fails to compile here until it is
        // set.
        let Customer {
            id: into_id,
            external_id: into_external_id,
            email: into_email,
            name: into_name,
            phone: into_phone,
            description: into_description,
            metadata: into_metadata,
            status: into_status,
            currency: into_currency,
            created_at: into_created_at,
            updated_at: into_updated_at,
        } = into;
        crate::id::encode_into(id, into_id);
        spares.reuse_opt(into_external_id, external_id);
        reuse(into_email, email.unwrap_or_default());
        reuse(into_name, name.unwrap_or_default());
        spares.reuse_opt(into_phone, phone);
        spares.reuse_opt(into_description, description);
        *into_status = self.status;
        spares.reuse_opt(into_currency, currency);
        *into_created_at = self.created_at;
        *into_updated_at = self.updated_at;
        spares.reuse_metadata(into_metadata, self.metadata)
    }
}

fn reuse(into: &mut String, value: &str) {
    into.clear();
    into.push_str(value);
}

impl Spares {
    /// Sets an optional text, keeping a string it no longer needs and taking one it needs.
    fn reuse_opt(&mut self, into: &mut Option<String>, value: Option<&str>) {
        match (into.as_mut(), value) {
            (Some(old), Some(value)) => reuse(old, value),
            (Some(_), None) => self.strings.extend(into.take()),
            (None, Some(value)) => {
                let mut string = self.strings.pop().unwrap_or_default();
                reuse(&mut string, value);
                *into = Some(string);
            }
            (None, None) => {}
        }
    }

    /// Sets the metadata: overwrites the values in place while the stored keys are the map's
    /// (stored pairs are in key order, as a map iterates); rebuilds the map otherwise. `None`
    /// when a pair does not decode or bytes are left over.
    fn reuse_metadata(
        &mut self,
        into: &mut Option<Metadata>,
        pairs: Option<Pairs<'_>>,
    ) -> Option<()> {
        let Some(pairs) = pairs else {
            self.maps.extend(into.take());
            return Some(());
        };
        let map = into.get_or_insert_with(|| self.maps.pop().unwrap_or_default());
        if map.len() as u64 == pairs.left() {
            let mut reading = pairs.clone();
            let mut same_keys = true;
            for (old_key, slot) in map.iter_mut() {
                let (key, value) = reading.next_pair()?;
                if key != old_key {
                    same_keys = false;
                    break;
                }
                match (slot, value) {
                    (MetadataValue::String(old), StoredValue::String(new)) => reuse(old, new),
                    (slot, value) => *slot = owned_value(value),
                }
            }
            if same_keys {
                return reading.finished().then_some(());
            }
        }
        *map = owned_metadata(pairs)?;
        Some(())
    }
}

/// Encodes a record as version 1 did (for the upgrade's tests).
#[cfg(test)]
pub(crate) fn encode_v1(business: u32, id: u64, customer: &Customer) -> Vec<u8> {
    let record = StoredRecordV1 {
        business,
        id,
        email: &customer.email,
        name: &customer.name,
        phone: customer.phone.as_deref(),
        external_id: customer.external_id.as_deref(),
        description: customer.description.as_deref(),
        currency: customer.currency.as_deref(),
        metadata: None,
        status: customer.status.code(),
        created_at: customer.created_at.as_second(),
        updated_at: customer.updated_at.as_second(),
    };
    let mut out = postcard::to_extend(&record, vec![VERSION_1]).unwrap();
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Encodes a record as version 2 did (for the tests of reading it).
#[cfg(test)]
pub(crate) fn encode_v2(business: u32, id: u64, customer: &Customer) -> Vec<u8> {
    let record = StoredRecord {
        business,
        id,
        status: customer.status.code(),
        email: &customer.email,
        created_at: customer.created_at.as_second(),
        updated_at: customer.updated_at.as_second(),
        name: &customer.name,
        phone: customer.phone.as_deref(),
        external_id: customer.external_id.as_deref(),
        description: customer.description.as_deref(),
        currency: customer.currency.as_deref(),
        metadata: stored_metadata(customer.metadata.as_ref()),
    };
    let mut out = postcard::to_extend(&record, vec![VERSION_2]).unwrap();
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn version_2_records_still_decode() {
        let customer = sample();
        let bytes = encode_v2(7, 42, &customer);
        assert_eq!(decode(7, 42, &bytes).unwrap(), customer);
        let head = peek(7, 42, &bytes).unwrap();
        assert_eq!(
            (head.status, head.email),
            (Status::Blocked, "yaw@example.com")
        );
        assert!(decode(7, 43, &bytes).is_err());
        assert!(peek(8, 42, &bytes).is_err());
        // Decoded over a version-3 customer and the other way round.
        let mut reused = decode(7, 42, &encode(7, 42, &customer).unwrap()).unwrap();
        decode_into(7, 42, &bytes, &mut reused, &mut Spares::default()).unwrap();
        assert_eq!(reused, customer);
    }

    #[test]
    fn version_3_is_smaller_than_version_2() {
        let customer = sample();
        // An id as the store issues them: milliseconds since the epoch, shifted by 20 bits.
        let id = 1_780_660_800_000 << 20;
        let (v2, v3) = (encode_v2(7, id, &customer), encode(7, id, &customer));
        let v3 = v3.unwrap();
        // The id as 4 fixed bytes instead of a 9-byte varint, one flag byte instead of five
        // option tags, and the update time as a 3-byte difference instead of 5 bytes.
        assert_eq!(
            v2.len() - v3.len(),
            5 + 4 + 2,
            "{} against {}",
            v3.len(),
            v2.len()
        );
    }

    /// A record moved under another key, its checksum kept, is refused for any difference of
    /// key; so is one resealed for a key that differs in the business or the id's low half.
    #[test]
    fn a_record_under_any_other_key_is_caught() {
        let id: u64 = 0x0191_2345_6789_0001;
        let others = [
            (8, id),
            (7, id ^ 1),
            (7, id ^ (1 << 40)),
            (7, id ^ 0xFFFF_FFFF_0000_0000),
            (8, id ^ (1 << 40)),
            (7 ^ (1 << 31), id ^ (1 << 63) ^ (1 << 31)),
            // Two keys whose CRC-32C collide (found by a reviewer): the low halves differ.
            (7, 0x0094_cf33_9689_0001),
        ];
        let bytes = encode(7, id, &sample()).unwrap();
        for (business, other) in others {
            assert!(
                decode(business, other, &bytes).is_err(),
                "{business} {other:#x}"
            );
            assert!(
                peek(business, other, &bytes).is_err(),
                "{business} {other:#x}"
            );
            let mut resealed = bytes[..bytes.len() - CRC_LEN].to_vec();
            let crc = keyed_crc(business, other, &resealed);
            resealed.extend_from_slice(&crc.to_le_bytes());
            let differs_below_the_checksum = business != 7 || low_half(other) != low_half(id);
            assert_eq!(
                decode(business, other, &resealed).is_err(),
                differs_below_the_checksum,
                "{business} {other:#x}"
            );
        }
    }

    /// `body` (a version-3 record without its checksum) with the checksum it needs under
    /// (7, 42).
    fn sealed(mut body: Vec<u8>) -> Vec<u8> {
        let crc = keyed_crc(7, 42, &body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    #[test]
    fn well_sealed_but_malformed_version_3_records_are_corrupt() {
        let good = encode(7, 42, &sample()).unwrap();
        let body = &good[..good.len() - CRC_LEN];
        // The flags sit before the six one-byte lengths of the sample's texts.
        let layout = Layout::read(&body[1..]).unwrap();
        let flags_at = body.len() - layout.rest.len() - layout.text.len() - 6 - 1;
        assert_eq!(body[flags_at], layout.flags);
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut unknown_flag = body.to_vec();
        unknown_flag[flags_at] |= 0x20;
        cases.push(("an unknown flag", unknown_flag));
        let mut no_metadata_flag = body.to_vec();
        no_metadata_flag[flags_at] &= !HAS_METADATA;
        cases.push(("metadata bytes not flagged", no_metadata_flag));
        let mut long_email = body.to_vec();
        long_email[flags_at + 1] = 0x7F;
        cases.push(("an email longer than the texts", long_email));
        let mut split_char = encode(
            7,
            42,
            &Customer {
                email: "x@é".into(),
                name: "n".into(),
                ..sample()
            },
        )
        .unwrap();
        split_char.truncate(split_char.len() - CRC_LEN);
        let layout = Layout::read(&split_char[1..]).unwrap();
        let lens_at = split_char.len() - layout.rest.len() - layout.text.len() - 6;
        // Email one byte shorter, name one byte longer: the whole text is still UTF-8, but
        // both cut "é" in two.
        split_char[lens_at] -= 1;
        split_char[lens_at + 1] += 1;
        cases.push(("texts cut inside a character", split_char));
        cases.push(("nothing after the version", vec![VERSION]));
        for (what, body) in cases {
            let bytes = sealed(body);
            assert!(
                matches!(decode(7, 42, &bytes), Err(Error::Corrupt(_))),
                "{what}"
            );
            // The list walk's own reading of version 3 refuses it too, and writes nothing
            // over the customer it was given.
            let mut reused = other();
            assert!(
                matches!(
                    decode_into(7, 42, &bytes, &mut reused, &mut Spares::default()),
                    Err(Error::Corrupt(_))
                ),
                "{what}"
            );
            assert_eq!(reused, other(), "{what}");
        }
    }

    /// A customer unlike [`sample`] in every field but the status.
    fn other() -> Customer {
        Customer {
            id: crate::id::encode(41),
            external_id: None,
            email: "ama@example.org".into(),
            name: "Ama Owusu".into(),
            phone: None,
            description: Some("Retail".into()),
            metadata: Some(Metadata::from([(
                "plan".to_owned(),
                MetadataValue::from("silver"),
            )])),
            status: Status::Blocked,
            currency: None,
            created_at: Timestamp::from_second(1_700_000_000).unwrap(),
            updated_at: Timestamp::from_second(1_700_000_001).unwrap(),
        }
    }

    /// The sample's record with `pairs` (postcard's encoding of metadata pairs) in place of
    /// its metadata, sealed under (7, 42).
    fn with_pairs(pairs: &[u8]) -> Vec<u8> {
        let good = encode(7, 42, &sample()).unwrap();
        let body = &good[..good.len() - CRC_LEN];
        let rest = Layout::read(&body[1..]).unwrap().rest.len();
        let mut body = body[..body.len() - rest].to_vec();
        body.extend_from_slice(pairs);
        sealed(body)
    }

    /// Metadata that fails part way is `corrupt` from both readings; the walk's has already
    /// copied the other fields over the customer then (its page is dropped on any error).
    #[test]
    fn well_sealed_records_with_bad_metadata_are_corrupt() {
        let pairs = |p: &[(&str, StoredValue<'_>)]| postcard::to_allocvec(p).unwrap();
        let good = pairs(&[
            ("plan", StoredValue::String("gold")),
            ("vip", StoredValue::Bool(true)),
        ]);
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut trailing = good.clone();
        trailing.push(0);
        cases.push(("bytes after the metadata", trailing));
        let mut count_over = good.clone();
        count_over[0] = 3;
        cases.push(("a count over the pairs", count_over));
        let mut bool_of_two = good.clone();
        *bool_of_two.last_mut().unwrap() = 2;
        cases.push(("a boolean of 2", bool_of_two));
        cases.push(("a cut pair", good[..good.len() - 1].to_vec()));
        assert!(decode(7, 42, &with_pairs(&good)).is_ok());
        for (what, pairs) in cases {
            let bytes = with_pairs(&pairs);
            assert!(
                matches!(decode(7, 42, &bytes), Err(Error::Corrupt(_))),
                "{what}"
            );
            for mut reused in [sample(), other()] {
                assert!(
                    matches!(
                        decode_into(7, 42, &bytes, &mut reused, &mut Spares::default()),
                        Err(Error::Corrupt(_))
                    ),
                    "{what}"
                );
            }
        }
    }

    /// Pairs no encoder of this store writes (a key twice, keys out of order) decode as a map
    /// would collect them, the last value of a key winning, over any earlier map alike.
    #[test]
    fn repeated_and_unordered_keys_decode_as_a_map_collects_them() {
        let int = StoredValue::Int;
        let cases: [&[(&str, StoredValue<'_>)]; 3] = [
            &[("b", int(1)), ("a", int(2)), ("b", int(3))],
            &[("b", int(1)), ("a", int(2))],
            &[("a", int(1)), ("a", int(2))],
        ];
        for pairs in cases {
            let bytes = with_pairs(&postcard::to_allocvec(pairs).unwrap());
            let fresh = decode(7, 42, &bytes).unwrap();
            let expected: Metadata = pairs
                .iter()
                .map(|&(k, v)| (k.to_owned(), owned_value(v)))
                .collect();
            assert_eq!(fresh.metadata.as_ref(), Some(&expected), "{pairs:?}");
            let earlier_maps = [
                Metadata::from([("a".to_owned(), MetadataValue::Int(9))]),
                Metadata::from([
                    ("a".to_owned(), MetadataValue::Int(9)),
                    ("b".to_owned(), MetadataValue::from("x")),
                ]),
                expected.clone(),
            ];
            for map in earlier_maps {
                let mut reused = Customer {
                    metadata: Some(map),
                    ..other()
                };
                decode_into(7, 42, &bytes, &mut reused, &mut Spares::default()).unwrap();
                assert_eq!(reused, fresh, "{pairs:?}");
            }
        }
    }

    #[test]
    fn version_1_records_still_decode() {
        let mut customer = sample();
        customer.metadata = None;
        let bytes = encode_v1(7, 42, &customer);
        assert_eq!(decode(7, 42, &bytes).unwrap(), customer);
        let head = peek(7, 42, &bytes).unwrap();
        assert_eq!(
            (head.status, head.email),
            (Status::Blocked, "yaw@example.com")
        );
    }

    fn sample() -> Customer {
        Customer {
            id: crate::id::encode(42),
            external_id: Some("user_db_yaw123".into()),
            email: "yaw@example.com".into(),
            name: "Yaw Mensah".into(),
            phone: Some("+233249998888".into()),
            description: Some("Enterprise API User".into()),
            metadata: Some(Metadata::from([
                ("plan".to_owned(), MetadataValue::from("gold")),
                ("seats".to_owned(), MetadataValue::Int(3)),
                ("ratio".to_owned(), MetadataValue::Float(0.5)),
                ("vip".to_owned(), MetadataValue::Bool(true)),
            ])),
            status: Status::Blocked,
            currency: Some("GHS".into()),
            created_at: Timestamp::from_second(1_780_660_800).unwrap(),
            updated_at: Timestamp::from_second(1_780_747_200).unwrap(),
        }
    }

    #[test]
    fn round_trip() {
        let customer = sample();
        let bytes = encode(7, 42, &customer).unwrap();
        assert_eq!(decode(7, 42, &bytes).unwrap(), customer);
    }

    #[test]
    fn peek_reads_status_and_email() {
        let bytes = encode(7, 42, &sample()).unwrap();
        let head = peek(7, 42, &bytes).unwrap();
        assert_eq!(
            (head.status, head.email),
            (Status::Blocked, "yaw@example.com")
        );
        assert!(peek(7, 41, &bytes).is_err());
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let bytes = encode(7, 42, &sample()).unwrap();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut copy = bytes.clone();
                copy[i] ^= 1 << bit;
                assert!(
                    matches!(decode(7, 42, &copy), Err(Error::Corrupt(_))),
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn a_record_under_another_key_is_caught() {
        let bytes = encode(7, 42, &sample()).unwrap();
        assert!(decode(7, 43, &bytes).is_err());
        assert!(decode(8, 42, &bytes).is_err());
    }

    #[test]
    fn truncated_and_empty_records_are_caught() {
        let bytes = encode(7, 42, &sample()).unwrap();
        for len in 0..bytes.len() {
            assert!(decode(7, 42, &bytes[..len]).is_err(), "len {len}");
        }
    }

    fn text(max: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::char::range('a', 'e'), 0..max)
            .prop_map(|chars| chars.into_iter().collect())
    }

    /// Customers that differ in every field that may be absent, and in their metadata's keys
    /// and value kinds (keys from a small set, so that two maps often share their keys).
    fn customers() -> impl Strategy<Value = Customer> {
        let value = || {
            prop_oneof![
                3 => text(4).prop_map(MetadataValue::String),
                1 => any::<i64>().prop_map(MetadataValue::Int),
                1 => (-1e6f64..1e6).prop_map(MetadataValue::Float),
                1 => any::<bool>().prop_map(MetadataValue::Bool),
            ]
        };
        // Often the same two keys, so that the values are overwritten in place.
        let metadata = prop_oneof![
            Just(None),
            (value(), value()).prop_map(|(plan, seats)| Some(Metadata::from([
                ("plan".to_owned(), plan),
                ("seats".to_owned(), seats),
            ]))),
            proptest::collection::btree_map(
                prop_oneof![Just("plan"), Just("seats"), Just("vip")].prop_map(str::to_owned),
                value(),
                0..3,
            )
            .prop_map(Some),
        ];
        (
            (text(12), text(12), proptest::option::of(text(6))),
            (proptest::option::of(text(6)), proptest::option::of(text(6))),
            (
                proptest::option::of(text(3)),
                metadata,
                0u8..3,
                0i64..2_000_000_000,
            ),
        )
            .prop_map(
                |(
                    (email, name, phone),
                    (external_id, description),
                    (currency, metadata, status, t),
                )| {
                    Customer {
                        id: crate::id::encode(42),
                        external_id,
                        email,
                        name,
                        phone,
                        description,
                        metadata,
                        status: Status::from_code(status).unwrap(),
                        currency,
                        created_at: Timestamp::from_second(t).unwrap(),
                        updated_at: Timestamp::from_second(t + 1).unwrap(),
                    }
                },
            )
    }

    /// Any text at all, empty and multi-byte included.
    fn any_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<char>(), 0..8).prop_map(|c| c.into_iter().collect())
    }

    /// Any timestamp jiff can hold, to the second.
    fn any_time() -> impl Strategy<Value = Timestamp> {
        (Timestamp::MIN.as_second()..=Timestamp::MAX.as_second())
            .prop_map(|s| Timestamp::from_second(s).unwrap())
    }

    proptest! {
        /// Every customer comes back as it went in, whatever its texts and times (an update
        /// time before the creation time included), and its head reads alike.
        #[test]
        fn every_customer_round_trips(
            (email, name, phone, external_id, description, currency) in (
                any_text(), any_text(),
                proptest::option::of(any_text()), proptest::option::of(any_text()),
                proptest::option::of(any_text()), proptest::option::of(any_text()),
            ),
            metadata in proptest::option::of(proptest::collection::btree_map(
                any_text(), any_text().prop_map(MetadataValue::String), 0..3)),
            (status, created_at, updated_at) in (0u8..3, any_time(), any_time()),
            (business, id) in (any::<u32>(), any::<u64>()),
        ) {
            let customer = Customer {
                id: crate::id::encode(id),
                external_id, email, name, phone, description, metadata,
                status: Status::from_code(status).unwrap(),
                currency, created_at, updated_at,
            };
            let bytes = encode(business, id, &customer).unwrap();
            prop_assert_eq!(&decode(business, id, &bytes).unwrap(), &customer);
            let head = peek(business, id, &bytes).unwrap();
            prop_assert_eq!((head.status, head.email), (customer.status, customer.email.as_str()));
            prop_assert!(decode(business, id.wrapping_add(1), &bytes).is_err());
            prop_assert!(peek(business.wrapping_add(1), id, &bytes).is_err());
        }

        /// Decoding over any earlier customer gives what a fresh decode gives, and a record
        /// whose checksum fails leaves the earlier customer as it was.
        #[test]
        fn decoding_over_a_customer_equals_a_fresh_decode(
            earlier in customers(),
            stored in proptest::collection::vec(customers(), 1..6),
            leftover in customers(),
            id in 1u64..u64::MAX,
            flip in any::<proptest::sample::Index>(),
        ) {
            // Spares left by earlier decodes: strings and a map that hold something else.
            let mut spares = Spares::default();
            spares.strings.extend([leftover.email.clone(), leftover.name.clone()]);
            spares.maps.extend(leftover.metadata.clone());
            let mut reused = earlier.clone();
            for stored in &stored {
                let bytes = encode(7, id, stored).unwrap();
                decode_into(7, id, &bytes, &mut reused, &mut spares).unwrap();
                let fresh = decode(7, id, &bytes).unwrap();
                prop_assert_eq!(&reused, &fresh);
                prop_assert_eq!(fresh.id, crate::id::encode(id));
            }

            let bytes = encode(7, id, &stored[0]).unwrap();
            let mut damaged = bytes.clone();
            damaged[flip.index(bytes.len())] ^= 0x10;
            let mut untouched = earlier.clone();
            prop_assert!(decode_into(7, id, &damaged, &mut untouched, &mut spares).is_err());
            prop_assert_eq!(untouched, earlier);
        }
    }
}
