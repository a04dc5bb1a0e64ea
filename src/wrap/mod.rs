//! Per-recipient session-key wrapping.
//!
//! * v2, EC (key type 2): ECDH → `PBKDF2-HMAC-<header hash>(secret, salt =
//!   the ephemeral key exactly as stored, rounds)` → 48 bytes → AES-256-CBC
//!   (PKCS#7) over the session blob.
//! * v2, ML-KEM (key type 4, Dovecot main): ML-KEM encapsulation; the
//!   KEM ciphertext is stored as the ephemeral key and salts PBKDF2, the
//!   32-byte KEM secret replaces the ECDH secret; then exactly as EC.
//! * v2, RSA (key type 1): RSA-OAEP with SHA-1 and MGF1-SHA-1.
//! * v1: ECDH → SHA-256 → AES-256-CTR with a zero IV over the 32-byte seed.
//!
//! * v2, EC/X25519/X448 with flag 0x10 (SAME_CALG, Dovecot 2.4): the same
//!   PBKDF2, but `dkLen = Lk + Li (+ 16 with AEAD)` and the body cipher
//!   itself encrypts the blob (AEAD: the last 16 PBKDF2 bytes are the AAD,
//!   the 16-byte tag follows the ciphertext).
//!
//! Then the 2048-step key-check chain over the blob, compared in constant
//! time.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::container::{CipherAlg, HeaderV1, HeaderV2, Recipient, RecipientType};
use crate::error::{DecryptError, EncryptError, UnwrapError};
use crate::keys::{Encapsulated, MatchedKey, PointForm, PublicKey, Scheme};
use crate::primitives::aes256;
use crate::primitives::hash::Hash;
use crate::stream::cipher::{BodyCipher, Direction, pkcs7_pad_block, pkcs7_unpad_len_block};

use crate::limits::MAX_ROUNDS;

fn unwrap_err(m: &MatchedKey, reason: UnwrapError) -> DecryptError {
    DecryptError::Unwrap {
        key_id: m.id,
        reason,
    }
}

/// Unwrap the session blob of recipient `r` with key `m`, check its length
/// and the key-check hash.
pub(crate) fn unwrap_v2(
    h: &HeaderV2,
    r: &Recipient,
    m: &MatchedKey,
    blob_len: usize,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let hash =
        Hash::from_alg(&h.hash).ok_or_else(|| DecryptError::UnsupportedHash(h.hash.name()))?;
    let blob = match (r.key_type, m.key.scheme()) {
        (RecipientType::Ec, Scheme::Ecdh) | (RecipientType::MlKem, Scheme::MlKem) => {
            check_rounds(h, m)?;
            let secret = m
                .key
                .decapsulate(&r.ephemeral_key)
                .map_err(|e| unwrap_err(m, UnwrapError::Key(e)))?;
            return unwrap_shared(h, hash, &secret, r, blob_len);
        }
        (RecipientType::Rsa, Scheme::RsaOaep) => m
            .key
            .oaep_decrypt(&r.encrypted_key)
            .map_err(|e| unwrap_err(m, UnwrapError::Key(e)))?,
        (RecipientType::Ec | RecipientType::Rsa | RecipientType::MlKem, _) => {
            return Err(unwrap_err(
                m,
                UnwrapError::KeyTypeMismatch {
                    recipient_type: r.key_type.to_byte(),
                    key_type: m.key.key_type().to_string(),
                },
            ));
        }
        (other, _) => return Err(DecryptError::UnsupportedKeyType(other.to_byte())),
    };
    check_blob(h, hash, blob, blob_len)
}

fn check_rounds(h: &HeaderV2, m: &MatchedKey) -> Result<(), DecryptError> {
    if h.rounds == 0 || h.rounds > MAX_ROUNDS {
        return Err(unwrap_err(
            m,
            UnwrapError::Rounds {
                rounds: h.rounds,
                max: MAX_ROUNDS,
            },
        ));
    }
    Ok(())
}

/// The common tail for ECDH and KEM recipients: PBKDF2 over the shared
/// secret salted with `R` as stored, then AES-256-CBC (or SAME_CALG).
fn unwrap_shared(
    h: &HeaderV2,
    hash: Hash,
    secret: &[u8],
    r: &Recipient,
    blob_len: usize,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    let blob = if h.same_calg() {
        same_calg_unwrap(
            &h.cipher,
            hash,
            secret,
            &r.ephemeral_key,
            h.rounds,
            &r.encrypted_key,
        )
    } else {
        let mut kek = Zeroizing::new([0u8; 48]);
        hash.pbkdf2(secret, &r.ephemeral_key, h.rounds, kek.as_mut_slice());
        let (k, iv) = kek.split_at(32);
        aes256::cbc_decrypt(k, iv, &r.encrypted_key)
    };
    match blob {
        Some(blob) => check_blob(h, hash, blob, blob_len),
        // A bad padding or SAME_CALG tag: same error and work as a
        // key-check mismatch (no padding oracle).
        None => Err(key_check_failure(h, hash, blob_len)),
    }
}

/// Check the unwrapped blob's length and the key-check hash.
fn check_blob(
    h: &HeaderV2,
    hash: Hash,
    blob: Zeroizing<Vec<u8>>,
    blob_len: usize,
) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    if blob.len() != blob_len {
        return Err(key_check_failure(h, hash, blob_len));
    }
    // Dovecot ≤ 2.4.2 compared only min(stored, digest) bytes, so a stored
    // length of 0 passed; mailcrypt requires the full digest, as 2.4.3+ does.
    let check = hash.key_check(&blob);
    if check.len() != h.key_check.len() || !bool::from(check.ct_eq(&h.key_check)) {
        return Err(DecryptError::KeyCheck);
    }
    Ok(blob)
}

/// The one error for every way an unwrapped session key can be wrong: a
/// bad CBC padding, a failed SAME_CALG tag, a wrong length or a key-check
/// mismatch. Reporting them apart (and returning before the key-check
/// hashing on a bad padding) would give a padding oracle on the wrapped
/// blob to anyone who can submit modified copies of a victim's file to a
/// service that decrypts with the victim's key and shows the error. So the
/// key check runs on a dummy blob of the right length and the result is
/// always [`DecryptError::KeyCheck`].
fn key_check_failure(h: &HeaderV2, hash: Hash, blob_len: usize) -> DecryptError {
    let dummy = Zeroizing::new(vec![0u8; blob_len]);
    let check = hash.key_check(&dummy);
    // Compared like a real check so the work is the same; the result is
    // irrelevant (a zero blob matching would still be a failure here).
    let _ = core::hint::black_box(check.ct_eq(&h.key_check));
    DecryptError::KeyCheck
}

/// PBKDF2 output for SAME_CALG: key ‖ IV ‖ (AAD with AEAD ciphers).
fn same_calg_kek(
    alg: &CipherAlg,
    hash: Hash,
    secret: &[u8],
    salt: &[u8],
    rounds: u32,
) -> Option<(Zeroizing<Vec<u8>>, usize, usize)> {
    let (kl, il) = alg.key_iv_len()?;
    let extra = if alg.is_aead() { 16 } else { 0 };
    let mut kek = Zeroizing::new(vec![0u8; kl + il + extra]);
    hash.pbkdf2(secret, salt, rounds, kek.as_mut_slice());
    Some((kek, kl, il))
}

/// SAME_CALG (flag 0x10) unwrap: the body cipher decrypts `ek`.
fn same_calg_unwrap(
    alg: &CipherAlg,
    hash: Hash,
    secret: &[u8],
    salt: &[u8],
    rounds: u32,
    ek: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    let (kek, kl, il) = same_calg_kek(alg, hash, secret, salt, rounds)?;
    let key = kek.get(..kl)?;
    let iv = kek.get(kl..kl + il)?;
    let aad = kek.get(kl + il..)?;
    if alg.is_aead() {
        let split = ek.len().checked_sub(16)?;
        let (ct, tag) = ek.split_at(split);
        let mut c = BodyCipher::v2(alg, key, iv, Some(aad), None, Direction::Decrypt).ok()?;
        let mut buf = Zeroizing::new(ct.to_vec());
        c.update(&mut buf).ok()?;
        return c.verify(tag).then_some(buf);
    }
    let mut c = BodyCipher::v2(alg, key, iv, None, None, Direction::Decrypt).ok()?;
    let block = c.is_block_mode();
    let bl = c.block_len();
    if block && (ek.is_empty() || !ek.len().is_multiple_of(bl)) {
        return None;
    }
    let mut buf = Zeroizing::new(ek.to_vec());
    c.update(&mut buf).ok()?;
    if block {
        let n = pkcs7_unpad_len_block(&buf, bl)?;
        buf.truncate(n);
    }
    Some(buf)
}

/// SAME_CALG (flag 0x10) wrap: the body cipher encrypts `blob`.
fn same_calg_wrap(
    alg: &CipherAlg,
    hash: Hash,
    secret: &[u8],
    salt: &[u8],
    rounds: u32,
    blob: &[u8],
) -> Option<Vec<u8>> {
    let (kek, kl, il) = same_calg_kek(alg, hash, secret, salt, rounds)?;
    let key = kek.get(..kl)?;
    let iv = kek.get(kl..kl + il)?;
    let aad = kek.get(kl + il..)?;
    let aead = alg.is_aead();
    let mut c = BodyCipher::v2(alg, key, iv, aead.then_some(aad), None, Direction::Encrypt).ok()?;
    let mut buf = if c.is_block_mode() {
        pkcs7_pad_block(blob, c.block_len())
    } else {
        blob.to_vec()
    };
    c.update(&mut buf).ok()?;
    if aead {
        buf.extend_from_slice(&c.trailer().ok()?);
    }
    Some(buf)
}

/// Unwrap a v1 seed with key `m`; checks the seed hash.
pub(crate) fn unwrap_v1(h: &HeaderV1, m: &MatchedKey) -> Result<Zeroizing<Vec<u8>>, DecryptError> {
    if m.key.scheme() != Scheme::Ecdh {
        return Err(unwrap_err(
            m,
            UnwrapError::V1NeedsEc {
                key_type: m.key.key_type().to_string(),
            },
        ));
    }
    for (field, len) in [
        ("seed hash", h.seed_hash.len()),
        ("encrypted seed", h.encrypted_seed.len()),
    ] {
        if len != 32 {
            return Err(unwrap_err(m, UnwrapError::V1FieldLength { field, len }));
        }
    }
    let secret = m
        .key
        .decapsulate(&h.ephemeral_key)
        .map_err(|e| unwrap_err(m, UnwrapError::Key(e)))?;
    let kek = Zeroizing::new(Hash::Sha256.digest(&[&secret]));
    let mut seed = Zeroizing::new(h.encrypted_seed.clone());
    #[allow(clippy::expect_used)]
    aes256::ctr_zero_iv(&kek, &mut seed).expect("a SHA-256 digest is a 32-byte AES-256 key");
    let check = Hash::Sha256.digest(&[&seed]);
    if !bool::from(check.ct_eq(&h.seed_hash)) {
        return Err(DecryptError::KeyCheck);
    }
    Ok(seed)
}

/// Wrapped session blob for one v2 recipient.
pub(crate) struct Wrapped {
    pub(crate) key_type: RecipientType,
    pub(crate) ephemeral_key: Vec<u8>,
    pub(crate) encrypted_key: Vec<u8>,
}

/// Wrap `blob` for `recipient` (v2).
pub(crate) fn wrap_v2(
    recipient: &PublicKey,
    blob: &[u8],
    hash: Hash,
    rounds: u32,
    eph_form: PointForm,
    same_calg: Option<&CipherAlg>,
) -> Result<Wrapped, EncryptError> {
    if recipient.scheme() == Scheme::RsaOaep {
        return Ok(Wrapped {
            key_type: RecipientType::Rsa,
            ephemeral_key: Vec::new(),
            encrypted_key: recipient.oaep_encrypt(blob)?,
        });
    }
    let key_type = match recipient.scheme() {
        Scheme::MlKem => RecipientType::MlKem,
        Scheme::Ecdh | Scheme::RsaOaep => RecipientType::Ec,
    };
    // For ML-KEM the KEM ciphertext takes the ephemeral key's place (and is
    // the PBKDF2 salt), the KEM secret the ECDH secret's.
    let Encapsulated {
        stored: eph,
        secret,
    } = recipient.encapsulate(eph_form)?;
    if let Some(alg) = same_calg {
        let ek = same_calg_wrap(alg, hash, &secret, &eph, rounds, blob)
            .ok_or_else(|| EncryptError::Unsupported(format!("SAME_CALG key wrap with {alg}")))?;
        return Ok(Wrapped {
            key_type,
            ephemeral_key: eph,
            encrypted_key: ek,
        });
    }
    let mut kek = Zeroizing::new([0u8; 48]);
    hash.pbkdf2(&secret, &eph, rounds, kek.as_mut_slice());
    let (k, iv) = kek.split_at(32);
    let ek = aes256::cbc_encrypt(k, iv, blob)
        .ok_or_else(|| EncryptError::Unsupported("AES-256-CBC key wrap".into()))?;
    Ok(Wrapped {
        key_type,
        ephemeral_key: eph,
        encrypted_key: ek,
    })
}

/// Wrap a v1 seed: returns (ephemeral point, encrypted seed).
pub(crate) fn wrap_v1(
    recipient: &PublicKey,
    seed: &[u8; 32],
    eph_form: PointForm,
) -> Result<(Vec<u8>, Vec<u8>), EncryptError> {
    if recipient.scheme() != Scheme::Ecdh {
        return Err(EncryptError::Unsupported(format!(
            "v1 containers need an EC, X25519 or X448 recipient, not {}",
            recipient.key_type()
        )));
    }
    let Encapsulated {
        stored: eph,
        secret,
    } = recipient.encapsulate(eph_form)?;
    let kek = Zeroizing::new(Hash::Sha256.digest(&[&secret]));
    let mut enc = seed.to_vec();
    aes256::ctr_zero_iv(&kek, &mut enc)
        .ok_or_else(|| EncryptError::Unsupported("AES-256-CTR".into()))?;
    Ok((eph, enc))
}
