//! The `cypher-normalize` binary: argument mode, JSON Lines mode, bad lines, exit code.

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cypher-normalize"))
}

fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn a_query_argument_prints_one_object() {
    let out = bin()
        .arg("MATCH (t:Transaction {id: 'tx-1'})-[:USES_CARD]->(c:Card) RETURN c")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("{\"resource\":"), "field order: {text}");
    let v = parse(text.trim_end());
    assert_eq!(
        v["resource"],
        "MATCH (t:Transaction {id: ?})-[:USES_CARD]->(c:Card) RETURN c"
    );
    assert_eq!(v["summary"], "MATCH Transaction USES_CARD Card");
    assert_eq!(v["operation"], "MATCH");
    let fp = v["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 16);
    assert!(
        fp.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert!(v.get("error").is_none());
}

#[test]
fn json_lines_in_order_with_errors_per_line() {
    let input = concat!(
        "{\"query\": \"RETURN 1\", \"other\": [1, 2]}\n",
        "this is not json\n",
        "{\"query\": 12345}\n",
        "[\"query\"]\n",
        "{\"query\": \"RETURN 'unterminated secret\"}\n",
        "\n",
        "{\"query\": \"MATCH (n:A) RETURN n\"}",
    );
    let mut child = bin()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "a bad line must not fail the run");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert_eq!(lines[0]["resource"], "RETURN ?");
    assert!(lines[1]["error"].is_string() && lines[1].get("resource").is_none());
    assert!(lines[2]["error"].is_string());
    assert!(lines[3]["error"].is_string());
    assert_eq!(lines[4]["resource"], "RETURN ?");
    assert_eq!(
        lines[4]["error"],
        "unterminated string literal at bytes 7..27"
    );
    assert!(lines[5]["error"].is_string());
    assert_eq!(lines[6]["summary"], "MATCH A");
    // Error texts never echo the input.
    assert!(!text.contains("12345") && !text.contains("secret") && !text.contains("not json"));
}

#[test]
fn invalid_utf8_lines_get_an_error_and_processing_goes_on() {
    let mut child = bin()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"query\": \"\xff\"}\r\n{\"query\": \"RETURN 2\"}\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(parse).collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0]["error"].is_string());
    assert_eq!(lines[1]["resource"], "RETURN ?");
}

#[test]
fn empty_input_prints_nothing_and_succeeds() {
    let out = bin().stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
}
