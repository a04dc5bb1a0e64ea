//! Fused AES-256-GCM kernel for x86-64 with VAES + VPCLMULQDQ on 256-bit
//! registers (AVX2; AMD Zen 3 and later, Intel Ice Lake and later).
//!
//! Part of [`crate::arch`], the only module with `unsafe` code. It exists
//! because the portable path (RustCrypto `aes` + `ghash`, two passes over
//! every chunk) runs at about half the speed of OpenSSL's AES-GCM on the
//! CPUs mail servers run on; see `docs/performance.md` for the numbers.
//!
//! Structure: one CTR pass and one GHASH pass fused over 8 blocks
//! (4 × 256-bit registers) per iteration, GHASH with precomputed
//! H^1..H^8 and one reduction per 8 blocks. The representation is the
//! byte-reflected one of Gueron–Kounavis as used by the Linux kernel's
//! `aes-gcm-avx10` (H pre-multiplied by x, Montgomery-style folding with
//! x^63 + x^62 + x^57).
//!
//! Only whole 16-byte blocks go through the kernel; the partial block at
//! either end of a chunk is handled by the safe wrapper in
//! `crate::stream::cipher` with [`Kernel::keystream_block`] and
//! [`Kernel::ghash_blocks`]. Everything is checked against the `aes-gcm`
//! crate on random inputs (tests below and in `crate::stream::cipher`).
//!
//! Every `unsafe` block is either a call to a `#[target_feature]` function,
//! which is sound because [`Kernel::new`] only returns a kernel after
//! `is_x86_feature_detected!` confirmed every feature it enables, or a raw
//! load/store whose bounds are checked by the caller (noted at each site).

use core::arch::x86_64::*;

use super::STACK_WIPE;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Byte-reversal shuffle (GCM's byte order ↔ the reflected representation).
const BSWAP: [u8; 16] = [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];

/// x^128 + x^7 + x^2 + x + 1 in the reflected, pre-shifted form: low
/// quadword 1, high quadword 0xc2 << 56.
const GFPOLY_LO: u64 = 1;
const GFPOLY_HI: u64 = 0xc200_0000_0000_0000;

/// AES-256 round keys, H^1..H^8 and the GHASH/CTR state for one message.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Kernel {
    /// The 15 AES-256 round keys.
    rk: [[u8; 16]; 15],
    /// `hpow[i]` = H^(8 − i) in reflected form (pre-multiplied by x), so
    /// that a 32-byte load at `hpow[2k]` gives the powers for the k-th
    /// register of an 8-block batch.
    hpow: [[u8; 16]; 8],
    /// Running GHASH accumulator, reflected.
    acc: [u8; 16],
    /// Reflected counter block with the 32-bit counter zeroed (IV part).
    ctr_base: [u8; 16],
    /// The next 32-bit block counter (inc32 semantics).
    ctr: u32,
}

/// The temporaries of [`Kernel::setup`] that hold the GHASH key H: kept
/// in one place so that they can be wiped, and the wipe tested.
#[derive(Zeroize)]
struct SetupScratch {
    h: [u8; 16],
    hr: u128,
    h1: __m128i,
    cur: __m128i,
}

impl SetupScratch {
    #[target_feature(enable = "sse2")]
    fn new() -> Self {
        SetupScratch {
            h: [0; 16],
            hr: 0,
            h1: _mm_setzero_si128(),
            cur: _mm_setzero_si128(),
        }
    }

    /// Every byte zero (tests of the wipe).
    #[cfg(test)]
    fn is_zero(&self) -> bool {
        let h1: [u8; 16] = bytes128(self.h1);
        let cur: [u8; 16] = bytes128(self.cur);
        self.h == [0; 16] && self.hr == 0 && h1 == [0; 16] && cur == [0; 16]
    }
}

#[cfg(test)]
fn bytes128(x: __m128i) -> [u8; 16] {
    let mut b = [0u8; 16];
    // SAFETY: SSE2 is part of the x86-64 baseline.
    unsafe { store128(&mut b, x) };
    b
}

/// Whether the CPU can run the kernel.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("vaes")
        && is_x86_feature_detected!("vpclmulqdq")
        && is_x86_feature_detected!("aes")
        && is_x86_feature_detected!("pclmulqdq")
        && is_x86_feature_detected!("sse4.1")
}

impl Kernel {
    /// Set up AES-256-GCM for `key` (32 bytes) and a 12-byte `iv`. The
    /// counter starts at 2 (counter 1 makes the tag mask, see
    /// [`Kernel::tag_mask`]). `None` when the key or IV has the wrong
    /// length or the CPU lacks a feature.
    ///
    /// Built in its final heap place (round keys and H powers are never
    /// moved, so no stale copy is left behind), with the set-up
    /// temporaries wiped ([`SetupScratch`]).
    pub(crate) fn new(key: &[u8], iv: &[u8]) -> Option<Box<Kernel>> {
        let key: &[u8; 32] = key.try_into().ok()?;
        let iv: &[u8; 12] = iv.try_into().ok()?;
        if !available() {
            return None;
        }
        let mut k = Box::new(Kernel {
            rk: [[0; 16]; 15],
            hpow: [[0; 16]; 8],
            acc: [0; 16],
            ctr_base: [0; 16],
            ctr: 2,
        });
        k.ctr_base[..12].copy_from_slice(iv);
        k.ctr_base.reverse();
        // SAFETY: `available()` confirmed aes, pclmulqdq, sse4.1 (and more).
        unsafe { k.setup_wiped(key) };
        Some(k)
    }

    /// [`Kernel::setup`] with fresh scratch, then the stack below this
    /// frame wiped (register spills of the key expansion land there).
    ///
    /// # Safety
    /// The CPU has the features `setup` enables.
    unsafe fn setup_wiped(&mut self, key: &[u8; 32]) {
        // SAFETY: the caller guarantees the features.
        unsafe {
            let mut scratch = SetupScratch::new();
            self.setup(key, &mut scratch);
        }
        zeroize::zeroize_stack::<STACK_WIPE>();
    }

    /// Key expansion and H^1..H^8 into `self`; the temporaries go through
    /// `t`, which is zero again on return (the tests check it).
    #[target_feature(enable = "aes,pclmulqdq,sse2,ssse3,sse4.1")]
    fn setup(&mut self, key: &[u8; 32], t: &mut SetupScratch) {
        expand_key_256(key, &mut self.rk);
        // H = E_K(0^128), reflected, then multiplied by x.
        t.h = self.encrypt_block([0u8; 16]);
        t.hr = u128::from_be_bytes(t.h);
        let carry = t.hr >> 127;
        t.hr <<= 1;
        if carry == 1 {
            t.hr ^= (u128::from(GFPOLY_HI) << 64) | u128::from(GFPOLY_LO);
        }
        t.h = t.hr.to_le_bytes();
        t.h1 = load128(&t.h);
        t.cur = t.h1;
        for slot in self.hpow.iter_mut().rev() {
            store128(slot, t.cur);
            t.cur = gf_mul(t.cur, t.h1);
        }
        t.zeroize();
    }

    #[target_feature(enable = "aes,sse2")]
    fn encrypt_block(&self, block: [u8; 16]) -> [u8; 16] {
        let mut x = _mm_xor_si128(load128(&block), load128(&self.rk[0]));
        for rk in &self.rk[1..14] {
            x = _mm_aesenc_si128(x, load128(rk));
        }
        x = _mm_aesenclast_si128(x, load128(&self.rk[14]));
        let mut out = [0u8; 16];
        store128(&mut out, x);
        out
    }

    /// E_K(J0), the mask XORed into the GHASH result to make the tag.
    pub(crate) fn tag_mask(&self) -> [u8; 16] {
        let mut j0 = self.ctr_base;
        j0[0] = 1; // reflected: byte 15 of the block
        j0.reverse();
        // SAFETY: the kernel exists only if `available()` held.
        unsafe { self.encrypt_block(j0) }
    }

    /// The keystream block for the current counter; advances the counter.
    pub(crate) fn keystream_block(&mut self) -> [u8; 16] {
        let mut b = self.ctr_base;
        b[..4].copy_from_slice(&self.ctr.to_le_bytes());
        b.reverse();
        self.ctr = self.ctr.wrapping_add(1);
        // SAFETY: the kernel exists only if `available()` held.
        unsafe { self.encrypt_block(b) }
    }

    /// Absorb whole blocks into GHASH (`data.len()` a multiple of 16; any
    /// remainder is ignored).
    pub(crate) fn ghash_blocks(&mut self, data: &[u8]) {
        let n = data.len() / 16;
        // SAFETY: `available()` held; `ghash_raw` reads `n * 16 <=
        // data.len()` bytes from `data`.
        unsafe { self.ghash_raw(data.as_ptr(), n) };
        zeroize::zeroize_stack::<STACK_WIPE>();
    }

    /// Final GHASH block (bit lengths) and the tag.
    pub(crate) fn finish(&mut self, aad_len: u64, ct_len: u64) -> [u8; 16] {
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&(aad_len.wrapping_mul(8)).to_be_bytes());
        lens[8..].copy_from_slice(&(ct_len.wrapping_mul(8)).to_be_bytes());
        self.ghash_blocks(&lens);
        let mut tag = self.acc;
        tag.reverse();
        let mut mask = self.tag_mask();
        tag.iter_mut().zip(mask).for_each(|(t, m)| *t ^= m);
        mask.zeroize();
        tag
    }

    /// Encrypt (`encrypt`) or decrypt whole blocks of `data` in place and
    /// absorb the ciphertext into GHASH. Only `data.len() / 16` blocks are
    /// touched.
    pub(crate) fn crypt_blocks(&mut self, data: &mut [u8], encrypt: bool) {
        let n = data.len() / 16;
        let p = data.as_mut_ptr();
        // SAFETY: `available()` held; `crypt_raw` reads and writes the
        // first `n * 16 <= data.len()` bytes of `data`, which is exclusively
        // borrowed (in place: every 8-block group is loaded before it is
        // stored).
        unsafe { self.crypt_raw(p, p, n, encrypt) };
        zeroize::zeroize_stack::<STACK_WIPE>();
    }

    /// Like [`Kernel::crypt_blocks`], reading `src` and writing `dst`
    /// (the shorter length counts).
    pub(crate) fn crypt_blocks_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) {
        let n = src.len().min(dst.len()) / 16;
        // SAFETY: `available()` held; reads `n * 16 <= src.len()` bytes of
        // `src` and writes `n * 16 <= dst.len()` bytes of `dst`; they cannot
        // overlap (shared vs exclusive borrow).
        unsafe { self.crypt_raw(src.as_ptr(), dst.as_mut_ptr(), n, encrypt) };
        zeroize::zeroize_stack::<STACK_WIPE>();
    }

    #[target_feature(enable = "avx2,vaes,vpclmulqdq,aes,pclmulqdq")]
    unsafe fn ghash_raw(&mut self, src: *const u8, nblocks: usize) {
        let bswap = _mm256_broadcastsi128_si256(load128(&BSWAP));
        let gfpoly =
            _mm256_broadcastsi128_si256(_mm_set_epi64x(GFPOLY_HI as i64, GFPOLY_LO as i64));
        let mut h = self.load_hpow();
        let mut acc = _mm256_zextsi128_si256(load128(&self.acc));
        let mut i = 0usize;
        while i + 8 <= nblocks {
            // SAFETY: blocks i..i+8 are within the caller's `nblocks`.
            let c = unsafe { load_group(src.add(i * 16)) };
            acc = ghash8(acc, c, &h, bswap, gfpoly);
            i += 8;
        }
        let mut a = _mm256_castsi256_si128(acc);
        let h1 = load128(&self.hpow[7]);
        let bswap1 = load128(&BSWAP);
        let gfpoly1 = _mm256_castsi256_si128(gfpoly);
        while i < nblocks {
            // SAFETY: block i is within the caller's `nblocks`.
            let b = unsafe { _mm_loadu_si128(src.add(i * 16).cast()) };
            a = gf_mul_p(_mm_xor_si128(a, _mm_shuffle_epi8(b, bswap1)), h1, gfpoly1);
            i += 1;
        }
        store128(&mut self.acc, a);
        // The H powers' copies in this frame (registers the compiler
        // spilled are wiped by the caller's `zeroize_stack`).
        h.zeroize();
    }

    #[target_feature(enable = "avx2,vaes,vpclmulqdq,aes,pclmulqdq")]
    unsafe fn crypt_raw(&mut self, src: *const u8, dst: *mut u8, nblocks: usize, encrypt: bool) {
        let bswap = _mm256_broadcastsi128_si256(load128(&BSWAP));
        let gfpoly =
            _mm256_broadcastsi128_si256(_mm_set_epi64x(GFPOLY_HI as i64, GFPOLY_LO as i64));
        let mut h = self.load_hpow();
        let mut rk = [_mm256_setzero_si256(); 15];
        for (r, k) in rk.iter_mut().zip(self.rk.iter()) {
            *r = _mm256_broadcastsi128_si256(load128(k));
        }
        let base = _mm256_broadcastsi128_si256(load128(&self.ctr_base));
        let two = _mm256_broadcastsi128_si256(_mm_set_epi32(0, 0, 0, 2));
        let mut ctr = _mm256_add_epi32(base, _mm256_set_epi32(0, 0, 0, 1, 0, 0, 0, 0));
        ctr = _mm256_add_epi32(
            ctr,
            _mm256_broadcastsi128_si256(_mm_set_epi32(0, 0, 0, self.ctr as i32)),
        );
        let mut acc = _mm256_zextsi128_si256(load128(&self.acc));
        let mut i = 0usize;
        while i + 8 <= nblocks {
            let c0 = ctr;
            let c1 = _mm256_add_epi32(c0, two);
            let c2 = _mm256_add_epi32(c1, two);
            let c3 = _mm256_add_epi32(c2, two);
            ctr = _mm256_add_epi32(c3, two);
            let mut k = [
                _mm256_xor_si256(_mm256_shuffle_epi8(c0, bswap), rk[0]),
                _mm256_xor_si256(_mm256_shuffle_epi8(c1, bswap), rk[0]),
                _mm256_xor_si256(_mm256_shuffle_epi8(c2, bswap), rk[0]),
                _mm256_xor_si256(_mm256_shuffle_epi8(c3, bswap), rk[0]),
            ];
            // SAFETY: blocks i..i+8 are within the caller's `nblocks`.
            let input = unsafe { load_group(src.add(i * 16)) };
            if !encrypt {
                acc = ghash8(acc, input, &h, bswap, gfpoly);
            }
            for r in &rk[1..14] {
                for x in k.iter_mut() {
                    *x = _mm256_aesenc_epi128(*x, *r);
                }
            }
            for x in k.iter_mut() {
                *x = _mm256_aesenclast_epi128(*x, rk[14]);
            }
            let out = [
                _mm256_xor_si256(k[0], input[0]),
                _mm256_xor_si256(k[1], input[1]),
                _mm256_xor_si256(k[2], input[2]),
                _mm256_xor_si256(k[3], input[3]),
            ];
            // SAFETY: blocks i..i+8 are within the caller's `nblocks`.
            unsafe { store_group(dst.add(i * 16), out) };
            if encrypt {
                acc = ghash8(acc, out, &h, bswap, gfpoly);
            }
            i += 8;
        }
        let done = i;
        store128(&mut self.acc, _mm256_castsi256_si128(acc));
        self.ctr = self.ctr.wrapping_add(done as u32);
        // Remaining < 8 whole blocks, one at a time.
        let mut rk1: [__m128i; 15] = rk.map(|r| _mm256_castsi256_si128(r));
        while i < nblocks {
            let mut cb = self.ctr_base;
            cb[..4].copy_from_slice(&self.ctr.to_le_bytes());
            self.ctr = self.ctr.wrapping_add(1);
            let mut x = _mm_xor_si128(_mm_shuffle_epi8(load128(&cb), load128(&BSWAP)), rk1[0]);
            for r in &rk1[1..14] {
                x = _mm_aesenc_si128(x, *r);
            }
            x = _mm_aesenclast_si128(x, rk1[14]);
            // SAFETY: block i is within the caller's `nblocks`.
            let b = unsafe { _mm_loadu_si128(src.add(i * 16).cast()) };
            let o = _mm_xor_si128(x, b);
            // SAFETY: block i is within the caller's `nblocks`.
            unsafe { _mm_storeu_si128(dst.add(i * 16).cast(), o) };
            let ct = if encrypt { o } else { b };
            let a = load128(&self.acc);
            let a = gf_mul_p(
                _mm_xor_si128(a, _mm_shuffle_epi8(ct, load128(&BSWAP))),
                load128(&self.hpow[7]),
                _mm256_castsi256_si128(gfpoly),
            );
            store128(&mut self.acc, a);
            i += 1;
        }
        // The round keys' and H powers' copies in this frame (spilled
        // registers: the caller's `zeroize_stack`).
        rk.zeroize();
        rk1.zeroize();
        h.zeroize();
    }

    /// Move the block counter (tests of the keystream limit).
    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, ctr: u32) {
        self.ctr = ctr;
    }

    #[target_feature(enable = "avx2")]
    fn load_hpow(&self) -> [__m256i; 4] {
        let p = self.hpow.as_ptr();
        // SAFETY: `hpow` is 8 contiguous 16-byte rows; for k < 4 the load
        // reads rows 2k and 2k + 1.
        core::array::from_fn(|k| unsafe { _mm256_loadu_si256(p.add(2 * k).cast()) })
    }
}

#[inline]
#[target_feature(enable = "sse2")]
fn load128(b: &[u8; 16]) -> __m128i {
    // SAFETY: reads exactly the 16 bytes of `b`.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "sse2")]
fn store128(b: &mut [u8; 16], x: __m128i) {
    // SAFETY: writes exactly the 16 bytes of `b`.
    unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), x) }
}

/// Load 8 blocks (128 bytes) from `p`.
///
/// # Safety
/// `p` must be valid for reading 128 bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load_group(p: *const u8) -> [__m256i; 4] {
    // SAFETY: the caller guarantees 128 readable bytes at `p`.
    core::array::from_fn(|j| unsafe { _mm256_loadu_si256(p.add(32 * j).cast()) })
}

/// Store 8 blocks (128 bytes) to `p`.
///
/// # Safety
/// `p` must be valid for writing 128 bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_group(p: *mut u8, v: [__m256i; 4]) {
    for (j, x) in v.into_iter().enumerate() {
        // SAFETY: the caller guarantees 128 writable bytes at `p`.
        unsafe { _mm256_storeu_si256(p.add(32 * j).cast(), x) };
    }
}

/// acc' = (acc ⊕ B0)·H^8 ⊕ B1·H^7 ⊕ … ⊕ B7·H^1 for the 8 ciphertext
/// blocks in `c` (GCM byte order), with one reduction. `acc` is in lane 0
/// of the input (lane 1 zero) and of the result.
#[inline]
#[target_feature(enable = "avx2,vpclmulqdq")]
fn ghash8(
    acc: __m256i,
    c: [__m256i; 4],
    h: &[__m256i; 4],
    bswap: __m256i,
    gfpoly: __m256i,
) -> __m256i {
    let mut lo = _mm256_setzero_si256();
    let mut mi = _mm256_setzero_si256();
    let mut hi = _mm256_setzero_si256();
    for (j, (x, hp)) in c.into_iter().zip(h.iter()).enumerate() {
        let mut a = _mm256_shuffle_epi8(x, bswap);
        if j == 0 {
            a = _mm256_xor_si256(a, acc);
        }
        lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128::<0x00>(a, *hp));
        mi = _mm256_xor_si256(
            mi,
            _mm256_xor_si256(
                _mm256_clmulepi64_epi128::<0x01>(a, *hp),
                _mm256_clmulepi64_epi128::<0x10>(a, *hp),
            ),
        );
        hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128::<0x11>(a, *hp));
    }
    // Fold LO into MI, then MI into HI (per 128-bit lane).
    let t = _mm256_clmulepi64_epi128::<0x01>(gfpoly, lo);
    mi = _mm256_xor_si256(_mm256_xor_si256(mi, _mm256_shuffle_epi32::<0x4e>(lo)), t);
    let t = _mm256_clmulepi64_epi128::<0x01>(gfpoly, mi);
    hi = _mm256_xor_si256(_mm256_xor_si256(hi, _mm256_shuffle_epi32::<0x4e>(mi)), t);
    // Sum the two lanes into lane 0.
    let x128 = _mm_xor_si128(
        _mm256_castsi256_si128(hi),
        _mm256_extracti128_si256::<1>(hi),
    );
    _mm256_zextsi128_si256(x128)
}

/// One GHASH multiplication a·b in the reflected representation (b
/// pre-multiplied by x).
#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
fn gf_mul(a: __m128i, b: __m128i) -> __m128i {
    gf_mul_p(a, b, _mm_set_epi64x(GFPOLY_HI as i64, GFPOLY_LO as i64))
}

#[inline]
#[target_feature(enable = "sse2,pclmulqdq")]
fn gf_mul_p(a: __m128i, b: __m128i, gfpoly: __m128i) -> __m128i {
    let lo = _mm_clmulepi64_si128::<0x00>(a, b);
    let mi = _mm_xor_si128(
        _mm_clmulepi64_si128::<0x01>(a, b),
        _mm_clmulepi64_si128::<0x10>(a, b),
    );
    let hi = _mm_clmulepi64_si128::<0x11>(a, b);
    let t = _mm_clmulepi64_si128::<0x01>(gfpoly, lo);
    let mi = _mm_xor_si128(_mm_xor_si128(mi, _mm_shuffle_epi32::<0x4e>(lo)), t);
    let t = _mm_clmulepi64_si128::<0x01>(gfpoly, mi);
    _mm_xor_si128(_mm_xor_si128(hi, _mm_shuffle_epi32::<0x4e>(mi)), t)
}

/// AES-256 key expansion with AESKEYGENASSIST (Intel AES-NI white paper).
#[target_feature(enable = "aes,sse2")]
fn expand_key_256(key: &[u8; 32], rk: &mut [[u8; 16]; 15]) {
    #[inline]
    #[target_feature(enable = "sse2")]
    fn assist1(t1: __m128i, t2: __m128i) -> __m128i {
        let t2 = _mm_shuffle_epi32::<0xff>(t2);
        let mut t1 = t1;
        let mut t4 = _mm_slli_si128::<4>(t1);
        t1 = _mm_xor_si128(t1, t4);
        t4 = _mm_slli_si128::<4>(t4);
        t1 = _mm_xor_si128(t1, t4);
        t4 = _mm_slli_si128::<4>(t4);
        t1 = _mm_xor_si128(t1, t4);
        _mm_xor_si128(t1, t2)
    }
    #[inline]
    #[target_feature(enable = "aes,sse2")]
    fn assist2(t1: __m128i, t3: __m128i) -> __m128i {
        let t2 = _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(t1));
        let mut t3 = t3;
        let mut t4 = _mm_slli_si128::<4>(t3);
        t3 = _mm_xor_si128(t3, t4);
        t4 = _mm_slli_si128::<4>(t4);
        t3 = _mm_xor_si128(t3, t4);
        t4 = _mm_slli_si128::<4>(t4);
        t3 = _mm_xor_si128(t3, t4);
        _mm_xor_si128(t3, t2)
    }
    let mut lo = [0u8; 16];
    let mut hi = [0u8; 16];
    lo.copy_from_slice(&key[..16]);
    hi.copy_from_slice(&key[16..]);
    let mut t1 = load128(&lo);
    let mut t3 = load128(&hi);
    lo.zeroize();
    hi.zeroize();
    store128(&mut rk[0], t1);
    store128(&mut rk[1], t3);
    macro_rules! step {
        ($rcon:literal, $i:literal, $j:literal) => {
            t1 = assist1(t1, _mm_aeskeygenassist_si128::<$rcon>(t3));
            store128(&mut rk[$i], t1);
            t3 = assist2(t1, t3);
            store128(&mut rk[$j], t3);
        };
    }
    step!(0x01, 2, 3);
    step!(0x02, 4, 5);
    step!(0x04, 6, 7);
    step!(0x08, 8, 9);
    step!(0x10, 10, 11);
    step!(0x20, 12, 13);
    t1 = assist1(t1, _mm_aeskeygenassist_si128::<0x40>(t3));
    store128(&mut rk[14], t1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::{AeadInOut, KeyInit};

    /// What [`Kernel::setup`] needs (AES-NI, PCLMULQDQ, SSE4.1: far more
    /// CPUs than the whole kernel), so its tests run on those too.
    fn setup_cpu() -> bool {
        is_x86_feature_detected!("aes")
            && is_x86_feature_detected!("pclmulqdq")
            && is_x86_feature_detected!("sse4.1")
    }

    fn zero_kernel() -> Kernel {
        Kernel {
            rk: [[0; 16]; 15],
            hpow: [[0; 16]; 8],
            acc: [0; 16],
            ctr_base: [0; 16],
            ctr: 2,
        }
    }

    /// The set-up temporaries holding H are zero when `setup` returns,
    /// and H^1 (reflected, times x) is in place: H = AES-256(K, 0) from
    /// the `aes` crate.
    #[test]
    fn setup_wipes_its_scratch() {
        if crate::arch::skip("gcm", setup_cpu()) {
            return;
        }
        use aes::cipher::{BlockCipherEncrypt, KeyInit as _};
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5c);
        let mut k = zero_kernel();
        // SAFETY: `setup_cpu()` confirmed what `setup` enables.
        let mut t = unsafe { SetupScratch::new() };
        // SAFETY: as above.
        unsafe { k.setup(&key, &mut t) };
        assert!(t.is_zero(), "set-up scratch not wiped");
        let mut h = aes::cipher::Array::default();
        aes::Aes256::new_from_slice(&key)
            .unwrap()
            .encrypt_block(&mut h);
        let mut hr = u128::from_be_bytes(h.into());
        let carry = hr >> 127;
        hr <<= 1;
        if carry == 1 {
            hr ^= (u128::from(GFPOLY_HI) << 64) | u128::from(GFPOLY_LO);
        }
        assert_eq!(k.hpow[7], hr.to_le_bytes());
    }

    /// Nothing of the key or of H is left on the stack below
    /// `setup_wiped`, while the same probe around the unwiped `setup`
    /// shows how deep its frame goes (no deeper than half the wipe).
    #[test]
    fn setup_leaves_no_key_words_on_the_stack() {
        use crate::arch::stack_probe;
        if crate::arch::skip("gcm", setup_cpu()) {
            return;
        }
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5c);
        let mut k = zero_kernel();
        // SAFETY: `setup_cpu()` confirmed what `setup` enables.
        let raw = stack_probe::run(&mut || unsafe { k.setup(&key, &mut SetupScratch::new()) });
        let mut words = stack_probe::le_words(&key);
        for h in [k.hpow[7], k.rk[14]] {
            words.extend(stack_probe::le_words(&h));
        }
        words.retain(|&w| w != 0);
        let depth = stack_probe::touched(&raw);
        eprintln!(
            "gcm setup: frame reaches {depth} bytes below the probe, key material at {:?}",
            stack_probe::find_words(&raw, &words)
        );
        assert!(
            2 * depth <= STACK_WIPE,
            "set-up frame {depth} deeper than half of STACK_WIPE"
        );
        let mut k = zero_kernel();
        // SAFETY: as above.
        let wiped = stack_probe::run(&mut || unsafe { k.setup_wiped(&key) });
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
    }

    /// Nothing of the round keys or H is left on the stack below
    /// `crypt_blocks`, `crypt_blocks_to` and `ghash_blocks`. (Not run on
    /// the development machine, which lacks VAES: the frame sizes from
    /// the disassembly there were 1.8 KiB release and 2.1 KiB plus
    /// callees debug for `crypt_raw`, so the bound here is the wipe
    /// itself rather than half of it.)
    #[test]
    fn crypt_leaves_no_key_words_on_the_stack() {
        use crate::arch::stack_probe;
        if crate::arch::skip("gcm", available()) {
            return;
        }
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(29) ^ 0xc5);
        let mut k = Kernel::new(&key, &[3u8; 12]).unwrap();
        let mut words = stack_probe::le_words(&key);
        for h in [k.hpow[7], k.hpow[0], k.rk[14]] {
            words.extend(stack_probe::le_words(&h));
        }
        words.retain(|&w| w != 0);
        let mut buf = vec![0u8; 64 * 16];
        let p = buf.as_mut_ptr();
        // SAFETY: the kernel exists, so the CPU has its features; 64
        // blocks are read and written in place in `buf`.
        let raw = stack_probe::run(&mut || unsafe { k.crypt_raw(p, p, 64, true) });
        let depth = stack_probe::touched(&raw);
        eprintln!(
            "gcm crypt_raw: frame reaches {depth} bytes below the probe, key material at {:?}",
            stack_probe::find_words(&raw, &words)
        );
        assert!(
            depth <= STACK_WIPE,
            "kernel frame {depth} deeper than STACK_WIPE"
        );
        let wiped = stack_probe::run(&mut || k.crypt_blocks(&mut buf, true));
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
        let src = vec![0u8; 64 * 16];
        let wiped = stack_probe::run(&mut || k.crypt_blocks_to(&src, &mut buf, false));
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
        let wiped = stack_probe::run(&mut || k.ghash_blocks(&src));
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
    }

    /// Every field holding key material is cleared by `zeroize` (what the
    /// derived `ZeroizeOnDrop` runs on drop of the boxed kernel).
    #[test]
    fn zeroize_clears_every_field() {
        fn is_zeroize_on_drop<T: ZeroizeOnDrop>() {}
        is_zeroize_on_drop::<Kernel>();
        let mut k = Kernel {
            rk: [[1; 16]; 15],
            hpow: [[2; 16]; 8],
            acc: [3; 16],
            ctr_base: [4; 16],
            ctr: 5,
        };
        k.zeroize();
        assert_eq!(k.rk, [[0; 16]; 15]);
        assert_eq!(k.hpow, [[0; 16]; 8]);
        assert_eq!((k.acc, k.ctr_base, k.ctr), ([0; 16], [0; 16], 0));
    }

    #[test]
    fn fips197_aes256_block() {
        if crate::arch::skip("gcm", setup_cpu()) {
            return;
        }
        let key: Vec<u8> = (0u8..32).collect();
        let mut k = zero_kernel();
        // SAFETY: `setup_cpu()` confirmed what `setup` enables.
        unsafe { k.setup(key.as_slice().try_into().unwrap(), &mut SetupScratch::new()) };
        let pt: [u8; 16] = core::array::from_fn(|i| (i as u8) * 0x11);
        // SAFETY: `setup_cpu()` confirmed AES-NI.
        let ct = unsafe { k.encrypt_block(pt) };
        assert_eq!(crate::hex::encode(&ct), "8ea2b7ca516745bfeafc49904b496089");
    }

    #[test]
    fn one_shot_matches_aes_gcm_crate() {
        if crate::arch::skip("gcm", available()) {
            return;
        }
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in [
            0usize,
            16,
            32,
            112,
            128,
            144,
            240,
            256,
            272,
            512,
            4096,
            4112,
            65536 + 48,
        ] {
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let iv: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let pt: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let one = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    iv.as_slice().try_into().unwrap(),
                    &[],
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            let mut k = Kernel::new(&key, &iv).unwrap();
            let mut buf = pt.clone();
            k.crypt_blocks(&mut buf, true);
            assert_eq!(buf, expect, "len {len}");
            assert_eq!(k.finish(0, len as u64).as_slice(), tag.as_slice());
            let mut k = Kernel::new(&key, &iv).unwrap();
            let mut out = vec![0u8; len];
            k.crypt_blocks_to(&buf, &mut out, false);
            assert_eq!(out, pt);
            assert_eq!(k.finish(0, len as u64).as_slice(), tag.as_slice());
            let mut k = Kernel::new(&key, &iv).unwrap();
            k.ghash_blocks(&buf);
            assert_eq!(k.finish(0, len as u64).as_slice(), tag.as_slice());
        }
    }
}
