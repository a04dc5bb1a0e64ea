//! SHA-NI chains for PBKDF2-HMAC-SHA-256 and the SHA-256 key check.
//!
//! Why: each step of both chains hashes one 64-byte block whose message is
//! the previous digest, so the whole chain can stay in SSE registers in the
//! form the SHA-NI round instruction uses (ABEF/CDGH), with no byte
//! conversion, padding or function call per step; and the two PBKDF2
//! output blocks (48 bytes need two) are independent, so their rounds are
//! interleaved to hide `sha256rnds2`'s latency. `examples/throughput.rs`
//! prints `part-pbkdf2-*` and `part-key-check-*` against the `pbkdf2`/`sha2`
//! crates; the differential tests are in `primitives::sha256_chain`.
use super::STACK_WIPE;
use zeroize::Zeroize;

use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi32,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    _mm_storeu_si128, _mm_xor_si128,
};

/// SHA-256 round constants (FIPS 180-4 §4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Whether the CPU has what these functions need (checked once by std).
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("sha")
        && std::is_x86_feature_detected!("sse2")
        && std::is_x86_feature_detected!("ssse3")
        && std::is_x86_feature_detected!("sse4.1")
}

/// A SHA-256 state in the register layout of `sha256rnds2`.
#[derive(Clone, Copy)]
struct State {
    abef: __m128i,
    cdgh: __m128i,
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn load_state(s: &[u32; 8]) -> State {
    // SAFETY: `s` is 32 readable bytes; `loadu` has no alignment need.
    let (dcba, hgfe) = unsafe {
        (
            _mm_loadu_si128(s.as_ptr().cast()),
            _mm_loadu_si128(s.as_ptr().add(4).cast()),
        )
    };
    let cdab = _mm_shuffle_epi32(dcba, 0xB1);
    let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    State {
        abef: _mm_alignr_epi8(cdab, efgh, 8),
        cdgh: _mm_blend_epi16(efgh, cdab, 0xF0),
    }
}

/// The state as message words: lanes (a, b, c, d) and (e, f, g, h), which
/// is also the big-endian digest as the next block's first 8 words.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn words(s: State) -> (__m128i, __m128i) {
    let feba = _mm_shuffle_epi32(s.abef, 0x1B);
    let dchg = _mm_shuffle_epi32(s.cdgh, 0xB1);
    (
        _mm_blend_epi16(feba, dchg, 0xF0),
        _mm_alignr_epi8(dchg, feba, 8),
    )
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn store_words(w: (__m128i, __m128i), out: &mut [u32; 8]) {
    // SAFETY: `out` is 32 writable bytes; `storeu` has no alignment need.
    unsafe {
        _mm_storeu_si128(out.as_mut_ptr().cast(), w.0);
        _mm_storeu_si128(out.as_mut_ptr().add(4).cast(), w.1);
    }
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn k4(i: usize) -> __m128i {
    let k = K.get(4 * i..4 * i + 4).unwrap_or(&[0; 4]);
    // SAFETY: `k` is 16 readable bytes (4 words).
    unsafe { _mm_loadu_si128(k.as_ptr().cast()) }
}

/// One compression of `m` (4 × 4 message words, lane = word) into `s`.
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn compress(s: State, m: [__m128i; 4]) -> State {
    let [mut w0, mut w1, mut w2, mut w3] = m;
    let (mut abef, mut cdgh) = (s.abef, s.cdgh);
    // Four rounds with the message group `w` (already scheduled).
    macro_rules! rounds {
        ($w:ident, $i:literal) => {{
            let wk = _mm_add_epi32($w, k4($i));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
        }};
    }
    // W[i..i+4] from W[i-16..i] held in (a, b, c, d) oldest first, into `a`.
    macro_rules! schedule {
        ($a:ident, $b:ident, $c:ident, $d:ident, $i:literal) => {{
            let t = _mm_add_epi32(_mm_sha256msg1_epu32($a, $b), _mm_alignr_epi8($d, $c, 4));
            $a = _mm_sha256msg2_epu32(t, $d);
            rounds!($a, $i);
        }};
    }
    rounds!(w0, 0);
    rounds!(w1, 1);
    rounds!(w2, 2);
    rounds!(w3, 3);
    schedule!(w0, w1, w2, w3, 4);
    schedule!(w1, w2, w3, w0, 5);
    schedule!(w2, w3, w0, w1, 6);
    schedule!(w3, w0, w1, w2, 7);
    schedule!(w0, w1, w2, w3, 8);
    schedule!(w1, w2, w3, w0, 9);
    schedule!(w2, w3, w0, w1, 10);
    schedule!(w3, w0, w1, w2, 11);
    schedule!(w0, w1, w2, w3, 12);
    schedule!(w1, w2, w3, w0, 13);
    schedule!(w2, w3, w0, w1, 14);
    schedule!(w3, w0, w1, w2, 15);
    State {
        abef: _mm_add_epi32(abef, s.abef),
        cdgh: _mm_add_epi32(cdgh, s.cdgh),
    }
}

/// Two independent compressions with their instructions interleaved, so
/// that one stream's `sha256rnds2` runs while the other's waits on its
/// latency (the out-of-order window alone overlaps them only partly).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
#[inline]
fn compress2(sa: State, ma: [__m128i; 4], sb: State, mb: [__m128i; 4]) -> (State, State) {
    let [mut a0, mut a1, mut a2, mut a3] = ma;
    let [mut b0, mut b1, mut b2, mut b3] = mb;
    let (mut aabef, mut acdgh) = (sa.abef, sa.cdgh);
    let (mut babef, mut bcdgh) = (sb.abef, sb.cdgh);
    macro_rules! rounds {
        ($wa:ident, $wb:ident, $i:literal) => {{
            let k = k4($i);
            let wka = _mm_add_epi32($wa, k);
            let wkb = _mm_add_epi32($wb, k);
            acdgh = _mm_sha256rnds2_epu32(acdgh, aabef, wka);
            bcdgh = _mm_sha256rnds2_epu32(bcdgh, babef, wkb);
            aabef = _mm_sha256rnds2_epu32(aabef, acdgh, _mm_shuffle_epi32(wka, 0x0E));
            babef = _mm_sha256rnds2_epu32(babef, bcdgh, _mm_shuffle_epi32(wkb, 0x0E));
        }};
    }
    macro_rules! schedule {
        ($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident, $i:literal) => {{
            let ta = _mm_add_epi32(_mm_sha256msg1_epu32($a, $b), _mm_alignr_epi8($d, $c, 4));
            let tb = _mm_add_epi32(_mm_sha256msg1_epu32($e, $f), _mm_alignr_epi8($h, $g, 4));
            $a = _mm_sha256msg2_epu32(ta, $d);
            $e = _mm_sha256msg2_epu32(tb, $h);
            rounds!($a, $e, $i);
        }};
    }
    rounds!(a0, b0, 0);
    rounds!(a1, b1, 1);
    rounds!(a2, b2, 2);
    rounds!(a3, b3, 3);
    schedule!(a0, a1, a2, a3, b0, b1, b2, b3, 4);
    schedule!(a1, a2, a3, a0, b1, b2, b3, b0, 5);
    schedule!(a2, a3, a0, a1, b2, b3, b0, b1, 6);
    schedule!(a3, a0, a1, a2, b3, b0, b1, b2, 7);
    schedule!(a0, a1, a2, a3, b0, b1, b2, b3, 8);
    schedule!(a1, a2, a3, a0, b1, b2, b3, b0, 9);
    schedule!(a2, a3, a0, a1, b2, b3, b0, b1, 10);
    schedule!(a3, a0, a1, a2, b3, b0, b1, b2, 11);
    schedule!(a0, a1, a2, a3, b0, b1, b2, b3, 12);
    schedule!(a1, a2, a3, a0, b1, b2, b3, b0, 13);
    schedule!(a2, a3, a0, a1, b2, b3, b0, b1, 14);
    schedule!(a3, a0, a1, a2, b3, b0, b1, b2, 15);
    (
        State {
            abef: _mm_add_epi32(aabef, sa.abef),
            cdgh: _mm_add_epi32(acdgh, sa.cdgh),
        },
        State {
            abef: _mm_add_epi32(babef, sb.abef),
            cdgh: _mm_add_epi32(bcdgh, sb.cdgh),
        },
    )
}

/// `steps` PBKDF2 iterations (`U_j = HMAC(P, U_{j-1})`, `T ^= U_j`) for
/// two independent output blocks at once. `inner`/`outer` are the HMAC
/// states after the ipad/opad blocks; `u` and `t` hold each chain's last
/// `U` and running `T` as big-endian words and are updated. `false`, with
/// `u` and `t` untouched, when the CPU lacks SHA-NI (the caller then uses
/// the `pbkdf2` crate).
#[must_use]
pub(crate) fn pbkdf2_pair(
    inner: &[u32; 8],
    outer: &[u32; 8],
    u: &mut [[u32; 8]; 2],
    t: &mut [[u32; 8]; 2],
    steps: u32,
) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available()` confirmed SHA-NI, SSE2, SSSE3 and SSE4.1.
    unsafe { pbkdf2_pair_sha(inner, outer, u, t, steps) };
    // Spilled copies of the HMAC states and chain values in that frame.
    zeroize::zeroize_stack::<STACK_WIPE>();
    true
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn pbkdf2_pair_sha(
    inner: &[u32; 8],
    outer: &[u32; 8],
    u: &mut [[u32; 8]; 2],
    t: &mut [[u32; 8]; 2],
    steps: u32,
) {
    let (mut si, mut so) = (load_state(inner), load_state(outer));
    // Both messages are 32 bytes after a 64-byte key block: word 8 is the
    // 0x80 pad byte, word 15 the length in bits (96 × 8).
    let pad = _mm_set_epi32(0, 0, 0, 0x8000_0000u32 as i32);
    let len = _mm_set_epi32(768, 0, 0, 0);
    let load = |w: &[u32; 8]| -> (__m128i, __m128i) {
        // SAFETY: `w` is 32 readable bytes; `loadu` has no alignment need.
        unsafe {
            (
                _mm_loadu_si128(w.as_ptr().cast()),
                _mm_loadu_si128(w.as_ptr().add(4).cast()),
            )
        }
    };
    let [u0, u1] = u;
    let [t0, t1] = t;
    let (mut ua, mut ub) = (load(u0), load(u1));
    let (mut ta, mut tb) = (load(t0), load(t1));
    for _ in 0..steps {
        let (ia, ib) = compress2(si, [ua.0, ua.1, pad, len], si, [ub.0, ub.1, pad, len]);
        let (ia, ib) = (words(ia), words(ib));
        let (oa, ob) = compress2(so, [ia.0, ia.1, pad, len], so, [ib.0, ib.1, pad, len]);
        (ua, ub) = (words(oa), words(ob));
        ta = (_mm_xor_si128(ta.0, ua.0), _mm_xor_si128(ta.1, ua.1));
        tb = (_mm_xor_si128(tb.0, ub.0), _mm_xor_si128(tb.1, ub.1));
    }
    store_words(ua, u0);
    store_words(ub, u1);
    store_words(ta, t0);
    store_words(tb, t1);
    // The HMAC states (key-equivalent) and chain values in this frame.
    for x in [&mut si.abef, &mut si.cdgh, &mut so.abef, &mut so.cdgh] {
        x.zeroize();
    }
    for x in [&mut ua.0, &mut ua.1, &mut ub.0, &mut ub.1] {
        x.zeroize();
    }
    for x in [&mut ta.0, &mut ta.1, &mut tb.0, &mut tb.1] {
        x.zeroize();
    }
}

/// Dovecot's key check from `h = SHA-256(blob)` (as big-endian words):
/// for i = 1..=2048, `h = SHA-256(h ‖ BE32(i))`. `false`, with `h`
/// untouched, when the CPU lacks SHA-NI.
#[must_use]
pub(crate) fn key_check_chain(h: &mut [u32; 8], iv: &[u32; 8]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available()` confirmed SHA-NI, SSE2, SSSE3 and SSE4.1.
    unsafe { key_check_chain_sha(h, iv) };
    zeroize::zeroize_stack::<STACK_WIPE>();
    true
}

#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn key_check_chain_sha(h: &mut [u32; 8], iv: &[u32; 8]) {
    let iv = load_state(iv);
    // SAFETY: `h` is 32 readable bytes; `loadu` has no alignment need.
    let mut w = unsafe {
        (
            _mm_loadu_si128(h.as_ptr().cast()),
            _mm_loadu_si128(h.as_ptr().add(4).cast()),
        )
    };
    // 36-byte message: word 8 is the counter, word 9 the 0x80 pad byte,
    // word 15 the length in bits (36 × 8).
    let len = _mm_set_epi32(288, 0, 0, 0);
    for i in 1u32..=2048 {
        let ctr = _mm_set_epi32(0, 0, 0x8000_0000u32 as i32, i as i32);
        w = words(compress(iv, [w.0, w.1, ctr, len]));
    }
    store_words(w, h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::stack_probe;

    /// Nothing of the HMAC states (key-equivalent) or the chain values is
    /// left on the stack below `pbkdf2_pair` and `key_check_chain`; the
    /// unwiped chain functions' frames are no deeper than half the wipe.
    #[test]
    fn chains_leave_no_state_on_the_stack() {
        if crate::arch::skip("sha256", available()) {
            return;
        }
        let inner: [u32; 8] =
            core::array::from_fn(|i| 0x1357_9bdf ^ (i as u32).wrapping_mul(0x0101_0101));
        let outer: [u32; 8] =
            core::array::from_fn(|i| 0x2468_ace0 ^ (i as u32).wrapping_mul(0x1111_0000));
        let start = [[0x0bad_f00d_u32; 8], [0x0dea_dbee_u32; 8]];
        let words: Vec<u32> = inner.iter().chain(outer.iter()).copied().collect();

        let (mut u, mut t) = (start, start);
        // SAFETY: `available()` confirmed what the chain enables.
        let raw =
            stack_probe::run(&mut || unsafe { pbkdf2_pair_sha(&inner, &outer, &mut u, &mut t, 3) });
        let depth = stack_probe::touched(&raw);
        eprintln!(
            "sha256 pbkdf2 chain: frame reaches {depth} bytes below the probe, state at {:?}",
            stack_probe::find_words(&raw, &words)
        );
        assert!(
            2 * depth <= STACK_WIPE,
            "chain frame {depth} deeper than half of STACK_WIPE"
        );

        let (mut u, mut t) = (start, start);
        let wiped = stack_probe::run(&mut || {
            assert!(pbkdf2_pair(&inner, &outer, &mut u, &mut t, 3));
        });
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
        // The chain's results are secret too (they are the derived key).
        let mut results: Vec<u32> = u.iter().chain(t.iter()).flatten().copied().collect();
        results.retain(|&w| w != 0);
        assert_eq!(
            stack_probe::find_words(&wiped, &results),
            Vec::<usize>::new()
        );

        let mut h = inner;
        let wiped = stack_probe::run(&mut || {
            assert!(key_check_chain(&mut h, &outer));
        });
        let mut after: Vec<u32> = h.to_vec();
        after.retain(|&w| w != 0);
        assert_eq!(stack_probe::find_words(&wiped, &after), Vec::<usize>::new());
    }
}
