//! The tracing subscriber of the extension: filters by the cached Python levels, captures
//! what passes and queues it for the emitter thread. It never calls Python, so events may come
//! from any thread, with or without the GIL, and while the caller holds its own locks.

use super::emitter;
use super::levels::{python_level, Levels};
use super::record::Record;
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::subscriber::{Interest, Subscriber};
use tracing::{Event, Metadata};

pub static LEVELS: Levels = Levels::new();

/// Spans are not used: only events go to Python.
pub struct PythonLogging;

impl Subscriber for PythonLogging {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if !metadata.is_event() {
            return Interest::never();
        }
        if LEVELS.register(metadata.target()) {
            emitter::request_refresh();
        }
        // Asked again on each event: the level may change at any time.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && LEVELS.enabled(metadata.target(), python_level(metadata.level()))
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LEVELS.max_level())
    }

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        if let Some(target) = LEVELS.target(metadata.target()) {
            let record = Record::capture(
                event,
                std::sync::Arc::clone(&target.logger),
                python_level(metadata.level()),
            );
            emitter::push(record);
        }
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}
