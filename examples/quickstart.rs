//! Creates, reads, lists and updates customers in `./customers-example.redb`.
//!
//! Run with `cargo run --release --example quickstart`; run it twice to see the store keep
//! what it holds and refuse a taken email.

use customer_store::{CustomerPatch, CustomerStore, ListQuery, NewCustomer, RedbStore, Status};

fn main() -> Result<(), customer_store::Error> {
    let store = RedbStore::open("customers-example.redb")?;
    let new = NewCustomer::new("yaw@example.com", "Yaw Mensah")
        .with_phone("+233249998888")
        .with_external_id("user_db_yaw123")
        .with_description("Enterprise API User")
        .with_currency("GHS");
    let yaw = match store.create("default", new) {
        Ok(yaw) => {
            println!("created {}", yaw.id);
            yaw
        }
        Err(e) if e.code() == "email_taken" => {
            println!("already there: {e}");
            store
                .get_by_email("default", "yaw@example.com")?
                .ok_or(customer_store::Error::NotFound)?
        }
        Err(e) => return Err(e),
    };
    let patch = CustomerPatch::default()
        .set_name("Yaw Mensah Jr.")
        .set_status(Status::Active);
    let updated = store.update("default", &yaw.id, patch)?;
    println!("updated: {updated:#?}");
    let page = store.list(
        "default",
        &ListQuery::default().with_email("yaw").with_limit(1),
    )?;
    println!(
        "list email=yaw limit=1: {} item(s), hasMore={}",
        page.items.len(),
        page.has_more
    );
    let report = store.verify()?;
    println!("verify: {report:?}");
    Ok(())
}
