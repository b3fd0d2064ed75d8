//! Drive one or more connections at once: write each one's encoded requests, read and parse
//! its replies, all under one deadline, from the calling thread.
//!
//! Writing and reading are interleaved through `poll(2)`, so a large pipelined batch cannot
//! deadlock (the server blocking on a full send buffer while we block on a full one of ours),
//! and a multi-server operation waits for all servers in parallel rather than in turn.

use crate::connection::Connection;
use crate::error::{Error, Result, TimeoutPhase};
use crate::protocol::response::{self, Code, Response};
use crate::protocol::text::{self, TextReply};
use std::time::{Duration, Instant};

/// What ends a connection's share of the exchange.
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

/// One connection's part of an exchange.
pub struct Job<'a> {
    pub conn: &'a mut Connection,
    pub expect: Expect,
    written: usize,
    /// Meta replies, in order.
    pub replies: Vec<Response>,
    /// The reply to a `Stats` or `Line` expectation.
    pub text: Option<TextReply>,
    /// `None` while running; the job's error if it failed.
    pub error: Option<Error>,
    done: bool,
}

impl<'a> Job<'a> {
    /// `conn.write_buf` must hold the encoded requests.
    pub fn new(conn: &'a mut Connection, expect: Expect) -> Self {
        Job {
            conn,
            expect,
            written: 0,
            replies: Vec::new(),
            text: None,
            error: None,
            done: false,
        }
    }

    /// The job's error, or its replies.
    pub fn into_outcome(self) -> (Option<Error>, crate::cluster::Replies) {
        (
            self.error,
            crate::cluster::Replies {
                meta: self.replies,
                text: self.text,
            },
        )
    }

    fn active(&self) -> bool {
        !self.done && self.error.is_none()
    }

    fn wants_write(&self) -> bool {
        self.written < self.conn.write_buf.len()
    }

    fn fail(&mut self, error: Error) {
        self.error = Some(error);
    }

    fn write(&mut self) -> Result<()> {
        while self.wants_write() {
            let n = self.conn.write_some(self.written)?;
            if n == 0 {
                break;
            }
            self.written += n;
        }
        Ok(())
    }

    /// Parse every complete reply in the buffer; mark the job done when the expectation is met.
    fn parse(&mut self) -> Result<()> {
        let server = || self.conn.server.to_string();
        while !self.done && !self.conn.read_buf.is_empty() {
            match self.expect {
                Expect::Replies(_) | Expect::UntilNoop => {
                    let parsed = response::parse(&self.conn.read_buf).map_err(|e| Error::UnexpectedReply {
                        server: server(),
                        detail: e.0,
                    })?;
                    let Some(parsed) = parsed else { return Ok(()) };
                    let frame = self.conn.read_buf.split_to(parsed.consumed).freeze();
                    let reply = parsed.into_response(&frame);
                    if reply.code == Code::Error {
                        // `ERROR` means the server did not understand a line we sent: what it
                        // makes of the rest of the batch is unknowable.
                        return Err(Error::UnexpectedReply {
                            server: server(),
                            detail: "server answered ERROR (unknown command)".into(),
                        });
                    }
                    match self.expect {
                        Expect::UntilNoop if reply.code == Code::Noop => self.done = true,
                        Expect::Replies(n) => {
                            self.replies.push(reply);
                            self.done = self.replies.len() == n;
                        }
                        _ => self.replies.push(reply),
                    }
                }
                Expect::Stats | Expect::Line => {
                    let parsed = if self.expect == Expect::Stats {
                        text::parse_stats(&self.conn.read_buf)
                    } else {
                        text::parse_line(&self.conn.read_buf)
                    };
                    let parsed = parsed.map_err(|e| Error::UnexpectedReply {
                        server: server(),
                        detail: e.0,
                    })?;
                    let Some((reply, used)) = parsed else { return Ok(()) };
                    let _ = self.conn.read_buf.split_to(used);
                    self.text = Some(reply);
                    self.done = true;
                }
            }
        }
        if self.done && !self.conn.read_buf.is_empty() {
            // More bytes than the requests asked for: the stream is out of step with us.
            return Err(self.conn.lost("unexpected bytes after the last reply".into()));
        }
        Ok(())
    }

    /// How many more bytes the frame at the front of the buffer needs, when known.
    fn size_hint(&self) -> usize {
        let buf = &self.conn.read_buf[..];
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
}

/// Run `jobs` until each has its replies or an error, or `deadline` passes. Errors are per job:
/// one failing server does not stop the others.
pub fn run(jobs: &mut [Job<'_>], deadline: Instant, timeout: Duration) {
    for job in jobs.iter_mut() {
        if job.expect == Expect::Replies(0) {
            job.done = true;
        }
        if let Err(e) = job.write() {
            job.fail(e);
        }
    }
    let mut pollfds: Vec<libc::pollfd> = Vec::with_capacity(jobs.len());
    let mut owners: Vec<usize> = Vec::with_capacity(jobs.len());
    loop {
        pollfds.clear();
        owners.clear();
        for (i, job) in jobs.iter().enumerate() {
            if job.active() {
                let events = libc::POLLIN | if job.wants_write() { libc::POLLOUT } else { 0 };
                pollfds.push(libc::pollfd {
                    fd: job.conn.fd(),
                    events,
                    revents: 0,
                });
                owners.push(i);
            }
        }
        if pollfds.is_empty() {
            return;
        }
        let now = Instant::now();
        if now >= deadline {
            for &i in &owners {
                let server = jobs[i].conn.server.to_string();
                jobs[i].fail(Error::Timeout {
                    server,
                    phase: TimeoutPhase::Read,
                    after: timeout,
                });
            }
            return;
        }
        // Round up so a sub-millisecond remainder still waits rather than spinning.
        let wait = deadline - now;
        let wait_ms = wait.as_millis().min(i32::MAX as u128) as i32 + i32::from(wait.subsec_nanos() % 1_000_000 != 0);
        // SAFETY: `pollfds` is a valid array of `pollfds.len()` entries.
        let ready = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, wait_ms) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            for &i in &owners {
                let e = jobs[i].conn.lost(format!("poll failed: {err}"));
                jobs[i].fail(e);
            }
            return;
        }
        for (pfd, &i) in pollfds.iter().zip(&owners) {
            if pfd.revents == 0 {
                continue;
            }
            let job = &mut jobs[i];
            if let Err(e) = step(job, pfd.revents) {
                job.fail(e);
            }
        }
    }
}

fn step(job: &mut Job<'_>, revents: libc::c_short) -> Result<()> {
    if revents & libc::POLLOUT != 0 {
        job.write()?;
    }
    if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
        loop {
            let hint = job.size_hint();
            let (_, filled) = job.conn.read_some(hint)?;
            job.parse()?;
            // A read that filled the buffer may have left more behind; anything else means
            // the socket is drained for now.
            if !filled || !job.active() {
                break;
            }
        }
    }
    Ok(())
}
