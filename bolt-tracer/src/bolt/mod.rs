//! Bolt wire codec (being built).
