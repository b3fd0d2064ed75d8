//! Rust `tracing` events to Python's `logging`, under the `memlease` logger (a child per
//! module: `memlease.route.health`, `memlease.blocking.pool` ...).
//!
//! - [`levels`]: the loggers' levels cached in atomics; nothing is formatted for a disabled
//!   level, and no event needs the GIL to be filtered.
//! - [`subscriber`]: the process-wide tracing subscriber (filters, captures, queues).
//! - [`record`]: an event's message, fields, place and time, captured without Python.
//! - [`emitter`]: the thread that delivers queued records to Python.
//!
//! Levels: a server marked down (or failing its probe) is WARNING, rejoining INFO, a protocol
//! violation ERROR, a connection closed after a failure or replaced DEBUG (the failure itself
//! reaches the caller as an exception, and mark-down says when a server is in trouble).

mod emitter;
mod levels;
mod record;
mod subscriber;

use pyo3::prelude::*;
use std::time::Duration;

/// Install the subscriber and the Python side's callbacks (python/memlease/_logging.py,
/// once per process): `emit(logger, level, message, fields, path, line, func, created,
/// thread)` and `thresholds(names) -> (per name, memlease logger, lowest in the tree)`.
#[pyfunction]
pub fn _install_logging(py: Python<'_>, emit: Py<PyAny>, thresholds: Py<PyAny>) -> PyResult<()> {
    emitter::install(emitter::Hooks { emit, thresholds });
    // Fails only when a subscriber is installed already (a second call): keep that one.
    let _ = tracing::subscriber::set_global_default(subscriber::PythonLogging);
    _refresh_log_levels(py)
}

/// Re-read the `memlease` loggers' levels (`logging` calls this on every level change).
#[pyfunction]
pub fn _refresh_log_levels(py: Python<'_>) -> PyResult<()> {
    match emitter::hooks() {
        Some(hooks) => emitter::refresh_levels(py, hooks),
        None => Ok(()),
    }
}

/// Wait until queued records reached `logging` (tests; and a handler flushing before exit).
#[pyfunction]
pub fn _flush_logs(py: Python<'_>, timeout: f64) -> bool {
    let timeout = Duration::try_from_secs_f64(timeout).unwrap_or(Duration::ZERO);
    emitter::flush(py, timeout)
}

/// Stop delivering: registered with `atexit` (no attaching to a finalizing interpreter).
#[pyfunction]
pub fn _stop_logging() {
    emitter::stop();
}
