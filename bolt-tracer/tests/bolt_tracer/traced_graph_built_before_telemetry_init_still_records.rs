//! A `TracedGraph` built with the defaults before the application installs its OpenTelemetry
//! providers still records: the tracer is taken from the global provider when a span starts,
//! and the query metrics follow it, all under the `bolt-tracer` scope with the crate's version.

use std::time::Duration;

use crate::traced_support::{connect, shared_neo4j};
use bolt_tracer::TracedGraph;
use fixtures::testkit::attr;
use opentelemetry::global;
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_built_before_the_providers_records_into_them() {
    let neo4j = shared_neo4j().await;
    // Built while the global providers are OpenTelemetry's no-op ones.
    let graph = TracedGraph::builder(connect(neo4j, 1))
        .uri(&neo4j.uri)
        .build();
    graph.run(neo4rs::query("RETURN 1 AS early")).await.unwrap();

    let spans = InMemorySpanExporter::default();
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    global::set_tracer_provider(tracer_provider.clone());
    let metrics = InMemoryMetricExporter::default();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(metrics.clone())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build();
    global::set_meter_provider(meter_provider.clone());

    graph.run(neo4rs::query("RETURN 2 AS late")).await.unwrap();

    tracer_provider.force_flush().unwrap();
    let spans = spans.get_finished_spans().unwrap();
    let texts: Vec<_> = spans
        .iter()
        .filter_map(|s| attr(s, "db.query.text"))
        .collect();
    assert_eq!(texts, ["RETURN ? AS late"], "{spans:#?}");
    let scope = &spans[0].instrumentation_scope;
    assert_eq!(scope.name(), "bolt-tracer");
    assert_eq!(scope.version(), Some(env!("CARGO_PKG_VERSION")));

    meter_provider.force_flush().unwrap();
    let exported = metrics.get_finished_metrics().unwrap();
    let names: Vec<_> = exported
        .iter()
        .flat_map(|r| r.scope_metrics())
        .filter(|s| {
            s.scope().name() == "bolt-tracer"
                && s.scope().version() == Some(env!("CARGO_PKG_VERSION"))
        })
        .flat_map(|s| s.metrics().map(|m| m.name().to_owned()))
        .collect();
    assert!(
        names.iter().any(|n| n == "db.client.operation.duration"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n == "db.client.response.returned_rows"),
        "{names:?}"
    );
}
