//! What a query span takes from its text, prepared once per text: the normalised form, the span
//! name, the span's `db.*` attributes and the metrics' keys, kept together in one cache entry.
//!
//! A query costs one lookup, by its raw text. Every string value is reference-counted, so
//! copying the prepared attributes into a new span bumps counters instead of allocating and
//! copying text; the span name is made `'static` once, when the entry is prepared.
//!
//! The cache is a [`cypher::TextCache`]: sharded, bounded by bytes (an entry is charged its key,
//! its normalised form and its attributes), with second-chance eviction, so the queries an
//! application repeats survive a stream of one-off texts.

use std::borrow::Cow;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock, Mutex};

use cypher::{HeapSize, Normalized, TextCache};
use opentelemetry::{KeyValue, Value};

use super::SYSTEM_NAME;
use super::attribute::{
    DB_COLLECTION_NAME, DB_OPERATION_NAME, DB_QUERY_FINGERPRINT, DB_QUERY_SUMMARY, DB_QUERY_TEXT,
    DB_SYSTEM_NAME, RESOURCE_NAME,
};

/// The span name and attributes of one query text.
#[derive(Debug)]
#[non_exhaustive]
pub struct PreparedQuery {
    /// The normalised form.
    pub normalized: Normalized,
    /// The span name: the summary.
    pub name: Cow<'static, str>,
    /// `db.query.text`, `resource.name`, `db.query.summary`, `db.operation.name`,
    /// `db.query.fingerprint` and, when the query has one, `db.collection.name`.
    pub span: Vec<KeyValue>,
    /// What the duration and row-count metrics are keyed by: system, summary, operation.
    pub metric: Vec<KeyValue>,
}

impl PreparedQuery {
    /// The span name and attributes of `text`, with `db.query.text` cut at `max_text_len`
    /// bytes (at a character boundary). A normaliser panic degrades to the attributes of an
    /// empty query instead of failing the query (wrappers) or the connection (proxy).
    pub fn new(text: &str, max_text_len: usize) -> Self {
        let normalized = catch_unwind(AssertUnwindSafe(|| cypher::normalize(text)))
            .unwrap_or_else(|_| cypher::normalize(""));
        let shared = |v: &str| Value::String(Arc::<str>::from(v).into());
        // A lexer error means the text could not be read safely to the end: the summary is the
        // only text we are sure holds nothing sensitive.
        let text = if normalized.error.is_some() {
            &normalized.summary
        } else {
            &normalized.resource
        };
        let text = shared(truncate(text, max_text_len));
        let summary = shared(&normalized.summary);
        let operation = shared(&normalized.operation);
        let mut span = vec![
            KeyValue::new(DB_QUERY_TEXT, text.clone()),
            KeyValue::new(RESOURCE_NAME, text),
            KeyValue::new(DB_QUERY_SUMMARY, summary.clone()),
            KeyValue::new(DB_OPERATION_NAME, operation.clone()),
            KeyValue::new(
                DB_QUERY_FINGERPRINT,
                shared(&normalized.fingerprint.to_string()),
            ),
        ];
        if let Some(collection) = normalized.collection() {
            span.push(KeyValue::new(DB_COLLECTION_NAME, shared(collection)));
        }
        let metric = vec![
            KeyValue::new(DB_SYSTEM_NAME, SYSTEM_NAME),
            KeyValue::new(DB_QUERY_SUMMARY, summary),
            KeyValue::new(DB_OPERATION_NAME, operation),
        ];
        PreparedQuery {
            name: span_name(&normalized.summary),
            normalized,
            span,
            metric,
        }
    }
}

impl HeapSize for PreparedQuery {
    fn heap_bytes(&self) -> usize {
        let attribute_text: usize = self
            .span
            .iter()
            .map(|kv| match &kv.value {
                // The text and the shared string's header.
                Value::String(s) => s.as_str().len() + 2 * std::mem::size_of::<usize>(),
                _ => 0,
            })
            .sum();
        self.normalized.heap_bytes()
            + attribute_text
            + (self.span.capacity() + self.metric.capacity()) * std::mem::size_of::<KeyValue>()
    }
}

/// Most distinct span names kept for the life of the process (see [`span_name`]).
const MAX_INTERNED_NAMES: usize = 1024;

/// A span name for `summary`. The span API takes a `Cow<'static, str>`, so a name that is not
/// `'static` is copied into every span; summaries are few (they carry no literals), so the first
/// [`MAX_INTERNED_NAMES`] are made `'static` once, bounding what this keeps to some tens of
/// kilobytes, and any beyond that are copied per span.
fn span_name(summary: &str) -> Cow<'static, str> {
    static NAMES: LazyLock<Mutex<HashSet<&'static str>>> = LazyLock::new(Default::default);
    if summary.is_empty() {
        // The normaliser never gives an empty summary; a span name must not be empty.
        return Cow::Borrowed(SYSTEM_NAME);
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

/// A thread-safe cache of [`PreparedQuery`] by raw query text, bounded by bytes.
#[derive(Debug)]
pub struct QueryCache {
    prepared: TextCache<PreparedQuery>,
    max_text_len: usize,
}

impl QueryCache {
    /// A cache that keeps at most about `max_bytes` (`0` keeps nothing: every call prepares),
    /// whose `db.query.text` is cut at `max_text_len` bytes.
    pub fn new(max_bytes: usize, max_text_len: usize) -> Self {
        QueryCache {
            prepared: TextCache::new(max_bytes),
            max_text_len,
        }
    }

    /// The prepared span name and attributes of `text`, from the cache when it is there.
    pub fn get(&self, text: &str) -> Arc<PreparedQuery> {
        self.prepared
            .get_or_insert_with(text, |text| PreparedQuery::new(text, self.max_text_len))
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.prepared.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.prepared.is_empty()
    }

    /// Bytes charged to the cached entries.
    pub fn used_bytes(&self) -> usize {
        self.prepared.used_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(p: &'a PreparedQuery, key: &str) -> Option<&'a Value> {
        p.span
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    #[test]
    fn one_entry_per_text_holds_the_normalised_form_and_the_attributes() {
        let cache = QueryCache::new(1 << 20, 12);
        let text = "MATCH (c:Card {number: '4111111111111111'}) RETURN c";
        let a = cache.get(text);
        assert!(Arc::ptr_eq(&a, &cache.get(text)));
        assert_eq!(cache.len(), 1);
        assert_eq!(a.normalized.resource, "MATCH (c:Card {number: ?}) RETURN c");
        assert_eq!(a.name, "MATCH Card");
        assert!(matches!(a.name, Cow::Borrowed(_)));
        assert_eq!(attr(&a, DB_QUERY_TEXT), Some(&Value::from("MATCH (c:Car")));
        assert_eq!(attr(&a, DB_COLLECTION_NAME), Some(&Value::from("Card")));
        assert_eq!(
            attr(&a, DB_QUERY_FINGERPRINT),
            Some(&Value::from(a.normalized.fingerprint.to_string()))
        );
    }

    #[test]
    fn the_collection_is_the_normalisers() {
        let cache = QueryCache::new(1 << 20, 2048);
        let collection = |q: &str| attr(&cache.get(q), DB_COLLECTION_NAME).cloned();
        assert_eq!(
            collection("MATCH (p:Person) MERGE (q:Person)"),
            Some(Value::from("Person"))
        );
        assert_eq!(
            collection("MATCH (t:Transaction)-[:USES_CARD]->(c:Card) RETURN c"),
            None
        );
        assert_eq!(collection("CALL db.labels()"), None);
        assert_eq!(collection("CREATE INDEX FOR (c:Card) ON (c.id)"), None);
        // A backticked name with a space is one name, not two.
        assert_eq!(
            collection("MATCH (n:`Team Lead`) RETURN n"),
            Some(Value::from("`Team Lead`"))
        );
    }

    #[test]
    fn a_lexer_error_leaves_only_the_summary_as_text() {
        let cache = QueryCache::new(1 << 20, 2048);
        let a = cache.get("MATCH (c:Card) WHERE c.number = '4111 RETURN c");
        assert!(a.normalized.error.is_some());
        assert_eq!(
            attr(&a, DB_QUERY_TEXT),
            Some(&Value::from(a.normalized.summary.clone()))
        );
    }

    #[test]
    fn the_cache_stays_within_its_bytes_and_keeps_what_is_used() {
        let max = 64 * 1024;
        let cache = QueryCache::new(max, 2048);
        let hot = "MATCH (c:Card {id: $id}) RETURN c";
        let first = cache.get(hot);
        for i in 0..5_000 {
            cache.get(&format!("MATCH (n:Label{i}) RETURN n.p{i}"));
            assert!(cache.used_bytes() <= max);
            cache.get(hot);
        }
        assert!(Arc::ptr_eq(&first, &cache.get(hot)), "the hot query stayed");
        assert!(cache.len() > 10);
    }

    #[test]
    fn a_zero_budget_keeps_nothing() {
        let cache = QueryCache::new(0, 2048);
        let a = cache.get("RETURN 1");
        assert_eq!(a.name, "RETURN");
        assert!(cache.is_empty());
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
