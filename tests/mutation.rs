//! Exhaustive mutation of authenticated containers: every single-bit flip
//! anywhere in the file and every truncation must end in an error — never
//! in `Ok` with output — in streaming and in verified mode.
//!
//! Files without integrity (v1, flag NONE) cannot meet that: their tests
//! below pin down what a flip does there instead.

mod common;

use std::io::{Cursor, Read};

use common::{ring, root};
use mailcrypt::Decryptor;
use mailcrypt::keys::KeyRing;

fn streaming_ok(data: &[u8], ring: &KeyRing) -> Option<Vec<u8>> {
    let mut d = Decryptor::open(data, ring, &mailcrypt::DecryptOptions::default()).ok()?;
    let mut out = Vec::new();
    d.read_to_end(&mut out).ok()?;
    Some(out)
}

fn verified_ok(data: &[u8], ring: &KeyRing) -> Option<Vec<u8>> {
    let mut d = Decryptor::open_seekable(
        Cursor::new(data),
        ring,
        &mailcrypt::DecryptOptions::verified(),
    )
    .ok()?;
    let mut out = Vec::new();
    d.read_to_end(&mut out).ok()?;
    Some(out)
}

/// `skip`: byte ranges that the format leaves unused for this file (the
/// PBKDF2 rounds field of an RSA-recipient file is never read).
fn mutate_all(path: &str, key: &str, skip: Option<std::ops::Range<usize>>) {
    let data = std::fs::read(root().join(path)).unwrap();
    let ring = ring(&[root().join(key)]);
    assert!(
        streaming_ok(&data, &ring).is_some(),
        "{path}: original must decrypt"
    );
    let mut flips = 0;
    for i in 0..data.len() {
        if skip.as_ref().is_some_and(|r| r.contains(&i)) {
            continue;
        }
        for bit in 0..8 {
            let mut m = data.clone();
            m[i] ^= 1 << bit;
            if i == 13 && bit == 4 && same_calg_is_a_no_op(&data) {
                // Setting SAME_CALG (flag 0x10) changes nothing for an
                // aes-256-cbc body (its own cipher is the default wrap,
                // same 48-byte PBKDF2 output) or an RSA recipient (no
                // key-encryption cipher): the same plaintext comes out.
                assert_eq!(streaming_ok(&m, &ring), streaming_ok(&data, &ring));
                flips += 1;
                continue;
            }
            assert!(
                streaming_ok(&m, &ring).is_none(),
                "{path}: flip of byte {i} bit {bit} decrypted (streaming)"
            );
            // Verified mode must fail before releasing anything.
            assert!(
                Decryptor::open_seekable(
                    Cursor::new(&m),
                    &ring,
                    &mailcrypt::DecryptOptions::verified()
                )
                .is_err(),
                "{path}: flip of byte {i} bit {bit} passed verification"
            );
            flips += 1;
        }
    }
    for n in 1..data.len() {
        assert!(
            streaming_ok(&data[..n], &ring).is_none(),
            "{path}: truncation to {n} bytes decrypted"
        );
        assert!(
            verified_ok(&data[..n], &ring).is_none(),
            "{path}: truncation to {n} bytes verified"
        );
    }
    assert!(flips > 0);
}

/// Whether flag 0x10 leaves the unwrap unchanged for this file.
fn same_calg_is_a_no_op(data: &[u8]) -> bool {
    use mailcrypt::container::{CipherAlg, Header, RecipientType};
    match Header::parse(data) {
        Ok((Header::V2(h), _)) => {
            h.cipher == CipherAlg::Aes256Cbc
                || h.recipients
                    .iter()
                    .all(|r| r.key_type == RecipientType::Rsa)
        }
        _ => false,
    }
}

const G: &str = "vectors/dovecot/generated-2.3.21.1";

#[test]
fn every_flip_and_truncation_of_an_aead_file_fails() {
    mutate_all(
        &format!("{G}/gen23-v2-aead-p256-1byte.bin"),
        "vectors/dovecot/sample-v2.key.pem",
        None,
    );
}

#[test]
fn every_flip_and_truncation_of_an_hmac_file_fails() {
    mutate_all(
        &format!("{G}/gen23-v2-hmac-cbc-p256.bin"),
        "vectors/dovecot/sample-v2.key.pem",
        None,
    );
}

#[test]
fn every_flip_and_truncation_of_an_rsa_file_fails() {
    // Bytes 40..44 hold the PBKDF2 rounds, which RSA recipients never use:
    // Dovecot and mailcrypt both ignore them, so a flip there is harmless.
    mutate_all(
        &format!("{G}/gen23-v2-aead-rsa1024.bin"),
        "vectors/dovecot/rsa1024-private-pkcs8.pem",
        Some(40..44),
    );
}

#[test]
fn every_flip_of_a_chacha20_file_fails() {
    let dir = root().join("vectors/oracle/enc/v24/p256");
    let f = dir.join("1b.v2-chacha.bin");
    assert!(f.exists(), "{} missing", f.display());
    mutate_all(
        "vectors/oracle/enc/v24/p256/1b.v2-chacha.bin",
        "vectors/oracle/keys/p256/private.pem",
        None,
    );
}

#[test]
fn every_flip_and_truncation_of_an_x25519_aead_file_fails() {
    // Written by Dovecot 2.4.1 to an X25519 key (raw 32-byte ephemeral key).
    mutate_all(
        "vectors/x25519/enc/v24/x25519/33b.v2-aead.bin",
        "vectors/x25519/keys/x25519/private.pem",
        None,
    );
}

#[test]
fn every_flip_and_truncation_of_an_ml_kem_file_fails() {
    // Written by mailcrypt to a fixed ML-KEM-512 key (768-byte KEM
    // ciphertext as the ephemeral key; flips there hit FIPS 203 implicit
    // rejection, whose pseudo-random secret then fails the unwrap).
    mutate_all(
        "vectors/mlkem/enc/mlkem512/1b.v2-aead.bin",
        "vectors/mlkem/keys/mlkem512/private.pem",
        None,
    );
}

#[test]
fn v1_body_flips_flip_exactly_one_plaintext_bit() {
    // v1 has no integrity: AES-CTR maps a ciphertext bit flip to the same
    // plaintext bit. Header flips still fail (key id, point, seed hash).
    let path = format!("{G}/gen23-v1-p256.bin");
    let data = std::fs::read(root().join(&path)).unwrap();
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    let plain = streaming_ok(&data, &ring).unwrap();
    let body = data.len() - plain.len();
    for i in 0..data.len() {
        let mut m = data.clone();
        m[i] ^= 0x10;
        let out = streaming_ok(&m, &ring);
        if i < body {
            // Header: the 2-byte key-data length may still parse when only
            // trailing bytes change; everything else must fail.
            if let Some(out) = out {
                assert_ne!(out, plain, "header flip at {i} silently ignored");
            }
        } else {
            let mut expect = plain.clone();
            expect[i - body] ^= 0x10;
            assert_eq!(out.unwrap(), expect, "body flip at {i}");
        }
    }
}

#[test]
fn none_mode_body_flips_corrupt_without_detection() {
    // Flag NONE: CBC without MAC. A flip in ciphertext block i garbles
    // plaintext block i and flips one bit of block i+1; only the padding
    // check can notice, and only for the last blocks.
    let path = format!("{G}/gen23-v2-none-cbc-p256.bin");
    let data = std::fs::read(root().join(&path)).unwrap();
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    let plain = streaming_ok(&data, &ring).unwrap();
    let (_, hlen) = mailcrypt::container::Header::parse(&data).unwrap();
    let mut m = data.clone();
    m[hlen] ^= 0x01; // first byte of ciphertext block 0
    let out = streaming_ok(&m, &ring).expect("NONE mode cannot detect the flip");
    assert_ne!(out[..16], plain[..16]);
    assert_eq!(out[16], plain[16] ^ 0x01);
    assert_eq!(out[17..], plain[17..]);
}

/// Files written by Dovecot 2.4.1 with the other block ciphers
/// (vectors/ciphers): one per family.
const C: &str = "vectors/ciphers/enc/v24";
const XKEY: &str = "vectors/x25519/keys/x25519/private.pem";

#[test]
fn every_flip_and_truncation_of_a_camellia_cbc_file_fails() {
    mutate_all(&format!("{C}/1b.camellia-128-cbc-sha256.bin"), XKEY, None);
}

#[test]
fn every_flip_and_truncation_of_an_aria_gcm_file_fails() {
    mutate_all(&format!("{C}/1b.aria-256-gcm-sha256.bin"), XKEY, None);
}

#[test]
fn every_flip_and_truncation_of_an_sm4_cbc_file_fails() {
    mutate_all(&format!("{C}/1b.sm4-cbc-sha256.bin"), XKEY, None);
}

#[test]
fn every_flip_and_truncation_of_a_3des_cbc_file_fails() {
    // 8-byte blocks: an 8-byte body + HMAC-SHA256.
    mutate_all(&format!("{C}/1b.des-ede3-cbc-sha256.bin"), XKEY, None);
}

/// A stream mode (ARIA-128-CTR) with the opt-in: every flip and truncation
/// fails except exactly the one the opt-in is about. The cipher OID
/// 1.2.410.200046.1.1.5 (aria-128-ctr) is one bit away from .4
/// (aria-128-ofb): same key and IV length, so the session key unwraps, the
/// HMAC (which does not cover the header) passes, and the body is decrypted
/// with the wrong mode. Without the opt-in the file is refused outright.
#[test]
fn stream_mode_flips_fail_except_the_documented_oid_flip() {
    use mailcrypt::DecryptOptions;
    use mailcrypt::container::{CipherAlg, Header};
    let path = format!("{C}/1b.aria-128-ctr-sha256.bin");
    let data = std::fs::read(root().join(&path)).unwrap();
    let ring = ring(&[root().join(XKEY)]);
    assert!(streaming_ok(&data, &ring).is_none(), "refused by default");
    let opts = DecryptOptions::default().allow_ofb_cfb(true);
    let open = |m: &[u8]| -> Option<Vec<u8>> {
        let mut d = Decryptor::open(m, &ring, &opts).ok()?;
        let mut out = Vec::new();
        d.read_to_end(&mut out).ok()?;
        Some(out)
    };
    let verified = |m: &[u8]| {
        Decryptor::open_seekable(
            Cursor::new(m),
            &ring,
            &opts.clone().verification(mailcrypt::Verification::Verified),
        )
        .and_then(|mut d| {
            let mut out = Vec::new();
            d.read_to_end(&mut out)?;
            Ok(out)
        })
        .ok()
    };
    let plain = open(&data).expect("decrypts with the opt-in");
    // The cipher OID is the first field after the 18-byte fixed header;
    // its last content byte is the arc that names the mode.
    let oid_last = 18 + 2 + usize::from(data[19]) - 1;
    let mut passed = Vec::new();
    for i in 0..data.len() {
        for bit in 0..8 {
            let mut m = data.clone();
            m[i] ^= 1 << bit;
            let s = open(&m);
            assert_eq!(s.is_some(), verified(&m).is_some(), "byte {i} bit {bit}");
            if let Some(out) = s {
                // CTR and OFB share the first keystream block (E(IV)), so
                // this 1-byte body even decrypts to the same byte; from the
                // second block on the output is garbage.
                assert_eq!(out.len(), plain.len(), "byte {i} bit {bit}");
                passed.push((i, bit));
            }
        }
    }
    assert_eq!(passed, vec![(oid_last, 0)]);
    let mut m = data.clone();
    m[oid_last] ^= 1;
    let (Header::V2(h), _) = Header::parse(&m).unwrap() else {
        panic!("v2")
    };
    assert_eq!(h.cipher, CipherAlg::Aria128Ofb);
    for n in 1..data.len() {
        assert!(open(&data[..n]).is_none(), "truncation to {n}");
        assert!(verified(&data[..n]).is_none(), "truncation to {n}");
    }
}
