//! The stand-ins with open windows: servers that took a primary's keys while it was
//! unreachable and may still hold copies of them (see `ledger`). A write to such a key clears
//! it on each of them, or a read falling back there later would find the older value.

use super::{Role, Send};
use crate::route::ledger::Ledger;
use crate::route::ring::PlacementKey;
use crate::route::topology::Topology;

/// The stand-ins with open windows per primary (asked of the ledger once per primary and
/// dispatch), and the clears they call for.
pub(super) struct OpenWindows<'a> {
    ledger: &'a Ledger,
    topology: &'a Topology,
    known: Vec<(usize, Vec<usize>)>,
}

impl<'a> OpenWindows<'a> {
    pub(super) fn new(ledger: &'a Ledger, topology: &'a Topology) -> Self {
        OpenWindows {
            ledger,
            topology,
            known: Vec::new(),
        }
    }

    /// A window was just opened: what was asked of the ledger before is out of date.
    pub(super) fn forget_known(&mut self) {
        self.known.clear();
    }

    fn of(&mut self, primary: usize) -> &[usize] {
        if let Some(at) = self.known.iter().position(|(p, _)| *p == primary) {
            return &self.known[at].1;
        }
        let servers = self
            .ledger
            .stand_ins_of(self.topology.server_name(primary))
            .iter()
            .filter_map(|name| self.topology.server_named(name))
            .collect();
        self.known.push((primary, servers));
        &self.known.last().expect("just pushed").1
    }

    /// A write to `key` of `primary` also deletes the key (by its `alias` if it has one) on
    /// every stand-in that may hold an older copy of it, except `except` (where the write
    /// itself goes).
    pub(super) fn clear(
        &mut self,
        plan: &mut Vec<Send>,
        key: usize,
        primary: usize,
        route: &PlacementKey<'_>,
        except: Option<usize>,
        alias: bool,
    ) {
        let topology = self.topology;
        let open = self.of(primary);
        if open.is_empty() {
            return;
        }
        for server in topology.stand_ins(primary, route) {
            if open.contains(&server) && Some(server) != except {
                plan.push(Send {
                    key,
                    server,
                    ttl_cap: None,
                    role: Role::Clear,
                    forget_if_missed: true,
                    alias,
                });
            }
        }
    }
}
