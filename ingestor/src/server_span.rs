//! The SERVER span of a request, continuing the caller's trace.
//!
//! The caller's context comes from its headers through the telemetry crate's propagator
//! (W3C `traceparent`, or Datadog `x-datadog-*`, as `OTEL_PROPAGATORS` says); a second, disagreeing
//! context becomes a span link and unusable headers are noted on the span. The span is made
//! the current OpenTelemetry context while the handler runs, which is how the producer span
//! becomes its child without the handler touching any of it. The span is built on the
//! OpenTelemetry API directly rather than through `tracing`: one span per request on the hot
//! path, and the OpenTelemetry SDK is the cheaper of the two routes to the exporter.

use std::borrow::Cow;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{Version, header};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{FutureExt, Link, SpanKind, Status, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};

use crate::app::{AppState, Refusal};

/// Runs the rest of the request inside a SERVER span named `{method} {route}`.
pub(crate) async fn trace_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let extracted = telemetry::http::extract(request.headers());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());

    let mut attributes = Vec::with_capacity(12);
    attributes.push(KeyValue::new("http.request.method", method.clone()));
    if let Some(route) = &route {
        attributes.push(KeyValue::new("http.route", route.clone()));
    }
    attributes.push(KeyValue::new("url.path", request.uri().path().to_owned()));
    attributes.push(KeyValue::new("url.scheme", "http"));
    attributes.push(KeyValue::new("network.protocol.name", "http"));
    attributes.push(KeyValue::new(
        "network.protocol.version",
        protocol_version(request.version()),
    ));
    if let Some((host, port)) = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(split_host)
    {
        attributes.push(KeyValue::new("server.address", host.to_owned()));
        if let Some(port) = port {
            attributes.push(KeyValue::new("server.port", i64::from(port)));
        }
    }
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        attributes.push(KeyValue::new("client.address", peer.ip().to_string()));
        attributes.push(KeyValue::new("network.peer.port", i64::from(peer.port())));
    }
    if let Some(agent) = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        attributes.push(KeyValue::new("user_agent.original", agent.to_owned()));
    }
    if let Some(problem) = extracted.problem {
        attributes.push(KeyValue::new("telemetry.propagation.problem", problem));
    }

    let name: Cow<'static, str> = match &route {
        Some(route) => format!("{method} {route}").into(),
        None => method.into(),
    };
    let tracer = state.tracer();
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attributes)
        .with_links(extracted.links.into_iter().map(Link::with_context).collect())
        .start_with_context(tracer, &extracted.context);
    let cx = extracted.context.with_span(span);

    let response = next.run(request).with_context(cx.clone()).await;

    end_span(&cx, &response);
    response
}

fn end_span(cx: &Context, response: &Response) {
    let span = cx.span();
    let status = response.status();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
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
        span.set_attribute(KeyValue::new("error.type", status.as_str().to_owned()));
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
        assert_eq!(split_host("127.0.0.1:3000"), Some(("127.0.0.1", Some(3000))));
        assert_eq!(split_host("example.com"), Some(("example.com", None)));
        assert_eq!(split_host("[::1]:8080"), Some(("::1", Some(8080))));
        assert_eq!(split_host("[::1]"), Some(("::1", None)));
        assert_eq!(split_host("h:notaport"), None);
        assert_eq!(split_host(""), None);
    }
}
