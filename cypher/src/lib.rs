//! cypher (being built).
