//! Errors of setting up and running the proxy. Per-connection problems are not errors of the
//! proxy: they close that connection, are logged, and the proxy carries on.

use std::net::SocketAddr;

/// Errors of [`Proxy::bind`](super::Proxy::bind) and [`Proxy::run`](super::Proxy::run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The upstream address is not `HOST:PORT`.
    #[error("invalid upstream address {0:?}: expected HOST:PORT")]
    Upstream(String),
    /// The advertised address is not `HOST:PORT`.
    #[error("invalid advertised address {0:?}: expected HOST:PORT")]
    AdvertisedAddress(String),
    /// The TLS settings could not be used (unreadable CA file, invalid server name ...).
    #[error("upstream TLS: {0}")]
    Tls(String),
    /// The TLS settings for clients could not be used (unreadable certificate or key file, a
    /// key that does not fit the certificate ...).
    #[error("client TLS: {0}")]
    ListenTls(String),
    /// Any other I/O error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the proxy.
pub type Result<T, E = Error> = std::result::Result<T, E>;
