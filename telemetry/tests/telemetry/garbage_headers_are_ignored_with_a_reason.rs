//! Garbage trace headers never panic: the style is ignored, `problem` says why without quoting
//! the value, and with nothing usable the context is empty (a new root trace).

use std::collections::HashMap;

use hop_telemetry::{Propagator, Style};
use opentelemetry::trace::TraceContextExt;
use proptest::prelude::*;

use crate::support::carrier;

const VALID_TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Extracts with all styles; asserts the headers were refused for a reason containing
/// `reason`, that the reason does not quote `value`, and that no parent came out.
fn refused(pairs: &[(&str, &str)], value: &str, reason: &str) {
    let extracted = Propagator::default().extract(&carrier(pairs));
    let problem = extracted
        .problem
        .as_deref()
        .unwrap_or_else(|| panic!("no problem reported for {pairs:?}"));
    assert!(
        problem.contains(reason),
        "{pairs:?}: expected {reason:?} in {problem:?}"
    );
    if value.len() >= 3 {
        assert!(!problem.contains(value), "{problem:?} quotes the header");
    }
    assert!(!extracted.has_parent(), "{pairs:?} produced a parent");
    assert!(!extracted.context.has_active_span());
    assert!(extracted.links.is_empty());
}

#[test]
fn bad_datadog_trace_ids() {
    for value in [
        "abc",
        "-5",
        "+5",
        "",
        "0x1f",
        "1 2",
        "18446744073709551616",
        "99999999999999999999999",
        "\u{ff11}\u{ff12}",
        "12.5",
    ] {
        refused(
            &[("x-datadog-trace-id", value), ("x-datadog-parent-id", "7")],
            value,
            "x-datadog-trace-id is not a 64-bit decimal id",
        );
    }
    refused(
        &[("x-datadog-trace-id", "0"), ("x-datadog-parent-id", "7")],
        "0",
        "x-datadog-trace-id is zero",
    );
    refused(
        &[("x-datadog-parent-id", "7")],
        "7",
        "x-datadog-trace-id is missing",
    );
}

#[test]
fn bad_datadog_parent_ids() {
    for value in ["xyz", "-1", "", "18446744073709551616", "1e3"] {
        refused(
            &[("x-datadog-trace-id", "7"), ("x-datadog-parent-id", value)],
            value,
            "x-datadog-parent-id is not a 64-bit decimal id",
        );
    }
    refused(
        &[("x-datadog-trace-id", "7"), ("x-datadog-parent-id", "0")],
        "0",
        "x-datadog-parent-id is zero",
    );
    refused(
        &[("x-datadog-trace-id", "7")],
        "7",
        "x-datadog-parent-id is missing",
    );
}

#[test]
fn bad_tid_tags() {
    for tid in [
        "640CFD8D00000000",
        "640cfd8d",
        "640cfd8d000000000",
        "zzzzzzzzzzzzzzzz",
        "",
        "+40cfd8d00000000",
    ] {
        let tags = format!("_dd.p.dm=-4,_dd.p.tid={tid}");
        refused(
            &[
                ("x-datadog-trace-id", "7"),
                ("x-datadog-parent-id", "8"),
                ("x-datadog-tags", &tags),
            ],
            tid,
            "_dd.p.tid is not 16 lowercase hex digits",
        );
    }
}

#[test]
fn bad_traceparents() {
    let cases = [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "too short",
        ),
        ("hello", "too short"),
        ("", "too short"),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version ff is forbidden",
        ),
        (
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version is not 2 lowercase hex digits",
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "trace id is not 32 lowercase hex digits",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "parent id is not 16 lowercase hex digits",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            "flags are not 2 lowercase hex digits",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01x",
            "wrong lengths",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e47360-0f067aa0ba902b7-01",
            "wrong lengths",
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "trace id is zero",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "parent id is zero",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "version 00 has trailing data",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra",
            "wrong lengths",
        ),
        (
            // Two-byte character: the fields no longer line up (and nothing may panic).
            "00-4bf92f3577b34da6a3ce929d0e0e47\u{e9}6-00f067aa0ba902b7-01",
            "wrong lengths",
        ),
        (
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "trace id is not 32 lowercase hex digits",
        ),
    ];
    for (value, reason) in cases {
        refused(&[("traceparent", value)], value, reason);
    }
}

#[test]
fn a_malformed_tracestate_is_dropped_but_the_parent_kept() {
    let extracted = Propagator::default().extract(&carrier(&[
        ("traceparent", VALID_TRACEPARENT),
        ("tracestate", "no-equals-sign,,,=x"),
    ]));
    assert!(extracted.has_parent());
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(extracted.span_context().trace_state().header(), "");
    assert_eq!(
        extracted.problem.as_deref(),
        Some("tracestate is malformed and was dropped")
    );
}

#[test]
fn a_bad_priority_is_ignored_but_the_parent_kept() {
    let extracted = Propagator::default().extract(&carrier(&[
        ("x-datadog-trace-id", "7"),
        ("x-datadog-parent-id", "8"),
        ("x-datadog-sampling-priority", "keep-please"),
    ]));
    assert!(extracted.has_parent());
    assert!(extracted.span_context().is_sampled());
    let problem = extracted.problem.unwrap();
    assert_eq!(
        problem,
        "x-datadog-sampling-priority is not an integer and was ignored"
    );
}

#[test]
fn malformed_tag_entries_are_dropped_but_tid_kept() {
    let extracted = Propagator::new(&[Style::Datadog]).extract(&carrier(&[
        ("x-datadog-trace-id", "7"),
        ("x-datadog-parent-id", "8"),
        (
            "x-datadog-tags",
            "garbage,_dd.p.tid=0000000000000001,=,_dd.p.=",
        ),
    ]));
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "00000000000000010000000000000007"
    );
    assert_eq!(
        extracted.problem.as_deref(),
        Some("x-datadog-tags has malformed entries that were dropped")
    );
}

#[test]
fn a_bad_style_falls_back_to_the_good_one_and_says_so() {
    let extracted = Propagator::default().extract(&carrier(&[
        ("traceparent", "00-zz-zz-zz"),
        ("x-datadog-trace-id", "7"),
        ("x-datadog-parent-id", "8"),
    ]));
    assert!(extracted.has_parent());
    assert_eq!(
        extracted.span_context().trace_id().to_string(),
        "00000000000000000000000000000007"
    );
    assert_eq!(
        extracted.problem.as_deref(),
        Some("traceparent is too short")
    );
}

#[test]
fn all_styles_bad_gives_an_empty_context_and_every_reason() {
    let extracted = Propagator::default().extract(&carrier(&[
        (
            "traceparent",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ),
        ("x-datadog-trace-id", "nope"),
        ("x-datadog-parent-id", "8"),
    ]));
    assert!(!extracted.has_parent());
    assert_eq!(
        extracted.problem.as_deref(),
        Some("traceparent version ff is forbidden; x-datadog-trace-id is not a 64-bit decimal id")
    );
    let attributes = extracted.attributes();
    assert_eq!(attributes.len(), 1);
    assert_eq!(attributes[0].key.as_str(), "telemetry.propagation.problem");
}

#[test]
fn no_headers_is_no_parent_and_no_problem() {
    let extracted = Propagator::default().extract(&carrier(&[("content-type", "json")]));
    assert!(!extracted.has_parent());
    assert!(extracted.problem.is_none());
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{0,25}",
        "[0-9a-fA-F-]{0,70}",
        "(_dd\\.p\\.[a-z]{1,5}=[ -~]{0,20},){0,5}",
    ]
}

proptest! {
    #[test]
    fn arbitrary_headers_never_panic_and_are_never_quoted(
        traceparent in header_value(),
        tracestate in header_value(),
        trace_id in header_value(),
        parent_id in header_value(),
        priority in header_value(),
        tags in header_value(),
        baggage in header_value(),
    ) {
        let headers = carrier(&[
            ("traceparent", &traceparent),
            ("tracestate", &tracestate),
            ("x-datadog-trace-id", &trace_id),
            ("x-datadog-parent-id", &parent_id),
            ("x-datadog-sampling-priority", &priority),
            ("x-datadog-tags", &tags),
            ("baggage", &baggage),
        ]);
        for propagator in [
            Propagator::default(),
            Propagator::new(&[Style::Datadog, Style::TraceContext]),
        ] {
            let extracted = propagator.extract(&headers);
            if let Some(problem) = &extracted.problem {
                for value in [&traceparent, &trace_id, &parent_id, &priority, &tags] {
                    if value.len() >= 12 {
                        prop_assert!(!problem.contains(value.as_str()));
                    }
                }
            }
            // Whatever came in, what goes out is well formed.
            let mut outgoing = HashMap::new();
            propagator.inject(&extracted.context, &mut outgoing);
            if let Some(traceparent) = outgoing.get("traceparent") {
                let again = Propagator::new(&[Style::TraceContext])
                    .extract(&carrier(&[("traceparent", traceparent)]));
                prop_assert!(again.has_parent());
            }
        }
    }
}
