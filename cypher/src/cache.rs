//! A bounded, sharded cache keyed by the raw query text: of normalisations ([`Cache`]), or of
//! anything prepared from a query text ([`TextCache`], which bolt-tracer fills with whole span
//! descriptions).
//!
//! Applications send the same few hundred query texts over and over, so most calls should cost
//! one lookup. The cache is split into shards, each behind its own `RwLock`: a hit takes only a
//! read lock (hits on different or even the same shard proceed in parallel), a miss normalises
//! outside any lock and then takes the shard's write lock briefly to insert.
//!
//! **Bound.** Each shard owns `max_bytes / shards` bytes. An entry is charged the length of its
//! key and the heap bytes of its value ([`HeapSize`]), plus a fixed estimate of the memory around
//! them ([`TextCache::ENTRY_OVERHEAD`]). An entry larger than a whole shard is returned but not
//! kept.
//!
//! **Eviction: CLOCK (second chance), per shard.** Every hit sets the entry's `referenced` bit
//! (an atomic, so hits need no write lock). When an insert needs room, the shard's clock hand
//! sweeps its slots: a referenced entry loses its bit and is spared once, the first unreferenced
//! one is evicted; this repeats until the new entry fits. Frequently used queries therefore stay,
//! one-off queries leave first, at the cost of one bit per entry instead of an LRU list.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::fingerprint::hash64;
use crate::normalize::{Normalized, normalize};

/// A value kept in a [`TextCache`]: it tells the heap bytes it holds, which the cache charges
/// against its bound besides the value's own size.
pub trait HeapSize {
    /// Bytes this value owns on the heap (strings, vectors), not counting `size_of::<Self>()`.
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for Normalized {
    fn heap_bytes(&self) -> usize {
        self.resource.len() + self.summary.len() + self.operation.len() + self.names_bytes()
    }
}

/// Shards hold at least this many bytes each, so a small cache is not split into useless slivers.
const MIN_SHARD_BYTES: usize = 64 * 1024;
const MAX_SHARDS: usize = 64;

/// A thread-safe cache of [`normalize`] results keyed by the raw query text, bounded by bytes.
/// See the module documentation for the bound and the eviction policy.
///
/// ```
/// let cache = cypher::Cache::new(1 << 20);
/// let a = cache.normalize("MATCH (n:Person {name: 'Ann'}) RETURN n");
/// let b = cache.normalize("MATCH (n:Person {name: 'Ann'}) RETURN n");
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert_eq!(a.resource, "MATCH (n:Person {name: ?}) RETURN n");
/// ```
pub type Cache = TextCache<Normalized>;

/// A thread-safe cache of values prepared from query texts, keyed by the raw text and bounded by
/// bytes; [`Cache`] is the one of normalisations. See the module documentation for the bound and
/// the eviction policy.
///
/// ```
/// use cypher::{HeapSize, TextCache};
///
/// struct Words(Vec<String>);
/// impl HeapSize for Words {
///     fn heap_bytes(&self) -> usize {
///         self.0.iter().map(|w| w.len() + size_of::<String>()).sum()
///     }
/// }
///
/// let cache = TextCache::new(1 << 20);
/// let split = |q: &str| Words(q.split(' ').map(String::from).collect());
/// let a = cache.get_or_insert_with("RETURN 1", split);
/// assert!(std::sync::Arc::ptr_eq(&a, &cache.get_or_insert_with("RETURN 1", split)));
/// assert_eq!(a.0, ["RETURN", "1"]);
/// ```
pub struct TextCache<V> {
    shards: Box<[RwLock<Shard<V>>]>,
    shard_mask: usize,
    seed: u64,
    max_bytes: usize,
}

impl<V> std::fmt::Debug for TextCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextCache")
            .field("shards", &self.shards.len())
            .field("max_bytes", &self.max_bytes)
            .field("len", &self.len())
            .field("used_bytes", &self.used_bytes())
            .finish()
    }
}

struct Entry<V> {
    key: Box<str>,
    value: Arc<V>,
    hash: u64,
    size: usize,
    referenced: AtomicBool,
}

/// The hash is computed once (seeded) and used both to pick the shard and as the map key, so the
/// map hashes nothing itself.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Shard<V> {
    /// Seeded hash of the key -> slot. Two keys with the same 64-bit hash cannot both be cached:
    /// the newer one replaces the older (harmless, and vanishingly rare).
    index: HashMap<u64, u32, BuildHasherDefault<IdentityHasher>>,
    slots: Vec<Option<Entry<V>>>,
    free: Vec<u32>,
    hand: usize,
    bytes: usize,
    budget: usize,
}

impl<V: HeapSize> Shard<V> {
    fn lookup(&self, hash: u64, query: &str) -> Option<Arc<V>> {
        let slot = *self.index.get(&hash)?;
        let entry = self.slots[slot as usize].as_ref()?;
        if &*entry.key != query {
            return None;
        }
        // Only write the bit when it changes: hot entries stay clean in every core's cache.
        if !entry.referenced.load(Ordering::Relaxed) {
            entry.referenced.store(true, Ordering::Relaxed);
        }
        Some(Arc::clone(&entry.value))
    }

    fn remove(&mut self, slot: u32) {
        if let Some(entry) = self.slots[slot as usize].take() {
            self.index.remove(&entry.hash);
            self.bytes -= entry.size;
            self.free.push(slot);
        }
    }

    /// Evicts with the clock until `needed` more bytes fit.
    fn make_room(&mut self, needed: usize) {
        let mut steps = 0;
        while self.bytes + needed > self.budget && !self.slots.is_empty() {
            // Two full turns always find a victim (the first clears every bit); the bound only
            // guards against a logic error looping forever.
            if steps > 2 * self.slots.len() + 2 {
                break;
            }
            steps += 1;
            let slot = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            match &self.slots[slot] {
                None => {}
                Some(entry) if entry.referenced.swap(false, Ordering::Relaxed) => {}
                Some(_) => self.remove(slot as u32),
            }
        }
    }

    fn insert(&mut self, hash: u64, query: &str, value: &Arc<V>) -> Arc<V> {
        if let Some(&slot) = self.index.get(&hash) {
            match &self.slots[slot as usize] {
                // Another thread inserted it while we normalised: share its copy.
                Some(entry) if &*entry.key == query => return Arc::clone(&entry.value),
                _ => self.remove(slot),
            }
        }
        let size = query.len() + value.heap_bytes() + TextCache::<V>::ENTRY_OVERHEAD;
        if size > self.budget {
            return Arc::clone(value);
        }
        self.make_room(size);
        if self.bytes + size > self.budget {
            return Arc::clone(value);
        }
        let entry = Entry {
            key: query.into(),
            value: Arc::clone(value),
            hash,
            size,
            referenced: AtomicBool::new(false),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(hash, slot);
        self.bytes += size;
        Arc::clone(value)
    }
}

impl<V> TextCache<V> {
    /// Bytes charged to every entry on top of its key and its value's heap bytes: the entry, the
    /// value and its `Arc` header, and the index slot.
    pub const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry<V>>()
        + std::mem::size_of::<V>()
        + 2 * std::mem::size_of::<usize>()
        + std::mem::size_of::<(u64, u32)>()
        + 8;
}

impl<V> TextCache<V> {
    /// A cache that keeps at most `max_bytes` of keys and values (see
    /// [`ENTRY_OVERHEAD`](Self::ENTRY_OVERHEAD)). `0` caches nothing: every call prepares.
    pub fn new(max_bytes: usize) -> Self {
        let wanted = (max_bytes / MIN_SHARD_BYTES).clamp(1, MAX_SHARDS);
        // Largest power of two <= wanted, so the shard is picked with a mask.
        let shards = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        let budget = max_bytes / shards;
        let seed = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64)
        };
        TextCache {
            shards: (0..shards)
                .map(|_| {
                    RwLock::new(Shard {
                        index: HashMap::default(),
                        slots: Vec::new(),
                        free: Vec::new(),
                        hand: 0,
                        bytes: 0,
                        budget,
                    })
                })
                .collect(),
            shard_mask: shards - 1,
            seed,
            max_bytes,
        }
    }

    /// The value of `query`, from the cache when it is there, else made by `prepare` (outside
    /// any lock; two threads missing the same text at once both prepare, and share the first
    /// one kept).
    pub fn get_or_insert_with(&self, query: &str, prepare: impl FnOnce(&str) -> V) -> Arc<V>
    where
        V: HeapSize,
    {
        let hash = hash64(query.as_bytes(), self.seed);
        // hashbrown picks buckets from the low bits and tags from the top 7: take the shard from
        // the middle so neither loses entropy within a shard.
        let shard = &self.shards[(hash >> 32) as usize & self.shard_mask];
        {
            let guard = shard.read().unwrap_or_else(|e| e.into_inner());
            if let Some(hit) = guard.lookup(hash, query) {
                return hit;
            }
        }
        let value = Arc::new(prepare(query));
        let mut guard = shard.write().unwrap_or_else(|e| e.into_inner());
        guard.insert(hash, query, &value)
    }

    /// Number of cached queries.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).index.len())
            .sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes currently charged to the cached entries; never above [`TextCache::max_bytes`].
    pub fn used_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).bytes)
            .sum()
    }

    /// The bound given to [`TextCache::new`].
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

impl Cache {
    /// The normalisation of `query`, from the cache when it is there.
    pub fn normalize(&self, query: &str) -> Arc<Normalized> {
        self.get_or_insert_with(query, normalize)
    }
}
