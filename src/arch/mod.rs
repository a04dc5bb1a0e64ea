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
//!   SHA-256 key check, used by `primitives::sha256_chain`.
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

/// Bytes of stack wiped (`zeroize::zeroize_stack`) below a kernel's safe
/// wrapper after every kernel call, where the compiler's register spills
/// of key material land. The frames measured by the `stack_probe` tests
/// on x86-64 (frame depth below the wrapper, key words found in it):
/// ChaCha20-Poly1305 `crypt_raw` 2.2 KiB in release and 3.2 KiB in debug
/// builds, the SHA-NI chains well under that; the tests fail if a
/// kernel's frame grows past half of this, or if key material is found
/// below a wrapper after it returns. (It was 1–4 KiB per kernel before
/// the tests: the ChaCha frame was deeper than its 2 KiB wipe.) The cost
/// is one 8 KiB memset per call (per 64 KiB chunk when streaming).
pub(crate) const STACK_WIPE: usize = 8 * 1024;

/// The environment variable that, set to `1`, keeps every body cipher and
/// the PBKDF2/key-check chains on the portable RustCrypto path.
pub(crate) const FORCE_PORTABLE_ENV: &str = "MAILCRYPT_FORCE_PORTABLE";

/// Whether the dispatchers (`stream::cipher`, `primitives::sha256_chain`) may
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

/// For the stack-wipe tests: what a kernel call leaves on the stack below
/// its caller. [`stack_probe::run`] paints [`stack_probe::DEPTH`] bytes
/// below its own stack pointer, runs the call (whose frames land in that
/// region), and copies the region back; [`stack_probe::find_words`] looks
/// for key words in the copy and [`stack_probe::touched`] measures how
/// deep the call went.
#[cfg(test)]
pub(crate) mod stack_probe {
    /// Bytes painted and copied below the probe's stack pointer (the test
    /// threads' stacks are 2 MiB).
    pub(crate) const DEPTH: usize = 64 * 1024;
    /// The paint byte.
    const PAINT: u8 = 0xa5;

    /// Paint, run `f`, copy back. Index 0 of the result is the deepest
    /// byte (lowest address), index `DEPTH - 1` the byte just below the
    /// probe's stack pointer.
    #[inline(never)]
    pub(crate) fn run(f: &mut dyn FnMut()) -> Vec<u8> {
        let mut out = vec![0u8; DEPTH];
        // SAFETY: writes DEPTH bytes below the stack pointer, which no live
        // value occupies (the frames of calls made later go there); the
        // direction flag is clear by the ABI.
        unsafe {
            std::arch::asm!(
                "lea rdi, [rsp - {d}]",
                "rep stosb",
                d = const DEPTH,
                out("rdi") _,
                inout("rcx") DEPTH => _,
                in("al") PAINT,
            );
        }
        f();
        // SAFETY: reads DEPTH bytes below the stack pointer (initialised by
        // the paint above) into `out`, which has DEPTH bytes.
        unsafe {
            std::arch::asm!(
                "lea rsi, [rsp - {d}]",
                "rep movsb",
                d = const DEPTH,
                out("rsi") _,
                inout("rdi") out.as_mut_ptr() => _,
                inout("rcx") DEPTH => _,
            );
        }
        out
    }

    /// How many bytes below the probe's stack pointer `f` wrote to (the
    /// deepest byte that is no longer paint).
    pub(crate) fn touched(region: &[u8]) -> usize {
        region
            .iter()
            .position(|&b| b != PAINT)
            .map_or(0, |i| region.len() - i)
    }

    /// Offsets (bytes below the probe's stack pointer) of every 4-aligned
    /// occurrence of any of `words` (little-endian) in `region`.
    pub(crate) fn find_words(region: &[u8], words: &[u32]) -> Vec<usize> {
        region
            .chunks_exact(4)
            .enumerate()
            .filter(|(_, c)| words.iter().any(|w| w.to_le_bytes() == **c))
            .map(|(i, _)| region.len() - 4 * i)
            .collect()
    }

    /// `bytes` as little-endian 32-bit words (what `find_words` looks for).
    pub(crate) fn le_words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}
