//! Shared set-up of the traced-wrapper tests: a real dev stack (FalkorDB behind the bolt-proxy
//! bridge, since neo4rs speaks only Bolt 4), a traced graph exporting to an in-memory exporter,
//! and span lookups.
#![allow(dead_code)]

use std::collections::HashMap;

use bolt_tracer::{TracedGraph, TracedGraphBuilder};
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

pub struct Harness {
    pub stack: fixtures::DevStack,
    pub exporter: InMemorySpanExporter,
    pub provider: SdkTracerProvider,
}

impl Harness {
    pub async fn start() -> Harness {
        let stack = fixtures::DevStack::start(fixtures::DevStackOptions::default())
            .await
            .expect("the dev stack must start (FalkorDB, Kafka, bolt-proxy)");
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Harness {
            stack,
            exporter,
            provider,
        }
    }

    pub fn neo4rs(&self) -> neo4rs::Graph {
        let config = neo4rs::ConfigBuilder::default()
            .uri(self.stack.neo4j_uri())
            .user(self.stack.neo4j_user())
            .password(self.stack.neo4j_password())
            .max_connections(4)
            .build()
            .unwrap();
        neo4rs::Graph::connect(config).expect("neo4rs connects through the bolt-proxy bridge")
    }

    pub fn builder(&self) -> TracedGraphBuilder {
        TracedGraph::builder(self.neo4rs())
            .uri(&self.stack.neo4j_uri())
            .database(self.stack.neo4j_database())
            .tracer(self.provider.tracer("bolt-tracer-test"))
    }

    pub fn graph(&self) -> TracedGraph {
        self.builder().build()
    }

    pub fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().unwrap()
    }

    /// The finished spans of queries whose normalised text contains `marker`.
    pub fn query_spans(&self, marker: &str) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| attr(s, "db.query.text").is_some_and(|t| t.contains(marker)))
            .collect()
    }
}

pub fn attrs(span: &SpanData) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|KeyValue { key, value, .. }| (key.to_string(), value.clone()))
        .collect()
}

pub fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

pub fn int_attr(span: &SpanData, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .and_then(|kv| match kv.value {
            Value::I64(v) => Some(v),
            _ => None,
        })
}

pub fn parent(span: &SpanData) -> SpanId {
    span.parent_span_id
}

/// A unique label-safe marker, so tests sharing a graph never see each other's data.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
