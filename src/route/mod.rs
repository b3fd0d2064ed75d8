//! Where a request goes, without I/O: the fleet's pools and placement, which servers are down,
//! and what servers owe.
//!
//! - [`server`]: server spec parsing (`host:port weight`, `[v6]:port`, `unix:/path`).
//! - [`ring`]: key placement presets, each compatible with the client it names.
//! - [`topology`]: pools, routes, mirror / gutter / max-TTL, fallback decisions.
//! - [`health`]: mark-down and probing of failing servers.
//! - [`ledger`]: deletes servers owe and stand-ins that may hold copies (process-wide).

pub mod health;
pub mod ledger;
pub mod ring;
pub mod server;
pub mod topology;
