//! One key's request that involves its own server only: the common case of every single-key
//! call, sent without a round's plan, grouping and per-entry bookkeeping (which cost a dozen
//! allocations for a batch of one). It applies when nothing else a round does applies: the
//! ledger records nothing (no debts to pay, no stand-in windows to clear), a write has no
//! mirror to copy to, the key is no split copy owing deletes, its pool caps no TTLs and the
//! request carries no opaque of the caller's. Should its server be unreachable, the fallback
//! round is the one every dispatch runs.

use super::plan::Planner;
use super::{settled, Names};
use crate::client::effect::{BatchMode, Call, Decider, Effect};
use crate::client::key::KeyRef;
use crate::client::{wire, Client, Slot};
use crate::cluster::Batch;
use crate::error::{Error, Result};
use crate::protocol::reply::{Answer, Awaited, Expect, Opaque, Replies};
use crate::protocol::request::{Flag, Request};
use crate::transport::Transport;
use std::sync::atomic::Ordering;

impl<T: Transport> Client<T> {
    /// [`Client::dispatch`] of one key, whose flags are `flags` and whose value (a store's) is
    /// `value`: what became of its request.
    pub(in crate::client) async fn dispatch_one(
        &self,
        call: Call,
        key: KeyRef<'_>,
        flags: &[Flag],
        value: Option<&[u8]>,
    ) -> Result<Slot> {
        let flags_for = |_: usize, f: &mut Vec<Flag>| f.extend_from_slice(flags);
        let values = value.map(|v| [v]);
        let values = values.as_ref().map(|v| &v[..]);
        let keys = std::slice::from_ref(&key);
        let Some(server) = self.lone_server(call, key, flags) else {
            let mut slots = self.dispatch(call, keys, flags_for, values).await?;
            return Ok(slots.swap_remove(0));
        };
        let error = match self.send_lone(call, key, server, flags, value).await {
            Err(error) if error.is_connection_lost() => error,
            result => return settled(call, result),
        };
        // Unreachable: its fallback, as in any dispatch.
        let names = Names::new(keys)?;
        let mut planner = Planner::new(call, keys, &names, self.cluster(), &flags_for);
        let mut out = [Some(Err(error))];
        self.fall_back(call, &names, &mut planner, &mut out, &[server], values)
            .await?;
        let [result] = out;
        settled(call, result.expect("the key was sent"))
    }

    /// The key's server, when its request may go there alone (see the module docs).
    pub(super) fn lone_server(&self, call: Call, key: KeyRef<'_>, flags: &[Flag]) -> Option<usize> {
        let cluster = self.cluster();
        if call.mode != BatchMode::Loud || !cluster.ledger().is_quiet() {
            return None;
        }
        if flags.iter().any(|f| matches!(f, Flag::Opaque(_))) {
            return None;
        }
        let topology = cluster.topology();
        let server = key.primary(topology);
        if topology.pool_of_server(server).max_ttl.is_some() {
            return None;
        }
        let effect = Effect::of(call.command, flags);
        if key.split_copy && effect.forget_if_missed(call.command) {
            return None;
        }
        let mirrored = effect.mutates && call.decider == Decider::Primary;
        if mirrored && topology.mirror_for(server, &key.route).is_some() {
            return None;
        }
        Some(server)
    }

    /// The request alone on the wire, tagged like a round's, and its reply.
    async fn send_lone(
        &self,
        call: Call,
        key: KeyRef<'_>,
        server: usize,
        flags: &[Flag],
        value: Option<&[u8]>,
    ) -> Result<Slot> {
        let name = wire(key.stored)?;
        let tag = self.tags.fetch_add(1, Ordering::Relaxed);
        let mut tagged = Vec::with_capacity(flags.len() + 2);
        tagged.extend_from_slice(flags);
        tagged.push(Flag::OpaqueNumber(tag));
        if name.binary {
            tagged.push(Flag::Base64Key);
        }
        let awaited = Awaited {
            command: call.command,
            value: flags.contains(&Flag::ReturnValue),
            opaque: Opaque::Number(tag),
            key: None,
        };
        // Room for the whole request: the line (flags, the tag) and the data block.
        let size = name.token.len() + value.map_or(0, <[u8]>::len) + 16 * tagged.len() + 32;
        let mut bytes = Vec::with_capacity(size);
        let mut request = Request::new(call.command, &name.token, &tagged);
        if let Some(value) = value {
            request = request.with_value(value);
        }
        request.encode(&mut bytes);
        let batch = Batch {
            server,
            bytes,
            expect: Expect::Replies(vec![awaited]),
        };
        let Replies { mut meta, .. } = self.transport.exchange_one(batch).await?;
        match meta.pop() {
            Some(Answer { mut reply, .. }) => {
                reply.flags.opaque = None; // the tag is ours, not the caller's business
                Ok(Slot::Reply(server, reply))
            }
            None => Err(Error::UnexpectedReply {
                server: self.cluster().server_name(server).to_string(),
                detail: "no reply to the request".into(),
            }),
        }
    }
}
