//! libmemcached's `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` continuum (pylibmc
//! `behaviors={"ketama_weighted": True}`, twemproxy `hash: md5`, classic libketama): preset
//! `ketama`.
//!
//! Each server gets `floor(weight / total * 40 * n) * 4` points (single-precision arithmetic, as
//! libmemcached computes it; 160 with equal weights). Point group k of a server is the MD5 of
//! `"{host}-{k}"` (`"{host}:{port}-{k}"` when the port is not 11211; a unix socket is its path
//! with port 0, so `"{path}:0-{k}"`), read as four little-endian u32s. A key hashes to the first
//! four MD5 bytes of the key, little-endian, and belongs to the first point at or after that
//! value, wrapping to the first point.
//!
//! Failover: the first point clockwise owned by a live server. libmemcached (with `auto_eject`;
//! without it a dead server's keys just fail) rebuilds the continuum without the dead servers,
//! which is the same thing when weights are equal (every live server keeps its 160 points; checked
//! against libmemcached in testdata/ketama.txt). With unequal weights the rebuild rescales the live
//! servers' point counts, so some keys of live servers move too (3-9% of all keys with one or two
//! of five servers weighted 1,2,3,1,5 down, as tests/tools/gen_libmemcached_vectors.py prints);
//! here they stay.

use super::continuum::Continuum;
use super::NodeId;
use crate::route::server::DEFAULT_PORT;
use md5::{Digest, Md5};

const POINTS_PER_SERVER: f32 = 160.0;

/// A weighted ketama continuum.
#[derive(Debug, Clone)]
pub struct Ketama {
    ring: Continuum<u32>,
    servers: usize,
}

/// MD5 of `data` as four little-endian u32s.
fn md5_words(data: &[u8]) -> [u32; 4] {
    let digest = Md5::digest(data);
    std::array::from_fn(|i| {
        u32::from_le_bytes([digest[i * 4], digest[i * 4 + 1], digest[i * 4 + 2], digest[i * 4 + 3]])
    })
}

/// The key hash ketama uses: the first MD5 word.
pub fn key_hash(key: &[u8]) -> u32 {
    md5_words(key)[0]
}

/// libmemcached's name for point group `k` of a server (shared by both of its ketama modes).
pub(crate) fn point_name(node: &NodeId, k: u32) -> String {
    if node.port == DEFAULT_PORT {
        format!("{}-{k}", node.host)
    } else {
        format!("{}:{}-{k}", node.host, node.port)
    }
}

/// The weighted MD5 continuum (libmemcached's `update_continuum` with the weighted flag set).
pub(crate) fn weighted_continuum(nodes: &[NodeId]) -> Continuum<u32> {
    let total: u64 = nodes.iter().map(|n| u64::from(n.weight)).sum();
    let live = nodes.len() as f32;
    let mut points = Vec::with_capacity(nodes.len() * 160);
    for (index, node) in nodes.iter().enumerate() {
        let pct = node.weight as f32 / total as f32;
        // Same float expression as libmemcached's update_continuum.
        let per_server = ((pct * POINTS_PER_SERVER / 4.0 * live + 0.000_000_000_1_f32).floor() as u32) * 4;
        for group in 0..per_server / 4 {
            for word in md5_words(point_name(node, group).as_bytes()) {
                points.push((word, index as u32));
            }
        }
    }
    Continuum::new(points)
}

impl Ketama {
    pub fn new(nodes: &[NodeId]) -> Self {
        Ketama {
            ring: weighted_continuum(nodes),
            servers: nodes.len(),
        }
    }

    /// Index of the server that owns `key`.
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.servers <= 1 {
            return 0;
        }
        self.server_for_hash(key_hash(key))
    }

    /// The first live server clockwise from `key`'s point; `None` if none is live.
    pub fn server_for_live(&self, key: &[u8], down: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.ring.live_owner_from(self.ring.at_or_after(key_hash(key)), down)
    }

    /// Index of the server that owns a key hash.
    pub fn server_for_hash(&self, hash: u32) -> usize {
        self.ring.owner(self.ring.at_or_after(hash))
    }

    /// The point a key hash lands on (for tests and diagnostics).
    pub fn point_for_hash(&self, hash: u32) -> u32 {
        self.ring.point(self.ring.at_or_after(hash))
    }

    pub fn point_count(&self) -> usize {
        self.ring.len()
    }

    /// Whether two servers share a point (see [`Continuum::has_shared_points`]).
    pub fn has_shared_points(&self) -> bool {
        self.ring.has_shared_points()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors;
    use crate::route::ring::Hashing;

    /// The weighted fleet of libmemcached's ketama test fixture (all on port 11211).
    fn fixture_fleet() -> Vec<NodeId> {
        [
            ("10.0.1.1", 600),
            ("10.0.1.2", 300),
            ("10.0.1.3", 200),
            ("10.0.1.4", 350),
            ("10.0.1.5", 1000),
            ("10.0.1.6", 800),
            ("10.0.1.7", 950),
            ("10.0.1.8", 100),
        ]
        .into_iter()
        .map(|(host, weight)| NodeId {
            host: host.into(),
            port: 11211,
            weight,
        })
        .collect()
    }

    #[test]
    fn matches_the_libmemcached_fixture_examples() {
        // Cases quoted in shared/research/protocol.md §3.1: key, key hash, point, server.
        let ring = Ketama::new(&fixture_fleet());
        let hosts: Vec<String> = fixture_fleet().into_iter().map(|n| n.host).collect();
        for (key, hash, point, server) in [
            ("SVa_]_V41)", 443_691_461u32, Some(445_379_617u32), "10.0.1.7"),
            ("*/Z;?V(.\\8", 1_422_915_503, None, "10.0.1.1"),
        ] {
            assert_eq!(key_hash(key.as_bytes()), hash, "{key}");
            if let Some(point) = point {
                assert_eq!(ring.point_for_hash(hash), point, "{key}");
            }
            assert_eq!(hosts[ring.server_for(key.as_bytes())], server, "{key}");
        }
        // A hash above the last point wraps around to the first one.
        assert_eq!(key_hash(b"VDEAAAAA"), 0xfffc_d1b5);
        assert_eq!(ring.point_for_hash(u32::MAX), ring.point_for_hash(0));
    }

    #[test]
    fn equal_weights_give_160_points_each() {
        let nodes: Vec<NodeId> = (0..3)
            .map(|i| NodeId {
                host: format!("10.0.0.{i}"),
                port: 11211,
                weight: 1,
            })
            .collect();
        assert_eq!(Ketama::new(&nodes).point_count(), 480);
    }

    #[test]
    fn matches_libmemcached_for_local_servers() {
        // protocol.md §3.1 table, KETAMA_WEIGHTED column (127.0.0.1:11211, 127.0.0.1:11212,
        // 10.0.0.5:11211, weight 1): exercises the ":port" naming of non-default ports.
        let nodes = vec![
            NodeId {
                host: "127.0.0.1".into(),
                port: 11211,
                weight: 1,
            },
            NodeId {
                host: "127.0.0.1".into(),
                port: 11212,
                weight: 1,
            },
            NodeId {
                host: "10.0.0.5".into(),
                port: 11211,
                weight: 1,
            },
        ];
        let ring = Ketama::new(&nodes);
        for (key, hash, server) in [
            ("foo", 3_675_831_724u32, 0),
            ("bar", 421_377_335, 1),
            ("user:1", 282_964_413, 0),
            ("session:abc", 226_189_362, 0),
        ] {
            assert_eq!(key_hash(key.as_bytes()), hash, "{key}");
            assert_eq!(ring.server_for(key.as_bytes()), server, "{key}");
        }
    }

    #[test]
    fn matches_generated_libmemcached_vectors() {
        // 900 keys over three fleets, placed by libmemcached itself
        // (tests/tools/gen_ketama_vectors.py): default and other ports, hostnames, weights.
        let data = include_str!("testdata/ketama_libmemcached.txt");
        let mut ring = None;
        let mut checked = 0;
        for line in data.lines().filter(|l| !l.starts_with("# ")) {
            if let Some(fleet) = line.strip_prefix("fleet ") {
                let (_name, specs) = fleet.split_once(' ').unwrap();
                let nodes = vectors::parse_fleet(specs);
                ring = Some(Ketama::new(&nodes));
                continue;
            }
            let (key, server) = line.split_once('\t').unwrap();
            let expected: usize = server.parse().unwrap();
            assert_eq!(ring.as_ref().unwrap().server_for(key.as_bytes()), expected, "{key}");
            checked += 1;
        }
        assert_eq!(checked, 900);
    }

    #[test]
    fn matches_generated_placement_vectors() {
        // tests/tools/gen_libmemcached_vectors.py: the shared key set (bytes, non-ASCII, long
        // keys) on IPv6 and unix socket fleets too, and libmemcached's auto_eject failover.
        let replay = vectors::replay(Hashing::Ketama, include_str!("testdata/ketama.txt"));
        assert_eq!((replay.fleets, replay.placed, replay.live), (8, 8 * 2427, 4 * 2427));
    }

    #[test]
    fn failover_takes_the_next_live_point() {
        vectors::check_ring_failover(Hashing::Ketama);
    }

    #[test]
    fn one_server_takes_everything() {
        let ring = Ketama::new(&[NodeId {
            host: "a".into(),
            port: 1,
            weight: 5,
        }]);
        assert_eq!(ring.server_for(b"anything"), 0);
    }
}
