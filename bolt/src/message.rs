//! Bolt 4.4, 5.x and 6.0 messages as typed enums.
//!
//! A message is a PackStream structure whose tag is the message signature. Requests and
//! responses have the same shape in 4.4, every 5.x minor version and 6.0; what differs between
//! versions is which messages exist ([`Request::exists_in`]) and what goes into their maps.

use bytes::BufMut;

use super::error::{Error, Result};
use super::handshake::Version;
use super::packstream::{self, Decoder, Limits, MapView};
use super::value::{Map, Value};

/// Message signatures.
pub mod signature {
    /// HELLO.
    pub const HELLO: u8 = 0x01;
    /// GOODBYE.
    pub const GOODBYE: u8 = 0x02;
    /// RESET.
    pub const RESET: u8 = 0x0F;
    /// RUN.
    pub const RUN: u8 = 0x10;
    /// BEGIN.
    pub const BEGIN: u8 = 0x11;
    /// COMMIT.
    pub const COMMIT: u8 = 0x12;
    /// ROLLBACK.
    pub const ROLLBACK: u8 = 0x13;
    /// DISCARD.
    pub const DISCARD: u8 = 0x2F;
    /// PULL.
    pub const PULL: u8 = 0x3F;
    /// TELEMETRY (5.4+).
    pub const TELEMETRY: u8 = 0x54;
    /// ROUTE.
    pub const ROUTE: u8 = 0x66;
    /// LOGON (5.1+).
    pub const LOGON: u8 = 0x6A;
    /// LOGOFF (5.1+).
    pub const LOGOFF: u8 = 0x6B;
    /// SUCCESS.
    pub const SUCCESS: u8 = 0x70;
    /// RECORD.
    pub const RECORD: u8 = 0x71;
    /// IGNORED.
    pub const IGNORED: u8 = 0x7E;
    /// FAILURE.
    pub const FAILURE: u8 = 0x7F;
}

/// The signature of an encoded message, read from its first two bytes without decoding it.
pub fn peek_signature(payload: &[u8]) -> Option<u8> {
    match payload {
        [m, sig, ..] if (0xB0..=0xBF).contains(m) => Some(*sig),
        _ => None,
    }
}

/// A message from client to server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Request {
    /// HELLO: `user_agent`, `routing`, `bolt_agent` (5.3+), and in 4.x/5.0 the auth keys.
    Hello {
        /// Connection extras.
        extra: Map,
    },
    /// LOGON (5.1+): `scheme`, `principal`, `credentials` ... in that order.
    Logon {
        /// The auth map.
        auth: Map,
    },
    /// LOGOFF (5.1+).
    Logoff,
    /// TELEMETRY (5.4+): which driver API ran a query.
    Telemetry {
        /// API code.
        api: i64,
    },
    /// GOODBYE: the client is closing.
    Goodbye,
    /// RESET: back to a clean state.
    Reset,
    /// RUN a query.
    Run {
        /// Query text.
        query: String,
        /// Parameters.
        parameters: Map,
        /// Extras: `db`, `bookmarks`, `tx_metadata`, `tx_timeout`, `mode`, `imp_user` ...
        extra: Map,
    },
    /// BEGIN an explicit transaction.
    Begin {
        /// Extras, as for RUN.
        extra: Map,
    },
    /// COMMIT.
    Commit,
    /// ROLLBACK.
    Rollback,
    /// DISCARD records: `n`, `qid`.
    Discard {
        /// Extras.
        extra: Map,
    },
    /// PULL records: `n`, `qid`.
    Pull {
        /// Extras.
        extra: Map,
    },
    /// ROUTE: ask for a routing table.
    Route {
        /// Routing context.
        routing: Map,
        /// Bookmarks.
        bookmarks: Vec<Value>,
        /// Extras (4.4+): `db`, `imp_user`.
        extra: Map,
    },
}

/// A message from server to client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Response {
    /// SUCCESS with metadata.
    Success {
        /// Metadata.
        metadata: Map,
    },
    /// RECORD: one row.
    Record {
        /// Row values.
        fields: Vec<Value>,
    },
    /// IGNORED: the request was not run because of an earlier failure.
    Ignored,
    /// FAILURE with `code`/`message` (up to 5.6) or `neo4j_code`/`gql_status`/... (5.7+).
    Failure {
        /// Metadata.
        metadata: Map,
    },
}

/// Checks a message's field count.
fn fields(name: &'static str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(Error::FieldCount {
            name,
            got,
            expected,
        });
    }
    Ok(())
}

fn map_field(d: &mut Decoder<'_>, name: &'static str, field: &'static str) -> Result<Map> {
    match d.decode_value()? {
        Value::Map(m) => Ok(m),
        _ => Err(Error::FieldType { name, field }),
    }
}

/// Whether `b` is the marker of a map (tiny, 8-, 16- or 32-bit size).
fn is_map_marker(b: u8) -> bool {
    matches!(b, 0xA0..=0xAF | 0xD8..=0xDA)
}

/// [`map_field`] read in place; fails exactly as it does. `payload` is the decoder's input.
fn map_view_field<'a>(
    payload: &'a [u8],
    d: &mut Decoder<'a>,
    name: &'static str,
    field: &'static str,
) -> Result<MapView<'a>> {
    if payload
        .get(d.position())
        .copied()
        .is_some_and(is_map_marker)
    {
        return d.map_view();
    }
    // Not a map: decoding it gives the same error `map_field` would.
    d.decode_value()?;
    Err(Error::FieldType { name, field })
}

/// The signature and the one map of a PULL, DISCARD, BEGIN, HELLO or LOGON request (extras,
/// auth) or a SUCCESS or FAILURE response (metadata), read in place; fails as decoding the
/// message would. What a proxy uses to read a few keys of a message it forwards unchanged.
pub fn map_message_view(payload: &[u8], limits: Limits) -> Result<(u8, MapView<'_>)> {
    use signature as s;
    let mut d = Decoder::with_limits(payload, limits);
    let (sig, n) = d.decode_struct_header()?;
    let (name, field) = match sig {
        s::PULL => ("PULL", "extra"),
        s::DISCARD => ("DISCARD", "extra"),
        s::BEGIN => ("BEGIN", "extra"),
        s::HELLO => ("HELLO", "extra"),
        s::LOGON => ("LOGON", "auth"),
        s::SUCCESS => ("SUCCESS", "metadata"),
        s::FAILURE => ("FAILURE", "metadata"),
        other => return Err(Error::UnknownMessage(other)),
    };
    fields(name, n, 1)?;
    let map = map_view_field(payload, &mut d, name, field)?;
    d.finish()?;
    Ok((sig, map))
}

impl Request {
    /// The message signature.
    pub fn signature(&self) -> u8 {
        use signature as s;
        match self {
            Request::Hello { .. } => s::HELLO,
            Request::Logon { .. } => s::LOGON,
            Request::Logoff => s::LOGOFF,
            Request::Telemetry { .. } => s::TELEMETRY,
            Request::Goodbye => s::GOODBYE,
            Request::Reset => s::RESET,
            Request::Run { .. } => s::RUN,
            Request::Begin { .. } => s::BEGIN,
            Request::Commit => s::COMMIT,
            Request::Rollback => s::ROLLBACK,
            Request::Discard { .. } => s::DISCARD,
            Request::Pull { .. } => s::PULL,
            Request::Route { .. } => s::ROUTE,
        }
    }

    /// The message name, e.g. `"RUN"`.
    pub fn name(&self) -> &'static str {
        request_name(self.signature()).unwrap_or("UNKNOWN")
    }

    /// Whether this message exists in protocol `version` (LOGON/LOGOFF from 5.1, TELEMETRY
    /// from 5.4; everything else in 4.4, every 5.x and 6.0).
    pub fn exists_in(&self, version: Version) -> bool {
        match self {
            Request::Logon { .. } | Request::Logoff => version >= Version::new(5, 1),
            Request::Telemetry { .. } => version >= Version::new(5, 4),
            _ => version >= Version::new(4, 4),
        }
    }

    /// Decodes a message payload (one dechunked message) with default limits.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        Self::decode_with(payload, Limits::default())
    }

    /// Decodes a message payload with the given limits.
    pub fn decode_with(payload: &[u8], limits: Limits) -> Result<Self> {
        use signature as s;
        let mut d = Decoder::with_limits(payload, limits);
        let (sig, n) = d.decode_struct_header()?;
        let name = request_name(sig).ok_or(Error::UnknownMessage(sig))?;
        let msg = match sig {
            s::HELLO => {
                fields(name, n, 1)?;
                Request::Hello {
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            s::LOGON => {
                fields(name, n, 1)?;
                Request::Logon {
                    auth: map_field(&mut d, name, "auth")?,
                }
            }
            s::TELEMETRY => {
                fields(name, n, 1)?;
                match d.decode_value()? {
                    Value::Int(api) => Request::Telemetry { api },
                    _ => return Err(Error::FieldType { name, field: "api" }),
                }
            }
            s::RUN => {
                fields(name, n, 3)?;
                let query = match d.decode_value()? {
                    Value::String(q) => q,
                    _ => {
                        return Err(Error::FieldType {
                            name,
                            field: "query",
                        });
                    }
                };
                Request::Run {
                    query,
                    parameters: map_field(&mut d, name, "parameters")?,
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            s::BEGIN => {
                fields(name, n, 1)?;
                Request::Begin {
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            s::DISCARD => {
                fields(name, n, 1)?;
                Request::Discard {
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            s::PULL => {
                fields(name, n, 1)?;
                Request::Pull {
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            s::ROUTE => {
                fields(name, n, 3)?;
                let routing = map_field(&mut d, name, "routing")?;
                let bookmarks = match d.decode_value()? {
                    Value::List(l) => l,
                    _ => {
                        return Err(Error::FieldType {
                            name,
                            field: "bookmarks",
                        });
                    }
                };
                Request::Route {
                    routing,
                    bookmarks,
                    extra: map_field(&mut d, name, "extra")?,
                }
            }
            _ => {
                fields(name, n, 0)?;
                match sig {
                    s::LOGOFF => Request::Logoff,
                    s::GOODBYE => Request::Goodbye,
                    s::RESET => Request::Reset,
                    s::COMMIT => Request::Commit,
                    _ => Request::Rollback,
                }
            }
        };
        d.finish()?;
        Ok(msg)
    }

    /// Appends the encoded message (unchunked) to `out`.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        let sig = self.signature();
        match self {
            Request::Hello { extra }
            | Request::Begin { extra }
            | Request::Discard { extra }
            | Request::Pull { extra } => {
                packstream::encode_struct_header(sig, 1, out)?;
                packstream::encode_map(extra, out)?;
            }
            Request::Logon { auth } => {
                packstream::encode_struct_header(sig, 1, out)?;
                packstream::encode_map(auth, out)?;
            }
            Request::Telemetry { api } => {
                packstream::encode_struct_header(sig, 1, out)?;
                packstream::encode_int(*api, out);
            }
            Request::Run {
                query,
                parameters,
                extra,
            } => {
                packstream::encode_struct_header(sig, 3, out)?;
                packstream::encode_str(query, out)?;
                packstream::encode_map(parameters, out)?;
                packstream::encode_map(extra, out)?;
            }
            Request::Route {
                routing,
                bookmarks,
                extra,
            } => {
                packstream::encode_struct_header(sig, 3, out)?;
                packstream::encode_map(routing, out)?;
                packstream::encode_list_header(bookmarks.len(), out)?;
                for b in bookmarks {
                    packstream::encode(b, out)?;
                }
                packstream::encode_map(extra, out)?;
            }
            Request::Logoff
            | Request::Goodbye
            | Request::Reset
            | Request::Commit
            | Request::Rollback => packstream::encode_struct_header(sig, 0, out)?,
        }
        Ok(())
    }

    /// The encoded message (unchunked) as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }
}

/// A RUN read without copying: the query text borrowed from the payload, the parameters left
/// encoded (a proxy that forwards them unchanged never needs them as values), the extras
/// decoded (they are small and hold what tracing needs: `db`, `tx_metadata`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunView<'a> {
    /// Query text.
    pub query: &'a str,
    /// The encoded parameter map.
    pub parameters: &'a [u8],
    /// Extras, read in place.
    pub extra: MapView<'a>,
    /// The payload up to the extras: structure header, query, parameters.
    head: &'a [u8],
}

impl<'a> RunView<'a> {
    /// Reads a RUN payload; fails like [`Request::decode`] would on a malformed one.
    pub fn parse(payload: &'a [u8], limits: Limits) -> Result<Self> {
        let mut d = Decoder::with_limits(payload, limits);
        let (sig, n) = d.decode_struct_header()?;
        if sig != signature::RUN {
            return Err(Error::UnknownMessage(sig));
        }
        fields("RUN", n, 3)?;
        let query = d.decode_str().map_err(|_| Error::FieldType {
            name: "RUN",
            field: "query",
        })?;
        let parameters = d.raw_value()?;
        if !is_map_marker(parameters[0]) {
            return Err(Error::FieldType {
                name: "RUN",
                field: "parameters",
            });
        }
        let head = &payload[..d.position()];
        let extra = map_view_field(payload, &mut d, "RUN", "extra")?;
        d.finish()?;
        Ok(RunView {
            query,
            parameters,
            extra,
            head,
        })
    }

    /// The same RUN with an empty extra map, as payload bytes appended to `out`: what a proxy
    /// sends a server that must not see the extras, without decoding the parameters.
    pub fn write_without_extra(&self, out: &mut impl BufMut) {
        out.put_slice(self.head);
        out.put_u8(packstream::marker::TINY_MAP);
    }

    /// Calls `on_struct` with the tag of every structure inside the parameters.
    pub fn parameter_structs(&self, on_struct: &mut impl FnMut(u8)) {
        let _ = Decoder::new(self.parameters).skip_value(on_struct);
    }
}

/// The name of a request signature, or `None` if it is not a request of Bolt 4.4, 5.x or 6.0.
pub fn request_name(sig: u8) -> Option<&'static str> {
    use signature as s;
    Some(match sig {
        s::HELLO => "HELLO",
        s::LOGON => "LOGON",
        s::LOGOFF => "LOGOFF",
        s::TELEMETRY => "TELEMETRY",
        s::GOODBYE => "GOODBYE",
        s::RESET => "RESET",
        s::RUN => "RUN",
        s::BEGIN => "BEGIN",
        s::COMMIT => "COMMIT",
        s::ROLLBACK => "ROLLBACK",
        s::DISCARD => "DISCARD",
        s::PULL => "PULL",
        s::ROUTE => "ROUTE",
        _ => return None,
    })
}

impl Response {
    /// The message signature.
    pub fn signature(&self) -> u8 {
        match self {
            Response::Success { .. } => signature::SUCCESS,
            Response::Record { .. } => signature::RECORD,
            Response::Ignored => signature::IGNORED,
            Response::Failure { .. } => signature::FAILURE,
        }
    }

    /// The message name, e.g. `"SUCCESS"`.
    pub fn name(&self) -> &'static str {
        match self {
            Response::Success { .. } => "SUCCESS",
            Response::Record { .. } => "RECORD",
            Response::Ignored => "IGNORED",
            Response::Failure { .. } => "FAILURE",
        }
    }

    /// Whether this ends a request's response (everything but RECORD).
    pub fn is_summary(&self) -> bool {
        !matches!(self, Response::Record { .. })
    }

    /// Decodes a message payload with default limits.
    pub fn decode(payload: &[u8]) -> Result<Self> {
        Self::decode_with(payload, Limits::default())
    }

    /// Decodes a message payload with the given limits.
    pub fn decode_with(payload: &[u8], limits: Limits) -> Result<Self> {
        let mut d = Decoder::with_limits(payload, limits);
        let (sig, n) = d.decode_struct_header()?;
        let msg = match sig {
            signature::SUCCESS => {
                fields("SUCCESS", n, 1)?;
                Response::Success {
                    metadata: map_field(&mut d, "SUCCESS", "metadata")?,
                }
            }
            signature::FAILURE => {
                fields("FAILURE", n, 1)?;
                Response::Failure {
                    metadata: map_field(&mut d, "FAILURE", "metadata")?,
                }
            }
            signature::IGNORED => {
                fields("IGNORED", n, 0)?;
                Response::Ignored
            }
            signature::RECORD => {
                fields("RECORD", n, 1)?;
                match d.decode_value()? {
                    Value::List(fields) => Response::Record { fields },
                    _ => {
                        return Err(Error::FieldType {
                            name: "RECORD",
                            field: "data",
                        });
                    }
                }
            }
            other => return Err(Error::UnknownMessage(other)),
        };
        d.finish()?;
        Ok(msg)
    }

    /// Appends the encoded message (unchunked) to `out`.
    pub fn encode(&self, out: &mut impl BufMut) -> Result<()> {
        let sig = self.signature();
        match self {
            Response::Success { metadata } | Response::Failure { metadata } => {
                packstream::encode_struct_header(sig, 1, out)?;
                packstream::encode_map(metadata, out)?;
            }
            Response::Record { fields } => {
                packstream::encode_struct_header(sig, 1, out)?;
                packstream::encode_list_header(fields.len(), out)?;
                for f in fields {
                    packstream::encode(f, out)?;
                }
            }
            Response::Ignored => packstream::encode_struct_header(sig, 0, out)?,
        }
        Ok(())
    }

    /// The encoded message (unchunked) as a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        self.encode(&mut v)?;
        Ok(v)
    }

    /// A FAILURE with `code` and `message`, the shape of every version before 5.7 (see
    /// [`Response::failure_for`] for one that follows the version).
    pub fn failure(code: &str, message: &str) -> Self {
        let mut metadata = Map::with_capacity(2);
        metadata.insert("code", code);
        metadata.insert("message", message);
        Response::Failure { metadata }
    }

    /// A FAILURE in the shape protocol `version` expects: `code`/`message` up to 5.6;
    /// `neo4j_code`/`message`/`gql_status`/`description` from 5.7.
    pub fn failure_for(version: Version, code: &str, message: &str) -> Self {
        if version < Version::new(5, 7) {
            return Self::failure(code, message);
        }
        let mut metadata = Map::with_capacity(5);
        metadata.insert("neo4j_code", code);
        metadata.insert("message", message);
        // 50N42 is GQL's "unexpected error" status; drivers need some status, and the proxy
        // cannot know a finer one for errors it makes up itself.
        metadata.insert("gql_status", "50N42");
        metadata.insert(
            "description",
            "error: general processing exception - unexpected error",
        );
        metadata.insert("diagnostic_record", Map::new());
        Response::Failure { metadata }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_round_trip_keeps_map_order() {
        let run = Request::Run {
            query: "RETURN $x".into(),
            parameters: [("x", Value::Int(1))].into_iter().collect(),
            extra: [("db", "neo4j"), ("mode", "r")].into_iter().collect(),
        };
        let bytes = run.to_vec().unwrap();
        assert_eq!(peek_signature(&bytes), Some(signature::RUN));
        assert_eq!(Request::decode(&bytes).unwrap(), run);
    }

    #[test]
    fn run_view_borrows_the_query() {
        let run = Request::Run {
            query: "RETURN $x".into(),
            parameters: [("x", Value::Int(1))].into_iter().collect(),
            extra: [("db", "neo4j")].into_iter().collect(),
        };
        let bytes = run.to_vec().unwrap();
        let view = RunView::parse(&bytes, Limits::default()).unwrap();
        assert_eq!(view.query, "RETURN $x");
        assert_eq!(view.extra.get_str("db"), Some("neo4j"));
        assert_eq!(
            packstream::decode(view.parameters).unwrap(),
            Value::Map([("x", Value::Int(1))].into_iter().collect())
        );
        assert!(RunView::parse(&Request::Reset.to_vec().unwrap(), Limits::default()).is_err());
        assert!(RunView::parse(&[0xB3, 0x10, 0x01, 0xA0, 0xA0], Limits::default()).is_err());
        assert!(RunView::parse(&[0xB3, 0x10, 0x80, 0x01, 0xA0], Limits::default()).is_err());
    }

    #[test]
    fn run_without_extra_keeps_query_and_parameters_byte_for_byte() {
        let parameters: Map = [
            ("id", Value::String("tx-1".into())),
            ("xs", Value::List(vec![Value::Int(1), Value::Float(0.5)])),
        ]
        .into_iter()
        .collect();
        let run = Request::Run {
            query: "MATCH (t {id: $id}) RETURN t".into(),
            parameters: parameters.clone(),
            extra: [("db", "neo4j"), ("mode", "r")].into_iter().collect(),
        };
        let bytes = run.to_vec().unwrap();
        let view = RunView::parse(&bytes, Limits::default()).unwrap();
        let mut out = Vec::new();
        view.write_without_extra(&mut out);
        let stripped = Request::Run {
            query: "MATCH (t {id: $id}) RETURN t".into(),
            parameters,
            extra: Map::new(),
        };
        assert_eq!(out, stripped.to_vec().unwrap());
        assert_eq!(Request::decode(&out).unwrap(), stripped);
    }

    #[test]
    fn wrong_field_counts_and_types_are_errors() {
        // PULL with no fields (Bolt 3's PULL_ALL) is not a 4.4 message.
        assert!(matches!(
            Request::decode(&[0xB0, 0x3F]),
            Err(Error::FieldCount { name: "PULL", .. })
        ));
        // RUN with an integer query.
        assert!(matches!(
            Request::decode(&[0xB3, 0x10, 0x01, 0xA0, 0xA0]),
            Err(Error::FieldType { field: "query", .. })
        ));
        assert!(matches!(
            Request::decode(&[0xB0, 0x70]),
            Err(Error::UnknownMessage(0x70))
        ));
        assert!(matches!(Response::decode(&[0x01]), Err(Error::NotAMessage)));
    }

    #[test]
    fn versions_gate_messages() {
        let logon = Request::Logon { auth: Map::new() };
        assert!(!logon.exists_in(Version::new(4, 4)));
        assert!(!logon.exists_in(Version::new(5, 0)));
        assert!(logon.exists_in(Version::new(5, 1)));
        assert!(!Request::Telemetry { api: 0 }.exists_in(Version::new(5, 3)));
    }

    #[test]
    fn failure_shapes_follow_the_version() {
        let f = Response::failure_for(Version::new(5, 7), "Neo.X", "m");
        let Response::Failure { metadata } = f else {
            panic!()
        };
        assert_eq!(metadata.get_str("neo4j_code"), Some("Neo.X"));
        let f = Response::failure_for(Version::new(4, 4), "Neo.X", "m");
        let Response::Failure { metadata } = f else {
            panic!()
        };
        assert_eq!(metadata.get_str("code"), Some("Neo.X"));
    }
}
