//! One socket to one server, used by one caller at a time.
//!
//! Sockets are non-blocking; all waiting happens in `poll(2)` with the caller's deadline (see
//! [`crate::blocking::exchange`]), so a timeout is exact and several connections can be driven at once
//! from one thread. A connection never outlives an error in the middle of a reply: the pool
//! guard drops it (see [`crate::blocking::pool`]).

use crate::error::{Error, Result, TimeoutPhase};
use crate::limits::{reset_write_buffer, trim_read_buffer, IO_BUFFER};
use crate::route::server::Address;
use crate::security::auth::{self, Credentials};
use crate::security::Security;
use bytes::BytesMut;
use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }

    /// The authentication exchange, on the still-blocking socket.
    fn authenticate(
        &mut self,
        credentials: &Credentials,
        server: &str,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<()> {
        match self {
            Stream::Tcp(s) => auth::authenticate_blocking(s, set_tcp_timeouts, credentials, server, deadline, timeout),
            Stream::Unix(s) => {
                auth::authenticate_blocking(s, set_unix_timeouts, credentials, server, deadline, timeout)
            }
        }
    }
}

fn set_tcp_timeouts(stream: &TcpStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

fn set_unix_timeouts(stream: &UnixStream, timeout: Duration) -> io::Result<()> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))
}

/// An open connection with its buffers.
pub struct Connection {
    stream: Stream,
    /// Bytes read from the socket and not yet parsed into replies.
    pub(crate) read_buf: BytesMut,
    /// Encoded requests not yet written.
    pub(crate) write_buf: Vec<u8>,
    /// The server's display name, for errors.
    pub(crate) server: Arc<str>,
    /// When the connection was last returned to its pool.
    pub(crate) idle_since: Instant,
    /// Whether a reply is read before polling for it (see [`EarlyReads`]).
    pub(crate) early_reads: EarlyReads,
}

/// Whether to try reading a reply right after its request is written, before poll(2). When
/// the reply is already there (the server shares the machine, or is quick), that saves a
/// system call; when it is not, the read is one wasted. Each connection keeps reading first
/// while that finds data; after a miss it polls first for a while, longer after each miss in
/// a row, then tries again.
#[derive(Debug, Default)]
pub(crate) struct EarlyReads {
    /// Exchanges left that poll first.
    pause: u16,
    /// Early reads in a row that found nothing.
    misses: u8,
}

impl EarlyReads {
    /// Most exchanges that poll first after a run of misses.
    const LONGEST_PAUSE_SHIFT: u8 = 6;

    /// Whether this exchange reads first (called once per exchange).
    pub(crate) fn try_now(&mut self) -> bool {
        if self.pause == 0 {
            return true;
        }
        self.pause -= 1;
        false
    }

    /// How the early read went.
    pub(crate) fn record(&mut self, found: bool) {
        if found {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(Self::LONGEST_PAUSE_SHIFT);
            self.pause = 4 << self.misses;
        }
    }
}

impl Connection {
    /// Connect, trying each resolved address until `timeout` runs out, then set the
    /// connection up as `security` says (authentication), within the same `timeout`.
    pub fn open(address: &Address, server: Arc<str>, timeout: Duration, security: &Security) -> Result<Self> {
        let deadline = Instant::now() + timeout;
        let mut stream = match address {
            Address::Tcp { host, port } => Stream::Tcp(connect_tcp(host, *port, &server, timeout, deadline)?),
            Address::Unix(path) => {
                // A Unix connect completes or fails at once; there is nothing to time out.
                let stream = UnixStream::connect(path).map_err(|source| Error::Connect {
                    server: server.to_string(),
                    source,
                })?;
                Stream::Unix(stream)
            }
        };
        if let Some(credentials) = &security.credentials {
            stream.authenticate(credentials, &server, deadline, timeout)?;
        }
        let nonblocking = match &stream {
            Stream::Tcp(s) => s.set_nonblocking(true),
            Stream::Unix(s) => s.set_nonblocking(true),
        };
        nonblocking.map_err(|source| Error::Connect {
            server: server.to_string(),
            source,
        })?;
        Ok(Connection {
            stream,
            read_buf: BytesMut::with_capacity(IO_BUFFER),
            write_buf: Vec::with_capacity(IO_BUFFER),
            server,
            idle_since: Instant::now(),
            early_reads: EarlyReads::default(),
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.stream.fd()
    }

    /// An idle connection must have nothing to read: readable means the server closed it (EOF,
    /// e.g. after a restart) or sent something unsolicited; either way it is unusable.
    pub fn looks_healthy(&self) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
        ready == 0
    }

    /// Write as much of `write_buf[from..]` as the socket takes without blocking.
    /// Returns bytes written; 0 means "would block".
    pub(crate) fn write_some(&mut self, from: usize) -> Result<usize> {
        let pending = &self.write_buf[from..];
        // SAFETY: pointer and length describe `pending`; MSG_NOSIGNAL turns a closed peer into
        // EPIPE instead of SIGPIPE.
        let n = unsafe { libc::send(self.fd(), pending.as_ptr().cast(), pending.len(), libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(n as usize);
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok(0),
            e => Err(self.lost(format!("write failed: {e}"))),
        }
    }

    /// Read what is available into `read_buf`. Returns bytes read (0 means "would block") and
    /// whether the read filled all the room it had (more may be waiting).
    /// A clean EOF is an error: a server never closes a connection with a request pending.
    pub(crate) fn read_some(&mut self, size_hint: usize) -> Result<(usize, bool)> {
        let want = size_hint.max(IO_BUFFER / 2);
        if self.read_buf.capacity() - self.read_buf.len() < want {
            self.read_buf.reserve(want);
        }
        let fd = self.fd();
        let spare = self.read_buf.spare_capacity_mut();
        let room = spare.len();
        // SAFETY: `spare` is writable, uninitialised memory of `spare.len()` bytes owned by the
        // buffer; read(2) initialises the first `n` bytes, which `set_len` then exposes.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), room) };
        if n > 0 {
            unsafe { self.read_buf.set_len(self.read_buf.len() + n as usize) };
            return Ok((n as usize, n as usize == room));
        }
        if n == 0 {
            return Err(self.lost("server closed the connection".into()));
        }
        match io::Error::last_os_error() {
            e if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => Ok((0, false)),
            e => Err(self.lost(format!("read failed: {e}"))),
        }
    }

    /// Drop oversized buffers once a request is done.
    pub(crate) fn trim_buffers(&mut self) {
        trim_read_buffer(&mut self.read_buf);
        reset_write_buffer(&mut self.write_buf);
    }

    pub(crate) fn lost(&self, detail: String) -> Error {
        Error::ConnectionLost {
            server: self.server.to_string(),
            detail,
        }
    }
}

fn connect_tcp(host: &str, port: u16, server: &str, timeout: Duration, deadline: Instant) -> Result<TcpStream> {
    let connect_error = |source| Error::Connect {
        server: server.to_owned(),
        source,
    };
    let addrs: Vec<_> = (host, port).to_socket_addrs().map_err(connect_error)?.collect();
    let mut last_error = None;
    for addr in addrs {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, remaining) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(connect_error)?;
                return Ok(stream);
            }
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        Some(e) if e.kind() != io::ErrorKind::TimedOut => Err(connect_error(e)),
        None if Instant::now() < deadline => Err(connect_error(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolved to no address"),
        ))),
        _ => Err(Error::Timeout {
            server: server.to_owned(),
            phase: TimeoutPhase::Connect,
            after: timeout,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::EarlyReads;

    /// How many of the next `n` exchanges read first, each early read finding data or not.
    fn reads_first(early: &mut EarlyReads, n: usize, found: bool) -> usize {
        (0..n)
            .filter(|_| {
                let now = early.try_now();
                if now {
                    early.record(found);
                }
                now
            })
            .count()
    }

    #[test]
    fn early_reads_pause_longer_after_each_miss_and_resume_on_data() {
        let mut early = EarlyReads::default();
        assert_eq!(reads_first(&mut early, 10, true), 10, "kept while they find data");
        assert_eq!(
            reads_first(&mut early, 9, false),
            1,
            "a miss pauses them for 8 exchanges"
        );
        assert_eq!(reads_first(&mut early, 17, false), 1, "a second miss in a row, for 16");
        assert_eq!(reads_first(&mut early, 1, true), 1, "then they are tried again");
        assert_eq!(reads_first(&mut early, 5, true), 5, "and data resumes them");
        assert_eq!(
            reads_first(&mut early, 1000, false),
            8,
            "the pause is bounded: 256 at most"
        );
    }
}
