//! A set of servers: one pool per server, key placement, and the exchange of encoded requests
//! with one server or several in parallel. Knows nothing of what the requests mean.

use crate::error::{Error, Result};
use crate::exchange::{self, Job};
use crate::fork;
use crate::pool::{Pool, PoolConfig, PooledConnection};
use crate::reply::{Expect, Replies};
use crate::ring::{Ketama, NodeId};
use crate::server::{Address, ServerSpec};
use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything that shapes a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub servers: Vec<ServerSpec>,
    pub pool: PoolConfig,
    /// Per-operation deadline for writing requests and reading their replies.
    pub timeout: Duration,
}

/// One server's share of an exchange.
pub struct Batch<F> {
    pub server: usize,
    /// Writes the encoded requests into the connection's write buffer.
    pub encode: F,
    pub expect: Expect,
}

/// The pools of one process. Replaced wholesale after a fork.
struct Pools {
    generation: u64,
    pools: Vec<Arc<Pool>>,
}

pub struct Cluster {
    config: ClusterConfig,
    names: Vec<Arc<str>>,
    ring: Ketama,
    pools: ArcSwap<Pools>,
    closed: AtomicBool,
}

impl Cluster {
    pub fn new(config: ClusterConfig) -> Result<Self> {
        if config.servers.is_empty() {
            return Err(Error::InvalidArgument("at least one server is required".into()));
        }
        let names: Vec<Arc<str>> = config.servers.iter().map(|s| Arc::from(s.name())).collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(Error::InvalidArgument(format!("server {name} is listed twice")));
            }
        }
        let nodes: Vec<NodeId> = config
            .servers
            .iter()
            .map(|s| match &s.address {
                Address::Tcp { host, port } => NodeId {
                    host: host.clone(),
                    port: *port,
                    weight: s.weight,
                },
                Address::Unix(path) => NodeId {
                    host: path.display().to_string(),
                    port: 0,
                    weight: s.weight,
                },
            })
            .collect();
        fork::install_hook();
        let pools = Self::build_pools(&config, &names);
        Ok(Cluster {
            ring: Ketama::new(&nodes),
            names,
            pools: ArcSwap::from_pointee(pools),
            config,
            closed: AtomicBool::new(false),
        })
    }

    fn build_pools(config: &ClusterConfig, names: &[Arc<str>]) -> Pools {
        let pools = config
            .servers
            .iter()
            .zip(names)
            .map(|(spec, name)| Pool::new(spec.address.clone(), Arc::clone(name), config.pool.clone()))
            .collect();
        Pools {
            generation: fork::generation(),
            pools,
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
                Arc::new(Self::build_pools(&self.config, &self.names))
            }
        });
        Ok(self.pools.load())
    }

    pub fn server_count(&self) -> usize {
        self.names.len()
    }

    pub fn server_name(&self, server: usize) -> &Arc<str> {
        &self.names[server]
    }

    /// The server that owns `key` (the user's key bytes).
    pub fn server_for(&self, key: &[u8]) -> usize {
        if self.names.len() == 1 {
            0
        } else {
            self.ring.server_for(key)
        }
    }

    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Send one batch to one server and collect its replies.
    pub fn exchange_one(&self, server: usize, encode: impl FnOnce(&mut Vec<u8>), expect: Expect) -> Result<Replies> {
        let mut conn = self.pools()?.pools[server].get()?;
        conn.write_buf.clear();
        encode(&mut conn.write_buf);
        let deadline = Instant::now() + self.config.timeout;
        let mut job = Job::new(&mut conn, expect);
        exchange::run(std::slice::from_mut(&mut job), deadline, self.config.timeout);
        let (error, replies) = job.into_outcome();
        settle(conn, error, replies)
    }

    /// Send a batch to each of several servers at once; one result per batch, in order.
    pub fn exchange_many<F: FnOnce(&mut Vec<u8>)>(&self, batches: Vec<Batch<F>>) -> Vec<Result<Replies>> {
        let pools = match self.pools() {
            Ok(pools) => pools,
            Err(_) => return batches.iter().map(|_| Err(Error::Closed)).collect(),
        };
        let mut results: Vec<Option<Result<Replies>>> = Vec::with_capacity(batches.len());
        let mut conns: Vec<(usize, PooledConnection, Expect)> = Vec::with_capacity(batches.len());
        for (i, batch) in batches.into_iter().enumerate() {
            match pools.pools[batch.server].get() {
                Ok(mut conn) => {
                    conn.write_buf.clear();
                    (batch.encode)(&mut conn.write_buf);
                    conns.push((i, conn, batch.expect));
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let deadline = Instant::now() + self.config.timeout;
        let (slots, mut guards): (Vec<(usize, Expect)>, Vec<PooledConnection>) =
            conns.into_iter().map(|(i, conn, expect)| ((i, expect), conn)).unzip();
        let mut jobs: Vec<Job<'_>> = guards
            .iter_mut()
            .zip(&slots)
            .map(|(conn, (_, expect))| Job::new(conn, *expect))
            .collect();
        exchange::run(&mut jobs, deadline, self.config.timeout);
        let outcomes: Vec<_> = jobs.into_iter().map(Job::into_outcome).collect();
        for (((i, _), conn), (error, replies)) in slots.into_iter().zip(guards).zip(outcomes) {
            results[i] = Some(settle(conn, error, replies));
        }
        results
            .into_iter()
            .map(|r| r.expect("every batch has a result"))
            .collect()
    }

    /// Close every pool. Later calls fail with [`Error::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        for pool in &self.pools.load().pools {
            pool.close();
        }
    }

    /// (open, idle) connections per server in this process, for tests and diagnostics.
    pub fn connection_counts(&self) -> Vec<(usize, usize)> {
        match self.pools() {
            Ok(pools) => pools.pools.iter().map(|p| p.counts()).collect(),
            Err(_) => vec![(0, 0); self.names.len()],
        }
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
