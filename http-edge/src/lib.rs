//! The services' HTTP edge: an axum [`Router`](axum::Router) served over HTTP/1.1 under limits
//! that keep slow or greedy clients from taking the server away from the others.
//!
//! [`serve`] does what `axum::serve` does (each connection with `TCP_NODELAY` and
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), keep-alive, graceful shutdown:
//! stop accepting, answer what is in flight, close idle connections, within a drain timeout)
//! and enforces [`EdgeLimits`]:
//!
//! - a **header read timeout**: a connection that does not send a complete request header in
//!   time, from its accept or from the first byte of a later request, is closed (the
//!   slow-header attack: thousands of connections each sending half a header and then nothing);
//! - a **body read timeout**: a request body must arrive in full within it, so that clients
//!   trickling bodies cannot hold the slots of the in-flight cap;
//! - an **idle timeout**: a keep-alive connection with no new request in that time is closed;
//! - a cap on **open connections**: past it a new connection is answered a minimal `503` with
//!   `Retry-After` and closed at once, on the accept loop, which never waits for a slot. The
//!   answer costs one non-blocking write and tells a client or a load balancer to come back
//!   later or go elsewhere, where a bare close looks like a network fault that clients retry at
//!   once; waiting for a slot instead (leaving connections in the kernel's accept queue, as
//!   HAProxy does at its `maxconn`) would leave callers hanging with no answer at all;
//! - a cap on **requests in flight**: past it a request is answered `503` with `Retry-After`
//!   at once, without reaching the router. Nothing waits in a queue.
//!
//! hyper's own `header_read_timeout` is not used: it also runs while a keep-alive connection is
//! idle, so it cannot be short for headers and long for idle connections at once; the edge
//! keeps one timer per connection that follows the connection's phase, as Go's `http.Server`
//! (`ReadHeaderTimeout`, `IdleTimeout`) and nginx (`client_header_timeout`,
//! `keepalive_timeout`) do.
//!
//! Refusals and timeouts are counted ([`Server::stats`]) and logged at warn level, at most one
//! line per kind every 10 s with the count since the previous line, never with anything a
//! client sent; idle connections closed in the normal course are counted and logged at debug.
//!
//! HTTP/1.1 only, as the services served before (HTTP/2 would need limits of its own: streams
//! per connection, pings).

mod connection;
mod limits;
mod phase;
mod server;
mod service;
mod shared;
mod stats;

use std::future::Future;

pub use limits::{
    DEFAULT_BODY_READ_TIMEOUT, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_RETRY_AFTER,
    EdgeLimits, default_max_connections,
};
pub use server::Server;
pub use stats::EdgeStats;

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then drains (see
/// [`Server::serve`]); returns what the edge counted. Use [`Server`] to read the counters while
/// it serves.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: EdgeLimits,
    shutdown: F,
) -> EdgeStats
where
    F: Future<Output = ()> + Send,
{
    Server::new(limits).serve(listener, router, shutdown).await
}
