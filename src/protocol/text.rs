//! The few classic text-protocol commands the meta protocol has no form for: `stats`,
//! `version` and `flush_all`. Same contract as [`super::response::parse`]: `Ok(None)` means
//! "need more bytes".

use super::response::{find_line_end, ProtocolError};

/// Longest `stats` reply we buffer (`stats items` on a big server is some tens of KiB).
pub const MAX_STATS_LEN: usize = 4 * 1024 * 1024;

/// Encode `stats [group]`. `group` must already be validated (one printable token).
pub fn encode_stats(group: Option<&str>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"stats");
    if let Some(group) = group {
        out.push(b' ');
        out.extend_from_slice(group.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

pub fn encode_version(out: &mut Vec<u8>) {
    out.extend_from_slice(b"version\r\n");
}

pub fn encode_flush_all(delay: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(b"flush_all");
    if delay > 0 {
        out.push(b' ');
        out.extend_from_slice(itoa::Buffer::new().format(delay).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed classic reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextReply {
    /// `STAT name value` lines up to `END`.
    Stats(Vec<(String, String)>),
    /// A single status line such as `OK` or `VERSION 1.6.18`.
    Line(String),
    /// `ERROR`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Failure(String),
    /// The bytes of a reply before the end its caller named (see [`parse_segment`]).
    Segment(Vec<u8>),
}

fn is_failure(line: &[u8]) -> bool {
    line == b"ERROR" || line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR")
}

/// Parse a one-line reply (`OK`, `VERSION x`, or an error line).
pub fn parse_line(input: &[u8]) -> Result<Option<(TextReply, usize)>, ProtocolError> {
    let Some(end) = find_line_end(input)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&input[..end]).into_owned();
    let reply = if is_failure(&input[..end]) {
        TextReply::Failure(text)
    } else {
        TextReply::Line(text)
    };
    Ok(Some((reply, end + 2)))
}

/// Parse a reply that ends at `end`, as a raw command's caller says (`stats detail dump` ends at
/// `END\r\n`): the bytes before `end`. An error line first is the reply, so an unknown command
/// fails at once instead of waiting for an `end` that never comes.
pub fn parse_segment(input: &[u8], end: &[u8]) -> Result<Option<(TextReply, usize)>, ProtocolError> {
    let first_line = memchr::memmem::find(input, b"\r\n");
    if let Some(line_end) = first_line.filter(|&at| is_failure(&input[..at])) {
        let message = String::from_utf8_lossy(&input[..line_end]).into_owned();
        return Ok(Some((TextReply::Failure(message), line_end + 2)));
    }
    match memchr::memmem::find(input, end) {
        Some(at) => Ok(Some((TextReply::Segment(input[..at].to_vec()), at + end.len()))),
        None if input.len() > MAX_STATS_LEN => Err(ProtocolError(format!(
            "reply longer than {MAX_STATS_LEN} bytes without its end"
        ))),
        None => Ok(None),
    }
}

/// Parse a `stats` reply: `STAT <name> <value>` lines ended by `END`.
pub fn parse_stats(input: &[u8]) -> Result<Option<(TextReply, usize)>, ProtocolError> {
    let mut pos = 0;
    let mut stats = Vec::new();
    loop {
        let Some(rel_end) = find_line_end(&input[pos..])? else {
            return Ok(None);
        };
        let line = &input[pos..pos + rel_end];
        pos += rel_end + 2;
        // Counted over the reply's own complete lines, so the verdict does not depend on how
        // the bytes were split across reads.
        if pos > MAX_STATS_LEN {
            return Err(ProtocolError(format!("stats reply longer than {MAX_STATS_LEN} bytes")));
        }
        // `stats reset` answers RESET instead of a block.
        if line == b"END" || (line == b"RESET" && stats.is_empty()) {
            return Ok(Some((TextReply::Stats(stats), pos)));
        }
        if pos == rel_end + 2 && is_failure(line) {
            return Ok(Some((
                TextReply::Failure(String::from_utf8_lossy(line).into_owned()),
                pos,
            )));
        }
        // `stats cachedump` lists `ITEM <key> [<size> b; <expiry> s]`: kept as key -> rest.
        let Some(body) = line.strip_prefix(b"STAT ").or_else(|| line.strip_prefix(b"ITEM ")) else {
            return Err(ProtocolError(format!(
                "unexpected line in stats reply: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )));
        };
        let text = String::from_utf8_lossy(body);
        let (name, value) = text.split_once(' ').unwrap_or((&text, ""));
        stats.push((name.to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix of `wire` is incomplete; the whole is `expected`, all of it consumed.
    fn parses_whole_only(
        wire: &[u8],
        parse: impl Fn(&[u8]) -> Result<Option<(TextReply, usize)>, ProtocolError>,
        expected: TextReply,
    ) {
        for cut in 0..wire.len() {
            assert_eq!(parse(&wire[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(parse(wire).unwrap(), Some((expected, wire.len())));
    }

    #[test]
    fn parses_stats_blocks_and_cachedump_items() {
        let pairs = |items: &[(&str, &str)]| items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        parses_whole_only(
            b"ITEM k1 [5 b; 0 s]\r\nITEM k2 [1 b; 1700000000 s]\r\nEND\r\n",
            parse_stats,
            TextReply::Stats(pairs(&[("k1", "[5 b; 0 s]"), ("k2", "[1 b; 1700000000 s]")])),
        );
        parses_whole_only(
            b"STAT pid 42\r\nSTAT version 1.6.18\r\nSTAT rusage_user 0.1\r\nEND\r\n",
            parse_stats,
            TextReply::Stats(pairs(&[("pid", "42"), ("version", "1.6.18"), ("rusage_user", "0.1")])),
        );
    }

    #[test]
    fn parses_segments_up_to_their_end() {
        let end = |input: &[u8]| parse_segment(input, b"END\r\n");
        parses_whole_only(
            b"STAT a 1\r\nEND\r\n",
            end,
            TextReply::Segment(b"STAT a 1\r\n".to_vec()),
        );
        // An error line is the reply, at once; bytes after the end are left for the caller.
        assert_eq!(
            end(b"ERROR\r\nmore").unwrap(),
            Some((TextReply::Failure("ERROR".into()), 7))
        );
        assert_eq!(
            end(b"x\r\nEND\r\ny").unwrap(),
            Some((TextReply::Segment(b"x\r\n".to_vec()), 8))
        );
        assert!(end(&vec![b'a'; MAX_STATS_LEN + 1]).is_err());
    }

    #[test]
    fn error_lines_end_a_stats_reply() {
        let (reply, _) = parse_stats(b"CLIENT_ERROR bad command line format\r\n")
            .unwrap()
            .unwrap();
        assert!(matches!(reply, TextReply::Failure(_)));
        assert!(parse_stats(b"VALUE x\r\n").is_err());
        assert_eq!(parse_stats(b"RESET\r\n").unwrap(), Some((TextReply::Stats(vec![]), 7)));
    }

    #[test]
    fn parses_single_lines() {
        assert_eq!(
            parse_line(b"VERSION 1.6.18\r\n").unwrap(),
            Some((TextReply::Line("VERSION 1.6.18".into()), 16))
        );
        assert_eq!(parse_line(b"OK\r").unwrap(), None);
        assert!(matches!(
            parse_line(b"ERROR\r\n").unwrap(),
            Some((TextReply::Failure(_), 7))
        ));
    }
}
