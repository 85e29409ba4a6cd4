//! `customer-store`: the HTTP server and the admin commands of the customer store.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
