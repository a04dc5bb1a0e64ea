//! `Write` adapter that encrypts a body in constant memory.
//!
//! The header is written lazily with the first plaintext byte, because
//! Dovecot writes an empty mail as a 0-byte file. The trailer (AEAD tag or
//! HMAC) is written only by `finish`; a writer dropped without `finish`
//! leaves a file whose last chunk and trailer are missing, which every
//! reader rejects (for authenticated formats).

use std::io::{self, Write};

use super::CHUNK_LEN;
use super::cipher::{BodyCipher, BodyError, pkcs7_pad_block};

/// Writes at least this large skip the buffer when it is empty.
const DIRECT_MIN: usize = 4096;

pub(crate) struct BodyWriter<W: Write> {
    inner: W,
    header: Option<Vec<u8>>,
    cipher: Option<BodyCipher>,
    buf: Vec<u8>,
    /// Ciphertext staging for large writes of stream ciphers, encrypted
    /// straight from the caller's data (allocated on first use).
    out: Vec<u8>,
    block_mode: bool,
    /// Cipher block length (16; 8 for DES-EDE3-CBC).
    block: usize,
}

impl<W: Write> BodyWriter<W> {
    pub(crate) fn new(inner: W, header: Vec<u8>, cipher: BodyCipher) -> Self {
        let block_mode = cipher.is_block_mode();
        let block = cipher.block_len();
        BodyWriter {
            inner,
            header: Some(header),
            cipher: Some(cipher),
            buf: Vec::with_capacity(CHUNK_LEN + 16),
            out: Vec::new(),
            block_mode,
            block,
        }
    }

    fn write_header(&mut self) -> io::Result<()> {
        if let Some(h) = self.header.take() {
            self.inner.write_all(&h)?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self, keep_tail: bool) -> io::Result<()> {
        let cipher = self
            .cipher
            .as_mut()
            .ok_or_else(|| io::Error::other("writer already finished"))?;
        let mut n = self.buf.len();
        if self.block_mode && keep_tail {
            n -= n % self.block;
        }
        if n == 0 {
            return Ok(());
        }
        cipher
            .update(self.buf.get_mut(..n).unwrap_or_default())
            .map_err(write_error)?;
        self.write_header()?;
        self.inner
            .write_all(self.buf.get(..n).unwrap_or_default())?;
        self.buf.drain(..n);
        Ok(())
    }

    /// Encrypt what is buffered, write the trailer, flush, and return the
    /// inner writer. Empty input produces no output at all.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if self.header.is_some() && self.buf.is_empty() {
            // Nothing was written: Dovecot's empty container is 0 bytes.
            self.inner.flush()?;
            return Ok(self.inner);
        }
        if self.block_mode {
            let full = self.buf.len() - self.buf.len() % self.block;
            let tail = self.buf.split_off(full);
            self.buf
                .extend_from_slice(&pkcs7_pad_block(&tail, self.block));
        }
        self.flush_chunk(false)?;
        self.write_header()?;
        let cipher = self
            .cipher
            .take()
            .ok_or_else(|| io::Error::other("writer already finished"))?;
        self.inner.write_all(&cipher.trailer())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for BodyWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(cipher) = self.cipher.as_mut() else {
            return Err(io::Error::other("writer already finished"));
        };
        if !self.block_mode && self.buf.is_empty() && data.len() >= DIRECT_MIN {
            // Large write, nothing buffered: encrypt from `data` into the
            // staging buffer in one pass (no copy into `buf` first).
            let n = data.len().min(CHUNK_LEN);
            if self.out.len() < n {
                self.out.resize(CHUNK_LEN, 0);
            }
            let dst = self.out.get_mut(..n).unwrap_or_default();
            cipher
                .update_to(data.get(..n).unwrap_or_default(), dst)
                .map_err(write_error)?;
            self.write_header()?;
            self.inner
                .write_all(self.out.get(..n).unwrap_or_default())?;
            return Ok(n);
        }
        let room = CHUNK_LEN + 16 - self.buf.len();
        let n = room.min(data.len());
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        if self.buf.len() >= CHUNK_LEN {
            self.flush_chunk(true)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Whole blocks can go out; the final partial block and the trailer
        // wait for `finish`.
        if !self.buf.is_empty() {
            self.flush_chunk(true)?;
        }
        self.inner.flush()
    }
}

fn write_error(e: BodyError) -> io::Error {
    match e {
        BodyError::TooLong(e) => io::Error::other(format!(
            "the plaintext is longer than the cipher allows ({} bytes)",
            e.limit
        )),
        BodyError::KernelState => io::Error::other(e.to_string()),
    }
}
