//! The connections to every server of the [`Topology`]: per server a blocking pool, a
//! combiner, health, and (created on first async use) a multiplexed pool. Exchanges encoded
//! batches; knows nothing of what the requests mean.

mod admission;
mod blocking;

pub use admission::Admitted;

use crate::blocking::combine::Combiner;
use crate::blocking::pool::Pool;
use crate::error::{Error, Result};
use crate::fork;
use crate::limits::PoolConfig;
use crate::mux::MuxPool;
use crate::protocol::reply::Expect;
use crate::route::health::{HealthEvent, HealthPolicy, ServerHealth};
use crate::route::ledger::{self, Ledger};
use crate::route::ring::PlacementKey;
use crate::route::server::Address;
use crate::route::topology::{Topology, TopologyConfig};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Everything that shapes a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub topology: TopologyConfig,
    /// When a failing server is marked down, and for how long.
    pub health: HealthPolicy,
}

/// One server's share of an exchange: encoded requests and what ends their replies.
#[derive(Debug)]
pub struct Batch {
    pub server: usize,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

/// Larger batches (big values) go straight to their own connection rather than make a round of
/// small requests wait behind them.
const COMBINE_AT_MOST: usize = 16 * 1024;

/// The connections of one process. Replaced wholesale after a fork.
struct Pools {
    generation: u64,
    blocking: Vec<Arc<Pool>>,
    combiners: Vec<Combiner>,
    health: Vec<ServerHealth>,
    /// Mark-downs and rejoins not yet handed to the event hook.
    events: parking_lot::Mutex<Vec<HealthEvent>>,
    /// Whether `events` may hold any: every call looks, and almost never finds one.
    events_pending: AtomicBool,
    multiplexed: Vec<OnceLock<Arc<MuxPool>>>,
}

pub struct Cluster {
    topology: Topology,
    /// What servers owe (process-wide: every client reads the same servers).
    ledger: &'static Ledger,
    health_policy: HealthPolicy,
    pools: ArcSwap<Pools>,
    closed: AtomicBool,
}

impl Cluster {
    pub fn new(config: ClusterConfig) -> Result<Self> {
        let topology = Topology::new(config.topology)?;
        fork::install_hook();
        let pools = Self::build_pools(&topology);
        Ok(Cluster {
            topology,
            ledger: ledger::ledger(),
            health_policy: config.health,
            pools: ArcSwap::from_pointee(pools),
            closed: AtomicBool::new(false),
        })
    }

    fn build_pools(topology: &Topology) -> Pools {
        let servers = topology.servers();
        let blocking = servers
            .iter()
            .enumerate()
            .map(|(i, server)| {
                let connections = topology.pool_of_server(i).connections.clone();
                Pool::new(server.spec.address.clone(), Arc::clone(&server.name), connections)
            })
            .collect();
        let combiners = (0..servers.len())
            .map(|i| Combiner::new(topology.pool_of_server(i).connections.max_connections))
            .collect();
        Pools {
            generation: fork::generation(),
            blocking,
            combiners,
            health: servers.iter().map(|s| ServerHealth::new(Arc::clone(&s.name))).collect(),
            events: parking_lot::Mutex::new(Vec::new()),
            events_pending: AtomicBool::new(false),
            multiplexed: servers.iter().map(|_| OnceLock::new()).collect(),
        }
    }

    /// This process's pools; rebuilt on first use after a fork (the old ones are dropped,
    /// which only closes this process's copies of the parent's sockets).
    fn pools(&self) -> Result<arc_swap::Guard<Arc<Pools>>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let current = self.pools.load();
        if current.generation == fork::generation() {
            return Ok(current);
        }
        drop(current);
        tracing::debug!("process forked: opening fresh connections in the child");
        self.pools.rcu(|old| {
            if old.generation == fork::generation() {
                Arc::clone(old)
            } else {
                Arc::new(Self::build_pools(&self.topology))
            }
        });
        Ok(self.pools.load())
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    pub fn ledger(&self) -> &Ledger {
        self.ledger
    }

    /// This cluster with a ledger of its own, keeping up to `max_owed` debts per server (tests
    /// that run side by side with servers of the same names).
    #[cfg(test)]
    pub fn with_private_ledger(mut self, max_owed: usize) -> Self {
        self.ledger = Box::leak(Box::new(Ledger::new(max_owed)));
        self
    }

    pub fn server_count(&self) -> usize {
        self.topology.server_count()
    }

    pub fn server_name(&self, server: usize) -> &Arc<str> {
        self.topology.server_name(server)
    }

    /// The server that holds a key (its pool's placement; routing keys and prefixes applied).
    pub fn server_for(&self, stored: &[u8], route: &PlacementKey<'_>) -> usize {
        self.topology.primary(stored, route)
    }

    /// The per-request deadline of a server (its pool's `timeout`).
    pub fn timeout_of(&self, server: usize) -> Duration {
        self.topology.pool_of_server(server).connections.timeouts.read
    }

    /// Where `server` is, its display name, and its pool's connection settings (timeouts,
    /// authentication): what opening a connection to it needs.
    pub fn endpoint(&self, server: usize) -> (Address, Arc<str>, PoolConfig) {
        let entry = &self.topology.servers()[server];
        let connections = self.topology.pool_of_server(server).connections.clone();
        (entry.spec.address.clone(), Arc::clone(&entry.name), connections)
    }

    /// The longest time a request to `server` may wait in all: pool, connect and reply.
    pub fn patience(&self, server: usize) -> Duration {
        let pool = self.topology.pool_of_server(server);
        pool.connections.timeouts.patience()
    }

    /// The multiplexed pool of `server` in this process, created on first use.
    pub fn multiplexed(&self, server: usize) -> Result<Arc<MuxPool>> {
        let pools = self.pools()?;
        let pool = pools.multiplexed[server].get_or_init(|| {
            let entry = &self.topology.servers()[server];
            let pool = self.topology.pool_of_server(server);
            let config = pool.connections.clone();
            MuxPool::new(entry.spec.address.clone(), Arc::clone(&entry.name), config)
        });
        Ok(Arc::clone(pool))
    }

    /// Close every pool. Later calls fail with [`Error::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let pools = self.pools.load();
        if pools.generation != fork::generation() {
            // A parent's pools, whose locks a parent thread may have held at the fork: they
            // are only dropped (see `pools`), which closes this process's copies of the sockets.
            return;
        }
        for pool in &pools.blocking {
            pool.close();
        }
        for pool in pools.multiplexed.iter().filter_map(OnceLock::get) {
            pool.close();
        }
    }

    /// (open, idle) blocking connections per server in this process, for tests and diagnostics.
    pub fn connection_counts(&self) -> Vec<(usize, usize)> {
        match self.pools() {
            Ok(pools) => pools.blocking.iter().map(|p| p.counts()).collect(),
            Err(_) => vec![(0, 0); self.server_count()],
        }
    }

    /// (connections, queued batches) of each server's multiplexed pool (zeros before first use).
    pub fn multiplexed_counts(&self) -> Vec<(usize, usize)> {
        match self.pools() {
            Ok(pools) => pools
                .multiplexed
                .iter()
                .map(|p| p.get().map_or((0, 0), |p| p.counts()))
                .collect(),
            Err(_) => vec![(0, 0); self.server_count()],
        }
    }
}

impl Drop for Cluster {
    /// Multiplexed connections belong to driver tasks that outlive the cluster; closing their
    /// pools makes them end as soon as their batches in flight are answered, instead of after
    /// idling for a minute (a client dropped without `close()` would hold its sockets open
    /// that long).
    fn drop(&mut self) {
        self.close();
    }
}
