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
        // Damage found: the report, on stdout, and exit status 1; then each damaged record
        // with the command that removes it, and what to do first.
        Err(e) if e.code() == "corrupt" => {
            outln!("problems: {e}");
            if let Ok(damaged) = store.damaged_records()
                && !damaged.is_empty()
            {
                outln!(
                    "{} damaged record(s); first copy the store file and its journal (while \
                     pages are damaged, a crash can leave the file unopenable), then remove \
                     each (what it held is lost; restore it from a backup to keep its id):",
                    damaged.len()
                );
                for record in &damaged {
                    // A business known only by its number ("#2": its entry is damaged too)
                    // takes no command: no name would reach it.
                    if record.business.starts_with('#') {
                        outln!(
                            "  {} of business {} (its entry is damaged too: restore a backup)   \
                             # {}",
                            record.id,
                            record.business,
                            record.problem
                        );
                        continue;
                    }
                    // `--business=NAME`: a name may start with `-`.
                    outln!(
                        "  customer-store delete --db {} --business={} --damaged {}   # {}",
                        shell_word(&db.display().to_string()),
                        shell_word(&record.business),
                        record.id,
                        record.problem
                    );
                }
            }
            Ok(ExitCode::FAILURE)
        }
        // The check itself could not run (an I/O error): a failure, on stderr.
        Err(e) => Err(format!("{}: {}", db.display(), line(&e))),
    }
}

/// `text` as one shell word: as it is when it holds only safe characters, else single-quoted.
fn shell_word(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("/data/customers.redb"), "/data/customers.redb");
        assert_eq!(shell_word("acme_2-x"), "acme_2-x");
        assert_eq!(shell_word("my store.redb"), "'my store.redb'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$HOME/~#x"), "'$HOME/~#x'");
        assert_eq!(shell_word(""), "''");
    }
}
