//! The bytes of one server's batch in a round: first the deletes the server owes for the keys
//! it is asked about (see `ledger`), then the round's requests to it, each with its tag, its
//! TTL cap and the batch mode's quiet flag; and which replies to await, in the same order.
//!
//! Tags are unique to this client. A request that carries the caller's own opaque (raw meta
//! calls) keeps it; either way the reply must echo the request's token (checked as replies are
//! read, so a connection out of step is retired before anyone reuses it).

use super::{Names, Role, Send};
use crate::client::effect::{BatchMode, Call};
use crate::cluster::Batch;
use crate::protocol::reply::{Awaited, Expect, Opaque};
use crate::protocol::request::{encode_noop, Command, Flag, Request};
use crate::route::ledger::{Debt, Forget};
use crate::route::topology::clamp_ttl;
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

/// Encodes the batches of one round, and remembers per plan entry what it did to the request
/// that its reply must undo.
pub(super) struct Encoder<'a, F> {
    call: Call,
    names: &'a Names<'a>,
    plan: &'a [Send],
    flags_for: &'a F,
    values: Option<&'a [&'a [u8]]>,
    /// Per plan entry: it carries the caller's own opaque, which its reply keeps.
    pub(super) own_opaque: Vec<bool>,
    /// Per plan entry: `k` was added to match its reply on the key, and is taken off the reply.
    pub(super) key_added: Vec<bool>,
    /// The flags of the request being encoded (one buffer for the round).
    flags: Vec<Flag>,
}

impl<'a, F: Fn(usize, &mut Vec<Flag>)> Encoder<'a, F> {
    pub(super) fn new(
        call: Call,
        names: &'a Names<'a>,
        plan: &'a [Send],
        flags_for: &'a F,
        values: Option<&'a [&'a [u8]]>,
    ) -> Self {
        Encoder {
            call,
            names,
            plan,
            flags_for,
            values,
            own_opaque: vec![false; plan.len()],
            key_added: vec![false; plan.len()],
            flags: Vec::with_capacity(8),
        }
    }

    /// The flags the caller gave for a plan entry's request (none for a clear).
    pub(super) fn caller_flags(&mut self, sent: &Send) -> &[Flag] {
        self.flags.clear();
        if sent.role != Role::Clear {
            (self.flags_for)(sent.key, &mut self.flags);
        }
        &self.flags
    }

    /// The batch for `server`: the deletes it owes, then the plan entries `members`, tagged
    /// from `base` on (one tag per request).
    pub(super) fn batch(&mut self, server: usize, members: &[usize], owed: &[Debt], base: u64) -> Batch {
        let mode = self.call.mode;
        let mut bytes = Vec::with_capacity(members.len() * 48);
        let mut awaited = Vec::with_capacity(owed.len() + members.len());
        for (position, debt) in owed.iter().enumerate() {
            let tag = base + position as u64;
            let flags = &mut self.flags;
            flags.clear();
            flags.push(Flag::OpaqueNumber(tag));
            if mode == BatchMode::Quiet {
                flags.push(Flag::Quiet);
            }
            if debt.key.binary {
                flags.push(Flag::Base64Key);
            }
            if let Forget::MarkStale { ttl } = debt.forget {
                flags.push(Flag::Invalidate);
                flags.extend(ttl.map(Flag::Ttl));
            }
            awaited.push(Awaited {
                command: Command::Delete,
                value: false,
                opaque: Opaque::Number(tag),
                key: None,
            });
            Request::new(Command::Delete, &debt.key.token, flags).encode(&mut bytes);
        }
        for (position, &entry) in members.iter().enumerate() {
            let tag = base + (owed.len() + position) as u64;
            self.request(entry, tag, &mut bytes, &mut awaited);
        }
        let expect = match mode {
            BatchMode::Quiet => {
                encode_noop(&mut bytes);
                Expect::UntilNoop(awaited)
            }
            BatchMode::Loud => Expect::Replies(awaited),
        };
        Batch { server, bytes, expect }
    }

    /// Plan entry `entry`'s request, tagged `tag` unless it carries the caller's own opaque.
    fn request(&mut self, entry: usize, tag: u64, bytes: &mut Vec<u8>, awaited: &mut Vec<Awaited>) {
        let sent = self.plan[entry];
        let request_command = if sent.role == Role::Clear {
            Command::Delete
        } else {
            self.call.command
        };
        self.caller_flags(&sent);
        let flags = &mut self.flags;
        if let Some(cap) = sent.ttl_cap {
            cap_ttls(request_command, flags, cap);
        }
        if self.call.mode == BatchMode::Quiet {
            flags.push(Flag::Quiet);
        }
        let own = flags.iter().find_map(|f| match f {
            Flag::Opaque(token) => Some(token.clone()),
            _ => None,
        });
        let (opaque, key) = match own {
            Some(token) => {
                // The caller's token may repeat across requests: match on the key too.
                self.own_opaque[entry] = true;
                if !flags.contains(&Flag::ReturnKey) {
                    flags.push(Flag::ReturnKey);
                    self.key_added[entry] = true;
                }
                let key = Bytes::copy_from_slice(&self.names.of(&sent).token);
                (Opaque::Token(token), Some(key))
            }
            None => {
                flags.push(Flag::OpaqueNumber(tag));
                (Opaque::Number(tag), None)
            }
        };
        awaited.push(Awaited {
            command: request_command,
            value: flags.contains(&Flag::ReturnValue),
            opaque,
            key,
        });
        let name = self.names.of(&sent);
        if name.binary {
            flags.push(Flag::Base64Key);
        }
        let mut request = Request::new(request_command, &name.token, flags);
        if let (Some(values), Role::Request | Role::MirrorCopy) = (self.values, sent.role) {
            request = request.with_value(values[sent.key]);
        }
        request.encode(bytes);
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Clamp every TTL a request sets to `cap`; a store without a TTL (never expires) gets one.
fn cap_ttls(command: Command, flags: &mut Vec<Flag>, cap: i64) {
    let now = now_unix();
    let mut has_ttl = false;
    for flag in flags.iter_mut() {
        match flag {
            Flag::Ttl(ttl) => {
                *ttl = clamp_ttl(*ttl, cap, now);
                has_ttl = true;
            }
            Flag::Vivify(ttl) => *ttl = clamp_ttl(*ttl, cap, now),
            _ => {}
        }
    }
    if command == Command::Set && !has_ttl {
        flags.push(Flag::Ttl(cap));
    }
}
