//! The codec's error type: every way bytes off the wire can be wrong, as a value.

/// Errors of the Bolt codec: decoding, framing, handshake and I/O.
///
/// Messages never quote the data that failed to decode: a query text or a parameter value could
/// otherwise end up in a log line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ended in the middle of a value.
    #[error("unexpected end of PackStream data")]
    UnexpectedEnd,
    /// A byte that is not a PackStream marker where a value was expected.
    #[error("unknown PackStream marker 0x{0:02X}")]
    UnknownMarker(u8),
    /// A string, byte array, list, map or message larger than a limit.
    #[error("{what} of {size} exceeds the limit of {limit}")]
    TooLarge {
        /// What was too large (e.g. "message", "structure").
        what: &'static str,
        /// Its size (bytes, or entries for collections).
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Lists, maps or structures nested deeper than the decoder allows.
    #[error("values nested deeper than {0} levels")]
    TooDeep(usize),
    /// More values in one input than the decoder allows.
    #[error("more than {0} values in one input")]
    TooManyValues(usize),
    /// A string that is not valid UTF-8.
    #[error("a PackStream string is not valid UTF-8")]
    InvalidUtf8,
    /// A map key that is not a string.
    #[error("a PackStream map key is not a string")]
    NonStringKey,
    /// Bytes left over after a complete value.
    #[error("{0} bytes left over after a complete value")]
    TrailingBytes(usize),
    /// A structure whose fields do not match its tag (e.g. a Node with a string id).
    #[error("malformed structure 0x{tag:02X}: {reason}")]
    BadStructure {
        /// The structure's tag byte.
        tag: u8,
        /// What is wrong, without any value.
        reason: &'static str,
    },
    /// A message that is not a PackStream structure.
    #[error("a Bolt message must be a structure")]
    NotAMessage,
    /// A message signature the codec does not know.
    #[error("unknown Bolt message signature 0x{0:02X}")]
    UnknownMessage(u8),
    /// A known message with the wrong number of fields.
    #[error("Bolt message {name} has {got} fields, expected {expected}")]
    FieldCount {
        /// Message name (e.g. "RUN").
        name: &'static str,
        /// Fields found.
        got: usize,
        /// Fields expected.
        expected: usize,
    },
    /// A known message with a field of the wrong type.
    #[error("Bolt message {name}: field {field} has the wrong type")]
    FieldType {
        /// Message name (e.g. "RUN").
        name: &'static str,
        /// Field name (e.g. "query").
        field: &'static str,
    },
    /// The 4 bytes opening a Bolt connection are not the Bolt magic preamble.
    #[error("not a Bolt connection (bad magic preamble)")]
    BadMagic,
    /// A handshake manifest, or a choice answering one, that breaks the format.
    #[error("malformed Bolt handshake: {0}")]
    BadHandshake(&'static str),
    /// The two peers have no protocol version in common.
    #[error("no Bolt protocol version in common")]
    NoCommonVersion,
    /// The server answered the handshake with a version that was not offered.
    #[error("server chose Bolt {0}.{1}, which was not offered")]
    UnexpectedVersion(u8, u8),
    /// The peer closed the connection in the middle of a message or of the handshake.
    #[error("connection closed in the middle of a message")]
    ConnectionClosed,
    /// An I/O error on the underlying stream.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the codec.
pub type Result<T, E = Error> = std::result::Result<T, E>;
