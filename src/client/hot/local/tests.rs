//! Tests of the local hot-key cache: admission, expiry, invalidation and refresh.

use super::*;
use crate::route::ring::PlacementKey;
use bytes::Bytes;

fn item(value: &'static [u8]) -> Item {
    Item {
        data: Bytes::from_static(value),
        client_flags: 0,
        cas: None,
    }
}

/// Read `key` locally and, on a miss, bring `value` back as if from memcached.
fn read_through(c: &LocalCache, key: &[u8], value: &'static [u8], hot: bool) {
    if let Local::Miss(ticket) = c.lookup(KeyRef::plain(key)) {
        ticket.offer(Some(&item(value)), Some(hot), Some(0));
    }
}

fn is_miss(local: Local) -> bool {
    matches!(local, Local::Miss(_))
}

fn cache(capacity: usize, ttl_ms: u64) -> LocalCache {
    LocalCache::new(LocalCacheConfig {
        capacity,
        ttl: Duration::from_millis(ttl_ms),
        admission: 1.0,
        hot_window: 2,
    })
}

#[test]
fn admits_only_keys_the_server_calls_hot() {
    let c = cache(10, 1000);
    for (key, hit_before, last_access) in [(&b"cold"[..], false, 0), (b"stale", true, 60), (b"hot", true, 1)] {
        let Local::Miss(ticket) = c.lookup(KeyRef::plain(key)) else {
            panic!("empty cache")
        };
        ticket.offer(Some(&item(b"v")), Some(hit_before), Some(last_access));
    }
    assert!(is_miss(c.lookup(KeyRef::plain(b"cold"))));
    assert!(is_miss(c.lookup(KeyRef::plain(b"stale"))));
    assert!(matches!(c.lookup(KeyRef::plain(b"hot")), Local::Hit(_)));
    assert_eq!(c.stats().admissions, 1);
}

#[test]
fn one_refresher_when_a_copy_expires() {
    let c = cache(10, 20);
    read_through(&c, b"k", b"v1", true);
    std::thread::sleep(Duration::from_millis(30));
    let Local::Miss(ticket) = c.lookup(KeyRef::plain(b"k")) else {
        panic!("this caller refreshes")
    };
    assert!(matches!(c.lookup(KeyRef::plain(b"k")), Local::Refreshing(_))); // the others are served meanwhile
    ticket.offer(Some(&item(b"v2")), None, None);
    let Local::Hit(refreshed) = c.lookup(KeyRef::plain(b"k")) else {
        panic!("refreshed copy expected")
    };
    assert_eq!(refreshed.data.as_ref(), b"v2");
}

#[test]
fn bounded_and_forgets_written_keys() {
    let c = cache(2, 1000);
    for key in [b"a", b"b", b"c"] {
        read_through(&c, key, b"v", true);
    }
    assert_eq!(c.len(), 2);
    assert!(is_miss(c.lookup(KeyRef::plain(b"a"))));
    drop(c.write(KeyRef::plain(b"c")));
    assert!(is_miss(c.lookup(KeyRef::plain(b"c"))));
    assert_eq!(c.stats().evictions, 1);
}

#[test]
fn a_read_overlapping_a_local_write_is_not_kept() {
    let c = cache(10, 1000);
    let Local::Miss(ticket) = c.lookup(KeyRef::plain(b"k")) else {
        panic!("empty cache")
    };
    let write = c.write(KeyRef::plain(b"k")); // a write of k starts while the read is in flight
    ticket.offer(Some(&item(b"old")), Some(true), Some(0));
    assert!(is_miss(c.lookup(KeyRef::plain(b"k"))));
    drop(write);
    // A read that began during the write and ends after it is not kept either.
    let write = c.write(KeyRef::plain(b"k"));
    let Local::Miss(ticket) = c.lookup(KeyRef::plain(b"k")) else {
        panic!("not cached")
    };
    drop(write);
    ticket.offer(Some(&item(b"old")), Some(true), Some(0));
    assert!(is_miss(c.lookup(KeyRef::plain(b"k"))));
    // Reads of other keys are still admitted (unless their hash slot collides).
    read_through(&c, b"other", b"v", true);
    assert!(matches!(c.lookup(KeyRef::plain(b"other")), Local::Hit(_)));
}

#[test]
fn a_cancelled_refresh_lets_the_next_caller_refresh() {
    let c = cache(10, 20);
    read_through(&c, b"k", b"v1", true);
    std::thread::sleep(Duration::from_millis(30));
    let Local::Miss(ticket) = c.lookup(KeyRef::plain(b"k")) else {
        panic!("this caller refreshes")
    };
    drop(ticket); // the read failed or its caller was cancelled
    assert!(
        is_miss(c.lookup(KeyRef::plain(b"k"))),
        "the next caller must become the refresher"
    );
}

fn routed<'a>(route: &'a [u8], stored: &'a [u8]) -> KeyRef<'a> {
    KeyRef {
        stored,
        route: PlacementKey {
            bytes: route,
            is_bytes: false,
        },
        pinned: None,
        split_copy: false,
    }
}

fn value_of(local: Local) -> &'static str {
    match local {
        Local::Hit(item) if item.data.as_ref() == b"one" => "one",
        Local::Hit(item) if item.data.as_ref() == b"two" => "two",
        Local::Hit(_) => "other",
        Local::Refreshing(_) => "refreshing",
        Local::Miss(_) => "miss",
    }
}

#[test]
fn each_route_of_a_stored_key_has_its_own_entry() {
    let c = cache(10, 1000);
    let (one, two) = (routed(b"tenant:1", b"settings"), routed(b"tenant:2", b"settings"));
    for (key, value) in [(one, &b"one"[..]), (two, b"two")] {
        let Local::Miss(ticket) = c.lookup(key) else {
            panic!("not cached yet")
        };
        ticket.offer(Some(&item(value)), Some(true), Some(0));
    }
    assert_eq!((value_of(c.lookup(one)), value_of(c.lookup(two))), ("one", "two"));
    // The key itself, and the same bytes as a bytes key, are other identities again.
    assert!(is_miss(c.lookup(KeyRef::plain(b"settings"))));
    let bytes_key = KeyRef {
        route: PlacementKey {
            bytes: b"tenant:1",
            is_bytes: true,
        },
        ..one
    };
    assert!(is_miss(c.lookup(bytes_key)));
    assert_eq!(c.len(), 2);
    // A write drops every route's entry: routed to one server, they name one item.
    drop(c.write(two));
    assert_eq!((value_of(c.lookup(one)), value_of(c.lookup(two))), ("miss", "miss"));
    assert_eq!(c.len(), 0);
}

#[test]
fn eviction_counts_every_route() {
    let c = cache(2, 1000);
    for route in [&b"a"[..], b"b", b"c"] {
        if let Local::Miss(ticket) = c.lookup(routed(route, b"k")) {
            ticket.offer(Some(&item(b"one")), Some(true), Some(0));
        }
    }
    assert_eq!(c.len(), 2);
    assert!(is_miss(c.lookup(routed(b"a", b"k"))), "the oldest went first");
    assert_eq!(value_of(c.lookup(routed(b"c", b"k"))), "one");
    assert_eq!(c.stats().evictions, 1);
}
