//! SIGTERM on the built binary: the listener closes at once, requests already in flight still
//! get their 202 after the broker's ack, the producer and the spans are flushed, exit code 0.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::KafkaCluster;
use fixtures::otlp::{Collector, SpanKind};
use support::{TOPIC, read_topic, valid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_and_exits_zero() {
    let kafka = KafkaCluster::start().unwrap();
    kafka.create_topic(TOPIC, 1).unwrap();
    let collector = Collector::start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingestor"))
        .env("INGESTOR_ADDR", "127.0.0.1:0")
        .env("KAFKA_BROKERS", kafka.bootstrap_servers())
        .env("KAFKA_TOPIC", TOPIC)
        .env("INGESTOR_SEND_TIMEOUT_MS", "10000")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())
        // Nothing is exported on schedule: spans seen by the collector were flushed at exit.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the ingestor binary starts");
    let addr = support::read_addr(child.stdout.as_mut().unwrap());
    let url = format!("http://{addr}/transactions");
    let http = reqwest::Client::new();
    let post = |id: String| {
        let request = http
            .post(&url)
            .header("content-type", "application/json")
            .body(valid(&id).to_string());
        async move { request.send().await }
    };

    // Warm up: producer id and metadata are fetched before the broker is slowed down.
    assert_eq!(post("drain-0".into()).await.unwrap().status(), 202);

    kafka
        .set_round_trip_time(1, Duration::from_millis(1500))
        .unwrap();
    let in_flight: Vec<_> = (1..=5)
        .map(|i| tokio::spawn(post(format!("drain-{i}"))))
        .collect();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    support::terminate(&child);
    tokio::time::sleep(Duration::from_millis(200)).await;

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

    for request in in_flight {
        let response = request.await.unwrap().expect("in-flight request answered");
        assert_eq!(response.status(), 202);
    }
    kafka.set_round_trip_time(1, Duration::ZERO).unwrap();
    let exit = tokio::task::spawn_blocking(move || {
        support::wait_exit(&mut child, Duration::from_secs(20))
    })
    .await
    .unwrap();
    assert_eq!(exit.code(), Some(0), "clean exit");
    assert!(signalled.elapsed() < Duration::from_secs(20));

    // Every accepted record is on the topic, and every span reached the collector at exit.
    let records = read_topic(kafka.bootstrap_servers(), TOPIC, 6, Duration::from_secs(10));
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
