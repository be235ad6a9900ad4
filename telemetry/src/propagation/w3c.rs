//! W3C trace context on top of the SDK's `TraceContextPropagator`.
//!
//! The SDK propagator is lenient: it parses ids with `from_str_radix`, so a short trace id, a
//! leading `+` or a trace id of the wrong length can slip through, and it says nothing about why
//! a header was refused. We validate `traceparent` byte by byte first (W3C rules: lowercase hex,
//! exact lengths, non-zero ids, version `ff` forbidden, no trailing data on version `00`), report
//! a literal-free reason, and only then let the SDK build the span context.

use std::str::FromStr;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceState};
use opentelemetry_sdk::propagation::TraceContextPropagator;

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

/// Checks a `traceparent` value; the error is a short reason that never quotes the value.
pub(crate) fn validate_traceparent(value: &str) -> Result<(), &'static str> {
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
    Ok(())
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
    validate_traceparent(traceparent)?;
    if let Some(state) = extractor.get(TRACESTATE)
        && TraceState::from_str(state).is_err()
    {
        notes.push("tracestate is malformed and was dropped");
    }
    let cx = TraceContextPropagator::new().extract_with_context(&Context::new(), extractor);
    let span = cx.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        // Our validation is stricter than the SDK's, so this is not expected; stay defensive.
        return Err("traceparent was rejected");
    }
    Ok(Some(span_context.clone()))
}

/// Writes `traceparent` (and `tracestate` when it is not empty) for `span_context`.
pub(crate) fn inject(span_context: SpanContext, injector: &mut dyn Injector) {
    let cx = Context::new().with_remote_span_context(span_context);
    TraceContextPropagator::new().inject_context(&cx, &mut SkipEmpty(injector));
}

/// The SDK always writes `tracestate`, even empty; an empty header is noise on every record.
struct SkipEmpty<'a>(&'a mut dyn Injector);

impl Injector for SkipEmpty<'_> {
    fn set(&mut self, key: &str, value: String) {
        if !value.is_empty() {
            self.0.set(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::validate_traceparent;

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
