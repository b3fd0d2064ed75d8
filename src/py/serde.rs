//! Values <-> (bytes, client flags).
//!
//! The default layout is pymemcache's `pickle_serde` / python-memcached's, so either client
//! reads what the other wrote: `bytes` 0, `str` 16 (UTF-8), `int` 2 (decimal), anything else
//! 1 (pickle, highest protocol); zlib-compressed payloads add 8. On read, 4 (pylibmc's int) is
//! also an int. Type checks are exact, as in pymemcache: a `bool` or a `str` subclass is pickled.

use super::errors::{invalid_argument, serialization_error, serialization_error_from};
use bytes::Bytes;
use flate2::read::ZlibDecoder;
use flate2::write::ZlibEncoder;
use flate2::Compression;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyInt, PyString, PyTuple};
use std::io::{Read, Write};

pub const FLAG_BYTES: u32 = 0;
pub const FLAG_PICKLE: u32 = 1 << 0;
pub const FLAG_INTEGER: u32 = 1 << 1;
pub const FLAG_LONG: u32 = 1 << 2;
pub const FLAG_COMPRESSED: u32 = 1 << 3;
pub const FLAG_TEXT: u32 = 1 << 4;
/// Reserved by memlease: the value ends with a 4-byte big-endian trailer, the milliseconds it
/// took to compute, for probabilistic early expiration (XFetch). Set only by `fill`, stripped
/// on every read, refused from custom serdes. (The migration tombstone flags, 0x4D4C0000, do
/// not include it.)
pub const FLAG_COMPUTE_TIME: u32 = 1 << 29;
const COMPUTE_TIME_TRAILER: usize = 4;

/// A stored value with its compute-time trailer (see [`FLAG_COMPUTE_TIME`]) taken off:
/// `(data, flags, compute time in ms)`.
pub fn split_compute_time(mut data: Bytes, flags: u32) -> PyResult<(Bytes, u32, Option<u32>)> {
    if flags & FLAG_COMPUTE_TIME == 0 {
        return Ok((data, flags, None));
    }
    if data.len() < COMPUTE_TIME_TRAILER {
        return Err(serialization_error(
            "value flagged with a compute time is too short to hold it",
        ));
    }
    let trailer = data.split_off(data.len() - COMPUTE_TIME_TRAILER);
    let millis = u32::from_be_bytes(trailer[..].try_into().expect("4-byte trailer"));
    Ok((data, flags & !FLAG_COMPUTE_TIME, Some(millis)))
}

/// `payload` with a compute-time trailer, and its flags marked (see [`FLAG_COMPUTE_TIME`]).
pub fn with_compute_time(payload: &[u8], flags: u32, millis: u32) -> (Payload, u32) {
    let mut data = Vec::with_capacity(payload.len() + COMPUTE_TIME_TRAILER);
    data.extend_from_slice(payload);
    data.extend_from_slice(&millis.to_be_bytes());
    (Payload::Owned(data), flags | FLAG_COMPUTE_TIME)
}

/// Default size above which values are zlib-compressed.
pub const DEFAULT_COMPRESS_THRESHOLD: usize = 16 * 1024;
/// Bytes compressed as a probe before compressing a large value (see `compress_if_worthwhile`).
const COMPRESSION_SAMPLE: usize = 4096;
/// Refuse to inflate a stored value beyond this (a corrupt or hostile item must not exhaust
/// memory); well above memcached's 1 GiB item ceiling times any sane ratio for real data.
pub(super) const MAX_INFLATED: u64 = 256 * 1024 * 1024;

static PICKLE_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static PICKLE_LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Serialized bytes, borrowed from the Python object when possible so no copy is made before
/// the request is encoded.
pub enum Payload {
    Bytes(PyBackedBytes),
    Str(PyBackedStr),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Payload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Payload::Bytes(b) => b,
            Payload::Str(s) => s.as_bytes(),
            Payload::Owned(v) => v,
        }
    }
}

/// How values are turned into bytes and back.
pub enum Serde {
    /// The pymemcache-compatible layout described in the module docs.
    Default {
        pickle: bool,
        compress_threshold: Option<usize>,
    },
    /// Values must be bytes-like and come back as `bytes`; flags are 0.
    Raw,
    /// A user object with `serialize(key, value) -> (bytes, flags)` and
    /// `deserialize(key, data, flags) -> value`.
    Custom(Py<PyAny>),
}

impl Serde {
    pub fn from_options(
        serde: Option<&Bound<'_, PyAny>>,
        pickle: bool,
        compress_threshold: Option<usize>,
    ) -> PyResult<Self> {
        let Some(serde) = serde else {
            return Ok(Serde::Default {
                pickle,
                compress_threshold,
            });
        };
        if let Ok(name) = serde.cast::<PyString>() {
            return match name.to_str()? {
                "raw" => Ok(Serde::Raw),
                "default" | "pickle" => Ok(Serde::Default {
                    pickle,
                    compress_threshold,
                }),
                other => Err(invalid_argument(format!(
                    "serde must be 'default', 'raw' or an object, not {other:?}"
                ))),
            };
        }
        if !serde.hasattr("serialize")? || !serde.hasattr("deserialize")? {
            return Err(invalid_argument(
                "serde objects need serialize(key, value) and deserialize(key, data, flags)",
            ));
        }
        Ok(Serde::Custom(serde.clone().unbind()))
    }

    pub fn serialize(&self, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<(Payload, u32)> {
        let py = value.py();
        match self {
            Serde::Default {
                pickle,
                compress_threshold,
            } => {
                let (payload, flags) = serialize_default(value, *pickle)?;
                match compress_threshold {
                    Some(threshold) if payload.len() > *threshold => {
                        match py.detach(|| compress_if_worthwhile(&payload)) {
                            Some(compressed) => Ok((Payload::Owned(compressed), flags | FLAG_COMPRESSED)),
                            None => Ok((payload, flags)),
                        }
                    }
                    _ => Ok((payload, flags)),
                }
            }
            Serde::Raw => Ok((Payload::Bytes(raw_bytes(value)?), FLAG_BYTES)),
            Serde::Custom(serde) => {
                let result = serde
                    .bind(py)
                    .call_method1("serialize", (key, value))
                    .map_err(|e| serialization_error_from(py, format!("serde.serialize failed: {e}"), e))?;
                let tuple = result
                    .cast::<PyTuple>()
                    .map_err(|_| serialization_error("serde.serialize must return a (bytes, flags) tuple"))?;
                if tuple.len() != 2 {
                    return Err(serialization_error(
                        "serde.serialize must return a (bytes, flags) tuple",
                    ));
                }
                let data = serialized_data(&tuple.get_item(0)?)?;
                let flags: u32 = tuple
                    .get_item(1)?
                    .extract()
                    .map_err(|_| serialization_error("serde flags must be an int in 0..2**32"))?;
                if flags & FLAG_COMPUTE_TIME != 0 {
                    return Err(serialization_error("serde flag bit 1 << 29 is reserved by memlease"));
                }
                Ok((data, flags))
            }
        }
    }

    pub fn deserialize(&self, py: Python<'_>, key: &Bound<'_, PyAny>, data: Bytes, flags: u32) -> PyResult<Py<PyAny>> {
        let (data, flags, _) = split_compute_time(data, flags)?;
        match self {
            Serde::Default { pickle, .. } => deserialize_default(py, data, flags, *pickle),
            Serde::Raw => Ok(PyBytes::new(py, &data).into_any().unbind()),
            Serde::Custom(serde) => {
                let data = PyBytes::new(py, &data);
                serde
                    .bind(py)
                    .call_method1("deserialize", (key, data, flags))
                    .map(Bound::unbind)
                    .map_err(|e| serialization_error_from(py, format!("serde.deserialize failed: {e}"), e))
            }
        }
    }
}

pub(super) fn raw_bytes(value: &Bound<'_, PyAny>) -> PyResult<PyBackedBytes> {
    value
        .extract::<PyBackedBytes>()
        .map_err(|_| serialization_error(format!("expected bytes, got {}", type_name(value))))
}

/// What a custom serde's `serialize` returned as data: bytes-like, or `str`, stored as UTF-8
/// (pymemcache accepts text there too; its own JSON serde example returns it).
fn serialized_data(data: &Bound<'_, PyAny>) -> PyResult<Payload> {
    if let Ok(text) = data.cast::<PyString>() {
        let text = PyBackedStr::try_from(text.clone())
            .map_err(|e| serialization_error(format!("serde.serialize returned text that is not valid UTF-8: {e}")))?;
        return Ok(Payload::Str(text));
    }
    data.extract::<PyBackedBytes>().map(Payload::Bytes).map_err(|_| {
        serialization_error(format!(
            "serde.serialize must return bytes or str data, got {}",
            type_name(data)
        ))
    })
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn serialize_default(value: &Bound<'_, PyAny>, pickle: bool) -> PyResult<(Payload, u32)> {
    if let Ok(bytes) = value.cast_exact::<PyBytes>() {
        return Ok((Payload::Bytes(PyBackedBytes::from(bytes.clone())), FLAG_BYTES));
    }
    if let Ok(text) = value.cast_exact::<PyString>() {
        let text = PyBackedStr::try_from(text.clone())
            .map_err(|e| serialization_error(format!("str value is not valid UTF-8: {e}")))?;
        return Ok((Payload::Str(text), FLAG_TEXT));
    }
    if value.cast_exact::<PyInt>().is_ok() {
        let digits = match value.extract::<i64>() {
            Ok(n) => itoa::Buffer::new().format(n).as_bytes().to_vec(),
            Err(_) => value.str()?.to_str()?.as_bytes().to_vec(),
        };
        return Ok((Payload::Owned(digits), FLAG_INTEGER));
    }
    if !pickle {
        return Err(serialization_error(format!(
            "cannot store a {} with pickle disabled: only bytes, str and int",
            type_name(value)
        )));
    }
    let py = value.py();
    let dumps = PICKLE_DUMPS.import(py, "pickle", "dumps")?;
    let pickled = dumps
        .call1((value, -1))
        .map_err(|e| serialization_error_from(py, format!("cannot pickle {}: {e}", type_name(value)), e))?;
    let pickled = pickled
        .cast_into::<PyBytes>()
        .map_err(|_| serialization_error("pickle.dumps did not return bytes"))?;
    Ok((Payload::Bytes(PyBackedBytes::from(pickled)), FLAG_PICKLE))
}

fn deserialize_default(py: Python<'_>, data: Bytes, flags: u32, pickle: bool) -> PyResult<Py<PyAny>> {
    let data = if flags & FLAG_COMPRESSED != 0 {
        Bytes::from(py.detach(|| decompress(&data)).map_err(serialization_error)?)
    } else {
        data
    };
    let kind = flags & !FLAG_COMPRESSED;
    if kind & FLAG_TEXT != 0 {
        let text =
            std::str::from_utf8(&data).map_err(|e| serialization_error(format!("stored text is not UTF-8: {e}")))?;
        return Ok(PyString::new(py, text).into_any().unbind());
    }
    if kind & (FLAG_INTEGER | FLAG_LONG) != 0 {
        let text = std::str::from_utf8(&data).map_err(|_| serialization_error("stored integer is not ASCII"))?;
        return match text.trim().parse::<i64>() {
            Ok(n) => Ok(n.into_pyobject(py)?.into_any().unbind()),
            Err(_) => {
                let int = py
                    .get_type::<PyInt>()
                    .call1((text,))
                    .map_err(|_| serialization_error(format!("stored integer {text:?} is not a number")))?;
                Ok(int.unbind())
            }
        };
    }
    if kind & FLAG_PICKLE != 0 {
        if !pickle {
            return Err(serialization_error(
                "stored value is pickled and unpickling is disabled (pickle=False)",
            ));
        }
        let loads = PICKLE_LOADS.import(py, "pickle", "loads")?;
        let raw = PyBytes::new(py, &data);
        return loads
            .call1((raw,))
            .map(Bound::unbind)
            .map_err(|e| serialization_error_from(py, format!("cannot unpickle stored value: {e}"), e));
    }
    // Bytes, and flag layouts of other clients we do not know: the raw data.
    Ok(PyBytes::new(py, &data).into_any().unbind())
}

/// Compress `data` unless that does not pay: a sample is compressed first, so already-compressed
/// or random data (images, encrypted blobs) costs a few microseconds instead of a full deflate
/// pass, and the result is kept only if smaller.
fn compress_if_worthwhile(data: &[u8]) -> Option<Vec<u8>> {
    let sample = &data[..data.len().min(COMPRESSION_SAMPLE)];
    if sample.len() < data.len() && compress(sample).len() * 16 > sample.len() * 15 {
        return None;
    }
    let compressed = compress(data);
    (compressed.len() < data.len()).then_some(compressed)
}

pub(super) fn compress(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(data.len() / 2), Compression::fast());
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    encoder.finish().expect("writing to a Vec cannot fail")
}

pub(super) fn decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(data.len() * 3);
    ZlibDecoder::new(data)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("stored value is flagged compressed but is not valid zlib data: {e}"))?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(format!("compressed value inflates beyond {MAX_INFLATED} bytes"));
    }
    Ok(out)
}
