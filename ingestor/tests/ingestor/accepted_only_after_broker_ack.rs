//! A valid transaction is answered 202 `{"id"}` only once its record is on the topic: key = id,
//! value = the canonical JSON of the transaction, one `traceparent` header. Refused requests
//! never reach the topic.
//!
//! A real broker cannot be told to answer slowly, as the mock could: this test has a broker of
//! its own and pauses it (SIGSTOP) while a request waits, so the broker's ack, and with it the
//! answer, can only come after the pause.

use std::time::{Duration, Instant};

use rdkafka::message::Message;
use serde_json::{Value, json};

use crate::support::{Harness, header_values, telemetry, valid, with};

#[tokio::test]
async fn accepted_only_after_broker_ack() {
    // Real span ids, so that the record carries a traceparent.
    telemetry();
    let h = Harness::start_private().await;

    // A refused request first: it must leave no record behind.
    assert_eq!(h.post(&with("amount", json!("0"))).await.status(), 400);

    // Hold the broker: the answer cannot come before the ack does.
    let pause = Duration::from_millis(500);
    let paused = h.pause_broker();
    // Pretty-printed and reordered on the way in; canonical on the way out.
    let sent = r#"{
  "timestamp": "2024-05-01T14:00:00.5+02:00",
  "currency": "EUR",
  "amount": "12.34",
  "merchant_id": "m-1",
  "device_id": "dev-1",
  "card_id": "card-1",
  "account_id": "acc-1",
  "id": "tx-accepted-1"
}"#;
    let started = Instant::now();
    let (response, ()) = tokio::join!(h.post_raw("application/json", sent), async {
        // The pause is the delay under test, not a wait for something to happen.
        tokio::time::sleep(pause).await;
        paused.resume();
    });
    let elapsed = started.elapsed();
    assert_eq!(response.status(), 202);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer, json!({"id": "tx-accepted-1"}));
    assert!(elapsed >= pause, "answered before the ack: {elapsed:?}");

    let second = h.post(&valid("tx-accepted-2")).await;
    assert_eq!(second.status(), 202);

    let records = h.read_back(2).await;
    assert_eq!(records.len(), 2, "exactly the two accepted records");
    let first = &records[0];
    assert_eq!(first.key(), Some(&b"tx-accepted-1"[..]));
    let value = std::str::from_utf8(first.payload().unwrap()).unwrap();
    assert_eq!(
        value,
        r#"{"id":"tx-accepted-1","account_id":"acc-1","card_id":"card-1","device_id":"dev-1","merchant_id":"m-1","amount":"12.34","currency":"EUR","timestamp":"2024-05-01T14:00:00.5+02:00"}"#
    );
    let traceparent = header_values(first, "traceparent");
    assert_eq!(traceparent.len(), 1, "one traceparent: {traceparent:?}");
    let parts: Vec<&str> = traceparent[0].split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent:?}");
    assert_eq!((parts[0], parts[1].len(), parts[2].len()), ("00", 32, 16));
    assert_eq!(records[1].key(), Some(&b"tx-accepted-2"[..]));
    // And nothing else arrives.
    assert_eq!(h.read_back_within(3, Duration::from_secs(2)).await.len(), 2);
    h.stop().await;
}
