//! Carriers for `http::HeaderMap`, for HTTP servers and clients.
//!
//! Extraction takes the last value of a repeated header (the same hygiene rule as Kafka),
//! except `tracestate` and `baggage`, which HTTP allows to be split over several header lines
//! and which are therefore joined with commas. Values that are not visible ASCII are ignored.
//! Injection first removes every trace header already present.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};

use crate::propagation::{Extracted, Propagator, is_trace_header, propagator};

/// Reads trace headers from a `HeaderMap`.
#[derive(Debug)]
pub struct HeaderExtractor<'a> {
    headers: &'a HeaderMap,
    joined: Vec<(&'static str, String)>,
}

impl<'a> HeaderExtractor<'a> {
    /// Wraps `headers`.
    pub fn new(headers: &'a HeaderMap) -> Self {
        let joined = ["tracestate", "baggage"]
            .into_iter()
            .filter_map(|name| {
                let values: Vec<&str> = headers
                    .get_all(name)
                    .iter()
                    .filter_map(|value| value.to_str().ok())
                    .collect();
                (values.len() > 1).then(|| (name, values.join(",")))
            })
            .collect();
        Self { headers, joined }
    }
}

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if let Some((_, value)) = self
            .joined
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
        {
            return Some(value);
        }
        self.headers
            .get_all(key)
            .iter()
            .rev()
            .find_map(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.headers.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes trace headers into a `HeaderMap`, replacing any value already there.
#[derive(Debug)]
pub struct HeaderInjector<'a>(pub &'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Removes every trace header (`traceparent`, `tracestate`, `baggage`, `x-datadog-*`).
pub fn strip(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| is_trace_header(name.as_str()))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// Extracts the caller's context with the global [`propagator()`].
pub fn extract(headers: &HeaderMap) -> Extracted {
    extract_with(&propagator(), headers)
}

/// Extracts with a given propagator.
pub fn extract_with(propagator: &Propagator, headers: &HeaderMap) -> Extracted {
    propagator.extract(&HeaderExtractor::new(headers))
}

/// Replaces the trace headers of `headers` by those of `cx`, with the global [`propagator()`].
pub fn inject(cx: &Context, headers: &mut HeaderMap) {
    inject_with(&propagator(), cx, headers);
}

/// Like [`inject`], with a given propagator.
pub fn inject_with(propagator: &Propagator, cx: &Context, headers: &mut HeaderMap) {
    strip(headers);
    propagator.inject(cx, &mut HeaderInjector(headers));
}
