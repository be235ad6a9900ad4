//! Shared harness: the ingestor served in-process on a loopback port in front of real Apache
//! Kafka, a consumer to read back what reached the topic, and request helpers; the binary's one
//! telemetry installation is in [`otel`].
//!
//! Most tests use the run's shared broker ([`fixtures::shared::kafka`]) with a topic of their
//! own; tests that stop, kill or pause the broker start a private one ([`Harness::start_private`])
//! so that no other test sees the outage.

pub mod load;
mod otel;

pub use otel::telemetry;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fixtures::testkit::{eventually, send_signal, unique};
use fixtures::{ApacheKafka, ApacheKafkaOptions};
use ingestor::{AppState, KafkaConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The node id of a private single-node broker.
pub const BROKER: i32 = 1;

/// A topic name no other test (of this run or an earlier one on the same broker) uses.
pub fn unique_topic(test: &str) -> String {
    unique(&format!("ingestor_{test}"))
}

/// The run's shared Apache Kafka, with a new topic of `partitions` partitions for `test`:
/// `(bootstrap servers, topic)`.
pub async fn shared_topic(test: &str, partitions: i32) -> (String, String) {
    let topic = unique_topic(test);
    let name = topic.clone();
    let bootstrap = tokio::task::spawn_blocking(move || {
        let kafka = fixtures::shared::kafka().expect("the run's shared Apache Kafka");
        kafka
            .create_topics(&[(&name, partitions)])
            .expect("topic created on the shared Kafka");
        kafka.bootstrap.clone()
    })
    .await
    .unwrap();
    (bootstrap, topic)
}

/// A private single-node Apache Kafka with `topic` (`partitions` partitions) and no other
/// topic, for a test that stops, kills or pauses it.
pub async fn private_kafka(topic: &str, partitions: i32) -> Arc<ApacheKafka> {
    let options = ApacheKafkaOptions::default()
        .without_default_topics()
        .with_topic(topic, partitions);
    let kafka = tokio::task::spawn_blocking(move || ApacheKafka::start_with(options))
        .await
        .unwrap()
        .expect("a private Apache Kafka must start");
    Arc::new(kafka)
}

/// Stops a broker's JVM (SIGSTOP) until [`Paused::resume`] or drop: it keeps its connections
/// but answers nothing, like a broker in a long pause. The real broker's stand-in for the mock's
/// round-trip delay.
pub struct Paused {
    pid: Option<u32>,
}

impl Paused {
    /// Pauses node `id` of `kafka`.
    pub fn broker(kafka: &ApacheKafka, id: i32) -> Paused {
        let pid = kafka.node_pid(id).expect("the broker runs");
        send_signal(pid, "STOP");
        Paused { pid: Some(pid) }
    }

    /// Lets the broker run again.
    pub fn resume(mut self) {
        if let Some(pid) = self.pid.take() {
            send_signal(pid, "CONT");
        }
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            send_signal(pid, "CONT");
        }
    }
}

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

/// `valid(id)` as text, with `field` set to the raw JSON text `raw` (a number exactly as
/// written, `1e3` or `129.950`, which a `serde_json::Value` would reformat).
pub fn with_raw(id: &str, field: &str, raw: &str) -> String {
    let mut body = valid(id);
    body[field] = json!("\u{0}raw\u{0}");
    body.to_string().replace(r#""\u0000raw\u0000""#, raw)
}

/// `valid("tx-1")` without `field`.
pub fn without(field: &str) -> Value {
    let mut body = valid("tx-1");
    body.as_object_mut().unwrap().remove(field);
    body
}

/// A running ingestor and the broker behind it.
pub struct Harness {
    /// `http://127.0.0.1:port`.
    pub base: String,
    /// The bootstrap servers the ingestor was given.
    pub brokers: String,
    /// The topic the ingestor produces to (one partition unless the test chose otherwise).
    pub topic: String,
    /// The HTTP client.
    pub http: reqwest::Client,
    /// The test's private broker, if it has one (dropped last).
    kafka: Option<Arc<ApacheKafka>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<ingestor::Result<()>>>,
}

/// The ingestor's settings for the harnesses: a 5 s send timeout, a 500 ms readiness probe.
pub fn config(brokers: &str, topic: &str) -> KafkaConfig {
    KafkaConfig::new(brokers)
        .with_topic(topic)
        .with_send_timeout(Duration::from_secs(5))
        .with_ready_timeout(Duration::from_millis(500))
}

impl Harness {
    /// A topic of its own (one partition) on the run's shared Kafka and an ingestor with a 5 s
    /// send timeout, ready.
    pub async fn start() -> Harness {
        let (brokers, topic) = shared_topic("harness", 1).await;
        let h = Harness::start_with(config(&brokers, &topic), None).await;
        h.wait_ready().await;
        h
    }

    /// Like [`Harness::start`] on a private single-node Kafka, for a test that stops, kills
    /// or pauses the broker ([`Harness::kafka`]).
    pub async fn start_private() -> Harness {
        let topic = unique_topic("private");
        let kafka = private_kafka(&topic, 1).await;
        let h = Harness::start_with(config(kafka.bootstrap_servers(), &topic), Some(kafka)).await;
        h.wait_ready().await;
        h
    }

    /// Waits until `/readyz` answers 200 (the producer reached the broker); fails after 30 s.
    pub async fn wait_ready(&self) {
        eventually(
            "the ingestor to be ready",
            Duration::from_secs(30),
            || async { (self.get("/readyz").await.status() == 200).then_some(()) },
        )
        .await
    }

    /// An ingestor configured by `config` (which names the brokers and the topic), holding
    /// `kafka` if the test has a private broker.
    pub async fn start_with(config: KafkaConfig, kafka: Option<Arc<ApacheKafka>>) -> Harness {
        Harness::start_with_state(config, kafka, |state| state).await
    }

    /// Like [`Harness::start`], with the state's options set by `options` (a future margin, ...).
    pub async fn start_with_options(options: impl FnOnce(AppState) -> AppState) -> Harness {
        let (brokers, topic) = shared_topic("harness", 1).await;
        let h = Harness::start_with_state(config(&brokers, &topic), None, options).await;
        h.wait_ready().await;
        h
    }

    /// Like [`Harness::start_with`], with the state's options set by `options`.
    pub async fn start_with_state(
        config: KafkaConfig,
        kafka: Option<Arc<ApacheKafka>>,
        options: impl FnOnce(AppState) -> AppState,
    ) -> Harness {
        let state = options(
            AppState::new(&config)
                .expect("producer")
                .with_shutdown_timeout(Duration::from_secs(5)),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(ingestor::serve(listener, state, async move {
            let _ = rx.await;
        }));
        Harness {
            base,
            brokers: config.brokers.clone(),
            topic: config.topic.clone(),
            http: reqwest::Client::new(),
            kafka,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The private broker ([`Harness::start_private`]).
    pub fn kafka(&self) -> &ApacheKafka {
        self.kafka
            .as_deref()
            .expect("this harness has no private broker")
    }

    /// Kills the private broker (SIGKILL), as a crash would.
    pub async fn kill_broker(&self) {
        self.on_broker(|kafka| kafka.kill_broker(BROKER).map(drop))
            .await;
    }

    /// Stops the private broker cleanly (SIGTERM) and waits until its process is gone.
    pub async fn stop_broker(&self) {
        let clean = self.on_broker(|kafka| kafka.stop_broker(BROKER)).await;
        assert!(clean, "the broker did not stop cleanly within 60 s");
    }

    /// Starts the private broker again on its port and storage; returns once it is in the
    /// metadata.
    pub async fn restart_broker(&self) {
        self.on_broker(|kafka| kafka.restart_broker(BROKER)).await;
    }

    /// Runs a blocking operation on the private broker off the runtime's threads, so the
    /// ingestor served on this runtime keeps answering meanwhile.
    async fn on_broker<T: Send + 'static>(
        &self,
        operation: impl FnOnce(&ApacheKafka) -> fixtures::Result<T> + Send + 'static,
    ) -> T {
        let kafka = self
            .kafka
            .clone()
            .expect("this harness has no private broker");
        tokio::task::spawn_blocking(move || {
            operation(&kafka).unwrap_or_else(|e| {
                panic!(
                    "broker operation failed: {e}\n{}",
                    kafka.log_tail(BROKER, 30)
                )
            })
        })
        .await
        .unwrap()
    }

    /// Pauses the private broker (see [`Paused`]).
    pub fn pause_broker(&self) -> Paused {
        Paused::broker(self.kafka(), BROKER)
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

    /// Every record on the harness's topic (partition 0) from the beginning, waiting until at
    /// least `count` arrived (30 s at most).
    pub async fn read_back(&self, count: usize) -> Vec<OwnedMessage> {
        self.read_back_within(count, Duration::from_secs(30)).await
    }

    /// Like [`Harness::read_back`] with a shorter wait, to show that nothing more arrives.
    pub async fn read_back_within(&self, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        let (brokers, topic) = (self.brokers.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || read_topic(&brokers, &topic, count, timeout))
            .await
            .unwrap()
    }

    /// Every record on every partition of the harness's topic, read up to the high watermarks
    /// (see [`read_all`]).
    pub async fn read_all(&self) -> Vec<OwnedMessage> {
        let (brokers, topic) = (self.brokers.clone(), self.topic.clone());
        tokio::task::spawn_blocking(move || read_all(&brokers, &topic))
            .await
            .unwrap()
    }
}

fn reader(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // Partitions are assigned, not subscribed, and nothing is committed: the group is a
        // formality, unique so that no two readers ever meet in a coordinator.
        .set("group.id", unique("ingestor_reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// Reads partition 0 of `topic` from the start until `count` records or `timeout`.
pub fn read_topic(
    brokers: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer = reader(brokers);
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

/// Every record of every partition of `topic`, from the beginning up to the high watermark each
/// partition has when the read starts: exactly what the broker holds, nothing waited for.
pub fn read_all(brokers: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer = reader(brokers);
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("topic metadata");
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("the topic is in the metadata")
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    assert!(!partitions.is_empty(), "{topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    // The next offset each partition still owes us, and its high watermark.
    let mut owed = std::collections::HashMap::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .expect("watermarks");
        if high > low {
            tpl.add_partition_offset(topic, partition, Offset::Offset(low))
                .unwrap();
            owed.insert(partition, high);
        }
    }
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut out = Vec::new();
    while !owed.is_empty() {
        assert!(
            Instant::now() < deadline,
            "{topic}: partitions {owed:?} not read to their high watermark within 60 s"
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("consume").detach();
            let Some(&high) = owed.get(&message.partition()) else {
                continue;
            };
            if message.offset() + 1 >= high {
                owed.remove(&message.partition());
            }
            if message.offset() < high {
                out.push(message);
            }
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
