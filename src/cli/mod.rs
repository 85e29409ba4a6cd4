//! The command line: one file per command, this one only parses and dispatches.
//!
//! Exit codes: 0 success, 1 the command failed (or found problems), 2 bad usage.

mod check;
mod clients;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The customer store: an HTTP API and admin commands over one store file.
#[derive(Debug, Parser)]
#[command(name = "customer-store", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// The store file.
    #[arg(
        long,
        global = true,
        default_value = "customers.redb",
        value_name = "PATH"
    )]
    db: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks every record and index entry of the store (exit status 1 if anything is wrong).
    #[command(after_help = "Example:\n  customer-store check --db customers.redb")]
    Check,
    /// Serves the HTTP API (creates a first API client, printed once, on a store without one).
    Serve(serve::Args),
    /// Creates, lists and revokes the API clients of the HTTP server.
    Clients(clients::Args),
}

/// Parses the command line, runs the command and reports its error on one line.
pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check => check::run(&cli.db),
        Command::Serve(args) => serve::run(&cli.db, args),
        Command::Clients(args) => clients::run(&cli.db, args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("customer-store: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A command's failure, as the one line printed on stderr.
pub(crate) type CliResult = Result<ExitCode, String>;

/// Opens the store file, refusing to create one where none exists.
pub(crate) fn open_existing(db: &std::path::Path) -> Result<customer_store::RedbStore, String> {
    if !db.exists() {
        return Err(format!("{}: no such store file", db.display()));
    }
    customer_store::RedbStore::open(db).map_err(|e| format!("{}: {e}", db.display()))
}
