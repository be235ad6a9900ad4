//! A `TracedGraph` against a real Neo4j, printing the spans its queries record.
//!
//! ```sh
//! NEO4J_URI=bolt://127.0.0.1:7687 NEO4J_USER=neo4j NEO4J_PASSWORD=secret \
//!   cargo run -p bolt-tracer --example quickstart
//! ```
//!
//! The spans go to an in-memory exporter so they can be printed here; an application installs
//! an OTLP exporter instead, and the graph code stays the same.

use bolt_tracer::TracedGraph;
use opentelemetry::global;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("set {name} (see the example's docs)"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    global::set_tracer_provider(provider.clone());

    let uri = env("NEO4J_URI");
    let config = neo4rs::ConfigBuilder::default()
        .uri(&uri)
        .user(env("NEO4J_USER"))
        .password(env("NEO4J_PASSWORD"))
        .build()?;
    let graph = TracedGraph::builder(neo4rs::Graph::connect(config)?)
        .uri(&uri)
        .build();

    // A write with a parameter and a literal: neither value reaches the span.
    graph
        .run(
            neo4rs::query("MERGE (c:QuickstartCard {id: $id}) SET c.limit = 500")
                .param("id", "card-1"),
        )
        .await?;
    let mut rows = graph
        .execute(neo4rs::query(
            "MATCH (c:QuickstartCard) RETURN c.id AS id LIMIT 10",
        ))
        .await?;
    while let Some(row) = rows.next().await? {
        println!("row: id = {}", row.get::<String>("id")?);
    }
    drop(rows);

    provider.force_flush()?;
    for span in exporter.get_finished_spans()? {
        println!(
            "\nspan {:?} ({:?}, {:?})",
            span.name, span.span_kind, span.status
        );
        for kv in &span.attributes {
            println!("  {} = {}", kv.key, kv.value);
        }
    }
    Ok(())
}
