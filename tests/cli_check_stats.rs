//! `customer-store check` and `stats`, run as a process: the full report on a sound store,
//! exit status 1 on a damaged one, and the counts per business and status.

#![cfg(all(feature = "cli", feature = "server"))]

mod cli_support;

use cli_support::{Env, Result};
use serde_json::json;

fn seeded(env: &Env) -> Result {
    let mut text = String::new();
    for i in 0..30 {
        let status = ["ACTIVE", "INACTIVE", "BLOCKED"][i % 3];
        let mut c = json!({"email": format!("user{i}@example.com"), "name": "N", "status": status});
        if i % 2 == 0 {
            c["externalId"] = json!(format!("ext{i}"));
        }
        text += &(c.to_string() + "\n");
    }
    let file = env.file("in.jsonl", text)?;
    env.run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(0)?;
    let other = env.file("other.jsonl", cli_support::lines(5))?;
    env.run(&[
        "import",
        "--business",
        "beta",
        other.to_str().ok_or("path")?,
    ])?
    .expect_code(0)?;
    Ok(())
}

#[test]
fn check_prints_the_whole_report() -> Result {
    let env = Env::new()?;
    seeded(&env)?;
    let run = env.run(&["check"])?.expect_code(0)?;
    let line = run.stdout.trim_end();
    assert!(line.starts_with("ok: 2 businesses, 35 customers, 35 email index entries, 15 externalId index entries, 35 status index entries, "), "{run:?}");
    assert!(line.ends_with(" email gram postings"), "{run:?}");
    Ok(())
}

#[test]
fn check_fails_on_a_damaged_store() -> Result {
    let env = Env::new()?;
    seeded(&env)?;
    let pristine = std::fs::read(&env.db)?;
    let needle = b"user17@example.com";
    let places: Vec<usize> = pristine
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(at, _)| at)
        .collect();
    assert!(!places.is_empty());
    let mut problems = 0;
    for at in places {
        let mut damaged = pristine.clone();
        damaged[at + 4] ^= 0x01;
        std::fs::write(&env.db, &damaged)?;
        let run = env.run(&["check"])?;
        // A copy of the email in a page the store no longer uses changes nothing.
        match run.code {
            0 => assert!(run.stdout.starts_with("ok: "), "{run:?}"),
            1 if run.stdout.starts_with("problems: ") => {
                problems += 1;
                // `stats --json` keeps stdout for JSON: the problems go to stderr.
                let stats = env.run(&["stats", "--json"])?.expect_code(1)?;
                assert!(stats.stdout.is_empty(), "{stats:?}");
                assert!(stats.stderr.contains("problems: "), "{stats:?}");
            }
            1 => assert!(run.stderr.starts_with("customer-store: "), "{run:?}"),
            _ => return Err(format!("damage at {at}: {run:?}").into()),
        }
    }
    assert!(
        problems > 0,
        "no damage was reported as problems by the check"
    );
    // A file that is no store at all.
    std::fs::write(&env.db, b"not a store")?;
    let run = env.run(&["check"])?.expect_code(1)?;
    assert!(run.stderr.starts_with("customer-store: "), "{run:?}");
    Ok(())
}

#[test]
fn stats_counts_per_business_and_status() -> Result {
    let env = Env::new()?;
    seeded(&env)?;
    let run = env
        .run(&[
            "stats",
            "--business",
            "acme",
            "--business",
            "beta",
            "--business",
            "none",
        ])?
        .expect_code(0)?;
    assert!(
        run.stdout.contains("customers: 35 in 2 businesses ("),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("business acme: 30 customers (ACTIVE 10, INACTIVE 10, BLOCKED 10)"),
        "{run:?}"
    );
    assert!(
        run.stdout
            .contains("business beta: 5 customers (ACTIVE 5, INACTIVE 0, BLOCKED 0)")
    );
    assert!(run.stdout.contains("business none: 0 customers"));

    let stats = env
        .run(&["stats", "--json", "--business", "acme"])?
        .expect_code(0)?
        .json()?;
    let size = std::fs::metadata(&env.db)?.len();
    assert_eq!(stats["fileBytes"], size);
    assert_eq!(stats["customers"], 35);
    assert_eq!(stats["bytesPerCustomer"], size / 35);
    assert_eq!(stats["statusEntries"], 35);
    assert_eq!(stats["perBusiness"][0]["BLOCKED"], 10);

    let totals = env.run(&["stats"])?.expect_code(0)?;
    assert!(totals.stdout.contains("email gram postings"), "{totals:?}");
    env.run(&["stats", "--business", "bad name"])?
        .expect_code(1)?;
    Ok(())
}

#[test]
fn compact_keeps_every_customer_and_never_grows_the_file() -> Result {
    let env = Env::new()?;
    seeded(&env)?;
    // Deletes free space for compact to give back.
    for _ in 0..3 {
        let page = env
            .run(&["list", "--business", "acme", "--limit", "5"])?
            .expect_code(0)?
            .json()?;
        for item in page["items"].as_array().ok_or("items")? {
            let id = item["id"].as_str().ok_or("id")?;
            env.run(&["delete", "--business", "acme", id])?
                .expect_code(0)?;
        }
    }
    let before = std::fs::metadata(&env.db)?.len();
    let run = env.run(&["compact"])?.expect_code(0)?;
    assert!(run.stdout.contains(" bytes"), "{run:?}");
    assert!(std::fs::metadata(&env.db)?.len() <= before);
    let check = env.run(&["check"])?.expect_code(0)?;
    assert!(
        check
            .stdout
            .starts_with("ok: 2 businesses, 20 customers, 20 email index entries"),
        "{check:?}"
    );
    Ok(())
}
