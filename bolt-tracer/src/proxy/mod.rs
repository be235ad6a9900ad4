//! Bolt proxy (being built).
