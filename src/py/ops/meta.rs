//! Raw meta commands, with the caller's own flags.

use super::{to_py, Key, Op};
use crate::client::Client as Core;
use crate::error::Result;
use crate::protocol::flags::parse_flags;
use crate::protocol::request::{Command, Flag};
use crate::protocol::response::Response;
use crate::py::errors::invalid_argument;
use crate::py::result::MetaResult;
use crate::py::serde::{Payload, Serde};
use crate::transport::Transport;
use pyo3::prelude::*;
use std::future::Future;

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
