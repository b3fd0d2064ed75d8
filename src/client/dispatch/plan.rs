//! Which requests a round sends, and to which servers (steps 1 and 3 of the module docs of
//! `dispatch`). Decisions only: the plan is a list of [`Send`]s, and the only side effects are
//! the ledger entries that taking over for an unreachable server calls for, made before the
//! request that creates the copy is sent.

use super::windows::OpenWindows;
use super::{wire_name, Names, Role, Send};
use crate::client::effect::{Call, Decider, Effect};
use crate::client::key::KeyRef;
use crate::client::Slot;
use crate::cluster::Cluster;
use crate::error::Result;
use crate::protocol::request::{Command, Flag};
use crate::route::ledger::Forget;
use crate::route::topology::FallbackKind;

/// Plans both rounds of one dispatch (it keeps what the second round reuses).
pub(super) struct Planner<'a, 'k, F> {
    call: Call,
    keys: &'a [KeyRef<'k>],
    names: &'a Names<'k>,
    cluster: &'a Cluster,
    flags_for: &'a F,
    /// Open stand-in windows, known only when the ledger records anything at all.
    windows: Option<OpenWindows<'a>>,
    /// The flags of the key being planned (one buffer for every key).
    flags: Vec<Flag>,
}

impl<'a, 'k, F: Fn(usize, &mut Vec<Flag>)> Planner<'a, 'k, F> {
    pub(super) fn new(
        call: Call,
        keys: &'a [KeyRef<'k>],
        names: &'a Names<'k>,
        cluster: &'a Cluster,
        flags_for: &'a F,
    ) -> Self {
        let ledger = cluster.ledger();
        let windows = (!ledger.is_quiet()).then(|| OpenWindows::new(ledger, cluster.topology()));
        Planner {
            call,
            keys,
            names,
            cluster,
            flags_for,
            windows,
            flags: Vec::new(),
        }
    }

    /// The caller's flags of each key.
    pub(super) fn flags_for(&self) -> &'a F {
        self.flags_for
    }

    /// What key `i`'s request does, judged by its command and flags.
    fn effect_of(&mut self, i: usize) -> Effect {
        self.flags.clear();
        (self.flags_for)(i, &mut self.flags);
        Effect::of(self.call.command, &self.flags)
    }

    /// The first round: each key to its primary, a write's copy to the mirror, and clears of
    /// the stand-ins a write leaves stale. Returns the plan and each key's primary.
    pub(super) fn first_round(&mut self) -> (Vec<Send>, Vec<usize>) {
        let (call, keys, topology) = (self.call, self.keys, self.cluster.topology());
        let mut plan = Vec::with_capacity(keys.len());
        // Placement hashes the key (MD5 for ketama): done once, kept for the fallback round.
        let mut primaries = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            let server = key.primary(topology);
            primaries.push(server);
            let effect = self.effect_of(i);
            plan.push(Send {
                key: i,
                server,
                ttl_cap: topology.pool_of_server(server).max_ttl,
                role: Role::Request,
                forget_if_missed: key.split_copy && effect.forget_if_missed(call.command),
                alias: false,
            });
            // A lease fill is not mirrored: its CAS means nothing to the mirror, which keeps
            // up with the primary's writes and invalidations (or owes them) so it holds no
            // older value; and dropping the mirror's copy would take the lease of a read that
            // fell back to it while the primary is down.
            if effect.mutates && call.decider == Decider::Primary {
                if let Some(mirror) = topology.mirror_for(server, &key.route) {
                    // The mirror may not hold what the primary holds: a conditional write or a
                    // counter decided there could diverge, so its copy is dropped instead.
                    let role = if effect.conditional {
                        Role::Clear
                    } else {
                        Role::MirrorCopy
                    };
                    plan.push(Send {
                        key: i,
                        server: mirror,
                        ttl_cap: topology.pool_of_server(mirror).max_ttl,
                        role,
                        forget_if_missed: effect.changes_value,
                        alias: self.names.routed(i),
                    });
                }
            }
            if let (Some(windows), true) = (self.windows.as_mut(), effect.changes_value) {
                windows.clear(&mut plan, i, server, &key.route, None, self.names.routed(i));
            }
        }
        (plan, primaries)
    }

    /// The second round: each key whose server was unreachable in the first (`out`), to its
    /// fallback, if it may have one. A stand-in taking a write is recorded in the ledger first.
    pub(super) fn fallbacks(&mut self, out: &[Option<Result<Slot>>], primaries: &[usize]) -> Vec<Send> {
        let (call, keys, cluster) = (self.call, self.keys, self.cluster);
        let (topology, ledger) = (cluster.topology(), cluster.ledger());
        let mut retry = Vec::new();
        for (i, result) in out.iter().enumerate() {
            let Some(Err(error)) = result else { continue };
            if !error.is_connection_lost() {
                continue;
            }
            let effect = self.effect_of(i);
            if (effect.conditional || effect.hands_out_cas) && call.decider == Decider::Primary {
                continue; // fails as its server's failure: no stand-in decides it
            }
            let primary = primaries[i];
            let down = |server: usize| cluster.is_down(server);
            // A lease fill goes where its lease read went: reads fall back to the mirror too.
            let read_like = !effect.mutates || call.decider == Decider::AnyServer;
            let Some(fallback) = topology.fallback(primary, &keys[i].route, read_like, &down) else {
                continue;
            };
            let stands_in = fallback.kind != FallbackKind::Mirror;
            if stands_in && effect.writes_item {
                // Recorded before the copy can exist, so a write racing it clears it.
                let cap = topology.ttl_cap(fallback).expect("stand-ins cap TTLs");
                ledger.open_window(
                    topology.server_name(primary),
                    topology.server_name(fallback.server),
                    cap,
                );
                self.windows
                    .get_or_insert_with(|| OpenWindows::new(ledger, topology))
                    .forget_known();
            }
            if stands_in && call.command == Command::Set && !effect.conditional {
                // The primary keeps the value this write replaces: it owes a delete, recorded
                // before the write is acknowledged so no read of it can come in between.
                ledger.owe(
                    topology.server_name(primary),
                    wire_name(&self.names.own[i]),
                    Forget::Delete,
                );
            }
            retry.push(Send {
                key: i,
                server: fallback.server,
                ttl_cap: topology.ttl_cap(fallback),
                role: Role::Request,
                forget_if_missed: false,
                alias: self.names.routed(i),
            });
            if let (Some(windows), true) = (self.windows.as_mut(), effect.changes_value) {
                let except = Some(fallback.server);
                windows.clear(&mut retry, i, primary, &keys[i].route, except, self.names.routed(i));
            }
        }
        retry
    }
}
