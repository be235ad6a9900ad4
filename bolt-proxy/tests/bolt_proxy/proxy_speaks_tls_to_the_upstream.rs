//! `--upstream-tls`: the proxy reaches a Bolt server over TLS, checking its certificate against
//! the configured CA and server name; with an untrusted certificate the client gets a transient
//! FAILURE, not a hang. The TLS server is a terminator in this test (rustls, certificates made
//! with `openssl`) in front of FalkorDB, which has no TLS of its own.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::proxy_support::{FalkorDb, RawClient, RunningProxy, certificates};
use bolt::{Request, Response, Version};
use bolt_proxy::{ProxyConfig, UpstreamTls};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// A TLS terminator on a free port, forwarding to `upstream`.
async fn tls_terminator(dir: &Path, upstream: String) -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn proxy_reaches_the_upstream_over_verified_tls() {
    let db = FalkorDb::start();
    let dir = certificates("upstream", "DNS:falkordb.test");
    let tls_port = tls_terminator(&dir, db.bolt_addr()).await;
    let upstream = format!("127.0.0.1:{tls_port}");

    let trusted = RunningProxy::start_with(
        ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream.clone()).with_upstream_tls(
            UpstreamTls {
                server_name: Some("falkordb.test".into()),
                ca_file: Some(dir.join("ca.pem")),
            },
        ),
    )
    .await;
    for version in [Version::V4_4, Version::new(5, 7)] {
        let mut c = RawClient::login(trusted.addr, version).await;
        let (_, rows, _) = c.query("UNWIND range(1, 3) AS i RETURN i").await;
        assert_eq!(rows.len(), 3, "Bolt {version} over TLS");
    }
    trusted.stop().await.unwrap();

    // The public roots do not know the test CA: the handshake fails, the client is told.
    let untrusted = RunningProxy::start_with(
        ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream)
            .with_upstream_tls(UpstreamTls {
                server_name: Some("falkordb.test".into()),
                ca_file: None,
            })
            .with_handshake_timeout(Duration::from_secs(3)),
    )
    .await;
    let mut c = RawClient::connect(untrusted.addr, Version::V4_4)
        .await
        .unwrap();
    c.w.queue_request(&Request::Hello {
        extra: [("user_agent", "t/1")].into_iter().collect(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    let Response::Failure { metadata } = c.recv().await else {
        panic!("expected FAILURE");
    };
    assert_eq!(
        metadata.get_str("code"),
        Some("Neo.TransientError.General.DatabaseUnavailable")
    );
    untrusted.stop().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
