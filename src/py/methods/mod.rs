//! The methods `Client` and `AsyncClient` share, written once. Each builds its operation
//! (`py::ops`) and hands it to the class's [`ClientClass::execute`]: `Client` runs it on the
//! calling thread, `AsyncClient` launches it and returns an awaitable. Arguments, results and
//! errors are therefore the same for both.

pub mod admin;
pub mod meta;
pub mod multi;
pub mod single;

use super::behaviour::{Behaviour, OnServerError};
use super::constructor::Options;
use super::ops::Op;
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

    /// Each server's connections on event loops (`crate::aio`); none for the sync client.
    fn loop_connections(&self) -> Vec<usize> {
        Vec::new()
    }

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
/// The shared methods are written by family, one file each; a `#[pymethods]` block must be one
/// item, so each family's macro appends its methods to the tokens gathered so far and calls the
/// next: single -> multi -> meta -> admin -> the constructor (`py::constructor`, built from the
/// option list) -> [`emit_methods!`], which writes the block.
///
/// Every data method takes a keyword-only `on_server_error` ("raise" / "miss") that overrides
/// the client's for that call.
macro_rules! client_methods {
    ($class:ident, { $($own:tt)* }) => {
        $crate::py::methods::single::single_key_methods! { $class [ $($own)* ] }
    };
}

/// The last stage of [`client_methods!`]: the class's one `#[pymethods]` block.
macro_rules! emit_methods {
    ($class:ident [$($methods:tt)*]) => {
        #[pymethods]
        impl $class {
            $($methods)*
        }
    };
}

pub(crate) use client_methods;
pub(crate) use emit_methods;
