//! Plain-text throughput figures for `scripts/bench-compare.sh`: bytes per
//! second through the public `Read`/`Write` adapters and through the raw
//! `aes-gcm` crate on the same buffers, and seconds per header opening.
//!
//! `cargo run --release --example throughput -- [SECONDS] [all|body|open]`

use std::hint::black_box;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInOut, KeyInit};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{Decryptor, Encryptor};

/// Best rate over windows of at most 1 s (the window of `openssl speed
/// -seconds 1`): `op` returns the time of the part that counts; the best
/// window is the one least disturbed by other processes on a busy machine.
fn best_rate(secs: f64, bytes: usize, mut op: impl FnMut() -> Duration) -> f64 {
    op();
    let window = secs.min(1.0);
    let start = Instant::now();
    let mut best = 0f64;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let w = Instant::now();
        let (mut n, mut t) = (0usize, Duration::ZERO);
        while w.elapsed() < Duration::from_secs_f64(window) || n == 0 {
            t += op();
            n += 1;
        }
        best = best.max((n * bytes) as f64 / t.as_secs_f64());
    }
    best
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Seconds per call of `f`: the best average over windows of 0.25 s (the
/// same best-of-windows selection as `best_rate`, and as
/// `scripts/open-cost-openssl.py` applies to the OpenSSL side).
fn per_op(secs: f64, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut best = f64::MAX;
    while start.elapsed() < Duration::from_secs_f64(secs) {
        let w = Instant::now();
        let mut n = 0usize;
        while w.elapsed() < Duration::from_secs_f64(0.25) || n == 0 {
            f();
            n += 1;
        }
        best = best.min(w.elapsed().as_secs_f64() / n as f64);
    }
    best
}

fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let what = std::env::args().nth(2).unwrap_or_else(|| "all".into());
    if what == "all" || what == "body" {
        body(secs);
    }
    if what == "all" || what == "open" {
        open(secs);
    }
}

/// Body throughput in bytes/s. `*-decrypt-*` and `*-encrypt-*` time the
/// body only (reading a `Decryptor` to the end, `write_all` + `finish` on
/// a `StreamWriter`; opening the header and wrapping the session key are
/// the open-cost target); `*-decrypt-e2e-*` includes `Decryptor::new`;
/// `*-decrypt-bufread-*` reads through `Decryptor::new_buf_read`.
/// `raw-gcm-{encrypt,decrypt}-*` is the same AES-256-GCM body cipher
/// one-shot in place on a buffer of the same size, the framing-overhead
/// baseline; `memcpy-64KiB-pieces-*` copies the source into a 64 KiB
/// buffer, the one copy a `Read` adapter cannot avoid;
/// `raw-aes-gcm-crate-*` is RustCrypto's `aes-gcm` on that buffer.
fn body(secs: f64) {
    let key = PrivateKey::generate_ec(Curve::P256).expect("key");
    let pk = key.public_key().clone();
    let mut ring = KeyRing::new();
    ring.add(key);
    let mut out = vec![0u8; 64 << 10];
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
            let d = best_rate(secs, n, || {
                let mut dec =
                    Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                        .expect("open")
                        .use_source_buffer();
                timed(|| while dec.read(&mut out).expect("read") > 0 {})
            });
            println!("{name}-decrypt-{label} {d:.0}");
            // The same through `Decryptor::new_buf_read` (the source's own
            // buffer is decrypted from: no copy into the adapter).
            let d = best_rate(secs, n, || {
                let mut dec =
                    Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                        .expect("open")
                        .use_source_buffer();
                timed(|| while dec.read(&mut out).expect("read") > 0 {})
            });
            println!("{name}-decrypt-bufread-{label} {d:.0}");
            if name == "gcm" {
                let d = best_rate(secs, n, || {
                    timed(|| {
                        let mut dec = Decryptor::open(
                            &file[..],
                            &ring,
                            &mailcrypt::DecryptOptions::default(),
                        )
                        .expect("open");
                        while dec.read(&mut out).expect("read") > 0 {}
                    })
                });
                println!("{name}-decrypt-e2e-{label} {d:.0}");
            }
            let e = best_rate(secs, n, || {
                let mut w = enc.wrap_output(std::io::sink()).expect("enc");
                timed(|| {
                    w.write_all(&data).expect("write");
                    black_box(w.finish().expect("finish"));
                })
            });
            println!("{name}-encrypt-{label} {e:.0}");
        }
        let mut buf = data.clone();
        for (dir, encrypt) in [("encrypt", true), ("decrypt", false)] {
            let r = best_rate(secs, n, || {
                timed(|| {
                    black_box(
                        mailcrypt::internals::raw_aes256_gcm(
                            &[7u8; 32], &[1u8; 12], &mut buf, encrypt,
                        )
                        .expect("gcm"),
                    );
                })
            });
            println!("raw-gcm-{dir}-{label} {r:.0}");
        }
        // What the `Read` contract adds on top: copying the source into the
        // adapter's 64 KiB buffer.
        let mut chunk = vec![0u8; 64 << 10];
        let r = best_rate(secs, n, || {
            timed(|| {
                for piece in data.chunks(64 << 10) {
                    chunk[..piece.len()].copy_from_slice(piece);
                    black_box(&mut chunk);
                }
            })
        });
        println!("memcpy-64KiB-pieces-{label} {r:.0}");
        let cipher = aes_gcm::Aes256Gcm::new_from_slice(&[7u8; 32]).expect("key");
        let r = best_rate(secs, n, || {
            timed(|| {
                black_box(
                    cipher
                        .encrypt_inout_detached(&[1u8; 12].into(), &[], buf.as_mut_slice().into())
                        .expect("gcm"),
                );
            })
        });
        println!("raw-aes-gcm-crate-{label} {r:.0}");
    }
}

fn open(secs: f64) {
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
                Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                    .expect("open")
                    .info()
                    .header_len,
            );
        });
        println!("open-{name} {t:.9}");
    }
    // The parts, to see where an opening's time goes (not targets).
    let secret = [7u8; 32];
    let salt = [9u8; 65];
    let mut kek = [0u8; 48];
    let t = per_op(secs / 4.0, || {
        mailcrypt::internals::pbkdf2_sha256(&secret, &salt, 2048, &mut kek);
        black_box(&kek);
    });
    println!("part-pbkdf2-sha256-2048-48B {t:.9}");
    let t = per_op(secs / 4.0, || {
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(&secret, &salt, 2048, &mut kek);
        black_box(&kek);
    });
    println!("part-pbkdf2-crate-sha256-2048-48B {t:.9}");
    let t = per_op(secs / 4.0, || {
        black_box(mailcrypt::internals::key_check_sha256(&salt[..60]));
    });
    println!("part-key-check-sha256 {t:.9}");
    let t = per_op(secs / 4.0, || {
        use sha2::Digest;
        let mut h = sha2::Sha256::digest(&salt[..60]);
        for i in 1u32..=2048 {
            let mut d = sha2::Sha256::new();
            d.update(h);
            d.update(i.to_be_bytes());
            h = d.finalize();
        }
        black_box(h);
    });
    println!("part-key-check-crate-sha256 {t:.9}");
    // ECDH as the unwrap runs it: decode the peer point, multiply.
    use elliptic_curve::Generate;
    macro_rules! ecdh {
        ($name:literal, $c:ident) => {{
            let sk = $c::SecretKey::try_generate().expect("key");
            let peer = $c::SecretKey::try_generate()
                .expect("key")
                .public_key()
                .to_sec1_bytes();
            let t = per_op(secs / 4.0, || {
                let pk = $c::PublicKey::from_sec1_bytes(&peer).expect("point");
                black_box($c::ecdh::diffie_hellman(
                    sk.to_nonzero_scalar(),
                    pk.as_affine(),
                ));
            });
            println!("part-ecdh-{} {t:.9}", $name);
        }};
    }
    ecdh!("p256", p256);
    ecdh!("p384", p384);
    ecdh!("p521", p521);
}
