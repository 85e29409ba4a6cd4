//! `customer-store clients`: create, list and revoke the API clients of the HTTP server.
//!
//! These commands open the store file themselves, so they fail with "store in use" while a
//! server holds it. `create` creates a missing store file; `list` and `revoke` refuse one.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use customer_store::Scope;

use super::{CliResult, line, open_existing};

/// The `clients` subcommands.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: ClientsCommand,
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Creates a client and prints {"clientId", "clientSecret", "business", "scopes"}; the
    /// secret is shown only this once. Creates the store file if there is none (as `serve`
    /// does), so that clients can be set up before the first start.
    #[command(
        after_help = "Example:\n  customer-store clients create --business acme \
        --scope customers:read --scope customers:write"
    )]
    Create {
        /// The business the client acts for (1-64 characters of A-Z a-z 0-9 _ -).
        #[arg(long)]
        business: String,
        /// A scope to grant: customers:read or customers:write (repeat for both).
        #[arg(long = "scope", required = true, value_name = "SCOPE", value_parser = parse_scope)]
        scopes: Vec<Scope>,
    },
    /// Prints every client, one JSON object per line (revoked ones with their revokedAt).
    List,
    /// Revokes a client: it can no longer authenticate.
    Revoke {
        /// The client id.
        id: String,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse::<Scope>().map_err(|e| e.to_string())
}

fn json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

pub(crate) fn run(db: &Path, args: Args) -> CliResult {
    let fail = |e: customer_store::Error| format!("{}: {}", db.display(), line(&e));
    match args.command {
        ClientsCommand::Create { business, scopes } => {
            let store = super::open(db)?;
            let issued = store.create_client(&business, &scopes).map_err(fail)?;
            outln!("{}", json(&issued)?);
        }
        ClientsCommand::List => {
            let store = open_existing(db)?;
            for client in store.clients().map_err(fail)? {
                outln!("{}", json(&client)?);
            }
        }
        ClientsCommand::Revoke { id } => {
            let store = open_existing(db)?;
            let client = store.revoke_client(&id).map_err(fail)?;
            outln!("{}", json(&client)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
