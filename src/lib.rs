//! memlease: a memcached meta-protocol client core, exposed to Python as `memlease._core`.
//!
//! # Layout (the boxes of ARCHITECTURE.md)
//! - [`protocol`]: the meta protocol without I/O: encode requests, parse replies, pin replies
//!   on their requests (`reply`), map keys to the wire (`keys`).
//! - [`route`]: where a request goes: server specs, placement presets (`ring`), pools and
//!   fallbacks (`topology`: `config`, lookup, `fallback`), mark-down (`health`), what servers
//!   owe (`ledger`).
//! - [`blocking`]: the sync client's I/O: sockets, `poll(2)` exchanges, pools, combining.
//! - [`mux`]: the async client's I/O: per-server queues and driver tasks.
//! - [`cluster`]: pools + placement + health per process; admits and exchanges batches.
//! - [`transport`]: how an operation waits (blocking, or multiplexed on the runtime).
//! - [`client`]: the operations (get, set, cas, get_many, leases ...) on bytes and flags,
//!   written once over a transport; `dispatch` (`plan`, `windows`, `encode`, `round`) is the
//!   one path every keyed request takes.
//! - [`call`]: when the running call began (its timeout covers the whole call).
//! - [`limits`]: a pool's connection limit and its `Timeouts` (connect, read, pool); the
//!   connections' buffer sizes.
//! - [`security`]: what a new connection does before its first request (authentication).
//! - [`runtime`]: the tokio runtime, rebuilt after fork; [`fork`]: fork detection.
//! - [`error`]: the core error type and its predicates.
//! - [`named`]: the in-process layer of named caches (`local_layer`: entries bounded by count
//!   and TTL, invalidated by key, tag and wholesale; `tags`: per-tag invalidation records).
//! - `py`: the Python classes, serialization, exception mapping, and logging (`py::logging`:
//!   tracing events to Python's `logging`).

pub mod blocking;
pub mod call;
pub mod client;
pub mod cluster;
pub mod error;
pub mod fork;
pub mod limits;
pub mod mux;
pub mod named;
pub mod protocol;
pub mod route;
pub mod runtime;
pub mod security;
pub mod transport;

pub mod aio;
mod py;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use crate::py::async_client::AsyncClient;
    #[pymodule_export]
    use crate::py::client::Client;
    #[pymodule_export]
    use crate::py::codec::{_compress, _decompress};
    #[pymodule_export]
    use crate::py::constructor::_option_defaults;
    #[pymodule_export]
    use crate::py::lease::LeaseResult;
    #[pymodule_export]
    use crate::py::local_layer::LocalLayer;
    #[pymodule_export]
    use crate::py::logging::{_flush_logs, _install_logging, _refresh_log_levels, _stop_logging};
    #[pymodule_export]
    use crate::py::result::MetaResult;
}
