//! The async adapters (feature `async`) over every vector in vectors/:
//! streaming and verified decryption through `AsyncRead` and
//! `AsyncBufRead`, over a source that returns short reads and `Pending`;
//! encryption through `AsyncWrite` read back by the blocking `Decryptor`;
//! tampering and truncation end in the same errors as the blocking path.

mod common;

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use common::{all_cases, ring, sha256_hex};
use futures_lite::future::block_on;
use futures_lite::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use mailcrypt::keys::PrivateKey;
use mailcrypt::{AsyncDecryptor, DecryptError, DecryptOptions, Decryptor, Encryptor, Target};

/// An async source or sink that hands out (or takes) at most the next size
/// in `sizes` per call and returns `Pending` (waking itself) every other
/// call, like a socket.
struct Trickle<T> {
    data: T,
    pos: usize,
    sizes: &'static [usize],
    calls: usize,
}

impl<T> Trickle<T> {
    fn new(data: T, sizes: &'static [usize]) -> Self {
        Trickle {
            data,
            pos: 0,
            sizes,
            calls: 0,
        }
    }

    /// `Some(limit)` for this call, `None` for a `Pending` turn.
    fn turn(&mut self, cx: &mut Context<'_>) -> Option<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(self.sizes[(self.calls / 2) % self.sizes.len()])
    }
}

impl<T: AsRef<[u8]> + Unpin> AsyncRead for Trickle<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(limit) = this.turn(cx) else {
            return Poll::Pending;
        };
        let rest = &this.data.as_ref()[this.pos..];
        let n = limit.min(out.len()).min(rest.len());
        out[..n].copy_from_slice(&rest[..n]);
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Trickle<Vec<u8>> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(limit) = this.turn(cx) else {
            return Poll::Pending;
        };
        let n = limit.min(data.len());
        this.data.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

const SIZES: [&[usize]; 3] = [&[usize::MAX], &[1, 5000, 9000, 70_000], &[3, 65_536, 17]];

async fn read_in_pieces(mut r: impl AsyncRead + Unpin, piece: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// Read through `AsyncBufRead` only (`fill_buf`/`consume`), consuming at
/// most `piece` bytes a time.
async fn buf_read_all(
    mut r: impl futures_lite::AsyncBufRead + Unpin,
    piece: usize,
) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(out);
        }
        let n = buf.len().min(piece);
        out.extend_from_slice(&buf[..n]);
        r.consume(n);
    }
}

#[test]
fn every_vector_decrypts_exactly_streaming_and_verified() {
    let cases = all_cases();
    assert!(cases.len() > 100, "only {} vectors found", cases.len());
    for (i, c) in cases.iter().enumerate() {
        let data = std::fs::read(&c.file).unwrap();
        let expected = match &c.plaintext {
            Some(p) => std::fs::read(p).unwrap(),
            None => Vec::new(),
        };
        assert_eq!(sha256_hex(&expected), c.sha256, "{}", c.file.display());
        let ring = ring(&c.keys);
        let ctx = c.file.display();
        let opts = DecryptOptions::default().allow_ofb_cfb(c.ofb_cfb);
        let sizes = SIZES[i % SIZES.len()];
        block_on(async {
            let dec = AsyncDecryptor::open(Trickle::new(&data[..], sizes), &ring, &opts)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let blocking = Decryptor::open(&data[..], &ring, &opts).unwrap();
            assert_eq!(
                format!("{:?}", dec.info().matched),
                format!("{:?}", blocking.info().matched),
                "{ctx}"
            );
            let streamed = read_in_pieces(dec, 4096)
                .await
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(streamed, expected, "{ctx}: streaming");

            let dec = AsyncDecryptor::open(Trickle::new(&data[..], sizes), &ring, &opts)
                .await
                .unwrap();
            let buffered = buf_read_all(dec, 1000).await.unwrap();
            assert_eq!(buffered, expected, "{ctx}: streaming, AsyncBufRead");

            let dec = AsyncDecryptor::open(
                Trickle::new(&data[..], sizes),
                &ring,
                &opts
                    .clone()
                    .verification(mailcrypt::Verification::Verified)
                    .buffer_limit(1 << 30),
            )
            .await
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            let verified = read_in_pieces(dec, 777).await.unwrap();
            assert_eq!(verified, expected, "{ctx}: verified");

            let dec = AsyncDecryptor::open(
                &data[..],
                &ring,
                &opts
                    .clone()
                    .verification(mailcrypt::Verification::Verified)
                    .buffer_limit(1 << 30),
            )
            .await
            .unwrap();
            assert_eq!(buf_read_all(dec, 1).await.unwrap(), expected, "{ctx}");
        });
    }
}

fn io_message(e: &io::Error) -> String {
    e.to_string()
}

#[test]
fn tampering_and_truncation_fail_with_the_blocking_paths_errors() {
    for (i, c) in all_cases().iter().enumerate() {
        let data = std::fs::read(&c.file).unwrap();
        let ring = ring(&c.keys);
        let opts = DecryptOptions::default().allow_ofb_cfb(c.ofb_cfb);
        let ctx = c.file.display();
        if data.is_empty() {
            continue;
        }
        let sizes = SIZES[i % SIZES.len()];
        let mut flipped = data.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let cut = &data[..data.len() - 1];
        let header_cut = &data[..data.len().min(11)];
        for bad in [&flipped[..], cut, header_cut] {
            let sync_open = Decryptor::open(bad, &ring, &opts);
            let async_open = block_on(AsyncDecryptor::open(Trickle::new(bad, sizes), &ring, &opts));
            match (sync_open, async_open) {
                (Ok(mut s), Ok(a)) => {
                    let mut sink = Vec::new();
                    let sync_res = s.read_to_end(&mut sink);
                    let async_res = block_on(read_in_pieces(a, 4096));
                    match (sync_res, async_res) {
                        (Ok(_), Ok(_)) => {
                            // Only files without integrity pass tampering.
                            assert!(!s.info().is_authenticated(), "{ctx}: tampering passed");
                        }
                        (Err(se), Err(ae)) => {
                            assert_eq!(io_message(&se), io_message(&ae), "{ctx}");
                            assert_eq!(
                                common::kind(&DecryptError::from_io(se)),
                                common::kind(&DecryptError::from_io(ae)),
                                "{ctx}"
                            );
                        }
                        (s, a) => panic!("{ctx}: blocking {s:?}, async {a:?}"),
                    }
                }
                (Err(se), Err(ae)) => {
                    assert_eq!(se.to_string(), ae.to_string(), "{ctx}");
                    assert_eq!(common::kind(&se), common::kind(&ae), "{ctx}");
                }
                (s, a) => panic!(
                    "{ctx}: blocking open {:?}, async open {:?}",
                    s.err(),
                    a.err()
                ),
            }
            // Verified mode never releases a byte of a bad authenticated file.
            let sync_v = Decryptor::open(
                bad,
                &ring,
                &opts
                    .clone()
                    .verification(mailcrypt::Verification::Verified)
                    .buffer_limit(1 << 30),
            );
            let async_v = block_on(AsyncDecryptor::open(
                Trickle::new(bad, sizes),
                &ring,
                &opts
                    .clone()
                    .verification(mailcrypt::Verification::Verified)
                    .buffer_limit(1 << 30),
            ));
            match (sync_v, async_v) {
                (Ok(_), Ok(_)) => {}
                (Err(se), Err(ae)) => {
                    assert_eq!(se.to_string(), ae.to_string(), "{ctx}: verified")
                }
                (s, a) => panic!(
                    "{ctx}: verified: blocking {:?}, async {:?}",
                    s.err(),
                    a.err()
                ),
            }
        }
    }
}

#[test]
fn the_buffer_limit_is_the_blocking_paths() {
    let data = std::fs::read(common::root().join("vectors/dovecot/sample-v2.bin")).unwrap();
    let ring = ring(&[common::root().join("vectors/dovecot/sample-v2.key.pem")]);
    let limit = data.len() as u64 - 1;
    let err = block_on(AsyncDecryptor::open(
        &data[..],
        &ring,
        &mailcrypt::DecryptOptions::verified().buffer_limit(limit),
    ))
    .err()
    .unwrap();
    assert!(matches!(err, DecryptError::BufferLimit { limit: l } if l == limit));
    let ok = block_on(AsyncDecryptor::open(
        &data[..],
        &ring,
        &mailcrypt::DecryptOptions::verified().buffer_limit(data.len() as u64),
    ));
    assert!(ok.is_ok());
}

#[test]
fn every_vectors_plaintext_encrypts_through_async_write() {
    let algorithms = [
        "aes-256-gcm-sha256",
        "aes-256-cbc-sha256",
        "chacha20-poly1305-sha256",
        "aes-128-gcm-sha384",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in all_cases().iter().enumerate() {
        let plain = match &c.plaintext {
            Some(p) => std::fs::read(p).unwrap(),
            None => Vec::new(),
        };
        let key = PrivateKey::from_bytes(&std::fs::read(&c.keys[0]).unwrap(), None).unwrap();
        if !seen.insert((key.public_key().canonical_id().to_hex(), sha256_hex(&plain))) {
            continue;
        }
        let alg = algorithms[i % algorithms.len()];
        let enc = Encryptor::new(vec![key.public_key().clone()])
            .target(Target::DovecotMain)
            .algorithm(alg)
            .unwrap();
        let sizes = SIZES[i % SIZES.len()];
        let sealed = block_on(async {
            let mut w = enc
                .wrap_async_output(Trickle::new(Vec::new(), sizes))
                .unwrap();
            // Odd write sizes, including ones above the direct-write size.
            for piece in plain.chunks(1 + (i * 997) % 9000) {
                w.write_all(piece).await.unwrap();
            }
            if i % 2 == 0 {
                w.finish().await.unwrap().data
            } else {
                // close() finishes too.
                w.close().await.unwrap();
                w.into_inner().data
            }
        });
        let ctx = format!("{} {alg}", c.file.display());
        if plain.is_empty() {
            assert!(sealed.is_empty(), "{ctx}: empty input gives a 0-byte file");
        }
        let mut ring = mailcrypt::keys::KeyRing::new();
        ring.add(key);
        let mut got = Vec::new();
        Decryptor::open_seekable(
            io::Cursor::new(&sealed),
            &ring,
            &mailcrypt::DecryptOptions::verified(),
        )
        .unwrap_or_else(|e| panic!("{ctx}: {e}"))
        .read_to_end(&mut got)
        .unwrap();
        assert_eq!(got, plain, "{ctx}");
    }
    assert!(seen.len() > 10, "only {} distinct cases", seen.len());
}

#[test]
fn writing_after_close_fails() {
    let key = PrivateKey::from_bytes(
        &std::fs::read(common::root().join("vectors/dovecot/sample-v2.key.pem")).unwrap(),
        None,
    )
    .unwrap();
    let enc = Encryptor::new(vec![key.public_key().clone()]);
    block_on(async {
        let mut w = enc.wrap_async_output(Vec::new()).unwrap();
        w.write_all(b"hello").await.unwrap();
        w.close().await.unwrap();
        assert!(w.write_all(b"more").await.is_err());
    });
}
