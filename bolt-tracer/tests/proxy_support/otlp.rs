//! The `bolt-proxy` binary exporting to a minimal OTLP/HTTP collector of the test's own, which
//! decodes every export with `opentelemetry-proto`, as a real collector would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
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

impl ReceivedSpan {
    pub fn str_attr(&self, key: &str) -> Option<&str> {
        match self.attributes.get(key)? {
            AnyValue::StringValue(s) => Some(s),
            _ => None,
        }
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

/// Accepts OTLP/HTTP protobuf posts on a free loopback port and keeps the spans in them.
pub struct OtlpCollector {
    pub port: u16,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl OtlpCollector {
    pub async fn start() -> OtlpCollector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let (out, raw) = (spans.clone(), bodies.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, out.clone(), raw.clone()));
            }
        });
        OtlpCollector {
            port,
            spans,
            bodies,
        }
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Every export body received so far, as sent: names, attributes, events, status
    /// messages and resource together, for checks that nothing anywhere holds a value.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }
}

/// One HTTP/1.1 connection: each request's body is an `ExportTraceServiceRequest`.
async fn serve(
    sock: tokio::net::TcpStream,
    out: Arc<Mutex<Vec<ReceivedSpan>>>,
    raw: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let mut r = BufReader::new(sock);
    loop {
        let mut len = 0usize;
        let mut line = String::new();
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
            if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await.unwrap();
        let req = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP protobuf");
        raw.lock().unwrap().push(body);
        for rs in req.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let attributes = s
                        .attributes
                        .into_iter()
                        .filter_map(|kv| Some((kv.key, kv.value?.value?)))
                        .collect();
                    out.lock().unwrap().push(ReceivedSpan {
                        name: s.name,
                        attributes,
                        status_code: s.status.map_or(0, |st| st.code),
                    });
                }
            }
        }
        let resp =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if r.get_mut().write_all(resp).await.is_err() {
            return;
        }
    }
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
