//! A pool's connection limits and timeouts, carried as one value from the options to both I/O
//! paths (the blocking pool and the multiplexed one), and how much buffer memory a connection
//! of either path keeps.

use bytes::BytesMut;
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

/// How many connections a pool keeps per server, its timeouts, and what each new connection
/// does before its first request.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub max_connections: usize,
    pub timeouts: Timeouts,
    pub security: crate::security::Security,
}

/// A connection's read and write buffers start at this size.
pub const IO_BUFFER: usize = 16 * 1024;
/// Buffers grown beyond this by a large batch are released once it is done, so that one huge
/// value does not pin its memory for the connection's lifetime.
const KEEP_BUFFER_AT_MOST: usize = 256 * 1024;

/// Empty a write buffer whose batch is written, releasing it if it grew too large.
pub fn reset_write_buffer(buf: &mut Vec<u8>) {
    if buf.capacity() > KEEP_BUFFER_AT_MOST {
        *buf = Vec::with_capacity(IO_BUFFER);
    } else {
        buf.clear();
    }
}

/// Release a read buffer that grew too large, once every reply in it has been taken.
pub fn trim_read_buffer(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > KEEP_BUFFER_AT_MOST {
        *buf = BytesMut::with_capacity(IO_BUFFER);
    }
}
