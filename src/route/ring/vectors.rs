//! Replays the placement vectors that tests/tools/gen_*_vectors.py write from the real clients
//! (format: tests/tools/placement_common.py), and checks the failover properties of the presets
//! whose client has no failover to compare against.

use super::{Hashing, NodeId, Placement, PlacementKey};

const KEYS: &str = include_str!("testdata/placement_keys.txt");
const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `(bytes, is_bytes)` of every key in placement_keys.txt.
pub fn keys() -> Vec<(Vec<u8>, bool)> {
    KEYS.lines()
        .map(|line| {
            let (kind, hex) = line.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (bytes, kind == "b")
        })
        .collect()
}

/// A node as the presets see it.
pub fn node(host: &str, port: u16, weight: u32) -> NodeId {
    NodeId {
        host: host.into(),
        port,
        weight,
    }
}

/// The nodes of a vector file's fleet line: `host:port:weight` separated by spaces.
pub fn parse_fleet(specs: &str) -> Vec<NodeId> {
    specs
        .split(' ')
        .map(|spec| {
            // host:port:weight, where the host may itself contain ':' (IPv6).
            let mut parts = spec.rsplitn(3, ':');
            let weight = parts.next().unwrap().parse().unwrap();
            let port = parts.next().unwrap().parse().unwrap();
            node(parts.next().unwrap(), port, weight)
        })
        .collect()
}

fn decode(expected: u8) -> Option<usize> {
    (expected != b'-').then(|| DIGITS.iter().position(|&d| d == expected).unwrap())
}

/// How many vectors a file held: fleets, keys placed, failover cases (keys x down sets).
#[derive(Debug)]
pub struct Replay {
    pub fleets: usize,
    pub placed: usize,
    pub live: usize,
}

/// Checks every vector of a preset's file, panicking with the disagreements if any.
pub fn replay(hashing: Hashing, data: &str) -> Replay {
    let keys = keys();
    let mut replay = Replay {
        fleets: 0,
        placed: 0,
        live: 0,
    };
    let mut fleet = None;
    let mut wrong = Vec::new();
    for line in data.lines().filter(|l| !l.starts_with('#')) {
        let (kind, rest) = line.split_once(' ').unwrap();
        let expected = match kind {
            "fleet" => {
                let (name, specs) = rest.split_once(' ').unwrap();
                fleet = Some((name.to_owned(), Placement::new(hashing, &parse_fleet(specs))));
                replay.fleets += 1;
                continue;
            }
            "place" => rest,
            "live" => rest.split_once(' ').unwrap().1,
            _ => panic!("bad line {line:?}"),
        };
        let (name, placement) = fleet.as_ref().unwrap();
        assert_eq!(expected.len(), keys.len(), "{name}: one server per key");
        let down: Vec<usize> = match kind {
            "live" => rest
                .split_once(' ')
                .unwrap()
                .0
                .split(',')
                .map(|i| i.parse().unwrap())
                .collect(),
            _ => Vec::new(),
        };
        for ((bytes, is_bytes), &want) in keys.iter().zip(expected.as_bytes()) {
            let key = PlacementKey {
                bytes,
                is_bytes: *is_bytes,
            };
            let got = match kind {
                "place" => Some(placement.server_for(&key)),
                _ => placement.server_for_live(&key, &|i| down.contains(&i)),
            };
            if got != decode(want) {
                wrong.push(format!("{name} {kind} {down:?} {key:?}: {got:?}, want {want}"));
            }
        }
        match kind {
            "place" => replay.placed += keys.len(),
            _ => replay.live += keys.len(),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} disagreements, first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
    replay
}

/// A ten-server fleet with unequal weights, for the failover property checks.
fn fleet() -> Vec<NodeId> {
    (0..10)
        .map(|i| NodeId {
            host: format!("cache-{i}.internal"),
            port: if i % 3 == 0 { 11211 } else { 11300 + i },
            weight: 1 + u32::from(i % 3),
        })
        .collect()
}

/// Failover that only moves keys off dead servers: keys of live servers stay, and every key
/// has a live server while one exists.
fn check_failover(hashing: Hashing) {
    let placement = Placement::new(hashing, &fleet());
    let keys = keys();
    for dead in [vec![3], vec![0, 9], (1..10).collect(), (0..10).collect::<Vec<usize>>()] {
        for (bytes, is_bytes) in &keys {
            let key = PlacementKey {
                bytes,
                is_bytes: *is_bytes,
            };
            let owner = placement.server_for(&key);
            let live = placement.server_for_live(&key, &|i| dead.contains(&i));
            if dead.len() == 10 {
                assert_eq!(live, None);
            } else if dead.contains(&owner) {
                assert!(!dead.contains(&live.unwrap()), "{hashing:?} {key:?}");
            } else {
                assert_eq!(live, Some(owner), "{hashing:?} {key:?}");
            }
        }
    }
}

/// modula / jump: a dead server's keys spread over all live servers, and a second failure only
/// moves the keys on the newly dead server.
pub fn check_spread_failover(hashing: Hashing) {
    check_failover(hashing);
    let placement = Placement::new(hashing, &fleet());
    let keys = keys();
    let mut moved_to = [0; 10];
    for (bytes, is_bytes) in &keys {
        let key = PlacementKey {
            bytes,
            is_bytes: *is_bytes,
        };
        let one = placement.server_for_live(&key, &|i| i == 3).unwrap();
        let two = placement.server_for_live(&key, &|i| i == 3 || i == 5).unwrap();
        assert!(one == two || one == 5, "{hashing:?} {key:?}");
        if placement.server_for(&key) == 3 {
            moved_to[one] += 1;
        }
    }
    assert_eq!(moved_to[3], 0);
    assert!(
        moved_to.iter().enumerate().all(|(s, &n)| s == 3 || n > 0),
        "{hashing:?} {moved_to:?}"
    );
}

/// Ring presets: a dead server's key goes to the next live point, the same server a ring built
/// without the dead servers names (for rings whose points do not depend on the other servers).
pub fn check_ring_failover(hashing: Hashing) {
    check_failover(hashing);
    let nodes: Vec<NodeId> = fleet().into_iter().map(|n| NodeId { weight: 1, ..n }).collect();
    let placement_equal = Placement::new(hashing, &nodes);
    let without: Vec<NodeId> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .map(|(_, n)| n.clone())
        .collect();
    let rebuilt = Placement::new(hashing, &without);
    for (bytes, is_bytes) in keys() {
        let key = PlacementKey {
            bytes: &bytes,
            is_bytes,
        };
        let live = placement_equal.server_for_live(&key, &|i| i == 4).unwrap();
        let again = rebuilt.server_for(&key);
        assert_eq!(live, if again >= 4 { again + 1 } else { again }, "{hashing:?} {key:?}");
    }
}
