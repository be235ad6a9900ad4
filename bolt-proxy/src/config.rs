//! Proxy settings, with defaults fit for a local bridge.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of a [`Proxy`](super::Proxy).
///
/// ```
/// use bolt_proxy::ProxyConfig;
///
/// let config = ProxyConfig {
///     listen: "127.0.0.1:0".parse().unwrap(),
///     upstream: "127.0.0.1:7688".into(),
///     ..ProxyConfig::default()
/// };
/// assert_eq!(config.max_connections, 1024);
/// ```
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Address to accept Bolt clients on (port 0 picks a free one; see
    /// [`Proxy::local_addr`](super::Proxy::local_addr)).
    pub listen: SocketAddr,
    /// The Bolt server, `HOST:PORT`.
    pub upstream: String,
    /// Speak TLS to the upstream server.
    pub upstream_tls: Option<UpstreamTls>,
    /// Accept clients over TLS only (`bolt+s://`, `neo4j+s://`). `None`: plain TCP only.
    pub listen_tls: Option<ListenTls>,
    /// Close a client connection that sent nothing for this long while no request of it is in
    /// flight. `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Time a new client has to send its handshake, and the proxy to connect to the upstream
    /// and complete the handshake there.
    pub handshake_timeout: Duration,
    /// Most client connections at once; more are accepted and closed at once.
    pub max_connections: usize,
    /// On shutdown, how long in-flight queries get to finish before connections are closed.
    pub shutdown_grace: Duration,
    /// Largest message accepted from either side (dechunked bytes).
    pub max_message_size: usize,
    /// Memory for the prepared queries (by query text: its normalised form, span name and
    /// attributes), shared by all connections.
    pub normalizer_cache_bytes: usize,
    /// Send RUN and BEGIN to the upstream without their extra map (the proxy still reads it for
    /// tracing first). For FalkorDB, which picks its graph from the *name of the first key* of
    /// that map and hangs a connection whose auto-commit RUN carries `tx_metadata` (both
    /// measured): without extras every request lands in its default graph, whatever the driver
    /// adds (`db`, `mode`, `bookmarks`, `tx_metadata`). Also: a client's GOODBYE is not passed
    /// on (FalkorDB leaves one later handshake unanswered for every connection ended with
    /// GOODBYE, measured; the upstream connection is just closed), and a new client's upstream
    /// connection is retried alongside every 200 ms, up to 32 at once, while handshakes go
    /// unanswered (other clients of the server may still send GOODBYE). Off by default.
    pub falkordb_compat: bool,
    /// `HOST:PORT` that routing tables name for every role, so drivers using `neo4j://`
    /// routing keep their connections on the proxy (see the proxy's module documentation).
    /// `None`: the address the driver says it dialed (the routing context of its ROUTE), else
    /// the proxy address its connection reached.
    pub advertised_address: Option<String>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 7687)),
            upstream: "127.0.0.1:7688".to_owned(),
            upstream_tls: None,
            listen_tls: None,
            idle_timeout: Some(Duration::from_secs(600)),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
            max_message_size: bolt::framing::DEFAULT_MAX_MESSAGE_SIZE,
            normalizer_cache_bytes: 4 * 1024 * 1024,
            falkordb_compat: false,
            advertised_address: None,
        }
    }
}

impl ProxyConfig {
    /// Defaults, listening on `listen` and forwarding to `upstream` (`HOST:PORT`).
    pub fn new(listen: SocketAddr, upstream: impl Into<String>) -> Self {
        ProxyConfig {
            listen,
            upstream: upstream.into(),
            ..ProxyConfig::default()
        }
    }

    /// With or without the FalkorDB compatibility rewrite (see [`ProxyConfig::falkordb_compat`]).
    pub fn with_falkordb_compat(mut self, on: bool) -> Self {
        self.falkordb_compat = on;
        self
    }

    /// With the address routing tables name (see [`ProxyConfig::advertised_address`]).
    pub fn with_advertised_address(mut self, address: impl Into<String>) -> Self {
        self.advertised_address = Some(address.into());
        self
    }

    /// With TLS to the upstream.
    pub fn with_upstream_tls(mut self, tls: UpstreamTls) -> Self {
        self.upstream_tls = Some(tls);
        self
    }

    /// With TLS for clients.
    pub fn with_listen_tls(mut self, tls: ListenTls) -> Self {
        self.listen_tls = Some(tls);
        self
    }

    /// With an idle timeout (`None`: never).
    pub fn with_idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.idle_timeout = t;
        self
    }

    /// With a handshake timeout.
    pub fn with_handshake_timeout(mut self, t: Duration) -> Self {
        self.handshake_timeout = t;
        self
    }

    /// With a connection limit.
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// With a shutdown grace period.
    pub fn with_shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }
}

/// TLS to the upstream server.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// Name to verify the server certificate against (default: the upstream host).
    pub server_name: Option<String>,
    /// PEM file of extra CA certificates to trust, on top of the public web roots.
    pub ca_file: Option<PathBuf>,
}

/// TLS for clients: the proxy's certificate and key.
#[derive(Debug, Clone)]
pub struct ListenTls {
    /// PEM file of the certificate chain, the proxy's own certificate first.
    pub cert_file: PathBuf,
    /// PEM file of the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}
