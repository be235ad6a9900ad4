//! The nesting state: which brackets are open, and what the element being read inside the
//! innermost one is so far.
//!
//! A [`Frame`] is one open bracket. [`Frames`] keeps the innermost frame apart from the stack of
//! its ancestors, because almost every token looks at it. Nothing here writes the resource: the
//! walker decides what a bracket is ([`super::bracket`]) and tells the frames; the frames answer
//! what the walker needs to know (is this a map key, a list of constants, a relationship?).

use crate::lexer::TokenKind;

/// Deeper nesting than this is still normalised, but without list collapsing or map-key
/// detection inside the untracked levels.
pub(super) const MAX_DEPTH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum FrameKind {
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

impl FrameKind {
    /// Whether `closer` (`)`, `]` or `}`) closes a frame of this kind.
    fn closed_by(self, closer: TokenKind) -> bool {
        match closer {
            TokenKind::RParen => matches!(
                self,
                FrameKind::Group | FrameKind::Call | FrameKind::CallScope | FrameKind::LabelGroup
            ),
            TokenKind::RBracket => {
                matches!(self, FrameKind::List | FrameKind::Index | FrameKind::Rel)
            }
            _ => matches!(self, FrameKind::Map | FrameKind::Block | FrameKind::Quant),
        }
    }
}

/// What the element being read in a list, map value or argument list is, so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(super) enum Elem {
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
pub(super) enum KeyState {
    #[default]
    AtKey,
    AfterKey,
    Value,
    /// Not a `key: value` entry (projection `.name`, legacy parameter `{name}`, ...).
    Other,
}

/// One open bracket.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Frame {
    pub(super) kind: FrameKind,
    /// Offset in the resource of the opening bracket.
    pub(super) out_start: usize,
    pub(super) elem: Elem,
    pub(super) key: KeyState,
    pub(super) all_const: bool,
    pub(super) has_compound: bool,
    /// A relationship pattern past its `WHERE`: a `*` there multiplies.
    pub(super) rel_where: bool,
    pub(super) elems: u32,
    /// Clause current when a subquery block opened, restored when it closes.
    pub(super) saved_item: Option<u32>,
}

/// The open brackets.
pub(super) struct Frames<'s> {
    /// The innermost open bracket (the root frame when none is open).
    top: Frame,
    /// The brackets enclosing `top`, outermost (the root) first; its length is the depth.
    stack: &'s mut Vec<Frame>,
    /// Brackets open beyond [`MAX_DEPTH`], not tracked.
    overflow: usize,
}

impl<'s> Frames<'s> {
    /// Only the root frame open; `stack` is scratch space, emptied here.
    pub(super) fn new(stack: &'s mut Vec<Frame>) -> Self {
        stack.clear();
        Frames {
            top: Frame::default(),
            stack,
            overflow: 0,
        }
    }

    /// Whether the innermost bracket is tracked (not beyond [`MAX_DEPTH`]).
    #[inline]
    pub(super) fn tracked(&self) -> bool {
        self.overflow == 0
    }

    #[inline]
    pub(super) fn depth(&self) -> usize {
        self.stack.len()
    }

    /// The innermost tracked frame.
    #[inline]
    pub(super) fn top(&self) -> &Frame {
        &self.top
    }

    #[inline]
    pub(super) fn top_mut(&mut self) -> &mut Frame {
        &mut self.top
    }

    /// Whether the innermost bracket is a tracked frame of `kind`.
    #[inline]
    pub(super) fn inside(&self, kind: FrameKind) -> bool {
        self.tracked() && self.top.kind == kind
    }

    /// Whether a label expression here is in a relationship pattern (`-[:A|(B&C)]-`), so its
    /// names are relationship types.
    pub(super) fn in_relationship(&self) -> bool {
        std::iter::once(&self.top)
            .chain(self.stack.iter().rev())
            .find(|f| f.kind != FrameKind::LabelGroup)
            .is_some_and(|f| f.kind == FrameKind::Rel)
    }

    /// Records a scalar constant in the current element.
    #[inline]
    pub(super) fn elem_scalar(&mut self) {
        if self.tracked() {
            let f = &mut self.top;
            f.elem = if f.elem == Elem::Empty {
                Elem::Scalar
            } else {
                Elem::Other
            };
        }
    }

    /// Records something that is not a constant in the current element.
    #[inline]
    pub(super) fn elem_other(&mut self) {
        if self.tracked() {
            self.top.elem = Elem::Other;
        }
    }

    /// Opens a frame of `kind` whose bracket is at `out_start` in the resource, while the
    /// summary's clause `saved_item` is current.
    pub(super) fn push(&mut self, kind: FrameKind, out_start: usize, saved_item: Option<usize>) {
        if self.depth() + 1 >= MAX_DEPTH || !self.tracked() {
            if self.tracked() {
                // Untracked levels may hide anything: the enclosing list cannot be collapsed.
                self.top.all_const = false;
                self.top.elem = Elem::Other;
            }
            self.overflow += 1;
            return;
        }
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
                saved_item: saved_item.map(|i| i as u32),
            },
        );
        self.stack.push(parent);
    }

    /// Closes the innermost frame, making its parent the innermost again.
    pub(super) fn pop(&mut self) -> Frame {
        match self.stack.pop() {
            Some(parent) => std::mem::replace(&mut self.top, parent),
            None => self.top,
        }
    }

    /// Closes an untracked level, if one is open: `true` when it did.
    pub(super) fn pop_untracked(&mut self) -> bool {
        if self.overflow > 0 {
            self.overflow -= 1;
            true
        } else {
            false
        }
    }

    /// The depth of the frame `closer` closes: the innermost one of a matching kind, `None` when
    /// there is none (a stray closer). Frames left open inside it are abandoned by the caller.
    pub(super) fn target(&self, closer: TokenKind) -> Option<usize> {
        let depth = self.depth();
        if self.top.kind.closed_by(closer) && depth > 0 {
            Some(depth)
        } else {
            (1..depth)
                .rev()
                .find(|&d| self.stack[d].kind.closed_by(closer))
        }
    }

    /// Tells the innermost frame what the element that just closed inside it was.
    pub(super) fn report(&mut self, class: Elem) {
        let f = &mut self.top;
        f.elem = match f.elem {
            Elem::Empty | Elem::Name => class,
            _ => Elem::Other,
        };
    }

    /// Ends the element of the innermost frame at a `,` or its closer.
    pub(super) fn end_element(&mut self, closing: bool) {
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
}
