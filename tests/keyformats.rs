//! Dovecot key strings, JWK, key generation and per-user key stores,
//! checked against the vectors from Dovecot's own tests
//! (`vectors/dovecot/`, see its README) and the user stores written by
//! real Dovecot builds (`vectors/userkeys/`, see its README). Every
//! expected value below comes from those files.

use std::io::Read;
use std::path::{Path, PathBuf};

use mailcrypt::keys::{
    AttributeFile, Curve, DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind, DovecotKeyVersion,
    IdConvention, JwkMeta, JwkUse, KeyId, KeyRing, KeyRole, KeyType, PointForm, PrivateKey,
    PublicKey, UserKeyStore,
};
use mailcrypt::{Decryptor, KeyError};

const P256_ID: &str = "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
const P256_ID_UNCOMPRESSED: &str =
    "4b6063148a36bffe22c4855207efbd74b474ed5aabd7a5f199b5ef4a873f0078";
const P256_OLD_ID: &str = "f240f35fab662cddb744f1377819e8d7ba6993903769c6ab716ac298ca284259";
const P521_V1_NEW: &str = "792caad4d38c9eb2134a0cbc844eae386116de096a0ccafc98479825fc99b6a1";
const P521_V1_NEW_UNC: &str = "e23b80c1b5accc755fbdba05218204db619697e1e61aa42fb98440c55abd0790";
const P521_V1_OLD: &str = "d0cfaca5d335f9edc41c84bb47465184cb0e2ec3931bebfcea4dd433615e77a0";
const SAMPLE_V1_NEW: &str = "7deb76a34cbf6a4e7743589dd732e37f49edbc2160793f486669ff7534e2060a";
const SAMPLE_V1_OLD: &str = "7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f";
const RSA1024_ID: &str = "b0f4caf440889ab56ea992954db511fa71b940528625e4b3726fb5144a1cd100";

fn vpath(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors/dovecot")
        .join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(vpath(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The key string of a `.dovecot` file: the file's final newline is not
/// part of the key (vectors README, "Conventions").
fn key_string(name: &str) -> String {
    let t = text(name);
    t.strip_suffix('\n').unwrap_or(&t).to_string()
}

fn id(hex: &str) -> KeyId {
    KeyId::from_hex(hex).unwrap()
}

fn pem_key(name: &str) -> PrivateKey {
    PrivateKey::from_bytes(text(name).as_bytes(), None).unwrap()
}

fn ids_of(k: &PublicKey) -> Vec<(IdConvention, String)> {
    k.ids().into_iter().map(|(c, i)| (c, i.to_hex())).collect()
}

fn same_key(a: &PrivateKey, b: &PrivateKey) {
    assert_eq!(
        a.to_pkcs8_der(PointForm::Compressed).unwrap().as_slice(),
        b.to_pkcs8_der(PointForm::Compressed).unwrap().as_slice()
    );
}

// ------------------------------------------------------------ Dovecot v1

#[test]
fn v1_private_unencrypted() {
    let s = text("v1-ec-p521-private-unencrypted.dovecot");
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(info.version, DovecotKeyVersion::V1);
    assert_eq!(info.kind, DovecotKeyKind::Private);
    assert_eq!(info.encryption, DovecotKeyEncryption::None);
    assert_eq!(info.key_id, id(P521_V1_OLD));
    assert_eq!(info.encryption_key_id, None);

    let k = PrivateKey::from_dovecot_str(&s, None).unwrap();
    assert_eq!(k.key_type(), KeyType::Ec(Curve::P521));
    let pk = k.public_key();
    assert_eq!(pk.id(IdConvention::V1), Some(id(P521_V1_OLD)));
    assert_eq!(pk.id(IdConvention::SpkiCompressed), Some(id(P521_V1_NEW)));
    assert_eq!(
        pk.id(IdConvention::SpkiUncompressed),
        Some(id(P521_V1_NEW_UNC))
    );
    // Auto-detection and the base64 configuration form load it too.
    let auto = PrivateKey::from_bytes(s.as_bytes(), None).unwrap();
    same_key(&auto, &k);
    use base64ct::{Base64, Encoding};
    let b64 =
        Base64::encode_string(key_string("v1-ec-p521-private-unencrypted.dovecot").as_bytes());
    same_key(&PrivateKey::from_bytes(b64.as_bytes(), None).unwrap(), &k);
    // The public half of its public string (data B) is the same key.
    let pubs = PublicKey::from_dovecot_str(&text("v1-ec-p521-public-B.dovecot")).unwrap();
    assert_eq!(pubs.canonical_id(), pk.canonical_id());
}

#[test]
fn v1_private_key_encrypted() {
    let s = text("v1-ec-p521-private-key-encrypted.dovecot");
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(info.version, DovecotKeyVersion::V1);
    assert_eq!(info.encryption, DovecotKeyEncryption::Key);
    assert_eq!(info.encryption_key_id, Some(id(P521_V1_OLD)));
    assert_eq!(info.key_id, id(SAMPLE_V1_OLD));

    let dk = PrivateKey::from_dovecot_str(&text("v1-ec-p521-private-unencrypted.dovecot"), None)
        .unwrap();
    let k = PrivateKey::from_dovecot_str_with_key(&s, &dk).unwrap();
    assert_eq!(k.public_key().id(IdConvention::V1), Some(id(SAMPLE_V1_OLD)));
    assert_eq!(k.public_key().canonical_id(), id(SAMPLE_V1_NEW));
    // "The decrypted key equals sample-v1.key.pem" (its PKCS#8 has a
    // 65-byte scalar; both re-encode identically).
    same_key(&k, &pem_key("sample-v1.key.pem"));

    match PrivateKey::from_dovecot_str(&s, None) {
        Err(KeyError::DecryptionKeyRequired { key_id }) => assert_eq!(key_id, id(P521_V1_OLD)),
        other => panic!("{other:?}"),
    }
    let wrong = pem_key("sample-v2.key.pem");
    assert!(matches!(
        PrivateKey::from_dovecot_str_with_key(&s, &wrong),
        Err(KeyError::DecryptionKeyRequired { .. })
    ));
}

/// A v1 password-protected string, built here from the specification
/// (§4.2: K = PBKDF2-HMAC-SHA256(hexdecode(password), salt, 16, 32),
/// ENC = AES-256-CTR(K, zero IV, D)) around the vector's private scalar.
fn v1_password_string(password_bytes: &[u8]) -> String {
    use aes::cipher::{KeyIvInit, StreamCipher};
    let clear = key_string("v1-ec-p521-private-unencrypted.dovecot");
    let f: Vec<&str> = clear.split('\t').collect();
    // BN_bn2hex text: pad to whole bytes.
    let d_hex = if f[3].len() % 2 == 1 {
        format!("0{}", f[3])
    } else {
        f[3].to_string()
    };
    let mut d = hex(&d_hex);
    let salt = hex("0102030405060708");
    let mut k = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password_bytes, &salt, 16, &mut k);
    ctr::Ctr128BE::<aes::Aes256>::new_from_slices(&k, &[0u8; 16])
        .unwrap()
        .apply_keystream(&mut d);
    let enc: String = d.iter().map(|b| format!("{b:02X}")).collect();
    format!("1\t716\t2\t{enc}\t0102030405060708\t{}", f[4])
}

#[test]
fn v1_private_password_is_hex_decoded() {
    let clear = PrivateKey::from_dovecot_str(&text("v1-ec-p521-private-unencrypted.dovecot"), None)
        .unwrap();
    let s = v1_password_string(&[0x00, 0xff, 0x10]);
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(info.encryption, DovecotKeyEncryption::Password);
    assert_eq!(info.key_id, id(P521_V1_OLD));
    same_key(
        &PrivateKey::from_dovecot_str(&s, Some(b"00ff10")).unwrap(),
        &clear,
    );
    same_key(
        &PrivateKey::from_dovecot_str(&s, Some(b"00FF10")).unwrap(),
        &clear,
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, Some(b"00ff11")),
        Err(KeyError::WrongPassword(_))
    ));
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, None),
        Err(KeyError::PasswordRequired)
    ));
    // Dovecot 2.3 stops hex-decoding at the first non-hex character: a
    // non-hex password is an empty one.
    let s = v1_password_string(&[]);
    same_key(
        &PrivateKey::from_dovecot_str(&s, Some(b"secret")).unwrap(),
        &clear,
    );
    same_key(
        &PrivateKey::from_dovecot_str(&s, Some(b"")).unwrap(),
        &clear,
    );
}

#[test]
fn v1_public_keys() {
    let a = text("v1-ec-p521-public-A.dovecot");
    let info = DovecotKeyInfo::parse(&a).unwrap();
    assert_eq!(
        (info.version, info.kind, info.key_id),
        (
            DovecotKeyVersion::V1,
            DovecotKeyKind::Public,
            id(SAMPLE_V1_OLD)
        )
    );
    let k = PublicKey::from_dovecot_str(&a).unwrap();
    assert_eq!(k.id(IdConvention::V1), Some(id(SAMPLE_V1_OLD)));
    assert_eq!(k.canonical_id(), id(SAMPLE_V1_NEW));
    assert!(matches!(
        PrivateKey::from_dovecot_str(&a, None),
        Err(KeyError::NotPrivate)
    ));

    let b = text("v1-ec-p521-public-B.dovecot");
    let info = DovecotKeyInfo::parse(&b).unwrap();
    assert_eq!(info.key_id, id(P521_V1_OLD));
    let k = PublicKey::from_bytes(b.as_bytes()).unwrap();
    assert_eq!(k.key_type(), KeyType::Ec(Curve::P521));
    assert_eq!(k.id(IdConvention::V1), Some(id(P521_V1_OLD)));
}

// ------------------------------------------------------------ Dovecot v2

#[test]
fn v2_p256_unencrypted_restores_identically() {
    let s = key_string("v2-ec-p256-private-unencrypted.dovecot");
    let k = PrivateKey::from_dovecot_str(&s, None).unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        s
    );
    let pk = k.public_key();
    assert_eq!(pk.canonical_id(), id(P256_ID));
    assert_eq!(
        pk.id(IdConvention::SpkiUncompressed),
        Some(id(P256_ID_UNCOMPRESSED))
    );
    assert_eq!(pk.id(IdConvention::V1), Some(id(P256_OLD_ID)));
    // Same key as sample-v2.key.pem.
    same_key(&k, &pem_key("sample-v2.key.pem"));
    // A trailing newline (what `echo key > file` gives) is tolerated.
    let nl = format!("{s}\n");
    same_key(&PrivateKey::from_dovecot_str(&nl, None).unwrap(), &k);
    same_key(&PrivateKey::from_bytes(nl.as_bytes(), None).unwrap(), &k);
    // A TAB instead of a colon inside a v2 string is accepted, as Dovecot's
    // field splitter does.
    let tabbed = s.replacen(":0:", "\t0:", 1);
    same_key(&PrivateKey::from_dovecot_str(&tabbed, None).unwrap(), &k);
}

#[test]
fn v2_p256_password() {
    let s = text("v2-ec-p256-private-password.dovecot");
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(info.encryption, DovecotKeyEncryption::Password);
    assert_eq!(info.key_id, id(P256_ID));
    let k = PrivateKey::from_dovecot_str(&s, Some(b"This Is Sparta")).unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        key_string("v2-ec-p256-private-unencrypted.dovecot")
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, Some(b"This Is Sparta!")),
        Err(KeyError::WrongPassword(_))
    ));
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, None),
        Err(KeyError::PasswordRequired)
    ));
    let k2 = PrivateKey::from_bytes(s.as_bytes(), Some(b"This Is Sparta")).unwrap();
    same_key(&k, &k2);
}

#[test]
fn v2_p256_key_encrypted_to_itself() {
    let s = text("v2-ec-p256-private-ecdh.dovecot");
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(info.encryption, DovecotKeyEncryption::Key);
    assert_eq!(info.encryption_key_id, Some(id(P256_ID)));
    let own = pem_key("sample-v2.key.pem");
    let k = PrivateKey::from_dovecot_str_with_key(&s, &own).unwrap();
    same_key(&k, &own);
    match PrivateKey::from_bytes(s.as_bytes(), None) {
        Err(KeyError::DecryptionKeyRequired { key_id }) => assert_eq!(key_id, id(P256_ID)),
        other => panic!("{other:?}"),
    }
}

/// Dovecot HEAD (11e43b49aa) encrypts keys with AEAD ciphers: key and
/// nonce from the first Lk + Li PBKDF2 bytes, no AAD, tag appended
/// (spec §4.3). Built here with the `aes-gcm`/`chacha20poly1305` crates
/// around the vector's MPI.
#[test]
fn v2_aead_password_strings_from_dovecot_head() {
    use aes_gcm::aead::{Aead, KeyInit};
    let clear = key_string("v2-ec-p256-private-unencrypted.dovecot");
    let f: Vec<&str> = clear.split(':').collect();
    let mpi = hex(f[3]);
    let salt = hex("00112233445566778899aabbccddeeff");
    let mut kd = [0u8; 44];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"password", &salt, 2048, &mut kd);
    let (k, n) = kd.split_at(32);
    let gcm = aes_gcm::Aes256Gcm::new_from_slice(k)
        .unwrap()
        .encrypt(n.try_into().unwrap(), mpi.as_slice())
        .unwrap();
    let cc = chacha20poly1305::ChaCha20Poly1305::new_from_slice(k)
        .unwrap()
        .encrypt(n.try_into().unwrap(), mpi.as_slice())
        .unwrap();
    for (cipher, enc) in [("aes-256-gcm", gcm), ("chacha20-poly1305", cc)] {
        let enc_hex: String = enc.iter().map(|b| format!("{b:02x}")).collect();
        let s = format!(
            "2:1.2.840.10045.3.1.7:2:{cipher}:00112233445566778899aabbccddeeff:sha256:2048:{enc_hex}:{P256_ID}"
        );
        let k = PrivateKey::from_dovecot_str(&s, Some(b"password")).unwrap();
        assert_eq!(
            k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
                .unwrap()
                .as_str(),
            clear,
            "{cipher}"
        );
        assert!(
            matches!(
                PrivateKey::from_dovecot_str(&s, Some(b"passw0rd")),
                Err(KeyError::WrongPassword(_))
            ),
            "{cipher}"
        );
    }
}

#[test]
fn v2_p521_password_salt16() {
    let s = text("v2-ec-p521-private-password-salt16.dovecot");
    let k = PrivateKey::from_dovecot_str(&s, Some(b"password")).unwrap();
    let clear = key_string("v2-ec-p521-private-unencrypted.dovecot");
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );
    let k2 = PrivateKey::from_dovecot_str(&clear, None).unwrap();
    assert_eq!(
        k2.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );
    assert_eq!(
        k2.public_key().canonical_id(),
        DovecotKeyInfo::parse(&clear).unwrap().key_id
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, Some(b"Password")),
        Err(KeyError::WrongPassword(_))
    ));
}

#[test]
fn v2_public_keys_restore_identically() {
    for name in [
        "v2-ec-p521-public-compressed-A.dovecot",
        "v2-ec-p521-public-compressed-B.dovecot",
    ] {
        let s = key_string(name);
        let info = DovecotKeyInfo::parse(&s).unwrap();
        assert_eq!(
            (info.version, info.kind),
            (DovecotKeyVersion::V2, DovecotKeyKind::Public)
        );
        let k = PublicKey::from_dovecot_str(&s).unwrap();
        assert_eq!(k.to_dovecot_string(), s, "{name}");
        assert_eq!(k.canonical_id(), info.key_id, "{name}");
        assert_eq!(k.source_point_form(), Some(PointForm::Compressed));
        assert!(matches!(
            PrivateKey::from_bytes(s.as_bytes(), None),
            Err(KeyError::NotPrivate)
        ));
    }
}

#[test]
fn v2_unsupported_algorithms_fail_cleanly() {
    // Binary curve: get_info works, loading as private is "not private".
    let s = text("v2-ec-sect571k1-public.dovecot");
    let info = DovecotKeyInfo::parse(&s).unwrap();
    assert_eq!(
        (info.version, info.kind, info.encryption),
        (
            DovecotKeyVersion::V2,
            DovecotKeyKind::Public,
            DovecotKeyEncryption::None
        )
    );
    assert_eq!(
        info.key_id,
        id("86706b69d1f640011a65d26a42f2ba20a619173644e1cc7475eb1d90966e84dc")
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&s, None),
        Err(KeyError::NotPrivate)
    ));
    assert!(matches!(
        PublicKey::from_dovecot_str(&s),
        Err(KeyError::Unsupported(_))
    ));
    // ML-KEM (Dovecot HEAD): loads (details in tests/mlkem.rs).
    let s = text("v2-mlkem512-private-password.dovecot");
    assert_eq!(
        DovecotKeyInfo::parse(&s).unwrap().encryption,
        DovecotKeyEncryption::Password
    );
    let k = PrivateKey::from_dovecot_str(&s, Some(b"password")).unwrap();
    let p = PublicKey::from_dovecot_str(&text("v2-mlkem512-public.dovecot")).unwrap();
    assert_eq!(k.public_key().canonical_id(), p.canonical_id());
    assert!(p.canonical_id().to_hex().starts_with("168c6bd8"));
}

fn hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn raw_keys_store_as_dovecot_expects() {
    // test_raw_keys: a raw P-256 scalar, wrapped here in a SEC1
    // ECPrivateKey by hand (prime256v1 named curve).
    let scalar = hex(&text("raw-ec-p256-private.hex"));
    assert_eq!(scalar.len(), 32);
    let mut der = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    der.extend_from_slice(&scalar);
    der.extend_from_slice(&[
        0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
    ]);
    let k = PrivateKey::from_bytes(&der, None).unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        key_string("raw-ec-p256-private.expected.dovecot")
    );

    // The raw public point (uncompressed) in a hand-made SPKI.
    let point = hex(&text("raw-ec-p256-public-uncompressed.hex"));
    let mut spki = hex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    spki.extend_from_slice(&point);
    let p = PublicKey::from_spki_der(&spki).unwrap();
    assert_eq!(
        p.to_dovecot_string(),
        key_string("raw-ec-p256-public.expected.dovecot")
    );
}

// ----------------------------------------------------- generated-2.3.21.1

#[test]
fn strings_written_by_dovecot_2_3_21_1() {
    let clear = key_string("v2-ec-p256-private-unencrypted.dovecot");
    let own = pem_key("sample-v2.key.pem");

    let k = PrivateKey::from_dovecot_str(
        &text("generated-2.3.21.1/gen23-p256-pw.dovecot"),
        Some(b"This Is Sparta"),
    )
    .unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );

    // 65-byte uncompressed PEER.
    let k = PrivateKey::from_dovecot_str_with_key(
        &text("generated-2.3.21.1/gen23-p256-ecdh-self.dovecot"),
        &own,
    )
    .unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );

    // Encrypted to an RSA key (RSA-OAEP-SHA1 of a 16-byte secret): Dovecot
    // crashes on it, the format is fine.
    let rsa = pem_key("rsa1024-private-pkcs8.pem");
    assert_eq!(rsa.public_key().canonical_id(), id(RSA1024_ID));
    let s = text("generated-2.3.21.1/gen23-p256-by-rsa1024.dovecot");
    assert_eq!(
        DovecotKeyInfo::parse(&s).unwrap().encryption_key_id,
        Some(id(RSA1024_ID))
    );
    let k = PrivateKey::from_dovecot_str_with_key(&s, &rsa).unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );

    // Unpatched 2.3 on OpenSSL 3: uncompressed-point id as last field.
    let s = text("generated-2.3.21.1/gen23-openssl3-pem-private-stored.dovecot");
    assert_eq!(
        DovecotKeyInfo::parse(&s).unwrap().key_id,
        id(P256_ID_UNCOMPRESSED)
    );
    let k = PrivateKey::from_dovecot_str(&s, None).unwrap();
    assert_eq!(
        k.to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
            .unwrap()
            .as_str(),
        clear
    );
    let s = text("generated-2.3.21.1/gen23-openssl3-pem-public-stored.dovecot");
    let p = PublicKey::from_dovecot_str(&s).unwrap();
    assert_eq!(p.canonical_id(), id(P256_ID));
    assert_eq!(p.source_point_form(), Some(PointForm::Uncompressed));
}

#[test]
fn id_mismatch_is_reported() {
    let s = key_string("v2-ec-p256-private-unencrypted.dovecot");
    // Replace the stored id by another key's id.
    let bad = format!("{}{}", &s[..s.len() - 64], P521_V1_OLD);
    match PrivateKey::from_dovecot_str(&bad, None) {
        Err(KeyError::IdMismatch { stored, computed }) => {
            assert_eq!(stored, P521_V1_OLD);
            assert!(computed.contains(P256_ID));
        }
        other => panic!("{other:?}"),
    }
    let p = key_string("v2-ec-p521-public-compressed-A.dovecot");
    let bad = format!("{}{}", &p[..p.len() - 64], P256_ID);
    assert!(matches!(
        PublicKey::from_dovecot_str(&bad),
        Err(KeyError::IdMismatch { .. })
    ));
}

// ----------------------------------------------------------- invalid input

fn entries(name: &str) -> Vec<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(String, String)> = Vec::new();
    for line in text(name).lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let (k, v) = line.split_once(": ").unwrap();
        cur.push((k.to_string(), v.to_string()));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn get<'a>(e: &'a [(String, String)], k: &str) -> Option<&'a str> {
    e.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

#[test]
fn invalid_key_strings_are_rejected_with_dovecots_reason() {
    let es = entries("invalid-key-strings.txt");
    assert_eq!(es.len(), 5);
    for e in &es {
        let key = get(e, "key").unwrap();
        let want = get(e, "expect-error-substring").unwrap();
        let msgs = [
            PrivateKey::from_bytes(key.as_bytes(), None)
                .unwrap_err()
                .to_string(),
            PublicKey::from_bytes(key.as_bytes())
                .unwrap_err()
                .to_string(),
        ];
        for m in &msgs {
            assert!(m.contains(want), "{key:?}: {m:?} lacks {want:?}");
        }
        if !key.starts_with('{') {
            let m = DovecotKeyInfo::parse(key).unwrap_err().to_string();
            assert!(m.contains(want), "{key:?}: {m:?} lacks {want:?}");
        }
    }
}

#[test]
fn invalid_keys_fail_to_load() {
    let es = entries("invalid-keys-load.txt");
    assert_eq!(es.len(), 22);
    for e in &es {
        let key = get(e, "key").unwrap();
        let want = get(e, "expect-error-substring").unwrap();
        let err = match get(e, "load-as").unwrap() {
            "public" => PublicKey::from_bytes(key.as_bytes()).map(drop).unwrap_err(),
            _ => PrivateKey::from_bytes(key.as_bytes(), None)
                .map(drop)
                .unwrap_err(),
        };
        if key.contains("\"OKP\"") {
            // OKP keys are not supported at all.
            assert!(matches!(err, KeyError::Unsupported(_)), "{key}: {err:?}");
        } else if want == "key is not private" {
            assert!(matches!(err, KeyError::NotPrivate), "{key}: {err:?}");
        } else {
            let m = err.to_string();
            assert!(m.contains(want), "{key}: {m:?} lacks {want:?}");
        }
    }
}

#[test]
fn rejected_pem_forms_still_error_not_panic() {
    // Dovecot refuses `BEGIN RSA PRIVATE KEY`; mailcrypt reads PKCS#1 PEM
    // (see keys::load), so only check that it is a usable RSA key.
    let k = PrivateKey::from_bytes(text("rsa1024-private-pkcs1-REJECTED.pem").as_bytes(), None);
    assert!(k.is_ok());
}

/// Every prefix of every key string and JWK vector, and every single-byte
/// change of the short ones: must return (Ok or Err), never panic.
#[test]
fn mutated_inputs_never_panic() {
    let names = [
        "v1-ec-p521-private-unencrypted.dovecot",
        "v1-ec-p521-private-key-encrypted.dovecot",
        "v1-ec-p521-public-A.dovecot",
        "v2-ec-p256-private-unencrypted.dovecot",
        "v2-ec-p256-private-password.dovecot",
        "v2-ec-p256-private-ecdh.dovecot",
        "v2-ec-p521-public-compressed-A.dovecot",
        "v2-ec-sect571k1-public.dovecot",
        "generated-2.3.21.1/gen23-p256-by-rsa1024.dovecot",
        "jwk-ec-p256.in.json",
        "jwk-rsa-1024.in.json",
    ];
    let dk = pem_key("sample-v2.key.pem");
    let rsa = pem_key("rsa1024-private-pkcs8.pem");
    for name in names {
        let s = key_string(name);
        for cut in (0..s.len()).filter(|i| s.is_char_boundary(*i)) {
            let t = &s[..cut];
            let _ = PrivateKey::from_bytes(t.as_bytes(), Some(b"This Is Sparta"));
            let _ = PublicKey::from_bytes(t.as_bytes());
            let _ = DovecotKeyInfo::parse(t);
            let _ = PrivateKey::from_dovecot_str_with_key(t, &dk);
            let _ = PrivateKey::from_dovecot_str_with_key(t, &rsa);
        }
    }
    for name in [
        "v2-ec-p256-private-unencrypted.dovecot",
        "v2-ec-p256-private-ecdh.dovecot",
        "v1-ec-p521-private-unencrypted.dovecot",
        "jwk-ec-p256.in.json",
    ] {
        let s = key_string(name).into_bytes();
        for i in 0..s.len() {
            for b in [b'0', b':', b'\t', b'f', b'"', b'{', 0xff] {
                let mut m = s.clone();
                m[i] = b;
                let _ = PrivateKey::from_bytes(&m, None);
                let _ = PublicKey::from_bytes(&m);
                if let Ok(t) = std::str::from_utf8(&m) {
                    let _ = PrivateKey::from_dovecot_str_with_key(t, &dk);
                }
            }
        }
    }
    // Oversized and degenerate inputs.
    let big = format!("2:{}", "0".repeat(70_000));
    assert!(PrivateKey::from_dovecot_str(&big, None).is_err());
    assert!(
        PrivateKey::from_jwk(&format!(
            "{{\"kty\":\"EC\",\"x\":\"{}\"}}",
            "A".repeat(70_000)
        ))
        .is_err()
    );
    for s in [
        "",
        "2",
        "2:",
        "1\t",
        "2::",
        "2:::::",
        "2:1.2.840.10045.3.1.7:0::",
    ] {
        assert!(PrivateKey::from_dovecot_str(s, None).is_err(), "{s:?}");
    }
}

#[test]
fn hostile_rsa_jwk_components_fail_cleanly() {
    let base = text("jwk-rsa-1024.in.json");
    let d_start = base.find("\"d\":\"").unwrap() + 5;
    let d_end = d_start + base[d_start..].find('"').unwrap();
    for d in ["AA", "AQ", "Ag", "", "____", &"_".repeat(200)] {
        let j = format!("{}{}{}", &base[..d_start], d, &base[d_end..]);
        assert!(PrivateKey::from_jwk(&j).is_err(), "d={d}");
    }
    // Tiny and huge moduli are refused before any arithmetic.
    let n_start = base.find("\"n\":\"").unwrap() + 5;
    let n_end = n_start + base[n_start..].find('"').unwrap();
    for n in ["AQ", "AA", &"_".repeat(1500)] {
        let j = format!("{}{}{}", &base[..n_start], n, &base[n_end..]);
        assert!(PrivateKey::from_jwk(&j).is_err(), "n={n}");
        assert!(PublicKey::from_jwk(&j).is_err(), "n={n}");
    }
}

// --------------------------------------------------------------------- JWK

#[test]
fn jwk_ec_p256() {
    let input = text("jwk-ec-p256.in.json");
    let (k, meta) = PrivateKey::from_jwk_with_meta(&input).unwrap();
    assert_eq!(
        meta,
        JwkMeta {
            kid: Some("123".into()),
            usage: Some(JwkUse::Sig)
        }
    );
    assert_eq!(
        k.to_jwk(&meta).unwrap().as_str(),
        text("jwk-ec-p256.out.json").trim_end()
    );
    let p = PublicKey::from_jwk(&input).unwrap();
    assert_eq!(p.canonical_id(), k.public_key().canonical_id());
    assert_eq!(
        p.to_pem(PointForm::Uncompressed),
        text("jwk-ec-p256.public.pem")
    );
    // 2.3.21.1 writes the same PEM without the final newline.
    assert_eq!(
        p.to_pem(PointForm::Uncompressed).trim_end(),
        text("jwk-ec-p256-2.3.21.1-expected-public-nonewline.pem")
    );
    // Auto-detected by the generic loaders, also base64-wrapped.
    same_key(&PrivateKey::from_bytes(input.as_bytes(), None).unwrap(), &k);
    use base64ct::{Base64, Encoding};
    let b64 = Base64::encode_string(input.as_bytes());
    same_key(&PrivateKey::from_bytes(b64.as_bytes(), None).unwrap(), &k);
    // Padding is tolerated on input.
    let padded = input.replace(
        "\"x\":\"Kp0Y4-Wpt-D9t_2XenFIj0LmvaZByLG69yOisek4aMI\"",
        "\"x\":\"Kp0Y4-Wpt-D9t_2XenFIj0LmvaZByLG69yOisek4aMI=\"",
    );
    assert_ne!(padded, input);
    same_key(&PrivateKey::from_jwk(&padded).unwrap(), &k);
    // A public JWK of it, without meta.
    let pj = p.to_jwk(&JwkMeta::default()).unwrap();
    assert!(pj.starts_with("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"Kp0Y4"));
    assert!(matches!(
        PrivateKey::from_jwk(&pj),
        Err(KeyError::NotPrivate)
    ));
}

#[test]
fn jwk_rsa() {
    for bits in [1024, 2048] {
        let input = text(&format!("jwk-rsa-{bits}.in.json"));
        let (k, meta) = PrivateKey::from_jwk_with_meta(&input).unwrap();
        assert_eq!(k.key_type(), KeyType::Rsa(bits));
        assert_eq!(
            k.to_jwk(&meta).unwrap().as_str(),
            text(&format!("jwk-rsa-{bits}.out.json")).trim_end(),
            "RSA-{bits}"
        );
        let p = PublicKey::from_jwk(&input).unwrap();
        assert_eq!(
            p.to_pem(PointForm::Uncompressed),
            text(&format!("jwk-rsa-{bits}.public.pem"))
        );
        // The output JWK reads back to the same key.
        let again = PrivateKey::from_jwk(&k.to_jwk(&meta).unwrap()).unwrap();
        same_key(&again, &k);
    }
}

#[test]
fn jwk_okp_is_unsupported() {
    let input = text("jwk-okp-ed25519.in.json");
    assert!(matches!(
        PrivateKey::from_jwk(&input),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        PublicKey::from_bytes(input.as_bytes()),
        Err(KeyError::Unsupported(_))
    ));
}

#[test]
fn jwk_rsa_inconsistent_crt_is_refused() {
    let input = text("jwk-rsa-2048.in.json");
    // Swap dp and dq.
    let dp = input.find("\"dp\": \"").unwrap();
    let dq = input.find("\"dq\": \"").unwrap();
    let swapped = format!(
        "{}\"dq\"{}\"dp\"{}",
        &input[..dp],
        &input[dp + 4..dq],
        &input[dq + 4..]
    );
    assert!(PrivateKey::from_jwk(&swapped).is_err());
}

// -------------------------------------------------------------- round trips

fn round_trip(k: &PrivateKey) {
    // Dovecot, clear and with a password.
    let clear = k
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
        .unwrap();
    same_key(&PrivateKey::from_dovecot_str(&clear, None).unwrap(), k);
    let locked = k
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::password(b"s3cret"))
        .unwrap();
    let info = DovecotKeyInfo::parse(&locked).unwrap();
    assert_eq!(info.encryption, DovecotKeyEncryption::Password);
    assert_eq!(info.key_id, k.public_key().canonical_id());
    // Writer defaults: aes-256-ctr, 16-byte salt, sha256, 2048 rounds.
    let f: Vec<&str> = locked.split(':').collect();
    assert_eq!(
        (f[3], f[4].len(), f[5], f[6]),
        ("aes-256-ctr", 32, "sha256", "2048")
    );
    same_key(
        &PrivateKey::from_dovecot_str(&locked, Some(b"s3cret")).unwrap(),
        k,
    );
    assert!(matches!(
        PrivateKey::from_dovecot_str(&locked, Some(b"wrong")),
        Err(KeyError::WrongPassword(_))
    ));
    // Public string.
    let ps = k.public_key().to_dovecot_string();
    assert_eq!(
        PublicKey::from_dovecot_str(&ps).unwrap().canonical_id(),
        k.public_key().canonical_id()
    );
    // JWK.
    let meta = JwkMeta {
        kid: Some("k\"1".into()),
        usage: Some(JwkUse::Enc),
    };
    let j = k.to_jwk(&meta).unwrap();
    let (back, m) = PrivateKey::from_jwk_with_meta(&j).unwrap();
    same_key(&back, k);
    assert_eq!(m, meta);
    // PEM, plain and encrypted.
    let pem = k.to_pem(PointForm::Uncompressed).unwrap();
    same_key(&PrivateKey::from_bytes(pem.as_bytes(), None).unwrap(), k);
    let epem = k.to_encrypted_pem(PointForm::Compressed, b"pw").unwrap();
    same_key(
        &PrivateKey::from_bytes(epem.as_bytes(), Some(b"pw")).unwrap(),
        k,
    );
    let spki = k.public_key().to_pem(PointForm::Uncompressed);
    assert_eq!(
        PublicKey::from_bytes(spki.as_bytes())
            .unwrap()
            .canonical_id(),
        k.public_key().canonical_id()
    );
}

#[test]
fn generated_ec_keys_round_trip() {
    for c in [Curve::P256, Curve::P384, Curve::P521] {
        let k = PrivateKey::generate_ec(c).unwrap();
        round_trip(&k);
        // Key-encrypted to another EC key and to an RSA key.
        let user = PrivateKey::generate_ec(Curve::P256).unwrap();
        let s = k
            .to_dovecot_string(mailcrypt::keys::DovecotProtection::key(user.public_key()))
            .unwrap();
        let info = DovecotKeyInfo::parse(&s).unwrap();
        assert_eq!(
            info.encryption_key_id,
            Some(user.public_key().canonical_id())
        );
        same_key(
            &PrivateKey::from_dovecot_str_with_key(&s, &user).unwrap(),
            &k,
        );
        let rsa = pem_key("rsa1024-private-pkcs8.pem");
        let s = k
            .to_dovecot_string(mailcrypt::keys::DovecotProtection::key(rsa.public_key()))
            .unwrap();
        same_key(
            &PrivateKey::from_dovecot_str_with_key(&s, &rsa).unwrap(),
            &k,
        );
    }
}

#[test]
fn rsa_keys_round_trip() {
    round_trip(&pem_key("rsa1024-private-pkcs8.pem"));
    let k = PrivateKey::generate_rsa(2048).unwrap();
    assert_eq!(k.key_type(), KeyType::Rsa(2048));
    round_trip(&k);
    // RSA in Dovecot strings: DER PKCS#1.
    let s = k
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::None)
        .unwrap();
    assert!(s.starts_with("2:1.2.840.113549.1.1.1:0:3082"));
    // An RSA key encrypted to an EC key.
    let ec = pem_key("sample-v2.key.pem");
    let s = k
        .to_dovecot_string(mailcrypt::keys::DovecotProtection::key(ec.public_key()))
        .unwrap();
    same_key(&PrivateKey::from_dovecot_str_with_key(&s, &ec).unwrap(), &k);
    assert!(PrivateKey::generate_rsa(1024).is_err());
    assert!(PrivateKey::generate_rsa(2049).is_err());
}

// --------------------------------------------------------------- user stores

struct Row {
    file: String,
    plaintext: String,
    sha256: String,
    size: usize,
    version: String,
    key_id: String,
}

fn manifest(dir: &Path) -> Vec<Row> {
    let t = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let mut lines = t.lines();
    let head: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let (cf, cp, cs, cz, cv, ck) = (
        col("maildir_file"),
        col("plaintext"),
        col("plaintext_sha256"),
        col("plaintext_size"),
        col("header_version"),
        col("key_id"),
    );
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                file: f[cf].into(),
                plaintext: f[cp].into(),
                sha256: f[cs].into(),
                size: f[cz].parse().unwrap(),
                version: f[cv].into(),
                key_id: f[ck].into(),
            }
        })
        .collect()
}

fn user_stores() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/userkeys");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (the real-Dovecot user stores are required)",
                root.display()
            )
        })
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.tsv").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no user store in {}", root.display());
    dirs
}

fn password(dir: &Path) -> Vec<u8> {
    let mut pw = std::fs::read(dir.join("password")).unwrap();
    if pw.last() == Some(&b'\n') {
        pw.pop();
    }
    pw
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores with X25519/X448 keys (Dovecot 2.4, `crypt_user_key_curve`).
fn uses_x_curve(attrs: &AttributeFile) -> bool {
    attrs
        .iter()
        .any(|(_, v)| v.starts_with("2:1.3.101.110:") || v.starts_with("2:1.3.101.111:"))
}

#[test]
fn every_mail_of_every_user_store_decrypts() {
    let mut opened = 0;
    let mut x_stores = Vec::new();
    for dir in user_stores() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let attrs = AttributeFile::read(dir.join("dovecot-attributes")).unwrap();
        let store = UserKeyStore::from_attributes(&attrs);
        let mut ring = KeyRing::new();
        let loaded = store.load_into(&mut ring, Some(&password(&dir)));
        if uses_x_curve(&attrs) {
            x_stores.push(name.clone());
        }
        let report = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.failed.is_empty(), "{name}: {:?}", report.failed);
        assert_eq!(report.loaded.len(), 2, "{name}: user key and INBOX key");
        assert!(
            report.loaded.iter().any(|(l, _)| l.starts_with("user key")),
            "{name}"
        );
        assert_eq!(
            store.active_user_key(),
            store
                .keys()
                .find(|k| k.role == KeyRole::User && k.private)
                .and_then(|k| k.id),
            "{name}"
        );
        for row in manifest(&dir) {
            let data = std::fs::read(dir.join("Maildir").join(&row.file)).unwrap();
            let expected = std::fs::read(dir.join(&row.plaintext)).unwrap();
            assert_eq!(sha256_hex(&expected), row.sha256, "{name}: manifest");
            assert_eq!(expected.len(), row.size, "{name}: manifest");
            let mut dec = Decryptor::open(&data[..], &ring, &mailcrypt::DecryptOptions::default())
                .unwrap_or_else(|e| panic!("{name}/{}: {e}", row.file));
            let m = dec.info().matched.clone().unwrap();
            assert_eq!(m.key_id.to_hex(), row.key_id, "{name}/{}", row.file);
            if row.version == "v1" {
                assert_eq!(m.convention, IdConvention::V1, "{name}");
            } else if uses_x_curve(&attrs) {
                assert_eq!(m.convention, IdConvention::Spki, "{name}");
            } else {
                assert_eq!(m.convention, IdConvention::SpkiCompressed, "{name}");
            }
            let mut out = Vec::new();
            dec.read_to_end(&mut out)
                .unwrap_or_else(|e| panic!("{name}/{}: {e}", row.file));
            assert_eq!(out, expected, "{name}/{}", row.file);
            opened += 1;
        }
    }
    assert!(opened >= 21, "only {opened} mails decrypted");
    assert_eq!(
        x_stores,
        ["v24-x25519", "v24-x448"],
        "the X25519 and X448 stores must be opened"
    );
}

#[test]
fn user_stores_refuse_wrong_or_missing_password() {
    for dir in user_stores() {
        let attrs = AttributeFile::read(dir.join("dovecot-attributes")).unwrap();
        let store = UserKeyStore::from_attributes(&attrs);
        let name = dir.display();
        assert!(
            matches!(
                store.load_into(&mut KeyRing::new(), Some(b"Tr0ub4dor&3-mailcrypX")),
                Err(KeyError::WrongPassword(_))
            ),
            "{name}"
        );
        assert!(
            matches!(
                store.load_into(&mut KeyRing::new(), None),
                Err(KeyError::PasswordRequired)
            ),
            "{name}"
        );
        // With the folder keys alone in a ring, nothing can open them.
        let folder_only: Vec<_> = store
            .keys()
            .filter(|k| matches!(k.role, KeyRole::Folder { .. }) && k.private)
            .collect();
        assert!(!folder_only.is_empty(), "{name}");
        for k in folder_only {
            assert_eq!(
                k.info.as_ref().unwrap().encryption,
                DovecotKeyEncryption::Key,
                "{name}"
            );
        }
    }
}

#[test]
fn upstream_store_keys_carry_the_uncompressed_id() {
    // vectors/userkeys/README.md, "upstream": the stored private strings
    // end in the uncompressed-point id, attribute names use the compressed
    // one; mailcrypt loads them anyway.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/userkeys/upstream");
    let attrs = AttributeFile::read(dir.join("dovecot-attributes")).unwrap();
    let store = UserKeyStore::from_attributes(&attrs);
    let mut checked = 0;
    for k in store.keys().filter(|k| k.private) {
        let info = k.info.as_ref().unwrap();
        assert_ne!(Some(info.key_id), k.id, "{}", k.attribute);
        checked += 1;
    }
    assert_eq!(checked, 2);
    let mut ring = KeyRing::new();
    let report = store.load_into(&mut ring, Some(&password(&dir))).unwrap();
    assert_eq!(report.loaded.len(), 2);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let folder = id("37759a259b58591a9e23849e2d03d93cfae27ad97d6c22dcba93b21305b2c0b9");
    let m = ring.find(&folder).unwrap();
    assert_eq!(
        m.key.public_key().id(IdConvention::SpkiUncompressed),
        Some(id(
            "06c07c94a3746f23c6f578296d596c63aab94190de10259034285a8761ae3f81"
        ))
    );
}

#[test]
fn dovecot_attribute_key_strings_load_individually() {
    // Public strings in every store (P-256 and X25519 ones) load and match their name.
    for dir in user_stores() {
        let attrs = AttributeFile::read(dir.join("dovecot-attributes")).unwrap();
        let store = UserKeyStore::from_attributes(&attrs);
        for k in store.keys().filter(|k| !k.private) {
            let v = attrs.get(&k.attribute).unwrap();
            let p = PublicKey::from_dovecot_str(v).unwrap();
            assert_eq!(Some(p.canonical_id()), k.id, "{}", k.attribute);
            assert_eq!(p.to_dovecot_string(), v, "{}", k.attribute);
        }
    }
}

#[test]
fn ids_of_test_keys() {
    let k = pem_key("sample-v1.key.pem");
    let ids = ids_of(k.public_key());
    assert!(ids.contains(&(IdConvention::SpkiCompressed, SAMPLE_V1_NEW.into())));
    assert!(ids.contains(&(IdConvention::V1, SAMPLE_V1_OLD.into())));
    assert!(ids.contains(&(
        IdConvention::SpkiUncompressed,
        "82f8a6287a287e4fe23b467a5b8bc953d963ea2914f9752d5e642697004beec8".into()
    )));
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn text_never_panics(s in "[0-9a-fA-F:\\t\\n{}\",\\[\\]xyz=_-]{0,300}") {
            let _ = DovecotKeyInfo::parse(&s);
            let _ = PrivateKey::from_bytes(s.as_bytes(), Some(b"pw"));
            let _ = PublicKey::from_bytes(s.as_bytes());
            let _ = PrivateKey::from_jwk(&s);
            let _ = AttributeFile::parse(s.as_bytes());
        }

        #[test]
        fn bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = PrivateKey::from_bytes(&b, None);
            let _ = PublicKey::from_bytes(&b);
            let attrs = AttributeFile::parse(&b).unwrap();
            let _ = UserKeyStore::from_attributes(&attrs).load_into(&mut KeyRing::new(), Some(b"pw"));
        }

        #[test]
        fn v2_private_fields_never_panic(
            curve in prop::sample::select(vec!["1.2.840.10045.3.1.7", "1.3.132.0.34", "1.3.132.0.35", "1.2.840.113549.1.1.1", "1.2.3"]),
            key in "[0-9a-f]{0,200}",
            enc in prop::sample::select(vec!["0", "1", "2"]),
        ) {
            let kid = "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
            let s = match enc {
                "0" => format!("2:{curve}:0:{key}:{kid}"),
                "2" => format!("2:{curve}:2:aes-256-ctr:0011:sha256:1:{key}:{kid}"),
                _ => format!("2:{curve}:1:aes-256-gcm:0011:sha1:1:{key}:{key}:{kid}:{kid}"),
            };
            let own = pem_key("sample-v2.key.pem");
            let _ = PrivateKey::from_dovecot_str(&s, Some(b"pw"));
            let _ = PrivateKey::from_dovecot_str_with_key(&s, &own);
            // An MPI with a random scalar under the right length prefix.
            let _ = PrivateKey::from_dovecot_str(&format!("2:{curve}:0:00000020{key}:{kid}"), None);
        }
    }
}

// ------------------------------------------------- PEM layouts OpenSSL reads

/// `pem` with its base64 re-wrapped at `width` columns, lines ended by
/// `eol`, and the white space around the document and after lines that
/// OpenSSL ignores.
fn rewrap(pem: &str, width: usize, eol: &str, pad: bool) -> String {
    let lines: Vec<&str> = pem.trim().lines().collect();
    let body: String = lines[1..lines.len() - 1].concat();
    let mut out = String::new();
    if pad {
        out.push_str(" \n\t");
        out.push_str(eol);
    }
    out.push_str(lines[0]);
    out.push_str(eol);
    for piece in body.as_bytes().chunks(width) {
        out.push_str(std::str::from_utf8(piece).unwrap());
        if pad {
            out.push_str("  ");
        }
        out.push_str(eol);
    }
    out.push_str(lines[lines.len() - 1]);
    out.push_str(eol);
    if pad {
        out.push_str(eol);
        out.push_str("  ");
    }
    out
}

/// Every layout the PEM tests try: 76 and 72 columns (what MIME encoders and
/// `base64` write), a single long line, CRLF, and padding white space.
fn layouts(pem: &str) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for width in [76, 72, 65, 40, 1000] {
        for (eol, pad) in [("\n", false), ("\r\n", false), ("\r\n", true), ("\n", true)] {
            v.push((
                format!("width {width} eol {eol:?} pad {pad}"),
                rewrap(pem, width, eol, pad),
            ));
        }
    }
    v
}

fn pem_vector(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn private_keys_load_at_any_pem_line_width_and_with_crlf() {
    let sealed = std::fs::read(vpath("sample-v2.bin")).unwrap();
    for name in ["dovecot/sample-v2.key.pem", "bench/rsa2048.pem"] {
        let pem = pem_vector(name);
        assert!(
            pem.lines().nth(1).unwrap().len() == 64,
            "{name} is 64 columns"
        );
        let want = PrivateKey::from_bytes(pem.as_bytes(), None).unwrap();
        for (what, text) in layouts(&pem) {
            assert_ne!(text, pem);
            let k = PrivateKey::from_bytes(text.as_bytes(), None)
                .unwrap_or_else(|e| panic!("{name} {what}: {e}"));
            same_key(&k, &want);
            if name.starts_with("dovecot/") {
                let mut ring = KeyRing::new();
                ring.add(k);
                let mut plain = Vec::new();
                Decryptor::open(&sealed[..], &ring, &mailcrypt::DecryptOptions::default())
                    .unwrap()
                    .read_to_end(&mut plain)
                    .unwrap();
                assert_eq!(plain.len(), 13534, "{what}");
            }
        }
    }
}

#[test]
fn encrypted_private_keys_load_at_any_pem_line_width_and_with_crlf() {
    // Written by OpenSSL (vectors/pem/README.md).
    let pem = pem_vector("pem/sample-v2.key.encrypted.pem");
    let want = pem_key("sample-v2.key.pem");
    for (what, text) in layouts(&pem) {
        assert!(matches!(
            PrivateKey::from_bytes(text.as_bytes(), None),
            Err(KeyError::PasswordRequired)
        ));
        let k = PrivateKey::from_bytes(text.as_bytes(), Some(b"hunter2"))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        same_key(&k, &want);
    }
}

#[test]
fn public_keys_load_at_any_pem_line_width_and_with_crlf() {
    let want = pem_key("sample-v2.key.pem").public_key().canonical_id();
    for name in [
        "pem/sample-v2.pub.pem",
        "stores/keys/p256/public.pem",
        "mlkem/keys/mlkem768/public.pem",
    ] {
        let pem = pem_vector(name);
        let orig = PublicKey::from_bytes(pem.as_bytes()).unwrap();
        if name.starts_with("pem/") {
            assert_eq!(orig.canonical_id(), want);
        }
        for (what, text) in layouts(&pem) {
            let k = PublicKey::from_bytes(text.as_bytes())
                .unwrap_or_else(|e| panic!("{name} {what}: {e}"));
            assert_eq!(k.canonical_id(), orig.canonical_id(), "{name} {what}");
            assert_eq!(ids_of(&k), ids_of(&orig), "{name} {what}");
        }
    }
}

#[test]
fn pem_layouts_openssl_refuses_are_refused() {
    // OpenSSL 3 refuses a blank line inside the base64, an indented END
    // line and a missing END line; so does mailcrypt.
    let pem = pem_vector("dovecot/sample-v2.key.pem");
    let lines: Vec<&str> = pem.trim().lines().collect();
    let n = lines.len();
    let mut with_blank = lines.clone();
    with_blank.insert(2, "");
    let blank = with_blank.join("\n");
    let indented_end = format!("{}\n  {}\n", lines[..n - 1].join("\n"), lines[n - 1]);
    let no_end = format!("{}\n", lines[..n - 1].join("\n"));
    let bad_base64 = pem.replacen(&lines[1][..4], "M!GH", 1);
    for (what, text) in [
        ("blank line", blank),
        ("indented END", indented_end),
        ("no END", no_end),
        ("bad base64", bad_base64),
    ] {
        let err = PrivateKey::from_bytes(text.as_bytes(), None).unwrap_err();
        assert!(
            matches!(err, KeyError::Invalid(ref m) if m.starts_with("PEM: ")),
            "{what}: {err:?}"
        );
    }
}
