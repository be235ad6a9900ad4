//! The edge in-process in front of a small router, and a raw HTTP/1.1 client that controls
//! every byte it sends and sees every way a connection ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use http_edge::{EdgeLimits, EdgeStats, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

/// What the test router's handlers share with the test.
#[derive(Clone)]
pub struct Gate {
    /// `GET /block` waits for a permit here; the test adds them.
    pub permits: Arc<Semaphore>,
    /// How many requests entered `GET /block` or `GET /stuck`.
    pub entered: Arc<AtomicUsize>,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            permits: Arc::new(Semaphore::new(0)),
            entered: Arc::default(),
        }
    }
}

impl Gate {
    /// Requests inside `GET /block` or `GET /stuck` now or before.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }

    /// Lets `n` requests through `GET /block`.
    pub fn release(&self, n: usize) {
        self.permits.add_permits(n);
    }
}

/// `GET /hello` answers `hello`; `POST /echo` the length of the body it read; `GET /peer` the
/// peer address the edge gave the router; `GET /block` waits for a permit of the [`Gate`];
/// `GET /stuck` never answers.
pub fn router(gate: Gate) -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/echo",
            post(|body: Bytes| async move { body.len().to_string() }),
        )
        .route(
            "/peer",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route(
            "/block",
            get(|State(gate): State<Gate>| async move {
                gate.entered.fetch_add(1, Ordering::SeqCst);
                gate.permits.acquire().await.unwrap().forget();
                "released"
            }),
        )
        .route(
            "/stuck",
            get(|State(gate): State<Gate>| async move {
                gate.entered.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                "never"
            }),
        )
        .with_state(gate)
}

/// The edge serving [`router`] on a loopback port.
pub struct Edge {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The server, for its counters.
    pub server: Server,
    /// The router's gate.
    pub gate: Gate,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<EdgeStats>>,
}

impl Edge {
    /// Serves under `limits`.
    pub async fn start(limits: EdgeLimits) -> Edge {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let gate = Gate::default();
        let server = Server::new(limits);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.clone().serve(listener, router(gate.clone()), async {
            let _ = rx.await;
        }));
        Edge {
            addr,
            server,
            gate,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The edge's counters now.
    pub fn stats(&self) -> EdgeStats {
        self.server.stats()
    }

    /// Asks the server to shut down; [`Edge::stopped`] waits for it.
    pub fn shut_down(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down (if not yet asked) and waits for `serve` to return, `within` at most.
    pub async fn stopped(mut self, within: Duration) -> EdgeStats {
        self.shut_down();
        let task = self.task.take().unwrap();
        tokio::time::timeout(within, task)
            .await
            .unwrap_or_else(|_| panic!("serve did not return within {within:?}"))
            .unwrap()
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// One answer: the status, the headers (names in lower case) and the body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The longest a test waits for an answer or a close that should come: far beyond every
/// timeout under test, so that a server that never answers fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The server closed it (FIN or reset).
    Closed,
    /// Still open when the wait ended.
    Open,
}

/// A client connection that writes exactly what it is told.
pub struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    /// The client's own address, as the server sees it.
    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().unwrap()
    }

    /// Writes `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Sends `GET path` (keep-alive) and reads the answer.
    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(request(path).as_bytes()).await;
        self.answer()
            .await
            .unwrap_or_else(|| panic!("no answer to GET {path}"))
    }

    /// Reads one answer; `None` if the connection ends before a whole one arrived. Fails the
    /// test if neither happens within [`PATIENCE`].
    pub async fn answer(&mut self) -> Option<Answer> {
        tokio::time::timeout(PATIENCE, self.read_answer())
            .await
            .unwrap_or_else(|_| panic!("no answer and no close within {PATIENCE:?}"))
    }

    async fn read_answer(&mut self) -> Option<Answer> {
        let head_end = loop {
            if let Some(at) = find(&self.buffer, b"\r\n\r\n") {
                break at;
            }
            if !self.fill().await {
                return None;
            }
        };
        let head = String::from_utf8(self.buffer[..head_end].to_vec()).expect("UTF-8 head");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().expect("a content length"))
            .unwrap_or(0);
        let body_start = head_end + 4;
        while self.buffer.len() < body_start + length {
            if !self.fill().await {
                return None;
            }
        }
        let body = String::from_utf8(self.buffer[body_start..body_start + length].to_vec())
            .expect("UTF-8 body");
        self.buffer.drain(..body_start + length);
        Some(Answer {
            status,
            headers,
            body,
        })
    }

    /// Waits at most `limit` for the server to close the connection; what it saw.
    pub async fn end_within(&mut self, limit: Duration) -> End {
        match tokio::time::timeout(limit, self.closed()).await {
            Ok(()) => End::Closed,
            Err(_) => End::Open,
        }
    }

    /// Waits until the server closes the connection (anything it sends meanwhile is kept);
    /// fails the test if it is still open after [`PATIENCE`].
    pub async fn closed(&mut self) {
        tokio::time::timeout(PATIENCE, async { while self.fill().await {} })
            .await
            .unwrap_or_else(|_| panic!("the connection still open after {PATIENCE:?}"));
    }

    /// Reads more; false once the connection is closed (end of stream or reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

/// A keep-alive `GET path`.
pub fn request(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: edge.test\r\nuser-agent: edge-test\r\n\r\n")
}

/// `GET path` on a new connection, and how long it took from connect to the whole answer.
pub async fn get_once(addr: SocketAddr, path: &str) -> (Answer, Duration) {
    let started = Instant::now();
    let mut client = Client::connect(addr).await;
    let answer = client.get(path).await;
    (answer, started.elapsed())
}

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
