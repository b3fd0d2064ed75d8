//! The operations: what requests each client method sends and what its replies mean.
//! Values here are bytes plus client flags; serialization is the Python layer's job.
//!
//! Single-key operations live here; `multi` batches many keys per server, `admin` broadcasts
//! `stats` / `version` / `flush_all`.

mod admin;
mod dispatch;
pub mod hot;
mod lease;
mod multi;
#[cfg(test)]
mod wire_tests;

pub use admin::{PerServer, StatLines};
pub use dispatch::KeyRef;
pub use lease::is_placeholder;
pub use multi::StoreItem;

use dispatch::{BatchMode, Call, Decider};

use crate::cluster::{Batch, Cluster};
use crate::error::{Error, Result};
use crate::protocol::keys::{self, WireKey};
use crate::protocol::reply::{Expect, Replies};
use crate::protocol::request::{ArithmeticMode, Command, Flag, SetMode};
use crate::protocol::response::{Code, Response};
use crate::protocol::text::{self, TextReply};
use crate::transport::Transport;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A value read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub data: Bytes,
    pub client_flags: u32,
    pub cas: Option<u64>,
}

/// The CAS token a store is conditional on, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cas {
    /// A token the caller read (`gets`): only the key's own server can judge it.
    Caller(u64),
    /// A lease's token (a fill): judged by whichever server answers the store, as the lease
    /// came from whichever server answered the read (the key's own, or its stand-in).
    Lease(u64),
}

impl Cas {
    pub fn token(self) -> u64 {
        match self {
            Cas::Caller(token) | Cas::Lease(token) => token,
        }
    }
}

/// How a store request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    Stored,
    /// add / replace / append / prepend condition failed.
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS given and the item is gone.
    NotFound,
}

/// What became of one key's request in a dispatch. (Slots live in one short-lived vector per
/// call; boxing the reply would cost an allocation per key.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// Quiet mode suppressed the nominal reply (a miss, a successful store or delete).
    Quiet,
    /// The reply, and the server that sent it.
    Reply(usize, Response),
    /// The key's server could not be reached, and the caller tolerates that.
    Unavailable,
}

/// A plain read's outcome: the item, whether it was fetched before and when it was last
/// accessed (when asked, for the local cache's admission).
type Read = (Option<Item>, Option<bool>, Option<u64>);

/// memcached's `SERVER_ERROR` text for an item over `item_size_max`.
const TOO_LARGE: &[u8] = b"object too large for cache";

/// Hot-key handling (see [`hot`]): split keys and the local cache.
#[derive(Default)]
pub struct HotKeys {
    pub split: hot::SplitKeys,
    pub local: Option<hot::LocalCache>,
}

pub struct Client<T> {
    transport: T,
    hot: HotKeys,
    /// Learned `item_size_max` per server (0 = not known yet).
    item_size_limits: Vec<AtomicUsize>,
    /// Counter behind the opaque tags of single-key requests.
    tags: AtomicU64,
}

fn wire(key: &[u8]) -> Result<WireKey<'_>> {
    keys::wire_key(key).map_err(|_| Error::InvalidKey("keys must not be empty".into()))
}

/// `key` as shown in error messages.
pub fn display_key(key: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(&key[..key.len().min(64)]))
}

/// Turn an error reply into an error; pass any other reply through.
fn check(server: &str, reply: Response) -> Result<Response> {
    let message = || String::from_utf8_lossy(reply.message.as_deref().unwrap_or_default()).into_owned();
    match reply.code {
        Code::ClientError => Err(Error::ClientErrorReply {
            server: server.to_owned(),
            message: message(),
        }),
        Code::ServerError => Err(Error::ServerErrorReply {
            server: server.to_owned(),
            message: message(),
        }),
        Code::Error => Err(Error::UnexpectedReply {
            server: server.to_owned(),
            detail: "ERROR".into(),
        }),
        _ => Ok(reply),
    }
}

fn unexpected(server: &str, command: &str, reply: &Response) -> Error {
    Error::UnexpectedReply {
        server: server.to_owned(),
        detail: format!("{} to {command}", reply.code.as_str()),
    }
}

impl<T: Transport> Client<T> {
    pub fn new(transport: T) -> Self {
        Self::with_hot_keys(transport, HotKeys::default())
    }

    pub fn with_hot_keys(transport: T, hot: HotKeys) -> Self {
        let item_size_limits = (0..transport.cluster().server_count())
            .map(|_| AtomicUsize::new(0))
            .collect();
        Client {
            transport,
            hot,
            item_size_limits,
            tags: AtomicU64::new(0),
        }
    }

    /// The keys stored as several copies.
    pub fn split_keys(&self) -> &hot::SplitKeys {
        &self.hot.split
    }

    /// Counters of the local hot-key cache, when it is enabled.
    pub fn local_cache_stats(&self) -> Option<hot::LocalStats> {
        self.hot.local.as_ref().map(hot::LocalCache::stats)
    }

    /// The extra copies of a split hot key, beside the key itself (none for other keys), each
    /// on a server of its own while the key's pool has enough.
    fn copies_of(&self, key: KeyRef<'_>) -> Vec<hot::SplitCopy> {
        let copies = self.split_count(key);
        if copies < 2 {
            return Vec::new();
        }
        let servers = self
            .cluster()
            .topology()
            .distinct_servers(key.stored, &key.route, copies);
        (1..copies)
            .map(|i| hot::SplitCopy {
                name: hot::copy_key(key.stored, i),
                server: servers.get(i).copied(),
            })
            .collect()
    }

    /// How many copies of `key` are kept (1 for a key that is not split). A key given with a
    /// routing key is never split: copies are named and placed by the stored key, so the
    /// copies of two routing keys sharing a stored key would be one item.
    fn split_count(&self, key: KeyRef<'_>) -> usize {
        if key.route.bytes != key.stored || key.pinned.is_some() {
            return 1;
        }
        self.hot.split.copies_of(key.stored)
    }

    /// Which copy of a split key to read (a random one), or `None` to read the key itself.
    fn read_copy(&self, key: KeyRef<'_>) -> Option<hot::SplitCopy> {
        let copies = self.split_count(key);
        let pick = (copies > 1).then(|| self.hot.split.pick(copies))?;
        (pick > 0).then(|| self.copies_of(key).swap_remove(pick - 1))
    }

    /// Apply a write to the extra copies of a split key (after the key itself took it). Every
    /// copy is written even if one fails (a copy left out would keep answering with the value
    /// replaced; one that failed owes a delete); the first error is returned.
    async fn write_copies(
        &self,
        key: KeyRef<'_>,
        command: Command,
        flags: &[Flag],
        value: Option<&[u8]>,
    ) -> Result<()> {
        let mut first_error = None;
        for copy in self.copies_of(key) {
            if let Err(error) = self.request(key.copy(&copy), command, flags, value).await {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub fn cluster(&self) -> &Cluster {
        self.transport.cluster()
    }

    /// Send one batch to one server.
    async fn exchange_one(&self, server: usize, bytes: Vec<u8>, expect: Expect) -> Result<Replies> {
        let mut results = self.transport.exchange(vec![Batch { server, bytes, expect }]).await;
        results.pop().expect("one result per batch")
    }

    /// One request to the server that owns `key` (or its fallback), one reply back; error
    /// replies are errors.
    pub async fn request(
        &self,
        key: KeyRef<'_>,
        command: Command,
        flags: &[Flag],
        value: Option<&[u8]>,
    ) -> Result<Response> {
        self.request_decided_by(key, command, flags, value, Decider::Primary)
            .await
    }

    /// [`Client::request`], saying which servers may decide it if it is conditional.
    pub(super) async fn request_decided_by(
        &self,
        key: KeyRef<'_>,
        command: Command,
        flags: &[Flag],
        value: Option<&[u8]>,
        decider: Decider,
    ) -> Result<Response> {
        let values = value.map(|v| [v]);
        let call = Call {
            decider,
            ..Call::new(BatchMode::Loud, command, false)
        };
        let slots = self
            .dispatch(
                call,
                std::slice::from_ref(&key),
                |_, f| f.extend_from_slice(flags),
                values.as_ref().map(|v| &v[..]),
            )
            .await?;
        match slots.into_iter().next() {
            Some(Slot::Reply(server, reply)) => check(self.cluster().server_name(server), reply),
            _ => Err(Error::UnexpectedReply {
                server: self.server_of(&key),
                detail: "no reply to the request".into(),
            }),
        }
    }

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
        let mut flags = vec![Flag::ReturnValue, Flag::ReturnClientFlags];
        if with_cas {
            flags.push(Flag::ReturnCas);
        }
        if local.is_some() {
            flags.extend([Flag::ReturnHit, Flag::ReturnLastAccess]);
        }
        let copy = if with_cas { None } else { self.read_copy(key) };
        let mut read = self
            .read_plain(copy.as_ref().map_or(key, |copy| key.copy(copy)), &flags)
            .await?;
        if copy.is_some() && read.0.is_none() {
            // A copy that misses was dropped (or missed a write and paid for it): the key
            // itself has the value.
            read = self.read_plain(key, &flags).await?;
        }
        let (item, hit_before, last_access) = read;
        if let Some(ticket) = ticket {
            ticket.offer(item.as_ref(), hit_before, last_access);
        }
        Ok(item)
    }

    /// `mg` of one key as a plain read (see [`lease::plain_read`]): the item, and whether it
    /// was fetched before and when it was last accessed (when `flags` ask).
    async fn read_plain(&self, target: KeyRef<'_>, flags: &[Flag]) -> Result<Read> {
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
    fn writing<'a>(&'a self, key: KeyRef<'a>) -> Option<hot::LocalWrite<'a>> {
        self.hot.local.as_ref().map(|local| local.write(key))
    }

    /// The name of the key's primary server, for error messages.
    fn server_of(&self, key: &KeyRef<'_>) -> String {
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
        self.refuse_if_known_too_large(server, mode, key, data.len(), cas)
            .await?;
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

    /// Fail fast, without sending the value, when it exceeds a limit already learned.
    async fn refuse_if_known_too_large(
        &self,
        server: usize,
        mode: SetMode,
        key: KeyRef<'_>,
        size: usize,
        cas: Option<u64>,
    ) -> Result<()> {
        let limit = self.item_size_limits[server].load(Ordering::Relaxed);
        if limit != 0 && size > limit {
            return Err(self.too_large(server, mode, key, size, cas).await);
        }
        Ok(())
    }

    /// Build the `ValueTooLarge` error after making sure the old value is not left behind as if
    /// the write had not been attempted: a set that fails must not let readers keep seeing the
    /// value it meant to replace. `add` never replaces, so its key is left alone; a CAS write
    /// only removes the item it was allowed to replace.
    async fn too_large(&self, server: usize, mode: SetMode, key: KeyRef<'_>, size: usize, cas: Option<u64>) -> Error {
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
    async fn item_size_limit(&self, server: usize) -> Option<usize> {
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

    pub fn close(&self) {
        self.cluster().close();
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }
}

fn item_of(reply: Response) -> Item {
    Item {
        data: reply.value.unwrap_or_default(),
        client_flags: reply.flags.client_flags.unwrap_or(0),
        cas: reply.flags.cas,
    }
}

/// Flags of an `ms`: only non-default ones go on the wire.
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

fn store_flags(mode: SetMode, client_flags: u32, ttl: i64, cas: Option<u64>) -> Vec<Flag> {
    let mut flags = Vec::with_capacity(4);
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
