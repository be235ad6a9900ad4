//! Speed of the normaliser against Datadog's SQL obfuscator and the `open-cypher` parser, side
//! by side, on the openCypher TCK's 3,202 valid queries.
//!
//! `cargo bench -p cypher` prints first a per-query table (median, p90 and mean of the
//! per-query time over the corpus, each query timed alone in a tight loop), then runs the
//! criterion benchmarks: the whole corpus per iteration (throughput in queries/s), the query of
//! median length alone, and a cache hit.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn valid_tck_queries() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/opencypher-tck.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("the TCK corpus is in tests/data");
    text.lines()
        .filter_map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            (v["step"] == "query" && v["expect_error"].is_null())
                .then(|| v["query"].as_str().map(str::to_owned))
                .flatten()
        })
        .collect()
}

fn ours(q: &str) -> usize {
    let n = cypher::normalize(q);
    // Folding the fingerprint in keeps the work observable; only its low bits, so sums over the
    // corpus cannot overflow in debug builds (`cargo test --benches`).
    n.resource.len() + n.summary.len() + n.operation.len() + (n.fingerprint.0 & 0xff) as usize
}

fn datadog(q: &str) -> usize {
    match libdd_trace_obfuscation::sql::obfuscate_sql_string(q) {
        Ok(s) => s.len(),
        Err(_) => 0,
    }
}

fn open_cypher_parse(q: &str) -> usize {
    match open_cypher::parse(q) {
        Ok(p) => p.program.statements.len(),
        Err(_) => 1,
    }
}

/// Per-query time: best of `rounds` batches of `batch` calls. Returns sorted nanoseconds.
fn per_query_ns(queries: &[String], f: fn(&str) -> usize, batch: u32, rounds: u32) -> Vec<f64> {
    let mut times: Vec<f64> = queries
        .iter()
        .map(|q| {
            (0..rounds)
                .map(|_| {
                    let start = Instant::now();
                    for _ in 0..batch {
                        black_box(f(black_box(q)));
                    }
                    start.elapsed().as_nanos() as f64 / f64::from(batch)
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times
}

fn per_query_table(queries: &[String]) {
    let median_len = {
        let mut lens: Vec<usize> = queries.iter().map(String::len).collect();
        lens.sort_unstable();
        lens[lens.len() / 2]
    };
    println!(
        "\nper-query time over the TCK's {} valid queries (median length {median_len} bytes):",
        queries.len()
    );
    println!("{:<44} {:>10} {:>10} {:>10}", "", "median", "p90", "mean");
    let mut medians = Vec::new();
    for (name, f, batch) in [
        (
            "cypher::normalize (resource+summary+fp)",
            ours as fn(&str) -> usize,
            64,
        ),
        ("libdd obfuscate_sql_string", datadog, 64),
        ("open_cypher::parse", open_cypher_parse, 8),
    ] {
        let t = per_query_ns(queries, f, batch, 3);
        let median = t[t.len() / 2];
        let p90 = t[t.len() * 9 / 10];
        let mean = t.iter().sum::<f64>() / t.len() as f64;
        println!("{name:<44} {median:>8.0}ns {p90:>8.0}ns {mean:>8.0}ns");
        medians.push(median);
    }
    println!(
        "median ratio: Datadog / ours = {:.2}x, open-cypher / ours = {:.1}x\n",
        medians[1] / medians[0],
        medians[2] / medians[0]
    );
}

fn benches(c: &mut Criterion) {
    let queries = valid_tck_queries();
    assert_eq!(queries.len(), 3202, "TCK valid queries");
    // Profiling runs (`--profile-time`) measure one benchmark alone.
    if !std::env::args().any(|a| a == "--profile-time") {
        per_query_table(&queries);
    }

    let mut corpus = c.benchmark_group("tck_corpus");
    corpus.throughput(Throughput::Elements(queries.len() as u64));
    corpus.bench_function("cypher_normalize", |b| {
        b.iter(|| queries.iter().map(|q| ours(q)).sum::<usize>())
    });
    corpus.bench_function("cypher_tokenize_only", |b| {
        b.iter(|| {
            queries
                .iter()
                .map(|q| cypher::tokenize(q).count())
                .sum::<usize>()
        })
    });
    corpus.bench_function("datadog_obfuscate_sql_string", |b| {
        b.iter(|| queries.iter().map(|q| datadog(q)).sum::<usize>())
    });
    corpus.sample_size(10);
    corpus.measurement_time(Duration::from_secs(8));
    corpus.bench_function("open_cypher_parse", |b| {
        b.iter(|| queries.iter().map(|q| open_cypher_parse(q)).sum::<usize>())
    });
    corpus.finish();

    let mut by_len: Vec<&String> = queries.iter().collect();
    by_len.sort_by_key(|q| q.len());
    let median_query = by_len[by_len.len() / 2].as_str();
    let mut single = c.benchmark_group("tck_median_length_query");
    single.bench_function("cypher_normalize", |b| {
        b.iter(|| ours(black_box(median_query)))
    });
    single.bench_function("datadog_obfuscate_sql_string", |b| {
        b.iter(|| datadog(black_box(median_query)))
    });
    single.bench_function("open_cypher_parse", |b| {
        b.iter(|| open_cypher_parse(black_box(median_query)))
    });
    single.finish();

    let cache = cypher::Cache::new(64 << 20);
    for q in &queries {
        cache.normalize(q);
    }
    let mut hits = c.benchmark_group("cache");
    hits.bench_function("hit_median_length_query", |b| {
        b.iter(|| cache.normalize(black_box(median_query)))
    });
    hits.throughput(Throughput::Elements(queries.len() as u64));
    hits.bench_function("hit_whole_corpus", |b| {
        b.iter(|| {
            queries
                .iter()
                .map(|q| cache.normalize(q).resource.len())
                .sum::<usize>()
        })
    });
    hits.finish();
}

criterion_group!(normalize_benches, benches);
criterion_main!(normalize_benches);
