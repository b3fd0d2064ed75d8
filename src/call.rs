//! When the current call began, so that its timeout covers the whole call: converting and
//! encoding 100k keys takes a tenth of a second, which must come out of `timeout`, not be
//! added to it.
//!
//! The Python methods note the instant before they convert their arguments and run the
//! operation inside [`blocking`] (sync client, on the calling thread) or [`scope`] (async
//! client, a runtime task). The I/O paths read it with [`spent`]; code running outside a call
//! (tests, the tracker's replays through the core) sees no time spent.

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

tokio::task_local! {
    static TASK_STARTED: Instant;
}

thread_local! {
    static THREAD_STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// When the call running here began, if one is.
pub fn started() -> Option<Instant> {
    TASK_STARTED
        .try_with(|started| *started)
        .ok()
        .or_else(|| THREAD_STARTED.with(Cell::get))
}

/// How long the call running here has taken so far.
pub fn spent() -> Duration {
    started().map_or(Duration::ZERO, |started| started.elapsed())
}

/// Run `f` (a blocking call on this thread) as a call that began at `started`.
pub fn blocking<R>(started: Instant, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_STARTED.with(|cell| cell.set(self.0));
        }
    }
    let _restore = Restore(THREAD_STARTED.with(|cell| cell.replace(Some(started))));
    f()
}

/// `future` as a call that began at `started`.
pub fn scope<F: Future>(started: Instant, future: F) -> impl Future<Output = F::Output> {
    TASK_STARTED.scope(started, future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_calls_see_their_start_and_restore_the_outer_one() {
        assert_eq!(started(), None);
        let outer = Instant::now() - Duration::from_secs(1);
        blocking(outer, || {
            assert_eq!(started(), Some(outer));
            assert!(spent() >= Duration::from_secs(1));
            let inner = Instant::now();
            blocking(inner, || assert_eq!(started(), Some(inner)));
            assert_eq!(started(), Some(outer));
        });
        assert_eq!(started(), None);
    }
}
