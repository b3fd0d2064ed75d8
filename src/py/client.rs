//! `memlease.Client`: the synchronous client. Every method converts its arguments while
//! holding the GIL, releases it for all network waits (`py.detach`), then converts the result.

use super::convert::{key_bytes, servers, timeout, Count, Delay, Seconds, Ttl, Unsigned};
use super::errors::invalid_argument;
use super::result::MetaResult;
use super::serde::{Payload, Serde, DEFAULT_COMPRESS_THRESHOLD};
use crate::client::{Client as Core, StoreItem, StoreOutcome};
use crate::cluster::{Cluster, ClusterConfig};
use crate::error::Error;
use crate::pool::PoolConfig;
use crate::protocol::flags::parse_flags;
use crate::protocol::request::{ArithmeticMode, Command, Flag, SetMode};
use crate::transport::{run_blocking, Blocking};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// Defaults, in seconds / counts. Low, like production memcache clients: a cache that answers
/// slowly is worse than a miss.
pub const DEFAULT_CONNECT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_POOL_TIMEOUT: f64 = 0.25;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// A memcached client for one or more servers. Thread-safe: share one per process.
#[pyclass(frozen, module = "memlease._core", name = "Client")]
pub struct Client {
    core: Core<Blocking>,
    serde: Serde,
}

/// The key objects of a multi-key call and their bytes.
type KeyList<'py> = (Vec<Bound<'py, PyAny>>, Vec<Vec<u8>>);

/// Reject request flags the client manages itself.
fn user_flags(command: Command, text: &str) -> PyResult<Vec<Flag>> {
    let flags = parse_flags(command, text).map_err(|e| invalid_argument(e.0))?;
    for flag in &flags {
        match flag {
            Flag::Base64Key => {
                return Err(invalid_argument(
                    "the b flag is set by the client for binary keys; pass the raw key",
                ))
            }
            Flag::Quiet => {
                return Err(invalid_argument(
                    "the q flag would suppress the reply this call waits for",
                ))
            }
            _ => {}
        }
    }
    Ok(flags)
}

impl Client {
    fn store(
        &self,
        py: Python<'_>,
        mode: SetMode,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: Ttl,
        cas: Option<u64>,
    ) -> PyResult<StoreOutcome> {
        let raw = key_bytes(key)?;
        let (payload, flags) = self.serde.serialize(key, value)?;
        Ok(py.detach(|| run_blocking(self.core.store(mode, &raw, &payload, flags, ttl.0, cas)))?)
    }

    fn arithmetic(
        &self,
        py: Python<'_>,
        mode: ArithmeticMode,
        key: &Bound<'_, PyAny>,
        delta: Unsigned,
        initial: Option<Unsigned>,
        ttl: Ttl,
    ) -> PyResult<Option<u64>> {
        let raw = key_bytes(key)?;
        let initial = initial.map(|i| i.0);
        Ok(py.detach(|| run_blocking(self.core.arithmetic(&raw, mode, delta.0, initial, ttl.0)))?)
    }

    fn keys_of<'py>(keys: &Bound<'py, PyAny>) -> PyResult<KeyList<'py>> {
        let objects: Vec<Bound<'py, PyAny>> = keys.try_iter()?.collect::<PyResult<_>>()?;
        let raw = objects.iter().map(key_bytes).collect::<PyResult<_>>()?;
        Ok((objects, raw))
    }

    fn meta(
        &self,
        py: Python<'_>,
        command: Command,
        key: &Bound<'_, PyAny>,
        flags: Vec<Flag>,
        value: Option<Payload>,
    ) -> PyResult<MetaResult> {
        let raw = key_bytes(key)?;
        let reply = py.detach(|| run_blocking(self.core.request(&raw, command, &flags, value.as_deref())))?;
        let value = match (&reply.value, command) {
            (Some(data), Command::Arithmetic) => {
                let number: Option<u64> = std::str::from_utf8(data).ok().and_then(|s| s.trim().parse().ok());
                Some(number.into_pyobject(py)?.into_any().unbind())
            }
            (Some(data), _) => {
                Some(
                    self.serde
                        .deserialize(py, key, data.clone(), reply.flags.client_flags.unwrap_or(0))?,
                )
            }
            (None, _) => None,
        };
        Ok(MetaResult::new(&reply, value))
    }

    /// Raise the first error of a per-server result list, else return the values by server.
    fn by_server<T>(results: Vec<(String, Result<T, Error>)>) -> PyResult<Vec<(String, T)>> {
        results
            .into_iter()
            .map(|(name, r)| r.map(|v| (name, v)).map_err(PyErr::from))
            .collect()
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
        let Count(max_connections) = max_connections;
        if max_connections == 0 {
            return Err(invalid_argument("max_connections must be at least 1"));
        }
        let config = ClusterConfig {
            servers: self::servers(servers)?,
            pool: PoolConfig {
                max_connections,
                connect_timeout: self::timeout("connect_timeout", connect_timeout)?,
                pool_timeout: self::timeout("pool_timeout", pool_timeout)?,
            },
            timeout: self::timeout("timeout", timeout)?,
        };
        let serde = Serde::from_options(serde, pickle, compress_threshold.map(|c| c.0))?;
        Ok(Client {
            core: Core::new(Blocking(Cluster::new(config)?)),
            serde,
        })
    }

    /// The value stored under `key`, or `default` on a miss.
    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        let raw = key_bytes(key)?;
        match py.detach(|| run_blocking(self.core.get(&raw, false)))? {
            Some(item) => self.serde.deserialize(py, key, item.data, item.client_flags),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// `(value, cas)` for `key`, or `None` on a miss.
    fn gets(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<(Py<PyAny>, u64)>> {
        let raw = key_bytes(key)?;
        match py.detach(|| run_blocking(self.core.get(&raw, true)))? {
            Some(item) => {
                let value = self.serde.deserialize(py, key, item.data, item.client_flags)?;
                Ok(Some((value, item.cas.unwrap_or(0))))
            }
            None => Ok(None),
        }
    }

    /// Store unconditionally. True when stored.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Set, key, value, ttl, None)? == StoreOutcome::Stored)
    }

    /// Store only if `key` is absent.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn add(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Add, key, value, ttl, None)? == StoreOutcome::Stored)
    }

    /// Store only if `key` exists.
    #[pyo3(signature = (key, value, ttl = Ttl(0)), text_signature = "($self, key, value, ttl=0)")]
    fn replace(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Replace, key, value, ttl, None)? == StoreOutcome::Stored)
    }

    /// Append to an existing value (the serialized forms are concatenated; the TTL is kept).
    fn append(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Append, key, value, Ttl(0), None)? == StoreOutcome::Stored)
    }

    /// Prepend to an existing value.
    fn prepend(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Prepend, key, value, Ttl(0), None)? == StoreOutcome::Stored)
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
    ) -> PyResult<bool> {
        Ok(self.store(py, SetMode::Set, key, value, ttl, Some(cas.0))? == StoreOutcome::Stored)
    }

    /// Delete `key`. True if it existed.
    fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let raw = key_bytes(key)?;
        Ok(py.detach(|| run_blocking(self.core.delete(&raw)))?)
    }

    /// Set a new TTL. True if the key existed.
    fn touch(&self, py: Python<'_>, key: &Bound<'_, PyAny>, ttl: Ttl) -> PyResult<bool> {
        let raw = key_bytes(key)?;
        Ok(py.detach(|| run_blocking(self.core.touch(&raw, ttl.0)))?)
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
    ) -> PyResult<Option<u64>> {
        self.arithmetic(py, ArithmeticMode::Increment, key, delta, initial, ttl)
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
    ) -> PyResult<Option<u64>> {
        self.arithmetic(py, ArithmeticMode::Decrement, key, delta, initial, ttl)
    }

    /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
    fn get_many<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let (objects, raw) = Self::keys_of(keys)?;
        let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
        let items = py.detach(|| run_blocking(self.core.get_many(&refs, false)))?;
        let found = PyDict::new(py);
        for (key, item) in objects.iter().zip(items) {
            if let Some(item) = item {
                found.set_item(key, self.serde.deserialize(py, key, item.data, item.client_flags)?)?;
            }
        }
        Ok(found)
    }

    /// Store every item of `mapping`; returns the keys that were not stored.
    #[pyo3(signature = (mapping, ttl = Ttl(0)), text_signature = "($self, mapping, ttl=0)")]
    fn set_many<'py>(&self, py: Python<'py>, mapping: &Bound<'py, PyAny>, ttl: Ttl) -> PyResult<Bound<'py, PyList>> {
        let mut keys = Vec::new();
        let mut raw = Vec::new();
        let mut payloads = Vec::new();
        for pair in mapping.call_method0("items")?.try_iter()? {
            let (key, value): (Bound<'py, PyAny>, Bound<'py, PyAny>) = pair?.extract()?;
            raw.push(key_bytes(&key)?);
            payloads.push(self.serde.serialize(&key, &value)?);
            keys.push(key);
        }
        let items: Vec<StoreItem<'_>> = raw
            .iter()
            .zip(&payloads)
            .map(|(key, (data, flags))| StoreItem {
                key,
                data,
                client_flags: *flags,
            })
            .collect();
        let stored = py.detach(|| run_blocking(self.core.set_many(&items, ttl.0)))?;
        let failed = PyList::empty(py);
        for (key, ok) in keys.iter().zip(stored) {
            if !ok {
                failed.append(key)?;
            }
        }
        Ok(failed)
    }

    /// Delete many keys in one batch per server; returns how many existed.
    fn delete_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<usize> {
        let (_, raw) = Self::keys_of(keys)?;
        let refs: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
        Ok(py.detach(|| run_blocking(self.core.delete_many(&refs)))?)
    }

    /// Invalidate every item on every server (after `delay` seconds).
    #[pyo3(signature = (delay = Delay(0)), text_signature = "($self, delay=0)")]
    fn flush_all(&self, py: Python<'_>, delay: Delay) -> PyResult<()> {
        Self::by_server(py.detach(|| run_blocking(self.core.flush_all(delay.0))))?;
        Ok(())
    }

    /// `{server: {stat: value}}`; numbers are converted to int / float. `stats("settings")`
    /// and other groups work too.
    #[pyo3(signature = (*args))]
    fn stats<'py>(&self, py: Python<'py>, args: Vec<String>) -> PyResult<Bound<'py, PyDict>> {
        if args.len() > 1
            || args
                .iter()
                .any(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid_argument(
                "stats takes at most one group name, e.g. stats(\"settings\")",
            ));
        }
        let group = args.first().map(String::as_str);
        let per_server = Self::by_server(py.detach(|| run_blocking(self.core.stats(group))))?;
        let result = PyDict::new(py);
        for (server, stats) in per_server {
            let entry = PyDict::new(py);
            for (name, value) in stats {
                if let Ok(n) = value.parse::<i64>() {
                    entry.set_item(name, n)?;
                } else if let Ok(f) = value.parse::<f64>() {
                    entry.set_item(name, f)?;
                } else {
                    entry.set_item(name, value)?;
                }
            }
            result.set_item(server, entry)?;
        }
        Ok(result)
    }

    /// `{server: version string}`.
    fn version<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let result = PyDict::new(py);
        for (server, version) in Self::by_server(py.detach(|| run_blocking(self.core.version())))? {
            result.set_item(server, version)?;
        }
        Ok(result)
    }

    /// `mg` with any flags (`"v c t N30"`); returns every return flag.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<MetaResult> {
        let mut flags = user_flags(Command::Get, flags)?;
        if flags.contains(&Flag::ReturnValue) && !flags.contains(&Flag::ReturnClientFlags) {
            flags.push(Flag::ReturnClientFlags);
        }
        self.meta(py, Command::Get, key, flags, None)
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
    ) -> PyResult<MetaResult> {
        let mut flags = user_flags(Command::Set, flags)?;
        let (payload, client_flags) = self.serde.serialize(key, value)?;
        if client_flags != 0 && !flags.iter().any(|f| matches!(f, Flag::ClientFlags(_))) {
            flags.push(Flag::ClientFlags(client_flags));
        }
        self.meta(py, Command::Set, key, flags, Some(payload))
    }

    /// `md` with any flags (`"I T30"` marks stale instead of deleting).
    #[pyo3(signature = (key, flags = ""))]
    fn meta_delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<MetaResult> {
        let flags = user_flags(Command::Delete, flags)?;
        self.meta(py, Command::Delete, key, flags, None)
    }

    /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
    #[pyo3(signature = (key, flags = ""))]
    fn meta_arithmetic(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<MetaResult> {
        let flags = user_flags(Command::Arithmetic, flags)?;
        self.meta(py, Command::Arithmetic, key, flags, None)
    }

    /// The server (`"host:port"`) that holds `key`.
    fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
        let raw = key_bytes(key)?;
        let cluster = self.core.cluster();
        Ok(cluster.server_name(cluster.server_for(&raw)).to_string())
    }

    /// The configured servers, in order.
    #[getter]
    fn servers(&self) -> Vec<String> {
        let cluster = self.core.cluster();
        (0..cluster.server_count())
            .map(|i| cluster.server_name(i).to_string())
            .collect()
    }

    /// `{server: {"open": n, "idle": n}}`: connections of this process.
    fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let cluster = self.core.cluster();
        let result = PyDict::new(py);
        for (i, (open, idle)) in cluster.connection_counts().into_iter().enumerate() {
            let entry = PyDict::new(py);
            entry.set_item("open", open)?;
            entry.set_item("idle", idle)?;
            result.set_item(cluster.server_name(i).to_string(), entry)?;
        }
        Ok(result)
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
