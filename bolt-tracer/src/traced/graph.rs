use std::sync::Arc;
use std::time::Duration;

use neo4rs::{Database, Graph, Operation, Query, RunResult};
use opentelemetry::InstrumentationScope;
use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::Meter;
use telemetry::current_context;

use super::instrument::{Instrumentation, Options};
use super::stats::{QueryStat, QueryStatistics};
use super::stream::TracedDetachedRowStream;
use super::txn::TracedTxn;
use crate::conventions::{DEFAULT_CACHE_BYTES, Instruments};

/// The instrumentation scope of the spans and metrics of the traced wrappers.
const SCOPE: &str = "bolt-tracer";

/// A [`neo4rs::Graph`] whose every query becomes a span: normalised text (no literals), a
/// summary as the span name, row counts, the server's result summary, Neo4j status codes.
///
/// It mirrors `Graph` method for method and only observes: results and errors are exactly
/// neo4rs's. Cloning is cheap and clones share statistics. Use [`TracedGraph::inner`] for
/// anything not covered.
///
/// ```no_run
/// # async fn demo() -> neo4rs::Result<()> {
/// use bolt_tracer::TracedGraph;
/// let graph = TracedGraph::new(neo4rs::Graph::new("bolt://127.0.0.1:7687", "neo4j", "secret")?);
/// graph.run(neo4rs::query("MATCH (n:Card {id: $id}) SET n.seen = true").param("id", "c1")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TracedGraph {
    inner: Graph,
    inst: Arc<Instrumentation>,
}

impl std::fmt::Debug for TracedGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TracedGraph")
            .field("options", &self.inst.options)
            .finish_non_exhaustive()
    }
}

/// Options for a [`TracedGraph`]; every one has a safe default.
#[must_use]
pub struct TracedGraphBuilder {
    graph: Graph,
    options: Options,
    tracer: Option<BoxedTracer>,
    meter: Option<Meter>,
    cache_bytes: usize,
    statistics: Option<usize>,
}

impl TracedGraphBuilder {
    /// `server.address` and `server.port` of the spans, taken from a `bolt://`, `neo4j://`
    /// (or `+s`/`+ssc`) URI or a `host:port`; credentials in the URI are ignored.
    pub fn uri(mut self, uri: &str) -> Self {
        let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse::<u16>().ok()),
            _ => (authority, None),
        };
        self.options.server_address = Some(host.trim_matches(['[', ']']).to_owned());
        self.options.server_port = port.or(Some(7687));
        self
    }

    /// `server.address` and `server.port` of the spans.
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.options.server_address = Some(address.into());
        self.options.server_port = Some(port);
        self
    }

    /// The database the graph was configured with, for `db.namespace` (the `_on` methods and
    /// transactions started on a database override it).
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.options.database = Some(name.into());
        self
    }

    /// Records the value of the named parameter as `db.query.parameter.<name>`. Off for every
    /// parameter by default: values are often personal data. Collections and structures are
    /// recorded by kind and size only.
    pub fn allow_parameter(mut self, name: impl Into<String>) -> Self {
        self.options.allowed_parameters.push(name.into());
        self
    }

    /// The longest `db.query.text` recorded, in bytes (default 2048).
    pub fn max_text_len(mut self, bytes: usize) -> Self {
        self.options.max_text_len = bytes;
        self
    }

    /// Queries at least this slow get `db.query.slow = true`, a `slow query` span event and a
    /// warning log (default 1 s; `None` turns it off).
    pub fn slow_query_threshold(mut self, threshold: Option<Duration>) -> Self {
        self.options.slow_query_threshold = threshold;
        self
    }

    /// Whether auto-commit queries carry the span's `traceparent` (and `tracestate`) in their
    /// `tx_metadata`, so server-side work joins the trace: bolt-proxy makes its spans children
    /// of the query's, and Neo4j shows the context in its query log and `SHOW TRANSACTIONS`.
    /// A query that has its own `tx_metadata` is left alone. Transactions get their span's
    /// context through `CALL tx.setMetaData(...)` right after they begin (neo4rs offers no way
    /// to set BEGIN's metadata): one more round trip per transaction, and a server without
    /// that procedure fails the transaction's start.
    ///
    /// Off by default, as database trace-context propagation is elsewhere (Datadog's DBM
    /// propagation, OpenTelemetry's sqlcommenter options): it changes what is sent, not just
    /// what is observed. It writes trace ids where database administrators see them, and at
    /// least one Bolt server hangs on it (FalkorDB 1.4, see DESIGN.md). It also costs about 2 %
    /// of a loopback round trip to Neo4j: half is neo4rs encoding the map and Neo4j attaching
    /// it, half that the span must then be built before the request goes out instead of while
    /// it is on its way (docs/benchmarks.md).
    pub fn inject_trace_context(mut self, on: bool) -> Self {
        self.options.inject_trace_context = on;
        self
    }

    /// `network.protocol.version`, when the caller knows it.
    pub fn protocol_version(mut self, version: impl Into<String>) -> Self {
        self.options.protocol_version = Some(version.into());
        self
    }

    /// The tracer to use instead of the global tracer provider's. By default each span is
    /// started with the global provider's tracer (scope `bolt-tracer`, with this crate's
    /// version), looked up when the span starts: a graph built before the application installs
    /// its tracer provider still records.
    pub fn tracer<T>(mut self, tracer: T) -> Self
    where
        T: opentelemetry::trace::Tracer + Send + Sync + 'static,
        T::Span: Send + Sync + 'static,
    {
        self.tracer = Some(BoxedTracer::new(Box::new(tracer)));
        self
    }

    /// The meter to use instead of the global meter provider's. By default the query metrics
    /// are made on the global provider's meter, again when a span from the global tracer
    /// provider first records (see [`TracedGraphBuilder::tracer`]).
    pub fn meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// The byte budget of the cache of prepared queries (normalised text, span name and
    /// attributes by query text; default 4 MiB).
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Keeps per-fingerprint statistics for at most `max_entries` fingerprints (default 1,000;
    /// `None` turns statistics off).
    pub fn statistics(mut self, max_entries: Option<usize>) -> Self {
        self.statistics = max_entries;
        self
    }

    /// Builds the traced graph.
    pub fn build(self) -> TracedGraph {
        let scope = InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let instruments = Instruments::new(scope, self.tracer, self.meter.as_ref());
        let stats = self.statistics.map(|n| Arc::new(QueryStatistics::new(n)));
        TracedGraph {
            inner: self.graph,
            inst: Arc::new(Instrumentation::new(
                self.options,
                instruments,
                self.cache_bytes,
                stats,
            )),
        }
    }
}

impl TracedGraph {
    /// Wraps a graph with the default options.
    pub fn new(graph: Graph) -> Self {
        Self::builder(graph).build()
    }

    /// Wraps a graph; set options on the builder, then `build()`.
    pub fn builder(graph: Graph) -> TracedGraphBuilder {
        TracedGraphBuilder {
            graph,
            options: Options::default(),
            tracer: None,
            meter: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
            statistics: Some(1_000),
        }
    }

    /// The wrapped graph, for anything this wrapper does not cover (untraced).
    pub fn inner(&self) -> &Graph {
        &self.inner
    }

    /// Unwraps the graph.
    pub fn into_inner(self) -> Graph {
        self.inner
    }

    /// Per-fingerprint statistics, sorted by total time (empty when statistics are off).
    pub fn statistics(&self) -> Vec<QueryStat> {
        self.inst
            .stats
            .as_ref()
            .map(|s| s.snapshot())
            .unwrap_or_default()
    }

    /// Forgets the statistics gathered so far.
    pub fn reset_statistics(&self) {
        if let Some(s) = &self.inst.stats {
            s.reset();
        }
    }

    /// The instrumentation of one query without any I/O: span start with attributes (and the
    /// `tx_metadata` injection), `rows` rows counted, span end, metrics and statistics. For the
    /// overhead benchmark only; not part of the API.
    #[doc(hidden)]
    pub fn instrument_without_io(&self, q: Query, rows: u64) -> Query {
        let (mut span, q) = self.inst.start_query(q, None, &current_context(), None);
        for _ in 0..rows {
            span.add_row();
        }
        span.end(super::instrument::Ending::Completed);
        q
    }

    /// [`Graph::run`], traced.
    pub async fn run(&self, q: impl Into<Query>) -> neo4rs::Result<RunResult> {
        let (span, result) = self
            .inst
            .send(q.into(), None, current_context, None, |q| self.inner.run(q))
            .await;
        span.end_with_summary(&result);
        result
    }

    /// [`Graph::run_on`], traced.
    pub async fn run_on(
        &self,
        db: impl Into<Database>,
        q: impl Into<Query>,
    ) -> neo4rs::Result<RunResult> {
        let db = db.into();
        let (span, result) = self
            .inst
            .send(q.into(), Some(&db), current_context, None, |q| {
                self.inner.run_on(db.clone(), q)
            })
            .await;
        span.end_with_summary(&result);
        result
    }

    /// [`Graph::execute`], traced: the span lasts until the returned stream is finished.
    pub async fn execute(&self, q: impl Into<Query>) -> neo4rs::Result<TracedDetachedRowStream> {
        let (span, result) = self
            .inst
            .send(q.into(), None, current_context, None, |q| {
                self.inner.execute(q)
            })
            .await;
        streamed(span, result)
    }

    /// [`Graph::execute_read`], traced.
    pub async fn execute_read(
        &self,
        q: impl Into<Query>,
    ) -> neo4rs::Result<TracedDetachedRowStream> {
        let (span, result) = self
            .inst
            .send(q.into(), None, current_context, None, |q| {
                self.inner.execute_read(q)
            })
            .await;
        streamed(span, result)
    }

    /// [`Graph::execute_on`], traced.
    pub async fn execute_on(
        &self,
        operation: Operation,
        db: impl Into<Database>,
        q: impl Into<Query>,
    ) -> neo4rs::Result<TracedDetachedRowStream> {
        let db = db.into();
        let (span, result) = self
            .inst
            .send(q.into(), Some(&db), current_context, None, |q| {
                self.inner.execute_on(operation, db.clone(), q)
            })
            .await;
        streamed(span, result)
    }

    /// [`Graph::start_txn`], traced: the transaction gets a span, its queries are its children.
    pub async fn start_txn(&self) -> neo4rs::Result<TracedTxn> {
        let cx = self.inst.start_transaction(None, &current_context());
        let result = self.inner.start_txn().await;
        TracedTxn::started(result, cx, &self.inst, None).await
    }

    /// [`Graph::start_txn_on`], traced.
    pub async fn start_txn_on(&self, db: impl Into<Database>) -> neo4rs::Result<TracedTxn> {
        let db = db.into();
        let cx = self.inst.start_transaction(Some(&db), &current_context());
        let result = self.inner.start_txn_on(db.clone()).await;
        TracedTxn::started(result, cx, &self.inst, Some(db.to_string())).await
    }

    /// [`Graph::start_txn_as`], traced.
    pub async fn start_txn_as(
        &self,
        operation: Operation,
        bookmarks: Option<Vec<String>>,
    ) -> neo4rs::Result<TracedTxn> {
        let cx = self.inst.start_transaction(None, &current_context());
        let result = self.inner.start_txn_as(operation, bookmarks).await;
        TracedTxn::started(result, cx, &self.inst, None).await
    }
}

/// The traced stream of a query, or the query's failure recorded on its span.
fn streamed(
    span: super::instrument::QuerySpan,
    result: neo4rs::Result<neo4rs::DetachedRowStream>,
) -> neo4rs::Result<TracedDetachedRowStream> {
    match result {
        Ok(stream) => Ok(TracedDetachedRowStream::new(stream, span)),
        Err(e) => {
            span.fail(&e);
            Err(e)
        }
    }
}
