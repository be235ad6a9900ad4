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
//! # Example
//!
//! A client proposes versions, the server picks one; a RUN message is encoded, chunked onto
//! the wire, read back as a frame and decoded to the same request.
//!
//! ```
//! use bolt_wire::{Handshake, Map, MessageReader, MessageWriter, Proposal, Request, Value, Version};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // The client's 20 opening bytes, best version first; the server supports 4.4 and 5.0-5.8.
//! let opening = Handshake::new(&[
//!     Proposal::exact(Version::V6_0),
//!     Proposal::exact(Version::V5_8),
//!     Proposal::exact(Version::V4_4),
//! ])
//! .to_bytes();
//! let received = Handshake::parse(&opening).unwrap();
//! assert_eq!(
//!     received.negotiate(&[Version::V4_4, Version::V5_0, Version::V5_8]),
//!     Some(Version::V5_8)
//! );
//!
//! let run = Request::Run {
//!     query: "RETURN $x AS x".into(),
//!     parameters: [("x", Value::Int(1))].into_iter().collect(),
//!     extra: Map::new(),
//! };
//! let mut wire = Vec::new();
//! let mut writer = MessageWriter::new(&mut wire);
//! writer.queue_request(&run).unwrap();
//! writer.flush().await.unwrap();
//!
//! let mut reader = MessageReader::new(wire.as_slice());
//! let frame = reader.read_message().await.unwrap().expect("one message");
//! assert_eq!(Request::decode(frame.payload()).unwrap(), run);
//! # });
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
