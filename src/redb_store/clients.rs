//! The API clients of the HTTP server, kept in the store file next to the customers.
//!
//! A client is an id, the business it acts for, its scopes and the SHA-256 hash of its secret.
//! The secret itself (256 random bits from the operating system's CSPRNG) is returned once, by
//! [`RedbStore::create_client`], and never stored. A slow password hash is not needed: the
//! secret is random, not chosen by a person, so a fast hash cannot be brute-forced, and it
//! keeps authentication off the request's critical path.
//!
//! The table may be missing in a file written before clients existed: reads take that as "no
//! clients", and the first [`RedbStore::create_client`] creates it.
//!
//! Stored form of a client, under its id:
//!
//! ```text
//! [version: 1 byte = 1] [postcard payload, which repeats the id] [CRC-32C of all bytes before it: 4 bytes LE]
//! ```

use std::fmt;

use jiff::Timestamp;
use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableError,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::RedbStore;
use super::open::{commit_error, storage_error};
use crate::{Error, Result, validate};

/// Client id → encoded client (see the module docs).
const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_clients_v1");

const VERSION: u8 = 1;
const CRC_LEN: usize = 4;
/// The prefix of every client id, followed by 24 hex digits (96 random bits).
const ID_PREFIX: &str = "ci_";
/// The prefix of every client secret, followed by 64 hex digits (256 random bits).
const SECRET_PREFIX: &str = "cs_";
/// Longer ids are refused without a lookup (and the authentication throttle never looks
/// them up).
pub(crate) const ID_MAX: usize = 64;

/// A permission an API client holds. `customers:write` does not imply `customers:read`.
///
/// Only with the cargo feature `server` (on by default).
///
/// # Example
///
/// ```
/// use customer_store::{RedbStore, Scope};
/// assert_eq!("customers:write".parse::<Scope>()?, Scope::CustomersWrite);
/// assert_eq!("customers:admin".parse::<Scope>().unwrap_err().field(), Some("scope"));
/// assert_eq!(serde_json::to_string(&Scope::CustomersRead).unwrap(), r#""customers:read""#);
///
/// let store = RedbStore::in_memory()?;
/// let writer = store.create_client("acme", &[Scope::CustomersWrite])?;
/// let client = store.authenticate_client(&writer.client_id, &writer.client_secret)?.unwrap();
/// assert!(!client.has_scope(Scope::CustomersRead)); // write does not imply read
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Retrieve and list customers (`customers:read`).
    #[serde(rename = "customers:read")]
    CustomersRead,
    /// Create, update and delete customers (`customers:write`).
    #[serde(rename = "customers:write")]
    CustomersWrite,
}

impl Scope {
    /// Every scope.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// assert_eq!(Scope::ALL, [Scope::CustomersRead, Scope::CustomersWrite]);
    /// let store = RedbStore::in_memory()?;
    /// assert_eq!(store.create_client("acme", &Scope::ALL)?.scopes, Scope::ALL);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub const ALL: [Scope; 2] = [Scope::CustomersRead, Scope::CustomersWrite];

    /// The scope's name: `customers:read` or `customers:write`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::Scope;
    /// assert_eq!(Scope::CustomersRead.as_str(), "customers:read");
    /// assert_eq!(Scope::CustomersWrite.to_string(), "customers:write");
    /// ```
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::CustomersRead => 1,
            Scope::CustomersWrite => 2,
        }
    }

    fn from_bits(bits: u8) -> Vec<Scope> {
        Scope::ALL
            .into_iter()
            .filter(|s| bits & s.bit() != 0)
            .collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| Error::invalid("scope", "must be customers:read or customers:write"))
    }
}

/// An API client of the HTTP server, as stored (without its secret).
///
/// Only with the cargo feature `server` (on by default).
///
/// # Example
///
/// ```
/// use customer_store::{RedbStore, Scope};
/// let store = RedbStore::in_memory()?;
/// let issued = store.create_client("acme", &[Scope::CustomersRead])?;
/// let client = store.clients()?.remove(0);
/// assert_eq!(client.client_id, issued.client_id);
/// assert_eq!(client.business, "acme");
/// assert_eq!(client.scopes, [Scope::CustomersRead]);
/// assert_eq!(client.revoked_at, None);
/// // Serialised for the admin commands: camelCase, never a secret.
/// let json = serde_json::to_string(&client).unwrap();
/// assert!(json.contains(r#""scopes":["customers:read"],"createdAt":"#));
/// assert!(!json.contains("cs_"));
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiClient {
    /// The client id, the user name of HTTP Basic authentication.
    pub client_id: String,
    /// The business the client acts for: it sees only that business's customers.
    pub business: String,
    /// The scopes it holds, in the order of [`Scope::ALL`].
    pub scopes: Vec<Scope>,
    /// When the client was created (whole seconds, UTC).
    pub created_at: Timestamp,
    /// When the client was revoked, if it was; a revoked client cannot authenticate.
    pub revoked_at: Option<Timestamp>,
}

impl ApiClient {
    /// Whether the client holds `scope`.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &[Scope::CustomersRead])?;
    /// let client = store.authenticate_client(&issued.client_id, &issued.client_secret)?.unwrap();
    /// assert!(client.has_scope(Scope::CustomersRead));
    /// assert!(!client.has_scope(Scope::CustomersWrite));
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Whether the client was revoked.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &Scope::ALL)?;
    /// assert!(!store.clients()?[0].is_revoked());
    /// let revoked = store.revoke_client(&issued.client_id)?;
    /// assert!(revoked.is_revoked() && revoked.revoked_at.is_some());
    /// assert!(store.clients()?[0].is_revoked());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    #[must_use]
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

/// The credentials of a new client. The secret is shown here once and stored only as a hash.
///
/// Only with the cargo feature `server` (on by default).
///
/// Serialises as `{"clientId", "clientSecret", "business", "scopes"}`. Its `Debug` form hides
/// the secret.
///
/// # Example
///
/// ```
/// use customer_store::{RedbStore, Scope};
/// let store = RedbStore::in_memory()?;
/// let issued = store.create_client("acme", &[Scope::CustomersWrite, Scope::CustomersRead])?;
/// assert!(issued.client_id.starts_with("ci_"));
/// assert!(issued.client_secret.starts_with("cs_") && issued.client_secret.len() == 67);
/// assert_eq!(issued.scopes, Scope::ALL); // in the order of `Scope::ALL`
/// assert!(!format!("{issued:?}").contains(&issued.client_secret));
/// let json = serde_json::to_value(&issued).unwrap();
/// assert_eq!(json["clientSecret"], issued.client_secret.as_str());
/// # Ok::<(), customer_store::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentials {
    /// The client id, the user name of HTTP Basic authentication.
    pub client_id: String,
    /// The secret, the password of HTTP Basic authentication: `cs_` and 64 hex digits.
    pub client_secret: String,
    /// The business the client acts for.
    pub business: String,
    /// The scopes it holds.
    pub scopes: Vec<Scope>,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .field("business", &self.business)
            .field("scopes", &self.scopes)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredClient<'a> {
    id: &'a str,
    business: &'a str,
    scopes: u8,
    secret_sha256: [u8; 32],
    created_at: i64,
    revoked_at: Option<i64>,
}

struct Decoded {
    client: ApiClient,
    secret_sha256: [u8; 32],
}

fn encode(stored: &StoredClient<'_>) -> Result<Vec<u8>> {
    let mut bytes = vec![VERSION];
    let payload = postcard::to_allocvec(stored)
        .map_err(|e| Error::Corrupt(format!("cannot encode API client {}: {e}", stored.id)))?;
    bytes.extend_from_slice(&payload);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    Ok(bytes)
}

fn decode(key: &str, bytes: &[u8]) -> Result<Decoded> {
    let corrupt = |what: &str| Error::Corrupt(format!("API client {key}: {what}"));
    let Some((body, crc)) = bytes.split_last_chunk::<CRC_LEN>() else {
        return Err(corrupt("record too short"));
    };
    if crc32c::crc32c(body) != u32::from_le_bytes(*crc) {
        return Err(corrupt("checksum mismatch"));
    }
    let Some((&version, payload)) = body.split_first() else {
        return Err(corrupt("record too short"));
    };
    if version != VERSION {
        return Err(corrupt("unknown record version"));
    }
    let stored: StoredClient<'_> =
        postcard::from_bytes(payload).map_err(|_| corrupt("record does not decode"))?;
    if stored.id != key {
        return Err(corrupt("record stored under another id"));
    }
    let time = |secs: i64| Timestamp::from_second(secs).map_err(|_| corrupt("bad timestamp"));
    Ok(Decoded {
        client: ApiClient {
            client_id: stored.id.to_owned(),
            business: stored.business.to_owned(),
            scopes: Scope::from_bits(stored.scopes),
            created_at: time(stored.created_at)?,
            revoked_at: stored.revoked_at.map(time).transpose()?,
        },
        secret_sha256: stored.secret_sha256,
    })
}

fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_hex(prefix: &str, bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Storage {
        message: format!("the operating system's random source failed: {e}"),
        source: None,
    })?;
    let mut out = String::with_capacity(prefix.len() + 2 * bytes);
    out.push_str(prefix);
    for b in buf {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    Ok(out)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Finds the client `id` in a read snapshot; a missing table means no clients.
fn lookup(db: &Database, id: &str) -> Result<Option<Decoded>> {
    let err = |e: redb::Error| storage_error("read API client", e);
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let table = match txn.open_table(CLIENTS) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(err(e.into())),
    };
    match table.get(id).map_err(|e| err(e.into()))? {
        Some(guard) => decode(id, guard.value()).map(Some),
        None => Ok(None),
    }
}

/// The HTTP server's API clients (only with the cargo feature `server`, on by default).
#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
impl RedbStore {
    /// Creates an API client for `business` with `scopes`, and returns its credentials.
    ///
    /// The secret is 256 random bits from the operating system; only its SHA-256 hash is
    /// stored, so this is the only time it can be read. Durable when it returns.
    ///
    /// # Errors
    ///
    /// `invalid_request` for a business name that breaks its rule or an empty scope list;
    /// storage errors, including "store in use" when another process holds the file.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &[Scope::CustomersRead])?;
    /// let client = store.authenticate_client(&issued.client_id, &issued.client_secret)?;
    /// assert_eq!(client.map(|c| c.business), Some("acme".to_owned()));
    /// assert!(store.authenticate_client(&issued.client_id, "wrong")?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn create_client(&self, business: &str, scopes: &[Scope]) -> Result<ClientCredentials> {
        validate::business(business)?;
        if scopes.is_empty() {
            return Err(Error::invalid("scopes", "at least one scope is required"));
        }
        let bits = scopes.iter().fold(0u8, |bits, s| bits | s.bit());
        let secret = random_hex(SECRET_PREFIX, 32)?;
        let secret_sha256 = sha256(&secret);
        let created_at = crate::validate::whole_seconds(self.now()).as_second();
        let client_id = self.run_alone("create API client", |db| {
            let err = |e: redb::Error| storage_error("create API client", e);
            let txn = db.begin_write().map_err(|e| err(e.into()))?;
            let client_id = {
                let mut table = txn.open_table(CLIENTS).map_err(|e| err(e.into()))?;
                // 96 random bits do not collide in practice; check anyway.
                let mut client_id = random_hex(ID_PREFIX, 12)?;
                while table
                    .get(client_id.as_str())
                    .map_err(|e| err(e.into()))?
                    .is_some()
                {
                    client_id = random_hex(ID_PREFIX, 12)?;
                }
                let bytes = encode(&StoredClient {
                    id: &client_id,
                    business,
                    scopes: bits,
                    secret_sha256,
                    created_at,
                    revoked_at: None,
                })?;
                table
                    .insert(client_id.as_str(), bytes.as_slice())
                    .map_err(|e| err(e.into()))?;
                client_id
            };
            txn.commit()
                .map_err(|e| commit_error("create API client (outcome unknown)", e))?;
            Ok(client_id)
        })?;
        Ok(ClientCredentials {
            client_id,
            client_secret: secret,
            business: business.to_owned(),
            scopes: Scope::from_bits(bits),
        })
    }

    /// Every API client of the store, revoked ones included, in id order.
    ///
    /// # Errors
    ///
    /// Storage errors; `corrupt` for a client record that does not decode.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// assert!(store.clients()?.is_empty());
    /// let a = store.create_client("acme", &[Scope::CustomersRead])?;
    /// let b = store.create_client("globex", &Scope::ALL)?;
    /// store.revoke_client(&a.client_id)?;
    /// let clients = store.clients()?;
    /// let mut ids = vec![a.client_id, b.client_id];
    /// ids.sort();
    /// assert_eq!(clients.iter().map(|c| c.client_id.clone()).collect::<Vec<_>>(), ids);
    /// assert_eq!(clients.iter().filter(|c| c.is_revoked()).count(), 1);
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn clients(&self) -> Result<Vec<ApiClient>> {
        self.run_unsettled("list API clients", |db| {
            let err = |e: redb::Error| storage_error("list API clients", e);
            let txn = db.begin_read().map_err(|e| err(e.into()))?;
            let table = match txn.open_table(CLIENTS) {
                Ok(table) => table,
                Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(err(e.into())),
            };
            let mut clients = Vec::new();
            for entry in table.iter().map_err(|e| err(e.into()))? {
                let (key, value) = entry.map_err(|e| err(e.into()))?;
                clients.push(decode(key.value(), value.value())?.client);
            }
            Ok(clients)
        })
    }

    /// Whether the store has any API client (revoked ones included).
    ///
    /// # Errors
    ///
    /// Storage errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// assert!(!store.has_clients()?);
    /// let issued = store.create_client("acme", &[Scope::CustomersRead])?;
    /// store.revoke_client(&issued.client_id)?;
    /// assert!(store.has_clients()?); // revoked clients count
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn has_clients(&self) -> Result<bool> {
        self.run_unsettled("list API clients", |db| {
            let err = |e: redb::Error| storage_error("list API clients", e);
            let txn = db.begin_read().map_err(|e| err(e.into()))?;
            match txn.open_table(CLIENTS) {
                Ok(table) => Ok(!table.is_empty().map_err(|e| err(e.into()))?),
                Err(TableError::TableDoesNotExist(_)) => Ok(false),
                Err(e) => Err(err(e.into())),
            }
        })
    }

    /// Revokes an API client: it can no longer authenticate. Revoking twice is harmless.
    ///
    /// # Errors
    ///
    /// `invalid_request` (field `clientId`) for an unknown id; storage errors.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &Scope::ALL)?;
    /// assert!(store.revoke_client(&issued.client_id)?.is_revoked());
    /// assert!(store.authenticate_client(&issued.client_id, &issued.client_secret)?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn revoke_client(&self, client_id: &str) -> Result<ApiClient> {
        let now = crate::validate::whole_seconds(self.now()).as_second();
        let unknown = || Error::invalid("clientId", "no such API client");
        self.run_alone("revoke API client", |db| {
            let err = |e: redb::Error| storage_error("revoke API client", e);
            let txn = db.begin_write().map_err(|e| err(e.into()))?;
            let client = {
                let mut table = txn.open_table(CLIENTS).map_err(|e| err(e.into()))?;
                let decoded = match table.get(client_id).map_err(|e| err(e.into()))? {
                    Some(guard) => decode(client_id, guard.value())?,
                    None => return Err(unknown()),
                };
                if decoded.client.is_revoked() {
                    return Ok(decoded.client);
                }
                let bits = decoded.client.scopes.iter().fold(0u8, |b, s| b | s.bit());
                let bytes = encode(&StoredClient {
                    id: client_id,
                    business: &decoded.client.business,
                    scopes: bits,
                    secret_sha256: decoded.secret_sha256,
                    created_at: decoded.client.created_at.as_second(),
                    revoked_at: Some(now),
                })?;
                table
                    .insert(client_id, bytes.as_slice())
                    .map_err(|e| err(e.into()))?;
                let mut client = decoded.client;
                client.revoked_at = Timestamp::from_second(now).ok();
                client
            };
            txn.commit()
                .map_err(|e| commit_error("revoke API client (outcome unknown)", e))?;
            Ok(client)
        })
    }

    /// The client whose id and secret these are, or `None` for an unknown id, a wrong secret
    /// or a revoked client (the three are not told apart).
    ///
    /// The presented secret is hashed before the lookup, whatever the id, and the hashes are
    /// compared in constant time.
    ///
    /// # Errors
    ///
    /// Storage errors; `corrupt` for a client record that does not decode.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::{RedbStore, Scope};
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &[Scope::CustomersRead])?;
    /// let found = store.authenticate_client(&issued.client_id, &issued.client_secret)?;
    /// assert_eq!(found.map(|c| c.client_id), Some(issued.client_id.clone()));
    /// // A wrong secret, an unknown id and a revoked client all answer `None`.
    /// assert!(store.authenticate_client(&issued.client_id, "cs_wrong")?.is_none());
    /// assert!(store.authenticate_client("ci_unknown", &issued.client_secret)?.is_none());
    /// store.revoke_client(&issued.client_id)?;
    /// assert!(store.authenticate_client(&issued.client_id, &issued.client_secret)?.is_none());
    /// # Ok::<(), customer_store::Error>(())
    /// ```
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Option<ApiClient>> {
        let presented = sha256(secret);
        let found = if client_id.is_empty() || client_id.len() > ID_MAX {
            None
        } else {
            self.run_unsettled("authenticate", |db| lookup(db, client_id))?
        };
        let Some(found) = found else {
            return Ok(None);
        };
        let matches: bool = presented.ct_eq(&found.secret_sha256).into();
        Ok((matches && !found.client.is_revoked()).then_some(found.client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_round_trip_and_revoke() -> Result<()> {
        let store = RedbStore::in_memory()?;
        assert!(!store.has_clients()?);
        assert!(store.clients()?.is_empty());
        assert!(store.authenticate_client("ci_x", "cs_y")?.is_none());
        let a = store.create_client("acme", &[Scope::CustomersWrite, Scope::CustomersRead])?;
        assert_eq!(a.scopes, Scope::ALL.to_vec());
        assert_eq!(a.client_secret.len(), SECRET_PREFIX.len() + 64);
        assert_eq!(a.client_id.len(), ID_PREFIX.len() + 24);
        assert!(store.has_clients()?);
        let b = store.create_client("globex", &[Scope::CustomersRead])?;
        assert_ne!(a.client_secret, b.client_secret);
        let client = store.authenticate_client(&b.client_id, &b.client_secret)?;
        assert_eq!(
            client.map(|c| (c.business, c.scopes)),
            Some(("globex".to_owned(), vec![Scope::CustomersRead]))
        );
        assert!(
            store
                .authenticate_client(&b.client_id, &a.client_secret)?
                .is_none()
        );
        assert!(store.revoke_client(&a.client_id)?.is_revoked());
        assert!(store.revoke_client(&a.client_id)?.is_revoked());
        assert!(
            store
                .authenticate_client(&a.client_id, &a.client_secret)?
                .is_none()
        );
        assert_eq!(store.clients()?.len(), 2);
        assert_eq!(
            store.revoke_client("ci_nope").unwrap_err().field(),
            Some("clientId")
        );
        assert_eq!(
            store.create_client("acme", &[]).unwrap_err().field(),
            Some("scopes")
        );
        assert_eq!(
            store.create_client("a b", &Scope::ALL).unwrap_err().field(),
            Some("business")
        );
        Ok(())
    }

    #[test]
    fn a_damaged_record_is_corrupt() {
        let stored = StoredClient {
            id: "ci_1",
            business: "acme",
            scopes: 3,
            secret_sha256: [7; 32],
            created_at: 0,
            revoked_at: None,
        };
        let Ok(mut bytes) = encode(&stored) else {
            panic!("encode failed");
        };
        assert!(decode("ci_1", &bytes).is_ok());
        assert!(decode("ci_2", &bytes).is_err());
        bytes[3] ^= 1;
        assert!(matches!(decode("ci_1", &bytes), Err(Error::Corrupt(_))));
        assert!(decode("ci_1", &[]).is_err());
    }
}
