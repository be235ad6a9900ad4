//! Query spans at the wire: one CLIENT span per RUN, from the RUN to the end of its result
//! stream, with the attributes of the workspace's DESIGN.md.
//!
//! The session feeds this module what it sees (RUN sent, RUN answered, records counted, stream
//! summary, failure, connection end); every way a stream can end closes its span exactly once,
//! with the rows seen so far. Nothing here copies a parameter value, a credential or a server
//! error message into a span: the query text goes through the `cypher` normaliser first.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue, global};

use crate::bolt::packstream::raw_int;
use crate::bolt::{Map, MapView, Version};
use crate::query_attrs::{ATTRS_ADDED_AT_END, QueryAttrsCache, stats_attribute};

/// Identifies an open query within one connection.
pub(crate) type QueryId = u64;

/// Per-connection facts every span carries.
pub(crate) struct SpanFacts {
    pub server_address: Arc<str>,
    pub server_port: i64,
    pub client_version: Version,
    pub upstream_version: Version,
    pub translated: bool,
}

/// How a result stream ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End<'a> {
    /// PULL/DISCARD SUCCESS without `has_more`.
    Complete(MapView<'a>),
    /// FAILURE (of the RUN, a PULL, or an earlier request of the same transaction).
    Failure(&'a Map),
    /// The server IGNORED the RUN or PULL after an earlier failure.
    Ignored,
    /// The client sent RESET: the stream was abandoned.
    Reset,
    /// COMMIT or ROLLBACK closed the transaction the stream belonged to.
    TransactionClosed,
    /// The upstream connection broke.
    UpstreamLost,
    /// The client closed its connection.
    ClientClosed,
    /// The client broke the protocol and was disconnected.
    ProtocolError,
    /// The proxy shut the connection down (grace period over).
    Shutdown,
}

struct OpenQuery {
    id: QueryId,
    qid: Option<i64>,
    span: global::BoxedSpan,
    rows: i64,
    has_namespace: bool,
}

struct Tx {
    db: Option<String>,
    parent: Option<Context>,
}

/// The open queries of one connection and the transaction they run in.
pub(crate) struct Queries {
    tracer: global::BoxedTracer,
    normalizer: Arc<cypher::Cache>,
    query_attrs: Arc<QueryAttrsCache>,
    base: Vec<KeyValue>,
    open: Vec<OpenQuery>,
    next_id: QueryId,
    tx: Option<Tx>,
}

impl Queries {
    pub(crate) fn new(
        facts: &SpanFacts,
        normalizer: Arc<cypher::Cache>,
        query_attrs: Arc<QueryAttrsCache>,
    ) -> Self {
        // Shared strings: copying these into every span is a reference count, not an
        // allocation.
        let version = |v: Version| -> Arc<str> { v.to_string().into() };
        let base = vec![
            KeyValue::new("db.system.name", "neo4j"),
            KeyValue::new("server.address", facts.server_address.clone()),
            KeyValue::new("server.port", facts.server_port),
            KeyValue::new("network.protocol.name", "bolt"),
            KeyValue::new("network.protocol.version", version(facts.client_version)),
            KeyValue::new(
                "neo4j.bolt.upstream_version",
                version(facts.upstream_version),
            ),
            KeyValue::new("neo4j.bolt.translated", facts.translated),
        ];
        Queries {
            // Taken per connection, not per process, so a tracer provider installed after the
            // proxy started (tests, late telemetry set-up) is picked up by new connections.
            tracer: global::tracer("bolt-proxy"),
            normalizer,
            query_attrs,
            base,
            open: Vec::new(),
            next_id: 0,
            tx: None,
        }
    }

    /// A BEGIN was sent: later RUNs belong to its transaction.
    pub(crate) fn begin(&mut self, extra: MapView<'_>) {
        self.tx = Some(Tx {
            db: extra.get_str("db").map(str::to_owned),
            parent: parent_context(extra),
        });
    }

    /// COMMIT, ROLLBACK or RESET was sent: later RUNs are auto-commit again.
    pub(crate) fn leave_transaction(&mut self) {
        self.tx = None;
    }

    /// A RUN was sent: opens its span.
    pub(crate) fn start(&mut self, query: &str, extra: MapView<'_>) -> QueryId {
        let normalized = self.normalizer.normalize(query);
        let shared = self.query_attrs.get(&normalized);
        let (db, parent) = match &self.tx {
            Some(tx) => (tx.db.as_deref(), tx.parent.clone()),
            None => (extra.get_str("db"), parent_context(extra)),
        };
        // The span keeps this vector: room for what comes later saves regrowing it.
        let mut attrs =
            Vec::with_capacity(self.base.len() + shared.span.len() + 1 + ATTRS_ADDED_AT_END);
        attrs.extend_from_slice(&self.base);
        attrs.extend_from_slice(&shared.span);
        let db = db.filter(|d| !d.is_empty());
        if let Some(db) = db {
            attrs.push(KeyValue::new("db.namespace", db.to_owned()));
        }
        let has_namespace = db.is_some();
        let builder = self
            .tracer
            .span_builder(shared.name.clone())
            .with_kind(SpanKind::Client)
            .with_attributes(attrs);
        let span = self
            .tracer
            .build_with_context(builder, &parent.unwrap_or_default());
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(OpenQuery {
            id,
            qid: None,
            span,
            rows: 0,
            has_namespace,
        });
        id
    }

    fn get(&mut self, id: QueryId) -> Option<&mut OpenQuery> {
        self.open.iter_mut().rev().find(|q| q.id == id)
    }

    /// The query a PULL or DISCARD with these extras reads from: the one with the given `qid`,
    /// or (no `qid`, or -1) the latest RUN.
    pub(crate) fn target(&self, extra: MapView<'_>) -> Option<QueryId> {
        match extra.get_int("qid") {
            Some(qid) if qid >= 0 => self.open.iter().find(|q| q.qid == Some(qid)).map(|q| q.id),
            _ => self.open.last().map(|q| q.id),
        }
    }

    /// The RUN's SUCCESS: remembers `qid` and `t_first`.
    pub(crate) fn run_succeeded(&mut self, id: QueryId, meta: MapView<'_>) {
        if let Some(q) = self.get(id) {
            q.qid = meta.get_int("qid");
            if let Some(t) = meta.get_int("t_first") {
                q.span
                    .set_attribute(KeyValue::new("neo4j.server.t_first_ms", t));
            }
        }
    }

    /// `n` RECORDs of query `id`.
    pub(crate) fn records(&mut self, id: QueryId, n: usize) {
        if let Some(q) = self.get(id) {
            q.rows += n as i64;
        }
    }

    /// A PULL/DISCARD SUCCESS: ends the span unless the server says more records follow.
    pub(crate) fn stream_summary(&mut self, id: QueryId, meta: MapView<'_>) {
        if meta.get_bool("has_more") == Some(true) {
            return;
        }
        self.end(id, End::Complete(meta));
    }

    /// Ends query `id`.
    pub(crate) fn end(&mut self, id: QueryId, how: End<'_>) {
        if let Some(at) = self.open.iter().position(|q| q.id == id) {
            let q = self.open.remove(at);
            finish(q, how);
        }
    }

    /// A FAILURE: the query it answers fails, and so does every other open stream (a failure
    /// leaves the connection in a failed state; those streams can no longer be read).
    pub(crate) fn fail_all(&mut self, meta: &Map) {
        for q in self.open.drain(..) {
            finish(q, End::Failure(meta));
        }
    }

    /// Ends every open query the same way (connection end, RESET, transaction end).
    pub(crate) fn end_all(&mut self, how: End<'_>) {
        for q in self.open.drain(..) {
            finish(q, how);
        }
    }

    /// Whether an explicit transaction is open (BEGIN sent, no COMMIT/ROLLBACK/RESET yet).
    pub(crate) fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Whether any query is waiting for its stream to end.
    pub(crate) fn any_open(&self) -> bool {
        !self.open.is_empty()
    }
}

impl Drop for Queries {
    fn drop(&mut self) {
        // A connection task that is dropped (e.g. aborted) still ends its spans.
        self.end_all(End::Shutdown);
    }
}

fn finish(mut q: OpenQuery, how: End<'_>) {
    q.span
        .set_attribute(KeyValue::new("db.response.returned_rows", q.rows));
    let error_type: Option<Cow<'static, str>> = match how {
        End::Complete(meta) => {
            summary_attributes(&mut q, meta);
            None
        }
        End::Failure(meta) => {
            let code = meta
                .get_str("neo4j_code")
                .or_else(|| meta.get_str("code"))
                .unwrap_or("_OTHER")
                .to_owned();
            q.span
                .set_attribute(KeyValue::new("db.response.status_code", code.clone()));
            Some(code.into())
        }
        End::Ignored => Some("ignored".into()),
        End::UpstreamLost => Some("upstream_connection_lost".into()),
        End::ProtocolError => Some("protocol_error".into()),
        End::Shutdown => Some("proxy_shutdown".into()),
        End::Reset | End::TransactionClosed | End::ClientClosed => None,
    };
    let ending = match how {
        End::Complete(_) => None,
        End::Failure(_) => Some("failure"),
        End::Ignored => Some("ignored"),
        End::Reset => Some("reset"),
        End::TransactionClosed => Some("transaction_closed"),
        End::UpstreamLost => Some("upstream_lost"),
        End::ClientClosed => Some("client_closed"),
        End::ProtocolError => Some("protocol_error"),
        End::Shutdown => Some("proxy_shutdown"),
    };
    if let Some(e) = ending {
        q.span.set_attribute(KeyValue::new("neo4j.stream.end", e));
    }
    if let Some(t) = error_type {
        q.span.set_attribute(KeyValue::new("error.type", t.clone()));
        // The status carries the code only: the server's message may quote the query.
        q.span.set_status(Status::error(t));
    }
    q.span.end();
}

fn summary_attributes(q: &mut OpenQuery, meta: MapView<'_>) {
    if let Some(t) = meta.get_int("t_last") {
        q.span
            .set_attribute(KeyValue::new("neo4j.server.t_last_ms", t));
    }
    if let Some(t) = meta.get_str("type") {
        q.span
            .set_attribute(KeyValue::new("db.query.type", t.to_owned()));
    }
    if !q.has_namespace
        && let Some(db) = meta.get_str("db").filter(|d| !d.is_empty())
    {
        q.span
            .set_attribute(KeyValue::new("db.namespace", db.to_owned()));
    }
    if let Some(stats) = meta.get_map("stats") {
        for (k, v) in stats.iter() {
            if let Some(n) = raw_int(v) {
                q.span.set_attribute(KeyValue::new(stats_attribute(k), n));
            }
        }
    }
}

/// The W3C context in RUN/BEGIN `tx_metadata` (`traceparent`, `tracestate`), if valid.
fn parent_context(extra: MapView<'_>) -> Option<Context> {
    let md = extra.get_map("tx_metadata")?;
    let parent = telemetry::propagation::parse_traceparent(
        md.get_str("traceparent")?,
        md.get_str("tracestate"),
    )
    .ok()?;
    Some(Context::new().with_remote_span_context(parent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bolt::{Decoder, Value, packstream};

    fn encoded(map: Map) -> Vec<u8> {
        packstream::to_vec(&Value::Map(map)).unwrap()
    }

    fn view(bytes: &[u8]) -> MapView<'_> {
        Decoder::new(bytes).map_view().unwrap()
    }

    #[test]
    fn parent_from_tx_metadata() {
        let md: Map = [
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("tracestate", "k=v"),
        ]
        .into_iter()
        .collect();
        let extra = encoded([("tx_metadata", Value::Map(md))].into_iter().collect());
        let cx = parent_context(view(&extra)).unwrap();
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let bad = encoded(
            [(
                "tx_metadata",
                Value::Map([("traceparent", "garbage")].into_iter().collect()),
            )]
            .into_iter()
            .collect(),
        );
        assert!(parent_context(view(&bad)).is_none());
    }
}
