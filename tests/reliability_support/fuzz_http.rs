//! The `http` fuzz target: arbitrary requests sent to the API's router in process.
//!
//! The input is up to [`MAX_REQUESTS`] requests separated by NUL bytes. In each, the first
//! byte picks the method (bits 0–2), the credentials (bits 3–4, or none with bit 7) and the
//! content type (bits 5–6); the rest, up to the first newline, is the request target and what follows is the
//! body. The target is appended to `/v1/customers` unless it starts with `//` (then it is the
//! path itself, less one slash), and `$A` / `$B` stand for the ids of the customers seeded in
//! business `acme` and `beta`.
//!
//! Every answer must be JSON in the API's envelope (`success` true with `data`, or false with
//! an `error` whose code is one of the documented ones), never a 5xx; a refused request or a
//! read must leave both businesses exactly as they were; a created or updated customer must
//! read back as answered; and `verify()` must find nothing wrong at the end.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use base64::Engine;
use customer_store::server::{self, AuthThrottle, ServerConfig};
use customer_store::{Customer, CustomerStore, ListQuery, NewCustomer, RedbStore, Scope};
use serde_json::Value;
use tower::ServiceExt;

use super::faulty::FaultyBackend;
use super::fuzz::fuzz_store;

/// The most requests one input sends.
pub const MAX_REQUESTS: usize = 8;

/// The codes the OpenAPI document lists for an error answer, less `internal` (a 5xx).
const CODES: [&str; 12] = [
    "invalid_request",
    "invalid_cursor",
    "unauthorized",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "email_taken",
    "external_id_taken",
    "payload_too_large",
    "unsupported_media_type",
    "request_timeout",
    "rate_limited",
];

/// Indexed by bits 0–2 of a request's first byte; GET comes twice because a first byte of 0
/// would be read as the separator.
const METHODS: [Method; 8] = [
    Method::GET,
    Method::POST,
    Method::PATCH,
    Method::DELETE,
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::HEAD,
];

const CONTENT_TYPES: [Option<&str>; 4] = [
    Some("application/json"),
    None,
    Some("text/plain"),
    Some("application/json; charset=utf-8"),
];

/// Every customer of `business`, walked page by page in id order.
fn all(store: &RedbStore, business: &str) -> Vec<Customer> {
    let mut customers = Vec::new();
    let mut query = ListQuery {
        limit: Some(100),
        ..ListQuery::default()
    };
    loop {
        let page = store.list(business, &query).expect("list");
        customers.extend(page.items.iter().map(|s| {
            store
                .get(business, &s.id)
                .expect("get")
                .expect("a listed customer exists")
        }));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return customers,
        }
    }
}

fn basic(id: &str, secret: &str) -> String {
    let pair = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// Runs one input and returns the status of each request sent; panics when an answer breaks a
/// promise of the API.
///
/// # Panics
///
/// On a 5xx, an answer outside the envelope or with an undocumented code, a refused request or
/// a read that changed the store, a write that does not read back, or a `verify()` problem.
pub fn http(data: &[u8]) -> Vec<u16> {
    let backend = FaultyBackend::in_memory();
    let store = fuzz_store(&backend);
    let writer = store.create_client("acme", &Scope::ALL).expect("client");
    let reader = store
        .create_client("acme", &[Scope::CustomersRead])
        .expect("client");
    let other = store.create_client("beta", &Scope::ALL).expect("client");
    let a = store
        .create(
            "acme",
            NewCustomer::new("ana@x.io", "Ana").with_external_id("ext-1"),
        )
        .expect("create");
    let b = store
        .create("beta", NewCustomer::new("bo@y.io", "Bo"))
        .expect("create");
    let authorizations = [
        Some(basic(&writer.client_id, &writer.client_secret)),
        Some(basic(&reader.client_id, &reader.client_secret)),
        Some(basic(&other.client_id, &other.client_secret)),
        Some(basic(&writer.client_id, "cs_wrong")),
    ];
    let config = ServerConfig {
        // Failed attempts must not lock the fuzzer out of the later requests.
        auth_throttle: AuthThrottle {
            max_failures: u32::MAX,
            ..AuthThrottle::default()
        },
        ..ServerConfig::default()
    };
    let app = server::router(store.clone(), &config);
    let mut statuses = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");

    for request in data.split(|b| *b == 0).take(MAX_REQUESTS) {
        let Some((&head, rest)) = request.split_first() else {
            continue;
        };
        let method = METHODS[usize::from(head & 7)].clone();
        // Bit 7 sends no credentials at all.
        let authorization = if head & 0x80 == 0 {
            &authorizations[usize::from(head >> 3 & 3)]
        } else {
            &None
        };
        let content_type = CONTENT_TYPES[usize::from(head >> 5 & 3)];
        let (target, body) = match rest.iter().position(|b| *b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, &[][..]),
        };
        let target = String::from_utf8_lossy(target)
            .replace("$A", &a.id)
            .replace("$B", &b.id);
        let uri = match target.strip_prefix('/') {
            Some(path) if path.starts_with('/') => path.to_owned(),
            _ => format!("/v1/customers{target}"),
        };
        let mut builder = Request::builder().method(method.clone()).uri(uri.as_str());
        if let Some(value) = authorization {
            builder = builder.header(header::AUTHORIZATION, value);
        }
        if let Some(value) = content_type {
            builder = builder.header(header::CONTENT_TYPE, value);
        }
        // A target that is not a valid URI never reaches the router: hyper refuses it.
        let Ok(request) = builder.body(Body::from(body.to_vec())) else {
            continue;
        };

        let before = (all(&store, "acme"), all(&store, "beta"));
        let (status, json) = runtime.block_on(async {
            let response = app.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("the body is read");
            (status, bytes)
        });
        statuses.push(status.as_u16());
        let what = format!("{method} {uri} -> {status}");
        assert!(!status.is_server_error(), "{what}: {json:?}");
        if method == Method::HEAD {
            assert!(json.is_empty(), "{what}: a HEAD answer has a body");
            assert_eq!(before, (all(&store, "acme"), all(&store, "beta")), "{what}");
            continue;
        }
        let json: Value = serde_json::from_slice(&json)
            .unwrap_or_else(|e| panic!("{what}: the answer is not JSON ({e}): {json:?}"));
        let after = (all(&store, "acme"), all(&store, "beta"));
        if !status.is_success() {
            assert_eq!(json["success"], Value::Bool(false), "{what}: {json}");
            let code = json["error"]["code"].as_str().unwrap_or_default();
            assert!(CODES.contains(&code), "{what}: undocumented code in {json}");
            assert!(
                json["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{what}: no message in {json}"
            );
            assert_eq!(before, after, "{what}: a refused request changed the store");
            continue;
        }
        if method == Method::GET {
            assert_eq!(before, after, "{what}: a read changed the store");
        }
        if !uri.starts_with("/v1/customers") {
            // The OpenAPI document, the one JSON answer outside the envelope.
            assert!(json.get("openapi").is_some(), "{what}");
            continue;
        }
        assert_eq!(json["success"], Value::Bool(true), "{what}: {json}");
        if matches!(method, Method::POST | Method::PATCH) {
            let answered: Customer = serde_json::from_value(json["data"].clone())
                .unwrap_or_else(|e| panic!("{what}: not a customer ({e}): {json}"));
            let business = if after.0.contains(&answered) {
                "acme"
            } else {
                "beta"
            };
            assert_eq!(
                store.get(business, &answered.id).expect("get").as_ref(),
                Some(&answered),
                "{what}: the answer does not read back"
            );
            if method == Method::POST {
                assert_eq!(status, StatusCode::CREATED, "{what}");
                assert_eq!(
                    before.0.len() + before.1.len() + 1,
                    after.0.len() + after.1.len()
                );
            }
        }
    }
    store.verify().expect("verify");
    statuses
}
