//! Throughput of the public `Read`/`Write` adapters, with the raw body
//! cipher and raw `aes-gcm` measured in the same run as baselines
//! (machines here are noisy: read the ratio, not the absolute number), and
//! the cost of opening a header per key type and its parts (PBKDF2, key
//! check, against the crates), key-id computation, and a store scan.
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
    // Dovecot 2.4 target: 2.3 cannot read ChaCha20-Poly1305 bodies.
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .target(mailcrypt::Target::Dovecot24)
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
                    let mut d =
                        Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                            .unwrap()
                            .use_source_buffer();
                    while d.read(&mut out).unwrap() > 0 {}
                })
            });
            // Through `new_buf_read`: no copy of the source into the adapter.
            g.bench_with_input(BenchmarkId::new("bufread", label(n)), &file, |b, file| {
                let mut out = vec![0u8; 64 << 10];
                b.iter(|| {
                    let mut d =
                        Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                            .unwrap()
                            .use_source_buffer();
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
                    mailcrypt::internals::raw_aes256_gcm(&[7u8; 32], &[1u8; 12], &mut data, true)
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
            b.iter(|| {
                black_box(
                    Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                        .unwrap()
                        .info()
                        .header_len,
                )
            })
        });
    }
    g.finish();
}

/// The pieces of an opening: PBKDF2 and the key-check chain (mailcrypt's
/// SHA-NI chains against the `pbkdf2`/`sha2` crates in the same run), and
/// ECDH per curve.
fn open_parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("open-parts");
    let secret = [7u8; 32];
    let salt = [9u8; 65];
    g.bench_function("pbkdf2-sha256-2048x48B", |b| {
        let mut out = [0u8; 48];
        b.iter(|| mailcrypt::internals::pbkdf2_sha256(&secret, &salt, 2048, black_box(&mut out)))
    });
    g.bench_function("pbkdf2-sha256-2048x48B-crate", |b| {
        let mut out = [0u8; 48];
        b.iter(|| pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&secret, &salt, 2048, black_box(&mut out)))
    });
    g.bench_function("key-check-sha256", |b| {
        b.iter(|| black_box(mailcrypt::internals::key_check_sha256(&salt[..60])))
    });
    g.bench_function("key-check-sha256-crate", |b| {
        use sha2::Digest;
        b.iter(|| {
            let mut h = sha2::Sha256::digest(&salt[..60]);
            for i in 1u32..=2048 {
                let mut d = sha2::Sha256::new();
                d.update(h);
                d.update(i.to_be_bytes());
                h = d.finalize();
            }
            black_box(h)
        })
    });
    g.finish();
}

/// Key ids under every convention (what `KeyRing::add` computes once per
/// key, and `key id` prints).
fn key_ids(c: &mut Criterion) {
    let mut g = c.benchmark_group("key-id");
    for (name, curve) in [
        ("p256", Curve::P256),
        ("p384", Curve::P384),
        ("p521", Curve::P521),
    ] {
        let key = PrivateKey::generate_ec(curve).unwrap();
        let pk = key.public_key().clone();
        g.bench_function(name, |b| b.iter(|| black_box(pk.ids())));
    }
    g.finish();
}

/// `scan`'s per-mail work (read the header, match the ring) over a small
/// Maildir of 200 mails, and the same with the body verified.
fn store_scan(c: &mut Criterion) {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let dir = std::env::temp_dir().join(format!("mailcrypt-bench-scan-{}", std::process::id()));
    let cur = dir.join("cur");
    std::fs::create_dir_all(&cur).unwrap();
    let data = vec![0x41u8; 50_000];
    for i in 0..200 {
        let file = encrypt(&key, "aes-256-gcm-sha256", &data);
        std::fs::write(cur.join(format!("{i}.M1P1.host,S=50000:2,S")), file).unwrap();
    }
    let mut ring = KeyRing::new();
    ring.add(key);
    let paths: Vec<_> = std::fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let mut g = c.benchmark_group("store-scan");
    g.throughput(Throughput::Elements(paths.len() as u64));
    g.sample_size(10);
    g.bench_function("inspect-200-mails", |b| {
        b.iter(|| {
            for p in &paths {
                black_box(mailcrypt::store::inspect_mail(p, &ring).unwrap());
            }
        })
    });
    g.bench_function("verify-200-mails", |b| {
        let mut buf = vec![0u8; 64 << 10];
        b.iter(|| {
            for p in &paths {
                let f = std::fs::File::open(p).unwrap();
                let mut d = Decryptor::open(
                    std::io::BufReader::new(f),
                    &ring,
                    &mailcrypt::DecryptOptions::default(),
                )
                .unwrap();
                while d.read(&mut buf).unwrap() > 0 {}
            }
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, body, open_header, open_parts, key_ids, store_scan);
criterion_main!(benches);
