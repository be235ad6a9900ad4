//! The two halves of a connection, TCP or TLS, as both sides of a session use them, and the TLS
//! set-up of the listening side.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::{TlsAcceptor, TlsStream};

use super::config::ListenTls;
use super::error::{Error, Result};

/// Read half of a connection.
pub(crate) enum SocketRead {
    Tcp(OwnedReadHalf),
    Tls(Box<ReadHalf<TlsStream<TcpStream>>>),
}

/// Write half of a connection.
pub(crate) enum SocketWrite {
    Tcp(OwnedWriteHalf),
    Tls(Box<WriteHalf<TlsStream<TcpStream>>>),
}

/// The halves of a plain TCP connection.
pub(crate) fn tcp_halves(tcp: TcpStream) -> (SocketRead, SocketWrite) {
    let (r, w) = tcp.into_split();
    (SocketRead::Tcp(r), SocketWrite::Tcp(w))
}

/// The halves of a TLS connection (either side's).
pub(crate) fn tls_halves(tls: impl Into<TlsStream<TcpStream>>) -> (SocketRead, SocketWrite) {
    let (r, w) = tokio::io::split(tls.into());
    (SocketRead::Tls(Box::new(r)), SocketWrite::Tls(Box::new(w)))
}

impl SocketRead {
    /// Asks the kernel to acknowledge what was just read at once rather than delay the ACK.
    ///
    /// FalkorDB writes a long result as many small writes with Nagle's algorithm on: each
    /// write waits for the ACK of the previous one, and a delayed ACK (up to 40 ms on Linux)
    /// stalls the stream (measured: 10,000 rows through a relay went from ~5 ms to ~25 ms per
    /// query on average). The flag is not sticky, so it is set after every read that leaves
    /// answers outstanding.
    pub(crate) fn quickack(&self) {
        if let SocketRead::Tcp(r) = self {
            let _ = socket2::SockRef::from(r.as_ref()).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for SocketRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SocketRead::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            SocketRead::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SocketWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            SocketWrite::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            SocketWrite::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SocketWrite::Tcp(s) => Pin::new(s).poll_flush(cx),
            SocketWrite::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            SocketWrite::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            SocketWrite::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TLS acceptor for clients, from a PEM certificate chain and a PEM private key (PKCS#8,
/// PKCS#1 or SEC1). Errors name the file, never its content.
pub(crate) fn tls_acceptor(t: &ListenTls) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(&t.cert_file)
        .and_then(|certs| certs.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::ListenTls(format!(
                "cannot read the certificate file {}: {e}",
                t.cert_file.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::ListenTls(format!(
            "no certificate in {}",
            t.cert_file.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key_file).map_err(|e| {
        Error::ListenTls(format!(
            "cannot read a private key from {}: {e}",
            t.key_file.display()
        ))
    })?;
    // The provider is named explicitly, as for the upstream: with two rustls providers in one
    // build there is no process default.
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::ListenTls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| {
        Error::ListenTls(format!(
            "the key in {} does not fit the certificate in {}: {e}",
            t.key_file.display(),
            t.cert_file.display()
        ))
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
