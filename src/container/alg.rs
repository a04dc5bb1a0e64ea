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
    /// `aes-128-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 2.16.840.1.101.3.4.1.3).
    Aes128Ofb,
    /// `aes-128-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 2.16.840.1.101.3.4.1.4).
    Aes128Cfb,
    /// `aes-192-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 2.16.840.1.101.3.4.1.23).
    Aes192Ofb,
    /// `aes-192-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 2.16.840.1.101.3.4.1.24).
    Aes192Cfb,
    /// `camellia-128-cbc` (HMAC mode; OID 1.2.392.200011.61.1.1.1.2).
    Camellia128Cbc,
    /// `camellia-128-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.3).
    Camellia128Ofb,
    /// `camellia-128-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.4).
    Camellia128Cfb,
    /// `camellia-128-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.9).
    Camellia128Ctr,
    /// `camellia-192-cbc` (HMAC mode; OID 1.2.392.200011.61.1.1.1.3).
    Camellia192Cbc,
    /// `camellia-192-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.23).
    Camellia192Ofb,
    /// `camellia-192-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.24).
    Camellia192Cfb,
    /// `camellia-192-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.29).
    Camellia192Ctr,
    /// `camellia-256-cbc` (HMAC mode; OID 1.2.392.200011.61.1.1.1.4).
    Camellia256Cbc,
    /// `camellia-256-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.43).
    Camellia256Ofb,
    /// `camellia-256-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.44).
    Camellia256Cfb,
    /// `camellia-256-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 0.3.4401.5.3.1.9.49).
    Camellia256Ctr,
    /// `aria-128-cbc` (HMAC mode; OID 1.2.410.200046.1.1.2).
    Aria128Cbc,
    /// `aria-128-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.3).
    Aria128Cfb,
    /// `aria-128-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.4).
    Aria128Ofb,
    /// `aria-128-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.5).
    Aria128Ctr,
    /// `aria-128-gcm` (AEAD, 12-byte IV, 16-byte tag; OID 1.2.410.200046.1.1.34).
    Aria128Gcm,
    /// `aria-192-cbc` (HMAC mode; OID 1.2.410.200046.1.1.7).
    Aria192Cbc,
    /// `aria-192-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.8).
    Aria192Cfb,
    /// `aria-192-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.9).
    Aria192Ofb,
    /// `aria-192-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.10).
    Aria192Ctr,
    /// `aria-192-gcm` (AEAD, 12-byte IV, 16-byte tag; OID 1.2.410.200046.1.1.35).
    Aria192Gcm,
    /// `aria-256-cbc` (HMAC mode; OID 1.2.410.200046.1.1.12).
    Aria256Cbc,
    /// `aria-256-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.13).
    Aria256Cfb,
    /// `aria-256-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.14).
    Aria256Ofb,
    /// `aria-256-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.410.200046.1.1.15).
    Aria256Ctr,
    /// `aria-256-gcm` (AEAD, 12-byte IV, 16-byte tag; OID 1.2.410.200046.1.1.36).
    Aria256Gcm,
    /// `sm4-cbc` (HMAC mode; OID 1.2.156.10197.1.104.2).
    Sm4Cbc,
    /// `sm4-ofb` (HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.156.10197.1.104.3).
    Sm4Ofb,
    /// `sm4-cfb` (CFB128, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.156.10197.1.104.4).
    Sm4Cfb,
    /// `sm4-ctr` (128-bit big-endian counter, HMAC mode, stream mode without padding; read only with `DecryptOptions::allow_ofb_cfb`; OID 1.2.156.10197.1.104.7).
    Sm4Ctr,
    /// `des-ede3-cbc` (HMAC mode; OID 1.2.840.113549.3.7).
    DesEde3Cbc,
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
    /// `md5` (read only: Dovecot accepts `<cipher>-md5` for
    /// `crypt_write_algorithm`; mailcrypt does not write it).
    Md5,
    /// Any other OID (content bytes).
    Unknown(Vec<u8>),
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
    /// The OID content bytes.
    pub fn oid_content(&self) -> Vec<u8> {
        match self {
            CipherAlg::Unknown(c) => c.clone(),
            known => known.row().oid.to_vec(),
        }
    }

    /// The full DER encoding as stored in the header.
    pub fn to_der(&self) -> Vec<u8> {
        oid_der(&self.oid_content())
    }

    /// Map OID content bytes to a cipher.
    pub fn from_oid_content(content: &[u8]) -> CipherAlg {
        SPECS
            .iter()
            .find(|s| s.oid == content)
            .map_or_else(|| CipherAlg::Unknown(content.to_vec()), |s| s.alg.clone())
    }

    /// Dovecot's (OpenSSL's) name, e.g. `aes-256-gcm`.
    pub fn name(&self) -> String {
        match self {
            CipherAlg::Unknown(c) => format!("unknown OID {}", oid_text(c)),
            known => known.row().name.into(),
        }
    }

    /// Parse a Dovecot cipher name.
    pub fn from_name(name: &str) -> Option<CipherAlg> {
        SPECS
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.alg.clone())
    }

    /// Key and IV (nonce) lengths in bytes, as OpenSSL defines them.
    pub fn key_iv_len(&self) -> Option<(usize, usize)> {
        self.spec().map(|s| (s.key_len, s.iv_len))
    }

    /// Whether the cipher is an AEAD (tag appended to the body).
    pub fn is_aead(&self) -> bool {
        self.spec().is_some_and(|s| s.mode.is_aead())
    }

    /// Whether the body is a stream mode of a block cipher in HMAC mode
    /// (OFB, CFB, CTR). Their OIDs sit one bit away from a CBC or another
    /// stream mode with the same key and IV length, and the header is not
    /// authenticated, so reading them is opt-in
    /// ([`crate::DecryptOptions::allow_ofb_cfb`]).
    pub fn is_hmac_stream_mode(&self) -> bool {
        self.spec()
            .is_some_and(|s| matches!(s.mode, Mode::Ofb | Mode::Cfb | Mode::Ctr))
    }

    /// The table row of a cipher other than [`CipherAlg::Unknown`].
    #[allow(clippy::expect_used)]
    fn row(&self) -> &'static Spec {
        self.spec()
            .expect("every CipherAlg but Unknown is a row of cipher_table!")
    }

    /// The table row of a known cipher (see [`SPECS`]); `None` for
    /// [`CipherAlg::Unknown`].
    pub(crate) fn spec(&self) -> Option<&'static Spec> {
        SPECS.iter().find(|s| s.alg == *self)
    }
}

/// The block cipher under a [`Spec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Aes128,
    Aes192,
    Aes256,
    Camellia128,
    Camellia192,
    Camellia256,
    Aria128,
    Aria192,
    Aria256,
    Sm4,
    TdesEde3,
    /// ChaCha20 (a stream cipher: only with Poly1305).
    ChaCha20,
}

/// The mode of a [`Spec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// PKCS#7-padded CBC, HMAC mode.
    Cbc,
    /// OFB, HMAC mode, no padding.
    Ofb,
    /// CFB128, HMAC mode, no padding.
    Cfb,
    /// CTR with a 128-bit big-endian counter (OpenSSL's), HMAC mode.
    Ctr,
    /// GCM, 12-byte IV, 16-byte tag.
    Gcm,
    /// ChaCha20-Poly1305 (RFC 8439), 12-byte nonce, 16-byte tag.
    ChaChaPoly,
}

impl Mode {
    /// Whether the mode authenticates the body itself (a tag follows it).
    pub(crate) fn is_aead(self) -> bool {
        matches!(self, Mode::Gcm | Mode::ChaChaPoly)
    }
}

/// One row of the cipher table: name, OID content bytes (as Dovecot /
/// OpenSSL 3 write them, see vectors/ciphers), key and IV length, block
/// cipher and mode.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) alg: CipherAlg,
    pub(crate) name: &'static str,
    pub(crate) oid: &'static [u8],
    pub(crate) key_len: usize,
    pub(crate) iv_len: usize,
    pub(crate) family: Family,
    pub(crate) mode: Mode,
}

/// The one cipher table: `SPECS` and `CipherAlg::KNOWN` are both generated
/// from it, and every `CipherAlg` lookup (OID, name, key and IV length,
/// AEAD or not) reads `SPECS`.
macro_rules! cipher_table {
    ($($alg:ident, $name:literal, [$($oid:literal),+], $key:literal, $iv:literal, $family:ident, $mode:ident;)+) => {
        #[rustfmt::skip]
        pub(crate) static SPECS: [Spec; [$(stringify!($alg)),+].len()] = [
            $(Spec {
                alg: CipherAlg::$alg,
                name: $name,
                oid: &[$($oid),+],
                key_len: $key,
                iv_len: $iv,
                family: Family::$family,
                mode: Mode::$mode,
            },)+
        ];

        impl CipherAlg {
            /// Every cipher whose OID mailcrypt knows, in table order.
            pub const KNOWN: [CipherAlg; [$(stringify!($alg)),+].len()] = [$(CipherAlg::$alg),+];
        }
    };
}

#[rustfmt::skip]
cipher_table! {
    Aes128Gcm, "aes-128-gcm", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x06], 16, 12, Aes128, Gcm;
    Aes192Gcm, "aes-192-gcm", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x1a], 24, 12, Aes192, Gcm;
    Aes256Gcm, "aes-256-gcm", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2e], 32, 12, Aes256, Gcm;
    Aes128Cbc, "aes-128-cbc", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02], 16, 16, Aes128, Cbc;
    Aes192Cbc, "aes-192-cbc", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16], 24, 16, Aes192, Cbc;
    Aes256Cbc, "aes-256-cbc", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a], 32, 16, Aes256, Cbc;
    Aes256Ofb, "aes-256-ofb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2b], 32, 16, Aes256, Ofb;
    Aes256Cfb, "aes-256-cfb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2c], 32, 16, Aes256, Cfb;
    ChaCha20Poly1305, "chacha20-poly1305", [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x03, 0x12], 32, 12, ChaCha20, ChaChaPoly;
    Aes128Ofb, "aes-128-ofb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x03], 16, 16, Aes128, Ofb;
    Aes128Cfb, "aes-128-cfb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x04], 16, 16, Aes128, Cfb;
    Aes192Ofb, "aes-192-ofb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x17], 24, 16, Aes192, Ofb;
    Aes192Cfb, "aes-192-cfb", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x18], 24, 16, Aes192, Cfb;
    Camellia128Cbc, "camellia-128-cbc", [0x2a, 0x83, 0x08, 0x8c, 0x9a, 0x4b, 0x3d, 0x01, 0x01, 0x01, 0x02], 16, 16, Camellia128, Cbc;
    Camellia128Ofb, "camellia-128-ofb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x03], 16, 16, Camellia128, Ofb;
    Camellia128Cfb, "camellia-128-cfb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x04], 16, 16, Camellia128, Cfb;
    Camellia128Ctr, "camellia-128-ctr", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x09], 16, 16, Camellia128, Ctr;
    Camellia192Cbc, "camellia-192-cbc", [0x2a, 0x83, 0x08, 0x8c, 0x9a, 0x4b, 0x3d, 0x01, 0x01, 0x01, 0x03], 24, 16, Camellia192, Cbc;
    Camellia192Ofb, "camellia-192-ofb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x17], 24, 16, Camellia192, Ofb;
    Camellia192Cfb, "camellia-192-cfb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x18], 24, 16, Camellia192, Cfb;
    Camellia192Ctr, "camellia-192-ctr", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x1d], 24, 16, Camellia192, Ctr;
    Camellia256Cbc, "camellia-256-cbc", [0x2a, 0x83, 0x08, 0x8c, 0x9a, 0x4b, 0x3d, 0x01, 0x01, 0x01, 0x04], 32, 16, Camellia256, Cbc;
    Camellia256Ofb, "camellia-256-ofb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x2b], 32, 16, Camellia256, Ofb;
    Camellia256Cfb, "camellia-256-cfb", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x2c], 32, 16, Camellia256, Cfb;
    Camellia256Ctr, "camellia-256-ctr", [0x03, 0xa2, 0x31, 0x05, 0x03, 0x01, 0x09, 0x31], 32, 16, Camellia256, Ctr;
    Aria128Cbc, "aria-128-cbc", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x02], 16, 16, Aria128, Cbc;
    Aria128Cfb, "aria-128-cfb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x03], 16, 16, Aria128, Cfb;
    Aria128Ofb, "aria-128-ofb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x04], 16, 16, Aria128, Ofb;
    Aria128Ctr, "aria-128-ctr", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x05], 16, 16, Aria128, Ctr;
    Aria128Gcm, "aria-128-gcm", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x22], 16, 12, Aria128, Gcm;
    Aria192Cbc, "aria-192-cbc", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x07], 24, 16, Aria192, Cbc;
    Aria192Cfb, "aria-192-cfb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x08], 24, 16, Aria192, Cfb;
    Aria192Ofb, "aria-192-ofb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x09], 24, 16, Aria192, Ofb;
    Aria192Ctr, "aria-192-ctr", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x0a], 24, 16, Aria192, Ctr;
    Aria192Gcm, "aria-192-gcm", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x23], 24, 12, Aria192, Gcm;
    Aria256Cbc, "aria-256-cbc", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x0c], 32, 16, Aria256, Cbc;
    Aria256Cfb, "aria-256-cfb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x0d], 32, 16, Aria256, Cfb;
    Aria256Ofb, "aria-256-ofb", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x0e], 32, 16, Aria256, Ofb;
    Aria256Ctr, "aria-256-ctr", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x0f], 32, 16, Aria256, Ctr;
    Aria256Gcm, "aria-256-gcm", [0x2a, 0x83, 0x1a, 0x8c, 0x9a, 0x6e, 0x01, 0x01, 0x24], 32, 12, Aria256, Gcm;
    Sm4Cbc, "sm4-cbc", [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x68, 0x02], 16, 16, Sm4, Cbc;
    Sm4Ofb, "sm4-ofb", [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x68, 0x03], 16, 16, Sm4, Ofb;
    Sm4Cfb, "sm4-cfb", [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x68, 0x04], 16, 16, Sm4, Cfb;
    Sm4Ctr, "sm4-ctr", [0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x68, 0x07], 16, 16, Sm4, Ctr;
    DesEde3Cbc, "des-ede3-cbc", [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07], 24, 8, TdesEde3, Cbc;
}

impl fmt::Display for CipherAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One row of the hash table: name, OID content bytes, digest length.
#[derive(Debug)]
pub(crate) struct HashSpec {
    pub(crate) alg: HashAlg,
    pub(crate) name: &'static str,
    pub(crate) oid: &'static [u8],
    pub(crate) output_len: usize,
}

/// The one hash table: `HASHES`, `HashAlg::KNOWN` and the primitive
/// [`Hash`] (with its mapping from `HashAlg`) are all generated from it,
/// and every `HashAlg` lookup reads `HASHES`.
macro_rules! hash_table {
    ($($alg:ident, $name:literal, [$($oid:literal),+], $len:literal;)+) => {
        pub(crate) static HASHES: [HashSpec; [$(stringify!($alg)),+].len()] = [
            $(HashSpec {
                alg: HashAlg::$alg,
                name: $name,
                oid: &[$($oid),+],
                output_len: $len,
            },)+
        ];

        impl HashAlg {
            /// Every hash whose OID mailcrypt knows, in table order.
            pub const KNOWN: [HashAlg; [$(stringify!($alg)),+].len()] = [$(HashAlg::$alg),+];
        }

        /// A hash mailcrypt computes: a known [`HashAlg`] without the
        /// `Unknown` case, so that the primitives (`primitives::hash`, which
        /// implements digest, PBKDF2, HMAC and the key check on it) need no
        /// fallback for a hash they cannot run.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Hash {
            $($alg,)+
        }

        impl Hash {
            /// The computable hash a header names; `None` for an unknown OID.
            pub(crate) fn from_alg(alg: &HashAlg) -> Option<Hash> {
                match alg {
                    $(HashAlg::$alg => Some(Hash::$alg),)+
                    HashAlg::Unknown(_) => None,
                }
            }

            /// Digest size in bytes.
            pub(crate) fn output_len(self) -> usize {
                match self {
                    $(Hash::$alg => $len,)+
                }
            }
        }
    };
}

#[rustfmt::skip]
hash_table! {
    Sha1, "sha1", [0x2b, 0x0e, 0x03, 0x02, 0x1a], 20;
    Sha224, "sha224", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04], 28;
    Sha256, "sha256", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01], 32;
    Sha384, "sha384", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02], 48;
    Sha512, "sha512", [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03], 64;
    // 1.2.840.113549.2.5
    Md5, "md5", [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05], 16;
}

impl HashAlg {
    /// The table row of a known hash; `None` for [`HashAlg::Unknown`].
    pub(crate) fn spec(&self) -> Option<&'static HashSpec> {
        HASHES.iter().find(|s| s.alg == *self)
    }

    /// The table row of a hash other than [`HashAlg::Unknown`].
    #[allow(clippy::expect_used)]
    fn row(&self) -> &'static HashSpec {
        self.spec()
            .expect("every HashAlg but Unknown is a row of hash_table!")
    }

    /// The OID content bytes.
    pub fn oid_content(&self) -> Vec<u8> {
        match self {
            HashAlg::Unknown(c) => c.clone(),
            known => known.row().oid.to_vec(),
        }
    }

    /// The full DER encoding as stored in the header.
    pub fn to_der(&self) -> Vec<u8> {
        oid_der(&self.oid_content())
    }

    /// Map OID content bytes to a hash.
    pub fn from_oid_content(content: &[u8]) -> HashAlg {
        HASHES
            .iter()
            .find(|s| s.oid == content)
            .map_or_else(|| HashAlg::Unknown(content.to_vec()), |s| s.alg.clone())
    }

    /// Dovecot's name, e.g. `sha256`.
    pub fn name(&self) -> String {
        match self {
            HashAlg::Unknown(c) => format!("unknown OID {}", oid_text(c)),
            known => known.row().name.into(),
        }
    }

    /// Parse a Dovecot hash name.
    pub fn from_name(name: &str) -> Option<HashAlg> {
        HASHES
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(name))
            .map(|s| s.alg.clone())
    }

    /// Digest size in bytes, for known hashes.
    pub fn output_len(&self) -> Option<usize> {
        self.spec().map(|s| s.output_len)
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

    /// The OIDs Dovecot 2.4.1 wrote for these `crypt_write_algorithm`
    /// names (vectors/ciphers), as dotted text.
    #[test]
    fn new_cipher_oids_match_dovecot_241() {
        for (name, oid) in [
            ("aes-128-ofb", "2.16.840.1.101.3.4.1.3"),
            ("aes-192-cfb", "2.16.840.1.101.3.4.1.24"),
            ("camellia-128-cbc", "1.2.392.200011.61.1.1.1.2"),
            ("camellia-256-cbc", "1.2.392.200011.61.1.1.1.4"),
            ("camellia-128-ofb", "0.3.4401.5.3.1.9.3"),
            ("camellia-192-cfb", "0.3.4401.5.3.1.9.24"),
            ("camellia-256-ctr", "0.3.4401.5.3.1.9.49"),
            ("aria-128-cbc", "1.2.410.200046.1.1.2"),
            ("aria-192-ctr", "1.2.410.200046.1.1.10"),
            ("aria-256-ofb", "1.2.410.200046.1.1.14"),
            ("aria-128-gcm", "1.2.410.200046.1.1.34"),
            ("aria-256-gcm", "1.2.410.200046.1.1.36"),
            ("sm4-cbc", "1.2.156.10197.1.104.2"),
            ("sm4-ctr", "1.2.156.10197.1.104.7"),
            ("des-ede3-cbc", "1.2.840.113549.3.7"),
        ] {
            let c = CipherAlg::from_name(name).unwrap();
            assert_eq!(oid_text(&c.oid_content()), oid, "{name}");
        }
        assert_eq!(oid_text(&HashAlg::Md5.oid_content()), "1.2.840.113549.2.5");
        // KNOWN and SPECS come from one table, in the same order.
        assert_eq!(SPECS.len(), CipherAlg::KNOWN.len());
        for (s, known) in SPECS.iter().zip(CipherAlg::KNOWN.iter()) {
            assert_eq!(&s.alg, known);
            assert_eq!(s.alg.name(), s.name);
            assert!(CipherAlg::KNOWN.contains(&s.alg), "{}", s.name);
            let aead = s.name.ends_with("-gcm") || s.name == "chacha20-poly1305";
            assert_eq!(s.alg.is_aead(), aead, "{}", s.name);
            assert_eq!(s.alg.is_aead(), s.mode.is_aead(), "{}", s.name);
        }
    }

    /// The hash table agrees with KNOWN row by row, and its digest lengths
    /// with what the hashes really output.
    #[test]
    fn the_hash_table_matches_known_and_the_digests() {
        assert_eq!(HASHES.len(), HashAlg::KNOWN.len());
        for s in &HASHES {
            let h = Hash::from_alg(&s.alg).expect("every row is computable");
            assert_eq!(h.output_len(), s.output_len);
        }
        assert_eq!(Hash::from_alg(&HashAlg::Unknown(vec![1])), None);
        for (s, known) in HASHES.iter().zip(HashAlg::KNOWN.iter()) {
            assert_eq!(&s.alg, known);
            let h = crate::primitives::hash::Hash::from_alg(&s.alg).unwrap();
            assert_eq!(h.digest(&[b"abc"]).len(), s.output_len, "{}", s.name);
            assert_eq!(h.output_len(), s.output_len, "{}", s.name);
        }
        assert_eq!(HashAlg::Unknown(vec![1]).output_len(), None);
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
