//! The constructor options both clients take, with their documented defaults.

use super::behaviour::{AsyncIo, Behaviour, OnServerError};
use super::constructor::Options;
use super::convert::{key_bytes, servers, timeout, Count, MaxTtl, Seconds};
use super::errors::invalid_argument;
use super::serde::Serde;
use crate::client::hot::{LocalCache, LocalCacheConfig, SplitKeys};
use crate::client::HotKeys;
use crate::cluster::{Cluster, ClusterConfig};
use crate::limits::{PoolConfig, Timeouts};
use crate::py::errors::InvalidKey;
use crate::route::health::HealthPolicy;
use crate::route::ring::Hashing;
use crate::route::topology::{PoolSpec, TopologyConfig, DEFAULT_POOL};
use crate::security::{Credentials, Security};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use std::sync::Arc;
use std::time::Duration;

/// Everything a client class is made of.
pub struct Built {
    pub cluster: Cluster,
    pub serde: Serde,
    pub behaviour: Behaviour,
    pub hot: HotKeys,
}

/// Pool settings a pool inherits from the client unless it sets its own.
#[derive(Clone)]
struct PoolDefaults {
    hashing: Hashing,
    connections: PoolConfig,
    max_ttl: Option<i64>,
}

/// Reserved pool names for the `gutter=` and `mirror=` servers.
const GUTTER_POOL: &str = "gutter";
const MIRROR_POOL: &str = "mirror";

fn hashing(name: &str) -> PyResult<Hashing> {
    Hashing::parse(name).ok_or_else(|| {
        invalid_argument(format!(
            "hashing must be one of ketama, libmemcached_ketama, modula, pymemcache, python_memcached, uhashring, jump; not {name:?}"
        ))
    })
}

fn max_ttl(value: Option<MaxTtl>) -> PyResult<Option<i64>> {
    Ok(value.map(|MaxTtl(ttl)| ttl))
}

/// One pool: a server list, or a dict `{"servers": [...], "hashing": ..., "timeout": ...,
/// "connect_timeout": ..., "pool_timeout": ..., "max_connections": ..., "max_ttl": ...}`.
fn pool_spec(name: &str, value: &Bound<'_, PyAny>, defaults: &PoolDefaults) -> PyResult<PoolSpec> {
    let Ok(settings) = value.cast::<PyDict>() else {
        return Ok(PoolSpec {
            name: name.to_owned(),
            servers: servers(value)?,
            hashing: defaults.hashing,
            connections: defaults.connections.clone(),
            max_ttl: defaults.max_ttl,
        });
    };
    const KNOWN: [&str; 7] = [
        "servers",
        "hashing",
        "timeout",
        "connect_timeout",
        "pool_timeout",
        "max_connections",
        "max_ttl",
    ];
    for key in settings.keys() {
        let key: String = key.extract()?;
        if !KNOWN.contains(&key.as_str()) {
            return Err(invalid_argument(format!(
                "pool {name:?}: unknown setting {key:?} (known: {})",
                KNOWN.join(", ")
            )));
        }
    }
    let servers_value = settings
        .get_item("servers")?
        .ok_or_else(|| invalid_argument(format!("pool {name:?} needs \"servers\"")))?;
    let seconds = |key: &str, default: Duration| -> PyResult<Duration> {
        match settings.get_item(key)? {
            Some(v) => timeout(key, v.extract::<Seconds>()?),
            None => Ok(default),
        }
    };
    let mut connections = defaults.connections.clone();
    let timeouts = &mut connections.timeouts;
    timeouts.connect = seconds("connect_timeout", timeouts.connect)?;
    timeouts.read = seconds("timeout", timeouts.read)?;
    timeouts.pool = seconds("pool_timeout", timeouts.pool)?;
    if let Some(v) = settings.get_item("max_connections")? {
        connections.max_connections = v.extract::<Count>()?.0;
        if connections.max_connections == 0 {
            return Err(invalid_argument(format!(
                "pool {name:?}: max_connections must be at least 1"
            )));
        }
    }
    Ok(PoolSpec {
        name: name.to_owned(),
        servers: servers(&servers_value)?,
        hashing: match settings.get_item("hashing")? {
            Some(v) => hashing(&v.extract::<String>()?)?,
            None => defaults.hashing,
        },
        connections,
        max_ttl: match settings.get_item("max_ttl")? {
            Some(v) => max_ttl(Some(v.extract::<MaxTtl>()?))?,
            None => defaults.max_ttl,
        },
    })
}

impl Options<'_, '_> {
    /// The cluster, serde and behaviour these options describe.
    pub fn build(self) -> PyResult<Built> {
        let Count(max_connections) = self.max_connections;
        if max_connections == 0 {
            return Err(invalid_argument("max_connections must be at least 1"));
        }
        let defaults = PoolDefaults {
            hashing: hashing(self.hashing)?,
            connections: PoolConfig {
                max_connections,
                timeouts: Timeouts {
                    connect: timeout("connect_timeout", self.connect_timeout)?,
                    read: timeout("timeout", self.timeout)?,
                    pool: timeout("pool_timeout", self.pool_timeout)?,
                },
                security: Security {
                    credentials: self.credentials()?,
                },
            },
            max_ttl: max_ttl(self.max_ttl)?,
        };
        let topology = self.topology(&defaults)?;
        let config = ClusterConfig {
            topology,
            health: HealthPolicy {
                failures_to_mark_down: u32::try_from(self.failures_to_mark_down.0).unwrap_or(u32::MAX),
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
            io: AsyncIo::parse(self.io)?,
        };
        Ok(Built {
            cluster: Cluster::new(config)?,
            serde,
            behaviour,
            hot: self.hot_keys()?,
        })
    }

    /// `username=` / `password=`: both or neither.
    fn credentials(&self) -> PyResult<Option<Arc<Credentials>>> {
        match (self.username, self.password) {
            (None, None) => Ok(None),
            (Some(username), Some(password)) => Ok(Some(Arc::new(Credentials::new(username, password)?))),
            _ => Err(invalid_argument(
                "username and password go together: pass both or neither",
            )),
        }
    }

    /// Split keys and the local hot-key cache.
    fn hot_keys(&self) -> PyResult<HotKeys> {
        let Count(copies) = self.hot_key_copies;
        if !(1..=64).contains(&copies) {
            return Err(invalid_argument("hot_key_copies must be between 1 and 64"));
        }
        let keys = match self.hot_keys {
            Some(value) => {
                if value.is_instance_of::<pyo3::types::PyString>() || value.is_instance_of::<pyo3::types::PyBytes>() {
                    return Err(invalid_argument("hot_keys must be a collection of keys, not one key"));
                }
                value
                    .try_iter()?
                    .map(|key| key_bytes(&key?))
                    .collect::<PyResult<Vec<_>>>()?
            }
            None => Vec::new(),
        };
        let admission = self.local_cache_admission;
        if !(admission > 0.0 && admission <= 1.0) {
            return Err(invalid_argument(
                "local_cache_admission must be a probability in (0, 1]",
            ));
        }
        let Count(capacity) = self.local_cache_size;
        let local = (capacity > 0)
            .then(|| -> PyResult<LocalCache> {
                Ok(LocalCache::new(LocalCacheConfig {
                    capacity,
                    ttl: timeout("local_cache_ttl", self.local_cache_ttl)?,
                    admission,
                    hot_window: u64::try_from(self.local_cache_hot_window.0).unwrap_or(u64::MAX),
                }))
            })
            .transpose()?;
        Ok(HotKeys {
            split: SplitKeys::new(keys, copies),
            local,
        })
    }

    /// Pools and routes: `servers` is the default pool (or `pools["default"]`), then dedicated
    /// pools, then the gutter and mirror pools.
    fn topology(&self, defaults: &PoolDefaults) -> PyResult<TopologyConfig> {
        let mut pools = Vec::new();
        let named: Vec<(String, Bound<'_, PyAny>)> = match self.pools {
            Some(value) => {
                let dict = value
                    .cast::<PyDict>()
                    .map_err(|_| invalid_argument("pools must be a dict of name -> servers"))?;
                dict.iter()
                    .map(|(k, v)| Ok((k.extract::<String>()?, v)))
                    .collect::<PyResult<_>>()?
            }
            None => Vec::new(),
        };
        for (name, _) in &named {
            if name == GUTTER_POOL || name == MIRROR_POOL {
                return Err(invalid_argument(format!(
                    "pool name {name:?} is reserved for the {name}= option"
                )));
            }
        }
        match (self.servers, named.iter().find(|(name, _)| name == DEFAULT_POOL)) {
            (Some(servers), None) => pools.push(pool_spec(DEFAULT_POOL, servers, defaults)?),
            (None, Some((_, value))) => pools.push(pool_spec(DEFAULT_POOL, value, defaults)?),
            (Some(_), Some(_)) => {
                return Err(invalid_argument(
                    "give the default pool as servers or as pools[\"default\"], not both",
                ))
            }
            (None, None) => {
                return Err(invalid_argument(
                    "servers is required (or pools with a \"default\" pool)",
                ))
            }
        }
        for (name, value) in named.iter().filter(|(name, _)| name != DEFAULT_POOL) {
            pools.push(pool_spec(name, value, defaults)?);
        }
        let mut routes = Vec::new();
        if let Some(value) = self.routes {
            let dict = value
                .cast::<PyDict>()
                .map_err(|_| invalid_argument("routes must be a dict of key prefix -> pool name"))?;
            for (prefix, pool) in dict.iter() {
                let prefix = super::convert::key_bytes(&prefix)
                    .map_err(|_| invalid_argument("route prefixes must be non-empty str or bytes"))?;
                routes.push((prefix, pool.extract::<String>()?));
            }
        }
        let gutter = self.gutter.map(|v| pool_spec(GUTTER_POOL, v, defaults)).transpose()?;
        let mirror = self.mirror.map(|v| pool_spec(MIRROR_POOL, v, defaults)).transpose()?;
        let gutter_name = gutter.as_ref().map(|p| p.name.clone());
        let mirror_name = mirror.as_ref().map(|p| p.name.clone());
        pools.extend(gutter);
        pools.extend(mirror);
        Ok(TopologyConfig {
            pools,
            routes,
            mirror: mirror_name,
            gutter: gutter_name,
            gutter_ttl: self.gutter_ttl.0,
            remap_on_failure: self.remap_on_failure,
            remap_ttl: self.remap_ttl.0,
        })
    }
}

/// The server (`"host:port"`) that holds `key` (routing keys and prefixes applied).
pub fn server_for(cluster: &Cluster, key: &Bound<'_, PyAny>) -> PyResult<String> {
    let key = super::ops::Key::new(key)?;
    let key = key.key_ref();
    Ok(cluster
        .server_name(cluster.server_for(key.stored, &key.route))
        .to_string())
}

/// See the `_pool_of` method.
pub fn pool_of(cluster: &Cluster, key: &Bound<'_, PyAny>) -> PyResult<String> {
    let key = super::ops::Key::new(key)?;
    let topology = cluster.topology();
    Ok(topology.pools()[topology.pool_for(key.key_ref().stored)].name.clone())
}

/// See the `_placement_identity` getter.
pub fn placement_identity(cluster: &Cluster, split: &SplitKeys) -> String {
    cluster.topology().placement_identity() + &split.identity()
}

/// See the `_wire_location` method.
pub fn wire_location<'py>(
    py: Python<'py>,
    cluster: &Cluster,
    key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let key = super::ops::Key::new(key)?;
    let key = key.key_ref();
    let server = cluster.server_name(cluster.server_for(key.stored, &key.route));
    let wire =
        crate::protocol::keys::wire_key(key.stored).map_err(|_| InvalidKey::new_err("keys must not be empty"))?;
    (&**server, PyBytes::new(py, &wire.token), wire.binary).into_pyobject(py)
}

/// The configured servers, in order.
pub fn server_names(cluster: &Cluster) -> Vec<String> {
    (0..cluster.server_count())
        .map(|i| cluster.server_name(i).to_string())
        .collect()
}

/// `{server: {"open": n, "idle": n, ...}}`: this process's connections.
/// `on_loop`: each server's connections on event loops (`crate::aio`), counted as multiplexed:
/// they are pipelined the same way, only driven by the loop instead of the runtime.
pub fn pool_stats<'py>(py: Python<'py>, cluster: &Cluster, on_loop: &[usize]) -> PyResult<Bound<'py, PyDict>> {
    let result = PyDict::new(py);
    let multiplexed = cluster.multiplexed_counts();
    for (i, (open, idle)) in cluster.connection_counts().into_iter().enumerate() {
        let entry = PyDict::new(py);
        entry.set_item("open", open)?;
        entry.set_item("idle", idle)?;
        entry.set_item("multiplexed", multiplexed[i].0 + on_loop.get(i).copied().unwrap_or(0))?;
        entry.set_item("queued", multiplexed[i].1)?;
        result.set_item(cluster.server_name(i).to_string(), entry)?;
    }
    Ok(result)
}

/// Counters of the local hot-key cache, or `None` when it is off.
pub fn local_cache_stats<'py>(
    py: Python<'py>,
    stats: Option<crate::client::hot::LocalStats>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(stats) = stats else { return Ok(None) };
    let result = PyDict::new(py);
    result.set_item("hits", stats.hits)?;
    result.set_item("misses", stats.misses)?;
    result.set_item("admissions", stats.admissions)?;
    result.set_item("evictions", stats.evictions)?;
    result.set_item("refreshes", stats.refreshes)?;
    result.set_item("size", stats.size)?;
    Ok(Some(result))
}

/// The ledger's counters (see [`crate::route::ledger`]).
pub fn ledger_stats<'py>(py: Python<'py>, cluster: &Cluster) -> PyResult<Bound<'py, PyDict>> {
    let stats = cluster.ledger().stats();
    let result = PyDict::new(py);
    result.set_item("owed", stats.owed)?;
    result.set_item("paid", stats.paid)?;
    result.set_item("flushes_owed", stats.flushes_owed)?;
    result.set_item("windows", stats.windows)?;
    result.set_item("pending", stats.pending)?;
    Ok(result)
}

/// Health counters per server (see [`crate::route::health`]).
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
        let name = cluster.server_name(i);
        entry.set_item("owed_deletes", cluster.ledger().owed_count(name))?;
        entry.set_item("owes_flush", cluster.ledger().owed_flush(name).is_some())?;
        result.set_item(name.to_string(), entry)?;
    }
    Ok(result)
}
