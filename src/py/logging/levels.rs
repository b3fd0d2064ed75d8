//! The Python loggers' levels, cached in atomics so that deciding whether an event is wanted
//! never needs Python (nor the GIL): `enabled()` runs on tokio workers and under `py.detach`.
//!
//! A cached level is the lowest Python level its logger lets through (`NOTHING` when none).
//! It is refreshed, with the GIL, by `logging`'s own change hook (python/memlease/_logging.py
//! wraps the manager's `_clear_cache`, which `setLevel`, `disable`, `dictConfig` and
//! `basicConfig` all call), after each batch the emitter thread delivers, and when a new
//! target appears (until then that target uses the `memlease` logger's level).

use arc_swap::ArcSwapOption;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use tracing::level_filters::LevelFilter;
use tracing::Level;

/// The threshold of a logger that lets nothing through.
pub const NOTHING: u8 = u8::MAX;
/// Python's default until the first refresh: the root logger at WARNING.
const PYTHON_DEFAULT: u8 = 30;
/// The logger every target name is put under.
pub const ROOT_LOGGER: &str = "memlease";

/// Python's number for a tracing level (Python has no TRACE: 5, below DEBUG).
pub fn python_level(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        Level::DEBUG => 10,
        Level::TRACE => 5,
    }
}

/// The most verbose tracing level a threshold lets through.
fn level_filter(threshold: u8) -> LevelFilter {
    match threshold {
        0..=5 => LevelFilter::TRACE,
        6..=10 => LevelFilter::DEBUG,
        11..=20 => LevelFilter::INFO,
        21..=30 => LevelFilter::WARN,
        31..=40 => LevelFilter::ERROR,
        41..=NOTHING => LevelFilter::OFF,
    }
}

/// `memlease::route::health` logs to `memlease.route.health`; a dependency's target
/// (`tokio::net`) goes under `memlease` too, so one logger governs everything the core says.
pub fn logger_name(target: &str) -> String {
    let dotted = target.replace("::", ".");
    if dotted == ROOT_LOGGER || dotted.starts_with("memlease.") {
        dotted
    } else {
        format!("{ROOT_LOGGER}.{dotted}")
    }
}

/// One event target: its Python logger and that logger's cached threshold.
pub struct Target {
    pub logger: Arc<str>,
    threshold: AtomicU8,
}

pub struct Levels {
    /// Copied on write (a new target is rare), so lookups take no lock.
    targets: ArcSwapOption<HashMap<&'static str, Arc<Target>>>,
    /// The `memlease` logger's threshold: what a target not refreshed yet uses.
    root: AtomicU8,
    /// The lowest threshold in the `memlease` tree: tracing's global filter (events below it
    /// are skipped before any callsite lookup).
    most_verbose: AtomicU8,
    /// A target appeared since the last refresh.
    stale: AtomicBool,
}

impl Levels {
    pub const fn new() -> Self {
        Levels {
            targets: ArcSwapOption::const_empty(),
            root: AtomicU8::new(PYTHON_DEFAULT),
            most_verbose: AtomicU8::new(PYTHON_DEFAULT),
            stale: AtomicBool::new(false),
        }
    }

    /// Whether the logger of `target` lets `python_level` through (per the cache).
    pub fn enabled(&self, target: &str, python_level: u8) -> bool {
        let threshold = match self.targets.load().as_ref().and_then(|t| t.get(target)) {
            Some(entry) => entry.threshold.load(Ordering::Relaxed),
            None => self.root.load(Ordering::Relaxed),
        };
        python_level >= threshold
    }

    pub fn target(&self, target: &str) -> Option<Arc<Target>> {
        self.targets.load().as_ref()?.get(target).cloned()
    }

    /// A callsite with this target exists. Returns true when the target is new: its level is
    /// then the `memlease` logger's until the next refresh.
    pub fn register(&self, target: &'static str) -> bool {
        if self.target(target).is_some() {
            return false;
        }
        let fresh = Arc::new(Target {
            logger: logger_name(target).into(),
            threshold: AtomicU8::new(self.root.load(Ordering::Relaxed)),
        });
        self.targets.rcu(|current| {
            let mut next = current.as_deref().cloned().unwrap_or_default();
            next.entry(target).or_insert_with(|| Arc::clone(&fresh));
            Some(Arc::new(next))
        });
        self.stale.store(true, Ordering::Release);
        true
    }

    /// The targets known now, to refresh.
    pub fn snapshot(&self) -> Vec<Arc<Target>> {
        self.stale.store(false, Ordering::Release);
        let targets = self.targets.load();
        targets.iter().flat_map(|t| t.values().cloned()).collect()
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Acquire)
    }

    /// Store what Python said. Returns whether tracing's global filter must be rebuilt.
    pub fn update(&self, targets: &[Arc<Target>], thresholds: &[u8], root: u8, most_verbose: u8) -> bool {
        for (target, &threshold) in targets.iter().zip(thresholds) {
            target.threshold.store(threshold, Ordering::Relaxed);
        }
        self.root.store(root, Ordering::Relaxed);
        self.most_verbose.swap(most_verbose, Ordering::Relaxed) != most_verbose
    }

    pub fn max_level(&self) -> LevelFilter {
        level_filter(self.most_verbose.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_loggers_under_memlease() {
        assert_eq!(logger_name("memlease::route::health"), "memlease.route.health");
        assert_eq!(logger_name("memlease"), "memlease");
        assert_eq!(logger_name("tokio::net"), "memlease.tokio.net");
    }

    #[test]
    fn thresholds_filter_levels() {
        let levels = Levels::new();
        assert!(levels.register("memlease::route::health"));
        assert!(!levels.register("memlease::route::health"));
        // Not refreshed yet: the root's WARNING applies.
        assert!(levels.enabled("memlease::route::health", python_level(&Level::WARN)));
        assert!(!levels.enabled("memlease::route::health", python_level(&Level::INFO)));
        let targets = levels.snapshot();
        assert!(levels.update(&targets, &[10], NOTHING, 10));
        assert!(levels.enabled("memlease::route::health", python_level(&Level::DEBUG)));
        assert!(!levels.enabled("memlease::other", python_level(&Level::ERROR)));
        assert_eq!(levels.max_level(), LevelFilter::DEBUG);
        assert!(levels.update(&targets, &[NOTHING], NOTHING, NOTHING));
        assert_eq!(levels.max_level(), LevelFilter::OFF);
    }
}
