//! The whole openCypher TCK (4,837 queries, tests/data) as properties of the lexer and the
//! normaliser. Every failure is collected and printed, so one run shows them all.

use crate::common;

use common::{grow_lists, leaks, rewrite_values, tck};
use cypher::{Fingerprint, TokenKind, normalize, tokenize};
use std::collections::HashMap;

fn report(name: &str, failures: &[String]) {
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(25).collect();
        panic!(
            "{name}: {} failures, first ones:\n{shown:#?}",
            failures.len()
        );
    }
}

#[test]
fn corpus_is_complete() {
    let corpus = tck();
    assert_eq!(corpus.len(), 4837);
    assert_eq!(corpus.iter().filter(|q| q.valid).count(), 3202);
}

#[test]
fn lexing_round_trips_every_query() {
    let mut failures = Vec::new();
    for q in tck() {
        let mut text = String::new();
        let mut expected_start = 0;
        for t in tokenize(&q.query) {
            if t.span.start != expected_start || t.span.is_empty() {
                failures.push(format!("{}: gap or empty token at {:?}", q.id, t.span));
            }
            expected_start = t.span.end;
            text.push_str(t.text(&q.query));
        }
        if text != q.query {
            failures.push(format!("{}: round trip differs", q.id));
        }
    }
    report("round trip", &failures);
}

#[test]
fn valid_queries_lex_without_errors() {
    let mut failures = Vec::new();
    for q in tck().into_iter().filter(|q| q.valid) {
        let mut tokens = tokenize(&q.query);
        tokens.by_ref().for_each(drop);
        if let Some(e) = tokens.errors().first() {
            failures.push(format!("{}: {e}: {:?}", q.id, q.query));
        }
    }
    report("lex errors on valid queries", &failures);
}

#[test]
fn normalising_is_idempotent() {
    let mut failures = Vec::new();
    for q in tck() {
        let once = normalize(&q.query);
        let twice = normalize(&once.resource);
        if twice.resource != once.resource {
            failures.push(format!(
                "{}:\n  input: {:?}\n  once:  {:?}\n  twice: {:?}",
                q.id, q.query, once.resource, twice.resource
            ));
        } else if twice.summary != once.summary || twice.operation != once.operation {
            failures.push(format!(
                "{}: summary {:?} -> {:?}, operation {:?} -> {:?}",
                q.id, once.summary, twice.summary, once.operation, twice.operation
            ));
        }
    }
    report("idempotence", &failures);
}

#[test]
fn no_literal_of_the_input_leaks_into_the_resource() {
    let mut failures = Vec::new();
    for q in tck() {
        let n = normalize(&q.query);
        for problem in leaks(&q.query, &n.resource) {
            failures.push(format!(
                "{}: {problem}\n  input: {:?}\n  resource: {:?}",
                q.id, q.query, n.resource
            ));
        }
    }
    report("literal leaks", &failures);
}

#[test]
fn summary_and_operation_are_never_empty_and_fit_the_limit() {
    let mut failures = Vec::new();
    for q in tck() {
        let n = normalize(&q.query);
        if n.summary.is_empty() || n.operation.is_empty() || n.summary.chars().count() > 255 {
            failures.push(format!(
                "{}: summary {:?} operation {:?}",
                q.id, n.summary, n.operation
            ));
        }
        if n.fingerprint != Fingerprint::of(&n.resource) {
            failures.push(format!("{}: fingerprint is not the resource's", q.id));
        }
    }
    report("summary", &failures);
}

fn check_variant(failures: &mut Vec<String>, id: &str, query: &str, variant: &str, what: &str) {
    let a = normalize(query);
    let b = normalize(variant);
    if a.resource != b.resource || a.fingerprint != b.fingerprint || a.summary != b.summary {
        failures.push(format!(
            "{id} ({what}):\n  input:   {query:?}\n  variant: {variant:?}\n  resource: {:?}\n  variant:  {:?}",
            a.resource, b.resource
        ));
    }
}

#[test]
fn literal_values_do_not_change_the_resource() {
    let mut failures = Vec::new();
    let mut rewritten = 0;
    for q in tck() {
        for (seed, negative) in [(1, false), (500, true)] {
            let variant = rewrite_values(&q.query, seed, negative);
            if variant != q.query {
                rewritten += 1;
                check_variant(&mut failures, &q.id, &q.query, &variant, "values");
            }
        }
    }
    assert!(
        rewritten > 5000,
        "only {rewritten} variants had literals to rewrite"
    );
    report("value invariance", &failures);
}

#[test]
fn growing_literal_lists_does_not_change_the_resource() {
    let mut failures = Vec::new();
    let mut grown = 0;
    for q in tck() {
        if let Some(variant) = grow_lists(&q.query) {
            grown += 1;
            check_variant(&mut failures, &q.id, &q.query, &variant, "list length");
        }
    }
    assert!(
        grown > 300,
        "only {grown} queries had a literal list to grow"
    );
    report("list-length invariance", &failures);
}

#[test]
fn different_resources_have_different_fingerprints() {
    let mut seen: HashMap<u64, String> = HashMap::new();
    let mut failures = Vec::new();
    for q in tck() {
        let texts = [q.query.clone(), normalize(&q.query).resource];
        for text in texts {
            let fp = Fingerprint::of(&text).0;
            if let Some(other) = seen.insert(fp, text.clone())
                && other != text
            {
                failures.push(format!("{fp:016x}: {other:?} vs {text:?}"));
            }
        }
    }
    assert!(seen.len() > 3000);
    report("fingerprint collisions", &failures);
}

#[test]
fn names_are_identifiers_of_the_resource_and_do_not_depend_on_literals() {
    let mut failures = Vec::new();
    let mut named = 0;
    for q in tck() {
        let n = normalize(&q.query);
        let labels: Vec<&str> = n.labels().collect();
        let types: Vec<&str> = n.relationship_types().collect();
        named += usize::from(!labels.is_empty() || !types.is_empty());
        for name in labels.iter().chain(&types) {
            let tokens: Vec<_> = tokenize(name).collect();
            let one_name = tokens.len() == 1
                && matches!(
                    tokens[0].kind,
                    TokenKind::Identifier | TokenKind::QuotedIdentifier | TokenKind::Keyword
                );
            if !one_name || !n.resource.contains(name) {
                failures.push(format!("{}: name {name:?} of {:?}", q.id, q.query));
            }
        }
        for list in [&labels, &types] {
            let distinct: std::collections::HashSet<_> = list.iter().collect();
            if distinct.len() != list.len() {
                failures.push(format!("{}: repeated name in {list:?}", q.id));
            }
        }
        if let Some(c) = n.collection()
            && !labels.contains(&c)
            && !types.contains(&c)
        {
            failures.push(format!("{}: collection {c:?} is not a name", q.id));
        }
        let variant = normalize(&rewrite_values(&q.query, 7, true));
        if !variant.labels().eq(n.labels())
            || !variant.relationship_types().eq(n.relationship_types())
            || variant.collection() != n.collection()
        {
            failures.push(format!("{}: names depend on literal values", q.id));
        }
    }
    assert!(named > 1000, "only {named} queries name a label or type");
    report("names", &failures);
}

/// The helpers above would catch a faulty normaliser: they flag leaks, really rewrite values and
/// really grow lists.
#[test]
fn the_checks_can_fail() {
    assert!(!leaks("RETURN 'secret'", "RETURN 'secret'").is_empty());
    assert!(!leaks("RETURN 42", "RETURN 42").is_empty());
    assert!(!leaks("RETURN x * 2", "RETURN x * 2").is_empty());
    assert!(!leaks("RETURN 'abc def'", "RETURN abc def").is_empty());
    assert!(!leaks("RETURN true", "RETURN true").is_empty());
    assert!(
        leaks(
            "MATCH ()-[*1..3]->() RETURN 'x'",
            "MATCH ()-[*1..3]->() RETURN ?"
        )
        .is_empty()
    );
    assert!(leaks("CYPHER 5 RETURN 1", "CYPHER 5 RETURN ?").is_empty());

    assert_eq!(
        rewrite_values("RETURN 1, 'a', true", 0, false),
        "RETURN 7003, 'v6\\'x \\u00e9', false"
    );
    assert_eq!(
        rewrite_values("MATCH ()-[*1..3]->() RETURN -1", 0, true),
        "MATCH ()-[*1..3]->() RETURN --7019"
    );
    assert_eq!(
        grow_lists("RETURN [1, 2], xs[0], [x, 1]").as_deref(),
        Some("RETURN [1, 2, 7012, -7024], xs[0], [x, 1]")
    );
    assert_eq!(grow_lists("RETURN xs[0]"), None);
}
