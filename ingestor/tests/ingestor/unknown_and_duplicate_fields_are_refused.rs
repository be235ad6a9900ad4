//! Fields outside the schema are refused (named when they look like identifiers), and so is a
//! schema field given twice: the record on Kafka must be exactly what was validated.

use serde_json::json;

use crate::support::{Harness, assert_refused, valid, with};

#[tokio::test]
async fn unknown_and_duplicate_fields_are_refused() {
    let h = Harness::start().await;

    let refused = assert_refused(
        h.post(&with("ammount", json!("1.00"))).await,
        "unknown_field",
        Some("ammount"),
    )
    .await;
    assert!(
        refused["message"].as_str().unwrap().contains("amount"),
        "lists the schema"
    );
    assert_refused(
        h.post(&with("note", json!({"nested": [1, 2]}))).await,
        "unknown_field",
        Some("note"),
    )
    .await;

    // A key that does not look like an identifier (here, a card number) is not repeated back.
    let response = h.post(&with("4111 1111 1111 1111", json!("x"))).await;
    let refused = assert_refused(response, "unknown_field", None).await;
    assert!(!refused.to_string().contains("4111"), "{refused}");

    // Duplicate keys: serde_json alone would silently keep the last one.
    let body = valid("dup-1").to_string();
    let duplicated = body.replacen("{", r#"{"amount":"99999.00","#, 1);
    let response = h.post_raw("application/json", duplicated).await;
    let refused = assert_refused(response, "duplicate_field", Some("amount")).await;
    assert!(!refused.to_string().contains("99999"), "{refused}");

    h.stop().await;
}
