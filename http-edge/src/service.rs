//! hyper's service for one connection: the in-flight cap in front of the router, the body
//! read timeout on the request body, and the request's end as the connection's phase sees it.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::routing::future::RouteFuture;
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};
use tower_service::Service as _;

use crate::phase::{Phase, after};
use crate::stats::Event;

/// The body of both `503`s: the shape of the ingestor's error bodies.
pub(crate) const OVERLOADED_BODY: &str = r#"{"error":"overloaded","field":null,"message":"the server is at capacity; retry after the Retry-After delay"}"#;

/// One connection's service: counts the request in flight, or refuses it past the cap.
pub(crate) struct EdgeService {
    router: Router,
    peer: SocketAddr,
    phase: Arc<Phase>,
}

impl EdgeService {
    pub(crate) fn new(router: Router, peer: SocketAddr, phase: Arc<Phase>) -> EdgeService {
        EdgeService {
            router,
            peer,
            phase,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for EdgeService {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = EdgeFuture;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        self.phase.request_started();
        let shared = self.phase.shared();
        if !shared.in_flight.take() {
            shared
                .counters
                .record(Event::RefusedRequest, shared.limits.max_in_flight as u64);
            let exchange = Exchange {
                phase: self.phase.clone(),
                in_flight: false,
            };
            let response = overloaded(&shared.retry_after);
            return EdgeFuture::Refused(Some(response.map(|body| EdgeBody::new(body, exchange))));
        }
        let exchange = Exchange {
            phase: self.phase.clone(),
            in_flight: true,
        };
        // What `into_make_service_with_connect_info::<SocketAddr>` gave the handlers.
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let request = request.map(|body| TimedBody::new(body, self.phase.clone()));
        EdgeFuture::Routed {
            routed: self.router.clone().call(request),
            exchange: Some(exchange),
        }
    }
}

/// The answer of [`EdgeService`]: the refusal, or the router's answer with the request's
/// [`Exchange`] moved into its body.
pub(crate) enum EdgeFuture {
    Refused(Option<Response<EdgeBody>>),
    Routed {
        routed: RouteFuture<Infallible>,
        exchange: Option<Exchange>,
    },
}

impl Future for EdgeFuture {
    type Output = Result<Response<EdgeBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            EdgeFuture::Refused(response) => {
                Poll::Ready(Ok(response.take().expect("polled after it answered")))
            }
            EdgeFuture::Routed { routed, exchange } => {
                let response = match std::task::ready!(Pin::new(routed).poll(cx)) {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let exchange = exchange.take().expect("polled after it answered");
                Poll::Ready(Ok(response.map(|body| EdgeBody::new(body, exchange))))
            }
        }
    }
}

/// The `503` of a request past the in-flight cap. The connection stays open: the client may
/// send again on it once the `Retry-After` delay has passed.
fn overloaded(retry_after: &HeaderValue) -> Response<Body> {
    let mut response = Response::new(Body::from(Bytes::from_static(OVERLOADED_BODY.as_bytes())));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, retry_after.clone());
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A request from the service call to the end of its response: holds its in-flight slot, if it
/// has one, and tells the connection's phase when it is over.
pub(crate) struct Exchange {
    phase: Arc<Phase>,
    in_flight: bool,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.in_flight {
            self.phase.shared().in_flight.give_back();
        }
        self.phase.request_finished();
    }
}

/// The router's response body, holding the [`Exchange`] until hyper has written it all (or
/// dropped it with the connection).
pub(crate) struct EdgeBody {
    inner: Body,
    _exchange: Exchange,
}

impl EdgeBody {
    fn new(inner: Body, exchange: Exchange) -> EdgeBody {
        EdgeBody {
            inner,
            _exchange: exchange,
        }
    }
}

impl HttpBody for EdgeBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The request body, failing once the body read timeout has passed since the header arrived.
/// Its timer is only made if the body is not all there when first read, which it is for most
/// requests.
struct TimedBody {
    inner: Incoming,
    deadline: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    phase: Arc<Phase>,
    expired: bool,
}

impl TimedBody {
    fn new(inner: Incoming, phase: Arc<Phase>) -> TimedBody {
        TimedBody {
            inner,
            deadline: after(Instant::now(), phase.shared().limits.body_read_timeout),
            timer: None,
            phase,
            expired: false,
        }
    }
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.expired = true;
        let shared = this.phase.shared();
        let limits = &shared.limits;
        shared.counters.record(
            Event::BodyTimeout,
            u64::try_from(limits.body_read_timeout.as_millis()).unwrap_or(u64::MAX),
        );
        Poll::Ready(Some(Err(Box::new(BodyTimeout))))
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error of a request body that did not arrive in time.
#[derive(Debug)]
struct BodyTimeout;

impl fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body not complete within the body read timeout")
    }
}

impl std::error::Error for BodyTimeout {}
