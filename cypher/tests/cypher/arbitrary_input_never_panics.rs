//! Property tests over arbitrary input: the lexer and the normaliser never panic, the token
//! stream always gives the input back, and normalising is idempotent. Three generators: any
//! string, any bytes (made UTF-8 lossily, as a driver would receive them), and "Cypher soup"
//! (random sequences of Cypher fragments, quotes and brackets), which reaches far deeper into the
//! normaliser than random characters do.

use cypher::{Cache, normalize, tokenize};
use proptest::prelude::*;

fn check(input: &str) {
    let mut text = String::with_capacity(input.len());
    let mut at = 0;
    for t in tokenize(input) {
        assert_eq!(t.span.start, at, "gap before token");
        assert!(t.span.end > t.span.start, "empty token");
        at = t.span.end;
        text.push_str(t.text(input));
    }
    assert_eq!(text, input, "round trip");

    let n = normalize(input);
    assert!(!n.summary.is_empty() && !n.operation.is_empty());
    assert!(n.summary.chars().count() <= 255);
    let again = normalize(&n.resource);
    assert_eq!(again.resource, n.resource, "idempotence on {input:?}");
}

const FRAGMENTS: &[&str] = &[
    "MATCH", "match", "OPTIONAL", "CREATE", "MERGE", "ON", "SET", "DELETE", "DETACH", "CALL",
    "RETURN", "WITH", "UNWIND", "AS", "WHERE", "IN", "IS", "NOT", "NULL", "true", "LIMIT",
    "CYPHER", "EXISTS", "COUNT", "SHOW", "INDEX", "FOREACH", "LOAD", "CSV", "USE", "n", "m",
    "Person", "x", "db", "labels", "(", ")", "[", "]", "{", "}", ",", ".", "..", ":", "::", "|",
    "&", "!", "%", "*", "-", "+", "->", "<-", "=", "<>", "$p", "$", "?", "'", "\"", "`", "\\",
    "'s'", "\"d\"", "`q`", "1", "-1", "0x1F", "1.5", ".5", "1e3", "12ab", "/*", "*/", "//", "\n",
    " ", " ", "é", "#", ";",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(FRAGMENTS).prop_map(str::to_owned),
            1 => "[ -~]{0,3}",
        ],
        0..40,
    )
    .prop_map(|parts| {
        let mut s = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i % 3 == 0 {
                s.push(' ');
            }
            s.push_str(p);
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_string(input in any::<String>()) {
        check(&input);
    }

    #[test]
    fn any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn cypher_soup(input in soup()) {
        check(&input);
    }

    #[test]
    fn the_cache_agrees_with_normalize(input in soup()) {
        let cache = Cache::new(1 << 16);
        let first = cache.normalize(&input);
        prop_assert_eq!(&*first, &normalize(&input));
        prop_assert_eq!(&*cache.normalize(&input), &*first);
    }
}

/// Inputs the fuzzer (../fuzz) found, minimised; each once broke idempotence.
#[test]
fn fuzz_regressions() {
    for input in ["-1[*1", "GRANT[;2]node"] {
        check(input);
    }
}

#[test]
fn deep_nesting_and_long_inputs() {
    for depth in [10, 63, 64, 65, 200, 5000] {
        check(&format!(
            "RETURN {}1{}",
            "[".repeat(depth),
            "]".repeat(depth)
        ));
        check(&format!("RETURN {}", "(".repeat(depth)));
        check(&format!("RETURN {}", "]}".repeat(depth)));
        check(&format!("MATCH {}", "{a: [".repeat(depth)));
    }
    check(&"MATCH (n) SET n.x = 'a' ".repeat(10_000));
    check(&"x".repeat(100_000));
}
