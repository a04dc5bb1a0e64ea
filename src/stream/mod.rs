//! Body ciphers and the `Read`/`Write` adapters that stream them in
//! constant memory.

pub(crate) mod cipher;
mod modes;
mod reader;
mod writer;

#[cfg(feature = "async")]
pub(crate) use reader::BodyDecoder;
pub(crate) use reader::BodyReader;
#[cfg(feature = "async")]
pub(crate) use writer::BodyEncoder;
pub(crate) use writer::BodyWriter;

/// Size of the ciphertext chunk the adapters process at once.
pub const CHUNK_LEN: usize = 64 * 1024;

/// Not part of the API (hidden, may change without notice): AES-256-GCM
/// encryption (`encrypt`) or decryption of `buf` in place with exactly the
/// body cipher the adapters use (the x86-64 kernel when the CPU has it), no
/// AAD, returning the tag (computed, not checked). `examples/throughput.rs`
/// and the criterion bench use it as the raw-cipher baseline for the
/// framing overhead. `None` for a wrong key or IV length or a body over the
/// GCM limit.
#[doc(hidden)]
pub fn __raw_aes256_gcm(key: &[u8], iv: &[u8], buf: &mut [u8], encrypt: bool) -> Option<[u8; 16]> {
    let dir = if encrypt {
        cipher::Direction::Encrypt
    } else {
        cipher::Direction::Decrypt
    };
    let mut c = cipher::BodyCipher::v2(
        &crate::container::CipherAlg::Aes256Gcm,
        key,
        iv,
        Some(&[]),
        None,
        dir,
    )
    .ok()?;
    c.update(buf).ok()?;
    c.trailer().as_slice().try_into().ok()
}
