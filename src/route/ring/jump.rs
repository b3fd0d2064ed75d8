//! Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
//! 2014) over an XXH3 key hash, as memcached's own proxy places keys with `mcp.dist_jump_hash`
//! and its default key hash (`mcp.hash_xxhash`, `XXH3_64bits_withSeed` with seed 0): preset
//! `jump`, for new fleets.
//!
//! The key hash is XXH3-64 (seed 0) of the key's bytes (str keys as UTF-8, so `"foo"` and
//! `b"foo"` share a server). The buckets are the servers in configuration order; weights are
//! ignored (jump hash has none: list a server twice in the configuration order of another
//! client instead, or use `ketama`). Growing the list at the end moves only the keys the new
//! servers take (1/n of them); removing or reordering servers elsewhere remaps most keys.
//! The loop is the paper's, with its exact double-precision step
//! `j = (b + 1) * (2^31 / ((k >> 33) + 1))`. Verified against the `xxhash` bindings of the
//! reference library and the `jump-consistent-hash` C extension on every fleet of
//! src/route/ring/testdata/jump.txt.
//!
//! Failover: jump hash has none (neither does memcached's proxy), so memlease keeps every key of
//! a live server where it is and spreads a dead server's keys over the live ones
//! ([`super::spread_over_live`]).

use xxhash_rust::xxh3::xxh3_64;

/// The paper's `JumpConsistentHash(key, num_buckets)`.
pub fn jump_consistent_hash(mut key: u64, buckets: u32) -> u32 {
    let (mut b, mut j): (i64, i64) = (-1, 0);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

#[derive(Debug, Clone)]
pub struct Jump {
    servers: u32,
}

impl Jump {
    pub fn new(servers: usize) -> Self {
        Jump {
            servers: u32::try_from(servers).unwrap_or(u32::MAX),
        }
    }

    /// Index of the server that owns `key` (0 without servers).
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.servers <= 1 {
            return 0;
        }
        jump_consistent_hash(xxh3_64(key), self.servers) as usize
    }

    /// The owner if it is live, else memlease's spread of its keys over the live servers.
    pub fn server_for_live(&self, key: &[u8], down: &dyn Fn(usize) -> bool) -> Option<usize> {
        let hash = xxh3_64(key);
        if self.servers > 0 {
            let primary = jump_consistent_hash(hash, self.servers) as usize;
            if !down(primary) {
                return Some(primary);
            }
        }
        super::spread_over_live(hash, self.servers as usize, down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors;
    use crate::route::ring::Hashing;

    #[test]
    fn matches_reference_values() {
        // xxhash.xxh3_64_intdigest(b"foo") and jump.hash(key, n) from the C extension.
        assert_eq!(xxh3_64(b"foo"), 12_352_915_711_150_947_722);
        assert_eq!(jump_consistent_hash(u64::MAX, 10), 9);
        assert_eq!(jump_consistent_hash(0, 1), 0);
    }

    #[test]
    fn growing_moves_keys_only_to_the_new_server() {
        for i in 0..2000u32 {
            let key = i.to_string();
            let before = Jump::new(7).server_for(key.as_bytes());
            let after = Jump::new(8).server_for(key.as_bytes());
            assert!(after == before || after == 7, "{key}");
        }
    }

    #[test]
    fn matches_generated_vectors() {
        // tests/tools/gen_jump_vectors.py: xxhash + jump-consistent-hash.
        let replay = vectors::replay(Hashing::Jump, include_str!("testdata/jump.txt"));
        assert_eq!((replay.fleets, replay.placed), (7, 7 * 2427));
    }

    #[test]
    fn failover_moves_only_the_dead_servers_keys() {
        vectors::check_spread_failover(Hashing::Jump);
    }
}
