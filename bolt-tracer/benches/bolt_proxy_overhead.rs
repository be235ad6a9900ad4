//! What bolt-proxy costs: added median latency and throughput, direct to FalkorDB vs through
//! the proxy passing frames through (Bolt 5.7 client) and translating (Bolt 4.4 client), for
//! `RETURN 1` and for a 10,000-row query, with 1 client and with 16 concurrent clients.
//!
//! `cargo bench -p bolt-tracer --bench bolt_proxy_overhead` (set `BENCH_SECS` to change the
//! length of each throughput run, default 3). Spans are recorded by the OpenTelemetry SDK with a
//! batch processor into an exporter that drops them, so the cost of tracing is included.
//! The clients are minimal Bolt clients on the crate's codec; they decode every record on every
//! path, so the differences are the proxy's.

#[path = "../tests/proxy_support/mod.rs"]
mod proxy_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bolt_tracer::bolt::{Response, Version};
use bolt_tracer::proxy::{Proxy, ProxyConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use proxy_support::{FalkorDb, RawClient};

/// Counts spans and drops them.
#[derive(Debug, Default, Clone)]
struct CountingExporter(Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        async { Ok(()) }
    }
}

#[derive(Clone, Copy)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    version: Version,
}

/// Runs `query` to the end on `c`; returns the number of records.
async fn run(c: &mut RawClient, query: &str) -> usize {
    c.run(query, Default::default(), Default::default()).await;
    let mut rows = 0;
    let mut summaries = 0;
    while summaries < 2 {
        match c.recv().await {
            Response::Record { .. } => rows += 1,
            Response::Success { .. } => summaries += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    rows
}

/// Median and 99th percentile of `iters` sequential runs, after a warm-up.
async fn latency(t: Target, query: &str, iters: usize, rows: usize) -> (Duration, Duration) {
    let mut c = RawClient::login(t.addr, t.version).await;
    for _ in 0..iters / 10 + 5 {
        assert_eq!(run(&mut c, query).await, rows);
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let start = Instant::now();
        assert_eq!(run(&mut c, query).await, rows);
        samples.push(start.elapsed());
    }
    samples.sort();
    (samples[iters / 2], samples[iters * 99 / 100])
}

/// Queries per second with `clients` connections looping for `secs`.
async fn throughput(t: Target, query: &'static str, clients: usize, secs: f64, rows: usize) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = RawClient::login(t.addr, t.version).await;
            while Instant::now() < deadline {
                assert_eq!(run(&mut c, query).await, rows);
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let spans = CountingExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());

    let db = FalkorDb::start();
    // The proxy gets a runtime and thread of its own, as in the bolt-proxy binary, and the
    // clients another: the proxy's work is not hidden inside the clients' scheduling.
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let upstream = db.bolt_addr();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let proxy = Proxy::bind(ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream))
                .await
                .unwrap();
            addr_tx.send(proxy.local_addr()).unwrap();
            proxy.run(std::future::pending()).await.unwrap();
        });
    });
    let proxy_addr = addr_rx.recv().unwrap();
    let direct = Target {
        name: "direct (5.7)",
        addr: format!("127.0.0.1:{}", db.bolt_port).parse().unwrap(),
        version: Version::new(5, 7),
    };
    let passthrough = Target {
        name: "proxy passthrough (5.7)",
        addr: proxy_addr,
        version: Version::new(5, 7),
    };
    let translating = Target {
        name: "proxy translating (4.4 -> 5.7)",
        addr: proxy_addr,
        version: Version::V4_4,
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (label, query, iters, rows) in [
            ("RETURN 1", "RETURN 1 AS x", 3000usize, 1usize),
            (
                "10,000 rows",
                "UNWIND range(1, 10000) AS i RETURN i",
                100,
                10_000,
            ),
        ] {
            println!("\n== {label} ==");
            println!(
                "{:<32} {:>12} {:>12} {:>14} {:>14}",
                "path", "median us", "p99 us", "qps 1 client", "qps 16 clients"
            );
            let mut base = None;
            for t in [direct, passthrough, translating] {
                let (median, p99) = latency(t, query, iters, rows).await;
                let one = throughput(t, query, 1, secs, rows).await;
                let sixteen = throughput(t, query, 16, secs, rows).await;
                println!(
                    "{:<32} {:>12.1} {:>12.1} {:>14.0} {:>14.0}",
                    t.name,
                    micros(median),
                    micros(p99),
                    one,
                    sixteen
                );
                match base {
                    None => base = Some((median, sixteen)),
                    Some((m0, q0)) => println!(
                        "{:<32} added median latency {:+.1} us, 16-client throughput {:.1}% of direct",
                        "",
                        micros(median) - micros(m0),
                        100.0 * sixteen / q0
                    ),
                }
            }
        }
    });
    provider.force_flush().unwrap();
    println!(
        "\nspans recorded through the proxy: {}",
        spans.0.load(Ordering::Relaxed)
    );
}
