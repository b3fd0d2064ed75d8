//! The in-process layer of named caches (issue 13): a bounded, TTL'd, tag-invalidated map
//! from str keys to values, generic over the value so it is tested and benchmarked without
//! Python. `memlease.CacheManager` uses it through `memlease._core.LocalLayer`.
//!
//! - [`local_layer`]: the layer itself (entries, expiry, invalidation epochs, stale-put
//!   refusal, runtime reconfiguration).
//! - [`tags`]: per-tag invalidation records, O(1) per tag, pruned when nothing refers to them.

pub mod local_layer;
pub mod tags;

#[cfg(test)]
mod tests;
