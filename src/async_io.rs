//! Async adapters on the `futures-io` traits (feature `async`), for
//! programs on tokio, async-std, smol or any other runtime (tokio users
//! wrap their streams with `tokio_util::compat`; see
//! `examples/tokio_decrypt.rs`).
//!
//! They run the same sans-I/O state machines as the blocking
//! [`Decryptor`](crate::Decryptor) and
//! [`StreamWriter`](crate::StreamWriter), so errors, limits and the
//! streaming guarantees are the same: the trailer (AEAD tag or HMAC) is
//! checked before the final bytes are released and a tampered file always
//! ends in an error, never in a clean end of file.

use std::future::poll_fn;
use std::io::{self, BufRead, Read};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use crate::container::{Header, ReadHeaderError};
use crate::decryptor::{ContainerInfo, DecryptOptions, Decryptor, Verification, open};
use crate::error::{DecryptError, FormatError};
use crate::io_count;
use crate::keys::KeyRing;
use crate::stream::cipher::{BodyCipher, Direction};
use crate::stream::{BodyDecoder, BodyEncoder};

enum Body {
    /// A 0-byte input: Dovecot's empty mail.
    Empty,
    /// Streaming: decrypted as it is read from the source.
    Stream(Box<BodyDecoder>),
    /// Verified: read into memory, authenticated, then decrypted from there.
    Memory(Box<Decryptor<io::Cursor<Vec<u8>>>>),
}

/// Reads a mail-crypt container from an [`AsyncRead`] and yields its
/// plaintext through [`AsyncRead`] and [`AsyncBufRead`]: the async
/// counterpart of [`Decryptor`].
///
/// One way to build it, [`AsyncDecryptor::open`], with the blocking path's
/// [`DecryptOptions`]:
///
/// * [`Verification::Streaming`](crate::Verification::Streaming):
///   plaintext flows as it is decrypted; the tag or HMAC is checked at the
///   end of the input before the final bytes are released, and a tampered
///   file ends in an error.
/// * [`Verification::Verified`](crate::Verification::Verified): the whole
///   container (at most [`DecryptOptions::buffer_limit`] bytes) is read and
///   authenticated before `open` returns, so no byte of a tampered file is
///   ever released.
///
/// ```
/// # futures_lite::future::block_on(async {
/// use futures_lite::AsyncReadExt;
/// use mailcrypt::{AsyncDecryptor, DecryptOptions, keys::{KeyRing, PrivateKey}};
/// let key = std::fs::read("vectors/dovecot/sample-v2.key.pem")?;
/// let mut ring = KeyRing::new();
/// ring.add(PrivateKey::from_bytes(&key, None)?);
/// let file = std::fs::read("vectors/dovecot/sample-v2.bin")?;
/// let mut dec = AsyncDecryptor::open(&file[..], &ring, &DecryptOptions::default()).await?;
/// let mut plain = Vec::new();
/// dec.read_to_end(&mut plain).await?;
/// assert_eq!(plain.len(), 13534);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct AsyncDecryptor<R> {
    info: ContainerInfo,
    inner: R,
    body: Body,
}

/// `poll_read` until it is not `Interrupted`; a count past the buffer (a
/// broken reader) is an error.
async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match poll_fn(|cx| Pin::new(&mut *r).poll_read(cx, buf)).await {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return io_count::check(other?, buf.len()),
        }
    }
}

/// Read exactly the header (nothing after it, as the blocking path does):
/// `Header::read_io` over the bytes so far says how many more the next
/// field needs, so the parser and its errors are the blocking path's.
/// `None` for a 0-byte input.
async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Header>, DecryptError> {
    let mut bytes = Vec::new();
    let mut need = 1;
    loop {
        let mut filled = bytes.len();
        bytes.resize(need, 0);
        let mut eof = false;
        while filled < need {
            let n = read_some(r, io_count::rest_mut(&mut bytes, filled)?).await?;
            if n == 0 {
                eof = true;
                break;
            }
            filled += n;
        }
        bytes.truncate(filled);
        if bytes.is_empty() {
            return Ok(None);
        }
        let mut cursor = io::Cursor::new(&bytes[..]);
        match Header::read_io(&mut cursor) {
            Ok(h) => return Ok(Some(h)),
            // Ran out of the bytes read so far (not of a length inside
            // them): read what the field needs and parse again. The
            // lengths are capped by the parser (MAX_HEADER_LEN) before it
            // asks for them.
            Err(ReadHeaderError::Format(FormatError::Truncated { needed, .. }))
                if !eof && cursor.position() == bytes.len() as u64 =>
            {
                need = bytes.len() + needed;
            }
            Err(ReadHeaderError::Format(f)) => return Err(DecryptError::Format(f)),
            Err(ReadHeaderError::Io(e)) => return Err(DecryptError::Io(e)),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncDecryptor<R> {
    /// Open `reader` with `keys`: read the header, find the key, unwrap
    /// the session key, and in verified mode read and authenticate the
    /// whole container (at most `opts.buffer_limit` bytes).
    pub async fn open(
        reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        match opts.verification {
            Verification::Streaming => Self::open_streaming(reader, keys, opts).await,
            Verification::Verified => Self::open_buffered(reader, keys, opts).await,
        }
    }

    async fn open_streaming(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let Some(header) = read_header(&mut reader).await? else {
            return Ok(AsyncDecryptor {
                info: ContainerInfo {
                    header: None,
                    header_len: 0,
                    matched: None,
                },
                inner: reader,
                body: Body::Empty,
            });
        };
        let (session, info) = open(header, keys, opts)?;
        let cipher: BodyCipher = session.cipher(Direction::Decrypt)?;
        Ok(AsyncDecryptor {
            info,
            inner: reader,
            body: Body::Stream(Box::new(BodyDecoder::new(cipher, session.trailer_len()))),
        })
    }

    async fn open_buffered(
        mut reader: R,
        keys: &KeyRing,
        opts: &DecryptOptions,
    ) -> Result<Self, DecryptError> {
        let limit = opts.buffer_limit;
        let mut data = Vec::new();
        let mut chunk = vec![0u8; super::stream::CHUNK_LEN];
        loop {
            let n = read_some(&mut reader, &mut chunk).await?;
            if n == 0 {
                break;
            }
            if (data.len() + n) as u64 > limit {
                return Err(DecryptError::BufferLimit { limit });
            }
            data.extend_from_slice(io_count::head(&chunk, n)?);
        }
        let dec = Decryptor::open_seekable(io::Cursor::new(data), keys, opts)?.use_source_buffer();
        Ok(AsyncDecryptor {
            info: dec.info().clone(),
            inner: reader,
            body: Body::Memory(Box::new(dec)),
        })
    }
}

impl<R> AsyncDecryptor<R> {
    /// What the header says and which key matched.
    pub fn info(&self) -> &ContainerInfo {
        &self.info
    }

    /// Give back the inner reader (positioned wherever decryption got to;
    /// at its end in verified mode).
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Make plaintext available in `dec`: `Ok(true)` when there is some,
/// `Ok(false)` at the (verified) end of the body.
fn poll_refill<R: AsyncRead + Unpin>(
    inner: &mut R,
    dec: &mut BodyDecoder,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    loop {
        if dec.has_output() {
            return Poll::Ready(Ok(true));
        }
        dec.check_poisoned()?;
        if dec.is_done() {
            return Poll::Ready(Ok(false));
        }
        // Nothing released is pending: move what is held back to the
        // front (a no-op when a previous poll already did).
        dec.compact();
        if !dec.at_eof() {
            match ready!(Pin::new(&mut *inner).poll_read(cx, dec.spare())) {
                Ok(n) => {
                    if let Err(e) = dec.filled(n) {
                        return Poll::Ready(Err(dec.fail(DecryptError::Io(e))));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Poll::Ready(Err(dec.fail(DecryptError::Io(e)))),
            }
        }
        match dec.process() {
            Ok(Some(true) | None) => {}
            Ok(Some(false)) => return Poll::Ready(Ok(false)),
            Err(e) => return Poll::Ready(Err(dec.fail(e))),
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for AsyncDecryptor<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match &mut this.body {
            Body::Empty => Poll::Ready(Ok(0)),
            Body::Memory(d) => Poll::Ready(d.read(out)),
            Body::Stream(dec) => {
                if out.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                if !ready!(poll_refill(&mut this.inner, dec, cx))? {
                    return Poll::Ready(Ok(0));
                }
                Poll::Ready(dec.output(out))
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for AsyncDecryptor<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        match &mut this.body {
            Body::Empty => Poll::Ready(Ok(&[])),
            Body::Memory(d) => Poll::Ready(d.fill_buf()),
            Body::Stream(dec) => {
                if !ready!(poll_refill(&mut this.inner, dec, cx))? {
                    return Poll::Ready(Ok(&[]));
                }
                Poll::Ready(dec.output_buf())
            }
        }
    }

    fn consume(self: Pin<&mut Self>, n: usize) {
        match &mut self.get_mut().body {
            Body::Empty => {}
            Body::Memory(d) => d.consume(n),
            Body::Stream(dec) => dec.consume(n),
        }
    }
}

/// Encrypting [`AsyncWrite`] from
/// [`Encryptor::wrap_async_output`](crate::Encryptor::wrap_async_output):
/// the async counterpart of [`StreamWriter`](crate::StreamWriter).
///
/// Memory stays bounded (64 KiB) whatever the size; empty input gives a
/// 0-byte file. The AEAD tag or HMAC is written by
/// [`AsyncStreamWriter::finish`] or by `close()` (`poll_close`, which also
/// closes the output); dropping the writer without either leaves output
/// that fails authentication.
pub struct AsyncStreamWriter<W> {
    inner: W,
    enc: BodyEncoder,
}

impl<W: AsyncWrite + Unpin> AsyncStreamWriter<W> {
    pub(crate) fn new(inner: W, header: Vec<u8>, cipher: BodyCipher) -> Self {
        AsyncStreamWriter {
            inner,
            enc: BodyEncoder::new(header, cipher),
        }
    }

    /// Write out what the encoder has produced.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.enc.pending().is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, self.enc.pending()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.enc.advance(n)?;
        }
        Poll::Ready(Ok(()))
    }

    /// Encrypt the rest, write the trailer and flush the output.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        self.enc.finish()?;
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// The output.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The output, e.g. to take it back after `close()`.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Finish the body, write the trailer, flush, and return the output
    /// (not closed; `close()` closes it).
    pub async fn finish(mut self) -> io::Result<W> {
        poll_fn(|cx| self.poll_finish(cx)).await?;
        Ok(self.inner)
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for AsyncStreamWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.enc.is_finished() {
            return Poll::Ready(Err(io::Error::other("writer already finished")));
        }
        // The ciphertext produced goes out with the next call.
        Poll::Ready(this.enc.write(data))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if !this.enc.is_finished() {
            this.enc.flush()?;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_finish(cx))?;
        Pin::new(&mut this.inner).poll_close(cx)
    }
}
