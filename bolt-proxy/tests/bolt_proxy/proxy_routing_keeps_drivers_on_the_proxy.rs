//! Drivers that route (`neo4j://`) stay on the proxy. A routing table forwarded as the server
//! sent it names the server's own addresses (Neo4j: its advertised address; FalkorDB: a fixed
//! `localhost:7687`), so the driver would leave the proxy after its first ROUTE: its queries
//! untraced, or failing where that address does not reach the server. The proxy rewrites every
//! table, and the advertised address Bolt 5.8 puts in LOGON's answer, to name itself.

use std::net::SocketAddr;
use std::time::Duration;

use crate::proxy_support::otlp::{spans_of, spawn_proxy_binary, start_collector, terminate};
use crate::proxy_support::{
    FALKORDB_USER, FalkorDb, QUERIES_PER_RUN, RawClient, RunningProxy, neo4j, python_workload_on,
};
use bolt::{Map, Request, Response, Value, Version};
use bolt_proxy::{Error, Proxy, ProxyConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drivers_using_neo4j_scheme_run_everything_through_the_proxy() {
    let neo4j = neo4j();
    let reference =
        python_workload_on("venv/bin/python", neo4j.uri.clone(), "routedirect", neo4j).await;
    assert!(
        reference.results.contains("\"rows\": [3000, 4501500"),
        "{reference:?}"
    );
    // Directly, a routing driver's connections go where Neo4j's table says: to Neo4j.
    let direct =
        python_workload_on("venv/bin/python", neo4j.routing_uri(), "routeneo4j", neo4j).await;
    assert_eq!(direct.results, reference.results);
    assert_eq!(direct.addresses, [neo4j.addr().to_string()]);

    let collector = start_collector().await;
    let upstream = neo4j.addr().to_string();
    let (mut proxy, addr) = spawn_proxy_binary(&upstream, &collector, 200, &[]).await;
    let uri = format!("neo4j://{addr}");
    let v5 = python_workload_on("venv/bin/python", uri.clone(), "routev5", neo4j).await;
    let v44 = python_workload_on("neo4j44/bin/python", uri, "routev44", neo4j).await;
    assert_eq!(
        v5.results, reference.results,
        "5.x over neo4j:// gets what bolt:// gets"
    );
    assert_eq!(
        v44.results, reference.results,
        "4.4 over neo4j:// gets what bolt:// gets"
    );
    // The routing tables they received named the proxy: the connections their auto-commit
    // query, explicit transaction and managed read transaction used all reached it.
    for run in [&v5, &v44] {
        assert_eq!(run.addresses, [addr.to_string()], "{run:?}");
    }

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

/// Checks `meta` is the server's own table `direct` with every address replaced by
/// `expected`, and that the connection still serves queries after it.
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

/// A Bolt server to route through, and how to log in to it.
struct Server {
    addr: SocketAddr,
    user: String,
    password: String,
    /// The 5.x version its clients speak to it.
    v5: Version,
}

/// Through a proxy in front of `server`, at its 5.x version and at 4.4, ROUTE answers name the
/// address the driver dialed, else the proxy's, else (configured) the advertised one; the
/// server's own table.
async fn tables_name_the_proxy(server: &Server) -> Map {
    let login = |addr, version| RawClient::login_as(addr, version, &server.user, &server.password);
    let mut direct = login(server.addr, server.v5).await;
    let theirs = route(&mut direct, &[]).await;

    let proxy = RunningProxy::start(&server.addr.to_string()).await;
    for version in [server.v5, Version::V4_4] {
        let mut c = login(proxy.addr, version).await;
        // The address the driver says it dialed...
        let meta = route(&mut c, &[("address", "drivers-see.example:7777")]).await;
        assert_names(&mut c, &meta, &theirs, "drivers-see.example:7777").await;
        // ... else the proxy address the connection reached.
        let meta = route(&mut c, &[("region", "eu")]).await;
        assert_names(&mut c, &meta, &theirs, &proxy.addr.to_string()).await;
    }
    proxy.stop().await.unwrap();

    // A configured address wins over both.
    let config = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), server.addr.to_string())
        .with_advertised_address("bolt.example.com:443");
    let proxy = RunningProxy::start_with(config).await;
    let mut c = login(proxy.addr, server.v5).await;
    let meta = route(&mut c, &[("address", "drivers-see.example:7777")]).await;
    assert_names(&mut c, &meta, &theirs, "bolt.example.com:443").await;
    proxy.stop().await.unwrap();
    theirs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_tables_name_the_proxy_for_every_role() {
    // Neo4j: passed through at 5.8 and 4.4.
    let neo4j = neo4j();
    let theirs = tables_name_the_proxy(&Server {
        addr: neo4j.addr(),
        user: neo4j.user.clone(),
        password: neo4j.password.clone(),
        v5: Version::V5_8,
    })
    .await;
    let (their_roles, _) = roles(&theirs);
    assert!(
        their_roles
            .iter()
            .all(|(_, a)| a == &[neo4j.addr().to_string()]),
        "Neo4j names its advertised address: {their_roles:?}"
    );

    // FalkorDB: passed through at 5.7, translated from 4.4.
    let db = FalkorDb::start();
    let theirs = tables_name_the_proxy(&Server {
        addr: db.bolt_addr().parse().unwrap(),
        user: FALKORDB_USER.into(),
        password: String::new(),
        v5: Version::V5_7,
    })
    .await;
    let (their_roles, _) = roles(&theirs);
    assert!(
        their_roles.iter().all(|(_, a)| a == &["localhost:7687"]),
        "FalkorDB names itself localhost:7687 (why this matters): {their_roles:?}"
    );
}

/// HELLO (with a routing context naming `dialed`, if given) and LOGON at Bolt 5.8 to `addr`,
/// logging in to the shared Neo4j; the LOGON answer's metadata.
async fn logon_answer(addr: SocketAddr, dialed: Option<&str>) -> Map {
    let neo4j = neo4j();
    let mut c = RawClient::connect(addr, Version::V5_8).await.unwrap();
    let mut hello: Map = [
        ("user_agent", Value::from("raw-test/1")),
        (
            "bolt_agent",
            Value::Map([("product", "raw-test/1")].into_iter().collect()),
        ),
    ]
    .into_iter()
    .collect();
    if let Some(a) = dialed {
        hello.insert(
            "routing",
            Value::Map([("address", a)].into_iter().collect()),
        );
    }
    c.w.queue_request(&Request::Hello { extra: hello }).unwrap();
    let auth: Map = [
        ("scheme", "basic"),
        ("principal", neo4j.user.as_str()),
        ("credentials", neo4j.password.as_str()),
    ]
    .into_iter()
    .collect();
    c.w.queue_request(&Request::Logon { auth }).unwrap();
    c.w.flush().await.unwrap();
    let hello = c.recv().await;
    assert!(matches!(hello, Response::Success { .. }), "{hello:?}");
    match c.recv().await {
        Response::Success { metadata } => metadata,
        other => panic!("LOGON answered {other:?}"),
    }
}

#[tokio::test]
async fn logon_answers_name_the_proxy_as_the_advertised_address() {
    let neo4j = neo4j();
    let theirs = logon_answer(neo4j.addr(), None).await;
    let advertised = theirs
        .get_str("advertised_address")
        .expect("Neo4j 5.26 answers a 5.8 LOGON with its advertised address");
    assert!(
        advertised.ends_with(&format!(":{}", neo4j.addr().port())),
        "{advertised}"
    );

    let proxy = RunningProxy::start(&neo4j.addr().to_string()).await;
    let through = logon_answer(proxy.addr, Some("drivers-see.example:7777")).await;
    assert_eq!(
        through.get_str("advertised_address"),
        Some("drivers-see.example:7777"),
        "the address the driver dialed"
    );
    let through = logon_answer(proxy.addr, None).await;
    assert_eq!(
        through.get_str("advertised_address"),
        Some(proxy.addr.to_string().as_str()),
        "else the proxy's own"
    );
    assert_eq!(
        through.len(),
        theirs.len(),
        "nothing else changed: {through:?}"
    );
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
