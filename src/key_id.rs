//! Key identifiers: the 32-byte SHA-256 ids Dovecot writes into headers, and
//! the conventions different builds use to compute them, and which
//! conventions may name which kind of recipient: the leaf every layer
//! that looks keys up (header parsing, errors, keys, decryption, stores)
//! shares. `KeyId` and `IdConvention` are also `mailcrypt::keys::*`,
//! `RecipientType` also `mailcrypt::container::RecipientType`.

use std::fmt;

use subtle::ConstantTimeEq;

/// A 32-byte key id. Compared in constant time.
#[derive(Clone, Copy, Eq)]
pub struct KeyId([u8; 32]);

impl KeyId {
    /// Wrap 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        KeyId(bytes)
    }

    /// From a slice of exactly 32 bytes.
    pub fn from_slice(s: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(s).ok().map(KeyId)
    }

    /// Parse 64 hex characters (either case).
    ///
    /// ```
    /// use mailcrypt::keys::KeyId;
    /// let id = KeyId::from_hex("ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd").unwrap();
    /// assert_eq!(id.to_string(), "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd");
    /// ```
    pub fn from_hex(s: &str) -> Option<Self> {
        crate::hex::decode(s.trim()).and_then(|v| Self::from_slice(&v))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex, as Dovecot writes ids in text.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }

    /// SHA-256 of `data` as an id.
    pub(crate) fn sha256(data: &[u8]) -> Self {
        use sha2::Digest;
        let d = sha2::Sha256::digest(data);
        let mut a = [0u8; 32];
        a.copy_from_slice(&d);
        KeyId(a)
    }
}

impl PartialEq for KeyId {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for KeyId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// How a key id was computed. Different Dovecot builds use different ones
/// for the same key (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdConvention {
    /// SHA-256 of the DER SPKI with the EC point compressed: what every
    /// correct build writes (OpenSSL 1.1, Debian-patched 2.3 on OpenSSL 3, 2.4).
    SpkiCompressed,
    /// SHA-256 of the DER SPKI with the EC point uncompressed: what
    /// unpatched Dovecot 2.3 on OpenSSL 3 writes for keys loaded from a
    /// usual (uncompressed-point) PEM file.
    SpkiUncompressed,
    /// Container v1 / Dovecot v1 key id: SHA-256 of the upper-case hex of
    /// the compressed point.
    V1,
    /// SHA-256 of the DER SPKI of a key without point forms (RSA, X25519,
    /// X448, ML-KEM).
    Spki,
    /// v1 old id of an X25519/X448 key as Dovecot 2.4's OpenSSL-1.1
    /// backend computes it: SHA-256 of the upper-case hex of the raw key
    /// with `:` between bytes (OpenSSL's `buf2hexstr`). Matched when
    /// reading; mailcrypt writes [`IdConvention::V1`].
    ///
    /// ```
    /// use mailcrypt::keys::{IdConvention, PrivateKey};
    /// let key = PrivateKey::generate_x25519()?;
    /// assert!(key.public_key().id(IdConvention::V1Colons).is_some());
    /// assert_eq!(IdConvention::V1Colons.name(), "v1-colons");
    /// # Ok::<(), mailcrypt::KeyError>(())
    /// ```
    V1Colons,
}

impl IdConvention {
    /// A stable short name (used in JSON output).
    pub fn name(self) -> &'static str {
        match self {
            IdConvention::SpkiCompressed => "spki-compressed",
            IdConvention::SpkiUncompressed => "spki-uncompressed",
            IdConvention::V1 => "v1",
            IdConvention::Spki => "spki",
            IdConvention::V1Colons => "v1-colons",
        }
    }
}

impl fmt::Display for IdConvention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Kind of recipient in a v2 header (the key type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecipientType {
    /// 0x01: RSA-OAEP wrapped session key.
    Rsa,
    /// 0x02: ECDH (NIST prime curves; X25519/X448 in Dovecot 2.4).
    Ec,
    /// 0x04: ML-KEM (Dovecot main).
    MlKem,
    /// Anything else.
    Other(u8),
}

impl RecipientType {
    /// The byte stored in the header.
    pub fn to_byte(self) -> u8 {
        match self {
            RecipientType::Rsa => 1,
            RecipientType::Ec => 2,
            RecipientType::MlKem => 4,
            RecipientType::Other(b) => b,
        }
    }

    /// Map a header byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => RecipientType::Rsa,
            2 => RecipientType::Ec,
            4 => RecipientType::MlKem,
            other => RecipientType::Other(other),
        }
    }
}

impl RecipientType {
    /// Whether a key id computed under `conv` can name a recipient of this
    /// type (the rule every key lookup applies): RSA and ML-KEM keys are
    /// named by their SPKI hash; EC keys (X25519/X448 included) by either
    /// point form of their SPKI, whichever one the writing build hashed.
    ///
    /// ```
    /// use mailcrypt::container::RecipientType;
    /// use mailcrypt::keys::IdConvention;
    /// assert!(RecipientType::Ec.accepts(IdConvention::SpkiUncompressed));
    /// assert!(!RecipientType::Rsa.accepts(IdConvention::V1));
    /// ```
    pub fn accepts(self, conv: IdConvention) -> bool {
        match self {
            RecipientType::Rsa | RecipientType::MlKem => conv == IdConvention::Spki,
            RecipientType::Ec => matches!(
                conv,
                IdConvention::SpkiCompressed | IdConvention::SpkiUncompressed | IdConvention::Spki
            ),
            RecipientType::Other(_) => false,
        }
    }
}

impl IdConvention {
    /// Whether a key id computed under this convention can name the
    /// recipient of a version-1 container (both v1 old-id forms).
    pub fn names_v1_recipient(self) -> bool {
        matches!(self, IdConvention::V1 | IdConvention::V1Colons)
    }
}
