//! X25519 and X448 recipients: the containers Dovecot 2.4.1 wrote
//! (vectors/x25519), key files and ids, Dovecot `2:` key strings, round
//! trips, and the 2.3 targets refusing these keys.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use common::{read_tsv, ring, root, sha256_hex};
use mailcrypt::keys::{IdConvention, KeyRing, KeyType, PointForm, PrivateKey, PublicKey};
use mailcrypt::{Decryptor, EncryptError, Encryptor, Target};

fn xv() -> PathBuf {
    root().join("vectors/x25519")
}

fn key_dir(name: &str) -> PathBuf {
    xv().join("keys").join(name)
}

fn keyids(dir: &Path) -> (String, String) {
    // Tiny fixed-layout JSON: pull the two string members out by name.
    let text = std::fs::read_to_string(dir.join("keyids.json")).unwrap();
    let member = |name: &str| {
        let at = text.find(&format!("\"{name}\"")).unwrap();
        let rest = &text[at + name.len() + 2..];
        let start = rest.find('"').unwrap() + 1;
        let end = start + rest[start..].find('"').unwrap();
        rest[start..end].to_string()
    };
    (member("spki"), member("spki_der_hex"))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn every_dovecot_241_x25519_x448_container_decrypts_exactly() {
    let rows = read_tsv(&xv().join("manifest.tsv"));
    assert_eq!(rows.len(), 26, "manifest rows");
    let mut with_header = 0;
    for r in &rows {
        let file = xv().join(&r["file"]);
        let data = std::fs::read(&file).unwrap();
        assert_eq!(sha256_hex(&data), r["ciphertext_sha256"], "{}", r["file"]);
        let expected = std::fs::read(xv().join(&r["plaintext"])).unwrap();
        assert_eq!(sha256_hex(&expected), r["plaintext_sha256"]);
        let ring = ring(&[xv().join(&r["key_dir"]).join("private.pem")]);
        let mut dec = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default())
            .unwrap_or_else(|e| panic!("{file:?}: {e}"));
        if r["key_id"] != "-" {
            let m = dec.info().matched.clone().unwrap();
            assert_eq!(m.key_id.to_hex(), r["key_id"], "{}", r["file"]);
            assert_eq!(m.convention, IdConvention::Spki, "{}", r["file"]);
            with_header += 1;
        }
        let mut out = Vec::new();
        dec.read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{file:?}: {e}"));
        assert_eq!(out, expected, "{}", r["file"]);
    }
    assert_eq!(with_header, 20);
}

#[test]
fn x25519_x448_pem_keys_load_with_dovecot_ids() {
    for (name, kt, raw_len) in [("x25519", KeyType::X25519, 32), ("x448", KeyType::X448, 56)] {
        let dir = key_dir(name);
        let (spki_id, spki_der) = keyids(&dir);
        let priv_pem = std::fs::read_to_string(dir.join("private.pem")).unwrap();
        let pub_pem = std::fs::read_to_string(dir.join("public.pem")).unwrap();
        let k = PrivateKey::from_bytes(priv_pem.as_bytes(), None).unwrap();
        let p = PublicKey::from_bytes(pub_pem.as_bytes()).unwrap();
        assert_eq!(k.key_type(), kt);
        assert_eq!(p.key_type(), kt);
        assert_eq!(k.key_type().to_string(), name.to_uppercase());
        assert_eq!(hex(&p.spki_der(PointForm::Compressed)), spki_der);
        assert_eq!(
            hex(&k.public_key().spki_der(PointForm::Compressed)),
            spki_der
        );
        assert_eq!(p.canonical_id().to_hex(), spki_id);
        assert_eq!(p.id(IdConvention::Spki).unwrap().to_hex(), spki_id);
        assert!(p.id(IdConvention::SpkiCompressed).is_none());
        assert!(p.sec1_point(PointForm::Compressed).is_none());
        // PEM written back byte-exactly as OpenSSL wrote it.
        assert_eq!(k.to_pem(PointForm::Compressed).unwrap().as_str(), priv_pem);
        assert_eq!(p.to_pem(PointForm::Compressed), pub_pem);
        // Raw public key = the SPKI's last bytes.
        let raw = p.raw_public_key().unwrap();
        assert_eq!(raw.len(), raw_len);
        assert!(spki_der.ends_with(&hex(raw)));
        // v1 old ids, computed here independently from the raw key: the
        // OpenSSL-3 backend's plain upper-case hex, and the OpenSSL-1.1
        // backend's colon-separated form.
        let plain: String = raw.iter().map(|b| format!("{b:02X}")).collect();
        let colons: Vec<String> = raw.iter().map(|b| format!("{b:02X}")).collect();
        let colons = colons.join(":");
        assert_eq!(
            p.id(IdConvention::V1).unwrap().to_hex(),
            sha256_hex(plain.as_bytes())
        );
        assert_eq!(
            p.id(IdConvention::V1Colons).unwrap().to_hex(),
            sha256_hex(colons.as_bytes())
        );
        // Password-encrypted PKCS#8 round trip.
        let locked = k.to_encrypted_pem(PointForm::Compressed, b"pw").unwrap();
        let back = PrivateKey::from_bytes(locked.as_bytes(), Some(b"pw")).unwrap();
        assert_eq!(back.public_key().canonical_id().to_hex(), spki_id);
    }
}

#[test]
fn x25519_x448_keys_refuse_bad_lengths_and_parameters() {
    // SPKI with a 31-byte X25519 key.
    let der = hex_decode(
        "3029300506032b656e0320000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
    );
    assert!(PublicKey::from_spki_der(&der).is_err());
    // X25519 OID with a NULL parameter.
    let der = hex_decode(
        "302c300706032b656e0500032100499b67104cdb7159484a0ffd1b8fe1e8669b8738bd08e09c8b65d31f977b0a62",
    );
    assert!(PublicKey::from_spki_der(&der).is_err());
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The per-user stores Dovecot 2.4.1 wrote with `crypt_user_key_curve =
/// X25519` / `X448` (vectors/userkeys/): store, key type, curve OID, raw
/// private/public key length, user key id, INBOX folder key id.
const X_STORES: [(&str, KeyType, &str, usize, &str, &str); 2] = [
    (
        "v24-x25519",
        KeyType::X25519,
        "1.3.101.110",
        32,
        "dc5448bb51d75bae9aa226f139f446e9a9c9221b3664913396da5c22b1c4bf59",
        "5d64c283b2b228cd74a03d75c5e6e42d9574dfc55af364d0ef3a000931e75ffb",
    ),
    (
        "v24-x448",
        KeyType::X448,
        "1.3.101.111",
        56,
        "3fa8b12ef9f1ed0cf792192070ec5bbf9c49bf5f3eb0cbfab80df3ce3a888bfd",
        "db4561ac04ad4c1a382b311e4102c82f8d8d841cdad054d1d91cae91d17c9987",
    ),
];

#[test]
fn dovecot_key_strings_of_the_v24_x25519_x448_stores_load() {
    for (store, kt, oid, raw_len, user_id, folder_id) in X_STORES {
        let dir = root().join("vectors/userkeys").join(store);
        let attrs = std::fs::read_to_string(dir.join("dovecot-attributes")).unwrap();
        let lines: Vec<&str> = attrs.lines().collect();
        let pw = std::fs::read(dir.join("password")).unwrap();
        // The dict file alternates key and value lines; keys are
        // `priv|shared/<mailbox GUID>/<attribute>`.
        let value_of = |pick: &dyn Fn(&str) -> bool| {
            let i = (0..lines.len())
                .step_by(2)
                .find(|&i| pick(lines[i]))
                .unwrap_or_else(|| panic!("{store}: attribute missing"));
            lines[i + 1]
        };
        let value = |suffix: &str| value_of(&|k: &str| k.ends_with(suffix));
        // User key (password, server attributes) and INBOX folder key
        // (encrypted to the user key, mailbox attributes).
        let user_s = value(&format!(
            "pvt/server/vendor/vendor.dovecot/pvt/crypt/privkeys/{user_id}"
        ));
        let folder_s = value(&format!("/pvt/crypt/privkeys/{folder_id}"));
        assert!(user_s.starts_with(&format!("2:{oid}:2:")), "{store}");
        assert!(folder_s.starts_with(&format!("2:{oid}:1:")), "{store}");
        // Active user key (server attribute) and active INBOX key.
        assert_eq!(
            value("/vendor/vendor.dovecot/pvt/server/vendor/vendor.dovecot/pvt/crypt/active"),
            user_id,
            "{store}"
        );
        let inbox_active = value_of(&|k: &str| {
            k.starts_with("shared/")
                && k.split_once('/').unwrap().1.split_once('/').unwrap().1
                    == "vendor/vendor.dovecot/pvt/crypt/active"
        });
        assert_eq!(inbox_active, folder_id, "{store}");
        let user = PrivateKey::from_dovecot_str(user_s, Some(&pw)).unwrap();
        assert_eq!(user.key_type(), kt, "{store}");
        assert_eq!(user.public_key().canonical_id().to_hex(), user_id);
        assert!(PrivateKey::from_dovecot_str(user_s, Some(b"wrong")).is_err());
        let folder = PrivateKey::from_dovecot_str_with_key(folder_s, &user).unwrap();
        assert_eq!(folder.key_type(), kt, "{store}");
        assert_eq!(folder.public_key().canonical_id().to_hex(), folder_id);
        // Dovecot's ephemeral key in the folder key string: raw bytes.
        assert_eq!(folder_s.split(':').nth(8).unwrap().len(), 2 * raw_len);
        // The public strings are written back identically.
        for (id, k) in [(user_id, &user), (folder_id, &folder)] {
            let s = value(&format!("/crypt/pubkeys/{id}"));
            let p = PublicKey::from_dovecot_str(s).unwrap();
            assert_eq!(p.canonical_id().to_hex(), id);
            assert_eq!(p.raw_public_key().unwrap().len(), raw_len, "{store}");
            assert_eq!(k.public_key().to_dovecot_string(), s);
        }
        // Every mail of the store, opened with the folder key alone,
        // gives exactly the plaintext Dovecot was given.
        let mut ring = KeyRing::new();
        ring.add(PrivateKey::from_dovecot_str_with_key(folder_s, &user).unwrap());
        let rows = read_tsv(&dir.join("manifest.tsv"));
        assert_eq!(rows.len(), 3, "{store}");
        for r in &rows {
            let data = std::fs::read(dir.join("Maildir").join(&r["maildir_file"])).unwrap();
            assert_eq!(sha256_hex(&data), r["file_sha256"], "{store}");
            let expected = std::fs::read(dir.join(&r["plaintext"])).unwrap();
            assert_eq!(sha256_hex(&expected), r["plaintext_sha256"], "{store}");
            let mut dec = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default())
                .unwrap_or_else(|e| panic!("{store}/{}: {e}", r["maildir_file"]));
            let m = dec.info().matched.clone().unwrap();
            assert_eq!(m.key_id.to_hex(), folder_id, "{store}");
            assert_eq!(m.convention, IdConvention::Spki, "{store}");
            let mut out = Vec::new();
            dec.read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{store}/{}: {e}", r["maildir_file"]));
            assert_eq!(out, expected, "{store}/{}", r["maildir_file"]);
        }
        // Our own strings: password-protected and key-encrypted, read back.
        let locked = user
            .to_dovecot_string(mailcrypt::keys::DovecotProtection::password(b"pw"))
            .unwrap();
        assert!(locked.starts_with(&format!("2:{oid}:2:aes-256-ctr:")));
        let again = PrivateKey::from_dovecot_str(&locked, Some(b"pw")).unwrap();
        assert_eq!(again.public_key().canonical_id().to_hex(), user_id);
        let wrapped = folder
            .to_dovecot_string(mailcrypt::keys::DovecotProtection::key(user.public_key()))
            .unwrap();
        let peer = wrapped.split(':').nth(8).unwrap();
        assert_eq!(peer.len(), 2 * raw_len, "raw ephemeral key");
        let again = PrivateKey::from_dovecot_str_with_key(&wrapped, &user).unwrap();
        assert_eq!(again.public_key().canonical_id().to_hex(), folder_id);
        // Unencrypted: the raw private key bytes.
        let plain = folder
            .to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap();
        assert_eq!(plain.split(':').nth(3).unwrap().len(), 2 * raw_len);
    }
}

fn round_trip(key: &PrivateKey, algo: &str, data: &[u8]) -> Vec<u8> {
    let enc = Encryptor::new(vec![key.public_key().clone()])
        .target(Target::Dovecot24)
        .algorithm(algo)
        .unwrap();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(data).unwrap();
    let file = w.finish().unwrap();
    let mut ring = KeyRing::new();
    let pem = key.to_pem(PointForm::Compressed).unwrap();
    ring.add(PrivateKey::from_bytes(pem.as_bytes(), None).unwrap());
    let mut out = Vec::new();
    Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, data);
    file
}

#[test]
fn x25519_x448_round_trip_for_dovecot_24() {
    let data = b"Subject: x\n\nround trip\n".repeat(50);
    for key in [
        PrivateKey::generate_x25519().unwrap(),
        PrivateKey::generate_x448().unwrap(),
    ] {
        let eph_len = key.public_key().raw_public_key().unwrap().len();
        for algo in [
            "aes-256-gcm-sha256",
            "aes-256-cbc-sha256",
            "chacha20-poly1305-sha256",
            "aes-128-gcm-sha512",
        ] {
            let file = round_trip(&key, algo, &data);
            let (h, _) = mailcrypt::container::Header::parse(&file).unwrap();
            let mailcrypt::container::Header::V2(h) = h else {
                panic!("v2")
            };
            assert_eq!(h.recipients.len(), 1);
            assert_eq!(h.recipients[0].key_type.to_byte(), 2, "{algo}");
            assert_eq!(h.recipients[0].ephemeral_key.len(), eph_len, "{algo}");
            assert_eq!(h.recipients[0].key_id, key.public_key().canonical_id());
        }
    }
}

#[test]
fn round_trip_with_the_dovecot_241_keys() {
    for name in ["x25519", "x448"] {
        let pem = std::fs::read(key_dir(name).join("private.pem")).unwrap();
        let key = PrivateKey::from_bytes(&pem, None).unwrap();
        round_trip(&key, "aes-256-gcm-sha256", b"hello");
    }
}

#[test]
fn dovecot_23_targets_refuse_x25519_x448_recipients() {
    for key in [
        PrivateKey::generate_x25519().unwrap(),
        PrivateKey::generate_x448().unwrap(),
    ] {
        for t in [Target::Dovecot23, Target::Dovecot23OpenSsl3Unpatched] {
            let enc = Encryptor::new(vec![key.public_key().clone()]).target(t);
            let err = enc.wrap_output(Vec::new()).map(drop).unwrap_err();
            assert!(matches!(err, EncryptError::Unsupported(_)), "{t}: {err:?}");
            assert!(err.to_string().contains("Dovecot 2.4"), "{err}");
        }
    }
}

#[test]
fn wrong_x25519_key_does_not_open_the_file() {
    let file = std::fs::read(xv().join("enc/v24/x25519/33b.v2-aead.bin")).unwrap();
    let mut ring = KeyRing::new();
    ring.add(PrivateKey::generate_x25519().unwrap());
    assert!(Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default()).is_err());
    // An X448 key whose id is forced to match cannot open an X25519 recipient either:
    // the 32-byte ephemeral key is refused cleanly.
    let x448 = std::fs::read(xv().join("keys/x448/private.pem")).unwrap();
    let mut ring = KeyRing::new();
    ring.add(PrivateKey::from_bytes(&x448, None).unwrap());
    assert!(Decryptor::open(&file[..], &ring, &mailcrypt::DecryptOptions::default()).is_err());
}
