//! Python arguments -> core types, with the errors a caller can act on.

use super::errors::invalid_argument;
use crate::py::errors::InvalidKey;
use crate::route::server::ServerSpec;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBool, PyBytes, PyString, PyTuple};
use std::time::Duration;

/// A key argument taken apart: the bytes stored under, whether the Python key was `bytes`, and
/// the routing key of a `(routing_key, key)` tuple (placed by the routing key, stored under the
/// key, so related keys can share a server).
pub struct KeyParts {
    pub stored: KeyBytes,
    pub is_bytes: bool,
    pub route: Option<(KeyBytes, bool)>,
}

/// Take a key argument apart (see [`KeyParts`]).
pub fn key_parts(key: &Bound<'_, PyAny>) -> PyResult<KeyParts> {
    if let Ok(pair) = key.cast::<PyTuple>() {
        if pair.len() != 2 {
            return Err(InvalidKey::new_err("tuple keys are (routing_key, key)"));
        }
        let route = pair.get_item(0)?;
        let stored = pair.get_item(1)?;
        return Ok(KeyParts {
            stored: key_backed(&stored)?,
            is_bytes: stored.cast::<PyBytes>().is_ok(),
            route: Some((key_backed(&route)?, route.cast::<PyBytes>().is_ok())),
        });
    }
    Ok(KeyParts {
        stored: key_backed(key)?,
        is_bytes: key.cast::<PyBytes>().is_ok(),
        route: None,
    })
}

/// A key's bytes, held by its Python object rather than copied: a `str` keeps its own UTF-8
/// form (for an ASCII `str`, its characters), `bytes` are immutable. (A copy per key was a
/// quarter of converting a `get_many`'s keys.)
pub enum KeyBytes {
    Str(PyBackedStr),
    Bytes(PyBackedBytes),
}

impl std::ops::Deref for KeyBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            KeyBytes::Str(text) => text.as_bytes(),
            KeyBytes::Bytes(raw) => raw,
        }
    }
}

/// The bytes of a key: `str` as UTF-8, `bytes` as is.
pub fn key_bytes(key: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    key_backed(key).map(|bytes| bytes.to_vec())
}

/// [`key_bytes`], held by the key object.
pub fn key_backed(key: &Bound<'_, PyAny>) -> PyResult<KeyBytes> {
    let bytes = if let Ok(text) = key.cast::<PyString>() {
        // A lone surrogate has no UTF-8 form: the key cannot be sent, which is the caller's
        // input at fault (`InvalidKey`), not an encoding accident.
        let utf8 = PyBackedStr::try_from(text.clone())
            .map_err(|_| InvalidKey::new_err("keys must be encodable as UTF-8; this str holds a lone surrogate"))?;
        KeyBytes::Str(utf8)
    } else if let Ok(raw) = key.cast::<PyBytes>() {
        KeyBytes::Bytes(PyBackedBytes::from(raw.clone()))
    } else {
        let type_name = key.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(InvalidKey::new_err(format!(
            "keys must be str or bytes, not {type_name}"
        )));
    };
    if bytes.is_empty() {
        return Err(InvalidKey::new_err("keys must not be empty"));
    }
    Ok(bytes)
}

/// memcached reads expiry times (`T`, `N`, `R`, `exptime`) as 32-bit signed integers and wraps
/// larger ones: `2**32 + 100` would be stored with a 100 s TTL.
pub use crate::protocol::request::TTL_RANGE;

/// Numeric arguments whose bad values raise `InvalidArgument` (a `MemcacheError`) naming the
/// parameter, rather than a bare `TypeError`/`OverflowError` (pyo3 names the argument only for
/// a `TypeError`). `bool` is refused: `ttl=True` is a mistake, not one second.
macro_rules! numeric_argument {
    ($(#[$doc:meta])* $name:ident($inner:ty), $param:literal, $what:literal $(, $range:expr)?) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub $inner);

        impl FromPyObject<'_, '_> for $name {
            type Error = PyErr;

            fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
                let refuse = || invalid_argument(format!(
                    concat!($param, " must be ", $what, ", not {}"),
                    obj.repr().map(|r| r.to_string()).unwrap_or_default()
                ));
                if obj.is_instance_of::<PyBool>() {
                    return Err(refuse());
                }
                let value = obj.extract::<$inner>().map_err(|_| refuse())?;
                $(if !$range.contains(&value) {
                    return Err(refuse());
                })?
                Ok($name(value))
            }
        }
    };
}

numeric_argument!(
    /// Seconds: 0 never expires, more than 30 days is a Unix time, negative expires at once.
    Ttl(i64),
    "ttl",
    "an int number of seconds in -2**31..2**31",
    TTL_RANGE
);
numeric_argument!(
    /// How long a lease placeholder lives.
    LeaseTtl(i64),
    "lease_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// Remaining TTL below which a reader wins an early refresh.
    RecacheTtl(i64),
    "recache_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// How long an invalidated item may be served stale.
    StaleTtl(i64),
    "stale_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// The TTL cap of values written to the gutter pool.
    GutterTtl(i64),
    "gutter_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// The TTL cap of values written to a remapped server for an unreachable one.
    RemapTtl(i64),
    "remap_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// The TTL cap of a pool.
    MaxTtl(i64),
    "max_ttl",
    "an int number of seconds in 1..2**31",
    POSITIVE_TTL
);
numeric_argument!(
    /// A CAS token.
    Cas(u64),
    "cas",
    "an int in 0..2**64"
);
numeric_argument!(
    /// The step of `incr` / `decr`.
    Delta(u64),
    "delta",
    "an int in 0..2**64"
);
numeric_argument!(
    /// The value a counter starts from when `incr` / `decr` creates it.
    Initial(u64),
    "initial",
    "an int in 0..2**64"
);
numeric_argument!(
    /// `flush_all` delay.
    Delay(u32),
    "delay",
    "an int number of seconds in 0..2**32"
);
numeric_argument!(
    /// Timeout options, validated further by [`timeout`], which names the option.
    Seconds(f64),
    "timeouts",
    "a number of seconds"
);
numeric_argument!(
    /// Counts and sizes in options.
    Count(usize),
    "counts and sizes",
    "a non-negative int"
);

/// A text argument sent as is (meta flags, stats words): a str with no UTF-8 form (a lone
/// surrogate) or another type is an `InvalidArgument`, not a `UnicodeEncodeError`.
#[derive(Debug, Clone, Default)]
pub struct Text(pub String);

impl FromPyObject<'_, '_> for Text {
    type Error = PyErr;

    fn extract(obj: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let text = obj
            .cast::<PyString>()
            .map_err(|_| invalid_argument("expected a str of meta flags or command words"))?;
        let utf8 = text
            .to_str()
            .map_err(|_| invalid_argument("flags and command words must be encodable as UTF-8 (no lone surrogates)"))?;
        Ok(Text(utf8.to_owned()))
    }
}

/// A TTL that must be positive: 0 would mean "never expires".
const POSITIVE_TTL: std::ops::RangeInclusive<i64> = 1..=i32::MAX as i64;

/// A compute time (seconds, kept with a value for early expiry): finite, not negative.
pub fn compute_time(seconds: Option<f64>) -> PyResult<Option<f64>> {
    match seconds {
        Some(s) if !s.is_finite() || s < 0.0 => Err(invalid_argument(format!(
            "compute_time must be a finite, non-negative number of seconds, not {s}"
        ))),
        other => Ok(other),
    }
}

/// A timeout option: finite and positive.
pub fn timeout(name: &str, seconds: Seconds) -> PyResult<Duration> {
    let seconds = seconds.0;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 3600.0 {
        return Err(invalid_argument(format!(
            "{name} must be a number of seconds in (0, 3600], not {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// One server: `"host:port [weight]"`, `(host, port)`, `(host, port, weight)` or `(spec, weight)`.
fn server_spec(item: &Bound<'_, PyAny>) -> PyResult<ServerSpec> {
    if let Ok(text) = item.cast::<PyString>() {
        return ServerSpec::parse(text.to_str()?).map_err(invalid_argument);
    }
    let Ok(tuple) = item.cast::<PyTuple>() else {
        return Err(invalid_argument(
            "servers are \"host:port\" strings or (host, port[, weight]) tuples",
        ));
    };
    let parts: Vec<Bound<'_, PyAny>> = tuple.iter().collect();
    let int = |value: &Bound<'_, PyAny>, what: &str| -> PyResult<u32> {
        value
            .extract::<u32>()
            .map_err(|_| invalid_argument(format!("server {what} must be a positive int")))
    };
    match parts.as_slice() {
        [first, second] => {
            let first: String = first
                .extract()
                .map_err(|_| invalid_argument("server host must be a str"))?;
            let second = int(second, "port or weight")?;
            // ("host", 11211) names a port; ("host:port", 3) or ("unix:/p", 3) a weight.
            let is_spec = first.starts_with("unix:")
                || first.starts_with('/')
                || first.starts_with('[')
                || first.matches(':').count() == 1;
            if is_spec {
                let mut spec = ServerSpec::parse(&first).map_err(invalid_argument)?;
                if second == 0 || second > crate::route::server::MAX_WEIGHT {
                    return Err(invalid_argument(format!(
                        "server weight must be in 1..={}",
                        crate::route::server::MAX_WEIGHT
                    )));
                }
                spec.weight = second;
                Ok(spec)
            } else {
                let port = u16::try_from(second)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| invalid_argument(format!("bad port {second}")))?;
                ServerSpec::from_parts(&first, port, 1).map_err(invalid_argument)
            }
        }
        [host, port, weight] => {
            let host: String = host
                .extract()
                .map_err(|_| invalid_argument("server host must be a str"))?;
            let port = int(port, "port")?;
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| invalid_argument(format!("bad port {port}")))?;
            ServerSpec::from_parts(&host, port, int(weight, "weight")?).map_err(invalid_argument)
        }
        _ => Err(invalid_argument(
            "server tuples are (host, port), (host, port, weight) or (\"host:port\", weight)",
        )),
    }
}

/// The `servers` argument: one server string, or a sequence of servers (strings or tuples).
pub fn servers(value: &Bound<'_, PyAny>) -> PyResult<Vec<ServerSpec>> {
    if value.cast::<PyString>().is_ok() {
        return Ok(vec![server_spec(value)?]);
    }
    let specs = value
        .try_iter()
        .map_err(|_| invalid_argument("servers must be a \"host:port\" string or a list of servers"))?
        .map(|item| server_spec(&item?))
        .collect::<PyResult<Vec<_>>>()?;
    if specs.is_empty() {
        return Err(invalid_argument("at least one server is required"));
    }
    Ok(specs)
}
