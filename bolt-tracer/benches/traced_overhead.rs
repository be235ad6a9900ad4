//! What tracing a query costs.
//!
//! 1. `instrumentation/*`: the CPU cost of the instrumentation alone (span start with its
//!    attributes, cached normalisation, `tx_metadata` injection (on here, though opt-in, so the
//!    figure is the worst case), row counting, span end, metrics, statistics), no I/O: with a
//!    no-op exporter, given to the graph (`noop_exporter`) or installed as the global provider
//!    the graph looks up when a span starts (`global_providers`), and with the OTLP batch
//!    exporter sending to a loopback receiver.
//! 2. `roundtrip` (printed, not a criterion group): the same query through raw neo4rs and through
//!    `TracedGraph` straight to Neo4j 5.26 (Bolt 4.4, no bridge: the run's shared server,
//!    `fixtures::shared::neo4j`), interleaved query by query so all see the same machine state,
//!    all over one connection so none gets a faster server thread; medians and the ratios to
//!    raw, for `TracedGraph` with its defaults and with `tx_metadata` injection on. Raw neo4rs
//!    measured twice is the control (the noise floor), and raw neo4rs carrying the same
//!    `tx_metadata` shows what the context costs on the wire by itself.
//!
//! `cargo bench -p bolt-tracer --bench traced_overhead` (`ROUNDTRIPS` sets the number of
//! interleaved rounds, default 10,000: with fewer, the medians move by half a percent from run
//! to run on a shared 2-core machine, which is the size of the effect being measured).
//! `cargo test --benches` runs each criterion benchmark once and the round trips for a few
//! rounds, to check that they work.

use std::time::{Duration, Instant};

use bolt_tracer::TracedGraph;
use criterion::{Criterion, criterion_group};
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

#[derive(Debug)]
struct NoopExporter;

impl SpanExporter for NoopExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

const QUERY: &str = "MATCH (t:Transaction {id: $id})-[:USES_CARD]->(c:Card)<-[:USES_CARD]-(o:Transaction) \
    WHERE o.id <> t.id AND abs(o.ts - t.ts) <= 300000 RETURN count(o) AS n";

fn query() -> neo4rs::Query {
    neo4rs::query(QUERY).param("id", "tx-000042")
}

/// A meter that records at its real cost: the SDK aggregates in memory and never exports during
/// a run (the reader's interval is an hour), so the figures include the histograms' work without
/// an exporter's. With no meter provider the global meter is a no-op and would leave that out.
fn sdk_meter() -> (SdkMeterProvider, Meter) {
    let provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let meter = provider.meter("bench");
    (provider, meter)
}

fn lazy_graph() -> neo4rs::Graph {
    // Never connects: the instrumentation benchmark does no I/O.
    neo4rs::Graph::new("bolt://127.0.0.1:1", "neo4j", "unused").expect("a lazy pool")
}

fn instrumentation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("instrumentation");

    let noop = SdkTracerProvider::builder()
        .with_simple_exporter(NoopExporter)
        .build();
    let (meters, meter) = sdk_meter();
    let graph = TracedGraph::builder(lazy_graph())
        .server("127.0.0.1", 7687)
        .tracer(noop.tracer("bench"))
        .meter(meter.clone())
        .inject_trace_context(true)
        .build();
    group.bench_function("noop_exporter", |b| {
        b.iter(|| graph.instrument_without_io(query(), 1))
    });
    group.bench_function("query_construction_only", |b| b.iter(query));

    // The same with the tracer and meter of the global providers (the default), which the
    // graph looks up itself.
    opentelemetry::global::set_tracer_provider(noop.clone());
    opentelemetry::global::set_meter_provider(meters.clone());
    let graph = TracedGraph::builder(lazy_graph())
        .server("127.0.0.1", 7687)
        .inject_trace_context(true)
        .build();
    group.bench_function("global_providers", |b| {
        b.iter(|| graph.instrument_without_io(query(), 1))
    });

    let sink = discard_sink();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("http://{sink}/v1/traces"))
        .build()
        .unwrap();
    let otlp = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    let graph = TracedGraph::builder(lazy_graph())
        .server("127.0.0.1", 7687)
        .tracer(otlp.tracer("bench"))
        .meter(meter)
        .inject_trace_context(true)
        .build();
    group.bench_function("otlp_batch_exporter", |b| {
        b.iter(|| graph.instrument_without_io(query(), 1))
    });
    group.finish();
    let _ = otlp.shutdown();
}

/// A loopback OTLP/HTTP endpoint that reads each request and answers 200 without decoding it,
/// so the figure is the exporter's cost (encoding, HTTP), not a collector's.
fn discard_sink() -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut writer = conn;
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// One way of running the round-trip query.
enum Path<'a> {
    Raw(&'a neo4rs::Graph),
    /// Raw neo4rs sending a `tx_metadata` like the one `TracedGraph` injects when asked to: what
    /// carrying the context costs by itself (neo4rs copies and encodes it, Neo4j decodes it and
    /// attaches it to the transaction).
    RawWithMetadata(&'a neo4rs::Graph),
    Traced(&'a TracedGraph),
}

impl Path<'_> {
    /// Runs the query and reads its result to the end; returns how long that took.
    async fn round_trip(&self) -> Duration {
        let q = neo4rs::query(ROUNDTRIP_QUERY).param("id", "tx-1");
        let start = Instant::now();
        match self {
            Path::Raw(g) => {
                let mut s = g.execute(q).await.unwrap();
                while s.next().await.unwrap().is_some() {}
            }
            Path::RawWithMetadata(g) => {
                let mut metadata = neo4rs::BoltMap::default();
                metadata.put(
                    "traceparent".into(),
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                );
                let q = q.extra("tx_metadata", neo4rs::BoltType::Map(metadata));
                let mut s = g.execute(q).await.unwrap();
                while s.next().await.unwrap().is_some() {}
            }
            Path::Traced(g) => {
                let mut s = g.execute(q).await.unwrap();
                while s.next().await.unwrap().is_some() {}
            }
        }
        start.elapsed()
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The round-trip query counts the one node of a label of the bench's own, so what other users
/// of a shared server write does not change the query's work.
const ROUNDTRIP_QUERY: &str = "MATCH (t:TracedOverheadProbe {id: $id}) RETURN count(t) AS n";
/// Creates that node, once.
const ROUNDTRIP_SETUP: &str = "MERGE (:TracedOverheadProbe {id: $id})";

/// Raw and traced round trips, interleaved, straight to Neo4j; `rounds` of them, after
/// `warmup` unmeasured ones.
fn roundtrip(rounds: usize, warmup: usize) {
    // Blocks (up to minutes) when no shared server was handed over and one has to start.
    let neo4j = fixtures::shared::neo4j().expect("the run's shared Neo4j 5.26");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let connect = || {
            let config = neo4rs::ConfigBuilder::default()
                .uri(&neo4j.uri)
                .user(&neo4j.user)
                .password(&neo4j.password)
                .max_connections(1)
                .build()
                .unwrap();
            neo4rs::Graph::connect(config).unwrap()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(NoopExporter)
            .build();
        let (_meters, meter) = sdk_meter();
        // Every path runs over the same single connection (graph clones share their pool), so
        // the ratios hold the wrapper's cost and nothing of the server's per-connection
        // differences: with a pool per path, two raw pools alone came out up to 1 % apart.
        let raw = connect();
        raw.run(neo4rs::query(ROUNDTRIP_SETUP).param("id", "tx-1"))
            .await
            .expect("the probe node exists");
        // As adopted: the defaults, which add nothing to the query.
        let traced = TracedGraph::builder(raw.clone())
            .uri(&neo4j.uri)
            .database(&neo4j.database)
            .tracer(provider.tracer("bench"))
            .meter(meter.clone())
            .build();
        // With the opt-in `traceparent` in `tx_metadata` (what the analyzer turns on).
        let traced_injecting = TracedGraph::builder(raw.clone())
            .uri(&neo4j.uri)
            .database(&neo4j.database)
            .tracer(provider.tracer("bench"))
            .meter(meter)
            .inject_trace_context(true)
            .build();
        // Raw neo4rs a second time is the control: how far apart two identical paths come out
        // on this machine is the noise floor.
        let paths: [(&str, Path<'_>); 5] = [
            ("raw neo4rs", Path::Raw(&raw)),
            ("raw neo4rs again (control)", Path::Raw(&raw)),
            ("raw neo4rs + tx_metadata", Path::RawWithMetadata(&raw)),
            ("TracedGraph (defaults)", Path::Traced(&traced)),
            (
                "TracedGraph + tx_metadata injection",
                Path::Traced(&traced_injecting),
            ),
        ];
        let n = rounds;
        for _ in 0..warmup {
            for (_, path) in &paths {
                path.round_trip().await;
            }
        }
        let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(n); paths.len()];
        // Each round runs the paths in a fresh random order. A fixed cycle (even rotated) gives
        // every path the same predecessor, and a query is measurably slower right after a
        // traced one (the instrumentation leaves the caches colder): with a fixed cycle that
        // cost landed on raw neo4rs, the path after the last traced one, and flattered the
        // ratio by about half a percent.
        let mut order: Vec<usize> = (0..paths.len()).collect();
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..n {
            for i in (1..order.len()).rev() {
                // xorshift64: enough to shuffle five items, no dependency.
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            for &which in &order {
                samples[which].push(paths[which].1.round_trip().await);
            }
        }
        let medians: Vec<Duration> = samples.iter_mut().map(|s| median(s)).collect();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("roundtrip (Neo4j 5.26 direct, {n} interleaved rounds), median:");
        for ((name, _), m) in paths.iter().zip(&medians) {
            println!(
                "  {name:<36} {:>8.1} µs  ratio to raw {:.3}",
                us(*m),
                us(*m) / us(medians[0])
            );
        }
        let _ = provider.shutdown();
    });
}

criterion_group!(benches, instrumentation);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and only checks that
    // each benchmark runs, so the round trips run a few rounds there.
    if std::env::args().any(|a| a == "--bench") {
        let rounds = std::env::var("ROUNDTRIPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        roundtrip(rounds, 200);
    } else {
        roundtrip(10, 2);
    }
}
