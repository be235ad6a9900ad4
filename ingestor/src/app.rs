//! The HTTP surface: routes, handlers and the JSON error bodies.
//!
//! | route | answer |
//! |---|---|
//! | `POST /transactions` | `202 {"id"}` once the broker acknowledged the record; `400` invalid body (a timestamp too far in the future included), `413` body over 64 KiB, `415` not `application/json`, `503` + `Retry-After` when the broker did not acknowledge in time |
//! | `GET /healthz` | `200` while the process serves requests |
//! | `GET /readyz` | `200` when the broker answers a metadata request for the topic, else `503` |
//!
//! Every error body is `{"error": code, "field": name-or-null, "message": text}`; messages name
//! fields and rules, never the values that were sent. On any route, a request past the edge's
//! cap on requests in flight, or a connection past its cap on open connections, is answered
//! `503 {"error": "overloaded"}` with `Retry-After` by the edge before it reaches a handler.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody};
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_edge::EdgeLimits;
use opentelemetry::global::{self, BoxedTracer};
use serde::Serialize;

use crate::body::{BodyReader, Invalid};
use crate::config::KafkaConfig;
use crate::error::Result;
use crate::producer::Publisher;
use crate::server_span::{Refusal, Traced, trace_request};

/// Largest accepted request body, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What every request shares: the producer, the tracer and the body reader; and how
/// [`serve`](crate::serve) serves them. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Shared>,
    tracer: Arc<BoxedTracer>,
    reader: BodyReader,
    shutdown_timeout: Duration,
    edge: EdgeLimits,
}

struct Shared {
    publisher: Publisher,
    retry_after: HeaderValue,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("publisher", &self.publisher)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the producer for `kafka`. Spans go to the global tracer provider as it is now,
    /// so install telemetry (`telemetry::init`) before calling this.
    pub fn new(kafka: &KafkaConfig) -> Result<Self> {
        Ok(Self::with_publisher(
            Publisher::new(kafka)?,
            kafka.retry_after_secs,
        ))
    }

    /// Wraps an existing publisher. `retry_after_secs` is the `Retry-After` of every `503`,
    /// the edge's included.
    pub fn with_publisher(publisher: Publisher, retry_after_secs: u32) -> Self {
        AppState {
            inner: Arc::new(Shared {
                publisher,
                retry_after: HeaderValue::from(retry_after_secs),
            }),
            tracer: Arc::new(global::tracer("ingestor")),
            reader: BodyReader::new(schema::DEFAULT_FUTURE_MARGIN),
            shutdown_timeout: Duration::from_secs(10),
            edge: EdgeLimits::default()
                .with_retry_after(Duration::from_secs(u64::from(retry_after_secs))),
        }
    }

    /// Refuses transactions dated more than `margin` ahead of the server's clock (default
    /// 5 minutes, [`schema::DEFAULT_FUTURE_MARGIN`]).
    pub fn with_future_margin(mut self, margin: Duration) -> Self {
        self.reader = BodyReader::new(margin);
        self
    }

    /// Bounds the draining of in-flight requests on shutdown, and then the producer flush
    /// (default 10 s).
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The shutdown timeout.
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// Serves under `limits` (header read, body read and idle timeouts, caps on open
    /// connections and on requests in flight, the `Retry-After` of their `503`s); default
    /// [`EdgeLimits::default`] with the `Retry-After` of [`AppState::with_publisher`]. Their
    /// drain timeout is replaced by the state's shutdown timeout.
    pub fn with_edge_limits(mut self, limits: EdgeLimits) -> Self {
        self.edge = limits;
        self
    }

    /// The edge's limits.
    pub fn edge_limits(&self) -> &EdgeLimits {
        &self.edge
    }

    /// The producer.
    pub fn publisher(&self) -> &Publisher {
        &self.inner.publisher
    }
}

/// The service's router, state included.
pub fn app(state: AppState) -> Router {
    // Only the business route is traced: health probes every few seconds would bury the
    // traces that matter.
    let traced = Traced {
        tracer: state.tracer.clone(),
        name: "POST /transactions",
        route: "/transactions",
    };
    let post_transaction = post_transaction
        .layer(axum::middleware::from_fn_with_state(traced, trace_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/transactions", post(post_transaction))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    field: Option<&'a str>,
    message: &'a str,
}

fn error_response(
    status: StatusCode,
    code: &'static str,
    field: Option<&str>,
    message: &str,
) -> Response {
    let body = ErrorBody {
        error: code,
        field,
        message,
    };
    (status, axum::Json(body)).into_response()
}

fn invalid(invalid: &Invalid) -> Response {
    let mut response = error_response(
        StatusCode::BAD_REQUEST,
        invalid.code(),
        invalid.field(),
        &invalid.to_string(),
    );
    // Unknown field names are client-chosen: they go to the client, not into spans or logs.
    response.extensions_mut().insert(Refusal {
        code: invalid.code(),
        field: invalid.schema_field().map(schema::Field::name),
    });
    response
}

fn refused(status: StatusCode, code: &'static str, message: &str) -> Response {
    let mut response = error_response(status, code, None, message);
    response
        .extensions_mut()
        .insert(Refusal { code, field: None });
    response
}

/// `application/json`, any case, parameters allowed (`; charset=utf-8`).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

#[derive(Serialize)]
struct Accepted<'a> {
    id: &'a str,
}

async fn post_transaction(State(state): State<AppState>, request: Request) -> Response {
    // The media type is checked before the body is read: no reason to buffer 64 KiB of
    // something we will refuse anyway.
    if !is_json(request.headers()) {
        return refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        );
    }
    let body = match Bytes::from_request(request, &state).await {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body exceeds 65536 bytes",
            );
        }
        Err(_) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                "request body could not be read",
            );
        }
    };
    let tx = match state.reader.read(&body) {
        Ok(tx) => tx,
        Err(e) => {
            tracing::debug!(
                code = e.code(),
                field = e.schema_field().map(schema::Field::name),
                "transaction refused"
            );
            return invalid(&e);
        }
    };
    // Says, at debug level, that a request is waiting on the broker: the SIGTERM test waits
    // for this line to know its requests are in flight.
    tracing::debug!("transaction valid, waiting for the broker's ack");
    match state.publisher().publish(&tx).await {
        Ok(_) => (StatusCode::ACCEPTED, axum::Json(Accepted { id: tx.id() })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, topic = state.publisher().topic(), "transaction not acknowledged");
            let mut response = refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the broker did not acknowledge the transaction in time; retry later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, state.inner.retry_after.clone());
            response
        }
    }
}

async fn healthz() -> Response {
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"status": "ok"})),
    )
        .into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.publisher().ready().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready"})),
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "unavailable", "reason": e.to_string()})),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, state.inner.retry_after.clone());
            response
        }
    }
}

async fn not_found() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", None, "no such route")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        None,
        "method not allowed on this route",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (v, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/json;charset=UTF-8", true),
            ("text/plain", false),
            ("application/jsonp", false),
            ("application/x-www-form-urlencoded", false),
            ("multipart/form-data; boundary=x", false),
        ] {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(v));
            assert_eq!(is_json(&h), ok, "{v}");
        }
    }
}
