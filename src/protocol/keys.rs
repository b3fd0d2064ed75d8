//! How a user's key becomes the key token on the wire. The mapping is part of the stored data's
//! format, so it is fixed:
//!
//! 1. 1-250 bytes, every byte printable ASCII other than space (0x21-0x7e): sent as is.
//! 2. Otherwise, if at most [`MAX_BINARY_KEY_LEN`] (186) bytes: sent base64-encoded (standard
//!    alphabet, padded) with the meta `b` flag; memcached stores the raw bytes.
//! 3. Anything longer: replaced by `memlease-digest:` + the lowercase hex BLAKE2b-256 digest of
//!    the key bytes (80 printable bytes, sent as in rule 1).
//!
//! A key placed by a routing key goes by an alias on servers other than its own (mirror,
//! stand-ins): [`alias_key`], `memlease-alias:` + a digest of both.
//!
//! Servers are chosen from the user's key bytes, not the wire form (see [`crate::route::ring`]).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use blake2::{Blake2b, Digest};
use std::borrow::Cow;

/// memcached's `KEY_MAX_LENGTH`.
pub const MAX_KEY_LEN: usize = 250;
/// The longest raw key whose base64 form (4 * ceil(n / 3) chars) still fits in 250 bytes.
pub const MAX_BINARY_KEY_LEN: usize = 186;
/// Prefix of digest keys (rule 3).
pub const DIGEST_PREFIX: &[u8] = b"memlease-digest:";

type Blake2b256 = Blake2b<blake2::digest::consts::U32>;

/// The key as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireKey<'a> {
    /// The key token.
    pub token: Cow<'a, [u8]>,
    /// Whether the token is base64 and needs the `b` flag.
    pub binary: bool,
}

/// The empty key is the only key that cannot be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmptyKey;

fn is_plain(raw: &[u8]) -> bool {
    raw.iter().all(|b| (0x21..0x7f).contains(b))
}

/// Map a user key to its wire form (rules in the module docs).
pub fn wire_key(raw: &[u8]) -> Result<WireKey<'_>, EmptyKey> {
    if raw.is_empty() {
        return Err(EmptyKey);
    }
    let plain = is_plain(raw);
    if plain && raw.len() <= MAX_KEY_LEN {
        return Ok(WireKey {
            token: Cow::Borrowed(raw),
            binary: false,
        });
    }
    if !plain && raw.len() <= MAX_BINARY_KEY_LEN {
        return Ok(WireKey {
            token: Cow::Owned(BASE64.encode(raw).into_bytes()),
            binary: true,
        });
    }
    Ok(digest_key(DIGEST_PREFIX, &[raw]))
}

/// `prefix` + the lowercase hex BLAKE2b-256 digest of `parts`, one after the other.
fn digest_key(prefix: &[u8], parts: &[&[u8]]) -> WireKey<'static> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut hasher = Blake2b256::new();
    for part in parts {
        hasher.update(part);
    }
    let mut token = Vec::with_capacity(prefix.len() + 64);
    token.extend_from_slice(prefix);
    for byte in hasher.finalize() {
        token.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
    }
    WireKey {
        token: Cow::Owned(token),
        binary: false,
    }
}

/// Prefix of alias keys (see [`alias_key`]).
pub const ALIAS_PREFIX: &[u8] = b"memlease-alias:";

/// The name a key stored as `stored` and placed by a routing key goes by on servers other than
/// its own (the mirror, stand-ins): `memlease-alias:` + the hex BLAKE2b-256 digest of the
/// routing key (its length and type first, so no two pairs run together) and the stored key.
/// Two routing keys sharing a stored key are different items there, as on their own servers.
pub fn alias_key(stored: &[u8], route: &[u8], route_is_bytes: bool) -> WireKey<'static> {
    let kind: &[u8] = if route_is_bytes { b"b" } else { b"s" };
    let length = (route.len() as u64).to_be_bytes();
    digest_key(ALIAS_PREFIX, &[kind, &length, route, stored])
}

/// The inverse of rule 2, for keys the server echoes back with `k` and `b`.
pub fn decode_binary(token: &[u8]) -> Option<Vec<u8>> {
    BASE64.decode(token).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keys_go_as_is() {
        let key = wire_key(b"user:42").unwrap();
        assert_eq!(key.token.as_ref(), b"user:42");
        assert!(!key.binary);
        assert!(matches!(key.token, Cow::Borrowed(_)));
        let longest = vec![b'k'; MAX_KEY_LEN];
        assert_eq!(wire_key(&longest).unwrap().token.as_ref(), &longest[..]);
    }

    #[test]
    fn other_keys_are_base64_then_digested() {
        let key = wire_key(b"has space").unwrap();
        assert!(key.binary);
        assert_eq!(key.token.as_ref(), b"aGFzIHNwYWNl");
        assert_eq!(decode_binary(&key.token).unwrap(), b"has space");

        let key = wire_key("caf\u{e9}".as_bytes()).unwrap();
        assert!(key.binary);

        let at_limit = vec![0u8; MAX_BINARY_KEY_LEN];
        let key = wire_key(&at_limit).unwrap();
        assert!(key.binary);
        assert_eq!(key.token.len(), 248);

        let over = vec![0u8; MAX_BINARY_KEY_LEN + 1];
        let key = wire_key(&over).unwrap();
        assert!(!key.binary);
        assert!(key.token.starts_with(DIGEST_PREFIX));
        assert_eq!(key.token.len(), DIGEST_PREFIX.len() + 64);

        let long_plain = vec![b'a'; MAX_KEY_LEN + 1];
        let digest = wire_key(&long_plain).unwrap();
        assert!(digest.token.starts_with(DIGEST_PREFIX));
        assert_ne!(digest.token, wire_key(&vec![b'a'; MAX_KEY_LEN + 2]).unwrap().token);
    }

    #[test]
    fn aliases_tell_routing_keys_apart() {
        let alias = alias_key(b"settings", b"tenant:1", false);
        assert!(alias.token.starts_with(ALIAS_PREFIX) && !alias.binary);
        assert_eq!(alias.token.len(), ALIAS_PREFIX.len() + 64);
        assert_ne!(alias, alias_key(b"settings", b"tenant:2", false));
        assert_ne!(alias, alias_key(b"settings", b"tenant:1", true));
        assert_ne!(alias_key(b"ab", b"c", false), alias_key(b"b", b"ca", false));
        assert_eq!(alias, alias_key(b"settings", b"tenant:1", false));
    }

    #[test]
    fn digest_is_stable() {
        // Pinned: changing this mapping orphans every long key already stored.
        let key = wire_key(&[b'x'; 300]).unwrap();
        assert_eq!(
            std::str::from_utf8(&key.token).unwrap(),
            "memlease-digest:".to_owned() + &hex_of_blake2b(&[b'x'; 300])
        );
    }

    fn hex_of_blake2b(data: &[u8]) -> String {
        Blake2b256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_key_is_refused() {
        assert_eq!(wire_key(b""), Err(EmptyKey));
    }
}
