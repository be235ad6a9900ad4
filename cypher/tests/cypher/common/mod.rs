//! Helpers shared by the behaviour tests: the TCK corpus, a literal-leak checker and the
//! rewriting of literal tokens that builds value and length variants of a query.
#![allow(dead_code)]

use cypher::{Token, TokenKind, tokenize};

/// One query of the openCypher TCK copy in `tests/data`.
pub struct TckQuery {
    pub id: String,
    pub query: String,
    /// `step == "query"` and no error expected: the 3,202 queries the benchmark uses.
    pub valid: bool,
}

pub fn tck() -> Vec<TckQuery> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/opencypher-tck.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("the TCK corpus is in tests/data");
    text.lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("corpus line is JSON");
            TckQuery {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                query: v["query"]
                    .as_str()
                    .expect("corpus line has a query")
                    .to_owned(),
                valid: v["step"] == "query" && v["expect_error"].is_null(),
            }
        })
        .collect()
}

/// Significant tokens (no whitespace or comments).
pub fn significant(query: &str) -> Vec<Token> {
    tokenize(query).filter(|t| !t.kind.is_trivia()).collect()
}

fn is_operand_end(query: &str, t: &Token) -> bool {
    match t.kind {
        TokenKind::Identifier
        | TokenKind::QuotedIdentifier
        | TokenKind::Parameter
        | TokenKind::String
        | TokenKind::Integer
        | TokenKind::Float
        | TokenKind::Boolean
        | TokenKind::Placeholder
        | TokenKind::RParen
        | TokenKind::RBracket
        | TokenKind::RBrace => true,
        // Keywords before which a list can start; other words are names here (`key[0]`).
        TokenKind::Keyword => !matches!(
            t.text(query).to_ascii_uppercase().as_str(),
            "IN" | "RETURN"
                | "WITH"
                | "UNWIND"
                | "AND"
                | "OR"
                | "XOR"
                | "NOT"
                | "WHEN"
                | "THEN"
                | "ELSE"
                | "CASE"
                | "WHERE"
                | "BY"
                | "DISTINCT"
                | "CONTAINS"
                | "SET"
                | "DELETE"
                | "YIELD"
                | "SKIP"
                | "LIMIT"
                | "IS"
                | "FROM"
                | "MERGE"
                | "CREATE"
                | "MATCH"
        ),
        _ => false,
    }
}

/// For each significant token, whether it is a number the rules keep: variable-length bounds
/// (`-[*1..3]-`), path quantifiers (`{1,3}` after a pattern) and the `CYPHER 5` version.
/// Written independently of the normaliser, from the rules in the crate docs.
pub fn structural_numbers(query: &str, toks: &[Token]) -> Vec<bool> {
    let mut keep = vec![false; toks.len()];
    let mut stack: Vec<bool> = Vec::new(); // true = relationship bracket
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let prev = i.checked_sub(1).map(|p| toks[p].kind);
        match t.kind {
            TokenKind::LBracket => stack.push(matches!(
                prev,
                Some(TokenKind::Minus | TokenKind::ArrowLeft)
            )),
            TokenKind::RBracket => {
                stack.pop();
            }
            TokenKind::Star if stack.last() == Some(&true) => {
                let mut j = i + 1;
                while j < toks.len()
                    && matches!(toks[j].kind, TokenKind::Integer | TokenKind::DotDot)
                {
                    if toks[j].kind == TokenKind::Integer {
                        keep[j] = true;
                    }
                    j += 1;
                }
            }
            TokenKind::LBrace
                if matches!(
                    prev,
                    Some(
                        TokenKind::RParen
                            | TokenKind::RBracket
                            | TokenKind::Minus
                            | TokenKind::ArrowRight
                            | TokenKind::Gt
                    )
                ) =>
            {
                // Only a brace whose raw text is digits, commas and blanks.
                let close = query[t.span.end..].find('}').map(|p| p + t.span.end);
                if let Some(close) = close {
                    let inner = &query[t.span.end..close];
                    if inner.chars().any(|c| c.is_ascii_digit())
                        && inner
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == ',' || c.is_ascii_whitespace())
                        && inner.matches(',').count() <= 1
                    {
                        let mut j = i + 1;
                        while j < toks.len() && toks[j].span.end <= close {
                            if toks[j].kind == TokenKind::Integer {
                                keep[j] = true;
                            }
                            j += 1;
                        }
                    }
                }
            }
            TokenKind::Integer | TokenKind::Float => {
                if let Some(p) = i.checked_sub(1)
                    && toks[p].kind == TokenKind::Keyword
                    && toks[p].text(query).eq_ignore_ascii_case("CYPHER")
                {
                    keep[i] = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    keep
}

/// Literal-leak check, independent of how the normaliser works: the resource, lexed by this
/// crate's lexer AND by `open-cypher`'s, holds no string, boolean or float and no integer outside
/// the structural positions; and no string literal of the input whose content does not also
/// occur outside string literals appears anywhere in the resource. Returns the problems found.
pub fn leaks(query: &str, resource: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let toks = significant(resource);
    let keep = structural_numbers(resource, &toks);
    for (t, keep) in toks.iter().zip(&keep) {
        let bad = match t.kind {
            TokenKind::String | TokenKind::Boolean | TokenKind::Float => true,
            TokenKind::Integer => !keep,
            _ => false,
        };
        if bad {
            problems.push(format!("literal token {:?} in resource", t.text(resource)));
        }
    }

    let other = open_cypher::lex(resource);
    for t in &other.tokens {
        use open_cypher::TokenKind as O;
        let text = &resource[t.span.start..t.span.end];
        let bad = match t.kind {
            O::String | O::Float | O::HexInteger | O::OctalInteger => true,
            O::Keyword(open_cypher::Keyword::True | open_cypher::Keyword::False) => true,
            O::Integer => !toks
                .iter()
                .zip(&keep)
                .any(|(m, k)| *k && m.span.start <= t.span.start && t.span.end <= m.span.end),
            _ => false,
        };
        if bad {
            problems.push(format!("open-cypher sees literal {text:?} in resource"));
        }
    }

    let input = open_cypher::lex(query);
    let mut outside = String::new();
    let mut last = 0;
    let mut strings = Vec::new();
    for t in &input.tokens {
        if t.kind == open_cypher::TokenKind::String {
            outside.push_str(&query[last..t.span.start]);
            outside.push(' ');
            last = t.span.end;
            strings.push(&query[t.span.start..t.span.end]);
        }
    }
    outside.push_str(&query[last..]);
    for s in strings {
        let content = s.get(1..s.len().saturating_sub(1)).unwrap_or("");
        if content.chars().count() >= 3 && !outside.contains(content) && resource.contains(content)
        {
            problems.push(format!("string content {content:?} in resource"));
        }
    }
    problems
}

/// A copy of `query` with every literal token replaced by another value of the same kind
/// (structural numbers left alone). `negative` writes numbers as `-N`.
pub fn rewrite_values(query: &str, seed: usize, negative: bool) -> String {
    let toks: Vec<Token> = tokenize(query).collect();
    let sig_idx: Vec<usize> = (0..toks.len())
        .filter(|&i| !toks[i].kind.is_trivia())
        .collect();
    let sig: Vec<Token> = sig_idx.iter().map(|&i| toks[i].clone()).collect();
    let keep = structural_numbers(query, &sig);
    let mut out = String::with_capacity(query.len() + 16);
    let mut n = seed;
    let mut s = 0;
    for (i, t) in toks.iter().enumerate() {
        let text = t.text(query);
        let structural = if s < sig_idx.len() && sig_idx[s] == i {
            s += 1;
            keep[s - 1]
        } else {
            false
        };
        n += 1;
        let sign = if negative { "-" } else { "" };
        match t.kind {
            TokenKind::String if !structural => {
                let q = if text.starts_with('"') { '"' } else { '\'' };
                out.push_str(&format!("{q}v{n}\\{q}x \\u00e9{q}"));
            }
            TokenKind::Integer if !structural => out.push_str(&format!("{sign}{}", 7000 + n)),
            TokenKind::Float if !structural => out.push_str(&format!("{sign}{}.25e-3", n)),
            TokenKind::Boolean => out.push_str(if text.eq_ignore_ascii_case("true") {
                "false"
            } else {
                "TRUE"
            }),
            _ => out.push_str(text),
        }
    }
    out
}

/// A copy of `query` where every list literal whose elements are constants (literals, signed
/// numbers, parameters, `NULL`, or lists and maps of those) gets its last element repeated
/// twice more with new values. `None` when the query has no such list.
pub fn grow_lists(query: &str) -> Option<String> {
    let toks = significant(query);
    // (index of `[`, is a list literal, constant so far)
    let mut stack: Vec<(usize, bool, bool)> = Vec::new();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    for i in 0..toks.len() {
        let t = &toks[i];
        let prev = i.checked_sub(1).map(|p| &toks[p]);
        let constant_token = match t.kind {
            TokenKind::String
            | TokenKind::Integer
            | TokenKind::Float
            | TokenKind::Boolean
            | TokenKind::Placeholder
            | TokenKind::Parameter
            | TokenKind::Comma
            | TokenKind::Colon
            | TokenKind::RBrace
            | TokenKind::RBracket => true,
            // an index or a projection is not a constant
            TokenKind::LBrace | TokenKind::LBracket => {
                !prev.is_some_and(|p| is_operand_end(query, p))
            }
            TokenKind::Minus | TokenKind::Plus => toks
                .get(i + 1)
                .is_some_and(|n| matches!(n.kind, TokenKind::Integer | TokenKind::Float)),
            TokenKind::Keyword if t.text(query).eq_ignore_ascii_case("NULL") => true,
            // a map key
            TokenKind::Identifier | TokenKind::Keyword | TokenKind::QuotedIdentifier => {
                toks.get(i + 1).is_some_and(|n| n.kind == TokenKind::Colon)
                    && prev.is_some_and(|p| matches!(p.kind, TokenKind::LBrace | TokenKind::Comma))
            }
            _ => false,
        };
        if !constant_token {
            for entry in stack.iter_mut() {
                entry.2 = false;
            }
        }
        match t.kind {
            TokenKind::LBracket => {
                let list = !prev.is_some_and(|p| {
                    is_operand_end(query, p)
                        || matches!(p.kind, TokenKind::Minus | TokenKind::ArrowLeft)
                });
                stack.push((i, list, list));
            }
            // a brace right after an operand is a projection or quantifier, not a map
            TokenKind::LBrace if prev.is_some_and(|p| is_operand_end(query, p)) => {
                for entry in stack.iter_mut() {
                    entry.2 = false;
                }
            }
            TokenKind::RBracket => {
                if let Some((open, list, constant)) = stack.pop()
                    && list
                    && constant
                    && i > open + 1
                {
                    // last top-level element: after the last depth-0 comma
                    let mut depth = 0i32;
                    let mut start = open + 1;
                    for (j, tok) in toks.iter().enumerate().take(i).skip(open + 1) {
                        match tok.kind {
                            TokenKind::LBracket | TokenKind::LBrace | TokenKind::LParen => {
                                depth += 1
                            }
                            TokenKind::RBracket | TokenKind::RBrace | TokenKind::RParen => {
                                depth -= 1
                            }
                            TokenKind::Comma if depth == 0 => start = j + 1,
                            _ => {}
                        }
                    }
                    if start < i {
                        let element = &query[toks[start].span.start..toks[i - 1].span.end];
                        let a = rewrite_values(element, 11, false);
                        let b = rewrite_values(element, 23, true);
                        inserts.push((toks[i].span.start, format!(", {a}, {b}")));
                    }
                }
            }
            _ => {}
        }
    }
    if inserts.is_empty() {
        return None;
    }
    let mut out = query.to_owned();
    for (at, text) in inserts.into_iter().rev() {
        out.insert_str(at, &text);
    }
    Some(out)
}
