//! Request input: JSON bodies, the list query and path ids, each refused with an error that
//! names the field at fault instead of axum's plain-text rejections.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_path_to_error::Segment;

use super::error::ApiError;
use super::object::JsonObject;
use super::{AppState, BODY_LIMIT};
use crate::{Error, ListQuery, Status};

/// A request body as received: the bytes, or why it cannot be used (reported after
/// authentication, so an unauthenticated caller learns nothing from it).
pub(crate) type RawBody = Result<Bytes, ApiError>;

/// The body of a create or update, as [`read_body`] found it.
pub(crate) struct Body(pub(crate) RawBody);

impl FromRequest<AppState> for Body {
    type Rejection = Infallible;

    async fn from_request(request: Request, state: &AppState) -> Result<Body, Infallible> {
        Ok(Body(read_body(request, state).await))
    }
}

/// Reads the body, which must arrive within the server's read timeout, and checks it: its
/// media type and encoding (415), its size (413) and its arrival (408), in that order. A body
/// declared over
/// [`BODY_LIMIT`] is not read at all; any other is read (up to the limit) even when it is
/// refused, so that the answer is not lost to a connection closed with unread data.
async fn read_body(request: Request, state: &AppState) -> RawBody {
    let json = is_json(request.headers());
    let identity = is_identity(request.headers());
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || ApiError::payload_too_large(BODY_LIMIT);
    let outcome = if declared.is_some_and(|n| n > u64::try_from(BODY_LIMIT).unwrap_or(u64::MAX)) {
        Err(too_large())
    } else {
        let timeout = state.read_timeout;
        match tokio::time::timeout(timeout, Bytes::from_request(request, state)).await {
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(rejection)) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(too_large())
            }
            Ok(Err(_)) => Err(ApiError::invalid(
                None,
                "the request body could not be read",
            )),
            Err(_) => Err(ApiError::request_timeout(timeout)),
        }
    };
    if !json {
        Err(ApiError::unsupported_media_type())
    } else if !identity {
        Err(ApiError::unsupported_encoding())
    } else {
        outcome
    }
}

/// Whether the body comes as sent: no `Content-Encoding`, or only `identity` (a compressed
/// body was read as JSON and answered "malformed JSON"; one labelled compressed but sent plain
/// was read as is: found in a conformance trial).
fn is_identity(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .all(|value| {
            value.to_str().is_ok_and(|codings| {
                codings
                    .split(',')
                    .map(str::trim)
                    .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
            })
        })
}

/// `application/json` or a `+json` media type, with no `charset` parameter but UTF-8 (JSON is
/// UTF-8: a body declared in another charset would be read as something it is not).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let utf8 = parts.all(|parameter| match parameter.split_once('=') {
        Some((name, charset)) if name.trim().eq_ignore_ascii_case("charset") => {
            let charset = charset.trim();
            let charset = charset
                .strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .unwrap_or(charset);
            // US-ASCII is UTF-8 too (some older clients name it).
            ["utf-8", "utf8", "us-ascii"]
                .iter()
                .any(|name| charset.eq_ignore_ascii_case(name))
        }
        _ => true,
    });
    utf8 && kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .get(subtype.len().saturating_sub(5)..)
                .is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

/// A name the client sent, as an error shows it: its first 40 characters.
fn shown_name(name: &str) -> String {
    name.chars().take(40).collect()
}

/// The text between the first pair of backticks of a serde message (`missing field `email``).
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message.get(start..)?.find('`')?;
    message.get(start..start + len)
}

/// Deserialises a JSON body, which must be an object ([`JsonObject`]), naming the top-level
/// field at fault when there is one.
pub(crate) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, JsonObject<T>>(&mut de) {
        Ok(JsonObject(value)) => match de.end() {
            Ok(()) => Ok(value),
            Err(e) => Err(ApiError::invalid(None, format!("malformed JSON: {e}"))),
        },
        Err(e) => {
            let field = match e.path().iter().next() {
                Some(Segment::Map { key }) => Some(key.clone()),
                _ => None,
            };
            let inner = e.into_inner();
            let message = inner.to_string();
            match inner.classify() {
                Category::Data => {
                    let field = field.or_else(|| {
                        let named = message.starts_with("missing field")
                            || message.starts_with("unknown field")
                            || message.starts_with("duplicate field");
                        named
                            .then(|| backticked(&message))
                            .flatten()
                            .map(str::to_owned)
                    });
                    let mut message = match message.strip_prefix("invalid type: ") {
                        Some(rest) if field.is_none() => not_an_object(rest),
                        _ => message,
                    };
                    // A field name is the client's own text, echoed twice: cut as a query
                    // parameter's is (found in an HTTP trial: a 60,000-character unknown field
                    // came back in a 120 KB error).
                    let field = field.map(|name| {
                        let shown = shown_name(&name);
                        if shown.len() < name.len() {
                            message = message.replace(&name, &format!("{shown}…"));
                        }
                        shown
                    });
                    Err(ApiError::invalid(field.as_deref(), message))
                }
                Category::Syntax | Category::Eof | Category::Io => Err(ApiError::invalid(
                    None,
                    format!("malformed JSON: {message}"),
                )),
            }
        }
    }
}

/// "The body must be a JSON object" and what it is instead, from the rest of serde's
/// "invalid type: sequence, expected a JSON object at line 1 column 1" (a string may itself
/// hold ", expected": the last one is serde's).
fn not_an_object(rest: &str) -> String {
    let found = rest
        .rsplit_once(", expected")
        .map_or(rest, |(found, _)| found);
    let found = if found == "sequence" {
        "an array"
    } else {
        found
    };
    format!("the body must be a JSON object, not {found}")
}

/// The `key=value` pairs of a query string, percent-decoded; empty pairs (`a=1&&b=2`) are
/// skipped. A `+` is a plus sign, not the space of form encoding: no value of these parameters
/// holds a space, and `email=yaw+test` (as typed into curl) looks for `yaw+test@…` addresses.
///
/// # Errors
///
/// A key or value whose percent-encoded bytes are not UTF-8 (`email=%FF`): it could only be
/// matched after replacing them, so it is refused rather than quietly matching nothing.
fn query_pairs(raw: &str) -> impl Iterator<Item = Result<(String, String), ApiError>> + '_ {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
    };
    raw.split('&')
        .filter(|pair| !pair.is_empty())
        .map(move |pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(key).map_err(|_| {
                ApiError::invalid(None, "a query parameter's name is not valid UTF-8")
            })?;
            let value = decode(value).map_err(|_| {
                let shown = shown_name(&key);
                ApiError::invalid(
                    Some(&shown),
                    format!("query parameter {shown} is not valid UTF-8 once decoded"),
                )
            })?;
            Ok((key, value))
        })
}

/// Parses the list query (`email`, `status`, `limit`, `cursor`); the store checks the ranges.
pub(crate) fn list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery::default();
    let mut seen: [bool; 4] = [false; 4];
    for pair in query_pairs(raw.unwrap_or_default()) {
        let (key, value) = pair?;
        let slot = match key.as_str() {
            "email" => 0,
            "status" => 1,
            "limit" => 2,
            "cursor" => 3,
            other => {
                let shown = shown_name(other);
                return Err(ApiError::invalid(
                    Some(&shown),
                    format!(
                        "unknown query parameter {shown:?}; expected email, status, limit or cursor"
                    ),
                ));
            }
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(ApiError::invalid(
                Some(&key),
                format!("query parameter {key} is given more than once"),
            ));
        }
        match slot {
            0 => query.email = Some(value),
            1 => {
                let status = value.parse::<Status>().map_err(ApiError::from)?;
                query.status = Some(status);
            }
            2 => {
                // Digits only: `+5` and ` 5` are not how a limit is written.
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                let limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|_| digits)
                    .ok_or_else(|| {
                        ApiError::invalid(
                            Some("limit"),
                            format!(
                                "invalid limit: must be an integer from 1 to {}",
                                ListQuery::MAX_LIMIT
                            ),
                        )
                    })?;
                query.limit = Some(limit);
            }
            _ => query.cursor = Some(value),
        }
    }
    Ok(query)
}

/// Refuses a query on a route that takes none (as the list refuses a parameter it does not
/// know), naming the first parameter.
pub(crate) fn no_query(raw: Option<&str>) -> Result<(), ApiError> {
    let Some(pair) = query_pairs(raw.unwrap_or_default()).next() else {
        return Ok(());
    };
    let (key, _) = pair?;
    let shown = shown_name(&key);
    Err(ApiError::invalid(
        Some(&shown),
        format!("unknown query parameter {shown:?}; this route takes none"),
    ))
}

/// The `:id` of a customer route. One that does not decode (`%ff`: not UTF-8) names no
/// customer, so it is not found, like any other id that names none (SPEC §2).
pub(crate) fn path_id(
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    path.map(|p| p.0).map_err(|_| Error::NotFound.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomerPatch, NewCustomer};

    fn field_of(result: Result<NewCustomer, ApiError>) -> Option<String> {
        result.err().and_then(|e| e.field)
    }

    #[test]
    fn json_errors_name_the_field() {
        assert_eq!(
            field_of(json(br#"{"email": 5, "name": "x"}"#)).as_deref(),
            Some("email")
        );
        assert_eq!(
            field_of(json(br#"{"name": "x"}"#)).as_deref(),
            Some("email")
        );
        assert_eq!(
            field_of(json(br#"{"email": "a@b.co", "name": "x", "nick": 1}"#)).as_deref(),
            Some("nick")
        );
        assert_eq!(
            field_of(json(
                br#"{"email": "a@b.co", "name": "x", "metadata": {"a": {}}}"#
            ))
            .as_deref(),
            Some("metadata")
        );
        assert_eq!(
            field_of(json(
                br#"{"email": "a@b.co", "email": "b@b.co", "name": "x"}"#
            ))
            .as_deref(),
            Some("email")
        );
        assert_eq!(field_of(json(br#"{"email": "#)), None);
        assert_eq!(field_of(json(b"[]")), None);
        assert_eq!(
            field_of(json(br#"{"email": "a@b.co", "name": "x"} x"#)),
            None
        );
        let patch: Result<CustomerPatch, _> = json(br#"{"status": "DELETED"}"#);
        assert_eq!(patch.err().and_then(|e| e.field).as_deref(), Some("status"));
    }

    /// A long unknown field name is cut to 40 characters in the field and the message, as a
    /// query parameter's is (found in an HTTP trial: 60,000 characters came back twice).
    #[test]
    fn a_long_field_name_is_cut_in_the_error() {
        let name = "é".repeat(60_000);
        let body = format!(r#"{{"email": "a@b.co", "name": "x", "{name}": 1}}"#);
        let Err(error) = json::<NewCustomer>(body.as_bytes()) else {
            panic!("accepted")
        };
        assert_eq!(error.field, Some("é".repeat(40)));
        assert!(error.message.len() < 1000, "{}", error.message.len());
        assert!(
            error
                .message
                .starts_with(&format!("unknown field `{}…`", "é".repeat(40))),
            "{}",
            error.message
        );
    }

    #[test]
    fn a_body_is_an_object() {
        for (body, shown) in [
            (&br#"["a@b.co", "A"]"#[..], "an array"),
            (b"[]", "an array"),
            (b"null", "null"),
            (b" 5", "integer `5`"),
            (br#""a@b.co""#, r#"string "a@b.co""#),
            (br#""x, expected y""#, r#"string "x, expected y""#),
        ] {
            let new: Result<NewCustomer, _> = json(body);
            let error = new.err().unwrap();
            assert_eq!(
                (error.status, error.field, error.message.as_str()),
                (
                    StatusCode::BAD_REQUEST,
                    None,
                    format!("the body must be a JSON object, not {shown}").as_str()
                )
            );
            let patch: Result<CustomerPatch, _> = json(body);
            assert!(patch.err().unwrap().message.starts_with("the body must be"));
        }
        let empty: CustomerPatch = json(b" {} ").ok().unwrap();
        assert_eq!(empty, CustomerPatch::default());
    }

    #[test]
    fn query_values() {
        let q = list_query(Some("email=yaw&limit=1")).ok().unwrap();
        assert_eq!((q.email.as_deref(), q.limit), (Some("yaw"), Some(1)));
        let q = list_query(Some("email=a%2Bb%40x&status=BLOCKED&cursor=c"))
            .ok()
            .unwrap();
        assert_eq!(q.email.as_deref(), Some("a+b@x"));
        assert_eq!(q.status, Some(Status::Blocked));
        assert!(no_query(None).is_ok() && no_query(Some("")).is_ok());
        let e = no_query(Some("expand=x&y=1")).err().unwrap();
        assert_eq!(
            (e.status, e.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("expand"))
        );
        // A bare + is a plus sign too (found in a trial: `email=yaw+test` found nothing).
        let q = list_query(Some("email=yaw+test")).ok().unwrap();
        assert_eq!(q.email.as_deref(), Some("yaw+test"));
        for (raw, field) in [
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("limit=%2B5", "limit"),
            ("limit=+5", "limit"),
            ("limit=", "limit"),
            ("status=DELETED", "status"),
            ("foo=1", "foo"),
            ("limit=1&limit=2", "limit"),
            // Not UTF-8 once decoded: refused, not matched after a lossy decoding (found in a
            // conformance trial: it quietly matched nothing).
            ("email=%FF%FE", "email"),
            ("cursor=%C3", "cursor"),
        ] {
            let e = list_query(Some(raw)).err().unwrap();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (StatusCode::BAD_REQUEST, Some(field))
            );
        }
        assert!(list_query(None).is_ok());
        let e = list_query(Some("%FF=1")).err().unwrap();
        assert_eq!((e.status, e.field), (StatusCode::BAD_REQUEST, None));
        assert!(no_query(Some("%FF=1")).is_err());
        // Empty pairs are skipped; a name without `=` has an empty value.
        let q = list_query(Some("&email=%C3%A9&&cursor")).ok().unwrap();
        assert_eq!(
            (q.email.as_deref(), q.cursor.as_deref()),
            (Some("é"), Some(""))
        );
    }

    #[test]
    fn only_identity_bodies() {
        let with = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for value in values {
                headers.append(
                    header::CONTENT_ENCODING,
                    axum::http::HeaderValue::from_str(value).unwrap(),
                );
            }
            is_identity(&headers)
        };
        assert!(with(&[]) && with(&["identity"]) && with(&["Identity, identity"]));
        assert!(!with(&["gzip"]) && !with(&["identity, br"]) && !with(&["identity", "deflate"]));
    }

    #[test]
    fn json_media_types() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("application/json;charset=\"UTF-8\"", true),
            ("application/json; version=2", true),
            // A body declared in another charset was read as UTF-8 and stored without a word
            // (found in a trial).
            ("application/json; charset=US-ASCII", true),
            ("application/json; charset=iso-8859-1", false),
            ("application/json; charset=utf-16", false),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("json", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }
}
