//! Sending requests for many keys at once: routing each key to its server, mirroring writes,
//! falling back when a server is unreachable, and matching every reply to its key.
//!
//! Every operation goes through [`Client::dispatch`], a single key being a batch of one, so
//! routing, failover and reply checking live in one place.
//!
//! 1. Each key goes to its primary server (its pool's placement); writes to the default pool
//!    also go to the mirror pool, if any.
//! 2. Requests are grouped per server: one write per server, all servers at once. Each request
//!    carries an opaque tag unique to this client (a reply handed to the wrong request would
//!    give one key's value to another; the tag catches it).
//! 3. Keys whose server was unreachable go again, in a second round, to their fallback
//!    (remapped server, mirror for reads, gutter with capped TTLs), as the topology decides.
//! 4. What is still unreachable fails the call, or with `tolerant` counts as unavailable.

use super::effect::{forget, Call, Decider, Effect};
use super::key::KeyRef;
use super::{check, wire, BatchMode, Client, Slot};
use crate::cluster::Batch;
use crate::error::{Error, Result};
use crate::protocol::keys::{self, WireKey};
use crate::protocol::reply::{Answer, Awaited, Expect, Opaque, Replies};
use crate::protocol::request::{encode_noop, Command, Flag, Request};
use crate::protocol::response::Code;
use crate::protocol::text::{self, TextReply};
use crate::route::ledger::{Debt, Forget, Ledger, WireName};
use crate::route::ring::PlacementKey;
use crate::route::topology::{clamp_ttl, FallbackKind, Topology};
use crate::transport::Transport;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a request in a round is there for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The caller's request for the key, to its server or a fallback.
    Request,
    /// The mirror's copy of a write.
    MirrorCopy,
    /// `md` of the key on a server that may hold a copy the write leaves stale: a stand-in
    /// while its window is open, or the mirror for a write it cannot copy.
    Clear,
}

/// One request to send: which key (by index) to which server, with which TTL cap.
#[derive(Debug, Clone, Copy)]
struct Send {
    key: usize,
    server: usize,
    ttl_cap: Option<i64>,
    role: Role,
    /// If the server may have missed this request, it owes a delete of the key: it holds a
    /// replica (the mirror, a split copy) or a stand-in's copy, which must not outlive the
    /// write. (A key's own server that missed a write is left alone: the caller learns of the
    /// failure, and a delete sent later could remove what another client wrote since, like a
    /// lock or a session. Only a write a stand-in took in its place leaves it owing one.)
    forget_if_missed: bool,
    /// Sent under the key's alias (see [`alias_of`]): a routed key away from its own server.
    alias: bool,
}

/// The wire names of a dispatch's keys: each key's own, and for keys given with a routing key
/// the alias their copies elsewhere go by.
struct Names<'k> {
    own: Vec<WireKey<'k>>,
    /// Empty when no key has a routing key (the common case costs nothing).
    aliases: Vec<Option<WireKey<'static>>>,
}

impl Names<'_> {
    fn of(&self, sent: &Send) -> &WireKey<'_> {
        match self.aliases.get(sent.key) {
            Some(Some(alias)) if sent.alias => alias,
            _ => &self.own[sent.key],
        }
    }
}

/// The name a key given with a routing key goes by on servers other than its own (see
/// [`keys::alias_key`]); `None` for a key placed by itself.
fn alias_of(key: &KeyRef<'_>) -> Option<WireKey<'static>> {
    (key.route.bytes != key.stored).then(|| keys::alias_key(key.stored, key.route.bytes, key.route.is_bytes))
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

/// The stand-ins with open windows per primary (asked of the ledger once per primary and
/// dispatch), and the clears they call for.
struct OpenWindows<'a> {
    ledger: &'a Ledger,
    topology: &'a Topology,
    known: Vec<(usize, Vec<usize>)>,
}

impl<'a> OpenWindows<'a> {
    fn new(ledger: &'a Ledger, topology: &'a Topology) -> Self {
        OpenWindows {
            ledger,
            topology,
            known: Vec::new(),
        }
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
    fn clear(
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

fn wire_name(key: &WireKey<'_>) -> WireName {
    WireName {
        token: Bytes::copy_from_slice(&key.token),
        binary: key.binary,
    }
}

impl<T: Transport> Client<T> {
    /// Send one request per key (see the module docs). Returns, per key, what became of it.
    pub(super) async fn dispatch(
        &self,
        call: Call,
        keys: &[KeyRef<'_>],
        flags_for: impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Slot>> {
        let command = call.command;
        let own: Vec<WireKey<'_>> = keys.iter().map(|k| wire(k.stored)).collect::<Result<_>>()?;
        let aliases = if keys.iter().any(|k| k.route.bytes != k.stored) {
            keys.iter().map(alias_of).collect()
        } else {
            Vec::new()
        };
        let names = Names { own, aliases };
        let routed = |i: usize| names.aliases.get(i).is_some_and(Option::is_some);
        let topology = self.cluster().topology();
        // Open stand-in windows, known only when the ledger records anything at all.
        let ledger = self.cluster().ledger();
        let mut windows = (!ledger.is_quiet()).then(|| OpenWindows::new(ledger, topology));
        let mut plan = Vec::with_capacity(keys.len());
        // Placement hashes the key (MD5 for ketama): done once, kept for the fallback round.
        let mut primaries = Vec::with_capacity(keys.len());
        let mut flags = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let server = key.primary(topology);
            primaries.push(server);
            flags.clear();
            flags_for(i, &mut flags);
            let effect = Effect::of(command, &flags);
            plan.push(Send {
                key: i,
                server,
                ttl_cap: topology.pool_of_server(server).max_ttl,
                role: Role::Request,
                forget_if_missed: key.split_copy && effect.forget_if_missed(command),
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
                        alias: routed(i),
                    });
                }
            }
            if let (Some(windows), true) = (windows.as_mut(), effect.changes_value) {
                windows.clear(&mut plan, i, server, &key.route, None, routed(i));
            }
        }
        let first = self.send(call, &names, &plan, &flags_for, values).await?;
        let mut out: Vec<Option<Result<Slot>>> = vec![None; keys.len()];
        for (sent, result) in plan.iter().zip(first) {
            if sent.role == Role::Request {
                out[sent.key] = Some(result);
            }
        }

        // Second round: the keys whose server was unreachable, to their fallback.
        let mut retry = Vec::new();
        for (i, result) in out.iter().enumerate() {
            let Some(Err(error)) = result else { continue };
            if !error.is_connection_lost() {
                continue;
            }
            flags.clear();
            flags_for(i, &mut flags);
            let effect = Effect::of(command, &flags);
            if (effect.conditional || effect.hands_out_cas) && call.decider == Decider::Primary {
                continue; // fails as its server's failure: no stand-in decides it
            }
            let primary = primaries[i];
            let down = |server: usize| self.cluster().is_down(server);
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
                windows
                    .get_or_insert_with(|| OpenWindows::new(ledger, topology))
                    .known
                    .clear();
            }
            if stands_in && command == Command::Set && !effect.conditional {
                // The primary keeps the value this write replaces: it owes a delete, recorded
                // before the write is acknowledged so no read of it can come in between.
                ledger.owe(topology.server_name(primary), wire_name(&names.own[i]), Forget::Delete);
            }
            retry.push(Send {
                key: i,
                server: fallback.server,
                ttl_cap: topology.ttl_cap(fallback),
                role: Role::Request,
                forget_if_missed: false,
                alias: routed(i),
            });
            if let (Some(windows), true) = (windows.as_mut(), effect.changes_value) {
                let except = Some(fallback.server);
                windows.clear(&mut retry, i, primary, &keys[i].route, except, routed(i));
            }
        }
        if !retry.is_empty() {
            let second = self.send(call, &names, &retry, &flags_for, values).await?;
            // A delete on the fallback clears what the fallback holds, but the primary keeps
            // its old value: the caller must learn that the delete did not reach it (the
            // write-failure tracker replays invalidations; a plain delete replayed later could
            // remove another client's newer lock, so it is not owed).
            if command != Command::Delete {
                for (sent, result) in retry.iter().zip(second) {
                    if sent.role == Role::Request {
                        out[sent.key] = Some(result);
                    }
                }
            }
        }

        out.into_iter()
            .map(|slot| match slot.expect("every key was sent") {
                Ok(slot) => Ok(slot),
                Err(e) if call.tolerant && e.is_connection_lost() => Ok(Slot::Unavailable),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// One round: group `plan` by server, exchange, match replies. One result per plan entry;
    /// a server that could not be reached fails its entries with its error. Each server's
    /// group starts with the deletes it owes for the keys it is asked about (see `ledger`);
    /// an entry the server may have missed leaves such a delete owed.
    async fn send(
        &self,
        call: Call,
        names: &Names<'_>,
        plan: &[Send],
        flags_for: &impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Slot>>> {
        let Call { mode, command, .. } = call;
        let ledger = self.cluster().ledger();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (entry, sent) in plan.iter().enumerate() {
            match groups.iter_mut().find(|(server, _)| *server == sent.server) {
                Some((_, members)) => members.push(entry),
                None => groups.push((sent.server, vec![entry])),
            }
        }
        let mut out: Vec<Result<Slot>> = vec![Ok(Slot::Quiet); plan.len()];
        let mut debts = Vec::new();
        if !ledger.is_quiet() {
            for (server, members) in &mut groups {
                match self.pay_owed_flush(*server).await {
                    Ok(()) => {}
                    Err(e) => {
                        for &entry in members.iter() {
                            out[entry] = Err(e.clone());
                        }
                        members.clear();
                    }
                }
            }
            groups.retain(|(_, members)| !members.is_empty());
            for (server, members) in &groups {
                let name = self.cluster().server_name(*server);
                let keys = members
                    .iter()
                    .map(|&e| names.of(&plan[e]))
                    .map(|name| (&*name.token, name.binary));
                debts.push(ledger.debts_among(name, keys));
            }
        } else {
            debts.resize_with(groups.len(), Vec::new);
        }
        // Tags are unique to this client. A request that carries the caller's own opaque (raw
        // meta calls) keeps it; either way the reply must echo the request's token (checked as
        // replies are read, so a connection out of step is retired before anyone reuses it).
        let mut batches = Vec::with_capacity(groups.len());
        let mut own_opaque = vec![false; plan.len()];
        let mut key_added = vec![false; plan.len()];
        let mut flags = Vec::with_capacity(8);
        for ((server, members), owed) in groups.iter().zip(&debts) {
            let owed: &Vec<Debt> = owed;
            let base = self
                .tags
                .fetch_add((owed.len() + members.len()) as u64, Ordering::Relaxed);
            let mut bytes = Vec::with_capacity(members.len() * 48);
            let mut awaited = Vec::with_capacity(owed.len() + members.len());
            for (position, debt) in owed.iter().enumerate() {
                let tag = base + position as u64;
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
                Request::new(Command::Delete, &debt.key.token, &flags).encode(&mut bytes);
            }
            for (position, &entry) in members.iter().enumerate() {
                let sent = plan[entry];
                let request_command = if sent.role == Role::Clear {
                    Command::Delete
                } else {
                    command
                };
                flags.clear();
                if sent.role != Role::Clear {
                    flags_for(sent.key, &mut flags);
                }
                if let Some(cap) = sent.ttl_cap {
                    cap_ttls(request_command, &mut flags, cap);
                }
                if mode == BatchMode::Quiet {
                    flags.push(Flag::Quiet);
                }
                let own = flags.iter().find_map(|f| match f {
                    Flag::Opaque(token) => Some(token.clone()),
                    _ => None,
                });
                let (opaque, key) = match own {
                    Some(token) => {
                        // The caller's token may repeat across requests: match on the key too.
                        own_opaque[entry] = true;
                        if !flags.contains(&Flag::ReturnKey) {
                            flags.push(Flag::ReturnKey);
                            key_added[entry] = true;
                        }
                        let key = Bytes::copy_from_slice(&names.of(&sent).token);
                        (Opaque::Token(token), Some(key))
                    }
                    None => {
                        let tag = base + (owed.len() + position) as u64;
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
                let name = names.of(&sent);
                if name.binary {
                    flags.push(Flag::Base64Key);
                }
                let mut request = Request::new(request_command, &name.token, &flags);
                if let (Some(values), Role::Request | Role::MirrorCopy) = (values, sent.role) {
                    request = request.with_value(values[sent.key]);
                }
                request.encode(&mut bytes);
            }
            let expect = match mode {
                BatchMode::Quiet => {
                    encode_noop(&mut bytes);
                    Expect::UntilNoop(awaited)
                }
                BatchMode::Loud => Expect::Replies(awaited),
            };
            batches.push(Batch {
                server: *server,
                bytes,
                expect,
            });
        }
        let results = self.transport.exchange(batches).await;
        let mut failure = None;
        for (((server, members), owed), result) in groups.iter().zip(&debts).zip(results) {
            let name = self.cluster().server_name(*server);
            match result {
                Ok(Replies { meta, .. }) => {
                    // In a quiet batch a delete that reached its server sends no reply. One
                    // that was answered is settled either way: an error reply means the server
                    // cannot take it, and offering it again would not change that.
                    let mut paid = vec![true; owed.len()];
                    for Answer { request, mut reply } in meta {
                        // The reader placed the reply; `None` is an error reply of a quiet
                        // batch, which names no request and so fails the call (once the
                        // round's bookkeeping is done).
                        let Some(position) = request else {
                            failure.get_or_insert_with(|| check(name, reply).unwrap_err());
                            paid.iter_mut().for_each(|p| *p = false);
                            continue;
                        };
                        if position < owed.len() {
                            continue;
                        }
                        let entry = members[position - owed.len()];
                        if !own_opaque[entry] {
                            // The tag is ours, not the caller's business.
                            reply.flags.opaque = None;
                        }
                        if key_added[entry] {
                            reply.flags.key = None;
                            reply.flags.base64_key = false;
                        }
                        out[entry] = Ok(Slot::Reply(*server, reply));
                    }
                    for (debt, paid) in owed.iter().zip(paid) {
                        if paid {
                            ledger.paid(name, debt);
                        }
                    }
                }
                Err(e) => {
                    for &entry in members {
                        out[entry] = Err(e.clone());
                    }
                }
            }
        }
        for (sent, result) in plan.iter().zip(&out) {
            if sent.forget_if_missed && missed(sent.role, result) {
                flags.clear();
                if sent.role != Role::Clear {
                    flags_for(sent.key, &mut flags);
                }
                let name = self.cluster().server_name(sent.server);
                ledger.owe(name, wire_name(names.of(sent)), forget(command, &flags));
            }
        }
        failure.map_or(Ok(out), Err)
    }

    /// Before anything else is read from `server`, the `flush_all` it owes (it missed more
    /// writes than the ledger keeps).
    async fn pay_owed_flush(&self, server: usize) -> Result<()> {
        let ledger = self.cluster().ledger();
        let name = self.cluster().server_name(server);
        let Some(generation) = ledger.owed_flush(name) else {
            return Ok(());
        };
        let mut bytes = Vec::new();
        text::encode_flush_all(0, &mut bytes);
        let replies = self.exchange_one(server, bytes, Expect::Line).await?;
        match replies.text {
            Some(TextReply::Line(line)) if line == "OK" => {
                ledger.flushed(name, generation);
                Ok(())
            }
            _ => Err(Error::UnexpectedReply {
                server: name.to_string(),
                detail: "flush_all was not answered OK".into(),
            }),
        }
    }
}

/// Whether a server may have missed a write: it was unreachable, or (a mirror copy, a clear)
/// it answered without taking it.
fn missed(role: Role, result: &Result<Slot>) -> bool {
    match result {
        Err(e) => e.is_connection_lost(),
        Ok(Slot::Reply(_, reply)) => role != Role::Request && !matches!(reply.code, Code::Stored | Code::NotFound),
        Ok(_) => false,
    }
}
