//! [`crate::transport::Multiplexed`]'s exchange when the operation runs on a loop's executor:
//! each batch goes to its server's connection on that loop.

use super::connection::connection_for;
use super::executor::LoopIo;
use crate::cluster::{Admitted, Batch, Cluster};
use crate::error::{Error, Result};
use crate::protocol::reply::Replies;
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

type Submitted<'a> = Result<(Admitted<'a>, oneshot::Receiver<Result<Replies>>)>;

/// Send each batch to its server on `loop_io`'s loop; one result per batch, in order. All are
/// written before the first reply is awaited, so the servers work in parallel.
pub async fn exchange(loop_io: Arc<LoopIo>, cluster: &Cluster, batches: Vec<Batch>) -> Vec<Result<Replies>> {
    let started = crate::call::started().unwrap_or_else(Instant::now);
    let submitted: Vec<Submitted<'_>> = Python::attach(|py| {
        batches
            .into_iter()
            .map(|batch| submit(py, &loop_io, cluster, batch, started))
            .collect()
    });
    let mut results = Vec::with_capacity(submitted.len());
    for batch in submitted {
        results.push(match batch {
            Err(error) => Err(error),
            Ok((admitted, reply)) => {
                let result = reply.await.unwrap_or_else(|_| {
                    Err(Error::ConnectionLost {
                        server: cluster.server_name(admitted.server()).to_string(),
                        detail: "the connection ended without replying".into(),
                    })
                });
                admitted.record(&result);
                result
            }
        });
    }
    results
}

fn submit<'a>(
    py: Python<'_>,
    loop_io: &Arc<LoopIo>,
    cluster: &'a Cluster,
    batch: Batch,
    started: Instant,
) -> Submitted<'a> {
    let timeout = cluster.timeout_of(batch.server);
    let deadline = started + timeout;
    if deadline <= Instant::now() {
        // The call spent its time before anything was sent: send nothing, so the caller's
        // timeout never leaves a write that may or may not have happened.
        return Err(Error::before_send(cluster.server_name(batch.server), timeout));
    }
    let admitted = cluster.admit(batch.server)?;
    let connection = connection_for(loop_io, py, cluster, batch.server);
    let reply = connection.submit(py, loop_io, &batch.bytes, batch.expect, deadline);
    Ok((admitted, reply))
}
