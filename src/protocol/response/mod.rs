//! Meta-protocol responses: parsing from a byte buffer, without I/O.
//!
//! [`parse`] looks at the front of a buffer and answers either "a whole response is there and
//! takes N bytes" or "need more bytes" (`Ok(None)`); incomplete input is never an error. The
//! connection then cuts those N bytes off its buffer as one `Bytes` frame and
//! [`Parsed::into_response`] slices the value, key and opaque out of it without copying.

use bytes::Bytes;
use std::fmt;
use std::ops::Range;

/// Largest data block the parser will wait for: memcached's own item size ceiling (`-I 1g`).
pub const MAX_VALUE_LEN: usize = 1 << 30;

/// Longest response line the parser will buffer before giving up on the connection. A meta
/// header is a code, a size, a key of at most 250 bytes and a few flags; `ME` debug lines and
/// error messages are also short.
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// The return code of a meta response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// `VA`: a value follows.
    Value,
    /// `HD`: success / hit without a value.
    Stored,
    /// `EN`: miss (`mg`, `me`).
    Miss,
    /// `NF`: not found (`md`, `ma`, `ms` with CAS on a missing item).
    NotFound,
    /// `NS`: not stored (add/replace/append/prepend condition failed).
    NotStored,
    /// `EX`: exists / CAS mismatch.
    Exists,
    /// `MN`: the no-op that ends a pipelined batch.
    Noop,
    /// `ME`: a debug line (the text is in [`Response::message`]).
    Debug,
    /// `ERROR`: the server did not recognise the command.
    Error,
    /// `CLIENT_ERROR <msg>`: the server refused a malformed request.
    ClientError,
    /// `SERVER_ERROR <msg>`: the server failed (out of memory, object too large ...).
    ServerError,
}

impl Code {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Value => "VA",
            Code::Stored => "HD",
            Code::Miss => "EN",
            Code::NotFound => "NF",
            Code::NotStored => "NS",
            Code::Exists => "EX",
            Code::Noop => "MN",
            Code::Debug => "ME",
            Code::Error => "ERROR",
            Code::ClientError => "CLIENT_ERROR",
            Code::ServerError => "SERVER_ERROR",
        }
    }

    /// Whether this is one of the three error replies.
    pub fn is_error(self) -> bool {
        matches!(self, Code::Error | Code::ClientError | Code::ServerError)
    }
}

/// Every return flag memcached 1.6 can send. Absent flags are `None` / `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReturnFlags {
    /// `c`: CAS value.
    pub cas: Option<u64>,
    /// `t`: remaining TTL in seconds; -1 means the item never expires.
    pub ttl: Option<i64>,
    /// `f`: client flags.
    pub client_flags: Option<u32>,
    /// `h`: whether the item had been fetched before this request.
    pub hit_before: Option<bool>,
    /// `l`: seconds since the item was last accessed (before this request).
    pub last_access: Option<u64>,
    /// `s`: item size in bytes.
    pub size: Option<u64>,
    /// `O`: the opaque token, echoed.
    pub opaque: Option<Bytes>,
    /// `k`: the key (base64 when `base64_key` is set).
    pub key: Option<Bytes>,
    /// `b`: the returned key is base64-encoded.
    pub base64_key: bool,
    /// `W`: this client won the right to (re)compute the item.
    pub win: bool,
    /// `X`: the item is stale.
    pub stale: bool,
    /// `Z`: a win token was already handed out for this item.
    pub already_won: bool,
}

/// One parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub code: Code,
    /// The data block of a `VA` response.
    pub value: Option<Bytes>,
    pub flags: ReturnFlags,
    /// The text of an error reply, or the body of an `ME` line.
    pub message: Option<Bytes>,
}

/// A response that is not valid meta protocol. The connection it came from is out of sync and
/// must be discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The result of a successful [`parse`]: the response with byte ranges into the frame in place
/// of owned slices, and the frame's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub code: Code,
    /// Bytes the whole response (header line and data block) occupies.
    pub consumed: usize,
    value: Option<Range<usize>>,
    key: Option<Range<usize>>,
    opaque: Option<Range<usize>>,
    message: Option<Range<usize>>,
    flags: ReturnFlags,
}

impl Parsed {
    /// Turn ranges into zero-copy slices of `frame`, which must be the `consumed` bytes that
    /// were parsed.
    pub fn into_response(self, frame: &Bytes) -> Response {
        debug_assert_eq!(frame.len(), self.consumed);
        let slice = |r: Option<Range<usize>>| r.map(|r| frame.slice(r));
        let mut flags = self.flags;
        flags.key = slice(self.key);
        flags.opaque = slice(self.opaque);
        Response {
            code: self.code,
            value: slice(self.value),
            flags,
            message: slice(self.message),
        }
    }
}

/// Find the end of the first line: the index of its `\r`. `Ok(None)` when no full line is
/// buffered yet.
///
/// Only the first `MAX_LINE_LEN + 2` bytes are searched, so whether a line is too long does not
/// depend on how its bytes were split across reads.
pub(crate) fn find_line_end(input: &[u8]) -> Result<Option<usize>, ProtocolError> {
    let window = &input[..input.len().min(MAX_LINE_LEN + 2)];
    match memchr::memchr(b'\n', window) {
        Some(nl) if nl > 0 && input[nl - 1] == b'\r' => Ok(Some(nl - 1)),
        Some(_) => Err(ProtocolError("response line not terminated by \\r\\n".into())),
        None if window.len() == MAX_LINE_LEN + 2 => {
            Err(ProtocolError(format!("response line longer than {MAX_LINE_LEN} bytes")))
        }
        None => Ok(None),
    }
}

fn parse_number<T: std::str::FromStr>(token: &[u8], what: &str) -> Result<T, ProtocolError> {
    std::str::from_utf8(token)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad {what} {:?}", String::from_utf8_lossy(token))))
}

/// [`parse_number`] for the unsigned fields, without the detour through `str` for the plain
/// digits memcached sends (every reply of a multi-key read carries two or three of them);
/// anything else takes the general path, so both accept exactly the same tokens.
fn parse_unsigned<T: TryFrom<u64> + std::str::FromStr>(token: &[u8], what: &str) -> Result<T, ProtocolError> {
    // 19 digits always fit in a u64.
    if !token.is_empty() && token.len() <= 19 && token.iter().all(u8::is_ascii_digit) {
        let n = token.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
        if let Ok(n) = T::try_from(n) {
            return Ok(n);
        }
    }
    parse_number(token, what)
}

/// Parse the response at the front of `input`.
///
/// `Ok(None)` means the buffer holds only part of a response; call again with more bytes.
pub fn parse(input: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some(line_end) = find_line_end(input)? else {
        return Ok(None);
    };
    let line = &input[..line_end];
    let (code_token, rest_start) = match memchr::memchr(b' ', line) {
        Some(sp) => (&line[..sp], sp + 1),
        None => (line, line.len()),
    };
    let code = match code_token {
        b"VA" => Code::Value,
        b"HD" => Code::Stored,
        b"EN" => Code::Miss,
        b"NF" => Code::NotFound,
        b"NS" => Code::NotStored,
        b"EX" => Code::Exists,
        b"MN" => Code::Noop,
        b"ME" => Code::Debug,
        b"ERROR" => Code::Error,
        b"CLIENT_ERROR" => Code::ClientError,
        b"SERVER_ERROR" => Code::ServerError,
        _ => {
            return Err(ProtocolError(format!(
                "unexpected response line {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )))
        }
    };
    let mut parsed = Parsed {
        code,
        consumed: line_end + 2,
        value: None,
        key: None,
        opaque: None,
        message: None,
        flags: ReturnFlags::default(),
    };
    match code {
        Code::Error | Code::ClientError | Code::ServerError | Code::Debug => {
            parsed.message = Some(rest_start..line_end);
            return Ok(Some(parsed));
        }
        Code::Noop if rest_start < line_end => {
            return Err(ProtocolError("MN carries no flags".into()));
        }
        _ => {}
    }

    let mut pos = rest_start;
    if code == Code::Value {
        let end = memchr::memchr(b' ', &line[pos..]).map_or(line_end, |i| pos + i);
        let size: usize = parse_unsigned(&line[pos..end], "value size")?;
        if size > MAX_VALUE_LEN {
            return Err(ProtocolError(format!("value size {size} exceeds {MAX_VALUE_LEN}")));
        }
        let data_start = line_end + 2;
        let data_end = data_start + size;
        if input.len() < data_end + 2 {
            return Ok(None);
        }
        if &input[data_end..data_end + 2] != b"\r\n" {
            return Err(ProtocolError("value block not terminated by \\r\\n".into()));
        }
        parsed.value = Some(data_start..data_end);
        parsed.consumed = data_end + 2;
        pos = (end + 1).min(line_end);
    }

    while pos < line_end {
        let end = memchr::memchr(b' ', &line[pos..]).map_or(line_end, |i| pos + i);
        if end == pos {
            return Err(ProtocolError("empty flag token (double space)".into()));
        }
        parse_return_flag(&mut parsed, line, pos, end)?;
        pos = end + 1;
    }
    Ok(Some(parsed))
}

fn parse_return_flag(parsed: &mut Parsed, line: &[u8], start: usize, end: usize) -> Result<(), ProtocolError> {
    let token = &line[start + 1..end];
    let flags = &mut parsed.flags;
    match line[start] {
        b'c' => flags.cas = Some(parse_unsigned(token, "CAS")?),
        b't' => flags.ttl = Some(parse_number(token, "TTL")?),
        b'f' => flags.client_flags = Some(parse_unsigned(token, "client flags")?),
        b'h' => {
            flags.hit_before = Some(match token {
                b"0" => false,
                b"1" => true,
                _ => return Err(ProtocolError("bad hit-before flag".into())),
            })
        }
        b'l' => flags.last_access = Some(parse_unsigned(token, "last access")?),
        b's' => flags.size = Some(parse_unsigned(token, "size")?),
        b'O' => parsed.opaque = Some(start + 1..end),
        b'k' => parsed.key = Some(start + 1..end),
        b'b' => flags.base64_key = true,
        b'W' => flags.win = true,
        b'X' => flags.stale = true,
        b'Z' => flags.already_won = true,
        // Newer servers may add return flags; an unknown flag does not make the frame
        // ambiguous, so it is skipped rather than treated as a desync.
        _ => {}
    }
    Ok(())
}

impl Response {
    /// Append the wire form of this response to `out`. The inverse of [`parse`]; used by tests,
    /// the fuzz target, and anything that needs to play a server.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.code.as_str().as_bytes());
        if let Some(message) = &self.message {
            out.push(b' ');
            out.extend_from_slice(message);
            out.extend_from_slice(b"\r\n");
            return;
        }
        let mut num = itoa::Buffer::new();
        if let Some(value) = &self.value {
            out.push(b' ');
            out.extend_from_slice(num.format(value.len()).as_bytes());
        }
        let f = &self.flags;
        let mut put = |letter: u8, token: &[u8]| {
            out.push(b' ');
            out.push(letter);
            out.extend_from_slice(token);
        };
        if let Some(v) = f.cas {
            put(b'c', num.format(v).as_bytes());
        }
        if let Some(v) = f.ttl {
            put(b't', num.format(v).as_bytes());
        }
        if let Some(v) = f.client_flags {
            put(b'f', num.format(v).as_bytes());
        }
        if let Some(v) = f.hit_before {
            put(b'h', if v { b"1" } else { b"0" });
        }
        if let Some(v) = f.last_access {
            put(b'l', num.format(v).as_bytes());
        }
        if let Some(v) = f.size {
            put(b's', num.format(v).as_bytes());
        }
        if let Some(v) = &f.opaque {
            put(b'O', v);
        }
        if let Some(v) = &f.key {
            put(b'k', v);
        }
        if f.base64_key {
            put(b'b', b"");
        }
        if f.already_won {
            put(b'Z', b"");
        }
        if f.stale {
            put(b'X', b"");
        }
        if f.win {
            put(b'W', b"");
        }
        out.extend_from_slice(b"\r\n");
        if let Some(value) = &self.value {
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests;
