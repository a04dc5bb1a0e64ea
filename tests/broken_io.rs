//! Readers and writers that break the `Read`/`Write` contract (they report
//! more bytes than the buffer they were given) get an I/O error that says
//! so from every path that takes them: the header read, the streaming and
//! verified body reads, `store::inspect_reader` and the async adapters.
//! No panic, and no silently shorter or longer data.

use std::io::{self, Read, Seek, SeekFrom, Write};

use mailcrypt::keys::{Curve, KeyRing, PrivateKey};
use mailcrypt::store::{AtomicFile, inspect_reader};
use mailcrypt::{Decryptor, Encryptor};

const BREACH: &str = "breaks the Read/Write contract";

/// Honest for the first `honest` bytes, then claims one byte more than the
/// buffer holds on every read.
struct Overclaiming<'a> {
    data: &'a [u8],
    pos: usize,
    honest: usize,
}

impl Overclaiming<'_> {
    fn read_into(&mut self, buf: &mut [u8]) -> usize {
        if self.pos >= self.honest {
            return buf.len() + 1;
        }
        let n = buf
            .len()
            .min(self.honest - self.pos)
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }
}

impl Read for Overclaiming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_into(buf))
    }
}

/// Verified mode rewinds its source after the first pass.
impl Seek for Overclaiming<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, off) = match to {
            SeekFrom::Start(n) => (0, n as i64),
            SeekFrom::Current(d) => (self.pos as i64, d),
            SeekFrom::End(d) => (self.data.len() as i64, d),
        };
        self.pos = usize::try_from(base + off).map_err(|_| io::ErrorKind::InvalidInput)?;
        Ok(self.pos as u64)
    }
}

fn key_and_container() -> (KeyRing, Vec<u8>, usize) {
    let key = PrivateKey::generate_ec(Curve::P256).unwrap();
    let enc = Encryptor::new(vec![key.public_key().clone()]);
    let plain: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = enc.wrap_output(Vec::new()).unwrap();
    w.write_all(&plain).unwrap();
    let file = w.finish().unwrap();
    let header_len = mailcrypt::container::Header::parse(&file).unwrap().1;
    let mut ring = KeyRing::new();
    ring.add(key);
    (ring, file, header_len)
}

fn assert_breach(e: &dyn std::fmt::Display, what: &str) {
    let msg = e.to_string();
    assert!(msg.contains(BREACH), "{what}: {msg}");
}

#[test]
fn decryptor_refuses_an_overclaiming_reader_in_the_header_and_the_body() {
    let (ring, file, header_len) = key_and_container();
    // While the header is read (first byte, then the fixed fields).
    for honest in [0, 1, 12] {
        let r = Overclaiming {
            data: &file,
            pos: 0,
            honest,
        };
        match Decryptor::open(r, &ring, &mailcrypt::DecryptOptions::default()) {
            Err(e) => assert_breach(&e, &format!("header, honest for {honest}")),
            Ok(_) => panic!("opened with a reader that broke the contract at {honest}"),
        }
    }
    // In the body: streaming, after some plaintext went out.
    let r = Overclaiming {
        data: &file,
        pos: 0,
        honest: header_len + 100_000,
    };
    let mut d = Decryptor::open(r, &ring, &mailcrypt::DecryptOptions::default()).unwrap();
    let mut out = Vec::new();
    let e = d.read_to_end(&mut out).unwrap_err();
    assert_breach(&e, "streaming body");
    assert!(out.len() < 100_000, "released {} bytes", out.len());
    // Verified mode reads the whole body first.
    let r = Overclaiming {
        data: &file,
        pos: 0,
        honest: header_len + 100_000,
    };
    match Decryptor::open_seekable(r, &ring, &mailcrypt::DecryptOptions::verified()) {
        Err(e) => assert_breach(&e, "verified body"),
        Ok(_) => panic!("verified mode accepted an overclaiming reader"),
    }
}

#[test]
fn inspect_reader_refuses_an_overclaiming_reader() {
    let (ring, file, _) = key_and_container();
    for honest in [0, 4] {
        let mut r = Overclaiming {
            data: &file,
            pos: 0,
            honest,
        };
        let e = inspect_reader(&mut r, &ring).unwrap_err();
        assert_breach(&e, &format!("inspect_reader, honest for {honest}"));
    }
}

#[test]
fn an_atomic_file_needs_a_file_name() {
    for p in ["/", ".."] {
        let e = AtomicFile::create(std::path::Path::new(p)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{p}: {e}");
        assert!(e.to_string().contains("not a file name"), "{p}: {e}");
    }
}

#[cfg(feature = "async")]
mod asynchronous {
    use std::io;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures_lite::future::block_on;
    use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use mailcrypt::keys::{Curve, PrivateKey};
    use mailcrypt::{AsyncDecryptor, DecryptError, Encryptor};

    use super::{Overclaiming, assert_breach, key_and_container};

    impl AsyncRead for Overclaiming<'_> {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(self.get_mut().read_into(buf)))
        }
    }

    #[test]
    fn async_decryptor_refuses_an_overclaiming_reader() {
        let (ring, file, header_len) = key_and_container();
        let r = Overclaiming {
            data: &file,
            pos: 0,
            honest: 5,
        };
        match block_on(AsyncDecryptor::open(
            r,
            &ring,
            &mailcrypt::DecryptOptions::default(),
        )) {
            Err(e) => assert_breach(&e, "async header"),
            Ok(_) => panic!("opened with an overclaiming reader"),
        }
        let r = Overclaiming {
            data: &file,
            pos: 0,
            honest: header_len + 100_000,
        };
        let mut d = block_on(AsyncDecryptor::open(
            r,
            &ring,
            &mailcrypt::DecryptOptions::default(),
        ))
        .unwrap();
        let mut out = Vec::new();
        let e = block_on(d.read_to_end(&mut out)).unwrap_err();
        assert_breach(&e, "async body");
        let e = DecryptError::from_io(e);
        assert_breach(&e, "async body, as DecryptError");
    }

    /// Claims one byte more than it was given on every write.
    struct OverclaimingSink;

    impl AsyncWrite for OverclaimingSink {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len() + 1))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn async_writer_refuses_an_overclaiming_sink() {
        let key = PrivateKey::generate_ec(Curve::P256).unwrap();
        let enc = Encryptor::new(vec![key.public_key().clone()]);
        let mut w = enc.wrap_async_output(OverclaimingSink).unwrap();
        let e = block_on(async {
            w.write_all(&[7u8; 100_000]).await?;
            w.close().await
        })
        .unwrap_err();
        assert_breach(&e, "async writer");
    }
}
