//! Differential round trip: encrypt random plaintext with random options
//! (recipients from the fixture keys: EC, RSA, X25519, X448 and ML-KEM;
//! every algorithm name Dovecot accepts and some it does not, every
//! target, id-form overrides, v1, SAME_CALG, several recipients, random
//! write and read chunking), then decrypt in streaming and verified mode
//! and compare. A refusal must be one the target's rules call for; a
//! flipped byte anywhere in an authenticated output must make both modes
//! fail.
#![no_main]

use std::io::Write;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mailcrypt::container::Header;
use mailcrypt::keys::{IdConvention, KeyType, PointForm};
use mailcrypt::{Encryptor, Target};

const ALGORITHMS: [&str; 19] = [
    "aes-256-gcm-sha256",
    "aes-128-gcm-sha256",
    "aes-192-gcm-sha1",
    "aes-256-gcm-sha512",
    "aes-256-cbc-sha256",
    "aes-128-cbc-sha384",
    "aes-192-cbc-sha224",
    "aes-256-cbc-sha1",
    "chacha20-poly1305-sha256",
    "aes-256-ofb-sha256",
    "aes-256-cfb-sha256",
    "aes-256-gcm-md5",
    "bogus",
    "camellia-256-cbc-sha256",
    "aria-128-gcm-sha512",
    "sm4-ctr-sha256",
    "des-ede3-cbc-sha1",
    "aria-192-cfb-sha384",
    "aes-128-ofb-sha256",
];

#[derive(Arbitrary, Debug)]
struct Input {
    recipient: u8,
    extra_recipients: Vec<u8>,
    algorithm: u8,
    target: u8,
    id_form: u8,
    legacy_v1: bool,
    repeat: u8,
    write_chunks: Vec<u16>,
    read_piece: u16,
    flip_at: u32,
    flip_bit: u8,
    plaintext: Vec<u8>,
}

/// Largest plaintext the target builds (several 64 KiB body chunks).
const MAX_PLAIN: usize = 200 * 1024;

fuzz_target!(|input: Input| {
    let keys = mailcrypt_fuzz::public_keys();
    let pick = |i: u8| keys.get(usize::from(i) % keys.len()).cloned();
    let Some(first) = pick(input.recipient) else {
        return;
    };
    let mut recipients = vec![first];
    recipients.extend(
        input
            .extra_recipients
            .iter()
            .take(2)
            .filter_map(|i| pick(*i)),
    );
    let multiple = recipients.len() > 1;
    let target = Target::ALL
        .get(usize::from(input.target) % Target::ALL.len())
        .copied()
        .unwrap_or_default();
    let algorithm = ALGORITHMS
        .get(usize::from(input.algorithm) % ALGORITHMS.len())
        .copied()
        .unwrap_or("bogus");

    let mut enc = Encryptor::new(recipients.clone()).target(target);
    if multiple {
        enc = enc.allow_multiple_recipients();
    }
    let id_form = match input.id_form % 3 {
        1 => Some(PointForm::Compressed),
        2 => Some(PointForm::Uncompressed),
        _ => None,
    };
    if let Some(f) = id_form {
        enc = enc.key_id_form(f);
    }
    if input.legacy_v1 {
        enc = enc.legacy_v1();
    }
    // A bit of `target` that its `% Target::ALL.len()` leaves unused, so
    // that the inputs' layout (and every corpus) stays as it was.
    let same_calg = input.target & 0x10 != 0;
    if same_calg {
        enc = enc.same_calg();
    }
    let enc = match enc.algorithm(algorithm) {
        Ok(e) => e,
        Err(e) => {
            assert!(
                algorithm.contains("md5") || algorithm == "bogus",
                "{algorithm} refused: {e}"
            );
            return;
        }
    };
    let mut writer = match enc.wrap_output(Vec::new()) {
        Ok(w) => w,
        Err(e) => {
            let reads_24 = matches!(target, Target::Dovecot24 | Target::DovecotMain);
            // ChaCha20 is for Dovecot 2.4 (and main) only.
            let chacha_on_23 = algorithm.starts_with("chacha") && !reads_24;
            let v1_refused = input.legacy_v1
                && (multiple || !matches!(recipients[0].key_type(), KeyType::Ec(_)));
            // X25519/X448 need 2.4 or main, ML-KEM main.
            let key_type_refused = recipients
                .iter()
                .any(|k| !target.reads_key_type(k.key_type()));
            // SAME_CALG: 2.4 or main, and no RSA recipient (v1 ignores it).
            let same_calg_refused = same_calg
                && !input.legacy_v1
                && (!reads_24
                    || recipients
                        .iter()
                        .any(|k| matches!(k.key_type(), KeyType::Rsa(_))));
            assert!(
                (chacha_on_23 && !input.legacy_v1)
                    || v1_refused
                    || key_type_refused
                    || same_calg_refused,
                "encryption refused unexpectedly: {e}"
            );
            return;
        }
    };

    // The plaintext, repeated to cross the 64 KiB chunk boundary at times.
    let mut plain = input.plaintext.clone();
    for _ in 0..(input.repeat % 8) {
        if plain.len() >= MAX_PLAIN || plain.is_empty() {
            break;
        }
        plain.extend_from_slice(&plain.clone());
    }
    plain.truncate(MAX_PLAIN);

    let mut rest = plain.as_slice();
    let mut chunks = input.write_chunks.iter().cycle();
    while !rest.is_empty() {
        let n = chunks
            .next()
            .map_or(rest.len(), |c| usize::from(*c).max(1))
            .min(rest.len());
        let (now, later) = rest.split_at(n);
        if let Err(e) = writer.write_all(now) {
            panic!("write failed: {e}");
        }
        rest = later;
    }
    let file = match writer.finish() {
        Ok(f) => f,
        Err(e) => panic!("finish failed: {e}"),
    };

    if plain.is_empty() {
        assert!(file.is_empty(), "empty plaintext must give an empty file");
    } else {
        let (header, len) = match Header::parse(&file) {
            Ok(x) => x,
            Err(e) => panic!("own output does not parse: {e}"),
        };
        assert_eq!(
            header.to_bytes().ok().as_deref(),
            file.get(..len),
            "own header does not round-trip"
        );
        assert_eq!(header.version(), if input.legacy_v1 { 1 } else { 2 });
    }

    let ring = mailcrypt_fuzz::ring();
    let piece = usize::from(input.read_piece).max(1);
    let s = mailcrypt_fuzz::streaming(&file, ring, piece);
    let v = mailcrypt_fuzz::verified(&file, ring, piece);
    match (&s.result, &v.result) {
        (Ok(a), Ok(b)) => {
            assert!(*a == plain, "streaming output differs from the plaintext");
            assert!(*b == plain, "verified output differs from the plaintext");
        }
        (Err(e), _) | (_, Err(e)) => panic!("own output does not decrypt: {e}"),
    }

    // The first recipient's id follows the target (or the override).
    if !plain.is_empty()
        && !input.legacy_v1
        && let Ok((Header::V2(h), _)) = Header::parse(&file)
        && let (Some(r), Some(k)) = (h.recipients.first(), recipients.first())
    {
        let expect = match (id_form, k.key_type()) {
            (_, KeyType::Rsa(_)) => IdConvention::Spki,
            // The point-form override is for EC keys only.
            (Some(PointForm::Compressed), KeyType::Ec(_)) => IdConvention::SpkiCompressed,
            (Some(PointForm::Uncompressed), KeyType::Ec(_)) => IdConvention::SpkiUncompressed,
            _ => target.id_convention(k),
        };
        assert_eq!(
            Some(r.key_id),
            k.id(expect),
            "wrong key id convention written"
        );
    }

    // Tampering: one flipped bit anywhere in an authenticated file.
    if !plain.is_empty() && !input.legacy_v1 {
        let Ok((Header::V2(h), header_len)) = Header::parse(&file) else {
            panic!("v2 output without a v2 header");
        };
        let mut bad = file.clone();
        let at = input.flip_at as usize % bad.len();
        if let Some(b) = bad.get_mut(at) {
            *b ^= 1 << (input.flip_bit % 8);
        }
        // Parts of the header that no reader uses for this file. The
        // first recipient opens it (every recipient is in the ring): when
        // that one is RSA, the PBKDF2 rounds are unused, and so is the
        // SAME_CALG flag (0x10, byte 13), which is also a no-op for an
        // aes-256-cbc body (its own cipher is the default key wrap). With
        // several recipients, the entries after the first are unused (a
        // flip in the first one's id just makes the next one open it).
        let rounds_at = 18 + h.cipher.to_der().len() + h.hash.to_der().len();
        let first_rsa = h
            .recipients
            .first()
            .is_some_and(|r| r.key_type == mailcrypt::container::RecipientType::Rsa);
        let same_calg_bit = at == 13 && input.flip_bit % 8 == 4;
        // A cipher-OID flip between an OFB/CFB/CTR body and a cipher one
        // bit away with the same key and IV length (docs/security.md: the
        // reason these bodies are opt-in; the harness opts in) passes the
        // HMAC and decrypts with the wrong mode.
        let oid_neighbour = (18..18 + h.cipher.to_der().len()).contains(&at)
            && match Header::parse(&bad) {
                Ok((Header::V2(b), _)) => {
                    (h.cipher.is_hmac_stream_mode() || b.cipher.is_hmac_stream_mode())
                        && !b.cipher.is_aead()
                        && b.cipher.key_iv_len() == h.cipher.key_iv_len()
                }
                _ => false,
            };
        let unused = oid_neighbour
            || (first_rsa && (rounds_at..rounds_at + 4).contains(&at))
            || (same_calg_bit
                && (first_rsa || h.cipher == mailcrypt::container::CipherAlg::Aes256Cbc))
            || (multiple && at >= rounds_at + 8 && at < header_len);
        if !unused {
            let s = mailcrypt_fuzz::streaming(&bad, ring, piece);
            assert!(
                s.result.is_err(),
                "a tampered file decrypted (streaming): {algorithm}, {target}, byte {at} bit {}",
                input.flip_bit % 8
            );
            let v = mailcrypt_fuzz::verified(&bad, ring, piece);
            assert!(
                v.result.is_err(),
                "a tampered file decrypted (verified): {algorithm}, {target}, byte {at} bit {}",
                input.flip_bit % 8
            );
            assert_eq!(
                v.released, 0,
                "verified mode released bytes of a tampered file"
            );
        }
    }
});
