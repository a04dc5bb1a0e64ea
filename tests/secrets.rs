//! Secret hygiene and failure semantics on hostile input:
//!
//! * no private-key material or password appears in any `Debug` or
//!   `Display` output of the public types and errors;
//! * verified mode releases no byte of a tampered or truncated file of
//!   several body chunks (streaming mode ends it with an error);
//! * verified mode reports CBC length and padding errors from its
//!   constructor, not after releasing plaintext.
//!
//! (Wrong passwords for key strings and user key stores, and wrong keys
//! for containers, are covered in tests/keyformats.rs, tests/negative.rs
//! and tests/proptest_parsers.rs.)

mod common;

use std::io::{Cursor, Read, Write};

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use mailcrypt::container::{Header, HeaderV2};
use mailcrypt::keys::{AttributeFile, JwkMeta, KeyRing, PointForm, PrivateKey, UserKeyStore};
use mailcrypt::{DecryptError, Decryptor, Encryptor, Target};

const PASSWORD: &[u8] = b"correct horse battery staple";

/// A P-256 key with a scalar the test knows.
fn known_ec_key() -> (PrivateKey, Vec<u8>) {
    use sha2::Digest;
    let scalar = sha2::Sha256::digest(b"mailcrypt secret hygiene test").to_vec();
    let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(&scalar);
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    let key = PrivateKey::from_bytes(&der, None).expect("test key loads");
    (key, scalar)
}

fn rsa_key() -> (PrivateKey, Vec<Vec<u8>>) {
    let pem = std::fs::read(common::root().join("vectors/dovecot/rsa1024-private-pkcs8.pem"))
        .expect("fixture");
    let key = PrivateKey::from_bytes(&pem, None).expect("fixture loads");
    // The private components, from the key's own JWK.
    let jwk = key.to_jwk(&JwkMeta::default()).expect("jwk");
    let mut secrets = Vec::new();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        let tag = format!("\"{member}\":\"");
        let start = jwk.find(&tag).expect("member") + tag.len();
        let end = start + jwk[start..].find('"').expect("end of member");
        secrets.push(Base64UrlUnpadded::decode_vec(&jwk[start..end]).expect("base64url"));
    }
    (key, secrets)
}

/// Every textual form a secret could leak in: hex (both cases), base64,
/// base64url, and Rust's `Debug` of a byte slice, each of a 12-byte window
/// (shorter windows could match by chance).
fn forms(secret: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for w in secret.windows(12).step_by(6) {
        let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
        out.push(hex.to_uppercase());
        out.push(hex);
        out.push(format!("{w:?}").trim_matches(['[', ']']).to_string());
    }
    // Base64 text is aligned to 3-byte groups: try each alignment.
    for skip in 0..3 {
        if let Some(s) = secret.get(skip..) {
            for enc in [
                Base64::encode_string(s),
                Base64UrlUnpadded::encode_string(s),
            ] {
                out.push(enc.chars().skip(4).take(16).collect());
            }
        }
    }
    out
}

fn assert_clean(what: &str, text: &str, secrets: &[Vec<u8>]) {
    for s in secrets {
        for f in forms(s) {
            assert!(
                !text.contains(&f),
                "{what} shows secret material ({f}): {text}"
            );
        }
    }
    let pw = String::from_utf8_lossy(PASSWORD);
    assert!(
        !text.contains(pw.as_ref()),
        "{what} shows the password: {text}"
    );
}

fn both(e: &(impl std::fmt::Display + std::fmt::Debug)) -> String {
    format!("{e} / {e:?}")
}

fn encrypt(key: &PrivateKey, algorithm: &str, plain: &[u8]) -> Vec<u8> {
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .target(Target::Dovecot24)
        .algorithm(algorithm)
        .expect("algorithm");
    let mut w = enc.wrap_output(Vec::new()).expect("writer");
    w.write_all(plain).expect("write");
    w.finish().expect("finish")
}

fn decrypt_err(file: &[u8], ring: &KeyRing) -> DecryptError {
    match Decryptor::open(file, ring, &mailcrypt::DecryptOptions::default()) {
        Err(e) => e,
        Ok(mut d) => {
            let mut out = Vec::new();
            match d.read_to_end(&mut out) {
                Err(e) => DecryptError::from_io(e),
                Ok(_) => panic!("a damaged file decrypted"),
            }
        }
    }
}

#[test]
fn no_key_material_in_debug_or_display_output() {
    let (ec, scalar) = known_ec_key();
    let (rsa, rsa_secrets) = rsa_key();
    let mut secrets = rsa_secrets;
    secrets.push(scalar.clone());
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut note = |what: &str, text: String| texts.push((what.to_string(), text));

    // The secrets are where the test expects them (so that the checks below
    // look for the right bytes).
    let clear = ec
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
        .expect("string");
    let scalar_hex: String = scalar.iter().map(|b| format!("{b:02x}")).collect();
    assert!(clear.contains(&scalar_hex));

    note("PrivateKey Debug (EC)", format!("{ec:?}"));
    note("PrivateKey Debug (RSA)", format!("{rsa:?}"));
    note("PublicKey Debug", format!("{:?}", ec.public_key()));

    let mut ring = KeyRing::new();
    ring.add(PrivateKey::from_dovecot_str(&clear, None).expect("reload"));
    ring.add_labeled(
        "rsa",
        PrivateKey::from_bytes(&rsa.to_pkcs8_der(PointForm::Compressed).expect("der"), None)
            .expect("reload"),
    );
    ring.set_lookup(|_| None);
    note("KeyRing Debug", format!("{ring:?}"));
    let m = ring.find(&ec.public_key().canonical_id()).expect("found");
    note("MatchedKey Debug", format!("{m:?}"));

    // Decryption errors of every kind that involves the key.
    let plain = vec![0x42u8; 1000];
    for (key, alg) in [
        (&ec, "aes-256-gcm-sha256"),
        (&ec, "aes-256-cbc-sha256"),
        (&rsa, "aes-128-gcm-sha1"),
    ] {
        let file = encrypt(key, alg, &plain);
        let mut d = Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
            .expect("opens");
        note("ContainerInfo Debug", format!("{:?}", d.info()));
        let mut out = Vec::new();
        d.read_to_end(&mut out).expect("decrypts");
        let (h, hlen) = Header::parse(&file).expect("header");
        let Header::V2(HeaderV2 { key_check, .. }) = &h else {
            panic!("v2")
        };
        // Last byte of the key-check hash, and of the wrapped session key
        // (before the key-check length and hash).
        let kc_at = hlen - 1;
        let ek_at = hlen - key_check.len() - 4 - 1;
        for at in [kc_at, ek_at, hlen, file.len() - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x04;
            note("DecryptError", both(&decrypt_err(&bad, &ring)));
            if let Err(e) = Decryptor::open_seekable(
                Cursor::new(&bad),
                &ring,
                &mailcrypt::DecryptOptions::verified(),
            ) {
                note("DecryptError (verified)", both(&e));
            }
        }
        let wrong = KeyRing::new();
        note("DecryptError (no key)", both(&decrypt_err(&file, &wrong)));
    }

    // Key errors on damaged key strings that carry the secret in clear.
    let fields: Vec<&str> = clear.split(':').collect();
    let bad_id = format!(
        "{}:{}:{}:{}:{}",
        fields[0],
        fields[1],
        fields[2],
        fields[3],
        "00".repeat(32)
    );
    note(
        "KeyError (id mismatch)",
        both(&PrivateKey::from_dovecot_str(&bad_id, None).unwrap_err()),
    );
    let bad_hex = format!(
        "{}:{}:{}:{}zz:{}",
        fields[0], fields[1], fields[2], fields[3], fields[4]
    );
    note(
        "KeyError (bad hex)",
        both(&PrivateKey::from_dovecot_str(&bad_hex, None).unwrap_err()),
    );
    let short = format!(
        "{}:{}:{}:{}:{}",
        fields[0],
        fields[1],
        fields[2],
        &fields[3][..fields[3].len() - 2],
        fields[4]
    );
    note(
        "KeyError (short MPI)",
        both(&PrivateKey::from_dovecot_str(&short, None).unwrap_err()),
    );
    let locked = ec
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::password(PASSWORD))
        .expect("locked");
    note(
        "KeyError (wrong password)",
        both(&PrivateKey::from_dovecot_str(&locked, Some(b"nope")).unwrap_err()),
    );
    let jwk = ec.to_jwk(&JwkMeta::default()).expect("jwk");
    let broken_jwk = jwk.replace("\"x\":\"", "\"x\":\"!");
    note(
        "KeyError (JWK)",
        both(&PrivateKey::from_jwk(&broken_jwk).unwrap_err()),
    );
    let rsa_jwk = rsa.to_jwk(&JwkMeta::default()).expect("jwk");
    // A different dp (first character changed): inconsistent CRT values.
    let at = rsa_jwk.find("\"dp\":\"").expect("dp") + 6;
    let mut broken_rsa = rsa_jwk.to_string();
    let first = if &rsa_jwk[at..at + 1] == "B" {
        "C"
    } else {
        "B"
    };
    broken_rsa.replace_range(at..at + 1, first);
    note(
        "KeyError (RSA JWK)",
        both(&PrivateKey::from_jwk(&broken_rsa).unwrap_err()),
    );
    let pem = ec.to_pem(PointForm::Compressed).expect("pem");
    let broken_pem = pem.replacen('M', "*", 1);
    note(
        "KeyError (PEM)",
        both(&PrivateKey::from_bytes(broken_pem.as_bytes(), None).unwrap_err()),
    );
    note(
        "KeyError (public PEM as private)",
        both(
            &PrivateKey::from_bytes(
                ec.public_key().to_pem(PointForm::Compressed).as_bytes(),
                None,
            )
            .unwrap_err(),
        ),
    );

    // Attribute files holding keys in clear.
    let id = ec.public_key().canonical_id();
    let attrs = format!(
        "priv/g/vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/privkeys/{id}\n{}\n\
         priv/g/vendor/vendor.dovecot/pvt/crypt/privkeys/{id}\n{}\n",
        bad_id,
        locked.as_str(),
    );
    let attrs = AttributeFile::parse(attrs.as_bytes()).expect("parses");
    note("AttributeFile Debug", format!("{attrs:?}"));
    let store = UserKeyStore::from_attributes(&attrs);
    note("UserKeyStore Debug", format!("{store:?}"));
    for k in store.keys() {
        note("StoredKey Debug", format!("{k:?}"));
    }
    let mut r = KeyRing::new();
    match store.load_into(&mut r, Some(b"wrong password")) {
        Ok(report) => note("LoadReport Debug", format!("{report:?}")),
        Err(e) => note("KeyError (store)", both(&e)),
    }

    // Control: the check does see a secret where there is one.
    let control = std::panic::catch_unwind(|| assert_clean("control", &clear, &secrets));
    assert!(
        control.is_err(),
        "the leak check missed a key string in clear"
    );

    for (what, text) in &texts {
        assert_clean(what, text, &secrets);
    }
    assert!(texts.len() > 30, "only {} outputs checked", texts.len());
}

/// 300 KiB of plaintext: several 64 KiB body chunks, so streaming mode
/// releases plaintext before it reaches the tag.
fn big_plaintext() -> Vec<u8> {
    (0..300 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

#[test]
fn verified_mode_releases_nothing_of_a_tampered_multi_chunk_file() {
    let (key, _) = known_ec_key();
    let mut ring = KeyRing::new();
    ring.add(
        PrivateKey::from_bytes(&key.to_pkcs8_der(PointForm::Compressed).unwrap(), None).unwrap(),
    );
    let plain = big_plaintext();
    for alg in [
        "aes-256-gcm-sha256",
        "aes-256-cbc-sha256",
        "chacha20-poly1305-sha256",
    ] {
        let file = encrypt(&key, alg, &plain);
        let (_, hlen) = Header::parse(&file).unwrap();
        let n = file.len();
        let mut damaged: Vec<(String, Vec<u8>)> = Vec::new();
        for at in [hlen, hlen + 70_000, hlen + 200_000, n - 40, n - 1] {
            let mut bad = file.clone();
            bad[at] ^= 0x80;
            damaged.push((format!("flip at {at}"), bad));
        }
        for cut in [hlen + 65_536, hlen + 131_072 + 7, n - 17, n - 1] {
            damaged.push((format!("truncated to {cut}"), file[..cut].to_vec()));
        }
        let mut extended = file.clone();
        extended.extend_from_slice(&[0u8; 16]);
        damaged.push(("16 bytes appended".into(), extended));

        for (what, bad) in &damaged {
            let ctx = format!("{alg}, {what}");
            // Verified, seekable: the constructor fails.
            assert!(
                Decryptor::open_seekable(
                    Cursor::new(bad),
                    &ring,
                    &mailcrypt::DecryptOptions::verified()
                )
                .is_err(),
                "{ctx}: verified mode accepted the file"
            );
            // Verified, buffered: the constructor fails too.
            assert!(
                Decryptor::open(
                    &bad[..],
                    &ring,
                    &mailcrypt::DecryptOptions::verified().buffer_limit(1 << 20)
                )
                .is_err(),
                "{ctx}: buffered verified mode accepted the file"
            );
            // Streaming: plaintext flows (possibly all of it: only the
            // trailer is held back), but the end is an error, never a clean
            // end of file, and it stays an error.
            let mut d = Decryptor::open(&bad[..], &ring, &mailcrypt::DecryptOptions::default())
                .expect("header is intact");
            let mut buf = vec![0u8; 8192];
            let mut released = 0usize;
            let err = loop {
                match d.read(&mut buf) {
                    Ok(0) => panic!("{ctx}: streaming mode ended cleanly after {released} bytes"),
                    Ok(k) => released += k,
                    Err(e) => break e,
                }
            };
            assert!(d.read(&mut buf).is_err(), "{ctx}: error did not stick");
            let kind = DecryptError::from_io(err);
            assert!(
                matches!(
                    kind,
                    DecryptError::Authentication { .. } | DecryptError::TruncatedBody(_)
                ),
                "{ctx}: unexpected error {kind}"
            );
        }
        // The undamaged file still decrypts in every mode.
        let mut out = Vec::new();
        Decryptor::open_seekable(
            Cursor::new(&file),
            &ring,
            &mailcrypt::DecryptOptions::verified(),
        )
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
        assert!(out == plain, "{alg}: verified output differs");
    }
}

#[test]
fn verified_mode_reports_cbc_length_and_padding_errors_before_releasing() {
    // NONE-mode CBC files: no MAC, so only decryption sees a bad padding or
    // length. Verified mode decrypts them once up front.
    let dir = common::root().join("vectors/testkit");
    let ring = common::ring(&[common::root().join("vectors/dovecot/sample-v2.key.pem")]);
    for (file, expected) in [
        ("none-cbc-bad-padding.bin", "BadPadding"),
        ("none-cbc-truncated.bin", "TruncatedBody"),
    ] {
        let data = std::fs::read(dir.join(file)).unwrap();
        match Decryptor::open_seekable(
            Cursor::new(&data),
            &ring,
            &mailcrypt::DecryptOptions::verified(),
        ) {
            Ok(_) => panic!("{file}: verified mode accepted it"),
            Err(e) => assert_eq!(common::kind(&e), expected, "{file}: {e}"),
        }
        match Decryptor::open(
            &data[..],
            &ring,
            &mailcrypt::DecryptOptions::verified().buffer_limit(1 << 20),
        ) {
            Ok(_) => panic!("{file}: buffered verified mode accepted it"),
            Err(e) => assert_eq!(common::kind(&e), expected, "{file}: {e}"),
        }
    }
}
