//! The ring of RevenueCat's meta-memcache (`HashRingConnectionPoolProvider`): uhashring's
//! `HashRing` with its defaults (uhashring >= 1.0 "meta" ring, not its ketama mode): preset
//! `uhashring`.
//!
//! meta-memcache names each node `str(ServerAddress)`: `"{host}:{port}"`, or `"[{host}]:{port}"`
//! when the host contains a `:` (IPv6). A unix socket, which meta-memcache cannot connect to, is
//! named as `ServerAddress(path, 0)` would be: `"{path}:0"`. A node gets `160 * weight` points
//! (meta-memcache exposes no weights, so 160; weights follow uhashring's
//! `HashRing({name: {"weight": w}})`), point w being `md5(f"{name}-{w}")` read as a 128-bit
//! big-endian integer (Python's `int(hexdigest, 16)`). A key hashes the same way over the UTF-8
//! of `str(key)` ([`python_str`]: a `bytes` key is its repr `b'...'`), and belongs to the first
//! point strictly greater than its hash (`bisect`), wrapping to the first point. The order of the
//! servers does not matter (meta-memcache sorts them; 128-bit points do not collide). Verified
//! against meta-memcache 4.3.0 / uhashring 2.5 on every fleet of src/route/ring/testdata/uhashring.txt.
//!
//! Failover: the first point clockwise owned by a live server, which is uhashring's own
//! `remove_node` (and the order of its `iterate_nodes`); meta-memcache itself does not reroute.

use super::continuum::Continuum;
use super::pystr::python_str;
use super::{NodeId, PlacementKey};
use md5::{Digest, Md5};

/// uhashring's default `vnodes`.
const VNODES: u32 = 160;

fn md5_u128(data: &[u8]) -> u128 {
    u128::from_be_bytes(Md5::digest(data).into())
}

/// meta-memcache's `str(ServerAddress(host, port))`.
pub fn node_name(node: &NodeId) -> String {
    if node.host.contains(':') {
        format!("[{}]:{}", node.host, node.port)
    } else {
        format!("{}:{}", node.host, node.port)
    }
}

#[derive(Debug, Clone)]
pub struct Uhashring {
    ring: Continuum<u128>,
}

impl Uhashring {
    pub fn new(nodes: &[NodeId]) -> Self {
        let mut points = Vec::new();
        for (index, node) in nodes.iter().enumerate() {
            let name = node_name(node);
            for w in 0..VNODES.saturating_mul(node.weight) {
                points.push((md5_u128(format!("{name}-{w}").as_bytes()), index as u32));
            }
        }
        Uhashring {
            ring: Continuum::new(points),
        }
    }

    fn position(&self, key: &PlacementKey<'_>) -> usize {
        self.ring.after(md5_u128(python_str(key).as_bytes()))
    }

    /// Whether two servers share a point (see [`Continuum::has_shared_points`]).
    pub fn has_shared_points(&self) -> bool {
        self.ring.has_shared_points()
    }

    /// Index of the server that owns `key` (0 on an empty ring).
    pub fn server_for(&self, key: &PlacementKey<'_>) -> usize {
        self.ring.owner(self.position(key))
    }

    /// The first live server clockwise from `key`'s point; `None` if none is live.
    pub fn server_for_live(&self, key: &PlacementKey<'_>, down: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.ring.live_owner_from(self.position(key), down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors::{self, node};
    use crate::route::ring::Hashing;

    #[test]
    fn names_nodes_like_server_address() {
        assert_eq!(node_name(&node("10.0.0.1", 11211, 1)), "10.0.0.1:11211");
        assert_eq!(node_name(&node("::1", 11211, 1)), "[::1]:11211");
    }

    #[test]
    fn hashes_like_python_int_of_hexdigest() {
        // int(md5(b"foo").hexdigest(), 16)
        assert_eq!(md5_u128(b"foo"), 0xacbd18db4cc2f85cedef654fccc4a4d8);
    }

    #[test]
    fn weight_multiplies_points() {
        let ring = Uhashring::new(&[node("a", 1, 1), node("b", 1, 3)]);
        assert_eq!(ring.ring.len(), 4 * 160);
    }

    #[test]
    fn failover_takes_the_next_live_point() {
        vectors::check_ring_failover(Hashing::Uhashring);
    }

    #[test]
    fn matches_generated_uhashring_vectors() {
        // tests/tools/gen_uhashring_vectors.py: meta-memcache's provider / uhashring, with failover.
        let replay = vectors::replay(Hashing::Uhashring, include_str!("testdata/uhashring.txt"));
        assert_eq!((replay.fleets, replay.placed), (7, 7 * 2427));
        assert_eq!(replay.live, 33 * 2427);
    }
}
