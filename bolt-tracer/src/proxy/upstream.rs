//! The connection to the upstream Bolt server: TCP, optionally TLS, with TCP_NODELAY, TCP
//! keepalive and a TCP user timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::config::UpstreamTls;
use super::error::{Error, Result};
use crate::bolt::{self, Handshake, Version};

/// Where and how to reach the upstream server.
pub(crate) struct Upstream {
    addr: String,
    host: Arc<str>,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl Upstream {
    pub(crate) fn new(addr: &str, tls: Option<&UpstreamTls>) -> Result<Self> {
        let (host, port) = split_host_port(addr).ok_or_else(|| Error::Upstream(addr.to_owned()))?;
        let tls = match tls {
            None => None,
            Some(t) => Some(tls_connector(t, host)?),
        };
        Ok(Upstream {
            addr: addr.to_owned(),
            host: host.into(),
            port,
            tls,
        })
    }

    /// The upstream host, for `server.address`.
    pub(crate) fn host(&self) -> &Arc<str> {
        &self.host
    }

    /// The upstream port, for `server.port`.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Connects, runs the Bolt handshake with `proposals`, and splits the stream.
    pub(crate) async fn connect(
        &self,
        proposals: &Handshake,
    ) -> bolt::Result<(Version, UpRead, UpWrite)> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        keep_alive(&tcp, Some(UPSTREAM_USER_TIMEOUT))?;
        match &self.tls {
            None => {
                let mut tcp = tcp;
                let v = bolt::handshake::client_handshake(&mut tcp, proposals).await?;
                let (r, w) = tcp.into_split();
                Ok((v, UpRead::Tcp(r), UpWrite::Tcp(w)))
            }
            Some((connector, name)) => {
                let mut tls = connector.connect(name.clone(), tcp).await?;
                let v = bolt::handshake::client_handshake(&mut tls, proposals).await?;
                let (r, w) = tokio::io::split(tls);
                Ok((v, UpRead::Tls(Box::new(r)), UpWrite::Tls(Box::new(w))))
            }
        }
    }
}

/// Splits `HOST:PORT` (`[v6]:PORT` too).
pub(crate) fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host, port.parse().ok()?))
}

fn tls_connector(t: &UpstreamTls, host: &str) -> Result<(TlsConnector, ServerName<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &t.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
        for cert in certs {
            let cert =
                cert.map_err(|e| Error::Tls(format!("bad CA file {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("bad CA certificate: {e}")))?;
        }
    }
    // The provider is named explicitly: other crates in a build may enable a second rustls
    // provider, and then there is no process default to fall back on.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = t.server_name.as_deref().unwrap_or(host);
    let name = ServerName::try_from(name.to_owned())
        .map_err(|_| Error::Tls(format!("invalid TLS server name {name:?}")))?;
    Ok((TlsConnector::from(Arc::new(config)), name))
}

/// Read half of the upstream connection.
pub(crate) enum UpRead {
    Tcp(OwnedReadHalf),
    Tls(Box<ReadHalf<TlsStream<TcpStream>>>),
}

/// Write half of the upstream connection.
pub(crate) enum UpWrite {
    Tcp(OwnedWriteHalf),
    Tls(Box<WriteHalf<TlsStream<TcpStream>>>),
}

impl UpRead {
    /// Asks the kernel to acknowledge what was just read at once rather than delay the ACK.
    ///
    /// FalkorDB writes a long result as many small writes with Nagle's algorithm on: each
    /// write waits for the ACK of the previous one, and a delayed ACK (up to 40 ms on Linux)
    /// stalls the stream (measured: 10,000 rows through a relay went from ~5 ms to ~25 ms per
    /// query on average). The flag is not sticky, so it is set after every read that leaves
    /// answers outstanding.
    pub(crate) fn quickack(&self) {
        if let UpRead::Tcp(r) = self {
            let _ = socket2::SockRef::from(r.as_ref()).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for UpRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpRead::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpRead::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpWrite::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpWrite::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpWrite::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpWrite::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpWrite::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            UpWrite::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How long sent data may go unacknowledged on the upstream socket before the connection is
/// declared dead. A database host that vanishes without closing (power loss, partition) would
/// otherwise keep a waiting client hanging for the kernel's retransmission limit, about 15
/// minutes; with this the client gets a FAILURE within a minute. Acknowledgements come from the
/// kernel, not the database, so a slow query never trips it.
const UPSTREAM_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle time before the first keepalive probe, the time between probes, and how many go
/// unanswered before the connection is dropped: a silent peer is found within about a minute,
/// also on a connection no request is using.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// Turns on TCP keepalive, and the TCP user timeout when given, on `tcp`. The client side gets
/// keepalive only: a user timeout there would also drop a client that is merely slow to read
/// a large result (its window stays closed), which the idle timeout already bounds.
pub(crate) fn keep_alive(tcp: &TcpStream, user_timeout: Option<Duration>) -> io::Result<()> {
    let sock = socket2::SockRef::from(tcp);
    sock.set_tcp_keepalive(
        &socket2::TcpKeepalive::new()
            .with_time(KEEPALIVE_IDLE)
            .with_interval(KEEPALIVE_INTERVAL)
            .with_retries(KEEPALIVE_RETRIES),
    )?;
    sock.set_tcp_user_timeout(user_timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn upstream_and_client_sockets_notice_a_silent_peer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let up = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (client, _) = listener.accept().await.unwrap();
        keep_alive(&up, Some(UPSTREAM_USER_TIMEOUT)).unwrap();
        keep_alive(&client, None).unwrap();
        for (tcp, user_timeout) in [(&up, Some(UPSTREAM_USER_TIMEOUT)), (&client, None)] {
            let sock = socket2::SockRef::from(tcp);
            assert!(sock.keepalive().unwrap());
            assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
            assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
            assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_RETRIES);
            assert_eq!(sock.tcp_user_timeout().unwrap(), user_timeout);
        }
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("db:7687"), Some(("db", 7687)));
        assert_eq!(split_host_port("[::1]:7687"), Some(("::1", 7687)));
        assert_eq!(split_host_port("db"), None);
        assert_eq!(split_host_port(":7687"), None);
        assert_eq!(split_host_port("db:x"), None);
    }
}
