//! Datadog propagation, as dd-trace does it.
//!
//! Headers: `x-datadog-trace-id` (lower 64 bits of the trace id, decimal), `x-datadog-parent-id`
//! (span id, decimal), `x-datadog-sampling-priority` (`<= 0` drop, `> 0` keep),
//! `x-datadog-origin`, and `x-datadog-tags`, a comma list of `_dd.p.*` tags of which
//! `_dd.p.tid` holds the upper 64 bits of a 128-bit trace id as 16 lowercase hex digits.
//!
//! Datadog state that OpenTelemetry has no field for (the sampling priority, the origin, the
//! propagated `_dd.p.*` tags, the last Datadog parent) travels inside the span context as the
//! `dd` member of the W3C trace state, in dd-trace's own encoding
//! (`dd=s:2;o:rum;p:00f067aa0ba902b7;t.dm:-4`). The SDK's samplers copy the parent's trace state
//! to every child span, so whatever a message arrived with is re-injected on the way out.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

pub(crate) const TRACE_ID: &str = "x-datadog-trace-id";
pub(crate) const PARENT_ID: &str = "x-datadog-parent-id";
pub(crate) const SAMPLING_PRIORITY: &str = "x-datadog-sampling-priority";
pub(crate) const ORIGIN: &str = "x-datadog-origin";
pub(crate) const TAGS: &str = "x-datadog-tags";
/// Prefix shared by every Datadog header; hygiene removes all of them before injecting.
pub(crate) const HEADER_PREFIX: &str = "x-datadog-";

const TID_TAG: &str = "_dd.p.tid";
const PROPAGATED_TAG_PREFIX: &str = "_dd.p.";
/// dd-trace refuses `x-datadog-tags` longer than this (`x_datadog_tags_max_length`).
const MAX_TAGS_LEN: usize = 512;
/// A W3C trace-state value is at most 256 characters.
const MAX_DD_MEMBER_LEN: usize = 256;
/// Trace-state key of the Datadog member.
pub(crate) const DD_MEMBER: &str = "dd";

/// Datadog's part of the trace state (the `dd` member).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DdState {
    /// Sampling priority (`s:`).
    pub priority: Option<i32>,
    /// Origin of the trace, e.g. `rum` or `synthetics` (`o:`).
    pub origin: Option<String>,
    /// Id of the last Datadog span, 16 lowercase hex digits (`p:`); becomes `_dd.parent_id`.
    pub parent: Option<String>,
    /// Propagated tags without their `_dd.p.` prefix (`t.<name>:<value>`), values decoded.
    pub tags: Vec<(String, String)>,
    /// Sub-keys we do not interpret, kept verbatim so they survive the hop.
    pub other: Vec<(String, String)>,
}

impl DdState {
    pub(crate) fn from_trace_state(state: &TraceState) -> Self {
        state.get(DD_MEMBER).map(Self::parse).unwrap_or_default()
    }

    pub(crate) fn parse(value: &str) -> Self {
        let mut state = DdState::default();
        for entry in value.split(';') {
            let Some((key, raw)) = entry.split_once(':') else {
                continue;
            };
            match key {
                "s" => state.priority = raw.parse().ok(),
                "o" => state.origin = Some(decode(raw)),
                "p" if raw.len() == 16 && is_lower_hex(raw) => state.parent = Some(raw.to_owned()),
                "p" => {}
                _ => match key.strip_prefix("t.") {
                    // The trace id's upper half lives in the trace id itself, never here.
                    Some("tid") => {}
                    Some(name) if !name.is_empty() => {
                        state.tags.push((name.to_owned(), decode(raw)));
                    }
                    _ => state.other.push((key.to_owned(), raw.to_owned())),
                },
            }
        }
        state
    }

    /// The member's value, or `None` when there is nothing to say. Tags are dropped from the
    /// end until the value fits the W3C limit, as dd-trace does.
    pub(crate) fn render(&self) -> Option<String> {
        let mut parts: Vec<String> = Vec::with_capacity(3 + self.tags.len() + self.other.len());
        if let Some(priority) = self.priority {
            parts.push(format!("s:{priority}"));
        }
        if let Some(origin) = &self.origin {
            parts.push(format!("o:{}", encode(origin)));
        }
        if let Some(parent) = &self.parent {
            parts.push(format!("p:{parent}"));
        }
        for (key, value) in &self.other {
            if valid_member_text(key) && valid_member_text(value) {
                parts.push(format!("{key}:{value}"));
            }
        }
        let fixed = parts.len();
        for (name, value) in &self.tags {
            parts.push(format!("t.{}:{}", encode(name), encode(value)));
        }
        let mut rendered = parts.join(";");
        while rendered.len() > MAX_DD_MEMBER_LEN && parts.len() > fixed {
            parts.pop();
            rendered = parts.join(";");
        }
        (!rendered.is_empty() && rendered.len() <= MAX_DD_MEMBER_LEN).then_some(rendered)
    }

    /// `state` with its `dd` member replaced by `self` (moved to the front, as W3C requires of
    /// a modified member). Falls back to `state` unchanged if the value cannot be stored.
    pub(crate) fn store_in(&self, state: &TraceState) -> TraceState {
        match self.render() {
            Some(value) => state
                .insert(DD_MEMBER, value)
                .unwrap_or_else(|_| state.clone()),
            None => state.delete(DD_MEMBER).unwrap_or_else(|_| state.clone()),
        }
    }
}

/// dd-trace's trace-state encoding: `=` becomes `~`, and characters a trace-state value cannot
/// hold (`,`, `;`, `~`, anything outside printable ASCII) become `_`.
fn encode(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '=' => '~',
            ',' | ';' | '~' => '_',
            c if (' '..='~').contains(&c) => c,
            _ => '_',
        })
        .collect()
}

fn decode(text: &str) -> String {
    text.replace('~', "=")
}

fn valid_member_text(text: &str) -> bool {
    text.bytes()
        .all(|b| (b' '..=b'~').contains(&b) && !matches!(b, b',' | b';' | b'=' | b':'))
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The sampling priority to send for `span_context`: the stored one when it agrees with the
/// sampled flag (the flag is the decision that was actually taken), else 1 or 0.
pub(crate) fn sampling_priority(span_context: &SpanContext) -> i32 {
    let sampled = span_context.is_sampled();
    match DdState::from_trace_state(span_context.trace_state()).priority {
        Some(priority) if (priority > 0) == sampled => priority,
        _ => i32::from(sampled),
    }
}

/// The `dd` member to send along with W3C headers: dd-trace writes the priority and `p:` = the
/// id of the span that injects (the next hop's last Datadog parent).
pub(crate) fn trace_state_for_injection(span_context: &SpanContext) -> TraceState {
    let mut state = DdState::from_trace_state(span_context.trace_state());
    state.priority = Some(sampling_priority(span_context));
    state.parent = Some(format!("{:016x}", span_context.span_id()));
    state.store_in(span_context.trace_state())
}

/// What the Datadog headers said.
#[derive(Clone, Debug)]
pub(crate) struct DdExtracted {
    /// The span context to continue (remote, trace state carrying the `dd` member).
    pub span_context: SpanContext,
}

enum IdError {
    NotDecimal,
    Zero,
}

/// Strict 64-bit unsigned decimal: 1 to 20 ASCII digits (optional surrounding spaces or tabs),
/// no sign, not zero.
fn parse_id(value: &str) -> Result<u64, IdError> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::NotDecimal);
    }
    match value.parse::<u64>() {
        Ok(0) => Err(IdError::Zero),
        Ok(id) => Ok(id),
        Err(_) => Err(IdError::NotDecimal),
    }
}

struct Tags {
    upper_trace_id: u64,
    propagated: Vec<(String, String)>,
}

fn parse_tags(value: &str, notes: &mut Vec<&'static str>) -> Result<Tags, &'static str> {
    let mut tags = Tags {
        upper_trace_id: 0,
        propagated: Vec::new(),
    };
    if value.len() > MAX_TAGS_LEN {
        // dd-trace drops the whole header (`_dd.propagation_error=extract_max_size`).
        notes.push("x-datadog-tags is longer than 512 bytes and was dropped");
        return Ok(tags);
    }
    let mut malformed = false;
    for entry in value.split(',') {
        let entry = entry.trim_matches([' ', '\t']);
        if entry.is_empty() {
            continue;
        }
        let Some((key, tag_value)) = entry.split_once('=') else {
            malformed = true;
            continue;
        };
        if key == TID_TAG {
            if tag_value.len() != 16 || !is_lower_hex(tag_value) {
                return Err("_dd.p.tid is not 16 lowercase hex digits");
            }
            tags.upper_trace_id =
                u64::from_str_radix(tag_value, 16).map_err(|_| "_dd.p.tid is not hex")?;
        } else if let Some(name) = key.strip_prefix(PROPAGATED_TAG_PREFIX) {
            if name.is_empty() || tag_value.is_empty() {
                malformed = true;
            } else {
                tags.propagated
                    .push((name.to_owned(), tag_value.to_owned()));
            }
        }
        // Tags outside `_dd.p.` are not meant to propagate; dd-trace ignores them too.
    }
    if malformed {
        notes.push("x-datadog-tags has malformed entries that were dropped");
    }
    Ok(tags)
}

/// Extracts the Datadog span context: `Ok(None)` when no Datadog id header is present, `Err`
/// with a literal-free reason when the headers are unusable. Recoverable oddities (a bad
/// priority, malformed tag entries) keep the context and are reported in `notes`.
pub(crate) fn extract(
    extractor: &dyn Extractor,
    notes: &mut Vec<&'static str>,
) -> Result<Option<DdExtracted>, &'static str> {
    let trace_id = extractor.get(TRACE_ID);
    let parent_id = extractor.get(PARENT_ID);
    if trace_id.is_none() && parent_id.is_none() {
        return Ok(None);
    }
    let lower = match parse_id(trace_id.ok_or("x-datadog-trace-id is missing")?) {
        Ok(id) => id,
        Err(IdError::NotDecimal) => return Err("x-datadog-trace-id is not a 64-bit decimal id"),
        Err(IdError::Zero) => return Err("x-datadog-trace-id is zero"),
    };
    let parent = match parse_id(parent_id.ok_or("x-datadog-parent-id is missing")?) {
        Ok(id) => id,
        Err(IdError::NotDecimal) => return Err("x-datadog-parent-id is not a 64-bit decimal id"),
        Err(IdError::Zero) => return Err("x-datadog-parent-id is zero"),
    };
    let tags = match extractor.get(TAGS) {
        Some(value) => parse_tags(value, notes)?,
        None => Tags {
            upper_trace_id: 0,
            propagated: Vec::new(),
        },
    };
    let priority = match extractor.get(SAMPLING_PRIORITY) {
        None => None,
        Some(value) => match value.trim_matches([' ', '\t']).parse::<i32>() {
            Ok(priority) => Some(priority),
            Err(_) => {
                notes.push("x-datadog-sampling-priority is not an integer and was ignored");
                None
            }
        },
    };
    let origin = extractor
        .get(ORIGIN)
        .map(|value| value.trim_matches([' ', '\t']))
        .filter(|value| !value.is_empty() && value.len() <= 64)
        .map(str::to_owned);

    let trace_id = (u128::from(tags.upper_trace_id) << 64) | u128::from(lower);
    // No priority means the upstream left the decision to us: keep the trace, as the default
    // sampler would for a new root.
    let sampled = priority.is_none_or(|p| p > 0);
    let state = DdState {
        priority,
        origin,
        parent: None,
        tags: tags.propagated,
        other: Vec::new(),
    };
    let span_context = SpanContext::new(
        TraceId::from(trace_id),
        SpanId::from(parent),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::NOT_SAMPLED
        },
        true,
        state.store_in(&TraceState::NONE),
    );
    Ok(Some(DdExtracted { span_context }))
}

/// Writes the Datadog headers for `span_context` (nothing if it is not valid).
pub(crate) fn inject(span_context: &SpanContext, injector: &mut dyn Injector) {
    if !span_context.is_valid() {
        return;
    }
    let trace_id = u128::from_be_bytes(span_context.trace_id().to_bytes());
    let lower = trace_id as u64;
    let upper = (trace_id >> 64) as u64;
    let span_id = u64::from_be_bytes(span_context.span_id().to_bytes());
    injector.set(TRACE_ID, lower.to_string());
    injector.set(PARENT_ID, span_id.to_string());
    injector.set(
        SAMPLING_PRIORITY,
        sampling_priority(span_context).to_string(),
    );
    let state = DdState::from_trace_state(span_context.trace_state());
    if let Some(origin) = &state.origin {
        injector.set(ORIGIN, origin.clone());
    }
    let mut tags = Vec::with_capacity(1 + state.tags.len());
    if upper != 0 {
        tags.push(format!("{TID_TAG}={upper:016x}"));
    }
    for (name, value) in &state.tags {
        tags.push(format!("{PROPAGATED_TAG_PREFIX}{name}={value}"));
    }
    if !tags.is_empty() {
        injector.set(TAGS, tags.join(","));
    }
}

/// Datadog propagation alone, as an OpenTelemetry [`TextMapPropagator`] (for code that wants
/// the plain trait; [`crate::Propagator`] composes it with W3C and reports problems).
#[derive(Clone, Debug)]
pub struct DatadogPropagator {
    fields: [String; 5],
}

impl DatadogPropagator {
    /// A Datadog propagator.
    pub fn new() -> Self {
        Self {
            fields: [TRACE_ID, PARENT_ID, SAMPLING_PRIORITY, ORIGIN, TAGS].map(str::to_owned),
        }
    }

    /// Extracts the span context carried by the Datadog headers, or the literal-free reason
    /// why they are unusable; `Ok(None)` when there are no Datadog headers.
    pub fn extract_span_context(
        &self,
        extractor: &dyn Extractor,
    ) -> Result<Option<SpanContext>, String> {
        let mut notes = Vec::new();
        extract(extractor, &mut notes)
            .map(|found| found.map(|dd| dd.span_context))
            .map_err(str::to_owned)
    }
}

impl Default for DatadogPropagator {
    fn default() -> Self {
        Self::new()
    }
}

impl TextMapPropagator for DatadogPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        inject(cx.span().span_context(), injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match self.extract_span_context(extractor) {
            Ok(Some(span_context)) => cx.with_remote_span_context(span_context),
            _ => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dd_member_round_trips_and_encodes() {
        let state = DdState {
            priority: Some(2),
            origin: Some("rum".into()),
            parent: Some("00f067aa0ba902b7".into()),
            tags: vec![("dm".into(), "-4".into()), ("usr.id".into(), "a=b".into())],
            other: vec![],
        };
        let rendered = state.render().unwrap();
        assert_eq!(
            rendered,
            "s:2;o:rum;p:00f067aa0ba902b7;t.dm:-4;t.usr.id:a~b"
        );
        assert_eq!(DdState::parse(&rendered), state);
    }

    #[test]
    fn ids_are_strict() {
        assert!(parse_id("18446744073709551615").is_ok());
        assert!(matches!(
            parse_id("18446744073709551616"),
            Err(IdError::NotDecimal)
        ));
        assert!(matches!(parse_id("+1"), Err(IdError::NotDecimal)));
        assert!(matches!(parse_id("-1"), Err(IdError::NotDecimal)));
        assert!(matches!(parse_id("0"), Err(IdError::Zero)));
        assert!(matches!(parse_id(""), Err(IdError::NotDecimal)));
        assert!(matches!(parse_id("0x1f"), Err(IdError::NotDecimal)));
    }
}
