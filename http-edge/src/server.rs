//! The accept loop, the connection cap, and the drain on shutdown.

use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};

use crate::connection;
use crate::limits::EdgeLimits;
use crate::service::OVERLOADED_BODY;
use crate::shared::{ConnectionSlot, Shared, Stage};
use crate::stats::{EdgeStats, Event};

/// How long the accept loop waits after an error other than a connection's own (typically
/// `EMFILE`: out of file descriptors), which would otherwise repeat at once in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `serve` waits, once the drain has timed out, for the connections to close.
const ABANDON_WAIT: Duration = Duration::from_secs(1);

/// Closes every connection if `serve` ends or is dropped before its drain is over.
struct AbandonOnDrop<'a>(&'a Shared);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.enter(Stage::Abandon);
    }
}

/// An HTTP/1.1 server for an axum [`Router`] under [`EdgeLimits`]. Cheap to clone: clones share
/// the limits, the caps and the counters, so one clone can serve while another reads
/// [`Server::stats`].
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let router = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// let server = http_edge::Server::new(http_edge::EdgeLimits::default());
/// let stats = server.clone().serve(listener, router, async {
///     let _ = tokio::signal::ctrl_c().await;
/// });
/// println!("{:?}", server.stats());
/// let last = stats.await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// A server that enforces `limits`.
    pub fn new(limits: EdgeLimits) -> Server {
        let retry_after = limits.retry_after_secs();
        let refusal = format!(
            "HTTP/1.1 503 Service Unavailable\r\n\
             retry-after: {retry_after}\r\n\
             content-type: application/json\r\n\
             content-length: {}\r\n\
             connection: close\r\n\r\n{OVERLOADED_BODY}",
            OVERLOADED_BODY.len()
        )
        .into_bytes();
        Server {
            shared: Arc::new(Shared::new(limits, refusal)),
        }
    }

    /// The limits it enforces.
    pub fn limits(&self) -> &EdgeLimits {
        &self.shared.limits
    }

    /// What it has done so far, and what is open now.
    pub fn stats(&self) -> EdgeStats {
        let shared = &self.shared;
        shared
            .counters
            .snapshot(shared.connections.taken(), shared.in_flight.taken())
    }

    /// Serves `router` on `listener` until `shutdown` completes, then drains, and returns the
    /// final [`Server::stats`].
    ///
    /// Each accepted connection gets `TCP_NODELAY` and its peer address as the request
    /// extension [`axum::extract::ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), and is
    /// served HTTP/1.1 with keep-alive under the limits. On shutdown the listener is closed at
    /// once (new connections are refused by the system), idle connections are closed, requests
    /// in flight are answered, each connection closes after its response, and whatever is
    /// still open when the drain timeout passes is closed.
    pub async fn serve<F>(self, listener: TcpListener, router: Router, shutdown: F) -> EdgeStats
    where
        F: Future<Output = ()> + Send,
    {
        let shared = &*self.shared;
        let _abandon = AbandonOnDrop(shared);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer, &router),
                    Err(error) if is_connection_error(&error) => {}
                    Err(_) => {
                        shared.counters.record(Event::AcceptError, ACCEPT_BACKOFF.as_millis() as u64);
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
        drop(listener);
        let drain_timeout = shared.limits.drain_timeout;
        tracing::info!(
            open_connections = shared.connections.taken(),
            "shutdown requested: draining in-flight requests"
        );
        shared.enter(Stage::Draining);
        if tokio::time::timeout(drain_timeout, shared.drained())
            .await
            .is_err()
        {
            tracing::warn!(
                timeout_ms = drain_timeout.as_millis() as u64,
                open_connections = shared.connections.taken(),
                "drain timed out; closing the connections still open"
            );
            shared.enter(Stage::Abandon);
            // Each connection closes as soon as its task runs again; only one stuck inside a
            // blocking call would not, and serve does not wait for that one.
            let _ = tokio::time::timeout(ABANDON_WAIT, shared.drained()).await;
        }
        self.stats()
    }

    /// Serves a new connection, or refuses it past the cap. Never waits.
    fn admit(&self, stream: TcpStream, peer: std::net::SocketAddr, router: &Router) {
        if !self.shared.connections.take() {
            refuse(&stream, &self.shared.refusal);
            self.shared.counters.record(
                Event::RefusedConnection,
                self.shared.limits.max_connections as u64,
            );
            return;
        }
        let slot = ConnectionSlot(self.shared.clone());
        // Responses are written in one go; Nagle would only hold the last segment back.
        let _ = stream.set_nodelay(true);
        self.shared.counters.connection();
        tokio::spawn(connection::serve(
            stream,
            tokio::time::Instant::now(),
            peer,
            router.clone(),
            slot,
        ));
    }
}

/// Answers a connection past the cap with a minimal `503` and closes it, all without waiting,
/// on the accept loop: a refused connection costs neither a task nor a descriptor beyond this
/// call.
///
/// The answer is written before any request is read (a client reads it when it reads its
/// response) straight to the socket: tokio's `try_write` would see a socket the reactor has not
/// reported writable yet and write nothing. Whatever the client already sent is read and
/// discarded first, since closing a socket with unread data makes the system reset the
/// connection instead of closing it, which can discard the answer before the client reads it.
/// A client whose request arrives after the close may still see a reset; either way the
/// connection is gone and no slot was taken.
fn refuse(stream: &TcpStream, answer: &[u8]) {
    let socket = SockRef::from(stream);
    let _ = (&*socket).write(answer);
    let mut discard = [0u8; 4096];
    for _ in 0..4 {
        match (&*socket).read(&mut discard) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Errors that concern one connection only (it went away before it was accepted).
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
