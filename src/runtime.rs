//! The tokio runtime behind `AsyncClient` (and the multiplexed connections).
//!
//! Created on first use and rebuilt in a child process after `fork()`: the parent's worker
//! threads do not exist in the child, so its runtime can neither run tasks nor be shut down
//! there. The old one is leaked deliberately (dropping it would wait for threads that are gone).
//!
//! Results reach asyncio through `py::delivery` (batched, one wake-up per pass), not through
//! pyo3-async-runtimes' `future_into_py`, measured at ~9k results/s against ~150k here;
//! pyo3-async-runtimes only finds the running loop.

use crate::fork;
use arc_swap::ArcSwapOption;
use std::future::Future;
use std::sync::Arc;
use tokio::runtime::Handle;

/// Worker threads: the work is I/O and parsing; two keep latency low without waking more
/// cores than the event loop and memcached need.
const WORKER_THREADS: usize = 2;

struct Installed {
    generation: u64,
    handle: Handle,
}

static RUNTIME: ArcSwapOption<Installed> = ArcSwapOption::const_empty();

/// This process's runtime handle, created (or re-created after a fork) on demand.
pub fn handle() -> Handle {
    let generation = fork::generation();
    if let Some(installed) = RUNTIME.load().as_ref() {
        if installed.generation == generation {
            return installed.handle.clone();
        }
    }
    fork::install_hook();
    let mut fresh = None;
    RUNTIME.rcu(|current| match current {
        Some(installed) if installed.generation == generation => Some(Arc::clone(installed)),
        _ => Some(Arc::clone(fresh.get_or_insert_with(|| Arc::new(build(generation))))),
    });
    RUNTIME.load().as_ref().expect("runtime installed").handle.clone()
}

fn build(generation: u64) -> Installed {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("memlease-io")
        .enable_all()
        .build()
        .expect("cannot start the memlease I/O runtime");
    let handle = runtime.handle().clone();
    // Lives as long as the process (or until the next fork leaks it in the child).
    std::mem::forget(runtime);
    Installed { generation, handle }
}

/// Spawn a task on this process's runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    handle().spawn(future)
}
