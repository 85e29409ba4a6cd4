//! `customer-store compact`: gives the file's free space back (`RedbStore::compact`).

use std::path::Path;
use std::process::ExitCode;

use super::{CliResult, open_existing};

pub(crate) fn run(db: &Path) -> CliResult {
    let size = |what: &str| {
        std::fs::metadata(db)
            .map(|m| m.len())
            .map_err(|e| format!("{}: {what}: {e}", db.display()))
    };
    let before = size("before")?;
    let store = open_existing(db)?;
    store
        .compact()
        .map_err(|e| format!("{}: {e}", db.display()))?;
    // Closing the store trims the file.
    drop(store);
    let after = size("after")?;
    println!("{}: {before} -> {after} bytes", db.display());
    Ok(ExitCode::SUCCESS)
}
