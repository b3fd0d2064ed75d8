//! python-memcached's (`memcache.Client`, 1.6x) server selection: preset `python_memcached`.
//!
//! The key hash is `cmemcache_hash(key) = (crc32(key) >> 16) & 0x7fff` (zlib CRC-32 of the key's
//! bytes; str keys as UTF-8). The bucket list holds each server `weight` times, in configuration
//! order, and a key belongs to `buckets[hash % len(buckets)]`. The same as libmemcached MODULA
//! with HASH_CRC when every weight is 1. Verified against python-memcached 1.62 on every fleet of
//! src/route/ring/testdata/python_memcached.txt, weighted ones and failover included.
//!
//! Failover is python-memcached's own `_get_server` loop: when the chosen server is dead, try
//! again with `hash = cmemcache_hash(str(hash) + str(i))` for i = 0, 1, ... (decimal ASCII), 10
//! tries in all, then give up (`None`) even if some server is alive.

use super::NodeId;

/// `Client._SERVER_RETRIES`.
const SERVER_RETRIES: u32 = 10;

/// The reflected CRC-32 (zlib's, polynomial 0xEDB88320) byte table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// zlib's `crc32(data)` (Python's `binascii.crc32`). A byte table: keys are short, and the SIMD
/// implementations only pay off on long inputs.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |crc, &byte| {
        CRC_TABLE[usize::from(crc as u8 ^ byte)] ^ (crc >> 8)
    })
}

/// python-memcached's `cmemcache_hash`.
pub fn cmemcache_hash(data: &[u8]) -> u32 {
    (crc32(data) >> 16) & 0x7fff
}

#[derive(Debug, Clone)]
pub struct PythonMemcached {
    /// Server index of each bucket.
    buckets: Vec<u32>,
}

impl PythonMemcached {
    pub fn new(nodes: &[NodeId]) -> Self {
        let buckets = nodes
            .iter()
            .enumerate()
            .flat_map(|(index, node)| std::iter::repeat_n(index as u32, node.weight as usize))
            .collect();
        PythonMemcached { buckets }
    }

    fn bucket(&self, hash: u32) -> usize {
        self.buckets[hash as usize % self.buckets.len()] as usize
    }

    /// Index of the server that owns `key` (0 when no server has a weight above 0).
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.buckets.is_empty() {
            return 0;
        }
        self.bucket(cmemcache_hash(key))
    }

    /// python-memcached's rehash loop; `None` when its 10 tries all hit dead servers.
    pub fn server_for_live(&self, key: &[u8], down: &dyn Fn(usize) -> bool) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut hash = cmemcache_hash(key);
        for attempt in 0..SERVER_RETRIES {
            let server = self.bucket(hash);
            if !down(server) {
                return Some(server);
            }
            hash = cmemcache_hash(format!("{hash}{attempt}").as_bytes());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors;
    use crate::route::ring::Hashing;

    #[test]
    fn hash_matches_cmemcache() {
        // protocol.md §3.6: crc("foo") = 3187 (also libmemcached's HASH_CRC).
        assert_eq!(cmemcache_hash(b"foo"), 3187);
        // binascii.crc32 values.
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"foo"), 0x8c73_6521);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn weights_repeat_buckets() {
        let nodes = [("a", 2), ("b", 1), ("c", 0)].map(|(host, weight)| NodeId {
            host: host.into(),
            port: 11211,
            weight,
        });
        assert_eq!(PythonMemcached::new(&nodes).buckets, [0, 0, 1]);
    }

    #[test]
    fn rehash_gives_up_after_ten_tries() {
        let nodes: Vec<NodeId> = (0..10)
            .map(|i| NodeId {
                host: format!("h{i}"),
                port: 11211,
                weight: 1,
            })
            .collect();
        let ring = PythonMemcached::new(&nodes);
        // With one live server out of ten, some keys find it and some do not.
        let found = (0..1000)
            .filter(|i| ring.server_for_live(format!("k{i}").as_bytes(), &|s| s != 3).is_some())
            .count();
        assert!(found > 400 && found < 900, "{found}");
    }

    #[test]
    fn matches_generated_python_memcached_vectors() {
        // tests/tools/gen_python_memcached_vectors.py: memcache.Client._get_server, with failover.
        let replay = vectors::replay(Hashing::PythonMemcached, include_str!("testdata/python_memcached.txt"));
        assert_eq!((replay.fleets, replay.placed), (7, 7 * 2427));
        assert_eq!(replay.live, 33 * 2427);
    }
}
