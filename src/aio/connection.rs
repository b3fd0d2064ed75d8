//! One server's connection on one event loop. Requests are written from the loop's thread
//! (at once when the connection is idle, so a lone caller pays no extra hop; otherwise once
//! per loop pass, so concurrent callers share a write), and replies are read in the loop's
//! reader callback and handed to their requests strictly in order.

use super::executor::LoopIo;
use crate::blocking::connection::Connection;
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::protocol::reply::{missing_bytes, Expect, Replies, ReplyReader};
use parking_lot::Mutex;
use pyo3::prelude::*;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// A request written (or waiting to be) and not yet answered.
struct InFlight {
    reader: ReplyReader,
    /// Its call's deadline: a reply not in by then ends the connection.
    deadline: Instant,
    /// Dropped by a caller that stopped waiting: the reply is then read and discarded.
    reply: oneshot::Sender<Result<Replies>>,
}

#[derive(Default)]
struct State {
    /// `None` while connecting.
    socket: Option<Connection>,
    /// Requests encoded while connecting, written once connected.
    early: Vec<u8>,
    /// How much of the socket's write buffer is written.
    written: usize,
    in_flight: VecDeque<InFlight>,
    watching_writes: bool,
    flush_queued: bool,
    /// The armed timer: when it fires, and its number (a timer superseded by a sooner one
    /// finds another number there and does nothing).
    timer: Option<(Instant, u64)>,
    timers_armed: u64,
    ended: bool,
}

impl State {
    /// Record a timer due at `at`; its number.
    fn set_timer(&mut self, at: Instant) -> u64 {
        self.timers_armed += 1;
        self.timer = Some((at, self.timers_armed));
        self.timers_armed
    }
}

pub struct LoopConnection {
    server: usize,
    name: Arc<str>,
    /// The server's `timeout`, for the error of an overdue reply.
    timeout: Duration,
    state: Mutex<State>,
}

/// `server`'s connection on `loop_io`'s loop, opened (in the background) on first use.
pub fn connection_for(loop_io: &Arc<LoopIo>, py: Python<'_>, cluster: &Cluster, server: usize) -> Arc<LoopConnection> {
    if let Some(found) = &loop_io.connections.lock()[server] {
        return Arc::clone(found);
    }
    let (address, name, connections) = cluster.endpoint(server);
    let timeouts = connections.timeouts;
    let connection = Arc::new(LoopConnection {
        server,
        name: Arc::clone(&name),
        timeout: timeouts.read,
        state: Mutex::new(State::default()),
    });
    loop_io.connections.lock()[server] = Some(Arc::clone(&connection));
    let opening = Arc::clone(&connection);
    let owner = Arc::downgrade(loop_io);
    loop_io.spawn(py, async move {
        // Resolving and connecting block: the runtime's blocking pool does them.
        let opened = crate::runtime::handle()
            .spawn_blocking(move || Connection::open(&address, name, timeouts.connect, &connections.security))
            .await;
        let opened = opened.unwrap_or_else(|failed| {
            Err(Error::ConnectionLost {
                server: opening.name.to_string(),
                detail: format!("the connect task failed: {failed}"),
            })
        });
        if let Some(loop_io) = owner.upgrade() {
            Python::attach(|py| opening.connected(py, &loop_io, opened));
        }
        None
    });
    connection
}

impl LoopConnection {
    /// Queue one encoded batch; the receiver yields its replies or the error that ended the
    /// connection.
    pub fn submit(
        self: &Arc<Self>,
        py: Python<'_>,
        loop_io: &Arc<LoopIo>,
        bytes: &[u8],
        expect: Expect,
        deadline: Instant,
    ) -> oneshot::Receiver<Result<Replies>> {
        let (reply, receiver) = oneshot::channel();
        let mut state = self.state.lock();
        if state.ended {
            let _ = reply.send(Err(self.lost("the connection ended")));
            return receiver;
        }
        let idle = state.in_flight.is_empty();
        state.in_flight.push_back(InFlight {
            reader: ReplyReader::new(expect),
            deadline,
            reply,
        });
        let connected = match state.socket.as_mut() {
            Some(socket) => {
                socket.write_buf.extend_from_slice(bytes);
                true
            }
            None => {
                state.early.extend_from_slice(bytes);
                false
            }
        };
        // Idle: write now. Busy: replies are coming anyway, so gather this loop pass's
        // requests into one write.
        let write_now = connected && idle;
        let queue_flush = connected && !idle && !state.flush_queued && !state.watching_writes;
        state.flush_queued |= queue_flush;
        // A later request may have an earlier deadline (a call's second round keeps its
        // start): each request is checked by its own deadline at the latest.
        let arm_timer = state.timer.is_none_or(|(at, _)| deadline < at);
        let timer = arm_timer.then(|| state.set_timer(deadline));
        drop(state);
        if write_now {
            self.flush(py, loop_io);
        } else if queue_flush {
            let callback = Callback::new(self, loop_io, Event::Flush);
            self.call(py, loop_io, "call_soon", (callback,));
        }
        if let Some(number) = timer {
            self.arm_timer(py, loop_io, deadline, number);
        }
        receiver
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    /// Nothing in flight (the client may close it now).
    pub fn is_idle(&self) -> bool {
        self.state.lock().in_flight.is_empty()
    }

    /// The connect finished (on the loop's thread).
    fn connected(self: &Arc<Self>, py: Python<'_>, loop_io: &Arc<LoopIo>, opened: Result<Connection>) {
        let mut socket = match opened {
            Ok(socket) => socket,
            Err(error) => return self.end(py, loop_io, Some(error)),
        };
        let fd = socket.fd();
        {
            let mut state = self.state.lock();
            if state.ended {
                return; // the client closed meanwhile; dropping the socket closes it
            }
            socket.write_buf = std::mem::take(&mut state.early);
            state.socket = Some(socket);
        }
        let callback = Callback::new(self, loop_io, Event::Readable);
        if self.call(py, loop_io, "add_reader", (fd, callback)) {
            self.flush(py, loop_io);
        }
    }

    /// Write what the socket takes now; watch for writability while some is left.
    fn flush(self: &Arc<Self>, py: Python<'_>, loop_io: &Arc<LoopIo>) {
        let mut state = self.state.lock();
        state.flush_queued = false;
        let written = state.written;
        let Some(socket) = state.socket.as_mut() else {
            return;
        };
        let mut at = written;
        let mut failed = None;
        while at < socket.write_buf.len() {
            match socket.write_some(at) {
                Ok(0) => break,
                Ok(n) => at += n,
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        let fd = socket.fd();
        let done = at == socket.write_buf.len();
        if done {
            crate::limits::reset_write_buffer(&mut socket.write_buf);
            at = 0;
        }
        state.written = at;
        if let Some(error) = failed {
            drop(state);
            return self.end(py, loop_io, Some(error));
        }
        let watch = !done && !state.watching_writes;
        let unwatch = done && state.watching_writes;
        state.watching_writes = !done;
        drop(state);
        if watch {
            let callback = Callback::new(self, loop_io, Event::Writable);
            self.call(py, loop_io, "add_writer", (fd, callback));
        } else if unwatch {
            self.call(py, loop_io, "remove_writer", (fd,));
        }
    }

    /// Read what has arrived and hand every complete batch its replies, oldest first.
    fn on_readable(self: &Arc<Self>, py: Python<'_>, loop_io: &Arc<LoopIo>) {
        let outcome = self.read_replies();
        let idle = self.is_idle();
        match outcome {
            Err(error) => self.end(py, loop_io, Some(error)),
            Ok(()) if idle && loop_io.closing.load(std::sync::atomic::Ordering::Acquire) => self.end(py, loop_io, None),
            Ok(()) => {}
        }
    }

    fn read_replies(&self) -> Result<()> {
        let mut state = self.state.lock();
        let state = &mut *state;
        let Some(socket) = state.socket.as_mut() else {
            return Ok(());
        };
        loop {
            let hint = missing_bytes(&socket.read_buf);
            let (read, filled) = socket.read_some(hint)?;
            while let Some(front) = state.in_flight.front_mut() {
                front.reader.feed(&mut socket.read_buf, &self.name)?;
                if !front.reader.is_done() {
                    break;
                }
                let batch = state.in_flight.pop_front().expect("front exists");
                let _ = batch.reply.send(Ok(batch.reader.into_replies()));
            }
            if state.in_flight.is_empty() && !socket.read_buf.is_empty() {
                return Err(socket.lost("unexpected bytes with no request in flight".into()));
            }
            if read == 0 || !filled {
                crate::limits::trim_read_buffer(&mut socket.read_buf);
                return Ok(());
            }
        }
    }

    /// The timer: end the connection if a request in flight is overdue, else check again at
    /// the soonest deadline. (Re-armed lazily, not per request: requests finish long before
    /// their deadline, so it fires about once per `timeout` while busy.)
    fn on_timer(self: &Arc<Self>, py: Python<'_>, loop_io: &Arc<LoopIo>, number: u64) {
        let mut state = self.state.lock();
        if state.timer.is_none_or(|(_, armed)| armed != number) {
            return; // superseded by a timer armed since for a sooner deadline
        }
        state.timer = None;
        let now = Instant::now();
        let Some(soonest) = state.in_flight.iter().map(|f| f.deadline).min() else {
            return;
        };
        if now >= soonest {
            drop(state);
            let error = Error::read_timeout(&self.name, self.timeout);
            return self.end(py, loop_io, Some(error));
        }
        let number = state.set_timer(soonest);
        drop(state);
        self.arm_timer(py, loop_io, soonest, number);
    }

    fn arm_timer(self: &Arc<Self>, py: Python<'_>, loop_io: &Arc<LoopIo>, deadline: Instant, number: u64) {
        let delay = deadline.saturating_duration_since(Instant::now()).as_secs_f64();
        let callback = Callback::new(self, loop_io, Event::Timer(number));
        if !self.call(py, loop_io, "call_later", (delay, callback)) {
            self.state.lock().timer = None;
        }
    }

    /// End the connection: every request in flight gets `error`, the loop stops watching the
    /// socket, and the socket closes. The next call opens a new connection.
    pub fn end(&self, py: Python<'_>, loop_io: &Arc<LoopIo>, error: Option<Error>) {
        let (socket, in_flight, watching_writes) = {
            let mut state = self.state.lock();
            if state.ended {
                return;
            }
            state.ended = true;
            (
                state.socket.take(),
                std::mem::take(&mut state.in_flight),
                state.watching_writes,
            )
        };
        if let Some(error) = &error {
            tracing::debug!(server = %self.name, %error, "closing loop connection");
        }
        let error = error.unwrap_or_else(|| self.lost("the client closed"));
        for batch in in_flight {
            let _ = batch.reply.send(Err(error.clone()));
        }
        if let Some(socket) = &socket {
            self.call(py, loop_io, "remove_reader", (socket.fd(),));
            if watching_writes {
                self.call(py, loop_io, "remove_writer", (socket.fd(),));
            }
        }
        drop(socket);
        {
            let mut connections = loop_io.connections.lock();
            let slot = &mut connections[self.server];
            if slot.as_ref().is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), self)) {
                *slot = None;
            }
        }
        loop_io.retire_if_spent(py);
    }

    /// Call an event-loop method; a failure (the loop is closing) is reported as unraisable
    /// and ends nothing by itself. Returns whether the call succeeded.
    fn call<'py, A: pyo3::call::PyCallArgs<'py>>(
        &self,
        py: Python<'py>,
        loop_io: &LoopIo,
        method: &str,
        args: A,
    ) -> bool {
        match loop_io.event_loop(py).call_method1(method, args) {
            Ok(_) => true,
            Err(error) => {
                error.write_unraisable(py, None);
                false
            }
        }
    }

    fn lost(&self, detail: &str) -> Error {
        Error::ConnectionLost {
            server: self.name.to_string(),
            detail: detail.to_owned(),
        }
    }
}

#[derive(Clone, Copy)]
enum Event {
    Readable,
    Writable,
    Flush,
    Timer(u64),
}

/// What the loop calls back: one event of one connection, run as an entry point of its
/// [`LoopIo`] (tasks woken by it are polled before it returns).
#[pyclass(frozen, module = "memlease._core")]
struct Callback {
    connection: Arc<LoopConnection>,
    loop_io: Arc<LoopIo>,
    event: Event,
}

impl Callback {
    fn new(connection: &Arc<LoopConnection>, loop_io: &Arc<LoopIo>, event: Event) -> Self {
        Callback {
            connection: Arc::clone(connection),
            loop_io: Arc::clone(loop_io),
            event,
        }
    }
}

#[pymethods]
impl Callback {
    fn __call__(&self, py: Python<'_>) {
        let (connection, loop_io) = (&self.connection, &self.loop_io);
        loop_io.enter(py, |py| match self.event {
            Event::Readable => connection.on_readable(py, loop_io),
            Event::Writable | Event::Flush => connection.flush(py, loop_io),
            Event::Timer(number) => connection.on_timer(py, loop_io, number),
        });
    }
}
