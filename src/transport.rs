//! How batches reach the servers. The operations in [`crate::client`] are written once, as
//! async functions over a [`Transport`]; the two clients differ only in the transport:
//!
//! - [`Blocking`]: the calling thread does the I/O itself (GIL released), through the pool of
//!   blocking connections. Its futures are ready on the first poll, so [`run_blocking`] runs an
//!   operation to completion without any runtime.
//! - [`Multiplexed`]: batches go to per-server driver tasks on the tokio runtime, which pipeline
//!   the requests of all concurrent callers over shared connections.

use crate::cluster::{Batch, Cluster};
use crate::error::{Error, Result};
use crate::protocol::reply::Replies;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::oneshot;

pub trait Transport: Send + Sync + 'static {
    fn cluster(&self) -> &Cluster;

    /// Send each batch to its server; one result per batch, in order.
    fn exchange(&self, batches: Vec<Batch>) -> impl Future<Output = Vec<Result<Replies>>> + Send;

    /// Send one batch to its server.
    fn exchange_one(&self, batch: Batch) -> impl Future<Output = Result<Replies>> + Send {
        let results = self.exchange(vec![batch]);
        async move { results.await.pop().expect("one result per batch") }
    }
}

/// Blocking I/O on the calling thread.
pub struct Blocking(pub Cluster);

impl Transport for Blocking {
    fn cluster(&self) -> &Cluster {
        &self.0
    }

    fn exchange(&self, batches: Vec<Batch>) -> impl Future<Output = Vec<Result<Replies>>> + Send {
        std::future::ready(self.0.exchange_blocking(batches))
    }

    fn exchange_one(&self, batch: Batch) -> impl Future<Output = Result<Replies>> + Send {
        std::future::ready(self.0.exchange_one_blocking(batch))
    }
}

/// Run an operation over the [`Blocking`] transport. Its futures never wait on anything but
/// blocking calls made inside `poll`, so one poll completes them.
pub fn run_blocking<F: Future>(operation: F) -> F::Output {
    let mut operation = pin!(operation);
    match operation.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a blocking-transport operation waited on something asynchronous"),
    }
}

/// Pipelined I/O through the multiplexed pools.
pub struct Multiplexed(pub Cluster);

impl Transport for Multiplexed {
    fn cluster(&self) -> &Cluster {
        &self.0
    }

    fn exchange(&self, batches: Vec<Batch>) -> impl Future<Output = Vec<Result<Replies>>> + Send {
        // An operation polled by an event loop's executor does its I/O on that loop.
        let on_loop = crate::aio::LoopIo::current();
        async move {
            match on_loop {
                Some(loop_io) => crate::aio::exchange(loop_io, &self.0, batches).await,
                None => self.exchange_on_runtime(batches).await,
            }
        }
    }
}

impl Multiplexed {
    fn exchange_on_runtime(&self, batches: Vec<Batch>) -> impl Future<Output = Vec<Result<Replies>>> + Send + '_ {
        // The drivers enforce pool_timeout and timeout themselves; the longest patience of the
        // servers involved is the backstop for a batch stuck behind a connection that cannot
        // make progress. Within a call, the caller waits no longer than `timeout` from the
        // call's start (converting and encoding included); a reply that comes later is read
        // and discarded by the driver, so the connection stays in step.
        let backstop = batches
            .iter()
            .map(|b| self.0.patience(b.server))
            .max()
            .unwrap_or_default();
        let (wait, started) = match crate::call::started() {
            Some(started) => {
                let timeout = batches
                    .iter()
                    .map(|b| self.0.timeout_of(b.server))
                    .max()
                    .unwrap_or_default();
                (timeout, started)
            }
            None => (backstop, std::time::Instant::now()),
        };
        let out_of_time = started + wait <= std::time::Instant::now();
        // Submitted at once, so every server works on its batch while we wait for the first.
        let submitted: Vec<Result<_>> = batches
            .into_iter()
            .map(|batch| {
                if out_of_time {
                    // The call spent its time before anything was sent: send nothing, so the
                    // caller's timeout never leaves a write that may or may not have happened.
                    return Err(Error::before_send(self.0.server_name(batch.server), wait));
                }
                let admitted = self.0.admit(batch.server)?;
                let pool = self.0.multiplexed(batch.server)?;
                Ok((admitted, pool.submit(batch.bytes, batch.expect)))
            })
            .collect();
        let cluster = &self.0;
        async move {
            let deadline = tokio::time::Instant::from_std(started) + wait;
            let mut results = Vec::with_capacity(submitted.len());
            for batch in submitted {
                results.push(match batch {
                    Err(e) => Err(e),
                    Ok((admitted, reply)) => {
                        let name = cluster.server_name(admitted.server());
                        let result = await_reply(reply, deadline, name, wait).await;
                        admitted.record(&result);
                        result
                    }
                });
            }
            results
        }
    }
}

async fn await_reply(
    reply: oneshot::Receiver<Result<Replies>>,
    deadline: tokio::time::Instant,
    server: &str,
    waited: Duration,
) -> Result<Replies> {
    match tokio::time::timeout_at(deadline, reply).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Error::ConnectionLost {
            server: server.to_owned(),
            detail: "the connection task ended without replying".into(),
        }),
        Err(_) => Err(Error::read_timeout(server, waited)),
    }
}
