//! Collect the replies to one batch of requests off a byte stream. Shared by the blocking
//! exchange and the multiplexed connection driver, so both frame replies identically.
//!
//! The reader also decides whether each meta reply belongs to its request (its opaque tag and
//! its code fit what was sent). A reply that does not fit fails the batch with
//! `UnexpectedReply` *inside the exchange*, so the connection that carried it is retired there
//! and never reused out of step: a server answering one reply behind must cost an error, never
//! a value for another key.

use crate::error::{Error, Result};
use crate::protocol::request::Command;
use crate::protocol::response::{self, Code, Response};
use crate::protocol::text::{self, TextReply};
use bytes::{Bytes, BytesMut};

/// The opaque token a request carries, which its reply must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opaque {
    /// A tag the client added (`O<n>`).
    Number(u64),
    /// The caller's own token (`O<token>` in a raw meta call).
    Token(Bytes),
}

impl Opaque {
    fn echoed_by(&self, reply: Option<&[u8]>) -> bool {
        match (self, reply) {
            (Opaque::Token(token), Some(echo)) => token[..] == *echo,
            (Opaque::Number(n), Some(echo)) => decimal(echo) == Some(*n),
            (_, None) => false,
        }
    }
}

/// `digits` as the canonical decimal memcached echoes back (no sign, no leading zeros).
fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then_some(())
            .and_then(|()| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
    })
}

/// What the reply to one meta request must look like to be taken as its own.
#[derive(Debug, Clone)]
pub struct Awaited {
    pub command: Command,
    /// The request asked for the value (`v`): a hit is `VA`, never `HD`.
    pub value: bool,
    pub opaque: Opaque,
    /// The key token the reply must return (`k`), when the request asked for it. A caller's
    /// own opaque may repeat from one request to the next, so those requests are matched by
    /// key as well.
    pub key: Option<Bytes>,
}

impl Awaited {
    /// Whether `code` is an answer this request can get.
    fn allows(&self, code: Code) -> bool {
        let hit = if self.value { Code::Value } else { Code::Stored };
        match self.command {
            Command::Get => code == hit || code == Code::Miss,
            Command::Arithmetic => code == hit || matches!(code, Code::NotFound | Code::NotStored | Code::Exists),
            Command::Set => matches!(code, Code::Stored | Code::NotStored | Code::Exists | Code::NotFound),
            Command::Delete => matches!(code, Code::Stored | Code::NotFound | Code::Exists),
            Command::Noop => code == Code::Noop,
            Command::Debug => matches!(code, Code::Debug | Code::Miss),
        }
    }

    /// Whether `reply` answers this request. memcached's error replies carry no opaque.
    fn fits(&self, reply: &Response) -> bool {
        if reply.code.is_error() && reply.flags.opaque.is_none() {
            return true;
        }
        self.allows(reply.code) && self.opaque.echoed_by(reply.flags.opaque.as_deref()) && self.same_key(reply)
    }

    /// A hit must return the key asked for; other codes may lack it (memcached before 1.6.18
    /// sent `EN` without `k`) but must not name another.
    fn same_key(&self, reply: &Response) -> bool {
        let Some(key) = &self.key else { return true };
        match &reply.flags.key {
            Some(returned) => returned == key,
            None => !matches!(reply.code, Code::Value | Code::Stored),
        }
    }
}

/// What ends a batch's replies.
#[derive(Debug, Clone)]
pub enum Expect {
    /// One meta reply per request, in request order.
    Replies(Vec<Awaited>),
    /// Quiet requests (nominal replies suppressed) followed by `mn`: replies for some of the
    /// requests, in request order, then `MN` (which is not returned).
    UntilNoop(Vec<Awaited>),
    /// One `stats` block.
    Stats,
    /// One single-line classic reply (`OK`, `VERSION ...`).
    Line,
    /// A classic reply ending at these bytes (a raw command's caller names its end).
    Segment(Bytes),
}

/// One meta reply and the request it answers (its position in the batch); `None` for an
/// error reply in a quiet batch, which carries no opaque and so names no request.
#[derive(Debug)]
pub struct Answer {
    pub request: Option<usize>,
    pub reply: Response,
}

/// What a server answered to a batch.
#[derive(Debug, Default)]
pub struct Replies {
    pub meta: Vec<Answer>,
    pub text: Option<TextReply>,
}

/// Accumulates one batch's replies as bytes arrive.
#[derive(Debug)]
pub struct ReplyReader {
    expect: Expect,
    replies: Replies,
    /// The first request of a meta batch no reply has answered yet.
    next: usize,
    done: bool,
}

impl ReplyReader {
    pub fn new(expect: Expect) -> Self {
        let done = matches!(&expect, Expect::Replies(awaited) if awaited.is_empty());
        // Room for every reply up front: a reply is a large struct, and growing the vector
        // one doubling at a time copies a multi-key batch's replies over and over.
        let meta = match &expect {
            Expect::Replies(awaited) | Expect::UntilNoop(awaited) => Vec::with_capacity(awaited.len()),
            _ => Vec::new(),
        };
        ReplyReader {
            expect,
            replies: Replies { meta, text: None },
            next: 0,
            done,
        }
    }

    /// Whether every reply of the batch is in.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn into_replies(self) -> Replies {
        self.replies
    }

    /// Cut every complete reply of this batch off the front of `buf`. Bytes after the batch's
    /// last reply are left for whoever reads next.
    pub fn feed(&mut self, buf: &mut BytesMut, server: &str) -> Result<()> {
        let unexpected = |detail: String| Error::UnexpectedReply {
            server: server.to_owned(),
            detail,
        };
        while !self.done && !buf.is_empty() {
            match self.expect {
                Expect::Replies(_) | Expect::UntilNoop(_) => {
                    let Some(parsed) = response::parse(buf).map_err(|e| unexpected(e.0))? else {
                        return Ok(());
                    };
                    let frame = buf.split_to(parsed.consumed).freeze();
                    let reply = parsed.into_response(&frame);
                    if reply.code == Code::Error {
                        // `ERROR` means the server did not understand a line we sent: what it
                        // makes of the rest of the stream is unknowable.
                        return Err(unexpected("server answered ERROR (unknown command)".into()));
                    }
                    self.place(reply).map_err(unexpected)?;
                }
                Expect::Stats | Expect::Line | Expect::Segment(_) => {
                    let parsed = match &self.expect {
                        Expect::Stats => text::parse_stats(buf),
                        Expect::Segment(end) => text::parse_segment(buf, end),
                        _ => text::parse_line(buf),
                    };
                    let Some((reply, used)) = parsed.map_err(|e| unexpected(e.0))? else {
                        return Ok(());
                    };
                    let _ = buf.split_to(used);
                    self.replies.text = Some(reply);
                    self.done = true;
                }
            }
        }
        Ok(())
    }

    /// Pin a meta reply on the request it answers, or say why it answers none of them.
    fn place(&mut self, reply: Response) -> std::result::Result<(), String> {
        let mismatch = |reply: &Response, awaited: Option<&Awaited>| {
            let tag = reply.flags.opaque.as_deref().map(String::from_utf8_lossy);
            match awaited {
                Some(a) => format!(
                    "reply {} tagged {tag:?} does not answer {:?} tagged {:?}",
                    reply.code.as_str(),
                    a.command,
                    a.opaque
                ),
                None => format!(
                    "reply {} tagged {tag:?} answers no request of the batch",
                    reply.code.as_str()
                ),
            }
        };
        let request = match &self.expect {
            Expect::Replies(awaited) => {
                let expected = awaited.get(self.next);
                if !expected.is_some_and(|a| a.fits(&reply)) {
                    return Err(mismatch(&reply, expected));
                }
                self.done = self.next + 1 == awaited.len();
                Some(self.next)
            }
            Expect::UntilNoop(_) if reply.code == Code::Noop && reply.flags.opaque.is_none() => {
                self.done = true;
                return Ok(());
            }
            Expect::UntilNoop(_) if reply.code.is_error() && reply.flags.opaque.is_none() => None,
            Expect::UntilNoop(awaited) => {
                // Replies come in request order, so the answered request is at or after `next`.
                let echo = reply.flags.opaque.as_deref();
                let found = awaited[self.next..]
                    .iter()
                    .position(|a| a.opaque.echoed_by(echo))
                    .map(|p| p + self.next);
                match found {
                    Some(p) if awaited[p].allows(reply.code) && awaited[p].same_key(&reply) => Some(p),
                    Some(p) => return Err(mismatch(&reply, Some(&awaited[p]))),
                    None => return Err(mismatch(&reply, None)),
                }
            }
            Expect::Stats | Expect::Line | Expect::Segment(_) => unreachable!("text replies are not placed"),
        };
        if let Some(p) = request {
            self.next = p + 1;
        }
        self.replies.meta.push(Answer { request, reply });
        Ok(())
    }
}

/// How many more bytes the frame at the front of `buf` needs, when its header says (a `VA`
/// whose data block is still arriving); 0 when unknown.
pub fn missing_bytes(buf: &[u8]) -> usize {
    if !buf.starts_with(b"VA ") {
        return 0;
    }
    let Some(eol) = memchr::memchr(b'\r', buf) else {
        return 0;
    };
    let size_end = memchr::memchr(b' ', &buf[3..eol]).map_or(eol, |i| i + 3);
    let size: usize = std::str::from_utf8(&buf[3..size_end])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (eol + 2 + size.min(response::MAX_VALUE_LEN) + 2).saturating_sub(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(tag: u64) -> Awaited {
        Awaited {
            command: Command::Get,
            value: true,
            opaque: Opaque::Number(tag),
            key: None,
        }
    }

    fn gets(tags: std::ops::Range<u64>) -> Vec<Awaited> {
        tags.map(get).collect()
    }

    fn feed(expect: Expect, bytes: &[u8]) -> Result<ReplyReader> {
        let mut reader = ReplyReader::new(expect);
        reader.feed(&mut BytesMut::from(bytes), "s")?;
        Ok(reader)
    }

    #[test]
    fn stops_at_the_end_of_its_batch() {
        let mut buf = BytesMut::from(&b"VA 1 O0\r\na\r\nEN O1\r\nEN O2\r\n"[..]);
        let mut first = ReplyReader::new(Expect::Replies(gets(0..2)));
        first.feed(&mut buf, "s").unwrap();
        assert!(first.is_done());
        assert_eq!(&buf[..], b"EN O2\r\n");
        let positions: Vec<_> = first.into_replies().meta.iter().map(|a| a.request).collect();
        assert_eq!(positions, [Some(0), Some(1)]);
    }

    #[test]
    fn quiet_batches_end_at_mn_and_place_each_reply() {
        let mut buf = BytesMut::from(&b"VA 1 O13\r\na\r\nVA 1 O15\r\nb\r\nMN\r\nrest"[..]);
        let mut reader = ReplyReader::new(Expect::UntilNoop(gets(10..16)));
        reader.feed(&mut buf, "s").unwrap();
        assert!(reader.is_done());
        assert_eq!(&buf[..], b"rest");
        let positions: Vec<_> = reader.into_replies().meta.iter().map(|a| a.request).collect();
        assert_eq!(positions, [Some(3), Some(5)]);
    }

    #[test]
    fn waits_for_split_replies_and_refuses_error() {
        let mut reader = ReplyReader::new(Expect::Replies(gets(0..1)));
        let mut buf = BytesMut::from(&b"VA 3 O0\r\nab"[..]);
        reader.feed(&mut buf, "s").unwrap();
        assert!(!reader.is_done());
        assert_eq!(missing_bytes(&buf), 3);
        buf.extend_from_slice(b"c\r\n");
        reader.feed(&mut buf, "s").unwrap();
        assert!(reader.is_done());
        assert!(feed(Expect::Replies(gets(0..1)), b"ERROR\r\n").is_err());
    }

    #[test]
    fn refuses_replies_that_answer_another_request() {
        // Another request's tag, no tag, a tag of an earlier request, the wrong code.
        for bytes in [
            &b"VA 1 O7\r\na\r\n"[..],
            b"VA 1\r\na\r\n",
            b"EN O09\r\n",
            b"HD O9\r\n",
            b"NS O9\r\n",
        ] {
            let error = feed(Expect::Replies(gets(9..10)), bytes).unwrap_err();
            assert!(matches!(error, Error::UnexpectedReply { .. }), "{bytes:?}: {error}");
        }
        let quiet = [
            &b"VA 1 O3\r\na\r\nVA 1 O2\r\nb\r\nMN\r\n"[..],
            b"VA 1 O99\r\na\r\nMN\r\n",
            b"EN\r\nMN\r\n",
        ];
        for bytes in quiet {
            assert!(feed(Expect::UntilNoop(gets(0..5)), bytes).is_err(), "{bytes:?}");
        }
    }

    #[test]
    fn matches_the_callers_own_token_and_error_replies() {
        let own = Awaited {
            command: Command::Get,
            value: true,
            opaque: Opaque::Token(Bytes::from_static(b"77")),
            key: Some(Bytes::from_static(b"a")),
        };
        assert!(feed(Expect::Replies(vec![own.clone()]), b"EN O77\r\n")
            .unwrap()
            .is_done());
        assert!(feed(Expect::Replies(vec![own.clone()]), b"EN O78\r\n").is_err());
        // The same token on every request: the key tells them apart.
        assert!(feed(Expect::Replies(vec![own.clone()]), b"VA 1 O77 ka\r\nx\r\n").is_ok());
        assert!(feed(Expect::Replies(vec![own.clone()]), b"VA 1 O77 kb\r\nx\r\n").is_err());
        assert!(feed(Expect::Replies(vec![own]), b"VA 1 O77\r\nx\r\n").is_err());
        // memcached's error replies carry no opaque: in order, they are the next request's.
        let reader = feed(Expect::Replies(gets(0..1)), b"SERVER_ERROR out of memory\r\n").unwrap();
        assert_eq!(reader.into_replies().meta[0].request, Some(0));
        let reader = feed(Expect::UntilNoop(gets(0..2)), b"SERVER_ERROR busy\r\nMN\r\n").unwrap();
        assert_eq!(reader.into_replies().meta[0].request, None);
    }

    #[test]
    fn each_command_accepts_its_own_codes() {
        let awaited = |command, value| Awaited {
            command,
            value,
            opaque: Opaque::Number(1),
            key: None,
        };
        assert!(awaited(Command::Get, false).allows(Code::Stored));
        assert!(!awaited(Command::Get, true).allows(Code::Stored));
        assert!(!awaited(Command::Get, false).allows(Code::Value));
        assert!(awaited(Command::Set, false).allows(Code::NotStored));
        assert!(!awaited(Command::Set, false).allows(Code::Miss));
        assert!(!awaited(Command::Delete, false).allows(Code::Value));
        assert!(awaited(Command::Arithmetic, true).allows(Code::Value));
        assert!(!awaited(Command::Arithmetic, true).allows(Code::Stored));
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(decimal(b"18446744073709551616"), None);
        assert_eq!(decimal(b"+1"), None);
    }
}
