//! `cypher-normalize`: normalise Cypher queries from the command line.
//!
//! With a query as argument, prints one JSON object. Without arguments, reads JSON Lines
//! (`{"query": "..."}`, other fields ignored) on stdin and writes one object per input line, in
//! order. A bad query or a bad line never stops it: the line's object carries `"error"` instead.

use std::io::{self, BufRead, BufWriter, Write};
use std::process::ExitCode;

use serde_json::{Value, json};

const USAGE: &str = "usage: cypher-normalize [QUERY]\n\
    With QUERY: print its normalisation as one JSON object.\n\
    Without: read JSON Lines {\"query\": \"...\"} on stdin, write one object per line.\n";

/// The object for one query, fields in the documented order (serde_json's map would sort them).
fn object(query: &str) -> String {
    let n = cypher::normalize(query);
    let text = |s: &str| Value::from(s).to_string();
    let mut out = format!(
        "{{\"resource\":{},\"summary\":{},\"operation\":{},\"fingerprint\":\"{}\"",
        text(&n.resource),
        text(&n.summary),
        text(&n.operation),
        n.fingerprint
    );
    if let Some(error) = n.error {
        out.push_str(",\"error\":");
        out.push_str(&text(&error.to_string()));
    }
    out.push('}');
    out
}

/// One input line to one output object. Error texts are our own: serde's messages may quote
/// the offending value, which could be a literal of the query.
fn line_object(line: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(line) else {
        return json!({"error": "line is not valid UTF-8"}).to_string();
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => match map.get("query") {
            Some(Value::String(query)) => object(query),
            _ => json!({"error": "line has no string field \"query\""}).to_string(),
        },
        Ok(_) => json!({"error": "line is not a JSON object"}).to_string(),
        Err(_) => json!({"error": "line is not valid JSON"}).to_string(),
    }
}

fn run() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => out.write_all(USAGE.as_bytes())?,
        Some(_) => writeln!(out, "{}", object(&args.join(" ")))?,
        None => {
            let mut input = io::stdin().lock();
            let mut line = Vec::new();
            loop {
                line.clear();
                if input.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                let trimmed = line
                    .strip_suffix(b"\n")
                    .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                    .unwrap_or(&line);
                writeln!(out, "{}", line_object(trimmed))?;
            }
        }
    }
    out.flush()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`| head`): nothing left to do.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cypher-normalize: {e}");
            ExitCode::FAILURE
        }
    }
}
