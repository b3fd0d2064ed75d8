//! pymemcache's `HashClient` with its default hasher, `RendezvousHash` (highest random weight):
//! preset `pymemcache`.
//!
//! Node names are HashClient's client keys: `"{host}:{port}"` for a `(host, port)` server (an
//! IPv6 host without brackets: `"::1:11211"`, as `normalize_server_spec` strips them) and the
//! path for a unix socket. A key's score on a node is pymemcache's pure-Python `murmur3_32` (seed
//! 0) of the text `f"{node}-{key}"`, where `key` is the key object as the application passed it
//! ([`python_str`]: a `bytes` key is its repr `b'...'`). That murmur3 reads `ord(c) & 0xFF` of
//! each *character* and mixes in the character count, so it is standard MurmurHash3_x86_32 for
//! ASCII text but not for the UTF-8 of non-ASCII text: "é" hashes as the single byte 0xE9.
//! The node with the highest score wins; on equal scores the larger name (Python string order,
//! which is UTF-8 byte order). Weights do not exist in pymemcache and are ignored. Verified
//! against pymemcache 4.0.0 on every fleet of src/route/ring/testdata/pymemcache.txt.
//!
//! Failover is pymemcache's: a dead server is removed from the hasher, so its keys go to their
//! best-scoring live node and no other key moves.

use super::pystr::python_str;
use super::{NodeId, PlacementKey};
use std::borrow::Cow;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3_x86_32 with seed 0.
fn murmur3_32(data: &[u8]) -> u32 {
    fn mix(k: u32) -> u32 {
        k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
    }
    let mut h: u32 = 0;
    let blocks = data.chunks_exact(4);
    let tail = blocks.remainder();
    for block in blocks {
        h ^= mix(u32::from_le_bytes([block[0], block[1], block[2], block[3]]));
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        h ^= mix(tail.iter().rev().fold(0, |k, &byte| (k << 8) | u32::from(byte)));
    }
    // Python's `len()`; only its low 32 bits survive the final mask.
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The code units pymemcache's murmur3 hashes for a text: `ord(c) & 0xFF` per character.
fn units(text: Cow<'_, str>) -> Cow<'_, [u8]> {
    if text.is_ascii() {
        return match text {
            Cow::Borrowed(text) => Cow::Borrowed(text.as_bytes()),
            Cow::Owned(text) => Cow::Owned(text.into_bytes()),
        };
    }
    Cow::Owned(text.chars().map(|c| c as u32 as u8).collect())
}

/// HashClient's name for a server.
pub fn node_name(node: &NodeId) -> String {
    if node.port == 0 {
        node.host.clone()
    } else {
        format!("{}:{}", node.host, node.port)
    }
}

#[derive(Debug, Clone)]
pub struct Rendezvous {
    names: Vec<String>,
    /// `ord(c) & 0xFF` of each character of `"{name}-"`.
    prefixes: Vec<Vec<u8>>,
}

impl Rendezvous {
    pub fn new(nodes: &[NodeId]) -> Self {
        let names: Vec<String> = nodes.iter().map(node_name).collect();
        let prefixes = names
            .iter()
            .map(|name| units(Cow::Owned(format!("{name}-"))).into_owned())
            .collect();
        Rendezvous { names, prefixes }
    }

    /// Index of the server that owns `key` (0 without servers).
    pub fn server_for(&self, key: &PlacementKey<'_>) -> usize {
        self.server_for_live(key, &|_| false).unwrap_or(0)
    }

    /// The best-scoring live server; `None` if none is live.
    pub fn server_for_live(&self, key: &PlacementKey<'_>, down: &dyn Fn(usize) -> bool) -> Option<usize> {
        let key = units(python_str(key));
        // `f"{node}-{key}"` for each node in turn, in one buffer.
        let mut text = Vec::with_capacity(self.prefixes.iter().map(Vec::len).max().unwrap_or(0) + key.len());
        let mut best: Option<(u32, usize)> = None;
        for (index, prefix) in self.prefixes.iter().enumerate() {
            if down(index) {
                continue;
            }
            text.clear();
            text.extend_from_slice(prefix);
            text.extend_from_slice(&key);
            let score = murmur3_32(&text);
            let better = match best {
                None => true,
                Some((high, winner)) => score > high || (score == high && self.names[index] > self.names[winner]),
            };
            if better {
                best = Some((score, index));
            }
        }
        best.map(|(_, index)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors;
    use crate::route::ring::Hashing;

    fn murmur(text: &str) -> u32 {
        murmur3_32(&units(Cow::Borrowed(text)))
    }

    #[test]
    fn murmur3_matches_pymemcache() {
        // pymemcache.client.murmur3.murmur3_32(text) for each text.
        for (text, hash) in [
            ("6666", 1_361_238_019u32),
            ("", 0),
            ("a", 1_009_084_850),
            ("ab", 2_613_040_991),
            ("abc", 3_017_643_002),
            ("abcd", 1_139_631_978),
            ("abcde", 3_902_511_862),
            ("127.0.0.1:11211-foo", 553_244_281),
            ("é中\u{1f600}x", 624_027_807),
            ("ÿ", 4_251_775_245),
        ] {
            assert_eq!(murmur(text), hash, "{text:?}");
        }
    }

    fn named(names: &[&str]) -> Rendezvous {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let prefixes = names.iter().map(|n| format!("{n}-").into_bytes()).collect();
        Rendezvous { names, prefixes }
    }

    fn key(text: &str) -> PlacementKey<'_> {
        PlacementKey {
            bytes: text.as_bytes(),
            is_bytes: false,
        }
    }

    #[test]
    fn matches_pymemcache_rendezvous_tests() {
        // pymemcache's test_rendezvous.py: nodes "0", "1", "2", then "3" added.
        let three = named(&["0", "1", "2"]);
        for (k, node) in [("ok", 0), ("mykey", 1), ("wat", 2), ("lol", 2)] {
            assert_eq!(three.server_for(&key(k)), node, "{k}");
        }
        assert_eq!(named(&["0", "1", "2", "3"]).server_for(&key("lol")), 3);
    }

    #[test]
    fn bytes_keys_hash_as_their_repr() {
        // protocol.md §3.5: 127.0.0.1:11211/12/13, "foo" -> :11213, b"foo" -> :11212.
        let nodes: Vec<NodeId> = (11211..=11213)
            .map(|port| NodeId {
                host: "127.0.0.1".into(),
                port,
                weight: 1,
            })
            .collect();
        let ring = Rendezvous::new(&nodes);
        assert_eq!(ring.server_for(&key("foo")), 2);
        let bytes = PlacementKey {
            bytes: b"foo",
            is_bytes: true,
        };
        assert_eq!(ring.server_for(&bytes), 1);
    }

    #[test]
    fn node_names_are_hashclient_keys() {
        let node = |host: &str, port| NodeId {
            host: host.into(),
            port,
            weight: 1,
        };
        assert_eq!(node_name(&node("10.0.0.1", 11211)), "10.0.0.1:11211");
        assert_eq!(node_name(&node("::1", 11212)), "::1:11212");
        assert_eq!(node_name(&node("/tmp/mc.sock", 0)), "/tmp/mc.sock");
    }

    #[test]
    fn matches_generated_pymemcache_vectors() {
        // tests/tools/gen_pymemcache_vectors.py: HashClient's RendezvousHash, with failover.
        let replay = vectors::replay(Hashing::Pymemcache, include_str!("testdata/pymemcache.txt"));
        assert_eq!((replay.fleets, replay.placed), (7, 7 * 2427));
        assert_eq!(replay.live, 33 * 2427);
    }
}
