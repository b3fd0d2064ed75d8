//! Meta-command requests: a typed form and its wire encoding.
//!
//! A request is `<cmd> <key> [<datalen>] <flag>*\r\n[<data>\r\n]`. The encoder trusts its inputs
//! to be well formed (keys come from [`crate::protocol::keys`], flags from [`Flag`] values or from
//! [`crate::protocol::flags::parse_flags`], which validate); a malformed line would desynchronise
//! the connection because the server may read a data block as a command.

use bytes::Bytes;

/// The expiry times memcached can represent: it parses them as 32-bit signed integers and
/// wraps larger ones (`2**32 + 100` becomes 100 s, `2**40` never expires).
pub const TTL_RANGE: std::ops::RangeInclusive<i64> = i32::MIN as i64..=i32::MAX as i64;

/// The meta commands (memcached >= 1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `mg`: read an item and/or its metadata.
    Get,
    /// `ms`: store an item (set / add / replace / append / prepend by mode).
    Set,
    /// `md`: delete or invalidate (mark stale) an item.
    Delete,
    /// `ma`: increment or decrement a numeric item.
    Arithmetic,
    /// `mn`: no-op; the server answers `MN`, which ends a pipelined batch.
    Noop,
    /// `me`: human-readable debug dump of an item's metadata.
    Debug,
}

impl Command {
    /// The two-letter command code on the wire.
    pub fn code(self) -> &'static [u8; 2] {
        match self {
            Command::Get => b"mg",
            Command::Set => b"ms",
            Command::Delete => b"md",
            Command::Arithmetic => b"ma",
            Command::Noop => b"mn",
            Command::Debug => b"me",
        }
    }
}

/// `ms` storage mode (the `M` flag of `ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetMode {
    /// `MS`: store unconditionally (the default).
    Set,
    /// `ME`: store only if the key is absent ("add").
    Add,
    /// `MR`: store only if the key exists ("replace").
    Replace,
    /// `MA`: append the data to the existing value.
    Append,
    /// `MP`: prepend the data to the existing value.
    Prepend,
}

impl SetMode {
    fn letter(self) -> u8 {
        match self {
            SetMode::Set => b'S',
            SetMode::Add => b'E',
            SetMode::Replace => b'R',
            SetMode::Append => b'A',
            SetMode::Prepend => b'P',
        }
    }

    pub(crate) fn from_letter(letter: u8) -> Option<Self> {
        Some(match letter.to_ascii_uppercase() {
            b'S' => SetMode::Set,
            b'E' => SetMode::Add,
            b'R' => SetMode::Replace,
            b'A' => SetMode::Append,
            b'P' => SetMode::Prepend,
            _ => return None,
        })
    }
}

/// `ma` mode (the `M` flag of `ma`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArithmeticMode {
    /// `MI`: increment (the default); wraps at 2^64.
    Increment,
    /// `MD`: decrement; floors at 0.
    Decrement,
}

impl ArithmeticMode {
    fn letter(self) -> u8 {
        match self {
            ArithmeticMode::Increment => b'I',
            ArithmeticMode::Decrement => b'D',
        }
    }

    pub(crate) fn from_letter(letter: u8) -> Option<Self> {
        Some(match letter {
            b'I' | b'i' | b'+' => ArithmeticMode::Increment,
            b'D' | b'd' | b'-' => ArithmeticMode::Decrement,
            _ => return None,
        })
    }
}

/// One request flag. Which flags a command accepts is checked by
/// [`Flag::allowed_for`]; the comments give the protocol letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `b`: the key is base64-encoded (binary key).
    Base64Key,
    /// `c`: return the item's CAS value.
    ReturnCas,
    /// `C<cas>`: compare-and-swap; only act if the item's CAS matches.
    CompareCas(u64),
    /// `E<cas>`: use this value as the item's new CAS (memcached >= 1.6.27).
    NewCas(u64),
    /// `f`: return the client flags.
    ReturnClientFlags,
    /// `F<u32>`: client flags to store with the item.
    ClientFlags(u32),
    /// `h`: return whether the item was fetched before (0/1).
    ReturnHit,
    /// `I`: invalidate: mark stale instead of deleting (`md`), or store but keep stale (`ms` with `C`).
    Invalidate,
    /// `J<u64>`: initial value when `ma` auto-creates the item.
    Initial(u64),
    /// `k`: return the key.
    ReturnKey,
    /// `l`: return seconds since last access.
    ReturnLastAccess,
    /// `M<mode>` on `ms`.
    SetMode(SetMode),
    /// `M<mode>` on `ma`.
    ArithmeticMode(ArithmeticMode),
    /// `N<ttl>`: vivify on miss (create the item with this TTL).
    Vivify(i64),
    /// `O<token>`: opaque token echoed back (at most 31 bytes).
    Opaque(Bytes),
    /// `O<n>`: a numeric opaque token, as the client tags the requests of a batch (no
    /// allocation per request). Echoed back as the decimal digits.
    OpaqueNumber(u64),
    /// `q`: quiet mode: suppress the nominal reply.
    Quiet,
    /// `R<ttl>`: win the right to recache when the remaining TTL is below this.
    Recache(i64),
    /// `s`: return the item size.
    ReturnSize,
    /// `t`: return the remaining TTL (-1 = never expires).
    ReturnTtl,
    /// `T<ttl>`: set / update the TTL.
    Ttl(i64),
    /// `u`: do not bump the item in the LRU.
    NoLruBump,
    /// `v`: return the value.
    ReturnValue,
    /// `D<u64>`: delta for `ma` (default 1).
    Delta(u64),
    /// `x`: remove the value but keep the item (`md`, memcached >= 1.6.27).
    RemoveValue,
}

impl Flag {
    /// The flag's protocol letter.
    pub fn letter(&self) -> u8 {
        match self {
            Flag::Base64Key => b'b',
            Flag::ReturnCas => b'c',
            Flag::CompareCas(_) => b'C',
            Flag::NewCas(_) => b'E',
            Flag::ReturnClientFlags => b'f',
            Flag::ClientFlags(_) => b'F',
            Flag::ReturnHit => b'h',
            Flag::Invalidate => b'I',
            Flag::Initial(_) => b'J',
            Flag::ReturnKey => b'k',
            Flag::ReturnLastAccess => b'l',
            Flag::SetMode(_) | Flag::ArithmeticMode(_) => b'M',
            Flag::Vivify(_) => b'N',
            Flag::Opaque(_) | Flag::OpaqueNumber(_) => b'O',
            Flag::Quiet => b'q',
            Flag::Recache(_) => b'R',
            Flag::ReturnSize => b's',
            Flag::ReturnTtl => b't',
            Flag::Ttl(_) => b'T',
            Flag::NoLruBump => b'u',
            Flag::ReturnValue => b'v',
            Flag::Delta(_) => b'D',
            Flag::RemoveValue => b'x',
        }
    }

    /// Whether `command` accepts this flag (protocol.txt, memcached 1.6.x).
    pub fn allowed_for(&self, command: Command) -> bool {
        let letters: &[u8] = match command {
            Command::Get => b"bcCEfhklOqstuvNRT",
            Command::Set => b"bcCEFIkOqsTMN",
            Command::Delete => b"bCEIkOqTx",
            Command::Arithmetic => b"bCENJDTMOqtcvk",
            Command::Noop => b"",
            Command::Debug => b"b",
        };
        let mode_ok = match self {
            Flag::SetMode(_) => command == Command::Set,
            Flag::ArithmeticMode(_) => command == Command::Arithmetic,
            _ => true,
        };
        mode_ok && letters.contains(&self.letter())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.letter());
        let mut num = itoa::Buffer::new();
        match self {
            Flag::CompareCas(n) | Flag::NewCas(n) | Flag::Initial(n) | Flag::Delta(n) | Flag::OpaqueNumber(n) => {
                out.extend_from_slice(num.format(*n).as_bytes())
            }
            Flag::ClientFlags(n) => out.extend_from_slice(num.format(*n).as_bytes()),
            Flag::Vivify(n) | Flag::Recache(n) | Flag::Ttl(n) => out.extend_from_slice(num.format(*n).as_bytes()),
            Flag::SetMode(mode) => out.push(mode.letter()),
            Flag::ArithmeticMode(mode) => out.push(mode.letter()),
            Flag::Opaque(token) => out.extend_from_slice(token),
            _ => {}
        }
    }
}

/// A meta request ready to encode. `key` is the wire form (see [`crate::protocol::keys`]).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub command: Command,
    pub key: &'a [u8],
    /// The data block; only `ms` carries one.
    pub value: Option<&'a [u8]>,
    pub flags: &'a [Flag],
}

impl<'a> Request<'a> {
    pub fn new(command: Command, key: &'a [u8], flags: &'a [Flag]) -> Self {
        Request {
            command,
            key,
            value: None,
            flags,
        }
    }

    pub fn with_value(mut self, value: &'a [u8]) -> Self {
        self.value = Some(value);
        self
    }

    /// Append the wire form of this request to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let value_len = self.value.map_or(0, <[u8]>::len);
        out.reserve(self.key.len() + 8 + self.flags.len() * 8 + value_len + 16);
        out.extend_from_slice(self.command.code());
        if self.command != Command::Noop {
            out.push(b' ');
            out.extend_from_slice(self.key);
        }
        if self.command == Command::Set {
            out.push(b' ');
            out.extend_from_slice(itoa::Buffer::new().format(value_len).as_bytes());
        }
        for flag in self.flags {
            out.push(b' ');
            flag.encode(out);
        }
        out.extend_from_slice(b"\r\n");
        if self.command == Command::Set {
            out.extend_from_slice(self.value.unwrap_or_default());
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Encode a lone `mn`.
pub fn encode_noop(out: &mut Vec<u8>) {
    out.extend_from_slice(b"mn\r\n");
}

#[cfg(test)]
pub(crate) mod tests;
