//! Mark-down admission and health: whether a request may go to a server, how its outcome is
//! recorded, and what the event hook and `health()` report.

use super::{Cluster, Pools};
use crate::error::Result;
use crate::protocol::reply::Replies;
use crate::route::health::{Admission, HealthEvent, HealthSnapshot, ServerHealth};
use std::sync::atomic::Ordering;

impl Cluster {
    fn admit_in(&self, pools: &Pools, server: usize) -> Result<Admission> {
        let health = &pools.health[server];
        match health.admit() {
            Admission::Refused(retry_in) => Err(health.refusal(retry_in)),
            admission => Ok(admission),
        }
    }

    fn record_in(&self, pools: &Pools, server: usize, admission: Admission, result: &Result<Replies>) {
        let outcome = result.as_ref().map(|_| ());
        if let Some(event) = pools.health[server].record(admission, outcome, &self.health_policy) {
            pools.events.lock().push(event);
            pools.events_pending.store(true, Ordering::Release);
        }
    }

    /// Whether a request may go to `server` now: `Err(ServerDown)` while it is marked down.
    /// The mark-down rule of both transports: the guard returned must be told how the request
    /// ended ([`Admitted::record`]), or it abandons its admission when dropped.
    pub fn admit(&self, server: usize) -> Result<Admitted<'_>> {
        let pools = self.pools()?;
        let admission = self.admit_in(&pools, server)?;
        Ok(Admitted {
            cluster: self,
            server,
            admission: Some(admission),
        })
    }

    /// Record how a request let through by [`Cluster::admit`] ended.
    fn record(&self, server: usize, admission: Admission, result: &Result<Replies>) {
        if let Ok(pools) = self.pools() {
            self.record_in(&pools, server, admission, result);
        }
    }

    /// A request let through by [`Cluster::admit`] ended with no outcome to record.
    fn abandon(&self, server: usize, admission: Admission) {
        if let Ok(pools) = self.pools() {
            pools.health[server].abandon(admission);
        }
    }

    /// Whether `server` is marked down right now.
    pub fn is_down(&self, server: usize) -> bool {
        self.pools().map(|p| p.health[server].is_down()).unwrap_or(false)
    }

    /// Mark-downs and rejoins since the last call, oldest first.
    pub fn take_events(&self) -> Vec<HealthEvent> {
        match self.pools() {
            Ok(pools)
                if pools.events_pending.load(Ordering::Relaxed)
                    && pools.events_pending.swap(false, Ordering::Acquire) =>
            {
                std::mem::take(&mut *pools.events.lock())
            }
            _ => Vec::new(),
        }
    }

    /// Health counters of every server, in configuration order.
    pub fn health(&self) -> Vec<HealthSnapshot> {
        match self.pools() {
            Ok(pools) => pools.health.iter().map(ServerHealth::snapshot).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// A request let through by [`Cluster::admit`], whose outcome is owed to the server's health.
/// Dropped unrecorded (its caller stopped waiting, or it never went out), it is abandoned, so
/// a probe hands its turn back instead of leaving the server down for good.
pub struct Admitted<'a> {
    cluster: &'a Cluster,
    server: usize,
    admission: Option<Admission>,
}

impl Admitted<'_> {
    pub fn server(&self) -> usize {
        self.server
    }

    /// How the request ended: a failure counts against the server, a success clears it.
    pub fn record(mut self, result: &Result<Replies>) {
        if let Some(admission) = self.admission.take() {
            self.cluster.record(self.server, admission, result);
        }
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            self.cluster.abandon(self.server, admission);
        }
    }
}
