//! Shared set-up of the traced-wrapper tests: the run's Neo4j 5.26 (`fixtures::shared::neo4j`,
//! which neo4rs reaches directly over Bolt 4.4), a traced graph exporting to an in-memory
//! exporter, and span lookups.
//!
//! Every test of a run shares that one database, so tests isolate their data by unique labels
//! and ids ([`fixtures::testkit::unique`]), never by database name, and spans by the harness's
//! own provider and exporter (every test of the binary runs in this one process, so nothing
//! here touches the global providers).
#![allow(dead_code)]

use std::collections::HashMap;

use bolt_tracer::{TracedGraph, TracedGraphBuilder};
use fixtures::shared::Neo4jEndpoint;
use fixtures::testkit::attr;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

pub struct Harness {
    pub neo4j: &'static Neo4jEndpoint,
    pub exporter: InMemorySpanExporter,
    pub provider: SdkTracerProvider,
}

impl Harness {
    pub async fn start() -> Harness {
        let neo4j = shared_neo4j().await;
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        Harness {
            neo4j,
            exporter,
            provider,
        }
    }

    /// A raw neo4rs pool of up to 4 connections to the shared Neo4j.
    pub fn neo4rs(&self) -> neo4rs::Graph {
        self.neo4rs_with(4)
    }

    /// A raw neo4rs pool of up to `max_connections` connections to the shared Neo4j.
    pub fn neo4rs_with(&self, max_connections: usize) -> neo4rs::Graph {
        connect(self.neo4j, max_connections)
    }

    /// A traced graph's options, on a pool of 4, with this harness's tracer.
    pub fn builder(&self) -> TracedGraphBuilder {
        self.builder_on(self.neo4rs())
    }

    /// A traced graph's options around `graph`, with this harness's tracer.
    pub fn builder_on(&self, graph: neo4rs::Graph) -> TracedGraphBuilder {
        TracedGraph::builder(graph)
            .uri(&self.neo4j.uri)
            .database(&self.neo4j.database)
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

    /// The finished transaction spans, in the order they ended.
    pub fn transaction_spans(&self) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| s.name == "transaction")
            .collect()
    }
}

/// The run's shared Neo4j 5.26; starting one (when `scripts/test.sh` did not) blocks, so it is
/// asked for off the async threads.
pub async fn shared_neo4j() -> &'static Neo4jEndpoint {
    tokio::task::spawn_blocking(fixtures::shared::neo4j)
        .await
        .expect("the shared Neo4j lookup does not panic")
        .expect("the run's shared Neo4j 5.26 (FIXTURES_NEO4J_* or one started for this process)")
}

/// A raw neo4rs pool to `neo4j`: Bolt 4.4, straight to the server.
pub fn connect(neo4j: &Neo4jEndpoint, max_connections: usize) -> neo4rs::Graph {
    let config = neo4rs::ConfigBuilder::default()
        .uri(&neo4j.uri)
        .user(&neo4j.user)
        .password(&neo4j.password)
        .max_connections(max_connections)
        .build()
        .unwrap();
    neo4rs::Graph::connect(config).expect("neo4rs connects to Neo4j")
}

/// The single `i64` column `column` of the single row `q` returns, read untraced.
pub async fn single_i64(graph: &neo4rs::Graph, q: neo4rs::Query, column: &str) -> i64 {
    let mut rows = graph.execute(q).await.unwrap();
    let row = rows.next().await.unwrap().expect("one row");
    let value = row.get::<i64>(column).unwrap();
    assert!(rows.next().await.unwrap().is_none(), "exactly one row");
    value
}

/// How many nodes labelled `label` the graph holds, as a fresh auto-commit query sees it.
pub async fn count_label(graph: &neo4rs::Graph, label: &str) -> i64 {
    single_i64(
        graph,
        neo4rs::query(&format!("MATCH (n:{label}) RETURN count(n) AS n")),
        "n",
    )
    .await
}

/// A transaction as `SHOW TRANSACTIONS` lists it.
#[derive(Debug, Clone)]
pub struct ServerTransaction {
    pub id: String,
    pub status: String,
    pub current_query: String,
    pub metadata: HashMap<String, String>,
}

/// The server's open transactions whose current query contains `marker`, seen from `observer`
/// (a connection of its own: the observed query holds its connection).
pub async fn server_transactions(observer: &neo4rs::Graph, marker: &str) -> Vec<ServerTransaction> {
    let mut rows = observer
        .execute(
            neo4rs::query(
                "SHOW TRANSACTIONS YIELD transactionId, status, currentQuery, metaData \
             WHERE currentQuery CONTAINS $marker \
             RETURN transactionId, status, currentQuery, metaData",
            )
            .param("marker", marker),
        )
        .await
        .unwrap();
    let mut found = Vec::new();
    while let Some(row) = rows.next().await.unwrap() {
        found.push(ServerTransaction {
            id: row.get("transactionId").unwrap(),
            status: row.get("status").unwrap(),
            current_query: row.get("currentQuery").unwrap(),
            metadata: row.get("metaData").unwrap(),
        });
    }
    found
}
