//! `customer-store check`: runs `verify()` and prints its report.

use std::path::Path;
use std::process::ExitCode;

use super::{CliResult, line, open_existing};

pub(crate) fn run(db: &Path) -> CliResult {
    let store = open_existing(db)?;
    match store.verify() {
        Ok(report) => {
            outln!(
                "ok: {} businesses, {} customers, {} email index entries, {} externalId index \
                 entries, {} status index entries, {} email gram postings",
                report.businesses,
                report.customers,
                report.email_entries,
                report.external_id_entries,
                report.status_entries,
                report.gram_postings
            );
            Ok(ExitCode::SUCCESS)
        }
        // Damage found: the report, on stdout, and exit status 1.
        Err(e) if e.code() == "corrupt" => {
            outln!("problems: {e}");
            Ok(ExitCode::FAILURE)
        }
        // The check itself could not run (an I/O error): a failure, on stderr.
        Err(e) => Err(format!("{}: {}", db.display(), line(&e))),
    }
}
