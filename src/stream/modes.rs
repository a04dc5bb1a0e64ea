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
    InnerIvInit, KeyInit, KeyIvInit, StreamCipher, StreamCipherError,
};
use ghash::universal_hash::UniversalHash;
use zeroize::{Zeroize, Zeroizing};

use crate::container::alg::{Family, Mode, Spec};

/// Longest GCM body (the same limit as AES-GCM's, SP 800-38D).
const GCM_MAX_BODY: u64 = ((1 << 32) - 2) * 16;

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

/// Streaming GCM over any 16-byte block cipher (12-byte IV, 16-byte tag).
struct GcmMode<C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16>> {
    ctr: ctr::Ctr32BE<C>,
    ghash: ghash::GHash,
    partial: Zeroizing<[u8; 16]>,
    partial_len: usize,
    mask: Zeroizing<[u8; 16]>,
    aad_len: u64,
    ct_len: u64,
}

impl<C> GcmMode<C>
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit,
{
    fn new(key: &[u8], iv: &[u8], aad: &[u8]) -> Option<Self> {
        if iv.len() != 12 {
            return None;
        }
        let cipher = C::new_from_slice(key).ok()?;
        let mut h = ghash::Key::default();
        cipher.encrypt_block(&mut h);
        let ghash = ghash::GHash::new(&h);
        h.zeroize();
        let mut j0 = Array::<u8, U16>::default();
        j0.get_mut(..12)?.copy_from_slice(iv);
        *j0.get_mut(15)? = 1;
        let mut ctr = ctr::Ctr32BE::<C>::from_core(ctr::CtrCore::inner_iv_init(cipher, &j0));
        let mut mask = Zeroizing::new([0u8; 16]);
        ctr.apply_keystream(mask.as_mut_slice());
        let mut g = GcmMode {
            ctr,
            ghash,
            partial: Zeroizing::new([0; 16]),
            partial_len: 0,
            mask,
            aad_len: aad.len() as u64,
            ct_len: 0,
        };
        g.feed(aad);
        g.pad();
        Some(g)
    }

    /// GHASH over arbitrary-length input, 16-byte blocks at a time.
    fn feed(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self
                .partial
                .get_mut(self.partial_len..self.partial_len + take)
            {
                dst.copy_from_slice(head);
            }
            self.partial_len += take;
            data = rest;
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update_padded(self.partial.as_slice());
            self.partial_len = 0;
        }
        let full = data.len() / 16 * 16;
        let (blocks, tail) = data.split_at(full);
        if !blocks.is_empty() {
            self.ghash.update_padded(blocks);
        }
        if let Some(dst) = self.partial.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        self.partial_len = tail.len();
    }

    /// Zero-pad a pending partial block.
    fn pad(&mut self) {
        if self.partial_len > 0 {
            let p = *self.partial;
            self.ghash
                .update_padded(p.get(..self.partial_len).unwrap_or_default());
            self.partial_len = 0;
        }
    }
}

impl<C> BodyMode for GcmMode<C>
where
    C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit + Send,
{
    fn apply(&mut self, data: &mut [u8]) -> Result<(), StreamCipherError> {
        self.ctr.try_apply_keystream(data)
    }
    fn absorb(&mut self, ciphertext: &[u8]) {
        self.feed(ciphertext);
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
        let mut g = *self;
        g.pad();
        let mut lens = [0u8; 16];
        lens.get_mut(..8)?
            .copy_from_slice(&(g.aad_len * 8).to_be_bytes());
        lens.get_mut(8..)?
            .copy_from_slice(&(g.ct_len * 8).to_be_bytes());
        g.ghash.update_padded(&lens);
        let out = g.ghash.finalize();
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&out);
        tag.iter_mut().zip(g.mask.iter()).for_each(|(t, m)| *t ^= m);
        Some(tag)
    }
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
                (Mode::Gcm, _) => Box::new(GcmMode::<$c>::new(key, iv, aad)?),
            }
        };
    }
    Some(match spec.family {
        Family::Aes128 => block16!(aes::Aes128),
        Family::Aes192 => block16!(aes::Aes192),
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
    })
}
