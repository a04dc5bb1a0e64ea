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
//!
//! The module exists only with the cargo feature `x86-kernels` (off by
//! default, on with `cli`); without it the crate root forbids `unsafe`.
//! `MAILCRYPT_FORCE_PORTABLE=1` in the environment switches the kernels
//! off at run time ([`enabled`]).
#![allow(unsafe_code)]

use std::sync::OnceLock;

pub(crate) mod chacha;
pub(crate) mod gcm;
pub(crate) mod sha256;

/// The environment variable that, set to `1`, keeps every body cipher and
/// the PBKDF2/key-check chains on the portable RustCrypto path.
pub(crate) const FORCE_PORTABLE_ENV: &str = "MAILCRYPT_FORCE_PORTABLE";

/// Whether the dispatchers (`stream::cipher`, `wrap::sha256_chain`) may
/// pick a kernel at all: false when `MAILCRYPT_FORCE_PORTABLE=1`. Read
/// once per process, so one process never mixes the paths because the
/// environment changed under it. Each kernel still checks the CPU itself.
pub(crate) fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os(FORCE_PORTABLE_ENV).is_none_or(|v| v != "1"))
}

/// For kernel tests: whether `MAILCRYPT_REQUIRE_KERNELS` (`1` for all, or
/// a comma-separated list of `gcm`, `chacha`, `sha256`) names `kernel`, so
/// that a test which would skip on a CPU without the kernel's features
/// fails instead.
#[cfg(test)]
pub(crate) fn required(kernel: &str) -> bool {
    std::env::var("MAILCRYPT_REQUIRE_KERNELS")
        .is_ok_and(|v| v == "1" || v.split(',').any(|k| k.trim() == kernel))
}

/// For kernel tests: `true` (skip) when the CPU cannot run `kernel`,
/// after checking that `MAILCRYPT_REQUIRE_KERNELS` does not name it.
#[cfg(test)]
pub(crate) fn skip(kernel: &str, available: bool) -> bool {
    if available {
        return false;
    }
    assert!(
        !required(kernel),
        "MAILCRYPT_REQUIRE_KERNELS names {kernel}, but this CPU lacks its features"
    );
    eprintln!("skipped: the CPU lacks the features of the {kernel} kernel");
    true
}
