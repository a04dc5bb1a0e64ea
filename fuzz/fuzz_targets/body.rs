//! The body ciphers directly (no header, no key derivation), against
//! independent one-shot implementations: AES-128/256-GCM against
//! `aes-gcm`, ChaCha20-Poly1305 against `chacha20poly1305`, and the HMAC
//! mode's AES-256-CBC + HMAC-SHA-256 (over the ciphertext) against `cbc`
//! and `hmac`. The fuzzer chooses the lengths, the split points, the
//! driving mode (in place, copying, authenticate-only), whether the x86-64
//! kernel may run, and what is tampered with.
//!
//! Every chunk is handed to the cipher in its own exactly sized heap
//! buffer, so under ASan a kernel reading or writing one byte outside the
//! chunk is reported.
//!
//! Checks: the ciphertext and trailer equal the reference; decryption
//! gives the plaintext back and verifies; any flipped ciphertext or tag
//! bit fails verification.
#![no_main]

use aes::cipher::{BlockModeEncrypt, KeyIvInit};
use aes_gcm::aead::{AeadInOut, KeyInit};
use arbitrary::Arbitrary;
use hmac::Mac;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailcrypt::container::CipherAlg;
use mailcrypt::internals::fuzz::Body;

/// Longest plaintext: 32 ChaCha and 128 GCM kernel batches and a bit.
/// (The 64 KiB streaming chunk belongs to the readers and writers, which
/// the `decrypt_cached` target drives; the body cipher has no boundary
/// of its own above the kernels' batches.)
const MAX_LEN: usize = 16_500;

#[derive(Arbitrary, Debug)]
struct Input {
    alg: u8,
    key: [u8; 32],
    iv: [u8; 16],
    aad: Vec<u8>,
    len: u32,
    /// Plaintext seed (the bytes themselves matter little to a cipher).
    seed: u64,
    /// Split points as steps; each step is taken modulo a few sizes.
    steps: Vec<u16>,
    /// 0: in place, 1: copying, 2: authenticate then decrypt.
    mode: u8,
    kernel: bool,
    /// Flip bit `bit` of byte `at` (modulo the ciphertext length).
    tamper_ct: Option<(u32, u8)>,
    tamper_tag: Option<(u8, u8)>,
}

/// `len` plaintext bytes from a fixed pseudo-random pattern, starting at
/// an offset taken from `seed` (made once per process: generating bytes
/// per input cost more than the ciphers).
fn plaintext(seed: u64, len: usize) -> Vec<u8> {
    static PATTERN: OnceLock<Vec<u8>> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        (0..MAX_LEN + 4096)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    });
    let at = (seed % 4096) as usize;
    pattern[at..at + len].to_vec()
}

/// Split points from the fuzzer's steps: mostly around block and batch
/// boundaries, sometimes anywhere.
fn cuts(steps: &[u16], len: usize, block: usize) -> Vec<usize> {
    let mut v = vec![0];
    let mut at = 0usize;
    for &s in steps {
        let s = usize::from(s);
        let step = match s % 4 {
            0 => s / 4 % 32,
            1 => (s / 4 % 8) * block,
            2 => (s / 4 % 8) * 512 + s / 32 % 3,
            _ => s,
        };
        at = (at + step).min(len);
        v.push(at);
        if at == len {
            break;
        }
    }
    v.push(len);
    v
}

/// Run `body` over `data` chunk by chunk (each chunk in its own exactly
/// sized allocation), in place or copying.
fn drive(body: &mut Body, data: &mut [u8], cuts: &[usize], copying: bool) {
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let chunk = &mut data[a..b];
        let src: Box<[u8]> = chunk.to_vec().into_boxed_slice();
        let ok = if copying {
            let mut dst: Box<[u8]> = vec![0u8; src.len()].into_boxed_slice();
            let ok = body.update_to(&src, &mut dst);
            chunk.copy_from_slice(&dst);
            ok
        } else {
            let mut own = src;
            let ok = body.update(&mut own);
            chunk.copy_from_slice(&own);
            ok
        };
        assert!(ok, "update failed within the length limit");
    }
}

fuzz_target!(|input: Input| {
    // Mostly short, so the rate stays high: every block and batch boundary
    // of the kernels (16-byte blocks, 8-block GCM batches, 512-byte ChaCha
    // batches) is below 1100 bytes; one input in eight goes up to 4 KiB and
    // one in 512 up to MAX_LEN.
    let len = if input.len % 512 == 0 {
        (input.len / 512) as usize % (MAX_LEN + 1)
    } else if input.len % 8 == 0 {
        (input.len / 8) as usize % 4097
    } else {
        (input.len / 8) as usize % 1101
    };
    let aad = &input.aad[..input.aad.len().min(300)];
    let (alg, key_len, block) = match input.alg % 4 {
        0 => (CipherAlg::Aes256Gcm, 32, 16),
        1 => (CipherAlg::Aes128Gcm, 16, 16),
        2 => (CipherAlg::ChaCha20Poly1305, 32, 64),
        _ => (CipherAlg::Aes256Cbc, 32, 16),
    };
    let key = &input.key[..key_len];
    let cbc = matches!(alg, CipherAlg::Aes256Cbc);
    // CBC runs on whole blocks (the writer pads, the reader unpads).
    let len = if cbc { len / 16 * 16 } else { len };
    let iv: &[u8] = if cbc { &input.iv } else { &input.iv[..12] };
    let pt = plaintext(input.seed, len);

    // The reference ciphertext and trailer.
    let mut expect = pt.clone();
    let tag: Vec<u8> = match alg {
        CipherAlg::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(iv.try_into().unwrap(), aad, expect.as_mut_slice().into())
            .unwrap()
            .to_vec(),
        CipherAlg::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(iv.try_into().unwrap(), aad, expect.as_mut_slice().into())
            .unwrap()
            .to_vec(),
        CipherAlg::ChaCha20Poly1305 => chacha20poly1305::ChaCha20Poly1305::new_from_slice(key)
            .unwrap()
            .encrypt_inout_detached(iv.try_into().unwrap(), aad, expect.as_mut_slice().into())
            .unwrap()
            .to_vec(),
        _ => {
            let mut enc = cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv).unwrap();
            let (blocks, _) = aes::cipher::array::Array::slice_as_chunks_mut(&mut expect);
            enc.encrypt_blocks(blocks);
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(aad).unwrap();
            mac.update(&expect);
            mac.finalize().into_bytes().to_vec()
        }
    };
    let (aead_aad, hmac_key) = if cbc {
        (None, Some(aad))
    } else {
        (Some(aad), None)
    };
    let mk = |encrypt| Body::new(&alg, key, iv, aead_aad, hmac_key, encrypt, input.kernel).unwrap();
    let step_block = if cbc { 16 } else { block };
    let mut cuts = cuts(&input.steps, len, step_block);
    if cbc {
        for c in &mut cuts {
            *c = *c / 16 * 16;
        }
        cuts.dedup();
        if cuts.last() != Some(&len) {
            cuts.push(len);
        }
    }
    let copying = input.mode % 3 == 1;

    // Encrypt.
    let mut enc = mk(true);
    let mut ct = pt.clone();
    drive(&mut enc, &mut ct, &cuts, copying);
    assert!(ct == expect, "ciphertext differs from the reference");
    assert_eq!(
        enc.trailer().as_deref(),
        Some(tag.as_slice()),
        "trailer differs from the reference"
    );

    // Decrypt (optionally after an authenticate-only pass), with tampering.
    let mut bad_ct = expect.clone();
    let mut tampered = false;
    if let (Some((at, bit)), false) = (input.tamper_ct, bad_ct.is_empty()) {
        let at = at as usize % bad_ct.len();
        bad_ct[at] ^= 1 << (bit % 8);
        tampered = true;
    }
    let mut bad_tag = tag.clone();
    if let Some((at, bit)) = input.tamper_tag {
        let at = usize::from(at) % bad_tag.len();
        bad_tag[at] ^= 1 << (bit % 8);
        tampered = true;
    }
    if input.mode % 3 == 2 {
        let mut auth = mk(false);
        for w in cuts.windows(2) {
            let chunk: Box<[u8]> = bad_ct[w[0]..w[1]].to_vec().into_boxed_slice();
            assert!(auth.authenticate(&chunk));
        }
        assert_eq!(
            auth.verify(&bad_tag),
            !tampered,
            "authenticate-only verdict wrong"
        );
    }
    let mut dec = mk(false);
    let mut out = bad_ct.clone();
    drive(&mut dec, &mut out, &cuts, copying);
    if !tampered {
        assert!(out == pt, "decryption does not give the plaintext back");
    }
    assert_eq!(
        dec.verify(&bad_tag),
        !tampered,
        "verification verdict wrong"
    );
});
