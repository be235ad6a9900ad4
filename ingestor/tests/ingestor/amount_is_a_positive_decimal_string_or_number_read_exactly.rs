//! `amount` is a positive decimal with at most two decimals and at most 15 integer digits, sent
//! as a string (`"129.95"`) or as a JSON number (`129.95`). A number is read from its text,
//! never through a float: the record on Kafka carries exactly the digits that were sent, as a
//! string, like an amount sent as a string. A number breaking the rule (three decimals, an
//! exponent, a sign, zero) is refused as a string breaking it is.

use rdkafka::message::Message;
use serde_json::{Value, json};

use crate::support::{Harness, assert_refused, with, with_raw};

#[tokio::test]
async fn amount_is_a_positive_decimal_string_or_number_read_exactly() {
    let h = Harness::start().await;
    let strings = [
        "1",
        "0.01",
        "0.5",
        "12.3",
        "12.34",
        "100",
        "999999999999999.99",
    ];
    // (number as sent, the text the record carries)
    let numbers = [
        ("129.95", "129.95"),
        ("12.34", "12.34"),
        ("12", "12"),
        ("0.01", "0.01"),
        ("12.5", "12.5"),
        ("12.50", "12.50"),
        ("1000.0", "1000.0"),
        // 17 significant digits: the nearest f64 prints as 1000000000000000.
        ("999999999999999.99", "999999999999999.99"),
    ];
    let mut expected = Vec::new();
    for (i, ok) in strings.into_iter().enumerate() {
        let id = format!("amount-ok-{i}");
        let mut body = with("amount", json!(ok));
        body["id"] = json!(id);
        let response = h.post(&body).await;
        assert_eq!(response.status(), 202, "amount {ok:?}");
        expected.push((id, ok));
    }
    for (i, (number, text)) in numbers.into_iter().enumerate() {
        let id = format!("amount-number-{i}");
        let body = with_raw(&id, "amount", number);
        let response = h.post_raw("application/json", body).await;
        assert_eq!(response.status(), 202, "amount {number}");
        expected.push((id, text));
    }
    let records = h.read_back(expected.len()).await;
    assert_eq!(records.len(), expected.len());
    for (record, (id, text)) in records.iter().zip(&expected) {
        assert_eq!(record.key(), Some(id.as_bytes()));
        let payload = std::str::from_utf8(record.payload().unwrap()).unwrap();
        assert!(
            payload.contains(&format!(r#","amount":"{text}","#)),
            "{id}: {payload}"
        );
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
    for bad in [
        "129.951",
        "129.950",
        "1e3",
        "1E3",
        "4.56e2",
        "12E-1",
        "-1",
        "-77.77",
        "-0",
        "0",
        "0.0",
        "0.00",
        "0.001",
        "4111111111111111",
    ] {
        let response = h
            .post_raw("application/json", with_raw("tx-1", "amount", bad))
            .await;
        let refused = assert_refused(response, "invalid_value", Some("amount")).await;
        if bad.len() > 2 {
            assert!(!refused.to_string().contains(bad), "{refused}");
        }
    }
    for other in [
        Value::Null,
        json!(true),
        json!(["12.34"]),
        json!({"value": "12.34"}),
    ] {
        let body = with("amount", other);
        let refused = assert_refused(h.post(&body).await, "invalid_type", Some("amount")).await;
        assert!(
            refused["message"].as_str().unwrap().contains("string"),
            "{refused}"
        );
    }
    // Nothing refused reached the topic.
    let all = h.read_back_within(expected.len() + 1, std::time::Duration::from_secs(2));
    assert_eq!(all.await.len(), expected.len());
    h.stop().await;
}
