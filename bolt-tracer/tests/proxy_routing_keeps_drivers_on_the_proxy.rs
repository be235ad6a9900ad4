//! Drivers that route (`neo4j://`) stay on the proxy. A routing table forwarded as the server
//! sent it names the server's own addresses (FalkorDB: a fixed `localhost:7687`), so the driver
//! would leave the proxy after its first ROUTE: its queries untraced, or failing where that
//! address does not reach the server. The proxy rewrites every table to name itself.

mod proxy_support;

use std::time::Duration;

use bolt_tracer::bolt::{Map, Request, Response, Value, Version};
use bolt_tracer::proxy::{Error, Proxy, ProxyConfig};
use proxy_support::otlp::{OtlpCollector, spans_of, spawn_proxy_binary, terminate};
use proxy_support::{FalkorDb, QUERIES_PER_RUN, RawClient, RunningProxy, python_workload};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_using_neo4j_scheme_run_everything_through_the_proxy() {
    let db = FalkorDb::start();
    let reference = python_workload(
        "venv/bin/python",
        format!("bolt://{}", db.bolt_addr()),
        "routedirect",
    )
    .await;
    assert!(
        reference.contains("\"rows\": [3000, 4501500"),
        "{reference}"
    );

    let collector = OtlpCollector::start().await;
    // FalkorDB files a RUN under the graph named by its extras' first key, and a routing
    // driver names the database in every RUN: the bridge's compatibility mode keeps them in
    // one graph, as a direct bolt:// client's are.
    let (mut proxy, addr) =
        spawn_proxy_binary(&db.bolt_addr(), collector.port, 200, &["--falkordb-compat"]).await;
    let uri = format!("neo4j://{addr}");
    let v5 = python_workload("venv/bin/python", uri.clone(), "routev5").await;
    let v44 = python_workload("neo4j44/bin/python", uri, "routev44").await;
    assert_eq!(v5, reference, "5.x over neo4j:// gets what bolt:// gets");
    assert_eq!(v44, reference, "4.4 over neo4j:// gets what bolt:// gets");

    assert!(terminate(&mut proxy, Duration::from_secs(15)).await);
    // Every query of both runs went through the proxy: none bypassed it after routing.
    let spans = collector.spans();
    for bolt_4 in [false, true] {
        let run = spans_of(&spans, bolt_4);
        assert_eq!(run.len(), QUERIES_PER_RUN, "Bolt 4: {bolt_4}, {run:#?}");
    }
}

/// Sends ROUTE with `routing` and returns the SUCCESS metadata.
async fn route(c: &mut RawClient, routing: &[(&str, &str)]) -> Map {
    c.w.queue_request(&Request::Route {
        routing: routing.iter().map(|(k, v)| (*k, Value::from(*v))).collect(),
        bookmarks: vec![],
        extra: Map::new(),
    })
    .unwrap();
    c.w.flush().await.unwrap();
    match c.recv().await {
        Response::Success { metadata } => metadata,
        other => panic!("ROUTE answered {other:?}"),
    }
}

/// `(role, addresses)` of a routing table, and the table with its addresses taken out.
fn roles(meta: &Map) -> (Vec<(String, Vec<String>)>, Map) {
    let mut rt = meta.get("rt").and_then(Value::as_map).unwrap().clone();
    let servers = rt.remove("servers").unwrap();
    let roles = servers
        .as_list()
        .unwrap()
        .iter()
        .map(|s| {
            let s = s.as_map().unwrap();
            let addresses = s.get("addresses").and_then(Value::as_list).unwrap();
            (
                s.get_str("role").unwrap().to_owned(),
                addresses
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    (roles, rt)
}

/// Checks `meta` is FalkorDB's own table `direct` with every address replaced by `expected`,
/// and that the connection still serves queries after it.
async fn assert_names(c: &mut RawClient, meta: &Map, direct: &Map, expected: &str) {
    let (got, rest) = roles(meta);
    let (theirs, direct_rest) = roles(direct);
    assert_eq!(rest, direct_rest, "ttl and db as the server sent them");
    assert_eq!(got.len(), theirs.len(), "{got:?} vs {theirs:?}");
    for ((role, addresses), (their_role, _)) in got.iter().zip(&theirs) {
        assert_eq!(role, their_role);
        assert_eq!(addresses, &[expected.to_owned()], "{role}");
    }
    let (_, rows, summary) = c.query("RETURN 7 AS x").await;
    assert_eq!(rows, vec![vec![Value::Int(7)]]);
    assert!(matches!(summary, Response::Success { .. }), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_tables_name_the_proxy_for_every_role() {
    let db = FalkorDb::start();
    let mut direct = RawClient::login(db.bolt_addr().parse().unwrap(), Version::new(5, 7)).await;
    let theirs = route(&mut direct, &[]).await;
    let (their_roles, _) = roles(&theirs);
    assert!(
        their_roles.iter().all(|(_, a)| a == &["localhost:7687"]),
        "FalkorDB names itself localhost:7687 (why this matters): {their_roles:?}"
    );

    let proxy = RunningProxy::start(&db.bolt_addr()).await;
    for version in [Version::new(5, 7), Version::V4_4] {
        let mut c = RawClient::login(proxy.addr, version).await;
        // The address the driver says it dialed...
        let meta = route(&mut c, &[("address", "drivers-see.example:7777")]).await;
        assert_names(&mut c, &meta, &theirs, "drivers-see.example:7777").await;
        // ... else the proxy address the connection reached.
        let meta = route(&mut c, &[("region", "eu")]).await;
        assert_names(&mut c, &meta, &theirs, &proxy.addr.to_string()).await;
    }
    proxy.stop().await.unwrap();

    // A configured address wins over both.
    let config = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), db.bolt_addr())
        .with_advertised_address("bolt.example.com:443");
    let proxy = RunningProxy::start_with(config).await;
    let mut c = RawClient::login(proxy.addr, Version::new(5, 7)).await;
    let meta = route(&mut c, &[("address", "drivers-see.example:7777")]).await;
    assert_names(&mut c, &meta, &theirs, "bolt.example.com:443").await;
    proxy.stop().await.unwrap();
}

#[tokio::test]
async fn an_advertised_address_without_a_port_is_refused_at_start() {
    for bad in ["bolt.example.com", ":7687", "host:port"] {
        let config = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:7687")
            .with_advertised_address(bad);
        match Proxy::bind(config).await {
            Err(e @ Error::AdvertisedAddress(_)) => {
                assert!(e.to_string().contains("HOST:PORT"), "{e}")
            }
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}
