//! bolt-proxy's behaviour tests, one module per behaviour, in one binary: the proxy in-process
//! and as the `bolt-proxy` binary, in front of the run's shared Neo4j servers or a FalkorDB of
//! each test's own.
//!
//! The modules run in parallel threads of this one process. The in-process proxies record with
//! the global tracer provider, so there is one installation for the binary
//! ([`proxy_support::install_tracer`]) and each test picks out its own spans by a marker (its
//! FalkorDB's port, a unique label, a trace id); the binary's tests each read an OTLP collector
//! of their own.

mod proxy_support;

mod proxy_accepts_tls_clients;
mod proxy_binary_drains_and_flushes_on_sigterm;
mod proxy_binary_keeps_credentials_out_of_logs_and_spans;
mod proxy_binary_traces_the_python_drivers;
mod proxy_faults_close_one_connection_only;
mod proxy_negotiates_the_handshake_manifest;
mod proxy_neo4rs_gets_what_neo4j_gives_directly;
mod proxy_neo4rs_works_through_the_bridge;
mod proxy_outlasts_falkordb_handshake_stalls;
mod proxy_python_drivers_get_the_same_results;
mod proxy_routing_keeps_drivers_on_the_proxy;
mod proxy_spans_follow_the_conventions;
mod proxy_speaks_bolt_6_to_the_newest_neo4j;
mod proxy_speaks_tls_to_the_upstream;
mod traced_context_reaches_the_proxy;
