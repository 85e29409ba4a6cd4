//! Operation sequences on a store with a journal, against the reference model, with I/O
//! faults injected into the database or the journal.
//!
//! The logic lives in `tests/reliability_support/fuzz.rs`, shared with `tests/fuzz_replay.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/reliability_support/mod.rs"]
mod reliability_support;

fuzz_target!(|data: &[u8]| reliability_support::fuzz::journal(data));
