//! `customer-store`: the HTTP server and the admin commands of the customer store.

mod cli;

/// mimalloc instead of the system allocator, with the opt-in feature `mimalloc`: faster where
/// the work allocates (a new list page, a bulk import), at 81-86 MB more peak memory in the
/// 1 M-row import of README's "Import figures" (PERFORMANCE.md, round 10).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // A panic that reaches here is a bug: say so on the one line errors take (the panic hook
    // keeps redb's own panics quiet, as the store reports the ones it catches).
    std::panic::catch_unwind(cli::run).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        eprintln!("customer-store: internal error: {what}");
        std::process::ExitCode::FAILURE
    })
}
