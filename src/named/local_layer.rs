//! The local layer: entries bounded by count (quick_cache's CLOCK-Pro eviction) and by TTL,
//! invalidated by key, by tag and wholesale, safe to share between threads.
//!
//! Every invalidation takes the next number of one epoch counter. An entry remembers the epoch
//! its value was read at (`since`: the caller's [`LocalLayer::generation`] token taken before
//! reading the source, or the epoch when the put began), and is never served once something
//! invalidated it after that epoch:
//! - a tag: checked on every read against the tag's record (see [`super::tags`]);
//! - its key ([`LocalLayer::remove`]) or everything ([`LocalLayer::clear`]): the entry is
//!   removed, and a put whose `since` is older than the removal is refused. Key removals are
//!   remembered per slot of the key's hash (bounded memory; a collision only refuses a put).
//!
//! No value is dropped while a lock of the layer is held: values may be Python objects whose
//! destructors run Python code, which could re-enter the layer or wait for the GIL. Evicted
//! and replaced values are collected during the insert and dropped after it.

use super::tags::{Tag, Tags};
use crate::error::Error;
use arc_swap::ArcSwap;
use parking_lot::Mutex;
use quick_cache::sync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, UnitWeighter};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest TTL accepted (about 31 years): keeps `Instant + ttl` from overflowing.
pub const MAX_TTL: Duration = Duration::from_secs(1_000_000_000);

/// Slots remembering the latest removal per key hash (8 KiB per layer).
const REMOVAL_SLOTS: usize = 1024;

/// Fewer entries than this per shard make the shards' uneven fill evict too early.
const MIN_SHARD_ENTRIES: usize = 32;

/// One stored value with what decides whether it may still be served.
pub struct Entry<V> {
    value: V,
    expires: Instant,
    since: u64,
    tags: Box<[Arc<Tag>]>,
}

impl<V> Entry<V> {
    pub fn value(&self) -> &V {
        &self.value
    }

    fn invalidated(&self) -> bool {
        self.tags.iter().any(|tag| tag.invalidated_after(self.since))
    }
}

type Key = Arc<str>;
type Stored<V> = Arc<Entry<V>>;
type Shards<V> = Cache<Key, Stored<V>, UnitWeighter, DefaultHashBuilder, Evictions>;

/// Counters behind [`LocalLayer::stats`].
#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    inserts: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    invalidations: AtomicU64,
    refused: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    /// Puts that stored their value.
    pub inserts: u64,
    /// Entries pushed out by the entry bound.
    pub evictions: u64,
    /// Entries found expired (dropped on read).
    pub expirations: u64,
    /// Entries dropped by `remove`, and entries found invalidated by a tag (on read).
    pub invalidations: u64,
    /// Puts refused because their value was read before an invalidation of its key or tags.
    pub refused: u64,
    /// Entries held (expired or invalidated ones included until they are read or evicted).
    pub entries: u64,
    /// Tag records held.
    pub tags: u64,
}

/// What one insert pushed out, dropped after the shard lock is released.
pub struct Dropped<V> {
    /// The key being inserted: its previous value is a replacement, not an eviction.
    inserting: Option<Key>,
    items: Vec<(Key, Stored<V>)>,
}

impl<V> Default for Dropped<V> {
    fn default() -> Self {
        Dropped {
            inserting: None,
            items: Vec::new(),
        }
    }
}

/// quick_cache's hooks: count evictions, keep what leaves for dropping outside the lock.
#[derive(Clone)]
struct Evictions {
    counters: Arc<Counters>,
}

impl<V> Lifecycle<Key, Stored<V>> for Evictions {
    type RequestState = Dropped<V>;

    fn on_evict(&self, state: &mut Dropped<V>, key: Key, value: Stored<V>) {
        if state.inserting.as_deref() != Some(&*key) {
            bump(&self.counters.evictions);
        }
        state.items.push((key, value));
    }
}

/// A checked TTL from seconds: finite, above zero, at most [`MAX_TTL`].
pub fn ttl_from_secs(name: &str, seconds: f64) -> Result<Duration, Error> {
    if !(seconds > 0.0 && seconds <= MAX_TTL.as_secs_f64()) {
        return Err(Error::InvalidArgument(format!(
            "{name} must be a number of seconds above 0 and at most {}, got {seconds}",
            MAX_TTL.as_secs()
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A checked entry bound: at least 1.
pub fn max_entries_from(value: i64) -> Result<usize, Error> {
    usize::try_from(value)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| Error::InvalidArgument(format!("max_entries must be an int of at least 1, got {value}")))
}

/// The local layer of one named cache.
pub struct LocalLayer<V> {
    cache: ArcSwap<Shards<V>>,
    /// Serialises replacing the cache (clear, resize) so no two builds race.
    reshape: Mutex<()>,
    max_entries: AtomicUsize,
    ttl_nanos: AtomicU64,
    /// The latest invalidation's number.
    epoch: AtomicU64,
    cleared_at: AtomicU64,
    removed_at: Box<[AtomicU64]>,
    tags: Tags,
    counters: Arc<Counters>,
}

impl<V: Send + Sync> LocalLayer<V> {
    /// A layer of at most `max_entries` entries, each served for `ttl` unless put with its own.
    pub fn new(max_entries: usize, ttl: Duration) -> Self {
        let counters = Arc::<Counters>::default();
        LocalLayer {
            cache: ArcSwap::from_pointee(build(max_entries, &counters)),
            reshape: Mutex::new(()),
            max_entries: AtomicUsize::new(max_entries),
            ttl_nanos: AtomicU64::new(ttl.as_nanos() as u64),
            epoch: AtomicU64::new(0),
            cleared_at: AtomicU64::new(0),
            removed_at: (0..REMOVAL_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            tags: Tags::default(),
            counters,
        }
    }

    /// The token to take before reading a value from the source: a put given it
    /// (`since`) is refused if the key, one of its tags or the whole layer was invalidated
    /// after it was taken, so a value read before an invalidation is never stored after it.
    pub fn generation(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The key's entry if it is fresh: not expired, no tag of it invalidated since its read.
    /// Stale entries found here are dropped.
    pub fn get(&self, key: &str) -> Option<Stored<V>> {
        let cache = self.cache.load();
        let found = cache.get(key);
        let gone = match found {
            None => None,
            Some(entry) if Instant::now() >= entry.expires => Some((entry, &self.counters.expirations)),
            Some(entry) if entry.invalidated() => Some((entry, &self.counters.invalidations)),
            Some(entry) => {
                bump(&self.counters.hits);
                return Some(entry);
            }
        };
        bump(&self.counters.misses);
        if let Some((entry, reason)) = gone {
            let removed = cache.remove_if(key, |stored| Arc::ptr_eq(stored, &entry));
            if removed.is_some() {
                bump(reason);
            }
        }
        None
    }

    /// Stores `value` under `key` with `tags`, for `ttl` (the layer's when `None`), unless it
    /// was read (`since`, a [`generation`](Self::generation) token; now when `None`) before an
    /// invalidation of the key, one of the tags or the layer. Returns whether it was stored.
    pub fn put(
        &self,
        key: &str,
        value: V,
        tags: &[&str],
        ttl: Option<Duration>,
        since: Option<u64>,
    ) -> Result<bool, Error> {
        let now = self.generation();
        let since = match since {
            Some(token) if token > now => {
                return Err(Error::InvalidArgument(format!(
                    "since={token} is not a generation() token of this layer (latest is {now})"
                )))
            }
            Some(token) => token,
            None => now,
        };
        let removal = &self.removed_at[removal_slot(key)];
        let invalidated_after =
            |since| self.cleared_at.load(Ordering::SeqCst) > since || removal.load(Ordering::SeqCst) > since;
        if invalidated_after(since) {
            bump(&self.counters.refused);
            return Ok(false);
        }
        let tags = self.tags.acquire(tags.iter().copied());
        if tags.iter().any(|tag| tag.invalidated_after(since)) {
            bump(&self.counters.refused);
            return Ok(false);
        }
        let ttl = ttl.unwrap_or_else(|| Duration::from_nanos(self.ttl_nanos.load(Ordering::Relaxed)));
        let entry = Arc::new(Entry {
            value,
            expires: Instant::now() + ttl,
            since,
            tags,
        });
        let key: Key = key.into();
        let cache = self.cache.load();
        let mut dropped = Dropped {
            inserting: Some(Arc::clone(&key)),
            items: Vec::new(),
        };
        cache.insert_with_lifecycle(Arc::clone(&key), Arc::clone(&entry), &mut dropped);
        // A removal between the check above and the insert may have missed the new entry:
        // it wrote its slot before looking in the cache, so it is seen here.
        if invalidated_after(since) {
            let own = cache.remove_if(&*key, |stored| Arc::ptr_eq(stored, &entry));
            drop(own);
            bump(&self.counters.refused);
            return Ok(false);
        }
        bump(&self.counters.inserts);
        Ok(true)
    }

    /// Drops the key's entry; a put of a value read before now is refused. Returns whether an
    /// entry was there.
    pub fn remove(&self, key: &str) -> bool {
        let epoch = self.next_epoch();
        self.removed_at[removal_slot(key)].fetch_max(epoch, Ordering::SeqCst);
        let removed = self.cache.load().remove(key);
        if removed.is_some() {
            bump(&self.counters.invalidations);
        }
        removed.is_some()
    }

    /// Every entry carrying any of `tags` stops being served now (O(1) per tag: entries are
    /// dropped when next read). Returns how many tags were processed.
    pub fn remove_tags<'a>(&self, tags: impl IntoIterator<Item = &'a str>) -> usize {
        let epoch = self.next_epoch();
        self.tags.invalidate(tags, epoch)
    }

    /// Drops every entry; a put of a value read before now is refused.
    pub fn clear(&self) {
        let epoch = self.next_epoch();
        self.cleared_at.fetch_max(epoch, Ordering::SeqCst);
        let reshape = self.reshape.lock();
        let fresh = build(self.max_entries.load(Ordering::Relaxed), &self.counters);
        let old = self.cache.swap(Arc::new(fresh));
        drop(reshape);
        drop(old);
    }

    /// Runtime changes. A new `ttl` applies to later puts (stored entries keep their expiry);
    /// a new `max_entries` rebuilds the cache and moves the fresh entries over (the least
    /// valuable are evicted when it shrinks).
    pub fn configure(&self, max_entries: Option<usize>, ttl: Option<Duration>) {
        if let Some(ttl) = ttl {
            self.ttl_nanos.store(ttl.as_nanos() as u64, Ordering::Relaxed);
        }
        if let Some(max_entries) = max_entries {
            self.resize(max_entries);
        }
    }

    fn resize(&self, max_entries: usize) {
        let reshape = self.reshape.lock();
        let began = self.generation();
        self.max_entries.store(max_entries, Ordering::Relaxed);
        let resized = Arc::new(build(max_entries, &self.counters));
        let mut dropped = Dropped::default();
        let mut moved = Vec::new();
        let now = Instant::now();
        let old = self.cache.load_full();
        for (key, entry) in old.iter() {
            if now < entry.expires && !entry.invalidated() {
                resized.insert_with_lifecycle(Arc::clone(&key), Arc::clone(&entry), &mut dropped);
                moved.push((key, entry));
            }
        }
        self.cache.store(Arc::clone(&resized));
        // Removals that went to the old cache while entries were moved: undo their moves
        // (their slot was written before they looked in the old cache, so it is seen here).
        for (key, entry) in &moved {
            if self.removed_at[removal_slot(key)].load(Ordering::SeqCst) > began {
                let own = resized.remove_if(&**key, |stored| Arc::ptr_eq(stored, entry));
                dropped.items.extend(own);
            }
        }
        drop(reshape);
        drop((old, moved, dropped));
    }

    pub fn len(&self) -> usize {
        self.cache.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn stats(&self) -> Stats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let counters = &self.counters;
        Stats {
            hits: read(&counters.hits),
            misses: read(&counters.misses),
            inserts: read(&counters.inserts),
            evictions: read(&counters.evictions),
            expirations: read(&counters.expirations),
            invalidations: read(&counters.invalidations),
            refused: read(&counters.refused),
            entries: self.len() as u64,
            tags: self.tags.len() as u64,
        }
    }

    fn next_epoch(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }
}

fn removal_slot(key: &str) -> usize {
    (xxhash_rust::xxh3::xxh3_64(key.as_bytes()) as usize) & (REMOVAL_SLOTS - 1)
}

/// The shard count for `max_entries`: a few per CPU, each of at least
/// [`MIN_SHARD_ENTRIES`] (one shard below that).
fn shard_count(max_entries: usize) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut shards = (cpus * 4).next_power_of_two().min(64);
    while shards > 1 && max_entries / shards < MIN_SHARD_ENTRIES {
        shards /= 2;
    }
    shards
}

/// A cache holding at most `max_entries`: every shard gets the same whole share, so the
/// total never exceeds the bound (it may fall short of it by less than the shard count).
fn build<V: Send + Sync>(max_entries: usize, counters: &Arc<Counters>) -> Shards<V> {
    let shards = shard_count(max_entries);
    let capacity = (max_entries / shards * shards) as u64;
    let options = OptionsBuilder::new()
        .shards(shards)
        .estimated_items_capacity(max_entries)
        .weight_capacity(capacity)
        .build()
        .expect("shards and capacities are above zero");
    let cache = Cache::with_options(
        options,
        UnitWeighter,
        DefaultHashBuilder::default(),
        Evictions {
            counters: Arc::clone(counters),
        },
    );
    debug_assert_eq!(cache.num_shards(), shards);
    cache
}
