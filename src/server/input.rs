//! Request input: JSON bodies, the list query and path ids, each refused with an error that
//! names the field at fault instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;
use serde_json::error::Category;
use serde_path_to_error::Segment;

use super::BODY_LIMIT;
use super::error::ApiError;
use crate::{ListQuery, Status};

/// A request body as received: the bytes, or why it cannot be used (reported after
/// authentication, so an unauthenticated caller learns nothing from it).
pub(crate) type RawBody = Result<Bytes, ApiError>;

/// Checks the content type and the outcome of reading the body.
pub(crate) fn raw_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> RawBody {
    if !is_json(headers) {
        return Err(ApiError::unsupported_media_type());
    }
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large(BODY_LIMIT)
        } else {
            ApiError::invalid(None, "the request body could not be read")
        }
    })
}

/// `application/json` (any parameters) or a `+json` media type.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .get(subtype.len().saturating_sub(5)..)
                .is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

/// The text between the first pair of backticks of a serde message (`missing field `email``).
fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message.get(start..)?.find('`')?;
    message.get(start..start + len)
}

/// Deserialises a JSON body, naming the top-level field at fault when there is one.
pub(crate) fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => match de.end() {
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
                    let message = if message.starts_with("invalid type") && field.is_none() {
                        format!("the body must be a JSON object: {message}")
                    } else {
                        message
                    };
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

/// Parses the list query (`email`, `status`, `limit`, `cursor`); the store checks the ranges.
pub(crate) fn list_query(raw: Option<&str>) -> Result<ListQuery, ApiError> {
    let mut query = ListQuery::default();
    let mut seen: [bool; 4] = [false; 4];
    for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let slot = match key.as_ref() {
            "email" => 0,
            "status" => 1,
            "limit" => 2,
            "cursor" => 3,
            other => {
                let shown: String = other.chars().take(40).collect();
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
            0 => query.email = Some(value.into_owned()),
            1 => {
                let status = value.parse::<Status>().map_err(ApiError::from)?;
                query.status = Some(status);
            }
            2 => {
                let limit = value.parse::<u32>().map_err(|_| {
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
            _ => query.cursor = Some(value.into_owned()),
        }
    }
    Ok(query)
}

/// The `:id` of a customer route.
pub(crate) fn path_id(
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<String, ApiError> {
    path.map(|p| p.0)
        .map_err(|_| ApiError::invalid(Some("id"), "invalid customer id in the path"))
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

    #[test]
    fn query_values() {
        let q = list_query(Some("email=yaw&limit=1")).ok().unwrap();
        assert_eq!((q.email.as_deref(), q.limit), (Some("yaw"), Some(1)));
        let q = list_query(Some("email=a%2Bb%40x&status=BLOCKED&cursor=c"))
            .ok()
            .unwrap();
        assert_eq!(q.email.as_deref(), Some("a+b@x"));
        assert_eq!(q.status, Some(Status::Blocked));
        for (raw, field) in [
            ("limit=abc", "limit"),
            ("limit=-1", "limit"),
            ("status=DELETED", "status"),
            ("foo=1", "foo"),
            ("limit=1&limit=2", "limit"),
        ] {
            let e = list_query(Some(raw)).err().unwrap();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (StatusCode::BAD_REQUEST, Some(field))
            );
        }
        assert!(list_query(None).is_ok());
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
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
            ("json", false),
        ] {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }
}
