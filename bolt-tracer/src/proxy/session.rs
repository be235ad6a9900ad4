//! One client connection: handshake and version choice, then an event loop that moves frames
//! both ways, translates them when the two sides speak different versions, and feeds the query
//! spans.
//!
//! The version is chosen once both handshakes are under way: the client's opening is read, the
//! upstream is asked for what the client takes (manifest v1 first when the client proposed it
//! first), and [`Negotiation`] decides what the client is offered: one version for a classic
//! client, a manifest of everything servable for a manifest client, whose choice then goes
//! upstream in front of its first messages.
//!
//! The loop is a single task with no locks: reads from both sides, writes to both sides, the
//! idle timer and the shutdown signal are branches of one `select!`. Writes are queued into a
//! buffer per side and flushed as one batch; reading a side pauses while the other side's write
//! buffer is over a high-water mark, so a slow reader on either end cannot make the proxy buffer
//! without bound, and neither side can deadlock the other.
//!
//! Requests in flight are kept in a FIFO ([`Pending`]): every request gets exactly one summary
//! (SUCCESS, FAILURE or IGNORED) and RECORDs belong to the request at the front.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use super::ProxyConfig;
use super::routing;
use super::socket::{SocketRead, SocketWrite, tcp_halves, tls_halves};
use super::trace::{End, Queries, QueryId, SpanFacts};
use super::translate;
use super::upstream::Upstream;
use crate::bolt::handshake::{self, MANIFEST_V1, SUPPORTED};
use crate::bolt::message::{map_message_view, peek_signature, signature as sig};
use crate::bolt::{
    Answer, Choice, Frame, Handshake, Limits, Manifest, ManifestChoice, Map, MapView,
    MessageReader, MessageWriter, Proposal, Request, Response, RunView, Value, Version,
};
use crate::query_attrs::QueryAttrsCache;

/// Stop reading a side while this many bytes wait to be written to the other side.
const HIGH_WATER: usize = 256 * 1024;

/// How long the upstream gets to answer a handshake before another connection is tried
/// alongside the ones already waiting.
const HEDGE_AFTER: Duration = Duration::from_millis(200);

/// Most upstream connections tried at once for one client: one hedge, so a slow but healthy
/// server is not flooded.
const HANDSHAKE_ATTEMPTS: usize = 2;
/// The same with FalkorDB compatibility: enough to get past the handshakes FalkorDB leaves
/// unanswered (one per connection other clients ended with GOODBYE, see [`connect_upstream`])
/// within the handshake timeout.
const HANDSHAKE_ATTEMPTS_FALKORDB: usize = 32;

/// How long the proxy spends telling a client why its connection ends before closing anyway.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(1);

/// Neo4j's code for "the database cannot be reached right now": drivers retry on it.
const UNAVAILABLE: &str = "Neo.TransientError.General.DatabaseUnavailable";
/// Neo4j's code for a message that breaks the protocol.
const INVALID: &str = "Neo.ClientError.Request.Invalid";

/// What all connections share.
pub(crate) struct Shared {
    pub config: ProxyConfig,
    pub upstream: Upstream,
    /// TLS for clients, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub normalizer: Arc<cypher::Cache>,
    pub query_attrs: Arc<QueryAttrsCache>,
    /// The upstream fails handshakes that offer Bolt 4 (see [`connect_upstream`]).
    pub v5_only: AtomicBool,
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
    phase: watch::Receiver<Phase>,
) {
    // Bolt is request/response with small messages: Nagle's algorithm would add latency.
    let _ = client.set_nodelay(true);
    // A client host that vanishes while its connection is quiet is noticed within about a
    // minute, long before the idle timeout.
    let _ = super::upstream::keep_alive(&client, None);
    // Where this client reached the proxy: routing tables name it when nothing better is known.
    let proxy_addr = match client.local_addr() {
        Ok(a) => a,
        Err(_) => shared.config.listen,
    };
    let cfg = &shared.config;
    let deadline = Instant::now() + cfg.handshake_timeout;
    let (mut cr, mut cw) = match &shared.tls {
        None => tcp_halves(client),
        Some(acceptor) => match timeout_at(deadline, acceptor.accept(client)).await {
            Ok(Ok(tls)) => tls_halves(tls),
            Ok(Err(e)) => {
                // A plain Bolt client on a TLS port lands here too.
                tracing::debug!(%peer, error = %e, "bolt-proxy: TLS handshake with client failed, closing");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "bolt-proxy: client TLS handshake timed out, closing");
                return;
            }
        },
    };
    let hs = match timeout_at(deadline, handshake::read_handshake(&mut cr)).await {
        Ok(Ok(hs)) => hs,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "bolt-proxy: bad client handshake, closing");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "bolt-proxy: client handshake timed out, closing");
            return;
        }
    };
    // The client's ranges, best first; a manifest v1 proposal the client ranks above them is
    // answered with a manifest, after the upstream connection (see `Negotiation`).
    let acceptable = hs.acceptable(&SUPPORTED);
    let manifest = match hs.choose(&SUPPORTED, true) {
        Some(Choice::Manifest) => true,
        Some(Choice::Version(_)) => false,
        None => {
            tracing::debug!(%peer, "bolt-proxy: client offers no supported Bolt version");
            no_version(cw, deadline).await;
            return;
        }
    };
    // Ask the server for what the client takes, best first; a 4.4 client also accepts any 5.x
    // server, through translation. A client that offered nothing but the manifest may get
    // anything the proxy speaks.
    let mut wanted = if acceptable.is_empty() {
        SUPPORTED.to_vec()
    } else {
        acceptable.clone()
    };
    if wanted.contains(&Version::V4_4) {
        for v in SUPPORTED.iter().filter(|v| v.major == 5) {
            if !wanted.contains(v) {
                wanted.push(*v);
            }
        }
    }
    let farewell_version = if manifest { None } else { Some(acceptable[0]) };
    let (answer, up_r, up_w) =
        match timeout_at(deadline, connect_upstream(&shared, &wanted, manifest)).await {
            Ok(Ok(up)) => up,
            Ok(Err(crate::bolt::Error::NoCommonVersion)) => {
                tracing::warn!(%peer, "bolt-proxy: upstream speaks none of the client's versions");
                no_version(cw, deadline).await;
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(%peer, error = %e, "bolt-proxy: upstream unavailable");
                unavailable(cr, cw, farewell_version, deadline).await;
                return;
            }
            Err(_) => {
                tracing::warn!(%peer, "bolt-proxy: upstream connection timed out");
                // The handshake deadline has passed: the farewell gets its own.
                let farewell = Instant::now() + FAREWELL_TIMEOUT;
                unavailable(cr, cw, farewell_version, farewell).await;
                return;
            }
        };
    let Some(negotiation) = Negotiation::offer(&answer, manifest, &acceptable) else {
        tracing::warn!(%peer, "bolt-proxy: upstream speaks none of the client's versions");
        no_version(cw, deadline).await;
        return;
    };
    let (client_version, upstream_version, upstream_choice) = if manifest {
        let offer = Manifest::new(&negotiation.client_offer);
        let chosen = timeout_at(deadline, async {
            cw.write_all(&offer.to_bytes()).await?;
            cw.flush().await?;
            ManifestChoice::read(&mut cr).await
        })
        .await;
        let chosen = match chosen {
            Ok(Ok(c)) => c.version,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "bolt-proxy: client's manifest choice unreadable, closing");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "bolt-proxy: client's manifest choice timed out, closing");
                return;
            }
        };
        match chosen.and_then(|v| negotiation.serve(v)) {
            Some(versions) => versions,
            None => {
                // It chose nothing, or something not offered: no Bolt can follow.
                tracing::debug!(%peer, "bolt-proxy: client chose no offered version, closing");
                let _ = timeout(FAREWELL_TIMEOUT, cw.shutdown()).await;
                return;
            }
        }
    } else {
        // A classic client is offered exactly one version, which is served.
        let Some(versions) = negotiation.serve(negotiation.client_offer[0]) else {
            no_version(cw, deadline).await;
            return;
        };
        if cw.write_all(&versions.0.to_bytes()).await.is_err() || cw.flush().await.is_err() {
            return;
        }
        versions
    };
    let translate = client_version != upstream_version;
    tracing::debug!(%peer, client = %client_version, upstream = %upstream_version, translate, "bolt-proxy: connection open");
    let facts = SpanFacts {
        server_address: shared.upstream.host().clone(),
        server_port: i64::from(shared.upstream.port()),
        client_version,
        upstream_version,
        translated: translate,
    };
    let max = cfg.max_message_size;
    let mut session = Session {
        translate,
        advertised: cfg.advertised_address.clone(),
        proxy_addr,
        dialed: None,
        falkordb_compat: cfg.falkordb_compat,
        utc: false,
        client_version,
        upstream_version,
        pending: VecDeque::with_capacity(8),
        queries: Queries::new(
            &facts,
            shared.normalizer.clone(),
            shared.query_attrs.clone(),
        ),
        hello_stash: None,
        unasked: None,
        answered_early: 0,
        failed: false,
        limits: Limits::default(),
    };
    let mut io = Io {
        client_r: MessageReader::with_max_message_size(cr, max),
        client_w: MessageWriter::new(cw),
        up_r: MessageReader::with_max_message_size(up_r, max),
        up_w: MessageWriter::new(up_w),
    };
    if let Some(choice) = upstream_choice {
        // The end of the upstream's manifest handshake, which needs no answer: it goes out
        // with the client's first messages, or on its own at the session's first turn.
        io.up_w.queue_raw(&choice.to_bytes());
    }
    let stop = session.run(io, cfg.idle_timeout, phase).await;
    tracing::debug!(%peer, reason = ?stop, "bolt-proxy: connection closed");
}

/// What a client can be served over an upstream connection that has just answered its
/// handshake.
#[derive(Debug)]
struct Negotiation {
    /// The versions the upstream offered (manifest), or the one it chose.
    upstream: Vec<Version>,
    /// The upstream answered with a manifest and waits for the proxy's choice.
    upstream_manifest: bool,
    /// What the client may get, best first: the upstream's versions, and 4.4 through
    /// translation when the upstream speaks 5.x but not 4.4. A classic client gets exactly one.
    client_offer: Vec<Version>,
}

impl Negotiation {
    /// `None` when the client can be offered nothing.
    fn offer(answer: &Answer, manifest_client: bool, acceptable: &[Version]) -> Option<Self> {
        let (upstream, upstream_manifest) = match answer {
            Answer::Version(v) => (vec![*v], false),
            Answer::Manifest(m) => (m.versions(&SUPPORTED), true),
        };
        let mut client_offer = upstream.clone();
        if !client_offer.contains(&Version::V4_4) && client_offer.iter().any(|v| v.major == 5) {
            client_offer.push(Version::V4_4);
        }
        if !manifest_client {
            // Passing through wins over translating, then the client's preference.
            let pick = acceptable
                .iter()
                .find(|v| upstream.contains(v))
                .or_else(|| acceptable.iter().find(|v| client_offer.contains(v)));
            client_offer = pick.into_iter().copied().collect();
        }
        (!client_offer.is_empty()).then_some(Negotiation {
            upstream,
            upstream_manifest,
            client_offer,
        })
    }

    /// For the client's `chosen` version: the client's version, the upstream's, and the
    /// manifest choice the upstream waits for, if it does. `None` when `chosen` was not
    /// offered.
    fn serve(&self, chosen: Version) -> Option<(Version, Version, Option<ManifestChoice>)> {
        if !self.client_offer.contains(&chosen) {
            return None;
        }
        let upstream = if self.upstream.contains(&chosen) {
            chosen
        } else {
            // Translation: the client speaks 4.4, the upstream its best 5.x.
            self.upstream
                .iter()
                .copied()
                .filter(|v| v.major == 5)
                .max()?
        };
        let choice = self.upstream_manifest.then_some(ManifestChoice {
            version: Some(upstream),
            capabilities: 0,
        });
        Some((chosen, upstream, choice))
    }
}

/// The opening the proxy sends upstream: manifest v1 first when `manifest` (the only way to
/// reach Bolt 6.0; the client chose the manifest too), then `versions` as ranges, four slots
/// in all.
fn opening(manifest: bool, versions: &[Version]) -> Handshake {
    let mut proposals = Vec::with_capacity(4);
    if manifest {
        proposals.push(Proposal::Manifest(MANIFEST_V1));
    }
    proposals.extend(handshake::proposals_for(versions));
    proposals.truncate(4);
    Handshake::new(&proposals)
}

/// Connects to the upstream asking for `wanted` (best first), with manifest v1 first when
/// `manifest`, working around two handshake faults of FalkorDB (both measured):
/// - it closes the connection when a 4.x proposal comes before its 5.x one: the proxy then
///   offers the 5.x versions only, and remembers to do so for this upstream from then on;
/// - each connection a client ends with GOODBYE leaves one later handshake unanswered, for
///   good (abrupt closes leave nothing, nor does closing the unanswered connection): see
///   [`hedged_connect`]. With FalkorDB compatibility the proxy sends no GOODBYE of its own.
///
/// A manifest proposal goes before the ranges: FalkorDB 1.4 skips it (the 5.x Python driver
/// opens with one and reaches it directly).
async fn connect_upstream(
    shared: &Shared,
    wanted: &[Version],
    manifest: bool,
) -> crate::bolt::Result<(Answer, SocketRead, SocketWrite)> {
    let attempts = if shared.config.falkordb_compat {
        HANDSHAKE_ATTEMPTS_FALKORDB
    } else {
        HANDSHAKE_ATTEMPTS
    };
    let v5_only: Vec<Version> = wanted.iter().copied().filter(|v| v.major >= 5).collect();
    let preferred = opening(manifest, wanted);
    let fallback = opening(manifest, &v5_only);
    let offer_v4 =
        !v5_only.is_empty() && v5_only != wanted && !shared.v5_only.load(Ordering::Relaxed);
    if !offer_v4 {
        let hs = if v5_only.is_empty() {
            &preferred
        } else {
            &fallback
        };
        return hedged_connect(&shared.upstream, hs, hs, attempts).await;
    }
    // The racing connection, if any, offers 5.x only: a server stuck on the Bolt 4 offer may
    // still answer that one.
    match hedged_connect(&shared.upstream, &preferred, &fallback, attempts).await {
        Err(crate::bolt::Error::NoCommonVersion | crate::bolt::Error::ConnectionClosed) => {
            if !shared.v5_only.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "bolt-proxy: upstream rejects handshakes that offer Bolt 4 first; offering 5.x only from now on"
                );
            }
            hedged_connect(&shared.upstream, &fallback, &fallback, attempts).await
        }
        other => other,
    }
}

/// Connects and runs handshake `hs`; while no connection has answered, another one with
/// handshake `then` joins the race every [`HEDGE_AFTER`], up to `max` at once, and the first
/// to answer wins (the others are dropped). A stalled handshake (FalkorDB) costs [`HEDGE_AFTER`]
/// instead of the whole handshake timeout, and a slow but healthy server loses nothing: the
/// first connection keeps going. Fails with the last error once every connection tried has
/// failed; the caller's deadline bounds the rest.
async fn hedged_connect(
    upstream: &Upstream,
    hs: &Handshake,
    then: &Handshake,
    max: usize,
) -> crate::bolt::Result<(Answer, SocketRead, SocketWrite)> {
    let mut racing = FuturesUnordered::new();
    racing.push(upstream.connect(hs));
    let mut next_at = Instant::now() + HEDGE_AFTER;
    loop {
        tokio::select! {
            Some(r) = racing.next() => match r {
                Ok(up) => return Ok(up),
                Err(e) if racing.is_empty() => return Err(e),
                Err(_) => {}
            },
            () = sleep_until(next_at), if racing.len() < max => {
                tracing::debug!(waiting = racing.len(), "bolt-proxy: upstream handshake slow, racing another connection");
                racing.push(upstream.connect(then));
                next_at += HEDGE_AFTER;
            }
        }
    }
}

/// Answers a handshake with "no version" (four zero bytes) and closes, TLS included.
async fn no_version(mut w: SocketWrite, deadline: Instant) {
    let _ = timeout_at(deadline, async {
        w.write_all(&[0; 4]).await?;
        w.shutdown().await
    })
    .await;
}

/// The upstream cannot be reached: answer the handshake (with `version`, or for a client that
/// chose the manifest, with a manifest of every version the proxy speaks and the client's
/// choice read back), answer the first request with a FAILURE drivers treat as transient, and
/// close.
async fn unavailable(
    mut r: SocketRead,
    mut w: SocketWrite,
    version: Option<Version>,
    deadline: Instant,
) {
    let _ = timeout_at(deadline, async {
        let version = match version {
            Some(v) => {
                w.write_all(&v.to_bytes()).await?;
                v
            }
            None => {
                w.write_all(&Manifest::new(&SUPPORTED).to_bytes()).await?;
                w.flush().await?;
                match ManifestChoice::read(&mut r).await?.version {
                    Some(v) if SUPPORTED.contains(&v) => v,
                    _ => return Err(crate::bolt::Error::NoCommonVersion),
                }
            }
        };
        let mut w = MessageWriter::new(w);
        let mut r = MessageReader::new(r);
        w.flush().await?;
        if r.read_message().await?.is_some() {
            w.queue_response(&Response::failure_for(
                version,
                UNAVAILABLE,
                "bolt-proxy: the database server cannot be reached",
            ))?;
            w.shutdown().await?;
        }
        Ok::<_, crate::bolt::Error>(())
    })
    .await;
}

/// Why a connection ended.
#[derive(Debug)]
enum Stop {
    /// The client closed its side (or broke it).
    ClientClosed,
    /// The client sent GOODBYE.
    Goodbye,
    /// The client broke the protocol.
    ClientProtocol(&'static str),
    /// The upstream closed or broke.
    UpstreamLost,
    /// Nothing from the client for the idle timeout.
    Idle,
    /// Shutdown: nothing was in flight any more.
    Drained,
    /// Shutdown: grace period over.
    Shutdown,
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

struct Io {
    client_r: MessageReader<SocketRead>,
    client_w: MessageWriter<SocketWrite>,
    up_r: MessageReader<SocketRead>,
    up_w: MessageWriter<SocketWrite>,
}

struct Session {
    translate: bool,
    /// The configured address routing tables name, if any.
    advertised: Option<String>,
    /// The proxy address this client's connection reached.
    proxy_addr: SocketAddr,
    /// The address the driver says it dialed (HELLO's routing context), if it said.
    dialed: Option<String>,
    /// FalkorDB compatibility: RUN and BEGIN go upstream with an empty extra map, GOODBYE not
    /// at all (see [`ProxyConfig::falkordb_compat`]).
    falkordb_compat: bool,
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
    /// RESET, so the proxy answers IGNORED itself (see [`Session::ignore_in_flight`]).
    failed: bool,
    limits: Limits,
}

impl Session {
    async fn run(
        &mut self,
        mut io: Io,
        idle_timeout: Option<Duration>,
        mut phase: watch::Receiver<Phase>,
    ) -> Stop {
        let mut last_client = Instant::now();
        let idle = idle_timeout.unwrap_or(Duration::from_secs(86_400 * 365));
        let idle_timer = sleep_until(last_client + idle);
        tokio::pin!(idle_timer);
        let mut watching_phase = true;
        let mut draining = *phase.borrow() != Phase::Running;
        let stop = loop {
            if draining && !self.busy() && !io.client_w.needs_flush() {
                break Stop::Drained;
            }
            let read_client = io.up_w.pending() < HIGH_WATER;
            let read_up = io.client_w.pending() < HIGH_WATER;
            tokio::select! {
                r = io.client_r.fill(), if read_client => {
                    match r {
                        Ok(true) => {
                            last_client = Instant::now();
                            if let Err(stop) = self.client_frames(&mut io) {
                                break stop;
                            }
                            // Write at once when the socket takes it; otherwise the flush
                            // branch finishes the job.
                            if io.up_w.needs_flush() && io.up_w.flush().now_or_never().is_some_and(|r| r.is_err()) {
                                break Stop::UpstreamLost;
                            }
                            // Spans once the request is on its way (see `trace`).
                            self.queries.emit();
                        }
                        Ok(false) => break Stop::ClientClosed,
                        Err(_) => break Stop::ClientClosed,
                    }
                }
                r = io.up_r.fill(), if read_up => {
                    match r {
                        Ok(true) => {
                            if let Err(stop) = self.upstream_frames(&mut io) {
                                break stop;
                            }
                            // More answers due: do not let a delayed ACK hold them up.
                            if !self.pending.is_empty() {
                                io.up_r.get_ref().quickack();
                            }
                            if io.client_w.needs_flush() && io.client_w.flush().now_or_never().is_some_and(|r| r.is_err()) {
                                break Stop::ClientClosed;
                            }
                            // Spans once the answer is on its way (see `trace`).
                            self.queries.emit();
                        }
                        Ok(false) | Err(_) => break Stop::UpstreamLost,
                    }
                }
                r = io.up_w.flush(), if io.up_w.needs_flush() => {
                    if r.is_err() {
                        break Stop::UpstreamLost;
                    }
                }
                r = io.client_w.flush(), if io.client_w.needs_flush() => {
                    if r.is_err() {
                        break Stop::ClientClosed;
                    }
                }
                () = &mut idle_timer, if idle_timeout.is_some() => {
                    let due = last_client + idle;
                    if Instant::now() >= due && !self.busy_requests() {
                        break Stop::Idle;
                    }
                    idle_timer.as_mut().reset(due.max(Instant::now() + idle / 4));
                }
                r = phase.changed(), if watching_phase => {
                    match r {
                        Ok(()) => match *phase.borrow() {
                            Phase::Running => {}
                            Phase::Draining => draining = true,
                            Phase::Closing => break Stop::Shutdown,
                        },
                        // The proxy is gone without saying so: behave as if closing.
                        Err(_) => watching_phase = false,
                    }
                }
            }
        };
        self.close(io, &stop).await;
        stop
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

    /// Ends the connection: tells the client why when it waits for answers, ends every span.
    async fn close(&mut self, mut io: Io, stop: &Stop) {
        if let Stop::ClientProtocol(why) = stop {
            tracing::info!(
                why,
                "bolt-proxy: client broke the Bolt protocol, closing its connection"
            );
        }
        let failure = match stop {
            Stop::ClientProtocol(_) => Some((INVALID, "bolt-proxy: invalid Bolt message")),
            Stop::UpstreamLost => Some((
                UNAVAILABLE,
                "bolt-proxy: the connection to the database server was lost",
            )),
            Stop::Shutdown => Some((UNAVAILABLE, "bolt-proxy: shutting down")),
            _ => None,
        };
        let how = match stop {
            Stop::ClientClosed | Stop::Goodbye | Stop::Idle | Stop::Drained => End::ClientClosed,
            Stop::ClientProtocol(_) => End::ProtocolError,
            Stop::UpstreamLost => End::UpstreamLost,
            Stop::Shutdown => End::Shutdown,
        };
        self.queries.end_all(how);
        if let Some((code, message)) = failure {
            // A protocol error gets its FAILURE even with nothing in flight: it answers the
            // offending message. Otherwise the client gets one FAILURE for the first request
            // it waits on and IGNORED for the rest, as a server would, then the socket closes.
            let waiting = self.pending.iter().filter(|p| p.client_visible()).count();
            let answers = match stop {
                Stop::ClientProtocol(_) => waiting + 1,
                _ => waiting,
            };
            for i in 0..answers {
                let r = if i == 0 {
                    Response::failure_for(self.client_version, code, message)
                } else {
                    Response::Ignored
                };
                let _ = io.client_w.queue_response(&r);
            }
        }
        if matches!(stop, Stop::Goodbye) {
            let _ = timeout(FAREWELL_TIMEOUT, io.up_w.shutdown()).await;
        }
        let _ = timeout(FAREWELL_TIMEOUT, io.client_w.shutdown()).await;
        self.queries.emit();
        // Dropping the upstream halves closes that socket too.
    }

    /// Handles every complete client message buffered.
    fn client_frames(&mut self, io: &mut Io) -> Result<(), Stop> {
        loop {
            let frame = match io.client_r.next_buffered() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(Stop::ClientProtocol("oversized message")),
            };
            self.client_frame(frame, io)?;
        }
        for _ in 0..io.client_r.take_noops() {
            io.up_w.queue_noop();
        }
        Ok(())
    }

    fn client_frame(&mut self, frame: Frame, io: &mut Io) -> Result<(), Stop> {
        let s = frame
            .signature()
            .ok_or(Stop::ClientProtocol("not a structure"))?;
        tracing::trace!(
            signature = s,
            bytes = frame.payload().len(),
            "bolt-proxy: client message"
        );
        let decode = |f: &Frame| {
            Request::decode_with(f.payload(), self.limits)
                .map_err(|_| Stop::ClientProtocol("undecodable request"))
        };
        if self.failed && !matches!(s, sig::RESET | sig::GOODBYE) {
            // The server would IGNORE this too; answering here keeps the client going even
            // with servers that hold IGNOREDs back until the next request (FalkorDB).
            if s == sig::RUN {
                let view = RunView::parse(frame.payload(), self.limits)
                    .map_err(|_| Stop::ClientProtocol("undecodable request"))?;
                let id = self.queries.start(view.query, view.extra);
                self.queries.end(id, End::Ignored);
            } else if crate::bolt::message::request_name(s).is_none() {
                return Err(Stop::ClientProtocol("unknown request"));
            }
            io.client_w
                .queue_response(&Response::Ignored)
                .map_err(|_| Stop::ClientProtocol("unencodable response"))?;
            return Ok(());
        }
        match s {
            sig::RUN => {
                let view = RunView::parse(frame.payload(), self.limits)
                    .map_err(|_| Stop::ClientProtocol("undecodable request"))?;
                let id = self.queries.start(view.query, view.extra);
                self.pending.push_back(Pending::Run(id));
                let rewrite_params =
                    self.translate && translate::run_needs_rewrite(&view, self.utc);
                // FalkorDB compatibility: the extras were read for tracing above; upstream gets
                // none (see `ProxyConfig::falkordb_compat`).
                let strip = self.falkordb_compat && !view.extra.is_empty();
                if strip && !rewrite_params {
                    // The bytes up to the extras stay as they are: no parameter is decoded.
                    io.up_w
                        .queue_with(|b| {
                            view.write_without_extra(b);
                            Ok(())
                        })
                        .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                    return Ok(());
                }
                if rewrite_params || strip {
                    let Request::Run {
                        query,
                        mut parameters,
                        extra,
                    } = decode(&frame)?
                    else {
                        unreachable!("decoded by signature")
                    };
                    if rewrite_params {
                        for (_, v) in parameters.0.iter_mut() {
                            translate::to_server(v, self.utc);
                        }
                    }
                    let run = Request::Run {
                        query,
                        parameters,
                        extra: if strip { Map::new() } else { extra },
                    };
                    io.up_w
                        .queue_request(&run)
                        .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                    return Ok(());
                }
            }
            sig::PULL | sig::DISCARD if self.answered_early > 0 => {
                // Its answer already went to the client.
                self.answered_early -= 1;
                request_map(&frame, self.limits)?;
            }
            sig::PULL => {
                self.unasked = None;
                let extra = request_map(&frame, self.limits)?;
                self.pending
                    .push_back(Pending::Stream(self.queries.target(extra)));
            }
            sig::DISCARD => {
                self.unasked = None;
                let extra = request_map(&frame, self.limits)?;
                let target = self.queries.target(extra);
                if self.translate {
                    // FalkorDB holds back its answer to the COMMIT that follows a DISCARD in a
                    // transaction until yet another request arrives (measured), and neo4rs
                    // discards every `run` result: pull instead and drop the records here.
                    self.pending.push_back(Pending::Discarding(target));
                    let extra = extra
                        .to_map()
                        .map_err(|_| Stop::ClientProtocol("undecodable request"))?;
                    io.up_w
                        .queue_request(&Request::Pull { extra })
                        .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                    return Ok(());
                }
                self.pending.push_back(Pending::Stream(target));
            }
            sig::BEGIN => {
                let extra = request_map(&frame, self.limits)?;
                self.queries.begin(extra);
                if self.falkordb_compat && !extra.is_empty() {
                    self.pending.push_back(Pending::Begin);
                    io.up_w
                        .queue_request(&Request::Begin {
                            extra: Map::default(),
                        })
                        .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                    return Ok(());
                }
                self.pending.push_back(Pending::Begin);
            }
            sig::COMMIT | sig::ROLLBACK => {
                self.queries.leave_transaction();
                self.pending.push_back(Pending::TxEnd);
            }
            sig::RESET => {
                self.queries.leave_transaction();
                self.failed = false;
                self.pending.push_back(Pending::Reset);
            }
            sig::GOODBYE => {
                // FalkorDB leaves one later handshake unanswered for every connection ended
                // with GOODBYE, and none for one that is just closed (measured): it gets the
                // close only. GOODBYE has no answer, so the client sees no difference.
                if !self.falkordb_compat {
                    io.up_w.queue_frame(&frame);
                }
                return Err(Stop::Goodbye);
            }
            sig::HELLO if self.translate => {
                let Request::Hello { extra } = decode(&frame)? else {
                    unreachable!("decoded by signature")
                };
                self.dialed = extra
                    .get("routing")
                    .and_then(Value::as_map)
                    .and_then(|r| r.get_str("address"))
                    .map(str::to_owned);
                let split = translate::split_hello(extra, self.upstream_version);
                self.utc = split.utc;
                io.up_w
                    .queue_request(&Request::Hello { extra: split.hello })
                    .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                match split.logon {
                    Some(auth) => {
                        io.up_w
                            .queue_request(&Request::Logon { auth })
                            .map_err(|_| Stop::ClientProtocol("unencodable request"))?;
                        self.pending.push_back(Pending::HelloHalf);
                        self.pending
                            .push_back(Pending::LogonHalf { swallow: false });
                    }
                    None => self.pending.push_back(Pending::Hello),
                }
                return Ok(());
            }
            sig::LOGON | sig::LOGOFF | sig::TELEMETRY if self.translate => {
                // Not messages of Bolt 4.4: a 4.4 server would fail the connection too.
                return Err(Stop::ClientProtocol("message not in Bolt 4.4"));
            }
            sig::ROUTE => {
                // The same message in 4.4 and 5.x: forwarded as is, its answer rewritten.
                let route = decode(&frame)?;
                let address = self.advertised_address(routing::route_address(&route));
                self.pending.push_back(Pending::Route(address));
            }
            sig::HELLO => {
                // Its routing context names the address the driver dialed, which LOGON's
                // answer (5.8+) will be made to name.
                let extra = request_map(&frame, self.limits)?;
                self.dialed = extra
                    .get_map("routing")
                    .and_then(|r| r.get_str("address"))
                    .map(str::to_owned);
                self.pending.push_back(Pending::Hello);
            }
            sig::LOGON => {
                let address = self.advertised_address(self.dialed.as_deref());
                self.pending.push_back(Pending::Logon(address));
            }
            sig::LOGOFF | sig::TELEMETRY => self.pending.push_back(Pending::Other),
            _ => return Err(Stop::ClientProtocol("unknown request")),
        }
        io.up_w.queue_frame(&frame);
        Ok(())
    }

    /// Handles every complete upstream message buffered.
    fn upstream_frames(&mut self, io: &mut Io) -> Result<(), Stop> {
        loop {
            // The RECORDs of the stream being read, as many as are buffered, go through in one
            // copy: per-message framing and copying was most of the proxy's CPU on large
            // results. RECORDs a translation must rewrite take the path below.
            if let Some(&Pending::Stream(target)) = self.pending.front() {
                let (translate, utc) = (self.translate, self.utc);
                let batch = io.up_r.take_batch(|payload| {
                    peek_signature(payload) == Some(sig::RECORD)
                        && !(translate && translate::record_needs_rewrite(payload, utc))
                });
                if let Some((raw, n)) = batch {
                    if let Some(id) = target {
                        self.queries.records(id, n);
                    }
                    io.client_w.queue_raw(&raw);
                    continue;
                }
            }
            let frame = match io.up_r.next_buffered() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return Err(Stop::UpstreamLost),
            };
            self.upstream_frame(frame, io);
        }
        for _ in 0..io.up_r.take_noops() {
            io.client_w.queue_noop();
        }
        Ok(())
    }

    fn upstream_frame(&mut self, frame: Frame, io: &mut Io) {
        let s = frame.signature();
        tracing::trace!(
            signature = s,
            bytes = frame.payload().len(),
            "bolt-proxy: upstream message"
        );
        if s == Some(sig::RECORD) {
            match self.pending.front() {
                Some(Pending::Stream(Some(id))) => self.queries.records(*id, 1),
                Some(Pending::Answered | Pending::Discarding(_)) => return,
                None => {
                    if let Some(id) = self.unasked {
                        self.queries.records(id, 1);
                    }
                }
                _ => {}
            }
            if self.translate
                && translate::record_needs_rewrite(frame.payload(), self.utc)
                && let Ok(Response::Record { mut fields }) =
                    Response::decode_with(frame.payload(), self.limits)
            {
                fields
                    .iter_mut()
                    .for_each(|f| translate::to_client(f, self.utc));
                if io
                    .client_w
                    .queue_response(&Response::Record { fields })
                    .is_ok()
                {
                    return;
                }
            }
            io.client_w.queue_frame(&frame);
            return;
        }
        if !matches!(s, Some(sig::SUCCESS | sig::FAILURE | sig::IGNORED)) {
            // Not a response of any Bolt version we speak: forward it and let the client judge.
            tracing::debug!("bolt-proxy: unexpected message from upstream, forwarded");
            io.client_w.queue_frame(&frame);
            return;
        }
        let Some(pending) = self.pending.pop_front() else {
            match self.unasked.take() {
                Some(id) if s == Some(sig::SUCCESS) => {
                    let meta = summary_map(&frame, self.limits);
                    if !self.queries.stream_summary(id, frame.payload(), meta) {
                        self.unasked = Some(id);
                    }
                    self.answered_early += 1;
                }
                Some(id) => {
                    // The unasked stream failed: that FAILURE (or IGNORED) answers the PULL
                    // the client has yet to send.
                    match Response::decode_with(frame.payload(), self.limits) {
                        Ok(Response::Failure { metadata }) => self.queries.fail_all(&metadata),
                        _ => self.queries.end(id, End::Ignored),
                    }
                    self.answered_early += 1;
                }
                None => {
                    tracing::debug!("bolt-proxy: upstream answered a request that was not sent")
                }
            }
            io.client_w.queue_frame(&frame);
            return;
        };
        if matches!(pending, Pending::Answered) {
            return;
        }
        if let (
            Some(sig::SUCCESS),
            Pending::Run(id) | Pending::Stream(Some(id)) | Pending::Discarding(Some(id)),
        ) = (s, &pending)
        {
            // Once or twice per query, and forwarded unchanged: read in place.
            let meta = summary_map(&frame, self.limits);
            if matches!(pending, Pending::Run(_)) {
                self.queries.run_succeeded(*id, meta);
                if self.pending.is_empty() {
                    self.unasked = Some(*id);
                }
            } else {
                self.queries.stream_summary(*id, frame.payload(), meta);
            }
            io.client_w.queue_frame(&frame);
            return;
        }
        if let (Some(sig::SUCCESS), Pending::Begin) = (s, &pending) {
            // The home database the server resolved (5.8+), read in place.
            self.queries
                .begin_succeeded(summary_map(&frame, self.limits));
            io.client_w.queue_frame(&frame);
            return;
        }
        // The other summaries that matter to spans or translation are decoded; the rest pass
        // as they are.
        let meta = match (s, &pending) {
            (Some(sig::FAILURE), _)
            | (
                Some(sig::SUCCESS),
                Pending::HelloHalf
                | Pending::LogonHalf { .. }
                | Pending::Route(_)
                | Pending::Logon(_),
            ) => match Response::decode_with(frame.payload(), self.limits) {
                Ok(Response::Success { metadata } | Response::Failure { metadata }) => metadata,
                _ => Map::new(),
            },
            (Some(sig::SUCCESS), Pending::Hello) if self.translate && self.utc => {
                match Response::decode_with(frame.payload(), self.limits) {
                    Ok(Response::Success { metadata }) => metadata,
                    _ => Map::new(),
                }
            }
            _ => Map::new(),
        };
        if s == Some(sig::FAILURE) {
            self.queries.fail_all(&meta);
        }
        match (s, pending) {
            (
                Some(sig::IGNORED),
                Pending::Run(id) | Pending::Stream(Some(id)) | Pending::Discarding(Some(id)),
            ) => self.queries.end(id, End::Ignored),
            (Some(sig::SUCCESS), Pending::TxEnd) => self.queries.end_all(End::TransactionClosed),
            (Some(sig::SUCCESS), Pending::Reset) => self.queries.end_all(End::Reset),
            (Some(sig::SUCCESS), Pending::HelloHalf) => {
                self.hello_stash = Some(meta);
                return;
            }
            (_, Pending::HelloHalf) => {
                // HELLO failed: that is the client's answer, and the LOGON's is dropped.
                if let Some(Pending::LogonHalf { swallow }) = self.pending.front_mut() {
                    *swallow = true;
                }
            }
            (_, Pending::LogonHalf { swallow: true }) => return,
            (Some(sig::SUCCESS), Pending::LogonHalf { swallow: false }) => {
                let hello = self.hello_stash.take().unwrap_or_default();
                let mut logon = meta;
                routing::point_logon_at(
                    &mut logon,
                    &self.advertised_address(self.dialed.as_deref()),
                );
                let metadata = translate::fold_hello_success(hello, Some(logon), self.utc);
                self.answer(io, &Response::Success { metadata }, &frame);
                return;
            }
            (Some(sig::SUCCESS), Pending::Hello) if self.translate && self.utc => {
                let metadata = translate::fold_hello_success(meta, None, true);
                self.answer(io, &Response::Success { metadata }, &frame);
                return;
            }
            (Some(sig::SUCCESS), Pending::Logon(address)) => {
                let mut metadata = meta;
                if routing::point_logon_at(&mut metadata, &address) {
                    tracing::debug!(%address, "bolt-proxy: LOGON's advertised address is the proxy");
                    self.answer(io, &Response::Success { metadata }, &frame);
                } else {
                    io.client_w.queue_frame(&frame);
                }
                return;
            }
            (Some(sig::SUCCESS), Pending::Route(address)) => {
                let mut metadata = meta;
                if routing::point_at(&mut metadata, &address) {
                    tracing::debug!(%address, "bolt-proxy: routing table points at the proxy");
                    self.answer(io, &Response::Success { metadata }, &frame);
                } else {
                    tracing::warn!(
                        "bolt-proxy: a ROUTE answer without a readable routing table was forwarded as is; the driver may connect around the proxy"
                    );
                    io.client_w.queue_frame(&frame);
                }
                return;
            }
            _ => {}
        }
        if s == Some(sig::FAILURE) {
            match translate::failure_to_v4(&meta).filter(|_| self.translate) {
                Some(metadata) => self.answer(io, &Response::Failure { metadata }, &frame),
                None => io.client_w.queue_frame(&frame),
            }
            self.ignore_in_flight(io);
            return;
        }
        io.client_w.queue_frame(&frame);
    }

    /// After a FAILURE the server IGNOREs every request until RESET. The requests already in
    /// flight are answered IGNORED now, in order, and the server's own answers dropped when
    /// they come: FalkorDB holds them back until the client sends something else (measured),
    /// and a client such as neo4rs waits for them before it sends RESET.
    fn ignore_in_flight(&mut self, io: &mut Io) {
        let mut reset_in_flight = false;
        for p in self.pending.iter_mut() {
            match p {
                Pending::Reset => {
                    reset_in_flight = true;
                    break;
                }
                Pending::Run(id) | Pending::Stream(Some(id)) | Pending::Discarding(Some(id)) => {
                    self.queries.end(*id, End::Ignored);
                }
                _ => {}
            }
            if p.client_visible() {
                let _ = io.client_w.queue_response(&Response::Ignored);
                *p = Pending::Answered;
            }
        }
        self.failed = !reset_in_flight;
    }

    /// Queues a rewritten answer, or the original frame if it cannot be encoded.
    fn answer(&self, io: &mut Io, response: &Response, original: &Frame) {
        if io.client_w.queue_response(response).is_err() {
            io.client_w.queue_frame(original);
        }
    }
}

/// The metadata of a server's SUCCESS, read in place (empty if unreadable: it is forwarded
/// as it is anyway).
fn summary_map(frame: &Frame, limits: Limits) -> MapView<'_> {
    map_message_view(frame.payload(), limits)
        .map(|(_, map)| map)
        .unwrap_or_default()
}

/// The one map of a client's PULL, DISCARD or BEGIN, read in place.
fn request_map(frame: &Frame, limits: Limits) -> Result<MapView<'_>, Stop> {
    map_message_view(frame.payload(), limits)
        .map(|(_, map)| map)
        .map_err(|_| Stop::ClientProtocol("undecodable request"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u8, minor: u8) -> Version {
        Version::new(major, minor)
    }

    #[test]
    fn classic_clients_get_one_version_passing_through_before_translating() {
        // neo4rs (4.4 only) to FalkorDB (5.7): translated.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(4, 4)]).unwrap();
        assert_eq!(n.client_offer, [v(4, 4)]);
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 7), None)));
        // A client that prefers 4.4 but takes 5.7 too is passed through.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(4, 4), v(5, 7)]).unwrap();
        assert_eq!(n.client_offer, [v(5, 7)]);
        // Nothing in common.
        assert!(Negotiation::offer(&Answer::Version(v(5, 7)), false, &[v(5, 8)]).is_none());
    }

    #[test]
    fn manifest_clients_get_what_the_upstream_serves_and_their_choice_goes_upstream() {
        // A classic upstream: its version, and 4.4 through translation.
        let n = Negotiation::offer(&Answer::Version(v(5, 7)), true, &[]).unwrap();
        assert_eq!(n.client_offer, [v(5, 7), v(4, 4)]);
        assert_eq!(n.serve(v(5, 7)), Some((v(5, 7), v(5, 7), None)));
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 7), None)));
        assert_eq!(n.serve(v(5, 8)), None);
        // A manifest upstream without 4.4: 4.4 is translated to its best 5.x.
        let upstream = Manifest::new(&[v(6, 1), v(6, 0), v(5, 8), v(5, 7)]);
        let n = Negotiation::offer(&Answer::Manifest(upstream), true, &[]).unwrap();
        assert_eq!(n.client_offer, [v(6, 0), v(5, 8), v(5, 7), v(4, 4)]);
        let chose = |version| {
            Some(ManifestChoice {
                version: Some(version),
                capabilities: 0,
            })
        };
        assert_eq!(n.serve(v(6, 0)), Some((v(6, 0), v(6, 0), chose(v(6, 0)))));
        assert_eq!(n.serve(v(4, 4)), Some((v(4, 4), v(5, 8), chose(v(5, 8)))));
        assert_eq!(n.serve(v(6, 1)), None, "not spoken by the proxy");
    }

    #[test]
    fn the_upstream_opening_puts_the_manifest_first() {
        let wanted = [v(5, 8), v(5, 7), v(5, 6), v(4, 4)];
        let hs = opening(true, &wanted);
        assert_eq!(hs.proposals[0], Proposal::Manifest(MANIFEST_V1));
        assert!(hs.accepts(v(5, 6)) && hs.accepts(v(4, 4)));
        let hs = opening(false, &wanted);
        assert!(!hs.offers_manifest());
        assert!(hs.accepts(v(5, 8)));
    }
}
