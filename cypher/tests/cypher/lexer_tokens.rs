//! Table tests for every token kind of the lexer, its spans and its errors.

use cypher::{LexError, LexErrorKind, TokenKind as K, tokenize};

/// The (kind, text) pairs of every token of `input`, trivia included.
fn lexes(input: &str) -> Vec<(K, &str)> {
    let tokens: Vec<_> = tokenize(input).collect();
    let text: String = tokens.iter().map(|t| t.text(input)).collect();
    assert_eq!(text, input, "round trip");
    tokens.iter().map(|t| (t.kind, t.text(input))).collect()
}

/// `input` is exactly one token of `kind`.
fn one(input: &str, kind: K) {
    assert_eq!(lexes(input), vec![(kind, input)], "{input:?}");
}

fn errors(input: &str) -> Vec<LexError> {
    let mut tokens = tokenize(input);
    tokens.by_ref().for_each(drop);
    tokens.errors().to_vec()
}

#[test]
fn whitespace_and_comments() {
    one(" \t\r\n", K::Whitespace);
    one("\u{a0}\u{2003}\u{3000}", K::Whitespace);
    one("// comment 'x'", K::LineComment);
    one("/* a\n * b */", K::BlockComment);
    assert_eq!(
        lexes("a// c\nb"),
        vec![
            (K::Identifier, "a"),
            (K::LineComment, "// c"),
            (K::Whitespace, "\n"),
            (K::Identifier, "b")
        ]
    );
    assert_eq!(lexes("/**/"), vec![(K::BlockComment, "/**/")]);
}

#[test]
fn keywords_are_case_insensitive_and_names_are_not_keywords() {
    for kw in [
        "MATCH", "match", "Match", "oPtIoNaL", "RETURN", "detach", "Foreach", "USE",
    ] {
        one(kw, K::Keyword);
    }
    for name in ["n", "person", "Matches", "_x1", "été", "名前", "x_MATCH"] {
        one(name, K::Identifier);
    }
    one("true", K::Boolean);
    one("FALSE", K::Boolean);
    one("null", K::Keyword);
}

#[test]
fn quoted_identifiers_with_doubled_backticks() {
    one("`a b`", K::QuotedIdentifier);
    one("`a``b`", K::QuotedIdentifier);
    one("````", K::QuotedIdentifier);
    assert_eq!(
        lexes("`a`.`b`"),
        vec![
            (K::QuotedIdentifier, "`a`"),
            (K::Dot, "."),
            (K::QuotedIdentifier, "`b`")
        ]
    );
}

#[test]
fn parameters() {
    for p in [
        "$name",
        "$0",
        "$12",
        "$_x",
        "$`odd name`",
        "$`a``b`",
        "$été",
    ] {
        one(p, K::Parameter);
    }
    assert_eq!(lexes("$("), vec![(K::Dollar, "$"), (K::LParen, "(")]);
    assert_eq!(
        lexes("$ x"),
        vec![(K::Dollar, "$"), (K::Whitespace, " "), (K::Identifier, "x")]
    );
}

#[test]
fn legacy_parameters_are_braces_around_a_name() {
    assert_eq!(
        lexes("{name}"),
        vec![(K::LBrace, "{"), (K::Identifier, "name"), (K::RBrace, "}")]
    );
}

#[test]
fn strings_with_every_escape() {
    for s in [
        "'plain'",
        "\"double\"",
        r"'it\'s'",
        r#""say \"hi\"""#,
        r#"'mixed \" quote'"#,
        r"'back\\slash'",
        r"'\n\t\b\f\r'",
        r"'\u00e9'",
        r"'\U0001F600'",
        "'multi\nline'",
        "''",
        "'é€𝄞'",
    ] {
        one(s, K::String);
        assert!(errors(s).is_empty(), "{s}");
    }
    assert_eq!(
        lexes(r"'a\\'b"),
        vec![(K::String, r"'a\\'"), (K::Identifier, "b")]
    );
}

#[test]
fn numbers_in_every_form() {
    for i in ["0", "42", "1_000", "0x1F", "0XfF", "0o17", "0x1_F"] {
        one(i, K::Integer);
    }
    for f in [
        "1.5", ".5", "1e3", "1E-3", "1.5e+10", "6.02E23", "0.0", ".5e2",
    ] {
        one(f, K::Float);
    }
    assert_eq!(
        lexes("1..3"),
        vec![(K::Integer, "1"), (K::DotDot, ".."), (K::Integer, "3")]
    );
    assert_eq!(
        lexes("n.prop"),
        vec![(K::Identifier, "n"), (K::Dot, "."), (K::Identifier, "prop")]
    );
    assert_eq!(
        lexes("x[..5]")[2..4],
        [(K::DotDot, ".."), (K::Integer, "5")]
    );
}

#[test]
fn malformed_numbers_are_one_token_with_an_error() {
    for (input, kind) in [
        ("12abc", K::Integer),
        ("0x", K::Integer),
        ("1.5x", K::Float),
        ("0o9", K::Integer),
    ] {
        one(input, kind);
        assert_eq!(
            errors(input)[0].kind,
            LexErrorKind::MalformedNumber,
            "{input}"
        );
    }
}

#[test]
fn every_operator_and_punctuation() {
    let table = [
        ("(", K::LParen),
        (")", K::RParen),
        ("[", K::LBracket),
        ("]", K::RBracket),
        ("{", K::LBrace),
        ("}", K::RBrace),
        (",", K::Comma),
        (".", K::Dot),
        ("..", K::DotDot),
        (":", K::Colon),
        ("::", K::DoubleColon),
        (";", K::Semicolon),
        ("=", K::Eq),
        ("<>", K::NotEq),
        ("!=", K::BangEq),
        ("<", K::Lt),
        ("<=", K::Le),
        (">", K::Gt),
        (">=", K::Ge),
        ("=~", K::RegexMatch),
        ("+", K::Plus),
        ("+=", K::PlusEq),
        ("-", K::Minus),
        ("*", K::Star),
        ("/", K::Slash),
        ("%", K::Percent),
        ("^", K::Caret),
        ("->", K::ArrowRight),
        ("<-", K::ArrowLeft),
        ("|", K::Pipe),
        ("||", K::DoublePipe),
        ("&", K::Ampersand),
        ("!", K::Bang),
        ("?", K::Placeholder),
        ("$", K::Dollar),
    ];
    for (text, kind) in table {
        one(text, kind);
    }
    assert_eq!(
        lexes("<-->"),
        vec![(K::ArrowLeft, "<-"), (K::ArrowRight, "->")]
    );
    assert_eq!(lexes("<--"), vec![(K::ArrowLeft, "<-"), (K::Minus, "-")]);
}

#[test]
fn unknown_characters_are_tokens_and_errors() {
    for c in ["#", "@", "\\", "\u{0}", "§", "😀"] {
        one(c, K::Unknown);
        assert_eq!(errors(c)[0].kind, LexErrorKind::UnexpectedCharacter);
    }
}

#[test]
fn unterminated_tokens_run_to_the_end_and_are_reported() {
    let table = [
        (
            "RETURN 'abc",
            K::String,
            "'abc",
            LexErrorKind::UnterminatedString,
        ),
        (
            "RETURN \"a\\\"",
            K::String,
            "\"a\\\"",
            LexErrorKind::UnterminatedString,
        ),
        (
            "RETURN 'a\\",
            K::String,
            "'a\\",
            LexErrorKind::UnterminatedString,
        ),
        (
            "RETURN /* x",
            K::BlockComment,
            "/* x",
            LexErrorKind::UnterminatedComment,
        ),
        (
            "RETURN `a``",
            K::QuotedIdentifier,
            "`a``",
            LexErrorKind::UnterminatedQuotedIdentifier,
        ),
        (
            "RETURN $`a",
            K::Parameter,
            "$`a",
            LexErrorKind::UnterminatedQuotedIdentifier,
        ),
    ];
    for (input, kind, last, error) in table {
        let tokens = lexes(input);
        assert_eq!(tokens.last(), Some(&(kind, last)), "{input}");
        let errs = errors(input);
        assert_eq!(errs.len(), 1, "{input}");
        assert_eq!(errs[0].kind, error);
        assert_eq!(errs[0].span, 7..input.len());
    }
}

#[test]
fn invalid_escapes_are_reported_but_do_not_end_the_string() {
    for s in [r"'\q'", r"'\u12'", r"'\U0001F6'", r"'\x41'"] {
        one(s, K::String);
        assert_eq!(errors(s)[0].kind, LexErrorKind::InvalidEscape, "{s}");
    }
}

#[test]
fn errors_display_kind_and_span_but_never_the_text() {
    let e = &errors("RETURN 'secret")[0];
    assert_eq!(e.to_string(), "unterminated string literal at bytes 7..14");
    let all = [
        ("'a", "unterminated string literal"),
        ("/*", "unterminated block comment"),
        ("`a", "unterminated backtick-quoted name"),
        (r"'\q'", "invalid escape sequence in string literal"),
        ("1x", "malformed number"),
        ("#", "unexpected character"),
    ];
    for (input, text) in all {
        let shown = errors(input)[0].to_string();
        assert!(shown.starts_with(text), "{shown}");
    }
}

#[test]
fn spans_are_contiguous_and_on_char_boundaries() {
    let input = "MATCH (é:`Ü`)-[:R*1..2]->(m) WHERE m.x = 'ß' RETURN m // ∞";
    let mut at = 0;
    for t in tokenize(input) {
        assert_eq!(t.span.start, at);
        assert!(input.is_char_boundary(t.span.start) && input.is_char_boundary(t.span.end));
        at = t.span.end;
    }
    assert_eq!(at, input.len());
}

#[test]
fn the_iterator_is_fused_and_reports_its_source() {
    let mut tokens = tokenize("a");
    assert_eq!(tokens.source(), "a");
    assert!(tokens.next().is_some());
    assert!(tokens.next().is_none());
    assert!(tokens.next().is_none());
    assert_eq!(tokenize("").count(), 0);
}
