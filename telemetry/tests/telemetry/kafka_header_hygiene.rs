//! Kafka header hygiene: injecting replaces trace headers (never two `traceparent`s) and keeps
//! the others; extracting takes the last duplicate and ignores null or non-UTF-8 values.

use hop_telemetry::Propagator;
use hop_telemetry::kafka::{extract_headers_with, inject_headers_with};
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use rdkafka::message::{BorrowedHeaders, Header, Headers, OwnedHeaders};

fn context(trace_id: u128, span_id: u64) -> Context {
    Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(span_id),
        TraceFlags::SAMPLED,
        false,
        TraceState::NONE,
    ))
}

fn all(headers: &OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
    headers
        .iter()
        .map(|header| (header.key.to_owned(), header.value.map(<[u8]>::to_vec)))
        .collect()
}

fn values_of(headers: &OwnedHeaders, key: &str) -> Vec<String> {
    headers
        .iter()
        .filter(|header| header.key.eq_ignore_ascii_case(key))
        .map(|header| String::from_utf8(header.value.unwrap().to_vec()).unwrap())
        .collect()
}

fn with(pairs: &[(&str, Option<&[u8]>)]) -> OwnedHeaders {
    pairs
        .iter()
        .fold(OwnedHeaders::new(), |headers, (key, value)| {
            headers.insert(Header { key, value: *value })
        })
}

#[test]
fn injecting_twice_leaves_one_set_of_trace_headers_and_keeps_the_others() {
    let propagator = Propagator::default();
    let stale = with(&[
        (
            "traceparent",
            Some(b"00-11111111111111111111111111111111-1111111111111111-01"),
        ),
        ("app-id", Some(b"abc")),
        ("X-Datadog-Trace-Id", Some(b"99")),
        ("x-datadog-whatever", Some(b"1")),
        ("TraceState", Some(b"x=y")),
        ("null-header", None),
        ("dlq.attempts", Some(b"3")),
    ]);
    let first = context(
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        0x00f0_67aa_0ba9_02b7,
    );
    let second = context(0xaaaa_0000_0000_0000_0000_0000_0000_0001, 0x22);
    let once = inject_headers_with(&propagator, &first, Some(stale));
    let twice = inject_headers_with(&propagator, &second, Some(once));

    assert_eq!(
        values_of(&twice, "traceparent"),
        ["00-aaaa0000000000000000000000000001-0000000000000022-01"]
    );
    assert_eq!(values_of(&twice, "x-datadog-trace-id"), ["1"]);
    assert_eq!(values_of(&twice, "x-datadog-parent-id"), ["34"]);
    assert_eq!(
        values_of(&twice, "x-datadog-tags"),
        ["_dd.p.tid=aaaa000000000000"]
    );
    assert!(values_of(&twice, "x-datadog-whatever").is_empty());
    assert_eq!(
        values_of(&twice, "tracestate"),
        ["dd=s:1;p:0000000000000022"],
        "the stale tracestate is gone, ours remains"
    );
    let kept: Vec<_> = all(&twice)
        .into_iter()
        .filter(|(key, _)| {
            !key.starts_with("x-datadog-") && key != "traceparent" && key != "tracestate"
        })
        .collect();
    assert_eq!(
        kept,
        vec![
            ("app-id".to_owned(), Some(b"abc".to_vec())),
            ("null-header".to_owned(), None),
            ("dlq.attempts".to_owned(), Some(b"3".to_vec())),
        ]
    );
}

#[test]
fn injecting_without_existing_headers_or_context() {
    let propagator = Propagator::default();
    let headers = inject_headers_with(&propagator, &Context::new(), None);
    assert_eq!(headers.count(), 0, "no span, no trace headers");
    let headers = inject_headers_with(&propagator, &context(5, 6), None);
    assert_eq!(values_of(&headers, "traceparent").len(), 1);
}

#[test]
fn the_last_duplicate_wins() {
    let headers = with(&[
        (
            "traceparent",
            Some(b"00-11111111111111111111111111111111-1111111111111111-01"),
        ),
        (
            "traceparent",
            Some(b"00-22222222222222222222222222222222-2222222222222222-01"),
        ),
        ("x-datadog-trace-id", Some(b"5")),
        ("x-datadog-parent-id", Some(b"6")),
        ("x-datadog-trace-id", Some(b"7")),
    ]);
    let propagator = Propagator::new(&[hop_telemetry::Style::TraceContext]);
    let extracted = extract_headers_with(&propagator, Some(&headers));
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "22222222222222222222222222222222"
    );
    let propagator = Propagator::new(&[hop_telemetry::Style::Datadog]);
    let borrowed: &BorrowedHeaders = headers.as_borrowed();
    let extracted = extract_headers_with(&propagator, Some(borrowed));
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "00000000000000000000000000000007"
    );
}

#[test]
fn null_and_non_utf8_values_are_ignored() {
    let invalid: &[u8] = &[0xff, 0xfe, b'0', b'0'];
    let headers = with(&[
        (
            "traceparent",
            Some(b"00-11111111111111111111111111111111-1111111111111111-01"),
        ),
        ("traceparent", Some(invalid)),
        ("traceparent", None),
    ]);
    let extracted = extract_headers_with(&Propagator::default(), Some(&headers));
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "11111111111111111111111111111111"
    );

    let only_bad = with(&[("traceparent", Some(invalid)), ("x-datadog-trace-id", None)]);
    let extracted = extract_headers_with(&Propagator::default(), Some(&only_bad));
    assert!(!extracted.has_parent());
    assert!(extracted.problem.is_none());

    let extracted = extract_headers_with::<OwnedHeaders>(&Propagator::default(), None);
    assert!(!extracted.has_parent());
}

#[test]
fn round_trip_through_headers() {
    let propagator = Propagator::default();
    let cx = context(
        0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736,
        0x00f0_67aa_0ba9_02b7,
    );
    let headers = inject_headers_with(&propagator, &cx, None);
    let extracted = extract_headers_with(&propagator, Some(&headers));
    assert!(extracted.problem.is_none());
    assert!(extracted.links.is_empty());
    assert_eq!(
        extracted.span_context().trace_id(),
        cx.span().span_context().trace_id()
    );
    assert_eq!(
        extracted.span_context().span_id(),
        cx.span().span_context().span_id()
    );
}
