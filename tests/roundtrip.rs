//! Writer properties: decrypt(encrypt(x)) == x for every cipher, recipient
//! type, target and size; header layout as Dovecot writes it.

mod common;

use std::io::{Read, Write};

use mailcrypt::container::{CipherAlg, HashAlg, Header, RecipientType};
use mailcrypt::keys::{Curve, IdConvention, KeyRing, PointForm, PrivateKey, PublicKey};
use mailcrypt::{Decryptor, EncryptError, Encryptor, Target};
use proptest::prelude::*;

fn rsa_key() -> PrivateKey {
    PrivateKey::from_bytes(
        &std::fs::read(common::root().join("vectors/bench/rsa2048.pem")).unwrap(),
        None,
    )
    .unwrap()
}

fn encrypt(enc: &Encryptor, data: &[u8], chunk: usize) -> Vec<u8> {
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    for c in data.chunks(chunk.max(1)) {
        w.write_all(c).unwrap();
    }
    w.finish().unwrap()
}

fn decrypt(file: &[u8], key: PrivateKey) -> Vec<u8> {
    let mut ring = KeyRing::new();
    ring.add(key);
    let mut out = Vec::new();
    Decryptor::open_seekable(
        std::io::Cursor::new(file),
        &ring,
        &mailcrypt::DecryptOptions::verified(),
    )
    .unwrap()
    .read_to_end(&mut out)
    .unwrap();
    out
}

fn clone_key(k: &PrivateKey) -> PrivateKey {
    PrivateKey::from_bytes(&k.to_pkcs8_der(PointForm::Uncompressed).unwrap(), None).unwrap()
}

const ALGOS: [&str; 9] = [
    "aes-256-gcm-sha256",
    "aes-128-gcm-sha256",
    "aes-192-gcm-sha384",
    "aes-256-cbc-sha256",
    "aes-128-cbc-sha1",
    "aes-192-cbc-sha512",
    "aes-256-cbc-sha1",
    "aes-256-gcm-sha512",
    "chacha20-poly1305-sha256",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn decrypt_of_encrypt_is_identity(
        data in prop::collection::vec(any::<u8>(), 0..70_000),
        algo in 0usize..ALGOS.len(),
        curve in 0usize..4,
        chunk in 1usize..9000,
    ) {
        let key = match curve {
            0 => PrivateKey::generate_ec(Curve::P256).unwrap(),
            1 => PrivateKey::generate_ec(Curve::P384).unwrap(),
            2 => PrivateKey::generate_ec(Curve::P521).unwrap(),
            _ => rsa_key(),
        };
        let enc = Encryptor::new(vec![key.public_key().clone()]).target(Target::Dovecot24).algorithm(ALGOS[algo]).unwrap();
        let file = encrypt(&enc, &data, chunk);
        if data.is_empty() {
            prop_assert!(file.is_empty());
        }
        prop_assert_eq!(decrypt(&file, key), data);
    }
}

#[test]
fn block_edges_and_large_sizes_round_trip() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    for algo in [
        "aes-256-gcm-sha256",
        "aes-256-cbc-sha256",
        "chacha20-poly1305-sha256",
    ] {
        let enc = Encryptor::new(vec![key.public_key().clone()])
            .target(Target::Dovecot24)
            .algorithm(algo)
            .unwrap();
        for n in [
            0usize,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            4095,
            4096,
            4097,
            65535,
            65536,
            65537,
            1 << 20,
            (3 << 20) + 5,
        ] {
            let data: Vec<u8> = (0..n).map(|i| (i * 31 + n) as u8).collect();
            for chunk in [n.max(1), 4096, 65536 + 3] {
                let file = encrypt(&enc, &data, chunk);
                assert_eq!(decrypt(&file, clone_key(&key)), data, "{algo} {n} {chunk}");
            }
        }
    }
}

#[test]
fn v1_writer_round_trips_and_every_curve() {
    for curve in [Curve::P256, Curve::P384, Curve::P521] {
        let key = PrivateKey::generate_ec(curve).unwrap();
        let enc = Encryptor::new(vec![key.public_key().clone()]).legacy_v1();
        for n in [0usize, 1, 100, 70_000] {
            let data = vec![0x42u8; n];
            let file = encrypt(&enc, &data, 1000);
            if n > 0 {
                let (h, _) = Header::parse(&file).unwrap();
                assert_eq!(h.version(), 1);
            }
            assert_eq!(decrypt(&file, clone_key(&key)), data);
        }
    }
    // v1 needs an EC key.
    let rsa = rsa_key();
    assert!(matches!(
        Encryptor::new(vec![rsa.public_key().clone()])
            .legacy_v1()
            .wrap_output(Vec::new()),
        Err(EncryptError::Unsupported(_))
    ));
}

#[test]
fn header_layout_matches_what_dovecot_writes() {
    // A container the real 2.3.21.1 wrote for the same P-256 key: same
    // lengths, same field order, same id (the random parts differ).
    let real = std::fs::read(
        common::root().join("vectors/dovecot/generated-2.3.21.1/gen23-v2-aead-p256.bin"),
    )
    .unwrap();
    let key = PrivateKey::from_bytes(
        &std::fs::read(common::root().join("vectors/dovecot/sample-v2.key.pem")).unwrap(),
        None,
    )
    .unwrap();
    let plain =
        std::fs::read(common::root().join("vectors/dovecot/generated-2.3.21.1/gen23.plaintext"))
            .unwrap();
    let ours = encrypt(
        &Encryptor::new(vec![key.public_key().clone()]),
        &plain,
        4096,
    );
    assert_eq!(ours.len(), real.len());
    let (Header::V2(a), alen) = Header::parse(&real).unwrap() else {
        panic!()
    };
    let (Header::V2(b), blen) = Header::parse(&ours).unwrap() else {
        panic!()
    };
    assert_eq!(alen, blen);
    assert_eq!(alen, 255);
    assert_eq!(a.flags, b.flags);
    assert_eq!(a.cipher, b.cipher);
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.rounds, b.rounds);
    assert_eq!(a.recipients.len(), b.recipients.len());
    let (ra, rb) = (&a.recipients[0], &b.recipients[0]);
    assert_eq!(ra.key_type, rb.key_type);
    assert_eq!(ra.key_id, rb.key_id);
    assert_eq!(ra.ephemeral_key.len(), rb.ephemeral_key.len());
    assert_eq!(ra.ephemeral_key[0], 0x04);
    assert_eq!(rb.ephemeral_key[0], 0x04);
    assert_eq!(ra.encrypted_key.len(), rb.encrypted_key.len());
    assert_eq!(a.key_check.len(), b.key_check.len());
    // Fixed bytes of the header are identical: magic, version, flags,
    // hdr_len, OIDs, rounds, kdlen, count, type, id, ephemeral length.
    assert_eq!(real[..86], ours[..86]);
    // RSA: real file from 2.3.21.1 to the RSA-1024 key.
    let real = std::fs::read(
        common::root().join("vectors/dovecot/generated-2.3.21.1/gen23-v2-aead-rsa1024.bin"),
    )
    .unwrap();
    let rsa = PrivateKey::from_bytes(
        &std::fs::read(common::root().join("vectors/dovecot/rsa1024-private-pkcs8.pem")).unwrap(),
        None,
    )
    .unwrap();
    let ours = encrypt(
        &Encryptor::new(vec![rsa.public_key().clone()]),
        &plain,
        4096,
    );
    assert_eq!(ours.len(), real.len());
    assert_eq!(real[..86], ours[..86]);
    let (Header::V2(b), _) = Header::parse(&ours).unwrap() else {
        panic!()
    };
    assert_eq!(b.recipients[0].key_type, RecipientType::Rsa);
}

#[test]
fn targets_choose_the_key_id_convention() {
    let dir = common::root().join("vectors/dovecot");
    let pem =
        PublicKey::from_bytes(&std::fs::read(dir.join("sample-v2.pub.pem")).unwrap()).unwrap();
    assert_eq!(pem.source_point_form(), Some(PointForm::Uncompressed));
    let id = |enc: Encryptor| {
        let file = encrypt(&enc, b"x", 1);
        let (Header::V2(h), _) = Header::parse(&file).unwrap() else {
            panic!()
        };
        h.recipients[0].key_id.to_hex()
    };
    // Expected ids: vectors/dovecot/README.md section 4.
    let compressed = "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
    let uncompressed = "4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078";
    assert_eq!(id(Encryptor::new(vec![pem.clone()])), compressed);
    assert_eq!(
        id(Encryptor::new(vec![pem.clone()]).target(Target::Dovecot24)),
        compressed
    );
    assert_eq!(
        id(Encryptor::new(vec![pem.clone()]).target(Target::Dovecot23OpenSsl3Unpatched)),
        uncompressed
    );
    let comp_pem = pem.clone().with_source_point_form(PointForm::Compressed);
    assert_eq!(
        id(Encryptor::new(vec![comp_pem]).target(Target::Dovecot23OpenSsl3Unpatched)),
        compressed
    );
    assert_eq!(
        id(Encryptor::new(vec![pem.clone()]).key_id_form(PointForm::Uncompressed)),
        uncompressed
    );
    assert_eq!(
        Target::Dovecot23OpenSsl3Unpatched.id_convention(&pem),
        IdConvention::SpkiUncompressed
    );
}

#[test]
fn chacha_is_refused_for_2_3_targets() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    for t in [Target::Dovecot23, Target::Dovecot23OpenSsl3Unpatched] {
        let enc = Encryptor::new(vec![key.public_key().clone()])
            .target(t)
            .algorithm("chacha20-poly1305-sha256")
            .unwrap();
        let err = enc.wrap_output(Vec::new()).err().expect("refused");
        assert!(err.to_string().contains("dovecot-2.4"), "{err}");
    }
    assert!(
        Encryptor::new(vec![])
            .algorithm("aes-256-ctr-sha256")
            .is_err()
    );
    assert!(Encryptor::new(vec![]).algorithm("nonsense").is_err());
}

#[test]
fn several_recipients_are_opt_in_and_each_opens() {
    let a = PrivateKey::generate_ec(Curve::P384).unwrap();
    let b = rsa_key();
    let both = vec![a.public_key().clone(), b.public_key().clone()];
    assert!(
        Encryptor::new(both.clone())
            .wrap_output(Vec::new())
            .is_err()
    );
    let file = encrypt(
        &Encryptor::new(both).allow_multiple_recipients(),
        b"hello",
        2,
    );
    let (Header::V2(h), _) = Header::parse(&file).unwrap() else {
        panic!()
    };
    assert_eq!(h.recipients.len(), 2);
    assert_eq!(h.cipher, CipherAlg::Aes256Gcm);
    assert_eq!(h.hash, HashAlg::Sha256);
    assert_eq!(decrypt(&file, a), b"hello");
    assert_eq!(decrypt(&file, b), b"hello");
}

#[test]
fn dropped_writer_leaves_an_invalid_file() {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let enc = Encryptor::new(vec![key.public_key().clone()]);
    let mut out = Vec::new();
    {
        let mut w = enc.wrap_output(&mut out).unwrap();
        w.write_all(&vec![1u8; 200_000]).unwrap();
        w.flush().unwrap();
        // dropped without finish()
    }
    assert!(!out.is_empty());
    let mut ring = KeyRing::new();
    ring.add(key);
    let mut plain = Vec::new();
    let r = Decryptor::open(&out[..], &ring, &mailcrypt::DecryptOptions::default()).and_then(
        |mut d| {
            d.read_to_end(&mut plain)
                .map_err(mailcrypt::DecryptError::from_io)
        },
    );
    assert!(r.is_err());
}
