//! In-process query statistics, aggregated by fingerprint, in the spirit of PostgreSQL's
//! `pg_stat_statements`: what a user opens first when the database is slow.
//!
//! Every finished query adds one sample to the entry of its fingerprint. Memory is bounded twice:
//! each entry keeps a fixed-size latency histogram instead of the samples, and the number of
//! entries is capped; queries beyond the cap are counted in one overflow entry so totals stay
//! right. Entries are keyed by fingerprint only, so snapshots from several processes can be
//! merged by fingerprint.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Sub-buckets per power of two: 8 gives a worst-case relative error of about 9% on percentiles.
const SUB_BUCKETS: usize = 8;
/// Powers of two covered, in microseconds: 2^0 µs .. 2^36 µs (about 19 hours).
const OCTAVES: usize = 37;
const BUCKETS: usize = SUB_BUCKETS * OCTAVES;

/// The fingerprint under which queries past the entry cap are counted.
pub const OVERFLOW_FINGERPRINT: &str = "overflow";
const OVERFLOW_KEY: u64 = u64::MAX;

/// A latency histogram with logarithmic buckets (bounded memory, bounded relative error).
#[derive(Clone)]
struct Histogram {
    counts: Box<[u32; BUCKETS]>,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: Box::new([0; BUCKETS]),
        }
    }

    fn bucket(micros: u64) -> usize {
        if micros < SUB_BUCKETS as u64 {
            return micros as usize;
        }
        let octave = 63 - micros.leading_zeros() as usize; // >= 3
        let shift = octave - 3; // keep the 3 bits below the leading one
        let sub = ((micros >> shift) & (SUB_BUCKETS as u64 - 1)) as usize;
        ((octave - 2) * SUB_BUCKETS + sub).min(BUCKETS - 1)
    }

    /// The upper bound of a bucket, in microseconds.
    fn upper(bucket: usize) -> u64 {
        if bucket < SUB_BUCKETS {
            return bucket as u64 + 1;
        }
        let octave = bucket / SUB_BUCKETS + 2;
        let sub = (bucket % SUB_BUCKETS) as u64;
        let shift = octave - 3;
        ((SUB_BUCKETS as u64 + sub + 1) << shift).saturating_sub(1)
    }

    fn record(&mut self, micros: u64) {
        let b = Self::bucket(micros);
        self.counts[b] = self.counts[b].saturating_add(1);
    }

    fn quantile(&self, total: u64, q: f64) -> Duration {
        if total == 0 {
            return Duration::ZERO;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Duration::from_micros(Self::upper(i));
            }
        }
        Duration::from_micros(Self::upper(BUCKETS - 1))
    }
}

struct Entry {
    text: String,
    summary: String,
    calls: u64,
    errors: u64,
    rows: u64,
    total: Duration,
    max: Duration,
    histogram: Histogram,
}

impl Entry {
    fn add(&mut self, s: &Sample<'_>) {
        self.calls += 1;
        self.errors += u64::from(s.failed);
        self.rows += s.rows;
        self.total += s.elapsed;
        self.max = self.max.max(s.elapsed);
        self.histogram
            .record(u64::try_from(s.elapsed.as_micros()).unwrap_or(u64::MAX));
    }
}

/// One fingerprint's statistics at the time of a snapshot.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[non_exhaustive]
pub struct QueryStat {
    /// The fingerprint (16 hex digits), or [`OVERFLOW_FINGERPRINT`].
    pub fingerprint: String,
    /// The normalised query text (no literals).
    pub text: String,
    /// The query summary, as used for span names.
    pub summary: String,
    /// Finished queries, failures included.
    pub calls: u64,
    /// Failed queries.
    pub errors: u64,
    /// Rows returned to the application, summed over calls.
    pub rows: u64,
    /// Total time, in milliseconds.
    pub total_ms: f64,
    /// Mean time per call, in milliseconds.
    pub mean_ms: f64,
    /// Median time, in milliseconds (histogram estimate, within about 9%).
    pub p50_ms: f64,
    /// 95th percentile, in milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, in milliseconds.
    pub p99_ms: f64,
    /// The slowest call, in milliseconds (exact).
    pub max_ms: f64,
}

/// Query statistics by fingerprint, shared by every clone of a traced graph.
pub struct QueryStatistics {
    max_entries: usize,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl std::fmt::Debug for QueryStatistics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryStatistics")
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

/// What one finished query contributes to the statistics.
pub(crate) struct Sample<'a> {
    pub fingerprint: u64,
    pub text: &'a str,
    pub summary: &'a str,
    pub elapsed: Duration,
    pub rows: u64,
    pub failed: bool,
}

impl QueryStatistics {
    /// Statistics keeping at most `max_entries` distinct fingerprints (plus the overflow entry).
    pub fn new(max_entries: usize) -> Self {
        Self {
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn record(&self, s: &Sample<'_>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // One hash lookup for a fingerprint seen before, which is nearly every call.
        if let Some(entry) = entries.get_mut(&s.fingerprint) {
            entry.add(s);
            return;
        }
        // The overflow entry is kept under a key no fingerprint can take in practice.
        let (key, text, summary) = if entries.len() < self.max_entries {
            (s.fingerprint, s.text, s.summary)
        } else {
            (OVERFLOW_KEY, "", "")
        };
        entries
            .entry(key)
            .or_insert_with(|| Entry {
                text: text.to_owned(),
                summary: summary.to_owned(),
                calls: 0,
                errors: 0,
                rows: 0,
                total: Duration::ZERO,
                max: Duration::ZERO,
                histogram: Histogram::new(),
            })
            .add(s);
    }

    /// Every entry, sorted by total time, largest first.
    pub fn snapshot(&self) -> Vec<QueryStat> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut out: Vec<QueryStat> = entries
            .iter()
            .map(|(fp, e)| QueryStat {
                fingerprint: if *fp == OVERFLOW_KEY && e.text.is_empty() {
                    OVERFLOW_FINGERPRINT.to_owned()
                } else {
                    format!("{fp:016x}")
                },
                text: e.text.clone(),
                summary: e.summary.clone(),
                calls: e.calls,
                errors: e.errors,
                rows: e.rows,
                total_ms: ms(e.total),
                mean_ms: if e.calls == 0 {
                    0.0
                } else {
                    ms(e.total) / e.calls as f64
                },
                p50_ms: ms(e.histogram.quantile(e.calls, 0.50).min(e.max)),
                p95_ms: ms(e.histogram.quantile(e.calls, 0.95).min(e.max)),
                p99_ms: ms(e.histogram.quantile(e.calls, 0.99).min(e.max)),
                max_ms: ms(e.max),
            })
            .collect();
        out.sort_by(|a, b| {
            b.total_ms
                .total_cmp(&a.total_ms)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        out
    }

    /// Forgets every entry.
    pub fn reset(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(fp: u64, micros: u64, rows: u64, failed: bool) -> Sample<'static> {
        Sample {
            fingerprint: fp,
            text: "MATCH (n) RETURN n",
            summary: "MATCH",
            elapsed: Duration::from_micros(micros),
            rows,
            failed,
        }
    }

    #[test]
    fn buckets_are_monotonic_and_bound_their_values() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            17,
            100,
            1_000,
            65_535,
            1 << 30,
            1 << 40,
        ] {
            let b = Histogram::bucket(v);
            assert!(b >= last, "bucket order at {v}");
            last = b;
            if v < 1 << 36 {
                assert!(Histogram::upper(b) >= v, "upper({b}) < {v}");
                assert!(
                    Histogram::upper(b) as f64 <= (v as f64 + 1.0) * 1.13,
                    "bucket {b} too wide for {v}"
                );
            }
        }
    }

    #[test]
    fn percentiles_follow_the_samples() {
        let stats = QueryStatistics::new(10);
        for i in 1..=100u64 {
            stats.record(&sample(0xa, i * 1000, 1, i % 10 == 0));
        }
        let s = &stats.snapshot()[0];
        assert_eq!((s.calls, s.errors, s.rows), (100, 10, 100));
        assert!((s.mean_ms - 50.5).abs() < 1e-9);
        assert!((46.0..=55.0).contains(&s.p50_ms), "p50 {}", s.p50_ms);
        assert!((90.0..=100.0).contains(&s.p95_ms), "p95 {}", s.p95_ms);
        assert!((s.p99_ms - 99.0).abs() <= 9.0, "p99 {}", s.p99_ms);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
    }

    #[test]
    fn snapshot_is_sorted_by_total_time_and_reset_forgets() {
        let stats = QueryStatistics::new(10);
        stats.record(&sample(1, 10, 0, false));
        stats.record(&sample(2, 5_000, 0, false));
        stats.record(&sample(1, 10, 0, false));
        let fps: Vec<_> = stats
            .snapshot()
            .into_iter()
            .map(|s| s.fingerprint)
            .collect();
        assert_eq!(fps, ["0000000000000002", "0000000000000001"]);
        stats.reset();
        assert!(stats.snapshot().is_empty());
    }

    #[test]
    fn entries_past_the_cap_go_to_the_overflow_entry() {
        let stats = QueryStatistics::new(2);
        for fp in [1, 2, 3, 4, 1] {
            stats.record(&sample(fp, 100, 1, false));
        }
        let snap = stats.snapshot();
        assert_eq!(snap.len(), 3);
        let overflow = snap
            .iter()
            .find(|s| s.fingerprint == OVERFLOW_FINGERPRINT)
            .unwrap();
        assert_eq!(overflow.calls, 2);
        assert_eq!(snap.iter().map(|s| s.calls).sum::<u64>(), 5);
    }
}
