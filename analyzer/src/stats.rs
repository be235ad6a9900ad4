//! The small HTTP endpoint: `GET /stats` (bolt-tracer's per-query statistics and the message
//! counters, as JSON) and `GET /healthz`.
//!
//! The query statistics are per process and keyed by fingerprint, so the figures of several
//! analyzer instances can be merged by whoever scrapes them.
//!
//! Served by the workspace's HTTP edge ([`http_edge`]) under [`Config::stats_limits`]: a slow
//! or greedy client cannot hold it (header read and idle timeouts, caps on open connections
//! and requests in flight answered `503` with `Retry-After`).
//!
//! [`Config::stats_limits`]: crate::Config::stats_limits

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use bolt_tracer::{QueryStat, TracedGraph};
use http_edge::EdgeLimits;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::counters::{Counters, Counts};
use crate::error::{Error, Result};
use crate::group::{GroupView, PartitionLag};

/// The body of `GET /stats`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StatsReport {
    /// bolt-tracer's statistics, one entry per query fingerprint, largest total time first.
    pub queries: Vec<QueryStat>,
    /// Message counters.
    pub messages: Counts,
    /// The partitions assigned to this process, with their committed offset, high watermark
    /// and lag.
    pub assignment: Vec<PartitionLag>,
}

#[derive(Clone)]
struct StatsState {
    graph: TracedGraph,
    counters: Arc<Counters>,
    group: Arc<GroupView>,
}

/// The bound statistics endpoint, not yet serving.
#[derive(Debug)]
pub(crate) struct StatsServer {
    listener: TcpListener,
    limits: EdgeLimits,
}

impl StatsServer {
    pub(crate) async fn bind(addr: SocketAddr, limits: EdgeLimits) -> Result<StatsServer> {
        let listener = TcpListener::bind(addr).await.map_err(Error::Stats)?;
        Ok(StatsServer { listener, limits })
    }

    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(Error::Stats)
    }

    /// Serves until `shutdown` resolves.
    pub(crate) async fn serve(
        self,
        graph: TracedGraph,
        counters: Arc<Counters>,
        group: Arc<GroupView>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let app = Router::new()
            .route("/stats", get(stats))
            .route("/healthz", get(healthz))
            .with_state(StatsState {
                graph,
                counters,
                group,
            });
        http_edge::serve(self.listener, app, self.limits, shutdown).await;
        Ok(())
    }
}

async fn stats(State(state): State<StatsState>) -> Json<StatsReport> {
    Json(StatsReport {
        queries: state.graph.statistics(),
        messages: state.counters.snapshot(),
        assignment: state.group.snapshot(),
    })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}
