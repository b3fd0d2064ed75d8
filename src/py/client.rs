//! `memlease.Client`: the synchronous client. Each method prepares its operation (GIL held),
//! runs it on the calling thread with the GIL released, then builds the Python result. The
//! methods themselves are shared with `AsyncClient` (`py::methods`).

use super::behaviour::{Behaviour, OnServerError};
use super::constructor::Options;
use super::methods::{client_methods, conclude, fire_events, ClientClass};
use super::ops::Op;
use super::serde::Serde;
use crate::call;
use crate::client::Client as Core;
use crate::cluster::Cluster;
use crate::transport::{run_blocking, Blocking};
use pyo3::prelude::*;
use std::time::Instant;

/// A memcached client for one or more servers. Thread-safe: share one per process.
#[pyclass(frozen, subclass, module = "memlease._core", name = "Client")]
pub struct Client {
    core: Core<Blocking>,
    serde: Serde,
    behaviour: Behaviour,
}

impl ClientClass for Client {
    fn from_options(options: Options<'_, '_>) -> PyResult<Self> {
        let built = options.build()?;
        Ok(Client {
            core: Core::with_hot_keys(Blocking(built.cluster), built.hot),
            serde: built.serde,
            behaviour: built.behaviour,
        })
    }

    fn serde(&self) -> &Serde {
        &self.serde
    }

    fn cluster(&self) -> &Cluster {
        self.core.cluster()
    }

    fn split_keys(&self) -> &crate::client::hot::SplitKeys {
        self.core.split_keys()
    }

    fn local_cache(&self) -> Option<crate::client::hot::LocalStats> {
        self.core.local_cache_stats()
    }

    fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    fn run<O: Op>(&self, py: Python<'_>, started: Instant, op: O, policy: OnServerError) -> PyResult<Py<PyAny>> {
        let output = py.detach(|| call::blocking(started, || run_blocking(op.run(&self.core))));
        fire_events(py, self.core.cluster(), &self.behaviour);
        conclude(py, op, output, policy, &self.serde)
    }
}

client_methods!(Client, {
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
});
