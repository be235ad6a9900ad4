//! A field of the wrong JSON type (number, boolean, null, array, object) is a 400 naming it.
//! Every field is a string, except that `amount` may also be a number (see
//! `amount_is_a_positive_decimal_string_or_number_read_exactly`).

use serde_json::{Value, json};

use crate::support::{Harness, assert_refused, with};

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
            if field == "amount" && value.is_number() {
                // A number is an amount's other form: 7 and 1.5 are accepted.
                let mut body = with(field, value.clone());
                body["id"] = json!(format!("amount-as-number-{value}").replace('.', "_"));
                assert_eq!(h.post(&body).await.status(), 202, "{value}");
                continue;
            }
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
