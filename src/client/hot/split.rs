//! Split keys: a hot key stored as several copies (see the parent module).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys stored as several copies.
#[derive(Debug, Default)]
pub struct SplitKeys {
    keys: HashSet<Vec<u8>>,
    pub copies: usize,
    /// Counter behind the choice of copy to read.
    reads: AtomicU64,
}

impl SplitKeys {
    pub fn new(keys: impl IntoIterator<Item = Vec<u8>>, copies: usize) -> Self {
        SplitKeys {
            keys: keys.into_iter().collect(),
            copies,
            reads: AtomicU64::new(0),
        }
    }

    /// Which copy of a key stored as `copies` to read: spread evenly, in no fixed pattern (a
    /// caller reading several split keys in a row must not land on the same copy each time).
    pub fn pick(&self, copies: usize) -> usize {
        // splitmix64 of a counter.
        let mut z = self
            .reads
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % copies as u64) as usize
    }

    /// The split keys and their number of copies, canonically (sorted), as part of a
    /// client's placement identity (a delete removes the copies too): empty when nothing is
    /// split.
    pub fn identity(&self) -> String {
        if self.copies <= 1 || self.keys.is_empty() {
            return String::new();
        }
        let mut keys: Vec<String> = self.keys.iter().map(|k| format!("\"{}\"", k.escape_ascii())).collect();
        keys.sort();
        format!("; hot keys x{} [{}]", self.copies, keys.join(" "))
    }

    /// How many copies `key` is stored as (1: not split).
    pub fn copies_of(&self, key: &[u8]) -> usize {
        if self.copies > 1 && self.keys.contains(key) {
            self.copies
        } else {
            1
        }
    }
}

/// One extra copy of a split key: its stored name and the server it is pinned to (a server
/// none of the key's other copies use, while there are enough; else placed by its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitCopy {
    pub name: Vec<u8>,
    pub server: Option<usize>,
}

/// The stored key of copy `index` of a split key (copy 0 is the key itself).
pub fn copy_key(key: &[u8], index: usize) -> Vec<u8> {
    let mut copy = key.to_vec();
    if index > 0 {
        copy.extend_from_slice(format!(":memlease-copy-{index}").as_bytes());
    }
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keys_name_their_copies() {
        let split = SplitKeys::new([b"hot".to_vec()], 3);
        assert_eq!(split.copies_of(b"hot"), 3);
        assert_eq!(split.copies_of(b"cold"), 1);
        assert_eq!(copy_key(b"hot", 0), b"hot");
        assert_eq!(copy_key(b"hot", 2), b"hot:memlease-copy-2");
    }
}
