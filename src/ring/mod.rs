//! Key placement: which server of a pool holds a key.
//!
//! Placement hashes the user's key bytes (before the wire mapping of [`crate::keys`]), so a
//! key lands where other clients configured the same way put it.

pub mod ketama;

pub use ketama::Ketama;

/// The identity a placement algorithm sees for a server: its host exactly as configured (no DNS)
/// and port. Unix sockets use the path as host and port 0, as libmemcached does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId {
    pub host: String,
    pub port: u16,
    pub weight: u32,
}
