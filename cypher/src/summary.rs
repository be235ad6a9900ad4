//! `db.query.summary` and `db.operation.name`, collected while the normaliser walks the tokens.
//!
//! The normaliser calls [`Summary::begin`] at every graph clause (and at administration commands)
//! and [`Summary::add_name`] for every label or relationship type; names go to the clause that is
//! current, which a subquery block saves and restores. Nothing is formatted until
//! [`Summary::render`], so a name found after a nested block can still join its own clause.
//! Names are slices of the input (labels and types as written), never literal text.

use crate::lexer::{TokenKind, lex_at};

/// Longest summary, in characters (OpenTelemetry's `db.query.summary` limit).
pub(crate) const MAX_SUMMARY_CHARS: usize = 255;

/// Summary of a query that has no token at all (empty or comments only).
pub(crate) const EMPTY: &str = "EMPTY";
/// Summary of a query with tokens but no clause keyword (`(n)`, `1 + 1`, garbage).
pub(crate) const UNKNOWN: &str = "UNKNOWN";

/// How a clause is named in the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phrase {
    /// A fixed phrase: `MATCH`, `OPTIONAL MATCH`, `DETACH DELETE`, `CALL`, ...
    Fixed(&'static str),
    /// An administration command: verb and noun (`CREATE INDEX`, `SHOW CONSTRAINTS`).
    Command(&'static str, &'static str),
    /// An administration command whose noun was not recognised: its verb alone (`SHOW`).
    Verb(&'static str),
    /// `CALL proc.name` (or `OPTIONAL CALL ...`): the name is a byte range of the input.
    Procedure {
        optional: bool,
        start: usize,
        end: usize,
    },
}

impl Default for Phrase {
    fn default() -> Phrase {
        Phrase::Fixed("")
    }
}

/// What [`Summary::render`] gives.
pub(crate) struct Rendered<'a> {
    /// `db.query.summary`.
    pub(crate) summary: String,
    /// `db.operation.name`.
    pub(crate) operation: String,
    /// The one label or relationship type the summary names, when it names exactly one and has
    /// no command phrase (see `Normalized::collection`).
    pub(crate) collection: Option<&'a str>,
}

/// The names the summary lists, so far, for [`Rendered::collection`].
#[derive(Clone, Copy)]
enum Collection<'a> {
    /// No name yet.
    Nothing,
    One(&'a str),
    /// More than one name, or a command phrase: no collection.
    Refused,
}

/// A label or type (input range) and the clause it belongs to.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Name {
    item: usize,
    start: usize,
    end: usize,
}

/// The clauses and names met so far.
pub(crate) struct Summary<'a, 's> {
    src: &'a str,
    /// Scratch vectors reused across calls (see `normalize`), empty on entry.
    items: &'s mut Vec<Phrase>,
    names: &'s mut Vec<Name>,
    /// Index of the clause names currently go to.
    pub(crate) current: Option<usize>,
    /// First clause keyword of any kind, for queries without a graph clause.
    pub(crate) first_clause: Option<&'static str>,
    /// Whether the query had any significant token.
    pub(crate) any_token: bool,
}

/// Keeps the lists from growing without bound on absurd inputs: past these counts nothing more
/// could fit in 255 characters anyway (every phrase is at least 3 characters plus a space, every
/// name at least 1 plus a space).
const MAX_ITEMS: usize = MAX_SUMMARY_CHARS / 4 + 1;
const MAX_NAMES: usize = MAX_SUMMARY_CHARS / 2 + 1;

impl<'a, 's> Summary<'a, 's> {
    pub(crate) fn new(src: &'a str, items: &'s mut Vec<Phrase>, names: &'s mut Vec<Name>) -> Self {
        items.clear();
        names.clear();
        Summary {
            src,
            items,
            names,
            current: None,
            first_clause: None,
            any_token: false,
        }
    }

    /// Starts a clause; following names belong to it.
    pub(crate) fn begin(&mut self, phrase: Phrase) {
        if self.items.len() < MAX_ITEMS {
            self.items.push(phrase);
            self.current = Some(self.items.len() - 1);
        } else {
            self.current = None;
        }
    }

    /// Adds a label or relationship type (input range) to the current clause, once per clause.
    pub(crate) fn add_name(&mut self, start: usize, end: usize) {
        let Some(item) = self.current else { return };
        if self.names.len() >= MAX_NAMES {
            return;
        }
        let text = &self.src.as_bytes()[start..end];
        let bytes = self.src.as_bytes();
        if self
            .names
            .iter()
            .any(|n| n.item == item && &bytes[n.start..n.end] == text)
        {
            return;
        }
        self.names.push(Name { item, start, end });
    }

    /// Summary, operation and collection.
    pub(crate) fn render(&self) -> Rendered<'a> {
        if self.items.is_empty() {
            let fallback = match (self.first_clause, self.any_token) {
                (Some(kw), _) => kw,
                (None, true) => UNKNOWN,
                (None, false) => EMPTY,
            };
            return Rendered {
                summary: fallback.to_owned(),
                operation: fallback.to_owned(),
                collection: None,
            };
        }
        let mut summary = String::with_capacity(64);
        let mut chars = 0;
        let mut operation = String::new();
        let mut collection = Collection::Nothing;
        'items: for i in 0..self.items.len() {
            let phrase = self.items[i];
            let start_len = summary.len();
            if i > 0 {
                summary.push(' ');
            }
            self.push_phrase(phrase, &mut summary, true);
            let mut added = char_count(&summary[start_len..]);
            if chars + added > MAX_SUMMARY_CHARS {
                // A procedure name too long for the limit is dropped, its verb kept.
                summary.truncate(start_len);
                if i > 0 {
                    summary.push(' ');
                }
                self.push_phrase(phrase, &mut summary, false);
                added = char_count(&summary[start_len..]);
                if chars + added > MAX_SUMMARY_CHARS {
                    summary.truncate(start_len);
                    break;
                }
            }
            chars += added;
            if i == 0 {
                operation.push_str(summary.trim_start());
            }
            if matches!(phrase, Phrase::Command(..) | Phrase::Verb(_)) {
                collection = Collection::Refused;
            }
            for j in 0..self.names.len() {
                let n = self.names[j];
                if n.item != i {
                    continue;
                }
                let name = &self.src[n.start..n.end];
                let added = 1 + char_count(name);
                if chars + added > MAX_SUMMARY_CHARS {
                    break 'items;
                }
                summary.push(' ');
                summary.push_str(name);
                chars += added;
                collection = match collection {
                    Collection::Nothing => Collection::One(name),
                    Collection::One(one) if one == name => collection,
                    _ => Collection::Refused,
                };
            }
        }
        Rendered {
            summary,
            operation,
            collection: match collection {
                Collection::One(name) => Some(name),
                _ => None,
            },
        }
    }

    fn push_phrase(&self, phrase: Phrase, out: &mut String, with_name: bool) {
        match phrase {
            Phrase::Fixed(text) | Phrase::Verb(text) => out.push_str(text),
            Phrase::Command(verb, noun) => {
                out.push_str(verb);
                out.push(' ');
                out.push_str(noun);
            }
            Phrase::Procedure {
                optional,
                start,
                end,
            } => {
                out.push_str(if optional { "OPTIONAL CALL" } else { "CALL" });
                if with_name {
                    out.push(' ');
                    push_procedure_name(&self.src[start..end], out);
                }
            }
        }
    }
}

#[inline]
fn char_count(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// Appends a procedure name without the whitespace or comments it may have been written with
/// (`db . labels` -> `db.labels`).
fn push_procedure_name(name: &str, out: &mut String) {
    let bytes = name.as_bytes();
    if !bytes
        .iter()
        .any(|b| b.is_ascii_whitespace() || *b == b'/' || *b >= 0x80)
    {
        out.push_str(name);
        return;
    }
    let mut pos = 0;
    while pos < bytes.len() {
        let raw = lex_at(bytes, pos);
        if !raw.kind.is_trivia() && raw.kind != TokenKind::Unknown {
            out.push_str(&name[pos..raw.end]);
        }
        pos = raw.end;
    }
}
