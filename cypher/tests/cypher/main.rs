//! The cypher crate's behaviour tests, one module per behaviour, in one test binary.

mod common;

mod arbitrary_input_never_panics;
mod cache_is_bounded_and_shared;
mod collection_agrees_with_the_summary_rule;
mod cypher_normalize_cli;
mod fingerprint_is_stable;
mod lexer_tokens;
mod names_found;
mod normalises_to;
mod realistic_queries;
mod summary_and_operation;
mod tck_corpus_properties;
