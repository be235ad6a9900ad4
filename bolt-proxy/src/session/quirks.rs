//! The workarounds for servers that bend the Bolt protocol (FalkorDB), gathered in one value
//! that is decided once from the configuration and consulted where a connection needs it.

use crate::ProxyConfig;

/// How the proxy bends its own behaviour for the upstream server.
///
/// The ones here are switched by [`ProxyConfig::falkordb_compat`]. Other workarounds for
/// FalkorDB stay on for every server, because they only react to what a server actually does
/// and cost a standard server nothing: a handshake that offers Bolt 4 first and is closed is
/// retried offering 5.x only (`connect`), a stalled handshake is raced by another connection
/// (`connect`), records and summaries the server streams before they are asked for are
/// kept for the PULL that follows (`Session::unasked`), requests behind a FAILURE are answered
/// IGNORED by the proxy (`Session::ignore_in_flight`), and a translated DISCARD is sent as a
/// PULL whose records are dropped (`Session::client_discard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quirks {
    /// Send RUN and BEGIN upstream without their extra map, which the proxy still reads for
    /// tracing. FalkorDB picks its graph from the name of that map's first key and hangs a
    /// connection whose auto-commit RUN carries `tx_metadata` (both measured).
    pub strip_extras: bool,
    /// Pass a client's GOODBYE on. FalkorDB leaves one later handshake unanswered for every
    /// connection ended with GOODBYE and none for one that is just closed (measured), so with
    /// FalkorDB the upstream connection is closed instead; GOODBYE has no answer, so the client
    /// sees no difference.
    pub forward_goodbye: bool,
    /// Most upstream connections raced at once for one client while their handshakes go
    /// unanswered (see `connect::hedged_connect`).
    pub handshake_attempts: usize,
}

impl Quirks {
    /// A server that follows the protocol: one hedge, so a slow but healthy server is not
    /// flooded.
    pub(crate) const NONE: Quirks = Quirks {
        strip_extras: false,
        forward_goodbye: true,
        handshake_attempts: 2,
    };

    /// FalkorDB: enough connections raced to get past the handshakes it leaves unanswered
    /// (one per connection other clients ended with GOODBYE) within the handshake timeout.
    pub(crate) const FALKORDB: Quirks = Quirks {
        strip_extras: true,
        forward_goodbye: false,
        handshake_attempts: 32,
    };

    /// The workarounds `config` asks for.
    pub(crate) fn for_config(config: &ProxyConfig) -> Quirks {
        if config.falkordb_compat {
            Quirks::FALKORDB
        } else {
            Quirks::NONE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_falkordb_switch_decides_the_quirks() {
        let plain = ProxyConfig::default();
        assert_eq!(Quirks::for_config(&plain), Quirks::NONE);
        let falkordb = ProxyConfig::default().with_falkordb_compat(true);
        assert_eq!(Quirks::for_config(&falkordb), Quirks::FALKORDB);
    }
}
