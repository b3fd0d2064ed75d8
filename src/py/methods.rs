//! The methods `Client` and `AsyncClient` share, written once. Each builds its operation
//! (`py::ops`) and hands it to the class's [`ClientClass::execute`]: `Client` runs it on the
//! calling thread, `AsyncClient` launches it and returns an awaitable. Arguments, results and
//! errors are therefore the same for both.

use super::ops::Op;
use super::options::{Behaviour, OnServerError, Options};
use super::serde::Serde;
use crate::cluster::Cluster;
use crate::error::Result;
use pyo3::prelude::*;
use std::time::Instant;

/// What the shared methods need from a client class.
pub trait ClientClass: Sized {
    fn from_options(options: Options<'_, '_>) -> PyResult<Self>;
    fn serde(&self) -> &Serde;
    fn cluster(&self) -> &Cluster;
    fn behaviour(&self) -> &Behaviour;
    fn local_cache(&self) -> Option<crate::client::hot::LocalStats>;
    fn split_keys(&self) -> &crate::client::hot::SplitKeys;

    /// Run `op` under `policy`: its result (sync) or an awaitable of it (async). The call
    /// began at `started` (before its arguments were converted): its timeout counts from there.
    fn run<O: Op>(&self, py: Python<'_>, started: Instant, op: O, policy: OnServerError) -> PyResult<Py<PyAny>>;

    /// Run `op` under the client's `on_server_error`. Callers pass `Instant::now()` before
    /// building `op` (arguments are evaluated left to right), so converting them counts too.
    fn execute<O: Op>(&self, py: Python<'_>, started: Instant, op: O) -> PyResult<Py<PyAny>> {
        self.execute_with(py, started, op, None)
    }

    /// Run `op`, with a per-call `on_server_error` override.
    fn execute_with<O: Op>(
        &self,
        py: Python<'_>,
        started: Instant,
        mut op: O,
        on_server_error: Option<&str>,
    ) -> PyResult<Py<PyAny>> {
        let policy = match on_server_error {
            Some(value) => OnServerError::parse(value)?,
            None => self.behaviour().on_server_error,
        };
        if policy == OnServerError::Miss {
            op.tolerate();
        }
        self.run(py, started, op, policy)
    }
}

/// Turn an operation's outcome into the call's result: the finished value, or under
/// `on_server_error="miss"` the op's miss answer when the server was unreachable.
pub fn conclude<O: Op>(
    py: Python<'_>,
    op: O,
    output: Result<O::Output>,
    policy: OnServerError,
    serde: &Serde,
) -> PyResult<Py<PyAny>> {
    match output {
        Ok(output) => op.finish(py, output, serde),
        Err(error) if policy == OnServerError::Miss && error.is_connection_lost() => match op.unavailable(py) {
            Some(answer) => answer,
            None => Err(error.into()),
        },
        Err(error) => Err(error.into()),
    }
}

/// Hand mark-down and rejoin events to the client's `on_event` hook (GIL held). A hook that
/// raises is reported as unraisable: it must not fail the call that happened to observe it.
pub fn fire_events(py: Python<'_>, cluster: &Cluster, behaviour: &Behaviour) {
    for event in cluster.take_events() {
        if let Some(hook) = &behaviour.on_event {
            if let Err(error) = hook.call1(py, (event.kind.as_str(), &*event.server, event.detail)) {
                error.write_unraisable(py, Some(hook.bind(py)));
            }
        }
    }
}

/// Generate the `#[pymethods]` block of a client class: the shared methods plus the class's
/// own (`$($own)*`: close and the context-manager protocol). Paths are absolute because the
/// expansion happens in the class's module.
///
/// Every data method takes a keyword-only `on_server_error` ("raise" / "miss") that overrides
/// the client's for that call.
macro_rules! client_methods {
    ($class:ident, { $($own:tt)* }) => {
        #[pymethods]
        impl $class {
            $($own)*

            #[new]
            #[pyo3(
                signature = (
                    servers = None,
                    *,
                    connect_timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_CONNECT_TIMEOUT),
                    timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_TIMEOUT),
                    max_connections = $crate::py::convert::Count($crate::py::options::DEFAULT_MAX_CONNECTIONS),
                    pool_timeout = $crate::py::convert::Seconds($crate::py::options::DEFAULT_POOL_TIMEOUT),
                    serde = None,
                    pickle = true,
                    compress_threshold = Some($crate::py::convert::Count($crate::py::serde::DEFAULT_COMPRESS_THRESHOLD)),
                    hashing = "ketama",
                    failures_to_mark_down = $crate::py::convert::Count($crate::py::options::DEFAULT_FAILURES),
                    mark_down_period = $crate::py::convert::Seconds($crate::py::options::DEFAULT_MARK_DOWN_SECONDS),
                    remap_on_failure = false,
                    remap_ttl = $crate::py::convert::RemapTtl($crate::py::options::DEFAULT_REMAP_TTL),
                    on_server_error = "raise",
                    on_event = None,
                    gutter = None,
                    gutter_ttl = $crate::py::convert::GutterTtl($crate::py::options::DEFAULT_GUTTER_TTL),
                    mirror = None,
                    pools = None,
                    routes = None,
                    max_ttl = None,
                    hot_keys = None,
                    hot_key_copies = $crate::py::convert::Count($crate::py::options::DEFAULT_HOT_KEY_COPIES),
                    local_cache_size = $crate::py::convert::Count($crate::py::options::DEFAULT_LOCAL_CACHE_SIZE),
                    local_cache_ttl = $crate::py::convert::Seconds($crate::py::options::DEFAULT_LOCAL_CACHE_TTL),
                    local_cache_admission = $crate::py::options::DEFAULT_LOCAL_CACHE_ADMISSION,
                    local_cache_hot_window = $crate::py::convert::Count($crate::py::options::DEFAULT_LOCAL_CACHE_HOT_WINDOW),
                ),
                text_signature = "(servers=None, *, connect_timeout=0.25, timeout=0.25, max_connections=16, pool_timeout=0.25, serde=None, pickle=True, compress_threshold=16384, hashing='ketama', failures_to_mark_down=1, mark_down_period=3.0, remap_on_failure=False, remap_ttl=10, on_server_error='raise', on_event=None, gutter=None, gutter_ttl=10, mirror=None, pools=None, routes=None, max_ttl=None, hot_keys=None, hot_key_copies=3, local_cache_size=0, local_cache_ttl=1.0, local_cache_admission=0.1, local_cache_hot_window=1)"
            )]
            #[allow(clippy::too_many_arguments)]
            fn new(
                servers: Option<&Bound<'_, PyAny>>,
                connect_timeout: $crate::py::convert::Seconds,
                timeout: $crate::py::convert::Seconds,
                max_connections: $crate::py::convert::Count,
                pool_timeout: $crate::py::convert::Seconds,
                serde: Option<&Bound<'_, PyAny>>,
                pickle: bool,
                compress_threshold: Option<$crate::py::convert::Count>,
                hashing: &str,
                failures_to_mark_down: $crate::py::convert::Count,
                mark_down_period: $crate::py::convert::Seconds,
                remap_on_failure: bool,
                remap_ttl: $crate::py::convert::RemapTtl,
                on_server_error: &str,
                on_event: Option<&Bound<'_, PyAny>>,
                gutter: Option<&Bound<'_, PyAny>>,
                gutter_ttl: $crate::py::convert::GutterTtl,
                mirror: Option<&Bound<'_, PyAny>>,
                pools: Option<&Bound<'_, PyAny>>,
                routes: Option<&Bound<'_, PyAny>>,
                max_ttl: Option<$crate::py::convert::MaxTtl>,
                hot_keys: Option<&Bound<'_, PyAny>>,
                hot_key_copies: $crate::py::convert::Count,
                local_cache_size: $crate::py::convert::Count,
                local_cache_ttl: $crate::py::convert::Seconds,
                local_cache_admission: f64,
                local_cache_hot_window: $crate::py::convert::Count,
            ) -> PyResult<Self> {
                <Self as $crate::py::methods::ClientClass>::from_options($crate::py::options::Options {
                    servers,
                    connect_timeout,
                    timeout,
                    max_connections,
                    pool_timeout,
                    serde,
                    pickle,
                    compress_threshold,
                    hashing,
                    failures_to_mark_down,
                    mark_down_period,
                    remap_on_failure,
                    remap_ttl,
                    on_server_error,
                    on_event,
                    gutter,
                    gutter_ttl,
                    mirror,
                    pools,
                    routes,
                    max_ttl,
                    hot_keys,
                    hot_key_copies,
                    local_cache_size,
                    local_cache_ttl,
                    local_cache_admission,
                    local_cache_hot_window,
                })
            }

            /// The value stored under `key`, or `default` on a miss.
            #[pyo3(signature = (key, default = None, *, on_server_error = None))]
            fn get(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                default: Option<Py<PyAny>>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Get::new(key, default)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// `(value, cas)` for `key`, or `(default, cas_default)` on a miss.
            #[pyo3(signature = (key, default = None, cas_default = None, *, on_server_error = None))]
            fn gets(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                default: Option<Py<PyAny>>,
                cas_default: Option<Py<PyAny>>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Get::with_cas(key, default, cas_default)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Store unconditionally. True when stored.
            #[pyo3(
                signature = (key, value, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, ttl=0, *, on_server_error=None)"
            )]
            fn set(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Set, key, value, ttl.0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Store only if `key` is absent.
            #[pyo3(
                signature = (key, value, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, ttl=0, *, on_server_error=None)"
            )]
            fn add(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Add, key, value, ttl.0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Store only if `key` exists.
            #[pyo3(
                signature = (key, value, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, ttl=0, *, on_server_error=None)"
            )]
            fn replace(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Replace, key, value, ttl.0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Append to an existing value (the serialized forms are concatenated; the TTL is kept).
            #[pyo3(signature = (key, value, *, on_server_error = None))]
            fn append(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Append, key, value, 0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Prepend to an existing value.
            #[pyo3(signature = (key, value, *, on_server_error = None))]
            fn prepend(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Prepend, key, value, 0, None)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Store only if the item's CAS is still `cas`: True if stored, False if the item
            /// changed since, None if it is gone.
            #[pyo3(
                signature = (key, value, cas, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, key, value, cas, ttl=0, *, on_server_error=None)"
            )]
            fn cas(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                cas: $crate::py::convert::Cas,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::Store::new(self.serde(), $crate::protocol::request::SetMode::Set, key, value, ttl.0, Some(cas.0))?
                    .missing_is_none();
                self.execute_with(py, started, op, on_server_error)
            }

            /// Delete `key`. True if it existed.
            #[pyo3(signature = (key, *, on_server_error = None))]
            fn delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::Delete::new(key)?, on_server_error)
            }

            /// Set a new TTL. True if the key existed.
            #[pyo3(signature = (key, ttl, *, on_server_error = None))]
            fn touch(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::Touch::new(key, ttl.0)?, on_server_error)
            }

            /// Add `delta`; returns the new value, or None if the key is missing and `initial` is None.
            /// With `initial`, a missing key is created holding `initial` with `ttl`.
            #[pyo3(
                signature = (key, delta = $crate::py::convert::Delta(1), *, initial = None, ttl = $crate::py::convert::Ttl(0), on_server_error = None),
                text_signature = "($self, key, delta=1, *, initial=None, ttl=0, on_server_error=None)"
            )]
            fn incr(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                delta: $crate::py::convert::Delta,
                initial: Option<$crate::py::convert::Initial>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let mode = $crate::protocol::request::ArithmeticMode::Increment;
                let op = $crate::py::ops::Arithmetic::new(key, mode, delta.0, initial.map(|i| i.0), ttl.0)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Subtract `delta` (never below 0); same contract as `incr`.
            #[pyo3(
                signature = (key, delta = $crate::py::convert::Delta(1), *, initial = None, ttl = $crate::py::convert::Ttl(0), on_server_error = None),
                text_signature = "($self, key, delta=1, *, initial=None, ttl=0, on_server_error=None)"
            )]
            fn decr(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                delta: $crate::py::convert::Delta,
                initial: Option<$crate::py::convert::Initial>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let mode = $crate::protocol::request::ArithmeticMode::Decrement;
                let op = $crate::py::ops::Arithmetic::new(key, mode, delta.0, initial.map(|i| i.0), ttl.0)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// `{key: value}` for the keys found; one pipelined batch per server, all in parallel.
            /// With `on_server_error="miss"`, keys of unreachable servers are simply not found.
            #[pyo3(signature = (keys, *, on_server_error = None))]
            fn get_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::GetMany::new(keys)?, on_server_error)
            }

            /// Store every item of `mapping`; returns the keys that were not stored.
            #[pyo3(
                signature = (mapping, ttl = $crate::py::convert::Ttl(0), *, on_server_error = None),
                text_signature = "($self, mapping, ttl=0, *, on_server_error=None)"
            )]
            fn set_many(
                &self,
                py: Python<'_>,
                mapping: &Bound<'_, PyAny>,
                ttl: $crate::py::convert::Ttl,
                on_server_error: Option<&str>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::ops::SetMany::new(self.serde(), mapping, ttl.0)?;
                self.execute_with(py, started, op, on_server_error)
            }

            /// Delete many keys in one batch per server; returns how many existed.
            #[pyo3(signature = (keys, *, on_server_error = None))]
            fn delete_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>, on_server_error: Option<&str>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::DeleteMany::new(keys)?, on_server_error)
            }

            /// `delete_many` that carries on past unreachable servers and says which keys it
            /// could not delete: `(deleted, [keys])`. For the write-failure tracking wrapper.
            fn _delete_many_reporting(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
                self.execute_with(py, std::time::Instant::now(), $crate::py::ops::DeleteMany::reporting(keys)?, Some("miss"))
            }

            /// Invalidate every item on every server (after `delay` seconds).
            #[pyo3(signature = (delay = $crate::py::convert::Delay(0)), text_signature = "($self, delay=0)")]
            fn flush_all(&self, py: Python<'_>, delay: $crate::py::convert::Delay) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::FlushAll(delay.0))
            }

            /// `{server: {stat: value}}`; numbers are converted to int / float. Arguments are the
            /// command's words: `stats("settings")`, `stats("slabs")`, `stats("cachedump", "1", "1")`
            /// (whose `ITEM key [size b; expiry s]` lines come back as `{key: "[size b; expiry s]"}`).
            #[pyo3(signature = (*args))]
            fn stats(&self, py: Python<'_>, args: Vec<$crate::py::convert::Text>) -> PyResult<Py<PyAny>> {
                let args = args.into_iter().map(|word| word.0).collect();
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Stats::new(args)?)
            }

            /// Send a classic command (e.g. `"cache_memlimit 64"`) to every server: `{server: reply
            /// bytes}`, its one line, or with `end` everything before `end`. For the pymemcache
            /// compatibility layer; error replies raise.
            #[pyo3(signature = (line, end = None))]
            fn _text_command(&self, py: Python<'_>, line: String, end: Option<Vec<u8>>) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::TextCommand::new(line, end)?)
            }

            /// `{server: version string}`.
            fn version(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Version)
            }

            /// `mg` with any flags (`"v c t N30"`); returns every return flag.
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Get, key, &flags.0)?)
            }

            /// `ms` with any flags (`"T60 C123 I"`); the value is serialized and its client flags sent
            /// unless `flags` sets `F` itself.
            #[pyo3(signature = (key, value, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, value, flags='')")]
            fn meta_set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::set(self.serde(), key, value, &flags.0)?)
            }

            /// `md` with any flags (`"I T30"` marks stale instead of deleting).
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_delete(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Delete, key, &flags.0)?)
            }

            /// `ma` with any flags (`"N0 J10 D3 MD v"`); with `v` the value is the new number.
            #[pyo3(signature = (key, flags = $crate::py::convert::Text::default()), text_signature = "($self, key, flags='')")]
            fn meta_arithmetic(&self, py: Python<'_>, key: &Bound<'_, PyAny>, flags: $crate::py::convert::Text) -> PyResult<Py<PyAny>> {
                self.execute(py, std::time::Instant::now(), $crate::py::ops::Meta::new($crate::protocol::request::Command::Arithmetic, key, &flags.0)?)
            }

            /// Read `key` for a lease-managed caller (`mg k v f c t [N<lease_ttl>] [R<recache_ttl>]`):
            /// a `LeaseResult` saying whether a value was found, and whether this caller won
            /// the right to compute it (a miss, a stale item, or one due for an early refresh).
            #[pyo3(signature = (key, *, lease_ttl = None, recache_ttl = None))]
            fn lease_get(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                lease_ttl: Option<$crate::py::convert::LeaseTtl>,
                recache_ttl: Option<$crate::py::convert::RecacheTtl>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::lease::LeaseGet::new(key, lease_ttl.map(|t| t.0), recache_ttl.map(|t| t.0))?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// Store `value` only if the item's CAS is still `cas` (the one `lease_get` returned):
            /// a write or invalidation since then wins and this returns False. Without `cas`, a
            /// plain store. `compute_time` (seconds) is kept with the value for early expiry.
            #[pyo3(
                signature = (key, value, cas = None, ttl = $crate::py::convert::Ttl(0), *, compute_time = None),
                text_signature = "($self, key, value, cas=None, ttl=0, *, compute_time=None)"
            )]
            fn fill(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                cas: Option<$crate::py::convert::Cas>,
                ttl: $crate::py::convert::Ttl,
                compute_time: Option<f64>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let compute_time = $crate::py::convert::compute_time(compute_time)?;
                let op = $crate::py::lease::fill(self.serde(), key, value, cas.map(|c| c.0), ttl.0, compute_time)?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// Delete `key`, or with `stale_ttl` mark it stale for that long (readers get the old
            /// value flagged stale while one of them refreshes it); with `cas`, only if the CAS
            /// still matches. True if the key existed. Always raises when the server cannot be
            /// reached: a lost invalidation must not look like a done one.
            #[pyo3(signature = (key, *, stale_ttl = None, cas = None))]
            fn invalidate(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                stale_ttl: Option<$crate::py::convert::StaleTtl>,
                cas: Option<$crate::py::convert::Cas>,
            ) -> PyResult<Py<PyAny>> {
                let started = std::time::Instant::now();
                let op = $crate::py::lease::Invalidate::new(key, stale_ttl.map(|t| t.0), cas.map(|c| c.0))?;
                self.execute_with(py, started, op, Some("raise"))
            }

            /// The server (`"host:port"`) that holds `key`.
            fn server_for(&self, key: &Bound<'_, PyAny>) -> PyResult<String> {
                $crate::py::options::server_for(self.cluster(), key)
            }

            /// What decides which servers keys go to, canonically: equal for two clients that send
            /// every key to the same servers (for the write-failure tracker).
            #[getter]
            fn _placement_identity(&self) -> String {
                $crate::py::options::placement_identity(self.cluster(), self.split_keys())
            }

            /// Where `key`'s requests go: `(server, wire key, base64 flag)`. Every spelling of
            /// one item (str or bytes, a tuple routed by the key itself) gives the same.
            fn _wire_location<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
                $crate::py::options::wire_location(py, self.cluster(), key)
            }

            /// The configured servers, in order.
            #[getter]
            fn servers(&self) -> Vec<String> {
                $crate::py::options::server_names(self.cluster())
            }

            /// `{server: {"open": n, "idle": n, "multiplexed": n, "queued": n}}`: this process's
            /// connections.
            fn pool_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::pool_stats(py, self.cluster())
            }

            /// `{server: {"down": bool, "failures": n, "consecutive_failures": n, "mark_downs": n,
            /// "rejoins": n, "refused": n, "last_error": str | None, "owed_deletes": n,
            /// "owes_flush": bool}}`: the last two are the deletes the server owes this process
            /// for writes it missed (paid before it is read again; see README, stand-ins).
            fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::health(py, self.cluster())
            }

            /// What this process's clients know servers owe (process-wide, see README,
            /// stand-ins): `{"owed": n, "paid": n, "flushes_owed": n, "windows": n,
            /// "pending": n}`: deletes recorded as owed and delivered so far, `flush_all`s owed
            /// instead of too many deletes, stand-in windows opened, deletes owed now.
            fn ledger_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
                $crate::py::options::ledger_stats(py, self.cluster())
            }

            /// `{"hits": n, "misses": n, "admissions": n, "evictions": n, "refreshes": n,
            /// "size": n}` of the local hot-key cache, or None when `local_cache_size` is 0.
            fn local_cache_stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, pyo3::types::PyDict>>> {
                $crate::py::options::local_cache_stats(py, self.local_cache())
            }
        }
    };
}

pub(crate) use client_methods;
