//! Why a connection ends, and what each reason means for the client, the log and the spans.

use crate::trace::End;

/// Neo4j's code for "the database cannot be reached right now": drivers retry on it.
pub(super) const UNAVAILABLE: &str = "Neo.TransientError.General.DatabaseUnavailable";
/// Neo4j's code for a message that breaks the protocol.
const INVALID: &str = "Neo.ClientError.Request.Invalid";
/// Neo4j's code for a fault of the database itself (here: of the proxy); drivers do not retry
/// it.
const UNKNOWN: &str = "Neo.DatabaseError.General.UnknownError";

/// Why a connection ended.
#[derive(Debug)]
pub(super) enum Stop {
    /// The client closed its side (or broke it).
    ClientClosed,
    /// The client sent GOODBYE.
    Goodbye,
    /// The client broke the protocol.
    ClientProtocol(&'static str),
    /// The proxy could not encode a message of its own: an answer it makes up or a request it
    /// rewrote for the upstream. A limit or a fault of the proxy, never the client's.
    OwnMessage {
        /// Which message.
        what: &'static str,
        /// Why it could not be encoded.
        error: bolt::Error,
    },
    /// The upstream closed or broke.
    UpstreamLost,
    /// Nothing from the client for the idle timeout.
    Idle,
    /// Shutdown: nothing was in flight any more.
    Drained,
    /// Shutdown: grace period over.
    Shutdown,
}

impl Stop {
    /// For `map_err` where the proxy queues a message it built itself (`what`).
    pub(super) fn own_message(what: &'static str) -> impl FnOnce(bolt::Error) -> Stop {
        move |error| Stop::OwnMessage { what, error }
    }

    /// Logs the reasons an operator should hear about; the others only get the connection's
    /// debug line.
    pub(super) fn log(&self) {
        match self {
            Stop::ClientProtocol(why) => tracing::info!(
                why,
                "bolt-proxy: client broke the Bolt protocol, closing its connection"
            ),
            Stop::OwnMessage { what, error } => tracing::warn!(
                what,
                %error,
                "bolt-proxy: could not encode a message of its own, closing the connection"
            ),
            _ => {}
        }
    }

    /// How the spans of the queries still open end.
    pub(super) fn span_end(&self) -> End {
        match self {
            Stop::ClientClosed | Stop::Goodbye | Stop::Idle | Stop::Drained => End::ClientClosed,
            Stop::ClientProtocol(_) => End::ProtocolError,
            Stop::UpstreamLost => End::UpstreamLost,
            // The proxy ended the connection on its own account, as a shutdown does.
            Stop::OwnMessage { .. } | Stop::Shutdown => End::Shutdown,
        }
    }

    /// The FAILURE (code and message) the client gets for the first request it waits on, if
    /// it is told anything.
    pub(super) fn failure(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Stop::ClientProtocol(_) => Some((INVALID, "bolt-proxy: invalid Bolt message")),
            Stop::OwnMessage { .. } => Some((UNKNOWN, "bolt-proxy: internal error")),
            Stop::UpstreamLost => Some((
                UNAVAILABLE,
                "bolt-proxy: the connection to the database server was lost",
            )),
            Stop::Shutdown => Some((UNAVAILABLE, "bolt-proxy: shutting down")),
            Stop::ClientClosed | Stop::Goodbye | Stop::Idle | Stop::Drained => None,
        }
    }

    /// How many answers (the FAILURE, then IGNOREDs) the client gets when it waits on
    /// `waiting` requests. A protocol error gets its FAILURE even with nothing in flight: it
    /// answers the offending message, which is not among them. A message the proxy could not
    /// encode belongs to a request that is.
    pub(super) fn answers(&self, waiting: usize) -> usize {
        match self {
            Stop::ClientProtocol(_) => waiting + 1,
            _ => waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bolt::{Map, MessageWriter, Response, Value};

    /// A SUCCESS PackStream cannot express: a structure has at most 15 fields.
    fn unencodable() -> Response {
        let too_wide = Value::Struct {
            tag: b'X',
            fields: vec![Value::Null; 16],
        };
        Response::Success {
            metadata: [("fields", too_wide)].into_iter().collect::<Map>(),
        }
    }

    #[test]
    fn a_message_of_the_proxy_it_cannot_encode_is_not_the_clients_fault() {
        let mut w = MessageWriter::new(Vec::<u8>::new());
        let stop = w
            .queue_response(&unencodable())
            .map_err(Stop::own_message("SUCCESS"))
            .unwrap_err();
        assert!(matches!(
            stop,
            Stop::OwnMessage {
                what: "SUCCESS",
                ..
            }
        ));
        assert!(!w.needs_flush(), "nothing half-written is left queued");

        let client_fault = Stop::ClientProtocol("undecodable request");
        // The client is told the database failed, not that it sent an invalid message ...
        assert_eq!(client_fault.failure().unwrap().0, INVALID);
        assert_eq!(stop.failure().unwrap().0, UNKNOWN);
        // ... its spans do not end as protocol errors ...
        assert!(matches!(client_fault.span_end(), End::ProtocolError));
        assert!(matches!(stop.span_end(), End::Shutdown));
        // ... and only the client's own broken message gets an answer of its own.
        assert_eq!(client_fault.answers(2), 3);
        assert_eq!(stop.answers(2), 2);
    }
}
