//! The normaliser: one pass over the significant tokens that writes the resource, collects the
//! summary and the names, and hashes the result.
//!
//! The pieces, each in its own file:
//!
//! - [`walker`]: the token loop. It lexes with a one-token lookahead, writes every token to the
//!   resource (a literal as `?`, a keyword upper-cased) and hands brackets, keywords and labels to
//!   the pieces below.
//! - [`frame`]: the nesting state, a small stack of open brackets. It is what tells a list
//!   literal (`[1, 2]`) from an index (`xs[0]`) or a relationship pattern (`-[:R*1..3]->`), a map
//!   (`{k: 1}`) from a subquery block (`CALL { ... }`) or a quantifier (`{1,3}`), and it tracks
//!   whether every element of a list is a constant. [`bracket`] opens and closes the frames,
//!   [`collapse`] rewrites a list of constants when it closes.
//! - [`phrase`]: the clauses and commands of the summary (`OPTIONAL MATCH`, `CALL db.labels`,
//!   `CREATE INDEX`, `SHOW USERS`), read from keywords and their flags in the keyword table.
//! - [`names`]: the labels and relationship types met on the way, kept as ranges of the resource.
//!
//! Words are upper-cased only when they are keywords in their context: after `.`, after a label
//! colon, after `AS`, as a map key or as a function name they are names and keep their case.

mod bracket;
mod collapse;
mod frame;
mod names;
mod phrase;
mod statement;
mod step;
mod walker;

use crate::fingerprint::Fingerprint;
use crate::lexer::LexError;
use crate::summary::{Name, Phrase, Summary};
use frame::{Frame, MAX_DEPTH};
use names::{Found, Names};
use std::cell::RefCell;
use walker::Walker;

/// The result of normalising one query.
///
/// Every field is safe to export: the resource holds no literal value, the summary and operation
/// hold only keywords, labels, relationship types and procedure names. The labels and
/// relationship types the query names are read with [`labels`](Self::labels),
/// [`relationship_types`](Self::relationship_types) and [`collection`](Self::collection).
#[derive(Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The normalised text (`db.query.text`, Datadog's `resource.name`): literals replaced by `?`,
    /// lists of constants collapsed, comments dropped, whitespace collapsed, keywords upper-cased.
    pub resource: String,
    /// `db.query.summary`: graph clauses in query order, each followed by its labels and
    /// relationship types; at most 255 characters, never empty. A query with no graph clause gives
    /// its first clause keyword (`RETURN`); one with tokens but no clause keyword gives `UNKNOWN`;
    /// an empty or comment-only query gives `EMPTY`.
    pub summary: String,
    /// `db.operation.name`: the first graph clause (`MATCH`, `OPTIONAL MATCH`, `CALL db.labels`,
    /// `CREATE INDEX`, ...), with the same fallbacks as the summary; never empty.
    pub operation: String,
    /// Hash of [`resource`](Self::resource); see [`Fingerprint`].
    pub fingerprint: Fingerprint,
    /// The first lexing problem, if any. Normalisation went on regardless: an unterminated
    /// string, quoted name or parameter became `?`.
    pub error: Option<LexError>,
    /// Labels and relationship types, as ranges of `resource`.
    names: Names,
}

impl Normalized {
    /// The node labels the query names, each once, in order of first appearance, as written
    /// (backticks kept): `(n:Person)`, `:Label` in `SET` and `REMOVE`, `n:Label` in an expression,
    /// `(n IS Label)`, every name of a label expression (`:A|B`, `:A&!B`). A name is told a
    /// label or a relationship type by where it stands: inside the brackets of a relationship
    /// pattern it is a type, anywhere else a label (so `WHERE r:KNOWS` lists `KNOWS` as a label).
    ///
    /// Only names: a parameter (`:$($label)`) or a literal never appears. At most 128 distinct
    /// labels and types are kept per query; further ones are left out. The names are read from
    /// [`resource`](Self::resource), where they are kept as ranges: a changed `resource` changes
    /// what they read.
    ///
    /// ```
    /// let n = cypher::normalize("MATCH (a:Person)-[:KNOWS]->(b:Person:`Team Lead`) SET b:Admin");
    /// assert_eq!(n.labels().collect::<Vec<_>>(), ["Person", "`Team Lead`", "Admin"]);
    /// ```
    pub fn labels(&self) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + Clone {
        self.names.labels(&self.resource)
    }

    /// The relationship types the query names, each once, in order of first appearance, as
    /// written: `-[:KNOWS]->`, `[r:A|B]`, `[r IS KNOWS]`. See [`labels`](Self::labels) for how
    /// a name is classified.
    ///
    /// ```
    /// let n = cypher::normalize("MATCH (a)-[:KNOWS|LIKES]->(b)<-[:KNOWS]-(c) RETURN c");
    /// assert_eq!(n.relationship_types().collect::<Vec<_>>(), ["KNOWS", "LIKES"]);
    /// ```
    pub fn relationship_types(
        &self,
    ) -> impl ExactSizeIterator<Item = &str> + DoubleEndedIterator + Clone {
        self.names.relationship_types(&self.resource)
    }

    /// The collection the query works on (OpenTelemetry's `db.collection.name`): the one label
    /// or relationship type its [`summary`](Self::summary) names, when it names exactly one.
    ///
    /// Precisely: `Some(name)` when the summary is made of graph clauses only (no schema or
    /// administration command such as `CREATE INDEX`; a summary like `RETURN` that names no
    /// clause has no collection) and the labels and relationship types it lists are all the same
    /// name. So a name counts when it stands in a graph clause's part of the query and fits in
    /// the summary's 255 characters: `MATCH (n:Person) WITH n WHERE n:Admin RETURN n` has the
    /// collection `Person`, and `MATCH (n:Person)-[:KNOWS]->(m:Person)` has none. A procedure
    /// name (`CALL db.labels`) is never a collection.
    ///
    /// ```
    /// assert_eq!(cypher::normalize("MATCH (c:Card) MERGE (c:Card {id: 1})").collection(), Some("Card"));
    /// assert_eq!(cypher::normalize("MATCH (t:Transaction)-[:USES]->(c:Card)").collection(), None);
    /// assert_eq!(cypher::normalize("CREATE INDEX FOR (c:Card) ON (c.id)").collection(), None);
    /// ```
    pub fn collection(&self) -> Option<&str> {
        self.names.collection(&self.resource)
    }

    /// Heap bytes held besides the three strings, for the cache's bound.
    pub(crate) fn names_bytes(&self) -> usize {
        self.names.heap_bytes()
    }
}

impl std::fmt::Debug for Normalized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        struct List<I>(I);
        impl<'a, I: Iterator<Item = &'a str> + Clone> std::fmt::Debug for List<I> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_list().entries(self.0.clone()).finish()
            }
        }
        f.debug_struct("Normalized")
            .field("resource", &self.resource)
            .field("summary", &self.summary)
            .field("operation", &self.operation)
            .field("fingerprint", &self.fingerprint)
            .field("error", &self.error)
            .field("labels", &List(self.names.labels(&self.resource)))
            .field(
                "relationship_types",
                &List(self.names.relationship_types(&self.resource)),
            )
            .field("collection", &self.collection())
            .finish()
    }
}

/// Normalises `query`: resource, summary, operation, fingerprint and names in one pass. Never
/// fails and never panics; see [`Normalized`] and the crate docs for the rules.
///
/// ```
/// let n = cypher::normalize("MATCH (t:Transaction {id: 'tx-42'})-[:USES_CARD]->(c:Card) RETURN c");
/// assert_eq!(n.resource, "MATCH (t:Transaction {id: ?})-[:USES_CARD]->(c:Card) RETURN c");
/// assert_eq!(n.summary, "MATCH Transaction USES_CARD Card");
/// assert_eq!(n.operation, "MATCH");
/// ```
pub fn normalize(query: &str) -> Normalized {
    if query.len() > MAX_QUERY_BYTES {
        return oversized();
    }
    SCRATCH
        .try_with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => Some(normalize_with(query, &mut scratch)),
            Err(_) => None,
        })
        .ok()
        .flatten()
        // Re-entered on this thread, or called while the thread is being torn down: fresh
        // scratch vectors, same result.
        .unwrap_or_else(|| normalize_with(query, &mut Scratch::default()))
}

fn normalize_with(query: &str, scratch: &mut Scratch) -> Normalized {
    let Scratch {
        frames,
        items,
        names,
        found,
    } = scratch;
    let mut walker = Walker::new(query, frames, Summary::new(query, items, names), found);
    walker.run();
    let normalized = walker.finish();
    // A pathological query must not pin its memory to the thread forever.
    if frames.capacity() > MAX_DEPTH {
        *frames = Vec::new();
    }
    normalized
}

/// Inputs longer than this (4 GiB) are not walked: they normalise to `?` (nothing of them can
/// leak) with summary and operation `UNKNOWN`.
const MAX_QUERY_BYTES: usize = u32::MAX as usize;

#[cold]
fn oversized() -> Normalized {
    Normalized {
        resource: "?".to_owned(),
        summary: crate::summary::UNKNOWN.to_owned(),
        operation: crate::summary::UNKNOWN.to_owned(),
        fingerprint: Fingerprint::of("?"),
        error: None,
        names: Names::default(),
    }
}

/// Working vectors reused from call to call on each thread: the walk then allocates only what it
/// returns.
#[derive(Default)]
struct Scratch {
    frames: Vec<Frame>,
    items: Vec<Phrase>,
    names: Vec<Name>,
    found: Vec<Found>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
