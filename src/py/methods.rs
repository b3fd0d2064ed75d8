//! The methods `Client` and `AsyncClient` share, written once. Each builds its operation
//! (`py::ops`) and hands it to the class's [`ClientClass::execute`]: `Client` runs it on the
//! calling thread, `AsyncClient` launches it and returns an awaitable. Arguments, results and
//! errors are therefore the same for both.

use super::ops::Op;
use super::options::Options;
use super::serde::Serde;
use crate::cluster::Cluster;
use pyo3::prelude::*;

/// What the shared methods need from a client class.
pub trait ClientClass: Sized {
    fn from_options(options: Options<'_, '_>) -> PyResult<Self>;
    fn serde(&self) -> &Serde;
    fn cluster(&self) -> &Cluster;
    /// Run `op`: its result (sync) or an awaitable of it (async).
    fn execute<O: Op>(&self, py: Python<'_>, op: O) -> PyResult<Py<PyAny>>;
}

/// Generate the `#[pymethods]` block of a client class: the shared methods plus the class's
/// own (`$($own)*`: close and the context-manager protocol).
macro_rules! client_methods {
    ($class:ident, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            #[new]
            #[pyo3(signature = (
                servers,
                *,
                connect_timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_CONNECT_TIMEOUT),
                timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_TIMEOUT),
                max_connections = $crate::py::convert::Count($crate::py::options::DEFAULT_MAX_CONNECTIONS),
                pool_timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_POOL_TIMEOUT),
                serde = None,
                pickle = true,
                compress_threshold = Some($crate::py::convert::Count($crate::py::serde::DEFAULT_COMPRESS_THRESHOLD)),
            ),
            text_signature = "(servers, *, connect_timeout=0.25, timeout=0.25, max_connections=16, pool_timeout=0.25, serde=None, pickle=True, compress_threshold=16384)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn new(
                servers: &Bound<'_, PyAny>,
                connect_timeout: $crate::py::convert::Seconds,
                timeout: $crate::py::convert::Seconds,
                max_connections: $crate::py::convert::Count,
                pool_timeout: $crate::py::convert::Seconds,
                serde: Option<&Bound<'_, PyAny>>,
                pickle: bool,
                compress_threshold: Option<$crate::py::convert::Count>,
            ) -> PyResult<Self> {
                let options = $crate::py::options::Options {
                    servers,
                    connect_timeout,
                    timeout,
                    max_connections,
                    pool_timeout,
                    serde,
                    pickle,
                    compress_threshold,
                };
                <Self as $crate::py::methods::ClientClass>::from_options(options)
            }

            /// The value stored under `key`, or `default` on a miss.
            #[pyo3(signature = (key, default = None))]
            fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Get::new(key, default, false)?)
            }

            /// `(value, cas)` for `key`, or `None` on a miss.
            fn gets(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Get::new(key, None, true)?)
            }

            /// Store unconditionally. True when stored.
            #[pyo3(signature = (key, value, ttl = $crate::py::convert::Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
            fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: $crate::py::convert::Ttl) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Set, key, value, ttl.0, None)?)
            }

            /// Store only if `key` is absent.
            #[pyo3(signature = (key, value, ttl = $crate::py::convert::Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
            fn add(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: $crate::py::convert::Ttl) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Add, key, value, ttl.0, None)?)
            }

            /// Store only if `key` exists.
            #[pyo3(signature = (key, value, ttl = $crate::py::convert::Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
            fn replace(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
            ) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Replace, key, value, ttl.0, None)?)
            }

            /// Append to an existing value (the serialized forms are concatenated; the TTL is kept).
            fn append(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Append, key, value, 0, None)?)
            }

            /// Prepend to an existing value.
            fn prepend(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Prepend, key, value, 0, None)?)
            }

            /// Store only if the item's CAS is still `cas`. False if it changed or is gone.
            #[pyo3(signature = (key, value, cas, ttl = $crate::py::convert::Ttl(0)), text_signature = "($self, key, value, cas, ttl=0)")]
            fn cas(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                cas: $crate::py::convert::Unsigned,
                ttl: $crate::py::convert::Ttl,
            ) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Set, key, value, ttl.0, Some(cas.0))?)
            }

            /// Delete `key`. True if it existed.
            fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Delete::new(key)?)
            }

            /// Set a new TTL. True if the key existed.
            fn touch(&self, py: Python<'_>, key: &Bound<'_, PyAny>, ttl: $crate::py::convert::Ttl) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Touch::new(key, ttl.0)?)
            }

            /// Add `delta`; returns the new value, or None if the key is missing and `initial` is None.
            /// With `initial`, a missing key is created holding `initial` with `ttl`.
            #[pyo3(
                signature = (key, delta = $crate::py::convert::Unsigned(1), *, initial = None, ttl = $crate::py::convert::Ttl(0)),
                text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
            )]
            fn incr(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                delta: $crate::py::convert::Unsigned,
                initial: Option<$crate::py::convert::Unsigned>,
                ttl: $crate::py::convert::Ttl,
            ) -> PyResult<Py<PyAny>> {
                let op = $crate::py::ops::Arithmetic::new(key, $crate::protocol::request::ArithmeticMode::Increment, delta.0, initial.map(|i| i.0), ttl.0)?;
                self.execute(py, op)
            }

            /// Subtract `delta` (never below 0); same contract as `incr`.
            #[pyo3(
                signature = (key, delta = $crate::py::convert::Unsigned(1), *, initial = None, ttl = $crate::py::convert::Ttl(0)),
                text_signature = "($self, key, delta=1, *, initial=None, ttl=0)"
            )]
            fn decr(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                delta: $crate::py::convert::Unsigned,
                initial: Option<$crate::py::convert::Unsigned>,
                ttl: $crate::py::convert::Ttl,
            ) -> PyResult<Py<PyAny>> {
                let op = $crate::py::ops::Arithmetic::new(key, $crate::protocol::request::ArithmeticMode::Decrement, delta.0, initial.map(|i| i.0), ttl.0)?;
                self.execute(py, op)
            }

            /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
            fn get_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::GetMany::new(keys)?)
            }

            /// Store every item of `mapping`; returns the keys that were not stored.
            #[pyo3(signature = (mapping, ttl = $crate::py::convert::Ttl(0)), text_signature = "($self, mapping, ttl=0)")]
            fn set_many(&self, py: Python<'_>, mapping: &Bound<'_, PyAny>, ttl: $crate::py::convert::Ttl) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::SetMany::new(self.serde(), mapping, ttl.0)?)
            }

            /// Delete many keys in one batch per server; returns how many existed.
            fn delete_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::DeleteMany::new(keys)?)
            }

            /// Invalidate every item on every server (after `delay` seconds).
            #[pyo3(signature = (delay = $crate::py::convert::Delay(0)), text_signature = "($self, delay=0)")]
            fn flush_all(&self, py: Python<'_>, delay: $crate::py::convert::Delay) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::FlushAll(delay.0))
            }

            /// `{server: {stat: value}}`; numbers are converted to int / float. `stats("settings")`
            /// and other groups work too.
            #[pyo3(signature = (*args))]
            fn stats(&self, py: Python<'_>, args: Vec<String>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Stats::new(args)?)
            }

            /// `{server: version string}`.
            fn version(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Version)
            }

            /// `mg` with any flags (`"v c t N30"`); returns every return flag.
            #[pyo3(signature = (key, flags = ""))]
            fn meta_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Meta::new($crate::protocol::request::Command::Get, key, flags)?)
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
                self.execute(py, $crate::py::ops::Meta::set(self.serde(), key, value, flags)?)
            }

            /// `md` with any flags (`"I T30"` marks stale instead of deleting).
            #[pyo3(signature = (key, flags = ""))]
            fn meta_delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Meta::new($crate::protocol::request::Command::Delete, key, flags)?)
            }

            /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
            #[pyo3(signature = (key, flags = ""))]
            fn meta_arithmetic(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Py<PyAny>> {
                self.execute(py, $crate::py::ops::Meta::new($crate::protocol::request::Command::Arithmetic, key, flags)?)
            }

            /// The server (`"host:port"`) that holds `key`.
            fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
                $crate::py::options::server_for(self.cluster(), key)
            }

            /// The configured servers, in order.
            #[getter]
            fn servers(&self) -> Vec<String> {
                $crate::py::options::server_names(self.cluster())
            }

            /// `{server: {"open": n, "idle": n, ...}}`: this process's connections.
            fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::pool_stats(py, self.cluster())
            }
        }
    };
}

pub(crate) use client_methods;
