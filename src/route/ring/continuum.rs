//! The ring shared by the consistent-hashing presets (ketama, libmemcached_ketama, uhashring):
//! points sorted by value, each owned by a server; a key belongs to the owner of the first point
//! at (or after, depending on the client) its hash, wrapping around to the first point.
//!
//! Failover walks on from that point to the first point owned by a live server, which is where a
//! key lands when its server's points are taken off the ring: keys of live servers never move.

/// Sorted `(point, server index)` pairs.
#[derive(Debug, Clone)]
pub struct Continuum<P> {
    points: Vec<(P, u32)>,
}

impl<P: Ord + Copy> Continuum<P> {
    /// Sorts by point, then server index. libmemcached's qsort compares values only, so its order
    /// of equal points is the C library's business; a stable sort (glibc's merge sort) keeps them
    /// in insertion order, which is server order. With 32-bit points over a few thousand of them,
    /// ties are rare anyway.
    pub fn new(mut points: Vec<(P, u32)>) -> Self {
        points.sort_unstable();
        Continuum { points }
    }

    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether two servers own the same point. Only then does the order of the servers matter:
    /// the tie goes to the lower index.
    pub fn has_shared_points(&self) -> bool {
        self.points
            .windows(2)
            .any(|pair| pair[0].0 == pair[1].0 && pair[0].1 != pair[1].1)
    }

    /// Position of the first point `>= hash`, wrapping to 0 (libmemcached, libketama).
    pub fn at_or_after(&self, hash: P) -> usize {
        self.wrap(self.points.partition_point(|(point, _)| *point < hash))
    }

    /// Position of the first point `> hash`, wrapping to 0 (Python's `bisect`, as uhashring).
    pub fn after(&self, hash: P) -> usize {
        self.wrap(self.points.partition_point(|(point, _)| *point <= hash))
    }

    fn wrap(&self, at: usize) -> usize {
        if at == self.points.len() {
            0
        } else {
            at
        }
    }

    /// The point at a position (from [`Self::at_or_after`] / [`Self::after`]).
    pub fn point(&self, at: usize) -> P {
        self.points[at].0
    }

    /// The server owning the point at a position; 0 on an empty ring.
    pub fn owner(&self, at: usize) -> usize {
        self.points.get(at).map_or(0, |(_, server)| *server as usize)
    }

    /// The owner of the first point from position `at` on, wrapping around once, whose server
    /// is not down; `None` when every server on the ring is down (or the ring is empty).
    pub fn live_owner_from(&self, at: usize, down: &dyn Fn(usize) -> bool) -> Option<usize> {
        let (before, from) = self.points.split_at(at.min(self.points.len()));
        // Consecutive points often share an owner: ask about each server once per run.
        let mut last_dead = None;
        for (_, server) in from.iter().chain(before) {
            let server = *server as usize;
            if last_dead == Some(server) {
                continue;
            }
            if !down(server) {
                return Some(server);
            }
            last_dead = Some(server);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Continuum<u32> {
        Continuum::new(vec![(30, 2), (10, 0), (20, 1), (20, 0)])
    }

    #[test]
    fn sorts_by_point_then_server() {
        let ring = ring();
        assert_eq!(ring.len(), 4);
        assert_eq!((ring.point(1), ring.owner(1)), (20, 0));
        assert_eq!((ring.point(2), ring.owner(2)), (20, 1));
        assert!(ring.has_shared_points());
        assert!(!Continuum::new(vec![(10, 0), (20, 1), (20, 1)]).has_shared_points());
    }

    #[test]
    fn inclusive_and_exclusive_lookups_wrap() {
        let ring = ring();
        assert_eq!(ring.at_or_after(20), 1);
        assert_eq!(ring.after(20), 3);
        assert_eq!(ring.at_or_after(31), 0);
        assert_eq!(ring.after(30), 0);
        assert_eq!(ring.at_or_after(0), 0);
    }

    #[test]
    fn failover_walks_clockwise_to_a_live_owner() {
        let ring = ring();
        assert_eq!(ring.live_owner_from(3, &|s| s == 2), Some(0));
        assert_eq!(ring.live_owner_from(1, &|s| s == 0), Some(1));
        assert_eq!(ring.live_owner_from(2, &|s| s != 0), Some(0));
        assert_eq!(ring.live_owner_from(0, &|_| true), None);
        assert_eq!(Continuum::<u32>::new(Vec::new()).live_owner_from(0, &|_| false), None);
    }
}
