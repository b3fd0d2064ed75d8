//! The named caches' in-process layer without Python: what a hit, a miss, a put and a tag
//! invalidation cost in the core (`memlease::named`). The Python figure (`local_hit` in
//! `benches/bench.py`) adds the call into the extension and the value's refcount.
//!
//! Run with `cargo bench --bench local_layer`.

use criterion::{criterion_group, criterion_main, Criterion};
use memlease::named::local_layer::LocalLayer;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const ENTRIES: usize = 10_000;
const TTL: Duration = Duration::from_secs(3600);

fn keys() -> Vec<String> {
    (0..1000).map(|i| format!("urn:app:user:{i}")).collect()
}

/// A layer holding `keys`, each tagged twice like a named cache's entries.
fn filled(keys: &[String]) -> LocalLayer<Arc<[u8]>> {
    let layer = LocalLayer::new(ENTRIES, TTL);
    let value: Arc<[u8]> = vec![7u8; 100].into();
    for key in keys {
        layer.put(key, Arc::clone(&value), &["users", key], None, None).unwrap();
    }
    layer
}

fn local_layer(c: &mut Criterion) {
    let keys = keys();
    let layer = filled(&keys);
    let mut group = c.benchmark_group("local_layer");
    let mut i = 0;
    group.bench_function("get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(layer.get(black_box(&keys[i])).is_some())
        })
    });
    group.bench_function("get_miss", |b| {
        b.iter(|| black_box(layer.get(black_box("urn:app:user:absent")).is_none()))
    });
    let value: Arc<[u8]> = vec![7u8; 100].into();
    group.bench_function("put_2_tags", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let key = &keys[i];
            let token = layer.generation();
            layer
                .put(key, Arc::clone(&value), &["users", key], None, Some(token))
                .unwrap()
        })
    });
    group.bench_function("remove_tags_1", |b| b.iter(|| layer.remove_tags(black_box(["users"]))));
    group.finish();
}

criterion_group!(benches, local_layer);
criterion_main!(benches);
