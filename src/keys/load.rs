//! Loading keys from PEM, DER, Dovecot key strings, JWK and the base64 of
//! any of these, with automatic detection.
//!
//! Parsing goes through the RustCrypto `pkcs8`, `spki`, `sec1` and
//! `pem-rfc7468` crates; the only leniency added on top is what real
//! Dovecot key files need: EC scalars shorter than the field (old OpenSSL
//! wrote the P-521 test key with 65 bytes) are left-padded.

use der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef};
use der::{Decode, Encode};
use zeroize::Zeroizing;

use super::mlkem;
use super::{
    Curve, MlKemParams, OID_EC_PUBLIC_KEY, OID_RSA_ENCRYPTION, OID_X448, OID_X25519, PointForm,
    PrivateKey, PrivateKind, PublicKey, PublicKind,
};
use crate::error::KeyError;

/// Nested base64 decoding is allowed this deep (Dovecot allows one level).
const MAX_BASE64_DEPTH: u8 = 1;

pub use crate::limits::MAX_KEY_FILE_LEN;

fn invalid(e: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid(e.to_string())
}

/// Strip a BOM and surrounding white space from text key forms; binary
/// DER (starting with a SEQUENCE tag) is left exactly as it is, since its
/// last bytes may well be 0x20 or 0x0a.
fn trim(data: &[u8]) -> &[u8] {
    if data.first() == Some(&0x30) {
        return data;
    }
    // `trim_ascii` strips exactly `u8::is_ascii_whitespace` bytes.
    data.strip_prefix(b"\xef\xbb\xbf")
        .unwrap_or(data)
        .trim_ascii()
}

/// Decode a PEM document as OpenSSL reads it (and so Dovecot, which
/// loads keys through OpenSSL): base64 lines of any length, not only the
/// 64 columns RFC 7468's strict form and `pem-rfc7468` demand (many tools
/// write 76, e.g. `base64` and MIME encoders), CRLF line ends, white space
/// inside and around lines. Like OpenSSL, a blank line inside the base64
/// and an END line that does not start its line are refused. The body is
/// re-wrapped at 64 columns and handed to `pem-rfc7468`, which still checks
/// the labels, the base64 alphabet and padding.
fn decode_pem(data: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let pem_err = |e: &dyn std::fmt::Display| invalid(format!("PEM: {e}"));
    let text = std::str::from_utf8(data).map_err(|_| pem_err(&"not ASCII text"))?;
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let begin = lines
        .next()
        .ok_or_else(|| pem_err(&"empty document"))?
        .trim_end();
    let mut body = Zeroizing::new(String::with_capacity(text.len()));
    let mut end = None;
    for line in lines.by_ref() {
        if line.starts_with("-----END ") {
            end = Some(line.trim_end());
            break;
        }
        if line.trim().is_empty() {
            return Err(pem_err(&"blank line inside the base64 body"));
        }
        body.extend(line.chars().filter(|c| !c.is_ascii_whitespace()));
    }
    let Some(end) = end else {
        return Err(pem_err(&"no -----END line"));
    };
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(pem_err(&"text after the -----END line"));
    }
    let mut canonical = Zeroizing::new(String::with_capacity(body.len() * 65 / 64 + 128));
    canonical.push_str(begin);
    canonical.push('\n');
    for (i, c) in body.chars().enumerate() {
        if i > 0 && i % 64 == 0 {
            canonical.push('\n');
        }
        canonical.push(c);
    }
    if !body.is_empty() {
        canonical.push('\n');
    }
    canonical.push_str(end);
    canonical.push('\n');
    let (label, der) = pem_rfc7468::decode_vec(canonical.as_bytes()).map_err(|e| pem_err(&e))?;
    Ok((label.to_owned(), Zeroizing::new(der)))
}

enum Shape<'a> {
    Pem,
    Der,
    DovecotString,
    Jwk,
    Base64(&'a [u8]),
}

fn shape(data: &[u8]) -> Shape<'_> {
    if data.starts_with(b"-----BEGIN ") {
        Shape::Pem
    } else if data.first() == Some(&b'{') {
        Shape::Jwk
    } else if matches!(data, [b'1' | b'2'] | [b'1' | b'2', b':' | b'\t', ..]) {
        // A bare "2" is no base64 either: let the Dovecot parser say
        // "Unknown key format".
        Shape::DovecotString
    } else if data.first() == Some(&0x30) {
        Shape::Der
    } else {
        Shape::Base64(data)
    }
}

fn decode_base64(data: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use base64ct::{Base64, Encoding};
    let compact: Zeroizing<Vec<u8>> = Zeroizing::new(
        data.iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect(),
    );
    Base64::decode_vec(std::str::from_utf8(&compact).map_err(|_| not_a_key())?)
        .map(Zeroizing::new)
        .map_err(|_| not_a_key())
}

fn not_a_key() -> KeyError {
    KeyError::UnknownFormat(
        "not PEM, DER, or base64 of either (expected PKCS#8, SPKI, SEC1 or PKCS#1 key)".into(),
    )
}

fn utf8(data: &[u8]) -> Result<&str, KeyError> {
    std::str::from_utf8(data)
        .map_err(|_| KeyError::UnknownFormat("Dovecot key string is not ASCII text".into()))
}

pub(crate) fn private_from_bytes(
    data: &[u8],
    password: Option<&[u8]>,
) -> Result<PrivateKey, KeyError> {
    private_at_depth(data, password, 0)
}

fn private_at_depth(
    data: &[u8],
    password: Option<&[u8]>,
    depth: u8,
) -> Result<PrivateKey, KeyError> {
    if data.len() > MAX_KEY_FILE_LEN {
        return Err(invalid(format!(
            "key file larger than {MAX_KEY_FILE_LEN} bytes"
        )));
    }
    let data = trim(data);
    match shape(data) {
        Shape::Pem => {
            let (label, der) = decode_pem(data)?;
            match label.as_str() {
                "PRIVATE KEY" => private_from_pkcs8(&der),
                "ENCRYPTED PRIVATE KEY" => {
                    let pw = password.ok_or(KeyError::PasswordRequired)?;
                    let enc = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der).map_err(invalid)?;
                    check_pbes_cost(&enc.encryption_algorithm)?;
                    let doc = enc
                        .decrypt(pw)
                        .map_err(|e| KeyError::WrongPassword(e.to_string()))?;
                    private_from_pkcs8(doc.as_bytes())
                }
                "EC PRIVATE KEY" => private_from_sec1(&der, None),
                "RSA PRIVATE KEY" => super::dovecot::rsa_from_pkcs1(&der),
                "PUBLIC KEY" | "RSA PUBLIC KEY" => Err(KeyError::NotPrivate),
                other => Err(KeyError::UnknownFormat(format!("PEM label \"{other}\""))),
            }
        }
        Shape::Der => private_from_pkcs8(data)
            .or_else(|e| private_from_sec1(data, None).map_err(|_| e))
            .or_else(|e| {
                // Report an over-large RSA key as such, not as "not PKCS#8".
                super::dovecot::rsa_from_pkcs1(data).map_err(|rsa_err| match rsa_err {
                    KeyError::Unsupported(_) => rsa_err,
                    _ => e,
                })
            }),
        Shape::DovecotString => super::dovecot::private_from_str(utf8(data)?, password, None),
        Shape::Jwk => super::jwk::private_from_jwk(data).map(|(k, _)| k),
        Shape::Base64(b) if depth < MAX_BASE64_DEPTH => {
            let inner = decode_base64(b)?;
            private_at_depth(&inner, password, depth + 1)
        }
        Shape::Base64(_) => Err(not_a_key()),
    }
}

pub use crate::limits::MAX_PKCS8_PBKDF2_ITERATIONS;
pub use crate::limits::MAX_PKCS8_SCRYPT_MEMORY;

/// Refuse key-derivation parameters that would make loading a key file
/// spin for minutes or allocate gigabytes (found by fuzzing).
fn check_pbes_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), KeyError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    if let pkcs8::pkcs5::EncryptionScheme::Pbes2(p) = scheme {
        match &p.kdf {
            Kdf::Pbkdf2(k) if k.iteration_count > MAX_PKCS8_PBKDF2_ITERATIONS => {
                return Err(invalid(format!(
                    "encrypted key asks for {} PBKDF2 iterations (limit {MAX_PKCS8_PBKDF2_ITERATIONS})",
                    k.iteration_count
                )));
            }
            Kdf::Scrypt(s) => {
                // `cost_parameter` is scrypt's N itself.
                let mem = s
                    .cost_parameter
                    .saturating_mul(128)
                    .saturating_mul(u64::from(s.block_size));
                if mem > MAX_PKCS8_SCRYPT_MEMORY || s.parallelization > 16 {
                    return Err(invalid(format!(
                        "encrypted key asks for scrypt with {mem} bytes of memory (limit {MAX_PKCS8_SCRYPT_MEMORY})"
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn curve_of(params: Option<AnyRef<'_>>) -> Result<Option<Curve>, KeyError> {
    match params {
        None => Ok(None),
        Some(p) => {
            let oid = ObjectIdentifier::try_from(p).map_err(|_| {
                KeyError::Unsupported("EC key with explicit curve parameters".into())
            })?;
            Curve::from_oid(&oid)
                .map(Some)
                .ok_or_else(|| KeyError::Unsupported(format!("EC curve {oid}")))
        }
    }
}

fn private_from_pkcs8(der: &[u8]) -> Result<PrivateKey, KeyError> {
    let pki =
        pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|e| invalid(format!("PKCS#8: {e}")))?;
    match pki.algorithm.oid {
        OID_EC_PUBLIC_KEY => {
            let curve = curve_of(pki.algorithm.parameters)?;
            private_from_sec1(pki.private_key.as_bytes(), curve)
        }
        OID_RSA_ENCRYPTION => {
            // RFC 8017: the parameters are NULL (absent tolerated, as by
            // OpenSSL). The modulus size is checked before any arithmetic
            // (rsa_from_pkcs1): a 64 KiB file can hold a ~100 000-bit
            // modulus whose validation alone takes minutes.
            if pki
                .algorithm
                .parameters
                .is_some_and(|p| der::Tagged::tag(&p) != der::Tag::Null)
            {
                return Err(invalid("RSA key with non-NULL algorithm parameters"));
            }
            super::dovecot::rsa_from_pkcs1(pki.private_key.as_bytes())
        }
        OID_X25519 | OID_X448 => {
            if pki.algorithm.parameters.is_some() {
                return Err(invalid("RFC 8410 key with algorithm parameters"));
            }
            // CurvePrivateKey ::= OCTET STRING, inside the PKCS#8 OCTET STRING.
            let inner = <&OctetStringRef>::from_der(pki.private_key.as_bytes())
                .map_err(|e| invalid(format!("RFC 8410 private key: {e}")))?;
            let key = x_private_from_raw(pki.algorithm.oid == OID_X448, inner.as_bytes())?;
            if let Some(pk) = pki.public_key {
                let embedded = pk.as_bytes();
                if embedded.is_some() && embedded != key.public_key().raw_public_key() {
                    return Err(invalid(
                        "embedded public key does not belong to the private key",
                    ));
                }
            }
            Ok(key)
        }
        other => match MlKemParams::from_oid(&other) {
            Some(p) => {
                if pki.algorithm.parameters.is_some() {
                    return Err(invalid("ML-KEM key with algorithm parameters"));
                }
                let key = ml_kem_private_from_pkcs8(p, pki.private_key.as_bytes())?;
                if let Some(pk) = pki.public_key {
                    let embedded = pk.as_bytes();
                    if embedded.is_some()
                        && embedded != key.public_key().ml_kem_public_key().map(|(_, k)| k)
                    {
                        return Err(invalid(
                            "embedded public key does not belong to the private key",
                        ));
                    }
                }
                Ok(key)
            }
            None => Err(KeyError::Unsupported(format!("key algorithm {other}"))),
        },
    }
}

/// The ML-KEM `privateKey` of a PKCS#8 file (RFC 9935 / OpenSSL 3.5), in
/// any of its three forms: `seed [0] IMPLICIT OCTET STRING (64)`,
/// `expandedKey OCTET STRING`, or `both SEQUENCE { seed, expandedKey }`
/// (OpenSSL's default output). With both, the expanded key must be the one
/// the seed gives.
fn ml_kem_private_from_pkcs8(p: MlKemParams, inner: &[u8]) -> Result<PrivateKey, KeyError> {
    use der::Reader;
    let bad = |e: der::Error| invalid(format!("{p} private key: {e}"));
    match inner.first() {
        Some(0x80) => {
            let seed = match inner {
                [0x80, 0x40, seed @ ..] if seed.len() == mlkem::SEED_LEN => seed,
                _ => return Err(invalid(format!("{p} private key: seed is not 64 bytes"))),
            };
            PrivateKey::ml_kem_from_seed(p, seed)
        }
        Some(0x04) => {
            let dk = <&OctetStringRef>::from_der(inner).map_err(bad)?;
            ml_kem_private_from_expanded(p, dk.as_bytes(), None)
        }
        Some(0x30) => {
            let mut r = der::SliceReader::new(inner).map_err(bad)?;
            let (seed, dk) = r
                .sequence(|r| {
                    let seed = <&OctetStringRef>::decode(r)?;
                    let dk = <&OctetStringRef>::decode(r)?;
                    Ok::<_, der::Error>((seed, dk))
                })
                .map_err(bad)?;
            r.finish().map_err(bad)?;
            ml_kem_private_from_expanded(p, dk.as_bytes(), Some(seed.as_bytes()))
        }
        _ => Err(invalid(format!(
            "{p} private key is neither a seed, an expanded key nor both"
        ))),
    }
}

/// An ML-KEM private key from its expanded FIPS 203 decapsulation key
/// (checked: length, embedded public key hash), optionally with the seed
/// it must have come from.
pub(crate) fn ml_kem_private_from_expanded(
    p: MlKemParams,
    expanded: &[u8],
    seed: Option<&[u8]>,
) -> Result<PrivateKey, KeyError> {
    mlkem::check_expanded(p, expanded)?;
    let seed = match seed {
        None => None,
        Some(seed) => {
            use subtle::ConstantTimeEq;
            let again = mlkem::expand_seed(p, seed)?;
            if !bool::from(again.as_slice().ct_eq(expanded)) {
                return Err(invalid(format!(
                    "{p} private key: the seed and the expanded key disagree"
                )));
            }
            #[allow(clippy::expect_used)]
            let s = <[u8; mlkem::SEED_LEN]>::try_from(seed)
                .expect("expand_seed accepted the seed, so it has SEED_LEN bytes");
            Some(Zeroizing::new(s))
        }
    };
    Ok(PrivateKey::new(
        PrivateKind::MlKem {
            params: p,
            expanded: Zeroizing::new(expanded.to_vec()),
            seed,
        },
        None,
    ))
}

/// An ML-KEM public key from its raw encapsulation key (checked).
pub(crate) fn ml_kem_public_from_raw(p: MlKemParams, raw: &[u8]) -> Result<PublicKey, KeyError> {
    mlkem::check_public(p, raw)?;
    Ok(PublicKey {
        kind: PublicKind::MlKem(p, raw.into()),
        source_form: None,
    })
}

fn private_from_sec1(der: &[u8], curve: Option<Curve>) -> Result<PrivateKey, KeyError> {
    let ec =
        sec1::EcPrivateKey::from_der(der).map_err(|e| invalid(format!("EC private key: {e}")))?;
    let inner_curve = match ec.parameters {
        Some(sec1::EcParameters::NamedCurve(oid)) => Some(
            Curve::from_oid(&oid)
                .ok_or_else(|| KeyError::Unsupported(format!("EC curve {oid}")))?,
        ),
        None => None,
    };
    let curve = match (curve, inner_curve) {
        (Some(a), Some(b)) if a != b => {
            return Err(invalid("curve in algorithm and in key disagree"));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => return Err(invalid("EC private key without a named curve")),
    };
    let form = ec.public_key.and_then(PointForm::of_sec1);
    let key = ec_private_from_scalar(curve, ec.private_key, form)?;
    if let Some(p) = ec.public_key {
        let ours = key
            .public_key()
            .sec1_point(form.unwrap_or(PointForm::Uncompressed));
        if ours.as_deref() != Some(p) {
            return Err(invalid(
                "embedded public key does not belong to the private key",
            ));
        }
    }
    Ok(key)
}

/// An X25519 (`x448 == false`, 32 bytes) or X448 (56 bytes) private key
/// from its raw RFC 7748 bytes.
pub(crate) fn x_private_from_raw(x448: bool, raw: &[u8]) -> Result<PrivateKey, KeyError> {
    let kind = if x448 {
        let mut k = Zeroizing::new([0u8; 56]);
        k.as_mut_slice().copy_from_slice(
            raw.get(..56)
                .filter(|_| raw.len() == 56)
                .ok_or_else(|| invalid("X448 private key is not 56 bytes"))?,
        );
        PrivateKind::X448(k)
    } else {
        let mut k = Zeroizing::new([0u8; 32]);
        k.as_mut_slice().copy_from_slice(
            raw.get(..32)
                .filter(|_| raw.len() == 32)
                .ok_or_else(|| invalid("X25519 private key is not 32 bytes"))?,
        );
        PrivateKind::X25519(k)
    };
    Ok(PrivateKey::new(kind, None))
}

/// An X25519/X448 public key from its raw RFC 7748 bytes.
pub(crate) fn x_public_from_raw(x448: bool, raw: &[u8]) -> Result<PublicKey, KeyError> {
    let kind = if x448 {
        PublicKind::X448(Box::new(
            <[u8; 56]>::try_from(raw).map_err(|_| invalid("X448 public key is not 56 bytes"))?,
        ))
    } else {
        PublicKind::X25519(
            <[u8; 32]>::try_from(raw).map_err(|_| invalid("X25519 public key is not 32 bytes"))?,
        )
    };
    Ok(PublicKey {
        kind,
        source_form: None,
    })
}

/// Build an EC private key from a big-endian scalar of any length (leading
/// zeros stripped or padded as needed).
pub(crate) fn ec_private_from_scalar(
    curve: Curve,
    scalar: &[u8],
    form: Option<PointForm>,
) -> Result<PrivateKey, KeyError> {
    let n = curve.field_len();
    let sig = super::strip_leading_zeros(scalar);
    if sig.len() > n {
        return Err(invalid(format!("EC scalar longer than {n} bytes")));
    }
    let mut padded = Zeroizing::new(vec![0u8; n]);
    if let Some(dst) = padded.get_mut(n - sig.len()..) {
        dst.copy_from_slice(sig);
    }
    let bad = |_| invalid(format!("EC scalar out of range for {curve}"));
    let kind = match curve {
        Curve::P256 => PrivateKind::P256(p256::SecretKey::from_slice(&padded).map_err(bad)?),
        Curve::P384 => PrivateKind::P384(p384::SecretKey::from_slice(&padded).map_err(bad)?),
        Curve::P521 => PrivateKind::P521(p521::SecretKey::from_slice(&padded).map_err(bad)?),
    };
    Ok(PrivateKey::new(kind, form))
}

pub(crate) fn public_from_bytes(data: &[u8]) -> Result<PublicKey, KeyError> {
    public_at_depth(data, 0)
}

fn public_at_depth(data: &[u8], depth: u8) -> Result<PublicKey, KeyError> {
    if data.len() > MAX_KEY_FILE_LEN {
        return Err(invalid(format!(
            "key file larger than {MAX_KEY_FILE_LEN} bytes"
        )));
    }
    let data = trim(data);
    match shape(data) {
        Shape::Pem => {
            let (label, der) = decode_pem(data)?;
            match label.as_str() {
                "PUBLIC KEY" => public_from_spki(&der),
                "RSA PUBLIC KEY" => {
                    use rsa::pkcs1::DecodeRsaPublicKey;
                    let k = rsa::PublicKey::from_pkcs1_der(&der).map_err(invalid)?;
                    Ok(PublicKey {
                        kind: PublicKind::Rsa(Box::new(k)),
                        source_form: None,
                    })
                }
                _ => private_at_depth(data, None, depth).map(|k| k.public_key().clone()),
            }
        }
        Shape::Der => public_from_spki(data).or_else(|e| {
            private_at_depth(data, None, depth)
                .map(|k| k.public_key().clone())
                .map_err(|_| e)
        }),
        Shape::DovecotString => super::dovecot::public_from_str(utf8(data)?),
        Shape::Jwk => super::jwk::public_from_jwk(data).map(|(k, _)| k),
        Shape::Base64(b) if depth < MAX_BASE64_DEPTH => {
            let inner = decode_base64(b)?;
            public_at_depth(&inner, depth + 1)
        }
        Shape::Base64(_) => Err(not_a_key()),
    }
}

pub(crate) fn public_from_spki(der: &[u8]) -> Result<PublicKey, KeyError> {
    let spki =
        spki::SubjectPublicKeyInfoRef::from_der(der).map_err(|e| invalid(format!("SPKI: {e}")))?;
    match spki.algorithm.oid {
        OID_EC_PUBLIC_KEY => {
            let curve = curve_of(spki.algorithm.parameters)?
                .ok_or_else(|| invalid("EC public key without a named curve"))?;
            let point = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| invalid("unaligned BIT STRING"))?;
            ec_public_from_sec1(curve, point)
        }
        OID_RSA_ENCRYPTION => {
            let k = rsa::PublicKey::try_from(spki).map_err(invalid)?;
            Ok(PublicKey {
                kind: PublicKind::Rsa(Box::new(k)),
                source_form: None,
            })
        }
        OID_X25519 | OID_X448 => {
            if spki.algorithm.parameters.is_some() {
                return Err(invalid("RFC 8410 key with algorithm parameters"));
            }
            let raw = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| invalid("unaligned BIT STRING"))?;
            x_public_from_raw(spki.algorithm.oid == OID_X448, raw)
        }
        other => match MlKemParams::from_oid(&other) {
            Some(p) => {
                if spki.algorithm.parameters.is_some() {
                    return Err(invalid("ML-KEM key with algorithm parameters"));
                }
                let raw = spki
                    .subject_public_key
                    .as_bytes()
                    .ok_or_else(|| invalid("unaligned BIT STRING"))?;
                ml_kem_public_from_raw(p, raw)
            }
            None => Err(KeyError::Unsupported(format!("key algorithm {other}"))),
        },
    }
}

/// An EC public key from a SEC1 point in any form.
pub(crate) fn ec_public_from_sec1(curve: Curve, point: &[u8]) -> Result<PublicKey, KeyError> {
    let bad = |_| invalid(format!("not a valid {curve} point"));
    let kind = match curve {
        Curve::P256 => PublicKind::P256(p256::PublicKey::from_sec1_bytes(point).map_err(bad)?),
        Curve::P384 => PublicKind::P384(p384::PublicKey::from_sec1_bytes(point).map_err(bad)?),
        Curve::P521 => PublicKind::P521(p521::PublicKey::from_sec1_bytes(point).map_err(bad)?),
    };
    Ok(PublicKey {
        kind,
        source_form: PointForm::of_sec1(point),
    })
}

pub(crate) fn private_to_pkcs8(
    key: &PrivateKey,
    form: PointForm,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (curve, scalar) = match &key.kind {
        PrivateKind::Rsa(k) => {
            use rsa::pkcs8::EncodePrivateKey;
            let doc = k.to_pkcs8_der().map_err(invalid)?;
            return Ok(Zeroizing::new(doc.as_bytes().to_vec()));
        }
        PrivateKind::P256(k) => (Curve::P256, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::P384(k) => (Curve::P384, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::P521(k) => (Curve::P521, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::X25519(k) => return x_to_pkcs8(OID_X25519, k.as_slice()),
        PrivateKind::X448(k) => return x_to_pkcs8(OID_X448, k.as_slice()),
        PrivateKind::MlKem {
            params,
            expanded,
            seed,
        } => return ml_kem_to_pkcs8(*params, expanded, seed.as_deref()),
    };
    #[allow(clippy::expect_used)]
    let point = key
        .public_key()
        .sec1_point(form)
        .expect("an EC private key's public key has a SEC1 point");
    let inner = sec1::EcPrivateKey {
        private_key: &scalar,
        parameters: None,
        public_key: Some(&point),
    };
    let inner_der = Zeroizing::new(inner.to_der().map_err(invalid)?);
    let curve_oid = curve.oid();
    let params = AnyRef::from(&curve_oid);
    let pki = pkcs8::PrivateKeyInfoRef {
        algorithm: spki::AlgorithmIdentifier {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(params),
        },
        private_key: OctetStringRef::new(&inner_der).map_err(invalid)?,
        public_key: None,
    };
    Ok(Zeroizing::new(pki.to_der().map_err(invalid)?))
}

/// RFC 8410 PKCS#8 (v1, no public key), as `openssl genpkey` writes it.
fn x_to_pkcs8(oid: ObjectIdentifier, raw: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let inner = Zeroizing::new(
        OctetStringRef::new(raw)
            .map_err(invalid)?
            .to_der()
            .map_err(invalid)?,
    );
    let pki = pkcs8::PrivateKeyInfoRef {
        algorithm: spki::AlgorithmIdentifier {
            oid,
            parameters: None,
        },
        private_key: OctetStringRef::new(&inner).map_err(invalid)?,
        public_key: None,
    };
    Ok(Zeroizing::new(pki.to_der().map_err(invalid)?))
}

/// DER tag-length-value with a definite length (short or long form).
fn der_tlv(tag: u8, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(content.len() + 6));
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let sig = super::strip_leading_zeros(&bytes);
        out.push(0x80 | sig.len() as u8);
        out.extend_from_slice(sig);
    }
    out.extend_from_slice(content);
    out
}

/// ML-KEM PKCS#8 (v1, no public key) as OpenSSL 3.5 writes it: the
/// `both` form (seed and expanded key) when the seed is known, otherwise
/// the expanded key alone.
fn ml_kem_to_pkcs8(
    p: MlKemParams,
    expanded: &[u8],
    seed: Option<&[u8; 64]>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let dk = der_tlv(0x04, expanded);
    let inner = match seed {
        Some(seed) => {
            let mut both = der_tlv(0x04, seed);
            both.extend_from_slice(&dk);
            der_tlv(0x30, &both)
        }
        None => dk,
    };
    let pki = pkcs8::PrivateKeyInfoRef {
        algorithm: spki::AlgorithmIdentifier {
            oid: p.oid(),
            parameters: None,
        },
        private_key: OctetStringRef::new(&inner).map_err(invalid)?,
        public_key: None,
    };
    Ok(Zeroizing::new(pki.to_der().map_err(invalid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_pem_document_is_refused() {
        let e = decode_pem(b"").unwrap_err();
        assert!(e.to_string().contains("PEM: empty document"), "{e}");
    }

    #[test]
    fn text_forms_lose_a_bom_and_surrounding_blanks_der_keeps_them() {
        assert_eq!(
            trim(b"\xef\xbb\xbf \t-----BEGIN X\r\n \x0c"),
            b"-----BEGIN X"
        );
        assert_eq!(trim(b" \n\t"), b"");
        assert_eq!(trim(b"\x30\x03\x02\x01\x20"), b"\x30\x03\x02\x01\x20");
    }

    #[test]
    fn strip_leading_zeros_keeps_the_magnitude() {
        use crate::keys::strip_leading_zeros;
        assert_eq!(strip_leading_zeros(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(strip_leading_zeros(&[0x80]), &[0x80]);
        assert_eq!(strip_leading_zeros(&[0, 0]), &[] as &[u8]);
        assert_eq!(strip_leading_zeros(&[]), &[] as &[u8]);
    }
}
