//! `bolt-proxy`: a Bolt proxy that traces every query of any client and bridges Bolt 4.4
//! clients to Bolt 5 servers. Telemetry follows the standard `OTEL_*` variables.
//!
//! ```text
//! bolt-proxy --listen 127.0.0.1:7687 --upstream 127.0.0.1:7688
//! ```
//!
//! On SIGTERM or SIGINT it stops accepting, lets in-flight queries finish within the grace
//! period, closes what is left, flushes the spans and exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bolt_proxy::{ListenTls, Proxy, ProxyConfig, UpstreamTls};
use clap::Parser;

/// Command line; every option also reads a `BOLT_PROXY_*` variable.
#[derive(Debug, Parser)]
#[command(name = "bolt-proxy", version, about)]
struct Args {
    /// Address to accept Bolt clients on (port 0: any free port, printed at start).
    #[arg(long, env = "BOLT_PROXY_LISTEN", default_value = "127.0.0.1:7687")]
    listen: SocketAddr,
    /// The Bolt server, HOST:PORT.
    #[arg(long, env = "BOLT_PROXY_UPSTREAM")]
    upstream: String,
    /// Accept clients over TLS only (bolt+s://, neo4j+s://), with this PEM certificate chain.
    #[arg(long, env = "BOLT_PROXY_LISTEN_TLS_CERT", requires = "listen_tls_key")]
    listen_tls_cert: Option<PathBuf>,
    /// The PEM private key of --listen-tls-cert.
    #[arg(long, env = "BOLT_PROXY_LISTEN_TLS_KEY", requires = "listen_tls_cert")]
    listen_tls_key: Option<PathBuf>,
    /// Speak TLS to the upstream.
    #[arg(long, env = "BOLT_PROXY_UPSTREAM_TLS")]
    upstream_tls: bool,
    /// Name to check the upstream's certificate against (default: the upstream host).
    #[arg(long, env = "BOLT_PROXY_TLS_SERVER_NAME", requires = "upstream_tls")]
    tls_server_name: Option<String>,
    /// PEM file of CA certificates to trust for the upstream, on top of the public roots.
    #[arg(long, env = "BOLT_PROXY_TLS_CA", requires = "upstream_tls")]
    tls_ca: Option<PathBuf>,
    /// Close client connections idle this long, in seconds (0: never).
    #[arg(long, env = "BOLT_PROXY_IDLE_TIMEOUT", default_value = "600", value_parser = seconds)]
    idle_timeout: Duration,
    /// Time for a client's handshake and the upstream connection, in seconds.
    #[arg(long, env = "BOLT_PROXY_HANDSHAKE_TIMEOUT", default_value = "10", value_parser = seconds)]
    handshake_timeout: Duration,
    /// Most client connections at once; more are closed at once.
    #[arg(long, env = "BOLT_PROXY_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// On shutdown, time for in-flight queries to finish, in seconds.
    #[arg(long, env = "BOLT_PROXY_SHUTDOWN_GRACE", default_value = "10", value_parser = seconds)]
    shutdown_grace: Duration,
    /// FalkorDB compatibility: send RUN and BEGIN upstream without their extra map (FalkorDB
    /// picks its graph from that map's first key name and hangs on `tx_metadata`; tracing still
    /// reads it), close instead of passing GOODBYE on, and keep racing upstream connections
    /// while FalkorDB leaves handshakes unanswered.
    #[arg(long, env = "BOLT_PROXY_FALKORDB_COMPAT")]
    falkordb_compat: bool,
    /// HOST:PORT that routing tables (`neo4j://` drivers) name for every role, so drivers stay
    /// on the proxy (default: the address the driver dialed).
    #[arg(long, env = "BOLT_PROXY_ADVERTISED_ADDRESS")]
    advertised_address: Option<String>,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let telemetry = init_telemetry()?;
    let config = ProxyConfig {
        listen: args.listen,
        upstream: args.upstream,
        listen_tls: args
            .listen_tls_cert
            .zip(args.listen_tls_key)
            .map(|(cert_file, key_file)| ListenTls {
                cert_file,
                key_file,
            }),
        upstream_tls: args.upstream_tls.then_some(UpstreamTls {
            server_name: args.tls_server_name,
            ca_file: args.tls_ca,
        }),
        idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
        handshake_timeout: args.handshake_timeout,
        max_connections: args.max_connections,
        shutdown_grace: args.shutdown_grace,
        falkordb_compat: args.falkordb_compat,
        advertised_address: args.advertised_address,
        ..ProxyConfig::default()
    };
    let proxy = Proxy::bind(config).await.context("starting bolt-proxy")?;
    // On stdout, for scripts and tests that asked for port 0.
    println!("bolt-proxy listening on {}", proxy.local_addr());
    proxy.run(shutdown_signal()).await?;
    telemetry
        .shutdown()
        .context("flushing telemetry at shutdown")?;
    Ok(())
}

/// OpenTelemetry from the `OTEL_*` variables (service name `bolt-proxy` unless
/// `OTEL_SERVICE_NAME` says otherwise), and JSON logs on stderr filtered by `RUST_LOG`.
fn init_telemetry() -> anyhow::Result<telemetry::TelemetryGuard> {
    telemetry::init("bolt-proxy").context("setting up telemetry")
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "bolt-proxy: cannot watch SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("bolt-proxy: SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("bolt-proxy: SIGINT received"),
    }
}
