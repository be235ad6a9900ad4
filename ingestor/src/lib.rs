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

use std::future::Future;

use tokio::net::TcpListener;

pub use app::{AppState, MAX_BODY_BYTES, app};
pub use config::{Config, KafkaConfig};
pub use error::{Error, Result};
pub use http_edge::EdgeLimits;
pub use producer::{Ack, Publisher};

/// Serves [`app`] on `listener` until `shutdown` completes, then drains and flushes.
///
/// Connections are served by the workspace's HTTP edge ([`http_edge`]) under the state's
/// [`EdgeLimits`] ([`AppState::with_edge_limits`]): a request header must be complete within
/// the header read timeout and its body within the body read timeout (else `400
/// unreadable_body`), an idle keep-alive connection is closed after the idle timeout, and
/// past the cap on open connections or on requests in flight the answer is `503` with
/// `Retry-After`, never a queue. Those `503`s do not reach the router, so they have no SERVER
/// span: the edge counts them and logs them (aggregated) at warn level, and the totals are
/// logged at shutdown.
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
    let limits = state
        .edge_limits()
        .clone()
        .with_drain_timeout(drain_timeout);
    let edge = http_edge::serve(listener, app(state.clone()), limits, shutdown).await;
    tracing::info!(
        connections = edge.connections,
        refused_connections = edge.refused_connections,
        refused_requests = edge.refused_requests,
        header_timeouts = edge.header_timeouts,
        body_timeouts = edge.body_timeouts,
        idle_timeouts = edge.idle_timeouts,
        "HTTP edge totals"
    );

    state.publisher().flush(drain_timeout).await?;
    tracing::info!("producer flushed");
    Ok(())
}
