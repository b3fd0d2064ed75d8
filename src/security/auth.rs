//! memcached's ASCII authentication (`memcached -Y authfile`): the first request of a
//! connection is a `set` of any key whose value is `<username> <password>`; the server answers
//! `STORED`, or `CLIENT_ERROR authentication failure` and refuses every later command with
//! `CLIENT_ERROR unauthenticated`.
//!
//! The exchange happens while the connection is being opened, before any request of a caller
//! is written, so a refusal never leaves a caller's request on a half-authenticated socket:
//! the connection is closed and the open fails with [`Error::Authentication`].

use crate::error::{Error, Result};
use std::fmt;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// The key of the authentication `set`: memcached ignores it (nothing is stored).
const AUTH_KEY: &str = "memlease_auth";
/// Longest reply line accepted (`CLIENT_ERROR bad authentication token format` and the like).
const LONGEST_REPLY: usize = 256;

/// A username and its password. The password never leaves this type except on the wire:
/// `Debug` shows the username only, and no error or log message quotes the password.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Credentials {
    /// Check what memcached's token format can carry: both non-empty, no whitespace (the
    /// server splits the token at the first space and lines end at CR LF) and no `:` in the
    /// username (the auth file's separator). Messages never quote the password.
    pub fn new(username: &str, password: &str) -> Result<Self> {
        let invalid = |what: &str| Err(Error::InvalidArgument(what.to_owned()));
        if username.is_empty() || password.is_empty() {
            return invalid("username and password must both be non-empty");
        }
        if username
            .chars()
            .any(|c| c.is_whitespace() || c == ':' || c.is_control())
        {
            return invalid("username must not contain whitespace, control characters or ':'");
        }
        if password.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("password must not contain whitespace or control characters");
        }
        Ok(Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        })
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// The authentication request.
    pub fn request(&self) -> Vec<u8> {
        let token = format!("{} {}", self.username, self.password);
        format!("set {AUTH_KEY} 0 0 {}\r\n{token}\r\n", token.len()).into_bytes()
    }

    /// The outcome of the reply `line` (without its CR LF).
    pub fn check_reply(&self, line: &[u8], server: &str) -> Result<()> {
        if line == b"STORED" {
            return Ok(());
        }
        let reply = String::from_utf8_lossy(line);
        if line.starts_with(b"CLIENT_ERROR") {
            return Err(Error::Authentication {
                server: server.to_owned(),
                username: self.username.clone(),
                reply: reply.into_owned(),
            });
        }
        Err(Error::UnexpectedReply {
            server: server.to_owned(),
            detail: format!("authentication answered {reply:?}"),
        })
    }
}

/// The reply line once `buf` holds it whole: `Some(line)` (without CR LF); an error when more
/// than the line came (nothing else was asked) or the line is too long.
pub fn reply_line<'b>(buf: &'b [u8], server: &str) -> Result<Option<&'b [u8]>> {
    let unexpected = |detail: &str| Error::UnexpectedReply {
        server: server.to_owned(),
        detail: detail.to_owned(),
    };
    match buf.windows(2).position(|pair| pair == b"\r\n") {
        Some(end) if end + 2 == buf.len() => Ok(Some(&buf[..end])),
        Some(_) => Err(unexpected("more than one reply to the authentication request")),
        None if buf.len() > LONGEST_REPLY => Err(unexpected("an over-long reply to the authentication request")),
        None => Ok(None),
    }
}

/// The reply to the authentication request, gathered across reads.
struct Reply<'c> {
    credentials: &'c Credentials,
    server: &'c str,
    buf: Vec<u8>,
}

impl<'c> Reply<'c> {
    fn new(credentials: &'c Credentials, server: &'c str) -> Self {
        Reply {
            credentials,
            server,
            buf: Vec::with_capacity(64),
        }
    }

    /// Take what one read returned (empty: the server closed the connection); the outcome
    /// once the reply is whole.
    fn feed(&mut self, read: &[u8]) -> Option<Result<()>> {
        if read.is_empty() {
            return Some(Err(Error::ConnectionLost {
                server: self.server.to_owned(),
                detail: "server closed the connection during authentication".into(),
            }));
        }
        self.buf.extend_from_slice(read);
        match reply_line(&self.buf, self.server) {
            Ok(Some(line)) => Some(self.credentials.check_reply(line, self.server)),
            Ok(None) => None,
            Err(error) => Some(Err(error)),
        }
    }
}

/// Authenticate on a blocking stream whose read and write timeouts this sets from `deadline`
/// (the connect timeout covers the authentication too).
pub fn authenticate_blocking<S: Read + Write>(
    stream: &mut S,
    set_timeouts: impl Fn(&S, Duration) -> io::Result<()>,
    credentials: &Credentials,
    server: &str,
    deadline: Instant,
    connect_timeout: Duration,
) -> Result<()> {
    let timed_out = || Error::Timeout {
        server: server.to_owned(),
        phase: crate::error::TimeoutPhase::Connect,
        after: connect_timeout,
    };
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(),
        _ => Error::ConnectionLost {
            server: server.to_owned(),
            detail: format!("authentication failed: {e}"),
        },
    };
    let remaining = || {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(timed_out())
        } else {
            Ok(left)
        }
    };
    set_timeouts(stream, remaining()?).map_err(io_error)?;
    stream.write_all(&credentials.request()).map_err(io_error)?;
    let mut reply = Reply::new(credentials, server);
    let mut chunk = [0u8; 128];
    loop {
        set_timeouts(stream, remaining()?).map_err(io_error)?;
        let n = stream.read(&mut chunk).map_err(io_error)?;
        if let Some(outcome) = reply.feed(&chunk[..n]) {
            return outcome;
        }
    }
}

/// Authenticate on an async stream (the multiplexed driver's); the caller bounds the time.
pub async fn authenticate_async<S>(stream: &mut S, credentials: &Credentials, server: &str) -> Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let lost = |e: io::Error| Error::ConnectionLost {
        server: server.to_owned(),
        detail: format!("authentication failed: {e}"),
    };
    stream.write_all(&credentials.request()).await.map_err(lost)?;
    let mut reply = Reply::new(credentials, server);
    let mut chunk = [0u8; 128];
    loop {
        let n = stream.read(&mut chunk).await.map_err(lost)?;
        if let Some(outcome) = reply.feed(&chunk[..n]) {
            return outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_a_set_of_the_token() {
        let credentials = Credentials::new("alice", "s3cret").unwrap();
        assert_eq!(credentials.request(), b"set memlease_auth 0 0 12\r\nalice s3cret\r\n");
    }

    #[test]
    fn debug_hides_the_password() {
        let credentials = Credentials::new("alice", "s3cret").unwrap();
        let shown = format!("{credentials:?}");
        assert!(shown.contains("alice") && !shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn refusal_names_the_user_not_the_password() {
        let credentials = Credentials::new("alice", "s3cret").unwrap();
        let error = credentials
            .check_reply(b"CLIENT_ERROR authentication failure", "h:1")
            .unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, Error::Authentication { .. }));
        assert!(message.contains("alice") && !message.contains("s3cret"), "{message}");
    }

    #[test]
    fn reply_line_waits_for_the_whole_line_and_refuses_extra_bytes() {
        assert_eq!(reply_line(b"STOR", "s").unwrap(), None);
        assert_eq!(reply_line(b"STORED\r\n", "s").unwrap(), Some(&b"STORED"[..]));
        assert!(reply_line(b"STORED\r\nEN\r\n", "s").is_err());
        assert!(reply_line(&[b'x'; 300], "s").is_err());
    }

    #[test]
    fn tokens_memcached_cannot_parse_are_refused() {
        for (user, password) in [
            ("", "p"),
            ("u", ""),
            ("a b", "p"),
            ("a:b", "p"),
            ("u", "p w"),
            ("u", "p\r\n"),
        ] {
            let refused = Credentials::new(user, password);
            assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{user:?}");
        }
    }
}
