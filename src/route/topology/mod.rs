//! The fleet as configured: named pools of servers, which pool a key belongs to, which server
//! of that pool holds it, and where a request goes when that server is unreachable. No I/O.
//!
//! - The first pool is the default. `routes` send keys by prefix (longest prefix wins) to
//!   dedicated pools, each with its own placement preset, timeouts and connection limits.
//! - A **mirror** pool shadows the default pool: writes and deletes go to both, reads go to the
//!   default pool and fail over to the mirror.
//! - A **gutter** pool takes over the keys of an unreachable server (of any pool) with every TTL
//!   capped at `gutter_ttl`, so the data it serves ages out quickly (Facebook's gutter).
//! - A pool's `max_ttl` clamps every TTL written to it (an ephemeral pool).
//! - With `remap_on_failure`, an unreachable server's keys move to the next live server of the
//!   same pool (the placement preset's own failover) instead, every TTL capped at `remap_ttl`.
//!
//! Gutter and remapped servers are *stand-ins*: they hold copies of a primary's keys only while
//! it is unreachable, and only for their capped TTL (see `ledger` for how later writes clear
//! them). The mirror is not: it takes every write.
//!
//! Servers are numbered across all pools; every other part of the client speaks those numbers.
//!
//! - `config`: the configuration types and building a topology from them (all validation).
//! - this module: the built topology and the lookup of a key's pool and server.
//! - `fallback`: mirror copies, fallbacks, stand-ins and TTL caps.

mod config;
mod fallback;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) use config::{single_pool_config, test_pool};
pub use config::{PoolSpec, TopologyConfig, DEFAULT_POOL};
pub use fallback::{clamp_ttl, Fallback, FallbackKind};

use crate::limits::PoolConfig;
use crate::route::ring::{Placement, PlacementKey};
use crate::route::server::ServerSpec;
use std::sync::Arc;

/// One server, numbered across all pools.
#[derive(Debug)]
pub struct ServerEntry {
    pub spec: ServerSpec,
    pub name: Arc<str>,
    pub pool: usize,
}

#[derive(Debug)]
pub struct PoolEntry {
    pub name: String,
    /// Global numbers of this pool's servers, in configuration order.
    pub members: Vec<usize>,
    placement: Placement,
    pub connections: PoolConfig,
    pub max_ttl: Option<i64>,
}

#[derive(Debug)]
pub struct Topology {
    servers: Vec<ServerEntry>,
    pools: Vec<PoolEntry>,
    /// (prefix, pool), longest prefix first.
    routes: Vec<(Vec<u8>, usize)>,
    mirror: Option<usize>,
    gutter: Option<usize>,
    gutter_ttl: i64,
    remap_on_failure: bool,
    remap_ttl: i64,
}

impl Topology {
    pub fn servers(&self) -> &[ServerEntry] {
        &self.servers
    }

    pub fn server_count(&self) -> usize {
        self.servers.len()
    }

    pub fn server_name(&self, server: usize) -> &Arc<str> {
        &self.servers[server].name
    }

    /// The pool a server belongs to.
    pub fn pool_of_server(&self, server: usize) -> &PoolEntry {
        &self.pools[self.servers[server].pool]
    }

    pub fn pools(&self) -> &[PoolEntry] {
        &self.pools
    }

    /// What decides which servers a key's requests go to, written canonically: clients whose
    /// identities are equal send every key to the same servers. A pool's servers are listed
    /// sorted when its placement does not depend on their order (so two clients given the same
    /// ketama servers in another order are the same), in configuration order otherwise. Pools
    /// other than the default one are known by name, so they are sorted too, like the routes.
    /// Timeouts and connection limits decide nothing about placement and are left out.
    pub fn placement_identity(&self) -> String {
        let mut others: Vec<&PoolEntry> = self.pools.iter().skip(1).collect();
        others.sort_by(|a, b| a.name.cmp(&b.name));
        let mut identity = String::new();
        for pool in std::iter::once(&self.pools[0]).chain(others) {
            let mut members: Vec<String> = pool
                .members
                .iter()
                .map(|&s| format!("{}*{}", self.servers[s].name, self.servers[s].spec.weight))
                .collect();
            let ordered = !pool.placement.order_independent();
            if !ordered {
                members.sort();
            }
            let order = if ordered { "ordered" } else { "sorted" };
            let hashing = pool.placement.hashing().name();
            identity += &format!("pool {:?} {hashing} {order} [{}]; ", pool.name, members.join(" "));
        }
        let mut routes: Vec<String> = self
            .routes
            .iter()
            .map(|(prefix, pool)| format!("\"{}\"->{:?}", prefix.escape_ascii(), self.pools[*pool].name))
            .collect();
        routes.sort();
        let pool_name = |pool: Option<usize>| pool.map(|p| self.pools[p].name.clone());
        identity += &format!(
            "routes [{}]; mirror {:?}; gutter {:?}; remap_on_failure {}",
            routes.join(" "),
            pool_name(self.mirror),
            pool_name(self.gutter),
            self.remap_on_failure
        );
        identity
    }

    /// The pool a key is routed to (by the prefix of the stored key).
    pub fn pool_for(&self, key: &[u8]) -> usize {
        self.routes
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix))
            .map_or(0, |(_, pool)| *pool)
    }

    /// The server of `pool` that holds a key.
    pub fn server_in(&self, pool: usize, key: &PlacementKey<'_>) -> usize {
        let pool = &self.pools[pool];
        let index = if pool.members.len() == 1 {
            0
        } else {
            pool.placement.server_for(key)
        };
        pool.members[index]
    }

    /// Up to `n` different servers of the key's pool, the first being its own, then each next
    /// one as the pool's placement would fail over to it (where split copies of a hot key go).
    /// Fewer when the pool has fewer servers (or its failover gives up).
    pub fn distinct_servers(&self, stored: &[u8], route: &PlacementKey<'_>, n: usize) -> Vec<usize> {
        let pool = &self.pools[self.pool_for(stored)];
        let first = if pool.members.len() == 1 {
            0
        } else {
            pool.placement.server_for(route)
        };
        let mut chosen = vec![first];
        while chosen.len() < n.min(pool.members.len()) {
            match pool.placement.server_for_live(route, &|i| chosen.contains(&i)) {
                Some(next) if !chosen.contains(&next) => chosen.push(next),
                _ => break,
            }
        }
        chosen.into_iter().map(|i| pool.members[i]).collect()
    }

    /// Where a key lives: its pool's server for it.
    pub fn primary(&self, stored: &[u8], route: &PlacementKey<'_>) -> usize {
        self.server_in(self.pool_for(stored), route)
    }

    /// The server of that name, if this topology has it.
    pub fn server_named(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| &*s.name == name)
    }
}
