//! `amount` is a positive decimal string with at most two decimals; JSON numbers are refused.

mod support;

use serde_json::{Value, json};
use support::{Harness, assert_refused, with};

#[tokio::test]
async fn amount_must_be_a_positive_decimal_string() {
    let h = Harness::start().await;
    for (i, ok) in [
        "1",
        "0.01",
        "0.5",
        "12.3",
        "12.34",
        "100",
        "999999999999999.99",
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = with("amount", json!(ok));
        body["id"] = json!(format!("amount-ok-{i}"));
        let response = h.post(&body).await;
        assert_eq!(response.status(), 202, "amount {ok:?}");
    }
    for bad in [
        "0",
        "0.00",
        "0.0",
        "-1",
        "+1",
        "1.234",
        "1e3",
        "1E3",
        " 1",
        "1 ",
        "",
        ".5",
        "1.",
        "01",
        "00.50",
        "1,50",
        "NaN",
        "Infinity",
        "0x1F",
        "1000000000000000",
        "1_000",
    ] {
        let body = with("amount", json!(bad));
        assert_refused(h.post(&body).await, "invalid_value", Some("amount")).await;
    }
    for (number, raw) in [
        (json!(12.34), "12.34"),
        (json!(12), "12"),
        (json!(1e3), "1000.0"),
    ] {
        let body = with("amount", number);
        let refused = assert_refused(h.post(&body).await, "invalid_type", Some("amount")).await;
        assert!(!refused.to_string().contains(raw), "{refused}");
    }
    for other in [
        Value::Null,
        json!(true),
        json!(["12.34"]),
        json!({"value": "12.34"}),
    ] {
        let body = with("amount", other);
        assert_refused(h.post(&body).await, "invalid_type", Some("amount")).await;
    }
    h.stop().await;
}
