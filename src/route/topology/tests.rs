//! Tests of the topology: routing, placement identity, split-copy servers, fallbacks, TTL caps.

use super::*;
use crate::error::Result;
use crate::route::ring::Hashing;

fn spec(name: &str, servers: &[&str]) -> PoolSpec {
    test_pool(name, servers)
}

fn key(bytes: &[u8]) -> PlacementKey<'_> {
    PlacementKey { bytes, is_bytes: false }
}

fn topology(routes: &[(&str, &str)], mirror: Option<&str>, gutter: Option<&str>) -> Result<Topology> {
    Topology::new(TopologyConfig {
        pools: vec![
            spec("default", &["a:1", "b:1"]),
            spec("sessions", &["s:1"]),
            spec("spare", &["g:1"]),
        ],
        routes: routes
            .iter()
            .map(|(p, n)| (p.as_bytes().to_vec(), n.to_string()))
            .collect(),
        mirror: mirror.map(String::from),
        gutter: gutter.map(String::from),
        gutter_ttl: 10,
        remap_on_failure: false,
        remap_ttl: 10,
    })
}

#[test]
fn distinct_servers_give_each_copy_a_server_of_its_own() {
    let t = Topology::new(single_pool_config(spec("default", &["a:1", "b:1", "c:1"]))).unwrap();
    for i in 0..200 {
        let name = format!("hot{i}");
        let route = key(name.as_bytes());
        let servers = t.distinct_servers(name.as_bytes(), &route, 3);
        assert_eq!(servers[0], t.primary(name.as_bytes(), &route));
        let mut unique = servers.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 3, "{servers:?}");
        // More copies than servers: one per server, the rest are placed by name.
        assert_eq!(t.distinct_servers(name.as_bytes(), &route, 5).len(), 3);
    }
}

fn single_pool(hashing: Hashing, servers: &[&str]) -> Topology {
    let mut pool = spec("default", servers);
    pool.hashing = hashing;
    Topology::new(single_pool_config(pool)).unwrap()
}

#[test]
fn placement_identity_ignores_order_only_where_placement_does() {
    let servers = ["a:1", "b:1", "c:1"];
    let reordered = ["c:1", "a:1", "b:1"];
    for hashing in Hashing::ALL {
        let one = single_pool(hashing, &servers);
        let other = single_pool(hashing, &reordered);
        let same = one.placement_identity() == other.placement_identity();
        let moved = (0..2000).any(|i| {
            let name = format!("key{i}");
            let k = key(name.as_bytes());
            one.server_name(one.primary(name.as_bytes(), &k)) != other.server_name(other.primary(name.as_bytes(), &k))
        });
        assert_eq!(same, !moved, "{hashing:?}: same identity must mean same placement");
    }
    assert_ne!(
        single_pool(Hashing::Ketama, &servers).placement_identity(),
        single_pool(Hashing::Ketama, &["a:1", "b:1"]).placement_identity()
    );
    assert_ne!(
        single_pool(Hashing::Ketama, &servers).placement_identity(),
        single_pool(Hashing::Ketama, &["a:1", "b:1 2", "c:1"]).placement_identity()
    );
}

#[test]
fn routes_by_longest_prefix() {
    let t = topology(&[("session:", "sessions"), ("sess", "spare")], None, None).unwrap();
    assert_eq!(t.pool_for(b"session:42"), 1);
    assert_eq!(t.pool_for(b"sessx"), 2);
    assert_eq!(t.pool_for(b"user:1"), 0);
    assert_eq!(
        t.server_name(t.primary(b"session:42", &key(b"session:42"))).as_ref(),
        "s:1"
    );
}

#[test]
fn falls_back_to_mirror_for_reads_and_gutter_for_writes() {
    let t = topology(&[], Some("sessions"), Some("spare")).unwrap();
    let k = key(b"user:1");
    let primary = t.primary(b"user:1", &k);
    let none_down = |_: usize| false;
    let mirror = Fallback {
        server: 2,
        kind: FallbackKind::Mirror,
    };
    let gutter = Fallback {
        server: 3,
        kind: FallbackKind::Gutter,
    };
    assert_eq!(t.fallback(primary, &k, true, &none_down), Some(mirror));
    assert_eq!(t.fallback(primary, &k, false, &none_down), Some(gutter));
    assert_eq!((t.ttl_cap(mirror), t.ttl_cap(gutter)), (None, Some(10)));
    assert_eq!(t.stand_ins(primary, &k), vec![3], "the mirror is no stand-in");
    assert_eq!(t.mirror_for(primary, &k), Some(2));
}

#[test]
fn refuses_inconsistent_configuration() {
    assert!(topology(&[("x", "nowhere")], None, None).is_err());
    assert!(topology(&[("", "sessions")], None, None).is_err());
    assert!(topology(&[], Some("spare"), Some("spare")).is_err());
    assert!(topology(&[], Some("default"), None).is_err());
}

#[test]
fn clamps_ttls_like_memcached_reads_them() {
    let now = 2_000_000_000;
    assert_eq!(clamp_ttl(0, 10, now), 10);
    assert_eq!(clamp_ttl(5, 10, now), 5);
    assert_eq!(clamp_ttl(500, 10, now), 10);
    assert_eq!(clamp_ttl(-1, 10, now), -1);
    assert_eq!(clamp_ttl(now + 5, 10, now), 5);
    assert_eq!(clamp_ttl(now + 500, 10, now), 10);
    assert_eq!(clamp_ttl(now - 5, 10, now), now - 5);
}
