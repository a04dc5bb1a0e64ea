//! Body ciphers as incremental state machines.
//!
//! Dovecot encrypts the body as **one** continuous cipher stream (one GCM
//! message, one CBC chain, one CTR keystream); its 4 KiB write chunks are
//! invisible in the file. RustCrypto's AEAD types only work on whole
//! messages, so GCM and ChaCha20-Poly1305 are assembled here from their
//! parts (CTR keystream + GHASH, ChaCha20 + Poly1305) so that a body of any
//! size streams in constant memory. Both are checked against the one-shot
//! `aes-gcm` / `chacha20poly1305` crates in the tests below.

use aes::cipher::array::Array;
use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher, StreamCipherError};
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::container::CipherAlg;
use crate::primitives::hash::HmacState;

/// Length of the AEAD tag at the end of an AEAD body.
pub(crate) const TAG_LEN: usize = 16;

/// Longest AES-GCM body: the 32-bit block counter starts at 2 (1 makes
/// the tag mask), so 2^32 − 2 blocks, the 2^39 − 256 bits of SP 800-38D.
pub(crate) const GCM_MAX_BODY: u64 = ((1 << 32) - 2) * 16;

/// Longest ChaCha20-Poly1305 body: the 32-bit block counter starts at 1
/// (block 0 makes the Poly1305 key) and the `chacha20` crate stops one
/// block before it wraps: 2^32 − 2 blocks of 64 bytes.
pub(crate) const CHACHA_MAX_BODY: u64 = ((1 << 32) - 2) * 64;

/// The body is longer than its cipher's keystream (see [`GCM_MAX_BODY`],
/// [`CHACHA_MAX_BODY`]). No real writer produces such a file; reading or
/// writing one fails with this instead of reusing or running out of
/// keystream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyTooLong {
    /// The cipher's limit in bytes.
    pub(crate) limit: u64,
}

/// Why a [`BodyCipher`] call failed; the data passed in is then not to be
/// used (the kernel path zeroes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// See [`BodyTooLong`].
    TooLong(BodyTooLong),
    /// An internal invariant of the kernel wrapper broke (saved keystream
    /// out of range). Fails closed: the call's buffer is zeroed and the
    /// cipher refuses all further input and never verifies a tag.
    /// Constructed only by the kernel wrapper (feature `x86-kernels`).
    #[cfg_attr(
        not(all(feature = "x86-kernels", target_arch = "x86_64")),
        allow(dead_code)
    )]
    KernelState,
}

impl From<BodyTooLong> for BodyError {
    fn from(e: BodyTooLong) -> Self {
        BodyError::TooLong(e)
    }
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLong(e) => write!(
                f,
                "the body is longer than its cipher allows ({} bytes)",
                e.limit
            ),
            BodyError::KernelState => f.write_str(
                "internal error: the x86-64 cipher kernel's keystream state is inconsistent; \
                 no output was produced",
            ),
        }
    }
}

/// Buffers input for a hash over 16-byte blocks: whole blocks go straight
/// to `blocks`, a trailing partial block waits here for the next call.
struct PendingBlock {
    buf: Zeroizing<[u8; 16]>,
    len: usize,
}

impl PendingBlock {
    fn new() -> Self {
        PendingBlock {
            buf: Zeroizing::new([0; 16]),
            len: 0,
        }
    }

    fn absorb(&mut self, mut data: &[u8], mut blocks: impl FnMut(&[u8])) {
        if self.len > 0 {
            let take = (16 - self.len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.len..self.len + take) {
                dst.copy_from_slice(head);
            }
            self.len += take;
            data = rest;
            if self.len < 16 {
                return;
            }
            blocks(self.buf.as_slice());
            self.len = 0;
        }
        let full = data.len() / 16 * 16;
        let (whole, tail) = data.split_at(full);
        if !whole.is_empty() {
            blocks(whole);
        }
        if let Some(dst) = self.buf.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        self.len = tail.len();
    }

    /// Zero-pad the pending partial block and hash it (GCM / RFC 8439 both
    /// pad to a block boundary).
    fn pad(&mut self, blocks: impl FnOnce(&[u8])) {
        if self.len > 0 {
            if let Some(rest) = self.buf.get_mut(self.len..) {
                rest.fill(0);
            }
            blocks(self.buf.as_slice());
            self.len = 0;
        }
    }
}

/// Absorbs arbitrary-length input into a 16-byte-block universal hash.
pub(super) struct Absorber<U: UniversalHash> {
    uhf: U,
    pending: PendingBlock,
}

impl<U: UniversalHash> Absorber<U> {
    fn new(uhf: U) -> Self {
        Absorber {
            uhf,
            pending: PendingBlock::new(),
        }
    }

    pub(super) fn absorb(&mut self, data: &[u8]) {
        // Whole blocks: update_padded adds no padding to them.
        let uhf = &mut self.uhf;
        self.pending.absorb(data, |b| uhf.update_padded(b));
    }

    fn pad(&mut self) {
        let uhf = &mut self.uhf;
        self.pending.pad(|b| uhf.update_padded(b));
    }

    fn finalize_with(mut self, len_block: [u8; 16]) -> [u8; 16] {
        self.pad();
        self.uhf.update_padded(&len_block);
        let out = self.uhf.finalize();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&out);
        tag
    }
}

/// Streaming GCM with a 12-byte IV and 16-byte tag over any 16-byte block
/// cipher (AES here, ARIA in `modes.rs`).
pub(super) struct Gcm<C>
where
    C: aes::cipher::BlockCipherEncrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    pub(super) ctr: ctr::Ctr32BE<C>,
    pub(super) ghash: Absorber<ghash::GHash>,
    mask: Zeroizing<[u8; 16]>,
    aad_len: u64,
    pub(super) ct_len: u64,
}

impl<C> Gcm<C>
where
    C: aes::cipher::BlockCipherEncrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + KeyInit,
{
    pub(super) fn new(key: &[u8], iv: &[u8], aad: &[u8]) -> Option<Self> {
        let cipher = C::new_from_slice(key).ok()?;
        let mut h = ghash::Key::default();
        cipher.encrypt_block(&mut h);
        let ghash = ghash::GHash::new(&h);
        h.zeroize();
        if iv.len() != 12 {
            return None;
        }
        let mut j0 = Array::<u8, aes::cipher::consts::U16>::default();
        j0.get_mut(..12)?.copy_from_slice(iv);
        *j0.get_mut(15)? = 1;
        let mut ctr = ctr::Ctr32BE::<C>::from_core(ctr::CtrCore::inner_iv_init(cipher, &j0));
        let mut mask = Zeroizing::new([0u8; 16]);
        ctr.apply_keystream(mask.as_mut_slice());
        let mut ghash = Absorber::new(ghash);
        ghash.absorb(aad);
        ghash.pad();
        Some(Gcm {
            ctr,
            ghash,
            mask,
            aad_len: aad.len() as u64,
            ct_len: 0,
        })
    }

    pub(super) fn tag(self) -> [u8; 16] {
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lens[8..].copy_from_slice(&(self.ct_len * 8).to_be_bytes());
        let mut tag = self.ghash.finalize_with(lens);
        tag.iter_mut()
            .zip(self.mask.iter())
            .for_each(|(t, m)| *t ^= m);
        tag
    }
}

/// Streaming ChaCha20-Poly1305 (RFC 8439).
struct ChaChaPoly {
    cipher: chacha20::ChaCha20,
    poly: Absorber<poly1305::Poly1305>,
    aad_len: u64,
    ct_len: u64,
}

impl ChaChaPoly {
    fn new(key: &[u8], nonce: &[u8], aad: &[u8]) -> Option<Self> {
        let mut cipher = chacha20::ChaCha20::new_from_slices(key, nonce).ok()?;
        // Block 0 gives the Poly1305 key; the body starts at block 1.
        let mut block0 = Zeroizing::new([0u8; 64]);
        cipher.apply_keystream(block0.as_mut_slice());
        let poly = poly1305::Poly1305::new_from_slice(block0.get(..32)?).ok()?;
        let mut poly = Absorber::new(poly);
        poly.absorb(aad);
        poly.pad();
        Some(ChaChaPoly {
            cipher,
            poly,
            aad_len: aad.len() as u64,
            ct_len: 0,
        })
    }

    fn tag(self) -> [u8; 16] {
        let mut lens = [0u8; 16];
        lens[..8].copy_from_slice(&self.aad_len.to_le_bytes());
        lens[8..].copy_from_slice(&self.ct_len.to_le_bytes());
        self.poly.finalize_with(lens)
    }
}

impl super::modes::BodyMode for ChaChaPoly {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.cipher.try_apply_keystream(data)
    }
    fn absorb(&mut self, ciphertext: &[u8]) {
        self.poly.absorb(ciphertext);
        self.ct_len += ciphertext.len() as u64;
    }
    fn processed(&self) -> u64 {
        self.ct_len
    }
    fn max_body_len(&self) -> Option<u64> {
        Some(CHACHA_MAX_BODY)
    }
    fn has_tag(&self) -> bool {
        true
    }
    fn tag(self: Box<Self>) -> Option<[u8; 16]> {
        Some((*self).tag())
    }
    #[cfg(test)]
    fn skip_to_limit(&mut self, left: u64) {
        use aes::cipher::StreamCipherSeek;
        self.ct_len = CHACHA_MAX_BODY - left;
        // Block 0 made the Poly1305 key.
        self.cipher.seek(64 + CHACHA_MAX_BODY - left);
    }
}

/// What [`FastAead`] needs from an x86-64 AEAD kernel (`arch::gcm`,
/// `arch::chacha`): whole blocks through the fused loop, keystream for
/// the partial data at either end of a call, the MAC for AAD and
/// authenticate-only input.
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
trait AeadKernel {
    /// Keystream bytes made at once for partial data (one GCM block, one
    /// 512-byte ChaCha batch).
    const KS: usize;
    /// Absorb whole 16-byte blocks into the MAC (GHASH, Poly1305).
    fn mac_blocks(&mut self, blocks: &[u8]);
    /// Encrypt or decrypt (absorbing the ciphertext) the whole blocks or
    /// batches at the start of `data`; returns the bytes done.
    fn crypt_blocks(&mut self, data: &mut [u8], encrypt: bool) -> usize;
    /// Like `crypt_blocks`, from `src` into `dst`.
    fn crypt_blocks_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) -> usize;
    /// The next `KS` keystream bytes into `ks[..KS]`.
    fn keystream(&mut self, ks: &mut [u8; MAX_KS]);
    fn finish(&mut self, aad_len: u64, ct_len: u64) -> [u8; 16];
}

/// Largest [`AeadKernel::KS`].
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
const MAX_KS: usize = crate::arch::chacha::BATCH;

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
impl AeadKernel for crate::arch::gcm::Kernel {
    const KS: usize = 16;
    fn mac_blocks(&mut self, blocks: &[u8]) {
        self.ghash_blocks(blocks);
    }
    fn crypt_blocks(&mut self, data: &mut [u8], encrypt: bool) -> usize {
        crate::arch::gcm::Kernel::crypt_blocks(self, data, encrypt);
        data.len() / 16 * 16
    }
    fn crypt_blocks_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) -> usize {
        crate::arch::gcm::Kernel::crypt_blocks_to(self, src, dst, encrypt);
        src.len().min(dst.len()) / 16 * 16
    }
    fn keystream(&mut self, ks: &mut [u8; MAX_KS]) {
        let mut block = self.keystream_block();
        for (k, b) in ks.iter_mut().zip(block) {
            *k = b;
        }
        block.zeroize();
    }
    fn finish(&mut self, aad_len: u64, ct_len: u64) -> [u8; 16] {
        crate::arch::gcm::Kernel::finish(self, aad_len, ct_len)
    }
}

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
impl AeadKernel for crate::arch::chacha::Kernel {
    const KS: usize = crate::arch::chacha::BATCH;
    fn mac_blocks(&mut self, blocks: &[u8]) {
        self.poly_blocks(blocks);
    }
    fn crypt_blocks(&mut self, data: &mut [u8], encrypt: bool) -> usize {
        crate::arch::chacha::Kernel::crypt_blocks(self, data, encrypt)
    }
    fn crypt_blocks_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) -> usize {
        crate::arch::chacha::Kernel::crypt_blocks_to(self, src, dst, encrypt)
    }
    fn keystream(&mut self, ks: &mut [u8; MAX_KS]) {
        crate::arch::chacha::Kernel::keystream(self, ks);
    }
    fn finish(&mut self, aad_len: u64, ct_len: u64) -> [u8; 16] {
        crate::arch::chacha::Kernel::finish(self, aad_len, ct_len)
    }
}

/// AES-256-GCM on the fused VAES/VPCLMULQDQ kernel.
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
type FastGcm = FastAead<crate::arch::gcm::Kernel>;
/// ChaCha20-Poly1305 on the fused AVX2 kernel.
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
type FastChaCha = FastAead<crate::arch::chacha::Kernel>;

/// A streaming AEAD on an x86-64 kernel: whole blocks go through the fused
/// kernel, the partial data at either end of a call through saved
/// keystream and the pending MAC block here.
#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
struct FastAead<K: AeadKernel> {
    /// Boxed by the kernel's constructor, which builds it in place: moving
    /// a `FastAead` moves no key material.
    k: Box<K>,
    /// Ciphertext of the pending partial MAC block.
    pending: PendingBlock,
    /// Keystream not used yet (`ks[ks_pos..K::KS]`); `ks_pos == K::KS`
    /// when none.
    ks: Zeroizing<[u8; MAX_KS]>,
    ks_pos: usize,
    aad_len: u64,
    ct_len: u64,
    /// Set when [`BodyError::KernelState`] was returned: refuse the rest.
    failed: bool,
}

#[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
impl<K: AeadKernel> FastAead<K> {
    fn with_kernel(k: Box<K>, aad: &[u8]) -> Self {
        let mut c = FastAead {
            k,
            pending: PendingBlock::new(),
            ks: Zeroizing::new([0; MAX_KS]),
            ks_pos: K::KS,
            aad_len: aad.len() as u64,
            ct_len: 0,
            failed: false,
        };
        c.absorb(aad);
        c.pad();
        c
    }

    /// MAC only (AAD, or ciphertext in verified mode's first pass).
    fn absorb(&mut self, data: &[u8]) {
        let k = &mut self.k;
        self.pending.absorb(data, |b| k.mac_blocks(b));
    }

    fn pad(&mut self) {
        let k = &mut self.k;
        self.pending.pad(|b| k.mac_blocks(b));
    }

    /// XOR saved keystream into `data` (at most what is left of it),
    /// absorbing the ciphertext; returns the rest. Fails, touching
    /// nothing, if the saved keystream does not cover what `ks_pos` and
    /// `K::KS` promise (an internal invariant: never skip the XOR).
    fn crypt_partial<'a>(
        &mut self,
        data: &'a mut [u8],
        encrypt: bool,
    ) -> Result<&'a mut [u8], BodyError> {
        let take = K::KS.saturating_sub(self.ks_pos).min(data.len());
        let end = self
            .ks_pos
            .checked_add(take)
            .ok_or(BodyError::KernelState)?;
        if self.ks.get(self.ks_pos..end).is_none() {
            return Err(BodyError::KernelState);
        }
        let (head, rest) = data.split_at_mut(take);
        if !encrypt {
            self.absorb(head);
        }
        let ks = self
            .ks
            .get(self.ks_pos..end)
            .ok_or(BodyError::KernelState)?;
        head.iter_mut().zip(ks).for_each(|(d, k)| *d ^= k);
        if encrypt {
            self.absorb(head);
        }
        self.ks_pos = end;
        Ok(rest)
    }

    /// Fail closed: zero the call's output, refuse everything after.
    fn fail(&mut self, out: &mut [u8], e: BodyError) -> BodyError {
        out.zeroize();
        self.failed = true;
        e
    }

    /// The next `K::KS` keystream bytes.
    fn refill(&mut self) {
        self.k.keystream(&mut self.ks);
        self.ks_pos = 0;
    }

    /// Whether the next byte starts a block for the fused kernel: no saved
    /// keystream and no pending MAC bytes (the latter only after
    /// authenticate-only input of odd length on the same instance).
    fn aligned(&self) -> bool {
        self.ks_pos == K::KS && self.pending.len == 0
    }

    /// Encrypt or decrypt `data` in place, absorbing the ciphertext. On
    /// error `data` is zeroed.
    fn crypt(&mut self, data: &mut [u8], encrypt: bool) -> Result<(), BodyError> {
        if self.failed {
            return Err(self.fail(data, BodyError::KernelState));
        }
        self.ct_len += data.len() as u64;
        let r = self.crypt_inner(data, encrypt);
        r.map_err(|e| self.fail(data, e))
    }

    fn crypt_inner(&mut self, mut data: &mut [u8], encrypt: bool) -> Result<(), BodyError> {
        loop {
            if self.ks_pos < K::KS {
                data = self.crypt_partial(data, encrypt)?;
            }
            if data.is_empty() {
                return Ok(());
            }
            if self.aligned() {
                let done = self.k.crypt_blocks(data, encrypt);
                data = data.split_at_mut(done).1;
                if data.is_empty() {
                    return Ok(());
                }
            }
            self.refill();
        }
    }

    /// Like [`FastAead::crypt`], reading `src` and writing `dst` (same
    /// length): the body copy and the cipher in one pass. On error `dst`
    /// is zeroed.
    fn crypt_to(&mut self, src: &[u8], dst: &mut [u8], encrypt: bool) -> Result<(), BodyError> {
        let n = src.len().min(dst.len());
        let (src, dst) = (src.split_at(n).0, dst.split_at_mut(n).0);
        if self.failed {
            return Err(self.fail(dst, BodyError::KernelState));
        }
        self.ct_len += n as u64;
        let r = self.crypt_to_inner(src, dst, encrypt);
        r.map_err(|e| self.fail(dst, e))
    }

    fn crypt_to_inner(
        &mut self,
        mut src: &[u8],
        mut dst: &mut [u8],
        encrypt: bool,
    ) -> Result<(), BodyError> {
        loop {
            if self.ks_pos < K::KS {
                let take = K::KS.saturating_sub(self.ks_pos).min(src.len());
                let (s, s_rest) = src.split_at(take);
                let (d, d_rest) = dst.split_at_mut(take);
                d.copy_from_slice(s);
                self.crypt_partial(d, encrypt)?;
                (src, dst) = (s_rest, d_rest);
            }
            if src.is_empty() {
                return Ok(());
            }
            if self.aligned() {
                let done = self.k.crypt_blocks_to(src, dst, encrypt);
                src = src.split_at(done).1;
                dst = dst.split_at_mut(done).1;
                if src.is_empty() {
                    return Ok(());
                }
            }
            self.refill();
        }
    }

    /// The tag; `None` after a [`BodyError::KernelState`] (no tag is
    /// computed over output that was never produced).
    fn tag(mut self) -> Option<[u8; 16]> {
        if self.failed {
            return None;
        }
        self.pad();
        Some(self.k.finish(self.aad_len, self.ct_len))
    }
}

/// How a [`BodyCipher`] runs its cipher: every portable cipher and mode
/// through one [`super::modes::BodyMode`] (GCM and ChaCha20-Poly1305
/// included), or one of the x86-64 kernels, whose fused calls
/// (`crypt_to`, fail-closed state) the trait does not have.
enum Engine {
    Portable(Box<dyn super::modes::BodyMode>),
    /// AES-256-GCM on the fused VAES/VPCLMULQDQ kernel (runtime-detected).
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    GcmFast(Box<FastGcm>),
    /// ChaCha20-Poly1305 on the fused AVX2 kernel (runtime-detected).
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    ChaChaFast(Box<FastChaCha>),
}

/// Which direction a [`BodyCipher`] runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Encrypt,
    Decrypt,
}

/// A body cipher plus its integrity check, processing data incrementally.
pub(crate) struct BodyCipher {
    engine: Engine,
    hmac: Option<HmacState>,
    dir: Direction,
}

/// Why [`BodyCipher::new`] refused.
#[derive(Debug)]
pub(crate) enum CipherSetupError {
    Unsupported,
    BadKey,
}

impl BodyCipher {
    /// Set up a v2 body cipher. `extra` is the AEAD AAD (AEAD mode) and
    /// `hmac` the running HMAC (HMAC mode).
    pub(crate) fn v2(
        alg: &CipherAlg,
        key: &[u8],
        iv: &[u8],
        aad: Option<&[u8]>,
        hmac: Option<HmacState>,
        dir: Direction,
    ) -> Result<BodyCipher, CipherSetupError> {
        Self::v2_with(alg, key, iv, aad, hmac, dir, true)
    }

    /// [`BodyCipher::v2`], optionally without the x86-64 GCM and ChaCha20-
    /// Poly1305 kernels (the tests compare both paths).
    pub(crate) fn v2_with(
        alg: &CipherAlg,
        key: &[u8],
        iv: &[u8],
        aad: Option<&[u8]>,
        hmac: Option<HmacState>,
        dir: Direction,
        allow_kernel: bool,
    ) -> Result<BodyCipher, CipherSetupError> {
        // No AAD (v1, and v2 bodies) is the empty AAD.
        let aead_aad = aad.unwrap_or(&[]);
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        let allow_kernel = allow_kernel && crate::arch::enabled();
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        if allow_kernel
            && matches!(alg, CipherAlg::Aes256Gcm)
            && let Some(k) = crate::arch::gcm::Kernel::new(key, iv)
        {
            return Ok(BodyCipher {
                engine: Engine::GcmFast(Box::new(FastGcm::with_kernel(k, aead_aad))),
                hmac,
                dir,
            });
        }
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        if allow_kernel
            && matches!(alg, CipherAlg::ChaCha20Poly1305)
            && let Some(k) = crate::arch::chacha::Kernel::new(key, iv)
        {
            return Ok(BodyCipher {
                engine: Engine::ChaChaFast(Box::new(FastChaCha::with_kernel(k, aead_aad))),
                hmac,
                dir,
            });
        }
        #[cfg(not(all(feature = "x86-kernels", target_arch = "x86_64")))]
        let _ = allow_kernel;
        let mode: Box<dyn super::modes::BodyMode> = match alg {
            // ChaCha20 is a stream cipher, not one of the block-cipher
            // families `modes` builds.
            CipherAlg::ChaCha20Poly1305 => {
                Box::new(ChaChaPoly::new(key, iv, aead_aad).ok_or(CipherSetupError::BadKey)?)
            }
            other => {
                let spec = other.spec().ok_or(CipherSetupError::Unsupported)?;
                super::modes::new_mode(spec, key, iv, aead_aad, dir == Direction::Encrypt)
                    .ok_or(CipherSetupError::BadKey)?
            }
        };
        let engine = Engine::Portable(mode);
        Ok(BodyCipher { engine, hmac, dir })
    }

    /// The v1 body cipher: AES-256-CTR keyed with the seed, zero IV.
    pub(crate) fn v1(seed: &[u8], dir: Direction) -> Result<BodyCipher, CipherSetupError> {
        let mode = super::modes::aes256_ctr_zero_iv(seed).ok_or(CipherSetupError::BadKey)?;
        Ok(BodyCipher {
            engine: Engine::Portable(mode),
            hmac: None,
            dir,
        })
    }

    /// Whether an x86-64 kernel runs this body (the tests compare this
    /// with CPU detection and `MAILCRYPT_FORCE_PORTABLE`; the `body` fuzz
    /// target reports it).
    pub(crate) fn uses_kernel(&self) -> bool {
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        if matches!(self.engine, Engine::GcmFast(_) | Engine::ChaChaFast(_)) {
            return true;
        }
        false
    }

    /// Whether the cipher is a block mode (data must come in whole blocks
    /// and the last block carries PKCS#7 padding).
    pub(crate) fn is_block_mode(&self) -> bool {
        match &self.engine {
            Engine::Portable(m) => m.block_len().is_some(),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) | Engine::ChaChaFast(_) => false,
        }
    }

    /// Block length of a block mode (16, or 8 for DES-EDE3-CBC).
    pub(crate) fn block_len(&self) -> usize {
        match &self.engine {
            Engine::Portable(m) => m.block_len().unwrap_or(16),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) | Engine::ChaChaFast(_) => 16,
        }
    }

    /// Whether an AEAD tag ends the body.
    pub(crate) fn has_tag(&self) -> bool {
        match &self.engine {
            Engine::Portable(m) => m.has_tag(),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) | Engine::ChaChaFast(_) => true,
        }
    }

    /// Process `data` in place (decrypt or encrypt per direction). For block
    /// modes `data.len()` must be a multiple of 16. Fails, before touching
    /// `data`, when the body would exceed the cipher's keystream; fails
    /// closed (see [`BodyError::KernelState`]) if the kernel wrapper's
    /// state is inconsistent.
    pub(crate) fn update(&mut self, data: &mut [u8]) -> Result<(), BodyError> {
        self.check_len(data.len())?;
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        {
            /// A kernel engine in place, with the HMAC (if any) over the
            /// ciphertext.
            fn run<K: AeadKernel>(
                f: &mut FastAead<K>,
                hmac: &mut Option<HmacState>,
                encrypt: bool,
                data: &mut [u8],
            ) -> Result<(), BodyError> {
                if let (false, Some(h)) = (encrypt, &mut *hmac) {
                    h.update(data);
                }
                f.crypt(data, encrypt)?;
                if let (true, Some(h)) = (encrypt, hmac) {
                    h.update(data);
                }
                Ok(())
            }
            let encrypt = self.dir == Direction::Encrypt;
            match &mut self.engine {
                Engine::GcmFast(g) => return run(g, &mut self.hmac, encrypt, data),
                Engine::ChaChaFast(c) => return run(c, &mut self.hmac, encrypt, data),
                _ => {}
            }
        }
        if self.dir == Direction::Decrypt {
            self.authenticate(data)?;
        }
        let limit = self.max_body_len().unwrap_or(u64::MAX);
        match &mut self.engine {
            Engine::Portable(m) => m.apply(data),
            // Handled above.
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) | Engine::ChaChaFast(_) => Ok(()),
        }
        .map_err(|_| BodyTooLong { limit })?;
        if self.dir == Direction::Encrypt {
            self.authenticate(data)?;
        }
        Ok(())
    }

    /// [`BodyCipher::update`] from `src` into `dst` (equal lengths; not for
    /// block modes). With the GCM kernel the copy and the cipher are one
    /// pass; otherwise this copies and then works in place.
    pub(crate) fn update_to(&mut self, src: &[u8], dst: &mut [u8]) -> Result<(), BodyError> {
        let n = src.len().min(dst.len());
        let (Some(src), Some(dst)) = (src.get(..n), dst.get_mut(..n)) else {
            return Ok(());
        };
        self.check_len(n)?;
        #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
        if self.hmac.is_none() {
            let encrypt = self.dir == Direction::Encrypt;
            match &mut self.engine {
                Engine::GcmFast(g) => return g.crypt_to(src, dst, encrypt),
                Engine::ChaChaFast(c) => return c.crypt_to(src, dst, encrypt),
                _ => {}
            }
        }
        dst.copy_from_slice(src);
        self.update(dst)
    }

    /// The longest body the cipher can process, for stream ciphers with a
    /// short counter.
    fn max_body_len(&self) -> Option<u64> {
        match &self.engine {
            Engine::Portable(m) => m.max_body_len(),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) => Some(GCM_MAX_BODY),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::ChaChaFast(_) => Some(CHACHA_MAX_BODY),
        }
    }

    fn processed(&self) -> u64 {
        match &self.engine {
            Engine::Portable(m) => m.processed(),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(g) => g.ct_len,
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::ChaChaFast(c) => c.ct_len,
        }
    }

    /// Whether `more` bytes still fit into the cipher's limit.
    fn check_len(&self, more: usize) -> Result<(), BodyTooLong> {
        let Some(limit) = self.max_body_len() else {
            return Ok(());
        };
        let total = self.processed().saturating_add(more as u64);
        if total > limit {
            Err(BodyTooLong { limit })
        } else {
            Ok(())
        }
    }

    /// Feed ciphertext to the integrity check only (no decryption): the
    /// first pass of verified mode. Enforces the same length limit as
    /// [`BodyCipher::update`], so that a body verified mode accepts also
    /// decrypts.
    pub(crate) fn authenticate(&mut self, ciphertext: &[u8]) -> Result<(), BodyError> {
        self.check_len(ciphertext.len())?;
        match &mut self.engine {
            Engine::Portable(m) => m.absorb(ciphertext),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(g) => {
                g.absorb(ciphertext);
                g.ct_len += ciphertext.len() as u64;
            }
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::ChaChaFast(c) => {
                c.absorb(ciphertext);
                c.ct_len += ciphertext.len() as u64;
            }
        }
        if let Some(h) = &mut self.hmac {
            h.update(ciphertext);
        }
        Ok(())
    }

    /// The AEAD tag or HMAC over everything processed so far (empty when the
    /// body has no integrity). [`BodyError::KernelState`] after a kernel
    /// failure: no tag is computed over output that was never produced, and
    /// an empty trailer would pass for "no integrity".
    pub(crate) fn trailer(self) -> Result<Zeroizing<Vec<u8>>, BodyError> {
        if let Some(h) = self.hmac {
            return Ok(h.finalize());
        }
        Ok(Zeroizing::new(match self.engine {
            // A mode without a tag (CBC, CTR, OFB, CFB) has no trailer
            // unless an HMAC (above) provides one.
            Engine::Portable(m) => m.tag().map_or_else(Vec::new, |t| t.to_vec()),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(g) => g.tag().ok_or(BodyError::KernelState)?.to_vec(),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::ChaChaFast(c) => c.tag().ok_or(BodyError::KernelState)?.to_vec(),
        }))
    }

    /// Test hook: move an AEAD to `left` bytes before its keystream limit,
    /// as if that much body had been processed (instead of running 64 GiB
    /// through it), on whichever engine runs it.
    #[cfg(test)]
    pub(crate) fn skip_to_limit(&mut self, left: u64) {
        match &mut self.engine {
            Engine::Portable(m) => m.skip_to_limit(left),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(g) => {
                g.ct_len = GCM_MAX_BODY - left;
                // Counter 1 made the mask; the body starts at 2.
                g.k.set_counter((2 + (GCM_MAX_BODY - left) / 16) as u32);
            }
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::ChaChaFast(cc) => {
                cc.ct_len = CHACHA_MAX_BODY - left;
                // Block 0 made the Poly1305 key; the body starts at 1.
                cc.k.set_counter((1 + (CHACHA_MAX_BODY - left) / 64) as u32);
            }
        }
    }

    /// Compare the computed trailer with the one from the file in constant
    /// time.
    pub(crate) fn verify(self, expected: &[u8]) -> bool {
        let Ok(t) = self.trailer() else {
            return false;
        };
        t.len() == expected.len() && bool::from(t.ct_eq(expected))
    }
}

/// Remove PKCS#7 padding from the final decrypted block(s); `None` if the
/// padding is invalid.
#[cfg(test)]
pub(crate) fn pkcs7_unpad_len(data: &[u8]) -> Option<usize> {
    pkcs7_unpad_len_block(data, 16)
}

/// [`pkcs7_unpad_len`] for a cipher with `block`-byte blocks.
pub(crate) fn pkcs7_unpad_len_block(data: &[u8], block: usize) -> Option<usize> {
    let last = *data.last()?;
    let n = usize::from(last);
    if n == 0 || n > block || n > data.len() {
        return None;
    }
    let pad = data.get(data.len() - n..)?;
    if pad.iter().all(|b| *b == last) {
        Some(data.len() - n)
    } else {
        None
    }
}

/// PKCS#7 padding block for the final `tail` (< 16 bytes) of a CBC body.
#[cfg(test)]
pub(crate) fn pkcs7_pad(tail: &[u8]) -> Vec<u8> {
    pkcs7_pad_block(tail, 16)
}

/// [`pkcs7_pad`] for a cipher with `block`-byte blocks.
pub(crate) fn pkcs7_pad_block(tail: &[u8], block: usize) -> Vec<u8> {
    let n = block - tail.len() % block;
    let mut v = tail.to_vec();
    v.resize(tail.len() + n, n as u8);
    v
}

#[cfg(test)]
#[path = "cipher_kat.rs"]
mod kat;

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::AeadInOut;

    fn lcg(seed: u32, n: usize) -> Vec<u8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (s >> 16) as u8
            })
            .collect()
    }

    fn chunked(c: &mut BodyCipher, data: &mut [u8], step: usize) {
        for chunk in data.chunks_mut(step.max(1)) {
            c.update(chunk).unwrap();
        }
    }

    #[test]
    fn streaming_gcm_matches_aes_gcm_crate() {
        let key = lcg(1, 32);
        let iv = lcg(2, 12);
        let aad = lcg(3, 16);
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 100, 4096, 5000] {
            let pt = lcg(len as u32, len);
            let one = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    iv.as_slice().try_into().unwrap(),
                    &aad,
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            for step in [1usize, 7, 16, 33, 4096] {
                let mut enc = BodyCipher::v2(
                    &CipherAlg::Aes256Gcm,
                    &key,
                    &iv,
                    Some(&aad),
                    None,
                    Direction::Encrypt,
                )
                .unwrap();
                let mut buf = pt.clone();
                chunked(&mut enc, &mut buf, step);
                assert_eq!(buf, expect, "len {len} step {step}");
                assert_eq!(
                    enc.trailer().unwrap().as_slice(),
                    tag.as_slice(),
                    "len {len} step {step}"
                );
                let mut dec = BodyCipher::v2(
                    &CipherAlg::Aes256Gcm,
                    &key,
                    &iv,
                    Some(&aad),
                    None,
                    Direction::Decrypt,
                )
                .unwrap();
                chunked(&mut dec, &mut buf, step);
                assert_eq!(buf, pt);
                assert!(dec.verify(tag.as_slice()));
            }
        }
    }

    /// Differential test of the AES-256-GCM paths (x86-64 kernel when the
    /// CPU has it, portable `ctr` + `ghash` otherwise) against the one-shot
    /// `aes-gcm` crate: random keys, IVs, AAD, lengths (0, 1, 15, 16, 17,
    /// around the 8-block batch, large) and random chunk splits, in both
    /// directions and in authenticate-only mode.
    #[test]
    fn gcm_kernel_and_portable_match_aes_gcm_crate_random() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut lens = vec![
            0usize,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            255,
            256,
            257,
            271,
            272,
            511,
            512,
            4095,
            4096,
            65536,
            65537,
            1 << 20,
        ];
        for _ in 0..40 {
            lens.push((rnd() % 20_000) as usize);
        }
        for (case, &len) in lens.iter().enumerate() {
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let iv: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let aad: Vec<u8> = (0..(rnd() % 40) as usize).map(|_| rnd() as u8).collect();
            let pt: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let one = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    iv.as_slice().try_into().unwrap(),
                    &aad,
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            // Random split points (unaligned), sometimes one piece.
            let mut cuts = vec![0usize];
            if case % 3 != 0 {
                while *cuts.last().unwrap() < len {
                    let step = match rnd() % 4 {
                        0 => (rnd() % 17) as usize,
                        1 => (rnd() % 300) as usize,
                        2 => (rnd() % 70_000) as usize,
                        _ => 16 * (rnd() % 40) as usize,
                    };
                    cuts.push((cuts.last().unwrap() + step).min(len));
                }
            }
            cuts.push(len);
            for kernel in [true, false] {
                let mk = |dir| {
                    BodyCipher::v2_with(
                        &CipherAlg::Aes256Gcm,
                        &key,
                        &iv,
                        Some(&aad),
                        None,
                        dir,
                        kernel,
                    )
                    .unwrap()
                };
                let mut enc = mk(Direction::Encrypt);
                let mut buf = pt.clone();
                for w in cuts.windows(2) {
                    enc.update(&mut buf[w[0]..w[1]]).unwrap();
                }
                assert!(buf == expect, "case {case} len {len} kernel {kernel}");
                assert_eq!(
                    enc.trailer().unwrap().as_slice(),
                    tag.as_slice(),
                    "case {case}"
                );
                let mut auth = mk(Direction::Decrypt);
                for w in cuts.windows(2) {
                    auth.authenticate(&buf[w[0]..w[1]]).unwrap();
                }
                assert!(auth.verify(tag.as_slice()), "case {case}");
                let mut dec = mk(Direction::Decrypt);
                for w in cuts.windows(2) {
                    dec.update(&mut buf[w[0]..w[1]]).unwrap();
                }
                assert!(buf == pt, "case {case} len {len} kernel {kernel}");
                let mut bad = tag;
                bad[case % 16] ^= 1;
                assert!(!dec.verify(bad.as_slice()), "case {case}");
            }
        }
    }

    /// What the dispatcher must pick, worked out without it: the cargo
    /// feature, the CPU features (asked here, not through the kernel's
    /// `available()`) and the environment (read here, not through the
    /// library's once-read switch). `MAILCRYPT_REQUIRE_KERNELS` naming
    /// `kernel` makes "no kernel" a failure.
    fn kernel_expected(kernel: &str, cpu: bool) -> bool {
        let compiled = cfg!(all(feature = "x86-kernels", target_arch = "x86_64"));
        let forced = std::env::var_os("MAILCRYPT_FORCE_PORTABLE").is_some_and(|v| v == "1");
        let required = std::env::var("MAILCRYPT_REQUIRE_KERNELS")
            .is_ok_and(|v| v == "1" || v.split(',').any(|k| k.trim() == kernel));
        assert!(
            !required || (compiled && cpu && !forced),
            "MAILCRYPT_REQUIRE_KERNELS names {kernel}: compiled {compiled}, CPU {cpu}, \
             MAILCRYPT_FORCE_PORTABLE {forced}"
        );
        compiled && cpu && !forced
    }

    #[cfg(target_arch = "x86_64")]
    fn cpu_gcm() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("vaes")
            && std::arch::is_x86_feature_detected!("vpclmulqdq")
            && std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "x86_64")]
    fn cpu_chacha() -> bool {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("bmi2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn cpu_gcm() -> bool {
        false
    }
    #[cfg(not(target_arch = "x86_64"))]
    fn cpu_chacha() -> bool {
        false
    }

    /// The engine the dispatcher chose (observable) against
    /// [`kernel_expected`], for every AEAD cipher, both directions, and
    /// with the kernel refused by the caller.
    #[test]
    fn kernel_used_exactly_when_compiled_cpu_capable_and_not_forced_portable() {
        let gcm = kernel_expected("gcm", cpu_gcm());
        let chacha = kernel_expected("chacha", cpu_chacha());
        eprintln!("expected: gcm kernel {gcm}, chacha kernel {chacha}");
        for dir in [Direction::Encrypt, Direction::Decrypt] {
            for (alg, key_len, expect) in [
                (CipherAlg::Aes128Gcm, 16, false),
                (CipherAlg::Aes192Gcm, 24, false),
                (CipherAlg::Aes256Gcm, 32, gcm),
                (CipherAlg::ChaCha20Poly1305, 32, chacha),
                (CipherAlg::Aes256Cbc, 32, false),
            ] {
                let iv_len = if matches!(alg, CipherAlg::Aes256Cbc) {
                    16
                } else {
                    12
                };
                let iv = vec![2u8; iv_len];
                let key = vec![1u8; key_len];
                let c = BodyCipher::v2(&alg, &key, &iv, None, None, dir).unwrap();
                assert_eq!(c.uses_kernel(), expect, "{alg:?}");
                let c = BodyCipher::v2_with(&alg, &key, &iv, None, None, dir, false).unwrap();
                assert!(!c.uses_kernel(), "{alg:?} with the kernel refused");
            }
        }
    }

    #[test]
    fn gcm_matches_dovecot_aes128_vector() {
        // vectors/dovecot/aes-128-gcm.vector (GCM spec test case 3, no AAD).
        let key = crate::hex::decode("feffe9928665731c6d6a8f9467308308").unwrap();
        let iv = crate::hex::decode("cafebabefacedbaddecaf888").unwrap();
        let pt = crate::hex::decode("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255").unwrap();
        let mut buf = pt.clone();
        let mut enc = BodyCipher::v2(
            &CipherAlg::Aes128Gcm,
            &key,
            &iv,
            None,
            None,
            Direction::Encrypt,
        )
        .unwrap();
        enc.update(&mut buf).unwrap();
        assert_eq!(
            crate::hex::encode(&buf),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
        );
        assert_eq!(
            crate::hex::encode(&enc.trailer().unwrap()),
            "4d5c2af327cd64a62cf35abd2ba6fab4"
        );
    }

    #[test]
    fn streaming_chacha_matches_chacha20poly1305_crate() {
        let key = lcg(4, 32);
        let nonce = lcg(5, 12);
        let aad = lcg(6, 16);
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 1000] {
            let pt = lcg(len as u32 + 9, len);
            let one = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    nonce.as_slice().try_into().unwrap(),
                    &aad,
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            for step in [1usize, 13, 64] {
                let mut enc = BodyCipher::v2(
                    &CipherAlg::ChaCha20Poly1305,
                    &key,
                    &nonce,
                    Some(&aad),
                    None,
                    Direction::Encrypt,
                )
                .unwrap();
                let mut buf = pt.clone();
                chunked(&mut enc, &mut buf, step);
                assert_eq!(buf, expect);
                assert_eq!(
                    enc.trailer().unwrap().as_slice(),
                    tag.as_slice(),
                    "len {len} step {step}"
                );
                let mut dec = BodyCipher::v2(
                    &CipherAlg::ChaCha20Poly1305,
                    &key,
                    &nonce,
                    Some(&aad),
                    None,
                    Direction::Decrypt,
                )
                .unwrap();
                chunked(&mut dec, &mut buf, step);
                assert_eq!(buf, pt);
                assert!(dec.verify(tag.as_slice()));
            }
        }
    }

    /// Differential test of the ChaCha20-Poly1305 paths (x86-64 kernel
    /// when the CPU has it, portable `chacha20` + `poly1305` otherwise)
    /// against the one-shot `chacha20poly1305` crate: random keys, nonces,
    /// AAD, every length 0..1100 in steps plus batch edges and large ones,
    /// random chunk splits, in place and copying (`update_to`), both
    /// directions and authenticate-only.
    #[test]
    fn chacha_kernel_and_portable_match_chacha20poly1305_crate_random() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut lens: Vec<usize> = (0..1100).step_by(7).collect();
        lens.extend([
            0,
            1,
            15,
            16,
            17,
            63,
            64,
            65,
            511,
            512,
            513,
            1023,
            1024,
            1025,
            1536,
            4096,
            65535,
            65536,
            65537,
            300_000,
            1 << 20,
        ]);
        for _ in 0..30 {
            lens.push((rnd() % 20_000) as usize);
        }
        for (case, &len) in lens.iter().enumerate() {
            let key: Vec<u8> = (0..32).map(|_| rnd() as u8).collect();
            let nonce: Vec<u8> = (0..12).map(|_| rnd() as u8).collect();
            let aad: Vec<u8> = (0..(rnd() % 70) as usize).map(|_| rnd() as u8).collect();
            let pt: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            let one = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
            let mut expect = pt.clone();
            let tag = one
                .encrypt_inout_detached(
                    nonce.as_slice().try_into().unwrap(),
                    &aad,
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            let mut cuts = vec![0usize];
            if case % 3 != 0 {
                while *cuts.last().unwrap() < len {
                    let step = match rnd() % 5 {
                        0 => (rnd() % 17) as usize,
                        1 => (rnd() % 700) as usize,
                        2 => (rnd() % 70_000) as usize,
                        3 => 64 * (rnd() % 20) as usize,
                        _ => 512 * (rnd() % 5) as usize + (rnd() % 3) as usize,
                    };
                    cuts.push((cuts.last().unwrap() + step).min(len));
                }
            }
            cuts.push(len);
            for kernel in [true, false] {
                let mk = |dir| {
                    BodyCipher::v2_with(
                        &CipherAlg::ChaCha20Poly1305,
                        &key,
                        &nonce,
                        Some(&aad),
                        None,
                        dir,
                        kernel,
                    )
                    .unwrap()
                };
                // Encrypt in place.
                let mut enc = mk(Direction::Encrypt);
                let mut buf = pt.clone();
                for w in cuts.windows(2) {
                    enc.update(&mut buf[w[0]..w[1]]).unwrap();
                }
                assert!(buf == expect, "case {case} len {len} kernel {kernel}");
                assert_eq!(
                    enc.trailer().unwrap().as_slice(),
                    tag.as_slice(),
                    "case {case}"
                );
                // Encrypt copying.
                let mut enc = mk(Direction::Encrypt);
                let mut out = vec![0u8; len];
                for w in cuts.windows(2) {
                    enc.update_to(&pt[w[0]..w[1]], &mut out[w[0]..w[1]])
                        .unwrap();
                }
                assert!(out == expect, "case {case} len {len} kernel {kernel}");
                assert_eq!(
                    enc.trailer().unwrap().as_slice(),
                    tag.as_slice(),
                    "case {case}"
                );
                // Authenticate only.
                let mut auth = mk(Direction::Decrypt);
                for w in cuts.windows(2) {
                    auth.authenticate(&buf[w[0]..w[1]]).unwrap();
                }
                assert!(auth.verify(tag.as_slice()), "case {case}");
                // Decrypt copying.
                let mut dec = mk(Direction::Decrypt);
                let mut out = vec![0u8; len];
                for w in cuts.windows(2) {
                    dec.update_to(&buf[w[0]..w[1]], &mut out[w[0]..w[1]])
                        .unwrap();
                }
                assert!(out == pt, "case {case} len {len} kernel {kernel}");
                assert!(dec.verify(tag.as_slice()), "case {case}");
                // Decrypt in place; a flipped tag bit fails.
                let mut dec = mk(Direction::Decrypt);
                for w in cuts.windows(2) {
                    dec.update(&mut buf[w[0]..w[1]]).unwrap();
                }
                assert!(buf == pt, "case {case} len {len} kernel {kernel}");
                let mut bad = tag;
                bad[case % 16] ^= 1 << (case % 8);
                assert!(!dec.verify(bad.as_slice()), "case {case}");
                // A flipped ciphertext bit fails too.
                if len > 0 {
                    let mut ct = expect.clone();
                    ct[case % len] ^= 0x80;
                    let mut dec = mk(Direction::Decrypt);
                    dec.update(&mut ct).unwrap();
                    assert!(!dec.verify(tag.as_slice()), "case {case}");
                }
            }
        }
    }

    /// Authenticate-only input of odd length followed by decryption on the
    /// same instance (the fused kernel must not run misaligned): both
    /// paths agree with each other.
    #[test]
    fn chacha_mixed_authenticate_and_update_agree() {
        let key = lcg(21, 32);
        let nonce = lcg(22, 12);
        let data = lcg(23, 5000);
        let mut outs = Vec::new();
        for kernel in [true, false] {
            let mut c = BodyCipher::v2_with(
                &CipherAlg::ChaCha20Poly1305,
                &key,
                &nonce,
                Some(b"aad"),
                None,
                Direction::Decrypt,
                kernel,
            )
            .unwrap();
            c.authenticate(&data[..37]).unwrap();
            let mut buf = data[37..].to_vec();
            c.update(&mut buf).unwrap();
            outs.push((buf, c.trailer().unwrap().to_vec()));
        }
        assert!(outs[0] == outs[1]);
    }

    /// A kernel whose `KS` promises more keystream than the wrapper's
    /// buffer holds: the invariant `crypt_partial` relies on, broken.
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    struct BrokenKernel;

    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    impl AeadKernel for BrokenKernel {
        const KS: usize = MAX_KS + 16;
        fn mac_blocks(&mut self, _: &[u8]) {}
        fn crypt_blocks(&mut self, _: &mut [u8], _: bool) -> usize {
            0
        }
        fn crypt_blocks_to(&mut self, _: &[u8], _: &mut [u8], _: bool) -> usize {
            0
        }
        fn keystream(&mut self, ks: &mut [u8; MAX_KS]) {
            ks.fill(0xa5);
        }
        fn finish(&mut self, _: u64, _: u64) -> [u8; 16] {
            [0; 16]
        }
    }

    /// With the invariant broken, in place and copying, both directions:
    /// a typed error, the output zeroed (never the input passed through),
    /// every later call refused and no tag.
    #[test]
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    fn crypt_partial_fails_closed() {
        for encrypt in [true, false] {
            let mut f = FastAead::with_kernel(Box::new(BrokenKernel), b"aad");
            let mut data = vec![0x5au8; 600];
            assert_eq!(f.crypt(&mut data, encrypt), Err(BodyError::KernelState));
            assert!(data.iter().all(|&b| b == 0), "output not zeroed");
            let mut more = vec![1u8; 10];
            assert_eq!(f.crypt(&mut more, encrypt), Err(BodyError::KernelState));
            assert!(more.iter().all(|&b| b == 0));
            assert!(f.tag().is_none());

            let mut f = FastAead::with_kernel(Box::new(BrokenKernel), b"");
            let src = vec![0x5au8; 600];
            let mut dst = vec![0x77u8; 600];
            assert_eq!(
                f.crypt_to(&src, &mut dst, encrypt),
                Err(BodyError::KernelState)
            );
            assert!(dst.iter().all(|&b| b == 0), "output not zeroed");
            let mut dst = vec![0x77u8; 3];
            assert_eq!(
                f.crypt_to(&src[..3], &mut dst, encrypt),
                Err(BodyError::KernelState)
            );
            assert_eq!(dst, [0u8; 3]);
            assert!(f.tag().is_none());
        }
    }

    /// A kernel cipher that failed gives no trailer (a typed error, not an
    /// empty one that would read as "no integrity") and verifies nothing.
    #[test]
    #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
    fn a_failed_kernel_cipher_has_no_trailer() {
        for (alg, kernel, available) in [
            (CipherAlg::Aes256Gcm, "gcm", crate::arch::gcm::available()),
            (
                CipherAlg::ChaCha20Poly1305,
                "chacha",
                crate::arch::chacha::available(),
            ),
        ] {
            if crate::arch::skip(kernel, available && crate::arch::enabled()) {
                continue;
            }
            let fresh = || {
                BodyCipher::v2(
                    &alg,
                    &[7; 32],
                    &[9; 12],
                    Some(&[]),
                    None,
                    Direction::Encrypt,
                )
                .unwrap()
            };
            let broken = || {
                let mut c = fresh();
                match &mut c.engine {
                    Engine::GcmFast(g) => g.failed = true,
                    Engine::ChaChaFast(g) => g.failed = true,
                    _ => panic!("{alg:?}: the kernel engine was not chosen"),
                }
                c
            };
            let good = fresh().trailer().unwrap();
            assert_eq!(good.len(), 16);
            assert_eq!(broken().trailer().unwrap_err(), BodyError::KernelState);
            assert!(fresh().verify(&good));
            assert!(
                !broken().verify(&good),
                "{alg:?}: a failed cipher verified a tag"
            );
        }
    }

    #[test]
    fn cbc_matches_nist_sp800_38a_vector() {
        // vectors/dovecot/aes-128-cbc-nopad.vectors (F.2.1, two blocks).
        let key = crate::hex::decode("2b7e151628aed2a6abf7158809cf4f3c").unwrap();
        let iv = crate::hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
        let mut buf =
            crate::hex::decode("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
                .unwrap();
        let mut enc = BodyCipher::v2(
            &CipherAlg::Aes128Cbc,
            &key,
            &iv,
            None,
            None,
            Direction::Encrypt,
        )
        .unwrap();
        enc.update(&mut buf).unwrap();
        assert_eq!(
            crate::hex::encode(&buf),
            "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
        );
    }

    #[test]
    fn keystream_limits_are_errors_not_panics() {
        // Move each stream cipher to just before its limit (as if that much
        // body had been processed) instead of running 64 GiB through it.
        let key = lcg(7, 32);
        let iv = lcg(8, 12);
        for dir in [Direction::Decrypt, Direction::Encrypt] {
            let mut c =
                BodyCipher::v2(&CipherAlg::Aes256Gcm, &key, &iv, Some(&[]), None, dir).unwrap();
            match &mut c.engine {
                Engine::Portable(m) => m.skip_to_limit(32),
                #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
                Engine::GcmFast(g) => {
                    g.ct_len = GCM_MAX_BODY - 32;
                    // Counter 1 made the mask; the body starts at 2.
                    g.k.set_counter((2 + (GCM_MAX_BODY - 32) / 16) as u32);
                }
                #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
                Engine::ChaChaFast(_) => panic!("AES-GCM on the ChaCha kernel"),
            }
            c.update(&mut [0u8; 32]).unwrap();
            assert_eq!(
                c.update(&mut [0u8; 1]),
                Err(BodyError::TooLong(BodyTooLong {
                    limit: GCM_MAX_BODY
                }))
            );
            assert!(c.authenticate(&[0u8; 1]).is_err());

            let mut c = BodyCipher::v2(
                &CipherAlg::ChaCha20Poly1305,
                &key,
                &iv,
                Some(&[]),
                None,
                dir,
            )
            .unwrap();
            let left = match &mut c.engine {
                Engine::Portable(m) => {
                    m.skip_to_limit(100);
                    100
                }
                #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
                Engine::ChaChaFast(cc) => {
                    cc.ct_len = CHACHA_MAX_BODY - 128;
                    // Block 0 made the Poly1305 key; the body starts at 1.
                    cc.k.set_counter((1 + (CHACHA_MAX_BODY - 128) / 64) as u32);
                    128
                }
                #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
                Engine::GcmFast(_) => panic!("ChaCha20-Poly1305 on the GCM kernel"),
            };
            c.update(&mut vec![0u8; left]).unwrap();
            assert_eq!(
                c.update(&mut [0u8; 1]),
                Err(BodyError::TooLong(BodyTooLong {
                    limit: CHACHA_MAX_BODY
                }))
            );
        }
        // One call that straddles the limit fails before changing anything.
        let mut c = BodyCipher::v2(
            &CipherAlg::Aes128Gcm,
            &key[..16],
            &iv,
            None,
            None,
            Direction::Decrypt,
        )
        .unwrap();
        match &mut c.engine {
            Engine::Portable(m) => m.skip_to_limit(8),
            #[cfg(all(feature = "x86-kernels", target_arch = "x86_64"))]
            Engine::GcmFast(_) | Engine::ChaChaFast(_) => panic!("AES-128-GCM has no kernel"),
        }
        let mut buf = [7u8; 16];
        assert!(c.update(&mut buf).is_err());
        assert_eq!(buf, [7u8; 16]);
    }

    #[test]
    fn pkcs7() {
        assert_eq!(pkcs7_pad(b"abc").len(), 16);
        assert_eq!(pkcs7_pad(&[0u8; 16]).len(), 32);
        assert_eq!(pkcs7_unpad_len(&pkcs7_pad(b"abc")), Some(3));
        assert_eq!(pkcs7_unpad_len(&[0u8; 16]), None);
        let mut bad = pkcs7_pad(b"abc");
        bad[10] ^= 1;
        assert_eq!(pkcs7_unpad_len(&bad), None);
    }
}
