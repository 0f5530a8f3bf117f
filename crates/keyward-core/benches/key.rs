//! The first steps of every verification: shape and checksum (`key::check`), then
//! SHA-256 (`KeyHash::of`). Run with `cargo bench -p keyward-core`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use keyward_core::key::{self, Environment};
use keyward_core::{KeyHash, KeyKind, PlainKey};

fn key_parsing(c: &mut Criterion) {
    let plain = PlainKey::generate(KeyKind::Api, Environment::Live);
    let raw = plain.expose_secret().to_owned();
    let mut damaged = raw.clone().into_bytes();
    let i = damaged.len() - key::CHECKSUM_LEN - 1;
    damaged[i] = if damaged[i] == b'a' { b'b' } else { b'a' };
    let damaged = String::from_utf8(damaged).unwrap();

    let mut g = c.benchmark_group("key");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check (valid)", |b| b.iter(|| key::check(black_box(&raw))));
    g.bench_function("check (bad checksum)", |b| {
        b.iter(|| key::check(black_box(&damaged)))
    });
    g.bench_function("KeyHash::of", |b| b.iter(|| KeyHash::of(black_box(&raw))));
    g.bench_function("check + KeyHash::of", |b| {
        b.iter(|| {
            key::check(black_box(&raw)).unwrap();
            KeyHash::of(black_box(&raw))
        })
    });
    g.finish();
}

criterion_group!(benches, key_parsing);
criterion_main!(benches);
