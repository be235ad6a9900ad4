//! Every id field takes 1 to 64 characters of `[A-Za-z0-9_.:-]`, and nothing else.

use serde_json::json;

use crate::support::{Harness, assert_refused, with};

const ID_FIELDS: [&str; 5] = ["id", "account_id", "card_id", "device_id", "merchant_id"];

#[tokio::test]
async fn ids_must_be_1_to_64_safe_characters() {
    let h = Harness::start().await;
    let longest = "A".repeat(64);
    for field in ID_FIELDS {
        for ok in [longest.as_str(), "a", "Az09_.:-", "tx:2024-05-01.001"] {
            let mut body = with(field, json!(ok));
            if field != "id" {
                body["id"] = json!(format!("ok-{field}-{}", ok.len()));
            }
            let response = h.post(&body).await;
            assert_eq!(response.status(), 202, "{field} = {ok:?}");
        }
        let too_long = "A".repeat(65);
        for bad in [
            "",
            too_long.as_str(),
            "a b",
            " a",
            "a ",
            "a/b",
            "a@b",
            "é",
            "a\nb",
            "a\"b",
            "a,b",
            "Ωmega",
            "a\u{0}b",
        ] {
            let body = with(field, json!(bad));
            assert_refused(h.post(&body).await, "invalid_value", Some(field)).await;
        }
    }
    h.stop().await;
}
