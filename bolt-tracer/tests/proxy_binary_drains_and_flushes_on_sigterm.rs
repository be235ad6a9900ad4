//! The `bolt-proxy` binary on SIGTERM: stops accepting, lets the query in flight finish within
//! the grace period, flushes its spans over real OTLP/HTTP, and exits 0. The spans are read by a
//! minimal OTLP collector in this test, decoded with `opentelemetry-proto` as a collector would.

mod proxy_support;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bolt_tracer::bolt::{Map, Response, Version};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use proxy_support::{FalkorDb, RawClient};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::timeout;

/// Span names and `db.response.returned_rows` received, per OTLP export request.
type Received = Arc<Mutex<Vec<(String, Option<i64>)>>>;

/// Accepts OTLP/HTTP protobuf posts on a free port and records the spans in them.
async fn collector() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Received = Arc::default();
    let out = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let out = out.clone();
            tokio::spawn(async move {
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
                    for rs in req.resource_spans {
                        for ss in rs.scope_spans {
                            for s in ss.spans {
                                let rows = s
                                    .attributes
                                    .iter()
                                    .find(|kv| kv.key == "db.response.returned_rows")
                                    .and_then(|kv| kv.value.as_ref()?.value.clone())
                                    .and_then(|v| match v {
                                        any_value::Value::IntValue(i) => Some(i),
                                        _ => None,
                                    });
                                out.lock().unwrap().push((s.name, rows));
                            }
                        }
                    }
                    let resp = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if r.get_mut().write_all(resp).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_queries_flushes_spans_and_exits_0() {
    let db = FalkorDb::start();
    let (otlp_port, received) = collector().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_bolt-proxy"))
        .args(["--listen", "127.0.0.1:0", "--upstream", &db.bolt_addr()])
        .args(["--shutdown-grace", "5"])
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{otlp_port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        .env("OTEL_SERVICE_NAME", "bolt-proxy-test")
        // Long batch delay: spans can only arrive through the flush at shutdown.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("bolt-proxy starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("prints its address")
        .unwrap()
        .unwrap();
    let addr: std::net::SocketAddr = first
        .strip_prefix("bolt-proxy listening on ")
        .expect("address line")
        .parse()
        .unwrap();

    // A finished query, then one in flight when SIGTERM lands.
    let mut c = RawClient::login(addr, Version::V4_4).await;
    let (_, rows, _) = c.query("UNWIND range(1, 5) AS i RETURN i").await;
    assert_eq!(rows.len(), 5);
    c.run(
        "UNWIND range(1, 300000) AS i RETURN i",
        Map::new(),
        Map::new(),
    )
    .await;
    assert!(matches!(c.recv().await, Response::Success { .. }));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(status.success());

    // The in-flight query still completes.
    let mut n = 0;
    let summary = loop {
        match timeout(Duration::from_secs(10), c.recv())
            .await
            .expect("not hung")
        {
            Response::Record { .. } => n += 1,
            other => break other,
        }
    };
    assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
    assert_eq!(n, 300_000);

    // No new connections once draining.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(RawClient::connect(addr, Version::V4_4).await.is_err());

    // The connection closes once idle; the process exits 0 within the grace period.
    drop(c);
    let status = timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within the grace period")
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    let spans = received.lock().unwrap().clone();
    let mut rows: Vec<_> = spans.iter().filter_map(|(_, r)| *r).collect();
    rows.sort();
    assert_eq!(
        rows,
        [5, 300_000],
        "both query spans flushed at exit: {spans:?}"
    );
}
