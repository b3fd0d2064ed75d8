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
//!
//! The files split these steps by what they decide, so that each rule has one place and the
//! failover rules can be read without the wire format (and the other way round):
//! - `plan`: which requests a round sends to which servers (steps 1 and 3): a key's own
//!   server, the mirror's copy, clears of stand-ins, a fallback for an unreachable server and
//!   the ledger entries taking it over calls for. Decisions only, no I/O.
//! - `windows`: the stand-ins that may still hold copies of a primary's keys (the ledger's open
//!   windows) and the clears a write owes them.
//! - `encode`: the bytes of one server's batch: the deletes it owes, then its requests with
//!   their tags, TTL caps and quiet flags, and which replies to await.
//! - `round`: one round on the wire (step 2): group by server, pay what servers owe, exchange,
//!   match each reply to its request, record what a server may have missed.
//! - `lone`: one key's request when its own server alone is involved (most single-key calls),
//!   without the plan and grouping of a round; the fallback round is shared.
//! - `few`: the same for a few keys that all go to one server alone (a named cache's entry and
//!   its tag counters).
//! - this module: what a plan is made of, and the two rounds put together into one result per
//!   key (step 4).

mod encode;
mod few;
mod lone;
mod plan;
mod round;
mod windows;

use super::effect::Call;
use super::key::KeyRef;
use super::{wire, Client, Slot};
use crate::error::Result;
use crate::protocol::keys::{self, WireKey};
use crate::protocol::request::{Command, Flag};
use crate::route::ledger::WireName;
use crate::transport::Transport;
use bytes::Bytes;
use plan::Planner;

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

impl<'k> Names<'k> {
    fn new(keys: &[KeyRef<'k>]) -> Result<Self> {
        let own = keys.iter().map(|k| wire(k.stored)).collect::<Result<_>>()?;
        let aliases = if keys.iter().any(|k| k.route.bytes != k.stored) {
            keys.iter().map(alias_of).collect()
        } else {
            Vec::new()
        };
        Ok(Names { own, aliases })
    }

    /// Whether key `i` has an alias (it was given with a routing key).
    fn routed(&self, i: usize) -> bool {
        self.aliases.get(i).is_some_and(Option::is_some)
    }

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

/// A key's wire name as the ledger keeps it (owned: a debt outlives the call).
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
        if let Some(result) = self.dispatch_few(call, keys, &flags_for, values).await {
            return result;
        }
        let names = Names::new(keys)?;
        let mut planner = Planner::new(call, keys, &names, self.cluster(), &flags_for);
        let (plan, primaries) = planner.first_round();
        let first = self.send(call, &names, &plan, &flags_for, values).await?;
        if is_one_round(&plan, &first) {
            // Each key's own request and nothing else, and no server to fall back from: the
            // round's results are the keys' (a multi-key read's common case; its replies are
            // large, and every move of them costs).
            return first.into_iter().map(|result| settled(call, result)).collect();
        }
        let mut out: Vec<Option<Result<Slot>>> = std::iter::repeat_with(|| None).take(keys.len()).collect();
        for (sent, result) in plan.iter().zip(first) {
            if sent.role == Role::Request {
                out[sent.key] = Some(result);
            }
        }
        self.fall_back(call, &names, &mut planner, &mut out, &primaries, values)
            .await?;
        out.into_iter()
            .map(|slot| settled(call, slot.expect("every key was sent")))
            .collect()
    }

    /// The second round: the keys whose server was unreachable in the first (their results in
    /// `out`), to their fallback.
    async fn fall_back<F: Fn(usize, &mut Vec<Flag>)>(
        &self,
        call: Call,
        names: &Names<'_>,
        planner: &mut Planner<'_, '_, F>,
        out: &mut [Option<Result<Slot>>],
        primaries: &[usize],
        values: Option<&[&[u8]]>,
    ) -> Result<()> {
        let retry = planner.fallbacks(out, primaries);
        if retry.is_empty() {
            return Ok(());
        }
        let second = self.send(call, names, &retry, planner.flags_for(), values).await?;
        // A delete on the fallback clears what the fallback holds, but the primary keeps its
        // old value: the caller must learn that the delete did not reach it (the write-failure
        // tracker replays invalidations; a plain delete replayed later could remove another
        // client's newer lock, so it is not owed).
        if call.command != Command::Delete {
            for (sent, result) in retry.iter().zip(second) {
                if sent.role == Role::Request {
                    out[sent.key] = Some(result);
                }
            }
        }
        Ok(())
    }
}

/// Whether a first round's `plan` sent each key's own request in key order, and nothing else,
/// and no result calls for a fallback: then its results are the dispatch's.
fn is_one_round(plan: &[Send], results: &[Result<Slot>]) -> bool {
    plan.iter()
        .enumerate()
        .all(|(i, sent)| sent.key == i && sent.role == Role::Request)
        && !results
            .iter()
            .any(|result| matches!(result, Err(e) if e.is_connection_lost()))
}

/// A key's final result: a lost connection is an unavailable key for a tolerant call.
fn settled(call: Call, result: Result<Slot>) -> Result<Slot> {
    match result {
        Err(e) if call.tolerant && e.is_connection_lost() => Ok(Slot::Unavailable),
        other => other,
    }
}
