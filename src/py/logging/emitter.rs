//! The one thread that hands records to Python's `logging`.
//!
//! Events come from tokio workers and from calls that released the GIL; taking the GIL there
//! could deadlock (the caller may hold a client lock a GIL holder is waiting for) and would
//! slow I/O threads down. So events are queued, and this thread attaches to Python, delivers a
//! batch, refreshes the cached levels, and holds no lock of ours while Python runs. A handler
//! that uses memlease itself only queues more records.
//!
//! The queue is bounded: when Python cannot keep up, records are counted and dropped, and a
//! WARNING says how many. After `fork()` the child gets a new queue and thread (the parent's
//! thread does not exist there, and the old queue's lock may have been held); at interpreter
//! exit (`stop`, registered with `atexit`) delivery ends, since attaching to a finalizing
//! interpreter is not allowed.

use super::levels::ROOT_LOGGER;
use super::record::{FieldValue, Record};
use super::subscriber::LEVELS;
use crate::fork;
use arc_swap::ArcSwapOption;
use parking_lot::{Condvar, Mutex};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

/// Records waiting at most; beyond, they are dropped and counted.
const CAPACITY: usize = 10_000;
/// Python's WARNING, for the dropped-records notice.
const WARNING: u8 = 30;

/// The Python side (python/memlease/_logging.py): `emit(...)` builds and handles a
/// `LogRecord`; `thresholds(names)` reads the loggers' levels.
pub struct Hooks {
    pub emit: Py<PyAny>,
    pub thresholds: Py<PyAny>,
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();
static EMITTER: ArcSwapOption<Emitter> = ArcSwapOption::const_empty();
static STOPPED: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Pending {
    records: VecDeque<Record>,
    dropped: u64,
    refresh: bool,
    /// Records taken by the thread and not delivered yet.
    in_flight: usize,
}

struct Emitter {
    generation: u64,
    thread: OnceLock<ThreadId>,
    pending: Mutex<Pending>,
    wake: Condvar,
    drained: Condvar,
}

pub fn install(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// No more delivery: the interpreter is exiting.
pub fn stop() {
    STOPPED.store(true, Ordering::Release);
}

/// This process's emitter, started on first use (again in a child after `fork()`).
fn current() -> Arc<Emitter> {
    let generation = fork::generation();
    if let Some(emitter) = EMITTER.load().as_ref() {
        if emitter.generation == generation {
            return Arc::clone(emitter);
        }
    }
    fork::install_hook();
    let mut fresh: Option<Arc<Emitter>> = None;
    EMITTER.rcu(|current| match current {
        Some(emitter) if emitter.generation == generation => Some(Arc::clone(emitter)),
        _ => Some(Arc::clone(fresh.get_or_insert_with(|| start(generation)))),
    });
    Arc::clone(EMITTER.load().as_ref().expect("emitter installed"))
}

fn start(generation: u64) -> Arc<Emitter> {
    let emitter = Arc::new(Emitter {
        generation,
        thread: OnceLock::new(),
        pending: Mutex::new(Pending::default()),
        wake: Condvar::new(),
        drained: Condvar::new(),
    });
    let running = Arc::clone(&emitter);
    let spawned = std::thread::Builder::new()
        .name("memlease-log".into())
        .spawn(move || running.run());
    match spawned {
        Ok(handle) => {
            let _ = emitter.thread.set(handle.thread().id());
        }
        // No thread, no delivery: records are dropped (and counted) at capacity.
        Err(error) => eprintln!("memlease: cannot start the logging thread: {error}"),
    }
    emitter
}

/// Queue a record for Python.
pub fn push(record: Record) {
    if STOPPED.load(Ordering::Acquire) || HOOKS.get().is_none() {
        return;
    }
    let emitter = current();
    let mut pending = emitter.pending.lock();
    if pending.records.len() >= CAPACITY {
        pending.dropped += 1;
        return;
    }
    pending.records.push_back(record);
    drop(pending);
    emitter.wake.notify_one();
}

/// Ask the thread to re-read the loggers' levels (a new target appeared).
pub fn request_refresh() {
    if STOPPED.load(Ordering::Acquire) || HOOKS.get().is_none() {
        return;
    }
    let emitter = current();
    emitter.pending.lock().refresh = true;
    emitter.wake.notify_one();
}

/// Wait (without the GIL) until every queued record was handed to Python. False on timeout,
/// or when called from the emitter thread itself (a handler), which would wait for itself.
pub fn flush(py: Python<'_>, timeout: Duration) -> bool {
    let emitter = current();
    if emitter.thread.get() == Some(&std::thread::current().id()) {
        return false;
    }
    py.detach(|| {
        let deadline = Instant::now() + timeout;
        let mut pending = emitter.pending.lock();
        while !pending.records.is_empty() || pending.in_flight > 0 {
            if emitter.drained.wait_until(&mut pending, deadline).timed_out() {
                return false;
            }
        }
        true
    })
}

impl Emitter {
    fn run(&self) {
        loop {
            let (batch, dropped, refresh) = {
                let mut pending = self.pending.lock();
                while pending.records.is_empty() && !pending.refresh && pending.dropped == 0 {
                    self.wake.wait(&mut pending);
                }
                let batch = std::mem::take(&mut pending.records);
                pending.in_flight = batch.len();
                let dropped = std::mem::take(&mut pending.dropped);
                let refresh = std::mem::take(&mut pending.refresh);
                (batch, dropped, refresh)
            };
            if !STOPPED.load(Ordering::Acquire) {
                if let Some(hooks) = HOOKS.get() {
                    Python::attach(|py| deliver(py, hooks, batch, dropped, refresh));
                }
            }
            let mut pending = self.pending.lock();
            pending.in_flight = 0;
            if pending.records.is_empty() {
                self.drained.notify_all();
            }
        }
    }
}

fn deliver(py: Python<'_>, hooks: &Hooks, batch: VecDeque<Record>, dropped: u64, refresh: bool) {
    let delivered = !batch.is_empty();
    for record in batch {
        if let Err(error) = emit(py, hooks, record) {
            error.write_unraisable(py, None);
        }
    }
    if dropped > 0 {
        let notice = dropped_notice(dropped);
        if let Err(error) = emit(py, hooks, notice) {
            error.write_unraisable(py, None);
        }
    }
    // After a delivery too: a level changed without `logging`'s hook (a `Logger.level`
    // assigned directly, `disabled` set by `dictConfig`) is picked up here.
    if refresh || delivered || LEVELS.is_stale() {
        if let Err(error) = refresh_levels(py, hooks) {
            error.write_unraisable(py, None);
        }
    }
}

fn dropped_notice(dropped: u64) -> Record {
    Record {
        logger: ROOT_LOGGER.into(),
        level: WARNING,
        message: format!("{dropped} log records dropped: Python's logging did not keep up"),
        fields: vec![("dropped", FieldValue::UInt(dropped))],
        file: Some(file!()),
        line: Some(line!()),
        module: Some(module_path!()),
        created: std::time::SystemTime::now(),
        thread: None,
    }
}

fn emit(py: Python<'_>, hooks: &Hooks, record: Record) -> PyResult<()> {
    let fields = PyDict::new(py);
    for (name, value) in &record.fields {
        match value {
            FieldValue::Text(text) => fields.set_item(name, text)?,
            FieldValue::Int(n) => fields.set_item(name, n)?,
            FieldValue::UInt(n) => fields.set_item(name, n)?,
            FieldValue::Float(x) => fields.set_item(name, x)?,
            FieldValue::Bool(b) => fields.set_item(name, b)?,
        }
    }
    let created = record.created_seconds();
    hooks.emit.call1(
        py,
        (
            &*record.logger,
            record.level,
            record.message,
            fields,
            record.file.unwrap_or("<rust>"),
            record.line.unwrap_or(0),
            record.module,
            created,
            record.thread,
        ),
    )?;
    Ok(())
}

/// Read every known logger's level from Python into the cache (the caller holds the GIL).
pub fn refresh_levels(py: Python<'_>, hooks: &Hooks) -> PyResult<()> {
    let targets = LEVELS.snapshot();
    let names: Vec<&str> = targets.iter().map(|t| &*t.logger).collect();
    let (thresholds, root, most_verbose): (Vec<u8>, u8, u8) = hooks.thresholds.call1(py, (names,))?.extract(py)?;
    if LEVELS.update(&targets, &thresholds, root, most_verbose) {
        // tracing's global filter comes from `max_level_hint`: recompute it.
        tracing::callsite::rebuild_interest_cache();
    }
    Ok(())
}

pub fn hooks() -> Option<&'static Hooks> {
    HOOKS.get()
}
