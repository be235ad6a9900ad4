//! A lossless Cypher lexer and a normaliser that turns any query into a safe, low-cardinality
//! resource, a `db.query.summary`, a `db.operation.name` and a stable fingerprint.
//!
//! ```
//! let n = cypher::normalize("MATCH (p:Person) WHERE p.age > 30 AND p.name IN ['Ann', 'Bob'] RETURN p LIMIT 10");
//! assert_eq!(n.resource, "MATCH (p:Person) WHERE p.age > ? AND p.name IN [?] RETURN p LIMIT ?");
//! assert_eq!(n.summary, "MATCH Person");
//! assert_eq!(n.operation, "MATCH");
//! assert_eq!(n.fingerprint.to_string().len(), 16);
//! ```
//!
//! # Pieces
//!
//! - [`tokenize`]: the lexer. A lazy iterator of [`Token`]s (kind + byte span) covering every byte
//!   of the input, whitespace and comments included; errors ([`LexError`]) are reported beside
//!   the stream, never instead of it.
//! - [`normalize`]: one pass over the tokens producing a [`Normalized`]; never fails, never panics.
//!   Besides the texts, it holds the labels and relationship types the query names
//!   ([`Normalized::labels`], [`Normalized::relationship_types`]) and the single collection
//!   ([`Normalized::collection`], for `db.collection.name`).
//! - [`Cache`]: a sharded, byte-bounded cache of [`Normalized`] keyed by the raw text; the same
//!   cache holds any other value prepared from a query text ([`TextCache`], [`HeapSize`]).
//! - [`Fingerprint`]: the documented, stable 64-bit hash of the resource.
//!
//! # Normalisation rules
//!
//! - Strings, numbers and booleans become `?`, a unary sign included (`-1` -> `?`, while
//!   `a - 1` -> `a - ?`, `a-1` -> `a-?`: after a name, a literal, a parameter, `)`, `]` or `}` the
//!   minus is binary). A boolean becomes `?` wherever it stands, even as a map key. `NULL`
//!   stays. `?` is accepted as input, so normalising twice changes nothing.
//! - `$parameters` and legacy `{param}` parameters stay as written (except inside a collapsed
//!   list, below).
//! - A list whose elements are all constants (literals, parameters, `?`, `NULL`, or lists, maps
//!   and function calls made only of constants) is collapsed: to `[?]` when the elements are
//!   scalars or lists of scalars (`IN [1, 2, 3]` -> `IN [?]`, `[[1, 2], [3]]` -> `[?]`); when it
//!   holds maps or calls, to the distinct element forms in order of first appearance
//!   (`[{a: 1}, {a: 2}, {a: 3}]` -> `[{a: ?}]`, `[{a: 1}, {b: 2}, 3]` -> `[{a: ?}, {b: ?}, ?]`), so
//!   the resource depends neither on the values nor on how many elements follow the same shape.
//!   Inside a collapsed list, parameters read `?` like the literals around them
//!   (`[{id: $id0}, {id: $id1}]` -> `[{id: ?}]`).
//!   Lists with other expressions (`[x IN xs | x * 2]`, `[n.a, 1]`) keep their structure, their
//!   literals replaced one by one.
//! - Maps keep their keys: `{name: 'Ann', age: 3}` -> `{name: ?, age: ?}`; so do pattern property
//!   maps `(n {k: 1})` -> `(n {k: ?})`.
//! - Structural numbers stay: variable-length bounds `*1..3`, `*..5`, `*2`; path quantifiers
//!   `{1,3}`; the version of a `CYPHER 5` prefix. Every other number, `LIMIT`/`SKIP` included,
//!   becomes `?`; the legacy positional form `{0}` too.
//! - An unterminated string, quoted name or quoted parameter becomes `?`: nothing after an opening
//!   quote survives, so a resource may end with `?`.
//! - Comments are dropped, whitespace collapses to one space (none is added where the input had
//!   none), keywords are upper-cased; names (variables, labels, types, properties, map keys,
//!   function and procedure names, aliases) keep their case and backticks.
//!
//! # Summary and operation
//!
//! The summary lists the graph clauses in query order (`MATCH`, `OPTIONAL MATCH`, `MERGE`,
//! `CREATE`, `SET`, `REMOVE`, `DELETE`, `DETACH DELETE`, `UNWIND`, `LOAD CSV`, `FOREACH`, `INSERT`,
//! `CALL proc.name`, subquery `CALL`), each followed by the distinct labels and relationship types
//! that appear while it is current (patterns, `WHERE n:Label`, `SET n:Label`, `IS Label`); schema and
//! administration commands read `CREATE INDEX`, `SHOW CONSTRAINTS`, `DROP INDEX`, `GRANT`, ...
//! It is cut at 255 characters, only between names. `EXPLAIN`, `PROFILE`, `CYPHER ...` and `USE`
//! never appear. The operation is the first of those phrases. Without any, both are the first
//! clause keyword (`RETURN`), else `UNKNOWN` (tokens but no clause) or `EMPTY` (no token).

mod cache;
mod fingerprint;
mod keyword;
mod lexer;
mod normalize;
mod summary;

pub use cache::{Cache, HeapSize, TextCache};
pub use fingerprint::Fingerprint;
pub use lexer::{LexError, LexErrorKind, Token, TokenKind, Tokens, tokenize};
pub use normalize::{Normalized, normalize};
