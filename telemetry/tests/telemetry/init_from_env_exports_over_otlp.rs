//! `hop_telemetry::init` configured only by `OTEL_*` variables, checked from outside the process:
//! each scenario re-runs this test binary as a child with its own environment (variables cannot
//! be changed safely inside a multi-threaded test process, and `init` installs process-wide
//! globals) and the parent inspects what the child exported to a loopback OTLP receiver,
//! printed, and logged on stderr.
//!
//! - with an endpoint: spans arrive as http/protobuf on `/v1/traces`, decoded with the OTLP
//!   protobuf types, with the right trace and parent ids and service name; the batch export
//!   happens after `OTEL_BSP_SCHEDULE_DELAY`, before shutdown; metrics arrive on `/v1/metrics`;
//!   JSON log lines carry the trace and span ids.
//! - without an endpoint: nothing is exported, `init` starts no thread, ids are still real,
//!   `OTEL_PROPAGATORS` is honoured and its unknown names are warned about once.
//! - with gRPC: spans arrive at the trace service; gRPC needs a Tokio runtime and unknown
//!   protocols are refused.

use std::io::{BufRead, BufReader, Read};
use std::process::{ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use fixtures::otlp::Collector;
use fixtures::testkit::{holds_for, wait_until};
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message as _;
use serde_json::Value;
use tokio::runtime::Runtime;

use crate::support::child::{self, assert_child, assert_succeeded};

/// One HTTP request received by the [`Recorder`].
#[derive(Clone)]
struct Received {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// An OTLP/HTTP endpoint on loopback that keeps every request as it came and answers `200`.
///
/// `fixtures::otlp::Collector` decodes what it receives, but keeps no request's headers, and it
/// accepts OTLP/JSON as well as protobuf: it could not tell that the spans came as
/// `application/x-protobuf`, which is what the default protocol claims.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Received>>>);

impl Recorder {
    /// Starts one on `runtime`; returns it and its port.
    fn start(runtime: &Runtime) -> (Self, u16) {
        let recorder = Recorder::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("the recorder binds");
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(recorder.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        (recorder, port)
    }

    fn received(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

async fn record(
    State(recorder): State<Recorder>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    recorder.0.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        content_type,
        body: body.to_vec(),
    });
    StatusCode::OK
}

/// The ignored test `name` of this module, to be run in a child process with `env` (see
/// [`child::command`]).
fn child_command(name: &str, env: &[(&str, String)]) -> Command {
    child::command(module_path!(), name, env)
}

/// Runs the ignored test `name` of this module in a child process to its end.
fn run_child(name: &str, env: &[(&str, String)]) -> Output {
    child::run(module_path!(), name, env)
}

/// Reads the child's output up to and including the first line holding `marker`; returns it all.
fn read_through(stdout: &mut BufReader<ChildStdout>, marker: &str) -> String {
    let mut text = String::new();
    loop {
        let before = text.len();
        if stdout.read_line(&mut text).expect("child's stdout") == 0 {
            panic!("child ended its output before printing {marker}:\n{text}");
        }
        if text[before..].contains(marker) {
            return text;
        }
    }
}

/// The values the child printed after `KEY ` (the harness may have started the line).
fn printed<'a>(stdout: &'a str, key: &str) -> Vec<&'a str> {
    let marker = format!("{key} ");
    stdout
        .lines()
        .find_map(|line| Some(&line[line.find(&marker)? + marker.len()..]))
        .unwrap_or_else(|| panic!("child did not print {key}:\n{stdout}"))
        .split(' ')
        .collect()
}

fn json_lines(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect()
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc is mounted")
        .count()
}

#[test]
fn with_an_endpoint_spans_and_metrics_are_exported_as_http_protobuf() {
    let runtime = Runtime::new().unwrap();
    let (recorder, port) = Recorder::start(&runtime);
    let name = "child_with_endpoint";
    let mut child = child_command(
        name,
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_SERVICE_NAME", "otlp-child".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "60000".into()),
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("child runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed_text = read_through(&mut stdout, "IDS ");

    // The child has ended its spans and keeps its telemetry up until its stdin closes, so an
    // export arriving now comes from the batch timer (100 ms), not from the shutdown flush; the
    // wait is far shorter than the SDK's default delay of 5 s.
    runtime.block_on(wait_until(
        "a trace export from the batch timer, before shutdown",
        Duration::from_secs(3),
        || {
            recorder
                .received()
                .iter()
                .any(|request| request.path == "/v1/traces")
        },
    ));
    // Lets the child shut down (a failed wait closes it too, as `child` is dropped).
    drop(child.stdin.take());
    stdout
        .read_to_string(&mut printed_text)
        .expect("child's stdout");
    let output = child.wait_with_output().expect("child ends");
    let output = Output {
        stdout: printed_text.into_bytes(),
        ..output
    };
    assert_succeeded(name, &output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ids = printed(&stdout, "IDS");
    let (trace_id, root_id, child_id) = (ids[0], ids[1], ids[2]);

    let received = recorder.received();
    let traces: Vec<&Received> = received.iter().filter(|r| r.path == "/v1/traces").collect();
    assert!(!traces.is_empty(), "no trace export reached the collector");
    for request in &traces {
        assert_eq!(request.content_type, "application/x-protobuf");
    }

    let mut spans = Vec::new();
    for request in &traces {
        let decoded = ExportTraceServiceRequest::decode(request.body.as_slice()).expect("protobuf");
        for resource_spans in decoded.resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|resource| {
                    resource
                        .attributes
                        .iter()
                        .find(|kv| kv.key == "service.name")
                })
                .and_then(|kv| kv.value.as_ref())
                .and_then(|value| match &value.value {
                    Some(any_value::Value::StringValue(name)) => Some(name.clone()),
                    _ => None,
                });
            assert_eq!(service.as_deref(), Some("otlp-child"));
            for scope_spans in resource_spans.scope_spans {
                spans.extend(scope_spans.spans);
            }
        }
    }
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let root = spans
        .iter()
        .find(|span| span.name == "root-operation")
        .expect("root span exported");
    let child = spans
        .iter()
        .find(|span| span.name == "child-operation")
        .expect("child span exported");
    assert_eq!(hex(&root.trace_id), trace_id);
    assert_eq!(hex(&root.span_id), root_id);
    assert!(root.parent_span_id.is_empty());
    assert_eq!(hex(&child.trace_id), trace_id);
    assert_eq!(hex(&child.span_id), child_id);
    assert_eq!(hex(&child.parent_span_id), root_id);

    let metrics: Vec<&Received> = received
        .iter()
        .filter(|r| r.path == "/v1/metrics")
        .collect();
    assert!(
        !metrics.is_empty(),
        "no metric export reached the collector"
    );
    let mut counted = None;
    for request in metrics {
        let decoded =
            ExportMetricsServiceRequest::decode(request.body.as_slice()).expect("protobuf");
        for metric in decoded
            .resource_metrics
            .iter()
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .filter(|metric| metric.name == "pipeline.test.transactions")
        {
            if let Some(metric::Data::Sum(sum)) = &metric.data {
                counted = sum.data_points.first().and_then(|point| match point.value {
                    Some(number_data_point::Value::AsInt(value)) => Some(value),
                    _ => None,
                });
            }
        }
    }
    assert_eq!(counted, Some(3));

    // The JSON log line written inside the child span carries its ids.
    let logs = json_lines(&output.stderr);
    let line = logs
        .iter()
        .find(|line| line["message"] == "processing batch")
        .unwrap_or_else(|| {
            panic!(
                "no log line; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["target"], module_path!());
    assert_eq!(line["fields"]["transactions"], 3);
    assert_eq!(line["fields"]["topic"], "transactions.new");
    assert_eq!(line["trace_id"], trace_id);
    assert_eq!(line["span_id"], child_id);
    assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
    // Outside any span there are no ids.
    let outside = logs
        .iter()
        .find(|line| line["message"] == "outside any span")
        .expect("outside log line");
    assert!(outside.get("trace_id").is_none());
}

#[test]
#[ignore = "run as a child process by with_an_endpoint_spans_and_metrics_are_exported_as_http_protobuf"]
fn child_with_endpoint() {
    assert_child("child_with_endpoint");
    let guard = hop_telemetry::init("default-name").expect("init");
    let tracer = opentelemetry::global::tracer("child");
    let root = tracer.start("root-operation");
    let cx = Context::new().with_span(root);
    let attached = cx.clone().attach();
    let child = tracing::info_span!("child-operation").in_scope(|| {
        tracing::info!(
            transactions = 3_u64,
            topic = "transactions.new",
            "processing batch"
        );
        hop_telemetry::current_context()
            .span()
            .span_context()
            .clone()
    });
    drop(attached);
    cx.span().end();
    tracing::info!("outside any span");
    let root = cx.span().span_context().clone();
    println!(
        "IDS {} {} {}",
        root.trace_id(),
        root.span_id(),
        child.span_id()
    );
    opentelemetry::global::meter("child")
        .u64_counter("pipeline.test.transactions")
        .build()
        .add(3, &[KeyValue::new("outcome", "ok")]);
    // The parent closes stdin once it has seen the batch export.
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .expect("stdin readable");
    guard.shutdown().expect("clean shutdown");
}

#[test]
fn without_an_endpoint_nothing_is_exported_and_no_thread_is_started() {
    let runtime = Runtime::new().unwrap();
    // A collector is listening, but no endpoint is set.
    let collector = runtime.block_on(Collector::start()).expect("collector");
    let output = run_child(
        "child_without_endpoint",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "500".into()),
            ("OTEL_PROPAGATORS", "datadog,b3,tracecontext".into()),
            ("RUST_LOG", "warn".into()),
        ],
    );
    runtime.block_on(holds_for(
        "nothing reaches the collector",
        Duration::from_millis(200),
        || collector.spans().is_empty() && collector.metrics().is_empty(),
    ));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let threads = printed(&stdout, "THREADS");
    assert_eq!(threads[0], threads[1], "init started a thread");
    assert_eq!(printed(&stdout, "STYLES"), ["datadog", "tracecontext"]);
    let shutdown_ms: u128 = printed(&stdout, "SHUTDOWN_MS")[0].parse().unwrap();
    assert!(shutdown_ms < 500, "shutdown took {shutdown_ms} ms");

    let logs = json_lines(&output.stderr);
    let warnings: Vec<&Value> = logs
        .iter()
        .filter(|line| line["fields"]["unknown"] == "b3")
        .collect();
    assert_eq!(warnings.len(), 1, "{logs:?}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert!(
        logs.iter()
            .all(|line| line["message"] != "info is filtered out"),
        "RUST_LOG=warn not honoured"
    );
}

#[test]
#[ignore = "run as a child process by without_an_endpoint_nothing_is_exported_and_no_thread_is_started"]
fn child_without_endpoint() {
    assert_child("child_without_endpoint");
    let before = thread_count();
    let guard = hop_telemetry::init("quiet-service").expect("init without endpoint");
    let span = tracing::info_span!("work");
    let inside = span.in_scope(|| {
        tracing::info!("info is filtered out");
        hop_telemetry::current_context()
            .span()
            .span_context()
            .clone()
    });
    drop(span);
    assert!(
        inside.is_valid(),
        "spans get real ids even when nothing is exported"
    );
    let again = hop_telemetry::Propagator::from_env();
    let after = thread_count();
    println!("THREADS {before} {after}");
    let styles: Vec<&str> = hop_telemetry::propagator()
        .styles()
        .iter()
        .map(|style| style.name())
        .collect();
    assert_eq!(again.styles(), hop_telemetry::propagator().styles());
    println!("STYLES {}", styles.join(" "));
    let started = std::time::Instant::now();
    drop(guard);
    println!("SHUTDOWN_MS {}", started.elapsed().as_millis());
}

#[test]
fn grpc_needs_a_runtime_and_unknown_protocols_are_refused() {
    run_child(
        "child_protocols",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9".into()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ],
    );
}

#[test]
#[ignore = "run as a child process by grpc_needs_a_runtime_and_unknown_protocols_are_refused"]
fn child_protocols() {
    assert_child("child_protocols");
    let outside = hop_telemetry::Builder::new("grpc-child")
        .without_logs()
        .install();
    assert!(
        matches!(outside, Err(hop_telemetry::Error::Config(_))),
        "gRPC outside a runtime must be refused"
    );
    assert!(matches!(
        hop_telemetry::OtlpProtocol::parse("http/json"),
        Err(hop_telemetry::Error::Config(_))
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let guard = hop_telemetry::Builder::new("grpc-child")
            .without_logs()
            .install()
            .expect("gRPC inside a runtime installs");
        drop(guard);
    });
}

/// A minimal gRPC server (HTTP/2, unary) that records each request's path and message and
/// answers an empty OK response (`fixtures::otlp::Collector` speaks OTLP/HTTP only).
fn start_grpc_collector(
    runtime: &tokio::runtime::Runtime,
) -> (u16, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("gRPC collector binds");
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    runtime.spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut connection = h2::server::handshake(socket)
                    .await
                    .expect("HTTP/2 handshake");
                // The connection must keep being polled (accept) for request bodies to
                // arrive, so each request is answered on its own task.
                while let Some(request) = connection.accept().await {
                    let (request, respond) = request.expect("HTTP/2 request");
                    tokio::spawn(answer(request, respond, tx.clone()));
                }
            });
        }
    });
    (port, rx)
}

async fn answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<bytes::Bytes>,
    tx: mpsc::Sender<(String, Vec<u8>)>,
) {
    let path = request.uri().path().to_owned();
    let mut body = request.into_body();
    let mut frame = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("request data");
        let _ = body.flow_control().release_capacity(chunk.len());
        frame.extend_from_slice(&chunk);
    }
    // gRPC framing: 1 byte compressed flag, 4 bytes big-endian length.
    assert_eq!(frame[0], 0, "compressed gRPC message");
    let length = u32::from_be_bytes(frame[1..5].try_into().unwrap()) as usize;
    let _ = tx.send((path, frame[5..5 + length].to_vec()));
    let response = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let mut stream = respond.send_response(response, false).expect("response");
    stream
        .send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), false)
        .expect("response data");
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    stream.send_trailers(trailers).expect("trailers");
}

#[test]
fn with_grpc_spans_are_exported_to_the_trace_service() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (port, requests) = start_grpc_collector(&runtime);
    let output = run_child(
        "child_grpc",
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{port}"),
            ),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
            ("OTEL_SERVICE_NAME", "grpc-child".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ids = printed(&stdout, "IDS");
    let received: Vec<(String, Vec<u8>)> = requests.try_iter().collect();
    let traces: Vec<&Vec<u8>> = received
        .iter()
        .filter(|(path, _)| path == "/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        .map(|(_, body)| body)
        .collect();
    assert!(
        !traces.is_empty(),
        "no gRPC trace export: {:?}",
        received.iter().map(|r| &r.0).collect::<Vec<_>>()
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|body| {
            ExportTraceServiceRequest::decode(body.as_slice())
                .expect("protobuf")
                .resource_spans
        })
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let root = spans
        .iter()
        .find(|span| span.name == "grpc-root")
        .expect("root exported");
    let child = spans
        .iter()
        .find(|span| span.name == "grpc-child-operation")
        .expect("child exported");
    assert_eq!(hex(&root.trace_id), ids[0]);
    assert_eq!(hex(&root.span_id), ids[1]);
    assert_eq!(hex(&child.trace_id), ids[0]);
    assert_eq!(hex(&child.parent_span_id), ids[1]);
    drop(runtime);
}

#[test]
#[ignore = "run as a child process by with_grpc_spans_are_exported_to_the_trace_service"]
fn child_grpc() {
    assert_child("child_grpc");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The tonic client lives on this runtime; the SDK's batch thread drives it from outside.
    let entered = runtime.enter();
    let guard = hop_telemetry::Builder::new("grpc")
        .without_logs()
        .install()
        .expect("gRPC telemetry installs inside a runtime");
    let tracer = opentelemetry::global::tracer("child");
    let cx = Context::new().with_span(tracer.start("grpc-root"));
    let attached = cx.clone().attach();
    tracing::info_span!("grpc-child-operation").in_scope(|| {});
    drop(attached);
    cx.span().end();
    let root = cx.span().span_context().clone();
    println!("IDS {} {}", root.trace_id(), root.span_id());
    guard.shutdown().expect("clean shutdown");
    drop(entered);
}
