//! The single-key operations: get, store (every mode, CAS), delete, touch, counters, raw meta
//! commands, with their split-key copies and the too-large handling.

use super::key::KeyRef;
use super::{display_key, hot, lease, unexpected, Cas, Client, Decider, Item, Read, StoreOutcome, TOO_LARGE};
use crate::error::{Error, Result};
use crate::protocol::reply::Expect;
use crate::protocol::request::{ArithmeticMode, Command, Flag, SetMode};
use crate::protocol::response::{Code, Response};
use crate::protocol::text::{self, TextReply};
use crate::transport::Transport;
use std::sync::atomic::Ordering;

impl<T: Transport> Client<T> {
    /// A raw meta command, as the caller wrote it. Anything but `mg` may change the item, so it
    /// drops the key's local copy like any write, and a split key's copies (what the command
    /// does to the key cannot be repeated on them faithfully; reads that pick a dropped copy
    /// read the key itself).
    pub async fn meta(
        &self,
        key: KeyRef<'_>,
        command: Command,
        flags: &[Flag],
        value: Option<&[u8]>,
    ) -> Result<Response> {
        let changes = command != Command::Get;
        let _local = changes.then(|| self.writing(key));
        let reply = self.request(key, command, flags, value).await;
        if changes {
            // Best effort: a copy whose server misses the delete owes it (see `ledger`).
            let _ = self.write_copies(key, Command::Delete, &[], None).await;
        }
        reply
    }

    /// `mg key v f [c]`.
    /// With `with_cas`, a split key is read from its first copy (CAS tokens are per copy) and
    /// the local cache is bypassed.
    pub async fn get(&self, key: KeyRef<'_>, with_cas: bool) -> Result<Option<Item>> {
        let local = self.hot.local.as_ref().filter(|_| !with_cas);
        let ticket = match local.map(|local| local.lookup(key)) {
            Some(hot::Local::Hit(item) | hot::Local::Refreshing(item)) => return Ok(Some(item)),
            Some(hot::Local::Miss(ticket)) => Some(ticket),
            None => None,
        };
        let flags = match (with_cas, local.is_some()) {
            (false, false) => GET,
            (true, false) => GETS,
            (false, true) => GET_ADMITTING,
            (true, true) => GETS_ADMITTING,
        };
        let copy = if with_cas { None } else { self.read_copy(key) };
        let mut read = self
            .read_plain(copy.as_ref().map_or(key, |copy| key.copy(copy)), flags)
            .await?;
        if copy.is_some() && read.0.is_none() {
            // A copy that misses was dropped (or missed a write and paid for it): the key
            // itself has the value.
            read = self.read_plain(key, flags).await?;
        }
        let (item, hit_before, last_access) = read;
        if let Some(ticket) = ticket {
            ticket.offer(item.as_ref(), hit_before, last_access);
        }
        Ok(item)
    }

    /// `mg` of one key as a plain read (see [`lease::plain_read`]): the item, and whether it
    /// was fetched before and when it was last accessed (when `flags` ask).
    pub(super) async fn read_plain(&self, target: KeyRef<'_>, flags: &[Flag]) -> Result<Read> {
        let reply = self.request(target, Command::Get, flags, None).await?;
        let (hit_before, last_access) = (reply.flags.hit_before, reply.flags.last_access);
        if !matches!(reply.code, Code::Value | Code::Miss) {
            return Err(unexpected(&self.server_of(&target), "mg", &reply));
        }
        let read = lease::plain_read(reply);
        if let Some(win) = read.win_to_hand_on {
            self.hand_on_win(target, win).await;
        }
        Ok((read.item, hit_before, last_access))
    }

    /// This client is writing `key`: keep the local cache from serving what it had or reads
    /// while the write is in flight. Hold the guard until the write is done.
    pub(super) fn writing<'a>(&'a self, key: KeyRef<'a>) -> Option<hot::LocalWrite<'a>> {
        self.hot.local.as_ref().map(|local| local.write(key))
    }

    /// The name of the key's primary server, for error messages.
    pub(super) fn server_of(&self, key: &KeyRef<'_>) -> String {
        self.cluster()
            .server_name(self.cluster().server_for(key.stored, &key.route))
            .to_string()
    }

    /// `ms` in any mode, optionally conditional on `cas`.
    pub async fn store(
        &self,
        mode: SetMode,
        key: KeyRef<'_>,
        data: &[u8],
        client_flags: u32,
        ttl: i64,
        cas: Option<Cas>,
    ) -> Result<StoreOutcome> {
        let decider = match cas {
            Some(Cas::Lease(_)) => Decider::AnyServer,
            _ => Decider::Primary,
        };
        let cas = cas.map(Cas::token);
        let server = self.cluster().server_for(key.stored, &key.route);
        let _local = self.writing(key);
        if self.known_too_large(server, data.len()) {
            // Fail fast, without sending the value.
            return Err(self.too_large(server, mode, key, data.len(), cas).await);
        }
        let split = self.split_count(key) > 1;
        let mut flags = store_flags(mode, client_flags, ttl, cas);
        if split && cas.is_some() {
            flags.push(Flag::ReturnCas);
        }
        let mut stored_cas = None;
        let outcome = match self
            .request_decided_by(key, Command::Set, &flags, Some(data), decider)
            .await
        {
            Ok(reply) => match reply.code {
                Code::Stored => {
                    stored_cas = reply.flags.cas;
                    StoreOutcome::Stored
                }
                Code::NotStored => StoreOutcome::NotStored,
                Code::Exists => StoreOutcome::Exists,
                Code::NotFound => StoreOutcome::NotFound,
                _ => return Err(unexpected(&self.server_of(&key), "ms", &reply)),
            },
            Err(Error::ServerErrorReply { message, .. }) if message.as_bytes() == TOO_LARGE => {
                return Err(self.too_large(server, mode, key, data.len(), cas).await);
            }
            Err(e) => return Err(e),
        };
        if outcome == StoreOutcome::Stored && split {
            let stored = Stored {
                mode,
                client_flags,
                ttl,
                data,
                cas,
                stored_cas,
            };
            self.store_copies(key, stored).await?;
        }
        Ok(outcome)
    }

    /// The key itself decided (add / replace / CAS conditions); its copies follow it.
    async fn store_copies(&self, key: KeyRef<'_>, stored: Stored<'_>) -> Result<()> {
        if matches!(stored.mode, SetMode::Append | SetMode::Prepend) {
            // A copy may not hold what the key held (it missed a write, or expired): appending
            // there could make a value the key never had. The copies are dropped; reads that
            // pick one read the key itself until a set writes them again.
            return self.write_copies(key, Command::Delete, &[], None).await;
        }
        let copy_flags = store_flags(SetMode::Set, stored.client_flags, stored.ttl, None);
        let copied = self
            .write_copies(key, Command::Set, &copy_flags, Some(stored.data))
            .await;
        let checked = match (copied, stored.stored_cas) {
            (Ok(()), Some(stored_cas)) => self.drop_copies_if_overtaken(key, stored_cas).await,
            (result, _) => result,
        };
        if checked.is_err() && stored.cas.is_some() {
            // A CAS store's copies are unverified: drop them rather than risk an old value
            // (best effort, every copy; the error goes to the caller either way).
            for copy in self.copies_of(key) {
                let _ = self.request(key.copy(&copy), Command::Delete, &[], None).await;
            }
        }
        checked
    }

    /// A CAS store's copies are written plainly after the key: if the key changed meanwhile
    /// (a write, or an invalidation that already dropped the copies), the copies just written
    /// are older than the key. Drop them then. (Any change after this check reaches the copies
    /// after the key; one before it is caught here. In between, for that moment, a copy may
    /// still answer with the older value.)
    async fn drop_copies_if_overtaken(&self, key: KeyRef<'_>, stored_cas: u64) -> Result<()> {
        let reply = self.request(key, Command::Get, &[Flag::ReturnCas], None).await?;
        if let Some(win) = lease::stale_win(&reply) {
            self.hand_on_win(key, win).await; // a check is not a reader that refreshes
        }
        let unchanged = reply.code == Code::Stored && reply.flags.cas == Some(stored_cas);
        if !unchanged {
            self.write_copies(key, Command::Delete, &[], None).await?;
        }
        Ok(())
    }

    /// Whether a value of `size` bytes exceeds the limit already learned for `server`.
    pub(super) fn known_too_large(&self, server: usize, size: usize) -> bool {
        let limit = self.item_size_limits[server].load(Ordering::Relaxed);
        limit != 0 && size > limit
    }

    /// Build the `ValueTooLarge` error after making sure the old value is not left behind as if
    /// the write had not been attempted: a set that fails must not let readers keep seeing the
    /// value it meant to replace. `add` never replaces, so its key is left alone; a CAS write
    /// only removes the item it was allowed to replace.
    pub(super) async fn too_large(
        &self,
        server: usize,
        mode: SetMode,
        key: KeyRef<'_>,
        size: usize,
        cas: Option<u64>,
    ) -> Error {
        if mode != SetMode::Add {
            let flags: Vec<Flag> = cas.map(Flag::CompareCas).into_iter().collect();
            if let Err(e) = self.request(key, Command::Delete, &flags, None).await {
                return e;
            }
        }
        let limit = self.item_size_limit(server).await;
        Error::ValueTooLarge {
            key: display_key(key.stored),
            size,
            limit,
        }
    }

    /// The server's `item_size_max`, asked once and remembered.
    pub(super) async fn item_size_limit(&self, server: usize) -> Option<usize> {
        let known = self.item_size_limits[server].load(Ordering::Relaxed);
        if known != 0 {
            return Some(known);
        }
        let mut bytes = Vec::new();
        text::encode_stats(Some("settings"), &mut bytes);
        let replies = self.exchange_one(server, bytes, Expect::Stats).await.ok()?;
        let Some(TextReply::Stats(stats)) = replies.text else {
            return None;
        };
        let limit: usize = stats.iter().find(|(name, _)| name == "item_size_max")?.1.parse().ok()?;
        self.item_size_limits[server].store(limit, Ordering::Relaxed);
        Some(limit)
    }

    /// `md key`: true if the key existed.
    pub async fn delete(&self, key: KeyRef<'_>) -> Result<bool> {
        let _local = self.writing(key);
        let reply = self.request(key, Command::Delete, &[], None).await?;
        self.write_copies(key, Command::Delete, &[], None).await?;
        match reply.code {
            Code::Stored => Ok(true),
            Code::NotFound => Ok(false),
            _ => Err(unexpected(&self.server_of(&key), "md", &reply)),
        }
    }

    /// `mg key T<ttl> c`: true if the key existed. A touch is not a read: if memcached hands it
    /// the refresh of a stale item, it passes the refresh on to the next reader.
    pub async fn touch(&self, key: KeyRef<'_>, ttl: i64) -> Result<bool> {
        let _local = self.writing(key);
        let flags = [Flag::Ttl(ttl), Flag::ReturnCas];
        let reply = self.request(key, Command::Get, &flags, None).await?;
        if let Some(win) = lease::stale_win(&reply) {
            self.hand_on_win(key, win).await;
        }
        self.write_copies(key, Command::Get, &[Flag::Ttl(ttl)], None).await?;
        match reply.code {
            Code::Stored => Ok(true),
            Code::Miss => Ok(false),
            _ => Err(unexpected(&self.server_of(&key), "mg", &reply)),
        }
    }

    /// `ma`: the new value, or `None` when the key is missing and `initial` is `None`.
    /// With `initial`, a missing key is created holding `initial` (the delta is not applied) with
    /// `ttl`; an existing key keeps its TTL.
    pub async fn arithmetic(
        &self,
        key: KeyRef<'_>,
        mode: ArithmeticMode,
        delta: u64,
        initial: Option<u64>,
        ttl: i64,
    ) -> Result<Option<u64>> {
        let mut flags = vec![Flag::ReturnValue, Flag::ArithmeticMode(mode)];
        if delta != 1 {
            flags.push(Flag::Delta(delta));
        }
        if let Some(initial) = initial {
            flags.push(Flag::Vivify(ttl));
            flags.push(Flag::Initial(initial));
        }
        let _local = self.writing(key);
        let reply = self.request(key, Command::Arithmetic, &flags, None).await?;
        // Counting on each copy would drift the copies apart (one that misses an increment
        // stays behind for good): they are dropped, and reads that pick one read the key.
        self.write_copies(key, Command::Delete, &[], None).await?;
        match reply.code {
            Code::Value => {
                let digits = reply.value.as_deref().unwrap_or_default();
                let number = std::str::from_utf8(digits).ok().and_then(|s| s.trim().parse().ok());
                number
                    .map(Some)
                    .ok_or_else(|| unexpected(&self.server_of(&key), "ma", &reply))
            }
            Code::NotFound => Ok(None),
            _ => Err(unexpected(&self.server_of(&key), "ma", &reply)),
        }
    }
}

/// A store the key itself accepted, for its split copies to follow.
struct Stored<'a> {
    mode: SetMode,
    client_flags: u32,
    ttl: i64,
    data: &'a [u8],
    /// The CAS the store was conditional on, if any.
    cas: Option<u64>,
    /// The CAS of the stored item, asked for when the store was conditional.
    stored_cas: Option<u64>,
}

/// The flags of a get: the value and its client flags, and the CAS (`gets`); with the local
/// cache, whether the item was fetched before and when it was last accessed, for admission.
const GET: &[Flag] = &[Flag::ReturnValue, Flag::ReturnClientFlags];
const GETS: &[Flag] = &[Flag::ReturnValue, Flag::ReturnClientFlags, Flag::ReturnCas];
const GET_ADMITTING: &[Flag] = &[
    Flag::ReturnValue,
    Flag::ReturnClientFlags,
    Flag::ReturnHit,
    Flag::ReturnLastAccess,
];
const GETS_ADMITTING: &[Flag] = &[
    Flag::ReturnValue,
    Flag::ReturnClientFlags,
    Flag::ReturnCas,
    Flag::ReturnHit,
    Flag::ReturnLastAccess,
];

/// Flags of an `ms`: only non-default ones go on the wire (none for a plain set: no
/// allocation).
pub(super) fn store_flags(mode: SetMode, client_flags: u32, ttl: i64, cas: Option<u64>) -> Vec<Flag> {
    let mut flags = Vec::new();
    if ttl != 0 {
        flags.push(Flag::Ttl(ttl));
    }
    if client_flags != 0 {
        flags.push(Flag::ClientFlags(client_flags));
    }
    if mode != SetMode::Set {
        flags.push(Flag::SetMode(mode));
    }
    if let Some(cas) = cas {
        flags.push(Flag::CompareCas(cas));
    }
    flags
}
