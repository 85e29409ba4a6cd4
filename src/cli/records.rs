//! `customer-store get | list | update | delete`: the API's record operations on the command
//! line, printing the API's JSON (pretty-printed) on stdout.

use std::io::{self, Read};
use std::path::Path;
use std::process::ExitCode;

use clap::ArgGroup;
use customer_store::server::JsonObject;
use customer_store::{CustomerPatch, CustomerStore, ListQuery, Metadata, MetadataObject, Status};

use super::{CliResult, open_existing};

fn parse_status(text: &str) -> Result<Status, String> {
    text.parse::<Status>().map_err(|e| e.to_string())
}

fn parse_metadata(text: &str) -> Result<Metadata, String> {
    serde_json::from_str::<MetadataObject>(text)
        .map(|m| m.0)
        .map_err(|e| format!("not a flat JSON object: {e}"))
}

/// Prints `value` as pretty JSON on stdout; a closed stdout (`| head`) is not an error.
fn print_json(value: &impl serde::Serialize) -> CliResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    outln!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The `get` arguments: one of an id, `--email` or `--external-id`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("key").required(true).args(["id", "email", "external_id"])))]
pub(crate) struct GetArgs {
    /// The business of the customer.
    #[arg(long)]
    business: String,
    /// The customer id (cust_...).
    id: Option<String>,
    /// Finds the customer by email (exact, ignoring case).
    #[arg(long)]
    email: Option<String>,
    /// Finds the customer by externalId (exact).
    #[arg(long)]
    external_id: Option<String>,
}

/// Help text of `get`.
pub(crate) const GET_HELP: &str = "\
Prints the customer (the eleven fields of the API) as JSON; exit status 1 if there is none.

Examples:
  customer-store get --business acme cust_cl8z2lh820000a
  customer-store get --business acme --email yaw@example.com
  customer-store get --business acme --external-id user_db_yaw123";

pub(crate) fn get(db: &Path, args: &GetArgs) -> CliResult {
    let store = open_existing(db)?;
    let business = &args.business;
    let (found, key) = if let Some(email) = &args.email {
        (
            store.get_by_email(business, email),
            format!("email {email}"),
        )
    } else if let Some(external_id) = &args.external_id {
        (
            store.get_by_external_id(business, external_id),
            format!("externalId {external_id}"),
        )
    } else {
        let id = args.id.as_deref().unwrap_or_default();
        (store.get(business, id), format!("id {id}"))
    };
    match found.map_err(|e| super::line(&e))? {
        Some(customer) => print_json(&customer),
        None => Err(format!("no customer with {key} in business {business}")),
    }
}

/// The `list` arguments: the API's query parameters.
#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The business to list.
    #[arg(long)]
    business: String,
    /// Only customers whose email contains this text (ignoring case).
    #[arg(long)]
    email: Option<String>,
    /// Only customers with this status: ACTIVE, INACTIVE or BLOCKED.
    #[arg(long, value_parser = parse_status)]
    status: Option<Status>,
    /// Customers per page, 1-100 [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    limit: Option<u32>,
    /// The nextCursor of the previous page.
    #[arg(long)]
    cursor: Option<String>,
}

/// Help text of `list`.
pub(crate) const LIST_HELP: &str = "\
Prints one page as JSON: {\"items\": [...], \"nextCursor\": ..., \"hasMore\": ...}, the items in
id (creation) order with all eleven fields. Pass nextCursor as --cursor for the next page;
`customer-store export` walks them all.

Examples:
  customer-store list --business acme --email yaw --limit 1
  customer-store list --business acme --status BLOCKED --limit 100 --cursor cust_cl8z2lh820000a";

pub(crate) fn list(db: &Path, args: &ListArgs) -> CliResult {
    let store = open_existing(db)?;
    let query = ListQuery {
        email: args.email.clone(),
        status: args.status,
        limit: args.limit,
        cursor: args.cursor.clone(),
    };
    let page = store
        .list(&args.business, &query)
        .map_err(|e| super::line(&e))?;
    print_json(&page)
}

/// A field that `update --clear` can clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Clearable {
    Phone,
    #[value(alias = "externalId")]
    ExternalId,
    Description,
    Currency,
    Metadata,
}

/// The `update` arguments: a PATCH body as `--json`, or one flag per field.
#[derive(Debug, clap::Args)]
#[command(
    group(ArgGroup::new("change").required(true).multiple(true)),
    group(ArgGroup::new("fields").multiple(true))
)]
pub(crate) struct UpdateArgs {
    /// The business of the customer.
    #[arg(long)]
    business: String,
    /// The customer id.
    id: String,
    /// The API's PATCH body, e.g. '{"name": "Yaw", "phone": null}' (`-` reads it from stdin).
    #[arg(long, value_name = "BODY", group = "change", conflicts_with = "fields")]
    json: Option<String>,
    /// A new email.
    #[arg(long, group = "change", group = "fields")]
    email: Option<String>,
    /// A new name.
    #[arg(long, group = "change", group = "fields")]
    name: Option<String>,
    /// A new phone number.
    #[arg(long, group = "change", group = "fields")]
    phone: Option<String>,
    /// A new externalId.
    #[arg(long, group = "change", group = "fields")]
    external_id: Option<String>,
    /// A new description.
    #[arg(long, group = "change", group = "fields")]
    description: Option<String>,
    /// A new currency code.
    #[arg(long, group = "change", group = "fields")]
    currency: Option<String>,
    /// A new status: ACTIVE, INACTIVE or BLOCKED.
    #[arg(long, group = "change", group = "fields", value_parser = parse_status)]
    status: Option<Status>,
    /// New metadata, a flat JSON object (replaces the old one).
    #[arg(long, group = "change", group = "fields", value_parser = parse_metadata)]
    metadata: Option<Metadata>,
    /// Clears a field: phone, external-id, description, currency or metadata (repeatable; not
    /// with a new value for the same field).
    #[arg(
        long,
        value_enum,
        group = "change",
        group = "fields",
        value_name = "FIELD"
    )]
    clear: Vec<Clearable>,
}

/// Help text of `update`.
pub(crate) const UPDATE_HELP: &str = "\
Applies a PATCH (absent fields unchanged, null clears phone, description, metadata,
externalId and currency; metadata replaces the whole object) and prints the customer.

Examples:
  customer-store update --business acme cust_cl8z2lh820000a --json '{\"name\": \"Yaw Mensah Jr.\", \"status\": \"ACTIVE\"}'
  customer-store update --business acme cust_cl8z2lh820000a --status BLOCKED --clear phone
  echo '{\"metadata\": {\"tier\": \"gold\"}}' | customer-store update --business acme cust_cl8z2lh820000a --json -";

impl UpdateArgs {
    /// A field both given a value and cleared (`--phone X --clear phone`): bad usage, as the
    /// command could only drop one of the two.
    pub(crate) fn conflict(&self) -> Option<String> {
        let given = |field: Clearable| match field {
            Clearable::Phone => self.phone.is_some(),
            Clearable::ExternalId => self.external_id.is_some(),
            Clearable::Description => self.description.is_some(),
            Clearable::Currency => self.currency.is_some(),
            Clearable::Metadata => self.metadata.is_some(),
        };
        self.clear.iter().copied().find(|&f| given(f)).map(|field| {
            let name = clap::ValueEnum::to_possible_value(&field)
                .map_or_else(String::new, |v| v.get_name().to_owned());
            format!("--{name} and --clear {name} cannot be used together")
        })
    }

    fn patch(&self) -> Result<CustomerPatch, String> {
        if let Some(body) = &self.json {
            let body = if body == "-" {
                let mut text = String::new();
                io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| format!("reading the body from stdin: {e}"))?;
                text
            } else {
                body.clone()
            };
            return serde_json::from_str(&body)
                .map(|JsonObject(patch)| patch)
                .map_err(|e| format!("invalid --json body: {e}"));
        }
        let set = |value: &Option<String>| value.clone().map(Some);
        let mut patch = CustomerPatch {
            email: set(&self.email),
            name: set(&self.name),
            phone: set(&self.phone),
            external_id: set(&self.external_id),
            description: set(&self.description),
            currency: set(&self.currency),
            metadata: self.metadata.clone().map(Some),
            status: self.status.map(Some),
        };
        for field in &self.clear {
            match field {
                Clearable::Phone => patch.phone = Some(None),
                Clearable::ExternalId => patch.external_id = Some(None),
                Clearable::Description => patch.description = Some(None),
                Clearable::Currency => patch.currency = Some(None),
                Clearable::Metadata => patch.metadata = Some(None),
            }
        }
        Ok(patch)
    }
}

pub(crate) fn update(db: &Path, args: &UpdateArgs) -> CliResult {
    let patch = args.patch()?;
    let store = open_existing(db)?;
    match store.update(&args.business, &args.id, patch) {
        Ok(customer) => print_json(&customer),
        Err(e) if e.is_not_found() => Err(not_found(&args.business, &args.id)),
        Err(e) => Err(super::line(&e)),
    }
}

fn not_found(business: &str, id: &str) -> String {
    format!("no customer with id {id} in business {business}")
}

/// The `delete` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    /// The business of the customer.
    #[arg(long)]
    business: String,
    /// The customer id.
    id: String,
    /// Removes a damaged record (one that every read answers with "corrupt", as `check`
    /// reports it) with every index entry naming it; what it held is lost.
    #[arg(long)]
    damaged: bool,
}

/// Help text of `delete`.
pub(crate) const DELETE_HELP: &str = "\
Deletes the customer and every trace of it (its email and externalId become free; its id is
never reused), and prints {\"id\": ..., \"deleted\": true} as the API does.

With --damaged, removes a record that `check` reports as damaged (it fails its checksum or
does not decode, so it cannot be read or deleted as usual), with every index entry and email
posting that names it: what it held is lost, its email and externalId become free. A record
that is not damaged is refused (delete it without --damaged).

Examples:
  customer-store delete --business acme cust_cl8z2lh820000a
  customer-store delete --business acme --damaged cust_cl8z2lh820000a";

/// What `delete` prints: the API's answer, in its field order.
#[derive(serde::Serialize)]
struct Deleted<'a> {
    id: &'a str,
    deleted: bool,
}

pub(crate) fn delete(db: &Path, args: &DeleteArgs) -> CliResult {
    let store = open_existing(db)?;
    let deleted = if args.damaged {
        store.remove_damaged(&args.business, &args.id)
    } else {
        store.delete(&args.business, &args.id).map(drop)
    };
    match deleted {
        Ok(()) => print_json(&Deleted {
            id: &args.id,
            deleted: true,
        }),
        Err(e) if e.is_not_found() => Err(not_found(&args.business, &args.id)),
        Err(e) => Err(super::line(&e)),
    }
}
