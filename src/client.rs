//! The operations: what requests each client method sends and what its replies mean.
//! Values here are bytes plus client flags; serialization is the Python layer's job.

use crate::cluster::{Batch, Cluster, ClusterConfig, Replies};
use crate::error::{Error, Result};
use crate::exchange::Expect;
use crate::keys::{self, WireKey};
use crate::protocol::request::{encode_noop, ArithmeticMode, Command, Flag, Request, SetMode};
use crate::protocol::response::{Code, Response};
use crate::protocol::text::{self, TextReply};
use bytes::Bytes;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A value read from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub data: Bytes,
    pub client_flags: u32,
    pub cas: Option<u64>,
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

/// How a multi-key batch asks for replies (see [`Client::batch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BatchMode {
    Quiet,
    Loud,
}

/// A store request of a batch.
pub struct StoreItem<'a> {
    pub key: &'a [u8],
    pub data: &'a [u8],
    pub client_flags: u32,
}

/// One result per server, by server name, in configuration order.
pub type PerServer<T> = Vec<(String, Result<T>)>;

/// `stats` lines as (name, value).
pub type StatLines = Vec<(String, String)>;

/// memcached's `SERVER_ERROR` text for an item over `item_size_max`.
const TOO_LARGE: &[u8] = b"object too large for cache";

pub struct Client {
    cluster: Cluster,
    /// Learned `item_size_max` per server (0 = not known yet).
    item_size_limits: Vec<AtomicUsize>,
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

impl Client {
    pub fn new(config: ClusterConfig) -> Result<Self> {
        let cluster = Cluster::new(config)?;
        let item_size_limits = (0..cluster.server_count()).map(|_| AtomicUsize::new(0)).collect();
        Ok(Client {
            cluster,
            item_size_limits,
        })
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// One request to the server that owns `key`, one reply back (error replies are errors).
    pub fn request(&self, key: &[u8], command: Command, flags: &[Flag], value: Option<&[u8]>) -> Result<Response> {
        let wire_key = wire(key)?;
        let server = self.cluster.server_for(key);
        let mut all_flags;
        let flags = if wire_key.binary {
            all_flags = flags.to_vec();
            all_flags.push(Flag::Base64Key);
            &all_flags[..]
        } else {
            flags
        };
        let request = Request {
            command,
            key: &wire_key.token,
            value,
            flags,
        };
        let mut replies = self
            .cluster
            .exchange_one(server, |buf| request.encode(buf), Expect::Replies(1))?;
        let reply = replies.meta.pop().expect("exactly one reply");
        check(self.cluster.server_name(server), reply)
    }

    /// `mg key v f [c]`.
    pub fn get(&self, key: &[u8], with_cas: bool) -> Result<Option<Item>> {
        let flags: &[Flag] = if with_cas {
            &[Flag::ReturnValue, Flag::ReturnClientFlags, Flag::ReturnCas]
        } else {
            &[Flag::ReturnValue, Flag::ReturnClientFlags]
        };
        let reply = self.request(key, Command::Get, flags, None)?;
        match reply.code {
            Code::Value => Ok(Some(item_of(reply))),
            Code::Miss => Ok(None),
            _ => Err(unexpected(&self.server_of(key), "mg", &reply)),
        }
    }

    fn server_of(&self, key: &[u8]) -> String {
        self.cluster.server_name(self.cluster.server_for(key)).to_string()
    }

    /// `ms` in any mode, optionally conditional on `cas`.
    pub fn store(
        &self,
        mode: SetMode,
        key: &[u8],
        data: &[u8],
        client_flags: u32,
        ttl: i64,
        cas: Option<u64>,
    ) -> Result<StoreOutcome> {
        let server = self.cluster.server_for(key);
        self.refuse_if_known_too_large(server, mode, key, data.len(), cas)?;
        let flags = store_flags(mode, client_flags, ttl, cas);
        match self.request(key, Command::Set, &flags, Some(data)) {
            Ok(reply) => match reply.code {
                Code::Stored => Ok(StoreOutcome::Stored),
                Code::NotStored => Ok(StoreOutcome::NotStored),
                Code::Exists => Ok(StoreOutcome::Exists),
                Code::NotFound => Ok(StoreOutcome::NotFound),
                _ => Err(unexpected(&self.server_of(key), "ms", &reply)),
            },
            Err(Error::ServerErrorReply { message, .. }) if message.as_bytes() == TOO_LARGE => {
                Err(self.too_large(server, mode, key, data.len(), cas))
            }
            Err(e) => Err(e),
        }
    }

    /// Fail fast, without sending the value, when it exceeds a limit already learned.
    fn refuse_if_known_too_large(
        &self,
        server: usize,
        mode: SetMode,
        key: &[u8],
        size: usize,
        cas: Option<u64>,
    ) -> Result<()> {
        let limit = self.item_size_limits[server].load(Ordering::Relaxed);
        if limit != 0 && size > limit {
            return Err(self.too_large(server, mode, key, size, cas));
        }
        Ok(())
    }

    /// Build the `ValueTooLarge` error after making sure the old value is not left behind as if
    /// the write had not been attempted: a set that fails must not let readers keep seeing the
    /// value it meant to replace. `add` never replaces, so its key is left alone; a CAS write
    /// only removes the item it was allowed to replace.
    fn too_large(&self, server: usize, mode: SetMode, key: &[u8], size: usize, cas: Option<u64>) -> Error {
        if mode != SetMode::Add {
            let flags: Vec<Flag> = cas.map(Flag::CompareCas).into_iter().collect();
            if let Err(e) = self.request(key, Command::Delete, &flags, None) {
                return e;
            }
        }
        let limit = self.item_size_limit(server);
        Error::ValueTooLarge {
            key: display_key(key),
            size,
            limit,
        }
    }

    /// The server's `item_size_max`, asked once and remembered.
    fn item_size_limit(&self, server: usize) -> Option<usize> {
        let known = self.item_size_limits[server].load(Ordering::Relaxed);
        if known != 0 {
            return Some(known);
        }
        let replies = self
            .cluster
            .exchange_one(server, |buf| text::encode_stats(Some("settings"), buf), Expect::Stats)
            .ok()?;
        let Some(TextReply::Stats(stats)) = replies.text else {
            return None;
        };
        let limit: usize = stats.iter().find(|(name, _)| name == "item_size_max")?.1.parse().ok()?;
        self.item_size_limits[server].store(limit, Ordering::Relaxed);
        Some(limit)
    }

    /// `md key`: true if the key existed.
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        let reply = self.request(key, Command::Delete, &[], None)?;
        match reply.code {
            Code::Stored => Ok(true),
            Code::NotFound => Ok(false),
            _ => Err(unexpected(&self.server_of(key), "md", &reply)),
        }
    }

    /// `mg key T<ttl>`: true if the key existed.
    pub fn touch(&self, key: &[u8], ttl: i64) -> Result<bool> {
        let reply = self.request(key, Command::Get, &[Flag::Ttl(ttl)], None)?;
        match reply.code {
            Code::Stored => Ok(true),
            Code::Miss => Ok(false),
            _ => Err(unexpected(&self.server_of(key), "mg", &reply)),
        }
    }

    /// `ma`: the new value, or `None` when the key is missing and `initial` is `None`.
    /// With `initial`, a missing key is created holding `initial` (the delta is not applied) with
    /// `ttl`; an existing key keeps its TTL.
    pub fn arithmetic(
        &self,
        key: &[u8],
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
        let reply = self.request(key, Command::Arithmetic, &flags, None)?;
        match reply.code {
            Code::Value => {
                let digits = reply.value.as_deref().unwrap_or_default();
                let number = std::str::from_utf8(digits).ok().and_then(|s| s.trim().parse().ok());
                number
                    .map(Some)
                    .ok_or_else(|| unexpected(&self.server_of(key), "ma", &reply))
            }
            Code::NotFound => Ok(None),
            _ => Err(unexpected(&self.server_of(key), "ma", &reply)),
        }
    }

    /// Send one request per key, grouped by server (one write per server, all servers in
    /// parallel), each tagged with its position as opaque.
    ///
    /// `Quiet`: requests carry `q` and the group ends with `mn`; the result is the reply the
    /// server sent, or `None` where quiet mode suppressed the nominal one. memcached's error
    /// replies carry no opaque, so one cannot be pinned on its request: any error reply fails
    /// the call (after the whole batch is read, so the connection stays in step).
    /// `Loud`: every request gets its reply, matched by position; use it when individual
    /// errors must be attributed (a too-large value in `set_many`).
    fn batch(
        &self,
        mode: BatchMode,
        command: Command,
        keys: &[&[u8]],
        flags_for: impl Fn(usize) -> Vec<Flag>,
        values: Option<&[&[u8]]>,
    ) -> Result<Vec<Option<Response>>> {
        let wire_keys: Vec<WireKey<'_>> = keys.iter().map(|k| wire(k)).collect::<Result<_>>()?;
        let mut by_server: Vec<Vec<usize>> = vec![Vec::new(); self.cluster.server_count()];
        for (i, key) in keys.iter().enumerate() {
            by_server[self.cluster.server_for(key)].push(i);
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
                encode: |buf: &mut Vec<u8>| {
                    let mut itoa = itoa::Buffer::new();
                    for (position, &i) in members.iter().enumerate() {
                        let mut flags = flags_for(i);
                        if mode == BatchMode::Quiet {
                            flags.push(Flag::Quiet);
                        }
                        flags.push(Flag::Opaque(Bytes::copy_from_slice(itoa.format(position).as_bytes())));
                        if wire_keys[i].binary {
                            flags.push(Flag::Base64Key);
                        }
                        let mut request = Request::new(command, &wire_keys[i].token, &flags);
                        if let Some(values) = values {
                            request = request.with_value(values[i]);
                        }
                        request.encode(buf);
                    }
                    if mode == BatchMode::Quiet {
                        encode_noop(buf);
                    }
                },
            })
            .collect();
        let results = self.cluster.exchange_many(batches);
        let mut out: Vec<Option<Response>> = vec![None; keys.len()];
        for ((server, members), result) in groups.iter().zip(results) {
            let Replies { meta, .. } = result?;
            let name = self.cluster.server_name(*server);
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
                out[members[position]] = Some(reply);
            }
        }
        Ok(out)
    }

    /// Fetch many keys; `None` for misses, aligned with `keys`.
    pub fn get_many(&self, keys: &[&[u8]], with_cas: bool) -> Result<Vec<Option<Item>>> {
        let flags = |_| {
            let mut f = vec![Flag::ReturnValue, Flag::ReturnClientFlags];
            if with_cas {
                f.push(Flag::ReturnCas);
            }
            f
        };
        let replies = self.batch(BatchMode::Quiet, Command::Get, keys, flags, None)?;
        replies
            .into_iter()
            .zip(keys)
            .map(|(reply, key)| match reply {
                None => Ok(None),
                Some(reply) => {
                    let reply = check(&self.server_of(key), reply)?;
                    match reply.code {
                        Code::Value => Ok(Some(item_of(reply))),
                        _ => Err(unexpected(&self.server_of(key), "mg", &reply)),
                    }
                }
            })
            .collect()
    }

    /// Store many items; returns whether each was stored, aligned with `items`. Items over the
    /// server's size limit fail the call with `ValueTooLarge` after every other item is stored
    /// and the oversized keys' old values are deleted.
    pub fn set_many(&self, items: &[StoreItem<'_>], ttl: i64) -> Result<Vec<bool>> {
        let known_limit = |item: &StoreItem<'_>| {
            let limit = self.item_size_limits[self.cluster.server_for(item.key)].load(Ordering::Relaxed);
            limit != 0 && item.data.len() > limit
        };
        let (mut too_large, sendable): (Vec<usize>, Vec<usize>) =
            (0..items.len()).partition(|&i| known_limit(&items[i]));
        let keys: Vec<&[u8]> = sendable.iter().map(|&i| items[i].key).collect();
        let values: Vec<&[u8]> = sendable.iter().map(|&i| items[i].data).collect();
        let flags = |n: usize| store_flags(SetMode::Set, items[sendable[n]].client_flags, ttl, None);
        let replies = self.batch(BatchMode::Loud, Command::Set, &keys, flags, Some(&values))?;
        let mut stored = vec![false; items.len()];
        for (reply, &i) in replies.into_iter().zip(&sendable) {
            let key = items[i].key;
            let Some(reply) = reply else { continue };
            if reply.code == Code::ServerError && reply.message.as_deref() == Some(TOO_LARGE) {
                too_large.push(i);
                continue;
            }
            stored[i] = match check(&self.server_of(key), reply)?.code {
                Code::Stored => true,
                Code::NotStored | Code::Exists | Code::NotFound => false,
                _ => {
                    return Err(Error::UnexpectedReply {
                        server: self.server_of(key),
                        detail: "bad reply to ms".into(),
                    })
                }
            };
        }
        let mut first_error = None;
        for i in too_large {
            let item = &items[i];
            let error = self.too_large(
                self.cluster.server_for(item.key),
                SetMode::Set,
                item.key,
                item.data.len(),
                None,
            );
            first_error.get_or_insert(error);
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(stored),
        }
    }

    /// Delete many keys; returns how many existed.
    pub fn delete_many(&self, keys: &[&[u8]]) -> Result<usize> {
        let replies = self.batch(BatchMode::Quiet, Command::Delete, keys, |_| Vec::new(), None)?;
        let mut deleted = 0;
        for (reply, key) in replies.into_iter().zip(keys) {
            match reply {
                None => deleted += 1,
                Some(reply) => match check(&self.server_of(key), reply)?.code {
                    Code::NotFound => {}
                    _ => {
                        return Err(Error::UnexpectedReply {
                            server: self.server_of(key),
                            detail: "bad reply to md".into(),
                        })
                    }
                },
            }
        }
        Ok(deleted)
    }

    /// Send a classic command to every server in parallel.
    fn broadcast(&self, encode: impl Fn(&mut Vec<u8>), expect: Expect) -> PerServer<TextReply> {
        let batches = (0..self.cluster.server_count())
            .map(|server| Batch {
                server,
                expect,
                encode: |buf: &mut Vec<u8>| encode(buf),
            })
            .collect();
        self.cluster
            .exchange_many(batches)
            .into_iter()
            .enumerate()
            .map(|(server, result)| {
                let name = self.cluster.server_name(server).to_string();
                let reply = result.and_then(|r| match r.text {
                    Some(TextReply::Failure(message)) => Err(Error::ServerErrorReply {
                        server: name.clone(),
                        message,
                    }),
                    Some(reply) => Ok(reply),
                    None => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: "no reply".into(),
                    }),
                });
                (name, reply)
            })
            .collect()
    }

    /// `stats [group]` from every server.
    pub fn stats(&self, group: Option<&str>) -> PerServer<StatLines> {
        self.broadcast(|buf| text::encode_stats(group, buf), Expect::Stats)
            .into_iter()
            .map(|(name, reply)| {
                let stats = reply.and_then(|r| match r {
                    TextReply::Stats(stats) => Ok(stats),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, stats)
            })
            .collect()
    }

    /// `version` from every server.
    pub fn version(&self) -> PerServer<String> {
        self.broadcast(text::encode_version, Expect::Line)
            .into_iter()
            .map(|(name, reply)| {
                let version = reply.and_then(|r| match r {
                    TextReply::Line(line) if line.starts_with("VERSION ") => Ok(line["VERSION ".len()..].to_owned()),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, version)
            })
            .collect()
    }

    /// `flush_all [delay]` on every server.
    pub fn flush_all(&self, delay: u32) -> PerServer<()> {
        self.broadcast(|buf| text::encode_flush_all(delay, buf), Expect::Line)
            .into_iter()
            .map(|(name, reply)| {
                let ok = reply.and_then(|r| match r {
                    TextReply::Line(line) if line == "OK" => Ok(()),
                    other => Err(Error::UnexpectedReply {
                        server: name.clone(),
                        detail: format!("{other:?}"),
                    }),
                });
                (name, ok)
            })
            .collect()
    }

    pub fn close(&self) {
        self.cluster.close();
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
