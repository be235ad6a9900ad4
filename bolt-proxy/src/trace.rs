//! Query spans at the wire: one CLIENT span per RUN, from the RUN to the end of its result
//! stream, with the attributes of the workspace's DESIGN.md.
//!
//! The session feeds this module what it sees (RUN sent, RUN answered, records counted, stream
//! summary, failure, connection end); every way a stream can end closes its span exactly once,
//! with the rows seen so far. Nothing here copies a parameter value, a credential or a server
//! error message into a span: the query text goes through the `cypher` normaliser first.
//!
//! Bookkeeping happens as messages pass; the OpenTelemetry work does not. A query keeps its
//! raw facts and timestamps while it runs, and its span is built, with its real start and end
//! times, by [`Queries::emit`], which the session calls after it has written what it was
//! forwarding: normalising the text and starting and ending a span took about 5 µs per query
//! inside a round trip (cold caches), all of it between reading a message and forwarding it.
//! Span processors therefore see a query's span start and end together, when it ends.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use opentelemetry::trace::{Span, SpanBuilder, SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use bolt::message::map_message_view;
use bolt::packstream::raw_int;
use bolt::{Limits, Map, MapView, Version};
use bolt_tracer::conventions::attribute::{
    DB_NAMESPACE, DB_QUERY_TYPE, DB_RESPONSE_RETURNED_ROWS, DB_RESPONSE_STATUS_CODE, ERROR_TYPE,
    NEO4J_BOLT_TRANSLATED, NEO4J_BOLT_UPSTREAM_VERSION, NEO4J_GQL_STATUS, NEO4J_RESULT_ENDING,
    NEO4J_SERVER_T_FIRST_MS, NEO4J_SERVER_T_LAST_MS, NETWORK_PROTOCOL_NAME,
    NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT,
};
use bolt_tracer::conventions::{
    ATTRS_ADDED_AT_END, DEFAULT_MAX_TEXT_LEN, Instruments, PROTOCOL_NAME, QueryCache, ResultEnding,
    stats_attribute, system_attributes,
};

/// The instrumentation scope of the proxy's spans and metrics.
const SCOPE: &str = "bolt-proxy";

/// What the query spans of every connection share: the prepared queries, and the tracer and
/// metrics, taken from the global providers when a span is built (so a provider installed
/// after the proxy started is used too).
pub(crate) struct QueryTracing {
    queries: QueryCache,
    instruments: Instruments,
}

impl QueryTracing {
    /// Prepared queries within `cache_bytes`.
    pub(crate) fn new(cache_bytes: usize) -> Self {
        let scope = InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        QueryTracing {
            queries: QueryCache::new(cache_bytes, DEFAULT_MAX_TEXT_LEN),
            instruments: Instruments::new(scope, None, None),
        }
    }
}

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

/// How a result stream ended, when no server summary ended it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum End {
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

impl End {
    /// The ending the span names.
    fn convention(self) -> ResultEnding {
        match self {
            End::Ignored => ResultEnding::Ignored,
            End::Reset => ResultEnding::Reset,
            End::TransactionClosed => ResultEnding::TransactionClosed,
            End::UpstreamLost => ResultEnding::UpstreamLost,
            End::ClientClosed => ResultEnding::ClientClosed,
            End::ProtocolError => ResultEnding::ProtocolError,
            End::Shutdown => ResultEnding::ProxyShutdown,
        }
    }
}

/// How a query ended, kept until its span is emitted.
enum Outcome {
    /// PULL/DISCARD SUCCESS without `has_more`: the message's payload, read again at emission.
    Complete(Bytes),
    /// FAILURE (of the RUN, a PULL, or an earlier request of the same transaction), with its
    /// Neo4j status code and, from Bolt 5.7, its GQL status.
    Failure {
        code: String,
        gql_status: Option<String>,
    },
    /// Anything else.
    Other(End),
}

/// A query seen on the wire; its span is built when it has ended.
struct OpenQuery {
    id: QueryId,
    qid: Option<i64>,
    rows: i64,
    t_first: Option<i64>,
    /// The text as sent: normalised at emission, never recorded as it is.
    query: String,
    db: Option<String>,
    parent: Option<Context>,
    start: SystemTime,
}

struct Ended {
    query: OpenQuery,
    outcome: Outcome,
    at: SystemTime,
}

struct Tx {
    db: Option<String>,
    parent: Option<Context>,
}

/// The open queries of one connection and the transaction they run in.
pub(crate) struct Queries {
    tracing: Arc<QueryTracing>,
    base: Vec<KeyValue>,
    open: Vec<OpenQuery>,
    /// Ended queries whose spans [`Queries::emit`] has not built yet.
    ended: Vec<Ended>,
    next_id: QueryId,
    tx: Option<Tx>,
}

impl Queries {
    pub(crate) fn new(facts: &SpanFacts, tracing: Arc<QueryTracing>) -> Self {
        // Shared strings: copying these into every span is a reference count, not an
        // allocation.
        let version = |v: Version| -> Arc<str> { v.to_string().into() };
        let mut base = system_attributes();
        base.extend([
            KeyValue::new(SERVER_ADDRESS, facts.server_address.clone()),
            KeyValue::new(SERVER_PORT, facts.server_port),
            KeyValue::new(NETWORK_PROTOCOL_NAME, PROTOCOL_NAME),
            KeyValue::new(NETWORK_PROTOCOL_VERSION, version(facts.client_version)),
            KeyValue::new(NEO4J_BOLT_UPSTREAM_VERSION, version(facts.upstream_version)),
            KeyValue::new(NEO4J_BOLT_TRANSLATED, facts.translated),
        ]);
        Queries {
            tracing,
            base,
            open: Vec::new(),
            ended: Vec::new(),
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

    /// A RUN was sent: opens its query.
    pub(crate) fn start(&mut self, query: &str, extra: MapView<'_>) -> QueryId {
        let (db, parent) = match &self.tx {
            Some(tx) => (tx.db.clone(), tx.parent.clone()),
            None => (
                extra.get_str("db").map(str::to_owned),
                parent_context(extra),
            ),
        };
        let id = self.next_id;
        self.next_id += 1;
        self.open.push(OpenQuery {
            id,
            qid: None,
            rows: 0,
            t_first: None,
            query: query.to_owned(),
            db: db.filter(|d| !d.is_empty()),
            parent,
            start: SystemTime::now(),
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

    /// The RUN's SUCCESS: remembers `qid`, `t_first`, and the home database the server
    /// resolved (Bolt 5.8+: `db`, when the RUN named none).
    pub(crate) fn run_succeeded(&mut self, id: QueryId, meta: MapView<'_>) {
        if let Some(q) = self.get(id) {
            q.qid = meta.get_int("qid");
            q.t_first = meta.get_int("t_first");
            if q.db.is_none() {
                q.db = server_db(meta);
            }
        }
    }

    /// The BEGIN's SUCCESS: the home database the server resolved (Bolt 5.8+: `db`, when the
    /// BEGIN named none) is the namespace of the transaction's queries, those already sent
    /// behind the BEGIN included (drivers pipeline BEGIN, RUN and PULL).
    pub(crate) fn begin_succeeded(&mut self, meta: MapView<'_>) {
        let Some(tx) = &mut self.tx else { return };
        if tx.db.is_some() {
            return;
        }
        let Some(db) = server_db(meta) else { return };
        for q in self.open.iter_mut().filter(|q| q.db.is_none()) {
            q.db = Some(db.clone());
        }
        tx.db = Some(db);
    }

    /// `n` RECORDs of query `id`.
    pub(crate) fn records(&mut self, id: QueryId, n: usize) {
        if let Some(q) = self.get(id) {
            q.rows += n as i64;
        }
    }

    /// A PULL/DISCARD SUCCESS (`payload` is the message; `meta` its metadata, read from it):
    /// ends the query unless the server says more records follow. Whether it ended.
    pub(crate) fn stream_summary(
        &mut self,
        id: QueryId,
        payload: &Bytes,
        meta: MapView<'_>,
    ) -> bool {
        if meta.get_bool("has_more") == Some(true) {
            return false;
        }
        self.close(id, Outcome::Complete(payload.clone()));
        true
    }

    /// Ends query `id`.
    pub(crate) fn end(&mut self, id: QueryId, how: End) {
        self.close(id, Outcome::Other(how));
    }

    fn close(&mut self, id: QueryId, outcome: Outcome) {
        if let Some(at) = self.open.iter().position(|q| q.id == id) {
            let query = self.open.remove(at);
            self.ended.push(Ended {
                query,
                outcome,
                at: SystemTime::now(),
            });
        }
    }

    /// A FAILURE: the query it answers fails, and so does every other open stream (a failure
    /// leaves the connection in a failed state; those streams can no longer be read).
    pub(crate) fn fail_all(&mut self, meta: &Map) {
        if self.open.is_empty() {
            return;
        }
        let code = meta
            .get_str("neo4j_code")
            .or_else(|| meta.get_str("code"))
            .unwrap_or("_OTHER");
        // A five-character GQLSTATUS (e.g. `42001`): a class and subclass, never a value.
        let gql_status = meta.get_str("gql_status").filter(|s| is_gql_status(s));
        let at = SystemTime::now();
        for query in self.open.drain(..) {
            self.ended.push(Ended {
                query,
                outcome: Outcome::Failure {
                    code: code.to_owned(),
                    gql_status: gql_status.map(str::to_owned),
                },
                at,
            });
        }
    }

    /// Ends every open query the same way (connection end, RESET, transaction end).
    pub(crate) fn end_all(&mut self, how: End) {
        let at = SystemTime::now();
        for query in self.open.drain(..) {
            self.ended.push(Ended {
                query,
                outcome: Outcome::Other(how),
                at,
            });
        }
    }

    /// Builds and ends the spans of the queries that ended since the last call. The session
    /// calls this once what it was forwarding is written, so the work is off the path of the
    /// bytes.
    pub(crate) fn emit(&mut self) {
        // Drained through a local so the vector keeps its capacity: no allocation per query.
        let mut ended = std::mem::take(&mut self.ended);
        for e in ended.drain(..) {
            self.emit_one(e);
        }
        self.ended = ended;
    }

    fn emit_one(
        &self,
        Ended {
            query: q,
            outcome,
            at,
        }: Ended,
    ) {
        let prepared = self.tracing.queries.get(&q.query);
        let mut attrs =
            Vec::with_capacity(self.base.len() + prepared.span.len() + 1 + ATTRS_ADDED_AT_END);
        attrs.extend_from_slice(&self.base);
        attrs.extend_from_slice(&prepared.span);
        if let Some(db) = &q.db {
            attrs.push(KeyValue::new(DB_NAMESPACE, db.clone()));
        }
        attrs.push(KeyValue::new(DB_RESPONSE_RETURNED_ROWS, q.rows));
        if let Some(t) = q.t_first {
            attrs.push(KeyValue::new(NEO4J_SERVER_T_FIRST_MS, t));
        }
        let error_type: Option<Cow<'static, str>> = match &outcome {
            Outcome::Complete(payload) => {
                if let Ok((_, meta)) = map_message_view(payload, Limits::default()) {
                    summary_attributes(&mut attrs, q.db.is_some(), meta);
                }
                None
            }
            Outcome::Failure { code, gql_status } => {
                attrs.push(KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()));
                if let Some(g) = gql_status {
                    attrs.push(KeyValue::new(NEO4J_GQL_STATUS, g.clone()));
                }
                Some(code.clone().into())
            }
            Outcome::Other(End::Ignored) => Some("ignored".into()),
            Outcome::Other(End::UpstreamLost) => Some("upstream_connection_lost".into()),
            Outcome::Other(End::ProtocolError) => Some("protocol_error".into()),
            Outcome::Other(End::Shutdown) => Some("proxy_shutdown".into()),
            Outcome::Other(End::Reset | End::TransactionClosed | End::ClientClosed) => None,
        };
        // The server's summary or FAILURE ends a result the normal way (a FAILURE's code is in
        // `error.type`): only the other endings are named.
        let ending = match outcome {
            Outcome::Complete(_) | Outcome::Failure { .. } => None,
            Outcome::Other(how) => Some(how.convention()),
        };
        if let Some(e) = ending {
            attrs.push(KeyValue::new(NEO4J_RESULT_ENDING, e.as_str()));
        }
        let builder = SpanBuilder::from_name(prepared.name.clone())
            .with_kind(SpanKind::Client)
            .with_start_time(q.start);
        // Keyed like the wrappers' metrics: by summary and operation, and the error's kind.
        let mut metric_attrs = Cow::Borrowed(prepared.metric.as_slice());
        if let Some(t) = &error_type {
            metric_attrs
                .to_mut()
                .push(KeyValue::new(ERROR_TYPE, t.clone()));
            if let Outcome::Failure { code, .. } = &outcome {
                metric_attrs
                    .to_mut()
                    .push(KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()));
            }
        }
        self.tracing.instruments.metrics().record(
            at.duration_since(q.start).unwrap_or_default(),
            q.rows.max(0) as u64,
            &metric_attrs,
        );
        let status = error_type.map(|t| {
            attrs.push(KeyValue::new(ERROR_TYPE, t.clone()));
            // The status carries the code only: the server's message may quote the query.
            Status::error(t)
        });
        let mut span = self.tracing.instruments.start(
            builder.with_attributes(attrs),
            &q.parent.unwrap_or_default(),
        );
        if let Some(status) = status {
            span.set_status(status);
        }
        span.end_with_timestamp(at);
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
        self.emit();
    }
}

fn summary_attributes(attrs: &mut Vec<KeyValue>, has_namespace: bool, meta: MapView<'_>) {
    if let Some(t) = meta.get_int("t_last") {
        attrs.push(KeyValue::new(NEO4J_SERVER_T_LAST_MS, t));
    }
    if let Some(t) = meta.get_str("type") {
        attrs.push(KeyValue::new(DB_QUERY_TYPE, t.to_owned()));
    }
    if !has_namespace && let Some(db) = meta.get_str("db").filter(|d| !d.is_empty()) {
        attrs.push(KeyValue::new(DB_NAMESPACE, db.to_owned()));
    }
    if let Some(stats) = meta.get_map("stats") {
        for (k, v) in stats.iter() {
            if let Some(n) = raw_int(v) {
                attrs.push(KeyValue::new(stats_attribute(k), n));
            }
        }
    }
}

/// The database a server's SUCCESS names, if any.
fn server_db(meta: MapView<'_>) -> Option<String> {
    meta.get_str("db")
        .filter(|d| !d.is_empty())
        .map(str::to_owned)
}

/// Whether `s` has the shape of a GQLSTATUS code: five ASCII letters or digits.
fn is_gql_status(s: &str) -> bool {
    s.len() == 5 && s.bytes().all(|b| b.is_ascii_alphanumeric())
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
    use bolt::{Decoder, Value, packstream};

    fn encoded(map: Map) -> Vec<u8> {
        packstream::to_vec(&Value::Map(map)).unwrap()
    }

    fn view(bytes: &[u8]) -> MapView<'_> {
        Decoder::new(bytes).map_view().unwrap()
    }

    fn queries() -> Queries {
        let facts = SpanFacts {
            server_address: "db".into(),
            server_port: 7687,
            client_version: Version::V5_8,
            upstream_version: Version::V5_8,
            translated: false,
        };
        Queries::new(&facts, Arc::new(QueryTracing::new(1 << 16)))
    }

    #[test]
    fn the_home_database_a_5_8_server_resolves_is_the_namespace() {
        let home = encoded([("db", "home")].into_iter().collect());
        let none = encoded(Map::new());
        // Auto-commit: the RUN's SUCCESS names it.
        let mut q = queries();
        let id = q.start("RETURN 1", view(&none));
        q.run_succeeded(id, view(&home));
        assert_eq!(q.open[0].db.as_deref(), Some("home"));
        // A RUN that named its database keeps it.
        let named = encoded([("db", "mine")].into_iter().collect());
        let id = q.start("RETURN 2", view(&named));
        q.run_succeeded(id, view(&home));
        assert_eq!(q.open[1].db.as_deref(), Some("mine"));
        // A transaction: BEGIN's SUCCESS names it, for the RUN pipelined behind the BEGIN and
        // for the ones after.
        let mut q = queries();
        q.begin(view(&none));
        q.start("RETURN 1", view(&none));
        q.begin_succeeded(view(&home));
        q.start("RETURN 2", view(&none));
        let dbs: Vec<_> = q.open.iter().map(|o| o.db.as_deref()).collect();
        assert_eq!(dbs, [Some("home"), Some("home")]);
    }

    #[test]
    fn gql_statuses_are_five_letters_or_digits() {
        for ok in ["42001", "22N01", "50N42", "01N00"] {
            assert!(is_gql_status(ok), "{ok}");
        }
        for bad in ["", "4200", "420011", "42 01", "42'01", "ÄÄ1"] {
            assert!(!is_gql_status(bad), "{bad}");
        }
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
