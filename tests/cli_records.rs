//! `customer-store get | list | update | delete`, run as a process: the API's filters, PATCH
//! bodies and field flags, the seed's JSON on stdout, and errors with their exit statuses.

#![cfg(all(feature = "cli", feature = "server"))]

mod cli_support;

use cli_support::{Env, Result};
use serde_json::{Value, json};

/// A store with three customers of `acme` (yaw, ama, kofi) and one of `other`; answers yaw's id.
fn seeded(env: &Env) -> Result<String> {
    let text = [
        json!({"email": "yaw@example.com", "name": "Yaw Mensah", "phone": "+233249998888",
            "externalId": "user_db_yaw123", "description": "Enterprise API User", "currency": "GHS"}),
        json!({"email": "ama@example.com", "name": "Ama", "status": "BLOCKED"}),
        json!({"email": "kofi@example.org", "name": "Kofi", "status": "BLOCKED"}),
    ]
    .map(|c| c.to_string())
    .join("\n");
    let file = env.file("seed.jsonl", text)?;
    env.run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(0)?;
    let other = env.file(
        "other.jsonl",
        json!({"email": "yaw@example.com", "name": "Other Yaw"}).to_string(),
    )?;
    env.run(&[
        "import",
        "--business",
        "other",
        other.to_str().ok_or("path")?,
    ])?
    .expect_code(0)?;
    let yaw = env.run(&["get", "--business", "acme", "--email", "YAW@example.com"])?;
    let yaw = yaw.expect_code(0)?.json()?;
    Ok(yaw["id"].as_str().ok_or("id")?.to_owned())
}

#[test]
fn get_by_id_email_and_external_id() -> Result {
    let env = Env::new()?;
    let id = seeded(&env)?;
    let by_id = env
        .run(&["get", "--business", "acme", &id])?
        .expect_code(0)?
        .json()?;
    // The field order on stdout is the seed's.
    let run = env.run(&["get", "--business", "acme", &id])?;
    let at = |field: &str| run.stdout.find(&format!("\"{field}\":"));
    assert!(
        at("id") < at("externalId") && at("createdAt") < at("updatedAt"),
        "{run:?}"
    );
    let mut fields: Vec<&String> = by_id.as_object().ok_or("object")?.keys().collect();
    fields.sort();
    let mut expected = [
        "id",
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
    ];
    expected.sort_unstable();
    assert_eq!(fields, expected);
    assert_eq!(by_id["name"], "Yaw Mensah");
    assert_eq!(by_id["metadata"], Value::Null);
    let by_external = env
        .run(&[
            "get",
            "--business",
            "acme",
            "--external-id",
            "user_db_yaw123",
        ])?
        .expect_code(0)?
        .json()?;
    assert_eq!(by_external, by_id);

    // Another business's record is not found, nor is an unknown id.
    let run = env
        .run(&["get", "--business", "other", &id])?
        .expect_code(1)?;
    assert_eq!(
        run.stderr,
        format!("customer-store: no customer with id {id} in business other\n")
    );
    env.run(&["get", "--business", "acme", "--email", "nobody@example.com"])?
        .expect_code(1)?;
    // Exactly one key.
    env.run(&["get", "--business", "acme"])?.expect_code(2)?;
    env.run(&[
        "get",
        "--business",
        "acme",
        &id,
        "--email",
        "yaw@example.com",
    ])?
    .expect_code(2)?;
    Ok(())
}

#[test]
fn list_with_the_api_filters() -> Result {
    let env = Env::new()?;
    seeded(&env)?;
    let page = env
        .run(&[
            "list",
            "--business",
            "acme",
            "--email",
            "example.com",
            "--limit",
            "2",
        ])?
        .expect_code(0)?
        .json()?;
    let emails: Vec<&str> = page["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(emails, ["yaw@example.com", "ama@example.com"]);
    assert_eq!(page["hasMore"], false, "kofi is at example.org");
    assert_eq!(page["nextCursor"], page["items"][1]["id"]);

    let blocked = env
        .run(&[
            "list",
            "--business",
            "acme",
            "--status",
            "BLOCKED",
            "--limit",
            "1",
        ])?
        .expect_code(0)?
        .json()?;
    assert_eq!(blocked["items"][0]["email"], "ama@example.com");
    assert_eq!(blocked["hasMore"], true);
    let cursor = blocked["nextCursor"].as_str().ok_or("cursor")?;
    let next = env
        .run(&[
            "list",
            "--business",
            "acme",
            "--status",
            "BLOCKED",
            "--cursor",
            cursor,
        ])?
        .expect_code(0)?
        .json()?;
    assert_eq!(next["items"][0]["email"], "kofi@example.org");
    assert_eq!(next["hasMore"], false);

    // A limit outside 1-100 is a malformed argument (exit 2), as one that is not a number.
    for limit in ["0", "101", "abc"] {
        let run = env
            .run(&["list", "--business", "acme", "--limit", limit])?
            .expect_code(2)?;
        assert!(run.stderr.contains("--limit"), "{run:?}");
    }
    let run = env
        .run(&["list", "--business", "acme", "--cursor", "nope"])?
        .expect_code(1)?;
    assert!(
        run.stderr.starts_with("customer-store: invalid cursor"),
        "{run:?}"
    );
    env.run(&["list", "--business", "acme", "--status", "GONE"])?
        .expect_code(2)?;
    Ok(())
}

#[test]
fn update_with_a_patch_body_or_flags() -> Result {
    let env = Env::new()?;
    let id = seeded(&env)?;
    let updated = env
        .run(&[
            "update",
            "--business",
            "acme",
            &id,
            "--json",
            r#"{"name": "Yaw Mensah Jr.", "status": "ACTIVE", "phone": null, "metadata": {"tier": "gold"}}"#,
        ])?
        .expect_code(0)?
        .json()?;
    assert_eq!(updated["name"], "Yaw Mensah Jr.");
    assert_eq!(updated["phone"], Value::Null);
    assert_eq!(updated["metadata"], json!({"tier": "gold"}));
    assert_eq!(
        updated["externalId"], "user_db_yaw123",
        "absent = unchanged"
    );

    let flagged = env
        .run(&[
            "update",
            "--business",
            "acme",
            &id,
            "--status",
            "INACTIVE",
            "--currency",
            "usd",
            "--clear",
            "metadata",
            "--clear",
            "externalId",
        ])?
        .expect_code(0)?
        .json()?;
    assert_eq!(flagged["status"], "INACTIVE");
    assert_eq!(flagged["currency"], "USD");
    assert_eq!(flagged["metadata"], Value::Null);
    assert_eq!(flagged["externalId"], Value::Null);

    let from_stdin = env
        .run_with_input(
            &["update", "--business", "acme", &id, "--json", "-"],
            Some(br#"{"description": "from stdin"}"#),
        )?
        .expect_code(0)?
        .json()?;
    assert_eq!(from_stdin["description"], "from stdin");

    // Refusals: a field rule, a conflict, an unknown field, an unknown id.
    let run = env
        .run(&[
            "update",
            "--business",
            "acme",
            &id,
            "--email",
            "ama@EXAMPLE.com",
        ])?
        .expect_code(1)?;
    assert!(
        run.stderr
            .contains("email is already used by customer cust_"),
        "{run:?}"
    );
    // A --json body that is refused changes nothing.
    let refused_json = |body: &str| -> Result<String> {
        let before = env.run(&["get", "--business", "acme", &id])?;
        let run = env
            .run(&["update", "--business", "acme", &id, "--json", body])?
            .expect_code(1)?;
        let after = env.run(&["get", "--business", "acme", &id])?;
        assert_eq!(before.stdout, after.stdout, "{body}");
        Ok(run.stderr)
    };
    let stderr = refused_json(r#"{"nickname": "x"}"#)?;
    assert!(stderr.contains("unknown field `nickname`"), "{stderr}");
    // The fields by position, as serde's derived structs would otherwise take them.
    let stderr = refused_json(r#"["array@example.com", "Array Person"]"#)?;
    assert!(stderr.contains("expected a JSON object"), "{stderr}");
    let stderr = refused_json(r#"{"name": null}"#)?;
    assert!(
        stderr.starts_with("customer-store: invalid name"),
        "{stderr}"
    );
    env.run(&["update", "--business", "other", &id, "--name", "X"])?
        .expect_code(1)?;
    // Usage: nothing to change, --json with a flag, or a field both set and cleared (which
    // would drop one of the two); nothing changes.
    env.run(&["update", "--business", "acme", &id])?
        .expect_code(2)?;
    let before = env.run(&["get", "--business", "acme", &id])?;
    for (flag, value, field) in [
        ("--phone", "+233240000099", "phone"),
        ("--metadata", r#"{"a": 1}"#, "metadata"),
        ("--external-id", "ext_9", "external-id"),
    ] {
        let run = env
            .run(&[
                "update",
                "--business",
                "acme",
                &id,
                flag,
                value,
                "--clear",
                field,
            ])?
            .expect_code(2)?;
        assert!(run.stderr.contains("cannot be used together"), "{run:?}");
    }
    let after = env.run(&["get", "--business", "acme", &id])?;
    assert_eq!(before.stdout, after.stdout);
    env.run(&[
        "update",
        "--business",
        "acme",
        &id,
        "--json",
        "{}",
        "--name",
        "X",
    ])?
    .expect_code(2)?;
    Ok(())
}

#[test]
fn delete_prints_the_api_answer_and_frees_the_email() -> Result {
    let env = Env::new()?;
    let id = seeded(&env)?;
    let run = env
        .run(&["delete", "--business", "acme", &id])?
        .expect_code(0)?;
    // The API's order: id first.
    assert!(
        run.stdout.find("\"id\"") < run.stdout.find("\"deleted\""),
        "{run:?}"
    );
    let deleted = run.json()?;
    assert_eq!(deleted, json!({"id": id, "deleted": true}));
    env.run(&["get", "--business", "acme", &id])?
        .expect_code(1)?;
    let run = env
        .run(&["delete", "--business", "acme", &id])?
        .expect_code(1)?;
    assert!(run.stderr.contains("no customer with id"), "{run:?}");
    // The other business keeps its yaw; acme can have a new one.
    env.run(&["get", "--business", "other", "--email", "yaw@example.com"])?
        .expect_code(0)?;
    let file = env.file(
        "again.jsonl",
        json!({"email": "yaw@example.com", "name": "Yaw"}).to_string(),
    )?;
    env.run(&["import", "--business", "acme", file.to_str().ok_or("path")?])?
        .expect_code(0)?;
    Ok(())
}

#[test]
fn delete_damaged_removes_a_record_that_cannot_be_read() -> Result {
    let env = Env::new()?;
    let id = seeded(&env)?;
    // Damage yaw's record (the description is in no index, so only the record holds it).
    let mut bytes = std::fs::read(&env.db)?;
    let needle = b"Enterprise API User";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or("the description is not in the file")?;
    bytes[at] ^= 0x20;
    std::fs::write(&env.db, bytes)?;

    let run = env
        .run(&["get", "--business", "acme", &id])?
        .expect_code(1)?;
    assert!(run.stderr.contains("corrupt"), "{run:?}");
    // `check` names the record, and the command that removes it.
    let run = env.run(&["check"])?.expect_code(1)?;
    assert!(run.stdout.contains("1 damaged record(s)"), "{run:?}");
    let command = format!(
        "customer-store delete --db {} --business=acme --damaged {id}",
        env.db.display()
    );
    assert!(run.stdout.contains(&command), "{run:?}");
    let run = env
        .run(&["delete", "--business", "acme", &id])?
        .expect_code(1)?;
    assert!(run.stderr.contains("corrupt"), "{run:?}");
    assert!(run.stderr.contains("delete --damaged"), "{run:?}");

    let run = env
        .run(&["delete", "--business", "acme", "--damaged", &id])?
        .expect_code(0)?;
    assert_eq!(run.json()?, json!({"id": id, "deleted": true}));
    env.run(&["check"])?.expect_code(0)?;
    env.run(&["get", "--business", "acme", &id])?
        .expect_code(1)?;
    let run = env.run(&["list", "--business", "acme"])?.expect_code(0)?;
    let emails: Vec<Value> = run.json()?["items"]
        .as_array()
        .ok_or("items")?
        .iter()
        .map(|c| c["email"].clone())
        .collect();
    assert_eq!(
        emails,
        [json!("ama@example.com"), json!("kofi@example.org")]
    );

    // A record that checks out is refused, and stays.
    let kofi = env.run(&["get", "--business", "acme", "--email", "kofi@example.org"])?;
    let kofi = kofi.expect_code(0)?.json()?;
    let kofi = kofi["id"].as_str().ok_or("id")?;
    let run = env.run(&["delete", "--business", "acme", "--damaged", kofi])?;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("not damaged"), "{run:?}");
    env.run(&["get", "--business", "acme", kofi])?
        .expect_code(0)?;
    Ok(())
}

#[test]
fn commands_on_a_missing_store_fail_cleanly() -> Result {
    let env = Env::new()?;
    for args in [
        &["get", "--business", "acme", "cust_00000000000000"][..],
        &["list", "--business", "acme"],
        &["delete", "--business", "acme", "cust_00000000000000"],
        &["stats"],
        &["check"],
    ] {
        let run = env.run(args)?.expect_code(1)?;
        assert!(run.stderr.starts_with("customer-store: "), "{run:?}");
        assert!(run.stderr.contains("no such store file"), "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    }
    assert!(!env.db.exists(), "no store file was created");
    // A directory where the store file should be is named as one.
    let dir = env.path("a-directory");
    std::fs::create_dir(&dir)?;
    for args in [&["check"][..], &["list", "--business", "acme"]] {
        let run = cli_support::run_in(&dir, &dir, args, None)?.expect_code(1)?;
        assert!(
            run.stderr.contains("a directory, not a store file"),
            "{run:?}"
        );
    }
    Ok(())
}
