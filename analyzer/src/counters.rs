//! The message counters since start: verdicts (and how many suspicious), DLQ records, retries,
//! records left to a shutdown; `GET /stats` reports a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Message counters since start.
#[derive(Debug, Default)]
pub struct Counters {
    verdicts: AtomicU64,
    suspicious: AtomicU64,
    dead_lettered: AtomicU64,
    retries: AtomicU64,
    interrupted: AtomicU64,
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Records whose verdict was published and acknowledged.
    pub verdicts: u64,
    /// Of those, verdicts with `suspicious = true`.
    pub suspicious: u64,
    /// Records sent to the DLQ and acknowledged there.
    pub dead_lettered: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Records left unacknowledged by a shutdown (they will be delivered again).
    pub interrupted: u64,
}

impl Counters {
    pub(crate) fn verdict(&self, suspicious: bool) {
        self.verdicts.fetch_add(1, Ordering::Relaxed);
        if suspicious {
            self.suspicious.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn interrupted(&self) {
        self.interrupted.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> Counts {
        Counts {
            verdicts: self.verdicts.load(Ordering::Relaxed),
            suspicious: self.suspicious.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            interrupted: self.interrupted.load(Ordering::Relaxed),
        }
    }
}
