//! The blocking I/O path (`Client`): each calling thread does its own I/O with the GIL
//! released.
//!
//! - [`connection`]: one non-blocking socket with its buffers.
//! - [`exchange`]: drive one or many connections through `poll(2)` under one deadline.
//! - [`pool`]: bounded per-server pool; the guard discards a connection on any error.
//! - [`combine`]: threads calling one server at once share a round trip.

pub mod combine;
pub mod connection;
pub mod exchange;
pub mod pool;
