//! The edge's limits and why their defaults are what they are.

use std::time::Duration;

/// Default of [`EdgeLimits::header_read_timeout`]: 10 s.
///
/// A request header is a few hundred bytes; a client on any network sends it in well under a
/// second, so 10 s only cuts off clients that trickle it on purpose. (nginx's
/// `client_header_timeout` is 60 s, which lets a slow-header attacker hold a slot six times
/// longer; Go's `ReadHeaderTimeout` is off unless the application sets it.)
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`EdgeLimits::body_read_timeout`]: 10 s.
///
/// The services take bodies of at most 64 KiB: at 10 s that is 6.5 KB/s, slower than a modem.
/// A request holds a slot under the in-flight cap while its body arrives, so without this
/// bound a few hundred connections trickling bodies would hold every slot and have all other
/// requests refused.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of [`EdgeLimits::idle_timeout`]: 75 s, nginx's `keepalive_timeout`.
///
/// A keep-alive connection is best closed by the client side, which knows whether it is about
/// to send on it: when the server closes first, a request the client sent at that moment fails
/// and must be retried. AWS's load balancers close idle connections after 60 s by default and
/// ask their backends to keep them longer; browsers keep theirs about as long. So the server
/// waits a little longer than 60 s, and a client gone for good gives its slot back within 75 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);

/// The most [`EdgeLimits::max_connections`] defaults to: 4,096 open connections.
///
/// Each open connection costs a file descriptor, a task and hyper's 8 KiB read buffer, so
/// 4,096 of them are a few tens of MiB at worst: far more than the callers of an internal service
/// need (a few load balancers or gateways with pools of tens to hundreds of connections each),
/// and a bound an attacker cannot push past. On a process whose file-descriptor limit is lower,
/// the default is smaller (see [`default_max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Default of [`EdgeLimits::max_in_flight`]: 512 requests in flight.
///
/// In flight = throughput x latency (Little's law). The ingestor saturates two cores at about
/// 10,000 requests/s with a p99 around 20 ms against Apache Kafka, which is 50-200 requests in
/// flight; past that, more concurrency adds only latency, so 512 leaves room for a larger
/// machine while bounding what a stalled broker can pile up (each request holds at most a
/// 64 KiB body) before callers are told to come back.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 512;

/// Default of [`EdgeLimits::retry_after`]: 1 s.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Default of [`EdgeLimits::drain_timeout`]: 10 s.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors left to the rest of the process under the limit (broker and database
/// connections, log files, the runtime's own) when the connection cap is derived from it.
const FD_RESERVE: u64 = 256;

/// How the edge bounds what clients can hold: time to send a request header and body, time a
/// keep-alive connection may stay idle, open connections, requests in flight; and how it
/// drains on shutdown.
///
/// ```
/// use std::time::Duration;
///
/// let limits = http_edge::EdgeLimits::default()
///     .with_header_read_timeout(Duration::from_secs(5))
///     .with_max_in_flight(256);
/// assert_eq!(limits.idle_timeout, http_edge::DEFAULT_IDLE_TIMEOUT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeLimits {
    /// How long a client has to send a complete request header: from the connection's accept
    /// for its first request, from the first byte of each later one. Past it the connection is
    /// closed without an answer, as Go and nginx do. Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// How long a request's body may take to arrive in full, from the end of its header. Past
    /// it the router's body reads fail (axum's extractors answer `400`) and the connection is
    /// closed after the answer, like Go's `ReadTimeout`. Default [`DEFAULT_BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// How long a keep-alive connection may wait for the first byte of its next request once
    /// a response is sent; then it is closed (the client opens a new one when it needs it).
    /// Default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Open connections at most. A connection past the cap is answered a minimal `503` with
    /// `Retry-After` and closed at once, never queued. Default [`default_max_connections`].
    pub max_connections: usize,
    /// Requests being handled at most, over all connections. A request past the cap is
    /// answered `503` with `Retry-After` at once, without reaching the router; the connection
    /// stays open. Default [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// The `Retry-After` of both `503`s, in whole seconds (rounded up). Default
    /// [`DEFAULT_RETRY_AFTER`].
    pub retry_after: Duration,
    /// On shutdown, how long requests in flight may take to be answered before the remaining
    /// connections are closed anyway. Default [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: default_max_connections(),
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            retry_after: DEFAULT_RETRY_AFTER,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

impl EdgeLimits {
    /// Sets [`EdgeLimits::header_read_timeout`].
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`EdgeLimits::body_read_timeout`].
    pub fn with_body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Sets [`EdgeLimits::idle_timeout`].
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`EdgeLimits::max_connections`].
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`EdgeLimits::max_in_flight`].
    pub fn with_max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }

    /// Sets [`EdgeLimits::retry_after`].
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Sets [`EdgeLimits::drain_timeout`].
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// `Retry-After` in whole seconds, rounded up.
    pub(crate) fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 {
            secs + 1
        } else {
            secs
        }
    }
}

/// The default connection cap: [`DEFAULT_MAX_CONNECTIONS`], or fewer when the process's soft
/// file-descriptor limit (`ulimit -n`) leaves less than that after 256 descriptors for
/// everything else (at least half the limit). A cap above the limit would not protect
/// anything: `accept` would fail with `EMFILE` first, and so would the process's other sockets.
pub fn default_max_connections() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    cap_under(soft)
}

fn cap_under(soft_fd_limit: Option<u64>) -> usize {
    let Some(soft) = soft_fd_limit else {
        return DEFAULT_MAX_CONNECTIONS;
    };
    let room = soft.saturating_sub(FD_RESERVE).max(soft / 2).max(1);
    usize::try_from(room).map_or(DEFAULT_MAX_CONNECTIONS, |room| {
        room.min(DEFAULT_MAX_CONNECTIONS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_under_the_descriptor_limit() {
        assert_eq!(cap_under(None), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(cap_under(Some(1_048_576)), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(cap_under(Some(20_000)), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(cap_under(Some(1024)), 768);
        assert_eq!(cap_under(Some(300)), 150);
        assert_eq!(cap_under(Some(0)), 1);
        assert!(default_max_connections() >= 1);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limits = EdgeLimits::default();
        assert_eq!(limits.retry_after_secs(), 1);
        assert_eq!(
            limits
                .clone()
                .with_retry_after(Duration::from_millis(1500))
                .retry_after_secs(),
            2
        );
        assert_eq!(
            limits.with_retry_after(Duration::ZERO).retry_after_secs(),
            0
        );
    }
}
