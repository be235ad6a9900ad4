//! Why bytes are not a transaction: which field broke which rule, never the value.

use std::fmt;

use crate::field::{Field, JsonType};

/// Why a JSON document is not a valid transaction.
///
/// Nothing a client sent is kept, apart from the name of an unknown field when it looks like an
/// identifier (a misspelt `ammount` is worth repeating, a card number used as a key is not):
/// an error may go into logs, spans and DLQ headers. `Display` is a plain fallback; callers
/// word errors for their own audience.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Not JSON: a syntax error, bad UTF-8, nothing at all, or data after the value.
    NotJson {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in bytes) of the error.
        column: usize,
    },
    /// JSON, but not an object.
    NotAnObject,
    /// A field outside the schema, under [`UnknownFields::Refuse`](crate::UnknownFields).
    UnknownField {
        /// The field's name if it is 1-64 characters of `[A-Za-z0-9_]` not starting with a
        /// digit; `None` for anything else.
        name: Option<String>,
    },
    /// A schema field breaks a rule.
    Field {
        /// The field.
        field: Field,
        /// The rule it breaks.
        problem: Problem,
    },
}

/// What is wrong with a schema field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Problem {
    /// The field appears more than once (two readers could disagree on which one counts).
    Duplicate,
    /// The field is absent.
    Missing,
    /// The value has a JSON type the field does not take.
    WrongType(JsonType),
    /// The value has the right type but breaks the field's rule.
    Invalid,
    /// A valid timestamp further in the future than the reader's margin.
    TooFarInFuture,
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn at(field: Field, problem: Problem) -> Error {
        Error::Field { field, problem }
    }

    /// The schema field at fault, if the error is about one (not for unknown fields, whose
    /// names the client chose).
    pub fn field(&self) -> Option<Field> {
        match self {
            Error::Field { field, .. } => Some(*field),
            Error::NotJson { .. } | Error::NotAnObject | Error::UnknownField { .. } => None,
        }
    }

    /// The problem with the schema field at fault, if the error is about one.
    pub fn problem(&self) -> Option<Problem> {
        match self {
            Error::Field { problem, .. } => Some(*problem),
            Error::NotJson { .. } | Error::NotAnObject | Error::UnknownField { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotJson { line, column } => {
                write!(f, "not JSON (line {line}, column {column})")
            }
            Error::NotAnObject => f.write_str("not a JSON object"),
            Error::UnknownField { name: Some(name) } => write!(f, "unknown field {name}"),
            Error::UnknownField { name: None } => f.write_str("unknown field"),
            Error::Field { field, problem } => write!(f, "field {field}: {problem}"),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Duplicate => f.write_str("given more than once"),
            Problem::Missing => f.write_str("missing"),
            Problem::WrongType(found) => write!(f, "wrong JSON type ({found})"),
            Problem::Invalid => f.write_str("invalid value"),
            Problem::TooFarInFuture => f.write_str("too far in the future"),
        }
    }
}

impl std::error::Error for Error {}
