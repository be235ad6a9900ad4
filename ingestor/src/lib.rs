//! ingestor (being built).
