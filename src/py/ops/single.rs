//! The single-key operations: get, the stores, delete, touch, counters.

use super::{answer, to_py, value_of, Key, Op};
use crate::client::{Cas, Client as Core, Item, StoreOutcome};
use crate::error::Result;
use crate::protocol::request::{ArithmeticMode, SetMode};
use crate::py::serde::{Payload, Serde};
use crate::transport::Transport;
use pyo3::prelude::*;
use std::future::Future;

/// `get` / `gets`.
pub struct Get {
    key: Key,
    default: Option<Py<PyAny>>,
    /// `Some(cas_default)` for `gets`, which answers `(default, cas_default)` on a miss, as
    /// pymemcache does, so `value, cas = client.gets(key)` always unpacks.
    cas_default: Option<Option<Py<PyAny>>>,
}

impl Get {
    pub fn new(key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(Get {
            key: Key::new(key)?,
            default,
            cas_default: None,
        })
    }

    pub fn with_cas(
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
        cas_default: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        Ok(Get {
            cas_default: Some(cas_default),
            ..Self::new(key, default)?
        })
    }

    /// The answer for a key that is not there.
    fn miss(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let default = self.default.unwrap_or_else(|| py.None());
        match self.cas_default {
            Some(cas_default) => to_py(py, (default, cas_default.unwrap_or_else(|| py.None()))),
            None => Ok(default),
        }
    }
}

impl Op for Get {
    type Output = Option<Item>;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send {
        core.get(self.key.key_ref(), self.cas_default.is_some())
    }

    fn finish(self, py: Python<'_>, output: Option<Item>, serde: &Serde) -> PyResult<Py<PyAny>> {
        match output {
            None => self.miss(py),
            Some(item) if self.cas_default.is_some() => {
                let cas = item.cas.unwrap_or(0);
                let value = value_of(py, &self.key, item, serde)?;
                to_py(py, (value, cas))
            }
            Some(item) => value_of(py, &self.key, item, serde),
        }
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(self.miss(py))
    }
}

/// `set` / `add` / `replace` / `append` / `prepend` / `cas`: true when stored.
pub struct Store {
    mode: SetMode,
    key: Key,
    payload: Payload,
    client_flags: u32,
    ttl: i64,
    cas: Option<Cas>,
    /// The `cas` method's contract: None (not False) when the key is gone.
    missing_is_none: bool,
}

impl Store {
    pub fn new(
        serde: &Serde,
        mode: SetMode,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: i64,
        cas: Option<u64>,
    ) -> PyResult<Self> {
        let key = Key::new(key)?;
        let (payload, client_flags) = serde.serialize(key.bind(value.py()), value)?;
        Ok(Store::serialized(mode, key, payload, client_flags, ttl, cas))
    }

    /// A store of an already serialized value.
    pub fn serialized(
        mode: SetMode,
        key: Key,
        payload: Payload,
        client_flags: u32,
        ttl: i64,
        cas: Option<u64>,
    ) -> Self {
        Store {
            mode,
            key,
            payload,
            client_flags,
            ttl,
            cas: cas.map(Cas::Caller),
            missing_is_none: false,
        }
    }

    /// A lease fill: its CAS is the lease's, so whichever server answered the lease read may
    /// judge it (see [`Cas::Lease`]).
    pub fn lease_fill(self) -> Self {
        Store {
            cas: self.cas.map(|cas| Cas::Lease(cas.token())),
            ..self
        }
    }

    /// Answer None rather than False when the key does not exist (pymemcache's `cas`), so a
    /// caller can tell "someone else changed it" from "it expired or was deleted".
    pub fn missing_is_none(self) -> Self {
        Store {
            missing_is_none: true,
            ..self
        }
    }
}

impl Op for Store {
    type Output = StoreOutcome;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send {
        core.store(
            self.mode,
            self.key.key_ref(),
            &self.payload,
            self.client_flags,
            self.ttl,
            self.cas,
        )
    }

    fn finish(self, py: Python<'_>, output: StoreOutcome, _: &Serde) -> PyResult<Py<PyAny>> {
        if self.missing_is_none && output == StoreOutcome::NotFound {
            return Ok(py.None());
        }
        to_py(py, output == StoreOutcome::Stored)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `delete`: true if the key existed.
pub struct Delete(Key);

impl Delete {
    pub fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Delete(Key::new(key)?))
    }
}

impl Op for Delete {
    type Output = bool;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<bool>> + Send {
        core.delete(self.0.key_ref())
    }

    fn finish(self, py: Python<'_>, output: bool, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `touch`: true if the key existed.
pub struct Touch(Key, i64);

impl Touch {
    pub fn new(key: &Bound<'_, PyAny>, ttl: i64) -> PyResult<Self> {
        Ok(Touch(Key::new(key)?, ttl))
    }
}

impl Op for Touch {
    type Output = bool;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<bool>> + Send {
        core.touch(self.0.key_ref(), self.1)
    }

    fn finish(self, py: Python<'_>, output: bool, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `incr` / `decr`.
pub struct Arithmetic {
    key: Key,
    mode: ArithmeticMode,
    delta: u64,
    initial: Option<u64>,
    ttl: i64,
}

impl Arithmetic {
    pub fn new(
        key: &Bound<'_, PyAny>,
        mode: ArithmeticMode,
        delta: u64,
        initial: Option<u64>,
        ttl: i64,
    ) -> PyResult<Self> {
        Ok(Arithmetic {
            key: Key::new(key)?,
            mode,
            delta,
            initial,
            ttl,
        })
    }
}

impl Op for Arithmetic {
    type Output = Option<u64>;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Option<u64>>> + Send {
        core.arithmetic(self.key.key_ref(), self.mode, self.delta, self.initial, self.ttl)
    }

    fn finish(self, py: Python<'_>, output: Option<u64>, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(Ok(py.None()))
    }
}
