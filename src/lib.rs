//! memlease: a memcached meta-protocol client core, exposed to Python as `memlease._core`.
//!
//! # Layout
//! - [`protocol`]: encode requests and parse replies; no I/O.
//! - [`keys`]: user key -> wire key (plain, base64 with `b`, or digest).
//! - [`server`]: server spec parsing (`host:port weight`, `[v6]:port`, `unix:/path`).
//! - [`ring`]: key placement presets, each compatible with the client it names.
//! - [`topology`]: pools, routes, mirror / gutter / max-TTL, fallback decisions (no I/O).
//! - [`health`]: mark-down and probing of failing servers.
//! - [`ledger`]: deletes servers owe and stand-ins that may hold copies (process-wide).
//! - [`connection`]: one non-blocking socket with its buffers.
//! - [`reply`]: collect one batch's replies off a byte stream (shared by both I/O paths).
//! - [`exchange`]: drive one or many connections through `poll(2)` under one deadline.
//! - [`pool`]: bounded per-server pool; the guard discards a connection on any error.
//! - [`fork`]: fork detection, so a child never uses its parent's sockets.
//! - [`combine`]: threads calling one server at once share a round trip (blocking client).
//! - [`cluster`]: pools + placement + parallel exchange with several servers.
//! - [`call`]: when the running call began (its timeout covers the whole call).
//! - [`client`]: the operations (get, set, cas, get_many ...) on bytes and flags.
//! - [`error`]: the core error type and its predicates.
//! - `py`: the Python classes, serialization and exception mapping.

pub mod call;
pub mod client;
pub mod cluster;
pub mod combine;
pub mod connection;
pub mod error;
pub mod exchange;
pub mod fork;
pub mod health;
pub mod keys;
pub mod ledger;
pub mod mux;
pub mod pool;
pub mod protocol;
pub mod reply;
pub mod ring;
pub mod runtime;
pub mod server;
pub mod topology;
pub mod transport;

mod py;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
mod _core {
    #[pymodule_export]
    use crate::py::async_client::AsyncClient;
    #[pymodule_export]
    use crate::py::client::Client;
    #[pymodule_export]
    use crate::py::lease::LeaseResult;
    #[pymodule_export]
    use crate::py::result::MetaResult;
}
