//! The rejects file of an import (the refused rows, verbatim) and its companion `.reasons`
//! file (one JSON object per refused row, in the same order).

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::read::Raw;

/// The reasons file that goes with a rejects file: its name with `.reasons` appended.
pub(crate) fn reasons_path(rejects: &Path) -> PathBuf {
    let mut name = rejects.as_os_str().to_owned();
    name.push(".reasons");
    PathBuf::from(name)
}

/// One line of the reasons file.
#[derive(Serialize)]
pub(crate) struct Reason<'a> {
    /// The line of the input file the row starts on.
    pub line: u64,
    pub code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
    pub message: &'a str,
}

/// The rejects and reasons files, created at the first refused row.
pub(crate) struct Rejects {
    path: PathBuf,
    reasons: PathBuf,
    /// The input file, to copy rows that were too long to keep in memory.
    input: PathBuf,
    /// A CSV file's header, written first so that the rejects file can be imported again.
    header: Option<Vec<u8>>,
    files: Option<(BufWriter<File>, BufWriter<File>)>,
    /// Rows written so far.
    pub count: u64,
}

impl Rejects {
    pub(crate) fn new(path: PathBuf, input: PathBuf, header: Option<Vec<u8>>) -> Rejects {
        Rejects {
            reasons: reasons_path(&path),
            path,
            input,
            header,
            files: None,
            count: 0,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn reasons_path(&self) -> &Path {
        &self.reasons
    }

    /// Creates the two files (and writes the CSV header) if that is not done yet.
    fn open(&mut self) -> Result<(), String> {
        if self.files.is_some() {
            return Ok(());
        }
        let create = |path: &Path| {
            File::create(path)
                .map(|f| BufWriter::with_capacity(64 * 1024, f))
                .map_err(|e| format!("{}: {e}", path.display()))
        };
        let mut rows = create(&self.path)?;
        let reasons = create(&self.reasons)?;
        if let Some(header) = &self.header {
            rows.write_all(header)
                .and_then(|()| rows.write_all(b"\n"))
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        self.files = Some((rows, reasons));
        Ok(())
    }

    /// Writes one refused row: its text (`kept`, or copied from the input file when it was too
    /// long to keep) and its reason.
    pub(crate) fn write(
        &mut self,
        raw: &Raw,
        kept: &[u8],
        reason: &Reason<'_>,
    ) -> Result<(), String> {
        self.open()?;
        let Some((rows, reasons)) = &mut self.files else {
            return Err("the rejects file is not open".to_owned());
        };
        let fail = |e: io::Error| format!("{}: {e}", self.path.display());
        match raw {
            Raw::Kept(_) => rows.write_all(kept).map_err(fail)?,
            Raw::TooLong {
                offset,
                len,
                prefix,
            } => {
                if copy_from(&self.input, *offset, *len, rows).is_err() {
                    // The input cannot be read again (a pipe): keep the first bytes.
                    rows.write_all(prefix).map_err(fail)?;
                }
            }
        }
        rows.write_all(b"\n").map_err(fail)?;
        serde_json::to_writer(&mut *reasons, reason)
            .map_err(io::Error::from)
            .and_then(|()| reasons.write_all(b"\n"))
            .map_err(|e| format!("{}: {e}", self.reasons.display()))?;
        self.count += 1;
        Ok(())
    }

    /// Flushes both files, so that an interrupted import leaves whole rows in them.
    pub(crate) fn flush(&mut self) -> Result<(), String> {
        if let Some((rows, reasons)) = &mut self.files {
            rows.flush()
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
            reasons
                .flush()
                .map_err(|e| format!("{}: {e}", self.reasons.display()))?;
        }
        Ok(())
    }
}

/// Copies `len` bytes at `offset` of the file at `path` to `out`, in bounded memory.
fn copy_from(path: &Path, offset: u64, len: u64, out: &mut impl Write) -> io::Result<()> {
    let mut file = File::open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    file.seek(SeekFrom::Start(offset))?;
    let copied = io::copy(&mut file.take(len), out)?;
    if copied == len {
        Ok(())
    } else {
        Err(io::Error::from(io::ErrorKind::UnexpectedEof))
    }
}
