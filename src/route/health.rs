//! Failing fast: which servers are marked down, and when one may be tried again.
//!
//! After `failures_to_mark_down` consecutive connection-level failures (connect refused or timed
//! out, reset, read timeout, protocol violation) a server is marked down for `mark_down_period`.
//! While down, calls to it fail at once with `ServerDown`, without touching the network, so
//! callers fall back to the source of truth instead of piling up behind a dead server. When the
//! period is over, exactly one caller is let through as the probe: its own request. Success
//! brings the server back; failure marks it down for another period.
//!
//! A reply of any kind (even `SERVER_ERROR`) proves the server alive. A `PoolTimeout` is not a
//! failure: it means this client is saturated, not that the server is dead.

use crate::error::{Error, TimeoutPhase};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Default consecutive failures before a server is marked down.
pub const DEFAULT_FAILURES_TO_MARK_DOWN: u32 = 1;
/// Default time a marked-down server is left alone.
pub const DEFAULT_MARK_DOWN_PERIOD: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
pub struct HealthPolicy {
    pub failures_to_mark_down: u32,
    pub mark_down_period: Duration,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            failures_to_mark_down: DEFAULT_FAILURES_TO_MARK_DOWN,
            mark_down_period: DEFAULT_MARK_DOWN_PERIOD,
        }
    }
}

/// May a request go to the server now?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The server is up.
    Open,
    /// The server was down and its period is over: this request is the probe.
    Probe,
    /// The server is down; try again after this long.
    Refused(Duration),
}

/// What happened to a server, for the event hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthEventKind {
    MarkedDown,
    Rejoined,
    ProbeFailed,
}

impl HealthEventKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            HealthEventKind::MarkedDown => "marked_down",
            HealthEventKind::Rejoined => "rejoined",
            HealthEventKind::ProbeFailed => "probe_failed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HealthEvent {
    pub kind: HealthEventKind,
    pub server: Arc<str>,
    /// The error that caused it (empty for a rejoin).
    pub detail: String,
    pub at: SystemTime,
}

#[derive(Default)]
struct Window {
    consecutive_failures: u32,
    down_until: Option<Instant>,
    probing: bool,
    last_error: Option<String>,
}

/// One server's health and counters.
pub struct ServerHealth {
    name: Arc<str>,
    /// Fast path: false while up, so healthy servers never take the lock.
    down: AtomicBool,
    /// Fast path: false while no failure is counted, so a success on a healthy server takes
    /// no lock either. Set under the lock with each failure, cleared under it by a success.
    failing: AtomicBool,
    window: Mutex<Window>,
    failures: AtomicU64,
    mark_downs: AtomicU64,
    rejoins: AtomicU64,
    refused: AtomicU64,
}

/// A snapshot of one server's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSnapshot {
    pub down: bool,
    pub consecutive_failures: u32,
    pub failures: u64,
    pub mark_downs: u64,
    pub rejoins: u64,
    /// Calls failed at once because the server was down.
    pub refused: u64,
    pub last_error: Option<String>,
}

/// Whether an error says the server (rather than the request or this client) is in trouble.
pub fn counts_as_failure(error: &Error) -> bool {
    match error {
        Error::Timeout {
            phase: TimeoutPhase::Pool | TimeoutPhase::BeforeSend,
            ..
        } => false,
        Error::Connect { .. } | Error::ConnectionLost { .. } | Error::Timeout { .. } => true,
        Error::UnexpectedReply { .. } => true,
        // Refused credentials mark the server down like a failed connect, so a client with a
        // wrong password opens at most one connection per `mark_down_period` after
        // `failures_to_mark_down` refusals, instead of one per call.
        Error::Authentication { .. } => true,
        _ => false,
    }
}

impl ServerHealth {
    pub fn new(name: Arc<str>) -> Self {
        ServerHealth {
            name,
            down: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            window: Mutex::new(Window::default()),
            failures: AtomicU64::new(0),
            mark_downs: AtomicU64::new(0),
            rejoins: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Decide whether a request may go out now.
    pub fn admit(&self) -> Admission {
        if !self.down.load(Ordering::Acquire) {
            return Admission::Open;
        }
        let mut window = self.window.lock();
        let now = Instant::now();
        match window.down_until {
            Some(until) if now < until => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Admission::Refused(until - now)
            }
            _ if window.probing => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Admission::Refused(Duration::ZERO)
            }
            _ => {
                window.probing = true;
                Admission::Probe
            }
        }
    }

    /// The error a refused call gets.
    pub fn refusal(&self, retry_in: Duration) -> Error {
        Error::ServerDown {
            server: self.name.to_string(),
            retry_in,
        }
    }

    /// Record how a request that was let through ended.
    pub fn record(
        &self,
        admission: Admission,
        outcome: Result<(), &Error>,
        policy: &HealthPolicy,
    ) -> Option<HealthEvent> {
        if let Err(error @ Error::UnexpectedReply { .. }) = outcome {
            // A reply that does not fit its request: a server that is not memcached, or a
            // stream out of step. Callers get `UnexpectedReply`; operators need to hear of it.
            tracing::error!(server = %self.name, %error, "protocol violation: connection discarded");
        }
        match outcome {
            Ok(()) => self.succeeded(admission),
            Err(error) if counts_as_failure(error) => self.failed(admission, error, policy),
            // The server answered (or the request never reached it): no verdict on its health,
            // but a probe must still hand its turn back.
            Err(_) => {
                self.abandon(admission);
                None
            }
        }
    }

    /// A request let through ended with no verdict (it never went out, or its caller stopped
    /// waiting): a probe hands its turn back, or the server would stay down for good.
    pub fn abandon(&self, admission: Admission) {
        if admission == Admission::Probe {
            self.window.lock().probing = false;
        }
    }

    fn succeeded(&self, admission: Admission) -> Option<HealthEvent> {
        if admission == Admission::Open && !self.down.load(Ordering::Acquire) {
            if self.failing.load(Ordering::Acquire) {
                let mut window = self.window.lock();
                window.consecutive_failures = 0;
                self.failing.store(false, Ordering::Release);
            }
            return None;
        }
        let mut window = self.window.lock();
        window.consecutive_failures = 0;
        self.failing.store(false, Ordering::Release);
        window.probing = false;
        if window.down_until.take().is_some() {
            self.down.store(false, Ordering::Release);
            self.rejoins.fetch_add(1, Ordering::Relaxed);
            tracing::info!(server = %self.name, "memcached server rejoined");
            return Some(self.event(HealthEventKind::Rejoined, String::new()));
        }
        None
    }

    fn failed(&self, admission: Admission, error: &Error, policy: &HealthPolicy) -> Option<HealthEvent> {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let detail = error.to_string();
        let mut window = self.window.lock();
        window.consecutive_failures += 1;
        self.failing.store(true, Ordering::Release);
        window.last_error = Some(detail.clone());
        let was_probe = admission == Admission::Probe;
        window.probing = false;
        let already_down = window.down_until.is_some();
        if was_probe || (!already_down && window.consecutive_failures >= policy.failures_to_mark_down.max(1)) {
            window.down_until = Some(Instant::now() + policy.mark_down_period);
            self.down.store(true, Ordering::Release);
            if was_probe {
                tracing::warn!(server = %self.name, error = %detail, "memcached server still down");
                return Some(self.event(HealthEventKind::ProbeFailed, detail));
            }
            self.mark_downs.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(server = %self.name, error = %detail, "memcached server marked down");
            return Some(self.event(HealthEventKind::MarkedDown, detail));
        }
        None
    }

    fn event(&self, kind: HealthEventKind, detail: String) -> HealthEvent {
        HealthEvent {
            kind,
            server: Arc::clone(&self.name),
            detail,
            at: SystemTime::now(),
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    pub fn snapshot(&self) -> HealthSnapshot {
        let window = self.window.lock();
        HealthSnapshot {
            down: self.down.load(Ordering::Acquire),
            consecutive_failures: window.consecutive_failures,
            failures: self.failures.load(Ordering::Relaxed),
            mark_downs: self.mark_downs.load(Ordering::Relaxed),
            rejoins: self.rejoins.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            last_error: window.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> Error {
        Error::ConnectionLost {
            server: "s".into(),
            detail: "reset".into(),
        }
    }

    fn policy(failures: u32, period_ms: u64) -> HealthPolicy {
        HealthPolicy {
            failures_to_mark_down: failures,
            mark_down_period: Duration::from_millis(period_ms),
        }
    }

    #[test]
    fn marks_down_after_consecutive_failures_then_probes_once() {
        let health = ServerHealth::new("s".into());
        let policy = policy(2, 50);
        assert!(health.record(Admission::Open, Err(&lost()), &policy).is_none());
        let event = health.record(Admission::Open, Err(&lost()), &policy).unwrap();
        assert_eq!(event.kind, HealthEventKind::MarkedDown);
        assert!(matches!(health.admit(), Admission::Refused(_)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(health.admit(), Admission::Probe);
        // Only one probe at a time.
        assert!(matches!(health.admit(), Admission::Refused(_)));
        let event = health.record(Admission::Probe, Ok(()), &policy).unwrap();
        assert_eq!(event.kind, HealthEventKind::Rejoined);
        assert_eq!(health.admit(), Admission::Open);
        let snap = health.snapshot();
        assert_eq!(
            (snap.failures, snap.mark_downs, snap.rejoins, snap.refused),
            (2, 1, 1, 2)
        );
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let health = ServerHealth::new("s".into());
        let policy = policy(2, 50);
        health.record(Admission::Open, Err(&lost()), &policy);
        health.record(Admission::Open, Ok(()), &policy);
        assert!(health.record(Admission::Open, Err(&lost()), &policy).is_none());
        assert_eq!(health.admit(), Admission::Open);
    }

    #[test]
    fn a_failed_probe_keeps_the_server_down() {
        let health = ServerHealth::new("s".into());
        let policy = policy(1, 20);
        health.record(Admission::Open, Err(&lost()), &policy);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(health.admit(), Admission::Probe);
        let event = health.record(Admission::Probe, Err(&lost()), &policy).unwrap();
        assert_eq!(event.kind, HealthEventKind::ProbeFailed);
        assert!(matches!(health.admit(), Admission::Refused(_)));
    }

    #[test]
    fn an_abandoned_probe_hands_its_turn_back() {
        let health = ServerHealth::new("s".into());
        let policy = policy(1, 20);
        health.record(Admission::Open, Err(&lost()), &policy);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(health.admit(), Admission::Probe);
        health.abandon(Admission::Probe);
        assert_eq!(health.admit(), Admission::Probe, "the next caller probes");
    }

    #[test]
    fn client_and_pool_errors_say_nothing_about_the_server() {
        let health = ServerHealth::new("s".into());
        let policy = policy(1, 20);
        let pool = Error::Timeout {
            server: "s".into(),
            phase: TimeoutPhase::Pool,
            after: Duration::ZERO,
        };
        health.record(Admission::Open, Err(&pool), &policy);
        health.record(Admission::Open, Err(&Error::InvalidKey("x".into())), &policy);
        assert_eq!(health.admit(), Admission::Open);
    }
}
