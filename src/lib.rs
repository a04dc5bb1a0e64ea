//! # mailcrypt
//!
//! Pure-Rust reader and writer for Dovecot's *mail-crypt* encrypted mail
//! (`CRYPTED\x03\x07` containers, format versions 1 and 2) and the key
//! formats Dovecot uses. No OpenSSL anywhere.
//!
//! Every container names its recipient key by a 32-byte *key id*, the
//! SHA-256 of the key's DER SubjectPublicKeyInfo. Dovecot means to hash the
//! EC point in compressed form, but upstream Dovecot 2.3 built against
//! OpenSSL 3 hashes the point form of the PEM file it loaded (usually
//! uncompressed), so the same key opens a mail in one build and not in
//! another. mailcrypt computes every convention ([`keys::IdConvention`])
//! for every key and finds the key whichever build wrote the file.
//!
//! ```
//! use std::io::Read;
//! use mailcrypt::{Decryptor, keys::{KeyRing, PrivateKey, IdConvention}};
//!
//! let key = std::fs::read("vectors/dovecot/sample-v2.key.pem")?;
//! let mut ring = KeyRing::new();
//! ring.add(PrivateKey::from_bytes(&key, None)?);
//! // Written by unpatched Dovecot 2.3 on OpenSSL 3: uncompressed-point id.
//! let file = std::fs::File::open("vectors/dovecot/generated-2.3.21.1/gen23-openssl3-v2-aead-to-pem-pubkey.bin")?;
//! let mut dec = Decryptor::open(file, &ring, &mailcrypt::DecryptOptions::default())?;
//! assert_eq!(dec.info().matched.as_ref().unwrap().convention, IdConvention::SpkiUncompressed);
//! let mut plain = String::new();
//! dec.read_to_string(&mut plain)?;
//! assert_eq!(plain, "hello\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Layout: [`container`] parses and writes headers (no crypto), [`keys`]
//! loads keys and computes ids, `wrap` unwraps per-recipient session keys,
//! `stream` runs the body ciphers, [`Decryptor`] and [`Encryptor`] tie them
//! together.

// `unsafe` lives only in `arch` (the x86-64 AES-GCM, ChaCha20-Poly1305 and
// SHA-NI kernels, feature `x86-kernels`), which opts out with
// `#![allow(unsafe_code)]`. Without the feature no module may.
#![cfg_attr(not(feature = "x86-kernels"), forbid(unsafe_code))]
#![cfg_attr(feature = "x86-kernels", deny(unsafe_code))]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
mod arch;
#[cfg(feature = "async")]
mod async_io;
#[cfg(feature = "compression")]
pub mod compress;
pub mod container;
mod decryptor;
mod encryptor;
mod error;
mod hex;
pub mod internals;
mod io_count;
mod key_id;
pub mod keys;
pub mod limits;
mod primitives;
pub mod store;
pub mod stream;
mod wrap;

#[cfg(feature = "async")]
pub use async_io::{AsyncDecryptor, AsyncStreamWriter};
pub use decryptor::{
    ContainerInfo, DecryptOptions, Decryptor, KeyMatch, Verification, is_encrypted,
};
pub use encryptor::{Encryptor, StreamWriter, Target};
pub use error::{DecryptError, EncryptError, FormatError, KeyError, KeySearch, UnwrapError};
pub use limits::MAX_ROUNDS;
