//! Exact wire sequences of the client's multi-step operations, against a scripted transport
//! (the interleavings they guard against cannot be produced on demand with a real server).

use super::{Cas, Client, HotKeys, KeyRef, StoreOutcome};
use crate::client::hot::SplitKeys;
use crate::cluster::{Batch, Cluster, ClusterConfig};
use crate::error::{Error, Result};
use crate::protocol::reply::{Replies, ReplyReader};
use crate::protocol::request::SetMode;
use crate::route::health::HealthPolicy;
use crate::route::topology::{single_pool_config, test_pool, TopologyConfig};
use crate::transport::{run_blocking, Transport};
use bytes::BytesMut;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

/// Answers each request with the next scripted reply (or failure) and records what was sent.
struct Scripted {
    cluster: Cluster,
    replies: Mutex<VecDeque<Option<&'static str>>>,
    sent: Mutex<Vec<String>>,
}

impl Transport for Scripted {
    fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn exchange(&self, batches: Vec<Batch>) -> impl Future<Output = Vec<Result<Replies>>> + Send {
        let results = batches
            .into_iter()
            .map(|batch| {
                let request = String::from_utf8_lossy(&batch.bytes);
                let mut replies = String::new();
                let mut lines = request.lines();
                while let Some(line) = lines.next() {
                    if line.starts_with("ms ") {
                        lines.next(); // the value
                    }
                    // The opaque tag is the client's bookkeeping: recorded without, echoed back.
                    let (tags, words): (Vec<&str>, Vec<&str>) = line.split(' ').partition(|w| w.starts_with('O'));
                    self.sent.lock().push(words.join(" "));
                    let Some(reply) = self.replies.lock().pop_front().expect("a reply is scripted") else {
                        return Err(Error::ConnectionLost {
                            server: "scripted".into(),
                            detail: "scripted failure".into(),
                        });
                    };
                    replies += &match tags.first() {
                        Some(tag) => format!("{} {tag}\r\n", reply.trim_end()),
                        None => reply.to_owned(),
                    };
                }
                let mut reader = ReplyReader::new(batch.expect);
                reader.feed(&mut BytesMut::from(replies.as_str()), "scripted")?;
                assert!(reader.is_done(), "scripted replies {replies:?} are incomplete");
                Ok(reader.into_replies())
            })
            .collect();
        std::future::ready(results)
    }
}

fn split_client(replies: &[Option<&'static str>]) -> Client<Scripted> {
    scripted_client(&["a:1", "b:1", "c:1"], replies, crate::route::ledger::MAX_OWED)
}

fn scripted_client(servers: &[&str], replies: &[Option<&'static str>], max_owed: usize) -> Client<Scripted> {
    scripted(single_pool_config(test_pool("default", servers)), replies, max_owed)
}

fn scripted(topology: TopologyConfig, replies: &[Option<&'static str>], max_owed: usize) -> Client<Scripted> {
    let config = ClusterConfig {
        topology,
        health: HealthPolicy {
            failures_to_mark_down: 1000,
            mark_down_period: Duration::from_secs(1),
        },
    };
    let transport = Scripted {
        // A ledger of its own: tests run in parallel, and servers of one name in each.
        cluster: Cluster::new(config).unwrap().with_private_ledger(max_owed),
        replies: Mutex::new(replies.iter().copied().collect()),
        sent: Mutex::new(Vec::new()),
    };
    let hot = HotKeys {
        split: SplitKeys::new([b"hot".to_vec()], 3),
        local: None,
    };
    Client::with_hot_keys(transport, hot)
}

fn cas_fill(client: &Client<Scripted>) -> Result<super::StoreOutcome> {
    run_blocking(client.store(SetMode::Set, KeyRef::plain(b"hot"), b"v", 0, 60, Some(Cas::Caller(5))))
}

fn sent(client: &Client<Scripted>) -> Vec<String> {
    client.transport.sent.lock().clone()
}

#[test]
fn copies_of_a_cas_fill_overtaken_by_a_stale_mark_are_dropped_and_the_refresh_passed_on() {
    let client = split_client(&[
        Some("HD c6\r\n"),     // the CAS store succeeds: the item's CAS is now 6
        Some("HD\r\n"),        // copy 1
        Some("HD\r\n"),        // copy 2
        Some("HD c7 X W\r\n"), // the check: marked stale meanwhile, and it was handed the win
        Some("HD\r\n"),        // the win passed on
        Some("HD\r\n"),        // copy 1 dropped
        Some("HD\r\n"),        // copy 2 dropped
    ]);
    let outcome = cas_fill(&client);
    assert!(outcome.is_ok(), "{outcome:?} after sending {:?}", sent(&client));
    assert_eq!(
        sent(&client),
        [
            "ms hot 1 T60 C5 c",
            "ms hot:memlease-copy-1 1 T60",
            "ms hot:memlease-copy-2 1 T60",
            "mg hot c",
            "md hot I C7",
            "md hot:memlease-copy-1",
            "md hot:memlease-copy-2",
        ]
    );
}

#[test]
fn copies_of_an_unchanged_cas_fill_stay() {
    let client = split_client(&[Some("HD c6\r\n"), Some("HD\r\n"), Some("HD\r\n"), Some("HD c6\r\n")]);
    let outcome = cas_fill(&client);
    assert!(outcome.is_ok(), "{outcome:?} after sending {:?}", sent(&client));
    assert_eq!(sent(&client).last().map(String::as_str), Some("mg hot c"));
}

#[test]
fn a_failed_copy_write_after_a_cas_fill_drops_every_copy() {
    let replies = [
        Some("HD c6\r\n"),
        None,
        Some("HD\r\n"),
        Some("HD\r\n"),
        Some("HD\r\n"),
        Some("HD\r\n"),
    ];
    let client = split_client(&replies);
    assert!(matches!(cas_fill(&client), Err(Error::ConnectionLost { .. })));
    assert_eq!(
        sent(&client)[1..],
        [
            "ms hot:memlease-copy-1 1 T60",
            "ms hot:memlease-copy-2 1 T60", // every copy is written, even after one failed
            "md hot:memlease-copy-1",       // the delete its server owes for the write it missed
            "md hot:memlease-copy-1",
            "md hot:memlease-copy-2"
        ]
    );
}

#[test]
fn a_server_that_missed_more_writes_than_are_kept_is_flushed_before_it_is_read() {
    // The gutter takes two writes while the primary fails: it owes two deletes, one more than
    // its ledger keeps, so it owes a flush instead.
    let mut topology = single_pool_config(test_pool("default", &["a:1"]));
    topology.pools.push(test_pool("gutter", &["g:1"]));
    topology.gutter = Some("gutter".into());
    let replies = [
        None,
        Some("HD\r\n"),
        None,
        Some("HD\r\n"),
        Some("HD\r\n"),
        Some("OK\r\n"),
        Some("EN\r\n"),
    ];
    let client = scripted(topology, &replies, 1);
    let set = |key: &'static [u8]| run_blocking(client.store(SetMode::Set, KeyRef::plain(key), b"v", 0, 0, None));
    assert_eq!(set(b"k1").unwrap(), StoreOutcome::Stored);
    assert_eq!(set(b"k2").unwrap(), StoreOutcome::Stored);
    let read = run_blocking(client.get(KeyRef::plain(b"k3"), false));
    assert!(matches!(read, Ok(None)), "{read:?}");
    assert_eq!(
        sent(&client),
        [
            "ms k1 1",
            "ms k1 1 T10", // the gutter's copy, its TTL capped
            "md k1",       // k1's debt rides on the next request to the primary, which fails
            "md k2",       // the gutter may hold an older k2: cleared while its window is open
            "ms k2 1 T10",
            "flush_all",
            "mg k3 v f"
        ]
    );
    // Paid: the next read goes alone.
    client.transport.replies.lock().push_back(Some("EN\r\n"));
    run_blocking(client.get(KeyRef::plain(b"k1"), false)).unwrap();
    assert_eq!(sent(&client).last().map(String::as_str), Some("mg k1 v f"));
}
