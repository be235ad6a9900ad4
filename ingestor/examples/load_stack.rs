//! What the load run puts behind the ingestor: a mock Kafka cluster (librdkafka's MockCluster,
//! the pipeline's topics) and a loopback OTLP/HTTP trace sink, in a process of their own so the
//! ingestor under test is measured alone.
//!
//! Prints `KAFKA_BROKERS=...` and `OTEL_EXPORTER_OTLP_ENDPOINT=...`, then runs until SIGTERM or
//! SIGINT, and prints `spans_received=N export_requests=M export_bytes=B`.
//! The sink decodes every export (as a collector would) to count spans exactly, but keeps
//! nothing: the fixtures' collector stores every span for assertions, which at load-test rates
//! would cost the shared two cores more than the ingestor itself.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use fixtures::{KafkaCluster, KafkaOptions};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    requests: AtomicU64,
    bytes: AtomicU64,
    undecodable: AtomicU64,
}

async fn traces(State(counts): State<Arc<Counts>>, body: Bytes) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    counts.requests.fetch_add(1, Ordering::Relaxed);
    counts.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            let spans: usize = request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum();
            counts.spans.fetch_add(spans as u64, Ordering::Relaxed);
        }
        Err(_) => {
            counts.undecodable.fetch_add(1, Ordering::Relaxed);
        }
    }
    // An empty ExportTraceServiceResponse is the empty protobuf message.
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], Vec::new())
}

async fn discard(_body: Bytes) -> (StatusCode, [(header::HeaderName, &'static str); 1], Vec<u8>) {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], Vec::new())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let kafka = KafkaCluster::start_with(KafkaOptions::default())?;
    let counts = Arc::new(Counts::default());
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
