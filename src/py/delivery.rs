//! Hand finished operations back to an asyncio event loop in batches.
//!
//! Runtime tasks never take the GIL. A finished operation is queued together with the asyncio
//! future it resolves; the first one queued since the last drain writes to an eventfd that the
//! loop watches (`loop.add_reader`). The loop then drains the whole queue in one callback,
//! building every Python result and resolving every future with the GIL it already holds.
//! (pyo3-async-runtimes' `future_into_py` instead takes the GIL from a blocking-pool thread for
//! each future: measured here at ~9k ops/s against ~150k ops/s for this path.)
//!
//! A future cancelled while its operation ran is skipped: the operation itself completed on its
//! connection, so nothing is left out of step.

use parking_lot::Mutex;
use pyo3::prelude::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// Builds the Python result of a finished operation (runs on the loop thread, GIL held).
pub type Resolve = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Finished {
    future: Py<PyAny>,
    resolve: Resolve,
}

/// The queue of finished operations for one event loop.
pub struct Delivery {
    wakeup: OwnedFd,
    finished: Mutex<Vec<Finished>>,
    /// Set when the eventfd has been written and not yet drained.
    armed: AtomicBool,
    /// Operations launched and not yet queued here; `close()` waits for zero.
    outstanding: AtomicUsize,
    /// The client is gone: stop watching the eventfd once everything is delivered.
    released: AtomicBool,
}

impl Delivery {
    fn new() -> std::io::Result<Self> {
        // SAFETY: plain syscall; the returned descriptor is owned below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let wakeup = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Delivery {
            wakeup,
            finished: Mutex::new(Vec::new()),
            armed: AtomicBool::new(false),
            outstanding: AtomicUsize::new(0),
            released: AtomicBool::new(false),
        })
    }

    /// Count an operation that will finish through this delivery.
    pub fn launched(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Queue a finished operation (any thread, no GIL).
    pub fn finish(&self, future: Py<PyAny>, resolve: Resolve) {
        self.finished.lock().push(Finished { future, resolve });
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
        self.wake();
    }

    /// Have the loop run [`Self::drain`] (unless it is due to already).
    fn wake(&self) {
        if !self.armed.swap(true, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full counter (EAGAIN)
            // cannot happen: it is drained before it could approach u64::MAX.
            unsafe { libc::write(self.wakeup.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// The client is gone (any thread): the loop stops watching this delivery once the
    /// operations still running are delivered.
    fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Whether a released delivery has nothing more to deliver. Checked after a drain: an
    /// operation finishing meanwhile has queued its result before it stopped counting as
    /// outstanding, and re-arms the wakeup after, so it is either seen here or drained next.
    fn spent(&self) -> bool {
        self.released.load(Ordering::SeqCst)
            && self.outstanding.load(Ordering::SeqCst) == 0
            && self.finished.lock().is_empty()
    }

    /// Resolve every queued future (the loop's reader callback).
    fn drain(&self, py: Python<'_>) {
        let mut counter: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (nothing pending) is harmless.
        unsafe { libc::read(self.wakeup.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
        // Disarm before taking the queue: a completion racing with this drain re-arms and is
        // picked up by the next callback.
        self.armed.store(false, Ordering::SeqCst);
        let batch = std::mem::take(&mut *self.finished.lock());
        for Finished { future, resolve } in batch {
            resolve_future(py, future.bind(py), resolve);
        }
    }
}

/// Resolve `future` with what `resolve` builds, unless it is done already (its caller
/// cancelled it): the operation itself has completed, so nothing is left out of step.
pub fn resolve_future(py: Python<'_>, future: &Bound<'_, PyAny>, resolve: Resolve) {
    if future
        .call_method0(pyo3::intern!(py, "done"))
        .and_then(|d| d.is_truthy())
        .unwrap_or(true)
    {
        return;
    }
    let outcome = match resolve(py) {
        Ok(value) => future.call_method1(pyo3::intern!(py, "set_result"), (value,)),
        Err(error) => future.call_method1(pyo3::intern!(py, "set_exception"), (error.into_value(py),)),
    };
    if let Err(error) = outcome {
        error.write_unraisable(py, Some(future));
    }
}

/// The `add_reader` callback of one delivery.
#[pyclass(frozen, module = "memlease._core")]
pub struct DeliveryDrain(Arc<Delivery>);

#[pymethods]
impl DeliveryDrain {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        self.0.drain(py);
        if self.0.spent() {
            // This callback runs on the loop that watches the eventfd, so it may stop watching
            // it; the loop then drops this callback, and with it the delivery and its eventfd.
            let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
            event_loop.call_method1("remove_reader", (self.0.wakeup.as_raw_fd(),))?;
        }
        Ok(())
    }
}

/// The deliveries of one client, one per event loop it has been used from.
///
/// The lock only guards pointer comparisons and list edits; Python is never called while it is
/// held (a Python call may release the GIL, and a thread holding the GIL and waiting for this
/// lock would then deadlock with us).
#[derive(Default)]
pub struct Deliveries {
    by_loop: Mutex<Vec<(Py<PyAny>, Arc<Delivery>)>>,
}

impl Deliveries {
    fn find(&self, event_loop: &Bound<'_, PyAny>) -> Option<Arc<Delivery>> {
        let py = event_loop.py();
        let by_loop = self.by_loop.lock();
        by_loop
            .iter()
            .find(|(l, _)| l.bind(py).is(event_loop))
            .map(|(_, d)| Arc::clone(d))
    }

    /// The delivery of `event_loop`, registering a reader on first use.
    pub fn for_loop(&self, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Delivery>> {
        if let Some(delivery) = self.find(event_loop) {
            return Ok(delivery);
        }
        self.forget_closed_loops(event_loop.py());
        let delivery = Arc::new(Delivery::new()?);
        event_loop.call_method1(
            "add_reader",
            (delivery.wakeup.as_raw_fd(), DeliveryDrain(Arc::clone(&delivery))),
        )?;
        self.by_loop
            .lock()
            .push((event_loop.clone().unbind(), Arc::clone(&delivery)));
        Ok(delivery)
    }

    /// Drop the entries of loops closed since their last use: they can no longer call back.
    fn forget_closed_loops(&self, py: Python<'_>) {
        let loops: Vec<Py<PyAny>> = self.by_loop.lock().iter().map(|(l, _)| l.clone_ref(py)).collect();
        let closed: Vec<Py<PyAny>> = loops
            .into_iter()
            .filter(|l| {
                l.bind(py)
                    .call_method0("is_closed")
                    .and_then(|c| c.is_truthy())
                    .unwrap_or(true)
            })
            .collect();
        if !closed.is_empty() {
            self.by_loop.lock().retain(|(l, _)| !closed.iter().any(|c| c.is(l)));
        }
    }

    /// Stop watching `event_loop` (on close, after every operation has been delivered).
    pub fn detach(&self, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = event_loop.py();
        let removed = {
            let mut by_loop = self.by_loop.lock();
            let at = by_loop.iter().position(|(l, _)| l.bind(py).is(event_loop));
            at.map(|at| by_loop.remove(at).1)
        };
        if let Some(delivery) = removed {
            delivery.drain(py);
            event_loop.call_method1("remove_reader", (delivery.wakeup.as_raw_fd(),))?;
        }
        Ok(())
    }

    /// The client is gone: hand every loop's delivery over to the loop (see [`Delivery::release`])
    /// and forget the loops. Results still queued hold the client's core; once they no longer
    /// also hang off the core (here), delivering them, or the loop closing, frees it.
    pub fn release(&self) {
        let released = std::mem::take(&mut *self.by_loop.lock());
        for (_, delivery) in &released {
            delivery.release();
        }
    }

    /// Operations not yet delivered, over every loop.
    pub fn outstanding(&self) -> usize {
        self.by_loop.lock().iter().map(|(_, d)| d.outstanding()).sum()
    }
}
