//! Both W3C and Datadog headers present: agreeing trace ids merge (W3C parent, W3C tracestate,
//! first style's sampling decision, `_dd.parent_id`), disagreeing ones make the first
//! configured style win and the other a span link.

use std::collections::HashMap;

use hop_telemetry::{Propagator, Style};
use opentelemetry::Value;

use crate::support::carrier;

// 4bf92f3577b34da6 a3ce929d0e0e4736 as Datadog: lower half 11803532876627986230.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const DD_TRACE_ID: &str = "11803532876627986230";
const TID_TAGS: &str = "_dd.p.tid=4bf92f3577b34da6";
const W3C_SPAN: &str = "00f067aa0ba902b7";
// A different Datadog parent: 0x0000000000001234.
const DD_PARENT: &str = "4660";

fn agreeing(w3c_flags: &str, dd_priority: &str) -> HashMap<String, String> {
    carrier(&[
        (
            "traceparent",
            &format!("00-{TRACE_ID}-{W3C_SPAN}-{w3c_flags}"),
        ),
        ("tracestate", "vendor=opaque,dd=o:rum"),
        ("x-datadog-trace-id", DD_TRACE_ID),
        ("x-datadog-parent-id", DD_PARENT),
        ("x-datadog-sampling-priority", dd_priority),
        ("x-datadog-tags", TID_TAGS),
    ])
}

fn attribute(attributes: &[opentelemetry::KeyValue], key: &str) -> Option<Value> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.clone())
}

#[test]
fn agreeing_styles_take_the_w3c_parent_and_keep_its_tracestate() {
    for order in [
        [Style::TraceContext, Style::Datadog],
        [Style::Datadog, Style::TraceContext],
    ] {
        let extracted = Propagator::new(&order).extract(&agreeing("01", "1"));
        assert!(extracted.links.is_empty(), "{order:?}");
        assert!(extracted.problem.is_none(), "{order:?}");
        let parent = extracted.span_context();
        assert_eq!(parent.trace_id().to_string(), TRACE_ID);
        assert_eq!(parent.span_id().to_string(), W3C_SPAN, "{order:?}");
        assert_eq!(parent.trace_state().get("vendor"), Some("opaque"));
        // The Datadog parent is remembered for Datadog's backend.
        assert_eq!(
            attribute(&extracted.attributes(), "_dd.parent_id"),
            Some(Value::from("0000000000001234")),
            "{order:?}"
        );
    }
}

#[test]
fn agreeing_styles_keep_the_first_styles_sampling_decision() {
    // W3C says sampled, Datadog says drop.
    let headers = agreeing("01", "0");
    let w3c_first = Propagator::new(&[Style::TraceContext, Style::Datadog]).extract(&headers);
    assert!(w3c_first.span_context().is_sampled());
    let dd_first = Propagator::new(&[Style::Datadog, Style::TraceContext]).extract(&headers);
    assert!(!dd_first.span_context().is_sampled());

    // The decision kept is re-injected consistently.
    let mut out = HashMap::new();
    Propagator::new(&[Style::Datadog]).inject(&w3c_first.context, &mut out);
    assert_eq!(out["x-datadog-sampling-priority"], "1");
    let mut out = HashMap::new();
    Propagator::new(&[Style::Datadog]).inject(&dd_first.context, &mut out);
    assert_eq!(out["x-datadog-sampling-priority"], "0");

    // A user-keep priority that agrees with W3C is kept as is.
    let headers = agreeing("01", "2");
    let extracted = Propagator::new(&[Style::TraceContext, Style::Datadog]).extract(&headers);
    let mut out = HashMap::new();
    Propagator::new(&[Style::Datadog]).inject(&extracted.context, &mut out);
    assert_eq!(out["x-datadog-sampling-priority"], "2");
    assert_eq!(
        out["x-datadog-origin"], "rum",
        "origin from the W3C dd member"
    );
}

#[test]
fn agreeing_styles_with_the_same_parent_record_no_dd_parent() {
    let headers = carrier(&[
        ("traceparent", &format!("00-{TRACE_ID}-{W3C_SPAN}-01")),
        ("x-datadog-trace-id", DD_TRACE_ID),
        ("x-datadog-parent-id", "67667974448284343"),
        ("x-datadog-tags", TID_TAGS),
    ]);
    let extracted = Propagator::default().extract(&headers);
    assert_eq!(extracted.span_context().span_id().to_string(), W3C_SPAN);
    assert!(attribute(&extracted.attributes(), "_dd.parent_id").is_none());
}

#[test]
fn an_upstream_dd_parent_in_tracestate_wins_over_the_header() {
    let headers = carrier(&[
        ("traceparent", &format!("00-{TRACE_ID}-{W3C_SPAN}-01")),
        ("tracestate", "dd=s:1;p:00000000000000aa"),
        ("x-datadog-trace-id", DD_TRACE_ID),
        ("x-datadog-parent-id", DD_PARENT),
        ("x-datadog-tags", TID_TAGS),
    ]);
    let extracted = Propagator::default().extract(&headers);
    assert_eq!(
        attribute(&extracted.attributes(), "_dd.parent_id"),
        Some(Value::from("00000000000000aa"))
    );
}

fn disagreeing() -> HashMap<String, String> {
    carrier(&[
        ("traceparent", &format!("00-{TRACE_ID}-{W3C_SPAN}-01")),
        ("x-datadog-trace-id", "42"),
        ("x-datadog-parent-id", DD_PARENT),
        ("x-datadog-sampling-priority", "1"),
    ])
}

#[test]
fn disagreeing_styles_first_wins_and_the_other_is_linked() {
    let w3c_first = Propagator::new(&[Style::TraceContext, Style::Datadog]).extract(&disagreeing());
    assert_eq!(w3c_first.span_context().trace_id().to_string(), TRACE_ID);
    assert_eq!(w3c_first.span_context().span_id().to_string(), W3C_SPAN);
    assert_eq!(w3c_first.links.len(), 1);
    assert_eq!(
        w3c_first.links[0].trace_id().to_string(),
        "0000000000000000000000000000002a"
    );
    assert_eq!(w3c_first.links[0].span_id().to_string(), "0000000000001234");

    let dd_first = Propagator::new(&[Style::Datadog, Style::TraceContext]).extract(&disagreeing());
    assert_eq!(
        dd_first.span_context().trace_id().to_string(),
        "0000000000000000000000000000002a"
    );
    assert_eq!(dd_first.links.len(), 1);
    assert_eq!(dd_first.links[0].trace_id().to_string(), TRACE_ID);
    assert_eq!(dd_first.links[0].span_id().to_string(), W3C_SPAN);

    let links = dd_first.span_links();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].span_context, dd_first.links[0]);
    assert_eq!(links[0].attributes[0].key.as_str(), "reason");
    assert_eq!(
        links[0].attributes[0].value,
        Value::from("terminated_context")
    );
}

#[test]
fn a_64_bit_datadog_id_without_tid_disagrees_with_a_128_bit_w3c_id() {
    // dd-trace compares the full 128-bit ids: same lower half is not enough.
    let headers = carrier(&[
        ("traceparent", &format!("00-{TRACE_ID}-{W3C_SPAN}-01")),
        ("x-datadog-trace-id", DD_TRACE_ID),
        ("x-datadog-parent-id", DD_PARENT),
    ]);
    let extracted = Propagator::default().extract(&headers);
    assert_eq!(extracted.span_context().span_id().to_string(), W3C_SPAN);
    assert_eq!(extracted.links.len(), 1);
    assert_eq!(
        extracted.links[0].trace_id().to_string(),
        "0000000000000000a3ce929d0e0e4736"
    );
}

#[test]
fn with_one_trace_style_configured_the_other_headers_are_ignored() {
    let only_w3c = Propagator::new(&[Style::TraceContext]).extract(&disagreeing());
    assert!(only_w3c.links.is_empty());
    assert_eq!(only_w3c.span_context().trace_id().to_string(), TRACE_ID);
    let only_dd = Propagator::new(&[Style::Datadog]).extract(&disagreeing());
    assert!(only_dd.links.is_empty());
    assert_eq!(
        only_dd.span_context().trace_id().to_string(),
        "0000000000000000000000000000002a"
    );
}

#[test]
fn baggage_rides_along_with_either_parent() {
    use opentelemetry::baggage::BaggageExt;
    let mut headers = disagreeing();
    headers.insert("baggage".into(), "tenant=acme,region=eu".into());
    let extracted = Propagator::default().extract(&headers);
    assert_eq!(
        extracted
            .context
            .baggage()
            .get("tenant")
            .map(|value| value.as_str()),
        Some("acme")
    );
    let mut out = HashMap::new();
    Propagator::default().inject(&extracted.context, &mut out);
    assert!(out["baggage"].contains("tenant=acme"));
    assert!(out["baggage"].contains("region=eu"));

    let no_baggage = Propagator::new(&[Style::TraceContext]).extract(&headers);
    assert!(no_baggage.context.baggage().is_empty());
}
