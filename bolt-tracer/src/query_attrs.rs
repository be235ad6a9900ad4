//! What a query span takes from its normalised text, for the traced neo4rs wrappers and the
//! proxy alike: the span name and the `db.query.*` attributes, computed once per fingerprint
//! and shared by every span of that query.
//!
//! Sharing is what keeps a span cheap: every string value is reference-counted, so copying the
//! attributes into a new span bumps counters instead of allocating and copying text.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;

use cypher::Normalized;
use opentelemetry::metrics::{Histogram, Meter};
use opentelemetry::{KeyValue, Value};

/// Default longest `db.query.text`, in bytes.
pub(crate) const DEFAULT_MAX_TEXT_LEN: usize = 2048;

/// Attributes a typical query span gets after it starts: returned rows, the server's
/// `t_first` and `t_last`, the query type, and one update counter. Spans are created with room
/// for them, as growing a span's attribute vector showed in per-query profiles.
pub(crate) const ATTRS_ADDED_AT_END: usize = 5;

/// The span attribute for an update counter of a result summary, by its wire name (Neo4j's
/// `nodes-created`, FalkorDB's the same): `neo4j.stats.nodes_created`. The known counters get
/// a static name, so a write query's stats cost no allocation; others are built.
pub(crate) fn stats_attribute(wire: &str) -> Cow<'static, str> {
    const KNOWN: [(&str, &str); 12] = [
        ("nodes-created", "neo4j.stats.nodes_created"),
        ("nodes-deleted", "neo4j.stats.nodes_deleted"),
        ("relationships-created", "neo4j.stats.relationships_created"),
        ("relationships-deleted", "neo4j.stats.relationships_deleted"),
        ("properties-set", "neo4j.stats.properties_set"),
        ("labels-added", "neo4j.stats.labels_added"),
        ("labels-removed", "neo4j.stats.labels_removed"),
        ("indexes-added", "neo4j.stats.indexes_added"),
        ("indexes-removed", "neo4j.stats.indexes_removed"),
        ("constraints-added", "neo4j.stats.constraints_added"),
        ("constraints-removed", "neo4j.stats.constraints_removed"),
        ("system-updates", "neo4j.stats.system_updates"),
    ];
    match KNOWN.iter().find(|(w, _)| *w == wire) {
        Some((_, name)) => Cow::Borrowed(name),
        None => Cow::Owned(format!("neo4j.stats.{}", wire.replace('-', "_"))),
    }
}

/// The normalised form of `text`; a normaliser panic degrades to an opaque, safe summary
/// instead of failing the query (wrappers) or the connection (proxy).
pub(crate) fn normalize(cache: &cypher::Cache, text: &str) -> Arc<Normalized> {
    match catch_unwind(AssertUnwindSafe(|| cache.normalize(text))) {
        Ok(n) => n,
        Err(_) => Arc::new(cypher::normalize("")),
    }
}

/// OpenTelemetry's `db.client.operation.duration` and `db.client.response.returned_rows`
/// histograms, recorded alike by the wrappers and the proxy.
pub(crate) struct QueryMetrics {
    duration: Histogram<f64>,
    rows: Histogram<u64>,
}

impl QueryMetrics {
    pub(crate) fn new(meter: &Meter) -> Self {
        QueryMetrics {
            duration: meter
                .f64_histogram("db.client.operation.duration")
                .with_unit("s")
                .with_description("Duration of database client operations.")
                .with_boundaries(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0])
                .build(),
            rows: meter
                .u64_histogram("db.client.response.returned_rows")
                .with_unit("{row}")
                .with_description("Rows returned by database client operations.")
                .with_boundaries(vec![
                    1.0, 2.0, 5.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0,
                ])
                .build(),
        }
    }

    /// Records one query; `attrs` are its [`QueryAttrs::metric`], plus `error.type` and
    /// `db.response.status_code` when it failed.
    pub(crate) fn record(&self, elapsed: Duration, rows: u64, attrs: &[KeyValue]) {
        self.duration.record(elapsed.as_secs_f64(), attrs);
        self.rows.record(rows, attrs);
    }
}

/// Fingerprints kept; the map is cleared when full (the normaliser's cache bounds the expensive
/// part, this one only saves allocations).
const MAX_ENTRIES: usize = 4096;

/// Most distinct span names kept for the life of the process (see [`span_name`]).
const MAX_INTERNED_NAMES: usize = 1024;

/// The span name and attributes of one normalised query.
pub(crate) struct QueryAttrs {
    /// The summary.
    pub name: Cow<'static, str>,
    /// `db.query.text`, `resource.name`, `db.query.summary`, `db.operation.name`,
    /// `db.query.fingerprint` and, when the summary names exactly one, `db.collection.name`.
    pub span: Vec<KeyValue>,
    /// What the duration and row-count metrics are keyed by: system, summary, operation.
    pub metric: Vec<KeyValue>,
}

/// [`QueryAttrs`] by fingerprint.
pub(crate) struct QueryAttrsCache {
    max_text_len: usize,
    entries: RwLock<HashMap<u64, Arc<QueryAttrs>>>,
}

impl QueryAttrsCache {
    /// A cache whose `db.query.text` is cut at `max_text_len` bytes (at a character boundary).
    pub(crate) fn new(max_text_len: usize) -> Self {
        Self {
            max_text_len,
            entries: RwLock::default(),
        }
    }

    /// The attributes of `n`.
    pub(crate) fn get(&self, n: &Normalized) -> Arc<QueryAttrs> {
        // The same text with and without a lexer error gets different attributes (below).
        let key = n.fingerprint.0 ^ u64::from(n.error.is_some());
        if let Some(attrs) = self
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Arc::clone(attrs);
        }
        let attrs = Arc::new(self.build(n));
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, Arc::clone(&attrs));
        attrs
    }

    fn build(&self, n: &Normalized) -> QueryAttrs {
        let shared = |v: &str| Value::String(Arc::<str>::from(v).into());
        // A lexer error means the text could not be read safely to the end: the summary is the
        // only text we are sure holds nothing sensitive.
        let text = if n.error.is_some() {
            &n.summary
        } else {
            &n.resource
        };
        let text = shared(truncate(text, self.max_text_len));
        let summary = shared(&n.summary);
        let operation = shared(&n.operation);
        let mut span = vec![
            KeyValue::new("db.query.text", text.clone()),
            KeyValue::new("resource.name", text),
            KeyValue::new("db.query.summary", summary.clone()),
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("db.query.fingerprint", shared(&n.fingerprint.to_string())),
        ];
        if let Some(collection) = single_collection(&n.summary) {
            span.push(KeyValue::new("db.collection.name", shared(collection)));
        }
        let metric = vec![
            KeyValue::new("db.system.name", "neo4j"),
            KeyValue::new("db.query.summary", summary),
            KeyValue::new("db.operation.name", operation),
        ];
        QueryAttrs {
            name: span_name(&n.summary),
            span,
            metric,
        }
    }
}

/// A span name for `summary`. The span API takes a `Cow<'static, str>`, so a name that is not
/// `'static` is copied into every span; summaries are few (they carry no literals), so the first
/// [`MAX_INTERNED_NAMES`] are made `'static` once, bounding what this keeps to some tens of
/// kilobytes, and any beyond that are copied per span.
fn span_name(summary: &str) -> Cow<'static, str> {
    static NAMES: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if summary.is_empty() {
        // The normaliser never gives an empty summary; a span name must not be empty.
        return Cow::Borrowed("neo4j");
    }
    let mut names = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(name) = names.get(summary) {
        return Cow::Borrowed(name);
    }
    if names.len() >= MAX_INTERNED_NAMES {
        return Cow::Owned(summary.to_owned());
    }
    let name: &'static str = Box::leak(summary.to_owned().into_boxed_str());
    names.insert(name);
    Cow::Borrowed(name)
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Words a `db.query.summary` uses for graph clauses (everything else in it is a label,
/// relationship type or procedure name).
const CLAUSE_WORDS: &[&str] = &[
    "MATCH", "OPTIONAL", "MERGE", "CREATE", "SET", "REMOVE", "DELETE", "DETACH", "UNWIND", "LOAD",
    "CSV", "FOREACH", "INSERT", "CALL",
];

/// The label or relationship type, when the summary names exactly one (`db.collection.name`).
/// Only for graph clauses: a summary starting with anything else (a schema or admin command,
/// `RETURN`) has none, and a procedure name after `CALL` is not a collection.
fn single_collection(summary: &str) -> Option<&str> {
    let mut words = summary.split(' ').filter(|w| !w.is_empty()).peekable();
    if !words.peek().is_some_and(|w| CLAUSE_WORDS.contains(w)) {
        return None;
    }
    let mut found: Option<&str> = None;
    let mut after_call = false;
    for w in words {
        if CLAUSE_WORDS.contains(&w) {
            after_call = w == "CALL";
            continue;
        }
        if std::mem::take(&mut after_call) {
            continue;
        }
        // Schema commands ("CREATE INDEX ...") put more keywords here: an all-caps word that is
        // a keyword of theirs would be mistaken for a name, so they are refused outright.
        if matches!(
            w,
            "INDEX" | "CONSTRAINT" | "DATABASE" | "ALIAS" | "USER" | "ROLE"
        ) {
            return None;
        }
        match found {
            None => found = Some(w),
            Some(f) if f == w => {}
            Some(_) => return None,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_attribute_names() {
        assert!(matches!(
            stats_attribute("nodes-created"),
            Cow::Borrowed("neo4j.stats.nodes_created")
        ));
        assert_eq!(
            stats_attribute("contains-updates"),
            "neo4j.stats.contains_updates"
        );
    }

    fn attr<'a>(attrs: &'a QueryAttrs, key: &str) -> Option<&'a Value> {
        attrs
            .span
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn collection_only_when_one_name() {
        assert_eq!(single_collection("MATCH Person"), Some("Person"));
        assert_eq!(
            single_collection("MATCH Person MERGE Person"),
            Some("Person")
        );
        assert_eq!(single_collection("MATCH Transaction USES_CARD Card"), None);
        assert_eq!(single_collection("RETURN"), None);
        assert_eq!(single_collection("CALL db.labels"), None);
        assert_eq!(single_collection("CALL db.labels MATCH Card"), Some("Card"));
        assert_eq!(single_collection("CREATE INDEX"), None);
        assert_eq!(single_collection("OPTIONAL MATCH Card"), Some("Card"));
    }

    #[test]
    fn attributes_are_shared_per_fingerprint_and_text_is_cut() {
        let cache = QueryAttrsCache::new(12);
        let n = cypher::normalize("MATCH (c:Card {number: '4111111111111111'}) RETURN c");
        let a = cache.get(&n);
        assert!(Arc::ptr_eq(&a, &cache.get(&n)));
        assert_eq!(a.name, "MATCH Card");
        assert!(matches!(a.name, Cow::Borrowed(_)));
        assert_eq!(
            attr(&a, "db.query.text"),
            Some(&Value::from("MATCH (c:Car"))
        );
        assert_eq!(attr(&a, "db.collection.name"), Some(&Value::from("Card")));
        assert_eq!(
            attr(&a, "db.query.fingerprint"),
            Some(&Value::from(n.fingerprint.to_string()))
        );
    }

    #[test]
    fn a_lexer_error_leaves_only_the_summary_as_text() {
        let cache = QueryAttrsCache::new(DEFAULT_MAX_TEXT_LEN);
        let n = cypher::normalize("MATCH (c:Card) WHERE c.number = '4111 RETURN c");
        assert!(n.error.is_some());
        let a = cache.get(&n);
        assert_eq!(
            attr(&a, "db.query.text"),
            Some(&Value::from(n.summary.clone()))
        );
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
