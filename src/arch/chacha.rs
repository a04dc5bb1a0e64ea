//! Fused ChaCha20-Poly1305 kernel for x86-64 with AVX2 and BMI2.
//!
//! Part of [`crate::arch`], the only module with `unsafe` code. It exists because the portable path (RustCrypto `chacha20`
//! and `poly1305`, two passes over every chunk) runs at about half the
//! speed of OpenSSL's ChaCha20-Poly1305; see `docs/performance.md`.
//!
//! Structure: ChaCha20 on 8 blocks (512 bytes) per iteration in the
//! "vertical" layout — one 256-bit register per state word, lane `j` being
//! block `j` — with the 16- and 8-bit rotations done by `vpshufb`, then an
//! 8×8 transpose of 32-bit words back to block order and the XOR with the
//! input. Poly1305 runs as scalar 64-bit-limb code (`mulx`) stitched into
//! the ChaCha rounds: 4 of the 32 16-byte blocks of a batch after each of
//! the first 8 double rounds, so the integer multiplier works while the
//! vector units run the rounds. Poly1305 hashes the ciphertext: when
//! decrypting, the batch being decrypted (still ciphertext in the source);
//! when encrypting, the batch encrypted in the previous iteration (already
//! ciphertext in the destination), the last one after the loop.
//!
//! Only whole 512-byte batches go through the fused loop; everything else
//! (AAD, the partial block at either end of a call, authenticate-only
//! input) goes through the safe wrapper in `super::cipher` with
//! [`Kernel::keystream`] and [`Kernel::poly_blocks`]. Everything is checked
//! against the `chacha20`, `poly1305` and `chacha20poly1305` crates on
//! random inputs (tests below and in `super::cipher`).
//!
//! Every `unsafe` block is either a call to a `#[target_feature]` function,
//! which is sound because [`Kernel::new`] only returns a kernel after
//! `is_x86_feature_detected!` confirmed every feature it enables, or a raw
//! load/store whose bounds are checked by the caller (noted at each site).

use core::arch::x86_64::*;

use super::STACK_WIPE;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Bytes per kernel iteration (8 ChaCha20 blocks).
pub(crate) const BATCH: usize = 512;

/// When encrypting, the batch hashed during the rounds of batch `i` is
/// batch `i - ENC_LAG` (already stored ciphertext).
const ENC_LAG: usize = 1;

/// "expand 32-byte k".
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// `vpshufb` masks rotating every 32-bit word left by 16 and by 8.
const ROT16: [u8; 32] = [
    2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14,
    15, 12, 13,
];
const ROT8: [u8; 32] = [
    3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15,
    12, 13, 14,
];

/// ChaCha20 key, nonce and block counter, Poly1305 key and accumulator for
/// one message.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct Kernel {
    key: [u32; 8],
    nonce: [u32; 3],
    /// The next 32-bit block counter.
    ctr: u32,
    /// Clamped Poly1305 `r` (two 64-bit limbs).
    r: [u64; 2],
    /// Poly1305 `s`.
    s: [u64; 2],
    /// Poly1305 accumulator: h0 + h1·2^64 + h2·2^128, partially reduced.
    h: [u64; 3],
}

/// Whether the CPU can run the kernel.
pub(crate) fn available() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("bmi2")
}

impl Kernel {
    /// Set up ChaCha20-Poly1305 (RFC 8439) for a 32-byte `key` and 12-byte
    /// `nonce`: block 0 makes the Poly1305 key, the body starts at block 1.
    /// `None` when the key or nonce has the wrong length or the CPU lacks
    /// a feature.
    ///
    /// Built in its final heap place (the key words are written there and
    /// never moved), with block 0 (the Poly1305 key) wiped.
    pub(crate) fn new(key: &[u8], nonce: &[u8]) -> Option<Box<Kernel>> {
        let key: &[u8; 32] = key.try_into().ok()?;
        let nonce: &[u8; 12] = nonce.try_into().ok()?;
        if !available() {
            return None;
        }
        let mut k = Box::new(Kernel {
            key: [0; 8],
            nonce: [0; 3],
            ctr: 0,
            r: [0; 2],
            s: [0; 2],
            h: [0; 3],
        });
        for (i, w) in k.key.iter_mut().enumerate() {
            *w = le32(key, 4 * i);
        }
        for (i, w) in k.nonce.iter_mut().enumerate() {
            *w = le32(nonce, 4 * i);
        }
        let mut block0 = [0u8; BATCH];
        k.poly_key(&mut block0);
        Some(k)
    }

    /// Block 0 of the keystream into `block0`, the Poly1305 key from it
    /// into `self`; `block0` is zero again on return (the tests check it).
    fn poly_key(&mut self, block0: &mut [u8; BATCH]) {
        self.keystream(block0);
        self.r = [
            le64(block0, 0) & 0x0fff_fffc_0fff_ffff,
            le64(block0, 8) & 0x0fff_fffc_0fff_fffc,
        ];
        self.s = [le64(block0, 16), le64(block0, 24)];
        block0.zeroize();
        self.ctr = 1;
    }

    /// Absorb whole 16-byte blocks into Poly1305 (any remainder is
    /// ignored).
    pub(crate) fn poly_blocks(&mut self, data: &[u8]) {
        let [r0, r1] = self.r;
        let s1 = r1 + (r1 >> 2);
        let [mut h0, mut h1, mut h2] = self.h;
        for b in data.chunks_exact(16) {
            (h0, h1, h2) = poly_block(h0, h1, h2, le64(b, 0), le64(b, 8), r0, r1, s1);
        }
        self.h = [h0, h1, h2];
    }

    /// The next 8 keystream blocks; advances the counter by 8.
    pub(crate) fn keystream(&mut self, out: &mut [u8; BATCH]) {
        let zero = [0u8; BATCH];
        // SAFETY: the kernel exists only if `available()` held; one batch
        // is read from `zero` and written to `out`, both 512 bytes.
        unsafe { self.crypt_raw::<false, false>(zero.as_ptr(), out.as_mut_ptr(), 1) };
        zeroize::zeroize_stack::<STACK_WIPE>();
    }

    /// Encrypt (`encrypt`) or decrypt the whole 512-byte batches of `data`
    /// in place and absorb the ciphertext into Poly1305; returns the
    /// number of bytes processed (`data.len()` rounded down to a batch).
    pub(crate) fn crypt_blocks(&mut self, data: &mut [u8], encrypt: bool) -> usize {
        let n = data.len() / BATCH;
        let p = data.as_mut_ptr();
        // SAFETY: `available()` held; `crypt_raw` reads and writes the
        // first `n * 512 <= data.len()` bytes of `data`, which is
        // exclusively borrowed. In place is fine: each batch is loaded
        // (and, when decrypting, hashed) before it is stored, and when
        // encrypting only already stored batches are hashed.
        unsafe {
            if encrypt {
                self.crypt_raw::<true, true>(p, p, n);
            } else {
                self.crypt_raw::<false, true>(p, p, n);
            }
        }
        zeroize::zeroize_stack::<STACK_WIPE>();
        n * BATCH
    }

    /// Like [`Kernel::crypt_blocks`], reading `src` and writing `dst` (the
    /// shorter length counts).
    pub(crate) fn crypt_blocks_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) -> usize {
        let n = src.len().min(dst.len()) / BATCH;
        let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
        // SAFETY: `available()` held; reads `n * 512 <= src.len()` bytes
        // of `src`, writes (and, when encrypting, reads back) `n * 512 <=
        // dst.len()` bytes of `dst`; they cannot overlap (shared vs
        // exclusive borrow).
        unsafe {
            if encrypt {
                self.crypt_raw::<true, true>(s, d, n);
            } else {
                self.crypt_raw::<false, true>(s, d, n);
            }
        }
        zeroize::zeroize_stack::<STACK_WIPE>();
        n * BATCH
    }

    /// The final Poly1305 block (AAD and ciphertext lengths) and the tag.
    pub(crate) fn finish(&mut self, aad_len: u64, ct_len: u64) -> [u8; 16] {
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&aad_len.to_le_bytes());
        lens[8..].copy_from_slice(&ct_len.to_le_bytes());
        self.poly_blocks(&lens);
        let [h0, h1, h2] = self.h;
        // Fully reduce (h < 2p here): h − p = h + 5 − 2^130 if that is ≥ 0.
        let t = u128::from(h0) + 5;
        let g0 = t as u64;
        let t = u128::from(h1) + (t >> 64);
        let g1 = t as u64;
        let g2 = h2 + (t >> 64) as u64;
        let mask = 0u64.wrapping_sub(g2 >> 2);
        let f0 = (h0 & !mask) | (g0 & mask);
        let f1 = (h1 & !mask) | (g1 & mask);
        let f = (u128::from(f0) | (u128::from(f1) << 64))
            .wrapping_add(u128::from(self.s[0]) | (u128::from(self.s[1]) << 64));
        self.h = [0; 3];
        f.to_le_bytes()
    }

    /// Move the block counter (tests of the keystream limit).
    #[cfg(test)]
    pub(crate) fn set_counter(&mut self, ctr: u32) {
        self.ctr = ctr;
    }

    /// `nbatch` batches of 8 blocks from `src` to `dst`, XORed with the
    /// keystream from the current counter; with `HASH`, the ciphertext
    /// (`dst` when `ENC`, else `src`) is absorbed into Poly1305.
    ///
    /// # Safety
    /// The CPU has AVX2 and BMI2; `src` is valid for reading and `dst`
    /// for writing (and reading) `nbatch * 512` bytes; they are either the
    /// same pointer or do not overlap.
    #[target_feature(enable = "avx2,bmi2")]
    unsafe fn crypt_raw<const ENC: bool, const HASH: bool>(
        &mut self,
        src: *const u8,
        dst: *mut u8,
        nbatch: usize,
    ) {
        let r16 = load256(&ROT16);
        let r8 = load256(&ROT8);
        let mut init = [_mm256_setzero_si256(); 16];
        for (v, w) in init.iter_mut().zip(SIGMA.iter().chain(self.key.iter())) {
            *v = _mm256_set1_epi32(*w as i32);
        }
        for (v, w) in init[13..].iter_mut().zip(self.nonce.iter()) {
            *v = _mm256_set1_epi32(*w as i32);
        }
        let mut ctr = _mm256_add_epi32(
            _mm256_set1_epi32(self.ctr as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        let eight = _mm256_set1_epi32(8);
        let [r0, r1] = self.r;
        let s1 = r1 + (r1 >> 2);
        let [mut h0, mut h1, mut h2] = self.h;
        let mut copy = [0u64; BATCH / 8];
        for i in 0..nbatch {
            // The 512 ciphertext bytes hashed during this batch's rounds.
            let hash_src = if !HASH {
                None
            } else if !ENC {
                // SAFETY: batch i is within the caller's `nbatch`.
                Some(unsafe { src.add(i * BATCH) })
            } else if i >= ENC_LAG {
                // SAFETY: batch i − ENC_LAG is within the caller's `nbatch`
                // and was stored in an earlier iteration; `copy` has room
                // for one batch.
                unsafe {
                    let p = dst.add((i - ENC_LAG) * BATCH).cast_const();
                    for j in 0..16 {
                        let v = _mm256_loadu_si256(p.add(32 * j).cast());
                        _mm256_storeu_si256(copy.as_mut_ptr().add(4 * j).cast(), v);
                    }
                }
                Some(copy.as_ptr().cast::<u8>())
            } else {
                None
            };
            let mut x = init;
            x[12] = ctr;
            for dr in 0..10 {
                double_round(&mut x, r16, r8);
                if let (Some(p), true) = (hash_src, dr < 8) {
                    for k in 0..4 {
                        // SAFETY: block 4·dr + k < 32 of a 512-byte batch
                        // the caller made readable (see above).
                        let (m0, m1) = unsafe { load_block(p.add((4 * dr + k) * 16)) };
                        (h0, h1, h2) = poly_block(h0, h1, h2, m0, m1, r0, r1, s1);
                    }
                }
            }
            for (v, w) in x.iter_mut().zip(init.iter()) {
                *v = _mm256_add_epi32(*v, *w);
            }
            // init[12] is zero: the counter word is per batch.
            x[12] = _mm256_add_epi32(x[12], ctr);
            // SAFETY: batch i is within the caller's `nbatch`.
            unsafe { xor_store(&x, src.add(i * BATCH), dst.add(i * BATCH)) };
            ctr = _mm256_add_epi32(ctr, eight);
        }
        if ENC && HASH {
            // The batches not hashed in the loop (the last ENC_LAG).
            for b in nbatch.saturating_sub(ENC_LAG)..nbatch {
                // SAFETY: batch b is within the caller's `nbatch` and was
                // stored above.
                let p = unsafe { dst.add(b * BATCH).cast_const() };
                for k in 0..32 {
                    // SAFETY: block k < 32 of that batch.
                    let (m0, m1) = unsafe { load_block(p.add(k * 16)) };
                    (h0, h1, h2) = poly_block(h0, h1, h2, m0, m1, r0, r1, s1);
                }
            }
        }
        self.h = [h0, h1, h2];
        self.ctr = self.ctr.wrapping_add((nbatch * 8) as u32);
        // The key words' copy in this frame (spilled registers and the
        // working state: the caller's `zeroize_stack`).
        init.zeroize();
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// One Poly1305 block (with the 2^128 pad bit): h = (h + m)·r mod p,
/// partially reduced (h2 ≤ 4 on return). `s1` = 5·r1/4 (r1 is a multiple
/// of 4 after clamping).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn poly_block(
    h0: u64,
    h1: u64,
    h2: u64,
    m0: u64,
    m1: u64,
    r0: u64,
    r1: u64,
    s1: u64,
) -> (u64, u64, u64) {
    let t = u128::from(h0) + u128::from(m0);
    let h0 = t as u64;
    let t = u128::from(h1) + u128::from(m1) + (t >> 64);
    let h1 = t as u64;
    let h2 = h2 + 1 + (t >> 64) as u64;
    // h2 ≤ 6, r0, r1 < 2^60, s1 < 2^61: no product or sum overflows.
    let d0 = u128::from(h0) * u128::from(r0) + u128::from(h1) * u128::from(s1);
    let d1 = u128::from(h0) * u128::from(r1)
        + u128::from(h1) * u128::from(r0)
        + u128::from(h2 * s1)
        + (d0 >> 64);
    let d2 = h2 * r0 + (d1 >> 64) as u64;
    // 2^130 ≡ 5: fold the bits above 2^130 back in as 5·(d2 >> 2).
    let c = (d2 >> 2) + (d2 & !3);
    let t = u128::from(d0 as u64) + u128::from(c);
    let t2 = u128::from(d1 as u64) + (t >> 64);
    (t as u64, t2 as u64, (d2 & 3) + (t2 >> 64) as u64)
}

/// Read one 16-byte block as two little-endian 64-bit words.
///
/// # Safety
/// `p` must be valid for reading 16 bytes.
#[inline(always)]
unsafe fn load_block(p: *const u8) -> (u64, u64) {
    // SAFETY: the caller guarantees 16 readable bytes at `p`.
    unsafe {
        (
            u64::from_le(p.cast::<u64>().read_unaligned()),
            u64::from_le(p.add(8).cast::<u64>().read_unaligned()),
        )
    }
}

#[inline]
#[target_feature(enable = "avx2")]
fn load256(b: &[u8; 32]) -> __m256i {
    // SAFETY: reads exactly the 32 bytes of `b`.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Rotate every 32-bit word by whole bytes: `vpshufb` with [`ROT16`] or
/// [`ROT8`]. In inline assembly because LLVM otherwise rewrites the
/// shuffle (16-bit rotation as `vpshuflw` + `vpshufhw`, and the 8-bit one
/// distributed over the preceding XOR), two shuffles instead of one on the
/// ports the rotations by 12 and 7 need too.
#[inline]
#[target_feature(enable = "avx2")]
fn rot_bytes(v: __m256i, mask: __m256i) -> __m256i {
    let out: __m256i;
    // SAFETY: one AVX2 instruction (enabled on this function) on register
    // operands only: no memory, stack or flags are touched.
    unsafe {
        core::arch::asm!(
            "vpshufb {o}, {v}, {m}",
            o = lateout(ymm_reg) out,
            v = in(ymm_reg) v,
            m = in(ymm_reg) mask,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// The four quarter rounds of a column or diagonal round, interleaved.
macro_rules! quarter4 {
    ($x:ident, $r16:ident, $r8:ident, [$a0:literal, $a1:literal, $a2:literal, $a3:literal],
     [$b0:literal, $b1:literal, $b2:literal, $b3:literal],
     [$c0:literal, $c1:literal, $c2:literal, $c3:literal],
     [$d0:literal, $d1:literal, $d2:literal, $d3:literal]) => {
        quarter4!(@step $x, [$a0, $a1, $a2, $a3], [$b0, $b1, $b2, $b3], [$d0, $d1, $d2, $d3],
            |v| rot_bytes(v, $r16));
        quarter4!(@step $x, [$c0, $c1, $c2, $c3], [$d0, $d1, $d2, $d3], [$b0, $b1, $b2, $b3],
            |v| _mm256_or_si256(_mm256_slli_epi32::<12>(v), _mm256_srli_epi32::<20>(v)));
        quarter4!(@step $x, [$a0, $a1, $a2, $a3], [$b0, $b1, $b2, $b3], [$d0, $d1, $d2, $d3],
            |v| rot_bytes(v, $r8));
        quarter4!(@step $x, [$c0, $c1, $c2, $c3], [$d0, $d1, $d2, $d3], [$b0, $b1, $b2, $b3],
            |v| _mm256_or_si256(_mm256_slli_epi32::<7>(v), _mm256_srli_epi32::<25>(v)));
    };
    // a += b; d ^= a; d = rot(d), four times.
    (@step $x:ident, [$a0:literal, $a1:literal, $a2:literal, $a3:literal],
     [$b0:literal, $b1:literal, $b2:literal, $b3:literal],
     [$d0:literal, $d1:literal, $d2:literal, $d3:literal], |$v:ident| $rot:expr) => {
        $x[$a0] = _mm256_add_epi32($x[$a0], $x[$b0]);
        $x[$a1] = _mm256_add_epi32($x[$a1], $x[$b1]);
        $x[$a2] = _mm256_add_epi32($x[$a2], $x[$b2]);
        $x[$a3] = _mm256_add_epi32($x[$a3], $x[$b3]);
        $x[$d0] = { let $v = _mm256_xor_si256($x[$d0], $x[$a0]); $rot };
        $x[$d1] = { let $v = _mm256_xor_si256($x[$d1], $x[$a1]); $rot };
        $x[$d2] = { let $v = _mm256_xor_si256($x[$d2], $x[$a2]); $rot };
        $x[$d3] = { let $v = _mm256_xor_si256($x[$d3], $x[$a3]); $rot };
    };
}

/// One ChaCha20 double round (column round, diagonal round) on 8 blocks.
#[inline]
#[target_feature(enable = "avx2")]
fn double_round(x: &mut [__m256i; 16], r16: __m256i, r8: __m256i) {
    quarter4!(
        x,
        r16,
        r8,
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [8, 9, 10, 11],
        [12, 13, 14, 15]
    );
    quarter4!(
        x,
        r16,
        r8,
        [0, 1, 2, 3],
        [5, 6, 7, 4],
        [10, 11, 8, 9],
        [15, 12, 13, 14]
    );
}

/// Transpose four word vectors (lane j = block j) into four vectors of 4
/// consecutive words: result k holds block k in its low half and block
/// k + 4 in its high half.
#[inline]
#[target_feature(enable = "avx2")]
fn transpose4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    let t0 = _mm256_unpacklo_epi32(a, b);
    let t1 = _mm256_unpackhi_epi32(a, b);
    let t2 = _mm256_unpacklo_epi32(c, d);
    let t3 = _mm256_unpackhi_epi32(c, d);
    [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ]
}

/// Transpose the 8 keystream blocks in `x` to block order, XOR them with
/// the 512 bytes at `src` and store the result at `dst`.
///
/// # Safety
/// `src` must be valid for reading and `dst` for writing 512 bytes
/// (they may be equal).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn xor_store(x: &[__m256i; 16], src: *const u8, dst: *mut u8) {
    let w0 = transpose4(x[0], x[1], x[2], x[3]);
    let w4 = transpose4(x[4], x[5], x[6], x[7]);
    let w8 = transpose4(x[8], x[9], x[10], x[11]);
    let w12 = transpose4(x[12], x[13], x[14], x[15]);
    let quads = w0.iter().zip(&w4).zip(w8.iter().zip(&w12));
    for (j, ((a, b), (c, d))) in quads.enumerate() {
        let ks = [
            (64 * j, _mm256_permute2x128_si256::<0x20>(*a, *b)),
            (64 * j + 32, _mm256_permute2x128_si256::<0x20>(*c, *d)),
            (64 * j + 256, _mm256_permute2x128_si256::<0x31>(*a, *b)),
            (64 * j + 288, _mm256_permute2x128_si256::<0x31>(*c, *d)),
        ];
        for (off, k) in ks {
            // SAFETY: off + 32 <= 512, within the caller's buffers.
            unsafe {
                let v = _mm256_loadu_si256(src.add(off).cast());
                _mm256_storeu_si256(dst.add(off).cast(), _mm256_xor_si256(v, k));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
    use poly1305::universal_hash::{KeyInit, UniversalHash};

    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// Block 0 (the Poly1305 key) is zero when the set-up returns, and
    /// the key taken from it is the `chacha20` crate's block 0.
    #[test]
    fn poly_key_wipes_block0() {
        if crate::arch::skip("chacha", available()) {
            return;
        }
        let key = [7u8; 32];
        let nonce = [9u8; 12];
        let mut k = Kernel::new(&key, &nonce).unwrap();
        let (r, s) = (k.r, k.s);
        k.set_counter(0);
        let mut block0 = [0u8; BATCH];
        k.poly_key(&mut block0);
        assert!(block0.iter().all(|&b| b == 0), "block 0 not wiped");
        assert_eq!((k.r, k.s, k.ctr), (r, s, 1));
        let mut c = chacha20::ChaCha20::new_from_slices(&key, &nonce).unwrap();
        let mut expect = [0u8; 32];
        c.apply_keystream(&mut expect);
        assert_eq!(k.s[0].to_le_bytes(), expect[16..24]);
        assert_eq!(k.r[0], le64(&expect, 0) & 0x0fff_fffc_0fff_ffff);
    }

    /// Nothing of the key is left on the stack below `crypt_blocks`,
    /// `crypt_blocks_to` or `keystream` (the wipe covers the kernel's
    /// frame), while the same probe around the raw kernel call, unwiped,
    /// does find key words there (so the probe can see a leftover) in a
    /// frame no deeper than the wipe.
    #[test]
    fn no_key_words_left_on_the_stack() {
        use crate::arch::stack_probe;
        if crate::arch::skip("chacha", available()) {
            return;
        }
        let key: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x3c);
        let mut k = Kernel::new(&key, &[1u8; 12]).unwrap();
        // The key words and the Poly1305 key's `r` limbs (as 32-bit halves).
        let mut words: Vec<u32> = (0..8).map(|i| le32(&key, 4 * i)).collect();
        for r in k.r {
            words.extend([r as u32, (r >> 32) as u32]);
        }
        words.retain(|&w| w != 0);
        let mut buf = vec![0u8; 4 * BATCH];
        let p = buf.as_mut_ptr();
        // SAFETY: the kernel exists, so the CPU has its features; 4
        // batches are read and written in place in `buf`.
        let raw = stack_probe::run(&mut || unsafe { k.crypt_raw::<true, true>(p, p, 4) });
        let depth = stack_probe::touched(&raw);
        eprintln!(
            "chacha crypt_raw: frame reaches {depth} bytes below the probe, key material at {:?}",
            stack_probe::find_words(&raw, &words)
        );
        assert!(
            !stack_probe::find_words(&raw, &words).is_empty(),
            "the probe finds no key word left by the unwiped kernel"
        );
        assert!(
            2 * depth <= STACK_WIPE,
            "kernel frame {depth} deeper than half of STACK_WIPE"
        );
        let wiped = stack_probe::run(&mut || {
            k.crypt_blocks(&mut buf, true);
        });
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
        let src = vec![0u8; 4 * BATCH];
        let wiped = stack_probe::run(&mut || {
            k.crypt_blocks_to(&src, &mut buf, false);
        });
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
        let mut block = [0u8; BATCH];
        let wiped = stack_probe::run(&mut || k.keystream(&mut block));
        assert_eq!(stack_probe::find_words(&wiped, &words), Vec::<usize>::new());
    }

    /// Every field holding key material is cleared by `zeroize` (what the
    /// derived `ZeroizeOnDrop` runs on drop of the boxed kernel).
    #[test]
    fn zeroize_clears_every_field() {
        fn is_zeroize_on_drop<T: ZeroizeOnDrop>() {}
        is_zeroize_on_drop::<Kernel>();
        let mut k = Kernel {
            key: [1; 8],
            nonce: [2; 3],
            ctr: 3,
            r: [4; 2],
            s: [5; 2],
            h: [6; 3],
        };
        k.zeroize();
        assert_eq!((k.key, k.nonce, k.ctr), ([0; 8], [0; 3], 0));
        assert_eq!((k.r, k.s, k.h), ([0; 2], [0; 2], [0; 3]));
    }

    #[test]
    fn keystream_matches_chacha20_crate() {
        if crate::arch::skip("chacha", available()) {
            return;
        }
        let mut rnd = rng(0x0123_4567_89ab_cdef);
        for start in [1u32, 2, 7, 1000, u32::MAX - 8] {
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let nonce: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let mut k = Kernel::new(&key, &nonce).unwrap();
            k.set_counter(start);
            let mut out = [0u8; BATCH];
            k.keystream(&mut out);
            let mut c = chacha20::ChaCha20::new_from_slices(&key, &nonce).unwrap();
            c.seek(u64::from(start) * 64);
            let mut expect = [0u8; BATCH];
            c.apply_keystream(&mut expect);
            assert_eq!(out, expect, "start {start}");
        }
    }

    #[test]
    fn poly_matches_poly1305_crate() {
        if crate::arch::skip("chacha", available()) {
            return;
        }
        let mut rnd = rng(0xfeed_f00d_dead_beef);
        for case in 0..200 {
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let mut k = Kernel::new(&key, &[0u8; 12]).unwrap();
            // The crate with the kernel's own one-time key (block 0).
            let mut ks = chacha20::ChaCha20::new_from_slices(&key, &[0u8; 12]).unwrap();
            let mut pk = [0u8; 32];
            ks.apply_keystream(&mut pk);
            let mut p = poly1305::Poly1305::new_from_slice(&pk).unwrap();
            // Extreme inputs too: all-ones blocks drive h to its bounds.
            let n = (rnd() % 64) as usize * 16;
            let msg: Vec<u8> = (0..n)
                .map(|_| if case % 4 == 0 { 0xff } else { rnd() as u8 })
                .collect();
            k.poly_blocks(&msg);
            p.update_padded(&msg);
            let mut lens = [0u8; 16];
            lens[8..].copy_from_slice(&(n as u64).to_le_bytes());
            p.update_padded(&lens);
            let tag = k.finish(0, n as u64);
            assert_eq!(tag.as_slice(), p.finalize().as_slice(), "case {case}");
        }
    }

    #[test]
    fn fused_batches_match_chacha20poly1305_crate() {
        if crate::arch::skip("chacha", available()) {
            return;
        }
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        let mut rnd = rng(0x5555_aaaa_1234_4321);
        for nb in [0usize, 1, 2, 3, 8, 33] {
            let len = nb * BATCH;
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let nonce: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let pt: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let one = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    nonce.as_slice().try_into().unwrap(),
                    &[],
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            let mut k = Kernel::new(&key, &nonce).unwrap();
            let mut buf = pt.clone();
            assert_eq!(k.crypt_blocks(&mut buf, true), len);
            assert!(buf == expect, "nb {nb}");
            assert_eq!(k.finish(0, len as u64), tag.as_slice(), "nb {nb}");
            let mut k = Kernel::new(&key, &nonce).unwrap();
            let mut out = vec![0u8; len];
            assert_eq!(k.crypt_blocks_to(&buf, &mut out, false), len);
            assert!(out == pt, "nb {nb}");
            assert_eq!(k.finish(0, len as u64), tag.as_slice(), "nb {nb}");
            let mut k = Kernel::new(&key, &nonce).unwrap();
            let mut out = vec![0u8; len];
            assert_eq!(k.crypt_blocks_to(&pt, &mut out, true), len);
            assert!(out == expect, "nb {nb}");
            assert_eq!(k.finish(0, len as u64), tag.as_slice(), "nb {nb}");
            let mut k = Kernel::new(&key, &nonce).unwrap();
            let mut inplace = expect.clone();
            k.crypt_blocks(&mut inplace, false);
            assert!(inplace == pt, "nb {nb}");
            assert_eq!(k.finish(0, len as u64), tag.as_slice(), "nb {nb}");
        }
    }
}
