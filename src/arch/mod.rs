//! x86-64 kernels written with `core::arch`: the crate's only `unsafe`
//! code, kept in this one module (the crate root denies `unsafe_code`;
//! this module alone allows it).
//!
//! Each kernel exists because a benchmark showed the portable RustCrypto
//! path far behind OpenSSL on the CPUs mail servers run on
//! (docs/performance.md), is selected at run time only after
//! `is_x86_feature_detected!` confirmed every feature it uses, keeps the
//! portable crates as its fallback, and is checked against them on random
//! inputs and against the vectors:
//!
//! * [`gcm`]: fused AES-256-GCM (VAES + VPCLMULQDQ on 256-bit registers),
//!   used by `stream::cipher`.
//! * [`chacha`]: fused ChaCha20-Poly1305 (AVX2 ChaCha20 on 8 blocks,
//!   scalar `mulx` Poly1305 stitched into its rounds), used by
//!   `stream::cipher`.
//! * [`sha256`]: SHA-NI chains for PBKDF2-HMAC-SHA-256 and Dovecot's
//!   SHA-256 key check, used by `wrap::sha256_chain`.
//!
//! Every `unsafe` block carries a `// SAFETY:` note.
#![allow(unsafe_code)]

pub(crate) mod chacha;
pub(crate) mod gcm;
pub(crate) mod sha256;
