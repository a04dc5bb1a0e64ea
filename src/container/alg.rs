//! Algorithm identifiers as they appear in a v2 header: a full DER OBJECT
//! IDENTIFIER (tag, short-form length, content), mapped to the names Dovecot
//! uses in `crypt_write_algorithm`.

use std::fmt;

use crate::error::FormatError;

/// A body cipher named in a v2 header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CipherAlg {
    /// `aes-128-gcm` (AEAD).
    Aes128Gcm,
    /// `aes-192-gcm` (AEAD).
    Aes192Gcm,
    /// `aes-256-gcm` (AEAD, Dovecot's default).
    Aes256Gcm,
    /// `aes-128-cbc` (HMAC mode).
    Aes128Cbc,
    /// `aes-192-cbc` (HMAC mode).
    Aes192Cbc,
    /// `aes-256-cbc` (HMAC mode).
    Aes256Cbc,
    /// `aes-256-ofb` (HMAC mode, stream mode without padding; Dovecot 2.4
    /// writes it with `crypt_write_algorithm = aes-256-ofb-<hash>`).
    Aes256Ofb,
    /// `aes-256-cfb` (CFB128, HMAC mode, stream mode without padding;
    /// Dovecot 2.4 writes it with `crypt_write_algorithm = aes-256-cfb-<hash>`).
    Aes256Cfb,
    /// `chacha20-poly1305` (Dovecot 2.4+, OID from RFC 8103).
    ChaCha20Poly1305,
    /// Any other OID (content bytes, without tag and length).
    Unknown(Vec<u8>),
}

/// A MAC/hash algorithm named in a v2 header. It selects the PBKDF2 PRF, the
/// key-check hash and (in HMAC mode) the body MAC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// `sha1`
    Sha1,
    /// `sha224`
    Sha224,
    /// `sha256` (Dovecot's default)
    Sha256,
    /// `sha384`
    Sha384,
    /// `sha512`
    Sha512,
    /// Any other OID (content bytes).
    Unknown(Vec<u8>),
}

const NIST_AES: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
const NIST_HASH: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02];
const CHACHA_OID: [u8; 11] = [
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x03, 0x12,
];
const SHA1_OID: [u8; 5] = [0x2b, 0x0e, 0x03, 0x02, 0x1a];

fn with_prefix(prefix: &[u8], last: u8) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.push(last);
    v
}

/// Wrap OID content bytes as DER (tag 0x06, short-form length).
pub(crate) fn oid_der(content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(content.len() + 2);
    v.push(0x06);
    // All OIDs written are far below 128 bytes; Unknown ones came from a
    // short-form DER encoding, so their content is < 128 bytes too.
    v.push(content.len() as u8);
    v.extend_from_slice(content);
    v
}

/// Split a DER OBJECT IDENTIFIER into its content bytes. Only short-form
/// lengths are valid: Dovecot's own reader mis-parses long forms and every
/// real OID is shorter than 128 bytes.
pub(crate) fn parse_oid_der(field: &'static str, der: &[u8]) -> Result<Vec<u8>, FormatError> {
    match der {
        [0x06, len, content @ ..] if *len < 0x80 && content.len() == *len as usize => {
            if content.is_empty() {
                Err(FormatError::malformed(field, "empty OBJECT IDENTIFIER"))
            } else {
                Ok(content.to_vec())
            }
        }
        [0x06, len, ..] if *len >= 0x80 => Err(FormatError::malformed(
            field,
            "OBJECT IDENTIFIER with a long-form length",
        )),
        [0x06, ..] => Err(FormatError::malformed(
            field,
            "OBJECT IDENTIFIER length does not match its field",
        )),
        _ => Err(FormatError::malformed(
            field,
            format!(
                "expected a DER OBJECT IDENTIFIER, got {}",
                crate::hex::encode(der)
            ),
        )),
    }
}

/// Dotted text of OID content bytes (for messages), or hex if undecodable.
pub(crate) fn oid_text(content: &[u8]) -> String {
    match der::asn1::ObjectIdentifier::from_bytes(content) {
        Ok(oid) => oid.to_string(),
        Err(_) => format!("(invalid OID {})", crate::hex::encode(content)),
    }
}

impl CipherAlg {
    /// Every cipher whose OID mailcrypt knows.
    pub const KNOWN: [CipherAlg; 9] = [
        CipherAlg::Aes128Gcm,
        CipherAlg::Aes192Gcm,
        CipherAlg::Aes256Gcm,
        CipherAlg::Aes128Cbc,
        CipherAlg::Aes192Cbc,
        CipherAlg::Aes256Cbc,
        CipherAlg::Aes256Ofb,
        CipherAlg::Aes256Cfb,
        CipherAlg::ChaCha20Poly1305,
    ];

    /// The OID content bytes.
    pub fn oid_content(&self) -> Vec<u8> {
        match self {
            CipherAlg::Aes128Gcm => with_prefix(&NIST_AES, 0x06),
            CipherAlg::Aes192Gcm => with_prefix(&NIST_AES, 0x1a),
            CipherAlg::Aes256Gcm => with_prefix(&NIST_AES, 0x2e),
            CipherAlg::Aes128Cbc => with_prefix(&NIST_AES, 0x02),
            CipherAlg::Aes192Cbc => with_prefix(&NIST_AES, 0x16),
            CipherAlg::Aes256Cbc => with_prefix(&NIST_AES, 0x2a),
            CipherAlg::Aes256Ofb => with_prefix(&NIST_AES, 0x2b),
            CipherAlg::Aes256Cfb => with_prefix(&NIST_AES, 0x2c),
            CipherAlg::ChaCha20Poly1305 => CHACHA_OID.to_vec(),
            CipherAlg::Unknown(c) => c.clone(),
        }
    }

    /// The full DER encoding as stored in the header.
    pub fn to_der(&self) -> Vec<u8> {
        oid_der(&self.oid_content())
    }

    /// Map OID content bytes to a cipher.
    pub fn from_oid_content(content: &[u8]) -> CipherAlg {
        Self::KNOWN
            .iter()
            .find(|c| c.oid_content() == content)
            .cloned()
            .unwrap_or_else(|| CipherAlg::Unknown(content.to_vec()))
    }

    /// Dovecot's (OpenSSL's) name, e.g. `aes-256-gcm`.
    pub fn name(&self) -> String {
        match self {
            CipherAlg::Aes128Gcm => "aes-128-gcm".into(),
            CipherAlg::Aes192Gcm => "aes-192-gcm".into(),
            CipherAlg::Aes256Gcm => "aes-256-gcm".into(),
            CipherAlg::Aes128Cbc => "aes-128-cbc".into(),
            CipherAlg::Aes192Cbc => "aes-192-cbc".into(),
            CipherAlg::Aes256Cbc => "aes-256-cbc".into(),
            CipherAlg::Aes256Ofb => "aes-256-ofb".into(),
            CipherAlg::Aes256Cfb => "aes-256-cfb".into(),
            CipherAlg::ChaCha20Poly1305 => "chacha20-poly1305".into(),
            CipherAlg::Unknown(c) => format!("unknown OID {}", oid_text(c)),
        }
    }

    /// Parse a Dovecot cipher name.
    pub fn from_name(name: &str) -> Option<CipherAlg> {
        Self::KNOWN
            .iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Key and IV (nonce) lengths in bytes, as OpenSSL defines them.
    pub fn key_iv_len(&self) -> Option<(usize, usize)> {
        Some(match self {
            CipherAlg::Aes128Gcm => (16, 12),
            CipherAlg::Aes192Gcm => (24, 12),
            CipherAlg::Aes256Gcm => (32, 12),
            CipherAlg::Aes128Cbc => (16, 16),
            CipherAlg::Aes192Cbc => (24, 16),
            CipherAlg::Aes256Cbc | CipherAlg::Aes256Ofb | CipherAlg::Aes256Cfb => (32, 16),
            CipherAlg::ChaCha20Poly1305 => (32, 12),
            CipherAlg::Unknown(_) => return None,
        })
    }

    /// Whether the cipher is an AEAD (tag appended to the body).
    pub fn is_aead(&self) -> bool {
        matches!(
            self,
            CipherAlg::Aes128Gcm
                | CipherAlg::Aes192Gcm
                | CipherAlg::Aes256Gcm
                | CipherAlg::ChaCha20Poly1305
        )
    }
}

impl fmt::Display for CipherAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl HashAlg {
    /// Every hash whose OID mailcrypt knows.
    pub const KNOWN: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// The OID content bytes.
    pub fn oid_content(&self) -> Vec<u8> {
        match self {
            HashAlg::Sha1 => SHA1_OID.to_vec(),
            HashAlg::Sha256 => with_prefix(&NIST_HASH, 0x01),
            HashAlg::Sha384 => with_prefix(&NIST_HASH, 0x02),
            HashAlg::Sha512 => with_prefix(&NIST_HASH, 0x03),
            HashAlg::Sha224 => with_prefix(&NIST_HASH, 0x04),
            HashAlg::Unknown(c) => c.clone(),
        }
    }

    /// The full DER encoding as stored in the header.
    pub fn to_der(&self) -> Vec<u8> {
        oid_der(&self.oid_content())
    }

    /// Map OID content bytes to a hash.
    pub fn from_oid_content(content: &[u8]) -> HashAlg {
        Self::KNOWN
            .iter()
            .find(|c| c.oid_content() == content)
            .cloned()
            .unwrap_or_else(|| HashAlg::Unknown(content.to_vec()))
    }

    /// Dovecot's name, e.g. `sha256`.
    pub fn name(&self) -> String {
        match self {
            HashAlg::Sha1 => "sha1".into(),
            HashAlg::Sha224 => "sha224".into(),
            HashAlg::Sha256 => "sha256".into(),
            HashAlg::Sha384 => "sha384".into(),
            HashAlg::Sha512 => "sha512".into(),
            HashAlg::Unknown(c) => format!("unknown OID {}", oid_text(c)),
        }
    }

    /// Parse a Dovecot hash name.
    pub fn from_name(name: &str) -> Option<HashAlg> {
        Self::KNOWN
            .iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Digest size in bytes, for known hashes.
    pub fn output_len(&self) -> Option<usize> {
        Some(match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
            HashAlg::Unknown(_) => return None,
        })
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_bytes_match_the_reference_table() {
        assert_eq!(
            crate::hex::encode(&CipherAlg::Aes256Gcm.to_der()),
            "060960864801650304012e"
        );
        assert_eq!(
            crate::hex::encode(&CipherAlg::ChaCha20Poly1305.to_der()),
            "060b2a864886f70d01091003".to_string() + "12"
        );
        assert_eq!(
            crate::hex::encode(&HashAlg::Sha256.to_der()),
            "0609608648016503040201"
        );
        assert_eq!(
            crate::hex::encode(&HashAlg::Sha1.to_der()),
            "06052b0e03021a"
        );
        assert_eq!(
            oid_text(&CipherAlg::Aes256Cbc.oid_content()),
            "2.16.840.1.101.3.4.1.42"
        );
        assert_eq!(
            oid_text(&CipherAlg::Aes128Gcm.oid_content()),
            "2.16.840.1.101.3.4.1.6"
        );
        assert_eq!(
            oid_text(&CipherAlg::Aes192Gcm.oid_content()),
            "2.16.840.1.101.3.4.1.26"
        );
        assert_eq!(
            oid_text(&CipherAlg::Aes128Cbc.oid_content()),
            "2.16.840.1.101.3.4.1.2"
        );
        assert_eq!(
            oid_text(&CipherAlg::Aes192Cbc.oid_content()),
            "2.16.840.1.101.3.4.1.22"
        );
        assert_eq!(
            oid_text(&HashAlg::Sha512.oid_content()),
            "2.16.840.1.101.3.4.2.3"
        );
        assert_eq!(
            oid_text(&HashAlg::Sha224.oid_content()),
            "2.16.840.1.101.3.4.2.4"
        );
    }

    #[test]
    fn names_round_trip() {
        for c in CipherAlg::KNOWN {
            assert_eq!(CipherAlg::from_name(&c.name()), Some(c.clone()));
            assert_eq!(CipherAlg::from_oid_content(&c.oid_content()), c);
        }
        for h in HashAlg::KNOWN {
            assert_eq!(HashAlg::from_name(&h.name()), Some(h.clone()));
            assert_eq!(HashAlg::from_oid_content(&h.oid_content()), h);
        }
    }

    #[test]
    fn oid_parsing_is_strict() {
        assert!(parse_oid_der("cipher", &[0x06, 0x01, 0x2a]).is_ok());
        assert!(parse_oid_der("cipher", &[0x06, 0x02, 0x2a]).is_err());
        assert!(parse_oid_der("cipher", &[0x06, 0x81, 0x01, 0x2a]).is_err());
        assert!(parse_oid_der("cipher", &[0x06, 0x00]).is_err());
        assert!(parse_oid_der("cipher", &[0x04, 0x01, 0x2a]).is_err());
        assert!(parse_oid_der("cipher", &[]).is_err());
    }
}
