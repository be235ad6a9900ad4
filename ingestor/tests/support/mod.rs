//! Shared harness: a mock Kafka cluster, the ingestor served in-process on a loopback port, a
//! consumer to read back what reached the topic, and request helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use fixtures::KafkaCluster;
use ingestor::{AppState, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The topic every harness creates (one partition, so reading back is simple and ordered).
pub const TOPIC: &str = "ingestor.test";

/// A valid transaction body with the given id.
pub fn valid(id: &str) -> Value {
    json!({
        "id": id,
        "account_id": "acc-1",
        "card_id": "card-1",
        "device_id": "dev-1",
        "merchant_id": "m-1",
        "amount": "12.34",
        "currency": "EUR",
        "timestamp": "2024-05-01T12:00:00Z"
    })
}

/// `valid("tx-1")` with `field` set to `value`.
pub fn with(field: &str, value: Value) -> Value {
    let mut body = valid("tx-1");
    body[field] = value;
    body
}

/// `valid("tx-1")` without `field`.
pub fn without(field: &str) -> Value {
    let mut body = valid("tx-1");
    body.as_object_mut().unwrap().remove(field);
    body
}

/// A running ingestor and the cluster behind it.
pub struct Harness {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The cluster (dropped last).
    pub kafka: KafkaCluster,
    /// The HTTP client.
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<ingestor::Result<()>>>,
}

impl Harness {
    /// A fresh cluster with [`TOPIC`] and an ingestor with a 5 s send timeout, ready.
    pub async fn start() -> Harness {
        let kafka = KafkaCluster::start().expect("mock Kafka cluster must start");
        kafka.create_topic(TOPIC, 1).expect("topic");
        let config = KafkaConfig::new(kafka.bootstrap_servers())
            .with_topic(TOPIC)
            .with_send_timeout(Duration::from_secs(5))
            .with_ready_timeout(Duration::from_millis(500));
        let h = Harness::start_with(kafka, config).await;
        h.wait_ready().await;
        h
    }

    /// Waits until `/readyz` answers 200 (the producer reached the broker); fails after 15 s.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if self.get("/readyz").await.status() == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the ingestor never became ready");
    }

    /// An ingestor configured by `config`, in front of `kafka`.
    pub async fn start_with(kafka: KafkaCluster, config: KafkaConfig) -> Harness {
        let state = AppState::new(&config)
            .expect("producer")
            .with_shutdown_timeout(Duration::from_secs(5));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(ingestor::serve(listener, state, async move {
            let _ = rx.await;
        }));
        Harness {
            base,
            kafka,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// POSTs `body` as JSON to `/transactions`.
    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.post_raw("application/json", body.to_string()).await
    }

    /// POSTs every body at once, answers in the order of `bodies`.
    pub async fn post_concurrently(&self, bodies: Vec<Value>) -> Vec<reqwest::Response> {
        let tasks: Vec<_> = bodies
            .into_iter()
            .map(|body| {
                let request = self
                    .http
                    .post(format!("{}/transactions", self.base))
                    .header("content-type", "application/json")
                    .body(body.to_string());
                tokio::spawn(async move { request.send().await.expect("the ingestor must answer") })
            })
            .collect();
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    }

    /// POSTs raw bytes with the given content type.
    pub async fn post_raw(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}/transactions", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the ingestor must answer")
    }

    /// GETs a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .expect("the ingestor must answer")
    }

    /// Stops the server (graceful) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().expect("serve ends cleanly");
        }
    }

    /// Every record on [`TOPIC`] from the beginning, waiting until at least `count` arrived.
    pub fn read_back(&self, count: usize) -> Vec<OwnedMessage> {
        read_topic(
            self.kafka.bootstrap_servers(),
            TOPIC,
            count,
            Duration::from_secs(10),
        )
    }

    /// Like [`Harness::read_back`] with a shorter wait, to show that nothing more arrives.
    pub fn read_back_within(&self, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        read_topic(self.kafka.bootstrap_servers(), TOPIC, count, timeout)
    }
}

/// Reads partition 0 of `topic` from the start until `count` records or `timeout`.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "ingestor-test-reader")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    while out.len() < count && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            out.push(message.expect("consume").detach());
        }
    }
    out
}

/// The values of header `name` on `message`, in order.
pub fn header_values(message: &OwnedMessage, name: &str) -> Vec<String> {
    let Some(headers) = message.headers() else {
        return Vec::new();
    };
    headers
        .iter()
        .filter(|h| h.key == name)
        .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
        .collect()
}

/// Asserts a 400 whose body names `field` with `code`, and returns the body.
pub async fn assert_refused(response: reqwest::Response, code: &str, field: Option<&str>) -> Value {
    assert_eq!(response.status(), 400, "expected 400 for {code} {field:?}");
    assert_json(&response);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(
        body["field"],
        field.map_or(Value::Null, Value::from),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Asserts the response is `application/json`.
pub fn assert_json(response: &reqwest::Response) {
    let ct = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "content-type {ct:?}");
}

/// Installs telemetry once per test process: real span ids (so trace headers are written),
/// nothing exported, no log subscriber. Call before [`Harness::start`].
pub fn telemetry_without_export() {
    static GUARD: std::sync::OnceLock<telemetry::TelemetryGuard> = std::sync::OnceLock::new();
    GUARD.get_or_init(|| {
        telemetry::Builder::new("ingestor")
            .without_otlp()
            .without_logs()
            .install()
            .expect("telemetry installs")
    });
}

/// Installs telemetry exporting to `endpoint` over OTLP/HTTP, without logs.
pub fn telemetry_exporting_to(endpoint: &str) -> telemetry::TelemetryGuard {
    telemetry::Builder::new("ingestor")
        .with_otlp_endpoint(endpoint)
        .without_logs()
        .install()
        .expect("telemetry installs")
}

/// The one span named `name` of kind `kind` in `spans`.
pub fn only_span<'a>(
    spans: &'a [fixtures::otlp::CollectedSpan],
    name: &str,
    kind: fixtures::otlp::SpanKind,
) -> &'a fixtures::otlp::CollectedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == name && s.kind == kind)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "spans named {name:?} of kind {kind:?}: {spans:#?}"
    );
    found[0]
}

/// Reads the `INGESTOR_ADDR=host:port` line the binary prints on stdout.
pub fn read_addr(stdout: &mut std::process::ChildStdout) -> String {
    use std::io::{BufRead, BufReader};
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("reading the ingestor's stdout");
    line.trim()
        .strip_prefix("INGESTOR_ADDR=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned()
}

/// Sends SIGTERM to `child`.
pub fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Waits for `child` to exit, killing it and failing after `timeout`.
pub fn wait_exit(child: &mut std::process::Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the ingestor did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Exports every finished span now. The SDK flush blocks, and the collector answering it may
/// live on this runtime: keep the runtime's other worker free (multi-thread tests only).
pub fn flush(guard: &telemetry::TelemetryGuard) {
    tokio::task::block_in_place(|| guard.force_flush()).expect("spans flushed");
}
