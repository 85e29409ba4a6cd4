//! `customer-store import`, run as a process: JSON Lines and CSV, bad rows (a truncated line,
//! invalid UTF-8, a 10 MB line, field rules, a bad metadata cell), conflicts within the file
//! and with the store under `--on-conflict fail` and `skip`, the rejects and reasons files,
//! and an interrupted import completed by a rerun.

#![cfg(all(feature = "cli", feature = "server"))]

mod cli_support;

use std::io::Write;
use std::time::Duration;

use cli_support::{Env, Result, line, lines};
use serde_json::{Value, json};

fn reasons(env: &Env, name: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(env.path(name))?;
    text.lines().map(|l| Ok(serde_json::from_str(l)?)).collect()
}

fn count(env: &Env, business: &str) -> Result<usize> {
    Ok(env.export(business)?.len())
}

#[test]
fn imports_create_bodies_and_exported_lines() -> Result {
    let env = Env::new()?;
    let exported = json!({
        "id": "cust_cl8z2lh820000a", "externalId": "user_db_yaw123", "email": "yaw@example.com",
        "name": "Yaw Mensah", "phone": "+233249998888", "description": "Enterprise API User",
        "metadata": {"tier": "gold", "seats": 3, "ratio": 0.25, "vip": true},
        "status": "BLOCKED", "currency": "GHS",
        "createdAt": "2025-01-02T03:04:05Z", "updatedAt": "2025-02-03T04:05:06Z"
    });
    let body = json!({"email": "ama@example.com", "name": "Ama", "phone": "+233 24 000 0000",
        "currency": "ghs", "status": "INACTIVE"});
    let text = format!("{exported}\n\n{body}\n{}", line("kofi@example.com", "Kofi"));
    let file = env.file("in.jsonl", text)?;
    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(0)?;
    assert!(
        run.stdout.starts_with("imported 3, skipped 0, failed 0"),
        "{run:?}"
    );
    assert!(!env.path("in.jsonl.rejects").exists());

    let customers = env.export("acme")?;
    assert_eq!(customers.len(), 3);
    let yaw = &customers[0];
    assert_ne!(yaw["id"], exported["id"], "a new id is assigned");
    for field in [
        "externalId",
        "email",
        "name",
        "phone",
        "description",
        "metadata",
        "status",
        "currency",
        "createdAt",
        "updatedAt",
    ] {
        assert_eq!(yaw[field], exported[field], "{field}");
    }
    let ama = &customers[1];
    assert_eq!(ama["status"], "INACTIVE");
    assert_eq!(ama["phone"], "+233240000000");
    assert_eq!(ama["currency"], "GHS");
    assert_eq!(ama["createdAt"], ama["updatedAt"]);
    assert_eq!(customers[2]["status"], "ACTIVE");
    Ok(())
}

/// A row whose createdAt or updatedAt is later than the store's clock is refused (a later
/// update could not move its updatedAt forward); the rows around it are imported.
#[test]
fn a_time_in_the_future_is_refused() -> Result {
    let env = Env::new()?;
    let text = [
        json!({"email": "a@example.com", "name": "A", "createdAt": "2099-01-01T00:00:00Z"}),
        json!({"email": "b@example.com", "name": "B", "createdAt": "2025-01-02T03:04:05Z"}),
        json!({"email": "c@example.com", "name": "C", "createdAt": "2025-01-02T03:04:05Z",
            "updatedAt": "2099-01-01T00:00:00Z"}),
    ]
    .map(|c| c.to_string())
    .join("\n");
    let file = env.file("future.jsonl", text)?;
    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(1)?;
    assert!(
        run.stdout.starts_with("imported 1, skipped 0, failed 2"),
        "{run:?}"
    );
    let reasons = reasons(&env, "future.jsonl.rejects.reasons")?;
    let got: Vec<(u64, &str, &str)> = reasons
        .iter()
        .map(|r| {
            let text = |key: &str| r[key].as_str().unwrap_or("");
            (r["line"].as_u64().unwrap_or(0), text("code"), text("field"))
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "invalid_request", "createdAt"),
            (3, "invalid_request", "updatedAt")
        ]
    );
    let emails: Vec<Value> = env
        .export("acme")?
        .iter()
        .map(|c| c["email"].clone())
        .collect();
    assert_eq!(emails, [json!("b@example.com")]);
    Ok(())
}

#[test]
fn bad_rows_go_to_the_rejects_file_verbatim() -> Result {
    let env = Env::new()?;
    let mut text: Vec<u8> = Vec::new();
    text.extend_from_slice(format!("{}\n", line("a@example.com", "A")).as_bytes()); // 1
    text.extend_from_slice(b"{\"email\": \"b@example.com\", \"name\": \"B\xff\xfe\"}\n"); // 2
    text.extend_from_slice(format!("{}\n", line("not-an-email", "C")).as_bytes()); // 3
    text.extend_from_slice(b"{\"email\": \"d@example.com\", \"name\": \"D\", \"extra\": 1}\n"); // 4
    let huge = format!(
        "{{\"email\": \"e@example.com\", \"name\": \"E\", \"description\": \"{}\"}}",
        "x".repeat(10 << 20)
    );
    text.extend_from_slice(huge.as_bytes()); // 5: a 10 MB line
    text.push(b'\n');
    text.extend_from_slice(format!("{}\n", line("f@example.com", "F")).as_bytes()); // 6
    text.extend_from_slice(b"{\"email\": \"g@example.com\", \"na"); // 7: truncated, no newline
    let file = env.file("bad.jsonl", &text)?;

    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(1)?;
    assert!(
        run.stdout.starts_with("imported 2, skipped 0, failed 5"),
        "{run:?}"
    );
    assert!(run.stderr.contains("line 2: invalid_utf8"), "{run:?}");
    assert!(run.stderr.contains("line 5: line_too_long"), "{run:?}");

    let rejects = std::fs::read(env.path("bad.jsonl.rejects"))?;
    let expected: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    let mut wanted = Vec::new();
    for index in [1, 2, 3, 4, 6] {
        wanted.extend_from_slice(expected[index]);
        wanted.push(b'\n');
    }
    assert!(
        rejects == wanted,
        "the rejects file holds the refused lines verbatim"
    );

    let reasons = reasons(&env, "bad.jsonl.rejects.reasons")?;
    let got: Vec<(u64, &str)> = reasons
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["code"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, "invalid_utf8"),
            (3, "invalid_request"),
            (4, "invalid_json"),
            (5, "line_too_long"),
            (7, "invalid_json"),
        ]
    );
    assert_eq!(reasons[1]["field"], "email");
    assert!(
        reasons[2]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown field `extra`")),
        "{reasons:?}"
    );

    let emails: Vec<Value> = env
        .export("acme")?
        .iter()
        .map(|c| c["email"].clone())
        .collect();
    assert_eq!(emails, [json!("a@example.com"), json!("f@example.com")]);
    Ok(())
}

#[test]
fn duplicates_within_the_file_are_skipped() -> Result {
    let env = Env::new()?;
    // Batches of 2: line 2 repeats line 1 in the same batch, line 5 repeats line 1 from an
    // earlier batch, line 4 repeats an externalId of line 3.
    let text = [
        line("dup@example.com", "First"),
        line("DUP@example.com", "Same email, other case"),
        json!({"email": "x@example.com", "name": "X", "externalId": "ext-1"}).to_string(),
        json!({"email": "y@example.com", "name": "Y", "externalId": "ext-1"}).to_string(),
        line("dup@example.com", "Again"),
        line("z@example.com", "Z"),
    ]
    .join("\n");
    let file = env.file("dups.jsonl", text)?;
    let path = file.to_str().ok_or("path")?;
    let run = env
        .run(&[
            "import",
            "--business",
            "acme",
            "--on-conflict",
            "skip",
            "--batch-size",
            "2",
            path,
        ])?
        .expect_code(0)?;
    assert!(
        run.stdout.starts_with("imported 3, skipped 3, failed 0"),
        "{run:?}"
    );
    let reasons = reasons(&env, "dups.jsonl.rejects.reasons")?;
    let got: Vec<(u64, &str, &str)> = reasons
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["code"].as_str().unwrap_or(""),
                r["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got[0], (2, "email_taken", "email repeats line 1"));
    assert_eq!(
        got[1],
        (4, "external_id_taken", "externalId repeats line 3")
    );
    assert_eq!(got[2].0, 5);
    assert_eq!(got[2].1, "email_taken");
    assert!(
        got[2].2.contains("already used by customer cust_"),
        "{got:?}"
    );
    let names: Vec<Value> = env
        .export("acme")?
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("First"), json!("X"), json!("Z")]);
    Ok(())
}

#[test]
fn on_conflict_fail_stops_and_skip_goes_on() -> Result {
    let env = Env::new()?;
    let first = env.file("first.jsonl", lines(3))?;
    env.run(&[
        "import",
        "--business",
        "acme",
        first.to_str().ok_or("path")?,
    ])?
    .expect_code(0)?;

    // 10 new rows, then user1 (taken), then 5 new rows; batches of 4.
    let mut text = String::new();
    for i in 100..110 {
        text += &(line(&format!("new{i}@example.com"), "New") + "\n");
    }
    text += &(line("user1@example.com", "Taken") + "\n");
    for i in 110..115 {
        text += &(line(&format!("new{i}@example.com"), "New") + "\n");
    }
    let file = env.file("more.jsonl", text)?;
    let path = file.to_str().ok_or("path")?;

    let run = env
        .run(&["import", "--business", "acme", "--batch-size", "4", path])?
        .expect_code(1)?;
    assert!(
        run.stdout.starts_with("imported 10, skipped 0, failed 1"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("stopped at line 11 (--on-conflict fail)"),
        "{run:?}"
    );
    assert_eq!(
        count(&env, "acme")?,
        13,
        "the rows before the conflict are kept"
    );
    let reasons = reasons(&env, "more.jsonl.rejects.reasons")?;
    assert_eq!(reasons.len(), 1);
    assert_eq!(reasons[0]["line"], 11);
    assert_eq!(reasons[0]["code"], "email_taken");

    let run = env
        .run(&[
            "import",
            "--business",
            "acme",
            "--batch-size",
            "4",
            "--on-conflict",
            "skip",
            path,
        ])?
        .expect_code(0)?;
    assert!(
        run.stdout.starts_with("imported 5, skipped 11, failed 0"),
        "{run:?}"
    );
    assert_eq!(count(&env, "acme")?, 18);
    Ok(())
}

#[test]
fn a_rerun_with_skip_completes_a_partial_import() -> Result {
    let env = Env::new()?;
    let all = lines(2500);
    let cut = all
        .lines()
        .take(1200)
        .map(|l| l.to_owned() + "\n")
        .collect::<String>();
    let part = env.file("part.jsonl", cut)?;
    let file = env.file("all.jsonl", &all)?;
    env.run(&["import", "--business", "acme", part.to_str().ok_or("path")?])?
        .expect_code(0)?;

    let run = env
        .run(&[
            "import",
            "--business",
            "acme",
            "--on-conflict",
            "skip",
            "-q",
            file.to_str().ok_or("path")?,
        ])?
        .expect_code(0)?;
    assert!(
        run.stdout
            .starts_with("imported 1300, skipped 1200, failed 0"),
        "{run:?}"
    );
    let emails: Vec<String> = env
        .export("acme")?
        .iter()
        .map(|c| c["email"].as_str().unwrap_or("").to_owned())
        .collect();
    let expected: Vec<String> = (0..2500).map(|i| format!("user{i}@example.com")).collect();
    assert_eq!(emails, expected, "every row once, in file order");
    Ok(())
}

#[test]
fn an_interrupted_import_loses_no_batch_and_a_rerun_completes_it() -> Result {
    let env = Env::new()?;
    let file = env.file("big.jsonl", lines(20_000))?;
    let path = file.to_str().ok_or("path")?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_customer-store"))
        .current_dir(env.dir.path())
        .args(["--db", env.db.to_str().ok_or("path")?])
        .args([
            "import",
            "--business",
            "acme",
            "--batch-size",
            "500",
            "-q",
            path,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    // Once the store file exists (a loaded machine may take longer than the sleep below to
    // get there; killed before it, there is nothing to check), a little more time to commit
    // some batches.
    let started = std::time::Instant::now();
    while !env.db.exists() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    // Killed wherever it is (possibly already done): no committed batch may be lost.
    let _ = child.kill();
    child.wait()?;

    let check = env.run(&["check"])?.expect_code(0)?;
    assert!(check.stdout.starts_with("ok:"), "{check:?}");
    let run = env
        .run(&[
            "import",
            "--business",
            "acme",
            "--on-conflict",
            "skip",
            path,
        ])?
        .expect_code(0)?;
    assert!(run.stdout.contains("failed 0"), "{run:?}");
    let emails: Vec<String> = env
        .export("acme")?
        .iter()
        .map(|c| c["email"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(emails.len(), 20_000);
    let mut sorted = emails.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 20_000, "each row exactly once");
    Ok(())
}

#[test]
fn csv_with_metadata_cells_and_a_bad_one() -> Result {
    let env = Env::new()?;
    let text = "\u{feff}email,name,phone,metadata,status,description,createdAt\r\n\
        a@example.com,Ama,,\"{\"\"tier\"\": \"\"gold\"\", \"\"n\"\": 2}\",BLOCKED,\"two\r\nlines\",2025-01-02T03:04:05Z\r\n\
        b@example.com,Bad meta,,{not json},,,\r\n\
        c@example.com,Nested,,\"{\"\"a\"\": {\"\"b\"\": 1}}\",,,\r\n\
        d@example.com,Too few\r\n\
        e@example.com,Eve,+233240000001,,,,\r\n";
    let file = env.file("in.csv", text)?;
    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(1)?;
    assert!(
        run.stdout.starts_with("imported 2, skipped 0, failed 3"),
        "{run:?}"
    );
    let customers = env.export("acme")?;
    assert_eq!(customers[0]["metadata"], json!({"tier": "gold", "n": 2}));
    assert_eq!(customers[0]["status"], "BLOCKED");
    assert_eq!(customers[0]["description"], "two\r\nlines");
    assert_eq!(customers[0]["createdAt"], "2025-01-02T03:04:05Z");
    assert_eq!(
        customers[0]["phone"],
        Value::Null,
        "an empty cell is absent"
    );
    assert_eq!(customers[1]["phone"], "+233240000001");

    let rejects = std::fs::read_to_string(env.path("in.csv.rejects"))?;
    assert_eq!(
        rejects,
        "\u{feff}email,name,phone,metadata,status,description,createdAt\n\
         b@example.com,Bad meta,,{not json},,,\n\
         c@example.com,Nested,,\"{\"\"a\"\": {\"\"b\"\": 1}}\",,,\n\
         d@example.com,Too few\n"
    );
    let reasons = reasons(&env, "in.csv.rejects.reasons")?;
    assert_eq!(reasons[0]["line"], 4);
    assert_eq!(reasons[0]["field"], "metadata");
    assert_eq!(reasons[1]["field"], "metadata");
    assert_eq!(reasons[2]["code"], "invalid_csv");
    assert_eq!(reasons[2]["line"], 6);
    Ok(())
}

#[test]
fn csv_with_an_unknown_column_is_refused_whole() -> Result {
    let env = Env::new()?;
    let file = env.file("in.csv", "email,name,nickname\na@example.com,A,x\n")?;
    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(1)?;
    assert!(
        run.stderr.starts_with("customer-store: ")
            && run.stderr.contains("unknown column \"nickname\""),
        "{run:?}"
    );
    assert_eq!(run.stderr.lines().count(), 1);
    Ok(())
}

#[test]
fn rejects_path_and_format_options() -> Result {
    let env = Env::new()?;
    // A CSV file without the .csv name, and a rejects file elsewhere.
    let file = env.file("data.txt", "name,email\nA,not-an-email\nB,b@example.com\n")?;
    let rejects = env.path("refused.csv");
    let run = env
        .run(&[
            "import",
            "--business",
            "acme",
            "--format",
            "csv",
            "--rejects",
            rejects.to_str().ok_or("path")?,
            file.to_str().ok_or("path")?,
        ])?
        .expect_code(1)?;
    assert!(run.stdout.contains("rejects: "), "{run:?}");
    assert_eq!(
        std::fs::read_to_string(&rejects)?,
        "name,email\nA,not-an-email\n"
    );
    assert!(env.path("refused.csv.reasons").exists());
    assert!(!env.path("data.txt.rejects").exists());
    Ok(())
}

#[test]
fn errors_and_usage() -> Result {
    let env = Env::new()?;
    let file = env.file("in.jsonl", lines(1))?;
    let path = file.to_str().ok_or("path")?;

    let run = env.run(&["import", path])?.expect_code(2)?;
    assert!(run.stderr.contains("--business"), "{run:?}");

    let run = env
        .run(&["import", "--business", "no spaces", path])?
        .expect_code(1)?;
    assert!(
        run.stderr.starts_with("customer-store: invalid business"),
        "{run:?}"
    );

    let run = env
        .run(&["import", "--business", "acme", "missing.jsonl"])?
        .expect_code(1)?;
    assert!(
        run.stderr.starts_with("customer-store: missing.jsonl: "),
        "{run:?}"
    );

    // A store held by another process.
    let store = customer_store::RedbStore::open(&env.db)?;
    let run = env
        .run(&["import", "--business", "acme", path])?
        .expect_code(1)?;
    assert!(run.stderr.contains("store in use"), "{run:?}");
    drop(store);
    Ok(())
}

#[test]
fn many_bad_rows_do_not_slow_the_import_down() -> Result {
    let env = Env::new()?;
    let mut file = std::fs::File::create(env.path("mixed.jsonl"))?;
    // Every third row breaks a field rule: each is refused on its own.
    for i in 0..6000 {
        let email = if i % 3 == 0 {
            format!("bad{i}")
        } else {
            format!("u{i}@example.com")
        };
        writeln!(file, "{}", line(&email, "N"))?;
    }
    drop(file);
    let started = std::time::Instant::now();
    let run = env
        .run(&["import", "--business", "acme", "-q", "mixed.jsonl"])?
        .expect_code(1)?;
    assert!(
        run.stdout
            .starts_with("imported 4000, skipped 0, failed 2000"),
        "{run:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[test]
fn csv_record_too_long_is_copied_to_the_rejects_file() -> Result {
    let env = Env::new()?;
    let long = format!("b@example.com,B,\"{}\"", "y\n".repeat(1 << 20));
    let text =
        format!("email,name,description\r\na@example.com,A,\r\n{long}\r\nc@example.com,C,\r\n");
    let file = env.file("long.csv", &text)?;
    let run = env
        .run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(1)?;
    assert!(
        run.stdout.starts_with("imported 2, skipped 0, failed 1"),
        "{run:?}"
    );
    let rejects = std::fs::read_to_string(env.path("long.csv.rejects"))?;
    assert!(
        rejects == format!("email,name,description\n{long}\n"),
        "the record, verbatim"
    );
    let reasons = reasons(&env, "long.csv.rejects.reasons")?;
    assert_eq!(reasons[0]["line"], 3);
    assert_eq!(reasons[0]["code"], "line_too_long");
    Ok(())
}

/// A file full of trouble, in batches of 7 and 5,000, against a plain model of the rules
/// applied row by row: a row is refused when it breaks a rule (failed), else when its email
/// (ignoring case) or externalId is held by a stored customer or an earlier imported row (a
/// conflict, email first); otherwise imported, in file order. With `skip` the same rows are
/// imported and refused, with the same codes; with `fail` the import stops at the model's
/// first conflict.
#[test]
fn import_matches_a_row_by_row_model_with_skip_and_fail() -> Result {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let stored: Vec<String> = (0..200).map(|i| format!("p{i}@example.com")).collect();
    let mut rows = Vec::new();
    for _ in 0..3000 {
        let email = match next(10) {
            0 => format!("bad{}", next(50)),
            1 => format!("P{}@Example.com", next(1500)),
            _ => format!("p{}@example.com", next(1500)),
        };
        let mut row = json!({"email": email, "name": "N"});
        if next(10) < 3 {
            row["externalId"] = json!(format!("x{}", next(800)));
        }
        rows.push(row);
    }

    // The model.
    let mut emails: std::collections::HashSet<String> = stored.iter().cloned().collect();
    let mut external_ids = std::collections::HashSet::new();
    let (mut imported, mut refused) = (Vec::new(), Vec::new());
    let mut accepted_lines = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let email = row["email"].as_str().unwrap_or_default().to_lowercase();
        let external_id = row["externalId"].as_str().map(str::to_owned);
        let code = if !email.contains('@') {
            "invalid_request"
        } else if emails.contains(&email) {
            "email_taken"
        } else if external_id
            .as_ref()
            .is_some_and(|x| external_ids.contains(x))
        {
            "external_id_taken"
        } else {
            emails.insert(email);
            external_ids.extend(external_id);
            imported.push(row["email"].clone());
            accepted_lines.push(i as u64 + 1);
            continue;
        };
        refused.push((i as u64 + 1, code));
    }
    let failed = refused
        .iter()
        .filter(|(_, c)| *c == "invalid_request")
        .count();
    let skipped = refused.len() - failed;

    let text: String = rows.iter().map(|r| r.to_string() + "\n").collect();
    for batch in ["7", "5000"] {
        let env = Env::new()?;
        let first: String = stored.iter().map(|e| line(e, "Stored") + "\n").collect();
        env.file("stored.jsonl", first)?;
        env.run(&["import", "--business", "acme", "stored.jsonl"])?
            .expect_code(0)?;
        env.file("trouble.jsonl", &text)?;
        let run = env.run(&[
            "import",
            "--business",
            "acme",
            "--on-conflict",
            "skip",
            "--batch-size",
            batch,
            "-q",
            "trouble.jsonl",
        ])?;
        let summary = format!(
            "imported {}, skipped {skipped}, failed {failed}",
            imported.len()
        );
        assert!(run.stdout.starts_with(&summary), "batch {batch}: {run:?}");
        let exported = env.export("acme")?;
        let got: Vec<Value> = exported[stored.len()..]
            .iter()
            .map(|c| c["email"].clone())
            .collect();
        assert!(got == imported, "batch {batch}: the imported rows differ");
        let reasons = reasons(&env, "trouble.jsonl.rejects.reasons")?;
        let got: Vec<(u64, String)> = reasons
            .iter()
            .map(|r| {
                let line = r["line"].as_u64().unwrap_or(0);
                (line, r["code"].as_str().unwrap_or("").to_owned())
            })
            .collect();
        let want: Vec<(u64, String)> = refused.iter().map(|(l, c)| (*l, (*c).to_owned())).collect();
        let diff: Vec<_> = got
            .iter()
            .zip(&want)
            .filter(|(g, w)| g != w)
            .take(5)
            .collect();
        assert!(
            got == want,
            "batch {batch}: the refused rows differ: {diff:?}"
        );
    }

    // With `fail`: the import stops at the model's first conflict.
    let (stop, _) = refused
        .iter()
        .find(|(_, code)| *code != "invalid_request")
        .ok_or("no conflict")?;
    let before = accepted_lines.iter().filter(|&&l| l < *stop).count();
    let failed = refused.iter().filter(|(l, _)| l <= stop).count();
    for batch in ["7", "5000"] {
        let env = Env::new()?;
        let first: String = stored.iter().map(|e| line(e, "Stored") + "\n").collect();
        env.file("stored.jsonl", first)?;
        env.run(&["import", "--business", "acme", "stored.jsonl"])?
            .expect_code(0)?;
        env.file("trouble.jsonl", &text)?;
        let run = env
            .run(&[
                "import",
                "--business",
                "acme",
                "--batch-size",
                batch,
                "-q",
                "trouble.jsonl",
            ])?
            .expect_code(1)?;
        let summary = format!("imported {before}, skipped 0, failed {failed} ");
        assert!(run.stdout.starts_with(&summary), "batch {batch}: {run:?}");
        assert!(
            run.stderr.contains(&format!("stopped at line {stop} ")),
            "batch {batch}: {run:?}"
        );
        assert_eq!(env.export("acme")?.len(), stored.len() + before);
    }
    Ok(())
}
