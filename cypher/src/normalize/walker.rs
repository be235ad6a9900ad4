//! The token loop: lexes the significant tokens with a one-token lookahead, hands each to
//! `Walker::step` (in `step.rs`) and finally assembles the [`Normalized`].
//!
//! The walker owns the output (the resource being written) and the facts about the previous
//! token that decide how the next one reads; the nesting lives in [`Frames`], the statement's
//! clause state in [`Statement`], the summary in [`Summary`] and the names in [`Collector`].

use super::Normalized;
use super::frame::{Frame, FrameKind, Frames};
use super::names::{Collector, Found};
use super::statement::Statement;
use crate::fingerprint::Fingerprint;
use crate::keyword::{Flags, Kw};
use crate::lexer::{LexError, Raw, TokenKind, lex_at};
use crate::summary::Summary;

/// The next name is a label or relationship type.
pub(super) const LABEL_EXPR: u8 = 1;
/// The previous token ended a label operand (`|` or `&` may continue the expression).
pub(super) const LABEL_TAIL: u8 = 2;
/// Inside `*1..3` of a relationship pattern: integers stay.
pub(super) const VAR_LENGTH: u8 = 4;
/// Just after `CYPHER`: a version number stays.
pub(super) const CYPHER_VERSION: u8 = 8;

/// A significant token with the lookahead facts the walk needs. Offsets are `u32` to keep it in
/// 16 bytes (it is copied for every token); `normalize` never walks longer inputs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sig {
    pub(super) kind: TokenKind,
    pub(super) kw: Kw,
    /// The keyword's flags; empty for every other token.
    pub(super) flags: Flags,
    pub(super) start: u32,
    pub(super) end: u32,
    /// Whitespace or a comment came before it.
    pub(super) ws: bool,
    pub(super) unterminated: bool,
    /// The lexer reported an error on this token (a malformed number, say).
    pub(super) bad: bool,
    pub(super) eof: bool,
}

impl Sig {
    /// The end of the input at `at`.
    fn eof(at: usize, ws: bool) -> Sig {
        Sig {
            kind: TokenKind::Unknown,
            kw: Kw::None,
            flags: Flags::NONE,
            start: at as u32,
            end: at as u32,
            ws,
            unterminated: false,
            bad: false,
            eof: true,
        }
    }

    #[inline(always)]
    fn of(raw: Raw, start: usize, ws: bool) -> Sig {
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
}

pub(super) struct Walker<'a, 's> {
    pub(super) src: &'a str,
    pub(super) bytes: &'a [u8],
    /// Lexing position: just after `next`.
    pos: usize,
    /// The lookahead: the token after the one being handled.
    pub(super) next: Sig,
    /// The resource written so far.
    pub(super) out: String,
    error: Option<LexError>,
    pub(super) frames: Frames<'s>,
    pub(super) summary: Summary<'a, 's>,
    pub(super) names: Collector<'s>,
    pub(super) stmt: Statement,

    pub(super) prev: TokenKind,
    /// Keyword of the previous token when it was used as a keyword.
    pub(super) prev_kw: Kw,
    /// The previous token ends an operand, so a following `-` or `+` is binary.
    pub(super) prev_operand: bool,
    /// Kind of the frame the previous `)`/`]`/`}` closed.
    pub(super) last_closed: FrameKind,
    /// The current token was written as `?`.
    pub(super) placeholder: bool,
    /// Facts about the position just after the previous token ([`LABEL_EXPR`], [`LABEL_TAIL`],
    /// [`VAR_LENGTH`], [`CYPHER_VERSION`]); each token starts with them cleared.
    pub(super) ctx: u8,
}

impl<'a, 's> Walker<'a, 's> {
    #[inline]
    pub(super) fn new(
        src: &'a str,
        frames: &'s mut Vec<Frame>,
        summary: Summary<'a, 's>,
        found: &'s mut Vec<Found>,
    ) -> Self {
        let mut w = Walker {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            next: Sig::eof(0, false),
            out: String::with_capacity(src.len() + 8),
            error: None,
            frames: Frames::new(frames),
            summary,
            names: Collector::new(found),
            stmt: Statement::default(),
            prev: TokenKind::Semicolon,
            prev_kw: Kw::None,
            prev_operand: false,
            last_closed: FrameKind::Root,
            placeholder: false,
            ctx: 0,
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
            return Sig::of(raw, start, ws);
        }
        Sig::eof(self.bytes.len(), ws)
    }

    /// The significant token after the one that ends at `from`, without consuming anything.
    pub(super) fn peek_from(&self, mut from: usize) -> Option<Sig> {
        while from < self.bytes.len() {
            let raw = lex_at(self.bytes, from);
            if !raw.kind.is_trivia() {
                return Some(Sig::of(raw, from, false));
            }
            from = raw.end;
        }
        None
    }

    /// Consumes the lookahead.
    #[inline(always)]
    pub(super) fn advance(&mut self) -> Sig {
        let t = self.next;
        self.next = self.lex_sig();
        t
    }

    pub(super) fn run(&mut self) {
        self.summary.any_token = !self.next.eof;
        while !self.next.eof {
            let t = self.advance();
            self.step(&t);
        }
    }

    #[inline]
    pub(super) fn finish(&mut self) -> Normalized {
        self.finish_procedure();
        self.resolve_admin(None);
        let rendered = self.summary.render();
        let names = self.names.finish(&self.out, rendered.collection);
        let fingerprint = Fingerprint::of(&self.out);
        Normalized {
            resource: std::mem::take(&mut self.out),
            summary: rendered.summary,
            operation: rendered.operation,
            fingerprint,
            error: self.error.take(),
            names,
        }
    }

    #[inline]
    pub(super) fn emit(&mut self, ws: bool, text: &str) {
        if ws && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.out.push_str(text);
    }

    /// Writes `?` for a literal. The walk then treats the token as the `?` it became, so that
    /// normalising the resource again sees exactly the same context.
    #[inline]
    pub(super) fn emit_placeholder(&mut self, ws: bool) {
        self.emit(ws, "?");
        self.placeholder = true;
    }

    #[inline]
    pub(super) fn text(&self, t: &Sig) -> &'a str {
        &self.src[t.start as usize..t.end as usize]
    }
}
