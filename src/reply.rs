//! Collect the replies to one batch of requests off a byte stream. Shared by the blocking
//! exchange and the multiplexed connection driver, so both frame replies identically.

use crate::error::{Error, Result};
use crate::protocol::response::{self, Code, Response};
use crate::protocol::text::{self, TextReply};
use bytes::BytesMut;

/// What ends a batch's replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// This many meta replies.
    Replies(usize),
    /// Meta replies up to and including an `MN` (which is not returned).
    UntilNoop,
    /// One `stats` block.
    Stats,
    /// One single-line classic reply (`OK`, `VERSION ...`).
    Line,
}

/// What a server answered to a batch.
#[derive(Debug, Default)]
pub struct Replies {
    pub meta: Vec<Response>,
    pub text: Option<TextReply>,
}

/// Accumulates one batch's replies as bytes arrive.
#[derive(Debug)]
pub struct ReplyReader {
    expect: Expect,
    replies: Replies,
    done: bool,
}

impl ReplyReader {
    pub fn new(expect: Expect) -> Self {
        ReplyReader {
            expect,
            replies: Replies::default(),
            done: expect == Expect::Replies(0),
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
                Expect::Replies(_) | Expect::UntilNoop => {
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
                    match self.expect {
                        Expect::UntilNoop if reply.code == Code::Noop => self.done = true,
                        Expect::Replies(n) => {
                            self.replies.meta.push(reply);
                            self.done = self.replies.meta.len() == n;
                        }
                        _ => self.replies.meta.push(reply),
                    }
                }
                Expect::Stats | Expect::Line => {
                    let parsed = if self.expect == Expect::Stats {
                        text::parse_stats(buf)
                    } else {
                        text::parse_line(buf)
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

    #[test]
    fn stops_at_the_end_of_its_batch() {
        let mut buf = BytesMut::from(&b"VA 1\r\na\r\nHD\r\nEN\r\n"[..]);
        let mut first = ReplyReader::new(Expect::Replies(2));
        first.feed(&mut buf, "s").unwrap();
        assert!(first.is_done());
        assert_eq!(&buf[..], b"EN\r\n");
        assert_eq!(first.into_replies().meta.len(), 2);
    }

    #[test]
    fn quiet_batches_end_at_mn() {
        let mut buf = BytesMut::from(&b"VA 1 O3\r\na\r\nMN\r\nrest"[..]);
        let mut reader = ReplyReader::new(Expect::UntilNoop);
        reader.feed(&mut buf, "s").unwrap();
        assert!(reader.is_done());
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn waits_for_split_replies_and_refuses_error() {
        let mut reader = ReplyReader::new(Expect::Replies(1));
        let mut buf = BytesMut::from(&b"VA 3\r\nab"[..]);
        reader.feed(&mut buf, "s").unwrap();
        assert!(!reader.is_done());
        assert_eq!(missing_bytes(&buf), 3);
        buf.extend_from_slice(b"c\r\n");
        reader.feed(&mut buf, "s").unwrap();
        assert!(reader.is_done());
        let mut reader = ReplyReader::new(Expect::Replies(1));
        assert!(reader.feed(&mut BytesMut::from(&b"ERROR\r\n"[..]), "s").is_err());
    }
}
