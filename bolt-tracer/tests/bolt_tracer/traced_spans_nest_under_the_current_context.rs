//! Query spans are children of whatever is current: a `tracing` span (through
//! tracing-opentelemetry) or an OpenTelemetry context.

use crate::traced_support::Harness;
use neo4rs::query;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{TraceContextExt, Tracer as _, TracerProvider as _};
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

// Current-thread runtime: the subscriber is set as this thread's default.
#[tokio::test(flavor = "current_thread")]
async fn a_query_is_the_child_of_the_enclosing_tracing_span() {
    let h = Harness::start().await;
    let graph = h.graph();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(h.provider.tracer("app")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let handler = tracing::info_span!("handle_request");
    async {
        graph.run(query("RETURN 11 AS eleven")).await.unwrap();
    }
    .instrument(handler.clone())
    .await;
    drop(handler);

    let spans = h.spans();
    let outer = spans
        .iter()
        .find(|s| s.name == "handle_request")
        .expect("the tracing span is exported");
    let q = &h.query_spans("RETURN ? AS eleven")[0];
    assert_eq!(q.span_context.trace_id(), outer.span_context.trace_id());
    assert_eq!(q.parent_span_id, outer.span_context.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_the_child_of_the_current_opentelemetry_context() {
    let h = Harness::start().await;
    let graph = h.graph();
    let tracer = h.provider.tracer("app");
    let parent = tracer.start("consume message");
    let cx = Context::current_with_span(parent);
    let parent_ids = cx.span().span_context().clone();

    async {
        let mut rows = graph.execute(query("RETURN 12 AS twelve")).await.unwrap();
        while rows.next().await.unwrap().is_some() {}
    }
    .with_context(cx.clone())
    .await;
    cx.span().end();

    let q = &h.query_spans("RETURN ? AS twelve")[0];
    assert_eq!(q.span_context.trace_id(), parent_ids.trace_id());
    assert_eq!(q.parent_span_id, parent_ids.span_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_current_a_query_starts_its_own_trace() {
    let h = Harness::start().await;
    let graph = h.graph();
    graph.run(query("RETURN 13 AS thirteen")).await.unwrap();
    let q = &h.query_spans("RETURN ? AS thirteen")[0];
    assert_eq!(q.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}
