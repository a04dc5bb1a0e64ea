//! The one way to build a `Decryptor` (issue 15): `open` with options, in
//! each mode, over seekable and non-seekable input, with the same
//! guarantees the old constructors gave.

mod common;

use std::io::{self, Read};

use mailcrypt::keys::{KeyRing, PrivateKey};
use mailcrypt::{DecryptError, DecryptOptions, Decryptor, Verification, limits};

fn ring() -> KeyRing {
    let key = std::fs::read(common::root().join("vectors/dovecot/sample-v2.key.pem")).unwrap();
    let mut ring = KeyRing::new();
    ring.add(PrivateKey::from_bytes(&key, None).unwrap());
    ring
}

fn sample() -> (Vec<u8>, String) {
    let v = common::root().join("vectors/dovecot");
    let file = std::fs::read(v.join("sample-v2.bin")).unwrap();
    let want = std::fs::read_to_string(v.join("sample-v2.plaintext.sha256")).unwrap();
    let want = want.split_whitespace().next().unwrap().to_string();
    (file, want)
}

/// A reader that cannot seek and hands out a few bytes at a time.
struct Trickle<'a>(&'a [u8]);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(7);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

fn plain(mut d: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    d.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn defaults_are_streaming_with_the_documented_buffer_limit() {
    let opts = DecryptOptions::default();
    assert_eq!(opts.verification, Verification::Streaming);
    assert_eq!(opts.buffer_limit, limits::DEFAULT_VERIFY_BUFFER);
    assert!(!opts.require_integrity && !opts.allow_ofb_cfb);
    assert_eq!(
        DecryptOptions::verified().verification,
        Verification::Verified
    );
}

#[test]
fn every_mode_gives_the_expected_plaintext() {
    let (file, want) = sample();
    let ring = ring();
    for opts in [DecryptOptions::default(), DecryptOptions::verified()] {
        let d = Decryptor::open(Trickle(&file), &ring, &opts).unwrap();
        assert_eq!(common::sha256_hex(&plain(d)), want, "{opts:?} open");
        let d = Decryptor::open(&file[..], &ring, &opts)
            .unwrap()
            .use_source_buffer();
        assert_eq!(
            common::sha256_hex(&plain(d)),
            want,
            "{opts:?} source buffer"
        );
        let d = Decryptor::open_seekable(io::Cursor::new(&file), &ring, &opts).unwrap();
        assert_eq!(common::sha256_hex(&plain(d)), want, "{opts:?} seekable");
    }
}

#[test]
fn verified_mode_refuses_a_tampered_body_before_releasing_anything() {
    let (mut file, _) = sample();
    let last = file.len() - 1;
    file[last] ^= 1;
    let ring = ring();
    let opts = DecryptOptions::verified();
    assert!(matches!(
        Decryptor::open(Trickle(&file), &ring, &opts),
        Err(DecryptError::Authentication { .. })
    ));
    assert!(matches!(
        Decryptor::open_seekable(io::Cursor::new(&file), &ring, &opts),
        Err(DecryptError::Authentication { .. })
    ));
    // Streaming opens it and fails at the end instead.
    let mut d = Decryptor::open(&file[..], &ring, &DecryptOptions::default()).unwrap();
    let err = io::copy(&mut d, &mut io::sink()).unwrap_err();
    assert!(matches!(
        DecryptError::from_io(err),
        DecryptError::Authentication { .. }
    ));
}

#[test]
fn buffer_limit_is_exact() {
    let (file, want) = sample();
    let ring = ring();
    let exact = DecryptOptions::verified().buffer_limit(file.len() as u64);
    let d = Decryptor::open(Trickle(&file), &ring, &exact).unwrap();
    assert_eq!(common::sha256_hex(&plain(d)), want);
    let short = DecryptOptions::verified().buffer_limit(file.len() as u64 - 1);
    match Decryptor::open(Trickle(&file), &ring, &short) {
        Err(DecryptError::BufferLimit { limit }) => assert_eq!(limit, file.len() as u64 - 1),
        other => panic!(
            "expected BufferLimit, got {:?}",
            other.map(|d| d.info().clone())
        ),
    }
    // Seekable input is never buffered, so the limit does not apply.
    let tiny = DecryptOptions::verified().buffer_limit(1);
    let d = Decryptor::open_seekable(io::Cursor::new(&file), &ring, &tiny).unwrap();
    assert_eq!(common::sha256_hex(&plain(d)), want);
}

#[test]
fn into_inner_gives_the_source_back() {
    let (file, _) = sample();
    let ring = ring();
    // Verified from a buffered copy: the source comes back read to its end.
    let d = Decryptor::open(Trickle(&file), &ring, &DecryptOptions::verified()).unwrap();
    let rest = d.into_inner().expect("a container has a source");
    assert!(rest.0.is_empty());
    // Streaming: the source is positioned after the header.
    let d = Decryptor::open(Trickle(&file), &ring, &DecryptOptions::default()).unwrap();
    let header_len = d.info().header_len;
    let rest = d.into_inner().expect("a container has a source");
    assert_eq!(rest.0.len(), file.len() - header_len);
    // An empty file (Dovecot's empty mail) has no body and no source.
    let d = Decryptor::open(&[][..], &ring, &DecryptOptions::verified()).unwrap();
    assert!(d.info().header.is_none());
    assert!(d.into_inner().is_none());
}
