//! Fork detection. A child process must never use sockets inherited from its parent: both would
//! read replies off the same stream. A `pthread_atfork` child hook bumps a generation counter;
//! every client compares it on each call and rebuilds its pools (lazily, without touching the
//! old ones, whose locks may have been held by parent threads at the moment of the fork).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// Install the hook (idempotent).
pub fn install_hook() {
    INSTALL.call_once(|| {
        // SAFETY: registers a plain function that only touches an atomic, which is
        // async-signal-safe as required in a child after fork.
        unsafe {
            libc::pthread_atfork(None, None, Some(after_fork_in_child));
        }
    });
}

/// How many forks this process is removed from the process that loaded the module.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}
