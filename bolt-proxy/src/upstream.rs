//! The connection to the upstream Bolt server: TCP, optionally TLS, with TCP_NODELAY, TCP
//! keepalive and a TCP user timeout.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::config::UpstreamTls;
use super::error::{Error, Result};
use super::socket::{SocketRead, SocketWrite, tcp_halves, tls_halves};
use bolt::{self, Answer, Handshake};

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

    /// Connects, opens the Bolt handshake with `proposals`, and splits the stream. A manifest
    /// answer leaves the handshake open: the caller writes its choice before any message.
    pub(crate) async fn connect(
        &self,
        proposals: &Handshake,
    ) -> bolt::Result<(Answer, SocketRead, SocketWrite)> {
        let tcp = TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        keep_alive(&tcp, Some(UPSTREAM_USER_TIMEOUT))?;
        match &self.tls {
            None => {
                let mut tcp = tcp;
                let answer = bolt::handshake::client_open(&mut tcp, proposals).await?;
                let (r, w) = tcp_halves(tcp);
                Ok((answer, r, w))
            }
            Some((connector, name)) => {
                let mut tls = connector.connect(name.clone(), tcp).await?;
                let answer = bolt::handshake::client_open(&mut tls, proposals).await?;
                let (r, w) = tls_halves(tls);
                Ok((answer, r, w))
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
