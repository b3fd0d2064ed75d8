//! The local cache of keys memcached reports hot (see the parent module).

use crate::client::key::KeyRef;
use crate::client::Item;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings of the local hot-key cache.
#[derive(Debug, Clone, Copy)]
pub struct LocalCacheConfig {
    pub capacity: usize,
    pub ttl: Duration,
    /// Probability that a hot key read from memcached is admitted.
    pub admission: f64,
    /// Seconds since last access under which the server's report counts as hot.
    pub hot_window: u64,
}

/// What a local lookup found.
pub enum Local<'a> {
    /// A fresh copy.
    Hit(Item),
    /// The copy expired and someone else is refreshing it: serve it meanwhile.
    Refreshing(Item),
    /// Not here (or expired, and this caller is now the one refreshing it): read memcached and
    /// hand what came back to [`Ticket::offer`].
    Miss(Ticket<'a>),
}

/// A read from memcached on behalf of the local cache. Dropped without an offer (the read
/// failed or was cancelled), it lets the next caller refresh the key.
pub struct Ticket<'a> {
    cache: &'a LocalCache,
    key: KeyRef<'a>,
    /// When the read began, in the cache's count of local writes.
    since: u64,
    refresher: bool,
}

impl Ticket<'_> {
    /// A read from memcached came back: refresh an entry being refreshed, or admit the item if
    /// the server reports the key hot (`hit_before`, `last_access` seconds) and the dice agree.
    /// Nothing is kept when this client wrote the key since the read began.
    pub fn offer(mut self, read: Option<&Item>, hit_before: Option<bool>, last_access: Option<u64>) {
        self.refresher = false;
        self.cache.offer(self.key, self.since, read, hit_before, last_access);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.refresher {
            self.cache.abandon(self.key);
        }
    }
}

/// A write of a key through this client: the key's local copy is dropped when the write
/// starts and again when it ends (however it ends), and reads overlapping it are not kept.
pub struct LocalWrite<'a> {
    cache: &'a LocalCache,
    key: KeyRef<'a>,
}

impl Drop for LocalWrite<'_> {
    fn drop(&mut self) {
        self.cache.forget(self.key.stored);
    }
}

/// A key's whole identity as the local cache tells keys apart: stored key, routing key, and
/// whether that is bytes.
pub fn identity<'a>(key: &KeyRef<'a>) -> (&'a [u8], &'a [u8], bool) {
    (key.stored, key.route.bytes, key.route.is_bytes)
}

/// Slots remembering the latest local write per stored-key hash, so an overlapping read is
/// refused (whatever its routing key: keys routed to one server name one item).
const WRITE_SLOTS: usize = 1024;

/// What placement hashes for a key, beside its stored key. `bytes` is `None` when that is the
/// stored key itself (every key without a routing key): nothing more to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    bytes: Option<Box<[u8]>>,
    is_bytes: bool,
}

impl Route {
    fn of(key: &KeyRef<'_>) -> Self {
        Route {
            bytes: (key.route.bytes != key.stored).then(|| key.route.bytes.into()),
            is_bytes: key.route.is_bytes,
        }
    }

    /// Whether `key` (of this entry's stored key) is routed this way.
    fn is_of(&self, key: &KeyRef<'_>) -> bool {
        self.is_bytes == key.route.is_bytes && self.bytes.as_deref().unwrap_or(key.stored) == key.route.bytes
    }
}

struct Entry {
    route: Route,
    item: Item,
    expires: Instant,
    refreshing: bool,
}

/// The entries of one stored key, one per route: nearly always one, held inline.
struct Routes {
    first: Entry,
    more: Vec<Entry>,
}

impl Routes {
    fn find(&mut self, is: impl Fn(&Route) -> bool) -> Option<&mut Entry> {
        std::iter::once(&mut self.first)
            .chain(self.more.iter_mut())
            .find(|entry| is(&entry.route))
    }
}

#[derive(Default)]
struct Store {
    entries: HashMap<Vec<u8>, Routes>,
    /// Entries held, over all routes.
    len: usize,
    /// Insertion order, for eviction; may name entries already removed.
    order: VecDeque<(Vec<u8>, Route)>,
}

impl Store {
    fn get(&mut self, key: &KeyRef<'_>) -> Option<&mut Entry> {
        self.entries.get_mut(key.stored)?.find(|route| route.is_of(key))
    }

    /// Add an entry for a key that has none.
    fn add(&mut self, stored: &[u8], entry: Entry) {
        self.order.push_back((stored.to_vec(), entry.route.clone()));
        self.len += 1;
        match self.entries.get_mut(stored) {
            Some(routes) => routes.more.push(entry),
            None => {
                self.entries.insert(
                    stored.to_vec(),
                    Routes {
                        first: entry,
                        more: Vec::new(),
                    },
                );
            }
        }
    }

    /// Drop the entry of `stored` whose route `is`; whether there was one.
    fn remove(&mut self, stored: &[u8], is: impl Fn(&Route) -> bool) -> bool {
        let Some(routes) = self.entries.get_mut(stored) else {
            return false;
        };
        if is(&routes.first.route) {
            match routes.more.pop() {
                Some(last) => routes.first = last,
                None => {
                    self.entries.remove(stored);
                }
            }
        } else if let Some(at) = routes.more.iter().position(|entry| is(&entry.route)) {
            routes.more.swap_remove(at);
        } else {
            return false;
        }
        self.len -= 1;
        true
    }

    /// Drop every entry of `stored`.
    fn remove_all(&mut self, stored: &[u8]) {
        if let Some(routes) = self.entries.remove(stored) {
            self.len -= 1 + routes.more.len();
        }
    }
}

/// Counters of the local cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalStats {
    pub hits: u64,
    pub misses: u64,
    pub admissions: u64,
    pub evictions: u64,
    pub refreshes: u64,
    /// Entries held now.
    pub size: usize,
}

pub struct LocalCache {
    config: LocalCacheConfig,
    store: Mutex<Store>,
    hits: AtomicU64,
    misses: AtomicU64,
    admissions: AtomicU64,
    evictions: AtomicU64,
    refreshes: AtomicU64,
    /// State of a small xorshift generator for admission decisions.
    dice: AtomicU64,
    /// Local writes so far, and per key-hash slot the count at its latest write.
    writes: AtomicU64,
    written: Box<[AtomicU64]>,
}

fn slot_of(key: &[u8]) -> usize {
    // FNV-1a: any spread will do, collisions only cost an admission.
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % WRITE_SLOTS as u64) as usize
}

impl LocalCache {
    pub fn new(config: LocalCacheConfig) -> Self {
        LocalCache {
            config,
            store: Mutex::new(Store::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            admissions: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            dice: AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            writes: AtomicU64::new(0),
            written: (0..WRITE_SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn config(&self) -> &LocalCacheConfig {
        &self.config
    }

    /// Look a key up (see [`Local`]).
    pub fn lookup<'a>(&'a self, key: KeyRef<'a>) -> Local<'a> {
        let mut ticket = Ticket {
            cache: self,
            key,
            since: self.writes.load(Ordering::SeqCst),
            refresher: false,
        };
        let mut store = self.store.lock();
        let Some(entry) = store.get(&key) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Local::Miss(ticket);
        };
        if Instant::now() < entry.expires {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Local::Hit(entry.item.clone());
        }
        if entry.refreshing {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Local::Refreshing(entry.item.clone());
        }
        entry.refreshing = true;
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        ticket.refresher = true;
        Local::Miss(ticket)
    }

    fn offer(
        &self,
        key: KeyRef<'_>,
        since: u64,
        read: Option<&Item>,
        hit_before: Option<bool>,
        last_access: Option<u64>,
    ) {
        let mut store = self.store.lock();
        let refreshing = store.get(&key).is_some_and(|e| e.refreshing);
        let overlapped = self.written[slot_of(key.stored)].load(Ordering::SeqCst) > since;
        let item = read.filter(|_| !overlapped);
        let Some(item) = item else {
            if refreshing {
                store.remove(key.stored, |route| route.is_of(&key));
            }
            return;
        };
        let hot = hit_before == Some(true) && last_access.is_some_and(|l| l <= self.config.hot_window);
        let keep = refreshing || (hot && self.roll());
        if !keep {
            return;
        }
        let expires = Instant::now() + self.config.ttl;
        if let Some(entry) = store.get(&key) {
            entry.item = item.clone();
            entry.expires = expires;
            entry.refreshing = false;
            return;
        }
        let fresh = Entry {
            route: Route::of(&key),
            item: item.clone(),
            expires,
            refreshing: false,
        };
        store.add(key.stored, fresh);
        self.admissions.fetch_add(1, Ordering::Relaxed);
        self.evict(&mut store);
    }

    /// A refresh failed: let the next caller try.
    fn abandon(&self, key: KeyRef<'_>) {
        if let Some(entry) = self.store.lock().get(&key) {
            entry.refreshing = false;
        }
    }

    /// This client is about to write `key` (see [`LocalWrite`]).
    pub fn write<'a>(&'a self, key: KeyRef<'a>) -> LocalWrite<'a> {
        self.forget(key.stored);
        LocalWrite { cache: self, key }
    }

    /// The local copies of the stored key (under any route) are stale, and so is anything a
    /// read in flight brings back.
    fn forget(&self, stored: &[u8]) {
        let write = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        self.written[slot_of(stored)].fetch_max(write, Ordering::SeqCst);
        self.store.lock().remove_all(stored);
    }

    /// Everything is stale (a flush): drop all entries and refuse reads in flight.
    pub fn clear(&self) {
        let write = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        for slot in self.written.iter() {
            slot.fetch_max(write, Ordering::SeqCst);
        }
        *self.store.lock() = Store::default();
    }

    fn evict(&self, store: &mut Store) {
        while store.len > self.config.capacity {
            let Some((stored, route)) = store.order.pop_front() else {
                break;
            };
            if store.remove(&stored, |r| *r == route) {
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Keep the order queue from growing with entries already gone.
        if store.order.len() > 2 * self.config.capacity.max(16) {
            let entries = &mut store.entries;
            store.order.retain(|(stored, route)| {
                entries
                    .get_mut(stored)
                    .is_some_and(|routes| routes.find(|r| r == route).is_some())
            });
        }
    }

    fn roll(&self) -> bool {
        let mut x = self.dice.load(Ordering::Relaxed);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.dice.store(x, Ordering::Relaxed);
        (x >> 11) as f64 / (1u64 << 53) as f64 <= self.config.admission
    }

    pub fn stats(&self) -> LocalStats {
        LocalStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            admissions: self.admissions.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
            size: self.len(),
        }
    }

    pub fn len(&self) -> usize {
        self.store.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests;
