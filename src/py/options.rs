//! The constructor options both clients take, with their documented defaults.

use super::convert::{servers, timeout, Count, Seconds};
use super::errors::invalid_argument;
use super::serde::Serde;
use crate::cluster::{Cluster, ClusterConfig};
use crate::health::{HealthPolicy, DEFAULT_FAILURES_TO_MARK_DOWN, DEFAULT_MARK_DOWN_PERIOD};
use crate::pool::PoolConfig;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Defaults, in seconds / counts. Low, like production memcache clients: a cache that answers
/// slowly is worse than a miss.
pub const DEFAULT_CONNECT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_TIMEOUT: f64 = 0.25;
pub const DEFAULT_POOL_TIMEOUT: f64 = 0.25;
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
pub const DEFAULT_FAILURES: usize = DEFAULT_FAILURES_TO_MARK_DOWN as usize;
pub const DEFAULT_MARK_DOWN_SECONDS: f64 = DEFAULT_MARK_DOWN_PERIOD.as_secs_f64();

/// What a call does when its server is unreachable (connect failure, timeout, reset, marked
/// down): raise, or behave as a cache miss (reads return nothing, writes return False).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnServerError {
    Raise,
    Miss,
}

impl OnServerError {
    pub fn parse(value: &str) -> PyResult<Self> {
        match value {
            "raise" => Ok(OnServerError::Raise),
            "miss" => Ok(OnServerError::Miss),
            other => Err(invalid_argument(format!(
                "on_server_error must be \"raise\" or \"miss\", not {other:?}"
            ))),
        }
    }
}

/// Client-level behaviour beyond the cluster: error policy and the event hook.
pub struct Behaviour {
    pub on_server_error: OnServerError,
    /// Called as `on_event(event, server, detail)` for mark-downs and rejoins.
    pub on_event: Option<Py<PyAny>>,
}

/// Everything a client class is made of.
pub struct Built {
    pub cluster: Cluster,
    pub serde: Serde,
    pub behaviour: Behaviour,
}

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
    pub failures_to_mark_down: Count,
    pub mark_down_period: Seconds,
    pub on_server_error: &'a str,
    pub on_event: Option<&'a Bound<'py, PyAny>>,
}

impl Options<'_, '_> {
    /// The cluster, serde and behaviour these options describe.
    pub fn build(self) -> PyResult<Built> {
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
            health: HealthPolicy {
                failures_to_mark_down: u32::try_from(self.failures_to_mark_down.0.max(1)).unwrap_or(u32::MAX),
                mark_down_period: timeout("mark_down_period", self.mark_down_period)?,
            },
        };
        if self.failures_to_mark_down.0 == 0 {
            return Err(invalid_argument("failures_to_mark_down must be at least 1"));
        }
        if let Some(hook) = self.on_event {
            if !hook.is_callable() {
                return Err(invalid_argument(
                    "on_event must be callable as on_event(event, server, detail)",
                ));
            }
        }
        let serde = Serde::from_options(self.serde, self.pickle, self.compress_threshold.map(|c| c.0))?;
        let behaviour = Behaviour {
            on_server_error: OnServerError::parse(self.on_server_error)?,
            on_event: self.on_event.map(|h| h.clone().unbind()),
        };
        Ok(Built {
            cluster: Cluster::new(config)?,
            serde,
            behaviour,
        })
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

/// Health counters per server (see [`crate::health`]).
pub fn health<'py>(py: Python<'py>, cluster: &Cluster) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    for (i, snapshot) in cluster.health().into_iter().enumerate() {
        let entry = PyDict::new(py);
        entry.set_item("down", snapshot.down)?;
        entry.set_item("failures", snapshot.failures)?;
        entry.set_item("consecutive_failures", snapshot.consecutive_failures)?;
        entry.set_item("mark_downs", snapshot.mark_downs)?;
        entry.set_item("rejoins", snapshot.rejoins)?;
        entry.set_item("refused", snapshot.refused)?;
        entry.set_item("last_error", snapshot.last_error)?;
        result.set_item(cluster.server_name(i).to_string(), entry)?;
    }
    Ok(result)
}
