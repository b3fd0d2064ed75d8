//! `memlease.AsyncClient`: the asyncio client. Same methods, arguments, results and errors as
//! `Client` (`py::methods`); each method prepares its operation (GIL held), runs it on the
//! memlease runtime over multiplexed connections, and returns an asyncio future that the event
//! loop resolves in batches (see `py::delivery`).
//!
//! Cancelling the awaiting task cancels only the future: the operation still completes on its
//! connection (or is skipped if it was not yet written), so no connection goes out of step and
//! no capacity leaks.

use super::behaviour::{AsyncIo, Behaviour, OnServerError};
use super::constructor::Options;
use super::delivery::{Deliveries, Resolve};
use super::methods::{client_methods, conclude, fire_events, ClientClass};
use super::ops::Op;
use super::serde::Serde;
use crate::aio::Loops;
use crate::client::Client as Core;
use crate::cluster::Cluster;
use crate::runtime;
use crate::transport::Multiplexed;
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often `close()` checks whether every operation has been delivered.
const CLOSE_POLL: Duration = Duration::from_millis(2);

struct Inner {
    core: Core<Multiplexed>,
    serde: Serde,
    behaviour: Behaviour,
    deliveries: Deliveries,
    /// The event-loop I/O path's state, per loop (see `crate::aio`).
    loops: Loops,
}

/// An asyncio memcached client; every method is awaitable. Safe to share between tasks (and
/// event loops); connections are multiplexed, so concurrent calls are pipelined.
#[pyclass(frozen, subclass, module = "memlease._core", name = "AsyncClient")]
pub struct AsyncClient {
    inner: Arc<Inner>,
}

impl Drop for AsyncClient {
    /// Collected without `close()`: nothing can start a new operation any more. The event
    /// loops stop watching for results once the running operations are delivered; then the
    /// core is freed, and its connections close (see `Cluster`'s `Drop`). (After `close()`,
    /// this finds nothing left to release.)
    fn drop(&mut self) {
        self.inner.deliveries.release();
        // Calls stranded on closed loops hold the client's state through their wakers: free
        // them now rather than rely on a later call noticing the loop is gone.
        Python::attach(|py| self.inner.loops.forget_unusable(py));
        self.inner.loops.close();
    }
}

impl ClientClass for AsyncClient {
    fn from_options(options: Options<'_, '_>) -> PyResult<Self> {
        let built = options.build()?;
        let inner = Inner {
            core: Core::with_hot_keys(Multiplexed(built.cluster), built.hot),
            serde: built.serde,
            behaviour: built.behaviour,
            deliveries: Deliveries::default(),
            loops: Loops::default(),
        };
        Ok(AsyncClient { inner: Arc::new(inner) })
    }

    fn serde(&self) -> &Serde {
        &self.inner.serde
    }

    fn cluster(&self) -> &Cluster {
        self.inner.core.cluster()
    }

    fn split_keys(&self) -> &crate::client::hot::SplitKeys {
        self.inner.core.split_keys()
    }

    fn local_cache(&self) -> Option<crate::client::hot::LocalStats> {
        self.inner.core.local_cache_stats()
    }

    fn behaviour(&self) -> &Behaviour {
        &self.inner.behaviour
    }

    fn loop_connections(&self) -> Vec<usize> {
        Python::attach(|py| {
            self.inner
                .loops
                .connection_counts(py, self.inner.core.cluster().server_count())
        })
    }

    /// Run `op` on the runtime; the returned future is resolved by the running loop.
    fn run<O: Op>(&self, py: Python<'_>, started: Instant, op: O, policy: OnServerError) -> PyResult<Py<PyAny>> {
        if self.inner.behaviour.io == AsyncIo::Loop {
            return self.run_on_loop(py, started, op, policy);
        }
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let delivery = self.inner.deliveries.for_loop(&event_loop)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let handle = future.clone().unbind();
        let inner = Arc::clone(&self.inner);
        delivery.launched();
        runtime::spawn(async move {
            let output = crate::call::scope(started, op.run(&inner.core)).await;
            let finish = Box::new(move |py: Python<'_>| {
                fire_events(py, inner.core.cluster(), &inner.behaviour);
                conclude(py, op, output, policy, &inner.serde)
            });
            delivery.finish(handle, finish);
        });
        Ok(future.unbind())
    }
}

impl AsyncClient {
    /// Run `op` as a task of the running loop's executor: its I/O happens on this thread.
    fn run_on_loop<O: Op>(
        &self,
        py: Python<'_>,
        started: Instant,
        op: O,
        policy: OnServerError,
    ) -> PyResult<Py<PyAny>> {
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let loop_io = self
            .inner
            .loops
            .for_loop(&event_loop, self.inner.core.cluster().server_count())?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let handle = future.clone().unbind();
        let inner = Arc::clone(&self.inner);
        loop_io.start_call(py, async move {
            let output = crate::call::scope(started, op.run(&inner.core)).await;
            let resolve: Resolve = Box::new(move |py: Python<'_>| {
                fire_events(py, inner.core.cluster(), &inner.behaviour);
                conclude(py, op, output, policy, &inner.serde)
            });
            Some((handle, resolve))
        });
        Ok(future.unbind())
    }
}

client_methods!(AsyncClient, {
    /// Close: new calls fail with `MemcacheConnectionError`, queued batches fail, batches in
    /// flight finish; the returned awaitable resolves once every operation has been delivered.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.core.close();
        self.inner.loops.forget_unusable(py);
        self.inner.loops.close();
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let delivery = self.inner.deliveries.for_loop(&event_loop)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let handle = future.clone().unbind();
        let loop_handle = event_loop.unbind();
        let inner = Arc::clone(&self.inner);
        let cluster = inner.core.cluster();
        let longest = (0..cluster.server_count())
            .map(|s| cluster.patience(s))
            .max()
            .unwrap_or_default();
        let patience = longest + Duration::from_secs(1);
        delivery.launched();
        runtime::spawn(async move {
            let give_up = tokio::time::Instant::now() + patience;
            // This close is itself outstanding until delivered.
            while inner.deliveries.outstanding() + inner.loops.outstanding() > 1
                && tokio::time::Instant::now() < give_up
            {
                tokio::time::sleep(CLOSE_POLL).await;
            }
            let detach = Arc::clone(&inner);
            delivery.finish(
                handle,
                Box::new(move |py: Python<'_>| {
                    detach.deliveries.detach(loop_handle.bind(py))?;
                    Ok(py.None())
                }),
            );
        });
        Ok(future)
    }

    fn __aenter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        future.call_method1(pyo3::intern!(py, "set_result"), (slf,))?;
        Ok(future)
    }

    #[pyo3(signature = (exc_type, exc, tb))]
    fn __aexit__<'py>(
        &self,
        py: Python<'py>,
        exc_type: &Bound<'_, PyAny>,
        exc: &Bound<'_, PyAny>,
        tb: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = (exc_type, exc, tb);
        self.close(py)
    }
});
