//! The upstream connection of a new client: hedged against stalled handshakes, and working
//! around the handshake faults of FalkorDB.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::time::{Instant, sleep_until};

use super::Shared;
use super::negotiation::opening;
use crate::socket::{SocketRead, SocketWrite};
use crate::upstream::Upstream;
use bolt::{Answer, Handshake, Version};

/// How long the upstream gets to answer a handshake before another connection is tried
/// alongside the ones already waiting.
const HEDGE_AFTER: Duration = Duration::from_millis(200);

/// Connects to the upstream asking for `wanted` (best first), with manifest v1 first when
/// `manifest`, working around two handshake faults of FalkorDB (both measured):
/// - it closes the connection when a 4.x proposal comes before its 5.x one: the proxy then
///   offers the 5.x versions only, and remembers to do so for this upstream from then on;
/// - each connection a client ends with GOODBYE leaves one later handshake unanswered, for
///   good (abrupt closes leave nothing, nor does closing the unanswered connection): see
///   [`hedged_connect`], which races as many connections as the quirks allow. With FalkorDB
///   compatibility the proxy sends no GOODBYE of its own.
///
/// A manifest proposal goes before the ranges: FalkorDB 1.4 skips it (the 5.x Python driver
/// opens with one and reaches it directly).
pub(super) async fn connect_upstream(
    shared: &Shared,
    wanted: &[Version],
    manifest: bool,
) -> bolt::Result<(Answer, SocketRead, SocketWrite)> {
    let attempts = shared.quirks.handshake_attempts;
    let v5_only: Vec<Version> = wanted.iter().copied().filter(|v| v.major >= 5).collect();
    let preferred = opening(manifest, wanted);
    let fallback = opening(manifest, &v5_only);
    let offer_v4 =
        !v5_only.is_empty() && v5_only != wanted && !shared.v5_only.load(Ordering::Relaxed);
    if !offer_v4 {
        let hs = if v5_only.is_empty() {
            &preferred
        } else {
            &fallback
        };
        return hedged_connect(&shared.upstream, hs, hs, attempts).await;
    }
    // The racing connection, if any, offers 5.x only: a server stuck on the Bolt 4 offer may
    // still answer that one.
    match hedged_connect(&shared.upstream, &preferred, &fallback, attempts).await {
        Err(bolt::Error::NoCommonVersion | bolt::Error::ConnectionClosed) => {
            if !shared.v5_only.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    "bolt-proxy: upstream rejects handshakes that offer Bolt 4 first; offering 5.x only from now on"
                );
            }
            hedged_connect(&shared.upstream, &fallback, &fallback, attempts).await
        }
        other => other,
    }
}

/// Connects and runs handshake `hs`; while no connection has answered, another one with
/// handshake `then` joins the race every [`HEDGE_AFTER`], up to `max` at once, and the first
/// to answer wins (the others are dropped). A stalled handshake (FalkorDB) costs [`HEDGE_AFTER`]
/// instead of the whole handshake timeout, and a slow but healthy server loses nothing: the
/// first connection keeps going. Fails with the last error once every connection tried has
/// failed; the caller's deadline bounds the rest.
async fn hedged_connect(
    upstream: &Upstream,
    hs: &Handshake,
    then: &Handshake,
    max: usize,
) -> bolt::Result<(Answer, SocketRead, SocketWrite)> {
    let mut racing = FuturesUnordered::new();
    racing.push(upstream.connect(hs));
    let mut next_at = Instant::now() + HEDGE_AFTER;
    loop {
        tokio::select! {
            Some(r) = racing.next() => match r {
                Ok(up) => return Ok(up),
                Err(e) if racing.is_empty() => return Err(e),
                Err(_) => {}
            },
            () = sleep_until(next_at), if racing.len() < max => {
                tracing::debug!(waiting = racing.len(), "bolt-proxy: upstream handshake slow, racing another connection");
                racing.push(upstream.connect(then));
                next_at += HEDGE_AFTER;
            }
        }
    }
}
