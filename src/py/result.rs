//! `MetaResult`: a meta reply with every return flag, for the low-level `meta_*` methods.

use crate::protocol::keys;
use crate::protocol::response::Response;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// One meta-protocol reply. Flags the server did not return are `None` (numbers) or `False`.
#[pyclass(frozen, module = "memlease._core", name = "MetaResult")]
pub struct MetaResult {
    status: &'static str,
    value: Option<Py<PyAny>>,
    #[pyo3(get)]
    cas: Option<u64>,
    #[pyo3(get)]
    ttl: Option<i64>,
    #[pyo3(get)]
    client_flags: Option<u32>,
    #[pyo3(get)]
    hit_before: Option<bool>,
    #[pyo3(get)]
    last_access: Option<u64>,
    #[pyo3(get)]
    size: Option<u64>,
    opaque: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    #[pyo3(get)]
    win: bool,
    #[pyo3(get)]
    stale: bool,
    #[pyo3(get)]
    already_won: bool,
}

impl MetaResult {
    /// `value` is the deserialized data block, if the reply carried one.
    pub fn new(reply: &Response, value: Option<Py<PyAny>>) -> Self {
        let flags = &reply.flags;
        let key = flags.key.as_ref().map(|k| {
            if flags.base64_key {
                keys::decode_binary(k).unwrap_or_else(|| k.to_vec())
            } else {
                k.to_vec()
            }
        });
        MetaResult {
            status: reply.code.as_str(),
            value,
            cas: flags.cas,
            ttl: flags.ttl,
            client_flags: flags.client_flags,
            hit_before: flags.hit_before,
            last_access: flags.last_access,
            size: flags.size,
            opaque: flags.opaque.as_ref().map(|o| o.to_vec()),
            key,
            win: flags.win,
            stale: flags.stale,
            already_won: flags.already_won,
        }
    }
}

#[pymethods]
impl MetaResult {
    /// The return code: `"VA"`, `"HD"`, `"EN"`, `"NF"`, `"NS"` or `"EX"`.
    #[getter]
    fn status(&self) -> &'static str {
        self.status
    }

    /// The value (deserialized), or `None` if the reply carried none.
    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        self.value.as_ref().map_or_else(|| py.None(), |v| v.clone_ref(py))
    }

    /// The opaque token echoed by the server (`O` flag).
    #[getter]
    fn opaque<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.opaque.as_deref().map(|o| PyBytes::new(py, o))
    }

    /// The key the server returned (`k` flag), base64 already decoded.
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.key.as_deref().map(|k| PyBytes::new(py, k))
    }

    fn __repr__(&self) -> String {
        let mut parts = vec![format!("status={:?}", self.status)];
        let mut add = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        };
        add("cas", self.cas.map(|v| v.to_string()));
        add("ttl", self.ttl.map(|v| v.to_string()));
        add("client_flags", self.client_flags.map(|v| v.to_string()));
        add("size", self.size.map(|v| v.to_string()));
        add("win", self.win.then(|| "True".into()));
        add("stale", self.stale.then(|| "True".into()));
        add("already_won", self.already_won.then(|| "True".into()));
        format!("MetaResult({})", parts.join(", "))
    }
}
