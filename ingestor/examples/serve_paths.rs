//! What the HTTP edge costs: the ingestor's router and state served two ways at once, by
//! [`ingestor::serve`] (the edge: timeouts and caps) and by `axum::serve` set up as the
//! ingestor did before the edge (`TCP_NODELAY`, `ConnectInfo<SocketAddr>`, graceful shutdown),
//! sharing one producer, for a load tool to drive in turn.
//!
//! Reads `KAFKA_BROKERS` and `KAFKA_TOPIC` (default `transactions.new`), prints
//! `EDGE_ADDR=...` and `AXUM_ADDR=...`, and serves until SIGTERM or Ctrl-C. For example, with
//! the Kafka of the load run (`load_stack`):
//!
//! ```text
//! cargo build --release -p ingestor --example load_stack --example serve_paths
//! target/release/examples/load_stack          # prints KAFKA_BROKERS=...
//! KAFKA_BROKERS=... target/release/examples/serve_paths
//! wrk -t1 -c64 -d20s -s ingestor/benches/post_transactions.lua http://$EDGE_ADDR/transactions
//! wrk -t1 -c64 -d20s -s ingestor/benches/post_transactions.lua http://$AXUM_ADDR/transactions
//! ```

use std::future::IntoFuture;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::serve::ListenerExt;
use ingestor::{AppState, KafkaConfig};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

// As in the binary: the allocator changes the cost of every request.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let telemetry = telemetry::init("ingestor").context("initialising telemetry")?;
    let brokers = std::env::var("KAFKA_BROKERS").context("KAFKA_BROKERS is required")?;
    let topic = std::env::var("KAFKA_TOPIC").unwrap_or_else(|_| "transactions.new".into());
    let state = AppState::new(&KafkaConfig::new(brokers).with_topic(topic))
        .context("creating the Kafka producer")?;

    let edge = TcpListener::bind("127.0.0.1:0").await?;
    let before = TcpListener::bind("127.0.0.1:0").await?;
    println!("EDGE_ADDR={}", edge.local_addr()?);
    println!("AXUM_ADDR={}", before.local_addr()?);

    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let edge_task = tokio::spawn(ingestor::serve(
        edge,
        state.clone(),
        until_stopped(stopped.clone()),
    ));
    // `ingestor::serve` before the edge, line for line.
    let before = before.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let axum_task = tokio::spawn(
        axum::serve(
            before,
            ingestor::app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped))
        .into_future(),
    );

    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.send_replace(true);
    axum_task.await??;
    edge_task.await??;
    drop(telemetry);
    Ok(())
}
