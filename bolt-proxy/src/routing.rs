//! Routing tables that keep drivers on the proxy.
//!
//! A driver given a `neo4j://` URI asks its first server for a routing table (ROUTE) and from
//! then on opens its connections to the addresses listed there. Forwarded unchanged, the table
//! names the database servers themselves: the driver would leave the proxy after its first
//! request and its queries would go untraced, or fail where the servers cannot be reached from
//! the client (FalkorDB lists a fixed `localhost:7687`, measured). So every address in a
//! table the proxy forwards becomes the proxy's own. Since Bolt 5.8 the answer to LOGON names
//! the server's advertised address too (Neo4j 5.26: `localhost:PORT`, measured); it is
//! rewritten the same way, so no driver that starts reading it is sent around the proxy.

use bolt::{Map, Request, Value};

/// The address a routing table should name for this client: the configured one if any, else
/// the `address` the driver put in its routing context (ROUTE's, or HELLO's for LOGON's
/// answer: the `HOST:PORT` it was given, so one that reaches the proxy from where the driver
/// runs), else `local`, the proxy address the client's connection reached.
pub(crate) fn advertised_address(
    configured: Option<&str>,
    from_driver: Option<&str>,
    local: impl FnOnce() -> String,
) -> String {
    if let Some(a) = configured {
        return a.to_owned();
    }
    match from_driver {
        Some(a) if super::upstream::split_host_port(a).is_some() => a.to_owned(),
        _ => local(),
    }
}

/// The `address` of a ROUTE's routing context.
pub(crate) fn route_address(route: &Request) -> Option<&str> {
    match route {
        Request::Route { routing, .. } => routing.get_str("address"),
        _ => None,
    }
}

/// Rewrites the `advertised_address` of a LOGON's SUCCESS (Bolt 5.8+) to `address`, in place.
/// Returns whether the metadata held one.
pub(crate) fn point_logon_at(metadata: &mut Map, address: &str) -> bool {
    match metadata.get_mut("advertised_address") {
        Some(v @ Value::String(_)) => {
            *v = Value::from(address);
            true
        }
        _ => false,
    }
}

/// Rewrites the metadata of a ROUTE's SUCCESS (`{rt: {ttl, db, servers: [{addresses, role}]}}`)
/// so that every role with addresses lists `address` alone. Roles, `ttl`, `db` and key order
/// are kept, and a role with no address stays empty: the proxy does not claim a writer the
/// cluster has not got. Returns `false`, and leaves `metadata` as it was, when it does not hold
/// a routing table of that shape.
pub(crate) fn point_at(metadata: &mut Map, address: &str) -> bool {
    // Checked whole before anything changes, so a half-rewritten table never goes out.
    let well_formed = metadata
        .get("rt")
        .and_then(Value::as_map)
        .and_then(|rt| rt.get("servers"))
        .and_then(Value::as_list)
        .is_some_and(|servers| {
            servers.iter().all(|s| {
                s.as_map()
                    .and_then(|s| s.get("addresses"))
                    .and_then(Value::as_list)
                    .is_some()
            })
        });
    if !well_formed {
        return false;
    }
    let Some(Value::Map(rt)) = metadata.get_mut("rt") else {
        unreachable!("checked above");
    };
    let Some(Value::List(servers)) = rt.get_mut("servers") else {
        unreachable!("checked above");
    };
    for server in servers {
        let Value::Map(server) = server else {
            unreachable!("checked above");
        };
        let Some(Value::List(addresses)) = server.get_mut("addresses") else {
            unreachable!("checked above");
        };
        if !addresses.is_empty() {
            *addresses = vec![Value::from(address)];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(role: &str, addresses: &[&str]) -> Value {
        let addresses: Vec<Value> = addresses.iter().map(|a| Value::from(*a)).collect();
        Value::Map(
            [
                ("addresses", Value::List(addresses)),
                ("role", Value::from(role)),
            ]
            .into_iter()
            .collect(),
        )
    }

    fn table(servers: Vec<Value>) -> Map {
        let rt: Map = [
            ("ttl", Value::Int(300)),
            ("db", Value::from("neo4j")),
            ("servers", Value::List(servers)),
        ]
        .into_iter()
        .collect();
        [("rt", Value::Map(rt))].into_iter().collect()
    }

    #[test]
    fn every_role_names_the_proxy_once_and_the_rest_is_kept() {
        let mut meta = table(vec![
            server("ROUTE", &["a:7687", "b:7687", "c:7687"]),
            server("READ", &["b:7687", "c:7687"]),
            server("WRITE", &["a:7687"]),
        ]);
        assert!(point_at(&mut meta, "proxy:7687"));
        assert_eq!(
            meta,
            table(vec![
                server("ROUTE", &["proxy:7687"]),
                server("READ", &["proxy:7687"]),
                server("WRITE", &["proxy:7687"]),
            ])
        );
        let rt = meta.get("rt").and_then(Value::as_map).unwrap();
        let keys: Vec<&str> = rt.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["ttl", "db", "servers"], "key order kept");
    }

    #[test]
    fn a_role_without_servers_stays_empty() {
        let mut meta = table(vec![
            server("ROUTE", &["a:7687"]),
            server("READ", &["a:7687"]),
            server("WRITE", &[]),
        ]);
        assert!(point_at(&mut meta, "[::1]:7700"));
        assert_eq!(
            meta,
            table(vec![
                server("ROUTE", &["[::1]:7700"]),
                server("READ", &["[::1]:7700"]),
                server("WRITE", &[]),
            ])
        );
    }

    #[test]
    fn anything_else_is_left_alone() {
        let odd = [
            Map::new(),
            [("rt", Value::from("x"))].into_iter().collect(),
            [("rt", Value::Map(Map::new()))].into_iter().collect(),
            table(vec![Value::from("a:7687")]),
            // One entry malformed: the well-formed one before it is not rewritten either.
            table(vec![
                server("READ", &["a:7687"]),
                Value::Map([("role", Value::from("WRITE"))].into_iter().collect()),
            ]),
        ];
        for meta in odd {
            let mut m = meta.clone();
            assert!(!point_at(&mut m, "proxy:7687"), "{meta:?}");
            assert_eq!(m, meta);
        }
    }

    fn route(routing: &[(&str, &str)]) -> Request {
        Request::Route {
            routing: routing.iter().map(|(k, v)| (*k, Value::from(*v))).collect(),
            bookmarks: vec![],
            extra: Map::new(),
        }
    }

    #[test]
    fn the_address_is_configured_else_the_drivers_else_the_socket() {
        let local = || "10.0.0.5:7687".to_owned();
        let dialed = route(&[("address", "proxy.internal:7687")]);
        assert_eq!(
            advertised_address(Some("bolt.example.com:443"), route_address(&dialed), local),
            "bolt.example.com:443"
        );
        assert_eq!(
            advertised_address(None, route_address(&dialed), local),
            "proxy.internal:7687"
        );
        for unusable in [
            route(&[]),
            route(&[("address", "")]),
            route(&[("address", "no-port")]),
            route(&[("region", "eu")]),
        ] {
            assert_eq!(
                advertised_address(None, route_address(&unusable), local),
                "10.0.0.5:7687"
            );
        }
    }

    #[test]
    fn logon_answers_name_the_proxy_and_keep_the_rest() {
        let mut meta: Map = [
            ("advertised_address", Value::from("localhost:7687")),
            ("credentials_expired", Value::Bool(false)),
        ]
        .into_iter()
        .collect();
        assert!(point_logon_at(&mut meta, "proxy:7687"));
        assert_eq!(meta.get_str("advertised_address"), Some("proxy:7687"));
        assert_eq!(meta.len(), 2);
        let mut older = Map::new();
        assert!(!point_logon_at(&mut older, "proxy:7687"));
        assert!(older.is_empty());
    }
}
