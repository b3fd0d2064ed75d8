//! The operations: what requests each client method sends and what its replies mean.
//! Values here are bytes plus client flags; serialization is the Python layer's job.
//!
//! Single-key operations live here; `multi` batches many keys per server, `admin` broadcasts
//! `stats` / `version` / `flush_all`.

mod admin;
mod dispatch;
mod effect;
pub mod hot;
mod key;
mod lease;
mod multi;
mod single;
#[cfg(test)]
mod wire_tests;

pub use admin::{PerServer, StatLines};
pub use key::KeyRef;
pub use lease::is_placeholder;
pub use multi::StoreItem;

use effect::{BatchMode, Call, Decider};
use single::store_flags;

use crate::cluster::{Batch, Cluster};
use crate::error::{Error, Result};
use crate::protocol::keys::{self, WireKey};
use crate::protocol::reply::{Expect, Replies};
use crate::protocol::request::{Command, Flag};
use crate::protocol::response::{Code, Response};
use crate::transport::Transport;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, AtomicUsize};

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
    match refusal(server, &reply) {
        Some(error) => Err(error),
        None => Ok(reply),
    }
}

/// The error an error reply stands for (see [`check`]), without moving the reply.
fn refusal(server: &str, reply: &Response) -> Option<Error> {
    let message = || String::from_utf8_lossy(reply.message.as_deref().unwrap_or_default()).into_owned();
    match reply.code {
        Code::ClientError => Some(Error::ClientErrorReply {
            server: server.to_owned(),
            message: message(),
        }),
        Code::ServerError => Some(Error::ServerErrorReply {
            server: server.to_owned(),
            message: message(),
        }),
        Code::Error => Some(Error::UnexpectedReply {
            server: server.to_owned(),
            detail: "ERROR".into(),
        }),
        _ => None,
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
        self.transport.exchange_one(Batch { server, bytes, expect }).await
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
        let call = Call {
            decider,
            ..Call::new(BatchMode::Loud, command, false)
        };
        match self.dispatch_one(call, key, flags, value).await? {
            Slot::Reply(server, reply) => check(self.cluster().server_name(server), reply),
            _ => Err(Error::UnexpectedReply {
                server: self.server_of(&key),
                detail: "no reply to the request".into(),
            }),
        }
    }

    pub fn close(&self) {
        self.cluster().close();
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }
}
