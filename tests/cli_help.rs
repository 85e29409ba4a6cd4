//! `customer-store --help` and each command's `--help`: examples for every command, the exit
//! statuses documented, and usage errors with status 2.

#![cfg(all(feature = "cli", feature = "server"))]

mod cli_support;

use cli_support::{Env, Result};

#[test]
fn every_command_has_help_with_examples() -> Result {
    let env = Env::new()?;
    let top = env.run(&["--help"])?.expect_code(0)?;
    for needle in [
        "Exit status:",
        "0  success",
        "2  bad usage",
        "Examples:",
        "--db <PATH>",
    ] {
        assert!(top.stdout.contains(needle), "{needle:?} in {top:?}");
    }
    for command in [
        "import", "export", "stats", "get", "list", "update", "delete", "check",
    ] {
        let run = env.run(&[command, "--help"])?.expect_code(0)?;
        assert!(
            run.stdout.contains("Example"),
            "`{command} --help` has no example: {run:?}"
        );
        assert!(
            run.stdout.contains(&format!("customer-store {command}")),
            "{run:?}"
        );
    }
    Ok(())
}

#[test]
fn usage_errors_exit_with_status_2() -> Result {
    let env = Env::new()?;
    for args in [
        &["frobnicate"][..],
        &["import", "--business", "acme"],
        &[
            "import",
            "--business",
            "acme",
            "--on-conflict",
            "maybe",
            "f.jsonl",
        ],
        &[
            "import",
            "--business",
            "acme",
            "--batch-size",
            "0",
            "f.jsonl",
        ],
        &["list"],
        &["delete", "--business", "acme"],
    ] {
        let run = env.run(args)?;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    Ok(())
}
