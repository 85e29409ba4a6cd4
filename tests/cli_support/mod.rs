//! Running the `customer-store` binary from the CLI tests, and reading its output.

#![allow(dead_code, reason = "each test binary uses a part of the helpers")]

use std::path::{Path, PathBuf};

pub type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// What a run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as one JSON value.
    pub fn json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::from_str(&self.stdout)?)
    }

    /// Fails unless the exit status is `code`, showing the output.
    pub fn expect_code(self, code: i32) -> Result<Run> {
        if self.code == code {
            Ok(self)
        } else {
            Err(format!("expected exit status {code}, got {self:#?}").into())
        }
    }
}

/// A temporary directory with a store file in it.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
}

impl Env {
    pub fn new() -> Result<Env> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("customers.redb");
        Ok(Env { dir, db })
    }

    /// A path in the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file in the directory and answers its path.
    pub fn file(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<PathBuf> {
        let path = self.path(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Runs the binary with `--db` set to this store, in the directory.
    pub fn run(&self, args: &[&str]) -> Result<Run> {
        self.run_with_input(args, None)
    }

    pub fn run_with_input(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Run> {
        run_in(self.dir.path(), &self.db, args, stdin)
    }

    /// Every line `export` prints for `business`, parsed.
    pub fn export(&self, business: &str) -> Result<Vec<serde_json::Value>> {
        let run = self
            .run(&["export", "--business", business])?
            .expect_code(0)?;
        run.stdout
            .lines()
            .map(|line| Ok(serde_json::from_str(line)?))
            .collect()
    }
}

pub fn run_in(dir: &Path, db: &Path, args: &[&str], stdin: Option<&[u8]>) -> Result<Run> {
    let mut command = assert_cmd::Command::new(env!("CARGO_BIN_EXE_customer-store"));
    command.current_dir(dir).arg("--db").arg(db).args(args);
    if let Some(input) = stdin {
        command.write_stdin(input.to_vec());
    }
    let output = command.output()?;
    Ok(Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A create body as one JSON line.
pub fn line(email: &str, name: &str) -> String {
    serde_json::json!({"email": email, "name": name}).to_string()
}

/// `n` create bodies, one per line, with emails `user{i}@example.com`.
pub fn lines(n: usize) -> String {
    (0..n)
        .map(|i| line(&format!("user{i}@example.com"), &format!("User {i}")) + "\n")
        .collect()
}

/// The fields of an exported customer other than its id, for comparing two stores.
pub fn without_id(customer: &serde_json::Value) -> serde_json::Value {
    let mut customer = customer.clone();
    if let Some(object) = customer.as_object_mut() {
        object.remove("id");
    }
    customer
}
