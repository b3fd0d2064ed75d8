//! A bounded pool of connections to one server.
//!
//! Callers borrow a connection through [`PooledConnection`]. The guard returns the connection
//! only when the caller says the exchange finished cleanly ([`PooledConnection::release`]); on
//! any other path (error, timeout, panic) it is closed, so a connection with half a reply in
//! flight is never handed to the next caller.

use crate::blocking::connection::Connection;
use crate::error::{Error, Result, TimeoutPhase};
use crate::limits::PoolConfig;
use crate::route::server::Address;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections idle for longer than this are checked for a server-side close before reuse.
const CHECK_IDLE_AFTER: Duration = Duration::from_millis(1);

#[derive(Default)]
struct PoolState {
    idle: Vec<Connection>,
    /// Connections open or being opened, idle or lent out.
    open: usize,
    closed: bool,
}

pub struct Pool {
    address: Address,
    name: Arc<str>,
    config: PoolConfig,
    state: Mutex<PoolState>,
    returned: Condvar,
}

impl Pool {
    pub fn new(address: Address, name: Arc<str>, config: PoolConfig) -> Arc<Self> {
        Arc::new(Pool {
            address,
            name,
            config,
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Borrow a connection: an idle one, else a new one while under `max_connections`, else
    /// wait up to `timeouts.pool` for one to come back.
    pub fn get(self: &Arc<Self>) -> Result<PooledConnection> {
        let deadline = Instant::now() + self.config.timeouts.pool;
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return Err(Error::Closed);
            }
            if let Some(conn) = state.idle.pop() {
                if conn.idle_since.elapsed() < CHECK_IDLE_AFTER || conn.looks_healthy() {
                    return Ok(PooledConnection {
                        pool: Arc::clone(self),
                        conn: Some(conn),
                    });
                }
                tracing::debug!(server = %self.name, "idle connection was closed by the server; replacing it");
                state.open -= 1;
                continue;
            }
            if state.open < self.config.max_connections {
                state.open += 1;
                drop(state);
                return match Connection::open(
                    &self.address,
                    Arc::clone(&self.name),
                    self.config.timeouts.connect,
                    &self.config.security,
                ) {
                    Ok(conn) => Ok(PooledConnection {
                        pool: Arc::clone(self),
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.forget_one();
                        Err(e)
                    }
                };
            }
            if self.returned.wait_until(&mut state, deadline).timed_out() {
                return Err(Error::Timeout {
                    server: self.name.to_string(),
                    phase: TimeoutPhase::Pool,
                    after: self.config.timeouts.pool,
                });
            }
        }
    }

    fn put_back(&self, mut conn: Connection) {
        conn.trim_buffers();
        conn.idle_since = Instant::now();
        let mut state = self.state.lock();
        if state.closed {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.returned.notify_one();
    }

    fn forget_one(&self) {
        self.state.lock().open -= 1;
        self.returned.notify_one();
    }

    /// Close idle connections and refuse new borrows; lent ones close when returned.
    pub fn close(&self) {
        let idle = {
            let mut state = self.state.lock();
            state.closed = true;
            state.open -= state.idle.len();
            std::mem::take(&mut state.idle)
        };
        drop(idle);
        self.returned.notify_all();
    }

    /// (open, idle) connection counts.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.open, state.idle.len())
    }
}

/// A borrowed connection. Dropping it without [`release`](Self::release) closes it.
pub struct PooledConnection {
    pool: Arc<Pool>,
    conn: Option<Connection>,
}

impl PooledConnection {
    /// The exchange finished with the connection in step: give it back to the pool.
    pub fn release(mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("connection present until release")
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("connection present until release")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.pool.forget_one();
        }
    }
}
