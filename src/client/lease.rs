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

use super::dispatch::KeyRef;
use super::{unexpected, Client};
use crate::error::Result;
use crate::protocol::request::{Command, Flag};
use crate::protocol::response::{Code, Response};
use crate::transport::Transport;

impl<T: Transport> Client<T> {
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
        let reply = self.request(key, Command::Get, &flags, None).await?;
        match reply.code {
            Code::Value | Code::Miss => Ok(reply),
            _ => Err(unexpected(&self.server_of(&key), "mg", &reply)),
        }
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
