//! `Read` adapter over an encrypted body.
//!
//! The adapter holds back the trailer (AEAD tag or HMAC) and, for CBC, the
//! last block, so that it always knows where the body ends; it never
//! decrypts the trailer as body. At end of input it checks the trailer: a
//! tampered file therefore always ends in an error, never in `Ok(0)`.
//! Everything before that is released unverified (streaming mode, as
//! Dovecot does; with the fast paths possibly the whole plaintext); verified
//! mode runs [`BodyReader::authenticate_all`] first.

use std::io::{self, BufRead, Read};
use std::slice::SliceIndex;

use super::CHUNK_LEN;

/// Input piece of [`BodyReader::read_through`]: small enough that the
/// piece stays in L1 between the copy from the source and the cipher.
const PIECE_LEN: usize = 8 * 1024;
use super::cipher::{BodyCipher, BodyError, pkcs7_unpad_len_block};
use crate::error::DecryptError;
use crate::io_count;

/// What every range into `BodyDecoder::buf` (and into the local buffer of
/// `authenticate_all`) relies on.
const DECODER_RANGES: &str = "the decoder keeps out_start <= out_end <= len <= buf.len() \
     (a read count past the spare room is refused)";

/// `buf[range]` for a range the decoder's invariant keeps in bounds.
#[allow(clippy::expect_used)]
fn held<I: SliceIndex<[u8], Output = [u8]>>(buf: &[u8], range: I) -> &[u8] {
    buf.get(range).expect(DECODER_RANGES)
}

/// `held`, mutable.
#[allow(clippy::expect_used)]
fn held_mut<I: SliceIndex<[u8], Output = [u8]>>(buf: &mut [u8], range: I) -> &mut [u8] {
    buf.get_mut(range).expect(DECODER_RANGES)
}

/// The decryption state machine without I/O, shared by the blocking and
/// the async adapters: input goes into [`BodyDecoder::spare`] (then
/// [`BodyDecoder::filled`]), [`BodyDecoder::process`] decides what can be
/// released, [`BodyDecoder::output`] hands it out.
pub(crate) struct BodyDecoder {
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

impl BodyDecoder {
    pub(crate) fn new(cipher: BodyCipher, trailer_len: usize) -> Self {
        let block_mode = cipher.is_block_mode();
        let block = cipher.block_len();
        BodyDecoder {
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

    /// Drop the released bytes: move what is still held back to the front.
    pub(crate) fn compact(&mut self) {
        self.buf.copy_within(self.out_end..self.len, 0);
        self.len -= self.out_end;
        self.out_start = 0;
        self.out_end = 0;
        self.lazy = false;
    }

    /// Whether the input has ended (nothing more to read from the source).
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Room for the next input bytes (after [`BodyDecoder::compact`]).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        held_mut(&mut self.buf, self.len..)
    }

    /// `n` bytes were read into [`BodyDecoder::spare`]; 0 is end of input.
    /// A count larger than the spare room (a broken reader) is an error and
    /// changes nothing.
    pub(crate) fn filled(&mut self, n: usize) -> io::Result<()> {
        io_count::check(n, self.buf.len() - self.len)?;
        if n == 0 {
            self.eof = true;
        } else {
            self.len += n;
        }
        Ok(())
    }

    /// Plaintext is ready for [`BodyDecoder::output`].
    pub(crate) fn has_output(&self) -> bool {
        self.out_start < self.out_end
    }

    /// Nothing more will come out: the end was reached and verified.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The error to return once decryption has failed: no later read may
    /// pretend the end was clean.
    pub(crate) fn check_poisoned(&self) -> io::Result<()> {
        match &self.poisoned {
            Some(msg) => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("decryption already failed: {msg}"),
            )),
            None => Ok(()),
        }
    }

    pub(crate) fn fail(&mut self, e: DecryptError) -> io::Error {
        self.poisoned = Some(e.to_string());
        self.cipher = None;
        self.out_start = 0;
        self.out_end = 0;
        e.into_io()
    }

    /// Copy (or decrypt, when lazy) released plaintext into `out`.
    pub(crate) fn output(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = (self.out_end - self.out_start).min(out.len());
        let src = held(&self.buf, self.out_start..self.out_start + n);
        #[allow(clippy::expect_used)]
        let dst = out
            .get_mut(..n)
            .expect("n is at most out.len() (the min above)");
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
        Ok(n)
    }

    /// The released plaintext, decrypted in place if it was still
    /// ciphertext (`BufRead`-style access).
    pub(crate) fn output_buf(&mut self) -> io::Result<&[u8]> {
        if self.lazy {
            let Some(cipher) = self.cipher.as_mut() else {
                return Err(self.fail(DecryptError::TruncatedBody("no cipher".into())));
            };
            let rest = held_mut(&mut self.buf, self.out_start..self.out_end);
            if let Err(e) = cipher.update(rest) {
                return Err(self.fail(too_long(e)));
            }
            self.lazy = false;
        }
        Ok(held(&self.buf, self.out_start..self.out_end))
    }

    /// `n` bytes of [`BodyDecoder::output_buf`] were used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.out_start = (self.out_start + n).min(self.out_end);
    }

    /// Decide what the input read so far allows: `Some(true)` when a
    /// chunk was released into `buf[out_start..out_end]`, `Some(false)` at
    /// the end of the body, `None` when more input is needed.
    pub(crate) fn process(&mut self) -> Result<Option<bool>, DecryptError> {
        let hold = self.trailer_len + if self.block_mode { self.block } else { 0 };
        let Some(cipher) = self.cipher.as_mut() else {
            self.done = true;
            return Ok(Some(false));
        };
        if !self.eof {
            let mut avail = self.len.saturating_sub(hold);
            if self.block_mode {
                avail -= avail % self.block;
            }
            // Wait for a reasonable amount unless the buffer is full.
            if avail == 0 || (avail < CHUNK_LEN / 4 && self.len < self.buf.len()) {
                return Ok(None);
            }
            if self.block_mode {
                cipher
                    .update(held_mut(&mut self.buf, ..avail))
                    .map_err(too_long)?;
            } else {
                self.lazy = true;
            }
            self.out_end = avail;
            return Ok(Some(true));
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
                c.authenticate(held(&self.buf, ..body)).map_err(too_long)?;
                if self.trailer_len > 0 && !c.verify(held(&self.buf, body..self.len)) {
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
            if !c.verify(held(trailer, ..self.trailer_len)) {
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
        Ok(Some(plain > 0))
    }
}

/// Blocking `Read` (and `BufRead`) adapter over a [`BodyDecoder`].
pub(crate) struct BodyReader<R> {
    inner: R,
    dec: BodyDecoder,
    /// `BufRead::fill_buf`/`consume` of `R` when the source is buffered
    /// ([`BodyReader::enable_buf_read`]): the cipher then reads the
    /// source's own buffer, without copying it into `buf` first.
    buf_read: Option<BufReadFns<R>>,
}

/// `R`'s `BufRead` methods, captured where `R: BufRead` is known so that
/// the `R: Read` code paths can use them.
struct BufReadFns<R> {
    fill_buf: for<'a> fn(&'a mut R) -> io::Result<&'a [u8]>,
    consume: fn(&mut R, usize),
}

impl<R: Read> BodyReader<R> {
    pub(crate) fn new(inner: R, cipher: BodyCipher, trailer_len: usize) -> Self {
        BodyReader {
            inner,
            dec: BodyDecoder::new(cipher, trailer_len),
            buf_read: None,
        }
    }

    /// Decrypt straight out of the source's buffer from now on (stream
    /// ciphers; block modes keep the copying path, which they need for
    /// the held-back last block).
    pub(crate) fn enable_buf_read(&mut self)
    where
        R: BufRead,
    {
        self.buf_read = Some(BufReadFns {
            fill_buf: R::fill_buf,
            consume: R::consume,
        });
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
            let n = read_retry(inner, held_mut(&mut buf, len..))?;
            if n == 0 {
                break;
            }
            len += n;
            if len == buf.len() {
                let body = len - trailer_len;
                cipher.authenticate(held(&buf, ..body)).map_err(too_long)?;
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
        cipher.authenticate(held(&buf, ..body)).map_err(too_long)?;
        let what = if cipher.has_tag() { "AEAD tag" } else { "HMAC" };
        if cipher.verify(held(&buf, body..len)) {
            Ok(())
        } else {
            Err(DecryptError::Authentication { what })
        }
    }

    /// Decrypt the next chunk into `buf[out_start..out_end]`. Returns
    /// `Ok(false)` at the end of the body.
    fn refill(&mut self) -> Result<bool, DecryptError> {
        self.dec.compact();
        loop {
            if !self.dec.at_eof() {
                let n = read_retry(&mut self.inner, self.dec.spare())?;
                self.dec.filled(n)?;
            }
            if let Some(more) = self.dec.process()? {
                return Ok(more);
            }
        }
    }
}

impl<R: Read> BodyReader<R> {
    /// Stream ciphers, large reads: read the input in `PIECE_LEN` pieces
    /// and decrypt each into `out` while it is still in L1, instead of
    /// copying a whole `CHUNK_LEN` chunk into the buffer first and
    /// decrypting it later from L2 (the copy a `Read` adapter cannot avoid
    /// then costs a few percent instead of a third of the cipher time; see
    /// docs/performance.md). Only the last `trailer_len` bytes seen are held
    /// back (they may be the tag), exactly as `refill` holds them; the end
    /// of input is left to `refill`, which verifies the trailer before it
    /// releases the final bytes. Returns 0 at end of input.
    fn read_through(&mut self, out: &mut [u8]) -> Result<usize, DecryptError> {
        self.dec.compact();
        let hold = self.dec.trailer_len;
        let mut total = 0;
        while out.len() - total >= PIECE_LEN {
            let room = PIECE_LEN.min(self.dec.buf.len() - self.dec.len);
            let n = read_retry(
                &mut self.inner,
                held_mut(&mut self.dec.buf, self.dec.len..self.dec.len + room),
            )?;
            if n == 0 {
                self.dec.eof = true;
                break;
            }
            self.dec.len += n;
            let avail = self.dec.len.saturating_sub(hold);
            if avail == 0 {
                continue;
            }
            let Some(cipher) = self.dec.cipher.as_mut() else {
                return Err(DecryptError::TruncatedBody("no cipher".into()));
            };
            // At the top of the loop at most `hold` bytes are held, so
            // `avail <= n <= PIECE_LEN <= out.len() - total`.
            #[allow(clippy::expect_used)]
            let dst = out
                .get_mut(total..total + avail)
                .expect("a piece releases at most PIECE_LEN bytes and out has room for one");
            cipher
                .update_to(held(&self.dec.buf, ..avail), dst)
                .map_err(too_long)?;
            total += avail;
            self.dec.buf.copy_within(avail..self.dec.len, 0);
            self.dec.len -= avail;
        }
        Ok(total)
    }
}

impl<R: Read> BodyReader<R> {
    /// Stream ciphers over a `BufRead` source: decrypt from the source's
    /// buffer into `out` with no intermediate copy. The last `trailer_len`
    /// bytes of the stream seen so far are never decrypted here: they stay
    /// in the source's buffer, or, when the source's buffer ends inside
    /// them, are moved into `buf` (at most `trailer_len` bytes). Returns 0
    /// at end of input, leaving the trailer check to `refill`.
    fn read_direct(&mut self, out: &mut [u8]) -> Result<usize, DecryptError> {
        let Some(fns) = &self.buf_read else {
            return Ok(0);
        };
        let (fill_buf, consume) = (fns.fill_buf, fns.consume);
        self.dec.compact();
        let hold = self.dec.trailer_len;
        loop {
            let src = loop {
                match fill_buf(&mut self.inner) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if src.is_empty() {
                self.dec.eof = true;
                return Ok(0);
            }
            let total = self.dec.len + src.len();
            if total <= hold {
                // Too little to release anything yet: keep it.
                let n = src.len();
                held_mut(&mut self.dec.buf, self.dec.len..self.dec.len + n).copy_from_slice(src);
                self.dec.len += n;
                consume(&mut self.inner, n);
                continue;
            }
            let release = (total - hold).min(out.len());
            let Some(cipher) = self.dec.cipher.as_mut() else {
                return Err(DecryptError::TruncatedBody("no cipher".into()));
            };
            // First the bytes held back from earlier calls, then the
            // source's buffer.
            let from_held = self.dec.len.min(release);
            let from_src = release - from_held;
            let (out_held, out_src) = out.split_at_mut(from_held);
            // `from_src` is at most `src.len() - hold` (when all held bytes
            // go out) or 0, and `out_src` has `release - from_held` bytes.
            #[allow(clippy::expect_used)]
            let (source_head, out_head) = (
                src.get(..from_src)
                    .expect("from_src <= src.len(): release counts held bytes first"),
                out_src
                    .get_mut(..from_src)
                    .expect("from_src <= out_src.len() = out.len() - from_held"),
            );
            cipher
                .update_to(held(&self.dec.buf, ..from_held), out_held)
                .map_err(too_long)?;
            cipher.update_to(source_head, out_head).map_err(too_long)?;
            self.dec.buf.copy_within(from_held..self.dec.len, 0);
            self.dec.len -= from_held;
            consume(&mut self.inner, from_src);
            return Ok(release);
        }
    }
}

fn too_long(e: BodyError) -> DecryptError {
    match e {
        BodyError::TooLong(e) => DecryptError::BodyTooLong { limit: e.limit },
        BodyError::KernelState => DecryptError::Io(std::io::Error::other(e.to_string())),
    }
}

/// `Read::read`, retried on `Interrupted`; a count past the buffer (a
/// broken reader) is an error.
fn read_retry<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return io_count::check(other?, buf.len()),
        }
    }
}

impl<R: Read> Read for BodyReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.dec.has_output() {
                return self.dec.output(out);
            }
            self.dec.check_poisoned()?;
            if self.dec.is_done() || out.is_empty() {
                return Ok(0);
            }
            if !self.dec.block_mode && !self.dec.at_eof() && self.buf_read.is_some() {
                match self.read_direct(out) {
                    Ok(0) => {}
                    Ok(n) => return Ok(n),
                    Err(e) => return Err(self.dec.fail(e)),
                }
            } else if !self.dec.block_mode && !self.dec.at_eof() && out.len() >= 2 * PIECE_LEN {
                match self.read_through(out) {
                    Ok(0) => {}
                    Ok(n) => return Ok(n),
                    Err(e) => return Err(self.dec.fail(e)),
                }
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => {
                    self.dec.done = true;
                    return Ok(0);
                }
                Err(e) => return Err(self.dec.fail(e)),
            }
        }
    }
}

impl<R: Read> BufRead for BodyReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while !self.dec.has_output() {
            self.dec.check_poisoned()?;
            if self.dec.is_done() {
                return Ok(&[]);
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => {
                    self.dec.done = true;
                    return Ok(&[]);
                }
                Err(e) => return Err(self.dec.fail(e)),
            }
        }
        self.dec.output_buf()
    }

    fn consume(&mut self, n: usize) {
        self.dec.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::CipherAlg;
    use crate::primitives::hash::Hash;
    use crate::stream::cipher::Direction;

    /// Hands out at most the next size in `sizes` (cycling) per read, like
    /// a pipe or a socket.
    struct Trickle<'a> {
        data: &'a [u8],
        sizes: &'a [usize],
        i: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let k = self.sizes[self.i % self.sizes.len()];
            self.i += 1;
            let n = k.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn cipher(alg: &CipherAlg, dir: Direction) -> BodyCipher {
        let hmac = match alg {
            CipherAlg::Aes256Ofb => Hash::Sha256.hmac(&[3u8; 32]),
            _ => None,
        };
        let iv_len = if matches!(alg, CipherAlg::Aes256Ofb) {
            16
        } else {
            12
        };
        BodyCipher::v2(alg, &[7u8; 32], &vec![1u8; iv_len], Some(b"aad"), hmac, dir).unwrap()
    }

    /// Ciphertext ‖ trailer of `plain`, and the trailer length.
    fn seal(alg: &CipherAlg, plain: &[u8]) -> (Vec<u8>, usize) {
        let mut c = cipher(alg, Direction::Encrypt);
        let mut data = plain.to_vec();
        c.update(&mut data).unwrap();
        let t = c.trailer().unwrap();
        data.extend_from_slice(&t);
        (data, t.len())
    }

    fn read_all(r: &mut impl Read, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    const ALGS: [CipherAlg; 3] = [
        CipherAlg::Aes256Gcm,
        CipherAlg::ChaCha20Poly1305,
        CipherAlg::Aes256Ofb,
    ];

    #[test]
    fn every_read_size_and_source_split_gives_the_plaintext() {
        let plain: Vec<u8> = (0..300_000u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let splits: [&[usize]; 4] = [
            &[usize::MAX],
            &[1, 5000, 9000, 70_000],
            &[PIECE_LEN - 1, PIECE_LEN + 1, 17],
            &[3, 8192, 16, 65_536, 100_000],
        ];
        for alg in &ALGS {
            for len in [
                0,
                1,
                16,
                17,
                2 * PIECE_LEN,
                2 * PIECE_LEN + 15,
                CHUNK_LEN + 1,
                300_000,
            ] {
                let (sealed, tl) = seal(alg, &plain[..len]);
                for sizes in splits {
                    for chunk in [1, 4096, 2 * PIECE_LEN, 2 * PIECE_LEN + 7, 65_536, 1 << 20] {
                        let src = Trickle {
                            data: &sealed,
                            sizes,
                            i: 0,
                        };
                        let mut r = BodyReader::new(src, cipher(alg, Direction::Decrypt), tl);
                        let got = read_all(&mut r, chunk).unwrap();
                        assert!(
                            got == plain[..len],
                            "{alg:?} len {len} sizes {sizes:?} chunk {chunk}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_bad_trailer_ends_in_an_error_whatever_the_read_sizes() {
        let plain = vec![0x5au8; 200_000];
        for alg in &ALGS {
            let (sealed, tl) = seal(alg, &plain);
            // Last body byte, first and last trailer byte; and a truncation.
            let flips = [sealed.len() - tl - 1, sealed.len() - tl, sealed.len() - 1];
            for chunk in [4096, 2 * PIECE_LEN, 65_536, 1 << 20] {
                for sizes in [&[usize::MAX][..], &[PIECE_LEN + 3, 1]] {
                    for &at in &flips {
                        let mut bad = sealed.clone();
                        bad[at] ^= 1;
                        let src = Trickle {
                            data: &bad,
                            sizes,
                            i: 0,
                        };
                        let mut r = BodyReader::new(src, cipher(alg, Direction::Decrypt), tl);
                        assert!(
                            read_all(&mut r, chunk).is_err(),
                            "{alg:?} flip {at} chunk {chunk}"
                        );
                        // Poisoned: no later read pretends the end was clean.
                        assert!(r.read(&mut [0u8; 64]).is_err());
                    }
                    let cut = &sealed[..sealed.len() - 1];
                    let src = Trickle {
                        data: cut,
                        sizes,
                        i: 0,
                    };
                    let mut r = BodyReader::new(src, cipher(alg, Direction::Decrypt), tl);
                    assert!(
                        read_all(&mut r, chunk).is_err(),
                        "{alg:?} truncated chunk {chunk}"
                    );
                }
            }
        }
    }

    #[test]
    fn buffered_sources_give_the_plaintext_and_catch_a_bad_trailer() {
        // `read_direct`: the source's own buffer ends anywhere relative to
        // the trailer (capacities 1..=17 straddle it byte by byte).
        let plain: Vec<u8> = (0..150_000u32).map(|i| (i ^ (i >> 9)) as u8).collect();
        for alg in &ALGS {
            for len in [0, 1, 15, 16, 17, 40, 4096, 150_000] {
                let (sealed, tl) = seal(alg, &plain[..len]);
                let caps = [1, 2, 15, 16, 17, 33, 4096, 65_536, 1 << 20];
                for (i, cap) in caps.into_iter().enumerate() {
                    for chunk in [1, 7, 16, 4096, 1 << 20] {
                        let sizes: &[usize] = if i % 2 == 0 {
                            &[usize::MAX]
                        } else {
                            &[5, 9000]
                        };
                        let src = io::BufReader::with_capacity(
                            cap,
                            Trickle {
                                data: &sealed,
                                sizes,
                                i: 0,
                            },
                        );
                        let mut r = BodyReader::new(src, cipher(alg, Direction::Decrypt), tl);
                        r.enable_buf_read();
                        let got = read_all(&mut r, chunk).unwrap();
                        assert!(
                            got == plain[..len],
                            "{alg:?} len {len} cap {cap} chunk {chunk}"
                        );

                        let mut bad = sealed.clone();
                        let at = bad.len() - 1 - (chunk % tl);
                        bad[at] ^= 0x80;
                        let src = io::BufReader::with_capacity(cap, &bad[..]);
                        let mut r = BodyReader::new(src, cipher(alg, Direction::Decrypt), tl);
                        r.enable_buf_read();
                        assert!(
                            read_all(&mut r, chunk).is_err(),
                            "{alg:?} len {len} cap {cap} flip {at}"
                        );
                    }
                }
                // A plain slice is its own buffer.
                let mut r = BodyReader::new(&sealed[..], cipher(alg, Direction::Decrypt), tl);
                r.enable_buf_read();
                assert!(read_all(&mut r, 65_536).unwrap() == plain[..len]);
            }
        }
    }

    #[test]
    fn read_direct_never_releases_the_last_trailer_bytes_seen() {
        let plain = vec![3u8; 1000];
        let (sealed, tl) = seal(&CipherAlg::Aes256Gcm, &plain);
        let mut r = BodyReader::new(
            &sealed[..],
            cipher(&CipherAlg::Aes256Gcm, Direction::Decrypt),
            tl,
        );
        r.enable_buf_read();
        let mut out = vec![0u8; 1 << 20];
        assert_eq!(r.read_direct(&mut out).unwrap(), 1000);
        // The tag is still in the source, not released and not consumed.
        assert_eq!(r.inner.len(), tl);
        assert_eq!(r.read(&mut out).unwrap(), 0);
    }

    #[test]
    fn read_through_holds_back_exactly_the_trailer() {
        // Direct: the piecewise path releases everything but the last
        // `trailer_len` bytes it has seen, and leaves the end to `refill`.
        let plain = vec![9u8; 5 * PIECE_LEN + 100];
        let (sealed, tl) = seal(&CipherAlg::Aes256Gcm, &plain);
        let mut r = BodyReader::new(
            &sealed[..],
            cipher(&CipherAlg::Aes256Gcm, Direction::Decrypt),
            tl,
        );
        let mut out = vec![0u8; 3 * PIECE_LEN];
        let n = r.read_through(&mut out).unwrap();
        assert_eq!(n, 3 * PIECE_LEN - tl);
        assert!(out[..n].iter().all(|&b| b == 9));
        assert_eq!(r.dec.len, tl);
        let rest = read_all(&mut r, 1 << 20).unwrap();
        assert_eq!(n + rest.len(), plain.len());
    }
}
