//! Multi-key operations: one pipelined batch per server, all servers in parallel.

use super::{check, item_of, store_flags, unexpected, wire, Client, Item, TOO_LARGE};
use crate::cluster::Batch;
use crate::error::{Error, Result};
use crate::keys::WireKey;
use crate::protocol::request::{encode_noop, Command, Flag, Request, SetMode};
use crate::protocol::response::{Code, Response};
use crate::reply::{Expect, Replies};
use crate::transport::Transport;
use std::sync::atomic::Ordering;

/// How a multi-key batch asks for replies (see [`Client::batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchMode {
    Quiet,
    Loud,
}

/// What became of one key's request in a batch. (Slots live in one short-lived vector per
/// call; boxing the reply would cost an allocation per key.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// Quiet mode suppressed the nominal reply (a miss, a successful store or delete).
    Quiet,
    /// The server's reply, and which server sent it.
    Reply(usize, Response),
    /// The key's server could not be reached, and the caller tolerates that.
    Unavailable,
}

/// A store request of a batch.
pub struct StoreItem<'a> {
    pub key: &'a [u8],
    pub data: &'a [u8],
    pub client_flags: u32,
}

impl<T: Transport> Client<T> {
    /// Send one request per key, grouped by server (one write per server, all servers in
    /// parallel), each tagged with its position as opaque.
    ///
    /// `Quiet`: requests carry `q` and the group ends with `mn`; the result is the reply the
    /// server sent, or `None` where quiet mode suppressed the nominal one. memcached's error
    /// replies carry no opaque, so one cannot be pinned on its request: any error reply fails
    /// the call (after the whole batch is read, so the connection stays in step).
    /// `Loud`: every request gets its reply, matched by position; use it when individual
    /// errors must be attributed (a too-large value in `set_many`).
    ///
    /// With `tolerant`, a server that cannot be reached (down, refused, timed out) marks its
    /// keys `Unavailable` instead of failing the call.
    async fn batch(
        &self,
        mode: BatchMode,
        command: Command,
        keys: &[&[u8]],
        flags_for: impl Fn(usize, &mut Vec<Flag>),
        values: Option<&[&[u8]]>,
        tolerant: bool,
    ) -> Result<Vec<Slot>> {
        let wire_keys: Vec<WireKey<'_>> = keys.iter().map(|k| wire(k)).collect::<Result<_>>()?;
        let mut by_server: Vec<Vec<usize>> = vec![Vec::new(); self.cluster().server_count()];
        for (i, key) in keys.iter().enumerate() {
            by_server[self.cluster().server_for(key)].push(i);
        }
        let groups: Vec<(usize, Vec<usize>)> = by_server
            .into_iter()
            .enumerate()
            .filter(|(_, g)| !g.is_empty())
            .collect();
        let batches = groups
            .iter()
            .map(|(server, members)| Batch {
                server: *server,
                expect: match mode {
                    BatchMode::Quiet => Expect::UntilNoop,
                    BatchMode::Loud => Expect::Replies(members.len()),
                },
                bytes: {
                    let mut buf = Vec::with_capacity(members.len() * 48);
                    let mut flags = Vec::with_capacity(8);
                    for (position, &i) in members.iter().enumerate() {
                        flags.clear();
                        flags_for(i, &mut flags);
                        if mode == BatchMode::Quiet {
                            flags.push(Flag::Quiet);
                        }
                        flags.push(Flag::OpaqueNumber(position as u64));
                        if wire_keys[i].binary {
                            flags.push(Flag::Base64Key);
                        }
                        let mut request = Request::new(command, &wire_keys[i].token, &flags);
                        if let Some(values) = values {
                            request = request.with_value(values[i]);
                        }
                        request.encode(&mut buf);
                    }
                    if mode == BatchMode::Quiet {
                        encode_noop(&mut buf);
                    }
                    buf
                },
            })
            .collect();
        let results = self.transport.exchange(batches).await;
        let mut out: Vec<Slot> = vec![Slot::Quiet; keys.len()];
        for ((server, members), result) in groups.iter().zip(results) {
            let meta = match result {
                Ok(Replies { meta, .. }) => meta,
                Err(e) if tolerant && e.is_connection_lost() => {
                    for &i in members {
                        out[i] = Slot::Unavailable;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let name = self.cluster().server_name(*server);
            let mut next = 0;
            for reply in meta {
                let opaque = reply
                    .flags
                    .opaque
                    .as_deref()
                    .and_then(|o| std::str::from_utf8(o).ok())
                    .and_then(|o| o.parse::<usize>().ok());
                // Replies come in request order; the opaque says which request each one is.
                let position = match (mode, opaque) {
                    (BatchMode::Quiet, None) if reply.code.is_error() => return Err(check(name, reply).unwrap_err()),
                    (BatchMode::Quiet, Some(p)) if p >= next && p < members.len() => p,
                    (BatchMode::Loud, Some(p)) if p == next => p,
                    (BatchMode::Loud, None) if reply.code.is_error() => next,
                    _ => {
                        return Err(Error::UnexpectedReply {
                            server: name.to_string(),
                            detail: format!("reply {} out of order or without its opaque", reply.code.as_str()),
                        })
                    }
                };
                next = position + 1;
                out[members[position]] = Slot::Reply(*server, reply);
            }
        }
        Ok(out)
    }

    /// Fetch many keys; `None` for misses, aligned with `keys`.
    pub async fn get_many(&self, keys: &[&[u8]], with_cas: bool, tolerant: bool) -> Result<Vec<Option<Item>>> {
        let flags = |_, flags: &mut Vec<Flag>| {
            flags.extend_from_slice(&[Flag::ReturnValue, Flag::ReturnClientFlags]);
            if with_cas {
                flags.push(Flag::ReturnCas);
            }
        };
        let replies = self
            .batch(BatchMode::Quiet, Command::Get, keys, flags, None, tolerant)
            .await?;
        replies
            .into_iter()
            .map(|slot| match slot {
                Slot::Quiet | Slot::Unavailable => Ok(None),
                Slot::Reply(server, reply) => {
                    let name = self.cluster().server_name(server);
                    let reply = check(name, reply)?;
                    match reply.code {
                        Code::Value => Ok(Some(item_of(reply))),
                        _ => Err(unexpected(name, "mg", &reply)),
                    }
                }
            })
            .collect()
    }

    /// Store many items; returns whether each was stored, aligned with `items`. Items over the
    /// server's size limit fail the call with `ValueTooLarge` after every other item is stored
    /// and the oversized keys' old values are deleted.
    pub async fn set_many(&self, items: &[StoreItem<'_>], ttl: i64, tolerant: bool) -> Result<Vec<bool>> {
        let known_limit = |item: &StoreItem<'_>| {
            let limit = self.item_size_limits[self.cluster().server_for(item.key)].load(Ordering::Relaxed);
            limit != 0 && item.data.len() > limit
        };
        let (mut too_large, sendable): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| known_limit(&items[i]));
        let keys: Vec<&[u8]> = sendable.iter().map(|&i| items[i].key).collect();
        let values: Vec<&[u8]> = sendable.iter().map(|&i| items[i].data).collect();
        let flags = |n: usize, flags: &mut Vec<Flag>| {
            flags.extend(store_flags(SetMode::Set, items[sendable[n]].client_flags, ttl, None))
        };
        let replies = self
            .batch(BatchMode::Loud, Command::Set, &keys, flags, Some(&values), tolerant)
            .await?;
        let mut stored = vec![false; items.len()];
        for (slot, &i) in replies.into_iter().zip(&sendable) {
            let Slot::Reply(server, reply) = slot else { continue };
            if reply.code == Code::ServerError && reply.message.as_deref() == Some(TOO_LARGE) {
                too_large.push(i);
                continue;
            }
            let name = self.cluster().server_name(server);
            stored[i] = match check(name, reply)?.code {
                Code::Stored => true,
                Code::NotStored | Code::Exists | Code::NotFound => false,
                _ => {
                    return Err(Error::UnexpectedReply {
                        server: name.to_string(),
                        detail: "bad reply to ms".into(),
                    })
                }
            };
        }
        let mut first_error = None;
        for i in too_large {
            let item = &items[i];
            let error = self
                .too_large(
                    self.cluster().server_for(item.key),
                    SetMode::Set,
                    item.key,
                    item.data.len(),
                    None,
                )
                .await;
            first_error.get_or_insert(error);
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(stored),
        }
    }

    /// Delete many keys; returns how many existed.
    pub async fn delete_many(&self, keys: &[&[u8]], tolerant: bool) -> Result<usize> {
        let replies = self
            .batch(BatchMode::Quiet, Command::Delete, keys, |_, _| {}, None, tolerant)
            .await?;
        let mut deleted = 0;
        for slot in replies {
            match slot {
                Slot::Quiet => deleted += 1,
                Slot::Unavailable => {}
                Slot::Reply(server, reply) => {
                    let name = self.cluster().server_name(server);
                    match check(name, reply)?.code {
                        Code::NotFound => {}
                        _ => {
                            return Err(Error::UnexpectedReply {
                                server: name.to_string(),
                                detail: "bad reply to md".into(),
                            })
                        }
                    }
                }
            }
        }
        Ok(deleted)
    }
}
