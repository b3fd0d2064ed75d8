//! What servers may hold that must not be read: the process-wide record behind "an
//! acknowledged write is never undone by a stand-in" (ARCHITECTURE.md, Decisions).
//!
//! - **Owed deletes.** A server that may have missed an unconditional write or delete of a key
//!   (it was unreachable, the mirror copy failed, a stand-in answered instead) owes a delete of
//!   that key. The next request of this process that touches the key on that server carries the
//!   delete first, in the same pipeline, so the server forgets its old value before it answers.
//!   Past [`MAX_OWED`] keys a server owes a `flush_all` instead, sent before anything else.
//! - **Stand-in windows.** When a stand-in (gutter, remapped server) takes a write for a
//!   primary, it may hold copies of the primary's keys until their capped TTL runs out. Until
//!   then every write of such a key also deletes the stand-in's copy, so a later outage cannot
//!   fall back to a value older than an acknowledged write.
//!
//! Servers are known by name, so every client of the process talking to a server shares its
//! record (a sync and an async client of one fleet, several `Repository` objects). When nothing
//! is owed and no window is open, [`Ledger::is_quiet`] is one atomic load: the fault-free path
//! pays nothing else.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Owed deletes per server beyond which it owes a `flush_all` instead (bounded memory: a long
/// outage with heavy writes would otherwise grow without end).
pub const MAX_OWED: usize = 100_000;

/// Debts of other keys a request to the server carries besides its own keys'.
pub const DRAIN: usize = 16;

/// memcached's clock ticks in seconds and lags by up to one: a copy written with TTL `cap`
/// may live that long past it.
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// A key as it is on the wire (the token and whether it is base64).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireName {
    pub token: Bytes,
    pub binary: bool,
}

/// What a server that missed an invalidation or write must do with the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forget {
    Delete,
    /// It missed a stale mark (`md k I [T]`): it owes the same mark, so readers that accept
    /// stale values still get the old one, flagged.
    MarkStale {
        ttl: Option<i64>,
    },
}

impl Forget {
    /// Two misses of one key: a delete covers a stale mark.
    fn and(self, other: Forget) -> Forget {
        match (self, other) {
            (Forget::MarkStale { .. }, Forget::MarkStale { .. }) => other,
            _ => Forget::Delete,
        }
    }
}

/// One owed delete (or stale mark), as handed out to a request about to carry it: paid when
/// that request's reply comes back (unless the key was owed again meanwhile).
#[derive(Debug, Clone)]
pub struct Debt {
    pub key: WireName,
    pub forget: Forget,
    generation: u64,
}

#[derive(Default)]
struct Owed {
    keys: HashMap<WireName, (u64, Forget)>,
    /// Generation at which a `flush_all` became owed (0: none).
    flush: u64,
}

#[derive(Default)]
struct State {
    owed: HashMap<Arc<str>, Owed>,
    /// Per primary: the stand-ins that may hold copies of its keys, and until when.
    windows: HashMap<Arc<str>, Vec<(Arc<str>, Instant)>>,
}

/// Counters of the ledger, since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Deletes (or stale marks) recorded as owed.
    pub owed: u64,
    /// Owed deletes delivered.
    pub paid: u64,
    /// `flush_all`s owed instead of too many deletes.
    pub flushes_owed: u64,
    /// Stand-in windows opened or extended.
    pub windows: u64,
    /// Deletes owed right now, over every server.
    pub pending: u64,
}

pub struct Ledger {
    /// Whether anything is recorded (owed or a window, even an expired one).
    busy: AtomicBool,
    owed: AtomicU64,
    paid: AtomicU64,
    flushes_owed: AtomicU64,
    windows: AtomicU64,
    generation: AtomicU64,
    max_owed: usize,
    state: Mutex<State>,
}

static LEDGER: LazyLock<Ledger> = LazyLock::new(|| {
    // SAFETY: registers plain functions; see `before_fork`.
    unsafe {
        libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork));
    }
    Ledger::new(MAX_OWED)
});

/// The process's ledger.
pub fn ledger() -> &'static Ledger {
    &LEDGER
}

/// A fork must not catch the lock held by a thread the child will not have: take it for the
/// fork, and release it on both sides. The child keeps its parent's record, which is as true
/// of the servers for it as for the parent.
extern "C" fn before_fork() {
    std::mem::forget(LEDGER.state.lock());
}

extern "C" fn after_fork() {
    // SAFETY: `before_fork` left the lock held by this very thread, and nothing else could
    // take it since.
    unsafe { LEDGER.state.force_unlock() };
}

impl Ledger {
    pub fn new(max_owed: usize) -> Self {
        Ledger {
            busy: AtomicBool::new(false),
            owed: AtomicU64::new(0),
            paid: AtomicU64::new(0),
            flushes_owed: AtomicU64::new(0),
            windows: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            max_owed,
            state: Mutex::new(State::default()),
        }
    }

    /// Nothing owed, no window open: requests go out as they are.
    pub fn is_quiet(&self) -> bool {
        !self.busy.load(Ordering::Acquire)
    }

    /// Run `f` on the state (held for bookkeeping only, never across I/O).
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock();
        let result = f(&mut state);
        // Windows close as their copies expire, even if no write asks about them again: the
        // ledger goes quiet, and requests stop consulting it.
        let now = Instant::now();
        state.windows.retain(|_, windows| {
            windows.retain(|(_, until)| *until > now);
            !windows.is_empty()
        });
        let busy = !state.owed.is_empty() || !state.windows.is_empty();
        self.busy.store(busy, Ordering::Release);
        result
    }

    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `server` may have missed a write of `key`: it owes a delete (or a stale mark).
    pub fn owe(&self, server: &Arc<str>, key: WireName, forget: Forget) {
        let generation = self.next_generation();
        self.owed.fetch_add(1, Ordering::Relaxed);
        let max_owed = self.max_owed;
        self.with_state(|state| {
            // Recorded even while a flush is owed: that flush may be on its way already, and
            // only covers what was owed before it.
            let owed = state.owed.entry(Arc::clone(server)).or_default();
            let forget = owed.keys.get(&key).map_or(forget, |(_, before)| before.and(forget));
            owed.keys.insert(key, (generation, forget));
            if owed.keys.len() > max_owed {
                tracing::warn!(
                    server = %server,
                    owed = owed.keys.len(),
                    "too many keys missed: the server will be flushed before it is read again"
                );
                owed.keys.clear();
                owed.flush = generation;
                self.flushes_owed.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Whether `server` owes a `flush_all`, with the generation to confirm it by.
    pub fn owed_flush(&self, server: &Arc<str>) -> Option<u64> {
        self.with_state(|state| state.owed.get(server).map(|o| o.flush).filter(|&g| g != 0))
    }

    /// The owed `flush_all` of that generation was done: everything owed before it is paid.
    pub fn flushed(&self, server: &Arc<str>, generation: u64) {
        self.with_state(|state| {
            if let Some(owed) = state.owed.get_mut(server) {
                if owed.flush == generation {
                    owed.flush = 0;
                }
                owed.keys.retain(|_, (g, _)| *g > generation);
                if owed.flush == 0 && owed.keys.is_empty() {
                    state.owed.remove(server);
                }
            }
        });
    }

    /// The deletes `server` owes among `keys` (wire token, base64 flag), at most one per key,
    /// then up to [`DRAIN`] of its other debts: paid along with other traffic, they do not wait
    /// for their key to be asked for (nor pile up to a flush while the server is busy).
    pub fn debts_among<'k>(&self, server: &Arc<str>, keys: impl Iterator<Item = (&'k [u8], bool)>) -> Vec<Debt> {
        self.with_state(|state| {
            let Some(owed) = state.owed.get(server).filter(|o| !o.keys.is_empty()) else {
                return Vec::new();
            };
            let mut debts: Vec<Debt> = Vec::new();
            for (token, binary) in keys {
                let key = WireName {
                    token: Bytes::copy_from_slice(token),
                    binary,
                };
                if let Some(&(generation, forget)) = owed.keys.get(&key) {
                    if !debts.iter().any(|d| d.key == key) {
                        debts.push(Debt {
                            key,
                            forget,
                            generation,
                        });
                    }
                }
            }
            let others = owed
                .keys
                .iter()
                .filter(|(key, _)| !debts.iter().any(|d| &d.key == *key));
            let drained: Vec<Debt> = others
                .take(DRAIN)
                .map(|(key, &(generation, forget))| Debt {
                    key: key.clone(),
                    forget,
                    generation,
                })
                .collect();
            debts.extend(drained);
            debts
        })
    }

    /// The delete reached `server`: the debt is paid, unless it was owed again since.
    pub fn paid(&self, server: &Arc<str>, debt: &Debt) {
        self.with_state(|state| {
            if let Some(owed) = state.owed.get_mut(server) {
                if owed.keys.get(&debt.key).map(|(g, _)| *g) == Some(debt.generation) {
                    owed.keys.remove(&debt.key);
                    self.paid.fetch_add(1, Ordering::Relaxed);
                }
                if owed.flush == 0 && owed.keys.is_empty() {
                    state.owed.remove(server);
                }
            }
        });
    }

    /// `stand_in` takes a write for `primary`'s keys, each with a TTL of at most `cap` seconds.
    pub fn open_window(&self, primary: &Arc<str>, stand_in: &Arc<str>, cap: i64) {
        let until = Instant::now() + Duration::from_secs(cap.max(0) as u64) + CLOCK_SLACK;
        self.windows.fetch_add(1, Ordering::Relaxed);
        self.with_state(|state| {
            let windows = state.windows.entry(Arc::clone(primary)).or_default();
            match windows.iter_mut().find(|(name, _)| name == stand_in) {
                Some((_, end)) => *end = (*end).max(until),
                None => windows.push((Arc::clone(stand_in), until)),
            }
        });
    }

    /// The stand-ins that may still hold copies of `primary`'s keys.
    pub fn stand_ins_of(&self, primary: &Arc<str>) -> Vec<Arc<str>> {
        let now = Instant::now();
        self.with_state(|state| {
            let windows = state.windows.get(primary).map_or(&[][..], Vec::as_slice);
            let open = windows.iter().filter(|(_, until)| *until > now);
            open.map(|(name, _)| Arc::clone(name)).collect()
        })
    }

    /// The counters, and what is owed now.
    pub fn stats(&self) -> LedgerStats {
        let pending = self.with_state(|state| state.owed.values().map(|o| o.keys.len() as u64).sum());
        LedgerStats {
            owed: self.owed.load(Ordering::Relaxed),
            paid: self.paid.load(Ordering::Relaxed),
            flushes_owed: self.flushes_owed.load(Ordering::Relaxed),
            windows: self.windows.load(Ordering::Relaxed),
            pending,
        }
    }

    /// Keys owed by `server` (for tests and diagnostics).
    pub fn owed_count(&self, server: &Arc<str>) -> usize {
        self.with_state(|state| state.owed.get(server).map_or(0, |o| o.keys.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(token: &str) -> WireName {
        WireName {
            token: Bytes::copy_from_slice(token.as_bytes()),
            binary: false,
        }
    }

    #[test]
    fn a_debt_is_paid_once_unless_owed_again_meanwhile() {
        let ledger = Ledger::new(10);
        let server: Arc<str> = Arc::from("a:1");
        assert!(ledger.is_quiet());
        ledger.owe(&server, name("k"), Forget::MarkStale { ttl: None });
        ledger.owe(&server, name("k"), Forget::Delete);
        ledger.owe(&server, name("k"), Forget::MarkStale { ttl: Some(5) });
        assert!(!ledger.is_quiet());
        let keys = [&b"x"[..], b"k", b"k"];
        let debts = ledger.debts_among(&server, keys.iter().map(|k| (*k, false)));
        assert_eq!(debts.len(), 1, "one delete per key");
        let other = ledger.debts_among(&server, std::iter::once((&b"y"[..], false)));
        assert_eq!(
            other.len(),
            1,
            "a request about other keys drains the server's debts too"
        );
        assert_eq!(debts[0].key, name("k"));
        assert_eq!(debts[0].forget, Forget::Delete, "a delete covers stale marks");
        ledger.owe(&server, name("k"), Forget::Delete); // a newer miss while the delete is in flight
        ledger.paid(&server, &debts[0]);
        assert_eq!(ledger.owed_count(&server), 1, "the newer miss is still owed");
        let again = ledger.debts_among(&server, keys.iter().map(|k| (*k, false)));
        ledger.paid(&server, &again[0]);
        assert_eq!(ledger.owed_count(&server), 0);
        let stats = ledger.stats();
        assert_eq!((stats.owed, stats.paid, stats.pending), (4, 1, 0));
        assert!(ledger.is_quiet());
    }

    #[test]
    fn too_many_debts_become_a_flush() {
        let ledger = Ledger::new(3);
        let server: Arc<str> = Arc::from("a:1");
        for i in 0..4 {
            ledger.owe(&server, name(&format!("k{i}")), Forget::Delete);
        }
        let generation = ledger.owed_flush(&server).expect("a flush is owed");
        assert_eq!(ledger.owed_count(&server), 0);
        ledger.owe(&server, name("late"), Forget::Delete); // missed while the flush is sent
        ledger.flushed(&server, generation);
        assert_eq!(ledger.owed_flush(&server), None);
        assert_eq!(ledger.owed_count(&server), 1, "a miss after the flush is still owed");
        let late = ledger.debts_among(&server, std::iter::empty());
        ledger.paid(&server, &late[0]);
        assert!(ledger.is_quiet());
    }

    #[test]
    fn windows_close_when_their_copies_have_expired() {
        let ledger = Ledger::new(10);
        let (primary, gutter): (Arc<str>, Arc<str>) = (Arc::from("p:1"), Arc::from("g:1"));
        ledger.open_window(&primary, &gutter, 5);
        assert_eq!(ledger.stand_ins_of(&primary), vec![Arc::clone(&gutter)]);
        ledger.with_state(|state| state.windows.get_mut(&primary).unwrap()[0].1 = Instant::now());
        assert!(ledger.is_quiet(), "an expired window closes without being asked about");
        assert!(ledger.stand_ins_of(&primary).is_empty());
    }
}
