//! Trace-context propagation: W3C `traceparent`/`tracestate`, W3C `baggage` and Datadog, in the
//! order `OTEL_PROPAGATORS` lists them.
//!
//! [`Propagator::extract`] never panics and never fails: unusable headers are ignored style by
//! style and [`Extracted::problem`] says why, in words that never quote a header value. With
//! nothing usable the context is empty, so the next span starts a new trace.
//!
//! When two trace styles are present (dd-trace's rules):
//! - they agree on the (128-bit) trace id: the W3C parent id wins, the W3C `tracestate` is kept,
//!   the sampling decision is the first configured style's. If the Datadog parent id differs
//!   from the W3C one, it is kept as `p:` in the trace state's `dd` member (unless the W3C
//!   trace state already carried a `p:`), which [`Extracted::attributes`] reports as
//!   `_dd.parent_id`, as dd-trace does, so Datadog can re-attach the trace to its last Datadog span;
//! - they disagree: the first configured style wins, the other context becomes a span link
//!   ([`Extracted::links`]).

mod baggage;
mod datadog;
mod w3c;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{Link, SpanContext, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::attribute::{DD_PARENT_ID, TELEMETRY_PROPAGATION_PROBLEM};
use baggage::BAGGAGE;
pub use baggage::BaggagePropagator;
pub use datadog::DatadogPropagator;
use datadog::DdState;

/// The `OTEL_PROPAGATORS` default.
pub const DEFAULT_PROPAGATORS: &str = "tracecontext,baggage,datadog";

/// One propagation format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Style {
    /// W3C trace context: `traceparent`, `tracestate`.
    TraceContext,
    /// W3C baggage: `baggage`.
    Baggage,
    /// Datadog: `x-datadog-*`.
    Datadog,
}

impl Style {
    /// The name used in `OTEL_PROPAGATORS`.
    pub fn name(self) -> &'static str {
        match self {
            Style::TraceContext => "tracecontext",
            Style::Baggage => "baggage",
            Style::Datadog => "datadog",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Style::TraceContext => &[w3c::TRACEPARENT, w3c::TRACESTATE],
            Style::Baggage => &[BAGGAGE],
            Style::Datadog => &[
                datadog::TRACE_ID,
                datadog::PARENT_ID,
                datadog::SAMPLING_PRIORITY,
                datadog::ORIGIN,
                datadog::TAGS,
            ],
        }
    }
}

impl fmt::Display for Style {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `OTEL_PROPAGATORS` entry we do not support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownStyle(pub String);

impl fmt::Display for UnknownStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown propagator {:?}", self.0)
    }
}

impl std::error::Error for UnknownStyle {}

impl FromStr for Style {
    type Err = UnknownStyle;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "tracecontext" => Ok(Style::TraceContext),
            "baggage" => Ok(Style::Baggage),
            "datadog" => Ok(Style::Datadog),
            _ => Err(UnknownStyle(name.trim().to_owned())),
        }
    }
}

/// Is `key` a trace header of any style we know, whatever is configured? (Header hygiene
/// removes all of them before injecting, so stale headers of a disabled style cannot linger.)
pub fn is_trace_header(key: &str) -> bool {
    key.eq_ignore_ascii_case(w3c::TRACEPARENT)
        || key.eq_ignore_ascii_case(w3c::TRACESTATE)
        || key.eq_ignore_ascii_case(BAGGAGE)
        || key
            .get(..datadog::HEADER_PREFIX.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(datadog::HEADER_PREFIX))
}

/// The W3C `traceparent` (version 00) of `span_context`, for carriers that are not a
/// [`Propagator`]'s text map (bolt-tracer puts it into a Cypher query's `tx_metadata`). Only
/// the `sampled` flag is written; an invalid context gives an all-zero, invalid header.
pub fn traceparent(span_context: &SpanContext) -> String {
    w3c::format(span_context)
}

/// The remote span context a W3C `traceparent` (and `tracestate`, if any) describes, by the
/// strict rules of [`Propagator::extract`]; the error says why in words that never quote the
/// value. A malformed `tracestate` is dropped, as the W3C rules ask, and does not fail the
/// context.
pub fn parse_traceparent(
    traceparent: &str,
    tracestate: Option<&str>,
) -> Result<SpanContext, &'static str> {
    w3c::parse(traceparent, tracestate).map(|(span_context, _)| span_context)
}

/// The result of parsing an `OTEL_PROPAGATORS` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedStyles {
    /// Known styles, in order, without duplicates (empty for `none`).
    pub styles: Vec<Style>,
    /// Names we do not support (ignored).
    pub unknown: Vec<String>,
}

/// Parses an `OTEL_PROPAGATORS` list: comma-separated, case-insensitive, blanks ignored;
/// empty means the default (`tracecontext,baggage,datadog`); `none` anywhere disables
/// propagation; unknown names (`b3`, `xray`...) are returned in `unknown` and ignored.
pub fn parse_styles(list: &str) -> ParsedStyles {
    let names: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    if names.is_empty() {
        return parse_styles(DEFAULT_PROPAGATORS);
    }
    let mut parsed = ParsedStyles {
        styles: Vec::new(),
        unknown: Vec::new(),
    };
    if names.iter().any(|name| name.eq_ignore_ascii_case("none")) {
        parsed.unknown = names
            .iter()
            .filter(|name| !name.eq_ignore_ascii_case("none"))
            .filter(|name| name.parse::<Style>().is_err())
            .map(|name| (*name).to_owned())
            .collect();
        return parsed;
    }
    for name in names {
        match name.parse::<Style>() {
            Ok(style) if !parsed.styles.contains(&style) => parsed.styles.push(style),
            Ok(_) => {}
            Err(UnknownStyle(name)) => parsed.unknown.push(name),
        }
    }
    parsed
}

/// What incoming headers carried.
#[derive(Clone, Debug, Default)]
pub struct Extracted {
    /// The context to parent on: a remote span context (if any style was usable) plus baggage.
    /// Empty when nothing was usable: the next span starts a new trace.
    pub context: Context,
    /// Contexts of a second trace style that disagreed with the first (dd-trace's
    /// "terminated context" links).
    pub links: Vec<SpanContext>,
    /// Why some headers were ignored, short and free of header values; `None` if all was fine.
    pub problem: Option<String>,
}

impl Extracted {
    /// The remote parent span context (invalid when there is none).
    pub fn span_context(&self) -> SpanContext {
        self.context.span().span_context().clone()
    }

    /// Whether a usable parent was found.
    pub fn has_parent(&self) -> bool {
        self.context.has_active_span() && self.context.span().span_context().is_valid()
    }

    /// [`Self::links`] as span links, each with dd-trace's `reason = terminated_context`.
    pub fn span_links(&self) -> Vec<Link> {
        self.links
            .iter()
            .map(|span_context| {
                Link::new(
                    span_context.clone(),
                    vec![KeyValue::new("reason", "terminated_context")],
                    0,
                )
            })
            .collect()
    }

    /// Attributes the span continuing this context should carry:
    /// [`TELEMETRY_PROPAGATION_PROBLEM`] and [`DD_PARENT_ID`] when they apply.
    pub fn attributes(&self) -> Vec<KeyValue> {
        let mut attributes = Vec::new();
        if let Some(problem) = &self.problem {
            attributes.push(KeyValue::new(
                TELEMETRY_PROPAGATION_PROBLEM,
                problem.clone(),
            ));
        }
        if self.has_parent()
            && let Some(parent) =
                DdState::from_trace_state(self.context.span().span_context().trace_state()).parent
        {
            attributes.push(KeyValue::new(DD_PARENT_ID, parent));
        }
        attributes
    }
}

/// A composite propagator built from an `OTEL_PROPAGATORS` list. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Propagator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    styles: Vec<Style>,
    fields: Vec<String>,
}

/// One trace style's view of the parent.
struct Candidate {
    style: Style,
    span_context: SpanContext,
}

impl Propagator {
    /// A propagator for these styles, in this order (duplicates ignored).
    pub fn new(styles: &[Style]) -> Self {
        let mut unique: Vec<Style> = Vec::with_capacity(styles.len());
        for style in styles {
            if !unique.contains(style) {
                unique.push(*style);
            }
        }
        let fields = unique
            .iter()
            .flat_map(|style| style.fields().iter().map(|field| (*field).to_owned()))
            .collect();
        Self {
            inner: Arc::new(Inner {
                styles: unique,
                fields,
            }),
        }
    }

    /// From an `OTEL_PROPAGATORS`-style list, with the names it did not know.
    pub fn parse(list: &str) -> (Self, Vec<String>) {
        let parsed = parse_styles(list);
        (Self::new(&parsed.styles), parsed.unknown)
    }

    /// From `OTEL_PROPAGATORS` (default `tracecontext,baggage,datadog`). Unknown names are
    /// ignored and reported once per process as a `tracing` warning.
    pub fn from_env() -> Self {
        let list = std::env::var("OTEL_PROPAGATORS").unwrap_or_default();
        let (propagator, unknown) = Self::parse(&list);
        warn_unknown_once(&unknown);
        propagator
    }

    /// The configured styles, in order.
    pub fn styles(&self) -> &[Style] {
        &self.inner.styles
    }

    /// Header names this propagator reads and writes.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.inner.fields.iter().map(String::as_str)
    }

    fn has(&self, style: Style) -> bool {
        self.inner.styles.contains(&style)
    }

    /// Extracts from `extractor` into an empty context (never the current one: a consumer must
    /// not inherit whatever context happens to be current on its thread).
    pub fn extract(&self, extractor: &dyn Extractor) -> Extracted {
        self.extract_with_context(&Context::new(), extractor)
    }

    /// Like [`Self::extract`], on top of `cx` (its values are kept; its span is replaced when a
    /// parent is found).
    pub fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Extracted {
        let mut problems: Vec<&'static str> = Vec::new();
        let mut candidates: Vec<Candidate> = Vec::with_capacity(2);
        for style in self.styles() {
            let found = match style {
                Style::TraceContext => w3c::extract(extractor, &mut problems),
                Style::Datadog => datadog::extract(extractor, &mut problems)
                    .map(|found| found.map(|dd| dd.span_context)),
                Style::Baggage => continue,
            };
            match found {
                Ok(Some(span_context)) => candidates.push(Candidate {
                    style: *style,
                    span_context,
                }),
                Ok(None) => {}
                Err(problem) => problems.push(problem),
            }
        }
        let (parent, links) = resolve(candidates);
        let mut context = match parent {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        };
        if self.has(Style::Baggage)
            && let Some(baggage) = baggage::extract(extractor)
        {
            context = context.with_baggage(baggage);
        }
        Extracted {
            context,
            links,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        }
    }

    /// Writes the headers of every configured style for `cx`'s span (and baggage). Nothing is
    /// written for a context without a valid span, except baggage.
    pub fn inject(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        for style in self.styles() {
            match style {
                Style::TraceContext if span_context.is_valid() => {
                    let mut outgoing = span_context.clone();
                    if self.has(Style::Datadog) {
                        // dd-trace keeps its `dd` member current: priority and `p:` = this span.
                        outgoing = SpanContext::new(
                            span_context.trace_id(),
                            span_context.span_id(),
                            span_context.trace_flags(),
                            span_context.is_remote(),
                            datadog::trace_state_for_injection(span_context),
                        );
                    }
                    w3c::inject(outgoing, injector);
                }
                Style::TraceContext => {}
                Style::Baggage => baggage::inject(cx.baggage(), injector),
                Style::Datadog => datadog::inject(span_context, injector),
            }
        }
    }
}

impl Default for Propagator {
    /// `tracecontext,baggage,datadog`.
    fn default() -> Self {
        Self::new(&[Style::TraceContext, Style::Baggage, Style::Datadog])
    }
}

impl TextMapPropagator for Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        self.inject(cx, injector);
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        Propagator::extract_with_context(self, cx, extractor).context
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(&self.inner.fields)
    }
}

/// dd-trace's conflict rules; see the module docs.
fn resolve(candidates: Vec<Candidate>) -> (Option<SpanContext>, Vec<SpanContext>) {
    let mut candidates = candidates.into_iter();
    let Some(primary) = candidates.next() else {
        return (None, Vec::new());
    };
    let mut parent = primary.span_context.clone();
    let mut links = Vec::new();
    for other in candidates {
        if other.span_context.trace_id() != primary.span_context.trace_id() {
            links.push(other.span_context);
            continue;
        }
        let (w3c, dd) = match (primary.style, other.style) {
            (Style::TraceContext, Style::Datadog) => (&primary, &other),
            (Style::Datadog, Style::TraceContext) => (&other, &primary),
            _ => continue,
        };
        parent = merge_agreeing(&primary, w3c, dd);
    }
    (Some(parent), links)
}

fn merge_agreeing(primary: &Candidate, w3c: &Candidate, dd: &Candidate) -> SpanContext {
    let flags = primary.span_context.trace_flags();
    let w3c_state = w3c.span_context.trace_state();
    let mut state = DdState::from_trace_state(w3c_state);
    let header_state = DdState::from_trace_state(dd.span_context.trace_state());
    if primary.style == Style::Datadog || state.priority.is_none() {
        // The priority must agree with the sampling decision we keep (the primary's).
        state.priority = header_state
            .priority
            .filter(|priority| (*priority > 0) == flags.is_sampled())
            .or(state.priority);
    }
    if primary.style == Style::Datadog || state.origin.is_none() {
        state.origin = header_state.origin.or(state.origin);
    }
    if (primary.style == Style::Datadog && !header_state.tags.is_empty()) || state.tags.is_empty() {
        state.tags = header_state.tags;
    }
    if dd.span_context.span_id() != w3c.span_context.span_id() && state.parent.is_none() {
        state.parent = Some(format!("{:016x}", dd.span_context.span_id()));
    }
    SpanContext::new(
        w3c.span_context.trace_id(),
        w3c.span_context.span_id(),
        flags,
        true,
        state.store_in(w3c_state),
    )
}

static UNKNOWN_WARNED: AtomicBool = AtomicBool::new(false);

/// Warns about unknown `OTEL_PROPAGATORS` names, once per process whoever asks.
pub(crate) fn warn_unknown_once(unknown: &[String]) {
    // Before a subscriber is installed the warning would be lost: keep it for later.
    if !unknown.is_empty()
        && tracing::dispatcher::has_been_set()
        && !UNKNOWN_WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(
            target: "telemetry",
            unknown = %unknown.join(","),
            "OTEL_PROPAGATORS lists propagators this service does not support; they are ignored"
        );
    }
}

static GLOBAL: RwLock<Option<Propagator>> = RwLock::new(None);

/// Makes `propagator` the one [`propagator()`] returns (done by `init`).
#[cfg(feature = "otlp")]
pub(crate) fn set_global(propagator: Propagator) {
    let mut global = GLOBAL
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *global = Some(propagator);
}

/// The propagator installed by `init` (or a `Builder`, feature `otlp`); before that, or
/// without that feature, one built from `OTEL_PROPAGATORS`.
pub fn propagator() -> Propagator {
    if let Some(propagator) = GLOBAL
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .as_ref()
    {
        return propagator.clone();
    }
    let propagator = Propagator::from_env();
    let mut global = GLOBAL
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    global.get_or_insert(propagator).clone()
}
