//! SIGTERM on the built binary: the listener closes at once, requests already in flight still
//! get their 202 after the broker's ack, the producer and the spans are flushed, exit code 0.
//!
//! The requests are held in flight by pausing (SIGSTOP) a broker of the test's own until the
//! ingestor has been signalled and its listener is closed. The ingestor is signalled once each
//! of them is known to wait for its ack: with debug logging it says so, in the request's trace,
//! and each request comes with a trace of its own.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixtures::otlp::{Collector, SpanKind};
use fixtures::testkit::{send_signal, wait_exit, wait_until};

use crate::support::{BROKER, Paused, private_kafka, read_addr, read_topic, unique_topic, valid};

/// The ingestor's debug line for a valid request that waits for the broker's ack.
const WAITING_FOR_ACK: &str = "transaction valid, waiting for the broker's ack";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_and_exits_zero() {
    let topic = unique_topic("drain");
    let kafka = private_kafka(&topic, 1).await;
    let collector = Collector::start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .env("INGESTOR_ADDR", "127.0.0.1:0")
        .env("KAFKA_BROKERS", kafka.bootstrap_servers())
        .env("KAFKA_TOPIC", &topic)
        .env("INGESTOR_SEND_TIMEOUT_MS", "10000")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        // Nothing is exported on schedule: spans seen by the collector were flushed at exit.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("RUST_LOG", "info,ingestor=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ingestor binary starts");
    let addr = read_addr(child.stdout.as_mut().unwrap());
    let waiting = traces_waiting_for_ack(child.stderr.take().unwrap());
    let url = format!("http://{addr}/transactions");
    let http = reqwest::Client::new();
    let post = |id: String, trace_id: &str| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
            .body(valid(&id).to_string());
        async move { request.send().await }
    };

    // Warm up: producer id and metadata are fetched before the broker is held.
    let warm_up = trace_id(0);
    assert_eq!(
        post("drain-0".into(), &warm_up).await.unwrap().status(),
        202
    );

    let paused = Paused::broker(&kafka, BROKER);
    let traces: Vec<String> = (1..=5).map(trace_id).collect();
    let in_flight: Vec<_> = traces
        .iter()
        .enumerate()
        .map(|(i, trace)| tokio::spawn(post(format!("drain-{}", i + 1), trace)))
        .collect();
    // A request still unread at SIGTERM would rightly be dropped: signal only once every one
    // of them has been read and handed to the producer.
    wait_until(
        "every request waiting for the broker's ack",
        Duration::from_secs(10),
        || {
            let waiting = waiting.lock().unwrap();
            traces.iter().all(|trace| waiting.contains(trace))
        },
    )
    .await;
    let signalled = Instant::now();
    send_signal(child.id(), "TERM");
    wait_until(
        "the listener to refuse connections after SIGTERM",
        Duration::from_secs(5),
        || std::net::TcpStream::connect(&addr).is_err(),
    )
    .await;

    // The listener is closed: a new connection is refused while the old ones drain.
    let late = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(valid("drain-late").to_string())
        .send()
        .await;
    assert!(
        late.is_err(),
        "accepted a new connection after SIGTERM: {late:?}"
    );

    paused.resume();
    for request in in_flight {
        let response = request.await.unwrap().expect("in-flight request answered");
        assert_eq!(response.status(), 202);
    }
    let exit = tokio::task::spawn_blocking(move || wait_exit(&mut child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(exit.code(), Some(0), "clean exit");
    assert!(signalled.elapsed() < Duration::from_secs(20));

    // Every accepted record is on the topic, and every span reached the collector at exit.
    let brokers = kafka.bootstrap_servers().to_owned();
    let records = tokio::task::spawn_blocking(move || {
        read_topic(&brokers, &topic, 6, Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert_eq!(records.len(), 6);
    let spans = collector
        .wait_for(
            |spans| {
                spans.iter().filter(|s| s.kind == SpanKind::Server).count() == 6
                    && spans
                        .iter()
                        .filter(|s| s.kind == SpanKind::Producer)
                        .count()
                        == 6
            },
            Duration::from_secs(5),
        )
        .await
        .expect("all spans flushed at shutdown");
    assert!(spans.iter().all(|s| s.service_name == "ingestor"));
}

/// A trace id of this test's own, numbered `n`.
fn trace_id(n: u32) -> String {
    format!("d7a1{n:028x}")
}

/// Reads the ingestor's JSON log lines from `stderr` until it closes, collecting the trace ids
/// of the requests that said they wait for the broker's ack. Draining as it comes, so the child
/// never blocks on a full pipe.
fn traces_waiting_for_ack(stderr: std::process::ChildStderr) -> Arc<Mutex<HashSet<String>>> {
    let waiting = Arc::new(Mutex::new(HashSet::new()));
    let seen = waiting.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if log["message"] == WAITING_FOR_ACK
                && let Some(trace) = log["trace_id"].as_str()
            {
                seen.lock().unwrap().insert(trace.to_owned());
            }
        }
    });
    waiting
}
