//! W3C trace context, read and written here rather than through the SDK's
//! `TraceContextPropagator`.
//!
//! The SDK propagator is lenient: it parses ids with `from_str_radix`, so a short trace id, a
//! leading `+` or a trace id of the wrong length can slip through, and it says nothing about why
//! a header was refused. We validate `traceparent` byte by byte (W3C rules: lowercase hex, exact
//! lengths, non-zero ids, version `ff` forbidden, no trailing data on version `00`), report a
//! literal-free reason, and build the span context from the validated bytes. It is also
//! cheaper: this runs for every Cypher query (bolt-tracer writes `traceparent` into each
//! query's `tx_metadata`, bolt-proxy reads it back), where the SDK's `format!` and
//! `split`-and-collect parsing showed up as a few microseconds per query in profiles.

use std::str::FromStr;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

pub(crate) const TRACEPARENT: &str = "traceparent";
pub(crate) const TRACESTATE: &str = "tracestate";

/// Length of a version-00 `traceparent`: `vv-<32 hex>-<16 hex>-ff`.
const TRACEPARENT_LEN: usize = 55;

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| *b == b'0')
}

/// Checks a `traceparent` value and returns its bytes without surrounding whitespace; the error
/// is a short reason that never quotes the value.
pub(crate) fn validate_traceparent(value: &str) -> Result<&[u8], &'static str> {
    // Work on bytes: the value comes from the wire and may not be ASCII, so slicing the `str`
    // at fixed offsets could land inside a multi-byte character.
    let b = value.trim_matches([' ', '\t']).as_bytes();
    if b.len() < TRACEPARENT_LEN {
        return Err("traceparent is too short");
    }
    if !is_lower_hex(&b[0..2]) {
        return Err("traceparent version is not 2 lowercase hex digits");
    }
    if &b[0..2] == b"ff" {
        return Err("traceparent version ff is forbidden");
    }
    if b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err("traceparent fields have the wrong lengths");
    }
    let (trace_id, parent_id, flags) = (&b[3..35], &b[36..52], &b[53..55]);
    if !is_lower_hex(trace_id) {
        return Err("traceparent trace id is not 32 lowercase hex digits");
    }
    if all_zero(trace_id) {
        return Err("traceparent trace id is zero");
    }
    if !is_lower_hex(parent_id) {
        return Err("traceparent parent id is not 16 lowercase hex digits");
    }
    if all_zero(parent_id) {
        return Err("traceparent parent id is zero");
    }
    if !is_lower_hex(flags) {
        return Err("traceparent flags are not 2 lowercase hex digits");
    }
    if b.len() > TRACEPARENT_LEN {
        // Version 00 has exactly four fields; later versions may append `-<more>`.
        if &b[0..2] == b"00" {
            return Err("traceparent version 00 has trailing data");
        }
        if b[TRACEPARENT_LEN] != b'-' {
            return Err("traceparent fields have the wrong lengths");
        }
    }
    Ok(b)
}

/// The remote span context `traceparent` and `tracestate` describe, and whether a malformed
/// `tracestate` was dropped (the W3C rule: it does not invalidate the context). Of the flags
/// only `sampled` is kept, as the other bits have no meaning yet.
pub(crate) fn parse(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Result<(SpanContext, bool), &'static str> {
    let b = validate_traceparent(traceparent)?;
    let mut trace_id = [0u8; 16];
    let mut span_id = [0u8; 8];
    decode_hex(&b[3..35], &mut trace_id);
    decode_hex(&b[36..52], &mut span_id);
    let mut flags = [0u8; 1];
    decode_hex(&b[53..55], &mut flags);
    let (state, dropped) = match tracestate {
        None => (TraceState::NONE, false),
        Some(s) => match TraceState::from_str(s) {
            Ok(state) => (state, false),
            Err(_) => (TraceState::NONE, true),
        },
    };
    let span_context = SpanContext::new(
        TraceId::from_bytes(trace_id),
        SpanId::from_bytes(span_id),
        TraceFlags::new(flags[0]) & TraceFlags::SAMPLED,
        true,
        state,
    );
    Ok((span_context, dropped))
}

/// The version-00 `traceparent` of `span_context` (only its `sampled` flag is written).
pub(crate) fn format(span_context: &SpanContext) -> String {
    let mut out = String::with_capacity(TRACEPARENT_LEN);
    out.push_str("00-");
    push_hex(&mut out, &span_context.trace_id().to_bytes());
    out.push('-');
    push_hex(&mut out, &span_context.span_id().to_bytes());
    out.push('-');
    push_hex(
        &mut out,
        &[(span_context.trace_flags() & TraceFlags::SAMPLED).to_u8()],
    );
    out
}

/// Lowercase hex digits into `out`; `hex` is validated, two digits per byte of `out`.
fn decode_hex(hex: &[u8], out: &mut [u8]) {
    let nibble = |c: u8| {
        if c.is_ascii_digit() {
            c - b'0'
        } else {
            c - b'a' + 10
        }
    };
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// Extracts the W3C span context: `Ok(None)` when there is no `traceparent`, `Err` with the
/// reason when it is unusable. A malformed `tracestate` does not invalidate the context (the
/// W3C rule): it is dropped and reported in `notes`.
pub(crate) fn extract(
    extractor: &dyn Extractor,
    notes: &mut Vec<&'static str>,
) -> Result<Option<SpanContext>, &'static str> {
    let Some(traceparent) = extractor.get(TRACEPARENT) else {
        return Ok(None);
    };
    let (span_context, dropped) = parse(traceparent, extractor.get(TRACESTATE))?;
    if dropped {
        notes.push("tracestate is malformed and was dropped");
    }
    Ok(Some(span_context))
}

/// Writes `traceparent` (and `tracestate` when it is not empty) for `span_context`; nothing
/// for an invalid context.
pub(crate) fn inject(span_context: SpanContext, injector: &mut dyn Injector) {
    if !span_context.is_valid() {
        return;
    }
    injector.set(TRACEPARENT, format(&span_context));
    let state = span_context.trace_state().header();
    if !state.is_empty() {
        injector.set(TRACESTATE, state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn parses_ids_flags_and_state() {
        let (sc, dropped) = parse(
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03\t",
            Some("dd=s:1,rojo=00f067aa0ba902b7"),
        )
        .unwrap();
        assert!(!dropped);
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert_eq!(sc.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert_eq!(sc.trace_flags(), TraceFlags::SAMPLED);
        assert!(sc.is_remote());
        assert_eq!(sc.trace_state().get("rojo"), Some("00f067aa0ba902b7"));
        let (sc, dropped) = parse(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            Some("not a=state=list"),
        )
        .unwrap();
        assert!(dropped);
        assert!(!sc.is_sampled());
        assert_eq!(sc.trace_state().header(), "");
    }

    proptest! {
        /// Against the SDK's propagator, which both directions used to go through: the same
        /// text out, the same context back.
        #[test]
        fn agrees_with_the_sdk(trace in 1u128.., span in 1u64.., flags in any::<u8>()) {
            let sc = SpanContext::new(
                TraceId::from(trace),
                SpanId::from(span),
                TraceFlags::new(flags),
                true,
                TraceState::NONE,
            );
            let mut headers = HashMap::new();
            let cx = opentelemetry::Context::new().with_remote_span_context(sc.clone());
            TraceContextPropagator::new().inject_context(&cx, &mut headers);
            prop_assert_eq!(&format(&sc), &headers["traceparent"]);
            let (back, _) = parse(&headers["traceparent"], None).unwrap();
            let sdk = TraceContextPropagator::new().extract(&headers);
            let sdk_span = sdk.span();
            prop_assert_eq!(&back, sdk_span.span_context());
        }
    }

    #[test]
    fn accepts_valid_and_future_versions() {
        assert!(
            validate_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok()
        );
        assert!(
            validate_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
                .is_ok()
        );
    }

    #[test]
    fn rejects_non_ascii_without_panicking() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e47é6-00f067aa0ba902b7-01";
        assert!(validate_traceparent(value).is_err());
        assert!(
            validate_traceparent("éééééééééééééééééééééééééééééééééééééééééééééééééééééééé")
                .is_err()
        );
    }
}
