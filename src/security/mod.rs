//! What a new connection does before its first request: today memcached's ASCII authentication
//! ([`auth`]). Every I/O path (blocking pool, multiplexed driver, event-loop connection) opens
//! its connections through the same steps, so none of them can skip one.

pub mod auth;

use std::sync::Arc;

pub use auth::Credentials;

/// A pool's connection set-up, shared by its connections (gutter, mirror and named pools
/// inherit the client's).
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// Sent as the first request of each new connection.
    pub credentials: Option<Arc<Credentials>>,
}
