//! `customer-store serve`: the HTTP API over the store file.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use customer_store::server::{Server, ServerConfig, TlsFiles, shutdown_signal};
use customer_store::{RedbStore, Scope};

use super::CliResult;

/// Options of `serve`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    customer-store serve\n  \
    customer-store serve --db /var/lib/customers.redb --addr 0.0.0.0:8443 \
    --tls-cert cert.pem --tls-key key.pem\n\n\
    Logs go to stderr; RUST_LOG sets the level (e.g. RUST_LOG=warn).")]
pub(crate) struct Args {
    /// The address to listen on. Any address but loopback requires TLS (or --allow-plain-http).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT", value_parser = resolve)]
    addr: SocketAddr,
    /// The TLS certificate chain (PEM); serves HTTPS together with --tls-key.
    #[arg(long, requires = "tls_key", value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert", value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    #[arg(long)]
    allow_plain_http: bool,
}

/// Reads `--addr` (a malformed one is bad usage, exit status 2, like any malformed argument).
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let mut all = addr.to_socket_addrs().map_err(|e| e.to_string())?;
    all.next()
        .ok_or_else(|| "resolves to no address".to_owned())
}

fn init_logging() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .try_init();
}

/// Creates the first client of a store that has none, and prints its credentials once.
fn first_client(store: &RedbStore, url: &str) -> Result<(), String> {
    if store.has_clients().map_err(|e| super::line(&e))? {
        return Ok(());
    }
    let issued = store
        .create_client("default", &Scope::ALL)
        .map_err(|e| super::line(&e))?;
    let json = serde_json::to_string(&issued).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "No API client yet: created one for business \"default\" with scopes customers:read \
         and customers:write.\nIts secret is shown only now; keep it.\n{json}\n\nTry:\n  \
         curl {url}/v1/customers -u \"{}:{}\"\n",
        issued.client_id, issued.client_secret
    );
    let _ = out.flush();
    Ok(())
}

pub(crate) fn run(db: &Path, args: Args) -> CliResult {
    let addr = args.addr;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    if tls.is_none() && !addr.ip().is_loopback() && !args.allow_plain_http {
        return Err(format!(
            "refusing to serve plain HTTP on {addr}, which is not a loopback address: pass \
             --tls-cert and --tls-key, or --allow-plain-http behind a TLS-terminating proxy"
        ));
    }
    init_logging();
    // A taken address is refused before the store is opened, so that it leaves no new, empty
    // store file behind (an operator's trial). The server binds again below (std sets
    // SO_REUSEADDR, so the address is free again at once).
    drop(std::net::TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?);
    let store = super::open(db)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let config = ServerConfig {
        tls,
        ..ServerConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let serving = store.clone();
    let served = runtime.block_on(async move {
        let server = Server::bind(serving.clone(), addr, config)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let url = format!("{scheme}://{}", server.local_addr());
        first_client(&serving, &url)?;
        drop(serving);
        outln!("listening on {url} (store {})", db.display());
        let _ = std::io::stdout().flush();
        tracing::info!(%url, "listening");
        server
            .run(shutdown_signal())
            .await
            .map_err(|e| format!("server failed: {e}"))
    });
    // Ends every task still running (a connection past the grace period), and with them
    // their handles on the store: the one left here closes it.
    drop(runtime);
    // The clean close's outcome, which dropping the store would lose: an exit status of 0
    // says that the file alone now holds every write (found in an operator's trial: a stop on
    // a full disk said "stopped", and left the journal).
    let closed = store.close();
    let unclean = |e: &customer_store::Error| {
        format!(
            "the store did not close cleanly: {}; its journal is kept and the next open \
             applies it",
            super::line(e)
        )
    };
    if let Err(failed) = served {
        return Err(match &closed {
            Err(e) => format!("{failed}; and {}", unclean(e)),
            Ok(_) => failed,
        });
    }
    match closed {
        Ok(true) => {
            tracing::info!("stopped");
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => Err(format!(
            "{}: stopped, but a handle on the store outlived the server: its clean close was \
             not seen (the journal, if any, is applied by the next open)",
            db.display()
        )),
        Err(e) => Err(format!("{}: stopped, but {}", db.display(), unclean(&e))),
    }
}
