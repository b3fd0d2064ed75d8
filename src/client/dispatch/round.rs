//! One round on the wire (step 2 of the module docs of `dispatch`): group the plan by server,
//! settle what each server owes first, exchange every batch at once, hand each reply to its
//! plan entry, and leave a delete owed wherever a server may have missed a write.

use super::encode::Encoder;
use super::{wire_name, Names, Role, Send};
use crate::client::effect::{forget, Call};
use crate::client::{check, Client, Slot};
use crate::error::{Error, Result};
use crate::protocol::reply::{Answer, Expect, Replies};
use crate::protocol::request::Flag;
use crate::protocol::response::Code;
use crate::protocol::text::{self, TextReply};
use crate::route::ledger::Debt;
use crate::transport::Transport;
use std::sync::atomic::Ordering;

/// Each server of a round, with the plan entries sent to it (in plan order).
type Groups = Vec<(usize, Vec<usize>)>;

fn group_by_server(plan: &[Send]) -> Groups {
    let mut groups: Groups = Vec::new();
    for (entry, sent) in plan.iter().enumerate() {
        match groups.iter_mut().find(|(server, _)| *server == sent.server) {
            Some((_, members)) => members.push(entry),
            None => groups.push((sent.server, vec![entry])),
        }
    }
    groups
}

impl<T: Transport> Client<T> {
    /// One round: group `plan` by server, exchange, match replies. One result per plan entry;
    /// a server that could not be reached fails its entries with its error. Each server's
    /// group starts with the deletes it owes for the keys it is asked about (see `ledger`);
    /// an entry the server may have missed leaves such a delete owed.
    pub(super) async fn send<F: Fn(usize, &mut Vec<Flag>)>(
        &self,
        call: Call,
        names: &Names<'_>,
        plan: &[Send],
        flags_for: &F,
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Result<Slot>>> {
        let ledger = self.cluster().ledger();
        let mut groups = group_by_server(plan);
        let mut out: Vec<Result<Slot>> = std::iter::repeat_with(|| Ok(Slot::Quiet)).take(plan.len()).collect();
        let debts = self.debts_of(&mut groups, &mut out, names, plan).await;
        let mut encoder = Encoder::new(call, names, plan, flags_for, values);
        let mut batches = Vec::with_capacity(groups.len());
        for ((server, members), owed) in groups.iter().zip(&debts) {
            let base = self
                .tags
                .fetch_add((owed.len() + members.len()) as u64, Ordering::Relaxed);
            batches.push(encoder.batch(*server, members, owed, base));
        }
        let results = self.transport.exchange(batches).await;
        let failure = self.settle(&groups, &debts, results, &encoder, &mut out);
        for (sent, result) in plan.iter().zip(&out) {
            if sent.forget_if_missed && missed(sent.role, result) {
                let forget = forget(call.command, encoder.caller_flags(sent));
                ledger.owe(
                    self.cluster().server_name(sent.server),
                    wire_name(names.of(sent)),
                    forget,
                );
            }
        }
        failure.map_or(Ok(out), Err)
    }

    /// The deletes each server of `groups` owes for the keys it is asked about, after the
    /// `flush_all` it may owe; a server that cannot be paid fails its entries in `out` and
    /// leaves the round.
    async fn debts_of(
        &self,
        groups: &mut Groups,
        out: &mut [Result<Slot>],
        names: &Names<'_>,
        plan: &[Send],
    ) -> Vec<Vec<Debt>> {
        let ledger = self.cluster().ledger();
        let mut debts = Vec::new();
        if ledger.is_quiet() {
            debts.resize_with(groups.len(), Vec::new);
            return debts;
        }
        for (server, members) in groups.iter_mut() {
            if let Err(e) = self.pay_owed_flush(*server).await {
                for &entry in members.iter() {
                    out[entry] = Err(e.clone());
                }
                members.clear();
            }
        }
        groups.retain(|(_, members)| !members.is_empty());
        for (server, members) in groups.iter() {
            let name = self.cluster().server_name(*server);
            let keys = members
                .iter()
                .map(|&e| names.of(&plan[e]))
                .map(|name| (&*name.token, name.binary));
            debts.push(ledger.debts_among(name, keys));
        }
        debts
    }

    /// Hand each reply to its plan entry in `out` (a server that failed fails its entries) and
    /// mark the debts that were paid. Returns the error of an error reply that names no
    /// request, which fails the call.
    fn settle<F>(
        &self,
        groups: &Groups,
        debts: &[Vec<Debt>],
        results: Vec<Result<Replies>>,
        encoder: &Encoder<'_, F>,
        out: &mut [Result<Slot>],
    ) -> Option<Error> {
        let ledger = self.cluster().ledger();
        let mut failure = None;
        for (((server, members), owed), result) in groups.iter().zip(debts).zip(results) {
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
                        if !encoder.own_opaque[entry] {
                            // The tag is ours, not the caller's business.
                            reply.flags.opaque = None;
                        }
                        if encoder.key_added[entry] {
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
        failure
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
