//! The handshake manifest (v1), byte by byte: a client that proposes it gets a manifest from the
//! proxy listing what the proxy can serve over the upstream connection it has just opened: the
//! upstream's own manifest less what the codec does not speak (Neo4j), or the one version a
//! classic upstream chose plus 4.4 through translation (FalkorDB). The client's choice is then
//! served, passed through or translated; a choice that was not offered closes the connection;
//! and with the upstream down, a manifest client still gets the transient FAILURE.

use std::net::SocketAddr;
use std::time::Duration;

use crate::proxy_support::{FALKORDB_USER, FalkorDb, RawClient, RunningProxy, neo4j, neo4j_latest};
use bolt::handshake::{MANIFEST_V1, SUPPORTED};
use bolt::{
    Handshake, Manifest, ManifestChoice, MessageReader, MessageWriter, Proposal, Request, Response,
    Value, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Opens with a manifest proposal and a 5.x range behind it (as the 5.x and 6.x Python
/// drivers do); returns the stream and the proxy's offer.
async fn manifest_offer(addr: SocketAddr) -> (TcpStream, Manifest) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let hs = Handshake::new(&[
        Proposal::Manifest(MANIFEST_V1),
        Proposal::Range {
            major: 5,
            minor: 8,
            range: 8,
        },
    ]);
    s.write_all(&hs.to_bytes()).await.unwrap();
    let mut answer = [0u8; 4];
    s.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, [0, 0, MANIFEST_V1, 0xFF], "a manifest answer");
    let offer = Manifest::read(&mut s).await.unwrap();
    assert_eq!(offer.capabilities, 0, "no capability is offered");
    (s, offer)
}

/// Writes the choice of `version`, logs in and runs a query.
async fn choose_and_query(mut s: TcpStream, version: Version, user: &str, password: &str) {
    let choice = ManifestChoice {
        version: Some(version),
        capabilities: 0,
    };
    s.write_all(&choice.to_bytes()).await.unwrap();
    let (r, w) = s.into_split();
    let mut c = RawClient {
        version,
        r: MessageReader::new(r),
        w: MessageWriter::new(w),
    };
    c.log_in(user, password).await.unwrap();
    let (_, rows, summary) = c.query("RETURN 42 AS x").await;
    assert_eq!(rows, [[Value::Int(42)]], "{version}");
    assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
}

#[tokio::test]
async fn manifest_clients_choose_among_what_the_upstream_offers() {
    // The newest Neo4j offers 4.0-4.4, 5.0-5.4, 5.6-5.8 and 6.0-6.1 (measured); the proxy
    // passes on what it speaks.
    let latest = neo4j_latest();
    let proxy = RunningProxy::start(&latest.addr().to_string()).await;
    let (s, offer) = manifest_offer(proxy.addr).await;
    assert_eq!(
        offer.versions(&SUPPORTED),
        [
            Version::V6_0,
            Version::V5_8,
            Version::V5_7,
            Version::new(5, 6),
            Version::new(5, 4),
            Version::new(5, 3),
            Version::new(5, 2),
            Version::new(5, 1),
            Version::V5_0,
            Version::V4_4,
        ]
    );
    assert!(!offer.offers(Version::new(6, 1)), "6.1 needs PackStream v2");
    choose_and_query(s, Version::V6_0, &latest.user, &latest.password).await;
    // Any version offered is served, not only the best.
    let (s, _) = manifest_offer(proxy.addr).await;
    choose_and_query(s, Version::new(5, 6), &latest.user, &latest.password).await;
    proxy.stop().await.unwrap();

    // Neo4j 5.26 offers no 6.x: neither does the proxy.
    let lts = neo4j();
    let proxy = RunningProxy::start(&lts.addr().to_string()).await;
    let (s, offer) = manifest_offer(proxy.addr).await;
    assert_eq!(offer.versions(&SUPPORTED)[0], Version::V5_8);
    assert!(!offer.offers(Version::V6_0));
    choose_and_query(s, Version::V5_8, &lts.user, &lts.password).await;
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn a_classic_upstream_offers_its_version_and_translation() {
    // FalkorDB answers with one version (5.7): the manifest offers it, and 4.4 translated.
    let db = FalkorDb::start();
    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    let (s, offer) = manifest_offer(proxy.addr).await;
    assert_eq!(offer.versions(&SUPPORTED), [Version::V5_7, Version::V4_4]);
    choose_and_query(s, Version::V4_4, FALKORDB_USER, "").await;
    let (s, _) = manifest_offer(proxy.addr).await;
    choose_and_query(s, Version::V5_7, FALKORDB_USER, "").await;
    proxy.stop().await.unwrap();
}

/// Reads until the proxy closes the connection; what it sent.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    timeout(Duration::from_secs(10), s.read_to_end(&mut rest))
        .await
        .expect("the proxy closes the connection")
        .unwrap();
    rest
}

#[tokio::test]
async fn a_choice_that_was_not_offered_closes_the_connection() {
    let lts = neo4j();
    let proxy = RunningProxy::start(&lts.addr().to_string()).await;
    let not_offered = [
        // 6.0: Neo4j 5.26 does not speak it.
        ManifestChoice {
            version: Some(Version::V6_0),
            capabilities: 0,
        }
        .to_bytes(),
        // Nothing: the client found no version it speaks.
        ManifestChoice {
            version: None,
            capabilities: 0,
        }
        .to_bytes(),
        // A range where one version belongs.
        vec![0x00, 0x02, 0x08, 0x05, 0x00],
    ];
    for choice in not_offered {
        let (mut s, _) = manifest_offer(proxy.addr).await;
        s.write_all(&choice).await.unwrap();
        assert_eq!(read_to_close(&mut s).await, b"", "{choice:?}");
    }
    // The proxy goes on serving.
    let (s, _) = manifest_offer(proxy.addr).await;
    choose_and_query(s, Version::V5_8, &lts.user, &lts.password).await;
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn a_manifest_client_gets_the_transient_failure_when_the_upstream_is_down() {
    // A port nothing listens on: bound, then released.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = free.local_addr().unwrap().to_string();
    drop(free);
    let proxy = RunningProxy::start(&upstream).await;
    let (mut s, offer) = manifest_offer(proxy.addr).await;
    assert_eq!(
        offer.versions(&SUPPORTED),
        SUPPORTED,
        "everything it speaks"
    );
    let choice = ManifestChoice {
        version: Some(Version::V6_0),
        capabilities: 0,
    };
    s.write_all(&choice.to_bytes()).await.unwrap();
    let (r, w) = s.into_split();
    let mut c = RawClient {
        version: Version::V6_0,
        r: MessageReader::new(r),
        w: MessageWriter::new(w),
    };
    // The first message gets the answer drivers retry on, in 6.0's shape.
    c.w.queue_request(&Request::Hello {
        extra: [("user_agent", "raw-test/1")].into_iter().collect(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    match c.recv().await {
        Response::Failure { metadata } => assert_eq!(
            metadata.get_str("neo4j_code"),
            Some("Neo.TransientError.General.DatabaseUnavailable"),
            "{metadata:?}"
        ),
        other => panic!("expected a FAILURE, got {other:?}"),
    }
    proxy.stop().await.unwrap();
}
