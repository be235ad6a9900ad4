//! `--listen-tls-cert` / `--listen-tls-key`: clients reach the proxy over TLS (`bolt+s://`,
//! `neo4j+s://`, Aura's default scheme), so credentials never cross the network in the clear on
//! their way to it. Certificates are made with `openssl` for the test.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::proxy_support::otlp::{spans_of, spawn_proxy_binary, start_collector, terminate};
use crate::proxy_support::{
    FalkorDb, QUERIES_PER_RUN, RawClient, RunningProxy, certificates, python_workload,
    python_workload_with,
};
use bolt::{Handshake, Proposal, Response, Value, Version};
use bolt_proxy::{Error, ListenTls, Proxy, ProxyConfig};
use fixtures::testkit::wait_until;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

fn listen_tls(dir: &Path) -> ListenTls {
    ListenTls {
        cert_file: dir.join("server.pem"),
        key_file: dir.join("server.key"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_drivers_reach_the_proxy_over_tls() {
    let db = FalkorDb::start();
    let reference = python_workload(
        "venv/bin/python",
        format!("bolt://{}", db.bolt_addr()),
        "tlsdirect",
    )
    .await;
    let dir = certificates("listen-drivers", "DNS:localhost,IP:127.0.0.1");
    let tls = listen_tls(&dir);
    let collector = start_collector().await;
    let (mut proxy, addr) = spawn_proxy_binary(
        &db.bolt_addr(),
        &collector,
        200,
        &[
            "--falkordb-compat",
            "--listen-tls-cert",
            tls.cert_file.to_str().unwrap(),
            "--listen-tls-key",
            tls.key_file.to_str().unwrap(),
        ],
    )
    .await;
    // 5.x: routing over TLS, the proxy's certificate checked against the test CA (through
    // OpenSSL's SSL_CERT_FILE) and the host name.
    let ca = dir.join("ca.pem");
    let v5 = python_workload_with(
        "venv/bin/python",
        format!("neo4j+s://localhost:{}", addr.port()),
        "tlsv5",
        &[("SSL_CERT_FILE", &ca)],
    )
    .await;
    // 4.4 (translated): TLS that accepts any certificate.
    let v44 = python_workload("neo4j44/bin/python", format!("bolt+ssc://{addr}"), "tlsv44").await;
    assert_eq!(v5, reference, "5.x over neo4j+s:// gets what bolt:// gets");
    assert_eq!(
        v44, reference,
        "4.4 over bolt+ssc:// gets what bolt:// gets"
    );

    assert!(terminate(&mut proxy, Duration::from_secs(15)).await);
    let spans = collector.spans();
    for bolt_4 in [false, true] {
        let run = spans_of(&spans, bolt_4).len();
        assert_eq!(run, QUERIES_PER_RUN, "Bolt 4: {bolt_4}");
    }
}

/// A TLS connection to `addr` trusting only the test CA in `dir`, checking `name`.
async fn tls_connect(
    addr: SocketAddr,
    dir: &Path,
    name: &str,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(name.to_owned()).unwrap(), tcp)
        .await
}

/// Writes `bytes` on a plain connection and returns what comes back before the proxy closes
/// it; panics if it stays open for 5 s.
async fn plain_answer(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("the proxy closes the connection")
        .ok();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_garbage_and_silent_clients_on_a_tls_port_lose_only_their_connection() {
    let db = FalkorDb::start();
    let dir = certificates("listen-faults", "DNS:localhost,IP:127.0.0.1");
    let proxy = RunningProxy::start_with(
        ProxyConfig::new("127.0.0.1:0".parse().unwrap(), db.bolt_addr())
            .with_listen_tls(listen_tls(&dir))
            .with_handshake_timeout(Duration::from_secs(1)),
    )
    .await;

    // A plain Bolt client is not answered in Bolt: no version, nothing readable as one.
    let hs = Handshake::new(&[Proposal::exact(Version::new(5, 7))]).to_bytes();
    let got = plain_answer(proxy.addr, &hs).await;
    assert!(
        got.len() != 4 && !got.starts_with(&[0, 0]),
        "a plain client got {got:?}"
    );
    // Garbage, then silence: closed (the silent one after the handshake timeout).
    plain_answer(proxy.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    plain_answer(proxy.addr, &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0]).await;
    plain_answer(proxy.addr, &[]).await;
    // The certificate served is the configured one: a client checking another name refuses it.
    assert!(
        tls_connect(proxy.addr, &dir, "elsewhere.test")
            .await
            .is_err()
    );

    // Through all of it the proxy serves TLS clients, passing through and translating.
    for version in [Version::new(5, 7), Version::V4_4] {
        let tls = tls_connect(proxy.addr, &dir, "localhost").await.unwrap();
        let mut c = RawClient::login_over(tls, version, "").await.unwrap();
        let (_, rows, summary) = c.query("RETURN 1 AS x").await;
        assert_eq!(rows, vec![vec![Value::Int(1)]], "Bolt {version}");
        assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
    }
    assert!(proxy.is_running());
    proxy.stop().await.unwrap();
}

/// Bytes waiting in the send queues of the established connections whose local port is `port`
/// (from /proc/net/tcp): a peer that does not read leaves them there.
fn send_queue_from(port: u16) -> u64 {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    tcp.lines()
        .skip(1)
        .filter_map(|l| {
            // sl local_address rem_address st tx_queue:rx_queue ...
            let f: Vec<_> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            if local_port != port || f.get(3) != Some(&"01") {
                return None;
            }
            u64::from_str_radix(f.get(4)?.split(':').next()?, 16).ok()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_reaches_a_slow_tls_reader_whole() {
    let db = FalkorDb::start();
    let dir = certificates("listen-slow", "DNS:localhost");
    let proxy = RunningProxy::start_with(
        ProxyConfig::new("127.0.0.1:0".parse().unwrap(), db.bolt_addr())
            .with_listen_tls(listen_tls(&dir)),
    )
    .await;
    let tls = tls_connect(proxy.addr, &dir, "localhost").await.unwrap();
    let mut c = RawClient::login_over(tls, Version::new(5, 7), "")
        .await
        .unwrap();
    // More than the socket buffers hold: the proxy's writes into the TLS stream stop part-way
    // while the client is not reading, and must finish once it reads again.
    const N: i64 = 200_000;
    c.run(
        &format!("UNWIND range(1, {N}) AS i RETURN i"),
        Default::default(),
        Default::default(),
    )
    .await;
    // The proxy is stuck part-way when its socket to us holds bytes the kernel cannot hand on.
    wait_until(
        "the proxy's writes to stop, its socket's send queue filled",
        Duration::from_secs(30),
        || send_queue_from(proxy.addr.port()) > 0,
    )
    .await;
    let read_all = async {
        assert!(matches!(c.recv().await, Response::Success { .. }));
        let (mut rows, mut sum) = (0, 0);
        loop {
            match c.recv().await {
                Response::Record { fields } => {
                    rows += 1;
                    sum += fields[0].as_int().unwrap();
                }
                summary => {
                    assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
                    return (rows, sum);
                }
            }
        }
    };
    let (rows, sum) = tokio::time::timeout(Duration::from_secs(60), read_all)
        .await
        .expect("the whole result arrives");
    assert_eq!((rows, sum), (N, N * (N + 1) / 2));
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn unusable_certificate_settings_are_refused_at_start() {
    let dir = certificates("listen-bad", "DNS:localhost");
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let cases = [
        (
            dir.join("missing.pem"),
            dir.join("server.key"),
            "missing.pem",
        ),
        (dir.join("empty.pem"), dir.join("server.key"), "empty.pem"),
        (
            dir.join("server.pem"),
            dir.join("missing.key"),
            "missing.key",
        ),
        // The CA's key does not belong to the server's certificate.
        (dir.join("server.pem"), dir.join("ca.key"), "ca.key"),
    ];
    let key_pem = std::fs::read_to_string(dir.join("server.key")).unwrap();
    let key_body = key_pem.lines().nth(1).unwrap();
    for (cert_file, key_file, named) in cases {
        let config = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:7687")
            .with_listen_tls(ListenTls {
                cert_file,
                key_file,
            });
        match Proxy::bind(config).await {
            Err(e @ Error::ListenTls(_)) => {
                let msg = e.to_string();
                assert!(msg.contains(named), "{msg}");
                assert!(!msg.contains(key_body), "no key material in {msg}");
            }
            other => panic!("{named}: {other:?}"),
        }
    }
}
