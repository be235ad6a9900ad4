//! `Normalized::collection` gives the answer that tracers used to compute by reading the
//! summary back (`bolt-tracer`'s `db.collection.name` before it read the normaliser), on every
//! query of the corpora: the openCypher TCK, the table tests of the resource and of the summary,
//! the realistic queries and the fuzz seeds.
//!
//! Where the two differ, reading the summary back was wrong, in one of three ways the test
//! recognises (and allows nowhere else):
//!
//! - a backticked name with whitespace in it (`` `My Label` ``) was split in two names;
//! - a keyword of the summary was taken for a name: a command verb left without its noun, such
//!   as `STOP` in `UNWIND stopList AS stop ... sign(stop-start)`, became the collection `STOP`;
//! - a label spelled like a clause keyword (`:MATCH`) was skipped as the keyword.

use crate::common;

use common::tck;
use cypher::normalize;

const CLAUSE_WORDS: &[&str] = &[
    "MATCH", "OPTIONAL", "MERGE", "CREATE", "SET", "REMOVE", "DELETE", "DETACH", "UNWIND", "LOAD",
    "CSV", "FOREACH", "INSERT", "CALL",
];

/// The summary-reading rule, as it was: the label or relationship type when the summary names
/// exactly one, for summaries of graph clauses only; a procedure name after `CALL` is not a
/// collection.
fn summary_rule(summary: &str) -> Option<&str> {
    let mut words = summary.split(' ').filter(|w| !w.is_empty()).peekable();
    if !words.peek().is_some_and(|w| CLAUSE_WORDS.contains(w)) {
        return None;
    }
    let mut found: Option<&str> = None;
    let mut after_call = false;
    for w in words {
        if CLAUSE_WORDS.contains(&w) {
            after_call = w == "CALL";
            continue;
        }
        if std::mem::take(&mut after_call) {
            continue;
        }
        if matches!(
            w,
            "INDEX" | "CONSTRAINT" | "DATABASE" | "ALIAS" | "USER" | "ROLE"
        ) {
            return None;
        }
        match found {
            None => found = Some(w),
            Some(f) if f == w => {}
            Some(_) => return None,
        }
    }
    found
}

/// The string literals that are the first argument of `function(` in the test source `file`.
fn first_arguments(file: &str, function: &str) -> Vec<String> {
    let source = std::fs::read_to_string(format!(
        "{}/tests/cypher/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test source");
    let call = format!("{function}(");
    let mut out = Vec::new();
    let mut rest = source.as_str();
    while let Some(at) = rest.find(&call) {
        rest = &rest[at + call.len()..];
        if let Some(literal) = string_literal(rest.trim_start()) {
            out.push(literal);
        }
    }
    out
}

/// Every string literal in the `const QUERIES` array of `file`.
fn query_array(file: &str) -> Vec<String> {
    let source = std::fs::read_to_string(format!(
        "{}/tests/cypher/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test source");
    let start = source.find("const QUERIES").expect("a QUERIES array");
    let body = &source[start..];
    let body = &body[body.find("= &[").expect("array") + 4..body.find("\n];").expect("array end")];
    let mut out = Vec::new();
    let mut rest = body.trim_start();
    while let Some(literal) = string_literal(rest) {
        out.push(literal);
        // Skip past the literal just read: to the comma that ends the element.
        let end = literal_len(rest);
        rest = rest[end..]
            .trim_start()
            .trim_start_matches(',')
            .trim_start();
    }
    out
}

/// The length of the Rust string literal `text` starts with.
fn literal_len(text: &str) -> usize {
    if let Some(raw) = text.strip_prefix('r') {
        let hashes = raw.len() - raw.trim_start_matches('#').len();
        let close = format!("\"{}", "#".repeat(hashes));
        let body_start = 1 + hashes + 1;
        body_start + text[body_start..].find(&close).expect("closed raw string") + close.len()
    } else {
        let bytes = text.as_bytes();
        let mut i = 1;
        while bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        i + 1
    }
}

/// The value of the Rust string literal `text` starts with (plain or raw), if it starts with one.
fn string_literal(text: &str) -> Option<String> {
    if text.starts_with("r\"") || text.starts_with("r#") {
        let hashes = text[1..].len() - text[1..].trim_start_matches('#').len();
        let len = literal_len(text);
        return Some(text[2 + hashes..len - 1 - hashes].to_owned());
    }
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                '0' => out.push('\0'),
                'u' => {
                    let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                }
                '\n' => {
                    // A line continuation: the next line's leading blanks are not part of it.
                    let rest: String = chars.clone().collect();
                    let trimmed = rest.trim_start();
                    chars = body[body.len() - trimmed.len()..].chars();
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Why reading `n`'s summary back gives a wrong collection, if it is one of the known ways.
fn misread(n: &cypher::Normalized) -> Option<&'static str> {
    let mut names = n.labels().chain(n.relationship_types());
    let spaced = n
        .summary
        .split('`')
        .skip(1)
        .step_by(2)
        .any(|quoted| quoted.contains(char::is_whitespace));
    if spaced {
        Some("a backticked name with whitespace")
    } else if summary_rule(&n.summary).is_some_and(|w| !names.clone().any(|name| name == w)) {
        Some("a keyword taken for a name")
    } else if names.any(|name| CLAUSE_WORDS.contains(&name)) {
        Some("a name spelled like a clause keyword")
    } else {
        None
    }
}

fn corpora() -> Vec<(String, String)> {
    let mut queries: Vec<(String, String)> = Vec::new();
    for q in tck() {
        queries.push((format!("tck {}", q.id), q.query));
    }
    for (file, function) in [
        ("normalises_to.rs", "normalises_to"),
        ("summary_and_operation.rs", "summarises_to"),
        ("summary_and_operation.rs", "normalize"),
        ("names_found.rs", "finds"),
    ] {
        for q in first_arguments(file, function) {
            queries.push((file.to_owned(), q));
        }
    }
    for q in query_array("realistic_queries.rs") {
        queries.push(("realistic_queries.rs".to_owned(), q));
    }
    let seeds = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/seeds");
    if let Ok(entries) = std::fs::read_dir(seeds) {
        for entry in entries.flatten() {
            let bytes = std::fs::read(entry.path()).expect("seed");
            queries.push((
                format!("fuzz seed {:?}", entry.file_name()),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    queries
}

#[test]
fn the_corpora_are_all_read() {
    assert!(first_arguments("normalises_to.rs", "normalises_to").len() >= 100);
    assert!(first_arguments("summary_and_operation.rs", "summarises_to").len() >= 45);
    assert!(query_array("realistic_queries.rs").len() >= 70);
    // The escapes of the literals are read as Rust reads them.
    assert!(
        first_arguments("normalises_to.rs", "normalises_to")
            .contains(&r#"RETURN "say \"hi\"", 'tab\t', '\u00e9\\'"#.to_owned())
    );
    assert!(
        query_array("realistic_queries.rs")
            .contains(&"MATCH (n) /* unterminated comment".to_owned())
    );
}

#[test]
fn collection_agrees_with_reading_the_summary() {
    let mut failures = Vec::new();
    let mut misreadings = Vec::new();
    let mut with_collection = 0;
    let queries = corpora();
    for (source, query) in &queries {
        let n = normalize(query);
        with_collection += usize::from(n.collection().is_some());
        let expected = summary_rule(&n.summary);
        if n.collection() == expected {
            continue;
        }
        let line = format!(
            "{source}: {query:?}\n  summary {:?}: collection {:?}, summary rule {expected:?}",
            n.summary,
            n.collection()
        );
        match misread(&n) {
            Some(why) => misreadings.push(format!("{why}: {line}")),
            None => failures.push(line),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );
    // The comparison is not vacuous, and the misreadings stay the known ones: in the TCK, one
    // query (`stop` read as the verb STOP); the others are examples in this crate's own tests
    // (`:`Weird Label``, `:`My Label``, `:MATCH`).
    assert!(
        queries.len() > 5000 && with_collection > 500,
        "{with_collection}"
    );
    let tck = misreadings.iter().filter(|m| m.contains(": tck ")).count();
    assert_eq!(tck, 1, "{misreadings:#?}");
}

#[test]
fn where_reading_the_summary_was_wrong() {
    // A variable named `stop` left the summary a bare verb, which was read as a name.
    let n = normalize("UNWIND $xs AS stop RETURN sign(stop-1)");
    assert_eq!(n.summary, "UNWIND STOP");
    assert_eq!(summary_rule(&n.summary), Some("STOP"));
    assert_eq!(n.collection(), None);
    // A label spelled like a clause keyword was skipped.
    let n = normalize("MATCH (n:MATCH)-[:KNOWS]->() RETURN n");
    assert_eq!(summary_rule(&n.summary), Some("KNOWS"));
    assert_eq!(n.collection(), None);
}

#[test]
fn a_spaced_name_is_one_name() {
    let n = normalize("MATCH (n:`My Label`) RETURN n");
    assert_eq!(summary_rule(&n.summary), None);
    assert_eq!(n.collection(), Some("`My Label`"));
    assert_eq!(
        normalize("MATCH (n:`My Label`)-[:`My Label`]->() RETURN n").collection(),
        Some("`My Label`")
    );
    assert_eq!(
        normalize("MATCH (n:`My Label`)-[:`My Type`]->() RETURN n").collection(),
        None
    );
}
