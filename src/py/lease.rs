//! The consistency primitives as Python methods: `lease_get` (-> [`LeaseResult`]), `fill`
//! and `invalidate`. The policies built on them (waiting, recache, XFetch, CRUD helpers) are
//! Python (`memlease/_consistency.py`), where loaders and wait functions live.

use super::ops::{to_py, Key, Op, Store};
use super::serde::{raw_bytes, split_compute_time, with_compute_time, Payload, Serde, FLAG_COMPUTE_TIME};
use crate::client::{is_placeholder, Client as Core, Item, KeyRef};
use crate::error::Result;
use crate::protocol::request::SetMode;
use crate::protocol::response::{Code, Response};
use crate::transport::Transport;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use std::future::Future;

/// What a lease-managed read found.
///
/// - `found`: a real value is in `value` (possibly `stale`). An empty lease placeholder is
///   never a value: `found` is False and `value` None.
/// - `won`: this caller must compute the value and `fill` it with `cas` (a miss it holds the
///   lease for, a stale item, or an item due for an early refresh).
/// - `stale`: the value was invalidated by marking it stale.
/// - `already_won`: someone else holds the lease or is refreshing.
/// - `ttl`: remaining seconds (-1: never expires); `compute_time`: seconds the value took to
///   compute, when it was filled with one.
/// - `key`: the key read, so `fill(result, value, ttl)` needs nothing else.
#[pyclass(frozen, module = "memlease._core", name = "LeaseResult")]
pub struct LeaseResult {
    #[pyo3(get)]
    key: Option<Py<PyAny>>,
    value: Option<Py<PyAny>>,
    #[pyo3(get)]
    found: bool,
    #[pyo3(get)]
    won: bool,
    #[pyo3(get)]
    stale: bool,
    #[pyo3(get)]
    already_won: bool,
    #[pyo3(get)]
    cas: Option<u64>,
    #[pyo3(get)]
    ttl: Option<i64>,
    #[pyo3(get)]
    compute_time: Option<f64>,
}

#[pymethods]
impl LeaseResult {
    /// Built by `lease_get`; constructible for callers that synthesise one (a wait that ran
    /// out, an unreachable server).
    #[new]
    #[pyo3(signature = (*, key = None, value = None, found = false, won = false, stale = false, already_won = false, cas = None, ttl = None, compute_time = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: Option<Py<PyAny>>,
        value: Option<Py<PyAny>>,
        found: bool,
        won: bool,
        stale: bool,
        already_won: bool,
        cas: Option<u64>,
        ttl: Option<i64>,
        compute_time: Option<f64>,
    ) -> Self {
        LeaseResult {
            key,
            value,
            found,
            won,
            stale,
            already_won,
            cas,
            ttl,
            compute_time,
        }
    }

    /// The value, or None when nothing real was found.
    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        self.value.as_ref().map_or_else(|| py.None(), |v| v.clone_ref(py))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let value = self.value(py).bind(py).repr()?.to_string();
        let key = match &self.key {
            Some(key) => key.bind(py).repr()?.to_string(),
            None => "None".to_owned(),
        };
        Ok(format!(
            "LeaseResult(key={key}, value={value}, found={}, won={}, stale={}, already_won={}, cas={}, ttl={}, compute_time={})",
            py_bool(self.found),
            py_bool(self.won),
            py_bool(self.stale),
            py_bool(self.already_won),
            py_option(self.cas),
            py_option(self.ttl),
            py_option(self.compute_time)
        ))
    }
}

impl LeaseResult {
    /// What `reply` says about the lease, before any value is taken from it.
    fn unfound(key: &Bound<'_, PyAny>, reply: &Response) -> Self {
        let flags = &reply.flags;
        LeaseResult {
            key: Some(key.clone().unbind()),
            value: None,
            found: false,
            won: flags.win,
            stale: flags.stale,
            already_won: flags.already_won,
            cas: flags.cas,
            ttl: flags.ttl,
            compute_time: None,
        }
    }
}

fn py_option<V: std::fmt::Display>(value: Option<V>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// `lease_get`: see [`crate::client::Client::lease_get`].
pub struct LeaseGet {
    key: Key,
    lease_ttl: Option<i64>,
    recache_below: Option<i64>,
}

impl LeaseGet {
    pub fn new(key: &Bound<'_, PyAny>, lease_ttl: Option<i64>, recache_below: Option<i64>) -> PyResult<Self> {
        Ok(LeaseGet {
            key: Key::new(key)?,
            lease_ttl,
            recache_below,
        })
    }
}

impl Op for LeaseGet {
    type Output = Response;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Response>> + Send {
        core.lease_get(self.key.key_ref(), self.lease_ttl, self.recache_below)
    }

    fn finish(self, py: Python<'_>, reply: Response, serde: &Serde) -> PyResult<Py<PyAny>> {
        let flags = &reply.flags;
        let mut result = LeaseResult::unfound(self.key.bind(py), &reply);
        if let (Code::Value, Some(data)) = (reply.code, &reply.value) {
            let client_flags = flags.client_flags.unwrap_or(0);
            if !is_placeholder(&reply) {
                let (data, client_flags, millis) = split_compute_time(data.clone(), client_flags)?;
                result.value = Some(serde.deserialize(py, self.key.bind(py), data, client_flags)?);
                result.found = true;
                result.compute_time = millis.map(|ms| f64::from(ms) / 1000.0);
            }
        }
        to_py(py, result)
    }
}

/// `_lease_get_with_counters`: see [`Core::lease_get_with_counters`]. Answers `(LeaseResult,
/// client flags, counters)`: the result's value is the entry's stored bytes, undecoded (its
/// owner, the named cache, decodes its own envelope), the flags the entry's (0 on a miss), and
/// each counter's number, or `None` when absent or not a decimal number.
pub struct LeaseGetWithCounters {
    key: Key,
    counters: Vec<Key>,
    lease_ttl: Option<i64>,
    recache_below: Option<i64>,
}

impl LeaseGetWithCounters {
    pub fn new(
        key: &Bound<'_, PyAny>,
        counters: &Bound<'_, PyAny>,
        lease_ttl: Option<i64>,
        recache_below: Option<i64>,
    ) -> PyResult<Self> {
        Ok(LeaseGetWithCounters {
            key: Key::new(key)?,
            counters: Key::many(counters)?,
            lease_ttl,
            recache_below,
        })
    }
}

impl Op for LeaseGetWithCounters {
    type Output = (Response, Vec<Option<Item>>);

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        let counters: Vec<KeyRef<'_>> = self.counters.iter().map(Key::key_ref).collect();
        core.lease_get_with_counters(self.key.key_ref(), &counters, self.lease_ttl, self.recache_below)
            .await
    }

    fn finish(self, py: Python<'_>, (reply, counters): Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let flags = &reply.flags;
        let mut result = LeaseResult::unfound(self.key.bind(py), &reply);
        let mut client_flags = 0;
        if let (Code::Value, Some(data)) = (reply.code, &reply.value) {
            if !is_placeholder(&reply) {
                let (data, entry_flags, millis) = split_compute_time(data.clone(), flags.client_flags.unwrap_or(0))?;
                result.value = Some(PyBytes::new(py, &data).into_any().unbind());
                result.found = true;
                result.compute_time = millis.map(|ms| f64::from(ms) / 1000.0);
                client_flags = entry_flags;
            }
        }
        let numbers = counters
            .into_iter()
            .map(|item| item.and_then(|item| std::str::from_utf8(&item.data).ok()?.trim().parse::<u64>().ok()));
        let numbers = PyList::new(py, numbers)?;
        let result = Bound::new(py, result)?;
        Ok(PyTuple::new(
            py,
            [
                result.into_any(),
                client_flags.into_pyobject(py)?.into_any(),
                numbers.into_any(),
            ],
        )?
        .into_any()
        .unbind())
    }
}

/// `fill`: a CAS store (plain store without `cas`) of the value with its compute time.
pub fn fill(
    serde: &Serde,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    cas: Option<u64>,
    ttl: i64,
    compute_time: Option<f64>,
    raw_flags: Option<u32>,
) -> PyResult<Store> {
    let key = Key::new(key)?;
    let (payload, client_flags) = match raw_flags {
        // A value its caller encoded itself (a named cache's envelope): stored as given.
        Some(flags) if flags & FLAG_COMPUTE_TIME != 0 => {
            return Err(super::errors::invalid_argument(
                "client_flags must leave bit 29 (memlease's compute-time trailer) clear",
            ))
        }
        Some(flags) => (Payload::Bytes(raw_bytes(value)?), flags),
        None => serde.serialize(key.bind(value.py()), value)?,
    };
    let millis = match compute_time {
        Some(seconds) if !(seconds.is_finite() && seconds >= 0.0) => {
            return Err(super::errors::invalid_argument(
                "compute_time must be a number of seconds >= 0",
            ))
        }
        Some(seconds) => Some((seconds * 1000.0).round().min(f64::from(u32::MAX)) as u32),
        // An empty unflagged value would look like a lease placeholder: give it a trailer.
        None if payload.is_empty() && client_flags == 0 => Some(0),
        None => None,
    };
    let (payload, client_flags) = match millis {
        Some(ms) => with_compute_time(&payload, client_flags, ms),
        None => (payload, client_flags),
    };
    Ok(Store::serialized(SetMode::Set, key, payload, client_flags, ttl, cas).lease_fill())
}

/// `invalidate`: see [`crate::client::Client::invalidate`].
pub struct Invalidate {
    key: Key,
    stale_ttl: Option<i64>,
    cas: Option<u64>,
}

impl Invalidate {
    pub fn new(key: &Bound<'_, PyAny>, stale_ttl: Option<i64>, cas: Option<u64>) -> PyResult<Self> {
        if stale_ttl.is_some_and(|ttl| ttl <= 0) {
            return Err(super::errors::invalid_argument(
                "stale_ttl must be a positive number of seconds",
            ));
        }
        Ok(Invalidate {
            key: Key::new(key)?,
            stale_ttl,
            cas,
        })
    }
}

impl Op for Invalidate {
    type Output = bool;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<bool>> + Send {
        core.invalidate(self.key.key_ref(), self.stale_ttl, self.cas)
    }

    fn finish(self, py: Python<'_>, output: bool, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }
}
