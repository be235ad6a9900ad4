//! The lossless lexer.
//!
//! [`lex_at`] recognises the one token that starts at a byte offset; [`Tokens`] (the public
//! iterator returned by [`tokenize`]) and the normaliser both drive it. Every byte of the input
//! belongs to exactly one token, whitespace and comments included, so concatenating the spans gives
//! the input back. Malformed input never stops the lexer: an unterminated string, comment or quoted
//! name runs to the end of the input, an unknown character becomes an [`TokenKind::Unknown`] token,
//! and each problem is reported as a [`LexError`] beside the stream.

use std::fmt;
use std::ops::Range;

use crate::keyword::{self, Flags, Kw};

/// What a token is. Keywords are recognised case-insensitively and without context: a
/// [`TokenKind::Keyword`] may still be used as a name (`n.match`, `{limit: 1}`), which the
/// normaliser decides from its neighbours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenKind {
    /// A run of whitespace (ASCII or Unicode).
    Whitespace,
    /// `// ...` up to the end of the line (the line break is not part of it).
    LineComment,
    /// `/* ... */`, possibly unterminated.
    BlockComment,
    /// An unquoted name that is not in the keyword table (Unicode letters, digits, `_`).
    Identifier,
    /// A backtick-quoted name; a doubled backtick inside stands for one backtick.
    QuotedIdentifier,
    /// A word of the keyword table (`MATCH`, `where`, ...), in any case.
    Keyword,
    /// `$name`, `$0` or `` $`odd name` ``.
    Parameter,
    /// A string in single or double quotes, escapes included.
    String,
    /// A decimal, hexadecimal (`0x1F`) or octal (`0o17`) integer, `_` separators allowed.
    Integer,
    /// A float: `1.5`, `.5`, `1e-3`, `6.02E23`.
    Float,
    /// `true` or `false`, in any case.
    Boolean,
    /// `?`: the placeholder the normaliser writes, accepted as input.
    Placeholder,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// `:`
    Colon,
    /// `::`
    DoubleColon,
    /// `;`
    Semicolon,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `!=`
    BangEq,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `=~`
    RegexMatch,
    /// `+`
    Plus,
    /// `+=`
    PlusEq,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `%`
    Percent,
    /// `^`
    Caret,
    /// `->`
    ArrowRight,
    /// `<-`
    ArrowLeft,
    /// `|`
    Pipe,
    /// `||`
    DoublePipe,
    /// `&`
    Ampersand,
    /// `!`
    Bang,
    /// A `$` not followed by a parameter name (as in the dynamic label `:$(expr)`).
    Dollar,
    /// A character that starts no Cypher token; reported as
    /// [`LexErrorKind::UnexpectedCharacter`].
    Unknown,
}

impl TokenKind {
    /// Whitespace and comments: tokens that carry no meaning.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment
        )
    }

    /// Strings, numbers and booleans: the tokens the normaliser replaces with `?`.
    pub fn is_literal(self) -> bool {
        matches!(
            self,
            TokenKind::String | TokenKind::Integer | TokenKind::Float | TokenKind::Boolean
        )
    }
}

/// One token: its kind and its byte range in the input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Byte range in the input; always on `char` boundaries.
    pub span: Range<usize>,
}

impl Token {
    /// The token's text in `source` (the string that was tokenized).
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        source.get(self.span.clone()).unwrap_or("")
    }
}

/// What went wrong while lexing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LexErrorKind {
    /// A string whose closing quote is missing; the token runs to the end of the input.
    UnterminatedString,
    /// A `/*` comment without `*/`; the comment runs to the end of the input.
    UnterminatedComment,
    /// A backtick-quoted name (or parameter name) without its closing backtick.
    UnterminatedQuotedIdentifier,
    /// A backslash escape in a string that Cypher does not define (`\q`, `\u12`).
    InvalidEscape,
    /// A number directly followed by letters or digits it cannot contain (`12ab`, `0x`).
    MalformedNumber,
    /// A character that starts no Cypher token (`#`, `@`, `\`, control characters, ...).
    UnexpectedCharacter,
}

/// A lexing problem: its kind and the byte range of the offending token. It never carries the
/// text itself, so it is safe to log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LexError {
    /// What went wrong.
    pub kind: LexErrorKind,
    /// Byte range of the token in the input.
    pub span: Range<usize>,
}

impl fmt::Display for LexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LexErrorKind::UnterminatedString => "unterminated string literal",
            LexErrorKind::UnterminatedComment => "unterminated block comment",
            LexErrorKind::UnterminatedQuotedIdentifier => "unterminated backtick-quoted name",
            LexErrorKind::InvalidEscape => "invalid escape sequence in string literal",
            LexErrorKind::MalformedNumber => "malformed number",
            LexErrorKind::UnexpectedCharacter => "unexpected character",
        };
        write!(f, "{what} at bytes {}..{}", self.span.start, self.span.end)
    }
}

impl std::error::Error for LexError {}

/// Lexes `query` lazily. The iterator yields every token, trivia included, in order; the errors
/// met so far are available through [`Tokens::errors`].
///
/// ```
/// let mut tokens = cypher::tokenize("RETURN 'a");
/// let text: String = tokens.by_ref().map(|t| t.text("RETURN 'a").to_owned()).collect();
/// assert_eq!(text, "RETURN 'a");
/// assert_eq!(tokens.errors()[0].kind, cypher::LexErrorKind::UnterminatedString);
/// ```
pub fn tokenize(query: &str) -> Tokens<'_> {
    Tokens {
        source: query,
        pos: 0,
        errors: Vec::new(),
    }
}

/// Iterator over the tokens of a query; see [`tokenize`].
#[derive(Clone, Debug)]
pub struct Tokens<'a> {
    source: &'a str,
    pos: usize,
    errors: Vec<LexError>,
}

impl<'a> Tokens<'a> {
    /// The text being lexed.
    pub fn source(&self) -> &'a str {
        self.source
    }

    /// Errors met so far, in input order (all of them once the iterator is exhausted).
    pub fn errors(&self) -> &[LexError] {
        &self.errors
    }
}

impl Iterator for Tokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let bytes = self.source.as_bytes();
        if self.pos >= bytes.len() {
            return None;
        }
        let raw = lex_at(bytes, self.pos);
        let span = self.pos..raw.end;
        if let Some(kind) = raw.error {
            self.errors.push(LexError {
                kind,
                span: span.clone(),
            });
        }
        self.pos = raw.end;
        Some(Token {
            kind: raw.kind,
            span,
        })
    }
}

impl std::iter::FusedIterator for Tokens<'_> {}

/// A token as the internal lexer reports it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Raw {
    pub kind: TokenKind,
    pub end: usize,
    pub kw: Kw,
    pub kw_flags: Flags,
    pub error: Option<LexErrorKind>,
    /// The token runs to the end of the input because its terminator is missing.
    pub unterminated: bool,
}

impl Raw {
    #[inline]
    fn new(kind: TokenKind, end: usize) -> Raw {
        Raw {
            kind,
            end,
            kw: Kw::None,
            kw_flags: Flags::NONE,
            error: None,
            unterminated: false,
        }
    }

    #[inline]
    fn with_error(mut self, error: LexErrorKind) -> Raw {
        self.error = Some(error);
        self
    }
}

/// ASCII whitespace.
const C_WS: u8 = 1;
/// ASCII identifier character: letter, digit, `_`.
const C_ID: u8 = 2;
/// ASCII decimal digit.
const C_DIGIT: u8 = 4;

/// Character classes of ASCII bytes (non-ASCII bytes are 0 and take the Unicode path).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
            t[b] |= C_WS;
        }
        if c.is_ascii_alphanumeric() || c == b'_' {
            t[b] |= C_ID;
        }
        if c.is_ascii_digit() {
            t[b] |= C_DIGIT;
        }
        b += 1;
    }
    t
};

#[inline(always)]
fn class(b: u8) -> u8 {
    CLASS[b as usize]
}

/// Decodes the char starting at `pos` (which is on a char boundary of valid UTF-8).
#[inline]
fn char_at(bytes: &[u8], pos: usize) -> (char, usize) {
    let b0 = bytes[pos] as u32;
    let (len, init) = if b0 < 0xE0 {
        (2, b0 & 0x1F)
    } else if b0 < 0xF0 {
        (3, b0 & 0x0F)
    } else {
        (4, b0 & 0x07)
    };
    let mut c = init;
    for &b in &bytes[pos + 1..pos + len] {
        c = (c << 6) | (b as u32 & 0x3F);
    }
    (char::from_u32(c).unwrap_or('\u{FFFD}'), len)
}

/// End of an identifier that starts at `pos` (ASCII fast path, Unicode letters and digits).
#[inline]
fn ident_end(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        pos += bytes[pos..]
            .iter()
            .position(|&b| class(b) & C_ID == 0)
            .unwrap_or(bytes.len() - pos);
        if pos < bytes.len() && bytes[pos] >= 0x80 {
            let (c, len) = char_at(bytes, pos);
            if c.is_alphanumeric() {
                pos += len;
                continue;
            }
        }
        return pos;
    }
}

/// End of a backtick-quoted name whose opening backtick is at `pos`; `None` if unterminated.
#[inline]
fn quoted_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            if bytes.get(i + 1) == Some(&b'`') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Lexes the token that starts at `pos` (`pos < bytes.len()`, on a char boundary).
///
/// The common tokens (words, a single blank, one-character punctuation) are recognised inline;
/// everything else goes through [`lex_other`], so this stays small enough to inline into the
/// normaliser's loop.
#[inline(always)]
pub(crate) fn lex_at(bytes: &[u8], pos: usize) -> Raw {
    let b = bytes[pos];
    if class(b) & C_ID != 0 && class(b) & C_DIGIT == 0 {
        return lex_word(bytes, pos);
    }
    if b == b' '
        && bytes
            .get(pos + 1)
            .is_none_or(|&n| class(n) & C_WS == 0 && n < 0x80)
    {
        return Raw::new(TokenKind::Whitespace, pos + 1);
    }
    if let Some(kind) = SINGLE[b as usize] {
        return Raw::new(kind, pos + 1);
    }
    lex_other(bytes, pos)
}

/// Tokens that are one byte whatever follows.
static SINGLE: [Option<TokenKind>; 256] = {
    let mut t = [None; 256];
    t[b'(' as usize] = Some(TokenKind::LParen);
    t[b')' as usize] = Some(TokenKind::RParen);
    t[b'[' as usize] = Some(TokenKind::LBracket);
    t[b']' as usize] = Some(TokenKind::RBracket);
    t[b'{' as usize] = Some(TokenKind::LBrace);
    t[b'}' as usize] = Some(TokenKind::RBrace);
    t[b',' as usize] = Some(TokenKind::Comma);
    t[b';' as usize] = Some(TokenKind::Semicolon);
    t[b'?' as usize] = Some(TokenKind::Placeholder);
    t[b'*' as usize] = Some(TokenKind::Star);
    t[b'%' as usize] = Some(TokenKind::Percent);
    t[b'^' as usize] = Some(TokenKind::Caret);
    t[b'&' as usize] = Some(TokenKind::Ampersand);
    t
};

/// An unquoted word starting with an ASCII letter or `_`: keyword, boolean or identifier.
#[inline(always)]
fn lex_word(bytes: &[u8], pos: usize) -> Raw {
    let end = ident_end(bytes, pos + 1);
    let (kw, flags) = keyword::lookup(&bytes[pos..end]);
    match kw {
        Kw::None => Raw::new(TokenKind::Identifier, end),
        Kw::True | Kw::False => Raw::new(TokenKind::Boolean, end),
        _ => Raw {
            kw,
            kw_flags: flags,
            ..Raw::new(TokenKind::Keyword, end)
        },
    }
}

#[inline(never)]
fn lex_other(bytes: &[u8], pos: usize) -> Raw {
    use TokenKind as K;
    let b = bytes[pos];
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'_' => lex_word(bytes, pos),
        b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C => {
            Raw::new(K::Whitespace, whitespace_end(bytes, pos + 1))
        }
        b'0'..=b'9' => lex_number(bytes, pos),
        b'\'' | b'"' => lex_string(bytes, pos, b),
        b'`' => match quoted_end(bytes, pos) {
            Some(end) => Raw::new(K::QuotedIdentifier, end),
            None => Raw {
                unterminated: true,
                ..Raw::new(K::QuotedIdentifier, bytes.len())
            }
            .with_error(LexErrorKind::UnterminatedQuotedIdentifier),
        },
        b'$' => {
            let n = at(pos + 1);
            if n == b'`' {
                match quoted_end(bytes, pos + 1) {
                    Some(end) => Raw::new(K::Parameter, end),
                    None => Raw {
                        unterminated: true,
                        ..Raw::new(K::Parameter, bytes.len())
                    }
                    .with_error(LexErrorKind::UnterminatedQuotedIdentifier),
                }
            } else {
                let end = ident_end(bytes, pos + 1);
                if end > pos + 1 {
                    Raw::new(K::Parameter, end)
                } else {
                    Raw::new(K::Dollar, pos + 1)
                }
            }
        }
        b'/' => match at(pos + 1) {
            b'/' => {
                let mut i = pos + 2;
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                Raw::new(K::LineComment, i)
            }
            b'*' => {
                let mut i = pos + 2;
                while i + 1 < bytes.len() {
                    if bytes[i] == b'*' && bytes[i + 1] == b'/' {
                        return Raw::new(K::BlockComment, i + 2);
                    }
                    i += 1;
                }
                Raw {
                    unterminated: true,
                    ..Raw::new(K::BlockComment, bytes.len())
                }
                .with_error(LexErrorKind::UnterminatedComment)
            }
            _ => Raw::new(K::Slash, pos + 1),
        },
        b'.' => match at(pos + 1) {
            b'.' => Raw::new(K::DotDot, pos + 2),
            b'0'..=b'9' => lex_fraction(bytes, pos),
            _ => Raw::new(K::Dot, pos + 1),
        },
        b'(' => Raw::new(K::LParen, pos + 1),
        b')' => Raw::new(K::RParen, pos + 1),
        b'[' => Raw::new(K::LBracket, pos + 1),
        b']' => Raw::new(K::RBracket, pos + 1),
        b'{' => Raw::new(K::LBrace, pos + 1),
        b'}' => Raw::new(K::RBrace, pos + 1),
        b',' => Raw::new(K::Comma, pos + 1),
        b';' => Raw::new(K::Semicolon, pos + 1),
        b'?' => Raw::new(K::Placeholder, pos + 1),
        b':' => match at(pos + 1) {
            b':' => Raw::new(K::DoubleColon, pos + 2),
            _ => Raw::new(K::Colon, pos + 1),
        },
        b'=' => match at(pos + 1) {
            b'~' => Raw::new(K::RegexMatch, pos + 2),
            _ => Raw::new(K::Eq, pos + 1),
        },
        b'<' => match at(pos + 1) {
            b'=' => Raw::new(K::Le, pos + 2),
            b'>' => Raw::new(K::NotEq, pos + 2),
            b'-' => Raw::new(K::ArrowLeft, pos + 2),
            _ => Raw::new(K::Lt, pos + 1),
        },
        b'>' => match at(pos + 1) {
            b'=' => Raw::new(K::Ge, pos + 2),
            _ => Raw::new(K::Gt, pos + 1),
        },
        b'-' => match at(pos + 1) {
            b'>' => Raw::new(K::ArrowRight, pos + 2),
            _ => Raw::new(K::Minus, pos + 1),
        },
        b'+' => match at(pos + 1) {
            b'=' => Raw::new(K::PlusEq, pos + 2),
            _ => Raw::new(K::Plus, pos + 1),
        },
        b'!' => match at(pos + 1) {
            b'=' => Raw::new(K::BangEq, pos + 2),
            _ => Raw::new(K::Bang, pos + 1),
        },
        b'|' => match at(pos + 1) {
            b'|' => Raw::new(K::DoublePipe, pos + 2),
            _ => Raw::new(K::Pipe, pos + 1),
        },
        b'*' => Raw::new(K::Star, pos + 1),
        b'%' => Raw::new(K::Percent, pos + 1),
        b'^' => Raw::new(K::Caret, pos + 1),
        b'&' => Raw::new(K::Ampersand, pos + 1),
        0x80..=0xFF => {
            let (c, len) = char_at(bytes, pos);
            if c.is_whitespace() {
                Raw::new(K::Whitespace, whitespace_end(bytes, pos + len))
            } else if c.is_alphabetic() {
                Raw::new(K::Identifier, ident_end(bytes, pos + len))
            } else {
                Raw::new(K::Unknown, pos + len).with_error(LexErrorKind::UnexpectedCharacter)
            }
        }
        _ => Raw::new(K::Unknown, pos + 1).with_error(LexErrorKind::UnexpectedCharacter),
    }
}

#[inline]
fn whitespace_end(bytes: &[u8], mut pos: usize) -> usize {
    loop {
        pos += bytes[pos..]
            .iter()
            .position(|&b| class(b) & C_WS == 0)
            .unwrap_or(bytes.len() - pos);
        if pos < bytes.len() && bytes[pos] >= 0x80 {
            let (c, len) = char_at(bytes, pos);
            if c.is_whitespace() {
                pos += len;
                continue;
            }
        }
        return pos;
    }
}

#[inline]
fn digits_end(bytes: &[u8], pos: usize, valid: fn(u8) -> bool) -> usize {
    pos + bytes[pos.min(bytes.len())..]
        .iter()
        .position(|&b| !(valid(b) || b == b'_'))
        .unwrap_or(bytes.len().saturating_sub(pos))
}

/// Consumes letters and digits glued to a number: they make the whole run one malformed number,
/// so nothing of it can survive normalisation as a name.
#[inline]
fn finish_number(bytes: &[u8], end: usize, kind: TokenKind) -> Raw {
    let tail = ident_end(bytes, end);
    if tail > end {
        Raw::new(kind, tail).with_error(LexErrorKind::MalformedNumber)
    } else {
        Raw::new(kind, end)
    }
}

fn lex_number(bytes: &[u8], pos: usize) -> Raw {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    if bytes[pos] == b'0' {
        match at(pos + 1) {
            b'x' | b'X' if at(pos + 2).is_ascii_hexdigit() => {
                let end = digits_end(bytes, pos + 2, |b| b.is_ascii_hexdigit());
                return finish_number(bytes, end, TokenKind::Integer);
            }
            b'o' | b'O' if matches!(at(pos + 2), b'0'..=b'7') => {
                let end = digits_end(bytes, pos + 2, |b| matches!(b, b'0'..=b'7'));
                return finish_number(bytes, end, TokenKind::Integer);
            }
            _ => {}
        }
    }
    let end = digits_end(bytes, pos + 1, |b| b.is_ascii_digit());
    if at(end) == b'.' && at(end + 1).is_ascii_digit() {
        return lex_fraction(bytes, end);
    }
    if let Some(exp_end) = exponent_end(bytes, end) {
        return finish_number(bytes, exp_end, TokenKind::Float);
    }
    finish_number(bytes, end, TokenKind::Integer)
}

/// A float from the `.` at `dot` (followed by a digit) on.
fn lex_fraction(bytes: &[u8], dot: usize) -> Raw {
    let end = digits_end(bytes, dot + 1, |b| b.is_ascii_digit());
    let end = exponent_end(bytes, end).unwrap_or(end);
    finish_number(bytes, end, TokenKind::Float)
}

/// End of an exponent (`e5`, `E-3`) starting at `pos`, if there is one.
#[inline]
fn exponent_end(bytes: &[u8], pos: usize) -> Option<usize> {
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    if !matches!(at(pos), b'e' | b'E') {
        return None;
    }
    let digits = if matches!(at(pos + 1), b'+' | b'-') {
        pos + 2
    } else {
        pos + 1
    };
    at(digits)
        .is_ascii_digit()
        .then(|| digits_end(bytes, digits, |b| b.is_ascii_digit()))
}

fn lex_string(bytes: &[u8], pos: usize, quote: u8) -> Raw {
    let mut error = None;
    let mut i = pos + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == quote {
            let raw = Raw::new(TokenKind::String, i + 1);
            return match error {
                Some(e) => raw.with_error(e),
                None => raw,
            };
        }
        if b == b'\\' {
            let ok = match bytes.get(i + 1) {
                Some(b'\\' | b'\'' | b'"' | b'b' | b'f' | b'n' | b'r' | b't') => {
                    i += 2;
                    true
                }
                Some(b'u') => hex_escape(bytes, &mut i, 4),
                Some(b'U') => hex_escape(bytes, &mut i, 8),
                Some(_) => {
                    // Skip the backslash only: the next byte may start a multi-byte char, and a
                    // quote after `\` is always escaped by the first arm.
                    i += 1;
                    false
                }
                None => {
                    i += 1;
                    true
                }
            };
            if !ok && error.is_none() {
                error = Some(LexErrorKind::InvalidEscape);
            }
            continue;
        }
        i += 1;
    }
    Raw {
        unterminated: true,
        ..Raw::new(TokenKind::String, bytes.len())
    }
    .with_error(LexErrorKind::UnterminatedString)
}

/// `\u` + 4 or `\U` + 8 hex digits at `*i`; advances past what it accepts.
fn hex_escape(bytes: &[u8], i: &mut usize, n: usize) -> bool {
    let digits = bytes
        .get(*i + 2..)
        .unwrap_or(&[])
        .iter()
        .take(n)
        .take_while(|b| b.is_ascii_hexdigit())
        .count();
    *i += 2 + digits;
    digits == n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_decoding_matches_std() {
        for s in ["é", "€", "𝄞", "\u{3000}", "\u{a0}"] {
            let (c, len) = char_at(s.as_bytes(), 0);
            assert_eq!(Some(c), s.chars().next());
            assert_eq!(len, s.len());
        }
    }
}
