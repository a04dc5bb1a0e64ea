//! Keys: types, loading from every form Dovecot uses, and key ids.
//!
//! ```
//! use mailcrypt::keys::{IdConvention, PrivateKey};
//! let pem = std::fs::read("vectors/dovecot/sample-v2.key.pem").unwrap();
//! let key = PrivateKey::from_bytes(&pem, None).unwrap();
//! let id = key.public_key().id(IdConvention::SpkiCompressed).unwrap();
//! assert_eq!(id.to_hex(), "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd");
//! ```

mod attributes;
mod dovecot;
mod ecdh;
mod encapsulation;
mod jwk;
mod load;
mod mlkem;
mod ring;

pub use crate::key_id::{IdConvention, KeyId};
pub use attributes::{
    AttributeFile, KeyRole, LoadReport, MAX_ATTRIBUTE_FILE_LEN, MAX_ATTRIBUTES,
    MAX_STORE_PRIVATE_KEYS, StoredKey, UserKeyStore,
};
pub use dovecot::{
    DovecotKeyCipher, DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind, DovecotKeyVersion,
    DovecotProtection, MAX_KEY_STRING_LEN,
};
pub(crate) use encapsulation::{Encapsulated, Scheme};
pub use jwk::{JwkMeta, JwkUse, MAX_JWK_LEN};
pub use load::MAX_KEY_FILE_LEN;
pub use mlkem::MlKemParams;
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
/// id-X25519 (RFC 8410).
pub(crate) const OID_X25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.110");
/// id-X448 (RFC 8410).
pub(crate) const OID_X448: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.111");

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
enum PublicKind {
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    P521(p521::PublicKey),
    Rsa(Box<rsa::PublicKey>),
    X25519([u8; 32]),
    X448(Box<[u8; 56]>),
    /// Raw FIPS 203 encapsulation key, checked on construction.
    MlKem(MlKemParams, Box<[u8]>),
}

/// A recipient public key (EC P-256/384/521, X25519, X448, ML-KEM or RSA).
///
/// It remembers the point form of the file it was loaded from, because
/// unpatched Dovecot 2.3 on OpenSSL 3 derives the key id from it.
#[derive(Clone)]
pub struct PublicKey {
    kind: PublicKind,
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
    /// X25519 (RFC 7748/8410; Dovecot 2.4 and later only).
    X25519,
    /// X448 (RFC 7748/8410; Dovecot 2.4 and later only).
    X448,
    /// ML-KEM (FIPS 203; only Dovecot's unreleased main branch).
    MlKem(MlKemParams),
}

impl KeyType {
    /// Whether this is an RFC 7748 Montgomery-curve key (X25519, X448):
    /// recipient type 2 like NIST EC, raw ephemeral keys, only Dovecot 2.4
    /// reads it.
    ///
    /// ```
    /// use mailcrypt::keys::{Curve, KeyType};
    /// assert!(KeyType::X448.is_x_curve());
    /// assert!(!KeyType::Ec(Curve::P256).is_x_curve());
    /// ```
    pub fn is_x_curve(self) -> bool {
        matches!(self, KeyType::X25519 | KeyType::X448)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyType::Ec(c) => write!(f, "EC {c}"),
            KeyType::Rsa(bits) => write!(f, "RSA-{bits}"),
            KeyType::X25519 => f.write_str("X25519"),
            KeyType::X448 => f.write_str("X448"),
            KeyType::MlKem(p) => write!(f, "{p}"),
        }
    }
}

impl PublicKey {
    /// Load a public key from PEM/DER/base64 text or bytes (SPKI, PKCS#1
    /// RSA public key, a Dovecot public key string, a JWK, or any private
    /// key form, whose public half is taken).
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
            PublicKind::X25519(_) => KeyType::X25519,
            PublicKind::X448(_) => KeyType::X448,
            PublicKind::MlKem(p, _) => KeyType::MlKem(*p),
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

    /// The raw RFC 7748 public value of an X25519 (32 bytes) or X448 (56
    /// bytes) key, as Dovecot writes it for ephemeral keys; `None` for
    /// other key types.
    ///
    /// ```
    /// use mailcrypt::keys::PublicKey;
    /// let pem = std::fs::read("vectors/x25519/keys/x25519/public.pem")?;
    /// let key = PublicKey::from_bytes(&pem)?;
    /// assert_eq!(key.raw_public_key().map(<[u8]>::len), Some(32));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn raw_public_key(&self) -> Option<&[u8]> {
        match &self.kind {
            PublicKind::X25519(k) => Some(k.as_slice()),
            PublicKind::X448(k) => Some(k.as_slice()),
            _ => None,
        }
    }

    /// The parameter set and raw FIPS 203 encapsulation key (800/1184/1568
    /// bytes) of an ML-KEM key; `None` for other key types.
    ///
    /// ```
    /// use mailcrypt::keys::{MlKemParams, PublicKey};
    /// let s = std::fs::read_to_string("vectors/dovecot/v2-mlkem512-public.dovecot")?;
    /// let key = PublicKey::from_dovecot_str(&s)?;
    /// let (params, ek) = key.ml_kem_public_key().unwrap();
    /// assert_eq!((params, ek.len()), (MlKemParams::MlKem512, 800));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ml_kem_public_key(&self) -> Option<(MlKemParams, &[u8])> {
        match &self.kind {
            PublicKind::MlKem(p, k) => Some((*p, k)),
            _ => None,
        }
    }

    /// SEC1 encoding of an EC key's point; `None` for RSA, X25519, X448
    /// and ML-KEM.
    pub fn sec1_point(&self, form: PointForm) -> Option<Vec<u8>> {
        let c = form == PointForm::Compressed;
        Some(match &self.kind {
            PublicKind::P256(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::P384(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::P521(k) => k.as_affine().to_sec1_point(c).as_bytes().to_vec(),
            PublicKind::Rsa(_)
            | PublicKind::X25519(_)
            | PublicKind::X448(_)
            | PublicKind::MlKem(..) => return None,
        })
    }

    /// DER SubjectPublicKeyInfo. `form` selects the EC point encoding and
    /// is ignored for RSA, X25519 and X448 (RFC 8410 SPKI, no parameters)
    /// and ML-KEM (FIPS 203 OID, no parameters, raw encapsulation key).
    #[allow(clippy::expect_used)]
    pub fn spki_der(&self, form: PointForm) -> Vec<u8> {
        match (&self.kind, self.key_type()) {
            (PublicKind::X25519(k), _) => x_spki_der(OID_X25519, k),
            (PublicKind::X448(k), _) => x_spki_der(OID_X448, k.as_slice()),
            (PublicKind::MlKem(p, k), _) => x_spki_der(p.oid(), k),
            (PublicKind::Rsa(k), _) => {
                use rsa::pkcs8::EncodePublicKey;
                k.to_public_key_der()
                    .map(|d| d.as_bytes().to_vec())
                    .expect("an in-memory RSA public key encodes as SPKI DER")
            }
            (_, KeyType::Ec(curve)) => {
                let point = self
                    .sec1_point(form)
                    .expect("an EC public key has a SEC1 point");
                ec_spki_der(curve, &point)
            }
            _ => unreachable!("P-256/384/521 keys have key type Ec, the others an arm above"),
        }
    }

    /// The id under one convention; `None` where the convention does not
    /// apply (point forms for RSA, X25519 and X448, [`IdConvention::Spki`]
    /// for EC). X25519/X448 keys have [`IdConvention::Spki`] (their v2 id)
    /// and the two v1 old-id forms [`IdConvention::V1`] (Dovecot 2.4's
    /// OpenSSL-3 backend: upper-case hex of the raw key) and
    /// [`IdConvention::V1Colons`] (its OpenSSL-1.1 backend: the same hex
    /// with `:` between bytes).
    pub fn id(&self, conv: IdConvention) -> Option<KeyId> {
        if let Some(raw) = self.raw_public_key() {
            return match conv {
                IdConvention::Spki => Some(KeyId::sha256(&self.spki_der(PointForm::Compressed))),
                IdConvention::V1 => Some(KeyId::sha256(crate::hex::encode_upper(raw).as_bytes())),
                IdConvention::V1Colons => {
                    let hex = crate::hex::encode_upper(raw);
                    let mut text = String::with_capacity(hex.len() * 3 / 2);
                    for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
                        if i > 0 {
                            text.push(':');
                        }
                        #[allow(clippy::expect_used)]
                        text.push_str(std::str::from_utf8(pair).expect("hex digits are ASCII"));
                    }
                    Some(KeyId::sha256(text.as_bytes()))
                }
                _ => None,
            };
        }
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
            IdConvention::V1Colons,
            IdConvention::Spki,
        ]
        .into_iter()
        .filter_map(|c| self.id(c).map(|id| (c, id)))
        .collect()
    }

    /// The canonical id (compressed SPKI for EC, SPKI for RSA, X25519,
    /// X448 and ML-KEM): what every correct Dovecot build writes.
    #[allow(clippy::expect_used)]
    pub fn canonical_id(&self) -> KeyId {
        self.id(IdConvention::SpkiCompressed)
            .or_else(|| self.id(IdConvention::Spki))
            .expect("every key has an SPKI id: compressed for EC, plain for the others")
    }

    /// PEM SPKI (EC point in `form`).
    #[allow(clippy::expect_used)]
    pub fn to_pem(&self, form: PointForm) -> String {
        pem_rfc7468::encode_string(
            "PUBLIC KEY",
            pem_rfc7468::LineEnding::LF,
            &self.spki_der(form),
        )
        .expect("a valid label and a public key's DER encode as PEM")
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, {})", self.key_type(), self.canonical_id())
    }
}

/// A big-endian integer without its leading zero bytes (empty for zero).
pub(crate) fn strip_leading_zeros(mut b: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = b {
        b = rest;
    }
    b
}

/// RFC 8410 SPKI: algorithm OID without parameters, raw key.
#[allow(clippy::expect_used)]
pub(crate) fn x_spki_der(oid: ObjectIdentifier, raw: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfo::<der::asn1::AnyRef<'_>, BitStringRef<'_>> {
        algorithm: spki::AlgorithmIdentifier {
            oid,
            parameters: None,
        },
        subject_public_key: BitStringRef::from_bytes(raw)
            .expect("a public key (at most a few KiB) fits a DER BIT STRING"),
    };
    spki.to_der()
        .expect("an SPKI of an OID and a public key encodes")
}

#[allow(clippy::expect_used)]
pub(crate) fn ec_spki_der(curve: Curve, point: &[u8]) -> Vec<u8> {
    let spki = spki::SubjectPublicKeyInfo {
        algorithm: spki::AlgorithmIdentifier {
            oid: OID_EC_PUBLIC_KEY,
            parameters: Some(curve.oid()),
        },
        subject_public_key: BitStringRef::from_bytes(point)
            .expect("a SEC1 point fits a DER BIT STRING"),
    };
    spki.to_der()
        .expect("an SPKI of a curve OID and a SEC1 point encodes")
}

enum PrivateKind {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    P521(p521::SecretKey),
    Rsa(Box<rsa::PrivateKey>),
    /// Raw RFC 7748 private bytes as stored (not clamped).
    X25519(zeroize::Zeroizing<[u8; 32]>),
    X448(zeroize::Zeroizing<[u8; 56]>),
    /// The expanded FIPS 203 decapsulation key (checked on construction),
    /// and the 64-byte seed it came from when known (generated keys, PKCS#8
    /// files with a seed).
    MlKem {
        params: MlKemParams,
        expanded: zeroize::Zeroizing<Vec<u8>>,
        seed: Option<zeroize::Zeroizing<[u8; 64]>>,
    },
}

/// A private key (EC P-256/384/521, X25519, X448, ML-KEM or RSA). Zeroized
/// on drop by the underlying RustCrypto types (X25519/X448 bytes and the
/// ML-KEM expanded key and seed by `Zeroizing`).
pub struct PrivateKey {
    kind: PrivateKind,
    pub(crate) source_form: Option<PointForm>,
    public: PublicKey,
}

impl PrivateKey {
    fn new(kind: PrivateKind, source_form: Option<PointForm>) -> PrivateKey {
        let pk = match &kind {
            PrivateKind::P256(k) => PublicKind::P256(k.public_key()),
            PrivateKind::P384(k) => PublicKind::P384(k.public_key()),
            PrivateKind::P521(k) => PublicKind::P521(k.public_key()),
            PrivateKind::Rsa(k) => PublicKind::Rsa(Box::new(k.to_public_key())),
            PrivateKind::X25519(k) => PublicKind::X25519(ecdh::x25519_public(k)),
            PrivateKind::X448(k) => PublicKind::X448(Box::new(ecdh::x448_public(k))),
            PrivateKind::MlKem {
                params, expanded, ..
            } => {
                #[allow(clippy::expect_used)]
                let ek = mlkem::public_of_expanded(*params, expanded).expect(
                    "an ML-KEM private key is built only from a checked expanded key, \
                     which holds its encapsulation key",
                );
                PublicKind::MlKem(*params, ek.into())
            }
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
    /// `RSA PRIVATE KEY`, DER PKCS#8, a Dovecot key string (`2:…`, `1\t…`;
    /// see [`PrivateKey::from_dovecot_str`]), a JWK, or the base64 of any of
    /// these on one line (Dovecot's configuration form). `password` is
    /// needed for encrypted PKCS#8 and password-protected Dovecot strings.
    /// Surrounding whitespace, including a trailing newline after a Dovecot
    /// key string (which Dovecot itself refuses), is ignored.
    pub fn from_bytes(data: &[u8], password: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
        load::private_from_bytes(data, password)
    }

    /// Generate a fresh EC key pair on `curve` with the OS random generator.
    pub fn generate_ec(curve: Curve) -> Result<PrivateKey, KeyError> {
        use elliptic_curve::Generate;
        let err = KeyError::random;
        let kind = match curve {
            Curve::P256 => PrivateKind::P256(p256::SecretKey::try_generate().map_err(err)?),
            Curve::P384 => PrivateKind::P384(p384::SecretKey::try_generate().map_err(err)?),
            Curve::P521 => PrivateKind::P521(p521::SecretKey::try_generate().map_err(err)?),
        };
        Ok(PrivateKey::new(kind, Some(PointForm::Uncompressed)))
    }

    /// Generate a fresh X25519 key pair with the OS random generator. Only
    /// Dovecot 2.4 and later read X25519 keys.
    ///
    /// ```
    /// use mailcrypt::keys::{KeyType, PrivateKey};
    /// let key = PrivateKey::generate_x25519()?;
    /// assert_eq!(key.key_type(), KeyType::X25519);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn generate_x25519() -> Result<PrivateKey, KeyError> {
        let mut k = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(k.as_mut_slice()).map_err(KeyError::random)?;
        Ok(PrivateKey::new(PrivateKind::X25519(k), None))
    }

    /// Generate a fresh X448 key pair with the OS random generator. Only
    /// Dovecot 2.4 and later read X448 keys.
    ///
    /// ```
    /// use mailcrypt::keys::{KeyType, PrivateKey};
    /// let key = PrivateKey::generate_x448()?;
    /// assert_eq!(key.key_type(), KeyType::X448);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn generate_x448() -> Result<PrivateKey, KeyError> {
        let mut k = zeroize::Zeroizing::new([0u8; 56]);
        getrandom::fill(k.as_mut_slice()).map_err(KeyError::random)?;
        Ok(PrivateKey::new(PrivateKind::X448(k), None))
    }

    /// Generate a fresh ML-KEM key pair (FIPS 203 `ML-KEM.KeyGen` from a
    /// 64-byte seed drawn from the OS random generator). Only Dovecot's
    /// unreleased main branch reads ML-KEM keys.
    ///
    /// ```
    /// use mailcrypt::keys::{KeyType, MlKemParams, PrivateKey};
    /// let key = PrivateKey::generate_ml_kem(MlKemParams::MlKem768)?;
    /// assert_eq!(key.key_type(), KeyType::MlKem(MlKemParams::MlKem768));
    /// assert_eq!(key.public_key().ml_kem_public_key().unwrap().1.len(), 1184);
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn generate_ml_kem(params: MlKemParams) -> Result<PrivateKey, KeyError> {
        let mut seed = zeroize::Zeroizing::new([0u8; mlkem::SEED_LEN]);
        getrandom::fill(seed.as_mut_slice()).map_err(KeyError::random)?;
        Self::ml_kem_from_seed(params, seed.as_slice())
    }

    /// An ML-KEM key from its 64-byte FIPS 203 seed `d ‖ z` (what OpenSSL
    /// keeps in PKCS#8 files). Deterministic: for fixed test keys.
    ///
    /// ```
    /// use mailcrypt::keys::{MlKemParams, PrivateKey};
    /// let a = PrivateKey::ml_kem_from_seed(MlKemParams::MlKem512, &[42; 64])?;
    /// let b = PrivateKey::ml_kem_from_seed(MlKemParams::MlKem512, &[42; 64])?;
    /// assert_eq!(a.public_key().canonical_id(), b.public_key().canonical_id());
    /// assert!(PrivateKey::ml_kem_from_seed(MlKemParams::MlKem512, &[42; 32]).is_err());
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn ml_kem_from_seed(params: MlKemParams, seed: &[u8]) -> Result<PrivateKey, KeyError> {
        let expanded = mlkem::expand_seed(params, seed)?;
        let mut s = zeroize::Zeroizing::new([0u8; mlkem::SEED_LEN]);
        s.as_mut_slice().copy_from_slice(
            seed.get(..mlkem::SEED_LEN)
                .ok_or_else(|| KeyError::Invalid("ML-KEM seed is not 64 bytes".into()))?,
        );
        Ok(PrivateKey::new(
            PrivateKind::MlKem {
                params,
                expanded,
                seed: Some(s),
            },
            None,
        ))
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

/// Dovecot key strings, JWK and key generation.
impl PublicKey {
    /// Load a public key from a Dovecot key string: v2 `2:SPKIHEX:id` or
    /// v1 `1 TAB nid TAB POINT TAB old_id`; the stored id is verified and
    /// may be the compressed- or uncompressed-point id. A private string
    /// gives its public half if it is not encrypted. One trailing newline
    /// is ignored (Dovecot itself refuses it).
    ///
    /// ```
    /// use mailcrypt::keys::PublicKey;
    /// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p521-public-compressed-A.dovecot")?;
    /// let key = PublicKey::from_dovecot_str(&s)?;
    /// assert_eq!(key.to_dovecot_string(), s.trim_end());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dovecot_str(s: &str) -> Result<PublicKey, KeyError> {
        dovecot::public_from_str(s)
    }

    /// The Dovecot v2 public key string `2:SPKIHEX:id`, EC point
    /// compressed, id of the compressed SPKI (what every correct Dovecot
    /// build writes and reads).
    ///
    /// ```
    /// use mailcrypt::keys::PublicKey;
    /// let pem = std::fs::read("vectors/dovecot/sample-v2.pub.pem")?;
    /// let s = PublicKey::from_bytes(&pem)?.to_dovecot_string();
    /// assert!(s.starts_with("2:3039301306072a8648ce3d0201"));
    /// assert!(s.ends_with(":ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_dovecot_string(&self) -> String {
        dovecot::public_to_string(self)
    }

    /// Load a public key from a JWK (EC P-256/384/521 or RSA; a private
    /// JWK gives its public half).
    ///
    /// ```
    /// use mailcrypt::keys::{PointForm, PublicKey};
    /// let json = std::fs::read_to_string("vectors/dovecot/jwk-ec-p256.in.json")?;
    /// let key = PublicKey::from_jwk(&json)?;
    /// let pem = std::fs::read_to_string("vectors/dovecot/jwk-ec-p256.public.pem")?;
    /// assert_eq!(key.to_pem(PointForm::Uncompressed), pem);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk(json: &str) -> Result<PublicKey, KeyError> {
        jwk::public_from_jwk(json.as_bytes()).map(|(k, _)| k)
    }

    /// Like [`PublicKey::from_jwk`], also returning `kid` and `use`.
    ///
    /// ```
    /// use mailcrypt::keys::{JwkUse, PublicKey};
    /// let json = std::fs::read_to_string("vectors/dovecot/jwk-rsa-2048.in.json")?;
    /// let (_, meta) = PublicKey::from_jwk_with_meta(&json)?;
    /// assert_eq!(meta.usage, Some(JwkUse::Sig));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk_with_meta(json: &str) -> Result<(PublicKey, JwkMeta), KeyError> {
        jwk::public_from_jwk(json.as_bytes())
    }

    /// The public key as a JWK, members in Dovecot's order.
    ///
    /// ```
    /// use mailcrypt::keys::{JwkMeta, PublicKey};
    /// let pem = std::fs::read("vectors/dovecot/jwk-ec-p256.public.pem")?;
    /// let jwk = PublicKey::from_bytes(&pem)?.to_jwk(&JwkMeta::default())?;
    /// assert_eq!(jwk, r#"{"kty":"EC","crv":"P-256","x":"Kp0Y4-Wpt-D9t_2XenFIj0LmvaZByLG69yOisek4aMI","y":"wjEPB5BhH5SRPw1cCN5grWrLCphrW19fCFR8p7c9O5o"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_jwk(&self, meta: &JwkMeta) -> Result<String, KeyError> {
        jwk::public_to_jwk(self, meta)
    }
}

/// Dovecot key strings, JWK and key generation.
impl PrivateKey {
    /// Load a private key from a Dovecot key string (v1 or v2; EC or RSA).
    /// `password` opens password-protected strings (for v1 strings it is
    /// hex-decoded first, as Dovecot does). Key-encrypted strings need
    /// [`PrivateKey::from_dovecot_str_with_key`]. The stored key id is
    /// verified; either EC point convention is accepted. One trailing
    /// newline is ignored (Dovecot itself refuses it).
    ///
    /// ```
    /// use mailcrypt::keys::PrivateKey;
    /// use mailcrypt::KeyError;
    /// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p256-private-password.dovecot")?;
    /// let key = PrivateKey::from_dovecot_str(&s, Some(b"This Is Sparta"))?;
    /// assert_eq!(key.public_key().canonical_id().to_hex(),
    ///            "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd");
    /// assert!(matches!(PrivateKey::from_dovecot_str(&s, Some(b"nope")), Err(KeyError::WrongPassword(_))));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dovecot_str(s: &str, password: Option<&[u8]>) -> Result<PrivateKey, KeyError> {
        dovecot::private_from_str(s, password, None)
    }

    /// Load a key-encrypted Dovecot key string (encryption type 1) with the
    /// private key it was encrypted to (EC: ECDH with the stored peer key;
    /// RSA: RSA-OAEP-SHA1). Fails with
    /// [`KeyError::DecryptionKeyRequired`] when `decryption_key` is not the
    /// key named in the string.
    ///
    /// ```
    /// use mailcrypt::keys::PrivateKey;
    /// let pem = std::fs::read("vectors/dovecot/sample-v2.key.pem")?;
    /// let own = PrivateKey::from_bytes(&pem, None)?;
    /// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p256-private-ecdh.dovecot")?;
    /// let key = PrivateKey::from_dovecot_str_with_key(&s, &own)?;
    /// assert_eq!(key.public_key().canonical_id(), own.public_key().canonical_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_dovecot_str_with_key(
        s: &str,
        decryption_key: &PrivateKey,
    ) -> Result<PrivateKey, KeyError> {
        dovecot::private_from_str(s, None, Some(decryption_key))
    }

    /// The Dovecot v2 private key string, protected as `protection` says:
    /// `2:ALGOID:0:KEYHEX:id` unencrypted,
    /// `2:ALGOID:2:aes-256-ctr:SALT:sha256:2048:ENC:id` with a password
    /// (16-byte random salt), `2:ALGOID:1:aes-256-ctr:SALT:sha256:2048:ENC:PEER:enc_id:id`
    /// encrypted to another key. The id is the compressed-SPKI id. The
    /// result holds key material (unencrypted) and is wiped on drop.
    ///
    /// ```
    /// use mailcrypt::keys::{DovecotProtection, PrivateKey};
    /// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p256-private-unencrypted.dovecot")?;
    /// let key = PrivateKey::from_dovecot_str(&s, None)?;
    /// assert_eq!(key.to_dovecot_string(DovecotProtection::None)?.as_str(), s.trim_end());
    /// let locked = key.to_dovecot_string(DovecotProtection::password(b"pw"))?;
    /// let again = PrivateKey::from_dovecot_str(&locked, Some(b"pw"))?;
    /// assert_eq!(again.to_dovecot_string(DovecotProtection::None)?.as_str(), s.trim_end());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_dovecot_string(
        &self,
        protection: DovecotProtection<'_>,
    ) -> Result<zeroize::Zeroizing<String>, KeyError> {
        match protection {
            DovecotProtection::None => {
                dovecot::private_to_string(self, None, DovecotKeyCipher::Aes256Ctr)
            }
            DovecotProtection::Password { password, cipher } => {
                dovecot::private_to_string(self, Some(password), cipher)
            }
            DovecotProtection::Key { key, cipher } => {
                dovecot::private_to_string_for_key(self, key, cipher).map(zeroize::Zeroizing::new)
            }
        }
    }

    /// Load a private key from a JWK (EC P-256/384/521 or RSA).
    ///
    /// ```
    /// use mailcrypt::keys::PrivateKey;
    /// let json = std::fs::read_to_string("vectors/dovecot/jwk-rsa-1024.in.json")?;
    /// let key = PrivateKey::from_jwk(&json)?;
    /// assert_eq!(key.key_type().to_string(), "RSA-1024");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk(json: &str) -> Result<PrivateKey, KeyError> {
        jwk::private_from_jwk(json.as_bytes()).map(|(k, _)| k)
    }

    /// Like [`PrivateKey::from_jwk`], also returning `kid` and `use`.
    ///
    /// ```
    /// use mailcrypt::keys::PrivateKey;
    /// let json = std::fs::read_to_string("vectors/dovecot/jwk-ec-p256.in.json")?;
    /// let (_, meta) = PrivateKey::from_jwk_with_meta(&json)?;
    /// assert_eq!(meta.kid.as_deref(), Some("123"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_jwk_with_meta(json: &str) -> Result<(PrivateKey, JwkMeta), KeyError> {
        jwk::private_from_jwk(json.as_bytes())
    }

    /// The private key as a JWK (members in Dovecot's order). The result
    /// holds key material and is wiped on drop.
    ///
    /// ```
    /// use mailcrypt::keys::{JwkMeta, PrivateKey};
    /// let json = std::fs::read_to_string("vectors/dovecot/jwk-rsa-1024.in.json")?;
    /// let (key, meta) = PrivateKey::from_jwk_with_meta(&json)?;
    /// let out = std::fs::read_to_string("vectors/dovecot/jwk-rsa-1024.out.json")?;
    /// assert_eq!(key.to_jwk(&meta)?.as_str(), out.trim_end());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_jwk(&self, meta: &JwkMeta) -> Result<zeroize::Zeroizing<String>, KeyError> {
        jwk::private_to_jwk(self, meta)
    }

    /// Password-encrypted PKCS#8 PEM (`BEGIN ENCRYPTED PRIVATE KEY`):
    /// PBES2 with PBKDF2-HMAC-SHA256 (600 000 rounds, 16-byte salt) and
    /// AES-256-CBC, which every OpenSSL (and so every Dovecot build) reads.
    /// EC public point embedded in `form`.
    ///
    /// ```
    /// use mailcrypt::keys::{PointForm, PrivateKey};
    /// let pem = std::fs::read("vectors/dovecot/sample-v2.key.pem")?;
    /// let key = PrivateKey::from_bytes(&pem, None)?;
    /// let locked = key.to_encrypted_pem(PointForm::Uncompressed, b"pw")?;
    /// assert!(locked.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    /// let back = PrivateKey::from_bytes(locked.as_bytes(), Some(b"pw"))?;
    /// assert_eq!(back.public_key().canonical_id(), key.public_key().canonical_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_encrypted_pem(
        &self,
        form: PointForm,
        password: &[u8],
    ) -> Result<zeroize::Zeroizing<String>, KeyError> {
        use der::Decode;
        let der = self.to_pkcs8_der(form)?;
        let pki = pkcs8::PrivateKeyInfoRef::from_der(&der)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let params = pkcs8::pkcs5::pbes2::Parameters::generate_pbkdf2(&mut getrandom::SysRng)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        let doc = pki
            .encrypt_with_params(params, password)
            .map_err(|e| KeyError::Invalid(format!("PKCS#8 encryption: {e}")))?;
        pem_rfc7468::encode_string(
            "ENCRYPTED PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            doc.as_bytes(),
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|e| KeyError::Invalid(e.to_string()))
    }

    /// Generate a fresh RSA key pair (public exponent 65537) with the OS
    /// random generator. `bits` must be 2048 to 8192 and a multiple of 8.
    /// Slow: seconds for 2048 bits, much longer for 4096 and above in
    /// unoptimised builds.
    ///
    /// ```
    /// use mailcrypt::keys::{KeyType, PrivateKey};
    /// let key = PrivateKey::generate_rsa(2048)?;
    /// assert_eq!(key.key_type(), KeyType::Rsa(2048));
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    pub fn generate_rsa(bits: usize) -> Result<PrivateKey, KeyError> {
        if !(2048..=8192).contains(&bits) || !bits.is_multiple_of(8) {
            return Err(KeyError::Unsupported(format!(
                "RSA key size {bits} (2048 to 8192 bits, a multiple of 8)"
            )));
        }
        let k = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
            .map_err(|e| KeyError::Invalid(format!("RSA key generation failed: {e}")))?;
        Ok(PrivateKey::new(PrivateKind::Rsa(Box::new(k)), None))
    }
}
