//! `memlease.AsyncClient`: the asyncio client. Same methods, arguments, results and errors as
//! `Client`; each method prepares its operation (GIL held), runs it on the memlease runtime over
//! multiplexed connections, and returns an asyncio future that the event loop resolves in
//! batches (see `py::delivery`).
//!
//! Cancelling the awaiting task cancels only the future: the operation still completes on its
//! connection (or is skipped if it was not yet written), so no connection goes out of step and
//! no capacity leaks.

use super::convert::{Count, Delay, Seconds, Ttl, Unsigned};
use super::delivery::Deliveries;
use super::ops::{self, Op};
use super::options::{self, Options};
use super::options::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_TIMEOUT, DEFAULT_TIMEOUT};
use super::serde::{Serde, DEFAULT_COMPRESS_THRESHOLD};
use crate::client::Client as Core;
use crate::protocol::request::{ArithmeticMode, Command, SetMode};
use crate::runtime;
use crate::transport::Multiplexed;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;
use std::time::Duration;

/// How often `close()` checks whether every operation has been delivered.
const CLOSE_POLL: Duration = Duration::from_millis(2);

struct Inner {
    core: Core<Multiplexed>,
    serde: Serde,
    deliveries: Deliveries,
}

/// An asyncio memcached client; every method is awaitable. Safe to share between tasks (and
/// event loops); connections are multiplexed, so concurrent calls are pipelined.
#[pyclass(frozen, module = "memlease._core", name = "AsyncClient")]
pub struct AsyncClient {
    inner: Arc<Inner>,
}

impl AsyncClient {
    /// Run `op` on the runtime; the returned future is resolved by the running loop.
    fn launch<'py, O: Op>(&self, py: Python<'py>, op: O) -> PyResult<Bound<'py, PyAny>> {
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let delivery = self.inner.deliveries.for_loop(&event_loop)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let handle = future.clone().unbind();
        let inner = Arc::clone(&self.inner);
        delivery.launched();
        runtime::spawn(async move {
            let output = op.run(&inner.core).await;
            let finish = Box::new(move |py: Python<'_>| op.finish(py, output?, &inner.serde));
            delivery.finish(handle, finish);
        });
        Ok(future)
    }

    fn store<'py>(
        &self,
        py: Python<'py>,
        mode: SetMode,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
        cas: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Store::new(&self.inner.serde, mode, key, value, ttl.0, cas)?)
    }
}

#[pymethods]
impl AsyncClient {
    #[new]
    #[pyo3(signature = (
        servers,
        *,
        connect_timeout = Seconds(DEFAULT_CONNECT_TIMEOUT),
        timeout = Seconds(DEFAULT_TIMEOUT),
        max_connections = Count(DEFAULT_MAX_CONNECTIONS),
        pool_timeout = Seconds(DEFAULT_POOL_TIMEOUT),
        serde = None,
        pickle = true,
        compress_threshold = Some(Count(DEFAULT_COMPRESS_THRESHOLD)),
    ),
    text_signature = "(servers, *, connect_timeout=0.25, timeout=0.25, max_connections=16, pool_timeout=0.25, serde=None, pickle=True, compress_threshold=16384)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        servers: &Bound<'_, PyAny>,
        connect_timeout: Seconds,
        timeout: Seconds,
        max_connections: Count,
        pool_timeout: Seconds,
        serde: Option<&Bound<'_, PyAny>>,
        pickle: bool,
        compress_threshold: Option<Count>,
    ) -> PyResult<Self> {
        let options = Options {
            servers,
            connect_timeout,
            timeout,
            max_connections,
            pool_timeout,
            serde,
            pickle,
            compress_threshold,
        };
        let (cluster, serde) = options.build()?;
        Ok(AsyncClient {
            inner: Arc::new(Inner {
                core: Core::new(Multiplexed(cluster)),
                serde,
                deliveries: Deliveries::default(),
            }),
        })
    }

    /// The value stored under `key`, or `default` on a miss.
    #[pyo3(signature = (key, default = None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Get::new(key, default, false)?)
    }

    /// `(value, cas)` for `key`, or `None` on a miss.
    fn gets<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Get::new(key, None, true)?)
    }

    /// Store unconditionally. True when stored.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Set, key, value, ttl, None)
    }

    /// Store only if `key` is absent.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn add<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Add, key, value, ttl, None)
    }

    /// Store only if `key` exists.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn replace<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Replace, key, value, ttl, None)
    }

    /// Append to an existing value (the serialized forms are concatenated; the TTL is kept).
    fn append<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Append, key, value, Ttl(0), None)
    }

    /// Prepend to an existing value.
    fn prepend<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Prepend, key, value, Ttl(0), None)
    }

    /// Store only if the item's CAS is still `cas`. False if it changed or is gone.
    #[pyo3(signature = (key, value, cas, ttl = Ttl(0)), text_signature = "($self, key, value, cas, ttl=0)")]
    fn cas<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        cas: Unsigned,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store(py, SetMode::Set, key, value, ttl, Some(cas.0))
    }

    /// Delete `key`. True if it existed.
    fn delete<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Delete::new(key)?)
    }

    /// Set a new TTL. True if the key existed.
    fn touch<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Touch::new(key, ttl.0)?)
    }

    /// Add `delta`; returns the new value, or None if the key is missing and `initial` is None.
    /// With `initial`, a missing key is created holding `initial` with `ttl`.
    #[pyo3(
        signature = (key, delta = Unsigned(1), *, initial = None, ttl = Ttl(0)),
        text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
    )]
    fn incr<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        delta: Unsigned,
        initial: Option<Unsigned>,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        let op = ops::Arithmetic::new(key, ArithmeticMode::Increment, delta.0, initial.map(|i| i.0), ttl.0)?;
        self.launch(py, op)
    }

    /// Subtract `delta` (never below 0); same contract as `incr`.
    #[pyo3(
        signature = (key, delta = Unsigned(1), *, initial = None, ttl = Ttl(0)),
        text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
    )]
    fn decr<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        delta: Unsigned,
        initial: Option<Unsigned>,
        ttl: Ttl,
    ) -> PyResult<Bound<'py, PyAny>> {
        let op = ops::Arithmetic::new(key, ArithmeticMode::Decrement, delta.0, initial.map(|i| i.0), ttl.0)?;
        self.launch(py, op)
    }

    /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
    fn get_many<'py>(&self, py: Python<'py>, keys: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::GetMany::new(keys)?)
    }

    /// Store every item of `mapping`; returns the keys that were not stored.
    #[pyo3(signature = (mapping, ttl = Ttl(0)), text_signature = "($self, mapping, ttl=0)")]
    fn set_many<'py>(&self, py: Python<'py>, mapping: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::SetMany::new(&self.inner.serde, mapping, ttl.0)?)
    }

    /// Delete many keys in one batch per server; returns how many existed.
    fn delete_many<'py>(&self, py: Python<'py>, keys: &Bound<'_, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::DeleteMany::new(keys)?)
    }

    /// Invalidate every item on every server (after `delay` seconds).
    #[pyo3(signature = (delay = Delay(0)), text_signature = "($self, delay=0)")]
    fn flush_all<'py>(&self, py: Python<'py>, delay: Delay) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::FlushAll(delay.0))
    }

    /// `{server: {stat: value}}`; numbers are converted to int / float. `stats("settings")`
    /// and other groups work too.
    #[pyo3(signature = (*args))]
    fn stats<'py>(&self, py: Python<'py>, args: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Stats::new(args)?)
    }

    /// `{server: version string}`.
    fn version<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Version)
    }

    /// `mg` with any flags (`"v c t N30"`); returns every return flag.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_get<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Meta::new(Command::Get, key, flags)?)
    }

    /// `ms` with any flags (`"T60 C123 I"`); the value is serialized and its client flags sent
    /// unless `flags` sets `F` itself.
    #[pyo3(signature = (key, value, flags = ""))]
    fn meta_set<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        flags: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Meta::set(&self.inner.serde, key, value, flags)?)
    }

    /// `md` with any flags (`"I T30"` marks stale instead of deleting).
    #[pyo3(signature = (key, flags = ""))]
    fn meta_delete<'py>(&self, py: Python<'py>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Meta::new(Command::Delete, key, flags)?)
    }

    /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_arithmetic<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'_, PyAny>,
        flags: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.launch(py, ops::Meta::new(Command::Arithmetic, key, flags)?)
    }

    /// The server (`"host:port"`) that holds `key`.
    fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        options::server_for(self.inner.core.cluster(), key)
    }

    /// The configured servers, in order.
    #[getter]
    fn servers(&self) -> Vec<String> {
        options::server_names(self.inner.core.cluster())
    }

    /// `{server: {"open": n, "idle": n, ...}}`: this process's connections.
    fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        options::pool_stats(py, self.inner.core.cluster())
    }

    /// Close: new calls fail with `MemcacheConnectionError`, queued batches fail, batches in
    /// flight finish; the returned awaitable resolves once every operation has been delivered.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.core.close();
        let event_loop = pyo3_async_runtimes::get_running_loop(py)?;
        let delivery = self.inner.deliveries.for_loop(&event_loop)?;
        let future = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
        let handle = future.clone().unbind();
        let loop_handle = event_loop.unbind();
        let inner = Arc::clone(&self.inner);
        let config = inner.core.cluster().config();
        let patience = config.timeout + config.pool.pool_timeout + config.pool.connect_timeout + Duration::from_secs(1);
        delivery.launched();
        runtime::spawn(async move {
            let give_up = tokio::time::Instant::now() + patience;
            // This close is itself outstanding until delivered.
            while inner.deliveries.outstanding() > 1 && tokio::time::Instant::now() < give_up {
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
}
