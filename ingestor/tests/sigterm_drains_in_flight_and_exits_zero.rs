//! SIGTERM on the built binary: the listener closes at once, requests already in flight still
//! get their 202 after the broker's ack, the producer and the spans are flushed, exit code 0.
//!
//! The requests are held in flight by pausing (SIGSTOP) a broker of the test's own until the
//! ingestor has been signalled and its listener is closed.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fixtures::otlp::{Collector, SpanKind};
use support::{BROKER, Paused, private_kafka, read_topic, unique_topic, valid};

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

    // Warm up: producer id and metadata are fetched before the broker is held.
    assert_eq!(post("drain-0".into()).await.unwrap().status(), 202);

    let paused = Paused::broker(&kafka, BROKER);
    let in_flight: Vec<_> = (1..=5)
        .map(|i| tokio::spawn(post(format!("drain-{i}"))))
        .collect();
    // Time for the requests to reach the ingestor, which shows nothing of them from outside
    // while the broker is held (and a request still unread at SIGTERM would rightly be dropped).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let signalled = Instant::now();
    support::terminate(&child);
    let listener_addr = addr.clone();
    let closed = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&listener_addr).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await
    .unwrap();
    assert!(closed, "the listener still accepts 5 s after SIGTERM");

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
    let exit = tokio::task::spawn_blocking(move || {
        support::wait_exit(&mut child, Duration::from_secs(20))
    })
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
