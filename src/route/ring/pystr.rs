//! `str(key)` as Python renders it, for the clients that hash the text of the key object rather
//! than its bytes: pymemcache formats the key into `f"{node}-{key}"` and uhashring hashes
//! `str(key)`. A `str` key is itself; a `bytes` key becomes its repr, so `b"foo"` hashes as the
//! six characters `b'foo'` and routes differently from `"foo"`.
//!
//! CPython's `bytes.__repr__`: quoted with `'`, or with `"` when the bytes contain `'` and no
//! `"`; inside, the chosen quote and `\` are backslash-escaped, tab, newline and carriage return
//! are `\t`, `\n`, `\r`, other bytes below 0x20 or from 0x7f up are `\xhh` (lowercase hex), and
//! everything else is the byte itself. The result is always ASCII.

use super::PlacementKey;
use std::borrow::Cow;

/// `str(key)` in UTF-8. A `str` key's bytes are UTF-8 already; ill-formed UTF-8 (which no Python
/// `str` produces) is read with replacement characters.
pub fn python_str<'a>(key: &PlacementKey<'a>) -> Cow<'a, str> {
    if key.is_bytes {
        Cow::Owned(bytes_repr(key.bytes))
    } else {
        String::from_utf8_lossy(key.bytes)
    }
}

/// CPython's `repr(bytes)`.
pub fn bytes_repr(bytes: &[u8]) -> String {
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(bytes.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ if byte == quote as u8 => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\x");
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xf)] as char);
            }
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_bytes_repr() {
        // Expected values printed by CPython 3.11 `repr(b"...")`.
        for (bytes, repr) in [
            (&b"foo"[..], "b'foo'"),
            (b"", "b''"),
            (b"it's", "b\"it's\""),
            (b"say \"hi\"", "b'say \"hi\"'"),
            (b"both ' and \"", "b'both \\' and \"'"),
            (b"back\\slash", "b'back\\\\slash'"),
            (
                b"\t\n\r\x00\x1f\x7f\x80\xff ~",
                "b'\\t\\n\\r\\x00\\x1f\\x7f\\x80\\xff ~'",
            ),
        ] {
            assert_eq!(bytes_repr(bytes), repr);
        }
    }

    #[test]
    fn str_keys_are_their_text() {
        let key = PlacementKey {
            bytes: "é".as_bytes(),
            is_bytes: false,
        };
        assert!(matches!(python_str(&key), Cow::Borrowed("é")));
        let key = PlacementKey {
            bytes: "é".as_bytes(),
            is_bytes: true,
        };
        assert_eq!(python_str(&key), "b'\\xc3\\xa9'");
    }
}
