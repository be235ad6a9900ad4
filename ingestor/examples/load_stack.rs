//! What the load run puts behind the ingestor: Kafka with the pipeline's topics and a loopback
//! OTLP/HTTP trace sink, in a process of their own so the ingestor under test is measured alone.
//!
//! Kafka is Apache Kafka (one KRaft node in its own JVM, started from the Maven Central jars the
//! fixtures install) unless `LOAD_KAFKA=mock` asks for librdkafka's in-process mock cluster, the
//! stack of a machine without a JDK and the one of the earlier figures.
//!
//! Prints `KAFKA_BROKERS=...`, `KAFKA_PIDS=...` (the broker JVMs, whose CPU the load run adds
//! to this process's; empty for the mock) and `OTEL_EXPORTER_OTLP_ENDPOINT=...`, then runs until
//! SIGTERM or SIGINT, and prints `spans_received=N export_requests=M export_bytes=B`.
//! The sink walks every export's protobuf structure to count spans exactly, but decodes nothing
//! else and keeps nothing: in production the collector runs on another host, and on this
//! two-core machine a full decode (or the fixtures' collector, which stores every span for
//! assertions) would take its CPU from the ingestor under test. `LOAD_SINK_DECODE=1` decodes
//! every export fully with opentelemetry-proto instead, as a collector would.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use fixtures::{ApacheKafka, Kafka, KafkaCluster};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::signal::unix::{SignalKind, signal};

/// Counts the spans of an `ExportTraceServiceRequest` by walking its length-delimited fields:
/// `resource_spans` (field 1) -> `scope_spans` (field 2) -> `spans` (field 2). `None` if the
/// bytes are not well-formed protobuf.
fn count_spans(request: &[u8]) -> Option<u64> {
    let mut spans = 0;
    for resource_spans in fields(request, 1) {
        for scope_spans in fields(resource_spans?, 2) {
            for span in fields(scope_spans?, 2) {
                span?;
                spans += 1;
            }
        }
    }
    Some(spans)
}

/// The payloads of the length-delimited fields numbered `wanted` in one message, skipping the
/// others; yields `None` once (then stops) on malformed input.
fn fields(mut message: &[u8], wanted: u64) -> impl Iterator<Item = Option<&[u8]>> {
    std::iter::from_fn(move || {
        loop {
            if message.is_empty() {
                return None;
            }
            let parsed = (|| {
                let (key, rest) = varint(message)?;
                let (payload, rest) = match key & 7 {
                    0 => (None, varint(rest)?.1),
                    1 => (None, rest.get(8..)?),
                    2 => {
                        let (len, rest) = varint(rest)?;
                        let len = usize::try_from(len).ok()?;
                        (Some(rest.get(..len)?), rest.get(len..)?)
                    }
                    5 => (None, rest.get(4..)?),
                    _ => return None,
                };
                Some((key >> 3, payload, rest))
            })();
            match parsed {
                None => {
                    message = &[];
                    return Some(None);
                }
                Some((field, payload, rest)) => {
                    message = rest;
                    if let Some(payload) = payload.filter(|_| field == wanted) {
                        return Some(Some(payload));
                    }
                }
            }
        }
    })
}

fn varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, &bytes[i + 1..]));
        }
    }
    None
}

#[derive(Default)]
struct Counts {
    full_decode: bool,
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    undecodable: AtomicU64,
}

async fn traces(
    State(counts): State<Arc<Counts>>,
    body: Bytes,
) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    let spans = if counts.full_decode {
        ExportTraceServiceRequest::decode(body).ok().map(|request| {
            request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len() as u64)
                .sum()
        })
    } else {
        count_spans(&body)
    };
    match spans {
        Some(spans) => counts.spans.fetch_add(spans, Ordering::Relaxed),
        None => counts.undecodable.fetch_add(1, Ordering::Relaxed),
    };
    // An empty ExportTraceServiceResponse is the empty protobuf message.
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
}

async fn discard(_body: Bytes) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
}

/// Starts the Kafka `LOAD_KAFKA` names: `apache` (the default) or `mock`.
async fn start_kafka() -> anyhow::Result<Kafka> {
    match std::env::var("LOAD_KAFKA").as_deref() {
        Ok("apache") | Ok("") | Err(_) => {
            let kafka = tokio::task::spawn_blocking(ApacheKafka::start).await??;
            Ok(Kafka::Apache(kafka))
        }
        Ok("mock") => Ok(Kafka::Mock(KafkaCluster::start()?)),
        Ok(other) => anyhow::bail!("LOAD_KAFKA={other}: expected apache or mock"),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let kafka = start_kafka().await?;
    let pids: Vec<String> = kafka.apache().map_or_else(Vec::new, |kafka| {
        kafka
            .broker_ids()
            .into_iter()
            .filter_map(|id| kafka.node_pid(id))
            .map(|pid| pid.to_string())
            .collect()
    });
    let counts = Arc::new(Counts {
        full_decode: std::env::var("LOAD_SINK_DECODE").is_ok_and(|v| v == "1"),
        ..Counts::default()
    });
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(discard))
        .route("/v1/logs", post(discard))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(counts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let endpoint = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut out = std::io::stdout().lock();
    writeln!(out, "KAFKA_BROKERS={}", kafka.bootstrap_servers())?;
    writeln!(out, "KAFKA_PIDS={}", pids.join(","))?;
    writeln!(out, "OTEL_EXPORTER_OTLP_ENDPOINT={endpoint}")?;
    out.flush()?;
    drop(out);

    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!(
        "spans_received={} export_requests={} export_bytes={} undecodable={}",
        counts.spans.load(Ordering::Relaxed),
        counts.requests.load(Ordering::Relaxed),
        counts.bytes.load(Ordering::Relaxed),
        counts.undecodable.load(Ordering::Relaxed),
    );
    Ok(())
}
