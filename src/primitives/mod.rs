//! The primitives key wrapping and key decoding build on, below `keys` and
//! `wrap` so that both can use them: the hashes a header names (digest,
//! HMAC, PBKDF2, Dovecot's key-check chain, with the SHA-NI fast path) and
//! the AES-256 CBC/CTR helpers.

pub(crate) mod aes256;
pub(crate) mod hash;
mod sha256_chain;
