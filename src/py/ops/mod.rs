//! Every client method as one value that both Python classes execute: `prepare` turns Python
//! arguments into owned Rust inputs (GIL held), [`Op::run`] performs the operation over either
//! transport (no GIL), and [`Op::finish`] turns the outcome into a Python object (GIL held).
//! `Client` runs an op on the calling thread; `AsyncClient` runs it on the runtime and resolves
//! an asyncio future with the finished value.
//!
//! The ops mirror `client/`: `single` (get, stores, delete, touch, counters), `multi`
//! (get_many, set_many, delete_many), `admin` (flush_all, stats, version, text commands),
//! `meta` (raw meta commands); here, the `Op` trait and the key conversion they share.

mod admin;
mod meta;
mod multi;
mod single;

pub use admin::*;
pub use meta::*;
pub use multi::*;
pub use single::*;

use crate::client::{Client as Core, Item, KeyRef};
use crate::error::Result;
use crate::py::convert::{key_parts, KeyParts};
use crate::py::serde::Serde;
use crate::route::ring::PlacementKey;
use crate::transport::Transport;
use pyo3::prelude::*;
use pyo3::BoundObject;
use std::future::Future;

/// One client method, split at the GIL boundaries.
pub trait Op: Send + Sync + Sized + 'static {
    type Output: Send + 'static;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send;

    fn finish(self, py: Python<'_>, output: Self::Output, serde: &Serde) -> PyResult<Py<PyAny>>;

    /// The result when the server is unreachable and the caller treats that as a miss
    /// (`on_server_error="miss"`): reads find nothing, writes report False. `None` means raise
    /// anyway (administrative and low-level meta calls).
    fn unavailable(self, _py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        None
    }

    /// Multi-key operations: carry on when some servers are unreachable, counting their keys
    /// as misses / not stored.
    fn tolerate(&mut self) {}
}

pub(crate) fn answer<'py, V: IntoPyObject<'py>>(py: Python<'py>, value: V) -> Option<PyResult<Py<PyAny>>>
where
    PyErr: From<V::Error>,
{
    Some(to_py(py, value))
}

pub(crate) fn to_py<'py, V: IntoPyObject<'py>>(py: Python<'py>, value: V) -> PyResult<Py<PyAny>>
where
    PyErr: From<V::Error>,
{
    Ok(value.into_pyobject(py)?.into_any().unbind())
}

/// A key argument: the Python object (for results and serdes) and its bytes.
pub struct Key {
    object: Py<PyAny>,
    parts: KeyParts,
}

impl Key {
    pub fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Key {
            parts: key_parts(key)?,
            object: key.clone().unbind(),
        })
    }

    /// The key as the operations see it.
    pub fn key_ref(&self) -> KeyRef<'_> {
        let (route, route_is_bytes) = match &self.parts.route {
            Some((route, is_bytes)) => (&route[..], *is_bytes),
            None => (&self.parts.stored[..], self.parts.is_bytes),
        };
        KeyRef {
            stored: &self.parts.stored,
            route: PlacementKey {
                bytes: route,
                is_bytes: route_is_bytes,
            },
            pinned: None,
            split_copy: false,
        }
    }

    pub(crate) fn many(keys: &Bound<'_, PyAny>) -> PyResult<Vec<Key>> {
        // Sized up front when the keys say how many they are: a list's iterator does not, and
        // growing the vector one doubling at a time copies every key converted so far.
        // (Bounded: `__len__` is the caller's code, and may say anything.)
        let mut many = Vec::with_capacity(keys.len().unwrap_or(0).min(1 << 16));
        for key in keys.try_iter()? {
            many.push(Key::new(&key?)?);
        }
        Ok(many)
    }

    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.object.bind(py)
    }
}

/// Deserialize an item read under `key`.
fn value_of(py: Python<'_>, key: &Key, item: Item, serde: &Serde) -> PyResult<Py<PyAny>> {
    serde.deserialize(py, key.bind(py), item.data, item.client_flags)
}
