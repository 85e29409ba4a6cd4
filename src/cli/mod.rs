//! The command line: one file per command, this one only parses and dispatches.
//!
//! Exit codes: 0 success, 1 the command failed (or found problems), 2 bad usage.

/// `println!` for a command's output: a closed stdout (`| head`) is not an error (`println!`
/// panics on it), any other failure to write is the command's error (`?`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_line(format_args!($($arg)*))?
    };
}

mod check;
mod clients;
mod compact;
mod export;
mod format;
mod import;
mod records;
mod serve;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The customer store: an HTTP API and admin commands over one store file.
#[derive(Debug, Parser)]
#[command(
    name = "customer-store",
    version,
    about,
    propagate_version = true,
    after_help = TOP_HELP
)]
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
    /// Gives the file's free space back after a large import or many deletes.
    #[command(after_help = "Example:\n  customer-store compact --db customers.redb")]
    Compact,
    /// Serves the HTTP API (creates a first API client, printed once, on a store without one).
    Serve(serve::Args),
    /// Creates, lists and revokes the API clients of the HTTP server.
    Clients(clients::Args),
    /// Imports customers from a JSON Lines or CSV file, in atomic batches, with a rejects file.
    #[command(after_help = import::AFTER_HELP)]
    Import(import::Args),
    /// Writes every customer of a business, in id order, as JSON Lines or CSV.
    #[command(after_help = export::AFTER_HELP)]
    Export(export::Args),
    /// Prints the file size, the store's totals and customers per business and status.
    #[command(after_help = stats::AFTER_HELP)]
    Stats(stats::Args),
    /// Prints one customer, by id, email or externalId.
    #[command(after_help = records::GET_HELP)]
    Get(records::GetArgs),
    /// Prints one page of a business's customers, with the API's filters.
    #[command(after_help = records::LIST_HELP)]
    List(records::ListArgs),
    /// Changes a customer (the API's PATCH) and prints it.
    #[command(after_help = records::UPDATE_HELP)]
    Update(records::UpdateArgs),
    /// Deletes a customer.
    #[command(after_help = records::DELETE_HELP)]
    Delete(records::DeleteArgs),
}

/// The end of `customer-store --help`.
const TOP_HELP: &str = "\
Every command takes --db PATH (default ./customers.redb) and opens the file itself: the
admin commands fail with \"store in use\" while a server holds it. Errors are one line on
stderr, starting with \"customer-store: \".

Exit status:
  0  success
  1  the command failed, or found problems: a refused import row, a conflict that stopped
     an import, a customer not found, a damaged store (check, stats)
  2  bad usage: an unknown command or option, a missing or malformed argument

Examples:
  customer-store import --business acme customers.jsonl
  customer-store export --business acme --output acme.jsonl
  customer-store get --business acme --email yaw@example.com
  customer-store check
  customer-store serve --addr 127.0.0.1:8080

Run `customer-store COMMAND --help` for a command's options and examples.";

/// Parses the command line, runs the command and reports its error on one line.
pub(crate) fn run() -> ExitCode {
    quiet_storage_panics();
    let cli = Cli::parse();
    if let Command::Update(args) = &cli.command
        && let Some(conflict) = args.conflict()
    {
        // Reported as clap reports its own conflicts: on stderr with `update`'s usage, exit 2.
        let kind = clap::error::ErrorKind::ArgumentConflict;
        let mut command = <Cli as clap::CommandFactory>::command();
        command.build();
        let Some(update) = command.find_subcommand_mut("update") else {
            command.error(kind, conflict).exit()
        };
        update.error(kind, conflict).exit();
    }
    let result = match cli.command {
        Command::Check => check::run(&cli.db),
        Command::Compact => compact::run(&cli.db),
        Command::Serve(args) => serve::run(&cli.db, args),
        Command::Clients(args) => clients::run(&cli.db, args),
        Command::Import(args) => import::run(&cli.db, args),
        Command::Export(args) => export::run(&cli.db, &args),
        Command::Stats(args) => stats::run(&cli.db, &args),
        Command::Get(args) => records::get(&cli.db, &args),
        Command::List(args) => records::list(&cli.db, &args),
        Command::Update(args) => records::update(&cli.db, &args),
        Command::Delete(args) => records::delete(&cli.db, &args),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("customer-store: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps the panics of redb off stderr. redb panics on some damaged pages; the store catches
/// each one and answers `corrupt`, which the command reports on its one line (the server logs
/// it). The default hook would print the panic, and a backtrace, as well. Any other panic is
/// printed as usual, and one that the store did not catch is reported by `main`.
fn quiet_storage_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_redb = info.location().is_some_and(|at| {
            std::path::Path::new(at.file())
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with("redb-"))
        });
        if !in_redb {
            default(info);
        }
    }));
}

/// Writes `line` and a newline on stdout (see [`outln`]).
pub(crate) fn write_line(line: std::fmt::Arguments<'_>) -> Result<(), String> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
        _ => Ok(()),
    }
}

/// A command's failure, as the one line printed on stderr.
pub(crate) type CliResult = Result<ExitCode, String>;

/// The bytes the store takes on disk: its file and its journal (gone once closed cleanly).
pub(crate) fn store_bytes(db: &std::path::Path) -> Result<u64, String> {
    let journal = customer_store::RedbStore::journal_path(db);
    let file = std::fs::metadata(db)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e}", db.display()))?;
    let journal = std::fs::metadata(&journal).map_or(0, |m| m.len());
    Ok(file + journal)
}

/// Opens the store file, refusing to create one where none exists.
pub(crate) fn open_existing(db: &std::path::Path) -> Result<customer_store::RedbStore, String> {
    if !db.exists() {
        return Err(format!("{}: no such store file", db.display()));
    }
    open(db)
}

/// Opens (or creates) the store file.
pub(crate) fn open(db: &std::path::Path) -> Result<customer_store::RedbStore, String> {
    if db.is_dir() {
        return Err(format!("{}: a directory, not a store file", db.display()));
    }
    customer_store::RedbStore::open(db).map_err(|e| format!("{}: {}", db.display(), line(&e)))
}

/// An error on one line, with the causes its own message leaves out: for a storage failure,
/// the operating system's reason ("No space left on device"), which the error keeps as its
/// `source()`.
pub(crate) fn line(error: &customer_store::Error) -> String {
    let mut text = error.to_string();
    let mut causes: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) && !causes.contains(&cause_text) {
            causes.push(cause_text);
        }
        source = cause.source();
    }
    if !causes.is_empty() {
        text = format!("{text} ({})", causes.join(": "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::line;

    /// A storage failure after the open names the operating system's reason too (found in an
    /// operator's trial: an import on a full disk ended with "storage error: journal: grow").
    #[test]
    fn an_error_line_names_the_reason() {
        let full = std::io::Error::from_raw_os_error(28);
        let reason = full.to_string();
        let error = customer_store::Error::Storage {
            message: "journal: grow".to_owned(),
            source: Some(std::sync::Arc::new(full)),
        };
        assert_eq!(
            line(&error),
            format!("storage error: journal: grow ({reason})")
        );
        // A cause the message already gives is not repeated.
        let error = customer_store::Error::Corrupt("bad".to_owned());
        assert_eq!(line(&error), "corrupt store: bad");
    }
}
