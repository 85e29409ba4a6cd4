//! `customer-store check`: runs `verify()` and prints its report.

use std::path::Path;
use std::process::ExitCode;

use super::{CliResult, open_existing};

pub(crate) fn run(db: &Path) -> CliResult {
    let store = open_existing(db)?;
    match store.verify() {
        Ok(report) => {
            println!(
                "ok: {} businesses, {} customers, {} email index entries, {} externalId index entries",
                report.businesses,
                report.customers,
                report.email_entries,
                report.external_id_entries
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("problems: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
