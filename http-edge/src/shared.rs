//! What a server and its connections share: the stage of its life, the connection and
//! in-flight caps, the counters, and the wakers of its connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Waker;

use axum::http::HeaderValue;
use tokio::sync::Notify;

use crate::limits::EdgeLimits;
use crate::stats::Counters;

/// Where the server is in its life; connections look at it each time they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Stage {
    Serving = 0,
    /// Shutdown requested: no new connections, idle ones closed, requests answered.
    Draining = 1,
    /// The drain timed out (or `serve` was dropped): every connection closes now.
    Abandon = 2,
}

/// What every connection of a server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) limits: EdgeLimits,
    pub(crate) counters: Counters,
    pub(crate) connections: Slots,
    pub(crate) in_flight: Slots,
    pub(crate) retry_after: HeaderValue,
    /// The whole answer to a connection past the cap.
    pub(crate) refusal: Vec<u8>,
    /// A [`Stage`]: read with one atomic load each time a connection runs, where a channel's
    /// receiver would take a lock shared with every other connection.
    stage: AtomicU8,
    /// The connections' wakers, to wake them all when the stage changes.
    wakers: Mutex<HashMap<u64, Waker>>,
    next_waker: AtomicU64,
    /// Signalled when the last connection closes after shutdown was requested.
    drained: Notify,
}

impl Shared {
    pub(crate) fn stage(&self) -> Stage {
        match self.stage.load(Ordering::SeqCst) {
            0 => Stage::Serving,
            1 => Stage::Draining,
            _ => Stage::Abandon,
        }
    }

    /// What a server enforcing `limits` starts with; `refusal` is the whole answer to a
    /// connection past the cap.
    pub(crate) fn new(limits: EdgeLimits, refusal: Vec<u8>) -> Shared {
        Shared {
            connections: Slots::new(limits.max_connections),
            in_flight: Slots::new(limits.max_in_flight),
            retry_after: HeaderValue::from(limits.retry_after_secs()),
            counters: Counters::new(),
            refusal,
            stage: AtomicU8::new(Stage::Serving as u8),
            wakers: Mutex::default(),
            next_waker: AtomicU64::new(0),
            drained: Notify::new(),
            limits,
        }
    }

    /// Moves to `stage` (never back) and wakes every connection to see it.
    pub(crate) fn enter(&self, stage: Stage) {
        self.stage.fetch_max(stage as u8, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        for waker in wakers.values() {
            waker.wake_by_ref();
        }
    }

    /// Keeps `waker` to be woken when the stage changes; returns its key. A connection reads
    /// the stage after this, so it either sees a change or is woken by it.
    pub(crate) fn register(&self, waker: &Waker, key: Option<u64>) -> u64 {
        let key = key.unwrap_or_else(|| self.next_waker.fetch_add(1, Ordering::Relaxed));
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, waker.clone());
        key
    }

    pub(crate) fn unregister(&self, key: u64) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key);
    }

    /// Resolves once no connection is open.
    pub(crate) async fn drained(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a close in between still wakes it.
            notified.as_mut().enable();
            if self.connections.taken() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// A cap: slots taken without ever waiting for one. A plain counter rather than a semaphore,
/// whose release takes a lock that nothing here would ever wait on. Sequentially consistent,
/// like the stage: the last connection's close and the start of the drain each read what the
/// other wrote, so that one of them sees the server drained.
#[derive(Debug)]
pub(crate) struct Slots {
    taken: AtomicUsize,
    max: usize,
}

impl Slots {
    fn new(max: usize) -> Slots {
        Slots {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a slot if one is free; the caller gives it back with [`Slots::give_back`].
    pub(crate) fn take(&self) -> bool {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |taken| {
                (taken < self.max).then_some(taken + 1)
            })
            .is_ok()
    }

    /// Gives a slot back; true if it was the last one taken.
    pub(crate) fn give_back(&self) -> bool {
        self.taken.fetch_sub(1, Ordering::SeqCst) == 1
    }

    pub(crate) fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}

/// A connection's slot under the cap, given back when dropped.
#[derive(Debug)]
pub(crate) struct ConnectionSlot(pub(crate) Arc<Shared>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let shared = &self.0;
        if shared.connections.give_back() && shared.stage() != Stage::Serving {
            shared.drained.notify_waiters();
        }
    }
}
