//! Drive one or more connections at once: write each one's encoded requests, read and parse
//! its replies, all under one deadline, from the calling thread.
//!
//! Writing and reading are interleaved through `poll(2)`, so a large pipelined batch cannot
//! deadlock (the server blocking on a full send buffer while we block on a full one of ours),
//! and a multi-server operation waits for all servers in parallel rather than in turn.

use crate::connection::Connection;
use crate::error::{Error, Result, TimeoutPhase};
use crate::reply::{missing_bytes, Expect, Replies, ReplyReader};
use std::time::{Duration, Instant};

/// One connection's part of an exchange.
pub struct Job<'a> {
    pub conn: &'a mut Connection,
    written: usize,
    reader: ReplyReader,
    /// `None` while running; the job's error if it failed.
    error: Option<Error>,
}

impl<'a> Job<'a> {
    /// `conn.write_buf` must hold the encoded requests.
    pub fn new(conn: &'a mut Connection, expect: Expect) -> Self {
        Job {
            conn,
            written: 0,
            reader: ReplyReader::new(expect),
            error: None,
        }
    }

    /// The job's error, or its replies.
    pub fn into_outcome(self) -> (Option<Error>, Replies) {
        (self.error, self.reader.into_replies())
    }

    fn active(&self) -> bool {
        !self.reader.is_done() && self.error.is_none()
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

    /// Parse every complete reply in the buffer.
    fn parse(&mut self) -> Result<()> {
        self.reader.feed(&mut self.conn.read_buf, &self.conn.server)?;
        if self.reader.is_done() && !self.conn.read_buf.is_empty() {
            // More bytes than the requests asked for: the stream is out of step with us.
            return Err(self.conn.lost("unexpected bytes after the last reply".into()));
        }
        Ok(())
    }
}

/// Run `jobs` until each has its replies or an error, or `deadline` passes. Errors are per job:
/// one failing server does not stop the others.
pub fn run(jobs: &mut [Job<'_>], deadline: Instant, timeout: Duration) {
    for job in jobs.iter_mut() {
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
            let hint = missing_bytes(&job.conn.read_buf);
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
