use super::*;

fn sample_v2() -> Vec<u8> {
    std::fs::read("vectors/dovecot/sample-v2.bin").unwrap()
}

#[test]
fn parses_sample_v2_header() {
    let data = sample_v2();
    let (h, len) = Header::parse(&data).unwrap();
    assert_eq!(len, 223);
    let Header::V2(h) = h else {
        panic!("v2 expected")
    };
    assert_eq!(h.flags, FLAG_AEAD);
    assert_eq!(h.cipher, CipherAlg::Aes256Gcm);
    assert_eq!(h.hash, HashAlg::Sha256);
    assert_eq!(h.rounds, 2048);
    assert_eq!(h.recipients.len(), 1);
    let r = &h.recipients[0];
    assert_eq!(r.key_type, RecipientType::Ec);
    assert_eq!(
        r.key_id.to_hex(),
        "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"
    );
    assert_eq!(r.ephemeral_key.len(), 33);
    assert_eq!(r.encrypted_key.len(), 64);
    assert_eq!(h.key_check.len(), 32);
}

#[test]
fn header_round_trips_byte_for_byte() {
    for f in ["sample-v2.bin", "sample-v1.bin", "sample-v1_short.bin"] {
        let data = std::fs::read(format!("vectors/dovecot/{f}")).unwrap();
        let (h, len) = Header::parse(&data).unwrap();
        assert_eq!(h.to_bytes().unwrap(), data[..len], "{f}");
    }
}

#[test]
fn parses_v1_sample_with_terminator() {
    let data = std::fs::read("vectors/dovecot/sample-v1.bin").unwrap();
    let (h, len) = Header::parse(&data).unwrap();
    assert_eq!(len, 185);
    let Header::V1(h) = h else {
        panic!("v1 expected")
    };
    assert_eq!(h.ephemeral_key.len(), 67);
    assert_eq!(h.trailing, vec![0, 0]);
    assert_eq!(
        crate::hex::encode(&h.key_id),
        "7c9a1039ea2e4fed73e81dd3ffc3fa22ea4a28352939adde7bf8ea858b00fa4f"
    );
}

#[test]
fn every_truncation_of_a_header_is_a_typed_error() {
    let data = sample_v2();
    for n in 0..223 {
        let err = Header::parse(&data[..n]).unwrap_err();
        if n < 9 {
            assert!(
                matches!(
                    err,
                    FormatError::Truncated { .. } | FormatError::NotEncrypted
                ),
                "{n}: {err}"
            );
        } else {
            assert!(matches!(err, FormatError::Truncated { .. }), "{n}: {err}");
        }
    }
}

#[test]
fn rejects_bad_magic_version_and_lengths() {
    let mut d = sample_v2();
    d[0] = b'X';
    assert_eq!(Header::parse(&d).unwrap_err(), FormatError::NotEncrypted);
    let mut d = sample_v2();
    d[9] = 3;
    assert_eq!(
        Header::parse(&d).unwrap_err(),
        FormatError::UnsupportedVersion(3)
    );
    // Header length far beyond the cap.
    let mut d = sample_v2();
    d[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        Header::parse(&d).unwrap_err(),
        FormatError::HeaderTooLarge { .. }
    ));
    // Header length shorter than the fixed part.
    let mut d = sample_v2();
    d[14..18].copy_from_slice(&10u32.to_be_bytes());
    assert!(matches!(
        Header::parse(&d).unwrap_err(),
        FormatError::Malformed { .. }
    ));
    // Header length one byte too long: key-data length disagrees.
    let mut d = sample_v2();
    d[14..18].copy_from_slice(&224u32.to_be_bytes());
    assert!(matches!(
        Header::parse(&d).unwrap_err(),
        FormatError::Malformed {
            field: "key-data length",
            ..
        }
    ));
}

#[test]
fn unknown_oid_parses_as_unknown() {
    let mut d = sample_v2();
    // Last content byte of the cipher OID (offset 18 + 2 + 8).
    d[28] = 0x7f;
    let (h, _) = Header::parse(&d).unwrap();
    let Header::V2(h) = h else { panic!() };
    assert!(matches!(h.cipher, CipherAlg::Unknown(_)));
}

#[test]
fn key_id_offset_points_at_the_id() {
    let data = sample_v2();
    let (Header::V2(h), _) = Header::parse(&data).unwrap() else {
        panic!()
    };
    let off = h.key_id_offset(0).unwrap();
    assert_eq!(&data[off..off + 32], h.recipients[0].key_id.as_bytes());
    assert_eq!(h.key_id_offset(1), None);
}
