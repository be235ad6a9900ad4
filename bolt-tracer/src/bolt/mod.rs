//! Bolt wire codec: PackStream values, chunked framing, the handshake (manifest v1 included)
//! and the messages of Bolt 4.4, 5.0-5.8 and 6.0.
//!
//! The layers stack bottom-up: [`packstream`] encodes and decodes [`Value`]s; [`framing`] cuts
//! a byte stream into [`Frame`]s (wire bytes plus dechunked payload); [`message`] gives the
//! payloads their meaning as [`Request`]s and [`Response`]s; [`handshake`] negotiates the
//! [`Version`] before any of that. Decoding never panics on any input: it returns [`Error`]s,
//! and [`Limits`] bound nesting and size.
//!
//! What 5.8 and 6.0 add on the wire is metadata keys (5.8: LOGON's `advertised_address`, the
//! resolved home `db` in the answers to RUN and BEGIN, the `ssr.enabled` hint; 6.0: nothing
//! new in messages, FAILURE messages may change wording) and two structures (6.0: [`Vector`],
//! [`UnsupportedType`]): messages keep their shapes, and structures stay generic
//! (`Value::Struct`) unless code asks for a typed view, so they pass any proxy unchanged.
//!
//! ```
//! use bolt_tracer::bolt::{Map, Request, Value};
//!
//! let run = Request::Run {
//!     query: "RETURN $x AS x".into(),
//!     parameters: [("x", Value::Int(1))].into_iter().collect(),
//!     extra: Map::new(),
//! };
//! let bytes = run.to_vec().unwrap();
//! assert_eq!(Request::decode(&bytes).unwrap(), run);
//! ```

mod error;
pub mod framing;
pub mod handshake;
pub mod message;
pub mod packstream;
mod value;

pub use error::{Error, Result};
pub use framing::{Frame, MessageReader, MessageWriter};
pub use handshake::{Answer, Choice, Handshake, Manifest, ManifestChoice, Proposal, Version};
pub use message::{Request, Response, RunView};
pub use packstream::{Decoder, Limits, MapView};
pub use value::{
    BoltStruct, Date, DateTime, DateTimeEncoding, DateTimeZoneId, Duration, LocalDateTime,
    LocalTime, Map, Node, Path, Point2D, Point3D, Relationship, Time, UnboundRelationship,
    UnsupportedType, Value, Vector, tag,
};
