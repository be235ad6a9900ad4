//! `current_context()` is the innermost active context that holds a span. tracing-opentelemetry
//! attaches an entered `tracing` span's context (its context activation, on by default), so
//! entered `tracing` spans and attached OpenTelemetry contexts nest in one stack and whichever
//! became active last wins; a `tracing` span that is not entered plays no part.

use hop_telemetry::current_context;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, TraceContextExt, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

/// Runs `body` with this thread's subscriber being the bridge over a tracer provider with no
/// exporter (spans still get real ids), with or without context activation.
fn with_bridge<T>(context_activation: bool, body: impl FnOnce(&SdkTracerProvider) -> T) -> T {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry().with(
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("bridge"))
            .with_context_activation(context_activation),
    );
    tracing::subscriber::with_default(subscriber, || body(&provider))
}

/// A context holding a new OpenTelemetry span, child of whatever is current.
fn otel_span(provider: &SdkTracerProvider, name: &'static str) -> Context {
    Context::current_with_span(provider.tracer("app").start(name))
}

fn ids(cx: &Context) -> SpanContext {
    cx.span().span_context().clone()
}

fn tracing_ids(span: &tracing::Span) -> SpanContext {
    ids(&span.context())
}

fn chosen() -> SpanContext {
    ids(&current_context())
}

#[test]
fn a_tracing_span_entered_inside_an_attached_context_wins() {
    with_bridge(true, |provider| {
        let attached = otel_span(provider, "consume message");
        let _attached = attached.clone().attach();
        let handler = tracing::info_span!("handle");
        let _entered = handler.enter();

        let inner = tracing_ids(&handler);
        assert!(inner.is_valid());
        assert_eq!(chosen(), inner);
        assert_eq!(inner.trace_id(), ids(&attached).trace_id());
    });
}

#[test]
fn a_context_attached_inside_an_entered_tracing_span_wins() {
    with_bridge(true, |provider| {
        let handler = tracing::info_span!("handle");
        let _entered = handler.enter();
        let attached = otel_span(provider, "consume message");
        let _attached = attached.clone().attach();

        assert_ne!(ids(&attached), tracing_ids(&handler));
        assert_eq!(chosen(), ids(&attached));
        assert_eq!(ids(&attached).trace_id(), tracing_ids(&handler).trace_id());
    });
}

#[test]
fn futures_follow_the_same_rule_whichever_wrapper_is_inner() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    with_bridge(true, |provider| {
        let attached = otel_span(provider, "consume message");
        let handler = tracing::info_span!("handle");

        // Polled as: enter the span, then attach the context.
        let inside_span = runtime.block_on(
            async { chosen() }
                .with_context(attached.clone())
                .instrument(handler.clone()),
        );
        assert_eq!(inside_span, ids(&attached));

        // Polled as: attach the context, then enter the span.
        let inside_context = runtime.block_on(
            async { chosen() }
                .instrument(handler.clone())
                .with_context(attached.clone()),
        );
        assert_eq!(inside_context, tracing_ids(&handler));
    });
}

#[test]
fn a_tracing_span_that_is_not_entered_is_ignored() {
    with_bridge(true, |provider| {
        let idle = tracing::info_span!("created, never entered");
        assert!(!chosen().is_valid());

        let attached = otel_span(provider, "consume message");
        let _attached = attached.clone().attach();
        let idle_inside = tracing::info_span!("created inside, never entered");
        assert_eq!(chosen(), ids(&attached));

        assert!(tracing_ids(&idle).is_valid() && tracing_ids(&idle_inside).is_valid());
    });
}

#[test]
fn with_nothing_active_the_context_is_empty() {
    assert!(!chosen().is_valid());
    with_bridge(true, |_| assert!(!chosen().is_valid()));
}

#[test]
fn a_context_without_a_span_does_not_hide_the_entered_tracing_span() {
    with_bridge(true, |_| {
        let handler = tracing::info_span!("handle");
        let _entered = handler.enter();
        let _detached = Context::new().attach();

        assert!(!ids(&Context::current()).is_valid());
        assert_eq!(chosen(), tracing_ids(&handler));
    });
}

#[test]
fn without_context_activation_the_entered_tracing_span_is_read_from_tracing() {
    with_bridge(false, |provider| {
        let handler = tracing::info_span!("handle");
        {
            let _entered = handler.enter();
            assert!(!ids(&Context::current()).is_valid());
            assert_eq!(chosen(), tracing_ids(&handler));
        }

        // Context::current() cannot see the span entered inside, so the attached context wins.
        let attached = otel_span(provider, "consume message");
        let _attached = attached.clone().attach();
        let _entered = handler.enter();
        assert_eq!(chosen(), ids(&attached));
    });
}
