//! The consistency primitives the Python layer builds leases, stale-while-revalidate, recache
//! and CRUD helpers on (protocol.md §2.1):
//!
//! - [`Client::lease_get`]: `mg k v f c t [N<lease_ttl>] [R<recache_below>]`. On a miss with a
//!   lease TTL the server creates an empty placeholder and hands exactly one caller the win
//!   (`W`); the others see the placeholder with `Z`. Stale items (`X`) and items close to expiry
//!   (`R`) also hand out one win.
//! - Filling is a CAS store (`ms k C<cas>`, [`Client::store`]): a write or invalidation since
//!   the lease bumped the CAS or removed the key, so the stale fill is refused.
//! - [`Client::invalidate`]: `md k [I T<stale_ttl>] [C<cas>]`, delete or mark stale.

use super::effect::{BatchMode, Call, Decider};
use super::key::KeyRef;
use super::{check, unexpected, Client, Item, Slot};
use crate::error::{Error, Result};
use crate::protocol::request::{Command, Flag};
use crate::protocol::response::{Code, Response};
use crate::transport::Transport;

/// A lease placeholder: the empty, flagless item `mg ... N` creates, with a win handed out on
/// it. Every read path asks this one function. (`fill` never stores an empty value without a
/// compute-time trailer, so a filled empty value is not mistaken for one.)
pub fn is_placeholder(reply: &Response) -> bool {
    let flags = &reply.flags;
    reply.value.as_ref().is_some_and(|v| v.is_empty())
        && flags.client_flags.unwrap_or(0) == 0
        && (flags.win || flags.already_won)
}

/// What a plain read (`get`, `gets`, `get_many`) makes of a reply: lease placeholders and items
/// invalidated by marking stale are misses to it. memcached hands the refresh of a stale item
/// to its first reader, whoever that is; a plain read will not refresh, so `win_to_hand_on`
/// says it must pass the win on.
pub(super) struct PlainRead {
    pub item: Option<Item>,
    pub win_to_hand_on: Option<WinToHandOn>,
}

/// The refresh of a stale item, handed to a caller that will not refresh; `cas` is the item's
/// when the caller asked for it.
#[derive(Clone, Copy)]
pub(super) struct WinToHandOn {
    pub cas: Option<u64>,
}

/// Whether `reply` handed its reader the refresh of a stale item.
pub(super) fn stale_win(reply: &Response) -> Option<WinToHandOn> {
    (reply.flags.stale && reply.flags.win).then_some(WinToHandOn { cas: reply.flags.cas })
}

pub(super) fn plain_read(mut reply: Response) -> PlainRead {
    plain_read_in(&mut reply)
}

/// [`plain_read`] of a reply left in place (a multi-key read's replies are large structs,
/// taken apart where they lie): its value is taken out.
pub(super) fn plain_read_in(reply: &mut Response) -> PlainRead {
    let unusable = reply.code == Code::Value && (reply.flags.stale || is_placeholder(reply));
    if reply.code != Code::Value || unusable {
        return PlainRead {
            item: None,
            win_to_hand_on: stale_win(reply),
        };
    }
    PlainRead {
        item: Some(Item {
            data: reply.value.take().unwrap_or_default(),
            client_flags: reply.flags.client_flags.unwrap_or(0),
            cas: reply.flags.cas,
        }),
        win_to_hand_on: None,
    }
}

impl<T: Transport> Client<T> {
    /// A caller that will not refresh (a plain read, a touch) won the refresh of a stale item:
    /// mark it stale again (`md k I`), which hands the win to the next reader. With the CAS the
    /// mark cannot hit a fresh value stored meanwhile; plain reads do not ask for the CAS (every
    /// read would pay for it), and at worst the fresh value is marked stale and refreshed once.
    /// Best effort: if this fails, the stale item expires.
    pub(super) async fn hand_on_win(&self, key: KeyRef<'_>, win: WinToHandOn) {
        let mut flags = vec![Flag::Invalidate];
        flags.extend(win.cas.map(Flag::CompareCas));
        let _ = self.request(key, Command::Delete, &flags, None).await;
    }

    /// Read `key` for a lease-managed caller: value, client flags, CAS, remaining TTL, and the
    /// win / stale / already-won flags. A split hot key is read from the key itself, where its
    /// CAS lives; the local hot-key cache is bypassed.
    pub async fn lease_get(
        &self,
        key: KeyRef<'_>,
        lease_ttl: Option<i64>,
        recache_below: Option<i64>,
    ) -> Result<Response> {
        let mut flags = vec![
            Flag::ReturnValue,
            Flag::ReturnClientFlags,
            Flag::ReturnCas,
            Flag::ReturnTtl,
        ];
        flags.extend(lease_ttl.map(Flag::Vivify));
        flags.extend(recache_below.map(Flag::Recache));
        let reply = self
            .request_decided_by(key, Command::Get, &flags, None, Decider::AnyServer)
            .await?;
        match reply.code {
            Code::Value | Code::Miss => Ok(reply),
            _ => Err(unexpected(&self.server_of(&key), "mg", &reply)),
        }
    }

    /// [`Client::lease_get`] of `key` and plain reads of `counters` in one dispatch: each
    /// server gets its share as one batch, all servers at once, so the whole read costs one
    /// round trip. A named cache checks the versions of an entry's tags this way (a hit must
    /// cost no more than a plain read). Per counter: its item, or `None` when absent.
    pub async fn lease_get_with_counters(
        &self,
        key: KeyRef<'_>,
        counters: &[KeyRef<'_>],
        lease_ttl: Option<i64>,
        recache_below: Option<i64>,
    ) -> Result<(Response, Vec<Option<Item>>)> {
        let mut keys = Vec::with_capacity(counters.len() + 1);
        keys.push(key);
        keys.extend_from_slice(counters);
        let call = Call {
            decider: Decider::AnyServer,
            ..Call::new(BatchMode::Loud, Command::Get, false)
        };
        let flags = |i: usize, flags: &mut Vec<Flag>| {
            flags.extend_from_slice(&[Flag::ReturnValue, Flag::ReturnClientFlags]);
            if i == 0 {
                flags.extend_from_slice(&[Flag::ReturnCas, Flag::ReturnTtl]);
                flags.extend(lease_ttl.map(Flag::Vivify));
                flags.extend(recache_below.map(Flag::Recache));
            }
        };
        let mut replies = Vec::with_capacity(keys.len());
        for (slot, key) in self.dispatch(call, &keys, flags, None).await?.into_iter().zip(&keys) {
            let Slot::Reply(server, reply) = slot else {
                return Err(Error::UnexpectedReply {
                    server: self.server_of(key),
                    detail: "no reply to the request".into(),
                });
            };
            let name = self.cluster().server_name(server);
            let reply = check(name, reply)?;
            if !matches!(reply.code, Code::Value | Code::Miss) {
                return Err(unexpected(name, "mg", &reply));
            }
            replies.push(reply);
        }
        let mut replies = replies.into_iter();
        let entry = replies.next().expect("the entry's reply");
        Ok((entry, replies.map(|reply| plain_read(reply).item).collect()))
    }

    /// Delete `key`, or with `stale_ttl` mark it stale for that many seconds (readers get the
    /// old value flagged stale, one of them wins the refresh); with `cas`, only if the item's
    /// CAS still matches. True if the key existed (and matched). Split copies are dropped or
    /// marked too, unconditionally: their CAS tokens are their own.
    pub async fn invalidate(&self, key: KeyRef<'_>, stale_ttl: Option<i64>, cas: Option<u64>) -> Result<bool> {
        let _local = self.writing(key);
        let mut copy_flags = Vec::new();
        if let Some(ttl) = stale_ttl {
            copy_flags.extend([Flag::Invalidate, Flag::Ttl(ttl)]);
        }
        let mut flags = copy_flags.clone();
        flags.extend(cas.map(Flag::CompareCas));
        let reply = self.request(key, Command::Delete, &flags, None).await?;
        self.write_copies(key, Command::Delete, &copy_flags, None).await?;
        match reply.code {
            Code::Stored => Ok(true),
            Code::NotFound | Code::Exists => Ok(false),
            _ => Err(unexpected(&self.server_of(&key), "md", &reply)),
        }
    }
}
