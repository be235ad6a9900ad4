//! Opening and closing brackets: what kind of [`Frame`](super::frame::Frame) a bracket opens is
//! read from the tokens around it, and what a closed frame was (a list of constants, a map, a
//! block) is reported to the one around it.

use super::collapse::collapse_compound_list;
use super::frame::{Elem, FrameKind};
use super::walker::{LABEL_EXPR, Sig, Walker};
use crate::keyword::{Flags, Kw};
use crate::lexer::TokenKind;

impl Walker<'_, '_> {
    /// Opens the frame of the bracket just written; `kind` says what it is.
    fn push_frame(&mut self, kind: FrameKind) {
        let out_start = self.out.len() - 1;
        self.frames.push(kind, out_start, self.summary.current);
    }

    /// `(`; `label` when it stands in a label expression (`:(A|B)`).
    pub(super) fn open_paren(&mut self, t: &Sig, label: bool) {
        self.emit(t.ws, "(");
        let kind = if label {
            self.ctx |= LABEL_EXPR;
            FrameKind::LabelGroup
        } else if self.frames.tracked() && self.frames.top().elem == Elem::Name {
            FrameKind::Call
        } else if self.prev_kw == Kw::Call {
            FrameKind::CallScope
        } else {
            self.frames.elem_other();
            FrameKind::Group
        };
        self.push_frame(kind);
    }

    /// `[`: a relationship pattern after `-` or `<-`, an index after an operand, else a list.
    pub(super) fn open_bracket(&mut self, t: &Sig) {
        self.emit(t.ws, "[");
        let kind = if matches!(self.prev, TokenKind::Minus | TokenKind::ArrowLeft) {
            FrameKind::Rel
        } else if self.prev_operand {
            FrameKind::Index
        } else {
            FrameKind::List
        };
        if kind != FrameKind::List {
            self.frames.elem_other();
        }
        self.push_frame(kind);
    }

    /// `{`: a subquery block, a path quantifier or a map.
    pub(super) fn open_brace(&mut self, t: &Sig) {
        self.emit(t.ws, "{");
        let kind = if self.prev_kw.flags().has(Flags::BLOCK)
            || (self.prev == TokenKind::RParen && self.last_closed == FrameKind::CallScope)
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
        } else if self.next.flags.has(Flags::CLAUSE)
            && self
                .peek_from(self.next.end as usize)
                .is_none_or(|s| s.kind != TokenKind::Colon)
        {
            FrameKind::Block
        } else {
            FrameKind::Map
        };
        if kind != FrameKind::Map {
            self.frames.elem_other();
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

    /// `)`, `]` or `}`: closes the innermost frame it matches, abandoning any left open inside
    /// it; a closer that matches none is written as is and closes nothing.
    pub(super) fn close(&mut self, t: &Sig) {
        if self.frames.pop_untracked() {
            self.emit(t.ws, self.text(t));
            self.last_closed = FrameKind::Root;
            return;
        }
        let Some(target) = self.frames.target(t.kind) else {
            self.emit(t.ws, self.text(t));
            self.frames.elem_other();
            self.last_closed = FrameKind::Root;
            return;
        };
        while self.frames.depth() > target {
            let f = self.frames.pop();
            if f.kind == FrameKind::Block {
                self.summary.current = f.saved_item.map(|i| i as usize);
            }
            self.frames.report(Elem::Other);
        }
        self.frames.end_element(true);
        let f = self.frames.pop();
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
                    collapse_compound_list(&mut self.out, f.out_start);
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
            self.frames.report(class);
        }
    }
}
