//! The task that owns one multiplexed connection: it writes queued batches, reads replies and
//! hands each batch its own, in order.
//!
//! A connection lives until an I/O error, a protocol error, a reply overdue by more than
//! `timeout` (the server is hung: every batch in flight fails and the socket is closed, never
//! reused out of step), the pool closing, or a minute without work.

use super::{MuxPool, Next, Submission, MAX_IN_FLIGHT};
use crate::error::{Error, Result, TimeoutPhase};
use crate::limits::{reset_write_buffer, trim_read_buffer, IO_BUFFER};
use crate::protocol::reply::{missing_bytes, Replies, ReplyReader};
use crate::route::server::Address;
use crate::security::auth::authenticate_async;
use bytes::BytesMut;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use tokio::io::{Interest, Ready};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::time::Instant;

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        match self {
            Stream::Tcp(s) => s.ready(interest).await,
            Stream::Unix(s) => s.ready(interest).await,
        }
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write(buf),
            Stream::Unix(s) => s.try_write(buf),
        }
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_read_buf(buf),
            Stream::Unix(s) => s.try_read_buf(buf),
        }
    }
}

/// A batch written (or being written) and not yet answered.
struct InFlight {
    reader: ReplyReader,
    deadline: Instant,
    reply: oneshot::Sender<Result<Replies>>,
}

struct Driver {
    pool: Arc<MuxPool>,
    stream: Stream,
    read_buf: BytesMut,
    write_buf: Vec<u8>,
    written: usize,
    in_flight: VecDeque<InFlight>,
    taken: Vec<Submission>,
}

enum Event {
    Io(io::Result<Ready>),
    Work,
    Overdue,
}

/// Connect, then serve the pool until the connection ends.
pub async fn run(pool: Arc<MuxPool>) {
    let stream = match connect(&pool).await {
        Ok(stream) => stream,
        Err(error) => {
            tracing::debug!(server = %pool.name(), %error, "multiplexed connect failed");
            pool.driver_ended(Some(&error), false);
            return;
        }
    };
    let mut driver = Driver {
        pool,
        stream,
        read_buf: BytesMut::with_capacity(IO_BUFFER),
        write_buf: Vec::with_capacity(IO_BUFFER),
        written: 0,
        in_flight: VecDeque::new(),
        taken: Vec::new(),
    };
    let ended = driver.serve().await;
    if let Err(error) = &ended {
        tracing::debug!(server = %driver.pool.name(), %error, "closing multiplexed connection");
        for batch in driver.in_flight.drain(..) {
            let _ = batch.reply.send(Err(error.clone()));
        }
    }
    driver.pool.driver_ended(ended.as_ref().err(), true);
}

async fn connect(pool: &MuxPool) -> Result<Stream> {
    let server = pool.name.to_string();
    let connect_error = |source| Error::Connect {
        server: server.clone(),
        source,
    };
    // The connect timeout covers the authentication too.
    let attempt = async {
        let mut stream = match &pool.address {
            Address::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(connect_error)?;
                stream.set_nodelay(true).map_err(connect_error)?;
                Stream::Tcp(stream)
            }
            Address::Unix(path) => Stream::Unix(UnixStream::connect(path).await.map_err(connect_error)?),
        };
        if let Some(credentials) = &pool.config.security.credentials {
            match &mut stream {
                Stream::Tcp(s) => authenticate_async(s, credentials, &server).await?,
                Stream::Unix(s) => authenticate_async(s, credentials, &server).await?,
            }
        }
        Ok(stream)
    };
    let timeout = pool.config.timeouts.connect;
    tokio::time::timeout(timeout, attempt).await.unwrap_or_else(|_| {
        Err(Error::Timeout {
            server: server.clone(),
            phase: TimeoutPhase::Connect,
            after: timeout,
        })
    })
}

impl Driver {
    /// Serve until the connection must end: `Ok` when retired or closed cleanly, `Err` with
    /// the failure that ends every batch in flight.
    async fn serve(&mut self) -> Result<()> {
        loop {
            self.take_work()?;
            if self.in_flight.is_empty() {
                // While idle, the socket is watched too: an idle connection that turns readable
                // was closed by the server (a restart) or sent something unasked for; either
                // way it is retired now rather than failing the next request.
                tokio::select! {
                    next = self.pool.wait_for_work() => match next {
                        Next::Work => continue,
                        Next::Retire => return Ok(()),
                    },
                    _ = self.stream.ready(Interest::READABLE) => {
                        tracing::debug!(server = %self.pool.name(), "idle multiplexed connection closed by the server");
                        return Ok(());
                    }
                }
            }
            let wants_write = self.written < self.write_buf.len();
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let deadline = self.in_flight.front().map(|b| b.deadline).expect("in flight");
            let room = self.in_flight.len() < MAX_IN_FLIGHT;
            let event = tokio::select! {
                biased;
                ready = self.stream.ready(interest) => Event::Io(ready),
                _ = self.pool.work.notified(), if room => Event::Work,
                _ = tokio::time::sleep_until(deadline) => Event::Overdue,
            };
            match event {
                Event::Io(ready) => {
                    let ready = ready.map_err(|e| self.lost(format!("poll failed: {e}")))?;
                    if ready.is_writable() {
                        self.write()?;
                    }
                    if ready.is_readable() || ready.is_read_closed() || ready.is_error() {
                        self.read()?;
                    }
                }
                Event::Work => {}
                Event::Overdue => return Err(Error::read_timeout(&self.pool.name, self.pool.config.timeouts.read)),
            }
        }
    }

    /// Move queued batches into the write buffer, as many as the connection has room for.
    fn take_work(&mut self) -> Result<()> {
        let room = MAX_IN_FLIGHT - self.in_flight.len();
        if room == 0 {
            return Ok(());
        }
        self.pool.take(room, &mut self.taken);
        if self.taken.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.pool.config.timeouts.read;
        for submission in self.taken.drain(..) {
            self.write_buf.extend_from_slice(&submission.bytes);
            self.in_flight.push_back(InFlight {
                reader: ReplyReader::new(submission.expect),
                deadline,
                reply: submission.reply,
            });
        }
        // Try at once: usually the socket takes the whole batch and no wakeup is needed.
        self.write()
    }

    /// Write as much as the socket takes without blocking.
    fn write(&mut self) -> Result<()> {
        while self.written < self.write_buf.len() {
            match self.stream.try_write(&self.write_buf[self.written..]) {
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(self.lost(format!("write failed: {e}"))),
            }
        }
        if self.written == self.write_buf.len() {
            self.written = 0;
            reset_write_buffer(&mut self.write_buf);
        }
        Ok(())
    }

    fn read(&mut self) -> Result<()> {
        loop {
            let want = missing_bytes(&self.read_buf).max(IO_BUFFER);
            self.read_buf.reserve(want);
            match self.stream.try_read_buf(&mut self.read_buf) {
                Ok(0) => return Err(self.lost("server closed the connection".into())),
                Ok(_) => self.dispatch()?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(self.lost(format!("read failed: {e}"))),
            }
        }
    }

    /// Hand every complete batch its replies, oldest first.
    fn dispatch(&mut self) -> Result<()> {
        while let Some(front) = self.in_flight.front_mut() {
            front.reader.feed(&mut self.read_buf, &self.pool.name)?;
            if !front.reader.is_done() {
                return Ok(());
            }
            let batch = self.in_flight.pop_front().expect("front exists");
            // A caller that gave up has dropped its receiver; the reply is simply discarded.
            let _ = batch.reply.send(Ok(batch.reader.into_replies()));
        }
        if !self.read_buf.is_empty() {
            return Err(self.lost("unexpected bytes with no request in flight".into()));
        }
        trim_read_buffer(&mut self.read_buf);
        Ok(())
    }

    fn lost(&self, detail: String) -> Error {
        Error::ConnectionLost {
            server: self.pool.name.to_string(),
            detail,
        }
    }
}
