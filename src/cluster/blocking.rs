//! The blocking transport: batches exchanged over pooled blocking connections from the calling
//! thread, a lone small batch through its server's combiner.

use super::{Batch, Cluster, Pools, COMBINE_AT_MOST};
use crate::blocking::exchange::{self, Job};
use crate::blocking::pool::PooledConnection;
use crate::error::{Error, Result};
use crate::protocol::reply::Replies;
use std::time::Instant;

impl Cluster {
    /// Send each batch to its server over blocking connections, all servers at once, from the
    /// calling thread; one result per batch, in order. A lone, small batch goes through its
    /// server's [`Combiner`], so threads calling at the same time share round trips. A batch
    /// for a server marked down fails at once with [`Error::ServerDown`].
    pub fn exchange_blocking(&self, mut batches: Vec<Batch>) -> Vec<Result<Replies>> {
        let pools = match self.pools() {
            Ok(pools) => pools,
            Err(e) => return batches.iter().map(|_| Err(e.clone())).collect(),
        };
        if let [batch] = &batches[..] {
            if batch.bytes.len() <= COMBINE_AT_MOST {
                let batch = batches.pop().expect("one batch");
                return vec![self.combined(&pools, batch)];
            }
        }
        let mut results: Vec<Option<Result<Replies>>> = Vec::with_capacity(batches.len());
        // (result slot, admission, connection) of each batch sent, and its expectation.
        let mut sent = Vec::with_capacity(batches.len());
        let mut expects = Vec::with_capacity(batches.len());
        for (i, batch) in batches.into_iter().enumerate() {
            let borrowed = self.admit(batch.server).and_then(|admitted| {
                match pools.blocking[batch.server].get() {
                    Ok(conn) => Ok((admitted, conn)),
                    Err(error) => {
                        // Recorded like any outcome: a probe that could not connect has its
                        // verdict, and must not keep its turn.
                        admitted.record(&Err(error.clone()));
                        Err(error)
                    }
                }
            });
            match borrowed {
                Ok((admitted, mut conn)) => {
                    conn.write_buf = batch.bytes;
                    sent.push((i, admitted, conn));
                    expects.push(batch.expect);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        // One deadline for the whole exchange: the longest timeout among the servers involved,
        // counted from the start of the call (converting and encoding 100k keys takes long
        // enough to matter).
        let timeout = sent
            .iter()
            .map(|(_, admitted, _)| self.timeout_of(admitted.server()))
            .max()
            .unwrap_or_default();
        let deadline = crate::call::started().unwrap_or_else(Instant::now) + timeout;
        let mut jobs: Vec<Job<'_>> = sent
            .iter_mut()
            .zip(expects)
            .map(|((_, _, conn), expect)| Job::new(conn, expect))
            .collect();
        exchange::run(&mut jobs, deadline, timeout);
        let outcomes: Vec<_> = jobs.into_iter().map(Job::into_outcome).collect();
        for ((i, admitted, conn), (error, replies)) in sent.into_iter().zip(outcomes) {
            let result = settle(conn, error, replies);
            admitted.record(&result);
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every batch has a result"))
            .collect()
    }

    /// [`Cluster::exchange_blocking`] of one batch.
    pub fn exchange_one_blocking(&self, batch: Batch) -> Result<Replies> {
        if batch.bytes.len() > COMBINE_AT_MOST {
            return self.exchange_blocking(vec![batch]).pop().expect("one result per batch");
        }
        self.combined(&*self.pools()?, batch)
    }

    /// A lone, small batch through its server's [`Combiner`].
    fn combined(&self, pools: &Pools, batch: Batch) -> Result<Replies> {
        let Batch { server, bytes, expect } = batch;
        let admitted = self.admit(server)?;
        let result = pools.combiners[server].exchange(&pools.blocking[server], bytes, expect, self.timeout_of(server));
        admitted.record(&result);
        result
    }
}

/// Return a connection that finished cleanly to its pool; close one that did not (it may hold
/// part of a reply).
fn settle(conn: PooledConnection, error: Option<Error>, replies: Replies) -> Result<Replies> {
    match error {
        None => {
            conn.release();
            Ok(replies)
        }
        Some(e) => {
            tracing::debug!(error = %e, "closing connection after a failed exchange");
            Err(e)
        }
    }
}
