//! PBKDF2-HMAC-SHA-256 and Dovecot's SHA-256 key-check chain on the bare
//! SHA-256 compression function.
//!
//! Opening a mail runs about 10 000 SHA-256 compressions (two PBKDF2
//! output blocks × 2048 rounds × inner and outer hash, then the 2049-step
//! key check), which is most of the per-mail open cost after ECDH. Every
//! one of those messages is a single padded block whose length is known in
//! advance, so the padding is written once and each step is exactly one
//! call of [`sha2::block_api::compress256`] (SHA-NI when the CPU has it):
//! no `Digest` buffering, no `finalize` copies, no per-step HMAC clone. The
//! independent PBKDF2 output blocks run in one loop, two chains at a time,
//! so the CPU overlaps their compressions (the SHA-NI round instruction is
//! latency-bound). Both functions are checked against the `pbkdf2`/`sha2`
//! crates in the tests below.

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// SHA-256 initial state (FIPS 180-4 §5.3.3).
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

/// One 64-byte block holding a 32-byte message at offset 0 that follows
/// `prefix` already-hashed bytes, with the SHA-256 padding for a message
/// of `prefix + 32 + extra` bytes, where `extra` bytes after the 32 are
/// filled in by the caller.
fn padded_block(prefix: u64, extra: usize) -> [u8; 64] {
    let mut b = [0u8; 64];
    if let Some(x) = b.get_mut(32 + extra) {
        *x = 0x80;
    }
    set_length(&mut b, prefix + 32 + extra as u64);
    b
}

/// The padding's last 8 bytes: the message length in bits.
fn set_length(block: &mut [u8; 64], bytes: u64) {
    if let Some(tail) = block.last_chunk_mut::<8>() {
        *tail = (bytes * 8).to_be_bytes();
    }
}

/// The first 32 bytes of a block (where each chained digest goes).
fn head(block: &mut [u8; 64]) -> &mut [u8] {
    block.get_mut(..32).unwrap_or_default()
}

fn store(state: &[u32; 8], out: &mut [u8]) {
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
}

/// HMAC-SHA-256 key schedule: the states after the ipad and opad blocks.
struct HmacStates {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacStates {
    fn new(key: &[u8]) -> Self {
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
        let mut inner = IV;
        let mut outer = IV;
        let mut pad = Zeroizing::new([0u8; 64]);
        for (p, k) in pad.iter_mut().zip(block.iter()) {
            *p = k ^ 0x36;
        }
        compress256(&mut inner, &[*pad]);
        for (p, k) in pad.iter_mut().zip(block.iter()) {
            *p = k ^ 0x5c;
        }
        compress256(&mut outer, &[*pad]);
        HmacStates { inner, outer }
    }

    /// HMAC of `parts` (any lengths): the first PBKDF2 round only.
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = Zeroizing::new([0u8; 32]);
        let mut h = Sha256Tail::new(self.inner, 64);
        for p in parts {
            h.update(p);
        }
        h.finish(&mut inner);
        let mut out = [0u8; 32];
        let mut h = Sha256Tail::new(self.outer, 64);
        h.update(&inner[..]);
        h.finish(&mut out);
        out
    }
}

impl Drop for HmacStates {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// SHA-256 continued from a state after `done` bytes (a multiple of 64).
struct Sha256Tail {
    state: [u32; 8],
    buf: [u8; 64],
    fill: usize,
    len: u64,
}

impl Sha256Tail {
    fn new(state: [u32; 8], done: u64) -> Self {
        Sha256Tail {
            state,
            buf: [0; 64],
            fill: 0,
            len: done,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let mut n = 0;
            for (b, d) in self.buf.iter_mut().skip(self.fill).zip(data) {
                *b = *d;
                n += 1;
            }
            self.fill += n;
            data = data.get(n..).unwrap_or_default();
            if self.fill == 64 {
                compress256(&mut self.state, &[self.buf]);
                self.fill = 0;
            }
        }
    }

    fn finish(mut self, out: &mut [u8; 32]) {
        for (i, b) in self.buf.iter_mut().enumerate().skip(self.fill) {
            *b = if i == self.fill { 0x80 } else { 0 };
        }
        if self.fill >= 56 {
            compress256(&mut self.state, &[self.buf]);
            self.buf.fill(0);
        }
        set_length(&mut self.buf, self.len);
        compress256(&mut self.state, &[self.buf]);
        store(&self.state, out);
    }
}

impl Drop for Sha256Tail {
    fn drop(&mut self) {
        self.state.zeroize();
        self.buf.zeroize();
    }
}

/// One PBKDF2 output block's running state: `u` (the last HMAC output)
/// and `t` (the xor of all of them).
struct Chain {
    /// Inner-hash message block: `U_{j-1}` then fixed padding.
    inner_block: [u8; 64],
    /// Outer-hash message block: the inner digest then fixed padding.
    outer_block: [u8; 64],
    t: [u8; 32],
}

impl Chain {
    fn new(u1: &[u8; 32]) -> Self {
        let mut inner_block = padded_block(64, 0);
        head(&mut inner_block).copy_from_slice(u1);
        Chain {
            inner_block,
            outer_block: padded_block(64, 0),
            t: *u1,
        }
    }

    /// `U_j = HMAC(P, U_{j-1})`, `T ^= U_j`.
    #[inline(always)]
    fn step(&mut self, keys: &HmacStates) {
        let mut s = keys.inner;
        compress256(&mut s, &[self.inner_block]);
        store(&s, head(&mut self.outer_block));
        s = keys.outer;
        compress256(&mut s, &[self.outer_block]);
        store(&s, head(&mut self.inner_block));
        s.zeroize();
        for (t, u) in self.t.iter_mut().zip(&self.inner_block) {
            *t ^= u;
        }
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.inner_block.zeroize();
        self.outer_block.zeroize();
        self.t.zeroize();
    }
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018 §5.2) of `password` and `salt` into
/// `out`. `rounds` 0 is treated as 1, like the `pbkdf2` crate.
pub(crate) fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], rounds: u32, out: &mut [u8]) {
    let keys = HmacStates::new(password);
    let mut index = 1u32;
    // Two output blocks at a time: their chains are independent.
    for pair in out.chunks_mut(64) {
        let u1a = Zeroizing::new(keys.mac(&[salt, &index.to_be_bytes()]));
        let u1b = Zeroizing::new(keys.mac(&[salt, &index.wrapping_add(1).to_be_bytes()]));
        let t = pbkdf2_pair(&keys, &u1a, &u1b, rounds, pair.len() > 32);
        for (o, t) in pair.iter_mut().zip(t.iter()) {
            *o = *t;
        }
        index = index.wrapping_add(2);
    }
}

/// `T` of two PBKDF2 output blocks from their `U_1`; the second is only
/// computed when `both` (the SHA-NI path runs it anyway: it is free there).
fn pbkdf2_pair(
    keys: &HmacStates,
    u1a: &[u8; 32],
    u1b: &[u8; 32],
    rounds: u32,
    both: bool,
) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    #[cfg(target_arch = "x86_64")]
    if crate::arch::sha256::available() && !force_portable() {
        let mut u = Zeroizing::new([words_be(u1a), words_be(u1b)]);
        let mut t = Zeroizing::new(*u);
        crate::arch::sha256::pbkdf2_pair(
            &keys.inner,
            &keys.outer,
            &mut u,
            &mut t,
            rounds.saturating_sub(1),
        );
        for (o, w) in out.chunks_exact_mut(4).zip(t.iter().flatten()) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        return out;
    }
    let mut a = Chain::new(u1a);
    let mut b = Chain::new(u1b);
    for _ in 1..rounds {
        a.step(keys);
        if both {
            b.step(keys);
        }
    }
    for (o, t) in out.iter_mut().zip(a.t.iter().chain(&b.t)) {
        *o = *t;
    }
    out
}

fn words_be(b: &[u8; 32]) -> [u32; 8] {
    let mut w = [0u32; 8];
    for (w, c) in w.iter_mut().zip(b.chunks_exact(4)) {
        if let Ok(c) = <[u8; 4]>::try_from(c) {
            *w = u32::from_be_bytes(c);
        }
    }
    w
}

/// Tests run the portable path on a SHA-NI machine too.
#[cfg(test)]
fn force_portable() -> bool {
    FORCE_PORTABLE.with(|f| f.get())
}
#[cfg(not(test))]
#[inline(always)]
fn force_portable() -> bool {
    false
}
#[cfg(test)]
thread_local! {
    static FORCE_PORTABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Dovecot's key check with SHA-256: `h = SHA-256(blob)`, then for
/// i = 1..=2048 `h = SHA-256(h ‖ BE32(i))`.
pub(crate) fn key_check_sha256(blob: &[u8]) -> [u8; 32] {
    let mut first = Zeroizing::new([0u8; 32]);
    first.copy_from_slice(&Sha256::digest(blob));
    #[cfg(target_arch = "x86_64")]
    if crate::arch::sha256::available() && !force_portable() {
        let mut h = Zeroizing::new(words_be(&first));
        crate::arch::sha256::key_check_chain(&mut h, &IV);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(h.iter()) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        return out;
    }
    let mut block = Zeroizing::new(padded_block(0, 4));
    head(&mut block).copy_from_slice(&first[..]);
    let mut s = Zeroizing::new(IV);
    for i in 1u32..=2048 {
        for (b, c) in block.iter_mut().skip(32).zip(i.to_be_bytes()) {
            *b = c;
        }
        *s = IV;
        compress256(&mut s, &[*block]);
        store(&s, head(&mut block));
    }
    let mut out = [0u8; 32];
    store(&s, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Runs `f` on the SHA-NI path (when the CPU has it) and the portable one.
    fn both_paths(f: impl Fn()) {
        f();
        FORCE_PORTABLE.with(|p| p.set(true));
        f();
        FORCE_PORTABLE.with(|p| p.set(false));
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
                    pbkdf2_hmac_sha256(&pw, &salt, rounds, &mut ours);
                    pbkdf2::pbkdf2_hmac::<Sha256>(&pw, &salt, rounds, &mut theirs);
                    assert_eq!(
                        ours, theirs,
                        "pw {pw_len} salt {salt_len} rounds {rounds} out {out_len}"
                    );
                }
            }
        }
    }

    #[test]
    fn pbkdf2_rfc7914_vector() {
        // RFC 7914 §11: PBKDF2-HMAC-SHA256("Password", "NaCl", 80000, 64).
        both_paths(|| {
            let mut out = [0u8; 64];
            pbkdf2_hmac_sha256(b"Password", b"NaCl", 80000, &mut out);
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
                    key_check_sha256(&blob).to_vec(),
                    crate_key_check(&blob),
                    "len {len}"
                );
            }
        });
    }
}
