//! The loop's executor: runs operations (Rust futures) on the event loop's thread.
//!
//! Entry points are the Python calls into this module: a client method starting a task, the
//! reader callback of a connection, a timer, and the eventfd that other threads write to wake
//! a task (a connect finishing on the runtime's blocking pool). Each entry point ends by
//! polling every task that was woken, so a reply parsed in a reader callback resolves its
//! future in that same callback. The entry point's thread is the loop's, and it holds the GIL.

use super::connection::LoopConnection;
use crate::fork;
use crate::py::delivery::{resolve_future, Resolve};
use parking_lot::Mutex;
use pyo3::prelude::*;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use tokio_util::sync::ReusableBoxFuture;

/// What a task ends with: the asyncio future it resolves and how to build its result, or
/// nothing (a task of the executor's own, such as a connect).
pub type Finished = Option<(Py<PyAny>, Resolve)>;

/// Finished tasks kept for reuse, per loop.
const SPARE_TASKS: usize = 256;

struct Task {
    loop_io: Weak<LoopIo>,
    future: Mutex<Slot>,
    /// In the ready queue already: a second wake adds nothing.
    queued: AtomicBool,
}

/// A task's future. A finished one is kept (it holds nothing any more: a completed async
/// block has dropped its state) so that the next call on this loop reuses its allocation.
struct Slot {
    future: ReusableBoxFuture<'static, Finished>,
    running: bool,
}

impl Wake for Task {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(loop_io) = self.loop_io.upgrade() {
            loop_io.schedule(Arc::clone(self));
        }
    }
}

thread_local! {
    /// The loop whose entry point this thread is in, if any (see [`LoopIo::current`]).
    static CURRENT: RefCell<Option<Arc<LoopIo>>> = const { RefCell::new(None) };
}

/// One client's tasks and connections on one event loop.
pub struct LoopIo {
    event_loop: Py<PyAny>,
    ready: Mutex<VecDeque<Arc<Task>>>,
    /// Finished tasks nothing refers to any more, for reuse.
    spare: Mutex<Vec<Arc<Task>>>,
    /// Written by a wake from another thread; the loop watches it.
    wakeup: OwnedFd,
    armed: AtomicBool,
    /// Client calls started here and not yet resolved (`close()` waits for none).
    outstanding: AtomicUsize,
    /// Each server's connection on this loop, by server index.
    pub(super) connections: Mutex<Vec<Option<Arc<LoopConnection>>>>,
    /// Set when the client is closed or dropped: connections end once idle.
    pub(super) closing: AtomicBool,
    /// The fork generation this was made in: a child never uses its parent's sockets.
    generation: u64,
}

impl LoopIo {
    fn new(event_loop: &Bound<'_, PyAny>, servers: usize) -> PyResult<Arc<Self>> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let wakeup = unsafe { OwnedFd::from_raw_fd(fd) };
        let loop_io = Arc::new(LoopIo {
            event_loop: event_loop.clone().unbind(),
            ready: Mutex::new(VecDeque::new()),
            spare: Mutex::new(Vec::new()),
            wakeup,
            armed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            connections: Mutex::new(vec![None; servers]),
            closing: AtomicBool::new(false),
            generation: fork::generation(),
        });
        event_loop.call_method1(
            pyo3::intern!(event_loop.py(), "add_reader"),
            (loop_io.wakeup.as_raw_fd(), WakeupCallback(Arc::clone(&loop_io))),
        )?;
        Ok(loop_io)
    }

    pub fn event_loop<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.event_loop.bind(py)
    }

    /// The loop whose task is being polled on this thread: operations polled here do their
    /// I/O on its connections.
    pub fn current() -> Option<Arc<LoopIo>> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// Start a client call: poll it at once (it writes its request), then whenever woken.
    pub fn start_call(self: &Arc<Self>, py: Python<'_>, call: impl Future<Output = Finished> + Send + 'static) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        self.spawn(py, call);
    }

    /// Start a task of the executor's own (it resolves no client call).
    pub fn spawn(self: &Arc<Self>, py: Python<'_>, future: impl Future<Output = Finished> + Send + 'static) {
        let spare = self.spare.lock().pop();
        let task = match spare {
            Some(task) => {
                let mut slot = task.future.lock();
                slot.future.set(future);
                slot.running = true;
                drop(slot);
                task.queued.store(true, Ordering::Release);
                task
            }
            None => Arc::new(Task {
                loop_io: Arc::downgrade(self),
                future: Mutex::new(Slot {
                    future: ReusableBoxFuture::new(future),
                    running: true,
                }),
                queued: AtomicBool::new(true),
            }),
        };
        self.ready.lock().push_back(task);
        self.enter(py, |_| {});
    }

    /// Run `f` as an entry point: tasks woken meanwhile are polled before returning. Nested
    /// entries (a result's deserializer making another call) leave the polling to the
    /// outermost one.
    pub fn enter<R>(self: &Arc<Self>, py: Python<'_>, f: impl FnOnce(Python<'_>) -> R) -> R {
        let outer = CURRENT.with(|current| current.replace(Some(Arc::clone(self))));
        let nested = outer.as_ref().is_some_and(|o| Arc::ptr_eq(o, self));
        let result = f(py);
        if !nested {
            self.run_ready(py);
        }
        CURRENT.with(|current| *current.borrow_mut() = outer);
        result
    }

    /// Queue a woken task; from another thread, also wake the loop.
    fn schedule(self: &Arc<Self>, task: Arc<Task>) {
        if task.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        self.ready.lock().push_back(task);
        let here = CURRENT.with(|current| current.borrow().as_ref().is_some_and(|c| Arc::ptr_eq(c, self)));
        if !here && !self.armed.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd.
            unsafe { libc::write(self.wakeup.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    fn run_ready(&self, py: Python<'_>) {
        loop {
            let Some(task) = self.ready.lock().pop_front() else {
                return;
            };
            task.queued.store(false, Ordering::Release);
            let finished = {
                let mut slot = task.future.lock();
                if !slot.running {
                    continue; // a stale wake of a finished task
                }
                let waker = Waker::from(Arc::clone(&task));
                match slot.future.poll(&mut Context::from_waker(&waker)) {
                    Poll::Pending => continue,
                    Poll::Ready(finished) => {
                        slot.running = false;
                        finished
                    }
                }
            };
            if let Some((future, resolve)) = finished {
                self.outstanding.fetch_sub(1, Ordering::AcqRel);
                resolve_future(py, future.bind(py), resolve);
            }
            // Reusable once nothing else refers to it (no waker left anywhere), so a wake
            // meant for this task can never poll the next one.
            if Arc::strong_count(&task) == 1 {
                let mut spare = self.spare.lock();
                if spare.len() < SPARE_TASKS {
                    spare.push(task);
                }
            }
        }
    }

    fn drain_wakeup(self: &Arc<Self>, py: Python<'_>) {
        let mut counter: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing pending) is harmless.
        unsafe { libc::read(self.wakeup.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
        self.armed.store(false, Ordering::SeqCst);
        self.enter(py, |py| {
            if self.closing.load(Ordering::Acquire) {
                self.end_idle_connections(py);
                self.retire_if_spent(py);
            }
        });
    }

    /// Once closing and nothing is left (no connection, no call in flight), stop watching the
    /// eventfd: the loop then drops its callback, the last strong reference but the client's.
    pub(super) fn retire_if_spent(&self, py: Python<'_>) {
        let spent = self.closing.load(Ordering::Acquire)
            && self.outstanding.load(Ordering::Acquire) == 0
            && self.connections.lock().iter().all(Option::is_none);
        if spent {
            let removed = self
                .event_loop(py)
                .call_method1(pyo3::intern!(py, "remove_reader"), (self.wakeup.as_raw_fd(),));
            if let Err(error) = removed {
                error.write_unraisable(py, None);
            }
        }
    }

    /// Whether this was made in this process (not inherited across a fork).
    pub fn usable(&self) -> bool {
        self.generation == fork::generation()
    }

    /// End every connection with nothing in flight (the client is closing); the others end
    /// when their last reply is in.
    fn end_idle_connections(self: &Arc<Self>, py: Python<'_>) {
        let idle: Vec<Arc<LoopConnection>> = self
            .connections
            .lock()
            .iter()
            .flatten()
            .filter(|c| c.is_idle())
            .cloned()
            .collect();
        for connection in idle {
            connection.end(py, self, None);
        }
    }

    /// Its loop closed: no callback will come any more. Calls in flight fail, and their tasks
    /// are dropped here (a task waiting on a reply is referenced only by that reply's waker,
    /// which it holds itself: left alone, the pair would never be freed).
    fn abandon(self: &Arc<Self>, py: Python<'_>) {
        let connections: Vec<Arc<LoopConnection>> =
            self.connections.lock().iter_mut().filter_map(Option::take).collect();
        for connection in connections {
            let error = crate::error::Error::ConnectionLost {
                server: connection.name().to_string(),
                detail: "its event loop closed".into(),
            };
            connection.end(py, self, Some(error));
        }
        let queued: Vec<Arc<Task>> = self.ready.lock().drain(..).collect();
        for task in queued {
            let mut slot = task.future.lock();
            slot.future.set(std::future::ready(None));
            slot.running = false;
        }
        self.spare.lock().clear();
    }

    /// The client is closing or gone: end connections as they go idle. Called on any thread;
    /// the loop does the work (sockets are unregistered from the thread that watches them).
    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        if !self.armed.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: as in `schedule`.
            unsafe { libc::write(self.wakeup.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
}

/// The loop's reader callback of a [`LoopIo`]'s eventfd. It keeps the `LoopIo` (and so the
/// eventfd) alive while the loop watches it, so the descriptor is never closed while registered.
#[pyclass(frozen, module = "memlease._core")]
struct WakeupCallback(Arc<LoopIo>);

#[pymethods]
impl WakeupCallback {
    fn __call__(&self, py: Python<'_>) {
        self.0.drain_wakeup(py);
    }
}

/// A client's [`LoopIo`]s, one per event loop it has been called from.
#[derive(Default)]
pub struct Loops {
    by_loop: Mutex<Vec<Arc<LoopIo>>>,
}

impl Loops {
    /// The running loop's, made on first use.
    pub fn for_loop(&self, event_loop: &Bound<'_, PyAny>, servers: usize) -> PyResult<Arc<LoopIo>> {
        let py = event_loop.py();
        {
            let by_loop = self.by_loop.lock();
            if let Some(found) = by_loop.iter().find(|l| l.event_loop.bind(py).is(event_loop)) {
                if found.usable() {
                    return Ok(Arc::clone(found));
                }
            }
        }
        self.forget_unusable(py);
        let fresh = LoopIo::new(event_loop, servers)?;
        self.by_loop.lock().push(Arc::clone(&fresh));
        Ok(fresh)
    }

    /// Drop the entries of closed loops (they can call back no more) and of a parent process.
    pub fn forget_unusable(&self, py: Python<'_>) {
        let all: Vec<Arc<LoopIo>> = self.by_loop.lock().clone();
        let gone: Vec<Arc<LoopIo>> = all
            .into_iter()
            .filter(|l| {
                !l.usable()
                    || l.event_loop
                        .bind(py)
                        .call_method0("is_closed")
                        .and_then(|c| c.is_truthy())
                        .unwrap_or(true)
            })
            .collect();
        if !gone.is_empty() {
            self.by_loop.lock().retain(|l| !gone.iter().any(|g| Arc::ptr_eq(g, l)));
        }
        for loop_io in gone.iter().filter(|l| l.usable()) {
            loop_io.abandon(py);
        }
    }

    /// Each server's connections, over every open loop (connecting ones included).
    pub fn connection_counts(&self, py: Python<'_>, servers: usize) -> Vec<usize> {
        self.forget_unusable(py);
        let mut counts = vec![0; servers];
        for loop_io in self.by_loop.lock().iter() {
            for (server, connection) in loop_io.connections.lock().iter().enumerate() {
                counts[server] += usize::from(connection.is_some());
            }
        }
        counts
    }

    /// Calls started on any loop and not yet resolved.
    pub fn outstanding(&self) -> usize {
        self.by_loop
            .lock()
            .iter()
            .map(|l| l.outstanding.load(Ordering::Acquire))
            .sum()
    }

    /// The client is closing or gone: every loop ends its connections once they are idle.
    pub fn close(&self) {
        for loop_io in self.by_loop.lock().iter() {
            loop_io.close();
        }
    }
}
