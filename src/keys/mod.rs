//! Keys: types, loading from every form Dovecot uses, and key ids.
//!
//! ```
//! use mailcrypt::keys::{IdConvention, PrivateKey};
//! let pem = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
//! let key = PrivateKey::from_bytes(&pem, None).unwrap();
//! let id = key.public_key().id(IdConvention::SpkiCompressed).unwrap();
//! assert_eq!(id.to_hex(), "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd");
//! ```

mod id;
mod load;
mod ring;

pub use id::{IdConvention, KeyId};
pub use ring::{KeyRing, MatchedKey};

use std::fmt;

use der::Encode;
use der::asn1::{BitStringRef, ObjectIdentifier};
use elliptic_curve::sec1::ToSec1Point;

use crate::error::KeyError;

pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
pub(crate) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A NIST prime curve Dovecot supports for mail-crypt keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// P-256 (prime256v1, secp256r1)
    P256,
    /// P-384 (secp384r1)
    P384,
    /// P-521 (secp521r1)
    P521,
}

impl Curve {
    /// The named-curve OID.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Curve::P256 => ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7"),
            Curve::P384 => ObjectIdentifier::new_unwrap("1.3.132.0.34"),
            Curve::P521 => ObjectIdentifier::new_unwrap("1.3.132.0.35"),
        }
    }

    /// Curve for a named-curve OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Curve> {
        [Curve::P256, Curve::P384, Curve::P521]
            .into_iter()
            .find(|c| c.oid() == *oid)
    }

    /// OpenSSL's name, as Dovecot's settings use it.
    pub fn name(self) -> &'static str {
        match self {
            Curve::P256 => "prime256v1",
            Curve::P384 => "secp384r1",
            Curve::P521 => "secp521r1",
        }
    }

    /// Size of a field element / scalar in bytes.
    pub fn field_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }
}

impl fmt::Display for Curve {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        })
    }
}

/// SEC1 point encoding: how a point was found in a key file, or how to
/// write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PointForm {
    /// `02`/`03` ‖ X
    Compressed,
    /// `04` ‖ X ‖ Y
    Uncompressed,
}

impl PointForm {
    pub(crate) fn of_sec1(bytes: &[u8]) -> Option<PointForm> {
        match bytes.first() {
            Some(2 | 3) => Some(PointForm::Compressed),
            Some(4) => Some(PointForm::Uncompressed),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub(crate) enum PublicKind {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    Rsa(Box<rsa::PublicKey>),
}

/// A recipient public key (EC P-256/384/521 or RSA).
///
/// It remembers the point form of the file it was loaded from, because
/// unpatched Dovecot 2.3 on OpenSSL 3 derives the key id from it.
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) kind: PublicKind,
    pub(crate) source_form: Option<PointForm>,
}

/// The algorithm family of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// EC on a NIST curve.
    Ec(Curve),
    /// RSA with the modulus size in bits.
    Rsa(usize),
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Ec(c) => write!(f, "EC {c}"),
            KeyType::Rsa(bits) => write!(f, "RSA-{bits}"),
        }
    }
}

impl PublicKey {
    /// Load a public key from PEM/DER/base64 text or bytes (SPKI, PKCS#1
    /// RSA public key, or any private key form, whose public half is taken).
    pub fn from_bytes(data: &[u8]) -> Result<PublicKey, KeyError> {
        load::public_from_bytes(data)
    }

    /// Parse DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<PublicKey, KeyError> {
        load::public_from_spki(der)
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        match &self.kind {
            PublicKind::P256(_) => KeyType::Ec(Curve::P256),
            PublicKind::P384(_) => KeyType::Ec(Curve::P384),
            PublicKind::P521(_) => KeyType::Ec(Curve::P521),
            PublicKind::Rsa(k) => KeyType::Rsa(rsa::traits::PublicKeyParts::size(k.as_ref()) * 8),
        }
    }

    /// The point form of the file the key came from (EC keys loaded from a
    /// file only).
    pub fn source_point_form(&self) -> Option<PointForm> {
        self.source_form
    }

    /// Return a copy that claims to come from a file with `form` (what
    /// `openssl pkey -ec_conv_form` would produce).
    pub fn with_source_point_form(mut self, form: PointForm) -> PublicKey {
        if matches!(self.key_type(), KeyType::Ec(_)) {
            self.source_form = Some(form);
        }
        self
    }

    /// SEC1 encoding of an EC key's point; `None` for RSA.
    pub fn sec1_point(&self, form: PointForm) -> Option<Vec<u8>> {
        let c = form == PointForm::Compressed;
        Some(match &self.kind {
            PublicKind::P256(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::P384(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::P521(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::Rsa(_) => return None,
        })
    }

    /// DER SubjectPublicKeyInfo. `form` selects the EC point encoding and
    /// is ignored for RSA.
    pub fn spki_der(&self, form: PointForm) -> Vec<u8> {
        match (&self.kind, self.key_type()) {
            (PublicKind::Rsa(k), _) => {
                use rsa::pkcs8::EncodePublicKey;
                // Encoding an in-memory RSA key cannot fail except on
                // allocation; an empty id input would then be visible.
                k.to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .unwrap_or_default()
            }
            (_, KeyType::Ec(curve)) => {
                let point = self.sec1_point(form).unwrap_or_default();
                ec_spki_der(curve, &point)
            }
            (_, KeyType::Rsa(_)) => Vec::new(),
        }
    }

    /// The id under one convention; `None` where the convention does not
    /// apply (point forms for RSA, [`IdConvention::Spki`] for EC).
    pub fn id(&self, conv: IdConvention) -> Option<KeyId> {
        let is_ec = matches!(self.key_type(), KeyType::Ec(_));
        match (conv, is_ec) {
            (IdConvention::SpkiCompressed, true) => {
                Some(KeyId::sha256(&self.spki_der(PointForm::Compressed)))
            }
            (IdConvention::SpkiUncompressed, true) => {
                Some(KeyId::sha256(&self.spki_der(PointForm::Uncompressed)))
            }
            (IdConvention::V1, true) => {
                let p = self.sec1_point(PointForm::Compressed)?;
                Some(KeyId::sha256(crate::hex::encode_upper(&p).as_bytes()))
            }
            (IdConvention::Spki, false) => {
                Some(KeyId::sha256(&self.spki_der(PointForm::Compressed)))
            }
            _ => None,
        }
    }

    /// Every id of the key, under every convention that applies.
    pub fn ids(&self) -> Vec<(IdConvention, KeyId)> {
        [
            IdConvention::SpkiCompressed,
            IdConvention::SpkiUncompressed,
            IdConvention::V1,
            IdConvention::Spki,
        ]
        .into_iter()
        .filter_map(|c| self.id(c).map(|id| (c, id)))
        .collect()
    }

    /// The canonical id (compressed SPKI for EC, SPKI for RSA): what every
    /// correct Dovecot build writes.
    pub fn canonical_id(&self) -> KeyId {
        self.id(IdConvention::SpkiCompressed)
            .or_else(|| self.id(IdConvention::Spki))
            .unwrap_or(KeyId::new([0; 32]))
    }

    /// PEM SPKI (EC point in `form`).
    pub fn to_pem(&self, form: PointForm) -> String {
        pem_rfc7468::encode_string(
            "PUBLIC KEY",
            pem_rfc7468::LineEnding::LF,
            &self.spki_der(form),
        )
        .unwrap_or_default()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.key_type(), self.canonical_id())
    }
}

pub(crate) fn ec_spki_der(curve: Curve, point: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfo {
        algorithm: spki::AlgorithmIdentifier {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(curve.oid()),
        },
        subject_public_key: match BitStringRef::from_bytes(point) {
            Ok(b) => b,
            Err(_) => return Vec::new(),
        },
    };
    spki.to_der().unwrap_or_default()
}

pub(crate) enum PrivateKind {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    Rsa(Box<rsa::PrivateKey>),
}

/// A private key (EC P-256/384/521 or RSA). Zeroized on drop by the
/// underlying RustCrypto types.
pub struct PrivateKey {
    pub(crate) kind: PrivateKind,
    pub(crate) source_form: Option<PointForm>,
    public: PublicKey,
}

impl PrivateKey {
    pub(crate) fn new(kind: PrivateKind, source_form: Option<PointForm>) -> PrivateKey {
        let pk = match &kind {
            PrivateKind::P256(k) => PublicKind::P256(k.public_key()),
            PrivateKind::P384(k) => PublicKind::P384(k.public_key()),
            PrivateKind::P521(k) => PublicKind::P521(k.public_key()),
            PrivateKind::Rsa(k) => PublicKind::Rsa(Box::new(k.to_public_key())),
        };
        PrivateKey {
            kind,
            source_form,
            public: PublicKey {
                kind: pk,
                source_form,
            },
        }
    }

    /// Load a private key from bytes in any supported form: PEM PKCS#8
    /// (plain or password-encrypted), SEC1 `EC PRIVATE KEY`, PKCS#1
    /// `RSA PRIVATE KEY`, DER PKCS#8, or the base64 of any of these on one
    /// line (Dovecot's configuration form). `password` is needed for
    /// encrypted PKCS#8.
    pub fn from_bytes(data: &[u8], password: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
        load::private_from_bytes(data, password)
    }

    /// Generate a fresh EC key pair on `curve` with the OS random generator.
    pub fn generate_ec(curve: Curve) -> Result<PrivateKey, KeyError> {
        use elliptic_curve::Generate;
        let err = |e: getrandom::Error| KeyError::Invalid(format!("random generator failed: {e}"));
        let kind = match curve {
            Curve::P256 => PrivateKind::P256(p256::SecretKey::try_generate().map_err(err)?),
            Curve::P384 => PrivateKind::P384(p384::SecretKey::try_generate().map_err(err)?),
            Curve::P521 => PrivateKind::P521(p521::SecretKey::try_generate().map_err(err)?),
        };
        Ok(PrivateKey::new(kind, Some(PointForm::Uncompressed)))
    }

    /// The public half.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The key's type.
    pub fn key_type(&self) -> KeyType {
        self.public.key_type()
    }

    /// The point form of the file the key was loaded from.
    pub fn source_point_form(&self) -> Option<PointForm> {
        self.source_form
    }

    /// PKCS#8 DER of the private key (EC public point in `form`).
    pub fn to_pkcs8_der(&self, form: PointForm) -> Result<zeroize::Zeroizing<Vec<u8>>, KeyError> {
        load::private_to_pkcs8(self, form)
    }

    /// PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn to_pem(&self, form: PointForm) -> Result<zeroize::Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der(form)?;
        pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &der)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| KeyError::Invalid(e.to_string()))
    }
}

impl fmt::Debug for PrivateKey {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({}, {})",
            self.key_type(),
            self.public.canonical_id()
        )
    }
}
