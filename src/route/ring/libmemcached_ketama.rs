//! libmemcached's `MEMCACHED_BEHAVIOR_KETAMA` (distribution `CONSISTENT_KETAMA`), as pylibmc
//! `behaviors={"ketama": True}` sets it up: preset `libmemcached_ketama`.
//!
//! Since libmemcached 0.4x this behavior does not switch the hash to MD5 (the docs still say it
//! does): the key hash stays one-at-a-time ([`one_at_a_time`], signed-char reading). Two rings:
//!
//! - All weights <= 1 (the usual case): 100 points per server, point k being
//!   `one_at_a_time("{host}-{k}")` (`"{host}:{port}-{k}"` when the port is not 11211; a unix
//!   socket is its path with port 0, so `"{path}:0-{k}"`), k = 0..99. Weights are not read.
//! - Any weight > 1: libmemcached's `server_add` turns the weighted flag on when a server with
//!   weight > 1 joins a consistent distribution (pylibmc sets behaviors before adding servers,
//!   so it always does), and the ring becomes the weighted MD5 continuum of
//!   [`super::ketama`]; keys are still hashed with one-at-a-time.
//!
//! A key belongs to the first point at or after its hash, wrapping to the first point; ties on
//! a point go to the lower server index. Verified against libmemcached 1.0.16 (pylibmc's wheel)
//! on every fleet of src/route/ring/testdata/libmemcached_ketama.txt, weighted ones included.
//!
//! Failover: the first point clockwise owned by a live server. That is exactly libmemcached's
//! `auto_eject` rebuild for the 100-point ring (a server's points do not depend on the others);
//! for the weighted ring see [`super::ketama`].

use super::continuum::Continuum;
use super::ketama::{point_name, weighted_continuum};
use super::modula::one_at_a_time;
use super::NodeId;

/// `MEMCACHED_POINTS_PER_SERVER`.
const POINTS_PER_SERVER: u32 = 100;

#[derive(Debug, Clone)]
pub struct LibmemcachedKetama {
    ring: Continuum<u32>,
}

impl LibmemcachedKetama {
    pub fn new(nodes: &[NodeId]) -> Self {
        if nodes.iter().any(|node| node.weight > 1) {
            return LibmemcachedKetama {
                ring: weighted_continuum(nodes),
            };
        }
        let mut points = Vec::with_capacity(nodes.len() * POINTS_PER_SERVER as usize);
        for (index, node) in nodes.iter().enumerate() {
            for k in 0..POINTS_PER_SERVER {
                points.push((one_at_a_time(point_name(node, k).as_bytes()), index as u32));
            }
        }
        LibmemcachedKetama {
            ring: Continuum::new(points),
        }
    }

    /// Whether two servers share a point (see [`Continuum::has_shared_points`]).
    pub fn has_shared_points(&self) -> bool {
        self.ring.has_shared_points()
    }

    /// Index of the server that owns `key`.
    pub fn server_for(&self, key: &[u8]) -> usize {
        self.ring.owner(self.ring.at_or_after(one_at_a_time(key)))
    }

    /// The first live server clockwise from `key`'s point; `None` if none is live.
    pub fn server_for_live(&self, key: &[u8], down: &dyn Fn(usize) -> bool) -> Option<usize> {
        self.ring
            .live_owner_from(self.ring.at_or_after(one_at_a_time(key)), down)
    }

    pub fn point_count(&self) -> usize {
        self.ring.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ring::vectors::{self, node};
    use crate::route::ring::Hashing;

    #[test]
    fn matches_the_protocol_notes_table() {
        // protocol.md §3.1, KETAMA(OAAT) column: libmemcached 1.0.18, weight 1.
        let ring = LibmemcachedKetama::new(&[
            node("127.0.0.1", 11211, 1),
            node("127.0.0.1", 11212, 1),
            node("10.0.0.5", 11211, 1),
        ]);
        assert_eq!(ring.point_count(), 300);
        for (key, server) in [("foo", 1), ("bar", 0), ("user:1", 0), ("session:abc", 0)] {
            assert_eq!(ring.server_for(key.as_bytes()), server, "{key}");
        }
    }

    #[test]
    fn a_weight_above_one_switches_to_the_weighted_md5_ring() {
        let ring = LibmemcachedKetama::new(&[node("a", 11211, 1), node("b", 11211, 2)]);
        assert_eq!(
            ring.point_count(),
            weighted_continuum(&[node("a", 11211, 1), node("b", 11211, 2)]).len()
        );
        assert_ne!(ring.point_count(), 200);
    }

    #[test]
    fn matches_generated_libmemcached_vectors() {
        // tests/tools/gen_libmemcached_vectors.py: pylibmc's libmemcached, behaviors={"ketama": True},
        // and its auto_eject failover.
        let replay = vectors::replay(
            Hashing::LibmemcachedKetama,
            include_str!("testdata/libmemcached_ketama.txt"),
        );
        assert_eq!((replay.fleets, replay.placed, replay.live), (8, 8 * 2427, 4 * 2427));
    }

    #[test]
    fn failover_takes_the_next_live_point() {
        vectors::check_ring_failover(Hashing::LibmemcachedKetama);
    }
}
