//! Throughput of the public `Read`/`Write` adapters, with the raw body
//! cipher and raw `aes-gcm` measured in the same run as baselines
//! (machines here are noisy: read the ratio, not the absolute number), and
//! the cost of opening a header per key type.
//!
//! Run: `cargo bench --bench throughput`.

use std::hint::black_box;
use std::io::{Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{Decryptor, Encryptor};

const SIZES: [usize; 4] = [1 << 10, 64 << 10, 1 << 20, 16 << 20];

fn label(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{}MiB", n >> 20)
    } else {
        format!("{}KiB", n >> 10)
    }
}

fn encrypt(key: &PrivateKey, algo: &str, data: &[u8]) -> Vec<u8> {
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .algorithm(algo)
        .unwrap();
    let mut w = enc
        .wrap_output(Vec::with_capacity(data.len() + 512))
        .unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn body(c: &mut Criterion) {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let mut ring = KeyRing::new();
    let pk = key.public_key().clone();
    ring.add(
        PrivateKey::from_bytes(
            key.to_pem(mailcrypt::keys::PointForm::Uncompressed)
                .unwrap()
                .as_bytes(),
            None,
        )
        .unwrap(),
    );
    for algo in [
        "aes-256-gcm-sha256",
        "aes-256-cbc-sha256",
        "chacha20-poly1305-sha256",
    ] {
        let mut g = c.benchmark_group(format!("decrypt/{algo}"));
        for &n in &SIZES {
            let data = vec![0x5au8; n];
            let file = encrypt(&key, algo, &data);
            g.throughput(Throughput::Bytes(n as u64));
            g.sample_size(if n >= 1 << 20 { 10 } else { 30 });
            g.bench_with_input(BenchmarkId::from_parameter(label(n)), &file, |b, file| {
                let mut out = vec![0u8; 64 << 10];
                b.iter(|| {
                    let mut d = Decryptor::new(&file[..], &ring).unwrap();
                    while d.read(&mut out).unwrap() > 0 {}
                })
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("encrypt/aes-256-gcm-sha256");
    for &n in &SIZES {
        let data = vec![0x5au8; n];
        g.throughput(Throughput::Bytes(n as u64));
        g.sample_size(if n >= 1 << 20 { 10 } else { 30 });
        g.bench_with_input(BenchmarkId::from_parameter(label(n)), &data, |b, data| {
            let enc = Encryptor::new(vec![pk.clone()]);
            b.iter(|| {
                let mut w = enc.wrap_output(std::io::sink()).unwrap();
                w.write_all(data).unwrap();
                black_box(w.finish().unwrap());
            })
        });
    }
    g.finish();
    // Framing baseline: the same body cipher (the x86-64 kernel when the
    // CPU has it) one-shot in place on the same sizes.
    let mut g = c.benchmark_group("baseline/raw-body-cipher-aes-256-gcm");
    for &n in &SIZES {
        let mut data = vec![0x5au8; n];
        g.throughput(Throughput::Bytes(n as u64));
        g.sample_size(if n >= 1 << 20 { 10 } else { 30 });
        g.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
            b.iter(|| {
                black_box(
                    mailcrypt::stream::__raw_aes256_gcm(&[7u8; 32], &[1u8; 12], &mut data, true)
                        .unwrap(),
                );
            })
        });
    }
    g.finish();
    // Baseline: one-shot RustCrypto AES-256-GCM on the same sizes.
    let mut g = c.benchmark_group("baseline/aes-gcm-crate");
    let cipher = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).unwrap();
    for &n in &SIZES {
        let mut data = vec![0x5au8; n];
        g.throughput(Throughput::Bytes(n as u64));
        g.sample_size(if n >= 1 << 20 { 10 } else { 30 });
        g.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
            b.iter(|| {
                black_box(
                    cipher
                        .encrypt_inout_detached(&[1u8; 12].into(), &[], data.as_mut_slice().into())
                        .unwrap(),
                );
            })
        });
    }
    g.finish();
}

fn open_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("open-header");
    let keys: Vec<(&str, PrivateKey)> = vec![
        ("p256", PrivateKey::generate_ec(Curve::P256).unwrap()),
        ("p384", PrivateKey::generate_ec(Curve::P384).unwrap()),
        ("p521", PrivateKey::generate_ec(Curve::P521).unwrap()),
        (
            "rsa2048",
            PrivateKey::from_bytes(&std::fs::read("vectors/bench/rsa2048.pem").unwrap(), None)
                .unwrap(),
        ),
    ];
    for (name, key) in keys {
        let file = encrypt(&key, "aes-256-gcm-sha256", b"x");
        let mut ring = KeyRing::new();
        ring.add(key);
        g.bench_function(name, |b| {
            b.iter(|| black_box(Decryptor::new(&file[..], &ring).unwrap().info().header_len))
        });
    }
    g.finish();
}

criterion_group!(benches, body, open_header);
criterion_main!(benches);
