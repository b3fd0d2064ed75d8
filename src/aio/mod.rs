//! I/O on the asyncio event loop's own thread: `AsyncClient`'s path for a caller that awaits
//! one call at a time (what one web request does), beside the multiplexed runtime (`mux/`).
//!
//! On the runtime path a call crosses threads twice (the loop hands the operation to a runtime
//! worker, which hands the result back through an eventfd). Here nothing crosses a thread: the
//! call runs its operation as a task of the loop's [`executor`], polled at once on the calling
//! thread, so the request is encoded and written before the method returns. Each server's
//! connection on this loop ([`connection::LoopConnection`]) is watched by the loop's own
//! selector (`loop.add_reader`); the reply is parsed in that callback, which wakes the task,
//! and the task resolves its asyncio future. Only connecting leaves the loop (the runtime's
//! blocking pool resolves and connects, so a slow DNS answer never stalls the loop).
//!
//! The rules are the runtime path's: replies are matched to requests in order and checked by
//! the shared [`crate::protocol::reply::ReplyReader`]; a cancelled caller's reply is still
//! read and discarded; a reply overdue past its call's timeout ends the connection, failing
//! every request in flight on it, and the socket is closed, never reused out of step.

pub mod connection;
pub mod exchange;
pub mod executor;

pub use exchange::exchange;
pub use executor::{LoopIo, Loops};
