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

use crate::error::{Error, Result};
use crate::limits::PoolConfig;
use crate::route::ring::{Hashing, NodeId, Placement, PlacementKey};
use crate::route::server::{Address, ServerSpec};
use std::sync::Arc;

/// Name of the pool unrouted keys go to.
pub const DEFAULT_POOL: &str = "default";

/// One pool as configured.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    pub name: String,
    pub servers: Vec<ServerSpec>,
    pub hashing: Hashing,
    /// Connections per server and the timeouts of requests to them.
    pub connections: PoolConfig,
    /// Clamp every TTL written to this pool.
    pub max_ttl: Option<i64>,
}

/// The whole fleet as configured.
#[derive(Debug, Clone)]
pub struct TopologyConfig {
    /// The first pool is the default one.
    pub pools: Vec<PoolSpec>,
    /// Key prefix -> pool name.
    pub routes: Vec<(Vec<u8>, String)>,
    pub mirror: Option<String>,
    pub gutter: Option<String>,
    pub gutter_ttl: i64,
    pub remap_on_failure: bool,
    /// TTL cap of the copies a remapped server takes for an unreachable one.
    pub remap_ttl: i64,
}

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

/// The identity placement presets see for a server.
fn node_of(spec: &ServerSpec) -> NodeId {
    match &spec.address {
        Address::Tcp { host, port } => NodeId {
            host: host.clone(),
            port: *port,
            weight: spec.weight,
        },
        Address::Unix(path) => NodeId {
            host: path.display().to_string(),
            port: 0,
            weight: spec.weight,
        },
    }
}

impl Topology {
    pub fn new(config: TopologyConfig) -> Result<Self> {
        let invalid = |msg: String| Err(Error::InvalidArgument(msg));
        if config.pools.is_empty() {
            return invalid("at least one server is required".into());
        }
        let mut servers: Vec<ServerEntry> = Vec::new();
        let mut pools = Vec::with_capacity(config.pools.len());
        for (index, spec) in config.pools.into_iter().enumerate() {
            if spec.servers.is_empty() {
                return invalid(format!("pool {:?} has no servers", spec.name));
            }
            if pools.iter().any(|p: &PoolEntry| p.name == spec.name) {
                return invalid(format!("pool {:?} is defined twice", spec.name));
            }
            let mut members = Vec::with_capacity(spec.servers.len());
            for server in &spec.servers {
                let name: Arc<str> = Arc::from(server.name());
                if servers.iter().any(|s| s.name == name) {
                    return invalid(format!("server {name} is listed twice"));
                }
                members.push(servers.len());
                servers.push(ServerEntry {
                    spec: server.clone(),
                    name,
                    pool: index,
                });
            }
            let nodes: Vec<NodeId> = spec.servers.iter().map(node_of).collect();
            pools.push(PoolEntry {
                placement: Placement::new(spec.hashing, &nodes),
                name: spec.name,
                members,
                connections: spec.connections,
                max_ttl: spec.max_ttl,
            });
        }
        let pool_named = |name: &str, role: &str| -> Result<usize> {
            pools
                .iter()
                .position(|p| p.name == name)
                .ok_or_else(|| Error::InvalidArgument(format!("{role} names pool {name:?}, which is not defined")))
        };
        let mut routes = Vec::with_capacity(config.routes.len());
        for (prefix, pool) in &config.routes {
            if prefix.is_empty() {
                return invalid("route prefixes must not be empty".into());
            }
            routes.push((prefix.clone(), pool_named(pool, "a route")?));
        }
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        let mirror = config
            .mirror
            .as_deref()
            .map(|name| pool_named(name, "mirror"))
            .transpose()?;
        let gutter = config
            .gutter
            .as_deref()
            .map(|name| pool_named(name, "gutter"))
            .transpose()?;
        if mirror == Some(0) || gutter == Some(0) {
            return invalid("the default pool cannot be its own mirror or gutter".into());
        }
        if mirror.is_some() && mirror == gutter {
            return invalid("one pool cannot be both mirror and gutter".into());
        }
        if gutter.is_some() && config.gutter_ttl <= 0 {
            return invalid("gutter_ttl must be a positive number of seconds".into());
        }
        if config.remap_on_failure && config.remap_ttl <= 0 {
            return invalid("remap_ttl must be a positive number of seconds".into());
        }
        Ok(Topology {
            servers,
            pools,
            routes,
            mirror,
            gutter,
            gutter_ttl: config.gutter_ttl,
            remap_on_failure: config.remap_on_failure,
            remap_ttl: config.remap_ttl,
        })
    }

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

    /// The server of that name, if this topology has it.
    pub fn server_named(&self, name: &str) -> Option<usize> {
        self.servers.iter().position(|s| &*s.name == name)
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

/// A ketama pool of `servers` with one-second timeouts, for tests.
#[cfg(test)]
pub(crate) fn test_pool(name: &str, servers: &[&str]) -> PoolSpec {
    PoolSpec {
        name: name.into(),
        servers: servers.iter().map(|s| ServerSpec::parse(s).unwrap()).collect(),
        hashing: Hashing::Ketama,
        connections: PoolConfig {
            max_connections: 1,
            timeouts: crate::limits::Timeouts {
                connect: std::time::Duration::from_secs(1),
                read: std::time::Duration::from_secs(1),
                pool: std::time::Duration::from_secs(1),
            },
        },
        max_ttl: None,
    }
}

/// A topology of that one pool (no routes, mirror or gutter), for tests.
#[cfg(test)]
pub(crate) fn single_pool_config(pool: PoolSpec) -> TopologyConfig {
    TopologyConfig {
        pools: vec![pool],
        routes: Vec::new(),
        mirror: None,
        gutter: None,
        gutter_ttl: 10,
        remap_on_failure: false,
        remap_ttl: 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, servers: &[&str]) -> PoolSpec {
        test_pool(name, servers)
    }

    fn key(bytes: &[u8]) -> PlacementKey<'_> {
        PlacementKey { bytes, is_bytes: false }
    }

    fn topology(routes: &[(&str, &str)], mirror: Option<&str>, gutter: Option<&str>) -> Result<Topology> {
        Topology::new(TopologyConfig {
            pools: vec![
                spec("default", &["a:1", "b:1"]),
                spec("sessions", &["s:1"]),
                spec("spare", &["g:1"]),
            ],
            routes: routes
                .iter()
                .map(|(p, n)| (p.as_bytes().to_vec(), n.to_string()))
                .collect(),
            mirror: mirror.map(String::from),
            gutter: gutter.map(String::from),
            gutter_ttl: 10,
            remap_on_failure: false,
            remap_ttl: 10,
        })
    }

    #[test]
    fn distinct_servers_give_each_copy_a_server_of_its_own() {
        let t = Topology::new(single_pool_config(spec("default", &["a:1", "b:1", "c:1"]))).unwrap();
        for i in 0..200 {
            let name = format!("hot{i}");
            let route = key(name.as_bytes());
            let servers = t.distinct_servers(name.as_bytes(), &route, 3);
            assert_eq!(servers[0], t.primary(name.as_bytes(), &route));
            let mut unique = servers.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(unique.len(), 3, "{servers:?}");
            // More copies than servers: one per server, the rest are placed by name.
            assert_eq!(t.distinct_servers(name.as_bytes(), &route, 5).len(), 3);
        }
    }

    fn single_pool(hashing: Hashing, servers: &[&str]) -> Topology {
        let mut pool = spec("default", servers);
        pool.hashing = hashing;
        Topology::new(single_pool_config(pool)).unwrap()
    }

    #[test]
    fn placement_identity_ignores_order_only_where_placement_does() {
        let servers = ["a:1", "b:1", "c:1"];
        let reordered = ["c:1", "a:1", "b:1"];
        for hashing in Hashing::ALL {
            let one = single_pool(hashing, &servers);
            let other = single_pool(hashing, &reordered);
            let same = one.placement_identity() == other.placement_identity();
            let moved = (0..2000).any(|i| {
                let name = format!("key{i}");
                let k = key(name.as_bytes());
                one.server_name(one.primary(name.as_bytes(), &k))
                    != other.server_name(other.primary(name.as_bytes(), &k))
            });
            assert_eq!(same, !moved, "{hashing:?}: same identity must mean same placement");
        }
        assert_ne!(
            single_pool(Hashing::Ketama, &servers).placement_identity(),
            single_pool(Hashing::Ketama, &["a:1", "b:1"]).placement_identity()
        );
        assert_ne!(
            single_pool(Hashing::Ketama, &servers).placement_identity(),
            single_pool(Hashing::Ketama, &["a:1", "b:1 2", "c:1"]).placement_identity()
        );
    }

    #[test]
    fn routes_by_longest_prefix() {
        let t = topology(&[("session:", "sessions"), ("sess", "spare")], None, None).unwrap();
        assert_eq!(t.pool_for(b"session:42"), 1);
        assert_eq!(t.pool_for(b"sessx"), 2);
        assert_eq!(t.pool_for(b"user:1"), 0);
        assert_eq!(
            t.server_name(t.primary(b"session:42", &key(b"session:42"))).as_ref(),
            "s:1"
        );
    }

    #[test]
    fn falls_back_to_mirror_for_reads_and_gutter_for_writes() {
        let t = topology(&[], Some("sessions"), Some("spare")).unwrap();
        let k = key(b"user:1");
        let primary = t.primary(b"user:1", &k);
        let none_down = |_: usize| false;
        let mirror = Fallback {
            server: 2,
            kind: FallbackKind::Mirror,
        };
        let gutter = Fallback {
            server: 3,
            kind: FallbackKind::Gutter,
        };
        assert_eq!(t.fallback(primary, &k, true, &none_down), Some(mirror));
        assert_eq!(t.fallback(primary, &k, false, &none_down), Some(gutter));
        assert_eq!((t.ttl_cap(mirror), t.ttl_cap(gutter)), (None, Some(10)));
        assert_eq!(t.stand_ins(primary, &k), vec![3], "the mirror is no stand-in");
        assert_eq!(t.mirror_for(primary, &k), Some(2));
    }

    #[test]
    fn refuses_inconsistent_configuration() {
        assert!(topology(&[("x", "nowhere")], None, None).is_err());
        assert!(topology(&[("", "sessions")], None, None).is_err());
        assert!(topology(&[], Some("spare"), Some("spare")).is_err());
        assert!(topology(&[], Some("default"), None).is_err());
    }

    #[test]
    fn clamps_ttls_like_memcached_reads_them() {
        let now = 2_000_000_000;
        assert_eq!(clamp_ttl(0, 10, now), 10);
        assert_eq!(clamp_ttl(5, 10, now), 5);
        assert_eq!(clamp_ttl(500, 10, now), 10);
        assert_eq!(clamp_ttl(-1, 10, now), -1);
        assert_eq!(clamp_ttl(now + 5, 10, now), 5);
        assert_eq!(clamp_ttl(now + 500, 10, now), 10);
        assert_eq!(clamp_ttl(now - 5, 10, now), now - 5);
    }
}
