//! Reading an import file one bounded row at a time: JSON Lines or CSV.
//!
//! A row's text is appended to its batch's buffer, so a batch of a thousand rows costs a few
//! allocations. A row longer than [`MAX_ROW_BYTES`] is never held in memory: the rest of it is
//! skipped, and only its place in the file is kept (the rejects file copies it from there).

use std::io::{self, BufRead, Read};
use std::ops::Range;

use customer_store::server::JsonObject;
use customer_store::{ImportCustomer, MetadataObject, NewCustomer, Status};
use jiff::Timestamp;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::cli::format::FIELDS;

/// The longest row read into memory (its text, without the line end): 1 MiB.
pub(crate) const MAX_ROW_BYTES: usize = 1 << 20;

/// How many bytes of a row that is too long are kept, for a rejects file that cannot copy it.
const KEPT_PREFIX: usize = 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a row was refused before it reached the store.
#[derive(Debug, Clone)]
pub(crate) struct Bad {
    /// `invalid_json`, `invalid_csv`, `invalid_utf8`, `line_too_long` or `invalid_request`.
    pub code: &'static str,
    /// The field at fault, where one is.
    pub field: Option<String>,
    /// What is wrong, in words.
    pub message: String,
}

impl Bad {
    fn new(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Bad {
        Bad {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Where a row's original text is.
#[derive(Debug)]
pub(crate) enum Raw {
    /// In the batch's buffer, without the line end.
    Kept(Range<usize>),
    /// Too long to keep: `len` bytes at `offset` in the file, of which `prefix` are the first.
    TooLong {
        offset: u64,
        len: u64,
        prefix: Vec<u8>,
    },
}

/// One row of the file.
#[derive(Debug)]
pub(crate) struct Row {
    /// The line of the file the row starts on (1-based).
    pub line: u64,
    pub raw: Raw,
    pub parsed: Result<ImportCustomer, Bad>,
}

/// Consecutive rows of the file, with their text.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The rows' text, one after the other.
    pub text: Vec<u8>,
    pub rows: Vec<Row>,
    /// How far into the file the batch's last row ends, in bytes.
    pub offset: u64,
}

impl Batch {
    /// The original text of a row that was kept.
    pub(crate) fn text_of<'a>(&'a self, raw: &'a Raw) -> &'a [u8] {
        match raw {
            Raw::Kept(range) => self.text.get(range.clone()).unwrap_or_default(),
            Raw::TooLong { prefix, .. } => prefix,
        }
    }
}

/// A source of rows.
pub(crate) trait Rows: Send {
    /// Reads the next row into `batch`; `false` at the end of the file.
    fn next_into(&mut self, batch: &mut Batch) -> io::Result<bool>;
    /// The bytes read so far.
    fn offset(&self) -> u64;
}

/// Skips the rest of a line; answers the bytes skipped and whether a newline ended them.
fn skip_line(input: &mut impl BufRead) -> io::Result<(u64, bool)> {
    let mut skipped = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((skipped, false));
        }
        if let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            input.consume(pos + 1);
            return Ok((skipped + pos as u64 + 1, true));
        }
        let n = buf.len();
        input.consume(n);
        skipped += n as u64;
    }
}

fn is_eol(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

fn too_long(len: u64) -> Bad {
    Bad::new(
        "line_too_long",
        None,
        format!("the row is {len} bytes long, more than the limit of {MAX_ROW_BYTES}"),
    )
}

fn prefix_of(text: &[u8]) -> Vec<u8> {
    text.get(..KEPT_PREFIX).unwrap_or(text).to_vec()
}

/// A JSON Lines file: one create body or exported customer per line.
pub(crate) struct JsonLines<R> {
    input: R,
    line: u64,
    offset: u64,
}

impl<R: BufRead + Send> JsonLines<R> {
    pub(crate) fn new(input: R) -> Self {
        JsonLines {
            input,
            line: 0,
            offset: 0,
        }
    }
}

impl<R: BufRead + Send> Rows for JsonLines<R> {
    fn next_into(&mut self, batch: &mut Batch) -> io::Result<bool> {
        loop {
            let start = batch.text.len();
            let limit = MAX_ROW_BYTES as u64 + 1;
            let n = (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut batch.text)?;
            if n == 0 {
                return Ok(false);
            }
            self.line += 1;
            let offset = self.offset;
            self.offset += n as u64;
            let complete = batch.text.last() == Some(&b'\n');
            let end = if complete {
                batch.text.len() - 1
            } else {
                batch.text.len()
            };
            if !complete && n > MAX_ROW_BYTES {
                let (rest, newline) = skip_line(&mut self.input)?;
                self.offset += rest;
                let len = n as u64 + rest - u64::from(newline);
                let prefix = prefix_of(&batch.text[start..]);
                batch.text.truncate(start);
                batch.rows.push(Row {
                    line: self.line,
                    raw: Raw::TooLong {
                        offset,
                        len,
                        prefix,
                    },
                    parsed: Err(too_long(len)),
                });
                return Ok(true);
            }
            let mut body = &batch.text[start..end];
            if self.line == 1 {
                body = body.strip_prefix(BOM).unwrap_or(body);
            }
            if body.iter().all(u8::is_ascii_whitespace) {
                // A blank line is no row.
                batch.text.truncate(start);
                continue;
            }
            let parsed = parse_json(body);
            batch.rows.push(Row {
                line: self.line,
                raw: Raw::Kept(start..end),
                parsed,
            });
            return Ok(true);
        }
    }

    fn offset(&self) -> u64 {
        self.offset
    }
}

/// A line of a JSON Lines file: a create body, or an exported customer (whose `id` is ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct JsonRow {
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    email: String,
    name: String,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    metadata: Option<MetadataObject>,
    #[serde(default)]
    status: Option<Status>,
    #[serde(default)]
    created_at: Option<Timestamp>,
    #[serde(default)]
    updated_at: Option<Timestamp>,
}

fn utf8<'a>(bytes: &'a [u8], field: Option<&str>) -> Result<&'a str, Bad> {
    std::str::from_utf8(bytes).map_err(|e| {
        let message = match field {
            Some(field) => format!("the {field} cell is not valid UTF-8: {e}"),
            None => format!("the line is not valid UTF-8: {e}"),
        };
        Bad::new("invalid_utf8", field, message)
    })
}

fn parse_json(body: &[u8]) -> Result<ImportCustomer, Bad> {
    let text = utf8(body, None)?;
    let JsonObject(row): JsonObject<JsonRow> = serde_json::from_str(text).map_err(|e| {
        // The row is one line: its column says where, serde's "line 1" would mislead.
        let message = e.to_string();
        let message = match message.rsplit_once(" at line ") {
            Some((what, _)) if e.line() > 0 => format!("{what} (at column {})", e.column()),
            _ => message,
        };
        Bad::new("invalid_json", None, message)
    })?;
    Ok(ImportCustomer {
        customer: NewCustomer {
            email: row.email,
            name: row.name,
            phone: row.phone,
            external_id: row.external_id,
            description: row.description,
            currency: row.currency,
            metadata: row.metadata.map(|m| m.0),
        },
        status: row.status,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A CSV column: one of the eleven fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Id,
    ExternalId,
    Email,
    Name,
    Phone,
    Description,
    Metadata,
    Status,
    Currency,
    CreatedAt,
    UpdatedAt,
}

impl Column {
    const ALL: [Column; 11] = [
        Column::Id,
        Column::ExternalId,
        Column::Email,
        Column::Name,
        Column::Phone,
        Column::Description,
        Column::Metadata,
        Column::Status,
        Column::Currency,
        Column::CreatedAt,
        Column::UpdatedAt,
    ];

    fn name(self) -> &'static str {
        let index = Column::ALL.iter().position(|&c| c == self).unwrap_or(0);
        FIELDS[index]
    }

    fn named(name: &str) -> Option<Column> {
        FIELDS
            .iter()
            .position(|&field| field == name)
            .and_then(|index| Column::ALL.get(index).copied())
    }
}

/// A record of a CSV file, as read by [`CsvRows::read_record`].
struct Record {
    line: u64,
    raw: Raw,
    /// Whether the record fit in memory (its fields are in `CsvRows::fields`).
    kept: bool,
    /// The end of each field in `CsvRows::fields`.
    fields: usize,
}

/// A CSV file: a header of field names, then one customer per record.
pub(crate) struct CsvRows<R> {
    input: R,
    reader: csv_core::Reader,
    /// Lines read so far.
    line: u64,
    offset: u64,
    columns: Vec<Column>,
    /// The unescaped fields of the current record, and where each ends.
    fields: Vec<u8>,
    ends: Vec<usize>,
}

impl<R: BufRead + Send> CsvRows<R> {
    /// Reads the header. Answers the reader and the header's text (for the rejects file).
    ///
    /// # Errors
    ///
    /// A header that is missing, too long, not UTF-8, or names a column twice, a column that
    /// is not a customer field, or lacks `email` or `name`.
    pub(crate) fn new(input: R) -> Result<(Self, Vec<u8>), String> {
        let mut rows = CsvRows {
            input,
            reader: csv_core::Reader::new(),
            line: 1,
            offset: 0,
            columns: Vec::new(),
            fields: vec![0; 4096],
            ends: vec![0; 16],
        };
        let mut text = Vec::new();
        let record = rows
            .read_record(&mut text)
            .map_err(|e| format!("reading the header: {e}"))?
            .ok_or("the file is empty: a CSV file starts with a header line")?;
        if !record.kept {
            return Err("the header line is too long".to_owned());
        }
        let mut columns = Vec::with_capacity(record.fields);
        for index in 0..record.fields {
            let mut cell =
                utf8(rows.cell(index), None).map_err(|e| format!("header: {}", e.message))?;
            if index == 0 {
                cell = cell.strip_prefix('\u{feff}').unwrap_or(cell);
            }
            let cell = cell.trim();
            let column = Column::named(cell).ok_or_else(|| {
                format!(
                    "header: unknown column {cell:?} (the columns are {})",
                    FIELDS.join(", ")
                )
            })?;
            if columns.contains(&column) {
                return Err(format!("header: column {cell:?} appears twice"));
            }
            columns.push(column);
        }
        for required in [Column::Email, Column::Name] {
            if !columns.contains(&required) {
                return Err(format!("header: no {:?} column", required.name()));
            }
        }
        rows.columns = columns;
        let header = rows.text_of(&text, &record.raw).to_vec();
        Ok((rows, header))
    }

    fn text_of<'a>(&self, text: &'a [u8], raw: &Raw) -> &'a [u8] {
        match raw {
            Raw::Kept(range) => text.get(range.clone()).unwrap_or_default(),
            Raw::TooLong { .. } => &[],
        }
    }

    /// The unescaped text of field `index` of the current record.
    fn cell(&self, index: usize) -> &[u8] {
        let start = if index == 0 {
            0
        } else {
            self.ends.get(index - 1).copied().unwrap_or(0)
        };
        let end = self.ends.get(index).copied().unwrap_or(start);
        self.fields.get(start..end).unwrap_or_default()
    }

    /// Reads the next record, appending its text to `text`; `None` at the end of the file.
    fn read_record(&mut self, text: &mut Vec<u8>) -> io::Result<Option<Record>> {
        let start = text.len();
        let offset = self.offset;
        let first_line = self.line;
        let mut consumed_total = 0u64;
        let (mut out, mut ends) = (0usize, 0usize);
        let mut prefix: Option<Vec<u8>> = None;
        // How many line-end bytes the text read so far ends with.
        let mut tail = 0u64;
        loop {
            let input = self.input.fill_buf()?;
            let at_end = input.is_empty();
            let (result, nin, nout, nend) =
                self.reader
                    .read_record(input, &mut self.fields[out..], &mut self.ends[ends..]);
            let consumed = &input[..nin];
            let newlines = consumed.iter().filter(|&&b| b == b'\n').count();
            let ends_with = consumed.iter().rev().take_while(|&&b| is_eol(b)).count();
            tail = if ends_with == nin {
                tail + nin as u64
            } else {
                ends_with as u64
            };
            match &mut prefix {
                None if text.len() - start + nin > MAX_ROW_BYTES => {
                    let mut kept = text.split_off(start);
                    kept.extend_from_slice(consumed);
                    prefix = Some(prefix_of(&kept));
                }
                None => text.extend_from_slice(consumed),
                Some(_) => {}
            }
            self.input.consume(nin);
            self.line += newlines as u64;
            consumed_total += nin as u64;
            out += nout;
            ends += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty if at_end => return Ok(None),
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => {
                    if prefix.is_some() {
                        out = 0;
                    } else {
                        let len = self.fields.len() * 2;
                        self.fields.resize(len, 0);
                    }
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    if prefix.is_some() {
                        ends = 0;
                    } else {
                        let len = self.ends.len() * 2;
                        self.ends.resize(len, 0);
                    }
                }
                csv_core::ReadRecordResult::Record => break,
                csv_core::ReadRecordResult::End => return Ok(None),
            }
        }
        self.offset += consumed_total;
        // The line end before the record (a CR LF's LF) and any blank lines belong to no row.
        let (line, raw) = match prefix {
            Some(prefix) => {
                let lead = prefix.iter().take_while(|&&b| is_eol(b)).count();
                let leading_newlines = prefix[..lead].iter().filter(|&&b| b == b'\n').count();
                (
                    first_line + leading_newlines as u64,
                    Raw::TooLong {
                        offset: offset + lead as u64,
                        len: consumed_total.saturating_sub(lead as u64 + tail),
                        prefix: prefix[lead..].to_vec(),
                    },
                )
            }
            None => {
                let lead = text[start..].iter().take_while(|&&b| is_eol(b)).count();
                let leading_newlines = text[start..start + lead]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                let mut end = text.len();
                while end > start + lead && is_eol(text[end - 1]) {
                    end -= 1;
                }
                (
                    first_line + leading_newlines as u64,
                    Raw::Kept(start + lead..end),
                )
            }
        };
        let kept = matches!(raw, Raw::Kept(_));
        Ok(Some(Record {
            line,
            raw,
            kept,
            fields: ends,
        }))
    }

    fn parse_record(&self, fields: usize) -> Result<ImportCustomer, Bad> {
        if fields != self.columns.len() {
            return Err(Bad::new(
                "invalid_csv",
                None,
                format!(
                    "the record has {fields} field{}, the header {}",
                    if fields == 1 { "" } else { "s" },
                    self.columns.len()
                ),
            ));
        }
        let mut item = ImportCustomer::default();
        let (mut email, mut name) = (None, None);
        for (index, &column) in self.columns.iter().enumerate() {
            let field = column.name();
            let cell = utf8(self.cell(index), Some(field))?;
            if cell.is_empty() {
                continue;
            }
            let value = Some(cell.to_owned());
            let customer = &mut item.customer;
            match column {
                Column::Id => {}
                Column::Email => email = value,
                Column::Name => name = value,
                Column::Phone => customer.phone = value,
                Column::ExternalId => customer.external_id = value,
                Column::Description => customer.description = value,
                Column::Currency => customer.currency = value,
                Column::Metadata => {
                    let metadata = serde_json::from_str::<MetadataObject>(cell).map_err(|e| {
                        Bad::new(
                            "invalid_request",
                            Some(field),
                            format!("invalid metadata: {e}"),
                        )
                    })?;
                    customer.metadata = Some(metadata.0);
                }
                Column::Status => {
                    let status = cell
                        .parse::<Status>()
                        .map_err(|e| Bad::new("invalid_request", Some(field), e.to_string()))?;
                    item.status = Some(status);
                }
                Column::CreatedAt | Column::UpdatedAt => {
                    let at = cell.parse::<Timestamp>().map_err(|e| {
                        Bad::new(
                            "invalid_request",
                            Some(field),
                            format!("invalid {field}: not an RFC 3339 time: {e}"),
                        )
                    })?;
                    if column == Column::CreatedAt {
                        item.created_at = Some(at);
                    } else {
                        item.updated_at = Some(at);
                    }
                }
            }
        }
        let missing = |field: &str| {
            Bad::new(
                "invalid_request",
                Some(field),
                format!("invalid {field}: is required"),
            )
        };
        item.customer.email = email.ok_or_else(|| missing("email"))?;
        item.customer.name = name.ok_or_else(|| missing("name"))?;
        Ok(item)
    }
}

impl<R: BufRead + Send> Rows for CsvRows<R> {
    fn next_into(&mut self, batch: &mut Batch) -> io::Result<bool> {
        let Some(record) = self.read_record(&mut batch.text)? else {
            return Ok(false);
        };
        let parsed = match &record.raw {
            Raw::TooLong { len, .. } => Err(too_long(*len)),
            Raw::Kept(_) => {
                debug_assert!(record.kept);
                self.parse_record(record.fields)
            }
        };
        batch.rows.push(Row {
            line: record.line,
            raw: record.raw,
            parsed,
        });
        Ok(true)
    }

    fn offset(&self) -> u64 {
        self.offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(source: &mut dyn Rows) -> (Batch, usize) {
        let mut batch = Batch::default();
        let mut n = 0;
        while source.next_into(&mut batch).unwrap_or(false) {
            n += 1;
        }
        (batch, n)
    }

    #[test]
    fn json_lines_keep_text_and_line_numbers() {
        let input: &[u8] = b"{\"email\":\"a@b.co\",\"name\":\"A\"}\r\n\n  \n{bad\n";
        let mut source = JsonLines::new(input);
        let (batch, n) = rows(&mut source);
        assert_eq!(n, 2);
        assert_eq!(batch.rows[0].line, 1);
        assert!(batch.rows[0].parsed.is_ok());
        assert_eq!(batch.rows[1].line, 4);
        assert_eq!(batch.text_of(&batch.rows[1].raw), b"{bad");
        assert_eq!(source.offset(), input.len() as u64);
    }

    #[test]
    fn a_json_line_is_an_object() {
        let by_position =
            br#"["a@b.co", "A", null, null, null, null, null, null, null, null, null]"#;
        let bad = parse_json(by_position).err().unwrap();
        assert_eq!(bad.code, "invalid_json");
        assert!(
            bad.message.contains("expected a JSON object"),
            "{}",
            bad.message
        );
        assert!(parse_json(br#"{"email": "a@b.co", "name": "A"}"#).is_ok());
    }

    #[test]
    fn csv_records_span_lines_and_crlf() {
        let input: &[u8] =
            b"email,name,description\r\na@b.co,A,\"two\r\nlines\"\r\n\r\nc@d.co,C,\r\n";
        let (mut source, header) = CsvRows::new(input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(header, b"email,name,description");
        let (batch, n) = rows(&mut source);
        assert_eq!(n, 2);
        assert_eq!(batch.rows[0].line, 2);
        assert_eq!(
            batch.text_of(&batch.rows[0].raw),
            b"a@b.co,A,\"two\r\nlines\""
        );
        let first = batch.rows[0].parsed.as_ref().map_err(|b| b.message.clone());
        assert_eq!(
            first.map(|c| c.customer.description.clone()),
            Ok(Some("two\r\nlines".to_owned()))
        );
        assert_eq!(batch.rows[1].line, 5);
        assert_eq!(batch.text_of(&batch.rows[1].raw), b"c@d.co,C,");
    }
}
