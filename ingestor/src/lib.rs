//! The ingestor: an HTTP service that validates payment transactions and puts them on Kafka.
//!
//! `POST /transactions` reads the body with the workspace's one transaction reader
//! ([`schema::Reader`]: unknown fields refused, timestamps at most a margin ahead), sends the
//! canonical JSON to the topic with the id as key ([`Publisher`]) and answers `202 {"id"}` only
//! once the broker acknowledged it; a refusal is a `400` in the API's own words. Each request
//! runs in a SERVER span that continues the caller's trace; the producer span is its child and
//! its context travels in the record headers, so the analyzer continues the same trace.
//!
//! The binary (`src/main.rs`) only reads [`Config`], initialises telemetry and calls [`serve`];
//! tests drive [`app`] or [`serve`] in-process.

mod app;
mod body;
mod config;
mod error;
mod producer;
mod server_span;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub use app::{AppState, MAX_BODY_BYTES, app};
pub use config::{Config, KafkaConfig};
pub use error::{Error, Result};
pub use producer::{Ack, Publisher};

/// Serves [`app`] on `listener` until `shutdown` completes, then drains and flushes.
///
/// On shutdown the listener stops accepting, requests in flight run to their answer (each is
/// bounded by the send timeout), idle keep-alive connections are closed, and the producer is
/// flushed. The state's shutdown timeout ([`AppState::with_shutdown_timeout`]) bounds the
/// draining and, separately, the flush: a stuck client cannot hold the process forever.
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let drain_timeout = state.shutdown_timeout();
    let draining = Arc::new(Notify::new());
    let signal = {
        let draining = draining.clone();
        async move {
            shutdown.await;
            tracing::info!("shutdown requested: draining in-flight requests");
            draining.notify_one();
        }
    };
    // Responses are written in one go; Nagle would only hold the last segment back.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(
        listener,
        app(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();

    tokio::select! {
        result = server => result?,
        () = async {
            draining.notified().await;
            tokio::time::sleep(drain_timeout).await;
        } => tracing::warn!(timeout_ms = drain_timeout.as_millis() as u64, "drain timed out; abandoning open connections"),
    }

    state.publisher().flush(drain_timeout).await?;
    tracing::info!("producer flushed");
    Ok(())
}
