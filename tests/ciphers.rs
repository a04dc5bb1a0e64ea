//! Body ciphers beyond AES-GCM/CBC and ChaCha20: the AES-256-OFB/CFB
//! containers Dovecot 2.4.1 wrote (vectors/ciphers), and round trips.

mod common;

use std::io::{Read, Write};

use common::{read_tsv, ring, root, sha256_hex};
use mailcrypt::container::{CipherAlg, Header};
use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::{DecryptOptions, Decryptor, Encryptor, Target};

#[test]
fn every_dovecot_241_ofb_cfb_container_decrypts_exactly() {
    let cv = root().join("vectors/ciphers");
    let rows = read_tsv(&cv.join("manifest.tsv"));
    assert_eq!(rows.len(), 6);
    for r in &rows {
        assert_eq!(r["dovecot_decrypt"], "ok");
        let data = std::fs::read(cv.join(&r["file"])).unwrap();
        assert_eq!(sha256_hex(&data), r["ciphertext_sha256"]);
        let expected = std::fs::read(cv.join(&r["plaintext"])).unwrap();
        assert_eq!(sha256_hex(&expected), r["plaintext_sha256"]);
        let (h, _) = Header::parse(&data).unwrap();
        let Header::V2(h) = h else { panic!("v2") };
        let algo = r["algorithm"].as_str();
        assert_eq!(format!("{}-{}", h.cipher, h.hash.name()), algo);
        let ring = ring(&[cv.join(&r["key_dir"]).join("private.pem")]);
        // Refused unless asked for (see DecryptOptions::allow_ofb_cfb).
        assert!(Decryptor::new(&data[..], &ring).is_err(), "{}", r["file"]);
        let opts = DecryptOptions::default().allow_ofb_cfb(true);
        let mut out = Vec::new();
        Decryptor::with_options(&data[..], &ring, &opts)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, expected, "{}", r["file"]);
        // A flipped body byte fails the HMAC.
        let mut m = data.clone();
        let i = m.len() - 40;
        m[i] ^= 1;
        let mut out = Vec::new();
        let res = Decryptor::with_options(&m[..], &ring, &opts).and_then(|mut d| {
            d.read_to_end(&mut out)?;
            Ok(())
        });
        assert!(res.is_err(), "{}", r["file"]);
    }
}

#[test]
fn ofb_cfb_round_trip_and_need_dovecot_24() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let pem = key
        .to_pem(mailcrypt::keys::PointForm::Uncompressed)
        .unwrap();
    let mut ring = KeyRing::new();
    ring.add(PrivateKey::from_bytes(pem.as_bytes(), None).unwrap());
    for algo in [
        "aes-256-ofb-sha256",
        "aes-256-cfb-sha256",
        "aes-256-ofb-sha1",
        "aes-256-cfb-sha512",
    ] {
        for len in [0usize, 1, 15, 16, 17, 5000, 70_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let enc = Encryptor::new(vec![key.public_key().clone()])
                .target(Target::Dovecot24)
                .algorithm(algo)
                .unwrap();
            let mut w = enc.wrap_output(Vec::new()).unwrap();
            for chunk in data.chunks(333) {
                w.write_all(chunk).unwrap();
            }
            let file = w.finish().unwrap();
            let mut out = Vec::new();
            let opts = DecryptOptions::default().allow_ofb_cfb(true);
            Decryptor::with_options(&file[..], &ring, &opts)
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "{algo} {len}");
        }
        let enc = Encryptor::new(vec![key.public_key().clone()])
            .target(Target::Dovecot23)
            .algorithm(algo)
            .unwrap();
        assert!(enc.wrap_output(Vec::new()).is_err(), "{algo} for 2.3");
    }
    assert!(Target::Dovecot24.reads_cipher(&CipherAlg::Aes256Ofb));
    assert!(!Target::Dovecot23.reads_cipher(&CipherAlg::Aes256Cfb));
}
