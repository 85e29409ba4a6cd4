//! The file formats of `import` and `export`: JSON Lines and CSV, with the seed's field names.

use std::path::Path;

/// The format of an import or export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A header line of field names, then one customer per record; `metadata` is a JSON cell.
    Csv,
}

impl Format {
    /// The format a file name suggests: CSV for `.csv`, JSON Lines for anything else.
    pub(crate) fn of_path(path: &Path) -> Format {
        let csv = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("csv"));
        if csv { Format::Csv } else { Format::Jsonl }
    }
}

/// The eleven fields of a customer, in the order the API returns them (and the CSV columns of
/// an export).
pub(crate) const FIELDS: [&str; 11] = [
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
