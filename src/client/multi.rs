//! Multi-key operations: one pipelined batch per server, all servers in parallel (see
//! [`super::dispatch`]).

use super::dispatch::{BatchMode, KeyRef};
use super::{check, item_of, store_flags, unexpected, Client, Item, Slot, TOO_LARGE};
use crate::error::{Error, Result};
use crate::protocol::request::{Command, Flag, SetMode};
use crate::protocol::response::Code;
use crate::transport::Transport;
use std::sync::atomic::Ordering;

/// A store request of a batch.
pub struct StoreItem<'a> {
    pub key: KeyRef<'a>,
    pub data: &'a [u8],
    pub client_flags: u32,
}

impl<T: Transport> Client<T> {
    /// Fetch many keys; `None` for misses, aligned with `keys`.
    pub async fn get_many(&self, keys: &[KeyRef<'_>], with_cas: bool, tolerant: bool) -> Result<Vec<Option<Item>>> {
        let flags = |_, flags: &mut Vec<Flag>| {
            flags.extend_from_slice(&[Flag::ReturnValue, Flag::ReturnClientFlags]);
            if with_cas {
                flags.push(Flag::ReturnCas);
            }
        };
        let replies = self
            .dispatch(BatchMode::Quiet, Command::Get, keys, flags, None, tolerant)
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
            let server = self.cluster().server_for(item.key.stored, &item.key.route);
            let limit = self.item_size_limits[server].load(Ordering::Relaxed);
            limit != 0 && item.data.len() > limit
        };
        let (mut too_large, sendable): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| known_limit(&items[i]));
        let keys: Vec<KeyRef<'_>> = sendable.iter().map(|&i| items[i].key).collect();
        let values: Vec<&[u8]> = sendable.iter().map(|&i| items[i].data).collect();
        let flags = |n: usize, flags: &mut Vec<Flag>| {
            flags.extend(store_flags(SetMode::Set, items[sendable[n]].client_flags, ttl, None))
        };
        let replies = self
            .dispatch(BatchMode::Loud, Command::Set, &keys, flags, Some(&values), tolerant)
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
                    self.cluster().server_for(item.key.stored, &item.key.route),
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
    pub async fn delete_many(&self, keys: &[KeyRef<'_>], tolerant: bool) -> Result<usize> {
        let replies = self
            .dispatch(BatchMode::Quiet, Command::Delete, keys, |_, _| {}, None, tolerant)
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
