//! A few keys' requests that all go to one server alone: a multi-key read's common case on a
//! small fleet (a named cache's entry and its tag counters), sent as one batch without a
//! round's plan, grouping and per-entry bookkeeping. It applies when every key passes the
//! single-key fast path's conditions (`lone`: nothing in the ledger, no mirror copy, no split
//! copy owing deletes, no TTL cap, no opaque of the caller's) and all of them land on one
//! server. Should that server be unreachable, the fallback round is the one every dispatch
//! runs.

use super::plan::Planner;
use super::{settled, Names};
use crate::client::effect::Call;
use crate::client::key::KeyRef;
use crate::client::{check, wire, Client, Slot};
use crate::cluster::Batch;
use crate::error::Result;
use crate::protocol::reply::{Answer, Awaited, Expect, Opaque, Replies};
use crate::protocol::request::{Flag, Request};
use crate::transport::Transport;
use std::sync::atomic::Ordering;

/// Beyond this many keys a round's grouping is worth its cost (and `get_many` batches are
/// rarely all on one server).
const MAX_KEYS: usize = 8;

impl<T: Transport> Client<T> {
    /// [`Client::dispatch`] of `keys` when they qualify (see the module docs); `None` when
    /// they do not, and the caller makes a round.
    pub(super) async fn dispatch_few(
        &self,
        call: Call,
        keys: &[KeyRef<'_>],
        flags_for: &impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
    ) -> Option<Result<Vec<Slot>>> {
        let server = self.few_server(call, keys, flags_for)?;
        let first = match self.send_few(call, keys, server, flags_for, values).await {
            Ok(first) => first,
            Err(error) => return Some(Err(error)),
        };
        if !first.iter().any(|r| matches!(r, Err(e) if e.is_connection_lost())) {
            return Some(first.into_iter().map(|result| settled(call, result)).collect());
        }
        // Unreachable: their fallback, as in any dispatch.
        Some(self.few_fall_back(call, keys, server, flags_for, values, first).await)
    }

    async fn few_fall_back(
        &self,
        call: Call,
        keys: &[KeyRef<'_>],
        server: usize,
        flags_for: &impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
        first: Vec<Result<Slot>>,
    ) -> Result<Vec<Slot>> {
        let names = Names::new(keys)?;
        let mut planner = Planner::new(call, keys, &names, self.cluster(), flags_for);
        let mut out: Vec<Option<Result<Slot>>> = first.into_iter().map(Some).collect();
        let primaries = vec![server; keys.len()];
        self.fall_back(call, &names, &mut planner, &mut out, &primaries, values)
            .await?;
        out.into_iter()
            .map(|slot| settled(call, slot.expect("every key was sent")))
            .collect()
    }

    /// The one server all of `keys` may be sent to alone, if there is one.
    fn few_server(&self, call: Call, keys: &[KeyRef<'_>], flags_for: &impl Fn(usize, &mut Vec<Flag>)) -> Option<usize> {
        if keys.len() < 2 || keys.len() > MAX_KEYS {
            return None;
        }
        let mut flags = Vec::with_capacity(8);
        let mut server = None;
        for (i, key) in keys.iter().enumerate() {
            flags.clear();
            flags_for(i, &mut flags);
            let own = self.lone_server(call, *key, &flags)?;
            if server.is_some_and(|first| first != own) {
                return None;
            }
            server = Some(own);
        }
        server
    }

    /// The requests as one batch to `server`, tagged like a round's; per key, its reply (or
    /// the server's error). An error reply that names no request fails the call, as in a round.
    async fn send_few(
        &self,
        call: Call,
        keys: &[KeyRef<'_>],
        server: usize,
        flags_for: &impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Slot>>> {
        let base = self.tags.fetch_add(keys.len() as u64, Ordering::Relaxed);
        let mut bytes = Vec::with_capacity(keys.len() * 96 + values.map_or(0, |v| v.iter().map(|v| v.len()).sum()));
        let mut awaited = Vec::with_capacity(keys.len());
        let mut flags = Vec::with_capacity(8);
        for (i, key) in keys.iter().enumerate() {
            let name = wire(key.stored)?;
            let tag = base + i as u64;
            flags.clear();
            flags_for(i, &mut flags);
            flags.push(Flag::OpaqueNumber(tag));
            if name.binary {
                flags.push(Flag::Base64Key);
            }
            awaited.push(Awaited {
                command: call.command,
                value: flags.contains(&Flag::ReturnValue),
                opaque: Opaque::Number(tag),
                key: None,
            });
            let mut request = Request::new(call.command, &name.token, &flags);
            if let Some(values) = values {
                request = request.with_value(values[i]);
            }
            request.encode(&mut bytes);
        }
        let batch = Batch {
            server,
            bytes,
            expect: Expect::Replies(awaited),
        };
        let mut out: Vec<Result<Slot>> = std::iter::repeat_with(|| Ok(Slot::Quiet)).take(keys.len()).collect();
        let meta = match self.transport.exchange_one(batch).await {
            Ok(Replies { meta, .. }) => meta,
            Err(error) => {
                out.iter_mut().for_each(|slot| *slot = Err(error.clone()));
                return Ok(out);
            }
        };
        for Answer { request, mut reply } in meta {
            let Some(position) = request else {
                return Err(check(self.cluster().server_name(server), reply).unwrap_err());
            };
            reply.flags.opaque = None; // the tag is ours, not the caller's business
            out[position] = Ok(Slot::Reply(server, reply));
        }
        Ok(out)
    }
}
