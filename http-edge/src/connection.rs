//! One connection: hyper's HTTP/1.1 state machine under the edge's two timers.
//!
//! hyper has one timer of its own, `header_read_timeout`, but (in hyper 1.12) it starts as soon
//! as a connection is idle, so it also bounds the wait between keep-alive requests: it cannot give a short
//! header timeout and a long idle one together. The edge keeps the two apart as Go's
//! `http.Server` and nginx do, from what it sees of the connection:
//!
//! - *reading*: from the accept, or from the first byte after an idle spell, until the request
//!   reaches the service; bounded by the header read timeout;
//! - *busy*: from the request reaching the service until its response body is finished (or
//!   dropped); not bounded here: the request body has its own deadline (the service's
//!   `TimedBody`), and handlers bound their own work;
//! - *idle*: from then until the next byte arrives; bounded by the idle timeout.
//!
//! Every change of phase happens while hyper's connection future is polled (reads by the I/O
//! wrapper, service calls and response bodies by hyper), all in the connection's task, so the
//! deadline is worked out again after each poll and one timer per connection follows it.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::phase::{Expired, Phase};
use crate::service::EdgeService;
use crate::shared::{ConnectionSlot, Shared, Stage};
use crate::stats::Event;

/// The socket, telling the phase when bytes arrive.
struct Watched {
    stream: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.phase.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// How a connection ended.
enum Outcome {
    /// hyper finished with it: the client closed, asked to close, or broke the protocol.
    Closed(Result<(), hyper::Error>),
    /// The edge closed it: a phase outlived its timeout.
    Expired(Expired),
    /// The server gave up draining.
    Abandoned,
}

/// Serves `stream`, accepted at `accepted`, until the client goes, a timer expires, or the
/// server abandons draining. `slot` is the connection's slot under the cap: given back once the
/// socket is closed and the outcome counted, it tells the server's drain the connection is gone.
pub(crate) async fn serve(
    stream: TcpStream,
    accepted: Instant,
    peer: SocketAddr,
    router: Router,
    slot: ConnectionSlot,
) {
    let shared = slot.0.clone();
    let phase = Arc::new(Phase::new(slot, accepted));
    let io = TokioIo::new(Watched {
        stream,
        phase: phase.clone(),
    });
    let service = EdgeService::new(router, peer, phase.clone());
    // No timer is given to hyper, so its own header timeout stays off: the edge's timers
    // replace it (see the module's documentation).
    let mut conn = pin!(http1::Builder::new().serve_connection(io, service));
    let (first_deadline, _) = phase
        .deadline()
        .expect("a new connection reads its first request");
    let mut timer = pin!(tokio::time::sleep_until(first_deadline));
    let mut armed = first_deadline;
    let mut fired = false;
    let mut draining = false;
    let mut registration = Registration {
        shared: &shared,
        key: None,
        waker: None,
    };

    let outcome = poll_fn(|cx| {
        registration.keep(cx.waker());
        match shared.stage() {
            Stage::Serving => {}
            Stage::Draining => {
                if !draining {
                    draining = true;
                    // hyper closes the connection if it is idle, or after the response in
                    // progress.
                    conn.as_mut().graceful_shutdown();
                }
            }
            Stage::Abandon => return Poll::Ready(Outcome::Abandoned),
        }
        if let Poll::Ready(result) = conn.as_mut().poll(cx) {
            return Poll::Ready(Outcome::Closed(result));
        }
        // The timer is moved only when the deadline comes sooner (a new request header after
        // an idle spell); a later one is picked up when the armed one fires, which spares
        // resetting it twice per request.
        loop {
            let Some((deadline, expired)) = phase.deadline() else {
                return Poll::Pending;
            };
            if fired || deadline < armed {
                timer.as_mut().reset(deadline);
                armed = deadline;
                fired = false;
            }
            match timer.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) if armed >= deadline => {
                    return Poll::Ready(Outcome::Expired(expired));
                }
                Poll::Ready(()) => fired = true,
            }
        }
    })
    .await;

    match outcome {
        Outcome::Closed(Ok(())) | Outcome::Abandoned => {}
        Outcome::Closed(Err(error)) => tracing::trace!(%error, "connection ended with an error"),
        Outcome::Expired(Expired::Header) => shared.counters.record(
            Event::HeaderTimeout,
            millis(shared.limits.header_read_timeout),
        ),
        Outcome::Expired(Expired::Idle) => shared
            .counters
            .record(Event::IdleTimeout, millis(shared.limits.idle_timeout)),
    }
    // The socket closes with the connection; the slot is given back with the last handle on the
    // phase, which is the connection's or this one.
}

/// A connection's waker, kept by the server to wake it when the stage changes.
struct Registration<'a> {
    shared: &'a Shared,
    key: Option<u64>,
    waker: Option<Waker>,
}

impl Registration<'_> {
    /// Registers `waker` unless it is the one registered already (a task's waker seldom
    /// changes, so this is a comparison, not a lock, each time the connection runs).
    fn keep(&mut self, waker: &Waker) {
        if self
            .waker
            .as_ref()
            .is_some_and(|kept| kept.will_wake(waker))
        {
            return;
        }
        self.key = Some(self.shared.register(waker, self.key));
        self.waker = Some(waker.clone());
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shared.unregister(key);
        }
    }
}

fn millis(duration: std::time::Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
