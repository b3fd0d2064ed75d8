//! The connections to every server of the [`Topology`]: per server a blocking pool, a
//! combiner, health, and (created on first async use) a multiplexed pool. Exchanges encoded
//! batches; knows nothing of what the requests mean.

use crate::blocking::combine::Combiner;
use crate::blocking::exchange::{self, Job};
use crate::blocking::pool::{Pool, PooledConnection};
use crate::error::{Error, Result};
use crate::fork;
use crate::limits::Timeouts;
use crate::mux::MuxPool;
use crate::protocol::reply::{Expect, Replies};
use crate::route::health::{Admission, HealthEvent, HealthPolicy, HealthSnapshot, ServerHealth};
use crate::route::ledger::{self, Ledger};
use crate::route::ring::PlacementKey;
use crate::route::server::Address;
use crate::route::topology::{Topology, TopologyConfig};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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

    /// Where `server` is, its display name, and its pool's timeouts: what opening a
    /// connection to it needs.
    pub fn endpoint(&self, server: usize) -> (Address, Arc<str>, Timeouts) {
        let entry = &self.topology.servers()[server];
        let timeouts = self.topology.pool_of_server(server).connections.timeouts;
        (entry.spec.address.clone(), Arc::clone(&entry.name), timeouts)
    }

    /// The longest time a request to `server` may wait in all: pool, connect and reply.
    pub fn patience(&self, server: usize) -> Duration {
        let pool = self.topology.pool_of_server(server);
        pool.connections.timeouts.patience()
    }

    /// Send each batch to its server over blocking connections, all servers at once, from the
    /// calling thread; one result per batch, in order. A lone, small batch goes through its
    /// server's [`Combiner`], so threads calling at the same time share round trips. A batch
    /// for a server marked down fails at once with [`Error::ServerDown`].
    pub fn exchange_blocking(&self, mut batches: Vec<Batch>) -> Vec<Result<Replies>> {
        let pools = match self.pools() {
            Ok(pools) => pools,
            Err(e) => return batches.iter().map(|_| Err(e.clone())).collect(),
        };
        if let [batch] = &batches[..] {
            if batch.bytes.len() <= COMBINE_AT_MOST {
                let batch = batches.pop().expect("one batch");
                return vec![self.combined(&pools, batch)];
            }
        }
        let mut results: Vec<Option<Result<Replies>>> = Vec::with_capacity(batches.len());
        // (result slot, admission, connection) of each batch sent, and its expectation.
        let mut sent = Vec::with_capacity(batches.len());
        let mut expects = Vec::with_capacity(batches.len());
        for (i, batch) in batches.into_iter().enumerate() {
            let borrowed = self.admit(batch.server).and_then(|admitted| {
                match pools.blocking[batch.server].get() {
                    Ok(conn) => Ok((admitted, conn)),
                    Err(error) => {
                        // Recorded like any outcome: a probe that could not connect has its
                        // verdict, and must not keep its turn.
                        admitted.record(&Err(error.clone()));
                        Err(error)
                    }
                }
            });
            match borrowed {
                Ok((admitted, mut conn)) => {
                    conn.write_buf = batch.bytes;
                    sent.push((i, admitted, conn));
                    expects.push(batch.expect);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // One deadline for the whole exchange: the longest timeout among the servers involved,
        // counted from the start of the call (converting and encoding 100k keys takes long
        // enough to matter).
        let timeout = sent
            .iter()
            .map(|(_, admitted, _)| self.timeout_of(admitted.server()))
            .max()
            .unwrap_or_default();
        let deadline = crate::call::started().unwrap_or_else(Instant::now) + timeout;
        let mut jobs: Vec<Job<'_>> = sent
            .iter_mut()
            .zip(expects)
            .map(|((_, _, conn), expect)| Job::new(conn, expect))
            .collect();
        exchange::run(&mut jobs, deadline, timeout);
        let outcomes: Vec<_> = jobs.into_iter().map(Job::into_outcome).collect();
        for ((i, admitted, conn), (error, replies)) in sent.into_iter().zip(outcomes) {
            let result = settle(conn, error, replies);
            admitted.record(&result);
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every batch has a result"))
            .collect()
    }

    /// [`Cluster::exchange_blocking`] of one batch.
    pub fn exchange_one_blocking(&self, batch: Batch) -> Result<Replies> {
        if batch.bytes.len() > COMBINE_AT_MOST {
            return self.exchange_blocking(vec![batch]).pop().expect("one result per batch");
        }
        self.combined(&*self.pools()?, batch)
    }

    /// A lone, small batch through its server's [`Combiner`].
    fn combined(&self, pools: &Pools, batch: Batch) -> Result<Replies> {
        let Batch { server, bytes, expect } = batch;
        let admitted = self.admit(server)?;
        let result = pools.combiners[server].exchange(&pools.blocking[server], bytes, expect, self.timeout_of(server));
        admitted.record(&result);
        result
    }

    fn admit_in(&self, pools: &Pools, server: usize) -> Result<Admission> {
        let health = &pools.health[server];
        match health.admit() {
            Admission::Refused(retry_in) => Err(health.refusal(retry_in)),
            admission => Ok(admission),
        }
    }

    fn record_in(&self, pools: &Pools, server: usize, admission: Admission, result: &Result<Replies>) {
        let outcome = result.as_ref().map(|_| ());
        if let Some(event) = pools.health[server].record(admission, outcome, &self.health_policy) {
            pools.events.lock().push(event);
            pools.events_pending.store(true, Ordering::Release);
        }
    }

    /// Whether a request may go to `server` now: `Err(ServerDown)` while it is marked down.
    /// The mark-down rule of both transports: the guard returned must be told how the request
    /// ended ([`Admitted::record`]), or it abandons its admission when dropped.
    pub fn admit(&self, server: usize) -> Result<Admitted<'_>> {
        let pools = self.pools()?;
        let admission = self.admit_in(&pools, server)?;
        Ok(Admitted {
            cluster: self,
            server,
            admission: Some(admission),
        })
    }

    /// Record how a request let through by [`Cluster::admit`] ended.
    fn record(&self, server: usize, admission: Admission, result: &Result<Replies>) {
        if let Ok(pools) = self.pools() {
            self.record_in(&pools, server, admission, result);
        }
    }

    /// A request let through by [`Cluster::admit`] ended with no outcome to record.
    fn abandon(&self, server: usize, admission: Admission) {
        if let Ok(pools) = self.pools() {
            pools.health[server].abandon(admission);
        }
    }

    /// Whether `server` is marked down right now.
    pub fn is_down(&self, server: usize) -> bool {
        self.pools().map(|p| p.health[server].is_down()).unwrap_or(false)
    }

    /// Mark-downs and rejoins since the last call, oldest first.
    pub fn take_events(&self) -> Vec<HealthEvent> {
        match self.pools() {
            Ok(pools)
                if pools.events_pending.load(Ordering::Relaxed)
                    && pools.events_pending.swap(false, Ordering::Acquire) =>
            {
                std::mem::take(&mut *pools.events.lock())
            }
            _ => Vec::new(),
        }
    }

    /// Health counters of every server, in configuration order.
    pub fn health(&self) -> Vec<HealthSnapshot> {
        match self.pools() {
            Ok(pools) => pools.health.iter().map(ServerHealth::snapshot).collect(),
            Err(_) => Vec::new(),
        }
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

/// A request let through by [`Cluster::admit`], whose outcome is owed to the server's health.
/// Dropped unrecorded (its caller stopped waiting, or it never went out), it is abandoned, so
/// a probe hands its turn back instead of leaving the server down for good.
pub struct Admitted<'a> {
    cluster: &'a Cluster,
    server: usize,
    admission: Option<Admission>,
}

impl Admitted<'_> {
    pub fn server(&self) -> usize {
        self.server
    }

    /// How the request ended: a failure counts against the server, a success clears it.
    pub fn record(mut self, result: &Result<Replies>) {
        if let Some(admission) = self.admission.take() {
            self.cluster.record(self.server, admission, result);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            self.cluster.abandon(self.server, admission);
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

/// Return a connection that finished cleanly to its pool; close one that did not (it may hold
/// part of a reply).
fn settle(conn: PooledConnection, error: Option<Error>, replies: Replies) -> Result<Replies> {
    match error {
        None => {
            conn.release();
            Ok(replies)
        }
        Some(e) => {
            tracing::debug!(error = %e, "closing connection after a failed exchange");
            Err(e)
        }
    }
}
