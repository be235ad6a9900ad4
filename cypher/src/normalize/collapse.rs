//! Collapsing a list of constants that holds maps, lists or calls, once its `]` is read: the
//! list becomes its distinct element forms, so the resource depends neither on the values nor on
//! how many elements follow the same shape. (A list of scalars needs no rewriting: it is simply
//! written `[?]`.)

use crate::lexer::{TokenKind, lex_at};

/// Rewrites the list written in `out` from `start` (its `[`) to the end: each distinct element
/// form once, in order of first appearance, scalar elements all read `?`, and `]` appended.
pub(super) fn collapse_compound_list(out: &mut String, start: usize) {
    let written = &out[start + 1..];
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
    out.truncate(start);
    out.push_str(&rebuilt);
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
