//! The HTTP API (feature `server`): the seed's Customers API over a [`RedbStore`].
//!
//! | route | scope | answer |
//! |---|---|---|
//! | `POST /v1/customers` | `customers:write` | 201, the new customer |
//! | `GET /v1/customers/:id` | `customers:read` | 200, the customer |
//! | `GET /v1/customers?email=&status=&limit=&cursor=` | `customers:read` | 200, a page of summaries |
//! | `PATCH /v1/customers/:id` | `customers:write` | 200, the whole updated customer |
//! | `DELETE /v1/customers/:id` | `customers:write` | 200, `{"id", "deleted": true}` |
//! | `GET /v1/openapi.json` | none | the OpenAPI 3.1 document |
//!
//! Answers are `{"success": true, "data": …}` or
//! `{"success": false, "error": {"code", "message", "field"}}`. Clients authenticate with HTTP
//! Basic `clientId:clientSecret` (see [`RedbStore::create_client`]); a client acts for one
//! business and sees only its customers.
//!
//! # Decisions where the specification is silent
//!
//! - Authentication comes first: an unauthenticated request is answered 401 (or 429) whatever
//!   its path, method, query or body (only `GET /v1/openapi.json` is public); then the scope
//!   (403); then the body's media type (415), size (413, at once when `Content-Length` says
//!   so), arrival (408) and JSON (400).
//! - A body is a JSON object: an array of the fields by position, which serde's derived
//!   structs would take, is `invalid_request` (see [`JsonObject`]).
//! - A new connection has [`ServerConfig::read_timeout`] (30 s) to deliver its first request's
//!   headers, and an HTTP/1 connection as long for each later request's (an idle keep-alive
//!   connection closes then); a connection that misses it is closed. A body has as long again
//!   after its headers, then it is answered 408 `request_timeout`. An HTTP/2 connection (over
//!   TLS, where ALPN offers it; plain HTTP is HTTP/1 alone) is bounded for its first request
//!   only: hyper has no header timeout for its later streams.
//! - A request without an `Authorization` header is not counted as a failed authentication; a
//!   malformed header or wrong credentials are. After [`AuthThrottle::max_failures`] failures
//!   within [`AuthThrottle::window`], the address (an IPv6 address by its /64) is answered 429
//!   with `Retry-After` for [`AuthThrottle::lockout`], good credentials included, except for
//!   the clients that authenticated from it within the last hour (behind a proxy every
//!   request comes from the proxy's address; at most 256 per address, 1,024 addresses per
//!   client, 100,000 pairs in all); such a client's failures there are counted apart, not for
//!   the address, and refuse it at the same limit.
//! - Unknown query parameters and repeated ones are `invalid_request` naming them.
//! - Unknown paths are 404 `not_found`; a known path with another method is 405
//!   `method_not_allowed`. Both use the error envelope and come after authentication. (The
//!   routes are no secret: the OpenAPI document is public. axum adds the path's `Allow`
//!   header to any answer to another method, the 401 included; stripping it took a router
//!   around the whole API, which cost about a tenth of the requests per second.)
//! - A create answers with a `Location` header naming the new customer.
//! - Storage failures are 500 `internal` with a fixed message; the cause goes to the log. For
//!   a write, the outcome is then unknown (see [`Error::Storage`](crate::Error::Storage)).

mod auth;
mod error;
mod input;
mod log;
mod object;
mod routes;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

pub use self::auth::AuthThrottle;
use self::auth::FailureLimiter;
pub use self::object::JsonObject;
use crate::RedbStore;

/// The largest request body accepted: 64 KiB. Larger bodies are answered 413.
///
/// # Example
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use base64::Engine;
/// use customer_store::server::{BODY_LIMIT, ServerConfig, router};
/// use customer_store::{RedbStore, Scope};
/// use tower::ServiceExt;
///
/// let store = RedbStore::in_memory()?;
/// let issued = store.create_client("acme", &[Scope::CustomersWrite])?;
/// let basic = base64::engine::general_purpose::STANDARD
///     .encode(format!("{}:{}", issued.client_id, issued.client_secret));
/// let app = router(store, &ServerConfig::default());
/// let request = Request::post("/v1/customers")
///     .header("authorization", format!("Basic {basic}"))
///     .header("content-type", "application/json")
///     .body(Body::from(vec![b' '; BODY_LIMIT + 1]))?;
/// let runtime = tokio::runtime::Runtime::new()?;
/// let response = runtime.block_on(app.oneshot(request))?;
/// assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub const BODY_LIMIT: usize = 64 * 1024;

/// The OpenAPI 3.1 document of the API, as served at `GET /v1/openapi.json`.
///
/// # Example
///
/// ```
/// use customer_store::server::OPENAPI_JSON;
/// let document: serde_json::Value = serde_json::from_str(OPENAPI_JSON)?;
/// assert_eq!(document["openapi"], "3.1.0");
/// assert!(document["paths"]["/v1/customers"]["post"].is_object());
/// # Ok::<(), serde_json::Error>(())
/// ```
pub const OPENAPI_JSON: &str = include_str!("openapi.json");

/// A certificate chain and its private key, both PEM files, for HTTPS.
///
/// # Example
///
/// ```
/// use customer_store::RedbStore;
/// use customer_store::server::{Server, ServerConfig, TlsFiles};
/// let dir = tempfile::tempdir()?;
/// let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
/// let files = TlsFiles { cert: dir.path().join("cert.pem"), key: dir.path().join("key.pem") };
/// std::fs::write(&files.cert, certified.cert.pem())?;
/// std::fs::write(&files.key, certified.signing_key.serialize_pem())?;
/// let config = ServerConfig { tls: Some(files), ..ServerConfig::default() };
/// let runtime = tokio::runtime::Runtime::new()?;
/// let addr = "127.0.0.1:0".parse()?;
/// let server = runtime.block_on(Server::bind(RedbStore::in_memory()?, addr, config))?;
/// assert!(server.is_tls());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Options of a [`Server`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use customer_store::server::{AuthThrottle, ServerConfig};
/// let config = ServerConfig { shutdown_grace: Duration::from_secs(5), ..ServerConfig::default() };
/// assert_eq!(config.shutdown_grace, Duration::from_secs(5));
/// assert_eq!(config.read_timeout, Duration::from_secs(30));
/// assert_eq!((config.tls, config.auth_throttle), (None, AuthThrottle::default()));
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The throttle on failed authentication.
    pub auth_throttle: AuthThrottle,
    /// Serve HTTPS with these files; `None` serves plain HTTP.
    pub tls: Option<TlsFiles>,
    /// How long a graceful shutdown waits for in-flight requests before closing connections.
    pub shutdown_grace: Duration,
    /// How long a new connection may take to deliver its first request's headers, an HTTP/1
    /// connection each later request's (so an idle HTTP/1 keep-alive connection also closes
    /// after it), and any request its body after the headers (then it is answered 408
    /// `request_timeout`). A connection that misses a header deadline is closed.
    pub read_timeout: Duration,
}

impl Default for ServerConfig {
    /// Plain HTTP, the default [`AuthThrottle`], 30 s of grace at shutdown, 30 s to send a
    /// request's headers and 30 s more for its body.
    fn default() -> Self {
        ServerConfig {
            auth_throttle: AuthThrottle::default(),
            tls: None,
            shutdown_grace: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
        }
    }
}

/// The state shared by every request.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    store: RedbStore,
    limiter: FailureLimiter,
    read_timeout: Duration,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.inner
    }
}

/// The routes of the API on `store`, with the request log and the body limit.
///
/// [`Server`] serves it with the peer's address attached, which the authentication throttle
/// uses; without it (for example under a test harness) every caller counts as one address.
///
/// # Example
///
/// ```
/// use axum::body::{Body, to_bytes};
/// use axum::http::{Request, StatusCode};
/// use customer_store::RedbStore;
/// use customer_store::server::{OPENAPI_JSON, ServerConfig, router};
/// use tower::ServiceExt;
///
/// let app = router(RedbStore::in_memory()?, &ServerConfig::default());
/// let runtime = tokio::runtime::Runtime::new()?;
/// runtime.block_on(async {
///     // The OpenAPI document is public.
///     let request = Request::get("/v1/openapi.json").body(Body::empty())?;
///     let response = app.clone().oneshot(request).await?;
///     assert_eq!(response.status(), StatusCode::OK);
///     assert_eq!(response.headers()["cache-control"], "no-store");
///     let body = to_bytes(response.into_body(), usize::MAX).await?;
///     assert_eq!(body, OPENAPI_JSON.as_bytes());
///     // Everything else needs credentials, unknown paths included.
///     for path in ["/v1/customers", "/v2/nothing"] {
///         let response = app.clone().oneshot(Request::get(path).body(Body::empty())?).await?;
///         assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
///         let body = to_bytes(response.into_body(), usize::MAX).await?;
///         let body: serde_json::Value = serde_json::from_slice(&body)?;
///         assert_eq!(body["success"], false);
///         assert_eq!(body["error"]["code"], "unauthorized");
///     }
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn router(store: RedbStore, config: &ServerConfig) -> Router {
    let state = AppState {
        inner: Arc::new(Shared {
            store,
            limiter: FailureLimiter::new(config.auth_throttle),
            read_timeout: config.read_timeout,
        }),
    };
    Router::new()
        .route("/v1/customers", get(routes::list).post(routes::create))
        .route(
            "/v1/customers/{id}",
            get(routes::retrieve)
                .patch(routes::update)
                .delete(routes::delete),
        )
        .route("/v1/openapi.json", get(routes::openapi))
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::wrong_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(no_store))
        .layer(axum::middleware::from_fn(log::log_request))
        .with_state(state)
}

/// Marks every answer `Cache-Control: no-store`: they carry personal data (or say whether a
/// record exists), which no cache between the client and the server may keep.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// The HTTP server: a bound socket, the store and the options, ready to [`run`](Server::run).
///
/// # Example
///
/// ```no_run
/// use customer_store::RedbStore;
/// use customer_store::server::{Server, ServerConfig};
/// # async fn example() -> std::io::Result<()> {
/// let store = RedbStore::open("customers.redb").map_err(std::io::Error::other)?;
/// let addr = "127.0.0.1:8080".parse().map_err(std::io::Error::other)?;
/// let server = Server::bind(store, addr, ServerConfig::default()).await?;
/// println!("listening on {}", server.local_addr());
/// server.run(customer_store::server::shutdown_signal()).await
/// # }
/// ```
pub struct Server {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    store: RedbStore,
    config: ServerConfig,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and loads the TLS files, if any.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound, or the certificate or key cannot be read or parsed.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// use customer_store::server::{Server, ServerConfig, TlsFiles};
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let addr = "127.0.0.1:0".parse()?;
    /// let bind = Server::bind(RedbStore::in_memory()?, addr, ServerConfig::default());
    /// let server = runtime.block_on(bind)?;
    /// assert_ne!(server.local_addr().port(), 0); // port 0 picked a free port
    ///
    /// // The port is taken now.
    /// let taken = server.local_addr();
    /// let bind = Server::bind(RedbStore::in_memory()?, taken, ServerConfig::default());
    /// let again = runtime.block_on(bind);
    /// assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AddrInUse);
    ///
    /// // A missing certificate: the error names the file.
    /// let tls = TlsFiles { cert: "missing-cert.pem".into(), key: "missing-key.pem".into() };
    /// let config = ServerConfig { tls: Some(tls), ..ServerConfig::default() };
    /// let bind = Server::bind(RedbStore::in_memory()?, addr, config);
    /// let err = runtime.block_on(bind).unwrap_err();
    /// assert!(err.to_string().contains("missing-cert.pem"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn bind(
        store: RedbStore,
        addr: SocketAddr,
        config: ServerConfig,
    ) -> io::Result<Server> {
        let tls = match &config.tls {
            Some(files) => Some(
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&files.cert, &files.key)
                    .await
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "cannot load TLS certificate {} / key {}: {e}",
                                files.cert.display(),
                                files.key.display()
                            ),
                        )
                    })?,
            ),
            None => None,
        };
        let listener = std::net::TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        Ok(Server {
            listener,
            local_addr,
            store,
            config,
            tls,
        })
    }

    /// The address the server listens on.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// use customer_store::server::{Server, ServerConfig};
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let addr = "127.0.0.1:0".parse()?;
    /// let bind = Server::bind(RedbStore::in_memory()?, addr, ServerConfig::default());
    /// let server = runtime.block_on(bind)?;
    /// assert!(server.local_addr().ip().is_loopback());
    /// assert_ne!(server.local_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Whether the server speaks HTTPS.
    ///
    /// # Example
    ///
    /// ```
    /// use customer_store::RedbStore;
    /// use customer_store::server::{Server, ServerConfig};
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let addr = "127.0.0.1:0".parse()?;
    /// let bind = Server::bind(RedbStore::in_memory()?, addr, ServerConfig::default());
    /// let plain = runtime.block_on(bind)?;
    /// assert!(!plain.is_tls()); // no `tls` files: plain HTTP (see `TlsFiles` for HTTPS)
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves until `shutdown` completes, then stops accepting connections and lets in-flight
    /// requests finish (up to [`ServerConfig::shutdown_grace`]). Every write acknowledged to a
    /// client was durable before its answer was sent.
    ///
    /// Must run inside a multi-threaded tokio runtime: store calls run on its blocking pool.
    ///
    /// # Errors
    ///
    /// When the listening socket fails.
    ///
    /// # Example
    ///
    /// ```
    /// use std::sync::Arc;
    /// use base64::Engine;
    /// use customer_store::server::{Server, ServerConfig};
    /// use customer_store::{CustomerStore, RedbStore, Scope};
    ///
    /// let store = RedbStore::in_memory()?;
    /// let issued = store.create_client("acme", &Scope::ALL)?;
    /// let basic = base64::engine::general_purpose::STANDARD
    ///     .encode(format!("{}:{}", issued.client_id, issued.client_secret));
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let addr = "127.0.0.1:0".parse()?;
    /// let server = runtime.block_on(Server::bind(store.clone(), addr, ServerConfig::default()))?;
    /// let url = format!("http://{}/v1/customers", server.local_addr());
    /// let stop = Arc::new(tokio::sync::Notify::new());
    /// let stopped = Arc::clone(&stop);
    /// let running = runtime.spawn(server.run(async move { stopped.notified().await }));
    ///
    /// let mut answer = ureq::post(&url)
    ///     .header("Authorization", &format!("Basic {basic}"))
    ///     .content_type("application/json")
    ///     .send(r#"{"email": "yaw@example.com", "name": "Yaw Mensah"}"#)?;
    /// assert_eq!(answer.status(), 201);
    /// let body: serde_json::Value = serde_json::from_str(&answer.body_mut().read_to_string()?)?;
    /// assert_eq!(body["data"]["name"], "Yaw Mensah");
    /// // The write was durable in the store before the answer was sent.
    /// assert!(store.get_by_email("acme", "yaw@example.com")?.is_some());
    ///
    /// stop.notify_one();
    /// runtime.block_on(running)??; // a graceful shutdown: `run` returns `Ok`
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub async fn run<F>(self, shutdown: F) -> io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let app =
            router(self.store, &self.config).into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let stopper = handle.clone();
        let grace = self.config.shutdown_grace;
        let read_timeout = self.config.read_timeout;
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing in-flight requests");
            stopper.graceful_shutdown(Some(grace));
        });
        match self.tls {
            Some(tls) => {
                let mut server = axum_server::from_tcp_rustls(self.listener, tls)?
                    .first_request_timeout(read_timeout);
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(read_timeout);
                server.handle(handle).serve(app).await
            }
            None => {
                // HTTP/1 only: HTTP/2 without TLS (prior knowledge) would give a client streams
                // with no header timeout (found in an HTTP trial); over TLS it is offered as
                // the README says.
                let mut server = axum_server::from_tcp(self.listener)?
                    .first_request_timeout(read_timeout)
                    .http1_only();
                server
                    .http_builder()
                    .http1()
                    .header_read_timeout(read_timeout);
                server.handle(handle).serve(app).await
            }
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
///
/// The usual `shutdown` of [`Server::run`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use customer_store::server::shutdown_signal;
/// let runtime = tokio::runtime::Runtime::new()?;
/// // No signal came within 50 ms: still waiting.
/// let waited = runtime.block_on(async {
///     tokio::time::timeout(Duration::from_millis(50), shutdown_signal()).await
/// });
/// assert!(waited.is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
