//! Every client method as one value that both Python classes execute: `prepare` turns Python
//! arguments into owned Rust inputs (GIL held), [`Op::run`] performs the operation over either
//! transport (no GIL), and [`Op::finish`] turns the outcome into a Python object (GIL held).
//! `Client` runs an op on the calling thread; `AsyncClient` runs it on the runtime and resolves
//! an asyncio future with the finished value.

use super::convert::{key_parts, KeyParts};
use super::errors::invalid_argument;
use super::result::MetaResult;
use super::serde::{Payload, Serde};
use crate::client::{Cas, Client as Core, Item, KeyRef, PerServer, StatLines, StoreItem, StoreOutcome};
use crate::error::Result;
use crate::protocol::flags::parse_flags;
use crate::protocol::request::{ArithmeticMode, Command, Flag, SetMode};
use crate::protocol::response::Response;
use crate::route::ring::PlacementKey;
use crate::transport::Transport;
use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pyo3::BoundObject;
use std::future::Future;

/// One client method, split at the GIL boundaries.
pub trait Op: Send + Sync + Sized + 'static {
    type Output: Send + 'static;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send;

    fn finish(self, py: Python<'_>, output: Self::Output, serde: &Serde) -> PyResult<Py<PyAny>>;

    /// The result when the server is unreachable and the caller treats that as a miss
    /// (`on_server_error="miss"`): reads find nothing, writes report False. `None` means raise
    /// anyway (administrative and low-level meta calls).
    fn unavailable(self, _py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        None
    }

    /// Multi-key operations: carry on when some servers are unreachable, counting their keys
    /// as misses / not stored.
    fn tolerate(&mut self) {}
}

pub(crate) fn answer<'py, V: IntoPyObject<'py>>(py: Python<'py>, value: V) -> Option<PyResult<Py<PyAny>>>
where
    PyErr: From<V::Error>,
{
    Some(to_py(py, value))
}

pub(crate) fn to_py<'py, V: IntoPyObject<'py>>(py: Python<'py>, value: V) -> PyResult<Py<PyAny>>
where
    PyErr: From<V::Error>,
{
    Ok(value.into_pyobject(py)?.into_any().unbind())
}

/// A key argument: the Python object (for results and serdes) and its bytes.
pub struct Key {
    object: Py<PyAny>,
    parts: KeyParts,
}

impl Key {
    pub fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Key {
            parts: key_parts(key)?,
            object: key.clone().unbind(),
        })
    }

    /// The key as the operations see it.
    pub fn key_ref(&self) -> KeyRef<'_> {
        let (route, route_is_bytes) = match &self.parts.route {
            Some((route, is_bytes)) => (route.as_slice(), *is_bytes),
            None => (self.parts.stored.as_slice(), self.parts.is_bytes),
        };
        KeyRef {
            stored: &self.parts.stored,
            route: PlacementKey {
                bytes: route,
                is_bytes: route_is_bytes,
            },
            pinned: None,
            split_copy: false,
        }
    }

    fn many(keys: &Bound<'_, PyAny>) -> PyResult<Vec<Key>> {
        keys.try_iter()?.map(|k| Key::new(&k?)).collect()
    }

    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.object.bind(py)
    }
}

/// Deserialize an item read under `key`.
fn value_of(py: Python<'_>, key: &Key, item: Item, serde: &Serde) -> PyResult<Py<PyAny>> {
    serde.deserialize(py, key.bind(py), item.data, item.client_flags)
}

/// `get` / `gets`.
pub struct Get {
    key: Key,
    default: Option<Py<PyAny>>,
    /// `Some(cas_default)` for `gets`, which answers `(default, cas_default)` on a miss, as
    /// pymemcache does, so `value, cas = client.gets(key)` always unpacks.
    cas_default: Option<Option<Py<PyAny>>>,
}

impl Get {
    pub fn new(key: &Bound<'_, PyAny>, default: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(Get {
            key: Key::new(key)?,
            default,
            cas_default: None,
        })
    }

    pub fn with_cas(
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
        cas_default: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        Ok(Get {
            cas_default: Some(cas_default),
            ..Self::new(key, default)?
        })
    }

    /// The answer for a key that is not there.
    fn miss(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let default = self.default.unwrap_or_else(|| py.None());
        match self.cas_default {
            Some(cas_default) => to_py(py, (default, cas_default.unwrap_or_else(|| py.None()))),
            None => Ok(default),
        }
    }
}

impl Op for Get {
    type Output = Option<Item>;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send {
        core.get(self.key.key_ref(), self.cas_default.is_some())
    }

    fn finish(self, py: Python<'_>, output: Option<Item>, serde: &Serde) -> PyResult<Py<PyAny>> {
        match output {
            None => self.miss(py),
            Some(item) if self.cas_default.is_some() => {
                let cas = item.cas.unwrap_or(0);
                let value = value_of(py, &self.key, item, serde)?;
                to_py(py, (value, cas))
            }
            Some(item) => value_of(py, &self.key, item, serde),
        }
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(self.miss(py))
    }
}

/// `set` / `add` / `replace` / `append` / `prepend` / `cas`: true when stored.
pub struct Store {
    mode: SetMode,
    key: Key,
    payload: Payload,
    client_flags: u32,
    ttl: i64,
    cas: Option<Cas>,
    /// The `cas` method's contract: None (not False) when the key is gone.
    missing_is_none: bool,
}

impl Store {
    pub fn new(
        serde: &Serde,
        mode: SetMode,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        ttl: i64,
        cas: Option<u64>,
    ) -> PyResult<Self> {
        let key = Key::new(key)?;
        let (payload, client_flags) = serde.serialize(key.bind(value.py()), value)?;
        Ok(Store::serialized(mode, key, payload, client_flags, ttl, cas))
    }

    /// A store of an already serialized value.
    pub fn serialized(
        mode: SetMode,
        key: Key,
        payload: Payload,
        client_flags: u32,
        ttl: i64,
        cas: Option<u64>,
    ) -> Self {
        Store {
            mode,
            key,
            payload,
            client_flags,
            ttl,
            cas: cas.map(Cas::Caller),
            missing_is_none: false,
        }
    }

    /// A lease fill: its CAS is the lease's, so whichever server answered the lease read may
    /// judge it (see [`Cas::Lease`]).
    pub fn lease_fill(self) -> Self {
        Store {
            cas: self.cas.map(|cas| Cas::Lease(cas.token())),
            ..self
        }
    }

    /// Answer None rather than False when the key does not exist (pymemcache's `cas`), so a
    /// caller can tell "someone else changed it" from "it expired or was deleted".
    pub fn missing_is_none(self) -> Self {
        Store {
            missing_is_none: true,
            ..self
        }
    }
}

impl Op for Store {
    type Output = StoreOutcome;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Self::Output>> + Send {
        core.store(
            self.mode,
            self.key.key_ref(),
            &self.payload,
            self.client_flags,
            self.ttl,
            self.cas,
        )
    }

    fn finish(self, py: Python<'_>, output: StoreOutcome, _: &Serde) -> PyResult<Py<PyAny>> {
        if self.missing_is_none && output == StoreOutcome::NotFound {
            return Ok(py.None());
        }
        to_py(py, output == StoreOutcome::Stored)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `delete`: true if the key existed.
pub struct Delete(Key);

impl Delete {
    pub fn new(key: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Delete(Key::new(key)?))
    }
}

impl Op for Delete {
    type Output = bool;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<bool>> + Send {
        core.delete(self.0.key_ref())
    }

    fn finish(self, py: Python<'_>, output: bool, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `touch`: true if the key existed.
pub struct Touch(Key, i64);

impl Touch {
    pub fn new(key: &Bound<'_, PyAny>, ttl: i64) -> PyResult<Self> {
        Ok(Touch(Key::new(key)?, ttl))
    }
}

impl Op for Touch {
    type Output = bool;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<bool>> + Send {
        core.touch(self.0.key_ref(), self.1)
    }

    fn finish(self, py: Python<'_>, output: bool, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        answer(py, false)
    }
}

/// `incr` / `decr`.
pub struct Arithmetic {
    key: Key,
    mode: ArithmeticMode,
    delta: u64,
    initial: Option<u64>,
    ttl: i64,
}

impl Arithmetic {
    pub fn new(
        key: &Bound<'_, PyAny>,
        mode: ArithmeticMode,
        delta: u64,
        initial: Option<u64>,
        ttl: i64,
    ) -> PyResult<Self> {
        Ok(Arithmetic {
            key: Key::new(key)?,
            mode,
            delta,
            initial,
            ttl,
        })
    }
}

impl Op for Arithmetic {
    type Output = Option<u64>;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Option<u64>>> + Send {
        core.arithmetic(self.key.key_ref(), self.mode, self.delta, self.initial, self.ttl)
    }

    fn finish(self, py: Python<'_>, output: Option<u64>, _: &Serde) -> PyResult<Py<PyAny>> {
        to_py(py, output)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(Ok(py.None()))
    }
}

/// `get_many`: `{key: value}` of the keys found.
pub struct GetMany {
    keys: Vec<Key>,
    tolerant: bool,
}

impl GetMany {
    pub fn new(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(GetMany {
            keys: Key::many(keys)?,
            tolerant: false,
        })
    }
}

impl Op for GetMany {
    type Output = Vec<Option<Item>>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        let raw: Vec<KeyRef<'_>> = self.keys.iter().map(Key::key_ref).collect();
        core.get_many(&raw, false, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, output: Self::Output, serde: &Serde) -> PyResult<Py<PyAny>> {
        let found = PyDict::new(py);
        for (key, item) in self.keys.iter().zip(output) {
            if let Some(item) = item {
                found.set_item(key.bind(py), value_of(py, key, item, serde)?)?;
            }
        }
        Ok(found.into_any().unbind())
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        Some(Ok(PyDict::new(py).into_any().unbind()))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}

/// `set_many`: the keys not stored.
pub struct SetMany {
    keys: Vec<Key>,
    payloads: Vec<(Payload, u32)>,
    ttl: i64,
    tolerant: bool,
}

impl SetMany {
    pub fn new(serde: &Serde, mapping: &Bound<'_, PyAny>, ttl: i64) -> PyResult<Self> {
        let mut keys = Vec::new();
        let mut payloads = Vec::new();
        for pair in mapping.call_method0("items")?.try_iter()? {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
            let key = Key::new(&key)?;
            payloads.push(serde.serialize(key.bind(value.py()), &value)?);
            keys.push(key);
        }
        Ok(SetMany {
            keys,
            payloads,
            ttl,
            tolerant: false,
        })
    }
}

impl Op for SetMany {
    type Output = Vec<bool>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Vec<bool>> {
        let items: Vec<StoreItem<'_>> = self
            .keys
            .iter()
            .zip(&self.payloads)
            .map(|(key, (data, flags))| StoreItem {
                key: key.key_ref(),
                data,
                client_flags: *flags,
            })
            .collect();
        core.set_many(&items, self.ttl, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, stored: Vec<bool>, _: &Serde) -> PyResult<Py<PyAny>> {
        let failed = PyList::empty(py);
        for (key, ok) in self.keys.iter().zip(stored) {
            if !ok {
                failed.append(key.bind(py))?;
            }
        }
        Ok(failed.into_any().unbind())
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let all = vec![false; self.keys.len()];
        Some(Op::finish(self, py, all, &Serde::Raw))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}

/// `delete_many`: how many keys existed; reporting, also the keys whose server could not be
/// reached (for the write-failure tracker).
pub struct DeleteMany {
    keys: Vec<Key>,
    tolerant: bool,
    report: bool,
}

impl DeleteMany {
    pub fn new(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(DeleteMany {
            keys: Key::many(keys)?,
            tolerant: false,
            report: false,
        })
    }

    /// Answer `(deleted, [keys not reached])` rather than a count.
    pub fn reporting(keys: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(DeleteMany {
            report: true,
            ..Self::new(keys)?
        })
    }

    fn answer(&self, py: Python<'_>, deleted: usize, unreached: &[usize]) -> PyResult<Py<PyAny>> {
        if !self.report {
            return to_py(py, deleted);
        }
        let keys: Vec<&Bound<'_, PyAny>> = unreached.iter().map(|&i| self.keys[i].bind(py)).collect();
        to_py(py, (deleted, keys))
    }
}

impl Op for DeleteMany {
    type Output = (usize, Vec<usize>);

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<(usize, Vec<usize>)> {
        let raw: Vec<KeyRef<'_>> = self.keys.iter().map(Key::key_ref).collect();
        core.delete_many(&raw, self.tolerant).await
    }

    fn finish(self, py: Python<'_>, (deleted, unreached): (usize, Vec<usize>), _: &Serde) -> PyResult<Py<PyAny>> {
        self.answer(py, deleted, &unreached)
    }

    fn unavailable(self, py: Python<'_>) -> Option<PyResult<Py<PyAny>>> {
        let every: Vec<usize> = (0..self.keys.len()).collect();
        Some(self.answer(py, 0, &every))
    }

    fn tolerate(&mut self) {
        self.tolerant = true;
    }
}

/// Raise the first error of a per-server result list, else return the values by server.
fn by_server<V>(results: PerServer<V>) -> PyResult<Vec<(String, V)>> {
    results
        .into_iter()
        .map(|(name, r)| r.map(|v| (name, v)).map_err(PyErr::from))
        .collect()
}

/// `flush_all`.
pub struct FlushAll(pub u32);

impl Op for FlushAll {
    type Output = PerServer<()>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.flush_all(self.0).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        by_server(output)?;
        Ok(py.None())
    }
}

/// `stats [args...]`: `{server: {name: value}}`, numbers converted.
pub struct Stats(Option<String>);

impl Stats {
    /// Each argument is one word of the command: `stats("slabs")`, `stats("cachedump", "1", "1")`.
    pub fn new(args: Vec<String>) -> PyResult<Self> {
        if args
            .iter()
            .any(|a| a.is_empty() || !a.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(invalid_argument(
                "stats arguments are single words, e.g. stats(\"cachedump\", \"1\", \"10\")",
            ));
        }
        Ok(Stats((!args.is_empty()).then(|| args.join(" "))))
    }
}

impl Op for Stats {
    type Output = PerServer<StatLines>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.stats(self.0.as_deref()).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, stats) in by_server(output)? {
            let entry = PyDict::new(py);
            for (name, value) in stats {
                if let Ok(n) = value.parse::<i64>() {
                    entry.set_item(name, n)?;
                } else if let Ok(f) = value.parse::<f64>() {
                    entry.set_item(name, f)?;
                } else {
                    entry.set_item(name, value)?;
                }
            }
            result.set_item(server, entry)?;
        }
        Ok(result.into_any().unbind())
    }
}

/// `_text_command(line, end=None)`: a classic command on every server, `{server: reply bytes}`
/// (its one line, or everything before `end`).
pub struct TextCommand {
    line: String,
    end: Option<Bytes>,
}

impl TextCommand {
    pub fn new(line: String, end: Option<Vec<u8>>) -> PyResult<Self> {
        if end.as_ref().is_some_and(|end| end.is_empty()) {
            return Err(invalid_argument("end_tokens must not be empty"));
        }
        let words_ok = line
            .split(' ')
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_graphic()));
        if !words_ok {
            return Err(invalid_argument(
                "a text command is printable words separated by single spaces",
            ));
        }
        Ok(TextCommand {
            line,
            end: end.map(Bytes::from),
        })
    }
}

impl Op for TextCommand {
    type Output = PerServer<Vec<u8>>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.text_command(&self.line, self.end.clone()).await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, reply) in by_server(output)? {
            result.set_item(server, PyBytes::new(py, &reply))?;
        }
        Ok(result.into_any().unbind())
    }
}

/// `version`: `{server: version}`.
pub struct Version;

impl Op for Version {
    type Output = PerServer<String>;

    async fn run<T: Transport>(&self, core: &Core<T>) -> Result<Self::Output> {
        Ok(core.version().await)
    }

    fn finish(self, py: Python<'_>, output: Self::Output, _: &Serde) -> PyResult<Py<PyAny>> {
        let result = PyDict::new(py);
        for (server, version) in by_server(output)? {
            result.set_item(server, version)?;
        }
        Ok(result.into_any().unbind())
    }
}

/// `meta_get` / `meta_set` / `meta_delete` / `meta_arithmetic`: any flags, every return flag.
pub struct Meta {
    command: Command,
    key: Key,
    flags: Vec<Flag>,
    payload: Option<Payload>,
}

/// Parse user flags, refusing those the client manages itself.
fn user_flags(command: Command, text: &str) -> PyResult<Vec<Flag>> {
    let flags = parse_flags(command, text).map_err(|e| invalid_argument(e.0))?;
    if flags.contains(&Flag::Base64Key) {
        return Err(invalid_argument(
            "the b flag is set by the client for binary keys; pass the raw key",
        ));
    }
    if flags.contains(&Flag::Quiet) {
        return Err(invalid_argument(
            "the q flag would suppress the reply this call waits for",
        ));
    }
    Ok(flags)
}

impl Meta {
    /// `mg`/`md`/`ma`; `mg` with `v` also asks for the client flags, to deserialize.
    pub fn new(command: Command, key: &Bound<'_, PyAny>, flags: &str) -> PyResult<Self> {
        let mut flags = user_flags(command, flags)?;
        if command == Command::Get && flags.contains(&Flag::ReturnValue) && !flags.contains(&Flag::ReturnClientFlags) {
            flags.push(Flag::ReturnClientFlags);
        }
        Ok(Meta {
            command,
            key: Key::new(key)?,
            flags,
            payload: None,
        })
    }

    /// `ms`: the value is serialized, and its client flags sent unless `flags` sets `F`.
    pub fn set(serde: &Serde, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>, flags: &str) -> PyResult<Self> {
        let mut flags = user_flags(Command::Set, flags)?;
        let key = Key::new(key)?;
        let (payload, client_flags) = serde.serialize(key.bind(value.py()), value)?;
        if client_flags != 0 && !flags.iter().any(|f| matches!(f, Flag::ClientFlags(_))) {
            flags.push(Flag::ClientFlags(client_flags));
        }
        Ok(Meta {
            command: Command::Set,
            key,
            flags,
            payload: Some(payload),
        })
    }
}

impl Op for Meta {
    type Output = Response;

    fn run<T: Transport>(&self, core: &Core<T>) -> impl Future<Output = Result<Response>> + Send {
        core.meta(self.key.key_ref(), self.command, &self.flags, self.payload.as_deref())
    }

    fn finish(self, py: Python<'_>, reply: Response, serde: &Serde) -> PyResult<Py<PyAny>> {
        let value = match (&reply.value, self.command) {
            (Some(data), Command::Arithmetic) => {
                let number: Option<u64> = std::str::from_utf8(data).ok().and_then(|s| s.trim().parse().ok());
                Some(to_py(py, number)?)
            }
            (Some(data), _) => Some(serde.deserialize(
                py,
                self.key.bind(py),
                data.clone(),
                reply.flags.client_flags.unwrap_or(0),
            )?),
            (None, _) => None,
        };
        to_py(py, MetaResult::new(&reply, value))
    }
}
