//! A Bolt proxy that traces every query of any client, and bridges Bolt 4.4 clients to Bolt 5
//! servers.
//!
//! Each client connection gets its own upstream connection. The proxy negotiates with each side
//! on its own (Bolt 4.4, 5.0-5.8 and 6.0): when both speak the same version, frames go through
//! unchanged and a copy is parsed for tracing; when a Bolt 4.4 client meets a 5.x-only server
//! (neo4rs and FalkorDB), the proxy translates (HELLO -> HELLO + LOGON, element ids, UTC
//! DateTimes, 5.7 FAILUREs). A client that proposes the handshake manifest (drivers since 5.7;
//! the only way to Bolt 6.0) is answered with one once the upstream has answered the proxy's
//! own manifest: it lists what the proxy can serve over that connection, and the client's choice
//! is passed on upstream.
//! Every RUN becomes one CLIENT span that lasts until its result stream ends, with the
//! attributes of the workspace conventions ([`bolt_tracer::conventions`], the same as the traced
//! neo4rs wrappers'), recorded with the global tracer provider (scope `bolt-proxy`, with this
//! crate's version) as it is when the span is built. The wire codec is the [`bolt`] crate.
//!
//! Clients connect over plain TCP, or over TLS only when [`ProxyConfig::listen_tls`] is set;
//! the upstream is reached over TCP or TLS ([`ProxyConfig::upstream_tls`]).
//!
//! Drivers that route (`neo4j://`) stay on the proxy: every routing table it forwards names the
//! proxy for every role that has a server ([`ProxyConfig::advertised_address`]). Each
//! connection's queries then all go to the one upstream, so in front of a cluster that member
//! has to route them on the server side (Neo4j: `dbms.routing.enabled=true`); the driver's
//! routing context in HELLO is passed on, which is what tells the member to.
//!
//! ```
//! use bolt_proxy::{Proxy, ProxyConfig};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> bolt_proxy::Result<()> {
//! // The upstream is only dialled when a client connects.
//! let proxy = Proxy::bind(ProxyConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:7688")).await?;
//! println!("NEO4J_URI=bolt://{}", proxy.local_addr());
//! // Runs until the future given resolves (a binary waits for Ctrl-C or SIGTERM here), then
//! // drains its connections and returns.
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! drop(stop);
//! proxy.run(async move { let _ = stopped.await; }).await
//! # }
//! ```

mod config;
mod error;
mod routing;
mod session;
mod socket;
mod trace;
mod translate;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub use config::{ListenTls, ProxyConfig, UpstreamTls};
pub use error::{Error, Result};

use session::{Phase, Shared};

/// After the grace period, how long connections get to close before their tasks are aborted.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound, not yet running, proxy.
pub struct Proxy {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("local_addr", &self.local_addr)
            .field("upstream", &self.shared.config.upstream)
            .finish()
    }
}

impl Proxy {
    /// Checks the configuration and binds the listen address. Nothing connects to the upstream
    /// until a client does.
    pub async fn bind(config: ProxyConfig) -> Result<Proxy> {
        let upstream = upstream::Upstream::new(&config.upstream, config.upstream_tls.as_ref())?;
        if let Some(a) = &config.advertised_address
            && upstream::split_host_port(a).is_none()
        {
            return Err(Error::AdvertisedAddress(a.clone()));
        }
        let tls = match &config.listen_tls {
            Some(t) => Some(socket::tls_acceptor(t)?),
            None => None,
        };
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = listener.local_addr()?;
        Ok(Proxy {
            listener,
            local_addr,
            shared: Arc::new(Shared::new(config, upstream, tls)),
        })
    }

    /// The address clients connect to (with the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then shuts down gracefully: stops accepting, lets
    /// in-flight queries and open transactions finish within the configured grace period,
    /// closes what is left, and returns once every connection is closed (its spans ended).
    ///
    /// Connection problems never end this: a client or upstream that misbehaves loses its own
    /// connection only.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Proxy {
            listener,
            local_addr,
            shared,
        } = self;
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let permits = Arc::new(Semaphore::new(shared.config.max_connections));
        let mut tasks = JoinSet::new();
        tracing::info!(%local_addr, upstream = %shared.config.upstream, "bolt-proxy: listening");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((socket, peer)) => match permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let shared = shared.clone();
                            let phase = phase_rx.clone();
                            tasks.spawn(async move {
                                session::serve(socket, peer, shared, phase).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            // Refused before the handshake: the client sees its connection
                            // closed and can retry elsewhere or later.
                            tracing::warn!(%peer, limit = shared.config.max_connections, "bolt-proxy: connection limit reached, refusing");
                            drop(socket);
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little instead of
                        // spinning on accept.
                        tracing::warn!(error = %e, "bolt-proxy: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        drop(listener);
        tracing::info!(connections = tasks.len(), "bolt-proxy: shutting down");
        let _ = phase_tx.send(Phase::Draining);
        let grace = tokio::time::sleep(shared.config.shutdown_grace);
        tokio::pin!(grace);
        while !tasks.is_empty() {
            tokio::select! {
                _ = tasks.join_next() => {}
                () = &mut grace => break,
            }
        }
        if !tasks.is_empty() {
            tracing::warn!(
                connections = tasks.len(),
                "bolt-proxy: grace period over, closing connections"
            );
            let _ = phase_tx.send(Phase::Closing);
            let closing = tokio::time::sleep(CLOSE_TIMEOUT);
            tokio::pin!(closing);
            while !tasks.is_empty() {
                tokio::select! {
                    _ = tasks.join_next() => {}
                    () = &mut closing => {
                        tasks.abort_all();
                        while tasks.join_next().await.is_some() {}
                    }
                }
            }
        }
        Ok(())
    }
}
