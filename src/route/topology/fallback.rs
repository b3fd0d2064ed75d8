//! Where else a key's requests go: the mirror copy of a write, the fallback of a request whose
//! server is unreachable, the stand-ins that may hold copies of a primary's keys, and the TTL
//! caps of what those servers are sent. Separate from the lookup of a key's own server because
//! these are the failure rules the dispatcher and the ledger rely on.

use super::Topology;
use crate::route::ring::PlacementKey;

/// Where a request goes when its server is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback {
    pub server: usize,
    pub kind: FallbackKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallbackKind {
    /// The next live server of the pool (`remap_on_failure`).
    Remap,
    /// The mirror pool's server for the key (reads only).
    Mirror,
    /// The gutter pool's server for the key.
    Gutter,
}

impl Topology {
    /// The mirror copy of a key of the default pool, if there is a mirror.
    pub fn mirror_for(&self, primary: usize, route: &PlacementKey<'_>) -> Option<usize> {
        let mirror = self.mirror?;
        (self.servers[primary].pool == 0).then(|| self.server_in(mirror, route))
    }

    /// Where a request goes when `primary` is unreachable. `down` says which servers are
    /// marked down (for `remap_on_failure`).
    pub fn fallback(
        &self,
        primary: usize,
        route: &PlacementKey<'_>,
        is_read: bool,
        down: &dyn Fn(usize) -> bool,
    ) -> Option<Fallback> {
        let pool_index = self.servers[primary].pool;
        let pool = &self.pools[pool_index];
        if self.remap_on_failure && pool.members.len() > 1 {
            let members = &pool.members;
            let unavailable = |i: usize| members[i] == primary || down(members[i]);
            if let Some(i) = pool.placement.server_for_live(route, &unavailable) {
                let server = members[i];
                return Some(Fallback {
                    server,
                    kind: FallbackKind::Remap,
                });
            }
        }
        if is_read {
            if let Some(server) = self.mirror_for(primary, route) {
                return Some(Fallback {
                    server,
                    kind: FallbackKind::Mirror,
                });
            }
        }
        let gutter = self.gutter.filter(|g| *g != pool_index)?;
        let server = self.server_in(gutter, route);
        Some(Fallback {
            server,
            kind: FallbackKind::Gutter,
        })
    }

    /// The TTL cap of what a fallback server is sent: its pool's `max_ttl`, and for a stand-in
    /// its `gutter_ttl` / `remap_ttl`, whichever is smaller.
    pub fn ttl_cap(&self, fallback: Fallback) -> Option<i64> {
        let pool_cap = self.pool_of_server(fallback.server).max_ttl;
        let stand_in_cap = match fallback.kind {
            FallbackKind::Remap => Some(self.remap_ttl),
            FallbackKind::Gutter => Some(self.gutter_ttl),
            FallbackKind::Mirror => None,
        };
        match (pool_cap, stand_in_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every server that may stand in for `primary` for this key, whatever else is down: its
    /// gutter server, and under `remap_on_failure` each other server of the pool in the order
    /// the placement fails over to them.
    pub fn stand_ins(&self, primary: usize, route: &PlacementKey<'_>) -> Vec<usize> {
        let pool_index = self.servers[primary].pool;
        let pool = &self.pools[pool_index];
        let mut found = Vec::new();
        if self.remap_on_failure && pool.members.len() > 1 {
            let members = &pool.members;
            loop {
                let taken = |i: usize| members[i] == primary || found.contains(&members[i]);
                match pool.placement.server_for_live(route, &taken) {
                    Some(i) if !taken(i) => found.push(members[i]),
                    _ => break,
                }
            }
        }
        if let Some(gutter) = self.gutter.filter(|g| *g != pool_index) {
            found.push(self.server_in(gutter, route));
        }
        found
    }
}

/// Memcached's threshold between relative TTLs and absolute Unix times.
const THIRTY_DAYS: i64 = 30 * 24 * 3600;

/// Clamp a TTL to at most `cap` seconds from now, following memcached's rules: 0 (never expires)
/// becomes `cap`, an absolute time is compared as time remaining, and negative (expire now)
/// stays as it is.
pub fn clamp_ttl(ttl: i64, cap: i64, now_unix: i64) -> i64 {
    match ttl {
        t if t < 0 => t,
        0 => cap,
        t if t > THIRTY_DAYS => {
            let remaining = t - now_unix;
            if remaining <= 0 {
                t
            } else {
                remaining.min(cap)
            }
        }
        t => t.min(cap),
    }
}
