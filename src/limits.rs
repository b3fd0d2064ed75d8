//! A pool's connection limits and timeouts, carried as one value from the options to both I/O
//! paths (the blocking pool and the multiplexed one).

use std::time::Duration;

/// The three deadlines of a request to one of a pool's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening a connection.
    pub connect: Duration,
    /// The whole call: its request and reply (counted from the call's start, see `call`).
    pub read: Duration,
    /// Waiting for a free connection in a full pool (or a queue slot, multiplexed).
    pub pool: Duration,
}

impl Timeouts {
    /// The longest a request may wait in all: pool, connect and reply.
    pub fn patience(&self) -> Duration {
        self.pool + self.connect + self.read
    }
}

/// How many connections a pool keeps per server, and its timeouts.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: usize,
    pub timeouts: Timeouts,
}
