//! Drive one or more connections at once: write each one's encoded requests, read and parse
//! its replies, all under one deadline, from the calling thread.
//!
//! Writing and reading are interleaved through `poll(2)`, so a large pipelined batch cannot
//! deadlock (the server blocking on a full send buffer while we block on a full one of ours),
//! and a multi-server operation waits for all servers in parallel rather than in turn.

use crate::blocking::connection::Connection;
use crate::error::{Error, Result};
use crate::protocol::reply::{missing_bytes, Expect, Replies, ReplyReader};
use std::time::{Duration, Instant};

/// One connection's part of an exchange: one or more batches written back to back, whose
/// replies arrive in the same order.
pub struct Job<'a> {
    pub conn: &'a mut Connection,
    written: usize,
    /// One reader per batch; `next` is the first whose replies are not all in.
    readers: Vec<ReplyReader>,
    next: usize,
    /// `None` while running; the job's error if it failed.
    error: Option<Error>,
}

impl<'a> Job<'a> {
    /// `conn.write_buf` must hold the encoded requests of one batch.
    pub fn new(conn: &'a mut Connection, expect: Expect) -> Self {
        Self::batches(conn, vec![expect])
    }

    /// `conn.write_buf` must hold the encoded batches, in the order of `expects`.
    pub fn batches(conn: &'a mut Connection, expects: Vec<Expect>) -> Self {
        let readers: Vec<ReplyReader> = expects.into_iter().map(ReplyReader::new).collect();
        let next = readers.iter().take_while(|r| r.is_done()).count();
        Job {
            conn,
            written: 0,
            readers,
            next,
            error: None,
        }
    }

    /// The job's error, or the replies of its first batch.
    pub fn into_outcome(self) -> (Option<Error>, Replies) {
        let (error, mut replies) = self.into_outcomes();
        (error, replies.swap_remove(0))
    }

    /// The job's error, or the replies of each batch.
    pub fn into_outcomes(self) -> (Option<Error>, Vec<Replies>) {
        (
            self.error,
            self.readers.into_iter().map(ReplyReader::into_replies).collect(),
        )
    }

    fn active(&self) -> bool {
        self.next < self.readers.len() && self.error.is_none()
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
        while let Some(reader) = self.readers.get_mut(self.next) {
            reader.feed(&mut self.conn.read_buf, &self.conn.server)?;
            if !reader.is_done() {
                return Ok(());
            }
            self.next += 1;
        }
        if !self.conn.read_buf.is_empty() {
            // More bytes than the requests asked for: the stream is out of step with us.
            return Err(self.conn.lost("unexpected bytes after the last reply".into()));
        }
        Ok(())
    }
}

/// Run `jobs` until each has its replies or an error, or `deadline` passes. Errors are per job:
/// one failing server does not stop the others.
pub fn run(jobs: &mut [Job<'_>], deadline: Instant, timeout: Duration) {
    if Instant::now() >= deadline {
        // The call spent its time before anything was sent: send nothing, so the caller's
        // timeout never leaves a write that may or may not have happened.
        for job in jobs.iter_mut() {
            let error = Error::before_send(&job.conn.server, timeout);
            job.fail(error);
        }
        return;
    }
    for job in jobs.iter_mut() {
        if let Err(e) = job.write() {
            job.fail(e);
        }
    }
    for job in jobs.iter_mut() {
        // The reply is often in by now (the server shares the machine, or answered while we
        // wrote): reading first saves the poll(2). Each connection learns whether that pays.
        if job.active() && !job.wants_write() && job.conn.early_reads.try_now() {
            match drain(job) {
                Ok(read) => job.conn.early_reads.record(read > 0),
                Err(e) => job.fail(e),
            }
        }
    }
    // Most exchanges drive one or a few connections: their poll set lives on the stack.
    let mut inline = ([IDLE; INLINE_POLLS], [0usize; INLINE_POLLS]);
    let mut spilled = (Vec::new(), Vec::new());
    let (pollfds, owners): (&mut [libc::pollfd], &mut [usize]) = if jobs.len() <= INLINE_POLLS {
        (&mut inline.0, &mut inline.1)
    } else {
        spilled.0.resize(jobs.len(), IDLE);
        spilled.1.resize(jobs.len(), 0);
        (&mut spilled.0, &mut spilled.1)
    };
    loop {
        let mut polled = 0;
        for (i, job) in jobs.iter().enumerate() {
            if job.active() {
                let events = libc::POLLIN | if job.wants_write() { libc::POLLOUT } else { 0 };
                pollfds[polled] = libc::pollfd {
                    fd: job.conn.fd(),
                    events,
                    revents: 0,
                };
                owners[polled] = i;
                polled += 1;
            }
        }
        if polled == 0 {
            return;
        }
        let (pollfds, owners) = (&mut pollfds[..polled], &owners[..polled]);
        let now = Instant::now();
        if now >= deadline {
            for &i in owners {
                let error = Error::read_timeout(&jobs[i].conn.server, timeout);
                jobs[i].fail(error);
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
            for &i in owners {
                let e = jobs[i].conn.lost(format!("poll failed: {err}"));
                jobs[i].fail(e);
            }
            return;
        }
        for (pfd, &i) in pollfds.iter().zip(owners) {
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

/// Connections an exchange polls without allocating.
const INLINE_POLLS: usize = 4;
const IDLE: libc::pollfd = libc::pollfd {
    fd: -1,
    events: 0,
    revents: 0,
};

fn step(job: &mut Job<'_>, revents: libc::c_short) -> Result<()> {
    if revents & libc::POLLOUT != 0 {
        job.write()?;
    }
    if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
        drain(job)?;
    }
    Ok(())
}

/// Read and parse what the socket holds. Returns the bytes read (0: nothing was waiting).
fn drain(job: &mut Job<'_>) -> Result<usize> {
    let mut total = 0;
    loop {
        let hint = missing_bytes(&job.conn.read_buf);
        let (read, filled) = job.conn.read_some(hint)?;
        total += read;
        job.parse()?;
        // A read that filled the buffer may have left more behind; anything else means the
        // socket is drained for now.
        if !filled || !job.active() {
            return Ok(total);
        }
    }
}
