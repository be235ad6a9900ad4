//! The `bolt-proxy` binary exporting to a minimal OTLP/HTTP collector of the test's own, which
//! decodes every export with `opentelemetry-proto`, as a real collector would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::Child;
use tokio::time::timeout;

/// One span as the collector received it.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub name: String,
    pub attributes: HashMap<String, AnyValue>,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
}

/// One histogram point of a metric export.
#[derive(Debug, Clone)]
pub struct ReceivedPoint {
    pub metric: String,
    pub attributes: HashMap<String, AnyValue>,
    pub count: u64,
    pub sum: f64,
    /// When it was taken, in nanoseconds since the epoch.
    pub time: u64,
}

impl ReceivedPoint {
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        str_attr(&self.attributes, key)
    }
}

fn str_attr<'a>(attributes: &'a HashMap<String, AnyValue>, key: &str) -> Option<&'a str> {
    match attributes.get(key)? {
        AnyValue::StringValue(s) => Some(s),
        _ => None,
    }
}

fn attributes(kvs: Vec<KeyValue>) -> HashMap<String, AnyValue> {
    kvs.into_iter()
        .filter_map(|kv| Some((kv.key, kv.value?.value?)))
        .collect()
}

impl ReceivedSpan {
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        str_attr(&self.attributes, key)
    }

    /// Every string-valued attribute.
    pub fn string_attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attributes.iter().filter_map(|(k, v)| match v {
            AnyValue::StringValue(s) => Some((k.as_str(), s.as_str())),
            _ => None,
        })
    }

    pub fn int_attr(&self, key: &str) -> Option<i64> {
        match self.attributes.get(key)? {
            AnyValue::IntValue(i) => Some(*i),
            _ => None,
        }
    }

    pub fn bool_attr(&self, key: &str) -> Option<bool> {
        match self.attributes.get(key)? {
            AnyValue::BoolValue(b) => Some(*b),
            _ => None,
        }
    }
}

/// The spans of clients that spoke Bolt 4 (`bolt_4`) or Bolt 5 to the proxy: with one driver
/// of each, one driver's run.
pub fn spans_of(spans: &[ReceivedSpan], bolt_4: bool) -> Vec<&ReceivedSpan> {
    spans
        .iter()
        .filter(|s| {
            s.str_attr("network.protocol.version")
                .is_some_and(|v| v.starts_with("4.") == bolt_4)
        })
        .collect()
}

/// What the collector has received.
#[derive(Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    points: Vec<ReceivedPoint>,
    /// Every export body, traces and metrics, as sent.
    bodies: Vec<Vec<u8>>,
}

/// Accepts OTLP/HTTP protobuf posts on a free loopback port and keeps the spans and the
/// histogram points in them.
pub struct OtlpCollector {
    pub port: u16,
    received: Arc<Mutex<Received>>,
}

impl OtlpCollector {
    pub async fn start() -> OtlpCollector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received: Arc<Mutex<Received>> = Arc::default();
        let out = received.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, out.clone()));
            }
        });
        OtlpCollector { port, received }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.received.lock().unwrap().spans.clone()
    }

    /// The latest point of histogram `metric` for each attribute set: with cumulative
    /// temporality (the SDK's default), each holds the totals since the process started.
    pub fn histogram(&self, metric: &str) -> Vec<ReceivedPoint> {
        let mut latest: HashMap<String, ReceivedPoint> = HashMap::new();
        for p in &self.received.lock().unwrap().points {
            if p.metric != metric {
                continue;
            }
            let mut key: Vec<String> = p
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            key.sort();
            let key = key.join(",");
            if latest.get(&key).is_none_or(|q| q.time <= p.time) {
                latest.insert(key, p.clone());
            }
        }
        latest.into_values().collect()
    }

    /// Every export body received so far, as sent: names, attributes, events, status
    /// messages and resource together, for checks that nothing anywhere holds a value.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.received.lock().unwrap().bodies.clone()
    }
}

/// One HTTP/1.1 connection: each request's body is an `ExportTraceServiceRequest` (path
/// `/v1/traces`) or an `ExportMetricsServiceRequest` (`/v1/metrics`).
async fn serve(sock: tokio::net::TcpStream, out: Arc<Mutex<Received>>) {
    let mut r = BufReader::new(sock);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        let mut path = String::new();
        // Request line and headers.
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if path.is_empty() {
                path = l.split(' ').nth(1).unwrap_or("?").to_owned();
            }
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await.unwrap();
        record(&mut out.lock().unwrap(), &path, body);
        let resp =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if r.get_mut().write_all(resp).await.is_err() {
            return;
        }
    }
}

/// Decodes one export body into `out`.
fn record(out: &mut Received, path: &str, body: Vec<u8>) {
    if path.ends_with("/v1/metrics") {
        let req = ExportMetricsServiceRequest::decode(&body[..]).expect("OTLP metrics");
        for m in req
            .resource_metrics
            .into_iter()
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
        {
            if let Some(Data::Histogram(h)) = m.data {
                for p in h.data_points {
                    out.points.push(ReceivedPoint {
                        metric: m.name.clone(),
                        attributes: attributes(p.attributes),
                        count: p.count,
                        sum: p.sum.unwrap_or_default(),
                        time: p.time_unix_nano,
                    });
                }
            }
        }
    } else {
        let req = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP traces");
        for s in req
            .resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
        {
            out.spans.push(ReceivedSpan {
                name: s.name,
                attributes: attributes(s.attributes),
                status_code: s.status.map_or(0, |st| st.code),
            });
        }
    }
    out.bodies.push(body);
}

/// Starts the `bolt-proxy` binary in front of `upstream`, exporting over OTLP/HTTP to
/// `otlp_port` with a batch delay of `batch_delay_ms`; returns the child (killed on drop) and
/// the address it listens on.
pub async fn spawn_proxy_binary(
    upstream: &str,
    otlp_port: u16,
    batch_delay_ms: u64,
    extra_args: &[&str],
) -> (Child, SocketAddr) {
    spawn_proxy_binary_logging(upstream, otlp_port, batch_delay_ms, extra_args, None).await
}

/// [`spawn_proxy_binary`], writing its log at `trace` level into `log` when given.
pub async fn spawn_proxy_binary_logging(
    upstream: &str,
    otlp_port: u16,
    batch_delay_ms: u64,
    extra_args: &[&str],
    log: Option<&std::path::Path>,
) -> (Child, SocketAddr) {
    let (level, stderr) = match log {
        Some(path) => ("trace", Stdio::from(std::fs::File::create(path).unwrap())),
        None => ("info", Stdio::null()),
    };
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bolt-proxy"))
        .args(["--listen", "127.0.0.1:0", "--upstream", upstream])
        .args(extra_args)
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "bolt-proxy-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", batch_delay_ms.to_string())
        .env("RUST_LOG", level)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .expect("bolt-proxy starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("prints its address")
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("bolt-proxy listening on ")
        .expect("address line")
        .parse()
        .unwrap();
    // Keep reading, so anything it prints later never meets a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// Sends SIGTERM to `child` and waits (at most `within`) for it to exit; returns whether it
/// exited with status 0.
pub async fn terminate(child: &mut Child, within: Duration) -> bool {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    timeout(within, child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap()
        .success()
}
