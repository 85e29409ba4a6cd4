//! The HTTP API end to end: the real server on an ephemeral loopback port, driven by a real
//! HTTP client (ureq). The seed's examples, every error status, authentication and scopes,
//! tenant isolation, and the OpenAPI document.

#![cfg(feature = "server")]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use customer_store::server::{AuthThrottle, Server, ServerConfig};
use customer_store::{ClientCredentials, RedbStore, Scope};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The seed's create body, byte for byte.
const SEED_CREATE: &str = r#"{
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"externalId": "user_db_yaw123",
"description": "Enterprise API User",
"currency": "GHS"
}"#;

/// The seed's update body, byte for byte.
const SEED_UPDATE: &str = r#"{
"name": "Yaw Mensah Jr.",
"status": "ACTIVE"
}"#;

const CUSTOMER_FIELDS: [&str; 11] = [
    "id",
    "externalId",
    "email",
    "name",
    "phone",
    "description",
    "metadata",
    "status",
    "currency",
    "createdAt",
    "updatedAt",
];
const SUMMARY_FIELDS: [&str; 6] = ["id", "email", "name", "phone", "status", "createdAt"];

struct TestServer {
    addr: SocketAddr,
    store: RedbStore,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
}

struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    json: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    fn field(&self) -> Option<&str> {
        self.json["error"]["field"].as_str()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

fn start(config: ServerConfig) -> Result<TestServer, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = RedbStore::open(dir.path().join("customers.redb"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let addr: SocketAddr = "127.0.0.1:0".parse()?;
    let server = runtime.block_on(Server::bind(store.clone(), addr, config))?;
    let addr = server.local_addr();
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime.block_on(server.run(async move {
            let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
        }))
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    Ok(TestServer {
        addr,
        store,
        stop: Some(stop),
        thread: Some(thread),
        agent,
        _dir: dir,
    })
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn basic(client: &ClientCredentials) -> String {
    let raw = format!("{}:{}", client.client_id, client.client_secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl TestServer {
    fn client(&self, business: &str, scopes: &[Scope]) -> ClientCredentials {
        match self.store.create_client(business, scopes) {
            Ok(c) => c,
            Err(e) => panic!("create_client: {e}"),
        }
    }

    /// Sends a request; `body` is `(content type, text)`.
    fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> Answer {
        let url = format!("http://{}{path}", self.addr);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(auth) = authorization {
            request = request.header("Authorization", auth);
        }
        let result = match body {
            Some((content_type, text)) => {
                if !content_type.is_empty() {
                    request = request.header("Content-Type", content_type);
                }
                request
                    .body(text.as_bytes().to_vec())
                    .map_err(|e| e.to_string())
                    .and_then(|r| self.agent.run(r).map_err(|e| e.to_string()))
            }
            None => request
                .body(())
                .map_err(|e| e.to_string())
                .and_then(|r| self.agent.run(r).map_err(|e| e.to_string())),
        };
        let mut response = match result {
            Ok(r) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path} -> {status}: not JSON ({e}): {text:?}"));
        Answer {
            status,
            headers,
            json,
        }
    }

    fn get(&self, path: &str, client: &ClientCredentials) -> Answer {
        self.send("GET", path, Some(&basic(client)), None)
    }

    fn post(&self, path: &str, client: &ClientCredentials, body: &str) -> Answer {
        self.send(
            "POST",
            path,
            Some(&basic(client)),
            Some(("application/json", body)),
        )
    }

    fn patch(&self, path: &str, client: &ClientCredentials, body: &str) -> Answer {
        self.send(
            "PATCH",
            path,
            Some(&basic(client)),
            Some(("application/json", body)),
        )
    }

    fn delete(&self, path: &str, client: &ClientCredentials) -> Answer {
        self.send("DELETE", path, Some(&basic(client)), None)
    }
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|s| (*s).to_owned()).collect()
}

fn assert_error(answer: &Answer, status: u16, code: &str, field: Option<&str>) {
    assert_eq!(
        (answer.status, answer.code(), answer.field()),
        (status, code, field),
        "{}",
        answer.json
    );
    assert_eq!(answer.json["success"], json!(false));
    assert!(answer.json["error"]["message"].is_string());
    assert_eq!(answer.header("content-type"), "application/json");
    if field.is_none() {
        assert!(
            answer.json["error"].get("field").is_none(),
            "{}",
            answer.json
        );
    }
}

#[test]
fn the_seed_examples() -> TestResult {
    let server = start(ServerConfig::default())?;
    let client = server.client("acme", &Scope::ALL);

    // Create a Customer: 201 with the sample's shape.
    let created = server.post("/v1/customers", &client, SEED_CREATE);
    assert_eq!(created.status, 201, "{}", created.json);
    assert_eq!(created.json["success"], json!(true));
    let data = &created.json["data"];
    assert_eq!(keys(data), set(&CUSTOMER_FIELDS));
    let id = data["id"].as_str().unwrap_or_default().to_owned();
    assert!(id.starts_with("cust_") && id.len() == 19, "{id}");
    assert_eq!(created.header("location"), format!("/v1/customers/{id}"));
    let mut expected = json!({
        "id": id,
        "externalId": "user_db_yaw123",
        "email": "yaw@example.com",
        "name": "Yaw Mensah",
        "phone": "+233249998888",
        "description": "Enterprise API User",
        "metadata": null,
        "status": "ACTIVE",
        "currency": "GHS",
        "createdAt": data["createdAt"],
        "updatedAt": data["createdAt"],
    });
    assert_eq!(data, &expected);
    let created_at = data["createdAt"].as_str().unwrap_or_default();
    assert!(
        created_at.len() == 20 && created_at.ends_with('Z'),
        "{created_at}"
    );

    // Retrieve a Customer.
    let got = server.get(&format!("/v1/customers/{id}"), &client);
    assert_eq!(got.status, 200);
    assert_eq!(got.json, json!({"success": true, "data": expected}));

    // List Customers: email=yaw&limit=1.
    let listed = server.get("/v1/customers?email=yaw&limit=1", &client);
    assert_eq!(listed.status, 200);
    assert_eq!(
        listed.json,
        json!({
            "success": true,
            "data": {
                "items": [{
                    "id": id,
                    "email": "yaw@example.com",
                    "name": "Yaw Mensah",
                    "phone": "+233249998888",
                    "status": "ACTIVE",
                    "createdAt": created_at,
                }],
                "nextCursor": id,
                "hasMore": false,
            }
        })
    );

    // Update a Customer: every field comes back, not the sample's subset.
    let updated = server.patch(&format!("/v1/customers/{id}"), &client, SEED_UPDATE);
    assert_eq!(updated.status, 200, "{}", updated.json);
    assert_eq!(keys(&updated.json["data"]), set(&CUSTOMER_FIELDS));
    expected["name"] = json!("Yaw Mensah Jr.");
    expected["updatedAt"] = updated.json["data"]["updatedAt"].clone();
    assert_eq!(updated.json["data"], expected);
    assert!(updated.json["data"]["updatedAt"].as_str() >= Some(created_at));
    Ok(())
}

#[test]
fn delete_list_pages_and_patch_semantics() -> TestResult {
    let server = start(ServerConfig::default())?;
    let client = server.client("acme", &Scope::ALL);
    let mut ids = Vec::new();
    for i in 0..5 {
        let body = json!({"email": format!("c{i}@example.com"), "name": format!("C {i}"),
            "metadata": {"tier": "gold", "seats": i, "vip": i % 2 == 0}});
        let created = server.post("/v1/customers", &client, &body.to_string());
        assert_eq!(created.status, 201, "{}", created.json);
        assert_eq!(created.json["data"]["metadata"]["seats"], json!(i));
        ids.push(
            created.json["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    // Walk the pages two at a time.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = if cursor.is_empty() {
            "/v1/customers?limit=2".to_owned()
        } else {
            format!("/v1/customers?limit=2&cursor={cursor}")
        };
        let page = server.get(&path, &client);
        assert_eq!(page.status, 200, "{}", page.json);
        for item in page.json["data"]["items"].as_array().into_iter().flatten() {
            assert_eq!(keys(item), set(&SUMMARY_FIELDS));
            seen.push(item["id"].as_str().unwrap_or_default().to_owned());
        }
        if page.json["data"]["hasMore"] != json!(true) {
            break;
        }
        cursor = page.json["data"]["nextCursor"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    assert_eq!(seen, ids);
    let blocked = server.patch(
        &format!("/v1/customers/{}", ids[1]),
        &client,
        r#"{"status": "BLOCKED", "phone": null, "metadata": null}"#,
    );
    assert_eq!(blocked.status, 200, "{}", blocked.json);
    assert_eq!(blocked.json["data"]["metadata"], Value::Null);
    let page = server.get("/v1/customers?status=BLOCKED", &client);
    assert_eq!(page.json["data"]["items"][0]["id"], json!(ids[1]));
    assert_eq!(page.json["data"]["items"].as_array().map(Vec::len), Some(1));
    let empty = server.get("/v1/customers?email=nobody", &client);
    assert_eq!(
        empty.json["data"],
        json!({"items": [], "nextCursor": null, "hasMore": false})
    );

    // Delete: 200 {"id", "deleted": true}; then it is gone.
    let path = format!("/v1/customers/{}", ids[0]);
    let deleted = server.delete(&path, &client);
    assert_eq!(deleted.status, 200);
    assert_eq!(
        deleted.json,
        json!({"success": true, "data": {"id": ids[0], "deleted": true}})
    );
    assert_error(&server.get(&path, &client), 404, "not_found", None);
    assert_error(&server.delete(&path, &client), 404, "not_found", None);
    // Its email is free again.
    let again = server.post(
        "/v1/customers",
        &client,
        r#"{"email": "C0@example.com", "name": "C"}"#,
    );
    assert_eq!(again.status, 201, "{}", again.json);
    Ok(())
}

#[test]
fn every_error_status() -> TestResult {
    let server = start(ServerConfig::default())?;
    let client = server.client("acme", &Scope::ALL);
    let created = server.post("/v1/customers", &client, SEED_CREATE);
    let id = created.json["data"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/v1/customers/{id}");

    // 400: field rules, JSON shape, query values.
    let cases: [(&str, Option<&str>); 12] = [
        (r#"{"email": "not-an-email", "name": "X"}"#, Some("email")),
        (
            r#"{"email": "a@b.co", "name": "X", "phone": "12"}"#,
            Some("phone"),
        ),
        (
            r#"{"email": "a@b.co", "name": "X", "currency": "XXQ"}"#,
            Some("currency"),
        ),
        (r#"{"email": "a@b.co", "name": 42}"#, Some("name")),
        (r#"{"email": "a@b.co"}"#, Some("name")),
        (
            r#"{"email": "a@b.co", "name": "X", "nickname": "Y"}"#,
            Some("nickname"),
        ),
        (
            r#"{"email": "a@b.co", "name": "X", "metadata": {"a": {"b": 1}}}"#,
            Some("metadata"),
        ),
        (r#"{"email": "a@b.co", "name": "X""#, None),
        ("[1, 2]", None),
        // The fields by position, which serde's derived structs would take.
        (r#"["array@example.com", "Array Person"]"#, None),
        ("null", None),
        ("", None),
    ];
    for (body, field) in cases {
        let answer = server.post("/v1/customers", &client, body);
        assert_error(&answer, 400, "invalid_request", field);
    }
    let by_position = server.post(
        "/v1/customers",
        &client,
        r#"["array@example.com", "Array Person"]"#,
    );
    assert_eq!(
        by_position.json["error"]["message"],
        "the body must be a JSON object, not an array"
    );
    let list = server.get("/v1/customers", &client);
    assert_eq!(list.json["data"]["items"].as_array().map(Vec::len), Some(1));
    for body in [r#"["array@example.com", "Array Person"]"#, "[]"] {
        let before = server.get(&path, &client);
        assert_error(
            &server.patch(&path, &client, body),
            400,
            "invalid_request",
            None,
        );
        assert_eq!(server.get(&path, &client).json, before.json);
    }
    assert_error(
        &server.patch(&path, &client, r#"{"name": null}"#),
        400,
        "invalid_request",
        Some("name"),
    );
    assert_error(
        &server.patch(&path, &client, r#"{"status": "DELETED"}"#),
        400,
        "invalid_request",
        Some("status"),
    );
    // A status of the wrong type names its field like any other (serde's derived enum called
    // it malformed JSON: found in a conformance trial).
    for status in ["true", "1", "1.5", "[]", "{}", r#"["ACTIVE"]"#] {
        let answer = server.patch(&path, &client, &format!(r#"{{"status": {status}}}"#));
        assert_error(&answer, 400, "invalid_request", Some("status"));
        let message = answer.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("invalid type"), "{message}");
        assert!(message.contains("ACTIVE, INACTIVE, BLOCKED"), "{message}");
    }
    // Only the list takes query parameters (found in a trial: the others ignored them).
    let with_query = format!("{path}?expand=metadata");
    assert_error(
        &server.get(&with_query, &client),
        400,
        "invalid_request",
        Some("expand"),
    );
    assert_error(
        &server.send("DELETE", &with_query, Some(&basic(&client)), None),
        400,
        "invalid_request",
        Some("expand"),
    );
    assert_eq!(server.get(&path, &client).status, 200);
    for (query, field) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("status=DELETED", "status"),
        ("colour=red", "colour"),
    ] {
        let answer = server.get(&format!("/v1/customers?{query}"), &client);
        assert_error(&answer, 400, "invalid_request", Some(field));
    }
    assert_error(
        &server.get("/v1/customers?cursor=garbage", &client),
        400,
        "invalid_cursor",
        Some("cursor"),
    );

    // 404: unknown, malformed (an id that does not decode, too: SPEC §2) and unknown-route
    // ids.
    for missing in [
        "/v1/customers/cust_cl8z2lh820000a",
        "/v1/customers/nope",
        "/v1/customers/%FF%FE",
    ] {
        assert_error(&server.get(missing, &client), 404, "not_found", None);
        assert_error(
            &server.patch(missing, &client, "{}"),
            404,
            "not_found",
            None,
        );
        assert_error(&server.delete(missing, &client), 404, "not_found", None);
    }
    assert_error(&server.get("/v2/nothing", &client), 404, "not_found", None);
    assert_error(
        &server.send(
            "PUT",
            &path,
            Some(&basic(&client)),
            Some(("application/json", "{}")),
        ),
        405,
        "method_not_allowed",
        None,
    );

    // 409: the message names the holder.
    let taken = server.post(
        "/v1/customers",
        &client,
        r#"{"email": "YAW@example.com", "name": "Other"}"#,
    );
    assert_error(&taken, 409, "email_taken", Some("email"));
    assert!(
        taken.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&id)),
        "{}",
        taken.json
    );
    let taken = server.post(
        "/v1/customers",
        &client,
        r#"{"email": "other@example.com", "name": "Other", "externalId": "user_db_yaw123"}"#,
    );
    assert_error(&taken, 409, "external_id_taken", Some("externalId"));
    assert!(taken.json["error"]["message"].to_string().contains(&id));

    // 413: over 64 KiB, even though every field is within its limit... and even when not.
    let padding = " ".repeat(64 * 1024);
    let big = format!(r#"{{"email": "big@example.com", "name": "Big"}}{padding}"#);
    assert_error(
        &server.post("/v1/customers", &client, &big),
        413,
        "payload_too_large",
        None,
    );
    let huge =
        json!({"email": "big@example.com", "name": "Big", "description": "x".repeat(70_000)});
    assert_error(
        &server.post("/v1/customers", &client, &huge.to_string()),
        413,
        "payload_too_large",
        None,
    );
    assert_error(
        &server.patch(&path, &client, &big),
        413,
        "payload_too_large",
        None,
    );
    // Exactly 64 KiB is accepted as a body (and then refused for its description's length).
    let mut exact =
        json!({"email": "big@example.com", "name": "Big", "description": ""}).to_string();
    let fill = 64 * 1024 - exact.len();
    exact = json!({"email": "big@example.com", "name": "Big", "description": "x".repeat(fill)})
        .to_string();
    assert_eq!(exact.len(), 64 * 1024);
    assert_error(
        &server.post("/v1/customers", &client, &exact),
        400,
        "invalid_request",
        Some("description"),
    );

    // 415: no content type, not JSON, or JSON declared in another charset than UTF-8 (found
    // in a trial: such a body was read as UTF-8 anyway).
    let auth = basic(&client);
    for content_type in [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json; charset=iso-8859-1",
    ] {
        let answer = server.send(
            "POST",
            "/v1/customers",
            Some(&auth),
            Some((content_type, r#"{"email": "t@example.com", "name": "T"}"#)),
        );
        assert_error(&answer, 415, "unsupported_media_type", None);
        let answer = server.send("PATCH", &path, Some(&auth), Some((content_type, "{}")));
        assert_error(&answer, 415, "unsupported_media_type", None);
    }
    let answer = server.send(
        "POST",
        "/v1/customers",
        Some(&auth),
        Some((
            "application/json; charset=utf-8",
            r#"{"email": "t@example.com", "name": "T"}"#,
        )),
    );
    assert_eq!(answer.status, 201, "{}", answer.json);
    // No cache may keep an answer: they carry personal data, or tell whether a record exists.
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(
        server
            .get("/v1/customers/nope", &client)
            .header("cache-control"),
        "no-store"
    );

    // 415 too for a body with a Content-Encoding, which the server does not decode (a gzip
    // body was answered "malformed JSON", and a plain one labelled gzip was read: found in a
    // conformance trial).
    let body = r#"{"email": "gz@example.com", "name": "G"}"#;
    for encoding in ["gzip", "identity, br"] {
        let head = format!(
            "POST /v1/customers HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nContent-Encoding: {encoding}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let answer = raw_exchange(server.addr, &head, body.as_bytes(), Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
        assert!(answer.contains("no Content-Encoding"), "{answer}");
    }
    let listed = server.get("/v1/customers?email=gz%40", &client);
    assert_eq!(listed.json["data"]["items"], json!([]));
    Ok(())
}

/// Sends `head` (and `body`) on a raw connection and returns what the server wrote before it
/// closed the connection or `wait` passed.
fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8], wait: Duration) -> String {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return "no connection".to_owned();
    };
    let _ = stream.set_read_timeout(Some(wait));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the server closes (0) or stops answering within `wait` (an error).
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
            break;
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Plain HTTP is HTTP/1 only: a client speaking HTTP/2 from the first byte (prior knowledge)
/// got HTTP/2, whose later streams have no header timeout (found in an HTTP trial).
#[test]
fn plain_http_does_not_speak_http2() -> TestResult {
    let server = start(ServerConfig::default())?;
    // The preface, then an empty SETTINGS frame.
    let preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
    let answer = raw_exchange(server.addr, preface, &settings, Duration::from_secs(3));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 "),
        "answered in HTTP/2: {:?}",
        answer.as_bytes()
    );
    let client = server.client("acme", &Scope::ALL);
    assert_eq!(server.get("/v1/customers", &client).status, 200);
    Ok(())
}

/// Two `Authorization` headers are refused whatever their order (found in a trial: the first
/// one counted, so what a proxy appended was ignored or not depending on where it went).
#[test]
fn two_authorization_headers_are_refused() -> TestResult {
    let server = start(ServerConfig::default())?;
    let client = server.client("acme", &Scope::ALL);
    let good = basic(&client);
    let wrong = basic(&ClientCredentials {
        client_secret: "cs_wrong".to_owned(),
        ..client.clone()
    });
    for (first, second) in [(&good, &wrong), (&wrong, &good), (&good, &good)] {
        let head = format!(
            "GET /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: {first}\r\n\
             Authorization: {second}\r\nConnection: close\r\n\r\n"
        );
        let answer = raw_exchange(server.addr, &head, b"", Duration::from_secs(10));
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(
            answer.contains("more than one Authorization header"),
            "{answer}"
        );
    }
    assert_eq!(server.get("/v1/customers", &client).status, 200);
    Ok(())
}

#[test]
fn slow_and_oversized_requests_do_not_hold_the_server() -> TestResult {
    let server = start(ServerConfig {
        read_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    })?;
    let client = server.client("acme", &Scope::ALL);
    let auth = basic(&client);
    let post = |length: usize| {
        format!(
            "POST /v1/customers HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
        )
    };
    // A body declared over 64 KiB is refused before any of it arrives.
    let started = std::time::Instant::now();
    let answer = raw_exchange(server.addr, &post(100_000), b"{", Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A body that stops short is answered 408 once the read timeout passes.
    let answer = raw_exchange(
        server.addr,
        &post(40),
        b"{\"email\"",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    // Headers that stop short: the connection is closed.
    let started = std::time::Instant::now();
    let answer = raw_exchange(
        server.addr,
        "POST /v1/customers HTTP/1.1\r\nHost: x\r\n",
        b"",
        Duration::from_secs(10),
    );
    assert!(!answer.contains("201"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the connection was held"
    );
    // Nothing at all: closed as well. Half of HTTP/2's preface: refused at once (plain HTTP
    // is HTTP/1 alone) or closed, never held.
    for head in ["", "PRI * HTTP/2.0\r\n"] {
        let started = std::time::Instant::now();
        let answer = raw_exchange(server.addr, head, b"", Duration::from_secs(10));
        assert!(
            answer.is_empty() || (!head.is_empty() && answer.starts_with("HTTP/1.1 400")),
            "{head:?}: {answer}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{head:?} was held"
        );
    }
    // None of them created anything, and the server still answers.
    let list = server.get("/v1/customers", &client);
    assert_eq!(list.status, 200);
    assert_eq!(list.json["data"]["items"], json!([]));
    Ok(())
}

#[test]
fn authentication_and_scopes() -> TestResult {
    let server = start(ServerConfig::default())?;
    let writer_reader = server.client("acme", &Scope::ALL);
    let reader = server.client("acme", &[Scope::CustomersRead]);
    let writer = server.client("acme", &[Scope::CustomersWrite]);
    let created = server.post("/v1/customers", &writer_reader, SEED_CREATE);
    let path = format!(
        "/v1/customers/{}",
        created.json["data"]["id"].as_str().unwrap_or_default()
    );

    // 401: missing header, malformed header, wrong secret, unknown client; always with
    // WWW-Authenticate: Basic.
    let wrong_secret = ClientCredentials {
        client_secret: format!("{}0", writer_reader.client_secret),
        ..writer_reader.clone()
    };
    let unknown = ClientCredentials {
        client_id: "ci_000000000000000000000000".to_owned(),
        ..writer_reader.clone()
    };
    let bad_headers = [
        None,
        Some("Basic !!!not-base64!!!".to_owned()),
        Some("Basic".to_owned()),
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        )),
        Some("Bearer abc".to_owned()),
        Some(basic(&wrong_secret)),
        Some(basic(&unknown)),
    ];
    for header in &bad_headers {
        let answer = server.send("GET", &path, header.as_deref(), None);
        assert_error(&answer, 401, "unauthorized", None);
        assert!(
            answer.header("www-authenticate").starts_with("Basic"),
            "{:?}",
            answer.headers
        );
    }
    // Unauthenticated writes learn nothing about the body either.
    let answer = server.send("POST", "/v1/customers", None, Some(("text/plain", "x")));
    assert_error(&answer, 401, "unauthorized", None);
    // An unknown path and a wrong method are 401 first, and 404 and 405 only to a client.
    for (method, route) in [("GET", "/nope"), ("PUT", "/v1/customers"), ("GET", "/v1")] {
        let answer = server.send(method, route, None, None);
        assert_error(&answer, 401, "unauthorized", None);
        let answer = server.send(method, route, Some(&basic(&wrong_secret)), None);
        assert_error(&answer, 401, "unauthorized", None);
    }
    let auth = basic(&reader);
    assert_error(
        &server.send("GET", "/nope", Some(&auth), None),
        404,
        "not_found",
        None,
    );
    let wrong_method = server.send("PUT", "/v1/customers", Some(&auth), None);
    assert_error(&wrong_method, 405, "method_not_allowed", None);
    assert!(
        wrong_method.header("allow").contains("POST"),
        "{:?}",
        wrong_method.headers
    );
    // The OpenAPI document stays public.
    assert_eq!(
        server.send("GET", "/v1/openapi.json", None, None).status,
        200
    );

    // 403: a read-only client cannot write; a write-only client cannot read.
    assert_eq!(server.get(&path, &reader).status, 200);
    assert_eq!(server.get("/v1/customers", &reader).status, 200);
    assert_error(
        &server.post(
            "/v1/customers",
            &reader,
            r#"{"email": "r@x.io", "name": "R"}"#,
        ),
        403,
        "forbidden",
        None,
    );
    assert_error(
        &server.patch(&path, &reader, SEED_UPDATE),
        403,
        "forbidden",
        None,
    );
    assert_error(&server.delete(&path, &reader), 403, "forbidden", None);
    assert_error(&server.get(&path, &writer), 403, "forbidden", None);
    assert_error(
        &server.get("/v1/customers?limit=1", &writer),
        403,
        "forbidden",
        None,
    );
    assert_eq!(server.patch(&path, &writer, SEED_UPDATE).status, 200);

    // A revoked client is refused at once.
    server.store.revoke_client(&reader.client_id)?;
    assert_error(&server.get(&path, &reader), 401, "unauthorized", None);
    Ok(())
}

#[test]
fn two_businesses_cannot_see_each_other() -> TestResult {
    let server = start(ServerConfig::default())?;
    let acme = server.client("acme", &Scope::ALL);
    let globex = server.client("globex", &Scope::ALL);
    let a = server.post("/v1/customers", &acme, SEED_CREATE);
    assert_eq!(a.status, 201);
    // The same email and externalId are free in the other business.
    let g = server.post("/v1/customers", &globex, SEED_CREATE);
    assert_eq!(g.status, 201, "{}", g.json);
    let a_path = format!(
        "/v1/customers/{}",
        a.json["data"]["id"].as_str().unwrap_or_default()
    );
    let g_path = format!(
        "/v1/customers/{}",
        g.json["data"]["id"].as_str().unwrap_or_default()
    );
    assert_ne!(a_path, g_path);
    for (client, foreign) in [(&acme, &g_path), (&globex, &a_path)] {
        assert_error(&server.get(foreign, client), 404, "not_found", None);
        assert_error(
            &server.patch(foreign, client, SEED_UPDATE),
            404,
            "not_found",
            None,
        );
        assert_error(&server.delete(foreign, client), 404, "not_found", None);
        let listed = server.get("/v1/customers", client);
        assert_eq!(
            listed.json["data"]["items"].as_array().map(Vec::len),
            Some(1)
        );
    }
    let mine = server.get("/v1/customers", &acme);
    assert_eq!(mine.json["data"]["items"][0]["id"], a.json["data"]["id"]);
    // Both still there.
    assert_eq!(server.get(&a_path, &acme).status, 200);
    assert_eq!(server.get(&g_path, &globex).status, 200);
    Ok(())
}

#[test]
fn repeated_failures_are_refused_for_a_while() -> TestResult {
    let server = start(ServerConfig {
        auth_throttle: AuthThrottle {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(2),
        },
        ..ServerConfig::default()
    })?;
    let client = server.client("acme", &Scope::ALL);
    // Requests without credentials are not counted.
    for _ in 0..10 {
        assert_error(
            &server.send("GET", "/v1/customers", None, None),
            401,
            "unauthorized",
            None,
        );
    }
    assert_eq!(server.get("/v1/customers", &client).status, 200);
    let wrong = ClientCredentials {
        client_secret: "cs_wrong".to_owned(),
        ..client.clone()
    };
    // A stranger's third failure locks the address out: 429 with Retry-After for every
    // request, good credentials included (SPEC §3), from a client the address has not seen.
    let unseen = server.client("acme", &Scope::ALL);
    let stranger = ClientCredentials {
        client_id: "ci_000000000000000000000000".to_owned(),
        ..wrong.clone()
    };
    for _ in 0..3 {
        assert_error(
            &server.get("/v1/customers", &stranger),
            401,
            "unauthorized",
            None,
        );
    }
    for locked_out in [&stranger, &unseen] {
        let refused = server.get("/v1/customers", locked_out);
        assert_error(&refused, 429, "rate_limited", None);
        assert!(
            refused
                .header("retry-after")
                .parse::<u64>()
                .is_ok_and(|s| (1..=2).contains(&s))
        );
    }
    // Behind a proxy every caller shares one address: a client that authenticated from it
    // still goes through (found in a trial: a stranger's guesses refused every merchant), until
    // its own failures there reach the limit.
    assert_eq!(server.get("/v1/customers", &client).status, 200);
    for _ in 0..3 {
        assert_error(
            &server.get("/v1/customers", &wrong),
            401,
            "unauthorized",
            None,
        );
    }
    assert_error(
        &server.get("/v1/customers", &client),
        429,
        "rate_limited",
        None,
    );
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(server.get("/v1/customers", &client).status, 200);
    assert_eq!(server.get("/v1/customers", &unseen).status, 200);
    Ok(())
}

#[test]
fn concurrent_creates_are_all_kept() -> TestResult {
    let server = start(ServerConfig::default())?;
    let client = server.client("acme", &Scope::ALL);
    let ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let server = &server;
                let client = &client;
                scope.spawn(move || {
                    (0..10)
                        .map(|i| {
                            let body =
                                json!({"email": format!("t{t}-{i}@example.com"), "name": "T"});
                            let answer = server.post("/v1/customers", client, &body.to_string());
                            assert_eq!(answer.status, 201, "{}", answer.json);
                            answer.json["data"]["id"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_default())
            .collect()
    });
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 80);
    let listed = server.get("/v1/customers?limit=100", &client);
    assert_eq!(
        listed.json["data"]["items"].as_array().map(Vec::len),
        Some(80)
    );
    Ok(())
}

/// Resolves a local `$ref` (`#/a/b`) in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn check_refs(doc: &Value, node: &Value, count: &mut usize) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                *count += 1;
                assert!(
                    resolve(doc, reference).is_some(),
                    "unresolved $ref {reference}"
                );
            }
            map.values().for_each(|v| check_refs(doc, v, count));
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v, count)),
        _ => {}
    }
}

fn required(doc: &Value, schema: &str) -> BTreeSet<String> {
    doc["components"]["schemas"][schema]["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_openapi_document() -> TestResult {
    let server = start(ServerConfig::default())?;
    // Served without credentials.
    let doc = server.send("GET", "/v1/openapi.json", None, None);
    assert_eq!(doc.status, 200);
    let doc = doc.json;
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(customer_store::server::OPENAPI_JSON)?
    );
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    for (path, methods) in [
        ("/v1/customers", &["get", "post"][..]),
        ("/v1/customers/{id}", &["get", "patch", "delete"][..]),
        ("/v1/openapi.json", &["get"][..]),
    ] {
        for method in methods {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} missing");
            assert!(
                op["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
    }
    // Every error status of the API is documented where it can happen.
    let statuses = |path: &str, method: &str| -> BTreeSet<String> {
        keys(&doc["paths"][path][method]["responses"])
    };
    for status in [
        "400", "401", "403", "408", "409", "413", "415", "429", "500", "201",
    ] {
        assert!(
            statuses("/v1/customers", "post").contains(status),
            "POST {status}"
        );
    }
    for status in ["404", "408", "409", "413", "415"] {
        assert!(
            statuses("/v1/customers/{id}", "patch").contains(status),
            "PATCH {status}"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["basicAuth"]["scheme"],
        json!("basic")
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["basicAuth"]["type"],
        json!("http")
    );
    let mut count = 0;
    check_refs(&doc, &doc, &mut count);
    assert!(count > 20, "{count} refs");
    // The documented shapes are the served shapes.
    assert_eq!(required(&doc, "Customer"), set(&CUSTOMER_FIELDS));
    assert_eq!(required(&doc, "CustomerSummary"), set(&SUMMARY_FIELDS));
    let codes: BTreeSet<String> =
        doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
    for code in [
        "invalid_request",
        "invalid_cursor",
        "unauthorized",
        "forbidden",
        "not_found",
        "email_taken",
        "external_id_taken",
        "method_not_allowed",
        "request_timeout",
        "payload_too_large",
        "unsupported_media_type",
        "rate_limited",
        "internal",
    ] {
        assert!(codes.contains(code), "{code}");
    }
    Ok(())
}

#[cfg(feature = "fault-injection")]
mod storage_failure {
    //! A storage failure is a 500 `internal` with nothing of the cause in its message.

    use std::io;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use redb::StorageBackend;
    use redb::backends::InMemoryBackend;

    use super::*;

    #[derive(Debug)]
    struct Flaky {
        inner: InMemoryBackend,
        fail: Arc<AtomicBool>,
    }

    impl Flaky {
        fn check(&self) -> Result<(), io::Error> {
            if self.fail.load(Ordering::SeqCst) {
                Err(io::Error::other("injected disk failure /dev/sdz"))
            } else {
                Ok(())
            }
        }
    }

    impl StorageBackend for Flaky {
        fn len(&self) -> Result<u64, io::Error> {
            self.inner.len()
        }
        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
            self.inner.read(offset, out)
        }
        fn set_len(&self, len: u64) -> Result<(), io::Error> {
            self.check()?;
            self.inner.set_len(len)
        }
        fn sync_data(&self) -> Result<(), io::Error> {
            self.check()?;
            self.inner.sync_data()
        }
        fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
            self.check()?;
            self.inner.write(offset, data)
        }
        fn close(&self) -> Result<(), io::Error> {
            self.inner.close()
        }
    }

    #[test]
    fn a_storage_failure_is_an_opaque_500() -> TestResult {
        let fail = Arc::new(AtomicBool::new(false));
        let backend = Arc::new(Flaky {
            inner: InMemoryBackend::new(),
            fail: fail.clone(),
        });
        let store = RedbStore::builder().open_backend(backend)?;
        let client = store.create_client("acme", &Scope::ALL)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let server = runtime.block_on(Server::bind(
            store,
            "127.0.0.1:0".parse()?,
            ServerConfig::default(),
        ))?;
        let url = format!("http://{}/v1/customers", server.local_addr());
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(server.run(async move {
                let _ = tokio::task::spawn_blocking(move || stopped.recv()).await;
            }))
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        fail.store(true, Ordering::SeqCst);
        let mut response = agent
            .post(&url)
            .header("Authorization", basic(&client))
            .content_type("application/json")
            .send(SEED_CREATE)?;
        let status = response.status().as_u16();
        let body: Value = serde_json::from_str(&response.body_mut().read_to_string()?)?;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["error"]["code"], json!("internal"));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("sdz") && !message.contains("redb"),
            "{message}"
        );
        // The store recovers once the disk does.
        fail.store(false, Ordering::SeqCst);
        let response = agent
            .post(&url)
            .header("Authorization", basic(&client))
            .content_type("application/json")
            .send(SEED_CREATE)?;
        assert!(matches!(response.status().as_u16(), 201 | 409));
        drop(stop);
        let _ = thread.join();
        Ok(())
    }
}
