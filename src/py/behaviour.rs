//! How a client behaves beyond where its keys go: what a call does when its server is
//! unreachable, who hears of mark-downs, and where an `AsyncClient` does its I/O.

use super::errors::invalid_argument;
use pyo3::prelude::*;

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
    /// Where an `AsyncClient` does its I/O (the sync client does it on the calling thread).
    pub io: AsyncIo,
}

/// Where an `AsyncClient`'s calls do their I/O.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncIo {
    /// On the event loop's own thread (`crate::aio`): no thread hop per call.
    Loop,
    /// On memlease's runtime threads (`crate::mux`), results handed back in batches.
    Runtime,
}

impl AsyncIo {
    pub fn parse(value: &str) -> PyResult<Self> {
        match value {
            "loop" => Ok(AsyncIo::Loop),
            "runtime" => Ok(AsyncIo::Runtime),
            other => Err(invalid_argument(format!(
                "io must be \"loop\" or \"runtime\", not {other:?}"
            ))),
        }
    }
}
