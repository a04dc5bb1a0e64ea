//! Container headers: bytes ↔ typed structs. No cryptography lives here.
//!
//! A mail-crypt container is `CRYPTED\x03\x07`, a version byte (1 or 2), a
//! header, and the encrypted body. [`Header::read`] reads exactly the header
//! from a stream (never more), with every length checked against the caps
//! below before anything is allocated; [`Header::to_bytes`] writes it back
//! byte for byte.
//!
//! ```
//! use mailcrypt::container::{Header, MAGIC};
//! // Not a container: the typed error says so.
//! let err = Header::parse(b"From: someone\n").unwrap_err();
//! assert!(err.to_string().contains("not a mail-crypt container"));
//! assert_eq!(&MAGIC, b"CRYPTED\x03\x07");
//! ```

pub(crate) mod alg;
mod cursor;

pub use alg::{CipherAlg, HashAlg};

use std::io::{self, Read};

use crate::error::FormatError;
use crate::key_id::KeyId;
use cursor::Cursor;

/// The 9-byte magic every container starts with.
pub const MAGIC: [u8; 9] = *b"CRYPTED\x03\x07";

pub use crate::limits::MAX_HEADER_LEN;

pub use crate::limits::MAX_RECIPIENTS;

pub use crate::limits::MAX_FIELD_LEN;

pub use crate::limits::MAX_OID_LEN;

/// Flag: body followed by an HMAC of the ciphertext.
pub const FLAG_HMAC: u32 = 0x01;
/// Flag: body is one AEAD message with the tag in the last 16 bytes.
pub const FLAG_AEAD: u32 = 0x02;
/// Flag: no integrity protection.
pub const FLAG_NONE: u32 = 0x04;
/// Flag: recipient key blobs are encrypted with the body cipher (Dovecot 2.4+).
pub const FLAG_SAME_CALG: u32 = 0x10;

/// A parsed container header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Header {
    /// Format version 1 (legacy, EC only, AES-256-CTR, no integrity).
    V1(HeaderV1),
    /// Format version 2.
    V2(HeaderV2),
}

/// Version-1 header: four u16-framed fields inside a u16-framed block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderV1 {
    /// Ephemeral EC public key (SEC1, compressed or uncompressed).
    pub ephemeral_key: Vec<u8>,
    /// Recipient key id (old-style id, normally 32 bytes).
    pub key_id: Vec<u8>,
    /// SHA-256 of the session seed.
    pub seed_hash: Vec<u8>,
    /// The session seed, encrypted (AES-256-CTR, zero IV).
    pub encrypted_seed: Vec<u8>,
    /// Bytes inside the key-data block after the fourth field (the Dovecot
    /// samples carry a `00 00` terminator here).
    pub trailing: Vec<u8>,
}

pub use crate::key_id::RecipientType;

/// One recipient entry of a v2 key-data block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Key type byte.
    pub key_type: RecipientType,
    /// SHA-256 id of the recipient public key.
    pub key_id: KeyId,
    /// Ephemeral public key (EC) or KEM ciphertext; empty for RSA.
    pub ephemeral_key: Vec<u8>,
    /// The wrapped session blob.
    pub encrypted_key: Vec<u8>,
}

/// Version-2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderV2 {
    /// Raw flags word.
    pub flags: u32,
    /// Body cipher.
    pub cipher: CipherAlg,
    /// MAC / hash algorithm (PBKDF2 PRF, key check, HMAC).
    pub hash: HashAlg,
    /// PBKDF2 iterations for EC/KEM recipients.
    pub rounds: u32,
    /// Recipients.
    pub recipients: Vec<Recipient>,
    /// The key-check hash over the session blob.
    pub key_check: Vec<u8>,
}

/// How the body of a v2 file is protected, derived from the flags the way
/// Dovecot's reader does (HMAC first, then AEAD, else none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Integrity {
    /// HMAC footer over the ciphertext.
    Hmac,
    /// AEAD tag.
    Aead,
    /// None at all.
    None,
}

impl HeaderV2 {
    /// The integrity mode the flags select.
    pub fn integrity(&self) -> Integrity {
        if self.flags & FLAG_HMAC != 0 {
            Integrity::Hmac
        } else if self.flags & FLAG_AEAD != 0 {
            Integrity::Aead
        } else {
            Integrity::None
        }
    }

    /// Whether flag 0x10 (SAME_CALG) is set.
    pub fn same_calg(&self) -> bool {
        self.flags & FLAG_SAME_CALG != 0
    }

    /// Length of the key-data block when serialized.
    fn key_data_len(&self) -> usize {
        1 + self
            .recipients
            .iter()
            .map(|r| 1 + 32 + 4 + r.ephemeral_key.len() + 4 + r.encrypted_key.len())
            .sum::<usize>()
            + 4
            + self.key_check.len()
    }

    /// Total header length (= offset of the first body byte).
    pub fn header_len(&self) -> usize {
        18 + self.cipher.to_der().len() + self.hash.to_der().len() + 8 + self.key_data_len()
    }

    /// File offset of recipient `index`'s 32-byte key id. The id is not
    /// covered by any tag or MAC, which is what lets `mailcrypt repair`
    /// rewrite it in place.
    pub fn key_id_offset(&self, index: usize) -> Option<usize> {
        let mut off = 18 + self.cipher.to_der().len() + self.hash.to_der().len() + 8 + 1;
        for r in self.recipients.get(..index)? {
            off += 1 + 32 + 4 + r.ephemeral_key.len() + 4 + r.encrypted_key.len();
        }
        self.recipients.get(index)?;
        Some(off + 1)
    }
}

impl HeaderV1 {
    /// Total header length (= offset of the first body byte).
    pub fn header_len(&self) -> usize {
        12 + self.key_data_len()
    }

    fn key_data_len(&self) -> usize {
        8 + self.ephemeral_key.len()
            + self.key_id.len()
            + self.seed_hash.len()
            + self.encrypted_seed.len()
            + self.trailing.len()
    }
}

impl Header {
    /// Parse a header from the start of `bytes`; returns the header and its
    /// length (the offset of the body). Bytes after the header are ignored.
    pub fn parse(bytes: &[u8]) -> Result<(Header, usize), FormatError> {
        let mut r = io::Cursor::new(bytes);
        let h = Header::read(&mut r)?;
        let len = h.header_len();
        Ok((h, len))
    }

    /// Read exactly the header from `r` (and nothing after it).
    ///
    /// I/O errors other than a short read are returned as `Err(Ok(io))`
    /// by [`Header::read_io`]; this convenience maps them to
    /// [`FormatError::Truncated`] only for end-of-input.
    pub fn read<R: Read>(r: &mut R) -> Result<Header, FormatError> {
        match Header::read_io(r) {
            Ok(h) => Ok(h),
            Err(ReadHeaderError::Format(e)) => Err(e),
            Err(ReadHeaderError::Io(e)) => Err(FormatError::malformed("input", e.to_string())),
        }
    }

    /// Like [`Header::read`], keeping I/O errors apart from format errors.
    pub fn read_io<R: Read>(r: &mut R) -> Result<Header, ReadHeaderError> {
        let mut start = [0u8; 10];
        read_exact_or(r, &mut start, "magic and version")?;
        let (magic, version) = start.split_at(9);
        if magic != MAGIC {
            return Err(FormatError::NotEncrypted.into());
        }
        match version {
            [1] => {
                let mut len = [0u8; 2];
                read_exact_or(r, &mut len, "v1 key-data length")?;
                let kdlen = usize::from(u16::from_be_bytes(len));
                let mut block = vec![0u8; kdlen];
                read_exact_or(r, &mut block, "v1 key data")?;
                Ok(Header::V1(parse_v1_key_data(&block)?))
            }
            [2] => {
                let mut fixed = [0u8; 8];
                read_exact_or(r, &mut fixed, "v2 flags and header length")?;
                let (flags, hdr_len) = fixed.split_at(4);
                let flags = u32::from_be_bytes(to4(flags));
                let hdr_len = u32::from_be_bytes(to4(hdr_len));
                if hdr_len as usize > MAX_HEADER_LEN {
                    return Err(FormatError::HeaderTooLarge {
                        len: u64::from(hdr_len),
                        max: MAX_HEADER_LEN,
                    }
                    .into());
                }
                let rest_len = (hdr_len as usize).checked_sub(18).ok_or_else(|| {
                    FormatError::malformed(
                        "header length",
                        format!("{hdr_len} is shorter than the fixed part (18 bytes)"),
                    )
                })?;
                let mut rest = vec![0u8; rest_len];
                read_exact_or(r, &mut rest, "v2 header")?;
                Ok(Header::V2(parse_v2_rest(flags, &rest)?))
            }
            [v] => Err(FormatError::UnsupportedVersion(*v).into()),
            _ => Err(FormatError::NotEncrypted.into()),
        }
    }

    /// Length of the serialized header (= offset of the body).
    pub fn header_len(&self) -> usize {
        match self {
            Header::V1(h) => h.header_len(),
            Header::V2(h) => h.header_len(),
        }
    }

    /// Format version (1 or 2).
    pub fn version(&self) -> u8 {
        match self {
            Header::V1(_) => 1,
            Header::V2(_) => 2,
        }
    }

    /// Serialize the header exactly as Dovecot lays it out.
    ///
    /// Fails only if a field is too long for its length prefix.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FormatError> {
        let mut out = Vec::with_capacity(self.header_len());
        out.extend_from_slice(&MAGIC);
        match self {
            Header::V1(h) => {
                out.push(1);
                let kdlen = u16::try_from(h.key_data_len()).map_err(|_| {
                    FormatError::malformed("v1 key data", "longer than 65535 bytes")
                })?;
                out.extend_from_slice(&kdlen.to_be_bytes());
                for (name, f) in [
                    ("ephemeral key", &h.ephemeral_key),
                    ("key id", &h.key_id),
                    ("seed hash", &h.seed_hash),
                    ("encrypted seed", &h.encrypted_seed),
                ] {
                    let l = u16::try_from(f.len())
                        .map_err(|_| FormatError::malformed(name, "longer than 65535 bytes"))?;
                    out.extend_from_slice(&l.to_be_bytes());
                    out.extend_from_slice(f);
                }
                out.extend_from_slice(&h.trailing);
            }
            Header::V2(h) => {
                if h.recipients.len() > usize::from(u8::MAX) {
                    return Err(FormatError::TooManyRecipients {
                        count: h.recipients.len(),
                        max: usize::from(u8::MAX),
                    });
                }
                for (name, content) in [
                    ("cipher OID", h.cipher.oid_content()),
                    ("MAC OID", h.hash.oid_content()),
                ] {
                    if content.is_empty() || content.len() > MAX_OID_LEN {
                        return Err(FormatError::malformed(
                            name,
                            format!("{} content bytes (1 to {MAX_OID_LEN})", content.len()),
                        ));
                    }
                }
                let hdr_len = h.header_len();
                if hdr_len > MAX_HEADER_LEN {
                    return Err(FormatError::HeaderTooLarge {
                        len: hdr_len as u64,
                        max: MAX_HEADER_LEN,
                    });
                }
                out.push(2);
                out.extend_from_slice(&h.flags.to_be_bytes());
                out.extend_from_slice(&(hdr_len as u32).to_be_bytes());
                out.extend_from_slice(&h.cipher.to_der());
                out.extend_from_slice(&h.hash.to_der());
                out.extend_from_slice(&h.rounds.to_be_bytes());
                out.extend_from_slice(&(h.key_data_len() as u32).to_be_bytes());
                out.push(h.recipients.len() as u8);
                for rc in &h.recipients {
                    out.push(rc.key_type.to_byte());
                    out.extend_from_slice(rc.key_id.as_bytes());
                    out.extend_from_slice(&(rc.ephemeral_key.len() as u32).to_be_bytes());
                    out.extend_from_slice(&rc.ephemeral_key);
                    out.extend_from_slice(&(rc.encrypted_key.len() as u32).to_be_bytes());
                    out.extend_from_slice(&rc.encrypted_key);
                }
                out.extend_from_slice(&(h.key_check.len() as u32).to_be_bytes());
                out.extend_from_slice(&h.key_check);
            }
        }
        debug_assert_eq!(out.len(), self.header_len());
        Ok(out)
    }
}

/// Error of [`Header::read_io`]: the header was malformed, or reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadHeaderError {
    /// Malformed or truncated header.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The reader failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn to4(s: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.iter_mut().zip(s).for_each(|(d, s)| *d = *s);
    a
}

/// `read_exact`, but end-of-input becomes a typed truncation error that says
/// what was being read and how much was missing.
fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    what: &'static str,
) -> Result<(), ReadHeaderError> {
    let mut rest = buf;
    while !rest.is_empty() {
        match r.read(rest) {
            Ok(0) => {
                return Err(FormatError::Truncated {
                    what,
                    needed: rest.len(),
                }
                .into());
            }
            Ok(n) => rest = crate::io_count::rest_mut(std::mem::take(&mut rest), n)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn parse_v1_key_data(block: &[u8]) -> Result<HeaderV1, FormatError> {
    let mut c = Cursor::new(block, "v1 key data");
    let mut field = |name: &'static str| -> Result<Vec<u8>, FormatError> {
        let len = usize::from(c.u16(name)?);
        if len == 0 {
            return Err(FormatError::malformed(name, "empty field"));
        }
        Ok(c.take(name, len)?.to_vec())
    };
    let ephemeral_key = field("v1 ephemeral key")?;
    let key_id = field("v1 key id")?;
    let seed_hash = field("v1 seed hash")?;
    let encrypted_seed = field("v1 encrypted seed")?;
    let trailing = c.rest().to_vec();
    Ok(HeaderV1 {
        ephemeral_key,
        key_id,
        seed_hash,
        encrypted_seed,
        trailing,
    })
}

/// A DER OBJECT IDENTIFIER is self-delimiting: tag, one short-form
/// length byte, content.
fn take_oid(c: &mut Cursor<'_>, field: &'static str) -> Result<Vec<u8>, FormatError> {
    let tag = c.u8(field)?;
    let len = c.u8(field)?;
    if tag != 0x06 {
        return Err(FormatError::malformed(
            field,
            format!("expected DER tag 0x06, got {tag:#04x}"),
        ));
    }
    if usize::from(len) > MAX_OID_LEN {
        return Err(FormatError::malformed(
            field,
            "OBJECT IDENTIFIER with a long-form length",
        ));
    }
    let content = c.take(field, usize::from(len))?;
    let mut der = vec![tag, len];
    der.extend_from_slice(content);
    alg::parse_oid_der(field, &der)
}

fn parse_v2_rest(flags: u32, rest: &[u8]) -> Result<HeaderV2, FormatError> {
    let mut c = Cursor::new(rest, "v2 header");
    let cipher = take_oid(&mut c, "cipher OID")?;
    let hash = take_oid(&mut c, "MAC OID")?;
    let rounds = c.u32("rounds")?;
    let kdlen = c.u32("key-data length")? as usize;
    if kdlen != c.remaining() {
        return Err(FormatError::malformed(
            "key-data length",
            format!(
                "declares {kdlen} bytes but the header length leaves {}",
                c.remaining()
            ),
        ));
    }
    let count = usize::from(c.u8("recipient count")?);
    if count == 0 {
        return Err(FormatError::malformed("recipient count", "no recipients"));
    }
    if count > MAX_RECIPIENTS {
        return Err(FormatError::TooManyRecipients {
            count,
            max: MAX_RECIPIENTS,
        });
    }
    let mut recipients = Vec::with_capacity(count);
    for _ in 0..count {
        let key_type = RecipientType::from_byte(c.u8("recipient key type")?);
        let id = c.take("recipient key id", 32)?;
        let key_id = KeyId::from_slice(id)
            .ok_or_else(|| FormatError::malformed("recipient key id", "not 32 bytes"))?;
        let eph_len = c.u32("ephemeral key length")? as usize;
        let ephemeral_key = c.take_field("ephemeral key", eph_len)?.to_vec();
        let ek_len = c.u32("encrypted key length")? as usize;
        if ek_len == 0 {
            return Err(FormatError::malformed("encrypted key", "empty"));
        }
        let encrypted_key = c.take_field("encrypted key", ek_len)?.to_vec();
        recipients.push(Recipient {
            key_type,
            key_id,
            ephemeral_key,
            encrypted_key,
        });
    }
    let kh_len = c.u32("key-check length")? as usize;
    let key_check = c.take_field("key-check hash", kh_len)?.to_vec();
    if c.remaining() != 0 {
        return Err(FormatError::malformed(
            "key-data block",
            format!(
                "{} unexpected bytes after the key-check hash",
                c.remaining()
            ),
        ));
    }
    Ok(HeaderV2 {
        flags,
        cipher: CipherAlg::from_oid_content(&cipher),
        hash: HashAlg::from_oid_content(&hash),
        rounds,
        recipients,
        key_check,
    })
}

#[cfg(test)]
mod tests;
