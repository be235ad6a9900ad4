//! The cache: same answers as `normalize`, hits share one value, memory stays under its bound,
//! frequently used entries survive eviction, and it is usable from many threads at once.

use std::sync::Arc;

use cypher::{Cache, normalize};

fn query(i: usize) -> String {
    format!("MATCH (n:Label{i} {{id: 'value-{i}'}}) RETURN n.prop{i} LIMIT {i}")
}

#[test]
fn a_hit_returns_the_same_value_as_normalize() {
    let cache = Cache::new(1 << 20);
    let q = "MATCH (n:Person {name: 'Ann'}) RETURN n";
    let first = cache.normalize(q);
    let second = cache.normalize(q);
    assert!(Arc::ptr_eq(&first, &second), "second call must be a hit");
    assert_eq!(*first, normalize(q));
    assert_eq!(cache.len(), 1);
    // Keyed by the raw text: another text with the same resource is another entry.
    let other = cache.normalize("MATCH (n:Person {name: 'Bob'}) RETURN n");
    assert_eq!(other.resource, first.resource);
    assert_eq!(cache.len(), 2);
}

#[test]
fn memory_stays_under_the_bound() {
    let max = 64 * 1024;
    let cache = Cache::new(max);
    for i in 0..5_000 {
        cache.normalize(&query(i));
        assert!(cache.used_bytes() <= max, "{} > {max}", cache.used_bytes());
    }
    let per_entry = Cache::ENTRY_OVERHEAD + query(4_999).len() * 2;
    assert!(
        cache.len() >= max / per_entry / 2,
        "kept only {}",
        cache.len()
    );
    assert!(cache.len() < 5_000);
    assert_eq!(cache.max_bytes(), max);
}

#[test]
fn a_zero_cache_caches_nothing_but_still_answers() {
    let cache = Cache::new(0);
    let n = cache.normalize("RETURN 1");
    assert_eq!(n.resource, "RETURN ?");
    assert!(cache.is_empty());
    assert_eq!(cache.used_bytes(), 0);
}

#[test]
fn an_entry_larger_than_a_shard_is_answered_but_not_kept() {
    let cache = Cache::new(4096);
    let huge = format!("RETURN '{}'", "x".repeat(10_000));
    assert_eq!(cache.normalize(&huge).resource, "RETURN ?");
    assert!(cache.is_empty());
}

#[test]
fn hot_entries_survive_a_stream_of_one_off_queries() {
    let cache = Cache::new(64 * 1024);
    let hot = "MATCH (hot:Hot) WHERE hot.id = $id RETURN hot";
    let first = cache.normalize(hot);
    for i in 0..20_000 {
        cache.normalize(&query(i));
        // Used between every few one-offs, like a busy endpoint.
        if i % 8 == 0 {
            assert!(
                Arc::ptr_eq(&first, &cache.normalize(hot)),
                "hot entry evicted at {i}"
            );
        }
    }
}

#[test]
fn many_threads_share_one_cache() {
    let cache = Arc::new(Cache::new(1 << 20));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for round in 0..200 {
                    for i in 0..50 {
                        let q = query((i * 7 + t + round) % 50);
                        let n = cache.normalize(&q);
                        assert_eq!(n.resource, normalize(&q).resource);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    assert_eq!(cache.len(), 50);
}
