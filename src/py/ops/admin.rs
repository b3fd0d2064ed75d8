//! The broadcasts and text commands: flush_all, stats, version, raw text commands.

use super::Op;
use crate::client::{Client as Core, PerServer, StatLines};
use crate::error::Result;
use crate::py::errors::invalid_argument;
use crate::py::serde::Serde;
use crate::transport::Transport;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// Raise the first error of a per-server result list, else return the values by server.
fn by_server<V>(results: PerServer<V>) -> PyResult<Vec<(String, V)>> {
    results
        .into_iter()
        .map(|(name, r)| r.map(|v| (name, v)).map_err(PyErr::from))
        .collect()
}

/// `flush_all`.
pub struct FlushAll(pub u32);

impl Op for FlushAll {
    type Output = PerServer<()>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.flush_all(self.0).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        by_server(output)?;
        Ok(py.None())
    }
}

/// `stats [args...]`: `{server: {name: value}}`, numbers converted.
pub struct Stats(Option<String>);

impl Stats {
    /// Each argument is one word of the command: `stats("slabs")`, `stats("cachedump", "1", "1")`.
    pub fn new(args: Vec<String>) -> PyResult<Self> {
        if args
            .iter()
            .any(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid_argument(
                "stats arguments are single words, e.g. stats(\"cachedump\", \"1\", \"10\")",
            ));
        }
        Ok(Stats((!args.is_empty()).then(|| args.join(" "))))
    }
}

impl Op for Stats {
    type Output = PerServer<StatLines>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.stats(self.0.as_deref()).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, stats) in by_server(output)? {
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
        Ok(result.into_any().unbind())
    }
}

/// `_text_command(line, end=None)`: a classic command on every server, `{server: reply bytes}`
/// (its one line, or everything before `end`).
pub struct TextCommand {
    line: String,
    end: Option<Bytes>,
}

impl TextCommand {
    pub fn new(line: String, end: Option<Vec<u8>>) -> PyResult<Self> {
        if end.as_ref().is_some_and(|end| end.is_empty()) {
            return Err(invalid_argument("end_tokens must not be empty"));
        }
        let words_ok = line
            .split(' ')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_graphic()));
        if !words_ok {
            return Err(invalid_argument(
                "a text command is printable words separated by single spaces",
            ));
        }
        Ok(TextCommand {
            line,
            end: end.map(Bytes::from),
        })
    }
}

impl Op for TextCommand {
    type Output = PerServer<Vec<u8>>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.text_command(&self.line, self.end.clone()).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, reply) in by_server(output)? {
            result.set_item(server, PyBytes::new(py, &reply))?;
        }
        Ok(result.into_any().unbind())
    }
}

/// `version`: `{server: version}`.
pub struct Version;

impl Op for Version {
    type Output = PerServer<String>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.version().await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, version) in by_server(output)? {
            result.set_item(server, version)?;
        }
        Ok(result.into_any().unbind())
    }
}
