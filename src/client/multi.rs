//! Multi-key operations: one pipelined batch per server, all servers in parallel (see
//! [`super::dispatch`]).

use super::effect::{BatchMode, Call};
use super::key::KeyRef;
use super::{check, hot, lease, refusal, store_flags, unexpected, Client, Item, Read, Slot, TOO_LARGE};
use crate::error::{Error, Result};
use crate::protocol::request::{Command, Flag, SetMode};
use crate::protocol::response::Code;
use crate::transport::Transport;
use std::collections::hash_map::{Entry, HashMap};

/// A store request of a batch.
pub struct StoreItem<'a> {
    pub key: KeyRef<'a>,
    pub data: &'a [u8],
    pub client_flags: u32,
}

impl<T: Transport> Client<T> {
    /// Fetch many keys; `None` for misses, aligned with `keys`.
    /// Keys found in the local hot-key cache are not sent; split keys are read from one copy.
    pub async fn get_many(&self, keys: &[KeyRef<'_>], with_cas: bool, tolerant: bool) -> Result<Vec<Option<Item>>> {
        let local = self.hot.local.as_ref().filter(|_| !with_cas);
        let mut found: Vec<Option<Item>> = vec![None; keys.len()];
        // (position in `keys`, copy key to read instead) of the keys to ask memcached for.
        let mut wanted: Vec<(usize, Option<hot::SplitCopy>)> = Vec::with_capacity(keys.len());
        let mut tickets = Vec::new();
        // With the local cache, a key named twice is looked up once (a second lookup would find
        // the first refreshing an expired copy, and serve that copy): its later mentions, as
        // (position, first position), take the first's answer.
        let mut first_mention = HashMap::new();
        let mut repeats = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if local.is_some() {
                match first_mention.entry(hot::identity(key)) {
                    Entry::Occupied(first) => {
                        repeats.push((i, *first.get()));
                        continue;
                    }
                    Entry::Vacant(first) => {
                        first.insert(i);
                    }
                }
            }
            match local.map(|local| local.lookup(*key)) {
                Some(hot::Local::Hit(item) | hot::Local::Refreshing(item)) => {
                    found[i] = Some(item);
                    continue;
                }
                Some(hot::Local::Miss(ticket)) => tickets.push(ticket),
                None => {}
            }
            wanted.push((i, if with_cas { None } else { self.read_copy(*key) }));
        }
        let targets: Vec<KeyRef<'_>> = wanted
            .iter()
            .map(|(i, copy)| copy.as_ref().map_or(keys[*i], |copy| keys[*i].copy(copy)))
            .collect();
        let flags = |_, flags: &mut Vec<Flag>| {
            flags.extend_from_slice(&[Flag::ReturnValue, Flag::ReturnClientFlags]);
            if with_cas {
                flags.push(Flag::ReturnCas);
            }
            if local.is_some() {
                flags.extend([Flag::ReturnHit, Flag::ReturnLastAccess]);
            }
        };
        let mut reads = self.read_plain_many(&targets, &flags, tolerant).await?;
        // A copy that misses was dropped (or missed a write and paid for it): the key itself
        // has the value.
        let copy_misses: Vec<usize> = (0..wanted.len())
            .filter(|&n| wanted[n].1.is_some() && reads[n].0.is_none())
            .collect();
        if !copy_misses.is_empty() {
            let own: Vec<KeyRef<'_>> = copy_misses.iter().map(|&n| keys[wanted[n].0]).collect();
            let again = self.read_plain_many(&own, &flags, tolerant).await?;
            for (n, read) in copy_misses.into_iter().zip(again) {
                reads[n] = read;
            }
        }
        // One ticket per wanted key when the local cache is on, none otherwise.
        let mut tickets = tickets.into_iter();
        for ((i, _), (item, hit_before, last_access)) in wanted.iter().zip(reads) {
            if let Some(ticket) = tickets.next() {
                ticket.offer(item.as_ref(), hit_before, last_access);
            }
            found[*i] = item;
        }
        for (i, first) in repeats {
            found[i] = found[first].clone();
        }
        Ok(found)
    }

    /// Plain reads of `targets` in one dispatch (see [`lease::plain_read`]): per target the
    /// item, whether it was fetched before and when it was last accessed (when `flags` ask).
    async fn read_plain_many(
        &self,
        targets: &[KeyRef<'_>],
        flags: &impl Fn(usize, &mut Vec<Flag>),
        tolerant: bool,
    ) -> Result<Vec<Read>> {
        let call = Call::new(BatchMode::Quiet, Command::Get, tolerant);
        let mut replies = self.dispatch(call, targets, flags, None).await?;
        let mut reads = Vec::with_capacity(targets.len());
        let mut wins_to_hand_on = Vec::new();
        for (target, slot) in targets.iter().zip(&mut replies) {
            reads.push(match slot {
                Slot::Quiet | Slot::Unavailable => (None, None, None),
                Slot::Reply(server, reply) => {
                    let name = self.cluster().server_name(*server);
                    if let Some(error) = refusal(name, reply) {
                        return Err(error);
                    }
                    if reply.code != Code::Value {
                        return Err(unexpected(name, "mg", reply));
                    }
                    let (hit, last) = (reply.flags.hit_before, reply.flags.last_access);
                    let read = lease::plain_read_in(reply);
                    if let Some(win) = read.win_to_hand_on {
                        wins_to_hand_on.push((*target, win));
                    }
                    (read.item, hit, last)
                }
            });
        }
        for (target, win) in wins_to_hand_on {
            self.hand_on_win(target, win).await;
        }
        Ok(reads)
    }

    /// The extra copies of the split keys among `keys` (position, key): (position, copy name).
    fn extra_copies<'k>(&self, keys: impl Iterator<Item = (usize, KeyRef<'k>)>) -> Vec<(usize, hot::SplitCopy)> {
        keys.flat_map(|(i, key)| self.copies_of(key).into_iter().map(move |copy| (i, copy)))
            .collect()
    }

    /// Store many items; returns whether each was stored, aligned with `items`. Items over the
    /// server's size limit fail the call with `ValueTooLarge` after every other item is stored
    /// and the oversized keys' old values are deleted.
    pub async fn set_many(&self, items: &[StoreItem<'_>], ttl: i64, tolerant: bool) -> Result<Vec<bool>> {
        let known_limit = |item: &StoreItem<'_>| {
            let server = self.cluster().server_for(item.key.stored, &item.key.route);
            self.known_too_large(server, item.data.len())
        };
        let (mut too_large, sendable): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| known_limit(&items[i]));
        let _locals: Vec<_> = items.iter().filter_map(|item| self.writing(item.key)).collect();
        // The items to send, then the extra copies of split keys (they take the same value).
        let copies = self.extra_copies(sendable.iter().map(|&i| (i, items[i].key)));
        let order: Vec<usize> = sendable.iter().copied().chain(copies.iter().map(|(i, _)| *i)).collect();
        let keys: Vec<KeyRef<'_>> = sendable
            .iter()
            .map(|&i| items[i].key)
            .chain(copies.iter().map(|(i, copy)| items[*i].key.copy(copy)))
            .collect();
        let values: Vec<&[u8]> = order.iter().map(|&i| items[i].data).collect();
        let flags = |n: usize, flags: &mut Vec<Flag>| {
            flags.extend(store_flags(SetMode::Set, items[order[n]].client_flags, ttl, None))
        };
        let replies = self
            .dispatch(
                Call::new(BatchMode::Loud, Command::Set, tolerant),
                &keys,
                flags,
                Some(&values),
            )
            .await?;
        let mut stored = vec![false; items.len()];
        // A split key is stored when it and every copy are: a copy left behind would answer
        // reads with the value this one replaces (its server now owes a delete of it).
        let mut copy_missed = vec![false; items.len()];
        for (n, (slot, &i)) in replies.into_iter().zip(&order).enumerate() {
            let is_copy = n >= sendable.len();
            let Slot::Reply(server, reply) = slot else {
                copy_missed[i] |= is_copy;
                continue;
            };
            if reply.code == Code::ServerError && reply.message.as_deref() == Some(TOO_LARGE) {
                if !is_copy {
                    too_large.push(i);
                }
                continue;
            }
            let name = self.cluster().server_name(server);
            let reply = check(name, reply)?;
            if is_copy {
                copy_missed[i] |= reply.code != Code::Stored;
                continue;
            }
            stored[i] = match reply.code {
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
        for (stored, missed) in stored.iter_mut().zip(copy_missed) {
            *stored &= !missed;
        }
        let mut first_error = None;
        for i in too_large {
            let item = &items[i];
            // Its copies may hold the value it replaced (or this one, if their servers allow
            // larger items): neither may be read.
            if let Err(error) = self.write_copies(item.key, Command::Delete, &[], None).await {
                first_error.get_or_insert(error);
            }
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

    /// Delete many keys; returns how many existed, and (when `tolerant`) the positions of the
    /// keys whose server, or one of whose split copies' servers, could not be reached.
    pub async fn delete_many(&self, keys: &[KeyRef<'_>], tolerant: bool) -> Result<(usize, Vec<usize>)> {
        let _locals: Vec<_> = keys.iter().filter_map(|key| self.writing(*key)).collect();
        let copies = self.extra_copies(keys.iter().copied().enumerate());
        let targets: Vec<KeyRef<'_>> = keys
            .iter()
            .copied()
            .chain(copies.iter().map(|(i, copy)| keys[*i].copy(copy)))
            .collect();
        let replies = self
            .dispatch(
                Call::new(BatchMode::Quiet, Command::Delete, tolerant),
                &targets,
                |_, _| {},
                None,
            )
            .await?;
        let mut deleted = vec![false; keys.len()];
        let mut unavailable = Vec::new();
        for (n, slot) in replies.into_iter().enumerate() {
            let counted = n < keys.len();
            match slot {
                Slot::Quiet => {
                    if counted {
                        deleted[n] = true;
                    }
                }
                Slot::Unavailable => {
                    unavailable.push(if counted { n } else { copies[n - keys.len()].0 });
                }
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
        unavailable.sort_unstable();
        unavailable.dedup();
        // A split key one of whose copies was not reached is not deleted (like `delete`).
        for &i in &unavailable {
            deleted[i] = false;
        }
        Ok((deleted.iter().filter(|&&d| d).count(), unavailable))
    }
}
