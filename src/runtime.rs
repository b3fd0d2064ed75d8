//! The tokio runtime behind `AsyncClient` (and the multiplexed connections).
//!
//! Created on first use and rebuilt in a child process after `fork()`: the parent's worker
//! threads do not exist in the child, so its runtime can neither run tasks nor be shut down
//! there. The old one is leaked deliberately (dropping it would wait for threads that are gone).
//!
//! `MemleaseRuntime` plugs this runtime into pyo3-async-runtimes' generic API, which the
//! cold-path async methods use (`future_into_py`); the hot path delivers results in batches
//! instead (see `py::delivery`).

use crate::fork;
use arc_swap::ArcSwapOption;
use pyo3_async_runtimes::generic::{ContextExt, JoinError, Runtime};
use pyo3_async_runtimes::TaskLocals;
use std::future::Future;
use std::pin::Pin;
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

/// The runtime as pyo3-async-runtimes sees it.
pub struct MemleaseRuntime;

pub struct TaskJoinError(tokio::task::JoinError);

impl JoinError for TaskJoinError {
    fn is_panic(&self) -> bool {
        self.0.is_panic()
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        self.0.into_panic()
    }
}

tokio::task_local! {
    static TASK_LOCALS: std::cell::OnceCell<TaskLocals>;
}

impl Runtime for MemleaseRuntime {
    type JoinError = TaskJoinError;
    type JoinHandle = Pin<Box<dyn Future<Output = Result<(), TaskJoinError>> + Send>>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = spawn(fut);
        Box::pin(async move { task.await.map_err(TaskJoinError) })
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        let task = handle().spawn_blocking(f);
        Box::pin(async move { task.await.map_err(TaskJoinError) })
    }
}

impl ContextExt for MemleaseRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = std::cell::OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|c| c.get().cloned()).unwrap_or_default()
    }
}
