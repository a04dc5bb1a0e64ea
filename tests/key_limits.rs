//! Key files whose key-derivation cost would stall or exhaust the loader
//! (found by fuzzing, `fuzz/findings/key_pem_der/`) are refused up front.

use mailcrypt::KeyError;
use mailcrypt::keys::PrivateKey;

#[test]
fn hostile_pbes2_parameters_are_refused_quickly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings/key_pem_der");
    for f in [
        "pkcs8-pbkdf2-2pow31-iterations.pem",
        "pkcs8-scrypt-266mib.pem",
    ] {
        let data = std::fs::read(dir.join(f)).unwrap();
        // Refused by the parameter check, before any derivation work.
        let err = PrivateKey::from_bytes(&data, Some(b"x")).unwrap_err();
        assert!(
            matches!(&err, KeyError::Invalid(m) if m.contains("limit")),
            "{f}: {err}"
        );
    }
}

/// An RSA private key whose modulus is far beyond 8192 bits, in every
/// container the loader accepts (PKCS#1 PEM and DER, PKCS#8 PEM and DER):
/// refused by size before `rsa` validates it (which would take minutes).
#[test]
fn oversized_rsa_private_keys_are_refused_by_size() {
    use der::Encode;
    use rsa::pkcs1::{RsaPrivateKey, UintRef};
    let big = vec![0xC5u8; 12_000]; // a 96 000-bit "modulus"
    let half = vec![0xA3u8; 6_000];
    let one = [1u8];
    let e = [1u8, 0, 1];
    let pkcs1 = RsaPrivateKey {
        modulus: UintRef::new(&big).unwrap(),
        public_exponent: UintRef::new(&e).unwrap(),
        private_exponent: UintRef::new(&big[1..]).unwrap(),
        prime1: UintRef::new(&half).unwrap(),
        prime2: UintRef::new(&half[1..]).unwrap(),
        exponent1: UintRef::new(&half).unwrap(),
        exponent2: UintRef::new(&half).unwrap(),
        coefficient: UintRef::new(&one).unwrap(),
        other_prime_infos: None,
    }
    .to_der()
    .unwrap();
    let pkcs8 = pkcs8::PrivateKeyInfoRef::new(
        spki::AlgorithmIdentifierRef {
            oid: "1.2.840.113549.1.1.1".parse().unwrap(),
            parameters: Some(der::asn1::AnyRef::NULL),
        },
        der::asn1::OctetStringRef::new(&pkcs1).unwrap(),
    )
    .to_der()
    .unwrap();
    let pem = |label: &str, der: &[u8]| {
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
            .unwrap()
            .into_bytes()
    };
    for (what, data) in [
        ("PKCS#1 DER", pkcs1.clone()),
        ("PKCS#8 DER", pkcs8.clone()),
        ("PKCS#1 PEM", pem("RSA PRIVATE KEY", &pkcs1)),
        ("PKCS#8 PEM", pem("PRIVATE KEY", &pkcs8)),
    ] {
        let err = PrivateKey::from_bytes(&data, None).unwrap_err();
        assert!(
            matches!(&err, KeyError::Unsupported(m) if m.contains("96000 bits")),
            "{what}: {err}"
        );
    }
}
