//! A field of the wrong JSON type (number, boolean, null, array, object) is a 400 naming it.

mod support;

use serde_json::{Value, json};
use support::{Harness, assert_refused, with};

#[tokio::test]
async fn wrong_json_types_are_named() {
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
        for value in [
            json!(7),
            json!(1.5),
            json!(false),
            Value::Null,
            json!(["a"]),
            json!({"a": "b"}),
        ] {
            let body = with(field, value.clone());
            let refused = assert_refused(h.post(&body).await, "invalid_type", Some(field)).await;
            assert!(
                refused["message"].as_str().unwrap().contains("string"),
                "{field} = {value}: {refused}"
            );
        }
    }
    h.stop().await;
}
