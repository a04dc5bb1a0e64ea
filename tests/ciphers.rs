//! Body ciphers beyond AES-GCM/CBC and ChaCha20: the AES-256-OFB/CFB
//! containers Dovecot 2.4.1 wrote (vectors/ciphers), and round trips.

mod common;

use std::io::{Read, Write};

use common::{read_tsv, ring, root, sha256_hex};
use mailcrypt::container::{CipherAlg, Header};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{DecryptOptions, Decryptor, Encryptor, Target};

#[test]
fn every_dovecot_241_cipher_container_decrypts_exactly() {
    let cv = root().join("vectors/ciphers");
    let rows = read_tsv(&cv.join("manifest.tsv"));
    assert_eq!(rows.len(), 81);
    let mut ciphers = std::collections::BTreeSet::new();
    let mut hashes = std::collections::BTreeSet::new();
    for r in &rows {
        assert_eq!(r["dovecot_decrypt"], "ok");
        let data = std::fs::read(cv.join(&r["file"])).unwrap();
        assert_eq!(sha256_hex(&data), r["ciphertext_sha256"]);
        let expected = std::fs::read(cv.join(&r["plaintext"])).unwrap();
        assert_eq!(sha256_hex(&expected), r["plaintext_sha256"]);
        let (h, _) = Header::parse(&data).unwrap();
        let Header::V2(h) = h else { panic!("v2") };
        let algo = r["algorithm"].as_str();
        // The OIDs Dovecot 2.4.1 wrote map to the names it was given.
        assert_eq!(format!("{}-{}", h.cipher, h.hash.name()), algo);
        ciphers.insert(h.cipher.name());
        hashes.insert(h.hash.name());
        let ring = ring(&[cv.join(&r["key_dir"]).join("private.pem")]);
        // OFB/CFB/CTR are refused unless asked for (see
        // DecryptOptions::allow_ofb_cfb); CBC and GCM are not.
        let stream = h.cipher.is_hmac_stream_mode();
        assert_eq!(
            Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default()).is_err(),
            stream,
            "{}",
            r["file"]
        );
        let opts = DecryptOptions::default().allow_ofb_cfb(true);
        let mut out = Vec::new();
        Decryptor::open(&data[..], &ring, &opts)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, expected, "{}", r["file"]);
        let mut out = Vec::new();
        Decryptor::open(
            &data[..],
            &ring,
            &opts
                .clone()
                .verification(mailcrypt::Verification::Verified)
                .buffer_limit(1 << 20),
        )
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
        assert_eq!(out, expected, "{} verified", r["file"]);
        // A flipped body byte fails the HMAC / tag.
        let mut m = data.clone();
        let i = m.len() - 70;
        m[i] ^= 1;
        let mut out = Vec::new();
        let res = Decryptor::open(&m[..], &ring, &opts).and_then(|mut d| {
            d.read_to_end(&mut out)?;
            Ok(())
        });
        assert!(res.is_err(), "{}", r["file"]);
    }
    // Every cipher mailcrypt knows and every hash Dovecot 2.4.1 accepts.
    for c in CipherAlg::KNOWN {
        assert!(ciphers.contains(&c.name()), "{c}");
    }
    for h in ["md5", "sha1", "sha256", "sha384", "sha512"] {
        assert!(hashes.contains(h), "{h}");
    }
}

#[test]
fn every_known_cipher_round_trips_for_every_target_that_reads_it() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let pem = key
        .to_pem(mailcrypt::keys::PointForm::Uncompressed)
        .unwrap();
    let mut ring = KeyRing::new();
    ring.add(PrivateKey::from_bytes(pem.as_bytes(), None).unwrap());
    let opts = DecryptOptions::default().allow_ofb_cfb(true);
    for c in CipherAlg::KNOWN {
        for hash in ["sha1", "sha256", "sha384", "sha512"] {
            let algo = format!("{c}-{hash}");
            let lens: &[usize] = if hash == "sha256" {
                &[0, 1, 7, 8, 9, 15, 16, 17, 5000, 70_000]
            } else {
                &[33]
            };
            for &len in lens {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let enc = Encryptor::new(vec![key.public_key().clone()])
                    .target(Target::Dovecot24)
                    .algorithm(&algo)
                    .unwrap();
                let mut w = enc.wrap_output(Vec::new()).unwrap();
                for chunk in data.chunks(333) {
                    w.write_all(chunk).unwrap();
                }
                let file = w.finish().unwrap();
                let mut out = Vec::new();
                Decryptor::open(&file[..], &ring, &opts)
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert_eq!(out, data, "{algo} {len}");
                if len > 0 {
                    let (h, _) = Header::parse(&file).unwrap();
                    let Header::V2(h) = h else { panic!("v2") };
                    assert_eq!(h.cipher, c);
                    assert_eq!(
                        Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
                            .is_err(),
                        c.is_hmac_stream_mode(),
                        "{algo}"
                    );
                }
            }
        }
        // Dovecot 2.3.13 and 2.3.19.1 write and read every cipher but
        // ChaCha20-Poly1305 (measured, see vectors/ciphers/README.md).
        let for23 = Encryptor::new(vec![key.public_key().clone()])
            .target(Target::Dovecot23)
            .algorithm(&format!("{c}-sha256"))
            .unwrap()
            .wrap_output(Vec::new());
        assert_eq!(
            for23.is_ok(),
            c != CipherAlg::ChaCha20Poly1305,
            "{c} for 2.3"
        );
        assert!(Target::Dovecot24.reads_cipher(&c));
    }
    // MD5 is read (Dovecot writes it) but never written.
    assert!(
        Encryptor::new(vec![key.public_key().clone()])
            .algorithm("aes-256-cbc-md5")
            .is_err()
    );
    // SHA-224: Dovecot 2.4.1 refuses it ("Hash algorithm 'sha224' not
    // supported"); ECB modes and SEED are not known ciphers.
    for refused in [
        "aes-128-ecb-sha256",
        "seed-cbc-sha256",
        "camellia-128-gcm-sha256",
    ] {
        assert!(
            Encryptor::new(vec![key.public_key().clone()])
                .algorithm(refused)
                .is_err(),
            "{refused}"
        );
    }
}

/// SAME_CALG (flag 0x10) wraps the session key with the body cipher
/// itself: with 8-byte blocks (DES-EDE3-CBC), stream modes and ARIA-GCM too.
#[test]
fn same_calg_round_trips_with_the_new_ciphers() {
    let key = PrivateKey::generate_x25519().unwrap();
    let public = key.public_key().clone();
    let mut ring = KeyRing::new();
    ring.add(key);
    let opts = DecryptOptions::default().allow_ofb_cfb(true);
    for algo in [
        "des-ede3-cbc-sha256",
        "camellia-256-cbc-sha512",
        "aria-192-gcm-sha256",
        "sm4-ctr-sha1",
        "aria-128-cfb-sha384",
        "aes-128-ofb-sha256",
    ] {
        let data = b"Subject: same calg\n\nbody\n".repeat(50);
        let enc = Encryptor::new(vec![public.clone()])
            .target(Target::Dovecot24)
            .algorithm(algo)
            .unwrap()
            .same_calg();
        let mut w = enc.wrap_output(Vec::new()).unwrap();
        w.write_all(&data).unwrap();
        let file = w.finish().unwrap();
        let mut out = Vec::new();
        Decryptor::open(&file[..], &ring, &opts)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data, "{algo}");
    }
}
