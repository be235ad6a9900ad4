//! What bolt-proxy costs: added median latency and throughput, direct to the database vs
//! through a plain TCP relay vs through the proxy, for `RETURN 1` and for a 10,000-row query,
//! with 1 client and with 16 concurrent clients.
//!
//! `cargo bench -p bolt-proxy --bench bolt_proxy_overhead` measures FalkorDB: the proxy
//! passing frames through (Bolt 5.7 client) and translating (Bolt 4.4 client).
//! `BENCH_UPSTREAM=neo4j` measures the run's shared Neo4j 5.26 instead
//! (`fixtures::shared::neo4j()`: `source` the session's `FIXTURES_NEO4J_*` variables, or one is
//! started), passing through at Bolt 5.8; Neo4j speaks 4.4 itself, so nothing is translated.
//! Set `BENCH_SECS` to change the length of each throughput run (default 1);
//! `BENCH_PLACEMENT=split` runs the clients and the proxy on CPU 0 and FalkorDB on the other
//! CPUs (FalkorDB only: the shared Neo4j's JVM is not this bench's to confine), see
//! [`Placement`]. Latency samples interleave the paths query by query in random order;
//! throughput runs the paths in a fresh random order in each of 5 rounds, and shares of direct
//! throughput are taken within a round, so the machine's drift (large on a shared VM) spreads
//! over every path instead of landing on one. FalkorDB crashes under sustained concurrent
//! load, so each of its throughput runs gets a fresh instance and is repeated if it crashes
//! anyway. Spans are recorded by the OpenTelemetry SDK with a
//! batch processor into an exporter that drops them, and the query histograms by the SDK's
//! meter into memory, so the cost of tracing is included.
//! The clients are minimal Bolt clients on the crate's codec; they decode every record on every
//! path, so the differences are the proxy's.

#[path = "../tests/bolt_proxy/proxy_support/mod.rs"]
mod proxy_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bolt::{Response, Version};
use bolt_proxy::{Proxy, ProxyConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use proxy_support::{FALKORDB_USER, FalkorDb, Neo4jEndpoint, RawClient};

/// Counts spans and drops them.
#[derive(Debug, Default, Clone)]
struct CountingExporter(Arc<AtomicU64>);

impl SpanExporter for CountingExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        async { Ok(()) }
    }
}

#[derive(Clone, Copy)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    version: Version,
    user: &'static str,
    password: &'static str,
}

impl Target {
    async fn login(&self) -> RawClient {
        RawClient::login_as(self.addr, self.version, self.user, self.password).await
    }
}

/// The database the bench measures (`BENCH_UPSTREAM`).
enum Database {
    /// A FalkorDB of the bench's own, restarted for every throughput run.
    FalkorDb(FalkorDb),
    /// The run's shared Neo4j 5.26.
    Neo4j(&'static Neo4jEndpoint),
}

impl Database {
    fn start(placement: Placement) -> Database {
        match std::env::var("BENCH_UPSTREAM").as_deref() {
            Ok("falkordb") | Err(_) => Database::FalkorDb(FalkorDb::start_on_cpus(
                proxy_support::free_low_port(),
                placement.server_cpus(),
            )),
            Ok("neo4j") => {
                assert!(
                    placement == Placement::Free,
                    "BENCH_PLACEMENT=split confines FalkorDB only; the shared Neo4j is not the bench's to pin"
                );
                Database::Neo4j(proxy_support::neo4j())
            }
            Ok(other) => panic!("BENCH_UPSTREAM must be falkordb or neo4j, not {other:?}"),
        }
    }

    fn bolt_addr(&self) -> SocketAddr {
        match self {
            Database::FalkorDb(db) => db.bolt_addr().parse().unwrap(),
            Database::Neo4j(n) => n.addr(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Database::FalkorDb(_) => "FalkorDB",
            Database::Neo4j(_) => "Neo4j 5.26",
        }
    }

    /// The 5.x version clients speak to it, and whether 4.4 clients are translated.
    fn v5(&self) -> (Version, bool) {
        match self {
            Database::FalkorDb(_) => (Version::V5_7, true),
            Database::Neo4j(_) => (Version::V5_8, false),
        }
    }

    fn credentials(&self) -> (&'static str, &'static str) {
        match self {
            Database::FalkorDb(_) => (FALKORDB_USER, ""),
            Database::Neo4j(n) => (n.user.as_str(), n.password.as_str()),
        }
    }
}

/// Runs `query` to the end on `c`; returns the number of records.
async fn run(c: &mut RawClient, query: &str) -> usize {
    try_run(c, query).await.unwrap()
}

/// Runs `query` to the end; `Err` when the connection fails (FalkorDB crashed).
async fn try_run(c: &mut RawClient, query: &str) -> Result<usize, String> {
    c.run(query, Default::default(), Default::default()).await;
    let mut rows = 0;
    let mut summaries = 0;
    while summaries < 2 {
        let f =
            c.r.read_message()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("closed")?;
        match Response::decode(f.payload()).map_err(|e| e.to_string())? {
            Response::Record { .. } => rows += 1,
            Response::Success { .. } => summaries += 1,
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(rows)
}

/// Fisher-Yates with xorshift64: enough to shuffle four targets, no dependency.
fn shuffle(order: &mut [usize], rng: &mut u64) {
    for i in (1..order.len()).rev() {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        order.swap(i, (*rng % (i as u64 + 1)) as usize);
    }
}

/// Median and 99th percentile per target of `rounds` rounds, each running `query` once on
/// every target in a fresh random order, one connection per target. Interleaving query by
/// query puts every target under the same machine conditions: medians of separate runs, one
/// target after the other, moved by 20-40 µs between runs on this machine.
async fn latencies(
    targets: &[Target],
    query: &str,
    rounds: usize,
    rows: usize,
    rng: &mut u64,
) -> Vec<(Duration, Duration)> {
    let mut conns = Vec::new();
    for t in targets {
        conns.push(t.login().await);
    }
    for c in &mut conns {
        for _ in 0..rounds / 10 + 5 {
            assert_eq!(run(c, query).await, rows);
        }
    }
    let mut samples = vec![Vec::with_capacity(rounds); targets.len()];
    let mut order: Vec<usize> = (0..targets.len()).collect();
    for _ in 0..rounds {
        shuffle(&mut order, rng);
        for &i in &order {
            let start = Instant::now();
            assert_eq!(run(&mut conns[i], query).await, rows);
            samples[i].push(start.elapsed());
        }
    }
    samples
        .iter_mut()
        .map(|s| {
            s.sort();
            (s[s.len() / 2], s[s.len() * 99 / 100])
        })
        .collect()
}

/// CPU time used by this process so far (clients and proxy; FalkorDB is another process).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|x| x.parse().unwrap())
        .collect();
    // utime + stime, in clock ticks of 1/100 s (Linux's USER_HZ).
    Duration::from_millis((f[0] + f[1]) * 10)
}

/// Queries per second with `clients` connections looping for `secs`, and this process's CPU
/// time per query.
async fn throughput(
    t: Target,
    query: &'static str,
    clients: usize,
    secs: f64,
    rows: usize,
) -> Result<(f64, Duration), String> {
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(t.login().await);
    }
    let done = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_time();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for mut c in conns {
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                assert_eq!(try_run(&mut c, query).await?, rows);
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.unwrap()?;
    }
    let n = done.load(Ordering::Relaxed);
    let cpu = cpu_time() - cpu0;
    Ok((
        n as f64 / start.elapsed().as_secs_f64(),
        cpu / n.max(1) as u32,
    ))
}

/// [`throughput`]; on FalkorDB, on a fresh instance each time, retried when it crashes: it
/// segfaults under 8 or more concurrent Bolt connections after some thousands of queries
/// (measured with direct clients, no proxy involved).
async fn throughput_on_fresh_db(
    db: &mut Database,
    placement: Placement,
    t: Target,
    query: &'static str,
    clients: usize,
    secs: f64,
    rows: usize,
) -> (f64, Duration) {
    let db = match db {
        Database::FalkorDb(db) => db,
        Database::Neo4j(_) => {
            return throughput(t, query, clients, secs, rows)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        }
    };
    for _ in 0..8 {
        let port = db.bolt_port;
        db.kill();
        *db = FalkorDb::start_on_cpus(port, placement.server_cpus());
        match throughput(t, query, clients, secs, rows).await {
            Ok(r) => return r,
            Err(e) => eprintln!(
                "{}: FalkorDB failed mid-run ({e}); again on a fresh one",
                t.name
            ),
        }
    }
    panic!("FalkorDB crashed on every attempt");
}

/// Where the bench's threads and FalkorDB run.
///
/// On a small VM, waking a thread on an idle vCPU costs about 20 µs (the vCPU has to leave its
/// halt), and the scheduler decides per wake-up whether the proxy runs next to the client or
/// across; so an extra hop costs 20-60 µs depending on where threads land. `Split` fixes the
/// placement every path shares: clients (and the proxy, which lives in this process) on CPU 0,
/// FalkorDB on the rest, so every path crosses CPUs the same way to reach the server and the
/// proxy's hop is a same-CPU switch. It is the placement of a sidecar proxy sharing its
/// application's cores. Throughput then has one CPU for clients and proxy together.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// Wherever the scheduler puts things (the default).
    Free,
    /// This process on CPU 0, FalkorDB on CPUs 1 and up.
    Split,
}

impl Placement {
    fn from_env() -> Placement {
        match std::env::var("BENCH_PLACEMENT").as_deref() {
            Ok("split") => Placement::Split,
            Ok("free") | Err(_) => Placement::Free,
            Ok(other) => panic!("BENCH_PLACEMENT must be free or split, not {other:?}"),
        }
    }

    /// Confines this process to CPU 0. Call before any thread starts: threads inherit it.
    fn pin_self(self) {
        if self == Placement::Free {
            return;
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(cpus >= 2, "BENCH_PLACEMENT=split needs 2 CPUs or more");
        let status = std::process::Command::new("taskset")
            .args(["-p", "-c", "0", &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("BENCH_PLACEMENT=split needs taskset (util-linux)");
        assert!(status.success(), "taskset failed: {status}");
    }

    /// The CPUs FalkorDB may use (`taskset -c` list), `None` for any.
    fn server_cpus(self) -> Option<&'static str> {
        match self {
            Placement::Free => None,
            Placement::Split => Some("1-1023"),
        }
    }
}

/// A byte-for-byte TCP relay to `upstream` (no parsing, no tracing), on the proxy's runtime:
/// the floor any proxy in its own thread pays on this machine for the extra hop.
async fn relay(upstream: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}

/// Throughput runs per target and connection count; medians are reported.
const ROUNDS: usize = 5;

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Median of `xs` (sorted in place).
fn median_of(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// One target's figures.
struct Figures {
    median: Duration,
    p99: Duration,
    /// Queries per second with 1 connection, one run per round.
    one: Vec<f64>,
    /// Queries per second with 16 connections, one run per round.
    sixteen: Vec<f64>,
    /// Client (and proxy) CPU per query at 16 connections, one per round.
    cpu: Vec<f64>,
}

/// Median, lowest and highest over rounds of the per-round ratio `a / b` (paired: the same
/// round's runs).
fn paired_ratio(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    let m = median_of(&mut r);
    (m, r[0], r[r.len() - 1])
}

/// Median over rounds of the per-round difference `a - b`.
fn paired_diff(a: &[f64], b: &[f64]) -> f64 {
    let mut d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    median_of(&mut d)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not and only checks that
    // the bench works, with short runs.
    let full = std::env::args().any(|a| a == "--bench");
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if full { 1.0 } else { 0.2 });
    let rounds = if full { ROUNDS } else { 1 };
    let placement = Placement::from_env();
    placement.pin_self();
    let spans = CountingExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans.clone())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    // The proxy's histograms at their real cost (see `in_memory_meters`).
    let meters = proxy_support::in_memory_meters();
    opentelemetry::global::set_meter_provider(meters.clone());

    proxy_support::init_logs();
    let mut db = Database::start(placement);
    // The proxy gets a runtime of its own, built as the bolt-proxy binary's (`#[tokio::main]`:
    // one worker per CPU), and the clients another: the proxy's work is not hidden inside the
    // clients' scheduling. (A single-threaded runtime for the proxy measured the same.)
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let upstream = db.bolt_addr().to_string();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let relay = relay(upstream.clone()).await;
            let proxy = Proxy::bind(ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream))
                .await
                .unwrap();
            addr_tx.send((proxy.local_addr(), relay)).unwrap();
            proxy.run(std::future::pending()).await.unwrap();
        });
    });
    let (proxy_addr, relay_addr) = addr_rx.recv().unwrap();
    let (v5, translates) = db.v5();
    let (user, password) = db.credentials();
    let target = |name, addr, version| Target {
        name,
        addr,
        version,
        user,
        password,
    };
    let direct = target(
        if translates {
            "direct (5.7)"
        } else {
            "direct (5.8)"
        },
        db.bolt_addr(),
        v5,
    );
    let plain_relay = target("plain TCP relay (reference)", relay_addr, v5);
    let passthrough = target(
        if translates {
            "proxy passthrough (5.7)"
        } else {
            "proxy passthrough (5.8)"
        },
        proxy_addr,
        v5,
    );
    let translating = target("proxy translating (4.4 -> 5.7)", proxy_addr, Version::V4_4);
    let mut targets = vec![direct, plain_relay, passthrough];
    if translates {
        targets.push(translating);
    }
    println!("\nupstream: {}", db.name());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    rt.block_on(async {
        for (label, query, iters, rows) in [
            ("RETURN 1", "RETURN 1 AS x", 5000usize, 1usize),
            (
                "10,000 rows",
                "UNWIND range(1, 10000) AS i RETURN i",
                150,
                10_000,
            ),
        ] {
            let iters = if full { iters } else { iters / 10 };
            let lat = latencies(&targets, query, iters, rows, &mut rng).await;
            let mut figs: Vec<Figures> = lat
                .into_iter()
                .map(|(median, p99)| Figures {
                    median,
                    p99,
                    one: Vec::new(),
                    sixteen: Vec::new(),
                    cpu: Vec::new(),
                })
                .collect();
            // Throughput: each round runs every target in a fresh random order, so drift in
            // the machine's speed spreads over all of them; ratios are taken within a round.
            let mut order: Vec<usize> = (0..targets.len()).collect();
            for _round in 0..rounds {
                shuffle(&mut order, &mut rng);
                for &i in &order {
                    let t = targets[i];
                    let (one, _) =
                        throughput_on_fresh_db(&mut db, placement, t, query, 1, secs, rows).await;
                    let (sixteen, cpu) =
                        throughput_on_fresh_db(&mut db, placement, t, query, 16, secs, rows).await;
                    figs[i].one.push(one);
                    figs[i].sixteen.push(sixteen);
                    figs[i].cpu.push(micros(cpu));
                }
            }
            if placement == Placement::Split {
                println!("\n(placement: clients and proxy on CPU 0, FalkorDB on the others)");
            }
            println!(
                "\n== {label}: latency over {iters} interleaved rounds, throughput median of {rounds} rounds of {secs} s =="
            );
            println!(
                "{:<32} {:>10} {:>10} {:>12} {:>12} {:>16}",
                "path", "median us", "p99 us", "qps 1 conn", "qps 16 conns", "client+proxy CPU"
            );
            for (i, t) in targets.iter().enumerate() {
                let f = &figs[i];
                println!(
                    "{:<32} {:>10.1} {:>10.1} {:>12.0} {:>12.0} {:>13.1} us",
                    t.name,
                    micros(f.median),
                    micros(f.p99),
                    median_of(&mut f.one.clone()),
                    median_of(&mut f.sixteen.clone()),
                    median_of(&mut f.cpu.clone()),
                );
                for (base, name) in [(0, "direct"), (1, "plain relay")] {
                    if i <= base {
                        continue;
                    }
                    let b = &figs[base];
                    let (share, lo, hi) = paired_ratio(&f.sixteen, &b.sixteen);
                    println!(
                        "{:<32} vs {name}: median {:+.1} us, 16-conn throughput {:.1}% ({:.1}-{:.1}%), CPU {:+.1} us/query",
                        "",
                        micros(f.median) - micros(b.median),
                        100.0 * share,
                        100.0 * lo,
                        100.0 * hi,
                        paired_diff(&f.cpu, &b.cpu),
                    );
                }
            }
        }
    });
    provider.force_flush().unwrap();
    println!(
        "\nspans recorded through the proxy: {}",
        spans.0.load(Ordering::Relaxed)
    );
}
