//! The multi-key operations: get_many, set_many, delete_many.

use super::{to_py, value_of, Key, Op};
use crate::client::{Client as Core, Item, KeyRef, StoreItem};
use crate::error::Result;
use crate::py::serde::{Payload, Serde};
use crate::transport::Transport;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// `get_many`: `{key: value}` of the keys found.
pub struct GetMany {
    keys: Vec<Key>,
    tolerant: bool,
}

impl GetMany {
    pub fn new(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(GetMany {
            keys: Key::many(keys)?,
            tolerant: false,
        })
    }
}

impl Op for GetMany {
    type Output = Vec<Option<Item>>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        let raw: Vec<KeyRef<'_>> = self.keys.iter().map(Key::key_ref).collect();
        core.get_many(&raw, false, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, output: Self::Output, serde: &Serde) -> PyResult<Py<PyAny>> {
        let found = PyDict::new(py);
        for (key, item) in self.keys.iter().zip(output) {
            if let Some(item) = item {
                found.set_item(key.bind(py), value_of(py, key, item, serde)?)?;
            }
        }
        Ok(found.into_any().unbind())
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(Ok(PyDict::new(py).into_any().unbind()))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}

/// `set_many`: the keys not stored.
pub struct SetMany {
    keys: Vec<Key>,
    payloads: Vec<(Payload, u32)>,
    ttl: i64,
    tolerant: bool,
}

impl SetMany {
    pub fn new(serde: &Serde, mapping: &Bound<'_, PyAny>, ttl: i64) -> PyResult<Self> {
        let mut keys = Vec::new();
        let mut payloads = Vec::new();
        for pair in mapping.call_method0("items")?.try_iter()? {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
            let key = Key::new(&key)?;
            payloads.push(serde.serialize(key.bind(value.py()), &value)?);
            keys.push(key);
        }
        Ok(SetMany {
            keys,
            payloads,
            ttl,
            tolerant: false,
        })
    }
}

impl Op for SetMany {
    type Output = Vec<bool>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Vec<bool>> {
        let items: Vec<StoreItem<'_>> = self
            .keys
            .iter()
            .zip(&self.payloads)
            .map(|(key, (data, flags))| StoreItem {
                key: key.key_ref(),
                data,
                client_flags: *flags,
            })
            .collect();
        core.set_many(&items, self.ttl, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, stored: Vec<bool>, _: &Serde) -> PyResult<Py<PyAny>> {
        let failed = PyList::empty(py);
        for (key, ok) in self.keys.iter().zip(stored) {
            if !ok {
                failed.append(key.bind(py))?;
            }
        }
        Ok(failed.into_any().unbind())
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let all = vec![false; self.keys.len()];
        Some(Op::finish(self, py, all, &Serde::Raw))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}

/// `delete_many`: how many keys existed; reporting, also the keys whose server could not be
/// reached (for the write-failure tracker).
pub struct DeleteMany {
    keys: Vec<Key>,
    tolerant: bool,
    report: bool,
}

impl DeleteMany {
    pub fn new(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(DeleteMany {
            keys: Key::many(keys)?,
            tolerant: false,
            report: false,
        })
    }

    /// Answer `(deleted, [keys not reached])` rather than a count.
    pub fn reporting(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(DeleteMany {
            report: true,
            ..Self::new(keys)?
        })
    }

    fn answer(&self, py: Python<'_>, deleted: usize, unreached: &[usize]) -> PyResult<Py<PyAny>> {
        if !self.report {
            return to_py(py, deleted);
        }
        let keys: Vec<&Bound<'_, PyAny>> = unreached.iter().map(|&i| self.keys[i].bind(py)).collect();
        to_py(py, (deleted, keys))
    }
}

impl Op for DeleteMany {
    type Output = (usize, Vec<usize>);

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<(usize, Vec<usize>)> {
        let raw: Vec<KeyRef<'_>> = self.keys.iter().map(Key::key_ref).collect();
        core.delete_many(&raw, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, (deleted, unreached): (usize, Vec<usize>), _: &Serde) -> PyResult<Py<PyAny>> {
        self.answer(py, deleted, &unreached)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let every: Vec<usize> = (0..self.keys.len()).collect();
        Some(self.answer(py, 0, &every))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}
