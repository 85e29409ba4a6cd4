//! Replays the fuzz corpus and every kept fuzz regression as ordinary tests, on stable.
//!
//! `fuzz/seeds/<target>/*` are hand-written starting inputs, `fuzz/corpus/<target>/*` the
//! inputs the fuzzer kept (minimised with `cargo fuzz cmin`), `fuzz/regressions/<target>/*`
//! the inputs of crashes found and fixed. Each is run through the
//! same harness code as the fuzz target (`tests/reliability_support/fuzz.rs`), so a fixed crash
//! cannot come back unnoticed. Inputs of crashes not fixed yet sit in
//! `fuzz/regressions/<target>/open/` and each has a named `#[ignore]` test below.
#![cfg(feature = "fault-injection")]

mod reliability_support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use reliability_support::fuzz;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Runs `target` on every input of its corpus and regressions; fails naming every input that
/// panics.
fn replay(target: &str, run: fn(&[u8])) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    let mut count = 0;
    for dir in ["seeds", "corpus", "regressions"] {
        for file in inputs(&root.join(dir).join(target)) {
            let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            count += 1;
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", file.display()));
            }
        }
    }
    eprintln!("{target}: replayed {count} inputs");
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {count} inputs fail:\n{}",
            failures.len(),
            failures.join("\n")
        ))
    }
}

#[test]
fn ops_corpus_and_regressions() -> Result<(), String> {
    replay("ops", fuzz::ops)
}

#[test]
fn journal_corpus_and_regressions() -> Result<(), String> {
    replay("journal", fuzz::journal)
}

/// Every `ops` input again, on a store with a journal: a first byte (from the input's place)
/// picks the journal limit and the email-index tail, faults hit the database.
#[test]
fn ops_corpus_on_a_journaled_store() -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0usize;
    for dir in ["seeds", "corpus", "regressions"] {
        for file in inputs(&root.join(dir).join("ops")) {
            let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let setup = u8::try_from(count % 160).unwrap_or(0);
            let input = [&[setup][..], &data].concat();
            count += 1;
            catch_unwind(AssertUnwindSafe(|| fuzz::journal(&input)))
                .map_err(|_| format!("{} on a journaled store panics", file.display()))?;
        }
    }
    eprintln!("ops on a journaled store: replayed {count} inputs");
    Ok(())
}

#[test]
fn decode_corpus_and_regressions() -> Result<(), String> {
    replay("decode", fuzz::decode)
}

#[test]
fn json_corpus_and_regressions() -> Result<(), String> {
    replay("json", fuzz::json)
}

#[cfg(feature = "server")]
#[test]
fn http_corpus_and_regressions() -> Result<(), String> {
    replay("http", |data| {
        reliability_support::fuzz_http::http(data);
    })
}

/// The harnesses themselves on a few hand-made inputs, so the test means something even on
/// a checkout without a corpus.
#[test]
fn hand_made_inputs() {
    fuzz::ops(&[]);
    fuzz::ops(b"\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x0b\x01\x01\x01\x00\x0f");
    // A create, then a create under a fault at every one of the first 16 mutating calls.
    for at in 0..16u8 {
        fuzz::ops(&[0, 0, 0, 0, 0x80, 7, at, 0, 0, 3, 1, 2, 0, 0]);
    }
    fuzz::decode(&[]);
    fuzz::decode(&[3, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
    // The other customer's record moved whole under this key: as it was, resealed for its
    // old key, and resealed for the new one (forged).
    for mode in [6, 14, 15, 7] {
        fuzz::decode(&[mode]);
    }
    fuzz::json(b"{\"email\":\"yaw@example.com\",\"name\":\"Yaw\"}\n{\"name\":null}\n{\"limit\":0}");
    #[cfg(feature = "server")]
    {
        use reliability_support::fuzz_http::http;
        assert_eq!(http(&[]), Vec::<u16>::new());
        // A create, its read, a refused repeat, a patch by the read-only client, a list.
        let statuses = http(b"\x01\n{\"email\":\"yaw@example.com\",\"name\":\"Yaw\"}\0\x04/$A\0\x01\n{\"email\":\"YAW@example.com\",\"name\":\"Y\"}\0\x0a/$A\n{\"name\":\"Z\"}\0\x04?limit=1");
        assert_eq!(statuses, [201, 200, 409, 403, 200]);
    }
}
