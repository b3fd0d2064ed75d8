//! The fleet as configured ([`TopologyConfig`]: pools, routes, mirror, gutter, stand-in TTLs)
//! and the checks that turn it into a [`Topology`]. Building is separate from lookup: it runs
//! once per client, and every rule about what makes a configuration inconsistent is here.

use super::{PoolEntry, ServerEntry, Topology};
use crate::error::{Error, Result};
use crate::limits::PoolConfig;
use crate::route::ring::{Hashing, NodeId, Placement};
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
            security: Default::default(),
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
