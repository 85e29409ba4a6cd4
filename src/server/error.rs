//! The error envelope of the API: `{"success": false, "error": {"code", "message", "field"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::Error;

/// An error answer of the API: its status, stable code, message and the field at fault.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) field: Option<String>,
    /// Seconds for `Retry-After` (429 only).
    pub(crate) retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    success: bool,
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 400 `invalid_request`, naming `field` when one field is at fault.
    pub(crate) fn invalid(field: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError {
            field: field.map(str::to_owned),
            ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
        }
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this route",
        )
    }

    pub(crate) fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        )
    }

    pub(crate) fn request_timeout(limit: std::time::Duration) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the body did not arrive within {} s", limit.as_secs_f64()),
        )
    }

    pub(crate) fn unsupported_media_type() -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be JSON in UTF-8, sent with Content-Type: application/json",
        )
    }

    /// A body sent with a `Content-Encoding` other than `identity` (RFC 9110 §15.5.16).
    pub(crate) fn unsupported_encoding() -> ApiError {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be sent as is: no Content-Encoding (gzip and the others are not read)",
        )
    }

    pub(crate) fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many failed authentications from this address; retry in {retry_after} s"
                ),
            )
        }
    }

    /// 500 `internal`: the message says nothing about the cause, which goes to the log.
    pub(crate) fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the request may or may not have taken effect",
        )
    }

    /// The JSON body of the error.
    pub(crate) fn body(&self) -> Vec<u8> {
        let envelope = Envelope {
            success: false,
            error: Body {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        // Serialising plain strings cannot fail; an empty body would still carry the status.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let status = match error.code() {
            "invalid_request" | "invalid_cursor" => StatusCode::BAD_REQUEST,
            "email_taken" | "external_id_taken" => StatusCode::CONFLICT,
            "not_found" => StatusCode::NOT_FOUND,
            _ => {
                // The cause (the operating system's reason, as "No space left on device") is
                // the error's source, not part of its message.
                let cause = std::error::Error::source(&error).map(ToString::to_string);
                tracing::error!(
                    code = error.code(),
                    error = %error,
                    cause = cause.as_deref().unwrap_or("-"),
                    "store call failed"
                );
                return ApiError::internal();
            }
        };
        ApiError {
            status,
            code: error.code(),
            message: error.to_string(),
            field: error.field().map(str::to_owned),
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"customer-store\", charset=\"UTF-8\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
