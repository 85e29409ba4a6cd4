//! The seed's four examples (create, retrieve, list, update) reproduced exactly, and the JSON
//! shapes of SPEC §2 "Records".

mod spec_support;

use customer_store::{
    Customer, CustomerPatch, CustomerStore, ListQuery, Metadata, MetadataValue, NewCustomer, Page,
    Status,
};
use spec_support::{
    CUSTOMER_FIELDS, SEED_CREATED_AT, SEED_ID, SEED_UPDATED_AT, TestResult, at, is_customer_id,
    keys_in_order, minify, pinned_store, verify_clean,
};

/// The seed's create body (`POST /v1/customers`), as its curl example sends it.
const SEED_CREATE_BODY: &str = r#"{
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"externalId": "user_db_yaw123",
"description": "Enterprise API User",
"currency": "GHS"
}"#;

/// The `data` of the seed's create sample response (201 Created).
const SEED_CREATE_RESPONSE: &str = r#"{
"id": "cust_cl8z2lh820000a",
"externalId": "user_db_yaw123",
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"description": "Enterprise API User",
"metadata": null,
"status": "ACTIVE",
"currency": "GHS",
"createdAt": "2026-06-05T12:00:00Z",
"updatedAt": "2026-06-05T12:00:00Z"
}"#;

/// The `data` of the seed's retrieve sample response (200 OK).
const SEED_RETRIEVE_RESPONSE: &str = r#"{
"id": "cust_cl8z2lh820000a",
"externalId": "user_db_yaw123",
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"description": "Enterprise API User",
"metadata": null,
"status": "ACTIVE",
"currency": "GHS",
"createdAt": "2026-06-05T12:00:00Z",
"updatedAt": "2026-06-05T12:00:00Z"
}"#;

/// The `data` of the seed's list sample response (`?email=yaw&limit=1`).
const SEED_LIST_RESPONSE: &str = r#"{
"items": [
{
"id": "cust_cl8z2lh820000a",
"email": "yaw@example.com",
"name": "Yaw Mensah",
"phone": "+233249998888",
"status": "ACTIVE",
"createdAt": "2026-06-05T12:00:00Z"
}
],
"nextCursor": "cust_cl8z2lh820000a",
"hasMore": false
}"#;

/// The seed's PATCH body.
const SEED_PATCH_BODY: &str = r#"{
"name": "Yaw Mensah Jr.",
"status": "ACTIVE"
}"#;

/// The `data` of the seed's update sample response (it shows a subset of the fields).
const SEED_UPDATE_RESPONSE: &str = r#"{
"id": "cust_cl8z2lh820000a",
"externalId": "user_db_yaw123",
"email": "yaw@example.com",
"name": "Yaw Mensah Jr.",
"phone": "+233249998888",
"description": "Enterprise API User",
"status": "ACTIVE",
"createdAt": "2026-06-05T12:00:00Z",
"updatedAt": "2026-06-06T15:00:00Z"
}"#;

/// The seed's list summary fields, in its order.
const SUMMARY_FIELDS: [&str; 6] = ["id", "email", "name", "phone", "status", "createdAt"];

/// The customer's JSON with its generated id replaced by the seed's sample id.
fn as_seed_json(customer: &Customer) -> TestResult<String> {
    assert!(is_customer_id(&customer.id), "{}", customer.id);
    let renamed = Customer {
        id: SEED_ID.to_owned(),
        ..customer.clone()
    };
    Ok(serde_json::to_string(&renamed)?)
}

/// Projects a customer's JSON onto the seed's list summary fields, in the seed's order.
fn summary_json(customer: &Customer) -> TestResult<String> {
    let value = serde_json::to_value(customer)?;
    let mut parts = Vec::new();
    for field in SUMMARY_FIELDS {
        let v = value.get(field).ok_or(format!("no {field} in {value}"))?;
        parts.push(format!("{}:{}", serde_json::to_string(field)?, v));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

#[test]
fn seed_create_example_gives_its_sample_response() -> TestResult {
    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let body: NewCustomer = serde_json::from_str(SEED_CREATE_BODY)?;
    let yaw = store.create("default", body)?;

    assert!(is_customer_id(&yaw.id), "generated id {:?}", yaw.id);
    assert_eq!(as_seed_json(&yaw)?, minify(SEED_CREATE_RESPONSE));
    assert_eq!(yaw.created_at, at(SEED_CREATED_AT)?);
    assert_eq!(yaw.created_at, yaw.updated_at);
    verify_clean(&store, 1)?;
    Ok(())
}

#[test]
fn seed_retrieve_example_gives_its_sample_response() -> TestResult {
    let (store, clock) = pinned_store(SEED_CREATED_AT)?;
    let yaw = store.create("default", serde_json::from_str(SEED_CREATE_BODY)?)?;
    clock.advance_seconds(3600);

    let got = store
        .get("default", &yaw.id)?
        .ok_or("the created customer is not found")?;
    assert_eq!(got, yaw);
    assert_eq!(as_seed_json(&got)?, minify(SEED_RETRIEVE_RESPONSE));
    verify_clean(&store, 1)?;
    Ok(())
}

#[test]
fn seed_list_example_gives_its_sample_response() -> TestResult {
    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let yaw = store.create("default", serde_json::from_str(SEED_CREATE_BODY)?)?;
    // Customers that the filter must leave out, before and after.
    store.create("default", NewCustomer::new("ama@example.com", "Ama Owusu"))?;
    store.create(
        "default",
        NewCustomer::new("kofi@example.org", "Kofi Boateng"),
    )?;

    // `?email=yaw&limit=1`, with the seed's query names.
    let query: ListQuery = serde_json::from_str(r#"{"email": "yaw", "limit": 1}"#)?;
    assert_eq!(query, ListQuery::default().with_email("yaw").with_limit(1));
    let page = store.list("default", &query)?;

    assert_eq!(page.items, vec![yaw.clone()]);
    assert_eq!(page.next_cursor.as_deref(), Some(yaw.id.as_str()));
    assert!(!page.has_more);
    let ours = format!(
        r#"{{"items":[{}],"nextCursor":{},"hasMore":{}}}"#,
        summary_json(&page.items[0])?,
        serde_json::to_string(&page.next_cursor)?,
        page.has_more,
    );
    assert_eq!(ours.replace(&yaw.id, SEED_ID), minify(SEED_LIST_RESPONSE));

    // The page itself serialises with the seed's names, full records as items.
    let page_json = serde_json::to_string(&page)?;
    assert_eq!(
        keys_in_order(&page_json)?,
        ["items", "nextCursor", "hasMore"]
    );
    assert_eq!(
        page_json,
        format!(
            r#"{{"items":[{}],"nextCursor":"{}","hasMore":false}}"#,
            serde_json::to_string(&yaw)?,
            yaw.id
        )
    );
    verify_clean(&store, 3)?;
    Ok(())
}

#[test]
fn seed_update_example_gives_its_sample_response() -> TestResult {
    let (store, clock) = pinned_store(SEED_CREATED_AT)?;
    let yaw = store.create("default", serde_json::from_str(SEED_CREATE_BODY)?)?;

    clock.set(at(SEED_UPDATED_AT)?);
    let patch: CustomerPatch = serde_json::from_str(SEED_PATCH_BODY)?;
    assert_eq!(
        patch,
        CustomerPatch::default()
            .set_name("Yaw Mensah Jr.")
            .set_status(Status::Active)
    );
    let updated = store.update("default", &yaw.id, patch)?;

    assert_eq!(updated.id, yaw.id);
    assert_eq!(updated.updated_at, at(SEED_UPDATED_AT)?);
    assert_eq!(updated.created_at, at(SEED_CREATED_AT)?);
    // Every field the seed's sample shows, with its value, in the seed's order.
    let ours = as_seed_json(&updated)?;
    let ours_value: serde_json::Value = serde_json::from_str(&ours)?;
    let seed_value: serde_json::Value = serde_json::from_str(SEED_UPDATE_RESPONSE)?;
    let seed_keys = keys_in_order(SEED_UPDATE_RESPONSE)?;
    for key in &seed_keys {
        assert_eq!(ours_value[key], seed_value[key], "field {key}");
    }
    // ... and all eleven fields (SPEC §3: every response carries them), the seed's as a
    // subsequence of ours.
    let our_keys = keys_in_order(&ours)?;
    assert_eq!(our_keys, CUSTOMER_FIELDS);
    let mut rest = our_keys.iter();
    assert!(
        seed_keys.iter().all(|k| rest.any(|o| o == k)),
        "{seed_keys:?} is not in the order of {our_keys:?}"
    );
    assert_eq!(ours_value["metadata"], serde_json::Value::Null);
    assert_eq!(ours_value["currency"], "GHS");

    // The update is what a later read returns.
    assert_eq!(store.get("default", &yaw.id)?, Some(updated));
    verify_clean(&store, 1)?;
    Ok(())
}

#[test]
fn customer_has_exactly_the_eleven_seed_fields_with_nulls() -> TestResult {
    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let bare = store.create("acme", NewCustomer::new("ama@example.com", "Ama"))?;
    let json = serde_json::to_string(&bare)?;
    assert_eq!(keys_in_order(&json)?, CUSTOMER_FIELDS);
    assert_eq!(
        json,
        format!(
            r#"{{"id":"{}","externalId":null,"email":"ama@example.com","name":"Ama","phone":null,"description":null,"metadata":null,"status":"ACTIVE","currency":null,"createdAt":"2026-06-05T12:00:00Z","updatedAt":"2026-06-05T12:00:00Z"}}"#,
            bare.id
        )
    );

    let full = store.create(
        "acme",
        NewCustomer::new("kofi@example.com", "Kofi")
            .with_external_id("k-1")
            .with_phone("+233 24 000 0000")
            .with_description("notes")
            .with_currency("usd")
            .with_metadata(Metadata::from([
                ("plan".to_owned(), MetadataValue::from("gold")),
                ("seats".to_owned(), MetadataValue::from(3_i64)),
                ("ratio".to_owned(), MetadataValue::from(0.5)),
                ("vip".to_owned(), MetadataValue::from(true)),
            ])),
    )?;
    let json = serde_json::to_string(&full)?;
    assert_eq!(keys_in_order(&json)?, CUSTOMER_FIELDS);
    let value: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(
        value["metadata"],
        serde_json::json!({"plan": "gold", "seats": 3, "ratio": 0.5, "vip": true})
    );
    // An integer stays an integer (`3`, not `3.0`).
    assert!(json.contains(r#""seats":3"#), "{json}");
    assert_eq!(value["phone"], "+233240000000");
    assert_eq!(value["currency"], "USD");

    // The business is not part of the JSON.
    assert!(!json.contains("acme"), "{json}");
    verify_clean(&store, 2)?;
    Ok(())
}

#[test]
fn statuses_use_the_seed_names() -> TestResult {
    for (status, name) in [
        (Status::Active, "ACTIVE"),
        (Status::Inactive, "INACTIVE"),
        (Status::Blocked, "BLOCKED"),
    ] {
        assert_eq!(serde_json::to_string(&status)?, format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<Status>(&format!("\"{name}\""))?,
            status
        );
    }
    for bad in [r#""active""#, r#""Active""#, r#""DELETED""#, "1", "null"] {
        assert!(serde_json::from_str::<Status>(bad).is_err(), "{bad}");
    }
    Ok(())
}

#[test]
fn new_customer_reads_the_seed_body_and_rejects_unknown_fields() -> TestResult {
    let body: NewCustomer = serde_json::from_str(SEED_CREATE_BODY)?;
    assert_eq!(
        body,
        NewCustomer::new("yaw@example.com", "Yaw Mensah")
            .with_phone("+233249998888")
            .with_external_id("user_db_yaw123")
            .with_description("Enterprise API User")
            .with_currency("GHS")
    );
    let with_metadata: NewCustomer = serde_json::from_str(
        r#"{"email": "a@x.io", "name": "A", "metadata": {"s": "v", "n": -2, "f": 1.5, "b": false}}"#,
    )?;
    assert_eq!(
        with_metadata.metadata,
        Some(Metadata::from([
            ("s".to_owned(), MetadataValue::from("v")),
            ("n".to_owned(), MetadataValue::from(-2_i64)),
            ("f".to_owned(), MetadataValue::from(1.5)),
            ("b".to_owned(), MetadataValue::from(false)),
        ]))
    );

    for bad in [
        // Unknown fields, including a field of the seed under another spelling.
        r#"{"email": "a@x.io", "name": "A", "nickname": "x"}"#,
        r#"{"email": "a@x.io", "name": "A", "external_id": "x"}"#,
        r#"{"email": "a@x.io", "name": "A", "id": "cust_cl8z2lh820000a"}"#,
        // Wrong types.
        r#"{"email": 5, "name": "A"}"#,
        r#"{"email": "a@x.io", "name": ["A"]}"#,
        r#"{"email": "a@x.io", "name": "A", "phone": 233249998888}"#,
        // Metadata is a flat object of strings, numbers and booleans.
        r#"{"email": "a@x.io", "name": "A", "metadata": {"a": {"b": 1}}}"#,
        r#"{"email": "a@x.io", "name": "A", "metadata": {"a": [1]}}"#,
        r#"{"email": "a@x.io", "name": "A", "metadata": {"a": null}}"#,
        r#"{"email": "a@x.io", "name": "A", "metadata": [1, 2]}"#,
        r#"{"email": "a@x.io", "name": "A", "metadata": "a=b"}"#,
    ] {
        assert!(
            serde_json::from_str::<NewCustomer>(bad).is_err(),
            "accepted {bad}"
        );
    }
    Ok(())
}

#[test]
fn customer_patch_tells_absent_from_null_and_rejects_unknown_fields() -> TestResult {
    let empty: CustomerPatch = serde_json::from_str("{}")?;
    assert_eq!(empty, CustomerPatch::default());

    let nulls: CustomerPatch = serde_json::from_str(
        r#"{"email": null, "name": null, "phone": null, "externalId": null,
            "description": null, "currency": null, "metadata": null, "status": null}"#,
    )?;
    assert_eq!(nulls.email, Some(None));
    assert_eq!(nulls.name, Some(None));
    assert_eq!(nulls.phone, Some(None));
    assert_eq!(nulls.external_id, Some(None));
    assert_eq!(nulls.description, Some(None));
    assert_eq!(nulls.currency, Some(None));
    assert_eq!(nulls.metadata, Some(None));
    assert_eq!(nulls.status, Some(None));

    let values: CustomerPatch = serde_json::from_str(
        r#"{"email": "e@x.io", "name": "N", "phone": "+1234567", "externalId": "x",
            "description": "d", "currency": "ghs", "metadata": {"k": "v"}, "status": "BLOCKED"}"#,
    )?;
    assert_eq!(
        values,
        CustomerPatch::default()
            .set_email("e@x.io")
            .set_name("N")
            .set_phone(Some("+1234567"))
            .set_external_id(Some("x"))
            .set_description(Some("d"))
            .set_currency(Some("ghs"))
            .set_metadata(Some(Metadata::from([(
                "k".to_owned(),
                MetadataValue::from("v")
            )])))
            .set_status(Status::Blocked)
    );

    // One field null, the others absent.
    let phone_only: CustomerPatch = serde_json::from_str(r#"{"phone": null}"#)?;
    assert_eq!(
        phone_only,
        CustomerPatch::default().set_phone(None::<String>)
    );
    assert_eq!(phone_only.name, None);
    assert_eq!(phone_only.metadata, None);

    for bad in [
        r#"{"nickname": "x"}"#,
        r#"{"external_id": "x"}"#,
        r#"{"id": "cust_cl8z2lh820000a"}"#,
        r#"{"createdAt": "2026-06-05T12:00:00Z"}"#,
        r#"{"status": "active"}"#,
        r#"{"name": 1}"#,
        r#"{"metadata": {"a": {"b": 1}}}"#,
    ] {
        assert!(
            serde_json::from_str::<CustomerPatch>(bad).is_err(),
            "accepted {bad}"
        );
    }
    Ok(())
}

#[test]
fn list_query_reads_the_seed_query_names() -> TestResult {
    let query: ListQuery = serde_json::from_str(
        r#"{"email": "yaw", "status": "BLOCKED", "limit": 100, "cursor": "cust_cl8z2lh820000a"}"#,
    )?;
    assert_eq!(
        query,
        ListQuery::default()
            .with_email("yaw")
            .with_status(Status::Blocked)
            .with_limit(100)
            .with_cursor(SEED_ID)
    );
    assert_eq!(
        serde_json::from_str::<ListQuery>("{}")?,
        ListQuery::default()
    );
    assert!(serde_json::from_str::<ListQuery>(r#"{"page": 2}"#).is_err());
    Ok(())
}

#[test]
fn page_serialises_with_the_seed_names() -> TestResult {
    let empty = Page {
        items: Vec::new(),
        next_cursor: None,
        has_more: false,
    };
    assert_eq!(
        serde_json::to_string(&empty)?,
        r#"{"items":[],"nextCursor":null,"hasMore":false}"#
    );

    let (store, _clock) = pinned_store(SEED_CREATED_AT)?;
    let listed = store.list("nobody-yet", &ListQuery::default())?;
    assert_eq!(listed, empty);
    for i in 0..3 {
        store.create("acme", NewCustomer::new(format!("c{i}@example.com"), "C"))?;
    }
    let page = store.list("acme", &ListQuery::default().with_limit(2))?;
    let json = serde_json::to_string(&page)?;
    assert_eq!(keys_in_order(&json)?, ["items", "nextCursor", "hasMore"]);
    let value: serde_json::Value = serde_json::from_str(&json)?;
    assert_eq!(value["hasMore"], true);
    assert_eq!(value["nextCursor"], page.items[1].id.as_str());
    assert_eq!(value["items"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[test]
fn deserialising_checks_only_the_json_shape() -> TestResult {
    // SPEC §2: field rules are checked by the store call, not by serde.
    let new: NewCustomer = serde_json::from_str(
        r#"{"email": "not an email", "name": "", "phone": "12", "currency": "XXXX"}"#,
    )?;
    let store = customer_store::RedbStore::in_memory()?;
    let error = store
        .create("acme", new)
        .err()
        .ok_or("an invalid create was accepted")?;
    assert_eq!(error.code(), "invalid_request");

    let many_keys: String = (0..60)
        .map(|i| format!(r#""k{i}": {i}"#))
        .collect::<Vec<_>>()
        .join(",");
    let new: NewCustomer = serde_json::from_str(&format!(
        r#"{{"email": "a@x.io", "name": "A", "metadata": {{{many_keys}}}}}"#
    ))?;
    assert_eq!(new.metadata.map(|m| m.len()), Some(60));

    let patch: CustomerPatch = serde_json::from_str(r#"{"email": "bad", "externalId": ""}"#)?;
    assert_eq!(patch.email, Some(Some("bad".to_owned())));
    let query: ListQuery = serde_json::from_str(r#"{"limit": 0, "cursor": "nope", "email": ""}"#)?;
    assert_eq!(query.limit, Some(0));
    assert_eq!(
        store.list("acme", &query).err().map(|e| e.code()),
        Some("invalid_request")
    );
    Ok(())
}
