//! `Read` adapter over an encrypted body.
//!
//! The adapter holds back the trailer (AEAD tag or HMAC) and, for CBC, the
//! last block, so that it always knows where the body ends. At end of input
//! it checks the trailer *before* releasing the final chunk: a tampered
//! file therefore always ends in an error, never in `Ok(0)`. Earlier chunks
//! are released unverified (streaming mode, as Dovecot does); verified
//! mode runs [`BodyReader::authenticate_all`] first.

use std::io::{self, Read};

use super::CHUNK_LEN;
use super::cipher::{BodyCipher, BodyTooLong, pkcs7_unpad_len_block};
use crate::error::DecryptError;

pub(crate) struct BodyReader<R> {
    inner: R,
    cipher: Option<BodyCipher>,
    trailer_len: usize,
    block_mode: bool,
    /// Cipher block length (16; 8 for DES-EDE3-CBC).
    block: usize,
    buf: Vec<u8>,
    len: usize,
    out_start: usize,
    out_end: usize,
    /// `buf[out_start..out_end]` is still ciphertext, decrypted straight
    /// into the caller's buffer by `read` (stream ciphers, non-final
    /// chunks): one pass instead of decrypt-in-place plus copy.
    lazy: bool,
    eof: bool,
    done: bool,
    poisoned: Option<String>,
}

impl<R: Read> BodyReader<R> {
    pub(crate) fn new(inner: R, cipher: BodyCipher, trailer_len: usize) -> Self {
        let block_mode = cipher.is_block_mode();
        let block = cipher.block_len();
        BodyReader {
            inner,
            cipher: Some(cipher),
            trailer_len,
            block_mode,
            block,
            buf: vec![0u8; CHUNK_LEN + trailer_len + 16],
            len: 0,
            out_start: 0,
            out_end: 0,
            lazy: false,
            eof: false,
            done: false,
            poisoned: None,
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Read the whole body, feeding only the integrity check, and compare
    /// the trailer. Consumes the input; the caller rewinds it.
    pub(crate) fn authenticate_all(
        inner: &mut R,
        mut cipher: BodyCipher,
        trailer_len: usize,
    ) -> Result<(), DecryptError> {
        let mut buf = vec![0u8; CHUNK_LEN + trailer_len];
        let mut len = 0usize;
        loop {
            let n = read_retry(inner, buf.get_mut(len..).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            len += n;
            if len == buf.len() {
                let body = len - trailer_len;
                cipher
                    .authenticate(buf.get(..body).unwrap_or_default())
                    .map_err(too_long)?;
                buf.copy_within(body..len, 0);
                len = trailer_len;
            }
        }
        if len < trailer_len {
            return Err(DecryptError::TruncatedBody(format!(
                "the body is shorter than its {trailer_len}-byte trailer"
            )));
        }
        let body = len - trailer_len;
        cipher
            .authenticate(buf.get(..body).unwrap_or_default())
            .map_err(too_long)?;
        let what = if cipher.has_tag() { "AEAD tag" } else { "HMAC" };
        if cipher.verify(buf.get(body..len).unwrap_or_default()) {
            Ok(())
        } else {
            Err(DecryptError::Authentication { what })
        }
    }

    fn fail(&mut self, e: DecryptError) -> io::Error {
        self.poisoned = Some(e.to_string());
        self.cipher = None;
        self.out_start = 0;
        self.out_end = 0;
        e.into_io()
    }

    /// Decrypt the next chunk into `buf[out_start..out_end]`. Returns
    /// `Ok(false)` at the end of the body.
    fn refill(&mut self) -> Result<bool, DecryptError> {
        // Move the held-back tail to the front.
        self.buf.copy_within(self.out_end..self.len, 0);
        self.len -= self.out_end;
        self.out_start = 0;
        self.out_end = 0;
        self.lazy = false;
        let hold = self.trailer_len + if self.block_mode { self.block } else { 0 };
        loop {
            if !self.eof {
                let n = read_retry(
                    &mut self.inner,
                    self.buf.get_mut(self.len..).unwrap_or_default(),
                )?;
                if n == 0 {
                    self.eof = true;
                } else {
                    self.len += n;
                }
            }
            let Some(cipher) = self.cipher.as_mut() else {
                return Ok(false);
            };
            if !self.eof {
                let mut avail = self.len.saturating_sub(hold);
                if self.block_mode {
                    avail -= avail % self.block;
                }
                // Wait for a reasonable amount unless the buffer is full.
                if avail == 0 || (avail < CHUNK_LEN / 4 && self.len < self.buf.len()) {
                    continue;
                }
                if self.block_mode {
                    cipher
                        .update(self.buf.get_mut(..avail).unwrap_or_default())
                        .map_err(too_long)?;
                } else {
                    self.lazy = true;
                }
                self.out_end = avail;
                return Ok(true);
            }
            // End of input: everything but the trailer is body.
            let Some(body) = self.len.checked_sub(self.trailer_len) else {
                return Err(DecryptError::TruncatedBody(format!(
                    "the body is shorter than its {}-byte trailer",
                    self.trailer_len
                )));
            };
            if self.block_mode && (body == 0 || body % self.block != 0) {
                // Check the MAC first so that tampering reports as such.
                if let Some(c) = self.cipher.take() {
                    let mut c = c;
                    c.authenticate(self.buf.get(..body).unwrap_or_default())
                        .map_err(too_long)?;
                    if self.trailer_len > 0
                        && !c.verify(self.buf.get(body..self.len).unwrap_or_default())
                    {
                        return Err(DecryptError::Authentication { what: "HMAC" });
                    }
                }
                return Err(DecryptError::TruncatedBody(format!(
                    "CBC body of {body} bytes is not a non-empty multiple of {}",
                    self.block
                )));
            }
            let mut c = self
                .cipher
                .take()
                .ok_or_else(|| DecryptError::TruncatedBody("no cipher".into()))?;
            let (data, trailer) = self.buf.split_at_mut(body);
            c.update(data).map_err(too_long)?;
            if self.trailer_len > 0 {
                let what = if c.has_tag() { "AEAD tag" } else { "HMAC" };
                if !c.verify(trailer.get(..self.trailer_len).unwrap_or_default()) {
                    return Err(DecryptError::Authentication { what });
                }
            }
            let plain = if self.block_mode {
                pkcs7_unpad_len_block(data, self.block).ok_or(DecryptError::BadPadding)?
            } else {
                body
            };
            self.out_end = plain;
            self.len = plain;
            self.done = true;
            return Ok(plain > 0);
        }
    }
}

fn too_long(e: BodyTooLong) -> DecryptError {
    DecryptError::BodyTooLong { limit: e.limit }
}

fn read_retry<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl<R: Read> Read for BodyReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_start < self.out_end {
                let n = (self.out_end - self.out_start).min(out.len());
                let src = self
                    .buf
                    .get(self.out_start..self.out_start + n)
                    .unwrap_or_default();
                let dst = out.get_mut(..n).unwrap_or_default();
                if self.lazy {
                    let Some(cipher) = self.cipher.as_mut() else {
                        return Err(self.fail(DecryptError::TruncatedBody("no cipher".into())));
                    };
                    if let Err(e) = cipher.update_to(src, dst) {
                        return Err(self.fail(too_long(e)));
                    }
                } else {
                    dst.copy_from_slice(src);
                }
                self.out_start += n;
                return Ok(n);
            }
            if let Some(msg) = &self.poisoned {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("decryption already failed: {msg}"),
                ));
            }
            if self.done || out.is_empty() {
                return Ok(0);
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return Ok(0);
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }
}
