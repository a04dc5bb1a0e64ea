//! Dovecot's own key strings (lib-dcrypt "DOVECOT" format).
//!
//! * **v1** (read-only, TAB-separated, EC prime curves only):
//!   `1 TAB nid TAB POINT TAB old_id` (public),
//!   `1 TAB nid TAB 0 TAB D TAB old_id` (private, clear),
//!   `1 TAB nid TAB 2 TAB ENC TAB SALT TAB old_id` (password),
//!   `1 TAB nid TAB 1 TAB ENC TAB R TAB enc_old_id TAB old_id` (by key).
//! * **v2** (colon-separated; a TAB is accepted wherever a colon is, as
//!   Dovecot's field splitter does): `2:SPKIHEX:id` (public),
//!   `2:ALGOID:0:KEYHEX:id`, `2:ALGOID:2:CIPHER:SALT:HASH:ROUNDS:ENC:id`,
//!   `2:ALGOID:1:CIPHER:SALT:HASH:ROUNDS:ENC:PEER:enc_id:id`.
//!
//! EC private keys are stored as OpenSSL MPIs (BE32 length, big-endian
//! magnitude, a leading zero byte when the top bit is set), RSA private keys
//! as DER PKCS#1 `RSAPrivateKey`.
//!
//! Reading is lenient where real Dovecot builds disagree: the stored key id
//! may be the compressed- or the uncompressed-point SPKI id (unpatched
//! Dovecot 2.3 on OpenSSL 3 writes the latter into private strings), salts
//! may have any length, MPIs any length, the peer key any SEC1 form, and one
//! trailing newline is ignored (Dovecot itself rejects it). Writing follows
//! the maximally readable form of the specification: colons, `aes-256-ctr`,
//! `sha256`, 2048 rounds, a 16-byte salt, compressed-SPKI ids.

use std::fmt;

use der::asn1::ObjectIdentifier;
use zeroize::Zeroizing;

use super::load::{ec_private_from_scalar, ec_public_from_sec1, public_from_spki};
use super::{
    Curve, Encapsulated, IdConvention, KeyId, MlKemParams, PointForm, PrivateKey, PrivateKind,
    PublicKey, Scheme,
};
use crate::error::KeyError;
use crate::primitives::hash::Hash;

pub use crate::limits::MAX_KEY_STRING_LEN;

/// Highest PBKDF2 round count accepted from a key string (Dovecot writes
/// 2048). Shared with the container reader: [`crate::MAX_ROUNDS`].
const MAX_KEY_ROUNDS: u32 = crate::limits::MAX_ROUNDS;

/// Rounds, hash and salt length mailcrypt writes (cipher: `DovecotKeyCipher`).
const WRITE_ROUNDS: u32 = 2048;
const WRITE_SALT_LEN: usize = 16;
const WRITE_HASH: &str = "sha256";

const OID_RSA_TEXT: &str = "1.2.840.113549.1.1.1";

/// Which generation of the Dovecot key format a string uses.
///
/// ```
/// use mailcrypt::keys::{DovecotKeyInfo, DovecotKeyVersion};
/// let s = std::fs::read_to_string("vectors/dovecot/v1-ec-p521-public-A.dovecot")?;
/// assert_eq!(DovecotKeyInfo::parse(&s)?.version, DovecotKeyVersion::V1);
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DovecotKeyVersion {
    /// `1\t…`: TAB-separated, EC only, old-style ids (read-only).
    V1,
    /// `2:…`: colon-separated, SPKI ids.
    V2,
}

/// Whether a key string holds a public or a private key.
///
/// ```
/// use mailcrypt::keys::{DovecotKeyInfo, DovecotKeyKind};
/// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p521-public-compressed-A.dovecot")?;
/// assert_eq!(DovecotKeyInfo::parse(&s)?.kind, DovecotKeyKind::Public);
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DovecotKeyKind {
    /// A public key.
    Public,
    /// A private key.
    Private,
}

/// How the private key in a key string is protected.
///
/// ```
/// use mailcrypt::keys::{DovecotKeyEncryption, DovecotKeyInfo};
/// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p256-private-ecdh.dovecot")?;
/// let info = DovecotKeyInfo::parse(&s)?;
/// assert_eq!(info.encryption, DovecotKeyEncryption::Key);
/// assert_eq!(info.encryption_key_id, Some(info.key_id)); // encrypted to itself
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DovecotKeyEncryption {
    /// Stored in clear (encryption type 0), or a public key.
    None,
    /// Encrypted to another key (encryption type 1).
    Key,
    /// Encrypted with a password (encryption type 2).
    Password,
}

/// What a Dovecot key string says about itself, without decoding the key
/// (Dovecot's `dcrypt_key_string_get_info`).
///
/// ```
/// use mailcrypt::keys::{DovecotKeyEncryption, DovecotKeyInfo, DovecotKeyKind};
/// let s = std::fs::read_to_string("vectors/dovecot/v2-ec-p256-private-password.dovecot")?;
/// let info = DovecotKeyInfo::parse(&s)?;
/// assert_eq!(info.kind, DovecotKeyKind::Private);
/// assert_eq!(info.encryption, DovecotKeyEncryption::Password);
/// assert_eq!(info.key_id.to_hex(), "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DovecotKeyInfo {
    /// Format generation.
    pub version: DovecotKeyVersion,
    /// Public or private.
    pub kind: DovecotKeyKind,
    /// Protection of the private key.
    pub encryption: DovecotKeyEncryption,
    /// The key's own id (last field): a new (SPKI) id for v2, an old id
    /// for v1.
    pub key_id: KeyId,
    /// For [`DovecotKeyEncryption::Key`]: the id of the encrypting key.
    pub encryption_key_id: Option<KeyId>,
}

impl DovecotKeyInfo {
    /// Classify a Dovecot key string (one trailing newline is ignored).
    /// Fails with [`KeyError::UnknownFormat`] for anything that is not a
    /// well-formed v1 or v2 key string.
    ///
    /// ```
    /// use mailcrypt::keys::DovecotKeyInfo;
    /// let err = DovecotKeyInfo::parse("1:716:0301:d0cf").unwrap_err();
    /// assert!(err.to_string().contains("Dovecot v1 key format uses tab"));
    /// ```
    pub fn parse(s: &str) -> Result<DovecotKeyInfo, KeyError> {
        split(strip_newline(s)?).map(|(info, _)| info)
    }
}

impl fmt::Display for DovecotKeyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Dovecot {} {} key, {}, id {}",
            match self.version {
                DovecotKeyVersion::V1 => "v1",
                DovecotKeyVersion::V2 => "v2",
            },
            match self.kind {
                DovecotKeyKind::Public => "public",
                DovecotKeyKind::Private => "private",
            },
            match self.encryption {
                DovecotKeyEncryption::None => "not encrypted",
                DovecotKeyEncryption::Key => "encrypted with a key",
                DovecotKeyEncryption::Password => "encrypted with a password",
            },
            self.key_id
        )?;
        if let Some(e) = &self.encryption_key_id {
            write!(f, " (encrypting key {e})")?;
        }
        Ok(())
    }
}

fn unknown(msg: impl Into<String>) -> KeyError {
    KeyError::UnknownFormat(msg.into())
}

fn corrupt(what: &str) -> KeyError {
    KeyError::Invalid(format!("Dovecot key string: corrupted data ({what})"))
}

/// Drop one trailing `\n` / `\r\n` (lenient: Dovecot refuses it), enforce
/// the size cap.
fn strip_newline(s: &str) -> Result<&str, KeyError> {
    if s.len() > MAX_KEY_STRING_LEN {
        return Err(KeyError::Invalid(format!(
            "Dovecot key string longer than {MAX_KEY_STRING_LEN} bytes"
        )));
    }
    let s = s.strip_suffix('\n').unwrap_or(s);
    Ok(s.strip_suffix('\r').unwrap_or(s))
}

fn parse_id(field: &str, what: &str) -> Result<KeyId, KeyError> {
    if field.len() != 64 {
        return Err(corrupt(&format!("{what} is not 64 hex digits")));
    }
    KeyId::from_hex(field).ok_or_else(|| corrupt(&format!("{what} is not hex")))
}

/// Split and classify, the way `dcrypt_key_string_get_info` does.
fn split(s: &str) -> Result<(DovecotKeyInfo, Vec<&str>), KeyError> {
    if s.starts_with("1:") {
        return Err(unknown("Dovecot v1 key format uses tab to separate fields"));
    }
    if s.starts_with("2\t") {
        return Err(unknown(
            "Dovecot v2 key format uses colon to separate fields",
        ));
    }
    let fields: Vec<&str> = s.split([':', '\t']).collect();
    let n = fields.len();
    if n < 2 {
        return Err(unknown("Unknown key format"));
    }
    let f2 = fields.get(2).copied();
    let (version, kind, encryption) = match fields.first().copied() {
        Some("1") => {
            let (kind, enc) = match (n, f2) {
                (4, _) => (DovecotKeyKind::Public, DovecotKeyEncryption::None),
                (5, Some("0")) => (DovecotKeyKind::Private, DovecotKeyEncryption::None),
                (6, Some("2")) => (DovecotKeyKind::Private, DovecotKeyEncryption::Password),
                (7, Some("1")) => (DovecotKeyKind::Private, DovecotKeyEncryption::Key),
                _ => {
                    return Err(unknown(format!("Invalid dovecot v1 encoding ({n} fields)")));
                }
            };
            (DovecotKeyVersion::V1, kind, enc)
        }
        Some("2") => {
            let (kind, enc) = match (n, f2) {
                (3, _) => (DovecotKeyKind::Public, DovecotKeyEncryption::None),
                (5, Some("0")) => (DovecotKeyKind::Private, DovecotKeyEncryption::None),
                (9, Some("2")) => (DovecotKeyKind::Private, DovecotKeyEncryption::Password),
                (11, Some("1")) => (DovecotKeyKind::Private, DovecotKeyEncryption::Key),
                _ => {
                    return Err(unknown(format!("Invalid dovecot v2 encoding ({n} fields)")));
                }
            };
            (DovecotKeyVersion::V2, kind, enc)
        }
        _ => return Err(unknown("Invalid dovecot key version")),
    };
    // Every encoding above has at least 3 fields: the key id is the last,
    // the encryption key id (when there is one) the one before.
    let key_id = parse_id(field(&fields, n - 1), "key id")?;
    let encryption_key_id = if encryption == DovecotKeyEncryption::Key {
        Some(parse_id(field(&fields, n - 2), "encryption key id")?)
    } else {
        None
    };
    Ok((
        DovecotKeyInfo {
            version,
            kind,
            encryption,
            key_id,
            encryption_key_id,
        },
        fields,
    ))
}

/// Field `i` of a key string whose field count was checked against its
/// encoding (so every index its parser asks for exists).
#[allow(clippy::expect_used)]
fn field<'a>(fields: &[&'a str], i: usize) -> &'a str {
    fields
        .get(i)
        .copied()
        .expect("the field count was checked against the encoding")
}

/// Strict hex (either case, even length) into a zeroizing buffer.
fn hex_secret(s: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return Err(corrupt(&format!("{what}: odd number of hex digits")));
    }
    crate::hex::decode_secret(b).ok_or_else(|| corrupt(&format!("{what}: not hex")))
}

/// OpenSSL `BN_hex2bn`: either case, odd length allowed, no sign accepted.
fn bn_hex(s: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 2 * 1024 {
        return Err(corrupt("private scalar"));
    }
    // An odd count of digits is right-aligned: a leading 0 makes it even.
    let mut even = Zeroizing::new(Vec::with_capacity(b.len() + 1));
    if b.len() % 2 == 1 {
        even.push(b'0');
    }
    even.extend_from_slice(b);
    crate::hex::decode_secret(&even).ok_or_else(|| corrupt("private scalar is not hex"))
}

/// Dovecot 2.3's `hex_to_binary` on a v1 password: decoding stops silently
/// at the first non-hex pair (so a non-hex password becomes a prefix, often
/// empty). Dovecot 2.4.4+ rejects such passwords; mailcrypt keeps 2.3's
/// result so keys made by either load.
fn v1_password(pw: &[u8]) -> Zeroizing<Vec<u8>> {
    let hex = pw
        .iter()
        .position(|c| !c.is_ascii_hexdigit())
        .unwrap_or(pw.len());
    // Whole pairs of hex digits before the first non-hex one.
    #[allow(clippy::expect_used)]
    let prefix = pw
        .get(..hex - hex % 2)
        .expect("hex <= pw.len() (a position in pw, or its length)");
    #[allow(clippy::expect_used)]
    crate::hex::decode_secret(prefix).expect("an even number of hex digits decodes")
}

/// The curve of an OpenSSL NID as written in v1 strings.
fn curve_of_nid(nid: &str) -> Result<Curve, KeyError> {
    match nid {
        "415" => Ok(Curve::P256),
        "715" => Ok(Curve::P384),
        "716" => Ok(Curve::P521),
        other => Err(KeyError::Unsupported(format!(
            "Dovecot v1 key on curve NID {other} (only 415 prime256v1, 715 secp384r1, 716 secp521r1)"
        ))),
    }
}

#[derive(Clone, Copy)]
enum Algo {
    Ec(Curve),
    Rsa,
    /// X25519 (`false`) or X448 (`true`): raw private bytes.
    X(bool),
    /// ML-KEM: the expanded FIPS 203 decapsulation key.
    MlKem(MlKemParams),
}

fn algo_of(oid_text: &str) -> Result<Algo, KeyError> {
    if oid_text == OID_RSA_TEXT {
        return Ok(Algo::Rsa);
    }
    match oid_text {
        "1.3.101.110" => return Ok(Algo::X(false)),
        "1.3.101.111" => return Ok(Algo::X(true)),
        _ => {}
    }
    let oid = ObjectIdentifier::new(oid_text)
        .map_err(|_| corrupt("key algorithm is not a dotted OID"))?;
    if let Some(p) = MlKemParams::from_oid(&oid) {
        return Ok(Algo::MlKem(p));
    }
    Curve::from_oid(&oid).map(Algo::Ec).ok_or_else(|| {
        KeyError::Unsupported(format!(
            "key algorithm {oid_text}; mailcrypt supports EC P-256, P-384, P-521, X25519, X448, ML-KEM-512/768/1024 and RSA"
        ))
    })
}

/// Ciphers Dovecot can name for key encryption. Released versions only
/// write `aes-256-ctr`; Dovecot's unreleased main branch also writes AEAD
/// ciphers with the tag appended and no AAD.
#[derive(Clone, Copy)]
enum KeyCipher {
    AesCtr(usize),
    AesGcm(usize),
    ChaCha20Poly1305,
}

impl KeyCipher {
    fn from_name(name: &str) -> Option<KeyCipher> {
        let n = name.to_ascii_lowercase();
        let n = n.strip_prefix("ecdh-").unwrap_or(&n);
        Some(match n {
            "aes-128-ctr" => KeyCipher::AesCtr(16),
            "aes-192-ctr" => KeyCipher::AesCtr(24),
            "aes-256-ctr" => KeyCipher::AesCtr(32),
            "aes-128-gcm" | "id-aes128-gcm" => KeyCipher::AesGcm(16),
            "aes-256-gcm" | "id-aes256-gcm" => KeyCipher::AesGcm(32),
            "chacha20-poly1305" => KeyCipher::ChaCha20Poly1305,
            _ => return None,
        })
    }

    /// (key length, IV length) as OpenSSL reports them.
    fn lengths(self) -> (usize, usize) {
        match self {
            KeyCipher::AesCtr(k) => (k, 16),
            KeyCipher::AesGcm(k) => (k, 12),
            KeyCipher::ChaCha20Poly1305 => (32, 12),
        }
    }

    /// Decrypt `data`; `None` when an AEAD tag does not verify.
    fn decrypt(self, key: &[u8], iv: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        use aes::cipher::{KeyIvInit, StreamCipher};
        let mut buf = Zeroizing::new(data.to_vec());
        match self {
            KeyCipher::AesCtr(16) => {
                ctr::Ctr128BE::<aes::Aes128>::new_from_slices(key, iv)
                    .ok()?
                    .apply_keystream(&mut buf);
            }
            KeyCipher::AesCtr(24) => {
                ctr::Ctr128BE::<aes::Aes192>::new_from_slices(key, iv)
                    .ok()?
                    .apply_keystream(&mut buf);
            }
            KeyCipher::AesCtr(_) => {
                ctr::Ctr128BE::<aes::Aes256>::new_from_slices(key, iv)
                    .ok()?
                    .apply_keystream(&mut buf);
            }
            KeyCipher::AesGcm(_) | KeyCipher::ChaCha20Poly1305 => {
                let split = buf.len().checked_sub(16)?;
                let (ct, tag) = buf.split_at_mut(split);
                let tag: &[u8] = tag;
                match self {
                    KeyCipher::AesGcm(16) => aead_open::<aes_gcm::Aes128Gcm>(key, iv, ct, tag),
                    KeyCipher::AesGcm(_) => aead_open::<aes_gcm::Aes256Gcm>(key, iv, ct, tag),
                    _ => aead_open::<chacha20poly1305::ChaCha20Poly1305>(key, iv, ct, tag),
                }?;
                buf.truncate(split);
            }
        }
        Some(buf)
    }
}

/// PBKDF2 → key ‖ IV → cipher, as `dcrypt_openssl_cipher_key_dovecot_v2`.
fn v2_decrypt(
    cipher: &str,
    secret: &[u8],
    salt: &[u8],
    hash: &str,
    rounds: &str,
    data: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
    let c = KeyCipher::from_name(cipher)
        .ok_or_else(|| KeyError::Unsupported(format!("key encryption cipher \"{cipher}\"")))?;
    let h = crate::container::HashAlg::from_name(hash)
        .as_ref()
        .and_then(Hash::from_alg)
        .ok_or_else(|| KeyError::Unsupported(format!("key encryption hash \"{hash}\"")))?;
    let rounds: u32 = rounds
        .parse()
        .map_err(|_| corrupt("PBKDF2 rounds are not a number"))?;
    if rounds == 0 || rounds > MAX_KEY_ROUNDS {
        return Err(corrupt(&format!(
            "PBKDF2 rounds {rounds} outside 1..={MAX_KEY_ROUNDS}"
        )));
    }
    let (kl, il) = c.lengths();
    let mut kd = Zeroizing::new(vec![0u8; kl + il]);
    h.pbkdf2(secret, salt, rounds, &mut kd);
    let (k, iv) = kd.split_at(kl);
    Ok(c.decrypt(k, iv, data))
}

/// Parse an OpenSSL MPI (`BN_mpi2bn`): BE32 length then that many bytes of
/// big-endian magnitude; the top bit of the first byte is the sign.
fn parse_mpi(data: &[u8]) -> Option<&[u8]> {
    let (len, rest) = data.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() != len {
        return None;
    }
    if rest.first().is_some_and(|b| b & 0x80 != 0) {
        return None; // negative
    }
    Some(rest)
}

/// OpenSSL MPI of a big-endian magnitude.
fn mpi(magnitude: &[u8]) -> Zeroizing<Vec<u8>> {
    let m = super::strip_leading_zeros(magnitude);
    let pad = m.first().is_some_and(|b| b & 0x80 != 0);
    let len = m.len() + usize::from(pad);
    let mut out = Zeroizing::new(Vec::with_capacity(4 + len));
    out.extend_from_slice(&u32::try_from(len).unwrap_or(0).to_be_bytes());
    if pad {
        out.push(0);
    }
    out.extend_from_slice(m);
    out
}

/// Whether `stored` is the id of `pk` under a v2 (SPKI) convention.
fn matches_v2_id(pk: &PublicKey, stored: &KeyId) -> bool {
    let mut found = false;
    for conv in [
        IdConvention::SpkiCompressed,
        IdConvention::SpkiUncompressed,
        IdConvention::Spki,
    ] {
        if let Some(id) = pk.id(conv) {
            // No early exit: compare every convention.
            found |= id == *stored;
        }
    }
    found
}

fn matches_any_id(pk: &PublicKey, stored: &KeyId) -> bool {
    let mut found = false;
    for (_, id) in pk.ids() {
        found |= id == *stored;
    }
    found
}

fn id_mismatch(stored: &KeyId, pk: &PublicKey) -> KeyError {
    KeyError::IdMismatch {
        stored: stored.to_hex(),
        computed: pk
            .ids()
            .iter()
            .map(|(c, id)| format!("{c} {id}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

// ---------------------------------------------------------------- loading

/// Load a private key from a Dovecot key string. `password` opens
/// password-protected strings, `dec_key` key-encrypted ones.
pub(crate) fn private_from_str(
    s: &str,
    password: Option<&[u8]>,
    dec_key: Option<&PrivateKey>,
) -> Result<PrivateKey, KeyError> {
    let (info, fields) = split(strip_newline(s)?)?;
    if info.kind == DovecotKeyKind::Public {
        return Err(KeyError::NotPrivate);
    }
    match info.version {
        DovecotKeyVersion::V1 => private_v1(&info, &fields, password, dec_key),
        DovecotKeyVersion::V2 => private_v2(&info, &fields, password, dec_key),
    }
}

fn check_dec_key<'k>(
    info: &DovecotKeyInfo,
    dec_key: Option<&'k PrivateKey>,
) -> Result<&'k PrivateKey, KeyError> {
    let want = info.encryption_key_id.unwrap_or(KeyId::new([0; 32]));
    match dec_key {
        Some(k) if matches_any_id(k.public_key(), &want) => Ok(k),
        _ => Err(KeyError::DecryptionKeyRequired { key_id: want }),
    }
}

fn private_v1(
    info: &DovecotKeyInfo,
    fields: &[&str],
    password: Option<&[u8]>,
    dec_key: Option<&PrivateKey>,
) -> Result<PrivateKey, KeyError> {
    let curve = curve_of_nid(field(fields, 1))?;
    let by_password = info.encryption == DovecotKeyEncryption::Password;
    let scalar = match info.encryption {
        DovecotKeyEncryption::None => bn_hex(field(fields, 3))?,
        DovecotKeyEncryption::Password => {
            let pw = v1_password(password.ok_or(KeyError::PasswordRequired)?);
            let mut data = hex_secret(field(fields, 3), "encrypted key")?;
            let salt = hex_secret(field(fields, 4), "salt")?;
            let mut k = Zeroizing::new([0u8; 32]);
            Hash::Sha256.pbkdf2(&pw, &salt, 16, k.as_mut_slice());
            crate::primitives::aes256::ctr_zero_iv(k.as_slice(), &mut data)
                .ok_or_else(|| corrupt("cipher"))?;
            data
        }
        DovecotKeyEncryption::Key => {
            let dk = check_dec_key(info, dec_key)?;
            let mut data = hex_secret(field(fields, 3), "encrypted key")?;
            let peer = hex_secret(field(fields, 4), "peer key")?;
            let secret = dk
                .decapsulate(&peer)
                .map_err(|e| KeyError::Invalid(format!("Dovecot v1 key string: {e}")))?;
            let k = Zeroizing::new(Hash::Sha256.digest(&[&secret]));
            crate::primitives::aes256::ctr_zero_iv(&k, &mut data)
                .ok_or_else(|| corrupt("cipher"))?;
            data
        }
    };
    let fail = |e: KeyError| -> KeyError {
        if by_password {
            KeyError::WrongPassword("the decrypted key is not valid".into())
        } else {
            e
        }
    };
    let key = ec_private_from_scalar(curve, &scalar, Some(PointForm::Compressed)).map_err(fail)?;
    let mine = key.public_key().id(IdConvention::V1);
    if mine.as_ref() != Some(&info.key_id) {
        if by_password {
            return Err(KeyError::WrongPassword(
                "the decrypted key does not match the stored key id".into(),
            ));
        }
        return Err(id_mismatch(&info.key_id, key.public_key()));
    }
    Ok(key)
}

fn private_v2(
    info: &DovecotKeyInfo,
    fields: &[&str],
    password: Option<&[u8]>,
    dec_key: Option<&PrivateKey>,
) -> Result<PrivateKey, KeyError> {
    let algo = algo_of(field(fields, 1))?;
    let by_password = info.encryption == DovecotKeyEncryption::Password;
    let plain = match info.encryption {
        DovecotKeyEncryption::None => hex_secret(field(fields, 3), "key data")?,
        DovecotKeyEncryption::Password => {
            let pw = password.ok_or(KeyError::PasswordRequired)?;
            let salt = hex_secret(field(fields, 4), "salt")?;
            let data = hex_secret(field(fields, 7), "encrypted key")?;
            v2_decrypt(
                field(fields, 3),
                pw,
                &salt,
                field(fields, 5),
                field(fields, 6),
                &data,
            )?
            .ok_or_else(|| {
                KeyError::WrongPassword("the authentication tag does not verify".into())
            })?
        }
        DovecotKeyEncryption::Key => {
            let dk = check_dec_key(info, dec_key)?;
            let salt = hex_secret(field(fields, 4), "salt")?;
            let data = hex_secret(field(fields, 7), "encrypted key")?;
            let peer = hex_secret(field(fields, 8), "peer key")?;
            // RSA keys carry the key secret by RSA-OAEP, the others by
            // agreement (ECDH or ML-KEM with PEER as the stored half).
            let secret = match dk.scheme() {
                Scheme::RsaOaep => dk.oaep_decrypt(&peer),
                Scheme::Ecdh | Scheme::MlKem => dk.decapsulate(&peer),
            }
            .map_err(|e| KeyError::Invalid(format!("Dovecot key string: {e}")))?;
            v2_decrypt(
                field(fields, 3),
                &secret,
                &salt,
                field(fields, 5),
                field(fields, 6),
                &data,
            )?
            .ok_or_else(|| {
                KeyError::Invalid(
                    "Dovecot key string: the authentication tag does not verify".into(),
                )
            })?
        }
    };
    let fail = |e: KeyError| -> KeyError {
        if by_password {
            KeyError::WrongPassword("the decrypted key is not valid".into())
        } else {
            e
        }
    };
    let key = match algo {
        Algo::Ec(curve) => {
            let scalar = parse_mpi(&plain).ok_or_else(|| fail(corrupt("EC private key MPI")))?;
            ec_private_from_scalar(curve, scalar, Some(PointForm::Compressed)).map_err(fail)?
        }
        Algo::Rsa => rsa_from_pkcs1(&plain).map_err(fail)?,
        Algo::X(x448) => super::load::x_private_from_raw(x448, &plain).map_err(fail)?,
        Algo::MlKem(p) => {
            super::load::ml_kem_private_from_expanded(p, &plain, None).map_err(fail)?
        }
    };
    if !matches_v2_id(key.public_key(), &info.key_id) {
        if by_password {
            return Err(KeyError::WrongPassword(
                "the decrypted key does not match the stored key id".into(),
            ));
        }
        return Err(id_mismatch(&info.key_id, key.public_key()));
    }
    Ok(key)
}

/// DER PKCS#1 `RSAPrivateKey`, with the modulus size checked before any
/// big-number arithmetic runs.
pub(crate) fn rsa_from_pkcs1(der: &[u8]) -> Result<PrivateKey, KeyError> {
    use der::Decode;
    let parsed = rsa::pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|e| KeyError::Invalid(format!("RSA private key: {e}")))?;
    let n_len = parsed.modulus.as_bytes().len();
    if !(128..=1024).contains(&n_len) {
        return Err(KeyError::Unsupported(format!(
            "RSA modulus of {} bits (1024 to 8192 supported)",
            n_len * 8
        )));
    }
    if parsed.private_exponent.as_bytes().is_empty()
        || parsed.prime1.as_bytes().is_empty()
        || parsed.prime2.as_bytes().is_empty()
    {
        return Err(KeyError::Invalid("RSA private key: zero component".into()));
    }
    let k = rsa::PrivateKey::try_from(parsed)
        .map_err(|e| KeyError::Invalid(format!("RSA private key: {e}")))?;
    Ok(PrivateKey::new(PrivateKind::Rsa(Box::new(k)), None))
}

/// Load a public key from a Dovecot key string (public strings only; see
/// [`PublicKey::from_dovecot_str`]).
pub(crate) fn public_from_str(s: &str) -> Result<PublicKey, KeyError> {
    let (info, fields) = split(strip_newline(s)?)?;
    if info.kind == DovecotKeyKind::Private {
        // The public half of a private string (decrypts nothing: fails
        // with PasswordRequired / DecryptionKeyRequired if protected).
        return private_from_str(s, None, None).map(|k| k.public_key().clone());
    }
    match info.version {
        DovecotKeyVersion::V1 => {
            let curve = curve_of_nid(field(&fields, 1))?;
            let point = hex_secret(field(&fields, 2), "public point")?;
            let pk =
                ec_public_from_sec1(curve, &point)?.with_source_point_form(PointForm::Compressed);
            if pk.id(IdConvention::V1).as_ref() != Some(&info.key_id) {
                return Err(id_mismatch(&info.key_id, &pk));
            }
            Ok(pk)
        }
        DovecotKeyVersion::V2 => {
            let spki = hex_secret(field(&fields, 1), "public key")?;
            let pk = public_from_spki(&spki)?;
            // Either point form's id: 2.4 stores uncompressed SPKI bytes
            // with the compressed id, unpatched 2.3 on OpenSSL 3 the
            // uncompressed id.
            if !matches_v2_id(&pk, &info.key_id) {
                return Err(id_mismatch(&info.key_id, &pk));
            }
            Ok(pk)
        }
    }
}

// ---------------------------------------------------------------- writing

fn random(buf: &mut [u8]) -> Result<(), KeyError> {
    getrandom::fill(buf).map_err(KeyError::random)
}

/// OID text and plaintext key bytes of a private key, as Dovecot stores it.
fn private_payload(key: &PrivateKey) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let scalar = |curve: Curve, bytes: Zeroizing<Vec<u8>>| (curve.oid().to_string(), mpi(&bytes));
    Ok(match &key.kind {
        PrivateKind::P256(k) => scalar(Curve::P256, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::P384(k) => scalar(Curve::P384, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::P521(k) => scalar(Curve::P521, Zeroizing::new(k.to_bytes().to_vec())),
        PrivateKind::X25519(k) => (super::OID_X25519.to_string(), Zeroizing::new(k.to_vec())),
        PrivateKind::X448(k) => (super::OID_X448.to_string(), Zeroizing::new(k.to_vec())),
        PrivateKind::MlKem {
            params, expanded, ..
        } => (params.oid().to_string(), Zeroizing::new(expanded.to_vec())),
        PrivateKind::Rsa(k) => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let doc = k
                .to_pkcs1_der()
                .map_err(|e| KeyError::Invalid(format!("RSA private key encoding: {e}")))?;
            (
                OID_RSA_TEXT.to_string(),
                Zeroizing::new(doc.as_bytes().to_vec()),
            )
        }
    })
}

/// The cipher that protects a private key in a Dovecot v2 key string.
///
/// Every released Dovecot writes and reads only `aes-256-ctr`. Dovecot's
/// unreleased main branch (commit 11e43b49aa) also writes AEAD ciphers:
/// `ENC = ciphertext ‖ 16-byte tag`, key and nonce from the first
/// `Lk + Li` PBKDF2 bytes and **no associated data** (Dovecot derives 16
/// more bytes meant as AAD but registers them only after the cipher was
/// initialised, when they are no longer fed in). mailcrypt writes exactly
/// that; it reads all three.
///
/// ```
/// use mailcrypt::keys::{Curve, DovecotKeyCipher, DovecotProtection, PrivateKey};
/// let key = PrivateKey::generate_ec(Curve::P256)?;
/// let s = key.to_dovecot_string(DovecotProtection::password(b"pw").cipher(DovecotKeyCipher::Aes256Gcm))?;
/// assert!(s.contains(":2:aes-256-gcm:"));
/// let back = PrivateKey::from_dovecot_str(&s, Some(b"pw"))?;
/// assert_eq!(back.public_key().canonical_id(), key.public_key().canonical_id());
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DovecotKeyCipher {
    /// `aes-256-ctr`: what every Dovecot writes and reads (the default).
    #[default]
    Aes256Ctr,
    /// `aes-256-gcm`, tag appended, no AAD: Dovecot main only.
    Aes256Gcm,
    /// `chacha20-poly1305`, tag appended, no AAD: Dovecot main only.
    ChaCha20Poly1305,
}

impl DovecotKeyCipher {
    /// The name stored in the key string.
    pub fn name(self) -> &'static str {
        match self {
            DovecotKeyCipher::Aes256Ctr => "aes-256-ctr",
            DovecotKeyCipher::Aes256Gcm => "aes-256-gcm",
            DovecotKeyCipher::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }

    /// Parse a name as [`DovecotKeyCipher::name`] gives it (any case).
    pub fn from_name(s: &str) -> Option<DovecotKeyCipher> {
        [
            DovecotKeyCipher::Aes256Ctr,
            DovecotKeyCipher::Aes256Gcm,
            DovecotKeyCipher::ChaCha20Poly1305,
        ]
        .into_iter()
        .find(|c| c.name().eq_ignore_ascii_case(s))
    }

    fn key_cipher(self) -> KeyCipher {
        match self {
            DovecotKeyCipher::Aes256Ctr => KeyCipher::AesCtr(32),
            DovecotKeyCipher::Aes256Gcm => KeyCipher::AesGcm(32),
            DovecotKeyCipher::ChaCha20Poly1305 => KeyCipher::ChaCha20Poly1305,
        }
    }
}

/// How [`PrivateKey::to_dovecot_string`] protects the key string: the
/// three encryption types of a Dovecot v2 private key string.
///
/// ```
/// use mailcrypt::keys::{Curve, DovecotKeyCipher, DovecotProtection, PrivateKey};
/// let user = PrivateKey::generate_ec(Curve::P256)?;
/// let key = PrivateKey::generate_ec(Curve::P256)?;
/// let plain = key.to_dovecot_string(DovecotProtection::None)?;
/// assert!(plain.starts_with("2:1.2.840.10045.3.1.7:0:"));
/// let locked = key.to_dovecot_string(DovecotProtection::password(b"pw"))?;
/// assert!(locked.contains(":2:aes-256-ctr:"));
/// let gcm = DovecotProtection::password(b"pw").cipher(DovecotKeyCipher::Aes256Gcm);
/// assert!(key.to_dovecot_string(gcm)?.contains(":2:aes-256-gcm:"));
/// let folder = key.to_dovecot_string(DovecotProtection::key(user.public_key()))?;
/// assert!(folder.contains(":1:aes-256-ctr:"));
/// # Ok::<(), mailcrypt::KeyError>(())
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum DovecotProtection<'a> {
    /// Not encrypted (encryption type 0).
    None,
    /// Encrypted with a password (type 2): PBKDF2-SHA256 with a 16-byte
    /// random salt, then `cipher`.
    Password {
        /// The password.
        password: &'a [u8],
        /// The cipher (`aes-256-ctr`, what every Dovecot reads, unless
        /// chosen otherwise).
        cipher: DovecotKeyCipher,
    },
    /// Encrypted to another key (type 1), as mail-crypt stores folder keys
    /// under the user key: ECDH with a fresh ephemeral key (or ML-KEM, or
    /// RSA-OAEP of a random secret), then `cipher`.
    Key {
        /// The key it is encrypted to.
        key: &'a PublicKey,
        /// The cipher, as for [`DovecotProtection::Password`].
        cipher: DovecotKeyCipher,
    },
}

impl<'a> DovecotProtection<'a> {
    /// Encrypted with `password` and `aes-256-ctr`.
    pub fn password(password: &'a [u8]) -> Self {
        DovecotProtection::Password {
            password,
            cipher: DovecotKeyCipher::Aes256Ctr,
        }
    }

    /// Encrypted to `key` with `aes-256-ctr`.
    pub fn key(key: &'a PublicKey) -> Self {
        DovecotProtection::Key {
            key,
            cipher: DovecotKeyCipher::Aes256Ctr,
        }
    }

    /// The same protection with `cipher` (no effect on
    /// [`DovecotProtection::None`]). The AEAD ciphers are read only by
    /// Dovecot's unreleased main branch (see [`DovecotKeyCipher`]).
    pub fn cipher(self, cipher: DovecotKeyCipher) -> Self {
        match self {
            DovecotProtection::None => DovecotProtection::None,
            DovecotProtection::Password { password, .. } => {
                DovecotProtection::Password { password, cipher }
            }
            DovecotProtection::Key { key, .. } => DovecotProtection::Key { key, cipher },
        }
    }
}

/// `None` is [`DovecotProtection::None`], `Some(password)`
/// [`DovecotProtection::password`]: for a password that may or may not be
/// given.
impl<'a> From<Option<&'a [u8]>> for DovecotProtection<'a> {
    fn from(password: Option<&'a [u8]>) -> Self {
        password.map_or(DovecotProtection::None, DovecotProtection::password)
    }
}

impl fmt::Display for DovecotKeyCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Dovecot key-string AEAD: empty AAD, tag after the ciphertext. Decrypts
/// `ct` in place; `None` on a bad key/IV length or tag.
fn aead_open<A: aes_gcm::aead::AeadInOut + aes_gcm::aead::KeyInit>(
    key: &[u8],
    iv: &[u8],
    ct: &mut [u8],
    tag: &[u8],
) -> Option<()> {
    A::new_from_slice(key)
        .ok()?
        .decrypt_inout_detached(iv.try_into().ok()?, &[], ct.into(), tag.try_into().ok()?)
        .ok()
}

/// The writing side of [`aead_open`]: encrypts `buf` in place and returns
/// the tag.
fn aead_seal<A: aes_gcm::aead::AeadInOut + aes_gcm::aead::KeyInit>(
    key: &[u8],
    iv: &[u8],
    buf: &mut [u8],
) -> Option<Vec<u8>> {
    A::new_from_slice(key)
        .ok()?
        .encrypt_inout_detached(iv.try_into().ok()?, &[], buf.into())
        .ok()
        .map(|t| t.to_vec())
}

/// Encrypt `plain` the way the writer does: PBKDF2-SHA256(secret, salt,
/// 2048) → key ‖ IV → `cipher` (AEAD: tag appended, empty AAD, as Dovecot
/// main effectively does).
fn v2_encrypt(
    cipher: DovecotKeyCipher,
    secret: &[u8],
    salt: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, KeyError> {
    use aes::cipher::{KeyIvInit, StreamCipher};
    let (kl, il) = cipher.key_cipher().lengths();
    let mut kd = Zeroizing::new(vec![0u8; kl + il]);
    Hash::Sha256.pbkdf2(secret, salt, WRITE_ROUNDS, &mut kd);
    let (k, iv) = kd.split_at(kl);
    let mut buf = Zeroizing::new(plain.to_vec());
    let tag: Vec<u8> = match cipher {
        DovecotKeyCipher::Aes256Ctr => ctr::Ctr128BE::<aes::Aes256>::new_from_slices(k, iv)
            .ok()
            .map(|mut c| {
                c.apply_keystream(&mut buf);
                Vec::new()
            }),
        DovecotKeyCipher::Aes256Gcm => aead_seal::<aes_gcm::Aes256Gcm>(k, iv, &mut buf),
        DovecotKeyCipher::ChaCha20Poly1305 => {
            aead_seal::<chacha20poly1305::ChaCha20Poly1305>(k, iv, &mut buf)
        }
    }
    .ok_or_else(|| corrupt("cipher"))?;
    let mut out = buf.to_vec();
    out.extend_from_slice(&tag);
    Ok(out)
}

/// `2:ALGOID:0:KEYHEX:id` or, with a password,
/// `2:ALGOID:2:aes-256-ctr:SALT:sha256:2048:ENC:id`.
pub(crate) fn private_to_string(
    key: &PrivateKey,
    password: Option<&[u8]>,
    cipher: DovecotKeyCipher,
) -> Result<Zeroizing<String>, KeyError> {
    let (oid, plain) = private_payload(key)?;
    let id = key.public_key().canonical_id();
    let mut out = Zeroizing::new(String::with_capacity(plain.len() * 2 + 200));
    out.push_str("2:");
    out.push_str(&oid);
    match password {
        None => {
            out.push_str(":0:");
            crate::hex::push_secret(&mut out, &plain);
        }
        Some(pw) => {
            let mut salt = [0u8; WRITE_SALT_LEN];
            random(&mut salt)?;
            let enc = v2_encrypt(cipher, pw, &salt, &plain)?;
            out.push_str(":2:");
            out.push_str(cipher.name());
            out.push(':');
            crate::hex::push_secret(&mut out, &salt);
            out.push(':');
            out.push_str(WRITE_HASH);
            out.push(':');
            out.push_str(&WRITE_ROUNDS.to_string());
            out.push(':');
            crate::hex::push_secret(&mut out, &enc);
        }
    }
    out.push(':');
    out.push_str(&id.to_hex());
    Ok(out)
}

/// `2:ALGOID:1:aes-256-ctr:SALT:sha256:2048:ENC:PEER:enc_id:id`, encrypted
/// to `enc_key` (ECDH with a fresh ephemeral key, PEER uncompressed; or
/// RSA-OAEP-SHA1 of a 16-byte random secret).
pub(crate) fn private_to_string_for_key(
    key: &PrivateKey,
    enc_key: &PublicKey,
    cipher: DovecotKeyCipher,
) -> Result<String, KeyError> {
    let (oid, plain) = private_payload(key)?;
    let (peer, secret): (Vec<u8>, Zeroizing<Vec<u8>>) = match enc_key.scheme() {
        Scheme::RsaOaep => {
            let mut secret = Zeroizing::new(vec![0u8; 16]);
            random(&mut secret)?;
            (enc_key.oaep_encrypt(&secret)?, secret)
        }
        Scheme::Ecdh | Scheme::MlKem => {
            let Encapsulated { stored, secret } = enc_key.encapsulate(PointForm::Uncompressed)?;
            (stored, secret)
        }
    };
    let mut salt = [0u8; WRITE_SALT_LEN];
    random(&mut salt)?;
    let enc = v2_encrypt(cipher, &secret, &salt, &plain)?;
    let mut out = String::with_capacity(enc.len() * 2 + peer.len() * 2 + 300);
    out.push_str("2:");
    out.push_str(&oid);
    out.push_str(":1:");
    out.push_str(cipher.name());
    out.push(':');
    crate::hex::push_secret(&mut out, &salt);
    out.push(':');
    out.push_str(WRITE_HASH);
    out.push(':');
    out.push_str(&WRITE_ROUNDS.to_string());
    out.push(':');
    crate::hex::push_secret(&mut out, &enc);
    out.push(':');
    crate::hex::push_secret(&mut out, &peer);
    out.push(':');
    out.push_str(&enc_key.canonical_id().to_hex());
    out.push(':');
    out.push_str(&key.public_key().canonical_id().to_hex());
    Ok(out)
}

/// `2:SPKIHEX:id` with the compressed point (what every correct build
/// writes, and what `raw-ec-p256-public.expected.dovecot` holds).
pub(crate) fn public_to_string(key: &PublicKey) -> String {
    let spki = key.spki_der(PointForm::Compressed);
    let mut out = String::with_capacity(spki.len() * 2 + 70);
    out.push_str("2:");
    crate::hex::push_secret(&mut out, &spki);
    out.push(':');
    out.push_str(&key.canonical_id().to_hex());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpi_round_trip() {
        // From the spec §4.3: P-256 key b6e4… → 00000021 00 b6e4…
        let m = mpi(&[0xb6, 0xe4]);
        assert_eq!(m.as_slice(), &[0, 0, 0, 3, 0, 0xb6, 0xe4]);
        assert_eq!(parse_mpi(&m), Some(&[0u8, 0xb6, 0xe4][..]));
        let m = mpi(&[0, 0x16, 0x9e]);
        assert_eq!(m.as_slice(), &[0, 0, 0, 2, 0x16, 0x9e]);
        assert_eq!(parse_mpi(&[0, 0, 0, 2, 0x16]), None);
        assert_eq!(parse_mpi(&[0, 0, 0, 1, 0x80]), None);
        assert_eq!(parse_mpi(&[0, 0, 0]), None);
    }

    #[test]
    fn bn_hex_odd_length() {
        assert_eq!(bn_hex("abc").unwrap().as_slice(), &[0x0a, 0xbc]);
        assert_eq!(bn_hex("0ABC").unwrap().as_slice(), &[0x0a, 0xbc]);
        assert!(bn_hex("").is_err());
        assert!(bn_hex("-1").is_err());
    }

    #[test]
    fn v1_password_is_hex_prefix() {
        assert_eq!(v1_password(b"00ff").as_slice(), &[0, 0xff]);
        assert_eq!(v1_password(b"secret").as_slice(), &[] as &[u8]);
        assert_eq!(v1_password(b"abx1").as_slice(), &[0xab]);
        assert_eq!(v1_password(b"abc").as_slice(), &[0xab]);
    }

    #[test]
    fn split_classifies() {
        assert!(split("2").is_err());
        assert!(split("3:a:b").is_err());
        assert!(split("2:1.2.840.10045.3.1.7:5:aa:bb").is_err());
        let id = "ab13d251976dedab546b67354e7678821740dd534b749c2857f66bf62bbaddfd";
        let text = format!("2:3059:{id}");
        let (info, f) = split(&text).unwrap();
        assert_eq!(info.kind, DovecotKeyKind::Public);
        assert_eq!(f.len(), 3);
        // TAB accepted inside a v2 string, as Dovecot's splitter does.
        let (info, _) = split(&format!("2:1.2.840.10045.3.1.7\t0:00:{id}")).unwrap();
        assert_eq!(info.encryption, DovecotKeyEncryption::None);
    }

    #[test]
    fn cipher_names() {
        assert!(KeyCipher::from_name("aes-256-ctr").is_some());
        assert!(KeyCipher::from_name("ecdh-aes-256-ctr").is_some());
        assert!(KeyCipher::from_name("AES-256-CTR").is_some());
        assert!(KeyCipher::from_name("rot13").is_none());
    }

    #[test]
    fn aead_key_encryption_has_a_tag_and_no_aad() {
        // What Dovecot main writes: AEAD over the key with key ‖ nonce from
        // PBKDF2 and an empty AAD; the tag follows the ciphertext.
        use aes_gcm::aead::{AeadInOut, KeyInit};
        let plain = [7u8; 40];
        for c in [
            DovecotKeyCipher::Aes256Gcm,
            DovecotKeyCipher::ChaCha20Poly1305,
        ] {
            let enc = v2_encrypt(c, b"pw", b"salt", &plain).unwrap();
            assert_eq!(enc.len(), plain.len() + 16);
            let mut kd = [0u8; 44];
            Hash::Sha256.pbkdf2(b"pw", b"salt", WRITE_ROUNDS, &mut kd);
            let (k, n) = kd.split_at(32);
            let (ct, tag) = enc.split_at(plain.len());
            let mut buf = ct.to_vec();
            let ok = match c {
                DovecotKeyCipher::Aes256Gcm => aes_gcm::Aes256Gcm::new_from_slice(k)
                    .unwrap()
                    .decrypt_inout_detached(
                        n.try_into().unwrap(),
                        &[],
                        buf.as_mut_slice().into(),
                        tag.try_into().unwrap(),
                    ),
                _ => chacha20poly1305::ChaCha20Poly1305::new_from_slice(k)
                    .unwrap()
                    .decrypt_inout_detached(
                        n.try_into().unwrap(),
                        &[],
                        buf.as_mut_slice().into(),
                        tag.try_into().unwrap(),
                    ),
            };
            assert!(ok.is_ok(), "{c}");
            assert_eq!(buf, plain);
            // And the reader takes it back.
            let dec = v2_decrypt(c.name(), b"pw", b"salt", "sha256", "2048", &enc)
                .unwrap()
                .unwrap();
            assert_eq!(dec.as_slice(), plain);
            let mut bad = enc.clone();
            bad[0] ^= 1;
            assert!(
                v2_decrypt(c.name(), b"pw", b"salt", "sha256", "2048", &bad)
                    .unwrap()
                    .is_none()
            );
            assert!(
                v2_decrypt(c.name(), b"pw", b"salt", "sha256", "2048", &enc[..15])
                    .unwrap()
                    .is_none()
            );
        }
        let ctr = v2_encrypt(DovecotKeyCipher::Aes256Ctr, b"pw", b"salt", &plain).unwrap();
        assert_eq!(ctr.len(), plain.len());
        assert_eq!(
            DovecotKeyCipher::from_name("AES-256-GCM"),
            Some(DovecotKeyCipher::Aes256Gcm)
        );
        assert_eq!(DovecotKeyCipher::from_name("rot13"), None);
    }

    #[test]
    fn strips_one_newline_only() {
        assert_eq!(strip_newline("2:x\n").unwrap(), "2:x");
        assert_eq!(strip_newline("2:x\r\n").unwrap(), "2:x");
        assert_eq!(strip_newline("2:x\n\n").unwrap(), "2:x\n");
    }
}
