//! The instrumentation shared by a traced graph and everything it hands out: options, the
//! prepared-query cache, the tracer and metrics, and the statistics.
//!
//! [`QuerySpan`] is the guard that owns one query's span. It is ended exactly once: by a result
//! (rows read to the end, a failure) or, when the caller drops the stream or cancels the future,
//! by `Drop`, which records the query as abandoned with the rows seen so far.

use std::borrow::Cow;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime};

use neo4rs::{BoltType, Query};
use opentelemetry::global::BoxedSpan;
use opentelemetry::trace::{Span as _, SpanBuilder, SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::stats::{QueryStatistics, Sample};
use crate::conventions::attribute::{
    DB_NAMESPACE, DB_QUERY_PARAMETER_PREFIX, DB_QUERY_SLOW, DB_QUERY_TYPE,
    DB_RESPONSE_RETURNED_ROWS, DB_RESPONSE_STATUS_CODE, DURATION_MS, ERROR_TYPE,
    NEO4J_RESULT_ENDING, NEO4J_SERVER_T_FIRST_MS, NEO4J_SERVER_T_LAST_MS, NETWORK_PROTOCOL_NAME,
    NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT, THRESHOLD_MS,
};
use crate::conventions::{
    ATTRS_ADDED_AT_END, Instruments, PROTOCOL_NAME, PreparedQuery, QueryCache, ResultEnding,
    SLOW_QUERY_EVENT, TRANSACTION_SPAN_NAME, UpdateCounter, system_attributes,
};

/// How a query's result ended: read to the end (or consumed by `run`), or one of the
/// [`ResultEnding`]s the wrappers observe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Read to the end, or consumed by `run`.
    Completed,
    /// The caller stopped early with `finish()`: the rest was discarded on the server.
    Finished,
    /// Dropped (stream or future) before the end.
    Abandoned,
}

impl Ending {
    fn convention(self) -> Option<ResultEnding> {
        match self {
            Ending::Completed => None,
            Ending::Finished => Some(ResultEnding::Finished),
            Ending::Abandoned => Some(ResultEnding::Abandoned),
        }
    }
}

/// The Neo4j status code of the first server failure among a transaction's queries. Such a
/// failure ends the transaction on the server (Neo4j rolls it back and ignores what follows
/// until the connection is reset), so the transaction's span records it as its own error.
pub(crate) type TxnFailure = Arc<OnceLock<String>>;

/// Options of a traced graph; set through [`crate::TracedGraphBuilder`].
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub server_address: Option<String>,
    pub server_port: Option<u16>,
    pub database: Option<String>,
    pub allowed_parameters: Vec<String>,
    pub max_text_len: usize,
    pub slow_query_threshold: Option<Duration>,
    pub inject_trace_context: bool,
    pub protocol_version: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            server_address: None,
            server_port: None,
            database: None,
            allowed_parameters: Vec::new(),
            max_text_len: crate::conventions::DEFAULT_MAX_TEXT_LEN,
            slow_query_threshold: Some(Duration::from_secs(1)),
            inject_trace_context: false,
            protocol_version: None,
        }
    }
}

/// Everything a query span needs, shared through an `Arc`.
pub(crate) struct Instrumentation {
    queries: QueryCache,
    pub options: Options,
    instruments: Instruments,
    pub stats: Option<Arc<QueryStatistics>>,
    /// Attributes every span and metric point carries, built once.
    common: Vec<KeyValue>,
    /// `db.namespace` of queries that name no database, when the configuration names one.
    default_namespace: Option<KeyValue>,
}

impl Instrumentation {
    pub fn new(
        options: Options,
        instruments: Instruments,
        cache_bytes: usize,
        stats: Option<Arc<QueryStatistics>>,
    ) -> Self {
        // Every string here is reference-counted: these are cloned into each query's span, and
        // cloning an owned string value would allocate and copy it every time.
        let shared = |v: &str| opentelemetry::Value::String(Arc::<str>::from(v).into());
        let mut common = system_attributes();
        common.push(KeyValue::new(NETWORK_PROTOCOL_NAME, PROTOCOL_NAME));
        if let Some(addr) = &options.server_address {
            common.push(KeyValue::new(SERVER_ADDRESS, shared(addr)));
        }
        if let Some(port) = options.server_port {
            common.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
        if let Some(v) = &options.protocol_version {
            common.push(KeyValue::new(NETWORK_PROTOCOL_VERSION, shared(v)));
        }
        let default_namespace = options
            .database
            .as_deref()
            .map(|db| KeyValue::new(DB_NAMESPACE, shared(db)));
        Self {
            queries: QueryCache::new(cache_bytes, options.max_text_len),
            options,
            instruments,
            stats,
            common,
            default_namespace,
        }
    }

    fn namespace<'a>(&'a self, db: Option<&'a str>) -> Option<&'a str> {
        db.or(self.options.database.as_deref())
    }

    /// Sends `query` with `send` under a query span, the child of `parent()`, and returns the
    /// span with the answer. `txn` is `None` for an auto-commit query, else where the query's
    /// transaction keeps its first server failure (such queries carry no `tx_metadata`).
    ///
    /// The span is built after `send`'s future is first polled, which is when neo4rs writes the
    /// request (or the pool's RESET before it): building it then overlaps the server's work
    /// instead of delaying the request, and it starts at the time the query was handed over.
    /// With trace-context injection on, the request carries the span's id, so the span is built
    /// first (see [`Instrumentation::start_query`]).
    pub async fn send<T, F>(
        self: &Arc<Self>,
        query: Query,
        db: Option<&str>,
        parent: impl FnOnce() -> Context,
        txn: Option<&TxnFailure>,
        send: impl FnOnce(Query) -> F,
    ) -> (QuerySpan, neo4rs::Result<T>)
    where
        F: Future<Output = neo4rs::Result<T>>,
    {
        if self.injects(&query, txn) {
            let (span, query) = self.start_query(query, db, &parent(), txn);
            let result = send(query).await;
            return (span, result);
        }
        let handed_over = self.begin(&query, db, txn);
        let mut request = std::pin::pin!(send(query));
        let first = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx))).await;
        let span = handed_over.start(&parent());
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => {
                // The first poll registered the task's waker; polling again before it fires
                // would only walk neo4rs's future to the same pending read.
                let mut woken = false;
                std::future::poll_fn(|cx| {
                    if std::mem::replace(&mut woken, true) {
                        request.as_mut().poll(cx)
                    } else {
                        Poll::Pending
                    }
                })
                .await
            }
        };
        (span, result)
    }

    /// Starts the span of one query, as a child of `parent`, and returns the query to send: when
    /// trace-context injection is on and the query has no `tx_metadata` of its own, the span's
    /// `traceparent` is added to it, so the server side (a tracing proxy, Neo4j's query log) can
    /// join the trace. `txn` as for [`Instrumentation::send`].
    pub fn start_query(
        self: &Arc<Self>,
        query: Query,
        db: Option<&str>,
        parent: &Context,
        txn: Option<&TxnFailure>,
    ) -> (QuerySpan, Query) {
        let injects = self.injects(&query, txn);
        let span = self.begin(&query, db, txn).start(parent);
        let query = match span.active.as_ref() {
            Some(a) if injects && a.span.span_context().is_valid() => {
                query.extra("tx_metadata", tx_metadata(a.span.span_context()))
            }
            _ => query,
        };
        (span, query)
    }

    /// Whether `query` is to carry its span's context in `tx_metadata`.
    fn injects(&self, query: &Query, txn: Option<&TxnFailure>) -> bool {
        txn.is_none() && self.options.inject_trace_context && !query.has_extra_key("tx_metadata")
    }

    /// What the span of `query` takes from the query and the moment it is handed over.
    fn begin(
        self: &Arc<Self>,
        query: &Query,
        db: Option<&str>,
        txn: Option<&TxnFailure>,
    ) -> HandedOver {
        let start = Instant::now();
        let start_time = SystemTime::now();
        let prepared = self.queries.get(query.query());
        let namespace = match (db, &self.default_namespace) {
            (Some(db), _) => Some(KeyValue::new(DB_NAMESPACE, db.to_owned())),
            (None, Some(kv)) => Some(kv.clone()),
            (None, None) => None,
        };
        let parameters = self
            .options
            .allowed_parameters
            .iter()
            .filter_map(|name| {
                let v = query.get_params().value.get(name.as_str())?;
                Some(KeyValue::new(
                    format!("{DB_QUERY_PARAMETER_PREFIX}{name}"),
                    render_parameter(v),
                ))
            })
            .collect();
        HandedOver {
            inst: Arc::clone(self),
            prepared,
            namespace,
            parameters,
            txn_failure: txn.cloned(),
            start,
            start_time,
        }
    }

    /// Starts a transaction span, child of `parent`, and returns the context whose active span
    /// it is: the queries of the transaction are started under it.
    pub fn start_transaction(&self, db: Option<&str>, parent: &Context) -> Context {
        let mut attrs = self.common.clone();
        if let Some(ns) = self.namespace(db) {
            attrs.push(KeyValue::new(DB_NAMESPACE, ns.to_owned()));
        }
        let span = self.instruments.start(
            SpanBuilder::from_name(TRANSACTION_SPAN_NAME)
                .with_kind(SpanKind::Client)
                .with_attributes(attrs),
            parent,
        );
        parent.with_span(span)
    }
}

impl Instrumentation {
    /// With trace-context injection on, the query that attaches the context of `cx`'s span (a
    /// transaction's) to the server's open transaction, as BEGIN's `tx_metadata` would: Neo4j
    /// shows it in `SHOW TRANSACTIONS` and its query log, for every query of the transaction.
    pub fn transaction_metadata(&self, cx: &Context) -> Option<Query> {
        let span = cx.span();
        let sc = span.span_context();
        (self.options.inject_trace_context && sc.is_valid()).then(|| {
            neo4rs::query("CALL tx.setMetaData($metadata)").param("metadata", tx_metadata(sc))
        })
    }
}

fn render_parameter(v: &BoltType) -> String {
    match v {
        BoltType::String(s) => s.value.clone(),
        BoltType::Integer(i) => i.value.to_string(),
        BoltType::Float(f) => f.value.to_string(),
        BoltType::Boolean(b) => b.value.to_string(),
        BoltType::Null(_) => "null".to_owned(),
        BoltType::List(l) => format!("<list of {}>", l.value.len()),
        BoltType::Map(m) => format!("<map of {}>", m.value.len()),
        _ => "<structure>".to_owned(),
    }
}

fn tx_metadata(sc: &opentelemetry::trace::SpanContext) -> BoltType {
    let mut map = neo4rs::BoltMap::with_capacity(2);
    map.put(
        "traceparent".into(),
        telemetry::propagation::traceparent(sc).into(),
    );
    if *sc.trace_state() != opentelemetry::trace::TraceState::NONE {
        let state = sc.trace_state().header();
        if !state.is_empty() {
            map.put("tracestate".into(), state.into());
        }
    }
    BoltType::Map(map)
}

/// A query handed over whose span is not built yet.
struct HandedOver {
    inst: Arc<Instrumentation>,
    prepared: Arc<PreparedQuery>,
    namespace: Option<KeyValue>,
    parameters: Vec<KeyValue>,
    txn_failure: Option<TxnFailure>,
    start: Instant,
    start_time: SystemTime,
}

impl HandedOver {
    /// Builds the span, the child of `parent`, started when the query was handed over.
    fn start(self, parent: &Context) -> QuerySpan {
        let inst = &self.inst;
        let prepared = &self.prepared;
        // The span keeps this vector: room for what the end adds (rows, server timings, query
        // type) saves regrowing it then, which profiles showed on every query.
        let mut attrs = Vec::with_capacity(
            inst.common.len()
                + prepared.span.len()
                + 1
                + self.parameters.len()
                + ATTRS_ADDED_AT_END,
        );
        attrs.extend(inst.common.iter().cloned());
        attrs.extend(prepared.span.iter().cloned());
        let named_namespace = self.namespace.is_some();
        attrs.extend(self.namespace);
        attrs.extend(self.parameters);
        let span = inst.instruments.start(
            SpanBuilder::from_name(prepared.name.clone())
                .with_kind(SpanKind::Client)
                .with_start_time(self.start_time)
                .with_attributes(attrs),
            parent,
        );
        QuerySpan {
            active: Some(Active {
                span,
                inst: self.inst,
                prepared: self.prepared,
                named_namespace,
                txn_failure: self.txn_failure,
                start: self.start,
                rows: 0,
            }),
        }
    }
}

struct Active {
    span: BoxedSpan,
    inst: Arc<Instrumentation>,
    prepared: Arc<PreparedQuery>,
    /// The span has `db.namespace` from the query or the configuration; otherwise the server's
    /// summary supplies it.
    named_namespace: bool,
    /// The transaction's failure record, for a query run in one.
    txn_failure: Option<TxnFailure>,
    start: Instant,
    rows: u64,
}

/// Owns one query's span; ends it exactly once (see the module docs).
pub(crate) struct QuerySpan {
    active: Option<Active>,
}

impl QuerySpan {
    /// The span's context, to parent anything done on the query's behalf.
    #[allow(dead_code)]
    pub fn context(&self) -> Option<opentelemetry::trace::SpanContext> {
        self.active.as_ref().map(|a| a.span.span_context().clone())
    }

    pub fn add_row(&mut self) {
        if let Some(a) = &mut self.active {
            a.rows += 1;
        }
    }

    /// Records what the server's result summary says.
    pub fn record_summary(&mut self, summary: &neo4rs::summary::ResultSummary) {
        let Some(a) = &mut self.active else { return };
        // Straight into the span, which has room for these (see `ATTRS_ADDED_AT_END`).
        let span = &mut a.span;
        if let Some(t) = summary.available_after() {
            span.set_attribute(KeyValue::new(NEO4J_SERVER_T_FIRST_MS, t.as_millis() as i64));
        }
        if let Some(t) = summary.consumed_after() {
            span.set_attribute(KeyValue::new(NEO4J_SERVER_T_LAST_MS, t.as_millis() as i64));
        }
        if let Some(t) = summary.r#type {
            span.set_attribute(KeyValue::new(DB_QUERY_TYPE, query_type(t)));
        }
        if !a.named_namespace
            && let Some(db) = summary.db()
        {
            span.set_attribute(KeyValue::new(DB_NAMESPACE, db.to_owned()));
        }
        let stats = summary.stats();
        for &counter in UpdateCounter::ALL {
            let v = count(stats, counter);
            if v != 0 {
                span.set_attribute(KeyValue::new(counter.attribute(), v as i64));
            }
        }
    }

    pub fn end(mut self, ending: Ending) {
        self.finish(ending, None);
    }

    pub fn fail(mut self, error: &neo4rs::Error) {
        self.finish(Ending::Completed, Some(error));
    }

    /// Ends the span of a `run`: the server's summary on success, the failure otherwise.
    pub fn end_with_summary(mut self, result: &neo4rs::Result<neo4rs::summary::ResultSummary>) {
        if let Ok(summary) = result {
            self.record_summary(summary);
        }
        self.end_with(result);
    }

    /// Ends the span with a `Result`'s outcome.
    pub fn end_with<T>(self, result: &neo4rs::Result<T>) {
        match result {
            Ok(_) => self.end(Ending::Completed),
            Err(e) => self.fail(e),
        }
    }

    fn finish(&mut self, ending: Ending, error: Option<&neo4rs::Error>) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        let elapsed = a.start.elapsed();
        let inst = &a.inst;
        a.span
            .set_attribute(KeyValue::new(DB_RESPONSE_RETURNED_ROWS, a.rows as i64));
        if let Some(ending) = ending.convention() {
            a.span
                .set_attribute(KeyValue::new(NEO4J_RESULT_ENDING, ending.as_str()));
        }
        // The prepared attributes as they are, unless a failure adds to them.
        let mut metric_attrs = Cow::Borrowed(a.prepared.metric.as_slice());
        if let Some(e) = error {
            let metric_attrs = metric_attrs.to_mut();
            let (error_type, code) = classify(e);
            a.span
                .set_attribute(KeyValue::new(ERROR_TYPE, error_type.clone()));
            metric_attrs.push(KeyValue::new(ERROR_TYPE, error_type.clone()));
            if let Some(code) = code {
                a.span
                    .set_attribute(KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()));
                metric_attrs.push(KeyValue::new(DB_RESPONSE_STATUS_CODE, code));
            }
            // The error's message may quote the query or a value: only its type goes out.
            a.span.set_status(Status::error(error_type));
            if let (Some(failure), neo4rs::Error::Neo4j(server)) = (&a.txn_failure, e) {
                let _ = failure.set(server.code().to_owned());
            }
        }
        if let Some(threshold) = inst.options.slow_query_threshold
            && elapsed >= threshold
        {
            a.span.set_attribute(KeyValue::new(DB_QUERY_SLOW, true));
            a.span.add_event(
                SLOW_QUERY_EVENT,
                vec![
                    KeyValue::new(DURATION_MS, elapsed.as_secs_f64() * 1e3),
                    KeyValue::new(THRESHOLD_MS, threshold.as_secs_f64() * 1e3),
                ],
            );
            let normalized = &a.prepared.normalized;
            tracing::warn!(
                summary = %normalized.summary,
                fingerprint = %normalized.fingerprint,
                duration_ms = elapsed.as_secs_f64() * 1e3,
                "slow query"
            );
        }
        a.span.end();
        inst.instruments
            .metrics()
            .record(elapsed, a.rows, &metric_attrs);
        if let Some(stats) = &inst.stats {
            let normalized = &a.prepared.normalized;
            stats.record(&Sample {
                fingerprint: normalized.fingerprint.0,
                text: &normalized.resource,
                summary: &normalized.summary,
                elapsed,
                rows: a.rows,
                failed: error.is_some(),
            });
        }
    }
}

impl Drop for QuerySpan {
    fn drop(&mut self) {
        self.finish(Ending::Abandoned, None);
    }
}

/// The value of `counter` in neo4rs's summary.
fn count(stats: &neo4rs::summary::Counters, counter: UpdateCounter) -> u64 {
    use UpdateCounter as C;
    match counter {
        C::NodesCreated => stats.nodes_created,
        C::NodesDeleted => stats.nodes_deleted,
        C::RelationshipsCreated => stats.relationships_created,
        C::RelationshipsDeleted => stats.relationships_deleted,
        C::PropertiesSet => stats.properties_set,
        C::LabelsAdded => stats.labels_added,
        C::LabelsRemoved => stats.labels_removed,
        C::IndexesAdded => stats.indexes_added,
        C::IndexesRemoved => stats.indexes_removed,
        C::ConstraintsAdded => stats.constraints_added,
        C::ConstraintsRemoved => stats.constraints_removed,
        C::SystemUpdates => stats.system_updates,
    }
}

fn query_type(t: neo4rs::summary::Type) -> &'static str {
    use neo4rs::summary::Type;
    match t {
        Type::Read => "r",
        Type::Write => "w",
        Type::ReadWrite => "rw",
        Type::SchemaOnly => "s",
        Type::Unknown => "unknown",
    }
}

/// `error.type` and, for server failures, the Neo4j status code. Only static names: an error's
/// text can carry query fragments or values.
pub(crate) fn classify(e: &neo4rs::Error) -> (String, Option<String>) {
    use neo4rs::Error as E;
    match e {
        E::Neo4j(n) => (n.code().to_owned(), Some(n.code().to_owned())),
        E::IOError { .. } => ("io".to_owned(), None),
        E::ConnectionError => ("connection".to_owned(), None),
        E::ConnectionClosed(_) => ("connection_closed".to_owned(), None),
        E::DeserializationError(_) => ("deserialization".to_owned(), None),
        E::NoMoreRows => ("no_more_rows".to_owned(), None),
        E::NotSingleResult => ("not_single_result".to_owned(), None),
        E::Ignored(_) => ("ignored".to_owned(), None),
        E::UnexpectedMessage(_) | E::UnknownMessage(_) | E::UnknownType(_) => {
            ("protocol".to_owned(), None)
        }
        _ => ("client".to_owned(), None),
    }
}
