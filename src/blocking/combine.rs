//! Combining for the blocking client: when more threads call one server at once than it has
//! pooled connections, the extra ones share round trips instead of queueing for a connection.
//!
//! Up to `max_connections` callers lead at once, each exchanging on its own connection exactly
//! as a direct call would (so up to that many threads see no difference at all). A caller that
//! finds every slot leading queues its batch. When a round ends, its leader pops the first
//! queued caller, who takes everything then queued into the next round: writes it in one go,
//! reads the replies in order and hands each waiting thread its own. Memcached then sees one
//! read and one write per round instead of per request, and no caller waits on a pool slot.
//!
//! (Measured here, a single leader per server is slower than one connection per thread up to
//! 8 threads, in both a latency-bound and a CPU-bound regime: rounds serialise, and a follower's
//! wake-up costs as much as a round trip. Hence one leader per connection.)
//!
//! A leader serves one round only, so no caller pays for more than the round before its own
//! and its own. If a round fails, every batch in it gets the error and the connection is
//! closed, as for any failed exchange.

use crate::blocking::exchange::{self, Job};
use crate::blocking::pool::Pool;
use crate::error::{Error, Result};
use crate::protocol::reply::{Expect, Replies};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a waiting caller is told.
enum Outcome {
    Done(Result<Replies>),
    /// Serve the next round.
    Lead,
}

struct Waiter {
    /// When the caller reached the combiner: its wait here, queueing included, is bounded by
    /// `timeout`.
    arrived: Instant,
    request: Mutex<Option<(Vec<u8>, Expect)>>,
    outcome: Mutex<Option<Outcome>>,
    ready: Condvar,
}

impl Waiter {
    fn tell(&self, outcome: Outcome) {
        *self.outcome.lock() = Some(outcome);
        self.ready.notify_one();
    }

    fn wait(&self) -> Outcome {
        let mut outcome = self.outcome.lock();
        loop {
            if let Some(outcome) = outcome.take() {
                return outcome;
            }
            self.ready.wait(&mut outcome);
        }
    }
}

#[derive(Default)]
struct State {
    queue: Vec<Arc<Waiter>>,
    /// Rounds being served right now, each by its own leader on its own connection.
    leaders: usize,
}

/// The combining point of one server.
pub struct Combiner {
    state: Mutex<State>,
    /// Rounds allowed in flight at once: one per pooled connection.
    max_leaders: usize,
}

impl Combiner {
    pub fn new(max_leaders: usize) -> Self {
        Combiner {
            state: Mutex::new(State::default()),
            max_leaders: max_leaders.max(1),
        }
    }

    /// Exchange one batch with the server of `pool`, sharing the round trip with whichever
    /// threads are exchanging at the same time.
    pub fn exchange(&self, pool: &Arc<Pool>, bytes: Vec<u8>, expect: Expect, timeout: Duration) -> Result<Replies> {
        let arrived = Instant::now();
        let started = crate::call::started().unwrap_or(arrived);
        if arrived.duration_since(started) >= timeout {
            // Out of time before anything was sent: refused alone, never in a shared round.
            return Err(Error::before_send(pool.name(), timeout));
        }
        // The caller leads at once (the common case: no more callers than connections), with
        // its request in hand; only a caller that must queue builds a waiter for others to
        // wake. A caller is in exactly one place: leading (not queued), or queued until a
        // leader takes it into a round or pops it to lead the next one.
        let own = match self.lead_or_queue(arrived, started, bytes, expect) {
            Ok(own) => own,
            Err(me) => match me.wait() {
                Outcome::Done(result) => return result,
                Outcome::Lead => {
                    let (bytes, expect) = me
                        .request
                        .lock()
                        .take()
                        .expect("a leader's own batch is not served yet");
                    Own {
                        arrived,
                        started,
                        bytes,
                        expect,
                    }
                }
            },
        };
        let queued = std::mem::take(&mut self.state.lock().queue);
        let handoff = Handoff(self);
        let result = serve(pool, own, &queued, timeout);
        drop(handoff);
        result
    }

    /// Take a leader's slot if one is free; else queue a waiter for this batch and return it.
    fn lead_or_queue(
        &self,
        arrived: Instant,
        started: Instant,
        bytes: Vec<u8>,
        expect: Expect,
    ) -> std::result::Result<Own, Arc<Waiter>> {
        {
            let mut state = self.state.lock();
            if state.leaders < self.max_leaders {
                state.leaders += 1;
                return Ok(Own {
                    arrived,
                    started,
                    bytes,
                    expect,
                });
            }
        }
        // Built outside the lock; the slots are checked again under it.
        let me = Arc::new(Waiter {
            arrived,
            request: Mutex::new(Some((bytes, expect))),
            outcome: Mutex::new(None),
            ready: Condvar::new(),
        });
        let mut state = self.state.lock();
        if state.leaders < self.max_leaders {
            state.leaders += 1;
            drop(state);
            let (bytes, expect) = me.request.lock().take().expect("not queued");
            return Ok(Own {
                arrived,
                started,
                bytes,
                expect,
            });
        }
        state.queue.push(Arc::clone(&me));
        Err(me)
    }
}

/// The leader's own batch.
struct Own {
    arrived: Instant,
    /// When its call began: a leader alone in its round is bounded by `timeout` from there.
    /// A round shared with others keeps their deadlines: one slow caller must not make the
    /// others' calls fail.
    started: Instant,
    bytes: Vec<u8>,
    expect: Expect,
}

/// Passes leadership on when a round ends, even by unwinding, so queued callers never wait
/// for a leader that is gone.
struct Handoff<'a>(&'a Combiner);

impl Drop for Handoff<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state.lock();
        if state.queue.is_empty() {
            state.leaders -= 1;
        } else {
            state.queue.remove(0).tell(Outcome::Lead);
        }
    }
}

/// Write the leader's batch and every queued one on one connection, read the replies in
/// order, tell each waiter its own and return the leader's. The round must end by the deadline
/// of its earliest caller, so no caller waits longer than `timeout` in all, however long it
/// queued behind a hung round.
fn serve(pool: &Arc<Pool>, own: Own, queued: &[Arc<Waiter>], timeout: Duration) -> Result<Replies> {
    let earliest = queued.iter().map(|w| w.arrived).fold(own.arrived, Instant::min);
    let mut deadline = earliest + timeout;
    if queued.is_empty() {
        deadline = deadline.min(own.started + timeout);
    }
    if Instant::now() >= deadline {
        let error = Error::before_send(pool.name(), timeout);
        fail(queued, &error);
        return Err(error);
    }
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            fail(queued, &error);
            return Err(error);
        }
    };
    conn.write_buf.clear();
    conn.write_buf.extend_from_slice(&own.bytes);
    if queued.is_empty() {
        // Alone in the round: one batch, no waiters to tell.
        let mut job = Job::new(&mut conn, own.expect);
        exchange::run(std::slice::from_mut(&mut job), deadline, timeout);
        let (error, replies) = job.into_outcome();
        return match error {
            None => {
                conn.release();
                Ok(replies)
            }
            Some(error) => {
                tracing::debug!(%error, "closing connection after a failed exchange");
                Err(error)
            }
        };
    }
    let mut expects = Vec::with_capacity(queued.len() + 1);
    expects.push(own.expect);
    for waiter in queued {
        let (bytes, expect) = waiter.request.lock().take().expect("each batch is served once");
        conn.write_buf.extend_from_slice(&bytes);
        expects.push(expect);
    }
    let mut job = Job::batches(&mut conn, expects);
    exchange::run(std::slice::from_mut(&mut job), deadline, timeout);
    let (error, replies) = job.into_outcomes();
    match error {
        None => {
            conn.release();
            let mut replies = replies.into_iter();
            let mine = replies.next().expect("one reply set per batch");
            for (waiter, replies) in queued.iter().zip(replies) {
                waiter.tell(Outcome::Done(Ok(replies)));
            }
            Ok(mine)
        }
        Some(error) => {
            tracing::debug!(%error, "closing connection after a failed combined round");
            fail(queued, &error);
            Err(error)
        }
    }
}

fn fail(round: &[Arc<Waiter>], error: &Error) {
    for waiter in round {
        waiter.tell(Outcome::Done(Err(error.clone())));
    }
}
