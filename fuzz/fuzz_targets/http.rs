//! Arbitrary requests sent to the HTTP API's router in process: every answer is in the API's
//! envelope, never a 5xx, and a refused request changes nothing.
//!
//! The logic lives in `tests/reliability_support/fuzz_http.rs`, shared with
//! `tests/fuzz_replay.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/reliability_support/mod.rs"]
mod reliability_support;

fuzz_target!(|data: &[u8]| {
    reliability_support::fuzz_http::http(data);
});
