//! Whole-value codecs for callers that encode their own payloads (the named caches'
//! `compression=`): zlib, as the default serde compresses, and zstd, which decodes several
//! times faster at a similar ratio. The GIL is released while they run.

use super::errors::{invalid_argument, serialization_error};
use super::serde::{compress as zlib_compress, decompress as zlib_decompress, MAX_INFLATED};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;
use std::io::Read;

/// zstd's level: its default, a good ratio at hundreds of MB/s.
const ZSTD_LEVEL: i32 = 3;

#[derive(Clone, Copy)]
enum Codec {
    Zlib,
    Zstd,
}

fn codec(name: &str) -> PyResult<Codec> {
    match name {
        "zlib" => Ok(Codec::Zlib),
        "zstd" => Ok(Codec::Zstd),
        _ => Err(invalid_argument(format!(
            "unknown codec {name:?}: use \"zlib\" or \"zstd\""
        ))),
    }
}

/// `data` compressed with `codec` ("zlib" or "zstd").
#[pyfunction]
pub fn _compress<'py>(py: Python<'py>, data: PyBackedBytes, codec_name: &str) -> PyResult<Bound<'py, PyBytes>> {
    let codec = codec(codec_name)?;
    let out = py.detach(|| match codec {
        Codec::Zlib => Ok(zlib_compress(&data)),
        Codec::Zstd => zstd::bulk::compress(&data, ZSTD_LEVEL).map_err(|e| e.to_string()),
    });
    Ok(PyBytes::new(py, &out.map_err(serialization_error)?))
}

/// `data` decompressed with `codec`; `SerializationError` if it is not such data, or would
/// inflate beyond 256 MiB.
#[pyfunction]
pub fn _decompress<'py>(py: Python<'py>, data: PyBackedBytes, codec_name: &str) -> PyResult<Bound<'py, PyBytes>> {
    let codec = codec(codec_name)?;
    let out = py.detach(|| match codec {
        Codec::Zlib => zlib_decompress(&data),
        Codec::Zstd => zstd_decompress(&data),
    });
    Ok(PyBytes::new(py, &out.map_err(serialization_error)?))
}

fn zstd_decompress(data: &[u8]) -> Result<Vec<u8>, String> {
    let invalid = |e: std::io::Error| format!("stored value is not valid zstd data: {e}");
    let mut out = Vec::with_capacity(data.len() * 3);
    zstd::stream::read::Decoder::new(data)
        .map_err(invalid)?
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut out)
        .map_err(invalid)?;
    if out.len() as u64 > MAX_INFLATED {
        return Err(format!("compressed value inflates beyond {MAX_INFLATED} bytes"));
    }
    Ok(out)
}
