//! What a request does, and who may decide it: the classification the dispatcher routes by
//! (mirror copies, fallbacks, stand-in clears, owed deletes).

use crate::protocol::request::{Command, Flag, SetMode};
use crate::route::ledger::Forget;

/// How a batch asks for replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// Requests carry `q`; each server's group ends with `mn`. Only non-nominal replies come
    /// back. memcached's error replies carry no opaque, so an error reply cannot be pinned on
    /// its request: it fails the call (after the whole batch is read).
    Quiet,
    /// Every request gets its reply, matched by position; needed when individual error replies
    /// must be attributed (a too-large value in `set_many`, any single-key call).
    Loud,
}

/// Who may decide a conditional request (add, replace, append, prepend, CAS, counters, and
/// reads that hand out a CAS token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// The key's own server only: a stand-in lacks its data, so it would answer for an item it
    /// does not have (a second lock taken, a counter restarted).
    Primary,
    /// Whichever server answers: a lease read and its fill (the fill's CAS comes from the
    /// server that answered the read, stand-in or not).
    AnyServer,
}

/// One dispatch: the command, how its replies come back, and the caller's policies.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub mode: BatchMode,
    pub command: Command,
    /// Count an unreachable server's keys as unavailable instead of failing the call.
    pub tolerant: bool,
    pub decider: Decider,
}

impl Call {
    pub fn new(mode: BatchMode, command: Command, tolerant: bool) -> Self {
        Call {
            mode,
            command,
            tolerant,
            decider: Decider::Primary,
        }
    }
}

/// What a request does to the item it names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Effect {
    /// Changes data (value or TTL), and so goes to the mirror too.
    pub mutates: bool,
    /// Changes the value: copies elsewhere become stale.
    pub changes_value: bool,
    /// Its outcome depends on what the server holds (a conditional write, a counter).
    pub conditional: bool,
    /// It hands out a CAS token, which only the server that issued it can judge later.
    pub hands_out_cas: bool,
    /// Leaves an item behind on the server (a value, a TTL, a lease placeholder).
    pub writes_item: bool,
}

impl Effect {
    pub fn of(command: Command, flags: &[Flag]) -> Self {
        let has = |wanted: fn(&Flag) -> bool| flags.iter().any(wanted);
        let compare_cas = has(|f| matches!(f, Flag::CompareCas(_)));
        let mutates = match command {
            Command::Set | Command::Delete | Command::Arithmetic => true,
            Command::Get => has(|f| matches!(f, Flag::Ttl(_))),
            Command::Noop | Command::Debug => false,
        };
        let conditional = match command {
            Command::Set => compare_cas || has(|f| matches!(f, Flag::SetMode(m) if *m != SetMode::Set)),
            Command::Delete => compare_cas,
            Command::Arithmetic => true,
            Command::Get | Command::Noop | Command::Debug => false,
        };
        Effect {
            mutates,
            changes_value: matches!(command, Command::Set | Command::Delete | Command::Arithmetic),
            conditional,
            // A CAS token is judged by the server that handed it out: one from a stand-in could
            // match an unrelated item's on the key's own server.
            hands_out_cas: command == Command::Get && has(|f| matches!(f, Flag::ReturnCas)),
            writes_item: mutates || has(|f| matches!(f, Flag::Vivify(_))),
        }
    }

    /// An unconditional store or delete: a replica that missed it must not serve the old value.
    pub fn forget_if_missed(&self, command: Command) -> bool {
        matches!(command, Command::Set | Command::Delete) && !self.conditional
    }
}

/// What a server that missed a request must do with its key: a missed stale mark is owed as
/// a stale mark, anything else as a delete.
pub(super) fn forget(command: Command, flags: &[Flag]) -> Forget {
    if command == Command::Delete && flags.contains(&Flag::Invalidate) {
        let ttl = flags.iter().find_map(|f| match f {
            Flag::Ttl(ttl) => Some(*ttl),
            _ => None,
        });
        return Forget::MarkStale { ttl };
    }
    Forget::Delete
}
