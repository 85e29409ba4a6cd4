//! Shared by the reliability tests (`tests/model_*.rs`, `tests/fault_*.rs`, …) and the fuzz
//! targets (`fuzz/` includes this module by `#[path]`, so the harness is written once).
//!
//! - `model`: the reference model (`BTreeMap`s) and the operations of a workload.
//! - `exec`: runs a workload on a store and the model side by side, comparing every answer.
//! - `faulty`: a redb `StorageBackend` that fails the N-th I/O call.
//! - `fuzz`: the fuzz targets' entry points (`ops`, `decode`, `json`), replayed by
//!   `tests/fuzz_replay.rs`; `fuzz_http` the `http` target's (with the `server` feature).

#![allow(
    dead_code,
    unused_macros,
    reason = "each test binary (and each fuzz target) uses a part of the shared support"
)]

pub mod exec;
pub mod model;

#[cfg(feature = "fault-injection")]
pub mod faulty;
#[cfg(feature = "fault-injection")]
pub mod fuzz;
#[cfg(all(feature = "fault-injection", feature = "server"))]
pub mod fuzz_http;
