//! The constructor options both clients take, with their documented defaults.

use super::convert::{servers, timeout, Count, Seconds};
use super::errors::invalid_argument;
use super::serde::Serde;
use crate::cluster::{Cluster, ClusterConfig};
use crate::pool::PoolConfig;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Defaults, in seconds / counts. Low, like production memcache clients: a cache that answers
/// slowly is worse than a miss.
pub const DEFAULT_CONNECT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_POOL_TIMEOUT: f64 = 0.25;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// Validated constructor arguments.
pub struct Options<'a, 'py> {
    pub servers: &'a Bound<'py, PyAny>,
    pub connect_timeout: Seconds,
    pub timeout: Seconds,
    pub max_connections: Count,
    pub pool_timeout: Seconds,
    pub serde: Option<&'a Bound<'py, PyAny>>,
    pub pickle: bool,
    pub compress_threshold: Option<Count>,
}

impl Options<'_, '_> {
    /// The cluster and serde these options describe.
    pub fn build(self) -> PyResult<(Cluster, Serde)> {
        let Count(max_connections) = self.max_connections;
        if max_connections == 0 {
            return Err(invalid_argument("max_connections must be at least 1"));
        }
        let config = ClusterConfig {
            servers: servers(self.servers)?,
            pool: PoolConfig {
                max_connections,
                connect_timeout: timeout("connect_timeout", self.connect_timeout)?,
                pool_timeout: timeout("pool_timeout", self.pool_timeout)?,
            },
            timeout: timeout("timeout", self.timeout)?,
        };
        let serde = Serde::from_options(self.serde, self.pickle, self.compress_threshold.map(|c| c.0))?;
        Ok((Cluster::new(config)?, serde))
    }
}

/// The server (`"host:port"`) that holds `key`.
pub fn server_for(cluster: &Cluster, key: &Bound<'_, PyAny>) -> PyResult<String> {
    let raw = super::convert::key_bytes(key)?;
    Ok(cluster.server_name(cluster.server_for(&raw)).to_string())
}

/// The configured servers, in order.
pub fn server_names(cluster: &Cluster) -> Vec<String> {
    (0..cluster.server_count())
        .map(|i| cluster.server_name(i).to_string())
        .collect()
}

/// `{server: {"open": n, "idle": n, ...}}`: this process's connections.
pub fn pool_stats<'py>(py: Python<'py>, cluster: &Cluster) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    let multiplexed = cluster.multiplexed_counts();
    for (i, (open, idle)) in cluster.connection_counts().into_iter().enumerate() {
        let entry = PyDict::new(py);
        entry.set_item("open", open)?;
        entry.set_item("idle", idle)?;
        entry.set_item("multiplexed", multiplexed[i].0)?;
        entry.set_item("queued", multiplexed[i].1)?;
        result.set_item(cluster.server_name(i).to_string(), entry)?;
    }
    Ok(result)
}
