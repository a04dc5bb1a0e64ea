//! AES-256 as key wrapping uses it: CBC with PKCS#7 padding (v2 EC and
//! ML-KEM recipients) and CTR with a zero IV (v1 containers and v1 Dovecot
//! key strings).

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};
use zeroize::Zeroizing;

type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;

/// AES-256-CBC decryption with PKCS#7 padding removal.
pub(crate) fn cbc_decrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let dec = Aes256CbcDec::new_from_slices(key, iv).ok()?;
    let mut buf = Zeroizing::new(data.to_vec());
    let len = dec
        .decrypt_padded::<aes::cipher::block_padding::Pkcs7>(&mut buf)
        .ok()?
        .len();
    buf.truncate(len);
    Some(buf)
}

/// AES-256-CBC encryption with PKCS#7 padding.
pub(crate) fn cbc_encrypt(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    let enc = Aes256CbcEnc::new_from_slices(key, iv).ok()?;
    let mut buf = vec![0u8; data.len() + 16 - data.len() % 16];
    buf.get_mut(..data.len())?.copy_from_slice(data);
    let n = enc
        .encrypt_padded::<aes::cipher::block_padding::Pkcs7>(&mut buf, data.len())
        .ok()?
        .len();
    buf.truncate(n);
    Some(buf)
}

/// AES-256-CTR with a zero IV (v1 containers and v1 key strings).
pub(crate) fn ctr_zero_iv(key: &[u8], data: &mut [u8]) -> Option<()> {
    let mut c = Aes256Ctr::new_from_slices(key, &[0u8; 16]).ok()?;
    c.apply_keystream(data);
    Some(())
}
