//! The accept loop, the connection cap, and the drain on shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, Read as _, Write as _};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderValue;
use socket2::SockRef;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::limits::EdgeLimits;
use crate::service::OVERLOADED_BODY;
use crate::stats::{Counters, EdgeStats, Event};

/// How long the accept loop waits after an error other than a connection's own (typically
/// `EMFILE`: out of file descriptors), which would otherwise repeat at once in a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long `serve` waits, once the drain has timed out, for the connections to close.
const ABANDON_WAIT: Duration = Duration::from_secs(1);

/// Where the server is in its life; connections look at it each time they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Serving = 0,
    /// Shutdown requested: no new connections, idle ones closed, requests answered.
    Draining = 1,
    /// The drain timed out (or `serve` was dropped): every connection closes now.
    Abandon = 2,
}

/// What every connection of a server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: EdgeLimits,
    pub(crate) counters: Counters,
    pub(crate) connections: Slots,
    pub(crate) in_flight: Slots,
    pub(crate) retry_after: HeaderValue,
    /// The whole answer to a connection past the cap.
    refusal: Vec<u8>,
    /// A [`Stage`]: read with one atomic load each time a connection runs, where a channel's
    /// receiver would take a lock shared with every other connection.
    stage: AtomicU8,
    /// The connections' wakers, to wake them all when the stage changes.
    wakers: Mutex<HashMap<u64, Waker>>,
    next_waker: AtomicU64,
    /// Signalled when the last connection closes after shutdown was requested.
    drained: Notify,
}

impl Shared {
    pub(crate) fn stage(&self) -> Stage {
        match self.stage.load(Ordering::SeqCst) {
            0 => Stage::Serving,
            1 => Stage::Draining,
            _ => Stage::Abandon,
        }
    }

    /// Moves to `stage` (never back) and wakes every connection to see it.
    fn enter(&self, stage: Stage) {
        self.stage.fetch_max(stage as u8, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.values() {
            waker.wake_by_ref();
        }
    }

    /// Keeps `waker` to be woken when the stage changes; returns its key. A connection reads
    /// the stage after this, so it either sees a change or is woken by it.
    pub(crate) fn register(&self, waker: &Waker, key: Option<u64>) -> u64 {
        let key = key.unwrap_or_else(|| self.next_waker.fetch_add(1, Ordering::Relaxed));
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, waker.clone());
        key
    }

    pub(crate) fn unregister(&self, key: u64) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
    }

    /// Resolves once no connection is open.
    async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a close in between still wakes it.
            notified.as_mut().enable();
            if self.connections.taken() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A cap: slots taken without ever waiting for one. A plain counter rather than a semaphore,
/// whose release takes a lock that nothing here would ever wait on. Sequentially consistent,
/// like the stage: the last connection's close and the start of the drain each read what the
/// other wrote, so that one of them sees the server drained.
#[derive(Debug)]
pub(crate) struct Slots {
    taken: AtomicUsize,
    max: usize,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a slot if one is free; the caller gives it back with [`Slots::give_back`].
    pub(crate) fn take(&self) -> bool {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |taken| {
                (taken < self.max).then_some(taken + 1)
            })
            .is_ok()
    }

    /// Gives a slot back; true if it was the last one taken.
    pub(crate) fn give_back(&self) -> bool {
        self.taken.fetch_sub(1, Ordering::SeqCst) == 1
    }

    pub(crate) fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}

/// A connection's slot under the cap, given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot(pub(crate) Arc<Shared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let shared = &self.0;
        if shared.connections.give_back() && shared.stage() != Stage::Serving {
            shared.drained.notify_waiters();
        }
    }
}

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
            shared: Arc::new(Shared {
                connections: Slots::new(limits.max_connections),
                in_flight: Slots::new(limits.max_in_flight),
                retry_after: HeaderValue::from(retry_after),
                counters: Counters::new(),
                refusal,
                stage: AtomicU8::new(Stage::Serving as u8),
                wakers: Mutex::default(),
                next_waker: AtomicU64::new(0),
                drained: Notify::new(),
                limits,
            }),
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
        tokio::spawn(crate::connection::serve(
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
