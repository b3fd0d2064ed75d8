//! `memlease.Client`: the synchronous client. Each method prepares its operation (GIL held),
//! runs it on the calling thread with the GIL released, then builds the Python result.

use super::convert::{Count, Delay, Seconds, Ttl, Unsigned};
use super::ops::{self, Op};
use super::options::{self, Options};
use super::options::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_POOL_TIMEOUT, DEFAULT_TIMEOUT};
use super::serde::{Serde, DEFAULT_COMPRESS_THRESHOLD};
use crate::client::Client as Core;
use crate::protocol::request::{ArithmeticMode, Command, SetMode};
use crate::transport::{run_blocking, Blocking};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// A memcached client for one or more servers. Thread-safe: share one per process.
#[pyclass(frozen, module = "memlease._core", name = "Client")]
pub struct Client {
    core: Core<Blocking>,
    serde: Serde,
}

impl Client {
    fn execute<O: Op>(&self, py: Python<'_>, op: O) -> PyResult<Py<PyAny>> {
        let output = py.detach(|| run_blocking(op.run(&self.core)))?;
        op.finish(py, output, &self.serde)
    }

    fn store(
        &self,
        py: Python<'_>,
        mode: SetMode,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
        cas: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Store::new(&self.serde, mode, key, value, ttl.0, cas)?)
    }
}

#[pymethods]
impl Client {
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
        Ok(Client {
            core: Core::new(Blocking(cluster)),
            serde,
        })
    }

    /// The value stored under `key`, or `default` on a miss.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Get::new(key, default, false)?)
    }

    /// `(value, cas)` for `key`, or `None` on a miss.
    fn gets(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Get::new(key, None, true)?)
    }

    /// Store unconditionally. True when stored.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Set, key, value, ttl, None)
    }

    /// Store only if `key` is absent.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn add(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Add, key, value, ttl, None)
    }

    /// Store only if `key` exists.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn replace(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
    ) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Replace, key, value, ttl, None)
    }

    /// Append to an existing value (the serialized forms are concatenated; the TTL is kept).
    fn append(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Append, key, value, Ttl(0), None)
    }

    /// Prepend to an existing value.
    fn prepend(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Prepend, key, value, Ttl(0), None)
    }

    /// Store only if the item's CAS is still `cas`. False if it changed or is gone.
    #[pyo3(signature = (key, value, cas, ttl = Ttl(0)), text_signature = "($self, key, value, cas, ttl=0)")]
    fn cas(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        cas: Unsigned,
        ttl: Ttl,
    ) -> PyResult<Py<PyAny>> {
        self.store(py, SetMode::Set, key, value, ttl, Some(cas.0))
    }

    /// Delete `key`. True if it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Delete::new(key)?)
    }

    /// Set a new TTL. True if the key existed.
    fn touch(&self, py: Python<'_>, key: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Touch::new(key, ttl.0)?)
    }

    /// Add `delta`; returns the new value, or None if the key is missing and `initial` is None.
    /// With `initial`, a missing key is created holding `initial` with `ttl`.
    #[pyo3(
        signature = (key, delta = Unsigned(1), *, initial = None, ttl = Ttl(0)),
        text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
    )]
    fn incr(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        delta: Unsigned,
        initial: Option<Unsigned>,
        ttl: Ttl,
    ) -> PyResult<Py<PyAny>> {
        let op = ops::Arithmetic::new(key, ArithmeticMode::Increment, delta.0, initial.map(|i| i.0), ttl.0)?;
        self.execute(py, op)
    }

    /// Subtract `delta` (never below 0); same contract as `incr`.
    #[pyo3(
        signature = (key, delta = Unsigned(1), *, initial = None, ttl = Ttl(0)),
        text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
    )]
    fn decr(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        delta: Unsigned,
        initial: Option<Unsigned>,
        ttl: Ttl,
    ) -> PyResult<Py<PyAny>> {
        let op = ops::Arithmetic::new(key, ArithmeticMode::Decrement, delta.0, initial.map(|i| i.0), ttl.0)?;
        self.execute(py, op)
    }

    /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
    fn get_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::GetMany::new(keys)?)
    }

    /// Store every item of `mapping`; returns the keys that were not stored.
    #[pyo3(signature = (mapping, ttl = Ttl(0)), text_signature = "($self, mapping, ttl=0)")]
    fn set_many(&self, py: Python<'_>, mapping: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::SetMany::new(&self.serde, mapping, ttl.0)?)
    }

    /// Delete many keys in one batch per server; returns how many existed.
    fn delete_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::DeleteMany::new(keys)?)
    }

    /// Invalidate every item on every server (after `delay` seconds).
    #[pyo3(signature = (delay = Delay(0)), text_signature = "($self, delay=0)")]
    fn flush_all(&self, py: Python<'_>, delay: Delay) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::FlushAll(delay.0))
    }

    /// `{server: {stat: value}}`; numbers are converted to int / float. `stats("settings")`
    /// and other groups work too.
    #[pyo3(signature = (*args))]
    fn stats(&self, py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Stats::new(args)?)
    }

    /// `{server: version string}`.
    fn version(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Version)
    }

    /// `mg` with any flags (`"v c t N30"`); returns every return flag.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Meta::new(Command::Get, key, flags)?)
    }

    /// `ms` with any flags (`"T60 C123 I"`); the value is serialized and its client flags sent
    /// unless `flags` sets `F` itself.
    #[pyo3(signature = (key, value, flags = ""))]
    fn meta_set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        flags: &str,
    ) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Meta::set(&self.serde, key, value, flags)?)
    }

    /// `md` with any flags (`"I T30"` marks stale instead of deleting).
    #[pyo3(signature = (key, flags = ""))]
    fn meta_delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Meta::new(Command::Delete, key, flags)?)
    }

    /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_arithmetic(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
        self.execute(py, ops::Meta::new(Command::Arithmetic, key, flags)?)
    }

    /// The server (`"host:port"`) that holds `key`.
    fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        options::server_for(self.core.cluster(), key)
    }

    /// The configured servers, in order.
    #[getter]
    fn servers(&self) -> Vec<String> {
        options::server_names(self.core.cluster())
    }

    /// `{server: {"open": n, "idle": n, ...}}`: this process's connections.
    fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        options::pool_stats(py, self.core.cluster())
    }

    /// Close all connections. Later calls raise `MemcacheConnectionError`.
    fn close(&self) {
        self.core.close();
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type, exc, tb))]
    fn __exit__(&self, exc_type: &Bound<'_, PyAny>, exc: &Bound<'_, PyAny>, tb: &Bound<'_, PyAny>) {
        let _ = (exc_type, exc, tb);
        self.core.close();
    }
}
