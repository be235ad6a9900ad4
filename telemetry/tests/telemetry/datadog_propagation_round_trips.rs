//! Datadog headers are written and read as dd-trace does: 64-bit decimal ids, `_dd.p.tid` for
//! the upper half of a 128-bit trace id, the sampling priority, origin and `_dd.p.*` tags kept
//! across the hop.

use std::collections::HashMap;

use hop_telemetry::{Propagator, Style};
use opentelemetry::Context;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer, TracerProvider,
};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::support::carrier;

fn context_with(trace_id: u128, span_id: u64, sampled: bool, state: TraceState) -> Context {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::NOT_SAMPLED
    };
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        flags,
        false,
        state,
    ))
}

fn datadog() -> Propagator {
    Propagator::new(&[Style::Datadog])
}

#[test]
fn injects_128_bit_trace_id_as_decimal_lower_half_and_tid_tag() {
    let cx = context_with(
        0x640c_fd8d_0000_0000_abcd_ef01_2345_6789,
        0x1234,
        true,
        TraceState::NONE,
    );
    let mut headers = HashMap::new();
    datadog().inject(&cx, &mut headers);

    assert_eq!(headers["x-datadog-trace-id"], "12379813738877118345");
    assert_eq!(headers["x-datadog-parent-id"], "4660");
    assert_eq!(headers["x-datadog-sampling-priority"], "1");
    assert_eq!(headers["x-datadog-tags"], "_dd.p.tid=640cfd8d00000000");
    assert!(
        !headers.contains_key("traceparent"),
        "only the configured style is written"
    );
}

#[test]
fn extracts_what_it_injects_for_128_bit_ids() {
    let trace_id = 0x640c_fd8d_0000_0000_abcd_ef01_2345_6789_u128;
    let cx = context_with(trace_id, 0x00f0_67aa_0ba9_02b7, true, TraceState::NONE);
    let mut headers = HashMap::new();
    datadog().inject(&cx, &mut headers);

    let extracted = datadog().extract(&headers);
    assert!(extracted.problem.is_none(), "{:?}", extracted.problem);
    let parent = extracted.span_context();
    assert_eq!(parent.trace_id(), TraceId::from(trace_id));
    assert_eq!(parent.span_id(), SpanId::from(0x00f0_67aa_0ba9_02b7));
    assert!(parent.is_sampled());
    assert!(parent.is_remote());
}

#[test]
fn a_datadog_only_message_continues_with_tid_then_the_64_bit_id_in_hex() {
    let headers = carrier(&[
        ("x-datadog-trace-id", "11803532876627986230"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-sampling-priority", "1"),
        ("x-datadog-tags", "_dd.p.dm=-4,_dd.p.tid=4bf92f3577b34da6"),
    ]);
    let parent = datadog().extract(&headers).span_context();
    assert_eq!(
        parent.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");

    // Without `_dd.p.tid` the upper half is zeros.
    let headers = carrier(&[
        ("x-datadog-trace-id", "1234567890123456789"),
        ("x-datadog-parent-id", "4660"),
    ]);
    let parent = datadog().extract(&headers).span_context();
    assert_eq!(
        parent.trace_id().to_string(),
        "0000000000000000112210f47de98115"
    );
    assert_eq!(parent.span_id().to_string(), "0000000000001234");
}

#[test]
fn sixty_four_bit_trace_ids_get_no_tid_tag() {
    let cx = context_with(0x1122_10f4_7de9_8115, 7, true, TraceState::NONE);
    let mut headers = HashMap::new();
    datadog().inject(&cx, &mut headers);
    assert_eq!(headers["x-datadog-trace-id"], "1234567890123456789");
    assert!(!headers.contains_key("x-datadog-tags"));
}

/// Extract, start a child span with the SDK (as the service would), inject from the child.
fn hop(
    propagator: &Propagator,
    incoming: &HashMap<String, String>,
) -> (HashMap<String, String>, SpanContext) {
    let provider = SdkTracerProvider::builder().build();
    let tracer = provider.tracer("hop");
    let extracted = propagator.extract(incoming);
    let span = tracer.start_with_context("child", &extracted.context);
    let cx = extracted.context.with_span(span);
    let mut outgoing = HashMap::new();
    propagator.inject(&cx, &mut outgoing);
    (outgoing, cx.span().span_context().clone())
}

#[test]
fn sampling_priority_origin_and_propagated_tags_survive_a_hop() {
    let incoming = carrier(&[
        ("x-datadog-trace-id", "11803532876627986230"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-origin", "synthetics"),
        (
            "x-datadog-tags",
            "_dd.p.tid=4bf92f3577b34da6,_dd.p.dm=-4,_dd.p.usr.id=YWJj,_dd.not.propagated=1",
        ),
    ]);
    let (outgoing, child) = hop(&datadog(), &incoming);

    assert_eq!(outgoing["x-datadog-trace-id"], "11803532876627986230");
    assert_eq!(
        outgoing["x-datadog-parent-id"],
        u64::from_str_radix(&child.span_id().to_string(), 16)
            .unwrap()
            .to_string(),
        "the parent id sent on is the child's span id"
    );
    assert_ne!(outgoing["x-datadog-parent-id"], "67667974448284343");
    assert_eq!(outgoing["x-datadog-sampling-priority"], "2");
    assert_eq!(outgoing["x-datadog-origin"], "synthetics");
    assert_eq!(
        outgoing["x-datadog-tags"],
        "_dd.p.tid=4bf92f3577b34da6,_dd.p.dm=-4,_dd.p.usr.id=YWJj"
    );
}

#[test]
fn a_rejecting_priority_is_not_sampled_and_is_sent_on_unchanged() {
    for (priority, expected) in [("-1", "-1"), ("0", "0")] {
        let incoming = carrier(&[
            ("x-datadog-trace-id", "42"),
            ("x-datadog-parent-id", "43"),
            ("x-datadog-sampling-priority", priority),
        ]);
        let extracted = datadog().extract(&incoming);
        assert!(
            !extracted.span_context().is_sampled(),
            "priority {priority}"
        );
        let (outgoing, child) = hop(&datadog(), &incoming);
        assert!(
            !child.is_sampled(),
            "the SDK's parent-based sampler drops the child"
        );
        assert_eq!(outgoing["x-datadog-sampling-priority"], expected);
    }
}

#[test]
fn no_priority_means_keep() {
    let incoming = carrier(&[("x-datadog-trace-id", "42"), ("x-datadog-parent-id", "43")]);
    let extracted = datadog().extract(&incoming);
    assert!(extracted.span_context().is_sampled());
    let (outgoing, _) = hop(&datadog(), &incoming);
    assert_eq!(outgoing["x-datadog-sampling-priority"], "1");
}

#[test]
fn w3c_headers_written_alongside_carry_the_datadog_member() {
    let incoming = carrier(&[
        ("x-datadog-trace-id", "11803532876627986230"),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-sampling-priority", "2"),
        ("x-datadog-tags", "_dd.p.tid=4bf92f3577b34da6"),
    ]);
    let both = Propagator::new(&[Style::TraceContext, Style::Datadog]);
    let (outgoing, child) = hop(&both, &incoming);
    assert_eq!(
        outgoing["traceparent"],
        format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", child.span_id())
    );
    assert_eq!(
        outgoing["tracestate"],
        format!("dd=s:2;p:{}", child.span_id())
    );
}

#[test]
fn nothing_is_injected_for_an_invalid_span_context() {
    let mut headers = HashMap::new();
    Propagator::default().inject(&Context::new(), &mut headers);
    assert!(headers.is_empty(), "{headers:?}");
}
