//! `OTEL_PROPAGATORS`: order kept, duplicates and blanks ignored, unknown names reported and
//! ignored, `none` disables, empty means the default.

use std::collections::HashMap;

use hop_telemetry::propagation::{ParsedStyles, parse_styles};
use hop_telemetry::{Propagator, Style};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

fn parsed(styles: &[Style], unknown: &[&str]) -> ParsedStyles {
    ParsedStyles {
        styles: styles.to_vec(),
        unknown: unknown.iter().map(|name| (*name).to_owned()).collect(),
    }
}

#[test]
fn lists_parse_in_order() {
    use Style::*;
    let default = parsed(&[TraceContext, Baggage, Datadog], &[]);
    assert_eq!(parse_styles(""), default);
    assert_eq!(parse_styles(" , ,"), default);
    assert_eq!(parse_styles("tracecontext,baggage,datadog"), default);
    assert_eq!(
        parse_styles("datadog,tracecontext"),
        parsed(&[Datadog, TraceContext], &[])
    );
    assert_eq!(
        parse_styles("  TraceContext , BAGGAGE,tracecontext "),
        parsed(&[TraceContext, Baggage], &[])
    );
    assert_eq!(
        parse_styles("b3,tracecontext,xray,b3multi"),
        parsed(&[TraceContext], &["b3", "xray", "b3multi"])
    );
    assert_eq!(parse_styles("b3"), parsed(&[], &["b3"]));
    assert_eq!(parse_styles("none"), parsed(&[], &[]));
    assert_eq!(parse_styles("tracecontext,none"), parsed(&[], &[]));
    assert_eq!(parse_styles("None,jaeger"), parsed(&[], &["jaeger"]));
}

fn sampled_context() -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        SpanId::from(0x00f0_67aa_0ba9_02b7),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    ))
}

#[test]
fn the_parsed_propagator_writes_exactly_its_styles() {
    let (only_w3c, unknown) = Propagator::parse("tracecontext,b3");
    assert_eq!(unknown, vec!["b3".to_owned()]);
    assert_eq!(only_w3c.styles(), &[Style::TraceContext]);
    let mut headers = HashMap::new();
    only_w3c.inject(&sampled_context(), &mut headers);
    let mut keys: Vec<&str> = headers.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["traceparent"], "an empty tracestate is not written");

    let (disabled, _) = Propagator::parse("none");
    let mut headers = HashMap::new();
    disabled.inject(&sampled_context(), &mut headers);
    assert!(headers.is_empty());
    let mut incoming = HashMap::new();
    Propagator::default().inject(&sampled_context(), &mut incoming);
    assert!(!disabled.extract(&incoming).has_parent());

    let (datadog_only, _) = Propagator::parse("datadog");
    let mut headers = HashMap::new();
    datadog_only.inject(&sampled_context(), &mut headers);
    let mut keys: Vec<&str> = headers.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "x-datadog-parent-id",
            "x-datadog-sampling-priority",
            "x-datadog-tags",
            "x-datadog-trace-id"
        ]
    );
}

#[test]
fn header_names_follow_the_styles() {
    let propagator = Propagator::new(&[Style::Datadog, Style::TraceContext, Style::Datadog]);
    assert_eq!(propagator.styles(), &[Style::Datadog, Style::TraceContext]);
    let names: Vec<&str> = propagator.header_names().collect();
    assert_eq!(
        names,
        [
            "x-datadog-trace-id",
            "x-datadog-parent-id",
            "x-datadog-sampling-priority",
            "x-datadog-origin",
            "x-datadog-tags",
            "traceparent",
            "tracestate"
        ]
    );
}
