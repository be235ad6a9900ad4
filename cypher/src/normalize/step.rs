//! One step of the walk: what each significant token writes to the resource and what it tells
//! the frames, the clauses and the next token.

use super::frame::{Elem, FrameKind, KeyState};
use super::walker::{CYPHER_VERSION, LABEL_EXPR, LABEL_TAIL, Sig, VAR_LENGTH, Walker};
use crate::keyword::{Flags, Kw};
use crate::lexer::TokenKind;

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

impl Walker<'_, '_> {
    #[inline(always)]
    pub(super) fn step(&mut self, t: &Sig) {
        self.settle_phrases(t);
        if self.frames.inside(FrameKind::Map) && self.map_entry(t) {
            return;
        }
        let was = std::mem::take(&mut self.ctx);
        let mut operand = false;
        let mut kw_role = Kw::None;

        match t.kind {
            TokenKind::Identifier
            | TokenKind::QuotedIdentifier
            | TokenKind::Keyword
            | TokenKind::Boolean => {
                if t.unterminated {
                    self.emit_placeholder(t.ws);
                    self.frames.elem_scalar();
                    operand = true;
                } else if let Some(role) = self.word(t, was & LABEL_EXPR != 0) {
                    kw_role = role;
                    operand = t.flags.has(Flags::OPERAND);
                } else {
                    operand = true;
                }
            }
            TokenKind::String
            | TokenKind::Float
            | TokenKind::Placeholder
            | TokenKind::Integer
            | TokenKind::Parameter => operand = self.literal(t, was),
            TokenKind::Minus | TokenKind::Plus
                if !self.prev_operand && self.signed_number_follows() =>
            {
                self.skip_signed_number();
                self.emit_placeholder(t.ws);
                self.frames.elem_scalar();
                operand = true;
            }
            TokenKind::LParen => self.open_paren(t, was & LABEL_EXPR != 0),
            TokenKind::LBracket => self.open_bracket(t),
            TokenKind::LBrace => self.open_brace(t),
            TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                self.close(t);
                operand = true;
                if self.last_closed == FrameKind::LabelGroup {
                    self.ctx |= LABEL_TAIL;
                }
            }
            _ => self.punctuation(t, was),
        }
        self.stepped(t.kind, kw_role, operand);
    }

    /// Remembers what the token just handled was, for the next one.
    #[inline(always)]
    fn stepped(&mut self, kind: TokenKind, kw_role: Kw, operand: bool) {
        self.prev = if self.placeholder {
            self.placeholder = false;
            TokenKind::Placeholder
        } else {
            kind
        };
        self.prev_kw = kw_role;
        self.prev_operand = operand;
    }

    /// Inside a map: reads `t` as the key of an entry when it stands where a key does (then it
    /// is consumed: `true`), and notes when the entry turns out not to be `key: value`.
    #[inline(always)]
    fn map_entry(&mut self, t: &Sig) -> bool {
        match self.frames.top().key {
            KeyState::AtKey if is_key(t.kind) => {
                self.map_key(t, t.kind);
                return true;
            }
            KeyState::AtKey
                if matches!(t.kind, TokenKind::Minus | TokenKind::Plus)
                    && self.signed_number_follows() =>
            {
                self.skip_signed_number();
                self.map_key(t, TokenKind::Placeholder);
                return true;
            }
            KeyState::AtKey if !matches!(t.kind, TokenKind::Comma | TokenKind::RBrace) => {
                self.frames.top_mut().key = KeyState::Other
            }
            KeyState::AfterKey if t.kind != TokenKind::Colon => {
                self.frames.top_mut().key = KeyState::Other
            }
            _ => {}
        }
        false
    }

    /// The key of a map entry: a name as written, or anything that becomes `?` (a literal there
    /// is not Cypher, but it must read the same when the resource is normalised again, where it
    /// is a `?`). `kind` is the token's kind, or `Placeholder` for a signed number.
    // Out of line on purpose: with every use of the token inlined into the walk, the compiler
    // splits it into its fields and spills each one around the calls of `step`; this one call
    // that takes the token whole keeps it in one piece, and costs less than the spills.
    #[inline(never)]
    fn map_key(&mut self, t: &Sig, kind: TokenKind) {
        let literal = matches!(
            kind,
            TokenKind::String
                | TokenKind::Integer
                | TokenKind::Float
                | TokenKind::Boolean
                | TokenKind::Placeholder
        );
        if literal || t.unterminated {
            self.emit_placeholder(t.ws);
        } else {
            self.emit(t.ws, self.text(t));
        }
        self.frames.top_mut().key = KeyState::AfterKey;
        self.ctx = 0;
        self.stepped(kind, Kw::None, true);
    }

    /// A string, number, `?` or parameter; `was` is the context the previous token left.
    /// Returns whether it ends an operand.
    #[inline]
    fn literal(&mut self, t: &Sig, was: u8) -> bool {
        // Whatever became `?` inside `*1..3` reads as `?` next time: same context.
        let var_length = was & VAR_LENGTH;
        let version = was & CYPHER_VERSION != 0;
        match t.kind {
            TokenKind::Float if version && !t.bad => {
                self.emit(t.ws, self.text(t));
                return false;
            }
            // A malformed number (`*1abc`) is never structural: it goes like any literal.
            TokenKind::Integer
                if (var_length != 0 || version || self.frames.inside(FrameKind::Quant))
                    && !t.bad =>
            {
                self.emit(t.ws, self.text(t));
                self.ctx |= var_length;
                return true;
            }
            TokenKind::Parameter if !t.unterminated => self.emit(t.ws, self.text(t)),
            TokenKind::Parameter => self.emit_placeholder(t.ws),
            _ => {
                self.emit_placeholder(t.ws);
                self.ctx |= var_length;
            }
        }
        self.frames.elem_scalar();
        true
    }

    /// Punctuation and operators; `was` is the context the previous token left.
    #[inline]
    fn punctuation(&mut self, t: &Sig, was: u8) {
        match t.kind {
            TokenKind::Comma => {
                self.emit(t.ws, ",");
                if self.frames.tracked() {
                    self.frames.end_element(false);
                }
            }
            TokenKind::Colon => {
                self.emit(t.ws, ":");
                let map_key = self.frames.tracked() && {
                    let f = self.frames.top();
                    f.kind == FrameKind::Map && f.key == KeyState::AfterKey
                };
                if map_key {
                    let f = self.frames.top_mut();
                    f.key = KeyState::Value;
                    f.elem = Elem::Empty;
                } else {
                    self.ctx |= LABEL_EXPR;
                    self.frames.elem_other();
                }
            }
            TokenKind::Dot => {
                self.emit(t.ws, ".");
                if self.frames.tracked() {
                    let f = self.frames.top_mut();
                    f.elem = if f.elem == Elem::Name {
                        Elem::NameDot
                    } else {
                        Elem::Other
                    };
                }
            }
            TokenKind::Pipe | TokenKind::Ampersand => {
                self.emit(t.ws, self.text(t));
                let in_list = self.frames.inside(FrameKind::List);
                if was & LABEL_TAIL != 0 && !(t.kind == TokenKind::Pipe && in_list) {
                    self.ctx |= LABEL_EXPR;
                }
                self.frames.elem_other();
            }
            TokenKind::Bang => {
                self.emit(t.ws, "!");
                self.ctx |= was & LABEL_EXPR;
                self.frames.elem_other();
            }
            TokenKind::Percent => {
                self.emit(t.ws, "%");
                if was & LABEL_EXPR != 0 {
                    self.ctx |= LABEL_TAIL;
                }
                self.frames.elem_other();
            }
            TokenKind::Star => {
                self.emit(t.ws, "*");
                let f = self.frames.top();
                if self.frames.tracked() && f.kind == FrameKind::Rel && !f.rel_where {
                    self.ctx |= VAR_LENGTH;
                }
                self.frames.elem_other();
            }
            TokenKind::DotDot => {
                self.emit(t.ws, "..");
                self.ctx |= was & VAR_LENGTH;
                self.frames.elem_other();
            }
            TokenKind::Semicolon => {
                self.emit(t.ws, ";");
                self.end_statement();
            }
            _ => {
                self.emit(t.ws, self.text(t));
                self.frames.elem_other();
            }
        }
    }

    /// A word: keyword, name, label or boolean literal. Returns the keyword when it is used as
    /// one, `None` when it was written as a name or replaced as a literal.
    fn word(&mut self, t: &Sig, label: bool) -> Option<Kw> {
        let keyword = t.kind == TokenKind::Keyword || t.kind == TokenKind::Boolean;
        let name_here = !keyword
            || self.prev == TokenKind::Dot
            || label
            || self.prev_kw == Kw::As
            || self.stmt.procedure.is_some()
            || (t.flags.has(Flags::FUNC) && self.next.kind == TokenKind::LParen)
            || (t.flags.has(Flags::SOFT) && !self.stmt.soft_keywords());

        if t.kind == TokenKind::Boolean {
            // Always a value, even where a name could stand (`{true: 1}`, `n.false`): a boolean
            // token never survives, whatever the context.
            self.emit_placeholder(t.ws);
            self.frames.elem_scalar();
            return None;
        }
        if name_here {
            let text = self.text(t);
            self.emit(t.ws, text);
            if label {
                self.ctx |= LABEL_TAIL;
                self.summary.add_name(t.start as usize, t.end as usize);
                let end = self.out.len();
                let rel = self.frames.in_relationship();
                self.names.add(&self.out, end - text.len(), end, rel);
                self.frames.elem_other();
            } else if self.frames.tracked() {
                let next = self.next.kind;
                let f = self.frames.top_mut();
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
            self.frames.elem_scalar();
        } else {
            self.frames.elem_other();
        }
        self.keyword(t);
        Some(t.kw)
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
}
