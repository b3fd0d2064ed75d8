//! `memlease.Client`: the synchronous client. Each method prepares its operation (GIL held),
//! runs it on the calling thread with the GIL released, then builds the Python result. The
//! methods themselves are shared with `AsyncClient` (`py::methods`).

use super::methods::{client_methods, ClientClass};
use super::ops::Op;
use super::options::Options;
use super::serde::Serde;
use crate::client::Client as Core;
use crate::cluster::Cluster;
use crate::transport::{run_blocking, Blocking};
use pyo3::prelude::*;

/// A memcached client for one or more servers. Thread-safe: share one per process.
#[pyclass(frozen, module = "memlease._core", name = "Client")]
pub struct Client {
    core: Core<Blocking>,
    serde: Serde,
}

impl ClientClass for Client {
    fn from_options(options: Options<'_, '_>) -> PyResult<Self> {
        let (cluster, serde) = options.build()?;
        Ok(Client {
            core: Core::new(Blocking(cluster)),
            serde,
        })
    }

    fn serde(&self) -> &Serde {
        &self.serde
    }

    fn cluster(&self) -> &Cluster {
        self.core.cluster()
    }

    fn execute<O: Op>(&self, py: Python<'_>, op: O) -> PyResult<Py<PyAny>> {
        let output = py.detach(|| run_blocking(op.run(&self.core)))?;
        op.finish(py, output, &self.serde)
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
