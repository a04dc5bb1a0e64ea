//! Malformed input: every testkit file gets its specific error, in every
//! mode, without panicking, and never yields output as success.

mod common;

use std::io::{Cursor, Read};

use common::{kind, read_tsv, ring, root};
use mailcrypt::{DecryptError, Decryptor};

fn decrypt_all(data: &[u8], ring: &mailcrypt::keys::KeyRing) -> Result<Vec<u8>, DecryptError> {
    let mut d = Decryptor::open(data, ring, &mailcrypt::DecryptOptions::default())?;
    let mut out = Vec::new();
    d.read_to_end(&mut out).map_err(DecryptError::from_io)?;
    Ok(out)
}

#[test]
fn testkit_files_give_their_specific_errors() {
    let dir = root().join("vectors/testkit");
    let rows = read_tsv(&dir.join("manifest.tsv"));
    assert!(rows.len() >= 30);
    for r in rows {
        let data = std::fs::read(dir.join(&r["file"])).unwrap();
        let ring = ring(&[dir.join(&r["key"])]);
        let expected = r["expected_error"].as_str();
        let err = decrypt_all(&data, &ring).expect_err(&r["file"]);
        assert_eq!(kind(&err), expected, "{}: {err}", r["file"]);
        // Verified mode: the same error, raised before any byte is released.
        let err = match Decryptor::open_seekable(
            Cursor::new(&data),
            &ring,
            &mailcrypt::DecryptOptions::verified(),
        ) {
            Err(e) => e,
            Ok(mut d) => {
                let mut out = Vec::new();
                match d.read_to_end(&mut out) {
                    Err(e) => {
                        // Only unauthenticated files may fail late.
                        assert!(
                            !d.info().is_authenticated(),
                            "{}: verified mode failed after construction",
                            r["file"]
                        );
                        DecryptError::from_io(e)
                    }
                    Ok(_) => panic!("{}: verified mode succeeded", r["file"]),
                }
            }
        };
        assert_eq!(kind(&err), expected, "{} (verified): {err}", r["file"]);
    }
}

#[test]
fn wrong_key_error_lists_wanted_and_tried_ids() {
    let data = std::fs::read(root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    let ring = ring(&[root().join("vectors/dovecot/sample-v1.key.pem")]);
    let err = match Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("opened with the wrong key"),
    };
    let msg = err.to_string();
    assert!(msg.starts_with("no private key available"), "{msg}");
    // The id in the file, and the P-521 key's ids under every convention
    // (values from the vectors README).
    for id in [
        "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd",
        "7deb76a34cbf6a4e7743589dd732e37f49edbc2160793f486669ff7534e2060a",
        "82f8a6287a287e4fe23b467a5b8bc953d963ea2914f9752d5e642697004beec8",
        "7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f",
    ] {
        assert!(msg.contains(id), "{id} missing from: {msg}");
    }
    let DecryptError::NoMatchingKey(search) = err else {
        panic!()
    };
    assert_eq!(search.wanted.len(), 1);
    assert_eq!(search.tried.len(), 1);
}

#[test]
fn no_key_at_all_says_so() {
    let data = std::fs::read(root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    let err = decrypt_all(&data, &mailcrypt::keys::KeyRing::new()).unwrap_err();
    assert!(
        err.to_string().contains("no private key was given"),
        "{err}"
    );
}

#[test]
fn rsa_key_on_ec_file_and_ec_key_on_rsa_file() {
    let ec =
        std::fs::read(root().join("vectors/dovecot/generated-2.3.21.1/gen23-v2-aead-p256.bin"))
            .unwrap();
    let rsa =
        std::fs::read(root().join("vectors/dovecot/generated-2.3.21.1/gen23-v2-aead-rsa1024.bin"))
            .unwrap();
    let rsa_ring = ring(&[root().join("vectors/dovecot/rsa1024-private-pkcs8.pem")]);
    let ec_ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    assert_eq!(
        kind(&decrypt_all(&ec, &rsa_ring).unwrap_err()),
        "NoMatchingKey"
    );
    assert_eq!(
        kind(&decrypt_all(&rsa, &ec_ring).unwrap_err()),
        "NoMatchingKey"
    );
}

#[test]
fn garbage_of_every_length_never_panics() {
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    // test-stream.c: 0..400 zero bytes, and random bytes after a valid
    // magic + version, must fail (except the empty input, a valid empty mail).
    for n in 1..400 {
        assert!(decrypt_all(&vec![0u8; n], &ring).is_err());
        let mut d = b"CRYPTED\x03\x07\x02".to_vec();
        let mut s = n as u32;
        d.extend((0..n).map(|_| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (s >> 16) as u8
        }));
        assert!(decrypt_all(&d, &ring).is_err());
        let mut d1 = b"CRYPTED\x03\x07\x01".to_vec();
        d1.extend_from_slice(&d[10..]);
        assert!(decrypt_all(&d1, &ring).is_err());
    }
    assert_eq!(decrypt_all(&[], &ring).unwrap(), b"");
}

#[test]
fn require_integrity_refuses_v1_and_none() {
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    let opts = mailcrypt::DecryptOptions::default().require_integrity(true);
    for f in ["gen23-v1-p256.bin", "gen23-v2-none-cbc-p256.bin"] {
        let data =
            std::fs::read(root().join("vectors/dovecot/generated-2.3.21.1").join(f)).unwrap();
        match Decryptor::open(&data[..], &ring, &opts) {
            Err(e) => assert_eq!(kind(&e), "NoIntegrity", "{f}"),
            Ok(_) => panic!("{f} accepted"),
        }
    }
}

#[test]
fn buffered_verified_mode_enforces_its_limit() {
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    let data = std::fs::read(root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    match Decryptor::open(
        &data[..],
        &ring,
        &mailcrypt::DecryptOptions::verified().buffer_limit(1000),
    ) {
        Err(e) => assert_eq!(kind(&e), "BufferLimit"),
        Ok(_) => panic!("limit ignored"),
    }
}

#[test]
fn errors_after_failure_stay_errors() {
    let dir = root().join("vectors/testkit");
    let data = std::fs::read(dir.join("tag-flipped.bin")).unwrap();
    let ring = ring(&[root().join("vectors/dovecot/sample-v2.key.pem")]);
    let mut d = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    let mut out = Vec::new();
    assert!(d.read_to_end(&mut out).is_err());
    // Reading again must not turn into a clean end of file.
    let mut buf = [0u8; 16];
    assert!(d.read(&mut buf).is_err());
    assert!(d.read(&mut buf).is_err());
}
