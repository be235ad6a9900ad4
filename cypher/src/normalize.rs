//! The normaliser: one pass over the significant tokens that writes the resource, collects the
//! summary and hashes the result.
//!
//! The walk keeps a one-token lookahead and a small stack of open brackets ([`Frame`]). The stack
//! is what tells a list literal (`[1, 2]`) from an index (`xs[0]`) or a relationship pattern
//! (`-[:R*1..3]->`), a map (`{k: 1}`) from a subquery block (`CALL { ... }`) or a quantifier
//! (`{1,3}`), and it tracks whether every element of a list is a constant, so the list can be
//! collapsed when it closes. Words are upper-cased only when they are keywords in their context:
//! after `.`, after a label colon, after `AS`, as a map key or as a function name they are names
//! and keep their case.

use crate::fingerprint::Fingerprint;
use crate::keyword::{FUNC, Kw, SOFT};
use crate::lexer::{LexError, Raw, TokenKind, lex_at};
use crate::summary::{Name, Phrase, Summary};
use std::cell::RefCell;

/// The result of normalising one query.
///
/// Every field is safe to export: the resource holds no literal value, the summary and operation
/// hold only keywords, labels, relationship types and procedure names.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// Normalises `query`: resource, summary, operation and fingerprint in one pass. Never fails and
/// never panics; see [`Normalized`] and the crate docs for the rules.
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
    } = scratch;
    let mut walker = Walker::new(query, frames, Summary::new(query, items, names));
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
    }
}

/// Working vectors reused from call to call on each thread: the walk then allocates only the
/// three strings it returns.
#[derive(Default)]
struct Scratch {
    frames: Vec<Frame>,
    items: Vec<Phrase>,
    names: Vec<Name>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Deeper nesting than this is still normalised, but without list collapsing or map-key
/// detection inside the untracked levels.
const MAX_DEPTH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum FrameKind {
    #[default]
    Root,
    /// `( ... )` in an expression or a node pattern.
    Group,
    /// The argument list of a function call.
    Call,
    /// `CALL ( vars ) { ... }`: the variable scope of a subquery.
    CallScope,
    /// `( ... )` inside a label expression: `:(A|B)&C`.
    LabelGroup,
    /// A list literal or comprehension.
    List,
    /// `expr[ ... ]`: an index or a slice.
    Index,
    /// `-[ ... ]-`: a relationship pattern.
    Rel,
    /// A map literal, a map projection or a legacy `{param}`.
    Map,
    /// A subquery block: `CALL { }`, `EXISTS { }`, `COUNT { }`, `COLLECT { }`.
    Block,
    /// A path quantifier `{1,3}`.
    Quant,
}

/// What the element being read in a list, map value or argument list is, so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum Elem {
    #[default]
    Empty,
    /// One literal, parameter, `?`, `NULL` or list of those.
    Scalar,
    /// A map, list or function call made only of constants.
    Compound,
    /// Anything else.
    Other,
    /// A name that may turn out to be a (namespaced) function name.
    Name,
    /// A name followed by `.`.
    NameDot,
}

/// Where a map is in its current entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
enum KeyState {
    #[default]
    AtKey,
    AfterKey,
    Value,
    /// Not a `key: value` entry (projection `.name`, legacy parameter `{name}`, ...).
    Other,
}

#[derive(Clone, Copy, Debug, Default)]
struct Frame {
    kind: FrameKind,
    /// Offset in the resource of the opening bracket.
    out_start: usize,
    elem: Elem,
    key: KeyState,
    all_const: bool,
    has_compound: bool,
    /// A relationship pattern past its `WHERE`: a `*` there multiplies.
    rel_where: bool,
    elems: u32,
    /// Clause current when a subquery block opened, restored when it closes.
    saved_item: Option<u32>,
}

/// The next name is a label or relationship type.
const LABEL_EXPR: u8 = 1;
/// The previous token ended a label operand (`|` or `&` may continue the expression).
const LABEL_TAIL: u8 = 2;
/// Inside `*1..3` of a relationship pattern: integers stay.
const VAR_LENGTH: u8 = 4;
/// Just after `CYPHER`: a version number stays.
const CYPHER_VERSION: u8 = 8;

/// A significant token with the lookahead facts the walk needs. Offsets are `u32` to keep it in
/// 16 bytes (it is copied for every token); `normalize` never walks longer inputs.
#[derive(Clone, Copy, Debug)]
struct Sig {
    kind: TokenKind,
    kw: Kw,
    flags: u8,
    start: u32,
    end: u32,
    /// Whitespace or a comment came before it.
    ws: bool,
    unterminated: bool,
    /// The lexer reported an error on this token (a malformed number, say).
    bad: bool,
    eof: bool,
}

/// Pending administration command: verb seen, noun not yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admin {
    Off,
    Pending(&'static str),
    On,
}

struct Walker<'a, 's> {
    src: &'a str,
    bytes: &'a [u8],
    /// Lexing position: just after `next`.
    pos: usize,
    next: Sig,
    out: String,
    error: Option<LexError>,
    /// The innermost open bracket (the root frame when none is open).
    top: Frame,
    /// The brackets enclosing `top`, outermost (the root) first; its length is the depth.
    stack: &'s mut Vec<Frame>,
    overflow: usize,
    summary: Summary<'a, 's>,

    prev: TokenKind,
    /// Keyword of the previous token when it was used as a keyword.
    prev_kw: Kw,
    /// The previous token ends an operand, so a following `-` or `+` is binary.
    prev_operand: bool,
    /// Kind of the frame the previous `)`/`]`/`}` closed.
    last_closed: FrameKind,
    /// The current token was written as `?`.
    placeholder: bool,
    /// Facts about the position just after the previous token ([`LABEL_EXPR`], [`LABEL_TAIL`],
    /// [`VAR_LENGTH`], [`CYPHER_VERSION`]); each token starts with them cleared.
    ctx: u8,
    /// Just after `ON CREATE` / `ON MATCH` of a MERGE: the `SET` is part of the MERGE.
    on_action: bool,
    admin: Admin,
    /// After `CALL { } IN`: the words of `IN TRANSACTIONS OF ? ROWS ...` are keywords.
    tx_options: bool,
    /// `CALL proc.name` being read: (optional, start of the name, end so far).
    procedure: Option<(bool, usize, usize)>,
}

fn is_name(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Identifier
            | TokenKind::QuotedIdentifier
            | TokenKind::Keyword
            | TokenKind::Boolean
    )
}

/// Tokens that can stand as the key of a map entry.
fn is_key(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Identifier
            | TokenKind::QuotedIdentifier
            | TokenKind::Keyword
            | TokenKind::Boolean
            | TokenKind::String
            | TokenKind::Integer
            | TokenKind::Float
            | TokenKind::Placeholder
            | TokenKind::Parameter
    )
}

/// Keywords that can start a statement inside `{ }`; used to tell a subquery from a map.
fn starts_clause(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Match
            | Kw::Optional
            | Kw::Create
            | Kw::Merge
            | Kw::Return
            | Kw::With
            | Kw::Unwind
            | Kw::Call
            | Kw::Use
            | Kw::Delete
            | Kw::Detach
            | Kw::Nodetach
            | Kw::Set
            | Kw::Remove
            | Kw::Foreach
            | Kw::Load
            | Kw::Finish
            | Kw::Insert
            | Kw::Let
            | Kw::Filter
            | Kw::Union
    )
}

/// Words after `IS` that make it a predicate rather than the `IS Label` syntax.
fn is_predicate_word(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Not
            | Kw::Null
            | Kw::Typed
            | Kw::Normalized
            | Kw::Unique
            | Kw::Node
            | Kw::Key
            | Kw::Relationship
            | Kw::Rel
            | Kw::True
            | Kw::False
            | Kw::Nfc
            | Kw::Nfd
            | Kw::Nfkc
            | Kw::Nfkd
    )
}

/// Nouns that end an administration command's phrase (`SHOW INDEXES`, `CREATE USER`).
fn is_command_noun(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Index
            | Kw::Indexes
            | Kw::Constraint
            | Kw::Constraints
            | Kw::User
            | Kw::Users
            | Kw::Role
            | Kw::Roles
            | Kw::Database
            | Kw::Databases
            | Kw::Alias
            | Kw::Aliases
            | Kw::Procedure
            | Kw::Procedures
            | Kw::Function
            | Kw::Functions
            | Kw::Transaction
            | Kw::Transactions
            | Kw::Setting
            | Kw::Settings
            | Kw::Privilege
            | Kw::Privileges
            | Kw::Server
            | Kw::Servers
    )
}

/// Words that may stand between a command verb and its noun (`CREATE OR REPLACE RANGE INDEX`).
fn is_command_modifier(kw: Kw) -> bool {
    matches!(
        kw,
        Kw::Or
            | Kw::Replace
            | Kw::Range
            | Kw::Text
            | Kw::Point
            | Kw::Lookup
            | Kw::Fulltext
            | Kw::Vector
            | Kw::Btree
            | Kw::Composite
            | Kw::All
            | Kw::Current
            | Kw::Default
            | Kw::Home
            | Kw::Built
            | Kw::In
            | Kw::Unique
            | Kw::Existence
            | Kw::Node
            | Kw::Relationship
            | Kw::Rel
            | Kw::Key
            | Kw::Property
            | Kw::Type
            | Kw::Defined
    )
}

/// After `CREATE`, these words make it a schema or administration command.
fn starts_create_command(kw: Kw) -> bool {
    is_command_noun(kw) || (is_command_modifier(kw) && kw != Kw::All && kw != Kw::In)
}

impl<'a, 's> Walker<'a, 's> {
    fn new(src: &'a str, stack: &'s mut Vec<Frame>, summary: Summary<'a, 's>) -> Self {
        stack.clear();
        let mut w = Walker {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            next: Sig {
                kind: TokenKind::Unknown,
                kw: Kw::None,
                flags: 0,
                start: 0,
                end: 0,
                ws: false,
                unterminated: false,
                bad: false,
                eof: true,
            },
            out: String::with_capacity(src.len() + 8),
            error: None,
            top: Frame::default(),
            stack,
            overflow: 0,
            summary,
            prev: TokenKind::Semicolon,
            prev_kw: Kw::None,
            prev_operand: false,
            last_closed: FrameKind::Root,
            ctx: 0,
            placeholder: false,
            on_action: false,
            admin: Admin::Off,
            tx_options: false,
            procedure: None,
        };
        w.next = w.lex_sig();
        w
    }

    /// Lexes the next significant token from `self.pos`, recording errors of everything it passes.
    #[inline(always)]
    fn lex_sig(&mut self) -> Sig {
        let mut ws = false;
        while self.pos < self.bytes.len() {
            // The usual separator, a single blank, is skipped without building a token.
            if self.bytes[self.pos] == b' ' {
                self.pos += 1;
                ws = true;
                continue;
            }
            let start = self.pos;
            let raw = lex_at(self.bytes, start);
            self.pos = raw.end;
            if let Some(kind) = raw.error
                && self.error.is_none()
            {
                self.error = Some(LexError {
                    kind,
                    span: start..raw.end,
                });
            }
            if raw.kind.is_trivia() {
                ws = true;
                continue;
            }
            return sig_of(raw, start, ws);
        }
        Sig {
            kind: TokenKind::Unknown,
            kw: Kw::None,
            flags: 0,
            start: self.bytes.len() as u32,
            end: self.bytes.len() as u32,
            ws,
            unterminated: false,
            bad: false,
            eof: true,
        }
    }

    /// The significant token after the one that ends at `from`, without consuming anything.
    fn peek_from(&self, mut from: usize) -> Option<Sig> {
        while from < self.bytes.len() {
            let raw = lex_at(self.bytes, from);
            if !raw.kind.is_trivia() {
                return Some(sig_of(raw, from, false));
            }
            from = raw.end;
        }
        None
    }

    /// Consumes the lookahead.
    #[inline(always)]
    fn advance(&mut self) -> Sig {
        let t = self.next;
        self.next = self.lex_sig();
        t
    }

    fn run(&mut self) {
        self.summary.any_token = !self.next.eof;
        while !self.next.eof {
            let t = self.advance();
            self.step(t);
        }
    }

    fn finish(&mut self) -> Normalized {
        self.finish_procedure();
        self.resolve_admin(None);
        let (summary, operation) = self.summary.render();
        let fingerprint = Fingerprint::of(&self.out);
        Normalized {
            resource: std::mem::take(&mut self.out),
            summary,
            operation,
            fingerprint,
            error: self.error.take(),
        }
    }

    #[inline]
    fn emit(&mut self, ws: bool, text: &str) {
        if ws && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.out.push_str(text);
    }

    /// Writes `?` for a literal. The walk then treats the token as the `?` it became, so that
    /// normalising the resource again sees exactly the same context.
    #[inline]
    fn emit_placeholder(&mut self, ws: bool) {
        self.emit(ws, "?");
        self.placeholder = true;
    }

    #[inline]
    fn text(&self, t: &Sig) -> &'a str {
        &self.src[t.start as usize..t.end as usize]
    }

    #[inline]
    fn tracked(&self) -> bool {
        self.overflow == 0
    }

    #[inline]
    fn top(&mut self) -> &mut Frame {
        &mut self.top
    }

    #[inline]
    fn depth(&self) -> usize {
        self.stack.len()
    }

    /// Records a scalar constant in the current element.
    #[inline]
    fn elem_scalar(&mut self) {
        if self.tracked() {
            let f = self.top();
            f.elem = if f.elem == Elem::Empty {
                Elem::Scalar
            } else {
                Elem::Other
            };
        }
    }

    #[inline]
    fn elem_other(&mut self) {
        if self.tracked() {
            self.top().elem = Elem::Other;
        }
    }

    #[inline(always)]
    fn step(&mut self, t: Sig) {
        if self.procedure.is_some() && !self.continue_procedure(&t) {
            self.finish_procedure();
        }
        if let Admin::Pending(_) = self.admin
            && !(t.kind == TokenKind::Keyword && is_command_modifier(t.kw))
        {
            let noun = (t.kind == TokenKind::Keyword && is_command_noun(t.kw)).then_some(t.kw);
            self.resolve_admin(noun);
        }

        if self.tracked() && self.top.kind == FrameKind::Map {
            match self.top.key {
                KeyState::AtKey if is_key(t.kind) => return self.map_key(t),
                KeyState::AtKey
                    if matches!(t.kind, TokenKind::Minus | TokenKind::Plus)
                        && self.signed_number_follows() =>
                {
                    self.skip_signed_number();
                    return self.map_key(Sig {
                        kind: TokenKind::Placeholder,
                        ..t
                    });
                }
                KeyState::AtKey if !matches!(t.kind, TokenKind::Comma | TokenKind::RBrace) => {
                    self.top.key = KeyState::Other
                }
                KeyState::AfterKey if t.kind != TokenKind::Colon => self.top.key = KeyState::Other,
                _ => {}
            }
        }
        let was = self.ctx;
        self.ctx = 0;
        let was_label_expr = was & LABEL_EXPR != 0;
        let was_label_tail = was & LABEL_TAIL != 0;
        let was_var_length = was & VAR_LENGTH != 0;
        let was_cypher_version = was & CYPHER_VERSION != 0;
        let mut operand = false;
        let mut kw_role = Kw::None;

        match t.kind {
            TokenKind::Identifier
            | TokenKind::QuotedIdentifier
            | TokenKind::Keyword
            | TokenKind::Boolean => {
                if t.unterminated {
                    self.emit_placeholder(t.ws);
                    self.elem_scalar();
                    operand = true;
                } else if let Some(role) = self.word(&t, was_label_expr) {
                    kw_role = role;
                    operand = matches!(role, Kw::Null | Kw::End);
                } else {
                    operand = true;
                }
            }
            TokenKind::Float if was_cypher_version && !t.bad => self.emit(t.ws, self.text(&t)),
            TokenKind::String | TokenKind::Float | TokenKind::Placeholder => {
                self.emit_placeholder(t.ws);
                self.elem_scalar();
                // Whatever became `?` inside `*1..3` reads as `?` next time: same context.
                self.ctx |= was & VAR_LENGTH;
                operand = true;
            }
            TokenKind::Integer => {
                // A malformed number (`*1abc`) is never structural: it goes like any literal.
                if (was_var_length || was_cypher_version || self.in_quantifier()) && !t.bad {
                    self.emit(t.ws, self.text(&t));
                    self.ctx |= was & VAR_LENGTH;
                } else {
                    self.emit_placeholder(t.ws);
                    self.elem_scalar();
                    self.ctx |= was & VAR_LENGTH;
                }
                operand = true;
            }
            TokenKind::Parameter => {
                if t.unterminated {
                    self.emit_placeholder(t.ws);
                } else {
                    self.emit(t.ws, self.text(&t));
                }
                self.elem_scalar();
                operand = true;
            }
            TokenKind::Minus | TokenKind::Plus
                if !self.prev_operand && self.signed_number_follows() =>
            {
                self.skip_signed_number();
                self.emit_placeholder(t.ws);
                self.elem_scalar();
                operand = true;
            }
            TokenKind::LParen => self.open_paren(&t, was_label_expr),
            TokenKind::LBracket => self.open_bracket(&t),
            TokenKind::LBrace => self.open_brace(&t),
            TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                self.close(&t);
                operand = true;
                if self.last_closed == FrameKind::LabelGroup {
                    self.ctx |= LABEL_TAIL;
                }
            }
            TokenKind::Comma => {
                self.emit(t.ws, ",");
                if self.tracked() {
                    self.end_element(false);
                }
            }
            TokenKind::Colon => {
                self.emit(t.ws, ":");
                let map_key = self.tracked() && {
                    let f = self.top();
                    f.kind == FrameKind::Map && f.key == KeyState::AfterKey
                };
                if map_key {
                    let f = self.top();
                    f.key = KeyState::Value;
                    f.elem = Elem::Empty;
                } else {
                    self.ctx |= LABEL_EXPR;
                    self.elem_other();
                }
            }
            TokenKind::Dot => {
                self.emit(t.ws, ".");
                if self.tracked() {
                    let f = self.top();
                    f.elem = if f.elem == Elem::Name {
                        Elem::NameDot
                    } else {
                        Elem::Other
                    };
                }
            }
            TokenKind::Pipe | TokenKind::Ampersand => {
                self.emit(t.ws, self.text(&t));
                let in_list = self.tracked() && self.top.kind == FrameKind::List;
                if was_label_tail && !(t.kind == TokenKind::Pipe && in_list) {
                    self.ctx |= LABEL_EXPR;
                }
                self.elem_other();
            }
            TokenKind::Bang => {
                self.emit(t.ws, "!");
                self.ctx |= was & LABEL_EXPR;
                self.elem_other();
            }
            TokenKind::Percent => {
                self.emit(t.ws, "%");
                if was_label_expr {
                    self.ctx |= LABEL_TAIL;
                }
                self.elem_other();
            }
            TokenKind::Star => {
                self.emit(t.ws, "*");
                let f = &self.top;
                if self.tracked() && f.kind == FrameKind::Rel && !f.rel_where {
                    self.ctx |= VAR_LENGTH;
                }
                self.elem_other();
            }
            TokenKind::DotDot => {
                self.emit(t.ws, "..");
                self.ctx |= was & VAR_LENGTH;
                self.elem_other();
            }
            TokenKind::Semicolon => {
                self.emit(t.ws, ";");
                self.end_statement();
            }
            _ => {
                self.emit(t.ws, self.text(&t));
                self.elem_other();
            }
        }

        self.prev = if self.placeholder {
            self.placeholder = false;
            TokenKind::Placeholder
        } else {
            t.kind
        };
        self.prev_kw = kw_role;
        self.prev_operand = operand;
    }

    /// The key of a map entry: a name as written, or anything that becomes `?` (a literal there
    /// is not Cypher, but it must read the same when the resource is normalised again, where it
    /// is a `?`).
    fn map_key(&mut self, t: Sig) {
        let literal = matches!(
            t.kind,
            TokenKind::String
                | TokenKind::Integer
                | TokenKind::Float
                | TokenKind::Boolean
                | TokenKind::Placeholder
        );
        if literal || t.unterminated {
            self.emit_placeholder(t.ws);
        } else {
            self.emit(t.ws, self.text(&t));
        }
        self.top.key = KeyState::AfterKey;
        self.ctx = 0;
        self.prev = if self.placeholder {
            self.placeholder = false;
            TokenKind::Placeholder
        } else {
            t.kind
        };
        self.prev_kw = Kw::None;
        self.prev_operand = true;
    }

    /// A word: keyword, name, label or boolean literal. Returns the keyword when it is used as
    /// one, `None` when it was written as a name or replaced as a literal.
    fn word(&mut self, t: &Sig, label: bool) -> Option<Kw> {
        let keyword = t.kind == TokenKind::Keyword || t.kind == TokenKind::Boolean;
        let name_here = !keyword
            || self.prev == TokenKind::Dot
            || label
            || self.prev_kw == Kw::As
            || self.procedure.is_some()
            || (t.flags & FUNC != 0 && self.next.kind == TokenKind::LParen)
            || (t.flags & SOFT != 0 && self.admin == Admin::Off && !self.tx_options);

        if t.kind == TokenKind::Boolean {
            // Always a value, even where a name could stand (`{true: 1}`, `n.false`): a boolean
            // token never survives, whatever the context.
            self.emit_placeholder(t.ws);
            self.elem_scalar();
            return None;
        }
        if name_here {
            self.emit(t.ws, self.text(t));
            if label {
                self.ctx |= LABEL_TAIL;
                self.summary.add_name(t.start as usize, t.end as usize);
                self.elem_other();
            } else if self.tracked() {
                let next = self.next.kind;
                let f = self.top();
                f.elem = match f.elem {
                    Elem::Empty | Elem::NameDot
                        if next == TokenKind::LParen || next == TokenKind::Dot =>
                    {
                        Elem::Name
                    }
                    _ => Elem::Other,
                };
            }
            return None;
        }
        self.emit(t.ws, t.kw.text());
        if t.kw == Kw::Null {
            self.elem_scalar();
        } else {
            self.elem_other();
        }
        self.keyword(t);
        Some(t.kw)
    }

    /// Clause bookkeeping for a word used as a keyword.
    fn keyword(&mut self, t: &Sig) {
        let next_kw = if self.next.kind == TokenKind::Keyword {
            self.next.kw
        } else {
            Kw::None
        };
        if self.admin != Admin::Off {
            if t.kw == Kw::Is {
                self.after_is();
            }
            return;
        }
        match t.kw {
            Kw::Match => {
                self.on_action = self.prev_kw == Kw::On;
                if !self.on_action && self.prev_kw != Kw::Optional {
                    self.clause(Phrase::Fixed("MATCH"));
                }
            }
            Kw::Optional if next_kw == Kw::Match => self.clause(Phrase::Fixed("OPTIONAL MATCH")),
            Kw::Create => {
                self.on_action = self.prev_kw == Kw::On;
                if !self.on_action {
                    if starts_create_command(next_kw) {
                        self.admin = Admin::Pending("CREATE");
                    } else {
                        self.clause(Phrase::Fixed("CREATE"));
                    }
                }
            }
            Kw::Merge => self.clause(Phrase::Fixed("MERGE")),
            Kw::Insert => self.clause(Phrase::Fixed("INSERT")),
            Kw::Remove => self.clause(Phrase::Fixed("REMOVE")),
            Kw::Unwind => self.clause(Phrase::Fixed("UNWIND")),
            Kw::Foreach => self.clause(Phrase::Fixed("FOREACH")),
            Kw::Set => {
                let part_of_merge =
                    self.on_action && matches!(self.prev_kw, Kw::Create | Kw::Match);
                if !part_of_merge {
                    self.clause(Phrase::Fixed("SET"));
                }
            }
            Kw::Delete if !matches!(self.prev_kw, Kw::Detach | Kw::Nodetach) => {
                self.clause(Phrase::Fixed("DELETE"))
            }
            Kw::Detach if next_kw == Kw::Delete => self.clause(Phrase::Fixed("DETACH DELETE")),
            Kw::Nodetach if next_kw == Kw::Delete => self.clause(Phrase::Fixed("DELETE")),
            Kw::Load if next_kw == Kw::Csv => self.clause(Phrase::Fixed("LOAD CSV")),
            Kw::Call => {
                let optional = self.prev_kw == Kw::Optional;
                if is_name(self.next.kind) && !self.next.unterminated {
                    let start = self.next.start as usize;
                    self.procedure = Some((optional, start, start));
                } else {
                    self.clause(Phrase::Fixed(if optional {
                        "OPTIONAL CALL"
                    } else {
                        "CALL"
                    }));
                }
            }
            Kw::With if next_kw == Kw::Headers => {}
            Kw::Return | Kw::With | Kw::Union | Kw::Finish | Kw::Let | Kw::Filter | Kw::Next => {
                self.summary.current = None;
                self.tx_options = false;
                self.first_clause(t.kw.text());
            }
            Kw::Order | Kw::Skip | Kw::Limit | Kw::Offset | Kw::Yield | Kw::When => {
                self.first_clause(t.kw.text());
            }
            Kw::Show
            | Kw::Drop
            | Kw::Alter
            | Kw::Grant
            | Kw::Deny
            | Kw::Revoke
            | Kw::Rename
            | Kw::Terminate
            | Kw::Enable
            | Kw::Deallocate
            | Kw::Reallocate
            | Kw::Dryrun
            | Kw::Stop => self.admin = Admin::Pending(t.kw.text()),
            Kw::Start if next_kw == Kw::Database => self.admin = Admin::Pending("START"),
            Kw::Cypher => self.ctx |= CYPHER_VERSION,
            Kw::In if self.prev == TokenKind::RBrace && self.last_closed == FrameKind::Block => {
                self.tx_options = true
            }
            Kw::Is => self.after_is(),
            Kw::Where if self.tracked() && self.top.kind == FrameKind::Rel => {
                self.top.rel_where = true
            }
            _ => {}
        }
    }

    /// `IS` followed by a name is the `IS Label` syntax.
    fn after_is(&mut self) {
        let n = self.next;
        let label = match n.kind {
            TokenKind::Identifier | TokenKind::QuotedIdentifier => true,
            TokenKind::Keyword => !is_predicate_word(n.kw),
            TokenKind::Bang | TokenKind::Percent => true,
            _ => false,
        };
        if label {
            self.ctx |= LABEL_EXPR;
        }
    }

    fn first_clause(&mut self, text: &'static str) {
        if self.summary.first_clause.is_none() {
            self.summary.first_clause = Some(text);
        }
    }

    fn clause(&mut self, phrase: Phrase) {
        self.summary.begin(phrase);
        self.tx_options = false;
    }

    /// Settles a pending command verb into its phrase.
    fn resolve_admin(&mut self, noun: Option<Kw>) {
        if let Admin::Pending(verb) = self.admin {
            self.admin = Admin::On;
            self.summary.begin(match noun {
                Some(noun) => Phrase::Command(verb, noun.text()),
                None => Phrase::Fixed(verb),
            });
        }
    }

    /// Extends the procedure name being read with `t`, or says it ended.
    fn continue_procedure(&mut self, t: &Sig) -> bool {
        let Some((optional, start, end)) = self.procedure else {
            return false;
        };
        let expecting_name = end == start || self.prev == TokenKind::Dot;
        if expecting_name && is_name(t.kind) && !t.unterminated {
            self.procedure = Some((optional, start, t.end as usize));
            true
        } else {
            !expecting_name && t.kind == TokenKind::Dot && is_name(self.next.kind)
        }
    }

    fn finish_procedure(&mut self) {
        if let Some((optional, start, end)) = self.procedure.take() {
            self.clause(Phrase::Procedure {
                optional,
                start,
                end,
            });
        }
    }

    /// Consumes the signs and the number that [`Self::signed_number_follows`] saw.
    fn skip_signed_number(&mut self) {
        while matches!(self.next.kind, TokenKind::Minus | TokenKind::Plus) {
            self.advance();
        }
        self.advance();
    }

    /// A unary `-`/`+` (possibly several) followed by a number.
    fn signed_number_follows(&self) -> bool {
        let mut n = self.next;
        loop {
            match n.kind {
                TokenKind::Integer | TokenKind::Float => return true,
                TokenKind::Minus | TokenKind::Plus => match self.peek_from(n.end as usize) {
                    Some(s) => n = s,
                    None => return false,
                },
                _ => return false,
            }
        }
    }

    fn in_quantifier(&self) -> bool {
        self.tracked() && self.top.kind == FrameKind::Quant
    }

    fn push_frame(&mut self, kind: FrameKind) {
        if self.depth() + 1 >= MAX_DEPTH || !self.tracked() {
            if self.tracked() {
                // Untracked levels may hide anything: the enclosing list cannot be collapsed.
                self.top.all_const = false;
                self.top.elem = Elem::Other;
            }
            self.overflow += 1;
            return;
        }
        let out_start = self.out.len() - 1;
        let saved_item = self.summary.current.map(|i| i as u32);
        let parent = std::mem::replace(
            &mut self.top,
            Frame {
                kind,
                out_start,
                elem: Elem::Empty,
                key: KeyState::AtKey,
                all_const: true,
                has_compound: false,
                rel_where: false,
                elems: 0,
                saved_item,
            },
        );
        self.stack.push(parent);
    }

    /// Closes `top`, making its parent the top again.
    fn pop(&mut self) -> Frame {
        match self.stack.pop() {
            Some(parent) => std::mem::replace(&mut self.top, parent),
            None => self.top,
        }
    }

    fn open_paren(&mut self, t: &Sig, label: bool) {
        self.emit(t.ws, "(");
        let kind = if label {
            self.ctx |= LABEL_EXPR;
            FrameKind::LabelGroup
        } else if self.tracked() && self.top.elem == Elem::Name {
            FrameKind::Call
        } else if self.prev_kw == Kw::Call {
            FrameKind::CallScope
        } else {
            self.elem_other();
            FrameKind::Group
        };
        self.push_frame(kind);
    }

    fn open_bracket(&mut self, t: &Sig) {
        self.emit(t.ws, "[");
        let kind = if matches!(self.prev, TokenKind::Minus | TokenKind::ArrowLeft) {
            FrameKind::Rel
        } else if self.prev_operand {
            FrameKind::Index
        } else {
            FrameKind::List
        };
        if kind != FrameKind::List {
            self.elem_other();
        }
        self.push_frame(kind);
    }

    fn open_brace(&mut self, t: &Sig) {
        self.emit(t.ws, "{");
        let kind = if matches!(
            self.prev_kw,
            Kw::Call | Kw::Exists | Kw::Count | Kw::Collect
        ) || (self.prev == TokenKind::RParen
            && self.last_closed == FrameKind::CallScope)
        {
            FrameKind::Block
        } else if matches!(
            self.prev,
            TokenKind::RParen
                | TokenKind::RBracket
                | TokenKind::Minus
                | TokenKind::ArrowRight
                | TokenKind::Gt
        ) && self.quantifier_follows(t.end as usize)
        {
            FrameKind::Quant
        } else if self.next.kind == TokenKind::Keyword
            && starts_clause(self.next.kw)
            && self
                .peek_from(self.next.end as usize)
                .is_none_or(|s| s.kind != TokenKind::Colon)
        {
            FrameKind::Block
        } else {
            FrameKind::Map
        };
        if kind != FrameKind::Map {
            self.elem_other();
        }
        self.push_frame(kind);
    }

    /// `{m}`, `{m,}`, `{,n}`, `{m,n}` (digits and blanks only) from `pos` on.
    fn quantifier_follows(&self, mut pos: usize) -> bool {
        let b = self.bytes;
        let mut digits = 0;
        let mut commas = 0;
        while pos < b.len() {
            match b[pos] {
                b'0'..=b'9' => digits += 1,
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b',' => {
                    commas += 1;
                    if commas > 1 {
                        return false;
                    }
                }
                b'}' => return digits > 0,
                _ => return false,
            }
            pos += 1;
        }
        false
    }

    fn close(&mut self, t: &Sig) {
        let matches_closer = |kind: FrameKind| match t.kind {
            TokenKind::RParen => matches!(
                kind,
                FrameKind::Group | FrameKind::Call | FrameKind::CallScope | FrameKind::LabelGroup
            ),
            TokenKind::RBracket => {
                matches!(kind, FrameKind::List | FrameKind::Index | FrameKind::Rel)
            }
            _ => matches!(kind, FrameKind::Map | FrameKind::Block | FrameKind::Quant),
        };
        if self.overflow > 0 {
            self.overflow -= 1;
            self.emit(t.ws, self.text(t));
            self.last_closed = FrameKind::Root;
            return;
        }
        let depth = self.depth();
        let target = if matches_closer(self.top.kind) && depth > 0 {
            Some(depth)
        } else {
            (1..depth)
                .rev()
                .find(|&d| matches_closer(self.stack[d].kind))
        };
        let Some(target) = target else {
            // A stray closer: written as is, it closes nothing.
            self.emit(t.ws, self.text(t));
            self.elem_other();
            self.last_closed = FrameKind::Root;
            return;
        };
        while self.depth() > target {
            // Frames left open inside the one being closed: abandon them.
            let f = self.pop();
            if f.kind == FrameKind::Block {
                self.summary.current = f.saved_item.map(|i| i as usize);
            }
            self.report(Elem::Other);
        }
        self.end_element(true);
        let f = self.pop();
        let class = match f.kind {
            FrameKind::List => {
                if f.elems == 0 {
                    self.emit(t.ws, "]");
                    Elem::Scalar
                } else if f.all_const && !f.has_compound {
                    self.out.truncate(f.out_start);
                    self.out.push_str("[?]");
                    Elem::Scalar
                } else if f.all_const {
                    self.collapse_compound_list(f.out_start);
                    Elem::Compound
                } else {
                    self.emit(t.ws, "]");
                    Elem::Other
                }
            }
            FrameKind::Map | FrameKind::Call => {
                self.emit(t.ws, self.text(t));
                if f.all_const {
                    Elem::Compound
                } else {
                    Elem::Other
                }
            }
            FrameKind::Block => {
                self.emit(t.ws, "}");
                self.summary.current = f.saved_item.map(|i| i as usize);
                Elem::Other
            }
            _ => {
                self.emit(t.ws, self.text(t));
                Elem::Other
            }
        };
        self.last_closed = f.kind;
        if f.kind != FrameKind::LabelGroup {
            self.report(class);
        }
    }

    /// Tells the enclosing frame what the element that just closed was.
    fn report(&mut self, class: Elem) {
        let f = self.top();
        f.elem = match f.elem {
            Elem::Empty | Elem::Name => class,
            _ => Elem::Other,
        };
    }

    /// Ends the element of the innermost frame at a `,` or its closer.
    fn end_element(&mut self, closing: bool) {
        let f = &mut self.top;
        match f.kind {
            FrameKind::List | FrameKind::Call => {
                if f.elem == Elem::Empty && closing && f.elems == 0 {
                    return;
                }
                f.elems += 1;
                match f.elem {
                    Elem::Scalar => {}
                    Elem::Compound => f.has_compound = true,
                    _ => f.all_const = false,
                }
            }
            FrameKind::Map => {
                let empty =
                    f.key == KeyState::AtKey && f.elem == Elem::Empty && closing && f.elems == 0;
                if !empty {
                    f.elems += 1;
                    let value_const = matches!(f.elem, Elem::Scalar | Elem::Compound);
                    if f.key != KeyState::Value || !value_const {
                        f.all_const = false;
                    }
                }
                f.key = KeyState::AtKey;
            }
            _ => {}
        }
        f.elem = Elem::Empty;
    }

    /// A list of constants that contains maps, lists or calls: keep each distinct element form
    /// once, in order of first appearance, so the resource does not depend on the list's length.
    /// Scalar elements all read `?`.
    fn collapse_compound_list(&mut self, start: usize) {
        let written = &self.out[start + 1..];
        // Parameters inside the elements read `?` too, as they do in a list of scalars: a batch
        // written `[{id: $id0}, {id: $id1}, ...]` collapses like one of literals.
        let body: std::borrow::Cow<'_, str> = if written.contains('$') {
            std::borrow::Cow::Owned(params_as_placeholders(written))
        } else {
            std::borrow::Cow::Borrowed(written)
        };
        let bytes = body.as_bytes();
        let mut pieces: Vec<&str> = Vec::new();
        let mut depth = 0usize;
        let mut piece_start = 0;
        let mut pos = 0;
        while pos < bytes.len() {
            let raw = lex_at(bytes, pos);
            match raw.kind {
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => depth += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    depth = depth.saturating_sub(1)
                }
                TokenKind::Comma if depth == 0 => {
                    pieces.push(body[piece_start..pos].trim());
                    piece_start = raw.end;
                }
                _ => {}
            }
            pos = raw.end;
        }
        pieces.push(body[piece_start..].trim());
        let mut rebuilt = String::with_capacity(body.len() + 2);
        rebuilt.push('[');
        let mut seen: Vec<&str> = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let piece = if is_scalar_text(piece) { "?" } else { piece };
            if seen.contains(&piece) {
                continue;
            }
            if !seen.is_empty() {
                rebuilt.push_str(", ");
            }
            rebuilt.push_str(piece);
            seen.push(piece);
        }
        rebuilt.push(']');
        self.out.truncate(start);
        self.out.push_str(&rebuilt);
    }

    fn end_statement(&mut self) {
        self.finish_procedure();
        self.resolve_admin(None);
        self.admin = Admin::Off;
        self.tx_options = false;
        self.on_action = false;
        self.summary.current = None;
        // A `;` inside brackets is never part of a constant: collapsing it away would change the
        // statement structure that a second normalisation sees.
        self.elem_other();
    }
}

/// `text` (normalised, so free of strings and comments) with every parameter written `?`.
fn params_as_placeholders(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while pos < bytes.len() {
        let raw = lex_at(bytes, pos);
        out.push_str(if raw.kind == TokenKind::Parameter {
            "?"
        } else {
            &text[pos..raw.end]
        });
        pos = raw.end;
    }
    out
}

/// The normalised text of a scalar list element: `?`, `$p`, `NULL`, `[?]`, `[]`.
fn is_scalar_text(piece: &str) -> bool {
    if matches!(piece, "?" | "NULL" | "[?]" | "[]") {
        return true;
    }
    let bytes = piece.as_bytes();
    !bytes.is_empty() && bytes[0] == b'$' && lex_at(bytes, 0).end == bytes.len() && {
        lex_at(bytes, 0).kind == TokenKind::Parameter
    }
}

#[inline(always)]
fn sig_of(raw: Raw, start: usize, ws: bool) -> Sig {
    Sig {
        kind: raw.kind,
        kw: raw.kw,
        flags: raw.kw_flags,
        start: start as u32,
        end: raw.end as u32,
        ws,
        unterminated: raw.unterminated,
        bad: raw.error.is_some(),
        eof: false,
    }
}
