//! `customer-store compact`: gives the file's free space back (`RedbStore::compact`).

use std::path::Path;
use std::process::ExitCode;

use super::{CliResult, line, open_existing, store_bytes};

pub(crate) fn run(db: &Path) -> CliResult {
    let before = store_bytes(db)?;
    let store = open_existing(db)?;
    store
        .compact()
        .map_err(|e| format!("{}: {}", db.display(), line(&e)))?;
    // Closing the store trims the file.
    drop(store);
    let after = store_bytes(db)?;
    outln!("{}: {before} -> {after} bytes", db.display());
    Ok(ExitCode::SUCCESS)
}
