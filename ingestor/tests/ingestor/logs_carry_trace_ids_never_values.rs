//! The service's logs (JSON on stderr) carry the request's trace and span ids, and name fields
//! and error kinds but never the values sent, even at debug level: checked on the built binary
//! with RUST_LOG=debug.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use fixtures::testkit::{send_signal, wait_exit};
use serde_json::json;

use crate::support::{read_addr, shared_topic, valid, with};

const PAN: &str = "4111111111111111";
const TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn logs_carry_trace_ids_never_values() {
    let (brokers, topic) = shared_topic("logs", 1).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .env("INGESTOR_ADDR", "127.0.0.1:0")
        .env("KAFKA_BROKERS", &brokers)
        .env("KAFKA_TOPIC", &topic)
        .env("RUST_LOG", "debug")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ingestor binary starts");
    let addr = read_addr(child.stdout.as_mut().unwrap());
    // Drain stderr as it comes so a chatty debug log can never fill the pipe and block the child.
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr_pipe.read_to_string(&mut text).unwrap();
        text
    });
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/transactions");

    let bodies = [
        with("card_id", json!(format!("{PAN}!"))),
        with("card_id", json!(PAN.parse::<u64>().unwrap())),
        with("amount", json!(PAN)),
        with("currency", json!(PAN)),
        with("timestamp", json!(PAN)),
        with(PAN, json!(PAN)),
    ];
    for body in &bodies {
        let status = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400);
    }
    // A refused request from a traced caller: its log line names the caller's trace.
    let status = http
        .post(&url)
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .body(with("currency", json!("XXX")).to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400);

    // An accepted one too: its card id must not be logged either.
    let mut accepted = valid("logs-ok-1");
    accepted["card_id"] = json!(PAN);
    let status = http
        .post(&url)
        .header("content-type", "application/json")
        .body(accepted.to_string())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 202);

    send_signal(child.id(), "TERM");
    let exit = wait_exit(&mut child, Duration::from_secs(15));
    assert_eq!(exit.code(), Some(0));
    let stderr = stderr_reader.join().unwrap();
    assert!(
        stderr.contains("transaction refused"),
        "debug logs were on: {stderr}"
    );
    assert!(!stderr.contains(PAN), "a value reached the logs:\n{stderr}");

    let traced: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["trace_id"] == TRACE_ID)
        .collect();
    assert!(
        traced
            .iter()
            .any(|line| line["message"] == "transaction refused"
                && line["fields"]["field"] == "currency"
                && line["span_id"].as_str().is_some_and(|id| id.len() == 16)),
        "no refusal log line in the caller's trace:\n{stderr}"
    );
}
