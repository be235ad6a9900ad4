//! Each of the eight fields is required; a missing one is named in the 400.

use crate::support::{Harness, assert_refused, without};

#[tokio::test]
async fn missing_fields_are_named() {
    let h = Harness::start().await;
    for field in [
        "id",
        "account_id",
        "card_id",
        "device_id",
        "merchant_id",
        "amount",
        "currency",
        "timestamp",
    ] {
        let body = without(field);
        let refused = assert_refused(h.post(&body).await, "missing_field", Some(field)).await;
        assert!(refused["message"].as_str().unwrap().contains(field));
    }
    assert_refused(
        h.post(&serde_json::json!({})).await,
        "missing_field",
        Some("id"),
    )
    .await;
    h.stop().await;
}
