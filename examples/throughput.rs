//! Plain-text throughput figures for `scripts/bench-compare.sh`: bytes per
//! second through the public `Read`/`Write` adapters and through the raw
//! `aes-gcm` crate on the same buffers, and seconds per header opening.
//!
//! `cargo run --release --example throughput -- [SECONDS]`

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut, KeyInit};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{Decryptor, Encryptor};

fn rate(secs: f64, bytes: usize, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        f();
        n += 1;
    }
    (n * bytes) as f64 / start.elapsed().as_secs_f64()
}

fn per_op(secs: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        f();
        n += 1;
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let key = PrivateKey::generate_ec(Curve::P256).expect("key");
    let pk = key.public_key().clone();
    let mut ring = KeyRing::new();
    ring.add(key);
    let mut out = vec![0u8; 1 << 20];
    for (label, n) in [("1MiB", 1usize << 20), ("16MiB", 16 << 20)] {
        let data = vec![0x5au8; n];
        for (name, algo) in [
            ("gcm", "aes-256-gcm-sha256"),
            ("chacha", "chacha20-poly1305-sha256"),
        ] {
            let enc = Encryptor::new(vec![pk.clone()])
                .target(mailcrypt::Target::Dovecot24)
                .algorithm(algo)
                .expect("algo");
            let mut w = enc.wrap_output(Vec::with_capacity(n + 1024)).expect("enc");
            w.write_all(&data).expect("write");
            let file = w.finish().expect("finish");
            let d = rate(secs, n, || {
                let mut dec = Decryptor::new(&file[..], &ring).expect("open");
                while dec.read(&mut out).expect("read") > 0 {}
            });
            println!("{name}-decrypt-{label} {d:.0}");
            let e = rate(secs, n, || {
                let mut w = enc.wrap_output(std::io::sink()).expect("enc");
                w.write_all(&data).expect("write");
                black_box(w.finish().expect("finish"));
            });
            println!("{name}-encrypt-{label} {e:.0}");
        }
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        let mut buf = data.clone();
        let r = rate(secs, n, || {
            black_box(
                cipher
                    .encrypt_inout_detached(&[1u8; 12].into(), &[], buf.as_mut_slice().into())
                    .expect("gcm"),
            );
        });
        println!("raw-aes-gcm-{label} {r:.0}");
    }
    // Header opening (parse + key match + ECDH/RSA + PBKDF2 + key check).
    let rsa = PrivateKey::from_bytes(
        &std::fs::read("vectors/bench/rsa2048.pem").expect("rsa key"),
        None,
    )
    .expect("rsa");
    let keys = [
        ("p256", PrivateKey::generate_ec(Curve::P256).expect("k")),
        ("p384", PrivateKey::generate_ec(Curve::P384).expect("k")),
        ("p521", PrivateKey::generate_ec(Curve::P521).expect("k")),
        ("rsa2048", rsa),
    ];
    for (name, k) in keys {
        let enc = Encryptor::new(vec![k.public_key().clone()]);
        let mut w = enc.wrap_output(Vec::new()).expect("enc");
        w.write_all(b"x").expect("write");
        let file = w.finish().expect("finish");
        let mut ring = KeyRing::new();
        ring.add(k);
        let t = per_op(secs, || {
            black_box(
                Decryptor::new(&file[..], &ring)
                    .expect("open")
                    .info()
                    .header_len,
            );
        });
        println!("open-{name} {t:.9}");
    }
}
