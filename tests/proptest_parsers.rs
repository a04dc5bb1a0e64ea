//! Property tests for every parser: parse(serialize(x)) == x for container
//! headers (random v1 and v2 values), Dovecot key strings (clear, under a
//! password, encrypted to a key, public), JWK and attribute files; and no
//! parser panics on arbitrary input.

mod common;

use mailcrypt::KeyError;
use mailcrypt::container::{
    CipherAlg, HashAlg, Header, HeaderV1, HeaderV2, MAX_FIELD_LEN, MAX_HEADER_LEN, MAX_OID_LEN,
    MAX_RECIPIENTS, Recipient, RecipientType,
};
use mailcrypt::keys::{
    AttributeFile, Curve, DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind, DovecotKeyVersion,
    JwkMeta, JwkUse, KeyId, PointForm, PrivateKey, PublicKey,
};
use proptest::prelude::*;

// ------------------------------------------------------------ headers

fn bytes(range: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), range)
}

fn oid_content() -> impl Strategy<Value = Vec<u8>> {
    // Any short-form OID content (1..=127 bytes); the parser maps known
    // contents to their variants, so keep unknown ones unknown.
    bytes(1..128)
}

fn cipher() -> impl Strategy<Value = CipherAlg> {
    prop_oneof![
        prop::sample::select(CipherAlg::KNOWN.to_vec()),
        oid_content().prop_map(|c| CipherAlg::from_oid_content(&c)),
    ]
}

fn hash() -> impl Strategy<Value = HashAlg> {
    prop_oneof![
        prop::sample::select(HashAlg::KNOWN.to_vec()),
        oid_content().prop_map(|c| HashAlg::from_oid_content(&c)),
    ]
}

fn recipient(max_field: usize) -> impl Strategy<Value = Recipient> {
    (
        any::<u8>(),
        any::<[u8; 32]>(),
        bytes(0..max_field),
        bytes(1..max_field.max(2)),
    )
        .prop_map(|(t, id, eph, ek)| Recipient {
            key_type: RecipientType::from_byte(t),
            key_id: KeyId::new(id),
            ephemeral_key: eph,
            encrypted_key: ek,
        })
}

fn header_v2() -> impl Strategy<Value = HeaderV2> {
    // Mostly realistic sizes; sometimes many recipients with small fields,
    // sometimes one recipient with fields at the per-field cap.
    let recipients = prop_oneof![
        6 => prop::collection::vec(recipient(300), 1..5),
        2 => prop::collection::vec(recipient(8), 1..=MAX_RECIPIENTS),
        1 => prop::collection::vec(
            (any::<u8>(), any::<[u8; 32]>(), bytes(MAX_FIELD_LEN - 4..MAX_FIELD_LEN + 1))
                .prop_map(|(t, id, big)| Recipient {
                    key_type: RecipientType::from_byte(t),
                    key_id: KeyId::new(id),
                    ephemeral_key: big.clone(),
                    encrypted_key: big,
                }),
            1..2,
        ),
    ];
    (
        any::<u32>(),
        cipher(),
        hash(),
        any::<u32>(),
        recipients,
        bytes(0..130),
    )
        .prop_map(
            |(flags, cipher, hash, rounds, recipients, key_check)| HeaderV2 {
                flags,
                cipher,
                hash,
                rounds,
                recipients,
                key_check,
            },
        )
}

fn header_v1() -> impl Strategy<Value = HeaderV1> {
    (
        bytes(1..140),
        bytes(1..40),
        bytes(1..40),
        bytes(1..40),
        bytes(0..8),
    )
        .prop_map(
            |(ephemeral_key, key_id, seed_hash, encrypted_seed, trailing)| HeaderV1 {
                ephemeral_key,
                key_id,
                seed_hash,
                encrypted_seed,
                trailing,
            },
        )
}

fn check_header_round_trip(h: Header, body: &[u8]) -> Result<(), TestCaseError> {
    let bytes = h
        .to_bytes()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(bytes.len(), h.header_len());
    let mut file = bytes.clone();
    file.extend_from_slice(body);
    let (parsed, len) = Header::parse(&file).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(len, bytes.len());
    prop_assert_eq!(&parsed, &h);
    prop_assert_eq!(parsed.to_bytes().ok(), Some(bytes));
    // Reading from a stream consumes exactly the header.
    let mut cursor = std::io::Cursor::new(&file);
    let streamed = Header::read(&mut cursor).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(streamed, h);
    prop_assert_eq!(cursor.position() as usize, len);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v2_headers_round_trip(h in header_v2(), body in bytes(0..64)) {
        prop_assume!(h.header_len() <= MAX_HEADER_LEN);
        check_header_round_trip(Header::V2(h), &body)?;
    }

    #[test]
    fn v1_headers_round_trip(h in header_v1(), body in bytes(0..64)) {
        check_header_round_trip(Header::V1(h), &body)?;
    }

    /// Every strict prefix of a valid header is a typed error, never a
    /// panic and never a shorter header.
    #[test]
    fn header_prefixes_are_errors(h in header_v2(), cut in any::<prop::sample::Index>()) {
        prop_assume!(h.header_len() <= MAX_HEADER_LEN);
        let bytes = Header::V2(h).to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let n = cut.index(bytes.len());
        prop_assert!(Header::parse(&bytes[..n]).is_err());
    }

    /// A header over a cap never serialises into something the parser
    /// would read differently.
    #[test]
    fn oversized_v2_headers_are_refused_by_the_writer(extra in 1usize..64) {
        let big = vec![0u8; MAX_FIELD_LEN];
        let n = MAX_HEADER_LEN / (2 * MAX_FIELD_LEN) + extra;
        let h = HeaderV2 {
            flags: 2,
            cipher: CipherAlg::Aes256Gcm,
            hash: HashAlg::Sha256,
            rounds: 2048,
            recipients: (0..n)
                .map(|_| Recipient {
                    key_type: RecipientType::Ec,
                    key_id: KeyId::new([0; 32]),
                    ephemeral_key: big.clone(),
                    encrypted_key: big.clone(),
                })
                .collect(),
            key_check: vec![0; 32],
        };
        prop_assert!(Header::V2(h).to_bytes().is_err());
    }

    /// An algorithm OID the parser could not read back (empty, or too
    /// long for a short-form DER length) is refused by the writer.
    #[test]
    fn unwritable_oids_are_refused(len in prop_oneof![Just(0usize), MAX_OID_LEN + 1..400]) {
        let base = HeaderV2 {
            flags: 2,
            cipher: CipherAlg::Aes256Gcm,
            hash: HashAlg::Sha256,
            rounds: 2048,
            recipients: vec![Recipient {
                key_type: RecipientType::Ec,
                key_id: KeyId::new([1; 32]),
                ephemeral_key: vec![2; 33],
                encrypted_key: vec![3; 48],
            }],
            key_check: vec![4; 32],
        };
        let content = vec![0x2a; len];
        let h = HeaderV2 { cipher: CipherAlg::Unknown(content.clone()), ..base.clone() };
        prop_assert!(Header::V2(h).to_bytes().is_err());
        let h = HeaderV2 { hash: HashAlg::Unknown(content), ..base };
        prop_assert!(Header::V2(h).to_bytes().is_err());
    }

    /// Arbitrary bytes after a valid magic and version never panic.
    #[test]
    fn header_parser_never_panics(version in 0u8..4, rest in bytes(0..600)) {
        let mut data = b"CRYPTED\x03\x07".to_vec();
        data.push(version);
        data.extend_from_slice(&rest);
        if let Ok((h, len)) = Header::parse(&data) {
            let again = h.to_bytes().ok();
            prop_assert_eq!(again.as_deref(), data.get(..len));
        }
    }
}

// -------------------------------------------------------- key strings

/// An EC private key from a random scalar (SEC1 DER, as `openssl ec`
/// writes it), so that proptest controls and shrinks the key.
fn ec_key(curve: Curve, scalar: &[u8]) -> Option<PrivateKey> {
    let oid: &[u8] = match curve {
        Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
        Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
        _ => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
    };
    let mut inner = vec![0x02, 0x01, 0x01, 0x04, scalar.len() as u8];
    inner.extend_from_slice(scalar);
    inner.push(0xa0);
    inner.push(oid.len() as u8);
    inner.extend_from_slice(oid);
    let mut der = vec![0x30, inner.len() as u8];
    der.extend_from_slice(&inner);
    PrivateKey::from_bytes(&der, None).ok()
}

fn private_key() -> impl Strategy<Value = PrivateKey> {
    prop_oneof![
        any::<[u8; 32]>().prop_filter_map("scalar out of range", |s| ec_key(Curve::P256, &s)),
        bytes(48..49).prop_filter_map("scalar out of range", |s| ec_key(Curve::P384, &s)),
        // P-521 scalars are 66 bytes below 2^521.
        (0u8..2, bytes(65..66)).prop_filter_map("scalar out of range", |(hi, rest)| {
            let mut s = vec![hi];
            s.extend_from_slice(&rest);
            ec_key(Curve::P521, &s)
        }),
        Just(()).prop_map(|()| rsa_fixture()),
    ]
}

fn rsa_fixture() -> PrivateKey {
    let pem = std::fs::read(common::root().join("vectors/dovecot/rsa1024-private-pkcs8.pem"))
        .expect("fixture");
    PrivateKey::from_bytes(&pem, None).expect("fixture loads")
}

fn same(a: &PrivateKey, b: &PrivateKey) -> Result<(), TestCaseError> {
    prop_assert_eq!(a.key_type(), b.key_type());
    prop_assert_eq!(a.public_key().canonical_id(), b.public_key().canonical_id());
    prop_assert_eq!(
        a.to_pkcs8_der(PointForm::Compressed).ok(),
        b.to_pkcs8_der(PointForm::Compressed).ok()
    );
    Ok(())
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn clear_private_key_strings_round_trip(key in private_key()) {
        let s = key.to_dovecot_string(mailcrypt::keys::DovecotProtection::None).map_err(fail)?;
        let info = DovecotKeyInfo::parse(&s).map_err(fail)?;
        prop_assert_eq!(info.version, DovecotKeyVersion::V2);
        prop_assert_eq!(info.kind, DovecotKeyKind::Private);
        prop_assert_eq!(info.encryption, DovecotKeyEncryption::None);
        prop_assert_eq!(info.key_id, key.public_key().canonical_id());
        let back = PrivateKey::from_dovecot_str(&s, None).map_err(fail)?;
        same(&key, &back)?;
        // Byte-identical on re-serialisation; one trailing newline is fine.
        let again = back.to_dovecot_string(mailcrypt::keys::DovecotProtection::None).map_err(fail)?;
        prop_assert_eq!(again.as_str(), s.as_str());
        let nl = format!("{}\n", s.as_str());
        same(&key, &PrivateKey::from_dovecot_str(&nl, None).map_err(fail)?)?;
        // The auto-detecting loader reads the same string.
        same(&key, &PrivateKey::from_bytes(s.as_bytes(), None).map_err(fail)?)?;
    }

    #[test]
    fn password_key_strings_round_trip_and_wrong_passwords_fail(
        key in private_key(),
        pw in bytes(0..40),
        flip in any::<prop::sample::Index>(),
    ) {
        let s = key.to_dovecot_string(mailcrypt::keys::DovecotProtection::password(&pw)).map_err(fail)?;
        let info = DovecotKeyInfo::parse(&s).map_err(fail)?;
        prop_assert_eq!(info.encryption, DovecotKeyEncryption::Password);
        same(&key, &PrivateKey::from_dovecot_str(&s, Some(&pw)).map_err(fail)?)?;
        prop_assert!(matches!(
            PrivateKey::from_dovecot_str(&s, None),
            Err(KeyError::PasswordRequired)
        ));
        // Any other password: an error, never a key.
        let mut wrong = pw.clone();
        if wrong.is_empty() {
            wrong.push(b'x');
        } else {
            let i = flip.index(wrong.len());
            wrong[i] ^= 0x01;
        }
        let r = PrivateKey::from_dovecot_str(&s, Some(&wrong));
        prop_assert!(matches!(r, Err(KeyError::WrongPassword(_))), "wrong password: {:?}", r.err());
    }

    #[test]
    fn key_encrypted_strings_round_trip(key in private_key(), to in private_key()) {
        let s = key.to_dovecot_string(mailcrypt::keys::DovecotProtection::key(to.public_key())).map_err(fail)?;
        let info = DovecotKeyInfo::parse(&s).map_err(fail)?;
        prop_assert_eq!(info.encryption, DovecotKeyEncryption::Key);
        prop_assert_eq!(info.encryption_key_id, Some(to.public_key().canonical_id()));
        same(&key, &PrivateKey::from_dovecot_str_with_key(&s, &to).map_err(fail)?)?;
        prop_assert!(PrivateKey::from_dovecot_str(&s, None).is_err());
        if to.public_key().canonical_id() != key.public_key().canonical_id() {
            // Another key than the one named: refused, never a key.
            prop_assert!(PrivateKey::from_dovecot_str_with_key(&s, &key).is_err());
        }
    }

    #[test]
    fn public_key_strings_round_trip(key in private_key()) {
        let pk = key.public_key();
        let s = pk.to_dovecot_string();
        let info = DovecotKeyInfo::parse(&s).map_err(fail)?;
        prop_assert_eq!(info.kind, DovecotKeyKind::Public);
        prop_assert_eq!(info.key_id, pk.canonical_id());
        let back = PublicKey::from_dovecot_str(&s).map_err(fail)?;
        prop_assert_eq!(back.canonical_id(), pk.canonical_id());
        prop_assert_eq!(back.to_dovecot_string(), s);
    }

    #[test]
    fn jwks_round_trip(
        key in private_key(),
        kid in proptest::option::of(any::<String>()),
        usage in proptest::option::of(prop::sample::select(vec![JwkUse::Enc, JwkUse::Sig])),
    ) {
        let meta = JwkMeta { kid, usage };
        let json = key.to_jwk(&meta).map_err(fail)?;
        let (back, meta2) = PrivateKey::from_jwk_with_meta(&json).map_err(fail)?;
        same(&key, &back)?;
        prop_assert_eq!(&meta2, &meta);
        let again = back.to_jwk(&meta2).map_err(fail)?;
        prop_assert_eq!(again.as_str(), json.as_str());
        let pub_json = key.public_key().to_jwk(&meta).map_err(fail)?;
        let (pk, meta3) = PublicKey::from_jwk_with_meta(&pub_json).map_err(fail)?;
        prop_assert_eq!(pk.canonical_id(), key.public_key().canonical_id());
        prop_assert_eq!(meta3, meta);
        prop_assert!(matches!(PrivateKey::from_jwk(&pub_json), Err(KeyError::NotPrivate)));
    }

    /// Key-string, JWK and key-file parsers return errors, never panic,
    /// on arbitrary text.
    #[test]
    fn key_parsers_never_panic(s in "\\PC{0,300}", raw in bytes(0..300)) {
        let _ = DovecotKeyInfo::parse(&s);
        let _ = PublicKey::from_dovecot_str(&s);
        let _ = PrivateKey::from_dovecot_str(&s, Some(b"pw"));
        let _ = PrivateKey::from_jwk(&s);
        let _ = PublicKey::from_jwk(&s);
        let _ = PrivateKey::from_bytes(&raw, Some(b"pw"));
        let _ = PublicKey::from_bytes(&raw);
        for prefix in ["2:", "1\t", "{\"kty\":\"EC\",", "-----BEGIN PRIVATE KEY-----\n"] {
            let t = format!("{prefix}{s}");
            let _ = PrivateKey::from_bytes(t.as_bytes(), Some(b"pw"));
            let _ = PublicKey::from_bytes(t.as_bytes());
        }
    }
}

// ----------------------------------------------------- attribute files

/// Dovecot's `str_tabescape`.
fn tab_escape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in s.as_bytes() {
        match b {
            0 => out.extend_from_slice(b"\x010"),
            1 => out.extend_from_slice(b"\x011"),
            b'\t' => out.extend_from_slice(b"\x01t"),
            b'\r' => out.extend_from_slice(b"\x01r"),
            b'\n' => out.extend_from_slice(b"\x01n"),
            _ => out.push(b),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn attribute_files_round_trip(
        entries in prop::collection::btree_map(any::<String>(), any::<String>(), 0..20),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
    ) {
        // "k\nv" with an empty v and no final newline reads as a lone key
        // line (ignored, as Dovecot does): Dovecot always ends the line.
        let final_newline = final_newline || entries.values().last().is_some_and(|v| v.is_empty());
        let mut text = Vec::new();
        let n = entries.len();
        for (i, (k, v)) in entries.iter().enumerate() {
            text.extend_from_slice(&tab_escape(k));
            text.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            text.extend_from_slice(&tab_escape(v));
            if i + 1 < n || final_newline {
                text.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
            }
        }
        let parsed = AttributeFile::parse(&text).map_err(fail)?;
        prop_assert_eq!(parsed.len(), entries.len());
        for (k, v) in &entries {
            prop_assert_eq!(parsed.get(k), Some(v.as_str()));
        }
    }

    #[test]
    fn attribute_parser_never_panics(data in bytes(0..2000)) {
        if let Ok(a) = AttributeFile::parse(&data) {
            let store = mailcrypt::keys::UserKeyStore::from_attributes(&a);
            let _ = store.keys().count();
        }
    }
}
