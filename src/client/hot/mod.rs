//! Hot keys: a few keys that take a large share of reads.
//!
//! - **Key splitting**: a configured hot key is stored as `copies` items, the key itself and
//!   `<key>:memlease-copy-<i>`, each placed on its own (so usually different) server. A read
//!   picks one copy at random; writes and deletes reach every copy.
//! - **Local cache**: keys the server reports as hot (fetched before, last accessed within
//!   `hot_window` seconds: the meta `h` and `l` flags) are admitted, with probability
//!   `admission`, into a small in-process cache for `ttl`. When a local copy expires exactly one
//!   caller refreshes it from memcached; the others keep getting the expiring copy meanwhile.
//!   Writes through this client drop the key's local copy, before and after the write, and a
//!   read that overlapped one of them is not admitted (so this client reads its own writes);
//!   other clients' writes are seen within `ttl`. Bounded: the oldest entries are evicted
//!   beyond `capacity`.
//!
//!   An entry is for a key's whole identity, its stored key and what placement hashes (the
//!   routing key, and whether it is bytes): `("tenant:1", "settings")` and
//!   `("tenant:2", "settings")` may be different items on different servers. A write drops
//!   every entry of its stored key though, and overlapping reads of any of them: keys routed
//!   to one server name one item there.

mod local;
mod split;

pub use local::{identity, Local, LocalCache, LocalCacheConfig, LocalStats, LocalWrite, Ticket};
pub use split::{copy_key, SplitCopy, SplitKeys};
