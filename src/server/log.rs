//! The request log: one `tracing` event per request with the method, the path, the status,
//! the latency and the client id. Never the secret, the query string (it may hold an email) or
//! a body.

use std::borrow::Cow;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use super::routes::LoggedClient;
use crate::id;

/// The path as logged: known routes as they are, a customer id only when it is well formed
/// (anything else in its place could be personal data, such as an email).
fn loggable_path(path: &str) -> Cow<'static, str> {
    match path {
        "/v1/customers" | "/v1/openapi.json" => Cow::Owned(path.to_owned()),
        _ => match path.strip_prefix("/v1/customers/") {
            Some(rest) if id::is_well_formed(rest) => Cow::Owned(path.to_owned()),
            Some(_) => Cow::Borrowed("/v1/customers/{id} (malformed id)"),
            None => Cow::Borrowed("(unknown path)"),
        },
    }
}

/// Logs each request once it is answered.
pub(crate) async fn log_request(request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let path = loggable_path(request.uri().path());
    let response = next.run(request).await;
    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let client = response
        .extensions()
        .get::<LoggedClient>()
        .map_or("-", |c| c.0.as_str());
    tracing::info!(
        target: "customer_store::http",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_us,
        client,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::loggable_path;

    #[test]
    fn paths_hide_what_is_not_an_id() {
        assert_eq!(loggable_path("/v1/customers"), "/v1/customers");
        assert_eq!(
            loggable_path("/v1/customers/cust_cl8z2lh820000a"),
            "/v1/customers/cust_cl8z2lh820000a"
        );
        assert_eq!(
            loggable_path("/v1/customers/yaw@example.com"),
            "/v1/customers/{id} (malformed id)"
        );
        assert_eq!(loggable_path("/yaw@example.com"), "(unknown path)");
    }
}
