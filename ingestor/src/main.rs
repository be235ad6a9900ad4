//! The ingestor binary: configuration from the environment, telemetry, serve until SIGTERM or
//! Ctrl-C, then drain, flush the producer and the spans, and exit 0.

use anyhow::Context as _;
use ingestor::{AppState, Config};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

// Requests allocate on the runtime's workers and spans are freed on the exporter's thread.
// Measured under the load run: glibc malloc spends about a fifth of the CPU on that traffic and
// makes tracing cost ~40% more CPU per request; jemalloc halves that extra cost for ~8 MiB more
// resident memory (mimalloc saves as much CPU but holds twice the memory).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = telemetry::init("ingestor").context("initialising telemetry")?;
    let config = Config::from_env()?;
    let state = AppState::new(&config.kafka)
        .context("creating the Kafka producer")?
        .with_shutdown_timeout(config.shutdown_timeout)
        .with_future_margin(config.future_margin)
        .with_edge_limits(config.edge.clone());
    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding {}", config.addr))?;
    let addr = listener.local_addr()?;
    // One plain line on stdout for whoever started us (with port 0, the real port).
    println!("INGESTOR_ADDR={addr}");
    tracing::info!(%addr, topic = %config.kafka.topic, "ingestor listening");

    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    };
    ingestor::serve(listener, state, shutdown).await?;
    // Spans of the last requests are exported before the process goes.
    drop(telemetry);
    Ok(())
}
