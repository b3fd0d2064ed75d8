//! `LocalLayer`: the in-process layer of named caches (`crate::named`) for Python values.
//!
//! Keys and tags are str, hashed and compared in Rust: no Python `__hash__`/`__eq__` runs, and
//! the core drops values only with its locks released, so a value's `__del__` runs no Python
//! under a lock. Nothing here relies on the GIL.

use super::errors::invalid_argument;
use crate::named::local_layer::{max_entries_from, ttl_from_secs, LocalLayer as Core};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use std::time::Duration;

/// A bounded, TTL'd, tag-invalidated in-process cache of Python values by str key.
///
/// - `get` returns a fresh entry's value (never an expired one, nor one whose key, tag or
///   layer was invalidated after its value was read), else `default`.
/// - `put(key, value, tags=(), ttl=None, *, since=None)`: `ttl` None is the layer's ttl.
///   Take `since = layer.generation()` BEFORE reading the value from its source (memcached,
///   the database): the put is then refused (silently; counted as `refused`) if the key,
///   one of `tags`, or the whole layer was invalidated after the token was taken, so a value
///   read before an invalidation is never stored after it. Without `since` the value counts
///   as read when `put` is called.
/// - `remove_tags(tags)`: every entry carrying any of them stops being served at once; costs
///   O(number of tags), not O(entries). Returns how many tags were processed.
/// - `configure(max_entries=, ttl=)` at runtime: entries keep the expiry they were stored
///   with; a new `max_entries` moves the fresh entries into a cache of the new size.
/// - `stats()`: hits, misses, inserts, evictions, expirations, invalidations, refused,
///   entries, tags. `len()` counts stored entries, expired ones included until read or
///   evicted.
#[pyclass(frozen, module = "memlease._core", name = "LocalLayer")]
pub struct LocalLayer {
    core: Core<Py<PyAny>>,
}

/// An int argument, or `InvalidArgument` naming it (bools are not counts).
fn int_argument(name: &str, value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_argument(format!("{name} must be an int, got a bool")));
    }
    value
        .extract::<i64>()
        .map_err(|_| invalid_argument(format!("{name} must be an int, got {}", type_name(value))))
}

fn ttl_argument(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_argument(format!(
            "{name} must be a number of seconds, got a bool"
        )));
    }
    let seconds = value
        .extract::<f64>()
        .map_err(|_| invalid_argument(format!("{name} must be a number of seconds, got {}", type_name(value))))?;
    Ok(ttl_from_secs(name, seconds)?)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// A str argument's text (keys and tags), or `InvalidArgument`.
fn text<'a>(what: &str, value: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    value
        .cast::<PyString>()
        .map_err(|_| invalid_argument(format!("{what} must be a str, got {}", type_name(value))))?
        .to_str()
        .map_err(|_| invalid_argument(format!("{what} must be encodable as UTF-8")))
}

/// The str items of an iterable of tags (a str or bytes itself is refused: it would be read
/// as its characters).
fn tag_items<'py>(tags: &Bound<'py, PyAny>) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if tags.is_instance_of::<PyString>() || tags.is_instance_of::<PyBytes>() {
        return Err(invalid_argument(
            "tags must be an iterable of str, not a single str or bytes",
        ));
    }
    let items = tags
        .try_iter()
        .map_err(|_| invalid_argument(format!("tags must be an iterable of str, got {}", type_name(tags))))?;
    items.collect()
}

fn tag_texts<'a>(items: &'a [Bound<'_, PyAny>]) -> PyResult<Vec<&'a str>> {
    items.iter().map(|item| text("a tag", item)).collect()
}

#[pymethods]
impl LocalLayer {
    #[new]
    fn new(max_entries: &Bound<'_, PyAny>, ttl: &Bound<'_, PyAny>) -> PyResult<Self> {
        let max_entries = max_entries_from(int_argument("max_entries", max_entries)?)?;
        let ttl = ttl_argument("ttl", ttl)?;
        Ok(LocalLayer {
            core: Core::new(max_entries, ttl),
        })
    }

    #[pyo3(signature = (key, default = None))]
    fn get(&self, py: Python<'_>, key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.core.get(text("key", key)?) {
            Some(entry) => Ok(entry.value().clone_ref(py)),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    // `tags` is `()` in the signature Python sees; `None` is accepted as the same.
    #[pyo3(signature = (key, value, tags = None, ttl = None, *, since = None))]
    #[pyo3(text_signature = "(self, key, value, tags=(), ttl=None, *, since=None)")]
    fn put(
        &self,
        key: &Bound<'_, PyAny>,
        value: Py<PyAny>,
        tags: Option<&Bound<'_, PyAny>>,
        ttl: Option<&Bound<'_, PyAny>>,
        since: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let key = text("key", key)?;
        let items = tags.map(tag_items).transpose()?.unwrap_or_default();
        let tags = tag_texts(&items)?;
        let ttl = ttl
            .filter(|ttl| !ttl.is_none())
            .map(|ttl| ttl_argument("ttl", ttl))
            .transpose()?;
        let since = since
            .filter(|since| !since.is_none())
            .map(|since| {
                int_argument("since", since)
                    .and_then(|token| u64::try_from(token).map_err(|_| invalid_argument("since must not be negative")))
            })
            .transpose()?;
        self.core.put(key, value, &tags, ttl, since)?;
        Ok(())
    }

    /// The token to take before reading a value from its source; see `put(since=)`.
    fn generation(&self) -> u64 {
        self.core.generation()
    }

    fn remove(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.core.remove(text("key", key)?))
    }

    fn remove_tags(&self, tags: &Bound<'_, PyAny>) -> PyResult<usize> {
        let items = tag_items(tags)?;
        Ok(self.core.remove_tags(tag_texts(&items)?))
    }

    fn clear(&self) {
        self.core.clear();
    }

    #[pyo3(signature = (*, max_entries = None, ttl = None))]
    fn configure(&self, max_entries: Option<&Bound<'_, PyAny>>, ttl: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let max_entries = max_entries
            .filter(|value| !value.is_none())
            .map(|value| Ok::<_, PyErr>(max_entries_from(int_argument("max_entries", value)?)?))
            .transpose()?;
        let ttl = ttl
            .filter(|value| !value.is_none())
            .map(|value| ttl_argument("ttl", value))
            .transpose()?;
        self.core.configure(max_entries, ttl);
        Ok(())
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = self.core.stats();
        let dict = PyDict::new(py);
        for (name, value) in [
            ("hits", stats.hits),
            ("misses", stats.misses),
            ("inserts", stats.inserts),
            ("evictions", stats.evictions),
            ("expirations", stats.expirations),
            ("invalidations", stats.invalidations),
            ("refused", stats.refused),
            ("entries", stats.entries),
            ("tags", stats.tags),
        ] {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn __len__(&self) -> usize {
        self.core.len()
    }
}
