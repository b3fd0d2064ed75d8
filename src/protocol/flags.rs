//! Parse request flags written the way protocol.txt writes them (`"v c t N30"`), for the
//! low-level `meta_*` methods. Every token is validated here so that nothing malformed reaches
//! the wire: a bad token in a pipelined batch would make the server misread the rest.

use super::request::{ArithmeticMode, Command, Flag, SetMode, TTL_RANGE};
use std::fmt;

/// Longest opaque token memcached accepts, not counting the `O` (1.6.18: 32 including it).
pub const MAX_OPAQUE_LEN: usize = 31;

/// A flag string the client refuses to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagError(pub String);

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: String) -> Result<T, FlagError> {
    Err(FlagError(msg))
}

/// Parse one token such as `N30` or `v` for `command`.
pub fn parse_flag_token(command: Command, token: &[u8]) -> Result<Flag, FlagError> {
    let shown = String::from_utf8_lossy(token).into_owned();
    let Some((&letter, arg)) = token.split_first() else {
        return err("empty flag token".into());
    };
    if token.iter().any(|b| !(0x21..0x7f).contains(b)) {
        return err(format!("flag {shown:?} contains spaces, control or non-ASCII bytes"));
    }
    let number = |what: &str| -> Result<i64, FlagError> {
        std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| FlagError(format!("flag {shown:?} needs a {what} (an integer)")))
    };
    let ttl = || -> Result<i64, FlagError> {
        let ttl = number("TTL")?;
        if !TTL_RANGE.contains(&ttl) {
            return err(format!("flag {shown:?}: memcached TTLs are 32-bit signed integers"));
        }
        Ok(ttl)
    };
    let unsigned = |what: &str| -> Result<u64, FlagError> {
        std::str::from_utf8(arg)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| FlagError(format!("flag {shown:?} needs a {what} (an unsigned integer)")))
    };
    let bare = |flag: Flag| -> Result<Flag, FlagError> {
        if arg.is_empty() {
            Ok(flag)
        } else {
            err(format!("flag {shown:?} takes no argument"))
        }
    };
    let flag = match letter {
        b'b' => bare(Flag::Base64Key)?,
        b'c' => bare(Flag::ReturnCas)?,
        b'f' => bare(Flag::ReturnClientFlags)?,
        b'h' => bare(Flag::ReturnHit)?,
        b'I' => bare(Flag::Invalidate)?,
        b'k' => bare(Flag::ReturnKey)?,
        b'l' => bare(Flag::ReturnLastAccess)?,
        b'q' => bare(Flag::Quiet)?,
        b's' => bare(Flag::ReturnSize)?,
        b't' => bare(Flag::ReturnTtl)?,
        b'u' => bare(Flag::NoLruBump)?,
        b'v' => bare(Flag::ReturnValue)?,
        b'x' => bare(Flag::RemoveValue)?,
        b'C' => Flag::CompareCas(unsigned("CAS value")?),
        b'E' => Flag::NewCas(unsigned("CAS value")?),
        b'J' => Flag::Initial(unsigned("initial value")?),
        b'D' => Flag::Delta(unsigned("delta")?),
        b'F' => {
            let value = unsigned("client flags value")?;
            Flag::ClientFlags(
                u32::try_from(value).map_err(|_| FlagError(format!("flag {shown:?}: client flags are 32-bit")))?,
            )
        }
        b'N' => Flag::Vivify(ttl()?),
        b'R' => Flag::Recache(ttl()?),
        b'T' => Flag::Ttl(ttl()?),
        b'O' => {
            if arg.is_empty() || arg.len() > MAX_OPAQUE_LEN {
                return err(format!("opaque token {shown:?} must be 1-{MAX_OPAQUE_LEN} bytes"));
            }
            Flag::Opaque(bytes::Bytes::copy_from_slice(arg))
        }
        b'M' => {
            let mode = match arg {
                [m] => Some(*m),
                _ => None,
            };
            match command {
                Command::Set => Flag::SetMode(
                    mode.and_then(SetMode::from_letter)
                        .ok_or_else(|| FlagError(format!("ms mode {shown:?} is not one of MS ME MR MA MP")))?,
                ),
                Command::Arithmetic => Flag::ArithmeticMode(
                    mode.and_then(ArithmeticMode::from_letter)
                        .ok_or_else(|| FlagError(format!("ma mode {shown:?} is not one of MI MD")))?,
                ),
                _ => return err(format!("flag {shown:?} is not valid for {}", name(command))),
            }
        }
        _ => return err(format!("unknown flag {shown:?}")),
    };
    if !flag.allowed_for(command) {
        return err(format!("flag {shown:?} is not valid for {}", name(command)));
    }
    Ok(flag)
}

/// Parse a whitespace-separated flag string. Duplicate letters are refused, as the server
/// would refuse them.
pub fn parse_flags(command: Command, text: &str) -> Result<Vec<Flag>, FlagError> {
    let mut flags: Vec<Flag> = Vec::new();
    for token in text.split_ascii_whitespace() {
        let flag = parse_flag_token(command, token.as_bytes())?;
        if flags.iter().any(|f| f.letter() == flag.letter()) {
            return err(format!("flag {:?} given twice", flag.letter() as char));
        }
        flags.push(flag);
    }
    Ok(flags)
}

fn name(command: Command) -> &'static str {
    std::str::from_utf8(command.code()).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_of_token() {
        let flags = parse_flags(Command::Get, "v c t N30 R-5 O12 k").unwrap();
        assert_eq!(
            flags,
            vec![
                Flag::ReturnValue,
                Flag::ReturnCas,
                Flag::ReturnTtl,
                Flag::Vivify(30),
                Flag::Recache(-5),
                Flag::Opaque("12".into()),
                Flag::ReturnKey
            ]
        );
        assert_eq!(
            parse_flags(Command::Set, "MA F7 C99 I").unwrap(),
            vec![
                Flag::SetMode(SetMode::Append),
                Flag::ClientFlags(7),
                Flag::CompareCas(99),
                Flag::Invalidate
            ]
        );
        assert_eq!(
            parse_flags(Command::Arithmetic, "MD D3 J10 N0").unwrap(),
            vec![
                Flag::ArithmeticMode(ArithmeticMode::Decrement),
                Flag::Delta(3),
                Flag::Initial(10),
                Flag::Vivify(0)
            ]
        );
    }

    #[test]
    fn refuses_what_the_server_would_refuse() {
        for (command, text) in [
            (Command::Get, "F5"),
            (Command::Get, "v v"),
            (Command::Get, "Nabc"),
            (Command::Get, "vx"),
            (Command::Set, "MZ"),
            (Command::Set, "F4294967296"),
            (Command::Delete, "v"),
            (Command::Get, "O"),
            (Command::Get, "O0123456789012345678901234567890123"),
            (Command::Get, "Z"),
            (Command::Get, "C-1"),
        ] {
            assert!(parse_flags(command, text).is_err(), "{command:?} {text:?} should fail");
        }
        assert!(parse_flag_token(Command::Get, "v\x01".as_bytes()).is_err());
        assert!(parse_flag_token(Command::Get, "vé".as_bytes()).is_err());
    }
}
