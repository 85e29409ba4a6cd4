//! `customer-store stats`: the store's totals (from a full check), its file size and bytes
//! per customer, and for each `--business` its customers per status.
//!
//! Every business is listed with its customers per status (from the status index's counts),
//! or only those named with `--business`; the totals cover the whole file.

use std::path::Path;

use customer_store::{CustomerStore, ListQuery};
use std::process::ExitCode;

use serde::Serialize;

use super::{CliResult, open_existing, store_bytes};

/// The `stats` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Show only this business (repeatable); all of them by default.
    #[arg(long = "business", value_name = "B")]
    businesses: Vec<String>,
    /// Prints one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Help text of `stats`.
pub(crate) const AFTER_HELP: &str = "\
Prints the file size, the totals of the whole store (businesses, customers, index entries,
bytes per customer) and each business's customers per status (only the named ones with
--business). The totals come from a full check of the store (as `customer-store check`):
exit status 1 if it finds a problem (with --json, the problems go to stderr).

Examples:
  customer-store stats
  customer-store stats --business acme --business globex
  customer-store stats --business acme --json";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stats {
    file: String,
    file_bytes: u64,
    businesses: u64,
    customers: u64,
    bytes_per_customer: Option<u64>,
    email_entries: u64,
    external_id_entries: u64,
    status_entries: u64,
    gram_postings: u64,
    per_business: Vec<BusinessStats>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BusinessStats {
    business: String,
    customers: u64,
    #[serde(rename = "ACTIVE")]
    active: u64,
    #[serde(rename = "INACTIVE")]
    inactive: u64,
    #[serde(rename = "BLOCKED")]
    blocked: u64,
}

pub(crate) fn run(db: &Path, args: &Args) -> CliResult {
    let store = open_existing(db)?;
    let report = match store.verify() {
        Ok(report) => report,
        // Damage: no totals. The report goes to stdout as `check` prints it, but with --json
        // to stderr, so that stdout never holds a line that is not JSON (found in an
        // operator's trial).
        Err(e) if e.code() == "corrupt" => {
            if args.json {
                eprintln!(
                    "customer-store: problems: {e} (`customer-store check` lists the damaged records)"
                );
            } else {
                outln!("problems: {e} (`customer-store check` lists the damaged records)");
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(super::line(&e)),
    };
    // Every business by default; with --business, the named ones (0 for one never seen).
    let to_row = |b: customer_store::BusinessSummary| BusinessStats {
        customers: b.customers(),
        business: b.name,
        active: b.active,
        inactive: b.inactive,
        blocked: b.blocked,
    };
    let all = store.businesses().map_err(|e| super::line(&e))?;
    let per_business: Vec<BusinessStats> = if args.businesses.is_empty() {
        all.into_iter().map(to_row).collect()
    } else {
        args.businesses
            .iter()
            .map(|name| match all.iter().find(|b| &b.name == name) {
                Some(b) => Ok(to_row(b.clone())),
                None => {
                    // The store answers for a name it has never seen: refuses a malformed
                    // one, else finds no customer.
                    store
                        .list(name, &ListQuery::default().with_limit(1))
                        .map_err(|e| format!("business {name}: {}", super::line(&e)))?;
                    Ok(BusinessStats {
                        business: name.clone(),
                        customers: 0,
                        active: 0,
                        inactive: 0,
                        blocked: 0,
                    })
                }
            })
            .collect::<Result<_, String>>()?
    };
    // Measured once the store is closed: a clean close checkpoints and removes the journal.
    drop(store);
    let file_bytes = store_bytes(db)?;
    let stats = Stats {
        file: db.display().to_string(),
        file_bytes,
        businesses: report.businesses,
        customers: report.customers,
        bytes_per_customer: file_bytes.checked_div(report.customers),
        email_entries: report.email_entries,
        external_id_entries: report.external_id_entries,
        status_entries: report.status_entries,
        gram_postings: report.gram_postings,
        per_business,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())?;
        outln!("{text}");
    } else {
        print_text(&stats)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(stats: &Stats) -> Result<(), String> {
    outln!(
        "file: {} ({} bytes, {:.1} MiB)",
        stats.file,
        stats.file_bytes,
        stats.file_bytes as f64 / f64::from(1 << 20)
    );
    let per_customer = stats
        .bytes_per_customer
        .map_or_else(|| "-".to_owned(), |b| b.to_string());
    outln!(
        "customers: {} in {} businesses ({per_customer} bytes per customer)",
        stats.customers,
        stats.businesses
    );
    outln!(
        "index entries: email {}, externalId {}, status {}, email gram postings {}",
        stats.email_entries,
        stats.external_id_entries,
        stats.status_entries,
        stats.gram_postings
    );
    for b in &stats.per_business {
        outln!(
            "business {}: {} customers (ACTIVE {}, INACTIVE {}, BLOCKED {})",
            b.business,
            b.customers,
            b.active,
            b.inactive,
            b.blocked
        );
    }
    Ok(())
}
