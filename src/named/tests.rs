//! The local layer's logic without Python: bounds, expiry, invalidation and stale-put refusal.

use super::local_layer::{max_entries_from, ttl_from_secs, LocalLayer};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn value(layer: &LocalLayer<String>, key: &str) -> Option<String> {
    layer.get(key).map(|entry| entry.value().clone())
}

fn put(layer: &LocalLayer<String>, key: &str, tags: &[&str]) -> bool {
    layer.put(key, format!("v:{key}"), tags, None, None).unwrap()
}

#[test]
fn a_put_value_is_served_until_removed() {
    let layer = LocalLayer::new(100, MINUTE);
    assert!(put(&layer, "a", &[]));
    assert_eq!(value(&layer, "a").as_deref(), Some("v:a"));
    assert!(layer.remove("a"));
    assert!(!layer.remove("a"));
    assert_eq!(value(&layer, "a"), None);
    let stats = layer.stats();
    assert_eq!(
        (stats.hits, stats.misses, stats.inserts, stats.invalidations),
        (1, 1, 1, 1)
    );
}

#[test]
fn entries_never_exceed_the_bound() {
    for max_entries in [1, 7, 100, 1000, 4099] {
        let layer = LocalLayer::new(max_entries, MINUTE);
        for i in 0..max_entries * 3 {
            put(&layer, &format!("k{i}"), &[]);
            assert!(
                layer.len() <= max_entries,
                "{} entries over a bound of {max_entries}",
                layer.len()
            );
        }
        let stats = layer.stats();
        assert_eq!(stats.evictions, stats.inserts - stats.entries, "bound {max_entries}");
        assert!(
            stats.entries * 10 >= max_entries as u64 * 9,
            "bound {max_entries}: only {}",
            stats.entries
        );
    }
}

#[test]
fn replacing_a_value_is_no_eviction() {
    let layer = LocalLayer::new(10, MINUTE);
    for i in 0..5 {
        layer.put("a", format!("{i}"), &[], None, None).unwrap();
    }
    assert_eq!(value(&layer, "a").as_deref(), Some("4"));
    assert_eq!(layer.stats().evictions, 0);
}

#[test]
fn an_expired_entry_is_never_served() {
    let layer = LocalLayer::new(10, MINUTE);
    layer
        .put("short", "s".to_owned(), &[], Some(Duration::from_millis(20)), None)
        .unwrap();
    put(&layer, "long", &[]);
    thread::sleep(Duration::from_millis(40));
    assert_eq!(value(&layer, "short"), None);
    assert_eq!(value(&layer, "long").as_deref(), Some("v:long"));
    let stats = layer.stats();
    assert_eq!((stats.expirations, stats.entries), (1, 1));
}

#[test]
fn removing_a_tag_stops_every_entry_carrying_it() {
    let layer = LocalLayer::new(100, MINUTE);
    put(&layer, "a", &["user:1", "list"]);
    put(&layer, "b", &["user:2", "list"]);
    put(&layer, "c", &["user:1"]);
    put(&layer, "d", &[]);
    assert_eq!(layer.remove_tags(["user:1"]), 1);
    assert_eq!(value(&layer, "a"), None);
    assert_eq!(value(&layer, "c"), None);
    assert_eq!(value(&layer, "b").as_deref(), Some("v:b"));
    assert_eq!(layer.remove_tags(["list", "absent"]), 2);
    assert_eq!(value(&layer, "b"), None);
    assert_eq!(value(&layer, "d").as_deref(), Some("v:d"));
    assert_eq!(layer.stats().invalidations, 3);
    // A put after the invalidation is served again.
    assert!(put(&layer, "a", &["user:1"]));
    assert_eq!(value(&layer, "a").as_deref(), Some("v:a"));
}

#[test]
fn a_value_read_before_an_invalidation_is_refused() {
    let layer = LocalLayer::new(100, MINUTE);
    let token = layer.generation();
    layer.remove_tags(["t"]);
    assert!(!layer.put("a", "old".to_owned(), &["t"], None, Some(token)).unwrap());
    assert!(layer.put("a", "old".to_owned(), &["u"], None, Some(token)).unwrap());

    let token = layer.generation();
    layer.remove("b");
    assert!(!layer.put("b", "old".to_owned(), &[], None, Some(token)).unwrap());

    let token = layer.generation();
    layer.clear();
    assert!(!layer.put("c", "old".to_owned(), &[], None, Some(token)).unwrap());
    assert!(layer
        .put("c", "new".to_owned(), &[], None, Some(layer.generation()))
        .unwrap());
    assert_eq!(layer.stats().refused, 3);
    assert_eq!(value(&layer, "b"), None);
    assert_eq!(value(&layer, "c").as_deref(), Some("new"));
}

#[test]
fn a_token_from_the_future_is_an_error() {
    let layer: LocalLayer<String> = LocalLayer::new(10, MINUTE);
    let ahead = layer.generation() + 1;
    assert!(layer.put("a", "x".to_owned(), &[], None, Some(ahead)).is_err());
}

#[test]
fn tag_records_nobody_holds_are_pruned() {
    let layer = LocalLayer::new(64, MINUTE);
    for i in 0..100_000 {
        layer.remove_tags([format!("gone:{i}").as_str()]);
        put(&layer, &format!("k{}", i % 1000), &[format!("held:{i}").as_str()]);
    }
    let tags = layer.stats().tags;
    assert!(tags <= 4096, "{tags} tag records kept");
    // Tags of held entries still work after the pruning passes.
    put(&layer, "probe", &["held:probe"]);
    assert!(value(&layer, "probe").is_some());
    layer.remove_tags(["held:probe"]);
    assert_eq!(value(&layer, "probe"), None);
}

#[test]
fn a_pruned_invalidation_still_refuses_an_older_put() {
    let layer = LocalLayer::new(10, MINUTE);
    let token = layer.generation();
    layer.remove_tags(["t"]);
    for i in 0..10_000 {
        layer.remove_tags([format!("other:{i}").as_str()]);
    }
    assert!(layer.stats().tags < 10_000);
    assert!(!layer.put("a", "old".to_owned(), &["t"], None, Some(token)).unwrap());
}

#[test]
fn configure_changes_later_puts_and_keeps_fresh_entries() {
    let layer = LocalLayer::new(1000, Duration::from_millis(30));
    put(&layer, "early", &["t"]);
    layer.configure(None, Some(MINUTE));
    put(&layer, "late", &[]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        value(&layer, "early"),
        None,
        "stored before the change: keeps its own expiry"
    );
    assert_eq!(value(&layer, "late").as_deref(), Some("v:late"));

    for i in 0..500 {
        put(&layer, &format!("k{i}"), &["t"]);
    }
    layer.configure(Some(40), None);
    assert!(layer.len() <= 40);
    assert!(layer.len() >= 30, "fresh entries were moved over: {}", layer.len());
    layer.configure(Some(5000), None);
    assert!(layer.len() >= 30);
    layer.remove_tags(["t"]);
    assert!((0..500).all(|i| value(&layer, &format!("k{i}")).is_none()));
}

#[test]
fn bad_settings_are_refused() {
    assert!(max_entries_from(0).is_err());
    assert!(max_entries_from(-1).is_err());
    assert_eq!(max_entries_from(3).unwrap(), 3);
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e10] {
        assert!(ttl_from_secs("ttl", bad).is_err(), "{bad}");
    }
    assert_eq!(ttl_from_secs("ttl", 1.5).unwrap(), Duration::from_millis(1500));
}

#[test]
fn threads_never_see_another_keys_value_or_an_invalidated_one() {
    let layer = Arc::new(LocalLayer::new(200, MINUTE));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let layer = Arc::clone(&layer);
            thread::spawn(move || {
                for i in 0..20_000 {
                    let key = format!("k{}", (i * 7 + worker) % 300);
                    match i % 5 {
                        0 => {
                            layer.remove_tags([format!("t{}", i % 3).as_str()]);
                        }
                        1 => {
                            layer.remove(&key);
                        }
                        2 | 3 => {
                            let token = layer.generation();
                            let tag = format!("t{}", i % 3);
                            layer.put(&key, format!("v:{key}"), &[&tag], None, Some(token)).unwrap();
                        }
                        _ => {
                            if let Some(entry) = layer.get(&key) {
                                assert_eq!(entry.value(), &format!("v:{key}"));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(layer.len() <= 200);
}

#[test]
fn an_invalidated_tag_is_not_resurrected_by_a_racing_put() {
    // A put whose token predates a racing remove_tags is never served afterwards.
    for _ in 0..200 {
        let layer = Arc::new(LocalLayer::new(100, MINUTE));
        let token = layer.generation();
        let invalidator = {
            let layer = Arc::clone(&layer);
            thread::spawn(move || layer.remove_tags(["t"]))
        };
        layer.put("k", "stale".to_owned(), &["t"], None, Some(token)).unwrap();
        invalidator.join().unwrap();
        assert_eq!(value(&layer, "k"), None);
    }
}
