//! What the edge counts, and its log lines about refusals and timeouts, aggregated so that an
//! attack costs one line per kind every few seconds rather than one per connection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// At most one log line per kind of event in this interval; each says how many happened since
/// the previous one.
const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What the edge did since it started serving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EdgeStats {
    /// Connections open now.
    pub open_connections: usize,
    /// Requests being handled now.
    pub in_flight: usize,
    /// Connections served (accepted under the cap).
    pub connections: u64,
    /// Connections refused at the open-connection cap (answered `503` and closed).
    pub refused_connections: u64,
    /// Requests refused at the in-flight cap (answered `503`).
    pub refused_requests: u64,
    /// Connections closed because a request header was not complete in time.
    pub header_timeouts: u64,
    /// Request bodies cut off because they were not complete in time.
    pub body_timeouts: u64,
    /// Keep-alive connections closed after staying idle for the idle timeout.
    pub idle_timeouts: u64,
}

/// The kinds of events the edge counts and logs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    RefusedConnection,
    RefusedRequest,
    HeaderTimeout,
    BodyTimeout,
    IdleTimeout,
    AcceptError,
}

/// The counters and the log gates, one per kind of event.
#[derive(Debug)]
pub(crate) struct Counters {
    origin: Instant,
    connections: AtomicU64,
    kinds: [Kind; 6],
}

#[derive(Debug, Default)]
struct Kind {
    total: AtomicU64,
    /// When the last line was written: microseconds since `origin`, plus one (0: never).
    logged_at: AtomicU64,
    /// `total` as the last line reported it.
    logged_total: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            origin: Instant::now(),
            connections: AtomicU64::new(0),
            kinds: Default::default(),
        }
    }

    pub(crate) fn connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `event` and logs it if its kind has not been logged for [`LOG_INTERVAL`]. Every
    /// field of the line is the server's own (counts and limits), never anything a client sent.
    pub(crate) fn record(&self, event: Event, limit: u64) {
        let kind = &self.kinds[event as usize];
        let total = kind.total.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(since_last) = self.due(kind, total) else {
            return;
        };
        match event {
            Event::RefusedConnection => tracing::warn!(
                refused = since_last,
                total,
                max_connections = limit,
                "connections refused at the open-connection cap (answered 503, closed)"
            ),
            Event::RefusedRequest => tracing::warn!(
                refused = since_last,
                total,
                max_in_flight = limit,
                "requests refused at the in-flight cap (answered 503)"
            ),
            Event::HeaderTimeout => tracing::warn!(
                closed = since_last,
                total,
                timeout_ms = limit,
                "connections closed: request header not complete within the header read timeout"
            ),
            Event::BodyTimeout => tracing::warn!(
                cut_off = since_last,
                total,
                timeout_ms = limit,
                "request bodies cut off: not complete within the body read timeout"
            ),
            // Idle keep-alive connections are closed in normal operation: not a warning.
            Event::IdleTimeout => tracing::debug!(
                closed = since_last,
                total,
                timeout_ms = limit,
                "idle keep-alive connections closed"
            ),
            Event::AcceptError => tracing::warn!(
                errors = since_last,
                total,
                backoff_ms = limit,
                "accept failed (out of file descriptors?); backing off"
            ),
        }
    }

    /// The count since the last line if a line is due now, claiming it.
    fn due(&self, kind: &Kind, total: u64) -> Option<u64> {
        let now = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX - 1);
        due_at(kind, total, now.saturating_add(1))
    }

    pub(crate) fn snapshot(&self, open_connections: usize, in_flight: usize) -> EdgeStats {
        let total = |event: Event| self.kinds[event as usize].total.load(Ordering::Relaxed);
        EdgeStats {
            open_connections,
            in_flight,
            connections: self.connections.load(Ordering::Relaxed),
            refused_connections: total(Event::RefusedConnection),
            refused_requests: total(Event::RefusedRequest),
            header_timeouts: total(Event::HeaderTimeout),
            body_timeouts: total(Event::BodyTimeout),
            idle_timeouts: total(Event::IdleTimeout),
        }
    }
}

/// Whether a line about `kind` is due at `now` (microseconds since the origin, plus one), and
/// if so the count since the last one; claims the line.
fn due_at(kind: &Kind, total: u64, now: u64) -> Option<u64> {
    let last = kind.logged_at.load(Ordering::Relaxed);
    let interval = u64::try_from(LOG_INTERVAL.as_micros()).unwrap_or(u64::MAX);
    if last != 0 && now.saturating_sub(last) < interval {
        return None;
    }
    kind.logged_at
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .ok()?;
    let before = kind.logged_total.swap(total, Ordering::Relaxed);
    Some(total.saturating_sub(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_line_then_one_per_interval_with_the_count_since() {
        let kind = Kind::default();
        let interval = LOG_INTERVAL.as_micros() as u64;
        assert_eq!(due_at(&kind, 1, 1), Some(1), "the first event is logged");
        for total in 2..=1000 {
            assert_eq!(due_at(&kind, total, 1 + total), None, "event {total}");
        }
        assert_eq!(due_at(&kind, 1001, interval), None);
        assert_eq!(due_at(&kind, 1002, 1 + interval), Some(1001));
        assert_eq!(due_at(&kind, 1003, 2 + interval), None);
    }
}
