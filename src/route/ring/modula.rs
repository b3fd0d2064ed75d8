//! libmemcached's default distribution, `MEMCACHED_DISTRIBUTION_MODULA` with the default
//! one-at-a-time key hash (pylibmc with no behaviors, php-memcached's default): preset `modula`.
//!
//! `server = one_at_a_time(key) % n`, servers in configuration order, weights ignored (MODULA
//! never reads them). The hash is Bob Jenkins' one-at-a-time over the key bytes read as C `char`,
//! which is signed on x86: a byte >= 0x80 is added sign-extended (0xFFFFFF80 for 0x80), as
//! libmemcached's `hashkit_one_at_a_time` does. Verified against libmemcached 1.0.16 (the one in
//! pylibmc's wheel) on every fleet of src/route/ring/testdata/modula.txt.
//!
//! Failover: libmemcached has none for MODULA (a dead server's keys just fail), so memlease keeps
//! every key of a live server where it is and spreads a dead server's keys over the live ones
//! ([`super::spread_over_live`]).

/// libmemcached's `hashkit_one_at_a_time`, with its signed-char reading of the key.
pub fn one_at_a_time(data: &[u8]) -> u32 {
    let mut value: u32 = 0;
    for &byte in data {
        // `(uint32_t)(char)byte`: sign extension for bytes >= 0x80.
        value = value.wrapping_add(byte as i8 as u32);
        value = value.wrapping_add(value << 10);
        value ^= value >> 6;
    }
    value = value.wrapping_add(value << 3);
    value ^= value >> 11;
    value.wrapping_add(value << 15)
}

/// `one_at_a_time(key) % n`.
#[derive(Debug, Clone)]
pub struct Modula {
    servers: usize,
}

impl Modula {
    pub fn new(servers: usize) -> Self {
        Modula { servers }
    }

    /// Index of the server that owns `key` (0 with fewer than two servers, as libmemcached).
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.servers <= 1 {
            return 0;
        }
        one_at_a_time(key) as usize % self.servers
    }

    /// The owner if it is live, else memlease's spread of its keys over the live servers.
    pub fn server_for_live(&self, key: &[u8], down: &dyn Fn(usize) -> bool) -> Option<usize> {
        let primary = self.server_for(key);
        if self.servers > 0 && !down(primary) {
            return Some(primary);
        }
        super::spread_over_live(u64::from(one_at_a_time(key)), self.servers, down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors;
    use crate::route::ring::Hashing;

    #[test]
    fn matches_libmemcached_hashes() {
        // protocol.md §3.1 table (libmemcached 1.0.18): OAAT hash and MODULA server over
        // 127.0.0.1:11211, 127.0.0.1:11212, 10.0.0.5:11211.
        let modula = Modula::new(3);
        for (key, hash, server) in [
            ("foo", 596_015_325u32, 0),
            ("bar", 2_151_715_081, 1),
            ("user:1", 2_773_942_091, 2),
            ("session:abc", 3_277_896_960, 0),
        ] {
            assert_eq!(one_at_a_time(key.as_bytes()), hash, "{key}");
            assert_eq!(modula.server_for(key.as_bytes()), server, "{key}");
        }
    }

    #[test]
    fn high_bytes_are_sign_extended() {
        // One-at-a-time of a single byte read as `first` (the hash's one round, then its finish).
        let hash_of_one = |first: u32| {
            let mut v = first;
            v = v.wrapping_add(v << 10);
            v ^= v >> 6;
            v = v.wrapping_add(v << 3);
            v ^= v >> 11;
            v.wrapping_add(v << 15)
        };
        // With an unsigned read, b"\x80" would hash like this instead.
        assert_ne!(one_at_a_time(b"\x80"), hash_of_one(0x80));
        assert_eq!(one_at_a_time(b"\x80"), hash_of_one(0xFFFF_FF80));
    }

    #[test]
    fn one_server_takes_everything() {
        assert_eq!(Modula::new(1).server_for(b"anything"), 0);
        assert_eq!(Modula::new(1).server_for_live(b"anything", &|_| true), None);
    }

    #[test]
    fn matches_generated_libmemcached_vectors() {
        // tests/tools/gen_libmemcached_vectors.py: pylibmc's libmemcached with no behaviors.
        let replay = vectors::replay(Hashing::Modula, include_str!("testdata/modula.txt"));
        assert_eq!((replay.fleets, replay.placed), (7, 7 * 2427));
    }

    #[test]
    fn failover_moves_only_the_dead_servers_keys() {
        vectors::check_spread_failover(Hashing::Modula);
    }
}
