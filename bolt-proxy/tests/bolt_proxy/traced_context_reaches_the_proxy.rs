//! Trace context into the wire: with injection on, the `traceparent` a traced query puts in its
//! `tx_metadata` makes bolt-proxy's span of that query (the proxy passing Bolt 4.4 through to
//! Neo4j) its child, so the application and the wire show as one trace. Off (the default),
//! nothing is added and the proxy's span starts a trace of its own; a query's own
//! `tx_metadata` is never replaced.
//!
//! Both the traced graph and the proxy use the global tracer provider here (the suite's one
//! installation, [`install_tracer`]), so one in-memory exporter sees the spans of both sides.

use std::net::SocketAddr;

use bolt_proxy::{Proxy, ProxyConfig};
use bolt_tracer::TracedGraph;
use fixtures::testkit::{attr, unique};
use neo4rs::{BoltMap, BoltType, query};
use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::SpanData;
use tokio::sync::oneshot;

use crate::proxy_support::{Neo4jEndpoint, finished_spans, install_tracer, neo4j};

/// The span of the query whose normalised text is `text`, recorded by `scope`.
fn span_of(scope: &str, text: &str) -> SpanData {
    let spans: Vec<SpanData> = finished_spans()
        .into_iter()
        .filter(|s| s.instrumentation_scope.name() == scope)
        .filter(|s| attr(s, "db.query.text").as_deref() == Some(text))
        .collect();
    assert_eq!(spans.len(), 1, "one {scope} span of {text:?}: {spans:#?}");
    spans.into_iter().next().unwrap()
}

/// bolt-proxy in front of the shared Neo4j, on this test's runtime, passing Bolt 4.4 through;
/// it stops when dropped.
struct WireProxy {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl WireProxy {
    async fn start(neo4j: &Neo4jEndpoint) -> WireProxy {
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let proxy = Proxy::bind(ProxyConfig::new(listen, neo4j.addr().to_string()))
            .await
            .expect("bolt-proxy binds a loopback port");
        let addr = proxy.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(proxy.run(async move {
            let _ = stopped.await;
        }));
        WireProxy { addr, _stop: stop }
    }

    fn uri(&self) -> String {
        format!("bolt://{}", self.addr)
    }
}

/// A traced graph on the global tracer, through `proxy`; `inject` sets trace-context injection,
/// `None` leaves the builder's default.
fn traced(neo4j: &Neo4jEndpoint, proxy: &WireProxy, inject: Option<bool>) -> TracedGraph {
    let config = neo4rs::ConfigBuilder::default()
        .uri(proxy.uri())
        .user(&neo4j.user)
        .password(&neo4j.password)
        .max_connections(4)
        .build()
        .unwrap();
    let graph = neo4rs::Graph::connect(config).expect("neo4rs connects through bolt-proxy");
    let builder = TracedGraph::builder(graph).uri(&proxy.uri());
    match inject {
        Some(on) => builder.inject_trace_context(on),
        None => builder,
    }
    .build()
}

/// Runs `q` through `graph` and reads its rows to the end.
async fn read_all(graph: &TracedGraph, q: neo4rs::Query) {
    let mut rows = graph.execute(q).await.unwrap();
    while rows.next().await.unwrap().is_some() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_injection_the_proxy_span_is_the_child_of_the_query_span() {
    install_tracer();
    let neo4j = neo4j();
    let proxy = WireProxy::start(neo4j).await;
    let graph = traced(neo4j, &proxy, Some(true));
    let label = unique("Injected");

    read_all(&graph, query("RETURN 21 AS injected")).await;
    graph
        .run(query(&format!("CREATE (:{label} {{n: 1}})")))
        .await
        .unwrap();

    let created = format!("CREATE (:{label} {{n: ?}})");
    for text in ["RETURN ? AS injected", created.as_str()] {
        let app = span_of("bolt-tracer", text);
        let wire = span_of("bolt-proxy", text);
        assert_eq!(
            wire.span_context.trace_id(),
            app.span_context.trace_id(),
            "{text}: one trace"
        );
        assert_eq!(
            wire.parent_span_id,
            app.span_context.span_id(),
            "{text}: the proxy's span is the query span's child"
        );
        assert!(
            wire.parent_span_is_remote,
            "{text}: its parent came over the wire"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_nothing_is_injected() {
    install_tracer();
    let neo4j = neo4j();
    let proxy = WireProxy::start(neo4j).await;
    let graph = traced(neo4j, &proxy, None);

    read_all(&graph, query("RETURN 22 AS not_injected")).await;

    let app = span_of("bolt-tracer", "RETURN ? AS not_injected");
    let wire = span_of("bolt-proxy", "RETURN ? AS not_injected");
    assert_ne!(wire.span_context.trace_id(), app.span_context.trace_id());
    assert_eq!(
        wire.parent_span_id,
        SpanId::INVALID,
        "the proxy's span is a root"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_querys_own_tx_metadata_is_left_alone() {
    install_tracer();
    let neo4j = neo4j();
    let proxy = WireProxy::start(neo4j).await;
    let graph = traced(neo4j, &proxy, Some(true));
    let mut own = BoltMap::default();
    own.put(
        "traceparent".into(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    );

    read_all(
        &graph,
        query("RETURN 23 AS own_metadata").extra("tx_metadata", BoltType::Map(own)),
    )
    .await;

    let wire = span_of("bolt-proxy", "RETURN ? AS own_metadata");
    assert_eq!(
        wire.span_context.trace_id(),
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
    );
    assert_eq!(
        wire.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
}
