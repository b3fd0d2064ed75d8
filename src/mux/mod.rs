//! Multiplexed connections to one server, shared by many concurrent callers.
//!
//! Callers [`submit`](MuxPool::submit) encoded batches to a FIFO queue and await a oneshot
//! reply. Driver tasks (one per connection, see [`driver`]) take everything queued, up to
//! [`MAX_IN_FLIGHT`] batches, write it with as few syscalls as possible, and match replies to
//! batches strictly in order, so one `write` carries the requests of many callers.
//!
//! Cancellation: a caller that stops waiting only drops its receiver. A batch not yet written
//! is then skipped; one already written still has its reply read and discarded, so the stream
//! never goes out of step. Capacity is per connection and returns when replies arrive, so a
//! cancelled caller cannot leak a slot. The queue is FIFO, so no waiter starves.

pub mod driver;

use crate::error::{Error, Result, TimeoutPhase};
use crate::limits::PoolConfig;
use crate::protocol::reply::{Expect, Replies};
use crate::route::server::Address;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Batches one connection may have written and not yet answered.
pub const MAX_IN_FLIGHT: usize = 256;
/// A driver with nothing to do for this long closes its connection.
const IDLE_LIFETIME: Duration = Duration::from_secs(60);

/// An encoded batch waiting for, or being served by, a connection.
pub struct Submission {
    pub bytes: Vec<u8>,
    pub expect: Expect,
    queued_at: Instant,
    pub reply: oneshot::Sender<Result<Replies>>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Submission>,
    /// Driver tasks alive (connecting, busy or idle).
    drivers: usize,
    closed: bool,
}

pub struct MuxPool {
    address: Address,
    name: Arc<str>,
    config: PoolConfig,
    state: Mutex<State>,
    /// Signalled when work is queued or the pool closes.
    work: Notify,
}

/// What an idle driver should do next.
enum Next {
    Work,
    Retire,
}

impl MuxPool {
    pub fn new(address: Address, name: Arc<str>, config: PoolConfig) -> Arc<Self> {
        Arc::new(MuxPool {
            address,
            name,
            config,
            state: Mutex::new(State::default()),
            work: Notify::new(),
        })
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Queue a batch; the receiver yields its replies or the error that ended its connection.
    pub fn submit(self: &Arc<Self>, bytes: Vec<u8>, expect: Expect) -> oneshot::Receiver<Result<Replies>> {
        let (reply, receiver) = oneshot::channel();
        let mut state = self.state.lock();
        if state.closed {
            let _ = reply.send(Err(Error::Closed));
            return receiver;
        }
        state.queue.push_back(Submission {
            bytes,
            expect,
            queued_at: Instant::now(),
            reply,
        });
        // Another connection only when the queue holds more than the live ones can take.
        let spawn = state.drivers < self.config.max_connections && state.queue.len() > state.drivers * MAX_IN_FLIGHT;
        if spawn {
            state.drivers += 1;
        }
        drop(state);
        if spawn {
            crate::runtime::spawn(driver::run(Arc::clone(self)));
        }
        self.work.notify_one();
        receiver
    }

    /// Move up to `room` queued batches into `taken`. Batches whose caller is gone are dropped;
    /// batches that waited longer than `timeouts.pool` fail with `PoolTimeout`.
    fn take(&self, room: usize, taken: &mut Vec<Submission>) {
        let now = Instant::now();
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        while taken.len() < room {
            let Some(submission) = state.queue.pop_front() else {
                break;
            };
            if submission.reply.is_closed() {
                continue;
            }
            if now.duration_since(submission.queued_at) > self.config.timeouts.pool {
                let _ = submission.reply.send(Err(Error::Timeout {
                    server: self.name.to_string(),
                    phase: TimeoutPhase::Pool,
                    after: self.config.timeouts.pool,
                }));
                continue;
            }
            taken.push(submission);
        }
    }

    /// Wait until there is work, the pool closes, or the driver has idled long enough.
    async fn wait_for_work(&self) -> Next {
        let idle_until = tokio::time::Instant::now() + IDLE_LIFETIME;
        loop {
            {
                let state = self.state.lock();
                if state.closed {
                    return Next::Retire;
                }
                if !state.queue.is_empty() {
                    return Next::Work;
                }
                if tokio::time::Instant::now() >= idle_until {
                    return Next::Retire;
                }
            }
            tokio::select! {
                _ = self.work.notified() => {}
                _ = tokio::time::sleep_until(idle_until) => {}
            }
        }
    }

    /// A driver ended (its connection failed, or it could not connect). Queued batches are
    /// failed when nobody could reach the server; otherwise a replacement takes them.
    fn driver_ended(self: &Arc<Self>, error: Option<&Error>, connected: bool) {
        let mut state = self.state.lock();
        state.drivers -= 1;
        if state.closed || state.queue.is_empty() {
            return;
        }
        if !connected {
            let error = error.cloned().unwrap_or(Error::Closed);
            for submission in state.queue.drain(..) {
                let _ = submission.reply.send(Err(error.clone()));
            }
            return;
        }
        if state.drivers == 0 {
            state.drivers += 1;
            drop(state);
            crate::runtime::spawn(driver::run(Arc::clone(self)));
        }
    }

    /// Refuse new batches and fail queued ones; connections close once their in-flight
    /// batches are answered.
    pub fn close(&self) {
        let queued = {
            let mut state = self.state.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        for submission in queued {
            let _ = submission.reply.send(Err(Error::Closed));
        }
        self.work.notify_waiters();
    }

    /// (driver tasks alive, batches queued), for tests and diagnostics.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.drivers, state.queue.len())
    }
}
