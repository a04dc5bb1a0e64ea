//! `Write` adapter that encrypts a body in constant memory, over the
//! sans-I/O [`BodyEncoder`] (which the async adapter shares).
//!
//! The header is written lazily with the first plaintext byte, because
//! Dovecot writes an empty mail as a 0-byte file. The trailer (AEAD tag or
//! HMAC) is written only by `finish`; a writer dropped without `finish`
//! leaves a file whose last chunk and trailer are missing, which every
//! reader rejects (for authenticated formats).

use std::io::{self, Write};

use super::CHUNK_LEN;
use super::cipher::{BodyCipher, BodyError, pkcs7_pad_block};
use crate::io_count;
use zeroize::Zeroize;

/// Writes at least this large skip the buffer when it is empty.
const DIRECT_MIN: usize = 4096;

/// The encryption state machine without I/O: plaintext goes in through
/// [`BodyEncoder::write`], ciphertext (header first) comes out of
/// [`BodyEncoder::pending`], which the adapter must drain (and
/// [`BodyEncoder::advance`] past) before it feeds more plaintext.
pub(crate) struct BodyEncoder {
    header: Option<Vec<u8>>,
    cipher: Option<BodyCipher>,
    /// Plaintext not yet encrypted.
    buf: Vec<u8>,
    /// Ciphertext (and the header, before the first chunk) ready to go out:
    /// `out[out_pos..]`.
    out: Vec<u8>,
    out_pos: usize,
    block_mode: bool,
    /// Cipher block length (16; 8 for DES-EDE3-CBC).
    block: usize,
    finished: bool,
    /// An error ended the stream: nothing more goes out, and every later
    /// call fails, so that a caller who ignored the error cannot finish a
    /// container whose body is incomplete.
    poisoned: bool,
}

fn finished_error() -> io::Error {
    io::Error::other("writer already finished")
}

fn poisoned_error() -> io::Error {
    io::Error::other("an earlier error ended this writer; its output is incomplete")
}

fn too_long(e: BodyError) -> io::Error {
    match e {
        BodyError::TooLong(e) => io::Error::other(format!(
            "the plaintext is longer than the cipher allows ({} bytes)",
            e.limit
        )),
        BodyError::KernelState => io::Error::other(e.to_string()),
    }
}

impl BodyEncoder {
    pub(crate) fn new(header: Vec<u8>, cipher: BodyCipher) -> Self {
        let block_mode = cipher.is_block_mode();
        let block = cipher.block_len();
        BodyEncoder {
            header: Some(header),
            cipher: Some(cipher),
            buf: Vec::with_capacity(CHUNK_LEN + 16),
            out: Vec::new(),
            out_pos: 0,
            block_mode,
            block,
            finished: false,
            poisoned: false,
        }
    }

    /// End the stream after `e`: drop the cipher and everything not yet
    /// written (including output that `emit` had sized but not filled).
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.poisoned = true;
        self.cipher = None;
        self.out.clear();
        self.out_pos = 0;
        // Plaintext not yet encrypted.
        self.buf.zeroize();
        e
    }

    fn check_live(&self) -> io::Result<()> {
        if self.poisoned {
            Err(poisoned_error())
        } else {
            Ok(())
        }
    }

    /// Output waiting to be written.
    pub(crate) fn pending(&self) -> &[u8] {
        #[allow(clippy::expect_used)]
        self.out
            .get(self.out_pos..)
            .expect("out_pos <= out.len(): advance refuses counts past pending")
    }

    /// `n` bytes of [`BodyEncoder::pending`] were written; a count past
    /// them (a broken writer) is an error and changes nothing.
    pub(crate) fn advance(&mut self, n: usize) -> io::Result<()> {
        self.out_pos += io_count::check(n, self.out.len() - self.out_pos)?;
        Ok(())
    }

    /// Encrypt `src` (a prefix of the body stream) into the (drained)
    /// output, after the header if it has not gone out yet.
    fn emit(
        cipher: &mut BodyCipher,
        header: &mut Option<Vec<u8>>,
        out: &mut Vec<u8>,
        src: &[u8],
    ) -> io::Result<()> {
        out.clear();
        if let Some(h) = header.take() {
            out.extend_from_slice(&h);
        }
        let start = out.len();
        out.resize(start + src.len(), 0);
        #[allow(clippy::expect_used)]
        let dst = out
            .get_mut(start..)
            .expect("out was just resized to start + src.len()");
        cipher.update_to(src, dst).map_err(too_long)
    }

    /// Encrypt the buffered plaintext (whole blocks only if `keep_tail`)
    /// into the output. Call only with the output drained.
    fn flush_chunk(&mut self, keep_tail: bool) -> io::Result<()> {
        let cipher = self.cipher.as_mut().ok_or_else(finished_error)?;
        let mut n = self.buf.len();
        if self.block_mode && keep_tail {
            n -= n % self.block;
        }
        if n == 0 {
            return Ok(());
        }
        self.out_pos = 0;
        #[allow(clippy::expect_used)]
        let src = self
            .buf
            .get(..n)
            .expect("n is at most buf.len() (whole blocks of it, or all)");
        if let Err(e) = Self::emit(cipher, &mut self.header, &mut self.out, src) {
            return Err(self.fail(e));
        }
        self.buf.drain(..n);
        Ok(())
    }

    /// Take up to `data.len()` plaintext bytes; returns how many were
    /// taken. Call only with the output drained.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        debug_assert!(self.pending().is_empty());
        self.check_live()?;
        let Some(cipher) = self.cipher.as_mut() else {
            return Err(finished_error());
        };
        if !self.block_mode && self.buf.is_empty() && data.len() >= DIRECT_MIN {
            // Large write, nothing buffered: encrypt from `data` into the
            // output in one pass (no copy into `buf` first).
            let (src, _) = data.split_at(data.len().min(CHUNK_LEN));
            self.out_pos = 0;
            if let Err(e) = Self::emit(cipher, &mut self.header, &mut self.out, src) {
                return Err(self.fail(e));
            }
            return Ok(src.len());
        }
        let room = CHUNK_LEN + 16 - self.buf.len();
        let (taken, _) = data.split_at(room.min(data.len()));
        let n = taken.len();
        self.buf.extend_from_slice(taken);
        if self.buf.len() >= CHUNK_LEN {
            self.flush_chunk(true)?;
        }
        Ok(n)
    }

    /// Whole blocks can go out; the final partial block and the trailer
    /// wait for [`BodyEncoder::finish`]. Call only with the output drained.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.check_live()?;
        if self.buf.is_empty() {
            Ok(())
        } else {
            self.flush_chunk(true)
        }
    }

    /// Whether [`BodyEncoder::finish`] has run.
    #[cfg(feature = "async")]
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Encrypt what is buffered and append the trailer to the output.
    /// Empty input produces no output at all. Call only with the output
    /// drained.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        self.check_live()?;
        if self.finished {
            return Ok(());
        }
        if self.header.is_some() && self.buf.is_empty() {
            // Nothing was written: Dovecot's empty container is 0 bytes.
            self.finished = true;
            self.cipher = None;
            return Ok(());
        }
        if self.block_mode {
            let full = self.buf.len() - self.buf.len() % self.block;
            let tail = self.buf.split_off(full);
            self.buf
                .extend_from_slice(&pkcs7_pad_block(&tail, self.block));
        }
        self.flush_chunk(false)?;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
        let cipher = self.cipher.take().ok_or_else(finished_error)?;
        match cipher.trailer() {
            Ok(trailer) => self.out.extend_from_slice(&trailer),
            Err(e) => return Err(self.fail(too_long(e))),
        }
        self.finished = true;
        Ok(())
    }
}

pub(crate) struct BodyWriter<W: Write> {
    inner: W,
    enc: BodyEncoder,
}

impl<W: Write> BodyWriter<W> {
    pub(crate) fn new(inner: W, header: Vec<u8>, cipher: BodyCipher) -> Self {
        BodyWriter {
            inner,
            enc: BodyEncoder::new(header, cipher),
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        self.inner.write_all(self.enc.pending())?;
        let n = self.enc.pending().len();
        self.enc.advance(n)?;
        Ok(())
    }

    /// Encrypt what is buffered, write the trailer, flush, and return the
    /// inner writer. Empty input produces no output at all.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.enc.finish()?;
        self.drain()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for BodyWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.enc.write(data)?;
        self.drain()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()?;
        self.drain()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::CipherAlg;
    use crate::stream::cipher::Direction;

    fn near_limit_encoder(alg: &CipherAlg, left: u64) -> BodyEncoder {
        let mut cipher = BodyCipher::v2(
            alg,
            &[7u8; 32],
            &[9u8; 12],
            Some(&[]),
            None,
            Direction::Encrypt,
        )
        .unwrap();
        cipher.skip_to_limit(left);
        BodyEncoder::new(b"HEADER".to_vec(), cipher)
    }

    /// A write past the cipher's limit fails, and the encoder is dead
    /// afterwards: nothing pending (not the header, not the zeroed output
    /// `emit` had sized), and write, flush and finish all fail, so a
    /// caller who ignores the first error cannot produce a container.
    #[test]
    fn an_error_poisons_the_encoder() {
        for alg in [CipherAlg::Aes256Gcm, CipherAlg::ChaCha20Poly1305] {
            // The direct path (a large write, nothing buffered).
            // 128: a whole number of GCM and ChaCha20 blocks, so that the
            // kernels' state stays consistent and the error is the limit.
            let mut enc = near_limit_encoder(&alg, 128);
            assert!(enc.write(&[1u8; DIRECT_MIN]).is_err(), "{alg}");
            assert!(enc.pending().is_empty(), "{alg}");
            assert!(enc.write(b"more").is_err());
            assert!(enc.flush().is_err());
            assert!(enc.finish().is_err());
            assert!(enc.pending().is_empty());

            // The buffered path: small writes, then the chunk flush fails.
            let mut enc = near_limit_encoder(&alg, 128);
            assert_eq!(enc.write(&[1u8; 100]).unwrap(), 100);
            assert_eq!(enc.write(&[1u8; 60]).unwrap(), 60);
            assert!(enc.finish().is_err(), "{alg}");
            assert!(enc.pending().is_empty());
            assert!(enc.finish().is_err());
        }
    }

    /// Within the limit the same encoder works (the test above fails for
    /// the reason it names).
    #[test]
    fn up_to_the_limit_the_encoder_works() {
        for alg in [CipherAlg::Aes256Gcm, CipherAlg::ChaCha20Poly1305] {
            let mut enc = near_limit_encoder(&alg, 128);
            assert_eq!(enc.write(&[1u8; 128]).unwrap(), 128);
            enc.finish().unwrap();
            // Header, 128 ciphertext bytes, 16-byte tag.
            assert_eq!(enc.pending().len(), 6 + 128 + 16, "{alg}");
        }
    }
}
