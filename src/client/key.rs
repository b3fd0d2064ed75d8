//! A key as the operations see it: what it is stored under, what placement hashes, and where
//! a split key's copy is pinned.

use super::hot::SplitCopy;
use crate::route::ring::PlacementKey;
use crate::route::topology::Topology;

/// A key as the operations see it: the bytes stored under, and what placement hashes (the
/// routing key when one was given, else the key itself).
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub stored: &'a [u8],
    pub route: PlacementKey<'a>,
    /// A server chosen for the key instead of its placement (a split key's copy).
    pub pinned: Option<usize>,
    /// A split key's extra copy: a replica whose server, should it miss a write, owes a delete.
    pub split_copy: bool,
}

impl<'a> KeyRef<'a> {
    /// A copy of this (split) key: stored as `copy.name`, on `copy.server` if it has one (else
    /// placed by its own bytes), typed like this key.
    pub fn copy<'b>(&self, copy: &'b SplitCopy) -> KeyRef<'b> {
        KeyRef {
            stored: &copy.name,
            route: PlacementKey {
                bytes: &copy.name,
                is_bytes: self.route.is_bytes,
            },
            pinned: copy.server,
            split_copy: true,
        }
    }

    /// The server the key lives on.
    pub fn primary(&self, topology: &Topology) -> usize {
        self.pinned
            .unwrap_or_else(|| topology.primary(self.stored, &self.route))
    }

    /// A key placed by its own bytes.
    pub fn plain(key: &'a [u8]) -> Self {
        KeyRef {
            stored: key,
            route: PlacementKey {
                bytes: key,
                is_bytes: false,
            },
            pinned: None,
            split_copy: false,
        }
    }
}
