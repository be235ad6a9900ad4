//! The SERVER span of a request, continuing the caller's trace.
//!
//! The caller's context comes from its headers through the telemetry crate's propagator
//! (W3C `traceparent`, or Datadog `x-datadog-*`, as `OTEL_PROPAGATORS` says); a second, disagreeing
//! context becomes a span link and unusable headers are noted on the span. The span is made
//! the current OpenTelemetry context while the handler runs, which is how the producer span
//! becomes its child without the handler touching any of it (and how the handler's log lines
//! carry its trace and span ids). The span is built on the OpenTelemetry API directly rather
//! than as a `tracing` span bridged to OpenTelemetry: it is the one span of the hot path, and
//! it is recorded once, where it is exported.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{FutureExt, Link, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use telemetry::attribute::{
    CLIENT_ADDRESS, ERROR_TYPE, HTTP_REQUEST_METHOD, HTTP_RESPONSE_STATUS_CODE, HTTP_ROUTE,
    NETWORK_PROTOCOL_VERSION, SERVER_ADDRESS, SERVER_PORT, TELEMETRY_PROPAGATION_PROBLEM, URL_PATH,
    URL_SCHEME, USER_AGENT_ORIGINAL,
};

/// Why a request was refused, put on the response by the handler so the span can say why
/// without parsing bodies. Only names the service chose: a code and a schema field, never
/// anything the client wrote.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    /// The error code of the body (`invalid_value`, `payload_too_large`, ...).
    pub(crate) code: &'static str,
    /// The schema field at fault, if any.
    pub(crate) field: Option<&'static str>,
}

/// A traced route: the tracer, the span name and the `http.route` template, all fixed at build
/// time so a request allocates none of them.
#[derive(Clone)]
pub(crate) struct Traced {
    pub(crate) tracer: Arc<BoxedTracer>,
    /// `{METHOD} {route}`, e.g. `POST /transactions`.
    pub(crate) name: &'static str,
    /// The route template, e.g. `/transactions`.
    pub(crate) route: &'static str,
}

/// Runs the rest of the request inside a SERVER span.
pub(crate) async fn trace_request(
    State(traced): State<Traced>,
    request: Request,
    next: Next,
) -> Response {
    let extracted = telemetry::http::extract(request.headers());

    let mut attributes = Vec::with_capacity(10);
    attributes.push(KeyValue::new(
        HTTP_REQUEST_METHOD,
        method_name(request.method()),
    ));
    attributes.push(KeyValue::new(HTTP_ROUTE, traced.route));
    let path = request.uri().path();
    attributes.push(if path == traced.route {
        KeyValue::new(URL_PATH, traced.route)
    } else {
        KeyValue::new(URL_PATH, path.to_owned())
    });
    attributes.push(KeyValue::new(URL_SCHEME, "http"));
    attributes.push(KeyValue::new(
        NETWORK_PROTOCOL_VERSION,
        protocol_version(request.version()),
    ));
    if let Some((host, port)) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(split_host)
    {
        attributes.push(KeyValue::new(SERVER_ADDRESS, host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(port)));
        }
    }
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        attributes.push(KeyValue::new(CLIENT_ADDRESS, peer.ip().to_string()));
    }
    if let Some(agent) = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new(USER_AGENT_ORIGINAL, agent.to_owned()));
    }
    if let Some(problem) = extracted.problem {
        attributes.push(KeyValue::new(TELEMETRY_PROPAGATION_PROBLEM, problem));
    }

    let tracer = traced.tracer.as_ref();
    let span = tracer
        .span_builder(traced.name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .with_links(
            extracted
                .links
                .into_iter()
                .map(Link::with_context)
                .collect(),
        )
        .start_with_context(tracer, &extracted.context);
    let cx = extracted.context.with_span(span);

    let response = next.run(request).with_context(cx.clone()).await;

    end_span(&cx, &response);
    response
}

/// The method as semantic conventions want it: the known ones by name, anything else `_OTHER`
/// (a client-chosen method must not become an attribute value of unbounded cardinality).
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "_OTHER",
    }
}

fn end_span(cx: &Context, response: &Response) {
    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        HTTP_RESPONSE_STATUS_CODE,
        i64::from(status.as_u16()),
    ));
    if let Some(refusal) = response.extensions().get::<Refusal>() {
        span.set_attribute(KeyValue::new("ingestor.refusal.code", refusal.code));
        if let Some(field) = refusal.field {
            span.set_attribute(KeyValue::new("ingestor.refusal.field", field));
        }
    }
    // For a server, 4xx is the client's mistake and leaves the span unset; 5xx is ours.
    if status.is_server_error() {
        span.set_attribute(KeyValue::new(ERROR_TYPE, status.as_str().to_owned()));
        span.set_status(Status::error(
            status.canonical_reason().unwrap_or("server error"),
        ));
    }
    span.end();
}

fn protocol_version(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "0.9",
        Version::HTTP_10 => "1.0",
        Version::HTTP_2 => "2",
        Version::HTTP_3 => "3",
        _ => "1.1",
    }
}

/// `host[:port]` or `[v6][:port]` from a Host header.
fn split_host(value: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match value.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None if !value.is_empty() => Some((value, None)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers() {
        assert_eq!(
            split_host("127.0.0.1:3000"),
            Some(("127.0.0.1", Some(3000)))
        );
        assert_eq!(split_host("example.com"), Some(("example.com", None)));
        assert_eq!(split_host("[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(split_host("[::1]"), Some(("::1", None)));
        assert_eq!(split_host("h:notaport"), None);
        assert_eq!(split_host(""), None);
    }
}
