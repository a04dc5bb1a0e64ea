//! Body ciphers beyond AES-GCM/CBC, AES-256-OFB/CFB and ChaCha20: every
//! other block cipher and mode Dovecot writes for `crypt_write_algorithm`
//! (AES-128/192-OFB/CFB; Camellia-128/192/256, ARIA-128/192/256 and SM4 in
//! CBC, OFB, CFB and CTR; ARIA-128/192/256-GCM; DES-EDE3-CBC), behind one
//! trait object so that [`super::cipher::BodyCipher`] needs a single engine
//! variant for all of them.
//!
//! Each mode is the RustCrypto one over the RustCrypto block cipher:
//! `cbc`, `ofb`, `cfb-mode` (CFB128), `ctr` (`Ctr128BE`: OpenSSL's CTR
//! increments the whole 16-byte IV as one big-endian counter) and a
//! streaming GCM (CTR32 keystream + GHASH, as for AES-GCM) generic over the
//! 16-byte block cipher. All key schedules and mode states zeroize on drop
//! (the crates' `zeroize` features).

use aes::cipher::array::Array;
use aes::cipher::consts::U16;
use aes::cipher::typenum::Unsigned;
use aes::cipher::{
    BlockCipherDecrypt, BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, BlockSizeUser,
    KeyInit, KeyIvInit, StreamCipher, StreamCipherError,
};

use super::cipher::{GCM_MAX_BODY, Gcm};
use crate::container::alg::{Family, Mode, Spec};

/// One body cipher of [`Spec`]'s list, processing data incrementally.
pub(crate) trait BodyMode: Send {
    /// Encrypt or decrypt `data` in place. Block modes get whole blocks.
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError>;
    /// Feed ciphertext to the AEAD tag (GCM only).
    fn absorb(&mut self, _ciphertext: &[u8]) {}
    /// Ciphertext bytes fed to the tag so far (GCM only).
    fn processed(&self) -> u64 {
        0
    }
    /// Longest body the mode can process (GCM only).
    fn max_body_len(&self) -> Option<u64> {
        None
    }
    /// Block length of a padded block mode (CBC); `None` for stream modes.
    fn block_len(&self) -> Option<usize> {
        None
    }
    /// Whether an AEAD tag ends the body.
    fn has_tag(&self) -> bool {
        false
    }
    /// The AEAD tag (GCM only).
    fn tag(self: Box<Self>) -> Option<[u8; 16]> {
        None
    }
    /// Test hook: move an AEAD to `left` bytes before its keystream limit,
    /// as if that much body had been processed (instead of running 64 GiB
    /// through it).
    #[cfg(test)]
    fn skip_to_limit(&mut self, _left: u64) {
        panic!("not an AEAD mode")
    }
}

struct CbcEnc<C: BlockCipherEncrypt>(cbc::Encryptor<C>);
struct CbcDec<C: BlockCipherDecrypt>(cbc::Decryptor<C>);

impl<C: BlockCipherEncrypt + Send> BodyMode for CbcEnc<C> {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        let (blocks, _) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
        self.0.encrypt_blocks(blocks);
        Ok(())
    }
    fn block_len(&self) -> Option<usize> {
        Some(C::BlockSize::USIZE)
    }
}

impl<C: BlockCipherDecrypt + Send> BodyMode for CbcDec<C> {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        let (blocks, _) = Array::<u8, C::BlockSize>::slice_as_chunks_mut(data);
        self.0.decrypt_blocks(blocks);
        Ok(())
    }
    fn block_len(&self) -> Option<usize> {
        Some(C::BlockSize::USIZE)
    }
}

/// OFB and CTR: a keystream XORed onto the data (same in both directions).
struct Keystream<S>(S);

impl<S: StreamCipher + Send> BodyMode for Keystream<S> {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.0.try_apply_keystream(data)
    }
}

struct CfbEnc<C: BlockCipherEncrypt>(cfb_mode::BufEncryptor<C>);
struct CfbDec<C: BlockCipherEncrypt>(cfb_mode::BufDecryptor<C>);

impl<C: BlockCipherEncrypt + Send> BodyMode for CfbEnc<C> {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.0.encrypt(data);
        Ok(())
    }
}

impl<C: BlockCipherEncrypt + Send> BodyMode for CfbDec<C> {
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.0.decrypt(data);
        Ok(())
    }
}

/// GCM over any 16-byte block cipher (AES and ARIA): the streaming GCM of
/// [`super::cipher::Gcm`], which every portable GCM body runs on.
impl<C> BodyMode for Gcm<C>
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit + Send,
{
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.ctr.try_apply_keystream(data)
    }
    fn absorb(&mut self, ciphertext: &[u8]) {
        self.ghash.absorb(ciphertext);
        self.ct_len += ciphertext.len() as u64;
    }
    fn processed(&self) -> u64 {
        self.ct_len
    }
    fn max_body_len(&self) -> Option<u64> {
        Some(GCM_MAX_BODY)
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
        self.ct_len = GCM_MAX_BODY - left;
        // The mask used the first 16 keystream bytes.
        self.ctr.seek(16 + GCM_MAX_BODY - left);
    }
}

/// The v1 body cipher: AES-256-CTR keyed with the 32-byte seed, zero IV.
/// `None` if the seed has the wrong length.
pub(crate) fn aes256_ctr_zero_iv(seed: &[u8]) -> Option<Box<dyn BodyMode>> {
    Some(Box::new(Keystream(
        ctr::Ctr128BE::<aes::Aes256>::new_from_slices(seed, &[0u8; 16]).ok()?,
    )))
}

/// Set up the body cipher of `spec`. `aad` is the AEAD AAD (GCM only).
/// `None` if the key or IV has the wrong length.
pub(crate) fn new_mode(
    spec: &Spec,
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    encrypt: bool,
) -> Option<Box<dyn BodyMode>> {
    // 16-byte block ciphers: every mode.
    macro_rules! block16 {
        ($c:ty) => {
            match (spec.mode, encrypt) {
                (Mode::Cbc, true) => {
                    Box::new(CbcEnc::<$c>(KeyIvInit::new_from_slices(key, iv).ok()?))
                        as Box<dyn BodyMode>
                }
                (Mode::Cbc, false) => {
                    Box::new(CbcDec::<$c>(KeyIvInit::new_from_slices(key, iv).ok()?))
                }
                (Mode::Ofb, _) => {
                    Box::new(Keystream(ofb::Ofb::<$c>::new_from_slices(key, iv).ok()?))
                }
                (Mode::Cfb, true) => {
                    Box::new(CfbEnc::<$c>(KeyIvInit::new_from_slices(key, iv).ok()?))
                }
                (Mode::Cfb, false) => {
                    Box::new(CfbDec::<$c>(KeyIvInit::new_from_slices(key, iv).ok()?))
                }
                (Mode::Ctr, _) => Box::new(Keystream(
                    ctr::Ctr128BE::<$c>::new_from_slices(key, iv).ok()?,
                )),
                (Mode::Gcm, _) => Box::new(Gcm::<$c>::new(key, iv, aad)?),
                (Mode::ChaChaPoly, _) => return None,
            }
        };
    }
    Some(match spec.family {
        Family::Aes128 => block16!(aes::Aes128),
        Family::Aes192 => block16!(aes::Aes192),
        Family::Aes256 => block16!(aes::Aes256),
        Family::Camellia128 => block16!(camellia::Camellia128),
        Family::Camellia192 => block16!(camellia::Camellia192),
        Family::Camellia256 => block16!(camellia::Camellia256),
        Family::Aria128 => block16!(aria::Aria128),
        Family::Aria192 => block16!(aria::Aria192),
        Family::Aria256 => block16!(aria::Aria256),
        Family::Sm4 => block16!(sm4::Sm4),
        // 8-byte blocks: Dovecot writes only CBC (OFB/CFB have no OID).
        Family::TdesEde3 => match (spec.mode, encrypt) {
            (Mode::Cbc, true) => Box::new(CbcEnc::<des::TdesEde3>(
                KeyIvInit::new_from_slices(key, iv).ok()?,
            )),
            (Mode::Cbc, false) => Box::new(CbcDec::<des::TdesEde3>(
                KeyIvInit::new_from_slices(key, iv).ok()?,
            )),
            _ => return None,
        },
        // ChaCha20 is no block cipher: `stream::cipher::ChaChaPoly`
        // implements `BodyMode` itself.
        Family::ChaCha20 => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::CipherAlg;
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

    /// The streaming ARIA-GCM equals the one-shot `aes-gcm` crate's generic
    /// `AesGcm` over `aria` (same GCM code as for AES), for every split.
    #[test]
    fn streaming_aria_gcm_matches_the_aes_gcm_crate() {
        let spec = CipherAlg::Aria256Gcm.spec().unwrap();
        let key = lcg(1, 32);
        let iv = lcg(2, 12);
        let aad = lcg(3, 16);
        type OneShot = aes_gcm::AesGcm<aria::Aria256, aes_gcm::aead::consts::U12>;
        for len in [0usize, 1, 15, 16, 17, 100, 5000] {
            let pt = lcg(len as u32, len);
            let mut expect = pt.clone();
            let tag = OneShot::new_from_slice(&key)
                .unwrap()
                .encrypt_inout_detached(
                    iv.as_slice().try_into().unwrap(),
                    &aad,
                    expect.as_mut_slice().into(),
                )
                .unwrap();
            for step in [1usize, 7, 16, 4096] {
                let mut m = new_mode(spec, &key, &iv, &aad, true).unwrap();
                let mut ct = pt.clone();
                for c in ct.chunks_mut(step) {
                    m.apply(c).unwrap();
                    m.absorb(c);
                }
                assert_eq!(ct, expect, "{len} {step}");
                assert_eq!(m.tag().unwrap().as_slice(), tag.as_slice(), "{len} {step}");
                let mut d = new_mode(spec, &key, &iv, &aad, false).unwrap();
                for c in ct.chunks_mut(step) {
                    d.absorb(c);
                    d.apply(c).unwrap();
                }
                assert_eq!(ct, pt);
                assert_eq!(d.tag().unwrap().as_slice(), tag.as_slice());
            }
        }
    }

    /// Every mode of every block cipher in the table (AES-256's included,
    /// whose production path is `BodyCipher`'s own engines) round-trips, in
    /// pieces, and block modes report their block length; wrong key/IV
    /// lengths are refused; ChaCha20-Poly1305 is not this function's.
    #[test]
    fn every_mode_round_trips_and_rejects_bad_lengths() {
        // ChaCha20-Poly1305 has an engine of its own (stream::cipher's tests).
        for spec in crate::container::alg::SPECS
            .iter()
            .filter(|s| s.family != Family::ChaCha20)
        {
            let key = lcg(5, spec.key_len);
            let iv = lcg(6, spec.iv_len);
            let block = if spec.family == Family::TdesEde3 {
                8
            } else {
                16
            };
            let len = if spec.mode == Mode::Cbc {
                4 * block
            } else {
                61
            };
            let pt = lcg(7, len);
            let mut e = new_mode(spec, &key, &iv, &[], true).unwrap();
            assert_eq!(
                e.block_len(),
                (spec.mode == Mode::Cbc).then_some(block),
                "{}",
                spec.name
            );
            assert_eq!(e.has_tag(), spec.mode.is_aead());
            let mut ct = pt.clone();
            let (a, b) = ct.split_at_mut(2 * block);
            e.apply(a).unwrap();
            e.apply(b).unwrap();
            assert_ne!(ct, pt, "{}", spec.name);
            let mut d = new_mode(spec, &key, &iv, &[], false).unwrap();
            d.apply(&mut ct).unwrap();
            assert_eq!(ct, pt, "{}", spec.name);
            assert!(new_mode(spec, &key[1..], &iv, &[], true).is_none());
            assert!(new_mode(spec, &key, &iv[1..], &[], false).is_none());
        }
        let chacha = CipherAlg::ChaCha20Poly1305.spec().unwrap();
        assert!(new_mode(chacha, &[0; 32], &[0; 12], &[], true).is_none());
    }

    /// Known-answer: OpenSSL's CTR for 16-byte blocks increments the whole
    /// IV as one 128-bit big-endian counter (carry across all 16 bytes).
    #[test]
    fn ctr_carries_across_the_whole_iv() {
        let spec = CipherAlg::Sm4Ctr.spec().unwrap();
        let key = lcg(8, 16);
        let mut iv = [0xffu8; 16];
        iv[0] = 0;
        let mut ks = [0u8; 32];
        new_mode(spec, &key, &iv, &[], true)
            .unwrap()
            .apply(&mut ks)
            .unwrap();
        // Block 1 = E(IV + 1) = E(01 00 … 00).
        let mut next = [0u8; 16];
        next[0] = 1;
        let mut one = [0u8; 16];
        new_mode(spec, &key, &next, &[], true)
            .unwrap()
            .apply(&mut one)
            .unwrap();
        assert_eq!(&ks[16..], &one);
    }
}
