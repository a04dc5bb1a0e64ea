//! SAME_CALG (header flag 0x10): the session key wrapped with the body
//! cipher itself. No Dovecot configuration writes it, so these are round
//! trips plus layout checks against the reference (§3.4.2).

use std::io::{Read, Write};

use mailcrypt::container::{FLAG_AEAD, FLAG_HMAC, FLAG_SAME_CALG, Header};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{Decryptor, EncryptError, Encryptor, Target};

fn encrypt(key: &PrivateKey, algo: &str, data: &[u8]) -> Vec<u8> {
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .target(Target::Dovecot24)
        .algorithm(algo)
        .unwrap()
        .same_calg();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn decrypt(file: &[u8], key: PrivateKey) -> Result<Vec<u8>, mailcrypt::DecryptError> {
    let mut ring = KeyRing::new();
    ring.add(key);
    let mut out = Vec::new();
    Decryptor::open(file, &ring, &mailcrypt::DecryptOptions::default())?.read_to_end(&mut out)?;
    Ok(out)
}

fn copy(k: &PrivateKey) -> PrivateKey {
    let pem = k.to_pem(mailcrypt::keys::PointForm::Uncompressed).unwrap();
    PrivateKey::from_bytes(pem.as_bytes(), None).unwrap()
}

#[test]
fn same_calg_round_trips_for_every_cipher_and_key_type() {
    let data = b"Subject: same calg\n\nbody\n".repeat(40);
    let keys = [
        PrivateKey::generate_ec(Curve::P256).unwrap(),
        PrivateKey::generate_ec(Curve::P521).unwrap(),
        PrivateKey::generate_x25519().unwrap(),
        PrivateKey::generate_x448().unwrap(),
    ];
    // (algorithm, flag, encrypted-key length for the 60/64/56-byte blob)
    let cases = [
        // AEAD: ciphertext (= blob length, CTR-like) + 16-byte tag.
        ("aes-256-gcm-sha256", FLAG_AEAD, 60 + 16),
        ("aes-128-gcm-sha256", FLAG_AEAD, 44 + 16),
        ("chacha20-poly1305-sha256", FLAG_AEAD, 60 + 16),
        // HMAC with CBC: PKCS#7 padded blob, no tag.
        ("aes-256-cbc-sha256", FLAG_HMAC, 64 + 16),
        ("aes-128-cbc-sha512", FLAG_HMAC, 48 + 16),
    ];
    for key in &keys {
        for (algo, flag, ek_len) in cases {
            let file = encrypt(key, algo, &data);
            let (h, _) = Header::parse(&file).unwrap();
            let Header::V2(h) = h else { panic!("v2") };
            assert_eq!(h.flags, flag | FLAG_SAME_CALG, "{algo}");
            assert_eq!(h.recipients[0].encrypted_key.len(), ek_len, "{algo}");
            assert_eq!(decrypt(&file, copy(key)).unwrap(), data, "{algo}");
        }
    }
}

#[test]
fn same_calg_wrapped_key_is_authenticated() {
    let key = PrivateKey::generate_x25519().unwrap();
    for algo in [
        "aes-256-gcm-sha256",
        "chacha20-poly1305-sha256",
        "aes-256-cbc-sha256",
    ] {
        let file = encrypt(&key, algo, b"hello");
        let (h, hlen) = Header::parse(&file).unwrap();
        let Header::V2(h) = h else { panic!("v2") };
        let ek = &h.recipients[0].encrypted_key;
        // Locate the wrapped key in the file and flip each of its bytes.
        let at = file[..hlen]
            .windows(ek.len())
            .position(|w| w == &ek[..])
            .unwrap();
        for i in at..at + ek.len() {
            let mut m = file.clone();
            m[i] ^= 0x01;
            assert!(decrypt(&m, copy(&key)).is_err(), "{algo}: byte {i}");
        }
        // Clearing the flag makes the reader use AES-256-CBC with a 48-byte
        // PBKDF2 output: that fails, except for an aes-256-cbc body, where
        // SAME_CALG (dkLen = 32 + 16, PKCS#7) is exactly the default wrap.
        let flags_at = 10;
        let mut m = file.clone();
        m[flags_at + 3] &= !(FLAG_SAME_CALG as u8);
        let cleared = decrypt(&m, copy(&key));
        if algo == "aes-256-cbc-sha256" {
            assert_eq!(cleared.unwrap(), b"hello");
        } else {
            assert!(cleared.is_err(), "{algo}: flag cleared");
        }
    }
}

#[test]
fn same_calg_needs_dovecot_24_and_no_rsa() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .target(Target::Dovecot23)
        .same_calg();
    assert!(matches!(
        enc.wrap_output(Vec::new()).map(drop),
        Err(EncryptError::Unsupported(_))
    ));
    let pem = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("vectors/oracle/keys/rsa2048/private.pem"),
    )
    .unwrap();
    let rsa = PrivateKey::from_bytes(&pem, None).unwrap();
    let enc = Encryptor::new(vec![rsa.public_key().clone()])
        .target(Target::Dovecot24)
        .same_calg();
    assert!(matches!(
        enc.wrap_output(Vec::new()).map(drop),
        Err(EncryptError::Unsupported(_))
    ));
}
