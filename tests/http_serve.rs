//! The `customer-store` binary: `serve` (first client, transport rules, TLS, graceful
//! shutdown with no acknowledged write lost) and the `clients` commands (including "store in
//! use" while a server holds the file).

#![cfg(all(feature = "server", feature = "cli"))]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use customer_store::{CustomerStore, RedbStore};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BIN: &str = env!("CARGO_BIN_EXE_customer-store");

fn cli(db: &Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(BIN).arg("--db").arg(db).args(args).output()
}

/// A running `customer-store serve`, stopped with SIGTERM when dropped.
struct Serving {
    child: Child,
    /// What it printed on stdout up to and including the "listening on" line.
    banner: Vec<String>,
    /// `http://127.0.0.1:PORT` or `https://…`.
    url: String,
    stderr: mpsc::Receiver<String>,
}

fn serve(db: &Path, args: &[&str]) -> Result<Serving, Box<dyn std::error::Error>> {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (line_tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let (err_tx, err_rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        let _ = err_tx.send(text);
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                let done = line.starts_with("listening on ");
                banner.push(line);
                if done {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = err_rx
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                return Err(format!("server did not start: {banner:?}\n{stderr}").into());
            }
        }
    }
    let url = banner
        .last()
        .and_then(|l| l.strip_prefix("listening on "))
        .and_then(|l| l.split_whitespace().next())
        .ok_or("no url")?
        .to_owned();
    Ok(Serving {
        child,
        banner,
        url,
        stderr: err_rx,
    })
}

impl Serving {
    /// Sends SIGTERM and waits for the exit; returns the status and the stderr.
    fn stop(&mut self) -> Result<(ExitStatus, String), Box<dyn std::error::Error>> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let stderr = self
                    .stderr
                    .recv_timeout(Duration::from_secs(5))
                    .unwrap_or_default();
                return Ok((status, stderr));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err("the server did not stop on SIGTERM".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The credentials printed by a first serve.
    fn printed_credentials(&self) -> Option<Value> {
        self.banner
            .iter()
            .find(|l| l.starts_with('{'))
            .and_then(|l| serde_json::from_str(l).ok())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn get_json(
    agent: &ureq::Agent,
    url: &str,
    auth: &str,
) -> Result<(u16, Value), Box<dyn std::error::Error>> {
    let mut response = agent.get(url).header("Authorization", auth).call()?;
    let status = response.status().as_u16();
    Ok((
        status,
        serde_json::from_str(&response.body_mut().read_to_string()?)?,
    ))
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("customers.redb")
}

#[test]
fn first_serve_prints_a_client_once_and_holds_the_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let mut server = serve(&db, &["--addr", "127.0.0.1:0"])?;
    assert!(
        server.url.starts_with("http://127.0.0.1:"),
        "{}",
        server.url
    );
    let credentials = server
        .printed_credentials()
        .ok_or_else(|| format!("no credentials in {:?}", server.banner))?;
    assert_eq!(credentials["business"], json!("default"));
    assert_eq!(
        credentials["scopes"],
        json!(["customers:read", "customers:write"])
    );
    let id = credentials["clientId"]
        .as_str()
        .ok_or("clientId")?
        .to_owned();
    let secret = credentials["clientSecret"]
        .as_str()
        .ok_or("clientSecret")?
        .to_owned();
    let curl = format!("curl {}/v1/customers -u \"{id}:{secret}\"", server.url);
    assert!(
        server.banner.iter().any(|l| l.trim() == curl),
        "no ready curl line {curl:?} in {:?}",
        server.banner
    );
    let (status, page) = get_json(
        &agent(),
        &format!("{}/v1/customers", server.url),
        &basic(&id, &secret),
    )?;
    assert_eq!((status, &page["data"]["items"]), (200, &json!([])));

    // The admin commands refuse the file while the server holds it.
    for args in [
        &["clients", "list"][..],
        &[
            "clients",
            "create",
            "--business",
            "acme",
            "--scope",
            "customers:read",
        ][..],
        &["clients", "revoke", &id][..],
    ] {
        let out = cli(&db, args)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("store in use"), "{args:?}: {stderr}");
    }
    let (status, stderr) = server.stop()?;
    assert!(status.success(), "{status}: {stderr}");
    // The log names requests, never the secret.
    assert!(stderr.contains("/v1/customers"), "{stderr}");
    assert!(!stderr.contains(&secret), "{stderr}");

    // The second serve prints no credentials; the first client still works.
    let mut again = serve(&db, &["--addr", "127.0.0.1:0"])?;
    assert!(again.printed_credentials().is_none(), "{:?}", again.banner);
    let (status, _) = get_json(
        &agent(),
        &format!("{}/v1/customers", again.url),
        &basic(&id, &secret),
    )?;
    assert_eq!(status, 200);
    again.stop()?;
    Ok(())
}

#[test]
fn a_taken_address_creates_no_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let out = cli(&db, &["serve", "--addr", &addr])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    assert!(!db.exists(), "a new store file was left: {stderr}");
    Ok(())
}

#[test]
fn the_clients_commands() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let out = cli(
        &db,
        &[
            "clients",
            "create",
            "--business",
            "acme",
            "--scope",
            "customers:read",
            "--scope",
            "customers:write",
        ],
    )?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout)?;
    let keys: Vec<&str> = created
        .as_object()
        .ok_or("object")?
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{created}");
    for key in ["clientId", "clientSecret", "business", "scopes"] {
        assert!(keys.contains(&key), "{created}");
    }
    assert_eq!(created["business"], json!("acme"));
    assert_eq!(
        created["scopes"],
        json!(["customers:read", "customers:write"])
    );
    let secret = created["clientSecret"].as_str().ok_or("secret")?;
    assert_eq!(secret.len(), 3 + 64, "256 bits as hex");
    let id = created["clientId"].as_str().ok_or("id")?.to_owned();

    let out = cli(
        &db,
        &[
            "clients",
            "create",
            "--business",
            "globex",
            "--scope",
            "customers:read",
        ],
    )?;
    assert!(out.status.success());
    let out = cli(&db, &["clients", "list"])?;
    assert!(out.status.success());
    let listed: Vec<Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|c| c.get("clientSecret").is_none() && c["revokedAt"].is_null())
    );
    assert!(!String::from_utf8_lossy(&cli(&db, &["clients", "list"])?.stdout).contains(secret));

    let out = cli(&db, &["clients", "revoke", &id])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked: Value = serde_json::from_slice(&out.stdout)?;
    assert!(revoked["revokedAt"].is_string(), "{revoked}");

    // A revoked client cannot authenticate.
    let mut server = serve(&db, &["--addr", "127.0.0.1:0"])?;
    assert!(
        server.printed_credentials().is_none(),
        "the store already has clients"
    );
    let (status, body) = get_json(
        &agent(),
        &format!("{}/v1/customers", server.url),
        &basic(&id, secret),
    )?;
    assert_eq!(
        (status, &body["error"]["code"]),
        (401, &json!("unauthorized"))
    );
    server.stop()?;

    // Usage errors exit 2; a refused value exits 1.
    assert_eq!(
        cli(&db, &["clients", "create", "--business", "acme"])?
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        cli(
            &db,
            &[
                "clients",
                "create",
                "--business",
                "acme",
                "--scope",
                "customers:admin"
            ]
        )?
        .status
        .code(),
        Some(2)
    );
    let out = cli(
        &db,
        &[
            "clients",
            "create",
            "--business",
            "a b",
            "--scope",
            "customers:read",
        ],
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("business"));
    let out = cli(&db, &["clients", "revoke", "ci_unknown"])?;
    assert_eq!(out.status.code(), Some(1));
    let out = cli(&dir.path().join("none.redb"), &["clients", "list"])?;
    assert_eq!(out.status.code(), Some(1));
    Ok(())
}

#[test]
fn plain_http_is_for_loopback_only() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let out = cli(&db, &["serve", "--addr", "0.0.0.0:0"])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--tls-cert") && stderr.contains("--allow-plain-http"),
        "{stderr}"
    );
    assert!(!db.exists(), "refused before opening the store");
    // --tls-cert needs --tls-key.
    assert_eq!(
        cli(&db, &["serve", "--tls-cert", "c.pem"])?.status.code(),
        Some(2)
    );
    // Explicitly allowed (behind a TLS-terminating proxy).
    let mut server = serve(&db, &["--addr", "0.0.0.0:0", "--allow-plain-http"])?;
    assert!(server.url.starts_with("http://0.0.0.0:"), "{}", server.url);
    server.stop()?;
    Ok(())
}

#[test]
fn tls_with_rustls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()])?;
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem())?;
    std::fs::write(&key, certified.signing_key.serialize_pem())?;
    let (cert_s, key_s) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    );

    // Missing files: a clear error, exit 1.
    let out = cli(
        &db,
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            &key_s,
        ],
    )?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("TLS"));

    let mut server = serve(
        &db,
        &[
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &cert_s,
            "--tls-key",
            &key_s,
        ],
    )?;
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let credentials = server.printed_credentials().ok_or("credentials")?;
    let auth = basic(
        credentials["clientId"].as_str().ok_or("id")?,
        credentials["clientSecret"].as_str().ok_or("secret")?,
    );
    let root = ureq::tls::Certificate::from_der(certified.cert.der()).to_owned();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
        .build();
    let https: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into();
    let (status, _) = get_json(&https, &format!("{}/v1/customers", server.url), &auth)?;
    assert_eq!(status, 200);
    // Plain HTTP to the TLS port gets nothing useful.
    let plain = server.url.replace("https://", "http://");
    assert!(!matches!(
        get_json(&agent(), &format!("{plain}/v1/customers"), &auth),
        Ok((200, _))
    ));
    server.stop()?;

    // With TLS, any address may be served.
    let mut open = serve(
        &db,
        &[
            "--addr",
            "0.0.0.0:0",
            "--tls-cert",
            &cert_s,
            "--tls-key",
            &key_s,
        ],
    )?;
    assert!(open.url.starts_with("https://0.0.0.0:"), "{}", open.url);
    open.stop()?;
    Ok(())
}

#[test]
fn graceful_shutdown_loses_no_acknowledged_write() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_in(&dir);
    let mut server = serve(&db, &["--addr", "127.0.0.1:0"])?;
    let credentials = server.printed_credentials().ok_or("credentials")?;
    let auth = basic(
        credentials["clientId"].as_str().ok_or("id")?,
        credentials["clientSecret"].as_str().ok_or("secret")?,
    );
    let url = format!("{}/v1/customers", server.url);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (url, auth, stop) = (url.clone(), auth.clone(), stop.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut acknowledged = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let body = json!({"email": format!("w{t}-{i}@example.com"), "name": "W"});
                    let Ok(mut response) = agent
                        .post(&url)
                        .header("Authorization", &auth)
                        .content_type("application/json")
                        .send(body.to_string())
                    else {
                        break; // the server has stopped accepting
                    };
                    if response.status().as_u16() != 201 {
                        break;
                    }
                    let Ok(text) = response.body_mut().read_to_string() else {
                        break;
                    };
                    if let Ok(value) = serde_json::from_str::<Value>(&text) {
                        acknowledged
                            .push(value["data"]["id"].as_str().unwrap_or_default().to_owned());
                    }
                }
                acknowledged
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, stderr) = server.stop()?;
    stop.store(true, Ordering::SeqCst);
    assert!(status.success(), "{status}: {stderr}");
    let acknowledged: Vec<String> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_default())
        .collect();
    assert!(!acknowledged.is_empty());
    let store = RedbStore::open(&db)?;
    for id in &acknowledged {
        assert!(
            store.get("default", id)?.is_some(),
            "acknowledged {id} was lost"
        );
    }
    store.verify()?;
    Ok(())
}
