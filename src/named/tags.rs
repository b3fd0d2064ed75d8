//! Tag invalidation records for the local layer.
//!
//! Invalidating a tag costs O(1) however many entries carry it: each tag has one record with
//! the epoch of its latest invalidation, every entry holds its tags' records and the epoch it
//! was read at, and a read treats an entry as gone once any of its tags was invalidated after
//! that epoch. Nothing walks the entries.
//!
//! Records nobody refers to any more (no entry carries the tag) are pruned whenever the map
//! has doubled since the last pruning, so the map stays within about twice the tags that live
//! entries carry. Pruning forgets when those tags were invalidated; a record created later
//! starts at the newest invalidation pruning forgot (`floor`), so a put whose value was read
//! before a forgotten invalidation is still refused (conservatively: it may have been of
//! another tag).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One tag's record: the epoch of its latest invalidation (0: none known).
#[derive(Debug)]
pub struct Tag {
    invalidated_at: AtomicU64,
}

impl Tag {
    /// Whether the tag was invalidated after `epoch`.
    #[inline]
    pub fn invalidated_after(&self, epoch: u64) -> bool {
        self.invalidated_at.load(Ordering::Acquire) > epoch
    }
}

/// Below this many records pruning is not worth a pass.
const MIN_PRUNE_AT: usize = 1024;

struct Records {
    by_name: HashMap<Box<str>, Arc<Tag>>,
    /// The newest invalidation epoch among pruned records.
    floor: u64,
    /// Prune when the map reaches this size.
    prune_at: usize,
}

impl Records {
    fn record(&mut self, name: &str) -> &Arc<Tag> {
        if !self.by_name.contains_key(name) {
            if self.by_name.len() >= self.prune_at {
                self.prune();
            }
            let tag = Arc::new(Tag {
                invalidated_at: AtomicU64::new(self.floor),
            });
            self.by_name.insert(name.into(), tag);
        }
        &self.by_name[name]
    }

    /// Drops the records no entry holds (the map's reference is then the only one).
    fn prune(&mut self) {
        let mut floor = self.floor;
        self.by_name.retain(|_, tag| {
            let held = Arc::strong_count(tag) > 1;
            if !held {
                floor = floor.max(tag.invalidated_at.load(Ordering::Acquire));
            }
            held
        });
        self.floor = floor;
        self.prune_at = (self.by_name.len() * 2).max(MIN_PRUNE_AT);
    }
}

/// The tag records of one layer.
pub struct Tags {
    records: Mutex<Records>,
}

impl Default for Tags {
    fn default() -> Self {
        Tags {
            records: Mutex::new(Records {
                by_name: HashMap::new(),
                floor: 0,
                prune_at: MIN_PRUNE_AT,
            }),
        }
    }
}

impl Tags {
    /// The records of `names`, for an entry about to be stored (created if missing).
    pub fn acquire<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Box<[Arc<Tag>]> {
        let mut records = self.records.lock();
        names.into_iter().map(|name| Arc::clone(records.record(name))).collect()
    }

    /// Marks `names` invalidated at `epoch` (records are created for tags no entry carries
    /// yet, so a put of a value read before now is refused). Returns how many were processed.
    pub fn invalidate<'a>(&self, names: impl IntoIterator<Item = &'a str>, epoch: u64) -> usize {
        let mut records = self.records.lock();
        let mut processed = 0;
        for name in names {
            records.record(name).invalidated_at.fetch_max(epoch, Ordering::AcqRel);
            processed += 1;
        }
        processed
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.records.lock().by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
