//! A connection's phase (reading a request's header, busy with a request, idle between
//! requests) and since when, from which the edge works out the connection's deadline; see
//! [`crate::connection`] for why the edge keeps its own timers.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::time::Instant;

use crate::shared::{ConnectionSlot, Shared};

const READING: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// Which phase a connection is in, and since when; and its slot under the cap, which reaches
/// what the server's connections share.
#[derive(Debug)]
pub(crate) struct Phase {
    slot: ConnectionSlot,
    accepted: Instant,
    phase: AtomicU8,
    /// Microseconds from `accepted` to the start of the phase.
    since: AtomicU64,
}

/// Why the edge closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expired {
    Header,
    Idle,
}

impl Phase {
    pub(crate) fn new(slot: ConnectionSlot, accepted: Instant) -> Phase {
        Phase {
            slot,
            accepted,
            phase: AtomicU8::new(READING),
            since: AtomicU64::new(0),
        }
    }

    fn enter(&self, phase: u8) {
        let since = u64::try_from(self.accepted.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.since.store(since, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// What the server's connections share.
    pub(crate) fn shared(&self) -> &Shared {
        &self.slot.0
    }

    /// A request reached the service.
    pub(crate) fn request_started(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// Its response is finished (or abandoned): the connection waits for the next request.
    pub(crate) fn request_finished(&self) {
        self.enter(IDLE);
    }

    /// Bytes arrived: after an idle spell they start the next request's header.
    pub(crate) fn bytes_arrived(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.enter(READING);
        }
    }

    /// When the current phase expires, if it does.
    pub(crate) fn deadline(&self) -> Option<(Instant, Expired)> {
        let limits = &self.shared().limits;
        let (timeout, expired) = match self.phase.load(Ordering::Relaxed) {
            READING => (limits.header_read_timeout, Expired::Header),
            IDLE => (limits.idle_timeout, Expired::Idle),
            _ => return None,
        };
        let since = std::time::Duration::from_micros(self.since.load(Ordering::Relaxed));
        Some((after(self.accepted, since.saturating_add(timeout)), expired))
    }
}

/// `start + duration`, or a time decades away when that is past what the clock can represent
/// (a timeout configured as "practically never").
pub(crate) fn after(start: Instant, duration: std::time::Duration) -> Instant {
    const DECADES: std::time::Duration = std::time::Duration::from_secs(30 * 365 * 86_400);
    start
        .checked_add(duration)
        .unwrap_or_else(|| start + DECADES)
}
