//! Kafka: header carriers with the hygiene rules, a traced producer, a per-message consumer
//! scope, and the span of a transaction's commit.
//!
//! Hygiene: [`inject_headers`] removes every trace header already on the record
//! (`traceparent`, `tracestate`, `baggage`, `x-datadog-*`, whatever the configured styles) and
//! keeps the others, so a retried or forwarded record never carries two `traceparent`s;
//! [`extract_headers`] takes the last of duplicated headers and ignores values that are null or
//! not UTF-8.
//!
//! # Metrics
//!
//! The helpers measure what they trace, with the metrics of OpenTelemetry's messaging
//! conventions (instrumentation scope `telemetry`; both histograms with the conventions'
//! buckets, 5 ms to 10 s):
//!
//! | metric | unit | recorded by | attributes |
//! |---|---|---|---|
//! | `messaging.client.operation.duration` (histogram) | `s` | [`TracedProducer`]: each send, from its first enqueue attempt to the delivery report | `messaging.operation.name` `send`, `messaging.operation.type` `send`, `messaging.destination.partition.id` when known, `server.address` and `server.port` when known |
//! | | | [`SettleScope`]: each commit or abort | `messaging.operation.name` `commit` or `abort`, `messaging.operation.type` `settle`, `messaging.consumer.group.name` |
//! | `messaging.client.sent.messages` (counter) | `{message}` | [`TracedProducer`]: each record librdkafka accepted into its queue, when its delivery ends | as the send's duration, without the operation type |
//! | `messaging.client.consumed.messages` (counter) | `{message}` | [`ConsumeScope::start`]: each record delivered to the application | `messaging.operation.name` `poll`, `messaging.destination.partition.id`, `messaging.consumer.group.name` |
//! | `messaging.process.duration` (histogram) | `s` | [`ConsumeScope`], when it ends | `messaging.operation.name` `process`, `messaging.destination.partition.id`, `messaging.consumer.group.name` |
//!
//! Every one also has `messaging.system` `kafka`, `messaging.destination.name` (for a settlement,
//! when its records come from one topic), and `error.type` when the operation failed: the
//! rdkafka error code's name for sends (`QueueFull`, `MessageTimedOut`, ...), `cancelled` for a
//! send given up before its report, the caller's kind for processing and settlements,
//! `abandoned` for a scope dropped without an end. No key, offset, payload or other per-record
//! value is ever a metric attribute, so a topic's series stay few.
//!
//! A record librdkafka refuses (a full queue, a record too large) was never sent: its failed
//! send is in the duration, not in `messaging.client.sent.messages`.
//!
//! The instruments come from the global meter provider, made the first time one of these
//! helpers starts a span with a real tracer provider installed: a producer created before the
//! application sets up its telemetry records once it has. Without providers, nothing is
//! measured.

mod consumer;
mod instruments;
mod producer;
mod settle;

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::propagation::{Extracted, Propagator, is_trace_header, propagator};

pub use consumer::ConsumeScope;

pub use producer::{Delivery, OutgoingRecord, PendingDelivery, SendError, TracedProducer};
pub use settle::{SettleScope, Settlement};

/// Reads trace headers from Kafka headers ([`OwnedHeaders`] or `BorrowedHeaders`).
#[derive(Debug)]
pub struct HeadersExtractor<'a> {
    /// `(key, value)` of every header with a UTF-8 value, in record order.
    entries: Vec<(&'a str, &'a str)>,
}

impl<'a> HeadersExtractor<'a> {
    /// Wraps `headers`.
    pub fn new<H: Headers + ?Sized>(headers: &'a H) -> Self {
        let entries = (0..headers.count())
            .filter_map(|index| headers.try_get(index))
            .filter_map(|header| {
                let value = std::str::from_utf8(header.value?).ok()?;
                Some((header.key, value))
            })
            .collect();
        Self { entries }
    }
}

impl Extractor for HeadersExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        // The last duplicate wins: whoever appended last knew the newest context.
        self.entries
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| *value)
    }

    fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|(key, _)| *key).collect()
    }
}

/// Appends headers to [`OwnedHeaders`].
#[derive(Debug, Default)]
pub struct HeadersInjector {
    headers: Option<OwnedHeaders>,
}

impl HeadersInjector {
    /// Appends to `headers`.
    pub fn new(headers: OwnedHeaders) -> Self {
        Self {
            headers: Some(headers),
        }
    }

    /// The headers with what was injected.
    pub fn into_headers(self) -> OwnedHeaders {
        self.headers.unwrap_or_default()
    }
}

impl Injector for HeadersInjector {
    fn set(&mut self, key: &str, value: String) {
        let headers = self.headers.take().unwrap_or_default();
        self.headers = Some(headers.insert(Header {
            key,
            value: Some(value.as_str()),
        }));
    }
}

/// `existing` without its trace headers (a copy only when there is something to remove).
pub fn strip_trace_headers(existing: Option<OwnedHeaders>) -> OwnedHeaders {
    let Some(existing) = existing else {
        return OwnedHeaders::new();
    };
    let count = existing.count();
    let has_trace_header = (0..count)
        .filter_map(|index| existing.try_get(index))
        .any(|header| is_trace_header(header.key));
    if !has_trace_header {
        return existing;
    }
    let mut kept = OwnedHeaders::new_with_capacity(count + 6);
    for header in (0..count).filter_map(|index| existing.try_get(index)) {
        if !is_trace_header(header.key) {
            kept = kept.insert(Header {
                key: header.key,
                value: header.value,
            });
        }
    }
    kept
}

/// `existing` (or nothing) with its trace headers replaced by those of `cx`, using the global
/// [`propagator()`].
pub fn inject_headers(cx: &Context, existing: Option<OwnedHeaders>) -> OwnedHeaders {
    inject_headers_with(&propagator(), cx, existing)
}

/// Like [`inject_headers`], with a given propagator.
pub fn inject_headers_with(
    propagator: &Propagator,
    cx: &Context,
    existing: Option<OwnedHeaders>,
) -> OwnedHeaders {
    let mut injector = HeadersInjector::new(strip_trace_headers(existing));
    propagator.inject(cx, &mut injector);
    injector.into_headers()
}

/// Extracts the context carried by a record's headers, using the global [`propagator()`].
/// Accepts `message.headers()` of any rdkafka message.
pub fn extract_headers<H: Headers + ?Sized>(headers: Option<&H>) -> Extracted {
    extract_headers_with(&propagator(), headers)
}

/// Like [`extract_headers`], with a given propagator.
pub fn extract_headers_with<H: Headers + ?Sized>(
    propagator: &Propagator,
    headers: Option<&H>,
) -> Extracted {
    match headers {
        Some(headers) => propagator.extract(&HeadersExtractor::new(headers)),
        None => propagator.extract(&HeadersExtractor {
            entries: Vec::new(),
        }),
    }
}

/// The `error.type` for a Kafka error: the librdkafka error code's name as rdkafka spells it
/// (e.g. `MessageTimedOut`, `UnknownTopicOrPartition`), else the error's kind.
pub fn error_type(error: &rdkafka::error::KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => {
            let debug = format!("{error:?}");
            debug
                .split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .filter(|kind| !kind.is_empty())
                .unwrap_or("KafkaError")
                .to_owned()
        }
    }
}
