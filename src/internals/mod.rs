//! **Not part of the stable API**: exempt from semantic versioning, may
//! change or go in any release. The primitives of the per-mail open path
//! and the raw body cipher, exposed only so that the criterion benches
//! (`benches/throughput.rs`) and `examples/throughput.rs` can time them
//! apart from the framing. Programs use [`Decryptor`](crate::Decryptor)
//! and [`Encryptor`](crate::Encryptor).

use crate::stream::cipher::{BodyCipher, Direction};

/// Entry points of the `body` and `decrypt_cached` fuzz targets.
pub mod fuzz;

/// PBKDF2-HMAC-SHA-256 as the header unwrap runs it.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    crate::primitives::hash::Hash::Sha256.pbkdf2(password, salt, rounds, out);
}

/// Dovecot's 2048-step SHA-256 key-check chain.
pub fn key_check_sha256(blob: &[u8]) -> Vec<u8> {
    crate::primitives::hash::Hash::Sha256.key_check(blob)
}

/// AES-256-GCM encryption (`encrypt`) or decryption of `buf` in place with
/// exactly the body cipher the adapters use (the x86-64 kernel when the
/// CPU has it), no AAD, returning the tag (computed, not checked): the
/// raw-cipher baseline for the framing overhead. `None` for a wrong key or
/// IV length or a body over the GCM limit.
pub fn raw_aes256_gcm(key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> Option<[u8; 16]> {
    let dir = if encrypt {
        Direction::Encrypt
    } else {
        Direction::Decrypt
    };
    let mut c = BodyCipher::v2(
        &crate::container::CipherAlg::Aes256Gcm,
        key,
        iv,
        Some(&[]),
        None,
        dir,
    )
    .ok()?;
    c.update(buf).ok()?;
    c.trailer().ok()?.as_slice().try_into().ok()
}
