//! One client connection: handshake and version choice, then an event loop that moves frames
//! both ways, translates them when the two sides speak different versions, and feeds the query
//! spans.
//!
//! The pieces, in the order a connection meets them:
//! - `setup`: TLS with the client, the client's handshake, the upstream connection (`connect`:
//!   hedged, with the FalkorDB handshake workarounds) and the version choice (`negotiation`).
//!   The version is chosen once both handshakes are under way: the client's opening is read,
//!   the upstream is asked for what the client takes (manifest v1 first when the client
//!   proposed it first), and `Negotiation` decides what the client is offered: one version for
//!   a classic client, a manifest of everything servable for a manifest client, whose choice
//!   then goes upstream in front of its first messages.
//! - `event_loop`: a single task with no locks: reads from both sides, writes to both sides,
//!   the idle timer and the shutdown signal are branches of one `select!`. Writes are queued
//!   into a buffer per side and flushed as one batch; reading a side pauses while the other
//!   side's write buffer is over a high-water mark, so a slow reader on either end cannot make
//!   the proxy buffer without bound, and neither side can deadlock the other. It ends with a
//!   `Stop` (`stop`: what each reason tells the client, the log and the spans); a connection
//!   still in its set-up when the proxy starts shutting down is closed unanswered.
//! - `client_side` handles the frames from the client, `upstream_side` those from the server,
//!   `login` the HELLO and LOGON of both, which a translation splits and folds back.
//! - `quirks`: the FalkorDB workarounds, decided once from the configuration.
//!
//! Requests in flight are kept in a FIFO ([`Pending`]): every request gets exactly one summary
//! (SUCCESS, FAILURE or IGNORED) and RECORDs belong to the request at the front.

mod client_side;
mod connect;
mod event_loop;
mod login;
mod negotiation;
mod quirks;
mod setup;
mod stop;
mod upstream_side;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::ProxyConfig;
use crate::routing;
use crate::socket::{SocketRead, SocketWrite};
use crate::trace::{Queries, QueryId, QueryTracing, SpanFacts};
use crate::upstream::Upstream;
use bolt::{Limits, Map, MessageReader, MessageWriter, Version};
use quirks::Quirks;

/// How long the proxy spends telling a client why its connection ends before closing anyway.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// What all connections share.
pub(crate) struct Shared {
    pub config: ProxyConfig,
    upstream: Upstream,
    /// TLS for clients, when configured.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The prepared queries, tracer and metrics of every connection's query spans.
    pub query_tracing: Arc<QueryTracing>,
    /// The server workarounds, decided once from `config`.
    quirks: Quirks,
    /// The upstream fails handshakes that offer Bolt 4 (see `connect::connect_upstream`).
    v5_only: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        config: ProxyConfig,
        upstream: Upstream,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> Shared {
        Shared {
            query_tracing: Arc::new(QueryTracing::new(config.normalizer_cache_bytes)),
            quirks: Quirks::for_config(&config),
            v5_only: AtomicBool::new(false),
            config,
            upstream,
            tls,
        }
    }
}

/// The proxy's lifecycle, as connections see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Running,
    /// Shutting down: finish what is in flight, then close.
    Draining,
    /// Grace period over: close now.
    Closing,
}

/// Serves one client connection to its end. Never fails: problems end this connection only.
pub(crate) async fn serve(
    client: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
) {
    let opened = tokio::select! {
        opened = setup::open(client, peer, &shared) => opened,
        () = shutting_down(&mut phase) => {
            // Accepted just before the listener closed, and not answered yet: the client sees
            // its connection closed, as it would a moment later, and can retry elsewhere. Served,
            // it would be answered and then closed at once, or wait for a slow upstream
            // handshake to finish first.
            tracing::debug!(%peer, "bolt-proxy: shutting down, closing a connection still in its handshake");
            None
        }
    };
    let Some(opened) = opened else {
        return;
    };
    let mut session = Session::new(&shared, opened.proxy_addr, opened.versions);
    let stop = session
        .run(opened.io, shared.config.idle_timeout, phase)
        .await;
    tracing::debug!(%peer, reason = ?stop, "bolt-proxy: connection closed");
}

/// Completes once the proxy is shutting down (at once if it already is); never when the proxy
/// is gone without saying so.
async fn shutting_down(phase: &mut watch::Receiver<Phase>) {
    if phase.wait_for(|p| *p != Phase::Running).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A request in flight, waiting for its summary.
#[derive(Debug)]
enum Pending {
    /// RUN of query span `QueryId`.
    Run(QueryId),
    /// PULL or DISCARD reading the stream of that query (if it is still open).
    Stream(Option<QueryId>),
    /// Translation: a DISCARD sent as PULL; its records are dropped here.
    Discarding(Option<QueryId>),
    /// BEGIN.
    Begin,
    /// COMMIT or ROLLBACK.
    TxEnd,
    /// RESET.
    Reset,
    /// HELLO answered as is (passthrough, or translation to 5.0 where auth stays in HELLO).
    Hello,
    /// Translation: the HELLO half of a split 4.4 HELLO; its SUCCESS is held back.
    HelloHalf,
    /// Translation: the LOGON half; answers the client. `swallow` when HELLO already failed
    /// and the client has its answer.
    LogonHalf { swallow: bool },
    /// ROUTE: its routing table will name this address (see [`routing`]).
    Route(String),
    /// LOGON: the advertised address in its answer (5.8+) will be this one.
    Logon(String),
    /// Anything else, forwarded as is.
    Other,
    /// Already answered IGNORED by the proxy after a FAILURE: the server's answer is dropped.
    Answered,
}

impl Pending {
    /// Whether the client waits for a summary for this entry (the HELLO half of a split HELLO
    /// is answered through its LOGON half).
    fn client_visible(&self) -> bool {
        !matches!(
            self,
            Pending::HelloHalf | Pending::LogonHalf { swallow: true } | Pending::Answered
        )
    }
}

/// Both sides of the connection, as messages.
struct Io {
    client_r: MessageReader<SocketRead>,
    client_w: MessageWriter<SocketWrite>,
    up_r: MessageReader<SocketRead>,
    up_w: MessageWriter<SocketWrite>,
}

impl Io {
    /// Over the halves of the client's and the upstream's connections, with messages up to
    /// `max` bytes.
    fn new(
        client: (SocketRead, SocketWrite),
        upstream: (SocketRead, SocketWrite),
        max: usize,
    ) -> Io {
        Io {
            client_r: MessageReader::with_max_message_size(client.0, max),
            client_w: MessageWriter::new(client.1),
            up_r: MessageReader::with_max_message_size(upstream.0, max),
            up_w: MessageWriter::new(upstream.1),
        }
    }
}

/// The state of one connection once both handshakes are done.
struct Session {
    translate: bool,
    /// The configured address routing tables name, if any.
    advertised: Option<String>,
    /// The proxy address this client's connection reached.
    proxy_addr: SocketAddr,
    /// The address the driver says it dialed (HELLO's routing context), if it said.
    dialed: Option<String>,
    quirks: Quirks,
    /// Translation only: the 4.4 client negotiated UTC DateTimes.
    utc: bool,
    client_version: Version,
    upstream_version: Version,
    pending: VecDeque<Pending>,
    queries: Queries,
    hello_stash: Option<Map>,
    /// The query whose RUN was answered with no PULL or DISCARD in flight: FalkorDB streams
    /// its records and summary right away, unasked (measured), and they belong to it.
    unasked: Option<QueryId>,
    /// PULLs or DISCARDs the server answered before the client sent them (see `unasked`): the
    /// server will not answer them again, so they are forwarded without waiting for an answer.
    answered_early: u32,
    /// A FAILURE was forwarded and no RESET sent since: the server ignores every request until
    /// RESET, so the proxy answers IGNORED itself (see `Session::ignore_in_flight`).
    failed: bool,
    limits: Limits,
}

impl Session {
    /// A session between a client speaking `client_version` and an upstream speaking
    /// `upstream_version`, which this client reached at `proxy_addr`.
    fn new(
        shared: &Shared,
        proxy_addr: SocketAddr,
        (client_version, upstream_version): (Version, Version),
    ) -> Session {
        let translate = client_version != upstream_version;
        let facts = SpanFacts {
            server_address: shared.upstream.host().clone(),
            server_port: i64::from(shared.upstream.port()),
            client_version,
            upstream_version,
            translated: translate,
        };
        Session {
            translate,
            advertised: shared.config.advertised_address.clone(),
            proxy_addr,
            dialed: None,
            quirks: shared.quirks,
            utc: false,
            client_version,
            upstream_version,
            pending: VecDeque::with_capacity(8),
            queries: Queries::new(&facts, Arc::clone(&shared.query_tracing)),
            hello_stash: None,
            unasked: None,
            answered_early: 0,
            failed: false,
            limits: Limits::default(),
        }
    }

    /// The address routing tables and LOGON answers name for this client (see
    /// [`routing::advertised_address`]).
    fn advertised_address(&self, dialed: Option<&str>) -> String {
        routing::advertised_address(self.advertised.as_deref(), dialed, || {
            self.proxy_addr.to_string()
        })
    }

    /// Requests in flight or result streams not yet read to the end.
    fn busy_requests(&self) -> bool {
        !self.pending.is_empty() || self.queries.any_open()
    }

    /// What a graceful shutdown waits for: requests, open streams and open transactions.
    fn busy(&self) -> bool {
        self.busy_requests() || self.queries.in_transaction()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolt::{Handshake, Proposal};
    use tokio::net::TcpListener;
    use tokio::time::timeout;

    #[tokio::test]
    async fn a_connection_still_in_its_handshake_is_closed_when_the_proxy_starts_draining() {
        // An upstream that accepts and never answers: the client's set-up waits on it.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Upstream::new(&silent.local_addr().unwrap().to_string(), None).unwrap();
        let shared = Arc::new(Shared::new(ProxyConfig::default(), upstream, None));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (accepted, peer) = listener.accept().await.unwrap();
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let serving = tokio::spawn(serve(accepted, peer, shared, phase_rx));
        let answer = tokio::spawn(async move {
            let hs = Handshake::new(&[Proposal::exact(Version::V4_4)]);
            bolt::handshake::client_open(&mut client, &hs).await
        });
        let _upstream_side = silent.accept().await.unwrap();

        phase_tx.send(Phase::Draining).unwrap();
        // Well within the handshake timeout (10 s), and with no version answered.
        let answer = timeout(Duration::from_secs(2), answer)
            .await
            .expect("closed at once")
            .unwrap();
        assert!(answer.is_err(), "{answer:?}");
        timeout(Duration::from_secs(2), serving)
            .await
            .expect("the connection's task ends")
            .unwrap();
    }
}
