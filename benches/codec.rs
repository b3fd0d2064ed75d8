//! Codec micro-benchmarks: what one request costs to encode and one reply costs to parse, plus
//! the per-key work around them (wire key mapping, ketama placement). No sockets are involved,
//! so these numbers are the floor under the end-to-end figures of `benches/bench.py`.
//!
//! Run with `make bench-rust` (or `cargo bench --bench codec`); add
//! `-- --warm-up-time 1 --measurement-time 2` for a quicker, noisier pass.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use memlease::protocol::keys::wire_key;
use memlease::protocol::reply::{Awaited, Expect, Opaque, ReplyReader};
use memlease::protocol::request::{encode_noop, Command, Flag, Request};
use memlease::protocol::response::{parse, Response};
use memlease::route::ring::{Ketama, NodeId};
use std::hint::black_box;

/// A typical application key: 20 printable bytes, sent as is.
const KEY: &[u8] = b"user:1234567:profile";
const SMALL_VALUE_LEN: usize = 100;
const LARGE_VALUE_LEN: usize = 100 * 1024;
const BATCH_KEYS: usize = 100;

fn batch_key(i: usize) -> Vec<u8> {
    format!("user:{i:07}:profile").into_bytes()
}

/// Encode `request` into a buffer that is cleared, not reallocated, between iterations, so the
/// figure is the encoder's work rather than the allocator's.
fn bench_encode(c: &mut Criterion, name: &str, request: Request<'_>) {
    let mut out = Vec::new();
    request.encode(&mut out);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            black_box(&request).encode(&mut out);
            black_box(&out);
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let small = vec![b'x'; SMALL_VALUE_LEN];
    let large = vec![b'x'; LARGE_VALUE_LEN];

    bench_encode(
        c,
        "mg key v f",
        Request::new(Command::Get, KEY, &[Flag::ReturnValue, Flag::ReturnClientFlags]),
    );
    let set_flags = [Flag::Ttl(60), Flag::ClientFlags(16)];
    bench_encode(
        c,
        "ms key 100B T60 F16",
        Request::new(Command::Set, KEY, &set_flags).with_value(&small),
    );
    bench_encode(
        c,
        "ms key 100KB T60 F16",
        Request::new(Command::Set, KEY, &set_flags).with_value(&large),
    );
    bench_encode(c, "md key", Request::new(Command::Delete, KEY, &[]));
    bench_encode(
        c,
        "ma key v N0 J10 D3",
        Request::new(
            Command::Arithmetic,
            KEY,
            &[Flag::ReturnValue, Flag::Vivify(0), Flag::Initial(10), Flag::Delta(3)],
        ),
    );

    // A quiet get_many batch as `client::multi` lays it out: `mg <key> v f q O<position>` per
    // key, then `mn`. Keys and flag lists are built up front: this measures the encoder, not
    // the batch assembly around it.
    let keys: Vec<Vec<u8>> = (0..BATCH_KEYS).map(batch_key).collect();
    let flags: Vec<[Flag; 4]> = (0..BATCH_KEYS)
        .map(|i| {
            [
                Flag::ReturnValue,
                Flag::ReturnClientFlags,
                Flag::Quiet,
                Flag::Opaque(Bytes::from(i.to_string())),
            ]
        })
        .collect();
    let encode_batch = |out: &mut Vec<u8>| {
        for (key, flags) in keys.iter().zip(&flags) {
            Request::new(Command::Get, black_box(key), black_box(flags)).encode(out);
        }
        encode_noop(out);
    };
    let mut out = Vec::new();
    encode_batch(&mut out);
    let mut group = c.benchmark_group("encode");
    // Per-element throughput turns the batch time into a per-key rate.
    group.throughput(Throughput::Elements(BATCH_KEYS as u64));
    group.bench_function("mg quiet batch x100 + mn", |b| {
        b.iter(|| {
            out.clear();
            encode_batch(&mut out);
            black_box(&out);
        })
    });
    group.finish();
}

/// The wire form of a `VA` reply carrying `len` bytes, with the given return flags.
fn value_reply(len: usize, flags: &str) -> Vec<u8> {
    let mut wire = format!("VA {len} {flags}\r\n").into_bytes();
    wire.resize(wire.len() + len, b'x');
    wire.extend_from_slice(b"\r\n");
    wire
}

/// Parse one complete reply and turn it into a [`Response`], as `ReplyReader` does for each
/// frame. The frame is a `Bytes` made once, so `into_response` costs what it costs in the
/// reader: reference-counted slices, no copy.
fn bench_parse(c: &mut Criterion, name: &str, wire: &[u8]) {
    let frame = Bytes::copy_from_slice(wire);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function(name, |b| {
        b.iter(|| -> Response {
            let parsed = parse(black_box(&frame)).unwrap().unwrap();
            parsed.into_response(&frame)
        })
    });
    group.finish();
}

fn parse_replies(c: &mut Criterion) {
    bench_parse(c, "VA 100 f16", &value_reply(SMALL_VALUE_LEN, "f16"));
    bench_parse(c, "VA 102400 f16", &value_reply(LARGE_VALUE_LEN, "f16"));
    bench_parse(c, "HD c123 O42", b"HD c123 O42\r\n");
    bench_parse(c, "EN", b"EN\r\n");

    // A reply whose data block arrives in two reads: the first parse finds the header but not
    // the whole block and answers Ok(None); the second, on the full buffer, succeeds. This is
    // the cost of a short read (the header is parsed twice).
    let wire = value_reply(SMALL_VALUE_LEN, "f16");
    let frame = Bytes::copy_from_slice(&wire);
    let first = &wire[..wire.len() / 2];
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("VA 100 f16 in 2 chunks", |b| {
        b.iter(|| -> Response {
            assert!(parse(black_box(first)).unwrap().is_none());
            parse(black_box(&frame)).unwrap().unwrap().into_response(&frame)
        })
    });
    group.finish();

    // A lone get's reply (`mg <key> v f t O<tag>` answered `VA 100 f16 O7`), collected by the
    // reader as the single-key path does: the per-call parsing cost of every `get`.
    let lone = value_reply(SMALL_VALUE_LEN, "f16 O7");
    let lone_awaited = vec![Awaited {
        command: Command::Get,
        value: true,
        opaque: Opaque::Number(7),
        key: None,
    }];
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("ReplyReader lone VA 100 O7", |b| {
        b.iter_batched(
            || (BytesMut::from(&lone[..]), lone_awaited.clone()),
            |(mut buf, awaited)| {
                let mut reader = ReplyReader::new(Expect::Replies(awaited));
                reader.feed(&mut buf, "bench").unwrap();
                assert!(reader.is_done());
                reader.into_replies()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // The replies to the quiet batch above, all hits: 100 `VA 100 f16 O<position>` frames and
    // the closing `MN`, already buffered, collected by the reader the client uses. Each
    // iteration gets a fresh copy of the bytes (the reader consumes them); the copy and the
    // drop of the collected replies happen outside the timed section.
    let mut batch = Vec::new();
    for i in 0..BATCH_KEYS {
        batch.extend_from_slice(&value_reply(SMALL_VALUE_LEN, &format!("f16 O{i}")));
    }
    batch.extend_from_slice(b"MN\r\n");
    let awaited: Vec<Awaited> = (0..BATCH_KEYS as u64)
        .map(|tag| Awaited {
            command: Command::Get,
            value: true,
            opaque: Opaque::Number(tag),
            key: None,
        })
        .collect();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(BATCH_KEYS as u64));
    group.bench_function("ReplyReader 100 x VA 100 + MN", |b| {
        b.iter_batched(
            || (BytesMut::from(&batch[..]), awaited.clone()),
            |(mut buf, awaited)| {
                let mut reader = ReplyReader::new(Expect::UntilNoop(awaited));
                reader.feed(&mut buf, "bench").unwrap();
                assert!(reader.is_done());
                reader.into_replies()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// One key per mapping rule of `memlease::protocol::keys`.
fn keys(c: &mut Criterion) {
    let binary: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
    let long = vec![b'k'; 300];
    let mut group = c.benchmark_group("wire_key");
    group.bench_function("plain 20B", |b| b.iter(|| wire_key(black_box(KEY)).unwrap()));
    group.bench_function("binary 40B (base64)", |b| {
        b.iter(|| wire_key(black_box(&binary)).unwrap())
    });
    group.bench_function("300B (digest)", |b| b.iter(|| wire_key(black_box(&long)).unwrap()));
    group.finish();
}

/// Placement of one key. The keys cycle through a set of 1024 so that successive lookups walk
/// different paths of the continuum, as a real key mix does; one repeated key would keep a
/// single path hot in the cache and the branch predictor.
fn ring(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..1024).map(batch_key).collect();
    let mut group = c.benchmark_group("ketama server_for");
    for servers in [3, 100] {
        let nodes: Vec<NodeId> = (0..servers)
            .map(|i| NodeId {
                host: format!("cache-{i:03}.internal"),
                port: 11211,
                weight: 1,
            })
            .collect();
        let ring = Ketama::new(&nodes);
        let mut next = keys.iter().cycle();
        group.bench_function(format!("{servers} servers"), |b| {
            b.iter(|| ring.server_for(black_box(next.next().unwrap())))
        });
    }
    group.finish();
}

criterion_group!(benches, encode, parse_replies, keys, ring);
criterion_main!(benches);
