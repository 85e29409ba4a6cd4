//! The routes: authenticate, check the scope, run the store call off the async workers, and
//! answer with the seed's envelope.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;

use super::auth::{BadCredentials, parse_basic};
use super::error::ApiError;
use super::input::{self, Body};
use super::{AppState, OPENAPI_JSON};
use crate::{
    Customer, CustomerPatch, CustomerStore, Error, NewCustomer, Page, RedbStore, Scope, Status,
};

/// The client id of an authenticated request, for the request log.
#[derive(Debug, Clone)]
pub(crate) struct LoggedClient(pub(crate) String);

/// Who sent a request: the peer address and the `Authorization` header.
pub(crate) struct Caller {
    ip: IpAddr,
    authorization: Option<HeaderValue>,
    /// Whether a second `Authorization` header came too (refused: which one counts would be
    /// up to whoever reads it, a proxy included).
    repeated: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, Infallible> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let mut authorization = parts.headers.get_all(header::AUTHORIZATION).iter();
        Ok(Caller {
            ip,
            authorization: authorization.next().cloned(),
            repeated: authorization.next().is_some(),
        })
    }
}

/// A success answer, serialised inside the blocking task.
pub(crate) struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    location: Option<String>,
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    success: bool,
    data: &'a T,
}

impl Reply {
    fn with_status<T: Serialize>(status: StatusCode, data: &T) -> Result<Reply, ApiError> {
        let body = serde_json::to_vec(&Envelope {
            success: true,
            data,
        })
        .map_err(|e| {
            tracing::error!(error = %e, "cannot serialise a response");
            ApiError::internal()
        })?;
        Ok(Reply {
            status,
            body,
            location: None,
        })
    }

    fn ok<T: Serialize>(data: &T) -> Result<Reply, ApiError> {
        Reply::with_status(StatusCode::OK, data)
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body,
        )
            .into_response();
        if let Some(location) = self.location.and_then(|l| HeaderValue::try_from(l).ok()) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// The seed's list item: `id, email, name, phone, status, createdAt`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    id: &'a str,
    email: &'a str,
    name: &'a str,
    phone: Option<&'a str>,
    status: Status,
    created_at: Timestamp,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListData<'a> {
    items: Vec<Summary<'a>>,
    next_cursor: Option<&'a str>,
    has_more: bool,
}

impl<'a> From<&'a Page> for ListData<'a> {
    fn from(page: &'a Page) -> ListData<'a> {
        ListData {
            items: page
                .items
                .iter()
                .map(|c: &'a Customer| Summary {
                    id: &c.id,
                    email: &c.email,
                    name: &c.name,
                    phone: c.phone.as_deref(),
                    status: c.status,
                    created_at: c.created_at,
                })
                .collect(),
            next_cursor: page.next_cursor.as_deref(),
            has_more: page.has_more,
        }
    }
}

#[derive(Serialize)]
struct Deleted<'a> {
    id: &'a str,
    deleted: bool,
}

/// How authentication went, for the throttle and the log.
enum Outcome {
    /// The credentials named no usable client.
    BadCredentials,
    /// An authenticated client (whatever the call's outcome).
    Client(String),
    /// The store failed before authentication finished.
    Failed,
}

impl AppState {
    /// Authenticates `caller`, checks `scope` (if any: `None` lets every client through) and
    /// runs `op` for the client's business on a blocking thread. The answer carries the client
    /// id for the request log.
    async fn call<F>(&self, caller: Caller, scope: Option<Scope>, op: F) -> Response
    where
        F: FnOnce(&RedbStore, &str) -> Result<Reply, ApiError> + Send + 'static,
    {
        let credentials = if caller.repeated {
            Err(BadCredentials::Malformed(
                "more than one Authorization header",
            ))
        } else {
            parse_basic(caller.authorization.as_ref())
        };
        let named = credentials.as_ref().ok().map(|c| c.client_id.clone());
        if let Err(wait) = self.limiter.check(caller.ip, named.as_deref()) {
            return ApiError::rate_limited(wait).into_response();
        }
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(bad) => {
                if matches!(bad, BadCredentials::Malformed(_)) {
                    self.limiter.fail(caller.ip, None);
                }
                return bad.into_error().into_response();
            }
        };
        let store = self.store.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let client =
                match store.authenticate_client(&credentials.client_id, &credentials.secret) {
                    Ok(Some(client)) => client,
                    Ok(None) => {
                        let error = ApiError::unauthorized("invalid client credentials");
                        return (Err(error), Outcome::BadCredentials);
                    }
                    Err(e) => return (Err(ApiError::from(e)), Outcome::Failed),
                };
            let result = match scope {
                Some(scope) if !client.has_scope(scope) => Err(ApiError::forbidden(format!(
                    "this client does not hold the {scope} scope"
                ))),
                _ => op(&store, &client.business),
            };
            (result, Outcome::Client(client.client_id))
        })
        .await;
        let (result, outcome) = match joined {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(error = %e, "a request's blocking task failed");
                (Err(ApiError::internal()), Outcome::Failed)
            }
        };
        let mut response = match result {
            Ok(reply) => reply.into_response(),
            Err(error) => error.into_response(),
        };
        match outcome {
            Outcome::BadCredentials => self.limiter.fail(caller.ip, named.as_deref()),
            Outcome::Client(id) => {
                self.limiter.succeed(caller.ip, &id);
                response.extensions_mut().insert(LoggedClient(id));
            }
            Outcome::Failed => {}
        }
        response
    }
}

/// `POST /v1/customers` (scope `customers:write`): 201 with the new customer.
pub(crate) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
    Body(body): Body,
) -> Response {
    state
        .call(
            caller,
            Some(Scope::CustomersWrite),
            move |store, business| {
                input::no_query(raw.as_deref())?;
                let new: NewCustomer = input::json(&body?)?;
                let customer = store.create(business, new)?;
                let mut reply = Reply::with_status(StatusCode::CREATED, &customer)?;
                reply.location = Some(format!("/v1/customers/{}", customer.id));
                Ok(reply)
            },
        )
        .await
}

/// `GET /v1/customers/:id` (scope `customers:read`).
pub(crate) async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let id = input::path_id(path);
    state
        .call(
            caller,
            Some(Scope::CustomersRead),
            move |store, business| {
                input::no_query(raw.as_deref())?;
                match store.get(business, &id?)? {
                    Some(customer) => Reply::ok(&customer),
                    None => Err(Error::NotFound.into()),
                }
            },
        )
        .await
}

/// `GET /v1/customers?email=&status=&limit=&cursor=` (scope `customers:read`).
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Response {
    state
        .call(
            caller,
            Some(Scope::CustomersRead),
            move |store, business| {
                let query = input::list_query(raw.as_deref())?;
                let page = store.list(business, &query)?;
                Reply::ok(&ListData::from(&page))
            },
        )
        .await
}

/// `PATCH /v1/customers/:id` (scope `customers:write`): the whole updated customer.
pub(crate) async fn update(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    Body(body): Body,
) -> Response {
    let id = input::path_id(path);
    state
        .call(
            caller,
            Some(Scope::CustomersWrite),
            move |store, business| {
                input::no_query(raw.as_deref())?;
                let id = id?;
                let patch: CustomerPatch = input::json(&body?)?;
                Reply::ok(&store.update(business, &id, patch)?)
            },
        )
        .await
}

/// `DELETE /v1/customers/:id` (scope `customers:write`): `{"id", "deleted": true}`.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> Response {
    let id = input::path_id(path);
    state
        .call(
            caller,
            Some(Scope::CustomersWrite),
            move |store, business| {
                input::no_query(raw.as_deref())?;
                let removed = store.delete(business, &id?)?;
                Reply::ok(&Deleted {
                    id: &removed.id,
                    deleted: true,
                })
            },
        )
        .await
}

/// `GET /v1/openapi.json`: the OpenAPI 3.1 document (no authentication).
pub(crate) async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

/// Any other path: 404 to an authenticated caller.
pub(crate) async fn no_route(State(state): State<AppState>, caller: Caller) -> Response {
    state
        .call(caller, None, |_, _| {
            Err(ApiError::not_found("no such route"))
        })
        .await
}

/// A known path with another method: 405 to an authenticated caller.
pub(crate) async fn wrong_method(State(state): State<AppState>, caller: Caller) -> Response {
    state
        .call(caller, None, |_, _| Err(ApiError::method_not_allowed()))
        .await
}
