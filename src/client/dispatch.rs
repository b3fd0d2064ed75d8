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

use super::hot::SplitCopy;
use super::{check, wire, Client, Slot};
use crate::cluster::Batch;
use crate::error::Result;
use crate::keys::WireKey;
use crate::protocol::request::{encode_noop, Command, Flag, Request};
use crate::reply::{Answer, Awaited, Expect, Opaque, Replies};
use crate::ring::PlacementKey;
use crate::topology::{clamp_ttl, Topology};
use crate::transport::Transport;
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

/// A key as the operations see it: the bytes stored under, and what placement hashes (the
/// routing key when one was given, else the key itself).
#[derive(Debug, Clone, Copy)]
pub struct KeyRef<'a> {
    pub stored: &'a [u8],
    pub route: PlacementKey<'a>,
    /// A server chosen for the key instead of its placement (a split key's copy).
    pub pinned: Option<usize>,
}

impl<'a> KeyRef<'a> {
    /// A copy of this (split) key: stored as `copy.name`, on `copy.server` if it has one (else
    /// placed by its own bytes), typed like this key.
    pub fn copy<'b>(&self, copy: &'b SplitCopy) -> KeyRef<'b> {
        KeyRef {
            stored: &copy.name,
            route: PlacementKey {
                bytes: &copy.name,
                is_bytes: self.route.is_bytes,
            },
            pinned: copy.server,
        }
    }

    /// The server the key lives on.
    pub fn primary(&self, topology: &Topology) -> usize {
        self.pinned
            .unwrap_or_else(|| topology.primary(self.stored, &self.route))
    }

    /// A key placed by its own bytes.
    pub fn plain(key: &'a [u8]) -> Self {
        KeyRef {
            stored: key,
            route: PlacementKey {
                bytes: key,
                is_bytes: false,
            },
            pinned: None,
        }
    }
}

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

/// One request to send: which key (by index) to which server, with which TTL cap.
#[derive(Debug, Clone, Copy)]
struct Send {
    key: usize,
    server: usize,
    ttl_cap: Option<i64>,
    /// A mirror copy: its outcome only feeds the server's health.
    copy: bool,
}

/// Whether a request changes data (and so must reach the mirror too).
fn mutates(command: Command, flags: &[Flag]) -> bool {
    match command {
        Command::Set | Command::Delete | Command::Arithmetic => true,
        Command::Get => flags.iter().any(|f| matches!(f, Flag::Ttl(_))),
        Command::Noop | Command::Debug => false,
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

impl<T: Transport> Client<T> {
    /// Send one request per key (see the module docs). Returns, per key, what became of it.
    pub(super) async fn dispatch(
        &self,
        mode: BatchMode,
        command: Command,
        keys: &[KeyRef<'_>],
        flags_for: impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
        tolerant: bool,
    ) -> Result<Vec<Slot>> {
        let wire_keys: Vec<WireKey<'_>> = keys.iter().map(|k| wire(k.stored)).collect::<Result<_>>()?;
        let topology = self.cluster().topology();
        let mut plan = Vec::with_capacity(keys.len());
        // Placement hashes the key (MD5 for ketama): done once, kept for the fallback round.
        let mut primaries = Vec::with_capacity(keys.len());
        let mut flags = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let server = key.primary(topology);
            primaries.push(server);
            plan.push(Send {
                key: i,
                server,
                ttl_cap: topology.pool_of_server(server).max_ttl,
                copy: false,
            });
            flags.clear();
            flags_for(i, &mut flags);
            if mutates(command, &flags) {
                if let Some(mirror) = topology.mirror_for(server, &key.route) {
                    plan.push(Send {
                        key: i,
                        server: mirror,
                        ttl_cap: topology.pool_of_server(mirror).max_ttl,
                        copy: true,
                    });
                }
            }
        }
        let first = self.send(mode, command, &wire_keys, &plan, &flags_for, values).await?;
        let mut out: Vec<Option<Result<Slot>>> = vec![None; keys.len()];
        for (sent, result) in plan.iter().zip(first) {
            if !sent.copy {
                out[sent.key] = Some(result);
            }
        }

        // Second round: the keys whose server was unreachable, to their fallback.
        let mut retry = Vec::new();
        for (i, result) in out.iter().enumerate() {
            if let Some(Err(error)) = result {
                if !error.is_connection_lost() {
                    continue;
                }
                flags.clear();
                flags_for(i, &mut flags);
                let primary = primaries[i];
                let is_read = !mutates(command, &flags);
                let down = |server: usize| self.cluster().is_down(server);
                if let Some((server, gutter_cap)) = topology.fallback(primary, &keys[i].route, is_read, &down) {
                    let pool_cap = topology.pool_of_server(server).max_ttl;
                    let ttl_cap = match (pool_cap, gutter_cap) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    retry.push(Send {
                        key: i,
                        server,
                        ttl_cap,
                        copy: false,
                    });
                }
            }
        }
        if !retry.is_empty() {
            let second = self.send(mode, command, &wire_keys, &retry, &flags_for, values).await?;
            // A delete on the fallback clears what the fallback holds, but the primary keeps
            // its old value for when it returns: the caller must learn that the delete did not
            // reach it (the write-failure tracker replays invalidations until it does).
            if command != Command::Delete {
                for (sent, result) in retry.iter().zip(second) {
                    out[sent.key] = Some(result);
                }
            }
        }

        out.into_iter()
            .map(|slot| match slot.expect("every key was sent") {
                Ok(slot) => Ok(slot),
                Err(e) if tolerant && e.is_connection_lost() => Ok(Slot::Unavailable),
                Err(e) => Err(e),
            })
            .collect()
    }

    /// One round: group `plan` by server, exchange, match replies. One result per plan entry;
    /// a server that could not be reached fails its entries with its error.
    async fn send(
        &self,
        mode: BatchMode,
        command: Command,
        wire_keys: &[WireKey<'_>],
        plan: &[Send],
        flags_for: &impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Slot>>> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (entry, sent) in plan.iter().enumerate() {
            match groups.iter_mut().find(|(server, _)| *server == sent.server) {
                Some((_, members)) => members.push(entry),
                None => groups.push((sent.server, vec![entry])),
            }
        }
        // Tags are unique to this client. A request that carries the caller's own opaque (raw
        // meta calls) keeps it; either way the reply must echo the request's token (checked as
        // replies are read, so a connection out of step is retired before anyone reuses it).
        let mut batches = Vec::with_capacity(groups.len());
        let mut own_opaque = vec![false; plan.len()];
        let mut key_added = vec![false; plan.len()];
        let mut flags = Vec::with_capacity(8);
        for (server, members) in &groups {
            let base = self.tags.fetch_add(members.len() as u64, Ordering::Relaxed);
            let mut bytes = Vec::with_capacity(members.len() * 48);
            let mut awaited = Vec::with_capacity(members.len());
            for (position, &entry) in members.iter().enumerate() {
                let sent = plan[entry];
                flags.clear();
                flags_for(sent.key, &mut flags);
                if let Some(cap) = sent.ttl_cap {
                    cap_ttls(command, &mut flags, cap);
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
                        let key = Bytes::copy_from_slice(&wire_keys[sent.key].token);
                        (Opaque::Token(token), Some(key))
                    }
                    None => {
                        let tag = base + position as u64;
                        flags.push(Flag::OpaqueNumber(tag));
                        (Opaque::Number(tag), None)
                    }
                };
                awaited.push(Awaited {
                    command,
                    value: flags.contains(&Flag::ReturnValue),
                    opaque,
                    key,
                });
                if wire_keys[sent.key].binary {
                    flags.push(Flag::Base64Key);
                }
                let mut request = Request::new(command, &wire_keys[sent.key].token, &flags);
                if let Some(values) = values {
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
        let mut out: Vec<Result<Slot>> = vec![Ok(Slot::Quiet); plan.len()];
        for ((server, members), result) in groups.iter().zip(results) {
            match result {
                Ok(Replies { meta, .. }) => {
                    for Answer { request, mut reply } in meta {
                        // The reader placed the reply; `None` is an error reply of a quiet
                        // batch, which names no request and so fails the call.
                        let Some(position) = request else {
                            return Err(check(self.cluster().server_name(*server), reply).unwrap_err());
                        };
                        let entry = members[position];
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
                }
                Err(e) => {
                    for &entry in members {
                        out[entry] = Err(e.clone());
                    }
                }
            }
        }
        Ok(out)
    }
}
